"""Foreign-object providers for awards (district-level objects)."""

from __future__ import annotations

from typing import Any

from district.extensions import db
from tenants.scope import unscoped


def _district(ctx: Any, owner: str) -> int | None:
    return {"d1": ctx.world.d1.id, "c": ctx.world.d2.id}.get(owner)


def _list(ctx: Any, owner: str) -> tuple[int, int] | None:
    from dashboards.models import AwardList, AwardObjection, AwardYear

    district_id = _district(ctx, owner)
    if district_id is None:
        return None

    def make() -> tuple[int, int]:
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            year = AwardYear(district_id=district_id, school_year=2025)
            db.session.add(year)
            db.session.flush()
            lst = AwardList(
                district_id=district_id,
                award_year_id=year.id,
                kind="units",
                status="published",
                snapshot={
                    "categories": [],
                    "entries": [
                        {
                            "school_id": 0,
                            "name": f"名单-{ctx.marker(owner)}",
                            "category": "初中",
                            "year_score": "90.00",
                            "eligible": True,
                            "display_rank": 1,
                            "order": 1,
                            "awarded": True,
                            "tie_broken_by": None,
                            "reasons": [],
                            "explain": [],
                            "inspector_average": None,
                            "inspector_visits": 0,
                            "late_self_assessments": 0,
                            "verified_complaints": 0,
                            "satisfaction": None,
                        }
                    ],
                    "unallocated": 0,
                    "ranking_checksum": "x",
                },
            )
            db.session.add(lst)
            db.session.flush()
            obj = AwardObjection(
                district_id=district_id, award_list_id=lst.id, content=f"异议-{ctx.marker(owner)}"
            )
            db.session.add(obj)
            db.session.commit()
            return lst.id, obj.id

    return ctx.once(("award", owner), make)


def list_id(ctx: Any, owner: str) -> int | None:
    pair = _list(ctx, owner)
    return None if pair is None else pair[0]


def objection_id(ctx: Any, owner: str) -> int | None:
    pair = _list(ctx, owner)
    return None if pair is None else pair[1]


PARAMS = {"list_id": list_id, "objection_id": objection_id}


def bulletin_id(ctx: Any, owner: str) -> int | None:
    from dashboards.models import Bulletin

    district_id = _district(ctx, owner)
    if district_id is None:
        return None

    def make() -> int:
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            row = Bulletin(
                district_id=district_id,
                year=2026,
                month=9,
                status="ready",
                published=True,
                data={"title": f"通报-{ctx.marker(owner)}"},
            )
            db.session.add(row)
            db.session.commit()
            return row.id

    return ctx.once(("bulletin", owner), make)


PARAMS["bulletin_id"] = bulletin_id
