"""Senders: a rendered template to one phone, through the gateway's official SDK.

The SDKs block (requests), so the channel calls `send` off the event loop. Each SDK's
endpoint can point at any URL (a local mock in tests); without a gateway configured, the
console sender logs what would have gone out, with the phone masked.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from tongban.channels.sms.settings import SmsSettings
from tongban.channels.sms.templates import Rendered
from tongban.memory.pii import mask_phone

log = logging.getLogger(__name__)

INSTALL_HINT = "the SMS gateway SDKs are optional: pip install 'tongban[sms]'"


@dataclass(frozen=True)
class Sent:
    ok: bool
    reference: str | None = None  # the gateway's BizId / SerialNo
    error: str | None = None  # the gateway's code and message


class Sender(Protocol):
    name: str

    def send(self, phone: str, message: Rendered) -> Sent: ...


class ConsoleSender:
    """The default: nothing leaves the server; the log (and `outbox`) shows what would."""

    name = "console"

    def __init__(self, sign_name: str) -> None:
        self.sign_name = sign_name
        self.outbox: deque[tuple[str, Rendered]] = deque(maxlen=100)

    def send(self, phone: str, message: Rendered) -> Sent:
        self.outbox.append((phone, message))
        log.info("sms (console) to %s [%s]: %s", mask_phone(phone), message.template.code, message.full_text(self.sign_name))
        return Sent(ok=True, reference="console")


def _endpoint(url: str | None, default: str) -> tuple[str, str]:
    """(host[:port], scheme) from a configured URL, or the SDK's public endpoint."""
    if not url:
        return default, "https"
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return parts.netloc, parts.scheme or "https"


class AliyunSender:
    """阿里云短信 SendSms (dysmsapi 2017-05-25): PhoneNumbers, SignName, TemplateCode, TemplateParam."""

    name = "aliyun"

    def __init__(self, settings: SmsSettings) -> None:
        try:
            from alibabacloud_dysmsapi20170525.client import Client
            from alibabacloud_tea_openapi.utils_models import Config
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(INSTALL_HINT) from exc
        assert settings.sms_access_key_id and settings.sms_access_key_secret
        endpoint, scheme = _endpoint(settings.sms_endpoint, "dysmsapi.aliyuncs.com")
        self.sign_name = settings.sms_sign_name
        self.client = Client(Config(
            access_key_id=settings.sms_access_key_id,
            access_key_secret=settings.sms_access_key_secret.get_secret_value(),
            endpoint=endpoint, protocol=scheme,
            connect_timeout=settings.sms_timeout_s * 1000, read_timeout=settings.sms_timeout_s * 1000,
        ))

    def send(self, phone: str, message: Rendered) -> Sent:
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest

        request = SendSmsRequest(
            phone_numbers=phone, sign_name=self.sign_name, template_code=message.template.code,
            template_param=json.dumps(message.variables, ensure_ascii=False) if message.variables else None,
        )
        body = self.client.send_sms(request).body
        if body.code == "OK":
            return Sent(ok=True, reference=body.biz_id)
        return Sent(ok=False, error=f"{body.code}: {body.message}")


class TencentSender:
    """腾讯云短信 SendSms (sms 2021-01-11): PhoneNumberSet, SmsSdkAppId, SignName, TemplateId, TemplateParamSet."""

    name = "tencent"

    def __init__(self, settings: SmsSettings) -> None:
        try:
            from tencentcloud.common import credential
            from tencentcloud.common.profile.client_profile import ClientProfile
            from tencentcloud.common.profile.http_profile import HttpProfile
            from tencentcloud.sms.v20210111.sms_client import SmsClient
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(INSTALL_HINT) from exc
        assert settings.sms_access_key_id and settings.sms_access_key_secret and settings.sms_sdk_app_id
        endpoint, scheme = _endpoint(settings.sms_endpoint, "sms.tencentcloudapi.com")
        self.sign_name, self.app_id = settings.sms_sign_name, settings.sms_sdk_app_id
        profile = ClientProfile(httpProfile=HttpProfile(protocol=scheme, endpoint=endpoint, reqTimeout=settings.sms_timeout_s))
        self.client = SmsClient(
            credential.Credential(settings.sms_access_key_id, settings.sms_access_key_secret.get_secret_value()),
            settings.sms_region, profile,
        )

    def send(self, phone: str, message: Rendered) -> Sent:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
            TencentCloudSDKException,
        )
        from tencentcloud.sms.v20210111.models import SendSmsRequest

        request = SendSmsRequest()
        request.PhoneNumberSet = [f"+86{phone}"]
        request.SmsSdkAppId, request.SignName = self.app_id, self.sign_name
        request.TemplateId = message.template.code
        request.TemplateParamSet = list(message.variables.values())  # {1}, {2}… in order
        try:
            response = self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            if exc.code and "Network" not in str(exc.code):  # the gateway said no: don't retry
                return Sent(ok=False, error=f"{exc.code}: {exc.message}")
            raise
        status = response.SendStatusSet[0] if response.SendStatusSet else None
        if status is not None and status.Code == "Ok":
            return Sent(ok=True, reference=status.SerialNo)
        return Sent(ok=False, error=f"{status.Code}: {status.Message}" if status else "no status")


def make_sender(settings: SmsSettings) -> Sender:
    if settings.sms_provider == "aliyun":
        return AliyunSender(settings)
    if settings.sms_provider == "tencent":
        return TencentSender(settings)
    return ConsoleSender(settings.sms_sign_name)
