"""Foreign-object providers for the rubric URL parameters (see params_core.py).

Rubrics belong to a district, not a school: for owners "a" and "b" (schools of
district 1) there is nothing foreign, so those answer None; "d1" and "c" get a rubric
of district 1 or 2 with an open draft, both named with the owner's marker.
"""

from __future__ import annotations

from typing import Any

from district.extensions import db
from tenants.scope import unscoped

PROGRAMME = "matrix_rubric"  # not a real programme, so it never collides with seeded ones


def _content(marker: str) -> dict[str, Any]:
    return {
        "programme": PROGRAMME,
        "name": f"细则-{marker}",
        "boarding_only": False,
        "categories": [
            {
                "code": "A",
                "name": f"类别-{marker}",
                "indicators": [
                    {
                        "code": "A1",
                        "name": f"指标-{marker}",
                        "max_points": 100,
                        "kind": "judged",
                        "guidance": f"说明-{marker}",
                        "evidence_required": False,
                        "dimension": "management",
                        "applies_to": {"boarding_only": False, "levels": None},
                    }
                ],
            }
        ],
    }


def _make(ctx: Any, owner: str) -> tuple[int, int]:
    from scoring.models import Rubric, RubricVersion

    district = {"d1": ctx.world.d1, "c": ctx.world.d2}[owner]
    marker = ctx.marker(owner)
    with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
        rubric = Rubric(
            district_id=district.id, programme=PROGRAMME, name=f"细则-{marker}", sort=99
        )
        db.session.add(rubric)
        db.session.flush()
        draft = RubricVersion(
            district_id=district.id,
            rubric_id=rubric.id,
            number=1,
            status=RubricVersion.DRAFT,
            content=_content(marker),
            note=f"草稿-{marker}",
        )
        db.session.add(draft)
        db.session.commit()
        return rubric.id, draft.id


def _pair(ctx: Any, owner: str) -> tuple[int, int] | None:
    if owner in ("a", "b"):
        return None
    return ctx.once(("rubric", owner), lambda: _make(ctx, owner))


def rubric_id(ctx: Any, owner: str) -> int | None:
    pair = _pair(ctx, owner)
    return pair[0] if pair else None


def rubric_version_id(ctx: Any, owner: str) -> int | None:
    pair = _pair(ctx, owner)
    return pair[1] if pair else None


PARAMS = {"rubric_id": rubric_id, "rubric_version_id": rubric_version_id}
