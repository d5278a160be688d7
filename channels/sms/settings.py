"""Settings of the SMS channel: who may push to the webhooks, which gateway sends, the budget.

Kept apart from `ChannelSettings` so the channel stays one package; every field is a
`TONGBAN_SMS_*` variable (lists and the template overrides as JSON).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from tongban.memory.settings import TongbanSettings

Provider = Literal["console", "aliyun", "tencent"]


class SmsSettings(TongbanSettings):
    # inbound (上行): a shared token, a source allow-list, or both; with neither, all is refused
    sms_webhook_token: SecretStr | None = None  # header X-Tongban-Token or query ?token=
    sms_allowed_ips: list[str] = Field(default_factory=list)  # addresses or CIDR networks
    # outbound: the gateway and what it needs
    sms_provider: Provider = "console"
    sms_sign_name: str = Field(default="通办", min_length=2, max_length=12)  # 签名, without 【】
    sms_access_key_id: str | None = None  # Alibaba AccessKeyId / Tencent SecretId
    sms_access_key_secret: SecretStr | None = None  # Alibaba AccessKeySecret / Tencent SecretKey
    sms_endpoint: str | None = None  # e.g. http://127.0.0.1:9000; the SDK's default when unset
    sms_region: str = "ap-guangzhou"  # Tencent region
    sms_sdk_app_id: str | None = None  # Tencent SmsSdkAppId
    sms_timeout_s: int = Field(default=10, ge=1, le=60)
    sms_send_attempts: int = Field(default=2, ge=1, le=5)  # network failures only
    # templates: overrides by key (code, text, variables), merged over the defaults
    sms_templates: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sms_variable_limit: int = Field(default=35, ge=1, le=200)  # Alibaba's limit for most variables
    # where SMS links point (item pages: {public_url}/items/{code}); unset: this server's own
    # TONGBAN_HOST and TONGBAN_PORT (`public_url`), which only a phone on the same network reaches
    sms_public_url: str | None = None
    # per-number daily budget (Asia/Shanghai days); past it, replies are kept for staff
    sms_daily_budget: int = Field(default=20, ge=1)
    sms_budget_unit: Literal["segments", "messages"] = "segments"
    # a number's messages are answered in arrival order across replicas; a message left
    # unanswered (its replica died) stops holding the next ones back after this long
    sms_order_wait_s: float = Field(default=60.0, gt=0, le=600)

    @field_validator("sms_allowed_ips")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # raises on a typo at start-up
        return value

    @field_validator("sms_public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    def public_url(self, host: str, port: int) -> str:
        """The links' base: TONGBAN_SMS_PUBLIC_URL, else the address this server listens on."""
        if self.sms_public_url:
            return self.sms_public_url
        if host in ("0.0.0.0", "::", ""):  # listening everywhere: the loopback name still works here
            host = "127.0.0.1"
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @model_validator(mode="after")
    def _credentials(self) -> SmsSettings:
        if self.sms_provider != "console" and not (self.sms_access_key_id and self.sms_access_key_secret):
            raise ValueError("TONGBAN_SMS_ACCESS_KEY_ID and TONGBAN_SMS_ACCESS_KEY_SECRET are required for a gateway")
        if self.sms_provider == "tencent" and not self.sms_sdk_app_id:
            raise ValueError("TONGBAN_SMS_SDK_APP_ID is required for Tencent Cloud SMS")
        return self


@lru_cache
def get_sms_settings() -> SmsSettings:
    return SmsSettings()
