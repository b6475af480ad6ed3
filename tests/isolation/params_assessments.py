"""Foreign-object providers for the self-assessment routes' URL parameters.

period_id: periods belong to a district (not secret inside it): a/b → None, d1/c →
a period of district 1/2. assessment_id and evidence_id are school-owned: a/b/c →
a row of school A/B/C, d1 → None (a district owns no self-assessment or evidence).
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from district.extensions import db
from tenants.scope import unscoped

# A 1×1 transparent PNG.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


def _school(ctx: Any, owner: str) -> Any:
    return {"a": ctx.world.a, "b": ctx.world.b, "c": ctx.world.c}[owner]


def _district_of(ctx: Any, owner: str) -> Any:
    return ctx.world.d2 if owner == "c" else ctx.world.d1


def _rubric_version(ctx: Any, district: Any) -> int:
    from scoring.models import Rubric, RubricVersion

    def make() -> int:
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            rubric = Rubric(district_id=district.id, programme="greening", name="绿化创建")
            db.session.add(rubric)
            db.session.flush()
            version = RubricVersion(
                district_id=district.id,
                rubric_id=rubric.id,
                number=1,
                status=RubricVersion.PUBLISHED,
                effective_year=2000,
                effective_month=1,
                content={},
            )
            db.session.add(version)
            db.session.commit()
            return version.id

    return ctx.once(("rubric_version", district.id), make)


def period_id(ctx: Any, owner: str) -> int | None:
    from scoring.models import Period

    if owner in ("a", "b"):
        return None  # periods are district-wide: nothing secret between schools
    district = _district_of(ctx, owner)

    def make() -> int:
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            period = Period(district_id=district.id, year=2026, month=3, deadline=date(2026, 4, 5))
            db.session.add(period)
            db.session.commit()
            return period.id

    return ctx.once(("period", owner), make)


def assessment_id(ctx: Any, owner: str) -> int | None:
    from scoring.models import SelfAssessment, SelfAssessmentItem

    if owner == "d1":
        return None
    school = _school(ctx, owner)
    version_id = _rubric_version(ctx, _district_of(ctx, owner))

    def make() -> int:
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            assessment = SelfAssessment(
                district_id=school.district_id,
                school_id=school.id,
                year=2026,
                month=3,
                programme="greening",
                rubric_version_id=version_id,
                status=SelfAssessment.SUBMITTED,
                return_reason=f"退回原因-{ctx.marker(owner)}",
            )
            db.session.add(assessment)
            db.session.flush()
            db.session.add(
                SelfAssessmentItem(
                    district_id=school.district_id,
                    school_id=school.id,
                    assessment_id=assessment.id,
                    indicator_code="A1",
                    note=f"说明-{ctx.marker(owner)}",
                )
            )
            db.session.commit()
            return assessment.id

    return ctx.once(("assessment", owner), make)


def evidence_id(ctx: Any, owner: str) -> int | None:
    from scoring.models import Evidence

    if owner == "d1":
        return None
    school = _school(ctx, owner)
    owner_item = assessment_id(ctx, owner)

    def make() -> int:
        folder = ctx.app.config["UPLOAD_DIR"]
        os.makedirs(folder, exist_ok=True)
        stored = f"matrix-{owner}.png"
        with open(os.path.join(folder, stored), "wb") as fh:
            fh.write(PNG)
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            row = Evidence(
                district_id=school.district_id,
                school_id=school.id,
                owner_type="self_item",
                owner_id=owner_item or 0,
                filename=f"照片-{ctx.marker(owner)}.png",
                stored_name=stored,
                content_type="image/png",
                size=len(PNG),
                sha256="0" * 64,
            )
            db.session.add(row)
            db.session.commit()
            return row.id

    return ctx.once(("evidence", owner), make)


PARAMS = {
    "period_id": period_id,
    "assessment_id": assessment_id,
    "evidence_id": evidence_id,
}
