"""Look-ups for the site-visit (督查) pages and API: visit lists, programmes, zones.

Everything here reads through the caller's tenant scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from district.extensions import db
from scoring.lookups import schools_by_id, user_names
from scoring.models import SiteVisit, VisitScore
from scoring.rubric_data import PROGRAMMES
from tenants.models import School, Zone

__all__ = [
    "list_visits",
    "month_filter",
    "programmes_of",
    "schools_by_id",
    "user_names",
    "visible_schools",
    "zones",
]


def month_filter(stmt: Any, model: Any, year: int | None, month: int | None) -> Any:
    if year:
        stmt = stmt.where(model.year == year)
    if month:
        stmt = stmt.where(model.month == month)
    return stmt


def list_visits(
    *,
    year: int | None = None,
    month: int | None = None,
    zone_id: int | None = None,
    school_id: int | None = None,
    inspector_id: int | None = None,
    limit: int | None = 500,
    offset: int = 0,
) -> list[SiteVisit]:
    stmt = select(SiteVisit).order_by(SiteVisit.visited_on.desc(), SiteVisit.id.desc())
    stmt = month_filter(stmt, SiteVisit, year, month)
    if zone_id:
        stmt = stmt.join(School, School.id == SiteVisit.school_id).where(School.zone_id == zone_id)
    if school_id:
        stmt = stmt.where(SiteVisit.school_id == school_id)
    if inspector_id:
        stmt = stmt.where(SiteVisit.inspector_id == inspector_id)
    if offset:
        stmt = stmt.offset(offset)
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def programmes_of(visit_ids: Sequence[int]) -> dict[int, list[str]]:
    if not visit_ids:
        return {}
    rows = db.session.execute(
        select(VisitScore.visit_id, VisitScore.programme)
        .where(VisitScore.visit_id.in_(list(visit_ids)))
        .group_by(VisitScore.visit_id, VisitScore.programme)
    )
    out: dict[int, list[str]] = {}
    for visit_id, programme in rows:
        out.setdefault(visit_id, []).append(programme)
    order = list(PROGRAMMES)
    for value in out.values():
        value.sort(key=lambda p: order.index(p) if p in order else len(order))
    return out


def zones() -> list[Zone]:
    return list(db.session.scalars(select(Zone).order_by(Zone.name)))


def visible_schools() -> list[School]:
    return list(db.session.scalars(select(School).order_by(School.code, School.name)))
