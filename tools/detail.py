"""One item's whole detail, read from the catalog: no retrieval stack needed.

Public item pages (`/items/{code}`) and the agent's answers both use it; kept apart from the
index so a page can be served before the index (faiss, jieba, the embedder) has loaded.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from tongban.memory.models import Hall, HallItem, ServiceItem


def service_detail(session: Session, item: int | str) -> dict[str, Any] | None:
    """Everything an answer about one item needs, by id, code or exact name."""
    row: ServiceItem | None
    if isinstance(item, int):
        row = session.get(ServiceItem, item)
    else:
        row = session.exec(select(ServiceItem).where(ServiceItem.code == item)).first()
        row = row or session.exec(select(ServiceItem).where(ServiceItem.name == item)).first()
    if row is None:
        return None
    halls = session.exec(
        select(Hall)
        .join(HallItem, HallItem.hall_id == Hall.id)
        .where(HallItem.item_id == row.id)
        .order_by(Hall.id)
    ).all()
    detail = row.model_dump(exclude={"updated_at"})
    detail["halls"] = [
        {"id": h.id, "code": h.code, "name": h.name, "city": h.city, "district": h.district,
         "address": h.address, "phone": h.phone, "hours": h.hours}
        for h in halls
    ]
    return detail
