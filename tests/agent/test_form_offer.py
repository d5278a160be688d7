"""The form offer promises only what can be done: filling from the verified identity needs one."""

from __future__ import annotations

from collections.abc import Callable

from tests.agent.conftest import TESTER, Chat
from tongban.agent.service import Agent


def test_only_a_verified_resident_is_offered_a_form_filled_from_their_identity(
        make_agent: Callable[..., Agent]) -> None:
    verified = Chat(make_agent(), user="o-verified", identity=TESTER).say("租房提取公积金怎么办")
    anonymous = Chat(make_agent(), user="o-anonymous", identity=None).say("租房提取公积金怎么办")
    assert "实名信息" in verified.text and "帮我填表" in verified.quick_replies
    assert "实名信息" not in anonymous.text, "nothing verified to fill from"
    assert "帮我填表" in anonymous.text and "帮我填表" in anonymous.quick_replies
