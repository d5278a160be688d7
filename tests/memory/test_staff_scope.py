"""Staff scope: halls and departments an account may see; supervisors may see more."""

from __future__ import annotations

import pytest

from tongban.memory import staff
from tongban.memory.staff import Scope, StaffError
from tongban.memory.store import Store

PASSWORD = "correct-horse-battery"


def test_scope_is_own_hall_and_department_plus_what_is_granted(store: Store) -> None:
    with store.session(actor="test") as session:
        nanning = staff.view(staff.add_staff(session, username="nn", password=PASSWORD, hall="南宁市民中心"))
        police = staff.view(staff.add_staff(session, username="gaj", password=PASSWORD, hall="南宁市民中心",
                                            department="公安局"))
        wide = staff.view(staff.add_staff(session, username="sup", password=PASSWORD, role="supervisor",
                                          halls=["南宁市民中心", "柳州市政务服务中心"]))
        province = staff.view(staff.add_staff(session, username="prov", password=PASSWORD, role="supervisor"))
        nobody = staff.view(staff.add_staff(session, username="new", password=PASSWORD))
    assert nanning.may_see("南宁市民中心", "民政局") and not nanning.may_see("柳州市政务服务中心", "公安局")
    assert police.may_see("南宁市民中心", "公安局") and not police.may_see("南宁市民中心", "民政局")
    assert police.may_see(None, "公安局") and not police.may_see("柳州市政务服务中心", None)
    assert wide.may_see("柳州市政务服务中心", "公安局") and not wide.may_see("桂林市政务服务中心", None)
    assert province.scope.everything and province.may_see("桂林市政务服务中心", "公安局")
    assert not nobody.may_see("南宁市民中心", None) and not police.may_see(None, "民政局")
    for person in (nanning, police, wide, nobody):
        assert person.may_see(None, None) and person.may_see(None, "公安局")  # in no hall yet: everyone's queue
        assert not person.scope.everything
    assert nanning.may_see("柳州市政务服务中心", None, holder="nn")  # what one holds stays one's own
    assert not nanning.may_see("柳州市政务服务中心", None, holder="someone-else")


def test_granting_scope_is_stored_and_checked(store: Store) -> None:
    with store.session(actor="test") as session:
        staff.add_staff(session, username="lz", password=PASSWORD, hall="柳州市政务服务中心")
        staff.set_scope(session, "lz", halls=["南宁市民中心", " "], departments=["公安局"])
        account = staff.authenticate(session, "lz", PASSWORD)
        assert account is not None
        assert staff.scope_of(account) == Scope(halls=frozenset({"柳州市政务服务中心", "南宁市民中心"}),
                                                departments=frozenset({"公安局"}))
        with pytest.raises(StaffError):
            staff.add_staff(session, username="x", password=PASSWORD, halls=["大" * 101])
