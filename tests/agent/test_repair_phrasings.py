"""Conversation repair in the ways residents actually phrase it, on the offline brain: Cantonese
and colloquial yeses, thanks and pauses mid-booking, a pause that also asks a question, and
changing or cancelling an appointment by describing it. The words are data (answers.tsv,
cues.tsv); these conversations say what the agent does with them."""

from __future__ import annotations

from tests.agent.conftest import TESTER, Chat
from tests.helpers.repair import BOOK, asks_to_confirm, confirmed
from tongban.memory.applications import add_application
from tongban.memory.store import Store

PASSPORT = "帮我约大后天下午去南宁市民中心办护照"  # 2026-11-27


def _booked(chat: Chat, *messages: str) -> None:
    """Book each and confirm it, then say something else so no booking is the last thing said."""
    for message in messages:
        assert asks_to_confirm(chat.say(message).text)
        assert "预约成功" in chat.say("确认").text
    chat.say("你好")


# ── yes, in other words ──────────────────────────────────────────────────────────────────


def test_a_cantonese_yes_books(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert "预约成功" in chat.say("系呀，就咁办啦").text
    assert len(confirmed(store)) == 1


def test_someone_elses_agreement_passed_on_is_a_yes(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert "预约成功" in chat.say("佢讲得，就这么定吧").text
    assert len(confirmed(store)) == 1


def test_someone_elses_refusal_passed_on_is_a_no(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    chat.say("佢话唔得")
    assert confirmed(store) == []


def test_a_plain_yes_confirms_a_pending_cancellation(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    asked = chat.say("帮我把社保卡的预约取消")
    assert asks_to_confirm(asked.text) and len(confirmed(store)) == 1
    chat.say("对的")
    assert confirmed(store) == []


def test_a_plain_yes_confirms_a_pending_change(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    asked = chat.say("我约的社保卡改到下午")
    assert asks_to_confirm(asked.text) and confirmed(store)[0]["period"] == "上午"
    chat.say("好")
    assert confirmed(store)[0]["period"] == "下午"


# ── asides while a confirmation waits ────────────────────────────────────────────────────


def test_thanks_and_praise_keep_the_pending_confirmation(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("唔该晒，你们服务真好")
    assert aside.intent == "chitchat" and asks_to_confirm(aside.text) and confirmed(store) == []
    chat.say("确认")
    assert len(confirmed(store)) == 1


def test_wanting_to_ask_family_first_is_a_pause(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    paused = chat.say("嗯，等我同屋企人商量下")
    assert "考虑" in paused.text and asks_to_confirm(paused.text) and confirmed(store) == []
    chat.say("可以，就这样")
    assert len(confirmed(store)) == 1


def test_a_pause_that_asks_about_another_item_is_a_question(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("稍等，想先了解下公积金提取要什么材料")
    assert aside.intent == "service_lookup" and "公积金" in (aside.item or "")
    assert "考虑" not in aside.text and asks_to_confirm(aside.text)
    chat.say("确认")
    assert confirmed(store)[0]["item"] == "社会保障卡申领"


def test_a_pause_alone_asks_nothing(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    paused = chat.say("等一下，我考虑下")
    assert paused.intent == "chitchat" and "考虑" in paused.text


# ── changing or cancelling what is booked, by describing it ──────────────────────────────


def test_pushing_an_appointment_back_keeps_its_hall_and_half_day(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    asked = chat.say("我约咗嘅社保卡推到下周一")
    assert asks_to_confirm(asked.text) and "11月30日" in asked.text
    chat.say("确认")
    [only] = confirmed(store)
    assert (only["date"], only["period"]) == ("2026-11-30", "上午")


def test_the_same_day_in_the_afternoon_changes_only_the_half_day(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    asked = chat.say("我那个社保卡的预约，当天换成下午")
    assert asks_to_confirm(asked.text) and "11月26日" in asked.text and "下午" in asked.text
    chat.say("确认")
    [only] = confirmed(store)
    assert (only["date"], only["period"]) == ("2026-11-26", "下午")


def test_moving_to_another_hall_with_the_date_kept_asks_no_date(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    hall_before = confirmed(store)[0]["hall_id"]
    asked = chat.say("社保卡那个预约调到柳州市政务服务中心，日期不变")
    assert asks_to_confirm(asked.text) and "柳州市政务服务中心" in asked.text and "11月26日" in asked.text
    chat.say("确认")
    [only] = confirmed(store)
    assert only["date"] == "2026-11-26" and only["period"] == "上午" and only["hall_id"] != hall_before


def test_cancelling_one_of_two_by_naming_it_beside_the_one_kept(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK, PASSPORT)
    asked = chat.say("护照那个预约退掉，社保卡的留着")
    assert asks_to_confirm(asked.text) and "普通护照签发" in asked.text and "社会保障卡申领" not in asked.text
    chat.say("对")
    [kept] = confirmed(store)
    assert kept["item"] == "社会保障卡申领"


def test_the_one_kept_may_come_first(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK, PASSPORT)
    asked = chat.say("社保卡的不取消，取消护照的预约")
    assert asks_to_confirm(asked.text) and "普通护照签发" in asked.text
    chat.say("是的")
    assert [a["item"] for a in confirmed(store)] == ["社会保障卡申领"]


# ── a yes in the resident's own words, and holding off ──────────────────────────────────


def test_a_yes_that_repeats_the_offer_books_it(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert "预约成功" in chat.say("得，就后天上午，麻烦晒").text
    assert len(confirmed(store)) == 1


def test_a_yes_after_news_from_family_books_it(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert asks_to_confirm(chat.say("等阵，我打电话问下屋企人").text)
    assert "预约成功" in chat.say("商量好了，佢话得，约吧").text


def test_holding_off_is_no_refusal(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    held = chat.say("暂时唔好约住，等老公回复")
    assert asks_to_confirm(held.text) and confirmed(store) == []
    assert "预约成功" in chat.say("佢讲可以，约上").text


def test_a_message_that_cannot_be_handled_leaves_the_booking_waiting(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("今日热到死")
    assert asks_to_confirm(aside.text) and confirmed(store) == []
    chat.say("确认")
    assert len(confirmed(store)) == 1


# ── corrections that also name the old value ─────────────────────────────────────────────


def test_a_correction_naming_the_old_half_day_beside_the_new(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("上午唔得，改下午啦，上午要带孙")
    assert asks_to_confirm(corrected.text) and "下午" in corrected.text
    chat.say("确认")
    assert confirmed(store)[0]["period"] == "下午"


def test_a_hall_correction_naming_the_old_hall_too(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("唔去市民中心了，兴宁区嗰个近啲")
    assert asks_to_confirm(corrected.text) and "兴宁区" in corrected.text and "11月26日" in corrected.text


# ── dropping the task for something else ─────────────────────────────────────────────────


def test_dropping_the_booking_for_a_question_answers_the_question(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    switched = chat.say("社保卡的事先不管了，问下结婚登记要带啥")
    assert switched.item == "结婚登记" and "材料" in switched.text and not asks_to_confirm(switched.text)
    chat.say("确认")
    assert confirmed(store) == []


def test_setting_the_booking_aside_to_book_another_item(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    switched = chat.say("社保卡放一边先，帮我约办护照，时间地点照旧")
    assert switched.item == "普通护照签发" and asks_to_confirm(switched.text) and "11月26日" in switched.text
    chat.say("好的")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


# ── asides ───────────────────────────────────────────────────────────────────────────────


def test_asking_when_the_hall_closes_keeps_the_booking(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("你们几点下班")
    assert "17:30" in aside.text and asks_to_confirm(aside.text)


def test_thanks_after_an_answer_is_no_question_out_of_scope(chat: Chat) -> None:
    chat.say("社保卡要带什么材料")
    thanked = chat.say("好，谢谢晒")
    assert thanked.intent == "chitchat" and "不客气" in thanked.text


# ── changing what is booked ──────────────────────────────────────────────────────────────


def test_that_day_beside_the_new_day_moves_to_the_new_day(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    asked = chat.say("社保卡那个我约了礼拜四，那天有事，推到下礼拜一")
    assert asks_to_confirm(asked.text) and "11月30日" in asked.text
    chat.say("好，改")
    [only] = confirmed(store)
    assert (only["date"], only["period"]) == ("2026-11-30", "上午")


def test_a_hall_correction_by_city_beside_the_old_city(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("唔系南宁啊，我讲嘅系梧州")
    assert asks_to_confirm(corrected.text) and "梧州市政务服务中心" in corrected.text


def test_thinking_it_over_first_is_a_pause_not_a_no(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    paused = chat.say("等我谂下再讲")
    assert "考虑" in paused.text and asks_to_confirm(paused.text)
    assert "预约成功" in chat.say("收到，继续约").text


def test_the_same_day_said_after_the_new_half_day(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    asked = chat.say("我约咗嘅社保卡想调去下昼，同一日")
    assert asks_to_confirm(asked.text) and "11月26日" in asked.text and "下午" in asked.text


def test_an_item_correction_naming_the_old_item_in_the_residents_word(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("讲错咗，唔系社保卡，系护照")
    assert corrected.item == "普通护照签发" and asks_to_confirm(corrected.text) and "11月26日" in corrected.text
    chat.say("啱")
    assert confirmed(store)[0]["item"] == "普通护照签发"


def test_not_for_now_then_a_question_switches_the_topic(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    switched = chat.say("社保卡唔约住，结婚登记要咩材料")
    assert switched.item == "结婚登记" and not asks_to_confirm(switched.text)


def test_a_word_naming_several_items_cancels_the_booked_one_of_them(chat: Chat, store: Store) -> None:
    """社保卡 names 社会保障卡申领 and 社会保障卡挂失与补换 alike, and 掉 leans to the second: the
    resident means the one they booked."""
    _booked(chat, BOOK, PASSPORT)
    asked = chat.say("社保卡约的那个不要了，取消掉吧，护照照旧")
    assert asks_to_confirm(asked.text) and "社会保障卡申领" in asked.text and "普通护照签发" not in asked.text
    chat.say("对")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


def test_asking_whether_to_bring_a_document_is_about_the_item_being_booked(chat: Chat, store: Store) -> None:
    """户口本 names no item (a document that many items ask for): the booking keeps its item."""
    chat.say(BOOK)
    answered = chat.say("去的时候要不要带户口本啊")
    assert "户口迁移" not in answered.text and asks_to_confirm(answered.text)
    assert "预约成功" in chat.say("好").text
    assert [a["item"] for a in confirmed(store)] == ["社会保障卡申领"]


# ── repair-fresh-2 patterns (#19): phrasings of our own, not the set's ──────────────────


def test_a_yes_naming_the_item_by_a_piece_of_its_official_name_books_it(chat: Chat, store: Store) -> None:
    chat.say(PASSPORT)
    assert "预约成功" in chat.say("行，签发嗰个订咗佢").text
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


def test_pointing_back_at_the_waiting_booking_after_an_aside_is_a_yes(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert asks_to_confirm(chat.say("社保卡办一张几多钱").text)
    assert "预约成功" in chat.say("没关系，刚才那个照常约").text
    assert len(confirmed(store)) == 1


def test_the_action_verb_with_a_particle_confirms_a_cancellation(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    assert asks_to_confirm(chat.say("社保卡的预约帮我取消").text)
    chat.say("系，取消咗佢")
    assert confirmed(store) == []


def test_never_mind_then_another_day_corrects_the_booking(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("唔好啦，不如下礼拜一下午")
    assert asks_to_confirm(corrected.text) and "11月30日" in corrected.text and "下午" in corrected.text
    chat.say("好")
    assert (confirmed(store)[0]["date"], confirmed(store)[0]["period"]) == ("2026-11-30", "下午")


def test_a_progress_query_with_its_number_and_now_moves_nothing(chat: Chat, store: Store) -> None:
    with store.session() as session:
        add_application(session, store.vault, {
            "receipt_no": "GX20261112000777", "item": "结婚登记", "hall": "南宁市民中心",
            "applicant": {"name": TESTER.name, "phone": TESTER.phone, "id_number": TESTER.id_number},
            "status": "已受理", "events": [{"status": "已受理", "at": "2026-11-12T10:00:00+08:00"}],
        })
    chat.say(BOOK)
    aside = chat.say("另外问问，GX20261112000777 现在办成点样")
    assert "已受理" in aside.text and asks_to_confirm(aside.text) and "11月26日" in aside.text
    chat.say("确认")
    assert confirmed(store)[0]["date"] == "2026-11-26"


def test_dropping_the_booking_by_not_doing_it_for_now_then_booking_another(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    switched = chat.say("社保卡先不搞了，帮我约后天上午南宁市民中心办结婚登记")
    assert switched.item == "结婚登记" and asks_to_confirm(switched.text)
    chat.say("好，结婚嗰个")
    assert [a["item"] for a in confirmed(store)] == ["结婚登记"]


def test_describing_an_appointment_by_its_day_and_item_before_moving_it(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    asked = chat.say("礼拜四嗰个社保卡预约，可唔可以调到下昼")
    assert asks_to_confirm(asked.text) and "下午" in asked.text and "11月26日" in asked.text
    chat.say("嗯，改咗佢")
    assert confirmed(store)[0]["period"] == "下午"


def test_asking_where_the_hall_is_mid_booking_gives_the_booked_halls_address(chat: Chat, store: Store) -> None:
    chat.say("帮我约后天上午去百色市政务服务中心办社保卡")
    aside = chat.say("那个大厅地址喺边度")
    assert aside.text.index("百色") < aside.text.index("南宁") and asks_to_confirm(aside.text)


def test_a_bare_yes_to_which_value_keeps_the_question_open(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert "哪一项" in chat.say("唔啱").text
    again = chat.say("系啊")
    assert confirmed(store) == [] and "改成什么" in again.text
    corrected = chat.say("改到下昼")
    assert asks_to_confirm(corrected.text) and "下午" in corrected.text
    chat.say("确认")
    assert confirmed(store)[0]["period"] == "下午"


def test_a_weekday_in_a_change_is_in_the_week_of_the_day_named(chat: Chat, store: Store) -> None:
    _booked(chat, "帮我约下周二上午去南宁市民中心办社保卡")  # 2026-12-01
    asked = chat.say("下周二那个社保卡预约调到星期四")
    assert asks_to_confirm(asked.text) and "12月3日" in asked.text
    chat.say("好")
    assert confirmed(store)[0]["date"] == "2026-12-03"


def test_a_weekday_correcting_a_waiting_booking_is_in_its_week(chat: Chat, store: Store) -> None:
    chat.say("帮我约下周二上午去南宁市民中心办社保卡")
    corrected = chat.say("改成礼拜五吧")
    assert asks_to_confirm(corrected.text) and "12月4日" in corrected.text


def test_something_we_cannot_handle_gets_one_short_line_and_the_booking_waits(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("你睇今晚边个台嘅剧好睇")
    assert asks_to_confirm(aside.text) and "我可以帮您" not in aside.text
    chat.say("确认")
    assert len(confirmed(store)) == 1


def test_today_talked_about_moves_nothing(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("今日落大雨啊")
    assert asks_to_confirm(aside.text) and "11月26日" in aside.text and "11月24日" not in aside.text


def test_not_knowing_at_a_confirmation_is_a_pause(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    paused = chat.say("唔知啊")
    assert "考虑" in paused.text and asks_to_confirm(paused.text)
    assert "预约成功" in chat.say("好，约").text


def test_not_knowing_then_refusing_is_a_no(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert not asks_to_confirm(chat.say("说不准，唔约住了").text)
    assert confirmed(store) == []


def test_my_own_name_is_not_someone_elses(chat: Chat) -> None:
    reply = chat.say("帮我约后天上午在南宁市民中心查我名下的不动产")
    assert "不能替他人" not in reply.text


def test_a_bare_ok_after_the_booking_is_made_is_acknowledged(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    chat.say("确认")
    ok = chat.say("嗯嗯，好嘅")
    assert ok.intent == "chitchat" and "超出" not in ok.text and len(confirmed(store)) == 1


def test_a_yes_that_carries_another_day_is_a_correction_not_a_yes(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("后天唔得闲，大后天就得")
    assert confirmed(store) == [] and asks_to_confirm(corrected.text) and "11月27日" in corrected.text
    chat.say("好")
    assert confirmed(store)[0]["date"] == "2026-11-27"


def test_about_a_clock_time_sets_that_time(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert "10:30" in chat.say("十点半左右啦").text


def test_earlier_without_saying_to_when_asks_what_to_change(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    asked = chat.say("可唔可以早啲")
    assert "哪一项" in asked.text and "01:00" not in asked.text and confirmed(store) == []


def test_asking_whether_we_are_a_person_is_no_handoff_and_the_booking_waits(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("你是真人还是机器人啊")
    assert not aside.handoff and asks_to_confirm(aside.text)
    chat.say("确认")
    assert len(confirmed(store)) == 1


def test_asking_for_a_person_after_asking_what_we_are_hands_off(chat: Chat) -> None:
    assert chat.say("你是机器人吗？我要找真人").handoff


def test_book_it_down_in_cantonese_is_a_yes(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert "预约成功" in chat.say("得啦，同我定落嚟").text
    assert len(confirmed(store)) == 1


def test_the_disposal_marker_before_the_yes_is_a_yes(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert "预约成功" in chat.say("嗯，就把它确定了").text
    assert len(confirmed(store)) == 1


def test_book_it_right_now_is_a_yes_not_a_day(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert "预约成功" in chat.say("可以，马上约").text
    assert confirmed(store)[0]["date"] == "2026-11-26"


def test_today_then_book_it_keeps_the_offered_day(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    assert "预约成功" in chat.say("行啊，现在就订").text
    assert confirmed(store)[0]["date"] == "2026-11-26"


def test_the_property_certificate_in_short_finds_its_reissue(chat: Chat, store: Store) -> None:
    asked = chat.say("后天上午去南宁市民中心补办不动产证")
    assert asked.item == "不动产权证书补发" and asks_to_confirm(asked.text)


def test_approved_yet_in_cantonese_is_a_progress_query_and_the_booking_waits(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("係喎，我嗰个结婚登记审咗未")
    assert aside.intent == "query_progress" and confirmed(store) == []
    chat.say("确认")
    assert len(confirmed(store)) == 1


def test_dropping_the_booking_in_cantonese_then_booking_another(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    switched = chat.say("先唔约呢个，帮我约大后天上午去市民中心办护照")
    assert switched.item == "普通护照签发" and asks_to_confirm(switched.text)
    chat.say("好")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


def test_actually_i_meant_another_item_corrects_the_item(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    corrected = chat.say("哎，其实我要办的是护照，时间地点一样")
    assert corrected.item == "普通护照签发" and asks_to_confirm(corrected.text) and "11月26日" in corrected.text
    chat.say("对")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


def test_a_question_naming_no_item_is_about_the_booking_whatever_faq_it_echoes(chat: Chat, store: Store) -> None:
    chat.say(PASSPORT)
    aside = chat.say("到时候可以当场拿到吗")
    assert aside.item == "普通护照签发" and asks_to_confirm(aside.text) and confirmed(store) == []
    chat.say("好的")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


def test_an_appointment_described_with_its_day_and_hall_between_is_moved(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    asked = chat.say("我后天喺市民中心订咗嘅社保卡，改到下午")
    assert asks_to_confirm(asked.text)
    chat.say("得")
    [only] = confirmed(store)
    assert only["date"] == "2026-11-26" and only["period"] == "下午"


def test_picking_one_of_ones_own_applications_by_a_word_for_its_item(chat: Chat, store: Store) -> None:
    applicant = {"name": TESTER.name, "phone": TESTER.phone, "id_number": TESTER.id_number}
    with store.session() as session:
        for receipt, item, status in (("GX20261110000701", "结婚登记", "审核中"),
                                      ("GX20261111000702", "住房公积金提取（退休）", "已办结")):
            add_application(session, store.vault, {
                "receipt_no": receipt, "item": item, "hall": "南宁市民中心", "applicant": applicant,
                "status": status, "events": [{"status": status, "at": "2026-11-11T10:00:00+08:00"}],
            })
    listed = chat.say("我之前申请的东西办得点样了")
    assert "GX20261110000701" in listed.text and "GX20261111000702" in listed.text
    picked = chat.say("公积金那单")
    assert "已办结" in picked.text and "审核中" not in picked.text


def test_later_without_saying_to_when_offers_the_next_slot(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    moved = chat.say("可以晚一些吗")
    assert asks_to_confirm(moved.text) and "09:30-10:00" in moved.text and confirmed(store) == []
    chat.say("好")
    assert confirmed(store)[0]["start"] == "09:30"


def test_earlier_offers_the_slot_before_within_the_half_day(chat: Chat, store: Store) -> None:
    chat.say("帮我约后天下午三点去南宁市民中心办社保卡")
    moved = chat.say("早啲啦")
    assert asks_to_confirm(moved.text) and "14:30-15:00" in moved.text
    asked = chat.say("再早一点")
    assert "哪一项" in asked.text and confirmed(store) == []  # nothing earlier that afternoon: we ask


def test_another_hall_without_naming_it_asks_which_hall(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    asked = chat.say("可唔可以换个地方")
    assert "哪个大厅" in asked.text and confirmed(store) == []
    moved = chat.say("柳州")
    assert asks_to_confirm(moved.text) and "柳州市政务服务中心" in moved.text and "11月26日" in moved.text
    chat.say("好")
    assert len(confirmed(store)) == 1


def test_another_day_without_naming_it_asks_which_day(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    asked = chat.say("换一天吧")
    assert "哪一天" in asked.text and confirmed(store) == []
    moved = chat.say("下礼拜二")
    assert asks_to_confirm(moved.text) and "12月1日" in moved.text


def test_booking_another_item_named_outright_while_one_waits_switches_to_it(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    switched = chat.say("我想约大后天下午喺市民中心办护照")
    assert switched.item == "普通护照签发" and asks_to_confirm(switched.text) and "11月27日" in switched.text
    chat.say("好")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


# ── #19, classes read from repair-fresh-4 ────────────────────────────────────────────────
# (each test says the class in words of its own; none repeats a sentence of the set)

ID_CARD_LOST = "后天上午去南宁市民中心补办身份证"  # 居民身份证补领, 2026-11-26


def _own_application(store: Store, receipt: str, item: str, status: str) -> None:
    applicant = {"name": TESTER.name, "phone": TESTER.phone, "id_number": TESTER.id_number}
    with store.session() as session:
        add_application(session, store.vault, {
            "receipt_no": receipt, "item": item, "hall": "南宁市民中心", "applicant": applicant,
            "status": status, "events": [{"status": status, "at": "2026-11-11T10:00:00+08:00"}],
        })


def test_the_item_meant_said_before_the_one_denied_corrects_the_item(chat: Chat, store: Store) -> None:
    # 是Y，不是X: the item meant comes first, the denied one after
    chat.say(BOOK)
    corrected = chat.say("说错了，是办护照，不是办社保卡")
    assert corrected.item == "普通护照签发" and asks_to_confirm(corrected.text) and "11月26日" in corrected.text
    chat.say("没错")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


def test_a_correction_saying_only_how_the_item_differs_keeps_its_object(chat: Chat, store: Store) -> None:
    # 不是丢了，是到期了: the new words name no object; the card being booked is still the one meant
    chat.say(ID_CARD_LOST)
    corrected = chat.say("搞错了，不是丢了，是快到期了要换")
    assert corrected.item == "居民身份证换领" and asks_to_confirm(corrected.text) and "11月26日" in corrected.text
    chat.say("对，约吧")
    assert [a["item"] for a in confirmed(store)] == ["居民身份证换领"]


def test_repeating_the_offered_time_with_only_a_filler_is_a_yes(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    moved = chat.say("十点半那个有冇")
    assert "10:30-11:00" in moved.text and confirmed(store) == []
    assert "预约成功" in chat.say("就十点半啦").text
    assert confirmed(store)[0]["start"] == "10:30"


def test_repeating_another_time_than_the_offered_is_no_yes(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    moved = chat.say("就十一点")
    assert confirmed(store) == [] and "11:00-11:30" in moved.text and asks_to_confirm(moved.text)


def test_a_judgement_on_the_answer_before_the_yes_is_a_yes(chat: Chat, store: Store) -> None:
    # 不算麻烦 judges what was just answered: its negation refuses nothing
    chat.say(BOOK)
    assert asks_to_confirm(chat.say("要带什么材料").text)
    assert "预约成功" in chat.say("不算麻烦，订吧").text
    assert len(confirmed(store)) == 1


def test_a_negation_that_is_no_judgement_still_refuses(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    chat.say("不好，先不约")
    assert confirmed(store) == []


def test_an_appointment_described_as_that_one_is_moved(chat: Chat, store: Store) -> None:
    # <its day and item>那个，推到…: an appointment described, then changed, with no 我约的
    _booked(chat, BOOK)
    asked = chat.say("后天社保卡那个，推到下礼拜一下午")
    assert asks_to_confirm(asked.text) and "11月30日" in asked.text and "下午" in asked.text
    assert confirmed(store)[0]["date"] == "2026-11-26"
    chat.say("行，挪过去吧")
    [only] = confirmed(store)
    assert (only["date"], only["period"]) == ("2026-11-30", "下午")


def test_an_appointment_described_as_that_one_is_moved_to_another_hall(chat: Chat, store: Store) -> None:
    _booked(chat, BOOK)
    hall_before = confirmed(store)[0]["hall_id"]
    asked = chat.say("后天市民中心办社保卡那个，可以挪去柳州市政务服务中心吗")
    assert "改到" in asked.text and "柳州市政务服务中心" in asked.text and "11月26日" in asked.text
    chat.say("挪吧")
    [only] = confirmed(store)
    assert only["date"] == "2026-11-26" and only["hall_id"] != hall_before


def test_that_one_in_a_question_about_a_service_moves_nothing(chat: Chat, store: Store) -> None:
    # without a change word 那个 is only a filler: a question, not an appointment described
    _booked(chat, BOOK)
    reply = chat.say("社保卡那个，要带什么材料")
    assert "材料" in reply.text and not asks_to_confirm(reply.text)


def test_withdrawing_the_booking_just_made_goes_through_a_confirmation(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    chat.say("确认")
    asked = chat.say("唉，弄错了，帮我撤咗佢")
    assert asks_to_confirm(asked.text) and len(confirmed(store)) == 1
    chat.say("撤掉吧")
    assert confirmed(store) == []


def test_how_is_it_getting_on_asks_the_progress_of_ones_own_application(chat: Chat, store: Store) -> None:
    _own_application(store, "GX20261110000711", "结婚登记", "审核中")
    reply = chat.say("我前阵子交的结婚登记弄得怎么样了")
    assert reply.intent == "query_progress" and "审核中" in reply.text


def test_no_need_to_book_for_now_then_own_progress_drops_the_booking(chat: Chat, store: Store) -> None:
    _own_application(store, "GX20261110000712", "结婚登记", "审核中")
    chat.say(BOOK)
    reply = chat.say("唔使约住，我交咗嘅结婚登记搞成点")
    assert reply.intent == "query_progress" and "审核中" in reply.text and not asks_to_confirm(reply.text)
    chat.say("好")
    assert confirmed(store) == []


def test_the_half_day_meant_said_either_way_round_keeps_the_item(chat: Chat, store: Store) -> None:
    # 不是X，是Y and 是Y，不是X said of the half-day correct it, never the item
    chat.say(BOOK)
    corrected = chat.say("不对，不是上午，是下午")
    assert corrected.item == "社会保障卡申领" and "下午" in corrected.text and asks_to_confirm(corrected.text)
    again = chat.say("唔好意思，系上昼，唔系下昼")
    assert again.item == "社会保障卡申领" and "上午" in again.text and asks_to_confirm(again.text)
    chat.say("好")
    [only] = confirmed(store)
    assert (only["item"], only["period"]) == ("社会保障卡申领", "上午")


def test_that_one_without_a_day_is_a_filler_even_beside_a_change_word(chat: Chat) -> None:
    # an appointment is described by its day; 我想问下那个，…改到… asks about a service
    reply = chat.say("请问下那个，户口迁移改到新地址要带什么")
    assert reply.intent == "service_lookup" and reply.item == "户口迁移"


def test_how_it_should_be_done_is_no_progress_query(chat: Chat) -> None:
    # 弄成怎么样 ends a progress question; inside one (弄成怎么样才算齐) it asks how to do something
    reply = chat.say("公积金贷款的材料弄成怎么样才算齐")
    assert reply.intent == "service_lookup"


def test_a_shop_taken_down_is_no_cancellation(chat: Chat) -> None:
    reply = chat.say("摊子撤走了个体户执照要怎么注销")
    assert reply.intent == "service_lookup"


# ── #19, classes read from repair-fresh-5 ────────────────────────────────────────────────


def test_a_half_day_changed_keeps_the_hall_whatever_city_its_words_sound_like(chat: Chat, store: Store) -> None:
    # 中午走不开 sounds like 梧州 across two words, keeping none of its characters: no hall said
    chat.say(BOOK)
    changed = chat.say("中午走不开，改到下午")
    assert "下午" in changed.text and "南宁市民中心" in changed.text and asks_to_confirm(changed.text)


def test_a_yes_pointing_at_the_offered_district_hall_books(chat: Chat, store: Store) -> None:
    # the offer's hall repeated by its district, with a word pointing at it (兴宁嗰度): nothing new said
    chat.say("帮我约后天上午去兴宁区政务服务中心办社保卡")
    assert "预约成功" in chat.say("系，就兴宁嗰度").text
    assert len(confirmed(store)) == 1


def test_settled_then_is_a_yes_and_asking_whether_settled_is_not(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    asked = chat.say("定了吗")
    assert asks_to_confirm(asked.text) and confirmed(store) == []
    assert "预约成功" in chat.say("那就这么定了").text
    assert len(confirmed(store)) == 1


def test_an_acknowledgement_with_thanks_books_nothing(chat: Chat, store: Store) -> None:
    # 好的，谢谢 thanks for the offer; only a yes to the write books it
    chat.say(BOOK)
    thanked = chat.say("好的，谢谢你")
    assert asks_to_confirm(thanked.text) and confirmed(store) == []
    thanked = chat.say("好嘅，多谢")
    assert asks_to_confirm(thanked.text) and confirmed(store) == []
    assert "预约成功" in chat.say("确认，谢谢").text  # a yes with thanks is still a yes


def test_an_asserting_particle_is_no_question_and_the_item_is_corrected(chat: Chat, store: Store) -> None:
    # 要补办的嘛 asserts (嘛 after 的): the correction describes the item meant, no aside
    chat.say(BOOK)
    corrected = chat.say("搞错咯，社保卡系弄丢咗，要补办的嘛")
    assert corrected.item == "社会保障卡挂失与补换" and asks_to_confirm(corrected.text)
    chat.say("好")
    assert [a["item"] for a in confirmed(store)] == ["社会保障卡挂失与补换"]


def test_a_question_with_its_particle_stays_a_question(chat: Chat, store: Store) -> None:
    chat.say(BOOK)
    aside = chat.say("办社保卡干嘛要带户口本")
    assert asks_to_confirm(aside.text) and aside.item == "社会保障卡申领" and confirmed(store) == []


def test_dropping_the_booking_then_a_receipt_number_queries_its_progress(chat: Chat, store: Store) -> None:
    _own_application(store, "GX20261110000713", "结婚登记", "审核中")
    chat.say(BOOK)
    reply = chat.say("先不约了，帮我查下GX20261110000713")
    assert reply.intent == "query_progress" and "审核中" in reply.text and not asks_to_confirm(reply.text)
    chat.say("好")
    assert confirmed(store) == []


def test_an_appointment_described_by_its_booked_day_is_moved(chat: Chat, store: Store) -> None:
    # <day>约的<item>, without 我: the appointment held, to move
    _booked(chat, BOOK)
    hall_before = confirmed(store)[0]["hall_id"]
    asked = chat.say("后天上午约的社保卡，想换去兴宁区政务服务中心")
    assert "改到" in asked.text and "兴宁区" in asked.text and "11月26日" in asked.text
    chat.say("可以")
    [only] = confirmed(store)
    assert only["date"] == "2026-11-26" and only["hall_id"] != hall_before


def test_booking_on_a_day_as_a_condition_moves_nothing(chat: Chat, store: Store) -> None:
    # 明天约的话 is a condition of a question, not an appointment held
    _booked(chat, BOOK)
    reply = chat.say("明天约的话，可以换到兴宁区办吗")
    assert "改到" not in reply.text and confirmed(store)[0]["date"] == "2026-11-26"


# ── repair classes read from repair-fresh-6 (#19) ────────────────────────────────────────


def test_earlier_or_later_by_an_amount_moves_the_offer_by_that_much(chat: Chat, store: Store) -> None:
    # 早半个钟, 晚一个钟头: that many minutes from the slot offered, in the same half-day
    chat.say("帮我约后天上午十点去南宁市民中心办社保卡")
    moved = chat.say("能不能再早半个钟")
    assert asks_to_confirm(moved.text) and "09:30-10:00" in moved.text
    moved = chat.say("晚一个钟头行不行")
    assert asks_to_confirm(moved.text) and "10:30-11:00" in moved.text
    assert "预约成功" in chat.say("就十点半，确认").text
    assert confirmed(store)[0]["start"] == "10:30"


def test_a_verb_with_its_colloquial_complement_is_a_yes(chat: Chat, store: Store) -> None:
    # 约起, 约埋佢: the booking verb said the way people say it, after an aside
    chat.say(BOOK)
    chat.say("要几多钱㗎")
    assert "预约成功" in chat.say("晓得咯，帮我约起").text
    chat.say(PASSPORT)
    assert "预约成功" in chat.say("好，帮我约埋佢").text
    assert len(confirmed(store)) == 2


def test_having_understood_the_answer_books_nothing(chat: Chat, store: Store) -> None:
    # 好的，我晓得了 after an aside acknowledges what was answered; a yes needs the verb or a yes of its own
    chat.say(BOOK)
    chat.say("对了，生小孩要怎么上户口")
    assert asks_to_confirm(chat.say("好的，我晓得了").text) and confirmed(store) == []
    assert asks_to_confirm(chat.say("行，明白了").text) and confirmed(store) == []
    assert "预约成功" in chat.say("确认").text and confirmed(store)[0]["item"] == "社会保障卡申领"


def test_the_offers_bare_weekday_agrees_to_a_change_offered_for_a_later_week(chat: Chat, store: Store) -> None:
    # 改到下周五 offered; 对，改到周五 repeats its weekday, which the nearest Friday would not be
    chat.say("帮我约下周四下午去南宁市民中心办社保卡")
    assert "预约成功" in chat.say("确认预约").text
    asked = chat.say("哎呀约错了，应该是下周五下午")
    assert "改到" in asked.text and "12月4日" in asked.text
    chat.say("对，改到周五")
    [only] = confirmed(store)
    assert only["date"] == "2026-12-04"


def test_letting_the_named_booking_go_and_booking_another_replaces_it(chat: Chat, store: Store) -> None:
    # 社保卡那个不用了。我要约…办护照: the first task dropped, the second one's own values asked to confirm
    chat.say(BOOK)
    asked = chat.say("社保卡那个不用了。我要约下周一下午去柳州市政务服务中心办护照")
    assert asks_to_confirm(asked.text) and asked.item == "普通护照签发" and "柳州" in asked.text
    chat.say("就这样定吧")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


def test_asking_whether_a_thing_is_still_needed_is_no_dismissal(chat: Chat, store: Store) -> None:
    # the neighbour of 那个不用了: 那个不用了吗 asks, and the booking waits
    chat.say(BOOK)
    aside = chat.say("旧的那个不用了吗")
    assert asks_to_confirm(aside.text) and confirmed(store) == []


def test_a_yes_verb_with_a_resultative_complement_confirms(chat: Chat, store: Store) -> None:
    # 确定下来, 定下来: the verb agreed with and its 下来 settle the offer; 批下来了吗 asks, and books nothing
    chat.say(BOOK)
    assert asks_to_confirm(chat.say("批下来了吗").text) and confirmed(store) == []
    assert "预约成功" in chat.say("那就确定下来").text
    assert [a["item"] for a in confirmed(store)] == ["社会保障卡申领"]


def test_dropping_this_one_with_its_verb_and_booking_another_replaces_it(chat: Chat, store: Store) -> None:
    # 不搞这个了，帮我约…办护照: the task dropped with a verb and a pointer, another booked instead;
    # 不办这个了吗 asks whether it is still needed, and the booking waits
    chat.say(BOOK)
    aside = chat.say("不办这个了吗")
    assert asks_to_confirm(aside.text) and confirmed(store) == []
    asked = chat.say("不搞这个了，帮我约下周一下午去柳州市政务服务中心办护照")
    assert asks_to_confirm(asked.text) and asked.item == "普通护照签发" and "柳州" in asked.text
    chat.say("确认")
    assert [a["item"] for a in confirmed(store)] == ["普通护照签发"]


def test_denying_the_items_action_and_describing_the_one_meant_corrects_the_item(chat: Chat, store: Store) -> None:
    # 不是换，…要补办: the action of the item waiting (换领) denied, the item meant only described;
    # its object (居民身份证) and the offer's day and hall are kept
    chat.say("帮我约后天上午去南宁市民中心换身份证")
    asked = chat.say("不是换，证件被偷了，得补办")
    assert asks_to_confirm(asked.text) and asked.item == "居民身份证补领" and "11月26日" in asked.text
    chat.say("确认")
    assert [a["item"] for a in confirmed(store)] == ["居民身份证补领"]


def test_a_denial_that_is_no_action_of_the_item_keeps_it(chat: Chat, store: Store) -> None:
    # 不是很急，…: a denial of something other than the item's action corrects no item
    chat.say("帮我约后天上午去南宁市民中心换身份证")
    aside = chat.say("不是很急，慢慢来")
    assert asks_to_confirm(aside.text) and confirmed(store) == []
    chat.say("确认")
    assert [a["item"] for a in confirmed(store)] == ["居民身份证换领"]


def test_pointing_at_the_offered_day_agrees_to_the_change(chat: Chat, store: Store) -> None:
    # 就调到那日: the change verb with a pointer at the day the offer named agrees to it
    chat.say("帮我约下周四下午去南宁市民中心办社保卡")
    assert "预约成功" in chat.say("确认预约").text
    asked = chat.say("哎呀约错了，应该是下周五下午")
    assert "改到" in asked.text and "12月4日" in asked.text
    chat.say("好，就调到那日")
    assert [a["date"] for a in confirmed(store)] == ["2026-12-04"]


def test_saying_something_of_the_offered_day_agrees_to_nothing(chat: Chat, store: Store) -> None:
    # the neighbour of 就调到那日: 那日我冇空 says something of its own, and the booking stays as it was
    chat.say("帮我约下周四下午去南宁市民中心办社保卡")
    assert "预约成功" in chat.say("确认预约").text
    chat.say("哎呀约错了，应该是下周五下午")
    chat.say("那日我冇空")
    assert [a["date"] for a in confirmed(store)] == ["2026-12-03"]
