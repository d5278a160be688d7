"""Conversation repair on the offline brain: corrections, asides, topic switches and changes to
what is booked. Whatever the resident says in between, nothing is written without an explicit
yes to exactly that write."""

from __future__ import annotations

from sqlmodel import select

from tests.agent.conftest import TESTER, Chat
from tests.helpers.repair import BOOK, asks_to_confirm, confirmed
from tongban.memory.applications import add_application
from tongban.memory.models import Appointment, AppointmentStatus, Resident
from tongban.memory.store import Store

# ── corrections ──────────────────────────────────────────────────────────────────────────


def _elderly_chat(make_agent, store: Store, web_id: str) -> Chat:  # type: ignore[no-untyped-def]
    """A web resident in elderly mode: short sentences, one question a turn."""
    with store.session() as session:
        session.add(Resident(web_id=web_id, elderly=True))
    return Chat(make_agent(), user=web_id, identity=None, channel="web")


def test_a_time_correction_reissues_the_confirmation_with_the_half_hour_slot(chat: Chat, store: Store) -> None:
    assert asks_to_confirm(chat.say(BOOK).text)
    corrected = chat.say("10点半可以吗")
    assert asks_to_confirm(corrected.text) and "10:30-11:00" in corrected.text
    assert "11月26日" in corrected.text and "南宁市民中心" in corrected.text  # settled values kept, not asked
    assert confirmed(store) == []
    chat.say("确认")
    [booked] = confirmed(store)
    assert booked["start"] == "10:30" and booked["date"] == "2026-11-26" and booked["item"] == "社会保障卡申领"


