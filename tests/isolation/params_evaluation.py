"""Foreign-object providers for the staff evaluation routes (plan_id, round_id,
school_evaluation_id).

Plans and rounds belong to a district: inside district 1 they are not secret from its
schools, so a/b give None; d1 and c give district 1's / district 2's. A school
evaluation belongs to a school (a, b in district 1's round, c in district 2's); district
1 itself owns none. Each carries a rated staff member and a stored result, so a leak of
the school's data would show the owner's marker.

The public rating link ``/e/<token>`` uses the parameter ``token``, already provided (as
None) by params_surveys.py: the link is the credential, reachable by anyone holding it.
Its rules (one answer, own staff member only) are tested in
tests/scoring/test_evaluation_views.py.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from district.extensions import db
from tenants.scope import unscoped


def _district(ctx: Any, owner: str) -> Any:
    return {"d1": ctx.world.d1, "c": ctx.world.d2}[owner]


def plan_id(ctx: Any, owner: str) -> int | None:
    if owner in ("a", "b"):
        return None
    from scoring.evaluation import default_config
    from scoring.evaluation_models import EvaluationPlan

    def make() -> int:
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            plan = EvaluationPlan(
                district_id=_district(ctx, owner).id,
                year=2026,
                name=f"方案-{ctx.marker(owner)}",
                config=default_config(),
                status=EvaluationPlan.ACTIVE,
            )
            db.session.add(plan)
            db.session.commit()
            return plan.id

    return ctx.once(("evaluation_plan", owner), make)


def round_id(ctx: Any, owner: str) -> int | None:
    if owner in ("a", "b"):
        return None
    from scoring.evaluation_models import EvaluationRound

    def make() -> int:
        pid = plan_id(ctx, owner)
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            rnd = EvaluationRound(
                district_id=_district(ctx, owner).id,
                plan_id=pid,
                name=f"轮次-{ctx.marker(owner)}",
                opens_on=date(2026, 11, 1),
                closes_on=date(2026, 12, 20),
            )
            db.session.add(rnd)
            db.session.commit()
            return rnd.id

    return ctx.once(("evaluation_round", owner), make)


def school_evaluation_id(ctx: Any, owner: str) -> int | None:
    if owner == "d1":
        return None
    from scoring.evaluation_models import EvaluationResult, SchoolEvaluation, StaffRating
    from scoring.staff_models import StaffMember

    def make() -> int:
        school = {"a": ctx.world.a, "b": ctx.world.b, "c": ctx.world.c}[owner]
        rid = round_id(ctx, "c" if owner == "c" else "d1")
        marker = ctx.marker(owner)
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            person = StaffMember(
                district_id=school.district_id,
                school_id=school.id,
                name=f"参评人-{marker}",
                post="保洁",
                employment_type="合同工",
                five_roles=[],
            )
            db.session.add(person)
            db.session.flush()
            scores = {
                "ethics": "14",
                "ability": "18",
                "diligence": "23",
                "results": "27",
                "integrity": "9",
            }
            db.session.add(
                StaffRating(
                    district_id=school.district_id,
                    school_id=school.id,
                    round_id=rid,
                    staff_id=person.id,
                    group="self",
                    rater_staff_id=person.id,
                    scores=scores,
                    total=Decimal("91"),
                )
            )
            db.session.add(
                EvaluationResult(
                    district_id=school.district_id,
                    school_id=school.id,
                    round_id=rid,
                    staff_id=person.id,
                    score=Decimal("91"),
                    rounded=Decimal("91"),
                    grade="excellent",
                    reasons=[],
                    group_means={"self": "91.00"},
                    rank=1,
                    percentile=Decimal("50"),
                    z_score=Decimal("0"),
                    groups_missing=["leadership", "colleagues", "served"],
                    veto_note=f"否决说明-{marker}",
                    computed_at=date(2026, 11, 20),
                )
            )
            se = SchoolEvaluation(
                district_id=school.district_id,
                school_id=school.id,
                round_id=rid,
                status=SchoolEvaluation.SUBMITTED,
                return_reason=f"退回原因-{marker}",
            )
            db.session.add(se)
            db.session.commit()
            return se.id

    return ctx.once(("school_evaluation", owner), make)


PARAMS = {
    "plan_id": plan_id,
    "round_id": round_id,
    "school_evaluation_id": school_evaluation_id,
}
