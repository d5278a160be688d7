"""Public pages: 办事指南 for a service item (`items`), knowledge-base answers (`kb`) and
pre-filled form downloads (`forms`)."""

from aiohttp import web

from tongban.channels.pages import forms, items, kb


def setup(app: web.Application) -> None:
    items.setup(app)
    kb.setup(app)
    forms.setup(app)
