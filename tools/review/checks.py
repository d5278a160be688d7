"""Field checks on a recognised document: validity dates, the ID number, the applicant.

Each check returns facts safe to store (booleans, masked values, dates) and problems worded
for the resident. A problem is a reason for staff to look, never a refusal: the review assists.
Names and ID numbers are compared here and only the outcome leaves this module.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from tongban.memory.pii import InvalidIdentifier, mask_id_number, mask_name, normalise_id_number

_DATE = re.compile(r"(\d{4})\D{1,2}(\d{1,2})\D{1,2}(\d{1,2})")
_OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "x": "X"})


@dataclass(frozen=True)
class Problem:
    code: str  # expired, not_yet_valid, unreadable, id_invalid, name_mismatch, id_mismatch, missing_part…
    text: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


@dataclass
class Outcome:
    """Facts for the stored review (masked) and the problems found."""

    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Applicant:
    """The verified applicant, decrypted only for the comparison."""

    name: str | None = None
    id_number: str | None = None

    def __repr__(self) -> str:
        return f"Applicant(name={mask_name(self.name)!r}, id_number={mask_id_number(self.id_number)!r})"


def parse_validity(value: str) -> tuple[dt.date, dt.date | None] | None:
    """'2016.05.20-2026.05.20' → (start, end); '2016.05.20-长期' → (start, None); else None."""
    dates = [_date(m) for m in _DATE.finditer(value)]
    if not dates or any(d is None for d in dates):
        return None
    if len(dates) == 1 and "长期" in value:
        return dates[0], None  # type: ignore[return-value]
    if len(dates) == 2:
        return dates[0], dates[1]  # type: ignore[return-value]
    return None


def validity(value: str | None, today: dt.date) -> Outcome:
    outcome = Outcome()
    parsed = parse_validity(value or "")
    if parsed is None:
        outcome.problems.append(Problem("unreadable", "未能识别身份证有效期限，请拍摄清晰、完整的国徽面"))
        return outcome
    start, end = parsed
    outcome.facts.update(valid_from=start.isoformat(), valid_until=end.isoformat() if end else "长期")
    if start > today:
        outcome.problems.append(Problem("not_yet_valid", f"有效期限起始日 {start.isoformat()} 晚于今天，请核对"))
    elif end is not None and end < today:
        outcome.problems.append(Problem("expired", f"身份证已于 {end.isoformat()} 过期"))
    outcome.facts["expired"] = end is not None and end < today
    return outcome


def id_number(value: str | None) -> Outcome:
    """The number as read, validated with the project's GB 11643 check; kept only masked."""
    outcome = Outcome()
    if not value:
        outcome.problems.append(Problem("unreadable", "未能识别公民身份号码，请拍摄清晰、完整的证件"))
        return outcome
    number = value.translate(_OCR_DIGITS)
    try:
        number = normalise_id_number(number)
    except InvalidIdentifier:
        outcome.facts.update(id_number=mask_id_number(number), id_number_valid=False)
        outcome.problems.append(Problem("id_invalid", "公民身份号码校验不通过，可能拍摄不清或证件有误，请核对"))
        return outcome
    outcome.facts.update(id_number=mask_id_number(number), id_number_valid=True)
    return outcome


def against_applicant(found: dict[str, str], applicant: Applicant, checks: tuple[str, ...]) -> Outcome:
    """Compare the name and number on the document with the verified applicant's."""
    outcome = Outcome()
    name = found.get("name")
    if name:
        outcome.facts["name"] = mask_name(name)
    if "applicant_name" in checks and name and applicant.name:
        matches = name == applicant.name
        outcome.facts["name_matches"] = matches
        if not matches:
            outcome.problems.append(Problem("name_mismatch", "证件上的姓名与申请人不一致"))
    number = (found.get("id_number") or "").translate(_OCR_DIGITS).upper()
    if "applicant_id" in checks and number and applicant.id_number:
        matches = number == applicant.id_number
        outcome.facts["id_matches"] = matches
        if not matches:
            outcome.problems.append(Problem("id_mismatch", "证件上的公民身份号码与申请人不一致"))
    return outcome


def _date(match: re.Match[str]) -> dt.date | None:
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None
