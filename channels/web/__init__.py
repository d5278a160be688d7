"""The resident web chat: page, JSON API, live socket and static files."""
