"""Settings of the staff console (`TONGBAN_CONSOLE_*`)."""

from __future__ import annotations

from pydantic import Field

from tongban.memory.settings import TongbanSettings

DEFAULT_CANNED = [
    "您好，我是政务服务中心工作人员，请问有什么可以帮您？",
    "请稍等，我帮您查询一下。",
    "请您提供一下受理编号，我帮您查看办理进度。",
    "该事项需要本人携带身份证原件到大厅窗口办理。",
    "还有其他问题吗？没有的话我将把对话转回智能助手。",
]


class ConsoleSettings(TongbanSettings):
    # tell a waiting resident that nobody is free after this long (during staffed hours)
    console_unclaimed_after_s: int = Field(default=180, ge=10)
    console_check_interval_s: float = Field(default=30.0, gt=0)  # how often that is checked
    console_poll_s: float = Field(default=1.0, gt=0)  # live updates: new messages, queue changes
    console_session_ttl_s: int = Field(default=12 * 3600, ge=300)
    # wrong passwords allowed per account and address in a window, before each further try from
    # that address waits 30 s, then twice as long each time, up to the window; other addresses
    # are not affected (one address spraying many names waits the window)
    console_sign_in_failures: int = Field(default=5, ge=1)
    console_sign_in_window_s: int = Field(default=900, ge=10)
    console_canned_replies: list[str] = Field(default_factory=lambda: list(DEFAULT_CANNED))