def test_a_period_correction_drops_nothing_else(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("还是改到下午吧")
    assert "下午" in corrected.text and "11月26日" in corrected.text and "？" not in corrected.text
    chat.say("好的")
    [booked] = confirmed(store)
    assert booked["period"] == "下午" and booked["date"] == "2026-11-26"


def test_a_date_correction_keeps_the_half_day(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("不对，是大后天")
    assert "11月27日" in corrected.text and "上午" in corrected.text
    chat.say("确认")
    [booked] = confirmed(store)
    assert (booked["date"], booked["period"]) == ("2026-11-27", "上午")


def test_a_hall_correction_moves_only_the_hall(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("不去南宁了，改成柳州市政务服务中心")
    assert "柳州市政务服务中心" in corrected.text and "11月26日" in corrected.text
    chat.say("确认")
    [booked] = confirmed(store)
    assert booked["date"] == "2026-11-26" and booked["period"] == "上午"


def test_an_item_correction_keeps_the_booking(chat: Chat, store: Store) -> None:
    assert chat.say("帮我约后天上午在南宁市民中心办居民身份证补领").item == "居民身份证补领"
    corrected = chat.say("说错了，不是补领，是换领")
    assert corrected.item == "居民身份证换领" and asks_to_confirm(corrected.text)
    chat.say("确认")
    [booked] = confirmed(store)
    assert booked["item"] == "居民身份证换领" and booked["date"] == "2026-11-26"


def test_an_item_correction_in_other_words(chat: Chat, store: Store) -> None:
    assert chat.say("约后天上午在南宁市民中心办驾驶证补证").item == "机动车驾驶证补证"
    corrected = chat.say("搞错了，驾照没丢，是到期了要换")
    assert corrected.item == "机动车驾驶证换证" and "11月26日" in corrected.text
    chat.say("确认")
    assert confirmed(store)[0]["item"] == "机动车驾驶证换证"


def test_an_old_confirmation_does_not_open_the_gate_for_corrected_values(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    chat.say("改到下午")
    chat.say("不用了")
    assert confirmed(store) == []
    assert not asks_to_confirm(chat.say("确认").text)
    assert confirmed(store) == []


# ── digressions ──────────────────────────────────────────────────────────────────────────


def test_thanks_keeps_the_pending_confirmation(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    thanked = chat.say("谢谢")
    assert "不客气" in thanked.text and asks_to_confirm(thanked.text)
    assert confirmed(store) == []
    assert "预约成功" in chat.say("确认").text
    assert len(confirmed(store)) == 1


def test_hesitation_waits_and_resumes_on_the_next_yes(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    waited = chat.say("嗯……我再想想")
    assert "考虑" in waited.text and confirmed(store) == []
    assert "预约成功" in chat.say("确认预约").text


def test_a_question_about_another_item_is_answered_and_the_booking_waits(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("公积金怎么提取")
    assert aside.intent == "service_lookup" and "公积金" in (aside.item or "")
    assert "社会保障卡申领" in aside.text and asks_to_confirm(aside.text)  # the booking asked again
    assert confirmed(store) == []
    chat.say("那确认预约")
    [booked] = confirmed(store)
    assert booked["item"] == "社会保障卡申领"


def test_a_question_about_the_item_being_booked(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("要带什么材料")
    assert aside.item == "社会保障卡申领" and "材料" in aside.text and asks_to_confirm(aside.text)
    chat.say("好，社保卡那个确认")
    assert len(confirmed(store)) == 1


def test_a_progress_query_mid_booking_shows_the_residents_own_application(chat: Chat, store: Store) -> None:
    with store.session() as session:
        add_application(session, store.vault, {
            "receipt_no": "GX20261102000777", "item": "残疾人证办理", "hall": "南宁市民中心",
            "applicant": {"name": TESTER.name, "phone": TESTER.phone, "id_number": TESTER.id_number},
            "status": "审核中",
        })
    chat.say(BOOK)
    aside = chat.say("顺便问下，我的残疾人证办得怎么样了")
    assert aside.intent == "query_progress" and "审核中" in aside.text and asks_to_confirm(aside.text)
    chat.say("确认")
    assert len(confirmed(store)) == 1


# ── topic switches ───────────────────────────────────────────────────────────────────────


def test_a_topic_switch_closes_the_booking_and_answers_the_new_item(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    switched = chat.say("不约了，我想先问问医保关系怎么转")
    assert switched.intent == "service_lookup" and switched.item == "医保关系转移接续"
    assert not asks_to_confirm(switched.text)
    chat.say("确认")
    assert confirmed(store) == []


def test_dropping_the_booking_alone_is_a_no(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    dropped = chat.say("算了吧，先不约了")
    assert "不预约" in dropped.text
    chat.say("确认")
    assert confirmed(store) == []


# ── changes to what is booked ────────────────────────────────────────────────────────────


def test_right_after_booking_a_mistake_moves_it_in_one_step(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    chat.say("确认")
    asked = chat.say("不好意思，约错了，改成下午")
    assert asks_to_confirm(asked.text) and "改到" in asked.text and "下午" in asked.text
    assert confirmed(store)[0]["period"] == "上午"  # nothing moved before the yes
    moved = chat.say("确认")
    assert "改约成功" in moved.text
    [only] = confirmed(store)
    assert only["period"] == "下午" and only["date"] == "2026-11-26"
    with store.session() as session:
        statuses = sorted(str(a.status) for a in session.exec(select(Appointment)))
    assert statuses == sorted([str(AppointmentStatus.CONFIRMED), str(AppointmentStatus.RESCHEDULED)])


def test_right_after_booking_a_bare_mistake_offers_to_cancel(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    chat.say("确认")
    asked = chat.say("哎呀约错了")
    assert "取消" in asked.text and asks_to_confirm(asked.text)
    assert len(confirmed(store)) == 1
    chat.say("确认")
    assert confirmed(store) == []


def test_an_appointment_described_in_conversation_is_rescheduled(chat: Chat, store: Store) -> None:
    chat.say("帮我约后天上午去柳州市政务服务中心办护照")
    chat.say("确认")
    chat.say("你好")  # the booking is no longer the last thing said
    asked = chat.say("我约的护照能改到下周一下午吗")
    assert asks_to_confirm(asked.text) and "11月30日" in asked.text and "下午" in asked.text
    kept = chat.say("不用")
    assert "保持不变" in kept.text and confirmed(store)[0]["date"] == "2026-11-26"
    chat.say("我约的护照改到下周一下午")
    chat.say("确认")
    [only] = confirmed(store)
    assert (only["date"], only["period"]) == ("2026-11-30", "下午")


def test_my_application_without_a_receipt_lists_several_to_choose_from(chat: Chat, store: Store) -> None:
    with store.session() as session:
        for receipt, item, status in (("GX20261102000777", "残疾人证办理", "审核中"),
                                      ("GX20261103000888", "住房公积金贷款申请", "已办结")):
            add_application(session, store.vault, {
                "receipt_no": receipt, "item": item, "hall": "南宁市民中心", "status": status,
                "applicant": {"name": TESTER.name, "phone": TESTER.phone, "id_number": TESTER.id_number},
            })
    listed = chat.say("我的办件办好了没")
    assert "GX20261102000777" in listed.text and "GX20261103000888" in listed.text
    assert "审核中" not in listed.text and listed.text.count("？") == 1
    second = next(line for line in listed.text.splitlines() if line.startswith("2."))
    chosen = chat.say("第二个")
    assert second[second.index("（") + 1: second.index("）")] in chosen.text
    again = chat.say("我的办件办好了没")  # a new question: the list again, not the last one picked
    assert "GX20261102000777" in again.text and "GX20261103000888" in again.text
    assert "已办结" in chat.say("尾号0888那个").text


def test_an_unverified_resident_is_still_asked_for_the_receipt(make_agent) -> None:  # type: ignore[no-untyped-def]
    reply = Chat(make_agent(), identity=None, user="anon").say("我上次办的公积金提取好了没")
    assert "受理编号" in reply.text


# ── the same in elderly mode and on SMS ──────────────────────────────────────────────────


def test_elderly_repair_is_short_with_one_question(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    chat = _elderly_chat(make_agent, store, "elder")
    chat.say(BOOK)
    aside = chat.say("谢谢你")
    assert asks_to_confirm(aside.text) and aside.text.count("？") <= 1 and len(aside.text) < 90
    corrected = chat.say("改到下午")
    assert "下午" in corrected.text and corrected.text.count("？") <= 1
    chat.say("确认")
    assert confirmed(store)[0]["period"] == "下午"


def test_sms_repair_works_the_same(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(make_agent(), user="13800000000", identity=None, channel="sms")
    chat.say(BOOK)
    assert "10:00" in chat.say("十点吧").text
    chat.say("好")
    assert confirmed(store)[0]["start"] == "10:00"


def test_naming_another_item_alone_switches_the_topic(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    switched = chat.say("那残疾人证呢")
    assert switched.item == "残疾人证办理" and not asks_to_confirm(switched.text)
    chat.say("确认")
    assert confirmed(store) == []


def test_elderly_pause_and_cannot_handle_stay_short(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    chat = _elderly_chat(make_agent, store, "elder2")
    chat.say(BOOK)
    for aside in (chat.say("我唔知噉样得唔得"), chat.say("今日好大风")):
        assert asks_to_confirm(aside.text) and aside.text.count("？") <= 1 and len(aside.text) < 110
        assert "我可以帮您" not in aside.text
    chat.say("好")
    assert len(confirmed(store)) == 1


def test_sms_a_bare_yes_to_which_value_asks_again(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(make_agent(), user="13800000000", identity=None, channel="sms")
    chat.say(BOOK)
    chat.say("错了")
    again = chat.say("是")
    assert confirmed(store) == [] and "改成什么" in again.text


def test_elderly_restated_yes_and_a_described_change_work_the_same(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    chat = _elderly_chat(make_agent, store, "elder3")
    chat.say(BOOK)
    booked = chat.say("不算远，就九点啦")
    assert "预约成功" in booked.text and booked.elderly
    asked = chat.say("后天社保卡那个，推到下午")
    assert "改到" in asked.text and asked.text.count("？") <= 1 and "我可以帮您" not in asked.text
    chat.say("好")
    assert confirmed(store)[0]["period"] == "下午"


def test_sms_item_meant_first_and_withdrawing_work_the_same(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(make_agent(), user="13800000000", identity=None, channel="sms")
    chat.say(BOOK)
    corrected = chat.say("讲错咗，系办护照，唔系社保卡")
    assert corrected.item == "普通护照签发" and asks_to_confirm(corrected.text) and corrected.text.count("？") <= 1
    chat.say("冇错")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]
    asked = chat.say("约错咗，撤咗佢")
    assert asks_to_confirm(asked.text) and len(confirmed(store)) == 1
    chat.say("撤掉")
    assert confirmed(store) == []


def test_elderly_thanks_books_nothing_and_a_settled_yes_books(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    chat = _elderly_chat(make_agent, store, "elder4")
    chat.say(BOOK)
    thanked = chat.say("好的，谢谢")
    assert asks_to_confirm(thanked.text) and thanked.text.count("？") <= 1 and confirmed(store) == []
    chat.say("那就定了")
    assert len(confirmed(store)) == 1


def test_sms_a_half_day_changed_keeps_its_hall_and_a_dismissal_then_receipt_queries(make_agent, store: Store) -> None:  # type: ignore[no-untyped-def]
    chat = Chat(make_agent(), user="13800000000", identity=None, channel="sms")
    chat.say(BOOK)
    changed = chat.say("中午走不开，改到下午")
    assert "下午" in changed.text and "南宁市民中心" in changed.text and asks_to_confirm(changed.text)
    dropped = chat.say("先唔约住，帮我查下GX20261110000799到咗边")
    assert not asks_to_confirm(dropped.text)
    chat.say("好")
    assert confirmed(store) == []
