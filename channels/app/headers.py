"""Security headers on every response, and a `Server` header that names no versions.

Pages set their own Content-Security-Policy (the web chat, the console, item pages); whatever
a response lacks gets the strict defaults here, and every policy forbids framing
(`frame-ancestors 'none'`), so no page can be clickjacked. aiohttp's default `Server:
Python/3.x aiohttp/3.y` would tell an attacker which known bugs to try.
"""

from __future__ import annotations

from aiohttp import web

SERVER = "tongban"
DEFAULTS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), camera=(), payment=(), usb=()",
}
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000"


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` hook: runs for handlers, static files, errors and websockets."""
    headers = response.headers
    headers["Server"] = SERVER
    for name, value in DEFAULTS.items():
        headers.setdefault(name, value)
    policy = headers.get("Content-Security-Policy")
    if policy is None:
        headers["Content-Security-Policy"] = STRICT_CSP
    elif "frame-ancestors" not in policy:
        headers["Content-Security-Policy"] = f"{policy.rstrip('; ')}; frame-ancestors 'none'; base-uri 'none'"
    if request.secure or request.headers.get("X-Forwarded-Proto") == "https":
        headers.setdefault("Strict-Transport-Security", HSTS)


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(secure_headers)
