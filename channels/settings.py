"""Settings of the edge: where to listen and how to reach WeChat, Redis and the mini-program."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, model_validator

from memory.settings import TongbanSettings


class ChannelSettings(TongbanSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # WeChat official account (公众号)
    wechat_token: SecretStr | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_aes_key: SecretStr | None = None  # EncodingAESKey: compatible and safe modes
    wechat_api_base: str = "https://api.weixin.qq.com"  # a local mock in tests
    passive_reply_budget_s: float = Field(default=4.0, gt=0, lt=5)  # WeChat waits 5 s
    max_request_age_s: int = Field(default=300, ge=10)  # older timestamps are replays
    # WeChat mini-program
    miniprogram_app_id: str | None = None
    miniprogram_app_secret: SecretStr | None = None
    # shared access-token cache across replicas
    redis_url: str | None = None
    # the web chat and API
    session_secret: SecretStr = SecretStr("tongban-development-session-secret")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> ChannelSettings:
        if self.env != "development" and self.session_secret.get_secret_value() == "tongban-development-session-secret":
            raise ValueError("TONGBAN_SESSION_SECRET must be set outside development")
        return self


@lru_cache
def get_channel_settings() -> ChannelSettings:
    return ChannelSettings()
