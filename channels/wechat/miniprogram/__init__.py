"""The WeChat mini-program: login, chat API, voice and uploads (`chat`), the message push (`push`)."""

from tongban.channels.wechat.miniprogram.chat import setup

__all__ = ["setup"]
