"""Foreign-object providers for the site-visit routes: ``visit_id`` and ``finding_id``.

Visits and findings belong to a school: owners "a", "b" and "c" get one of that school
(made by a district admin of its district, notes/description carrying the owner's
marker); "d1" (district level) has none.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from district.extensions import db
from tenants.scope import unscoped


def _school(ctx: Any, owner: str) -> Any:
    return {"a": ctx.world.a, "b": ctx.world.b, "c": ctx.world.c}.get(owner)


def _visit(ctx: Any, owner: str) -> int | None:
    from scoring.models import SiteVisit

    school = _school(ctx, owner)
    if school is None:
        return None

    def make() -> int:
        author = ctx.world.admin1 if owner in ("a", "b") else ctx.world.admin2
        day = date.today() - timedelta(days=3)
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            visit = SiteVisit(
                district_id=school.district_id,
                school_id=school.id,
                inspector_id=author.id,
                visited_on=day,
                year=day.year,
                month=day.month,
                notes=f"督查记录-{ctx.marker(owner)}",
            )
            db.session.add(visit)
            db.session.commit()
            return visit.id

    return ctx.once(("visit", owner), make)


def visit_id(ctx: Any, owner: str) -> int | None:
    return _visit(ctx, owner)


def finding_id(ctx: Any, owner: str) -> int | None:
    from scoring.models import Finding

    school = _school(ctx, owner)
    if school is None:
        return None
    parent = _visit(ctx, owner)

    def make() -> int:
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            finding = Finding(
                district_id=school.district_id,
                school_id=school.id,
                visit_id=parent,
                description=f"问题-{ctx.marker(owner)}",
                deadline=date.today() - timedelta(days=1),
                status="answered",
                response=f"整改情况-{ctx.marker(owner)}",
            )
            db.session.add(finding)
            db.session.commit()
            return finding.id

    return ctx.once(("finding", owner), make)


PARAMS = {"visit_id": visit_id, "finding_id": finding_id}
