"""Demo data for the staff performance evaluation: the 2026 plan and a finished round.

Registered in :data:`district.demo.DEMO_EXTENSIONS` at import. Needs the roster demo's
people (``scoring.staff_demo``, imported first so it registers first): with no
:class:`StaffMember` rows it creates nothing. Schools differ in leniency (some rate
everyone high, some low) so the district comparison has something to normalise;
canteen staff without a valid health certificate are rated well on purpose, so the
"no 优秀 without 健康证" rule shows; two people carry a veto responsibility.
"""

from __future__ import annotations

import importlib.util
import random
import secrets
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from district.demo import DEMO_EXTENSIONS
from district.extensions import db
from scoring import evaluation as ev
from scoring import staff_engine as engine
from scoring.evaluation_models import (
    COLLEAGUES,
    LEADERSHIP,
    SELF,
    SERVED,
    EvaluationPlan,
    EvaluationRound,
    RaterLink,
    RaterToken,
    SchoolEvaluation,
    StaffRating,
)
from scoring.staff_models import HEALTH_CERTIFICATE, StaffMember
from tenants.models import Role, School, User, utcnow

if importlib.util.find_spec("scoring.staff_demo") is not None:
    # The roster must be built before the evaluation that rates it.
    import scoring.staff_demo  # noqa: F401

PLAN_YEAR = 2026
PLAN_NAME = "2026年度后勤人员工作业绩评价方案"
ROUND_NAME = "2026年度后勤人员工作业绩评价"


def _ballot(plan: engine.EvaluationPlan, level: float, rng: random.Random) -> dict[str, str]:
    """Points per dimension around ``level`` (0–100), in half points."""
    scores = {}
    for d in plan.dimensions:
        share = min(max((level + rng.gauss(0, 4)) / 100, 0.3), 1.0)
        points = round(float(d.max_points) * share * 2) / 2
        scores[d.code] = format(Decimal(str(points)), "f")
    return scores


def _rating(
    plan: engine.EvaluationPlan,
    staff: StaffMember,
    group: str,
    level: float,
    rng: random.Random,
    **who: int | None,
) -> StaffRating:
    scores = _ballot(plan, level, rng)
    total = engine.round_half_up(engine.rating_total(plan, scores), plan.decimals)
    return StaffRating(
        school_id=staff.school_id, staff_id=staff.id, group=group, scores=scores, total=total, **who
    )


def build_evaluation_demo(district_id: int, rng: random.Random) -> dict[str, int]:
    """Plan, round, ratings of every group, vetoes, submissions; returns a few counts."""
    staff = list(
        db.session.scalars(
            select(StaffMember)
            .where(StaffMember.active.is_(True))
            .order_by(StaffMember.school_id, StaffMember.id)
        )
    )
    if not staff:
        return {}
    config = ev.default_config()
    plan_row = EvaluationPlan(
        year=PLAN_YEAR,
        name=PLAN_NAME,
        config=config,
        status=EvaluationPlan.ACTIVE,
        activated_at=utcnow(),
    )
    db.session.add(plan_row)
    db.session.flush()
    plan = ev.engine_plan(config)
    closes_on = min(date.today() - timedelta(days=3), date(PLAN_YEAR, 12, 20))
    rnd = ev.create_round(
        {
            "plan_id": plan_row.id,
            "name": ROUND_NAME,
            "opens_on": closes_on - timedelta(days=26),
            "closes_on": closes_on,
        }
    )
    on = ev.evaluation_date(rnd)
    heads = {
        u.school_id: u
        for u in db.session.scalars(select(User).where(User.role == Role.SCHOOL_HEAD))
    }
    staff_users = {
        u.school_id: u
        for u in db.session.scalars(select(User).where(User.role == Role.SCHOOL_STAFF))
    }
    by_school: dict[int, list[StaffMember]] = defaultdict(list)
    for s in staff:
        by_school[s.school_id].append(s)
    schools = {s.id: s for s in db.session.scalars(select(School))}

    ratings: list[StaffRating] = []
    tokens: list[RaterToken] = []
    day = datetime(closes_on.year, closes_on.month, closes_on.day) - timedelta(days=5)
    vetoed: list[StaffMember] = []
    for school_id, members in by_school.items():
        leniency = rng.choice((-8.0, -4.0, 0.0, 0.0, 3.0, 6.0)) + rng.uniform(-2, 2)
        head = heads.get(school_id)
        for person in members:
            ability = rng.gauss(80, 7)
            if person.is_canteen_staff and not person.has_valid(HEALTH_CERTIFICATE, on):
                ability += 10  # shows the health-certificate rule at work
            level = ability + leniency
            ratings.append(_rating(plan, person, SELF, level + 5, rng, rater_staff_id=person.id))
            if head is not None:
                ratings.append(
                    _rating(
                        plan,
                        person,
                        LEADERSHIP,
                        level,
                        rng,
                        rater_user_id=head.id,
                        entered_by=head.id,
                    )
                )
            others = [m for m in members if m.id != person.id]
            for colleague in rng.sample(others, k=min(3, len(others))):
                ratings.append(
                    _rating(
                        plan,
                        person,
                        COLLEAGUES,
                        level + rng.uniform(-3, 3),
                        rng,
                        rater_staff_id=colleague.id,
                        entered_by=head.id if head is not None else None,
                    )
                )
            for _ in range(rng.randint(3, 5)):
                rating = _rating(plan, person, SERVED, level - 2, rng)
                rating.created_at = day
                ratings.append(rating)
                tokens.append(
                    RaterToken(
                        school_id=school_id,
                        staff_id=person.id,
                        group=SERVED,
                        token=secrets.token_urlsafe(24),
                        used_at=day,
                    )
                )
        if len(vetoed) < 2 and len(members) >= 8 and rng.random() < 0.2:
            vetoed.append(rng.choice([m for m in members if m.is_canteen_staff] or members))
        su = staff_users.get(school_id)
        chief = next((m for m in members if m.post == "后勤主任"), None)
        if su is not None and chief is not None:
            db.session.add(RaterLink(school_id=school_id, user_id=su.id, staff_id=chief.id))
    for r in ratings:
        r.round_id = rnd.id
    for t in tokens:
        t.round_id = rnd.id
    db.session.add_all(ratings)
    db.session.add_all(tokens)
    db.session.flush()

    for person in vetoed:
        head = heads.get(person.school_id)
        if head is not None:
            ev.set_veto(rnd, head, person.id, True, "食堂发生食品安全事件，负有直接责任")

    submitted = 0
    for n, school_id in enumerate(sorted(by_school)):
        head = heads.get(school_id)
        if head is None:
            continue
        se = ev.ensure_school_evaluation(rnd, school_id)
        ev.submit(rnd, schools[school_id], head, None, se.version)
        submitted += 1
        if n % 7 != 3:  # a few stay "submitted", waiting for the district
            ev.accept_submission(se)
    ev.close_round(rnd)
    db.session.flush()
    left = db.session.scalars(
        select(SchoolEvaluation).where(
            SchoolEvaluation.round_id == rnd.id,
            SchoolEvaluation.status == SchoolEvaluation.COLLECTING,
        )
    ).all()
    return {"ratings": len(ratings), "submitted": submitted, "not_submitted": len(left)}


def extend(district_id: int, rng: random.Random) -> None:
    build_evaluation_demo(district_id, rng)


if extend not in DEMO_EXTENSIONS:
    DEMO_EXTENSIONS.append(extend)

__all__ = ["build_evaluation_demo", "extend", "EvaluationRound"]
