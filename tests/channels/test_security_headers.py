"""Every response: security headers, no versions in `Server`; access logs keep no credentials;
the server refuses development secrets when the network can reach it."""

from __future__ import annotations

import logging

import pytest
from typer.testing import CliRunner

from tongban.channels.app.settings import ChannelSettings, development_secrets, loopback
from tongban.channels.cli import app as cli
from tongban.memory.settings import DEV_SECRET

PATHS = ("/", "/healthz", "/items/450000-GA-0001", "/items/NO-SUCH-ITEM", "/console", "/console/api/me",
         "/api/web/messages", "/console/static/console.js", "/no/such/page")


async def test_every_response_carries_the_security_headers_and_no_version(aiohttp_client, make_app) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(make_app())
    for path in PATHS:
        response = await client.get(path)
        headers = response.headers
        assert headers["Server"] == "tongban", path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Frame-Options"] == "DENY" and headers["Referrer-Policy"], path
    page = await client.get("/items/450000-GA-0001")
    assert page.status == 200 and "style-src 'unsafe-inline'" in page.headers["Content-Security-Policy"]


async def test_access_logs_keep_no_signatures_tokens_or_openids(aiohttp_client, make_app, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    client = await aiohttp_client(make_app())
    await client.post("/wechat?signature=5f1e0c9a7b&timestamp=1733450000&nonce=846213579&openid=oAbCdEf123")
    await client.post("/sms/aliyun?token=sms-shared-s3cret")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "aiohttp.access")
    assert "/wechat?" in logged and "/sms/aliyun?" in logged
    for secret in ("5f1e0c9a7b", "846213579", "oAbCdEf123", "sms-shared-s3cret"):
        assert secret not in logged
    assert "timestamp=1733450000" in logged  # not a secret: kept for tracing


def test_development_secrets_are_refused_beyond_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert loopback("127.0.0.1") and loopback("::1") and loopback("localhost")
    assert not loopback("0.0.0.0") and not loopback("10.0.0.5") and not loopback("tongban.example")
    assert development_secrets(ChannelSettings(), DEV_SECRET, DEV_SECRET) == ["TONGBAN_SESSION_SECRET",
                                                                              "TONGBAN_SECRET_KEY"]
    monkeypatch.setenv("TONGBAN_DATA_DIR", str(tmp_path))
    for name in ("TONGBAN_SESSION_SECRET", "TONGBAN_SECRET_KEY", "TONGBAN_ENV"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2
    assert "TONGBAN_SESSION_SECRET" in result.output and "TONGBAN_SECRET_KEY" in result.output
    assert not any(tmp_path.iterdir()), "nothing started, nothing written"
