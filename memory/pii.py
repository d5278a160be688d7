"""Personal data: validation, masking, encryption at rest and blind indexes.

ID numbers, phones and names are stored encrypted (Fernet) beside a keyed HMAC used for
look-ups, so a leaked database dump shows neither in clear. Masking is the only form in
which they appear in logs, reprs, the console and model prompts. In free text (`mask_text`),
ID numbers, mobile numbers and the names a message introduces (我叫王小芳 → 我叫王**; the cues,
family names and given-name characters are the data of memory/names/) are masked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

ID_RE = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
PHONE_RE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


class InvalidIdentifier(ValueError):
    """An ID number or phone that fails validation."""


def normalise_id_number(value: str) -> str:
    """Validate a mainland resident ID (GB 11643) and return it upper-cased.

    Format, birth date and check digit are verified with python-stdnum. Its historical
    area-code check is not applied: IDs are reissued with today's codes after re-zoning, so a
    resident born in 1955 can rightly carry a code created in the 1980s.
    """
    number = value.strip().upper()
    if not re.fullmatch(r"[1-9]\d{16}[0-9X]", number):
        raise InvalidIdentifier("身份证号码应为18位")
    try:
        ric.get_birth_date(number)
    except ValidationError as exc:
        raise InvalidIdentifier("身份证号码中的出生日期无效") from exc
    if ric.calc_check_digit(number) != number[-1]:
        raise InvalidIdentifier("身份证号码校验位不正确")
    return number


def is_valid_id_number(value: str) -> bool:
    try:
        normalise_id_number(value)
    except InvalidIdentifier:
        return False
    return True


def normalise_phone(value: str) -> str:
    """Validate a mainland mobile number and return its 11 national digits."""
    try:
        parsed = phonenumbers.parse(value.strip(), "CN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentifier("手机号码无效") from exc
    if not (phonenumbers.is_valid_number(parsed) and parsed.country_code == 86):
        raise InvalidIdentifier("手机号码无效")
    if phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidIdentifier("请提供手机号码")
    return str(parsed.national_number)


def mask_id_number(value: str | None) -> str:
    if not value:
        return ""
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 8 else "****"


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    return value[:3] + "****" + value[-4:] if len(value) >= 11 else "****"


def mask_name(value: str | None) -> str:
    """王芳 → 王*, 欧阳娜娜 → 欧***: the family name stays so staff can address people."""
    if not value:
        return ""
    return value[0] + "*" * max(1, len(value) - 1)


def mask_text(text: str) -> str:
    """Mask every ID number, mobile number and self-introduced name inside free text."""
    text = ID_RE.sub(lambda m: m.group(1)[:4] + "*" * 10 + m.group(3)[-4:], text)
    text = PHONE_RE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    return mask_names(text)


# ---------------------------------------------------------------- names said in free text

NAMES_DIR = Path(__file__).parent / "names"


@dataclass(frozen=True)
class NameCue:
    pattern: re.Pattern[str]
    given_only: bool  # what follows may be the given name alone (我姓王，叫小芳)
    weak: bool  # the name counts only before a boundary (我是王芳，… but not 我是张家港的)


@dataclass(frozen=True)
class NameWords:
    """The term-level data of memory/names/: cues, family names, given-name characters."""

    cues: tuple[NameCue, ...]
    surnames: tuple[str, ...]  # longest first: 欧阳 before 欧
    family: frozenset[str]  # the same, for look-ups
    given: frozenset[str]
    not_names: tuple[str, ...]
    after: tuple[str, ...]


def _words(path: Path) -> list[str]:
    return [w for line in path.read_text("utf-8").splitlines() for w in line.split("#", 1)[0].split()]


@lru_cache(maxsize=1)
def name_words(directory: Path = NAMES_DIR) -> NameWords:
    surnames = tuple(sorted(dict.fromkeys(_words(directory / "surnames.txt")), key=len, reverse=True))
    alternation = "(?:" + "|".join(map(re.escape, surnames)) + ")"
    cues = []
    for number, line in enumerate((directory / "cues.tsv").read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        follows, strength, regex = line.split("\t")
        if follows not in ("full", "given") or strength not in ("strong", "weak"):
            raise ValueError(f"memory/names/cues.tsv line {number}: full|given, strong|weak")
        pattern = re.compile(regex.replace("{surname}", alternation) + r"[\s:：]*")
        cues.append(NameCue(pattern, given_only=follows == "given", weak=strength == "weak"))
    return NameWords(cues=tuple(cues), surnames=surnames, family=frozenset(surnames),
                     given=frozenset(_words(directory / "given.txt")),
                     not_names=tuple(_words(directory / "not_names.txt")), after=tuple(_words(directory / "after.txt")))


_ANY_HAN = re.compile("[\u3400-\u9fff\U00020000-\U0003134f]")


def _han(char: str) -> bool:
    return _ANY_HAN.fullmatch(char) is not None


def _given(words: NameWords, text: str, at: int) -> int:
    """How many characters of a given name (at most two) begin at `at`."""
    length = 0
    while length < 2 and at + length < len(text) and text[at + length] in words.given:
        length += 1
    return length


def _ends(words: NameWords, text: str, at: int) -> bool:
    return at >= len(text) or not _han(text[at]) or text.startswith(words.after, at)


def _name_at(words: NameWords, cue: NameCue, text: str, at: int) -> tuple[int, int] | None:
    """(end, characters kept) of the name said right after a cue ending at `at`, if one is."""
    if text.startswith(words.not_names, at):
        return None
    for surname in (text[at:at + 2], text[at:at + 1]):  # compound family names first: 欧阳 before 欧
        if surname in words.family and (given := _given(words, text, at + len(surname))):
            end = at + len(surname) + given
            if not cue.weak or _ends(words, text, end):
                return end, 1  # 王小芳 → 王**, 欧阳建国 → 欧*** as mask_name writes them
            return None
    if cue.given_only and (given := _given(words, text, at)) and (not cue.weak or _ends(words, text, at + given)):
        return at + given, 0
    return None


def find_names(text: str, words: NameWords | None = None) -> list[tuple[int, int, int]]:
    """The personal names a message introduces (我叫王小芳, 我是李建国，…, 姓名：张三, 我姓王，叫小芳):
    (start, end, characters kept) of each. Only names said after a cue of memory/names/cues.tsv,
    made of a family name of surnames.txt and one or two characters of given.txt."""
    words = words or name_words()
    if not _ANY_HAN.search(text):  # a log line of the web server, a URL: nothing to read
        return []
    found: dict[int, tuple[int, int]] = {}
    for cue in words.cues:
        for match in cue.pattern.finditer(text):
            if (name := _name_at(words, cue, text, match.end())) is not None:
                found[match.end()] = max(found.get(match.end(), name), name)
    return sorted((start, end, kept) for start, (end, kept) in found.items())


def mask_names(text: str) -> str:
    """我叫王小芳，想问… → 我叫王**，想问…: the names a message introduces, masked as mask_name does
    (the given name only where the family name was said apart: 我姓王，叫小芳 → 我姓王，叫**)."""
    spans = find_names(text)
    for start, end, kept in reversed(spans):
        text = text[:start + kept] + "*" * (end - start - kept) + text[end:]
    return text


# query parameters that are credentials or let a request be replayed: WeChat's signatures, nonce
# and echo string, the SMS webhook's shared token, OAuth codes and tokens, and the openid
SECRET_PARAMS = re.compile(
    r"([?&;](?:signature|msg_signature|nonce|echostr|token|access_token|secret|sign|code|ticket|openid)=)"
    r"[^&;\s\"']*", re.IGNORECASE)


def mask_secrets(text: str) -> str:
    """`…?signature=3f2a…&nonce=123` → `…?signature=***&nonce=***` in URLs inside text."""
    return SECRET_PARAMS.sub(r"\1***", text)


class PiiMaskingFilter(logging.Filter):
    """Masks ID numbers, phones and URL credentials in every record that passes through a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(mask_text(message))
        if masked != message:
            record.msg, record.args = masked, ()
        return True


