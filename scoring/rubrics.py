"""Rubric services: default rubrics, versions in force, drafts and publication.

A published version is immutable; editing means a new draft version, and
publishing it sets the first month it scores. Every period is scored with the
latest published version whose effective month is not after the period.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from district import audit
from district.errors import Conflict
from district.extensions import db
from scoring.models import Period, Rubric, RubricIndicator, RubricVersion
from scoring.rubric_data import PROGRAMMES, default_rubrics, flatten_indicators, validate_rubric
from tenants.models import School, utcnow
from tenants.scope import require_scope

# Default rubrics are in force from the start of any data a district could hold.
EPOCH = (2000, 1)


def month_key(year: int, month: int) -> int:
    return year * 12 + month - 1


def ensure_default_rubrics() -> list[Rubric]:
    """Give the current district the four default programmes, published, if it has none."""
    existing = {r.programme: r for r in db.session.scalars(select(Rubric))}
    created = []
    for sort, (programme, data) in enumerate(default_rubrics().items()):
        if programme in existing:
            continue
        rubric = Rubric(
            programme=programme,
            name=data["name"],
            boarding_only=bool(data.get("boarding_only")),
            sort=sort,
        )
        db.session.add(rubric)
        db.session.flush()
        version = RubricVersion(rubric_id=rubric.id, number=1, content=data, note="默认细则")
        db.session.add(version)
        db.session.flush()
        publish(version, effective=EPOCH, recompute=False)
        created.append(rubric)
    return created


def rubrics() -> list[Rubric]:
    return list(
        db.session.scalars(
            select(Rubric).options(selectinload(Rubric.versions)).order_by(Rubric.sort, Rubric.id)
        )
    )


def rubric_for(programme: str) -> Rubric | None:
    return db.session.scalar(select(Rubric).where(Rubric.programme == programme))


def version_in_force(programme: str, year: int, month: int) -> RubricVersion | None:
    """The published version of the programme that scores this month (current district)."""
    key = month_key(year, month)
    versions = db.session.scalars(
        select(RubricVersion)
        .join(Rubric, Rubric.id == RubricVersion.rubric_id)
        .where(Rubric.programme == programme, RubricVersion.status == RubricVersion.PUBLISHED)
        .order_by(
            RubricVersion.effective_year.desc(),
            RubricVersion.effective_month.desc(),
            RubricVersion.number.desc(),
        )
    ).all()
    for version in versions:
        if version.effective_key is not None and version.effective_key <= key:
            return version
    return None


def versions_in_force(year: int, month: int) -> dict[str, RubricVersion]:
    """Every active programme's version for a month, keyed by programme code."""
    out = {}
    for rubric in rubrics():
        if not rubric.active:
            continue
        version = version_in_force(rubric.programme, year, month)
        if version is not None:
            out[rubric.programme] = version
    return out


def indicators_of(version: RubricVersion) -> list[RubricIndicator]:
    return list(
        db.session.scalars(
            select(RubricIndicator)
            .where(RubricIndicator.rubric_version_id == version.id)
            .order_by(RubricIndicator.sort)
        )
    )


def applicable_indicators(version: RubricVersion, school: School) -> list[RubricIndicator]:
    """Only the indicators that apply to this school (boarding, level)."""
    return [
        i
        for i in indicators_of(version)
        if i.applies_to(boarding=school.boarding, level=school.level)
    ]


def programme_applies(rubric: Rubric, school: School) -> bool:
    return school.boarding or not rubric.boarding_only


def create_draft(rubric: Rubric, content: dict[str, Any] | None = None) -> RubricVersion:
    """A new draft version, copied from the latest version unless content is given."""
    if any(v.status == RubricVersion.DRAFT for v in rubric.versions):
        raise Conflict(description="已有草稿版本，请先编辑或删除它")
    latest = rubric.versions[-1] if rubric.versions else None
    data = copy.deepcopy(content if content is not None else (latest.content if latest else {}))
    errors = validate_rubric(data) if content is not None else []
    if errors:
        raise ValidationError({"content": errors})
    version = RubricVersion(
        rubric_id=rubric.id,
        number=(latest.number + 1) if latest else 1,
        content=data,
        status=RubricVersion.DRAFT,
    )
    db.session.add(version)
    db.session.flush()
    audit.record(
        "rubric.draft", version, after={"programme": rubric.programme, "number": version.number}
    )
    return version


def update_draft(
    version: RubricVersion, content: dict[str, Any], expected_version: int | None
) -> RubricVersion:
    if version.status != RubricVersion.DRAFT:
        raise Conflict(description="已发布的细则版本不能修改，请复制为新草稿")
    if expected_version is not None and expected_version != version.version:
        raise Conflict(description="数据已被他人修改，请刷新后重试")
    errors = validate_rubric(content)
    if errors:
        raise ValidationError({"content": errors})
    old = {i["code"]: i for i in flatten_indicators(version.content or {})}
    new = {i["code"]: i for i in flatten_indicators(content)}
    before = {"indicators": len(old)}
    version.content = copy.deepcopy(content)
    db.session.flush()
    audit.record(
        "rubric.edit",
        version,
        before=before,
        after={
            "indicators": len(new),
            "added": [c for c in new if c not in old],
            "removed": [c for c in old if c not in new],
            "changed": [c for c in new if c in old and new[c] != old[c]],
        },
    )
    return version


