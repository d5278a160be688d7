"""Local stand-ins for the gateways' SendSms APIs, checking the signatures the SDKs compute.

Alibaba (dysmsapi 2017-05-25, RPC style): SendSms with its parameters in the query and an
ACS3-HMAC-SHA256 signature; answers `{"Code":"OK","Message":"OK","BizId":…,"RequestId":…}`.
Tencent (sms 2021-01-11): a JSON POST with `X-TC-Action: SendSms`, signed TC3-HMAC-SHA256;
answers `{"Response":{"SendStatusSet":[{"Code":"Ok",…}],"RequestId":…}}`. Both record what
they were asked to send, for the tests to hold against the template registry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web


@dataclass
class Sent:
    phone: str
    sign: str
    template: str
    params: dict[str, str] | list[str]
    app_id: str | None = None


def _json(data: Any) -> web.Response:
    """Exactly `application/json`, as Tencent sends it (the SDK checks the header verbatim)."""
    return web.Response(body=json.dumps(data, ensure_ascii=False).encode(), headers={"Content-Type": "application/json"})


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


@dataclass
class AliyunMock:
    access_key_id: str
    access_key_secret: str
    sent: list[Sent] = field(default_factory=list)
    refuse_next: str | None = None  # a business error code for the next send

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        action = request.headers.get("x-acs-action") or request.query.get("Action")
        if action != "SendSms":
            return web.json_response({"Code": "InvalidAction.NotFound", "Message": str(action)}, status=404)
        if not self._signed(request, body):
            return web.json_response({"Code": "SignatureDoesNotMatch", "Message": "signature mismatch",
                                      "RequestId": str(uuid.uuid4())}, status=400)
        query = request.query
        params = json.loads(query["TemplateParam"]) if query.get("TemplateParam") else {}
        self.sent.append(Sent(query["PhoneNumbers"], query["SignName"], query["TemplateCode"], params))
        if self.refuse_next:
            code, self.refuse_next = self.refuse_next, None
            return web.json_response({"Code": code, "Message": "触发号码天级流控", "RequestId": str(uuid.uuid4())})
        return web.json_response({"Code": "OK", "Message": "OK", "BizId": f"{uuid.uuid4().int % 10**18}^0",
                                  "RequestId": str(uuid.uuid4())})

    def _signed(self, request: web.Request, body: bytes) -> bool:
        """ACS3-HMAC-SHA256 (the SDK's V3 signature), recomputed from the request."""
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("ACS3-HMAC-SHA256 "):
            return False
        fields = dict(part.split("=", 1) for part in authorization.removeprefix("ACS3-HMAC-SHA256 ").split(","))
        if fields.get("Credential") != self.access_key_id:
            return False
        signed = fields["SignedHeaders"].split(";")
        encode = lambda s: quote(s, safe="-_.~")  # noqa: E731
        canonical_query = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(request.query.items()))
        headers = "".join(f"{name}:{request.headers.get(name, '').strip()}\n" for name in signed)
        payload = request.headers.get("x-acs-content-sha256", _sha256(body))
        canonical = "\n".join([request.method, request.path, canonical_query, headers, ";".join(signed), payload])
        to_sign = f"ACS3-HMAC-SHA256\n{_sha256(canonical.encode())}"
        expected = hmac.new(self.access_key_secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields.get("Signature", "")) and payload == _sha256(body)


@dataclass
class TencentMock:
    secret_id: str
    secret_key: str
    sent: list[Sent] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        request_id = str(uuid.uuid4())
        if request.headers.get("X-TC-Action") != "SendSms" or request.headers.get("X-TC-Version") != "2021-01-11":
            return self._error("InvalidAction", "unknown action or version", request_id)
        if not self._signed(request, body):
            return self._error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.", request_id)
        data: dict[str, Any] = json.loads(body)
        statuses = []
        for phone in data["PhoneNumberSet"]:
            self.sent.append(Sent(phone, data["SignName"], data["TemplateId"], list(data.get("TemplateParamSet", [])),
                                  app_id=data["SmsSdkAppId"]))
            statuses.append({"SerialNo": uuid.uuid4().hex, "PhoneNumber": phone, "Fee": 1, "SessionContext": "",
                             "Code": "Ok", "Message": "send success", "IsoCode": "CN"})
        return _json({"Response": {"SendStatusSet": statuses, "RequestId": request_id}})

    @staticmethod
    def _error(code: str, message: str, request_id: str) -> web.Response:
        return _json({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}})

    def _signed(self, request: web.Request, body: bytes) -> bool:
        """TC3-HMAC-SHA256, as the API documentation defines it."""
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("TC3-HMAC-SHA256 "):
            return False
        fields = dict(part.strip().split("=", 1) for part in authorization.removeprefix("TC3-HMAC-SHA256 ").split(","))
        secret_id, date, service, _ = fields["Credential"].split("/")
        if secret_id != self.secret_id or service != "sms":
            return False
        timestamp = request.headers["X-TC-Timestamp"]
        if dt.datetime.fromtimestamp(int(timestamp), dt.UTC).strftime("%Y-%m-%d") != date:
            return False
        signed = fields["SignedHeaders"].split(";")
        headers = "".join(f"{name}:{request.headers.get(name, '').strip().lower()}\n" for name in signed)
        canonical = "\n".join(["POST", "/", "", headers, ";".join(signed), _sha256(body)])
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{_sha256(canonical.encode())}"
        key = _hmac(_hmac(_hmac(f"TC3{self.secret_key}".encode(), date), service), "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields.get("Signature", ""))
