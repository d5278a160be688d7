"""The WeChat official account (公众号) webhook: verify, decrypt, dedupe, passive reply or 客服消息.

`webhook` wires it up; `content` turns WeChat messages into text for the agent and replies back
into WeChat text; `pacing` queues agent turns behind acknowledgements.
"""

from tongban.channels.wechat.oa.webhook import setup

__all__ = ["setup"]