def delete_draft(version: RubricVersion, expected_version: int | None = None) -> None:
    """Discard a draft (published versions are immutable: 409)."""
    if version.status != RubricVersion.DRAFT:
        raise Conflict(description="已发布的细则版本不能修改，请复制为新草稿")
    if expected_version is not None and expected_version != version.version:
        raise Conflict(description="数据已被他人修改，请刷新后重试")
    audit.record(
        "rubric.draft_delete",
        version,
        before={
            "programme": version.rubric.programme,
            "number": version.number,
            "indicators": len(flatten_indicators(version.content or {})),
        },
    )
    db.session.delete(version)
    db.session.flush()


def parse_month(text: Any, field: str = "effective") -> tuple[int, int]:
    """'2026-09' -> (2026, 9); a Chinese 422 message on the field otherwise."""
    match = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", str(text or ""))
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
        raise ValidationError({field: ["月份格式应为 YYYY-MM，例如 2026-09"]})
    return int(match.group(1)), int(match.group(2))


def check_effective(version: RubricVersion, effective: tuple[int, int]) -> None:
    """Refuse an effective month that would rewrite the past (422 on ``effective``).

    A new version may not start before the latest published version of its rubric
    (versions stay in order), nor in or before a closed (locked) period, whose results
    are final.
    """
    key = month_key(*effective)
    latest = max(
        (
            v
            for v in version.rubric.versions
            if v.status == RubricVersion.PUBLISHED and v.effective_key is not None
        ),
        key=lambda v: (v.effective_key, v.number),
        default=None,
    )
    if latest is not None and key < latest.effective_key:
        raise ValidationError(
            {
                "effective": [
                    f"生效月份不能早于现行第 {latest.number} 版的生效月份"
                    f"（{latest.effective_year}年{latest.effective_month}月）"
                ]
            }
        )
    closed = db.session.scalars(
        select(Period).where(Period.status == Period.CLOSED).order_by(Period.year, Period.month)
    ).all()
    locked = [p for p in closed if month_key(p.year, p.month) >= key]
    if locked:
        last = locked[-1]
        raise ValidationError(
            {
                "effective": [
                    f"{last.year}年{last.month}月的考核期已关闭，成绩不能再改；"
                    "新版本只能从已关闭考核期之后的月份起生效"
                ]
            }
        )


def publish(
    version: RubricVersion,
    *,
    effective: tuple[int, int],
    recompute: bool = True,
    user_id: int | None = None,
) -> RubricVersion:
    """Freeze a draft, flatten its indicators and put it in force from ``effective``."""
    if version.status != RubricVersion.DRAFT:
        raise Conflict(description="该版本已发布")
    errors = validate_rubric(version.content)
    if errors:
        raise ValidationError({"content": errors})
    programme = version.content.get("programme") or version.rubric.programme
    for sort, item in enumerate(flatten_indicators(version.content)):
        db.session.add(
            RubricIndicator(
                rubric_version_id=version.id,
                programme=programme,
                code=item["code"],
                category_code=item["category_code"],
                category_name=item["category_name"],
                name=item["name"],
                max_points=Decimal(str(item["max_points"])),
                kind=item["kind"],
                dimension=item["dimension"],
                guidance=item.get("guidance"),
                evidence_required=bool(item.get("evidence_required")),
                boarding_only=bool((item.get("applies_to") or {}).get("boarding_only")),
                levels=(item.get("applies_to") or {}).get("levels"),
                checklist=item.get("checklist"),
                curve=item.get("curve"),
                measure=item.get("measure"),
                sort=sort,
            )
        )
    version.status = RubricVersion.PUBLISHED
    version.effective_year, version.effective_month = effective
    version.published_at = utcnow()
    version.published_by = user_id
    version.rubric.name = version.content.get("name", version.rubric.name)
    version.rubric.boarding_only = bool(
        version.content.get("boarding_only", version.rubric.boarding_only)
    )
    db.session.flush()
    audit.record(
        "rubric.publish",
        version,
        after={
            "programme": programme,
            "number": version.number,
            "effective": f"{effective[0]}-{effective[1]:02d}",
        },
    )
    if recompute:
        from scoring.jobs import request_recompute_from

        request_recompute_from(effective[0], effective[1], user_id=user_id)
    return version


def programme_name(code: str) -> str:
    return PROGRAMMES.get(code, code)


def current_district_id() -> int:
    district_id = require_scope().district_id
    assert district_id is not None
    return district_id
