"""Public pages: 办事指南 for a service item (`items`) and pre-filled form downloads (`forms`)."""

from aiohttp import web

from tongban.channels.pages import forms, items


def setup(app: web.Application) -> None:
    items.setup(app)
    forms.setup(app)
