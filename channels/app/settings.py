"""Settings of the edge: where to listen, how to reach WeChat, Redis and the mini-program, and the limits."""

from __future__ import annotations

import ipaddress
import os
import socket
from functools import lru_cache

from pydantic import Field, SecretStr, field_validator, model_validator

from tongban.memory.settings import TongbanSettings

# the settings a rate-limit policy may name ("N/minute;M/hour"), and those that bound a body
RATE_LIMIT_FIELDS = ("rate_address", "rate_upload_address", "rate_gateway_address", "rate_resident", "rate_upload",
                     "rate_sign_in_address", "rate_sign_in_account", "rate_new_resident_address")
BODY_LIMIT_FIELDS = ("max_upload_bytes", "max_json_bytes", "max_webhook_bytes", "max_material_bytes")
DEV_SESSION_SECRET = "tongban-development-session-secret"


class ChannelSettings(TongbanSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # WeChat official account (公众号)
    wechat_token: SecretStr | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_aes_key: SecretStr | None = None  # EncodingAESKey: compatible and safe modes
    # with the key set, plaintext callbacks are refused (a downgrade) unless this is on, e.g.
    # while the 公众号 is switched from plaintext to safe mode
    wechat_compatible_mode: bool = False
    wechat_api_base: str = "https://api.weixin.qq.com"  # a local mock in tests
    passive_reply_budget_s: float = Field(default=4.0, gt=0, lt=5)  # WeChat waits 5 s
    max_request_age_s: int = Field(default=300, ge=10)  # older timestamps are replays
    # WeChat mini-program
    miniprogram_app_id: str | None = None
    miniprogram_app_secret: SecretStr | None = None
    # shared access-token cache and rate-limit counters across replicas
    redis_url: str | None = None
    # running as several replicas (channels.web.live, README "Several replicas")
    replicas: int = Field(default=1, ge=1, le=1000)  # how many run; Helm sets it from replicaCount
    replica_name: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}", max_length=64)
    live_wait_s: float = Field(default=1.5, ge=0, le=30)  # how long staff wait to hear another replica delivered
    live_sweep_s: float = Field(default=1.0, gt=0, le=60)  # how often a replica looks for messages it missed
    # the web chat and API
    session_secret: SecretStr = SecretStr(DEV_SESSION_SECRET)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # files: voice, materials
    max_json_bytes: int = Field(default=64 * 1024, ge=1024)  # JSON and form bodies (a message is ≤ 2000 字)
    max_webhook_bytes: int = Field(default=256 * 1024, ge=1024)  # gateway pushes (XML, SMS batches)
    max_material_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)  # one uploaded material (photo or PDF)
    # rate limits (channels.app.ratelimit): "N/second|minute|hour|day", several joined by ";"
    rate_limits: bool = True
    rate_limit_storage_url: str | None = None  # e.g. redis://…; unset: TONGBAN_REDIS_URL, else memory
    rate_limit_key_prefix: str = "tongban-rate"
    trusted_proxies: list[str] = Field(default_factory=list)  # ingress addresses whose X-Forwarded-For is believed
    rate_limit_exempt: list[str] = Field(default_factory=list)  # e.g. WeChat's callback IPs: no per-address limit
    rate_address: str = "1200/minute"  # pages and APIs per source address (carrier NAT: many residents each)
    rate_upload_address: str = "120/minute"  # voice and material uploads per source address (CPU-heavy)
    rate_gateway_address: str = "12000/minute"  # webhooks per source address: a gateway carries everyone
    rate_resident: str = "30/minute;300/hour"  # messages per resident (web id, openid, phone number)
    rate_upload: str = "12/minute;120/hour"  # voice and material uploads per resident
    rate_sign_in_address: str = "30/minute"  # console sign-in attempts per address (brute force)…
    rate_sign_in_account: str = "10/minute"  # …and per account name and address
    # new web-chat residents (requests without a valid cookie) per address: dropping the cookie
    # must not escape the per-resident limit (nor fill the resident table)
    rate_new_resident_address: str = "30/minute;600/hour"

    @field_validator(*RATE_LIMIT_FIELDS)
    @classmethod
    def _limit(cls, value: str) -> str:
        from limits import parse_many

        parse_many(value)  # raises on a typo at start-up
        return value

    @field_validator("trusted_proxies", "rate_limit_exempt")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)
        return value

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> ChannelSettings:
        if self.env != "development" and self.session_secret.get_secret_value() == "tongban-development-session-secret":
            raise ValueError("TONGBAN_SESSION_SECRET must be set outside development")
        return self


@lru_cache
def get_channel_settings() -> ChannelSettings:
    return ChannelSettings()


def loopback(host: str) -> bool:
    """Whether only this machine can reach an address the server listens on."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or an interface: assume the network


def development_secrets(settings: ChannelSettings, memory_secret: str, dev_memory_secret: str) -> list[str]:
    """The settings still holding their published development values (empty: none)."""
    found = []
    if settings.session_secret.get_secret_value() == DEV_SESSION_SECRET:
        found.append("TONGBAN_SESSION_SECRET")
    if memory_secret == dev_memory_secret:
        found.append("TONGBAN_SECRET_KEY")
    return found
