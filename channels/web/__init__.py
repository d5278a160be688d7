"""The resident web chat: the page, its JSON API (`chat`), the live socket (`live`), static files."""

from tongban.channels.web.chat import setup

__all__ = ["setup"]
