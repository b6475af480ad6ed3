"""Rubrics (考核细则) as the pages and the API show them: loading with the access rule
(drafts are the district admin's alone: 404 for anyone else) and shaping into dicts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort
from flask_login import current_user

from scoring import rubrics
from scoring.lookups import user_names
from scoring.models import Rubric, RubricVersion
from scoring.rubric_data import DIMENSIONS, KINDS, MEASURES, flatten_indicators
from tenants.auth import ANY_TENANT_USER
from tenants.models import Role, utcnow
from tenants.services import get_or_404

ADMIN = (Role.DISTRICT_ADMIN,)
READERS = ANY_TENANT_USER
STATUS_LABELS = {RubricVersion.DRAFT: "草稿", RubricVersion.PUBLISHED: "已发布"}


def is_admin() -> bool:
    return current_user.role == Role.DISTRICT_ADMIN


def this_month() -> tuple[int, int]:
    now = utcnow() + timedelta(hours=8)  # the districts keep Beijing time
    return now.year, now.month


def load_rubric(rubric_id: int) -> Rubric:
    return get_or_404(Rubric, rubric_id)


def load_version(version_id: int) -> RubricVersion:
    """A version the caller may read: drafts are the district admin's only."""
    version = get_or_404(RubricVersion, version_id)
    if version.status != RubricVersion.PUBLISHED and not is_admin():
        abort(404)
    return version


def _in_force(rubric: Rubric, year: int, month: int) -> RubricVersion | None:
    """Same rule as rubrics.version_in_force, on versions already loaded."""
    key = rubrics.month_key(year, month)
    published = [
        v
        for v in rubric.versions
        if v.status == RubricVersion.PUBLISHED and v.effective_key is not None
    ]
    candidates = [v for v in published if v.effective_key <= key]
    return max(candidates, key=lambda v: (v.effective_key, v.number), default=None)


def _effective_text(version: RubricVersion) -> str | None:
    if version.effective_year is None or version.effective_month is None:
        return None
    return f"{version.effective_year:04d}-{version.effective_month:02d}"


def version_out(
    version: RubricVersion, names: dict[int, str], in_force_id: int | None
) -> dict[str, Any]:
    return {
        "id": version.id,
        "rubric_id": version.rubric_id,
        "number": version.number,
        "status": version.status,
        "status_label": STATUS_LABELS.get(version.status, version.status),
        "effective": _effective_text(version),
        "effective_month": (version.effective_year, version.effective_month)
        if version.effective_year
        else None,
        "note": version.note,
        "created_at": version.created_at,
        "published_at": version.published_at,
        "published_by": version.published_by,
        "published_by_name": names.get(version.published_by) if version.published_by else None,
        "version": version.version,
        "in_force": version.id == in_force_id,
    }


def rubric_out(rubric: Rubric, names: dict[int, str], month: tuple[int, int]) -> dict[str, Any]:
    in_force = _in_force(rubric, *month)
    visible = [v for v in rubric.versions if is_admin() or v.status == RubricVersion.PUBLISHED]
    draft = next((v for v in visible if v.status == RubricVersion.DRAFT), None)
    return {
        "id": rubric.id,
        "programme": rubric.programme,
        "programme_name": rubrics.programme_name(rubric.programme),
        "name": rubric.name,
        "boarding_only": rubric.boarding_only,
        "active": rubric.active,
        "in_force_version_id": in_force.id if in_force else None,
        "draft_version_id": draft.id if draft else None,
        "versions": [
            version_out(v, names, in_force.id if in_force else None)
            for v in sorted(visible, key=lambda v: v.number, reverse=True)
        ],
    }


def rubrics_out() -> list[dict[str, Any]]:
    rows = rubrics.rubrics()
    names = user_names({v.published_by for r in rows for v in r.versions if v.published_by})
    month = this_month()
    return [rubric_out(r, names, month) for r in rows]


def indicator_out(item: dict[str, Any]) -> dict[str, Any]:
    applies = item.get("applies_to") or {}
    return {
        "category_code": item.get("category_code"),
        "category_name": item.get("category_name"),
        "code": item.get("code"),
        "name": item.get("name"),
        "max_points": item.get("max_points"),
        "kind": item.get("kind"),
        "kind_label": KINDS.get(item.get("kind"), item.get("kind")),
        "dimension": item.get("dimension"),
        "dimension_label": DIMENSIONS.get(item.get("dimension"), item.get("dimension")),
        "guidance": item.get("guidance"),
        "evidence_required": bool(item.get("evidence_required")),
        "boarding_only": bool(applies.get("boarding_only")),
        "levels": applies.get("levels"),
        "checklist": item.get("checklist"),
        "curve": item.get("curve"),
        "measure": item.get("measure"),
        "measure_label": MEASURES.get(item.get("measure")) if item.get("measure") else None,
    }


def version_detail(version: RubricVersion) -> dict[str, Any]:
    rubric = version.rubric
    names = user_names({version.published_by} if version.published_by else set())
    in_force = _in_force(rubric, *this_month())
    out = version_out(version, names, in_force.id if in_force else None)
    items = flatten_indicators(version.content or {})
    out.update(
        programme=rubric.programme,
        rubric_name=(version.content or {}).get("name", rubric.name),
        content=version.content,
        indicators=[indicator_out(i) for i in items],
        total_points=sum(float(i.get("max_points") or 0) for i in items if i.get("kind") != "veto"),
    )
    return out


def tree(content: dict[str, Any]) -> list[dict[str, Any]]:
    """Categories with their indicators (as _indicator_out) and subtotals, for the page."""
    tree = []
    for category in content.get("categories", []):
        items = [
            indicator_out({"category_code": category.get("code"), **i})
            for i in category.get("indicators", [])
        ]
        tree.append(
            {
                "code": category.get("code"),
                "name": category.get("name"),
                "indicators": items,
                "points": sum(float(i["max_points"] or 0) for i in items if i["kind"] != "veto"),
            }
        )
    return tree