# Libraries whose log messages carry request lines or bodies: an SMS gateway's URL names the
# phone (Aliyun's PhoneNumbers=…), Tencent Cloud's SDK logs request bodies at DEBUG, access logs
# print query strings. Their records are masked where they are made, before any handler.
LIBRARY_LOGGERS = ("aiohttp.access", "aiohttp.client", "urllib3.connectionpool", "tencentcloud_sdk_common",
                   "httpx", "httpcore")


def _add_filter(target: logging.Logger | logging.Handler) -> None:
    if not any(isinstance(f, PiiMaskingFilter) for f in target.filters):
        target.addFilter(PiiMaskingFilter())


def mask_library_logs() -> None:
    """Mask the chatty libraries' records at their source (a filter on each library logger)."""
    for name in LIBRARY_LOGGERS:
        _add_filter(logging.getLogger(name))


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Attach the masking filter to every handler of the root (or given) logger, and to the
    loggers of libraries that log personal data themselves."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        _add_filter(handler)
    mask_library_logs()


class Vault:
    """Encrypts personal data and computes blind indexes, both keyed by the app secret."""

    def __init__(self, secret: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"tongban-pii-encryption")))
        self._hmac_key = _derive(secret, b"tongban-pii-blind-index")

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("personal data could not be decrypted with this secret key") from exc

    def encrypt_bytes(self, data: bytes) -> bytes:
        """For binary personal data (a resident's recorded voice)."""
        return self._fernet.encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise ValueError("personal data could not be decrypted with this secret key") from exc

    def blind_index(self, kind: str, value: str | None) -> str | None:
        """A keyed hash for equality look-ups; `kind` keeps phone and ID spaces apart."""
        if value is None:
            return None
        digest = hmac.new(self._hmac_key, f"{kind}:{value}".encode(), hashlib.sha256)
        return digest.hexdigest()


def _derive(secret: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode())


@lru_cache(maxsize=8)
def vault_for(secret: str) -> Vault:
    return Vault(secret)
