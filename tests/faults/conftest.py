"""Fault tests reuse the agent, channel and 公众号 fixtures of their neighbours."""

from tests.agent.conftest import make_agent  # noqa: F401
from tests.channels.conftest import channel_settings, make_app, make_wechat, tencent  # noqa: F401  # noqa: F401
