"""Scoring jobs: recompute exactly the school-months a change affects.

Jobs take ids and are idempotent: they recompute from the source rows and upsert
the stored results, so running one twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_login import current_user

from district.jobs import enqueue, report_progress
from tenants.scope import require_scope


def _user_id(user_id: int | None) -> int | None:
    if user_id is not None:
        return user_id
    return current_user.id if getattr(current_user, "is_authenticated", False) else None


def request_recompute(
    items: Iterable[tuple[int, int, int]],
    *,
    user_id: int | None = None,
    description: str | None = None,
) -> Any:
    """Enqueue recomputation of (school_id, year, month) items of the current district."""
    unique = sorted({(int(s), int(y), int(m)) for s, y, m in items})
    if not unique:
        return None
    district_id = require_scope().district_id
    return enqueue(
        recompute_school_months,
        district_id,
        [list(i) for i in unique],
        description=description or f"重新计算 {len(unique)} 个学校月度成绩",
        district_id=district_id,
        user_id=_user_id(user_id),
        queue="scoring",
    )


def request_recompute_from(year: int, month: int, *, user_id: int | None = None) -> Any:
    """A rubric publication: every school-month from ``year-month`` on that has data."""
    district_id = require_scope().district_id
    return enqueue(
        recompute_district_from,
        district_id,
        year,
        month,
        description=f"细则发布后重新计算 {year}年{month}月起的成绩",
        district_id=district_id,
        user_id=_user_id(user_id),
        queue="scoring",
    )


def request_full_recompute(year: int, month: int, *, user_id: int | None = None) -> Any:
    """A district admin's full recomputation of one period (progress shown on /jobs)."""
    district_id = require_scope().district_id
    return enqueue(
        recompute_period,
        district_id,
        year,
        month,
        description=f"重新计算 {year}年{month}月 全部学校成绩",
        district_id=district_id,
        user_id=_user_id(user_id),
        queue="scoring",
    )


def _fresh_dashboards(district_id: int, result: dict[str, Any]) -> dict[str, Any]:
    from dashboards.cache import invalidate

    invalidate(district_id)
    return result


def recompute_school_months(district_id: int, items: list[list[int]]) -> dict[str, Any]:
    from scoring.results import recompute

    return _fresh_dashboards(
        district_id, recompute([tuple(i) for i in items], progress=report_progress)
    )


def recompute_period(district_id: int, year: int, month: int) -> dict[str, Any]:
    from scoring.results import recompute, school_months_of_period

    return _fresh_dashboards(
        district_id, recompute(school_months_of_period(year, month), progress=report_progress)
    )


def recompute_district_from(district_id: int, year: int, month: int) -> dict[str, Any]:
    from scoring.results import recompute, school_months_from

    return _fresh_dashboards(
        district_id, recompute(school_months_from(year, month), progress=report_progress)
    )
