"""The material review (智能审核): one file's review, and an item's materials checked against them.

`review_file` reads a file (OCR), recognises the document, checks its fields and returns the
review as stored on the upload: masked facts and problems, never the OCR text. `verdicts`
matches a resident's uploads to the item's materials — present, missing or looking wrong, with
reasons — and `reply_text` tells the resident, always as a pre-check for reference: staff decide,
the review never rejects an application by itself.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from tongban.memory import uploads
from tongban.memory.models import ServiceItem, Upload
from tongban.memory.pii import mask_name
from tongban.tools.review import checks
from tongban.tools.review.checks import Applicant
from tongban.tools.review.documents import Catalogue, catalogue, recognise
from tongban.tools.review.ocr import OcrEngine, OcrUnavailable, Reading, normalise

REVIEWED, UNAVAILABLE = "reviewed", "unavailable"
_WORD = re.compile(r"[\u3400-\u9fff0-9A-Za-z]")  # a stray "O" in a photo of hills is not text
DISCLAIMER = "以上为系统自动预审，仅供参考，不会因此退回您的申请；材料是否齐全有效，以工作人员审核为准。"
_STATUS_TEXT = {"present": "已收到", "missing": "还没有收到", "problem": "需要核对"}


async def review_file(
    engine: OcrEngine, data: bytes, *, applicant: Applicant, today: dt.date, max_pages: int = 4
) -> dict[str, Any]:
    """Read and review one file; without the ocr extra the review says so and staff check by eye.

    Raises `UnreadableDocument` for bytes that are not a readable JPEG, PNG or PDF.
    """
    started = time.perf_counter()
    try:
        reading = await engine.read_async(data, max_pages=max_pages)
    except OcrUnavailable:
        return {"status": UNAVAILABLE}
    review = review_reading(reading, applicant=applicant, today=today)
    review["seconds"] = round(time.perf_counter() - started, 3)
    return review


def review_reading(reading: Reading, *, applicant: Applicant, today: dt.date,
                   kinds: Catalogue | None = None) -> dict[str, Any]:
    """What the text says: which document, its checked fields (masked) and its problems."""
    kinds = kinds or catalogue()
    text = normalise(reading.text)
    found = recognise(text, kinds.kinds)
    review: dict[str, Any] = {
        "status": REVIEWED, "pages": len(reading.pages), "page_count": reading.page_count,
        "text_found": len(_WORD.findall(text)) >= 4, "kind": None, "kind_name": None, "document": None, "part": None,
        "facts": {}, "problems": [],
    }
    if reading.page_count > len(reading.pages):
        review["facts"]["pages_not_read"] = reading.page_count - len(reading.pages)
    kind = found.kind
    if kind is None:
        return review
    review.update(kind=kind.code, kind_name=kind.name, document=kind.document, part=kind.part)
    outcomes = []
    if "validity" in kind.checks:
        outcomes.append(checks.validity(found.fields.get("validity"), today))
    if "id_number" in kind.checks:
        outcomes.append(checks.id_number(found.fields.get("id_number")))
    outcomes.append(checks.against_applicant(found.fields, applicant, kind.checks))
    if "householder" in found.fields:
        review["facts"]["householder"] = mask_name(found.fields["householder"])
    if "household_no" in found.fields:
        review["facts"]["household_no"] = "****" + found.fields["household_no"][-2:]
    for outcome in outcomes:
        review["facts"].update(outcome.facts)
        review["problems"].extend(p.as_dict() for p in outcome.problems)
    return review


# ------------------------------------------------------------------ an item's materials


@dataclass(frozen=True)
class Reviewed:
    """One stored upload as the matching needs it."""

    id: int
    review: dict[str, Any]
    at: dt.datetime | None = None


@dataclass
class Verdict:
    material: str
    required: bool
    status: str = "missing"  # present / missing / problem
    reasons: list[str] = field(default_factory=list)
    uploads: list[int] = field(default_factory=list)
    checkable: bool = True  # some document kind can be this material

    def as_dict(self) -> dict[str, Any]:
        return {"material": self.material, "required": self.required, "status": self.status,
                "status_text": _STATUS_TEXT[self.status], "reasons": self.reasons, "uploads": self.uploads,
                "checkable": self.checkable}


@dataclass
class Summary:
    verdicts: list[Verdict]
    unmatched: list[dict[str, Any]]  # uploads that fit none of the item's materials
    assigned: dict[int, str]  # upload id → material name

    def as_dict(self) -> dict[str, Any]:
        return {"materials": [v.as_dict() for v in self.verdicts], "unmatched": self.unmatched}


def verdicts(materials: Sequence[dict[str, Any]], uploads: Iterable[Reviewed],
             kinds: Catalogue | None = None) -> Summary:
    """Match uploads (oldest first) to materials and judge each material from its latest pages."""
    kinds = kinds or catalogue()
    names = [str(m.get("name", "")) for m in materials]
    required = [bool(m.get("required", True)) for m in materials]
    held: dict[int, list[Reviewed]] = {i: [] for i in range(len(materials))}
    assigned: dict[int, str] = {}
    unmatched: list[dict[str, Any]] = []
    for upload in sorted(uploads, key=lambda u: u.id):
        document = kinds.documents.get(upload.review.get("document") or "")
        fitting = [i for i, name in enumerate(names) if document and document.fits(name)]
        if not fitting:
            unmatched.append(_unmatched(upload))
            continue
        part = upload.review.get("part")

        def rank(i: int, part: Any = part) -> tuple[int, int, int, int]:
            has_part = any(h.review.get("part") == part for h in held[i])
            return (0 if required[i] else 1, 1 if has_part else 0, len(names[i]), i)

        chosen = min(fitting, key=rank)
        held[chosen].append(upload)
        assigned[upload.id] = names[chosen]
    result = []
    for i, name in enumerate(names):
        verdict = Verdict(material=name, required=required[i],
                          checkable=any(d.fits(name) for d in kinds.documents.values()))
        if held[i]:
            _judge(verdict, held[i], kinds)
        result.append(verdict)
    return Summary(verdicts=result, unmatched=unmatched, assigned=assigned)


def _judge(verdict: Verdict, held: list[Reviewed], kinds: Catalogue) -> None:
    """Per document held: the latest upload of each part counts; missing parts are problems."""
    verdict.uploads = [u.id for u in held]
    by_document: dict[str, dict[Any, Reviewed]] = {}
    for upload in held:  # oldest first, so a later photo of the same side replaces the earlier
        by_document.setdefault(upload.review["document"], {})[upload.review.get("part")] = upload
    options: list[list[str]] = []
    for name, parts in by_document.items():
        document = kinds.documents[name]
        reasons = [
            p["text"] for u in parts.values() for p in u.review.get("problems", [])
            if not (p.get("code") == "expired" and document.expiry_expected(verdict.material))
        ]
        reasons += [ask for part, ask in document.parts.items() if part not in parts]
        options.append(list(dict.fromkeys(reasons)))
    best = min(options, key=len)
    verdict.status = "problem" if best else "present"
    verdict.reasons = best


def _unmatched(upload: Reviewed) -> dict[str, Any]:
    review = upload.review
    if review.get("status") == UNAVAILABLE:
        reason = "未自动识别，工作人员会人工核对"
    elif review.get("kind_name"):
        reason = f"识别为{review['kind_name']}，但不在本事项的材料清单中"
    elif review.get("text_found"):
        reason = "读出了文字，但未能识别是哪种证件或材料"
    else:
        reason = "没有读出文字，看起来不是证件或材料"
    return {"upload": upload.id, "kind_name": review.get("kind_name"), "reason": reason}


def item_summary(session: Session, resident_id: int, item: ServiceItem | None) -> Summary | None:
    """The item's materials judged from the resident's stored uploads (None when no item is known)."""
    if item is None:
        return None
    return summarise(item, uploads.for_item(session, resident_id, item.code))


def summarise(item: ServiceItem, rows: Iterable[Upload]) -> Summary:
    return verdicts(item.materials, [Reviewed(id=r.id or 0, review=r.review, at=r.created_at) for r in rows])


# ------------------------------------------------------------------ telling the resident


def reply_text(review: dict[str, Any], item_name: str | None, summary: Summary | None) -> str:
    """Item by item: what is present, what is missing, what looks wrong — and that staff decide."""
    lines = [_this_file(review)]
    if item_name is None or summary is None:
        lines.append("请告诉我您要办理的事项（例如：无犯罪记录证明怎么开），我再帮您对照所需材料。")
    else:
        lines.append(f"对照「{item_name}」的材料清单，自动预审结果：")
        shown = [v for v in summary.verdicts if v.required or v.uploads]
        for number, verdict in enumerate(shown, 1):
            line = f"{number}. {verdict.material}：{_STATUS_TEXT[verdict.status]}"
            if verdict.reasons:
                line += "（" + "；".join(verdict.reasons) + "）"
            elif verdict.status == "missing" and not verdict.checkable:
                line += "（此类材料暂不能自动识别，请按要求准备）"
            lines.append(line)
        if summary.unmatched:
            lines.append(f"另有 {len(summary.unmatched)} 份文件未对应到所需材料："
                         + "；".join(u["reason"] for u in summary.unmatched))
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def _this_file(review: dict[str, Any]) -> str:
    if review.get("status") == UNAVAILABLE:
        return "已收到您上传的文件并加密保存。自动预审暂不可用，工作人员会人工核对。"
    if review.get("kind_name"):
        text = f"已收到您上传的文件，识别为「{review['kind_name']}」。"
    elif review.get("text_found"):
        text = "已收到您上传的文件，但未能识别是哪种证件或材料，请上传清晰、完整的证件照片。"
    else:
        text = "已收到您上传的文件，但没有读出文字，看起来不是证件或材料，请确认是否传错。"
    skipped = (review.get("facts") or {}).get("pages_not_read")
    if skipped:
        text += f"（文件较长，只读取了前 {review['pages']} 页）"
    return text

