"""Stored results through the database: hand-worked school-months, idempotence, and the
bulk path (sums in SQL) agreeing with the engine fed every indicator."""

from __future__ import annotations

import gc
import random
import sys
import threading
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from district.audit import AuditEntry
from district.extensions import db
from scoring import engine, result_sql, result_store, results
from scoring.models import (
    Complaint,
    Rubric,
    RubricIndicator,
    RubricVersion,
    SchoolMonthResult,
    SelfAssessment,
    SelfAssessmentItem,
    SiteVisit,
    Survey,
    SurveyResponse,
    VisitScore,
)
from tenants.scope import Scope, use_scope

D = Decimal


# --- building blocks ------------------------------------------------------------------


def make_rubric(programme: str, indicators: list[dict[str, Any]], boarding_only: bool = False):
    """A published rubric version in force from 2000-01, indicators given directly."""
    rubric = Rubric(programme=programme, name=programme, boarding_only=boarding_only)
    db.session.add(rubric)
    db.session.flush()
    version = RubricVersion(
        rubric_id=rubric.id,
        number=1,
        status=RubricVersion.PUBLISHED,
        effective_year=2000,
        effective_month=1,
        content={},
    )
    db.session.add(version)
    db.session.flush()
    for sort, spec in enumerate(indicators):
        db.session.add(
            RubricIndicator(
                rubric_version_id=version.id,
                programme=programme,
                code=spec["code"],
                category_code="A",
                category_name="类",
                name=f"指标{spec['code']}",
                max_points=D(str(spec.get("max", 10))),
                kind=spec.get("kind", "judged"),
                dimension=spec.get("dimension", "conditions"),
                boarding_only=spec.get("boarding_only", False),
                levels=spec.get("levels"),
                curve=spec.get("curve"),
                measure=spec.get("measure"),
                sort=sort,
            )
        )
    db.session.flush()
    return version


def self_assessment(school, year, month, programme, version, points, status="submitted"):
    sa = SelfAssessment(
        school_id=school.id,
        year=year,
        month=month,
        programme=programme,
        rubric_version_id=version.id,
        status=status,
        submitted_at=datetime(year, month, 28) if status != "draft" else None,
    )
    db.session.add(sa)
    db.session.flush()
    for code, value in points.items():
        p, v = value if isinstance(value, tuple) else (value, None)
        db.session.add(
            SelfAssessmentItem(
                school_id=school.id,
                assessment_id=sa.id,
                indicator_code=code,
                points=None if p is None else D(str(p)),
                value=None if v is None else D(str(v)),
            )
        )
    db.session.flush()
    return sa


def visit(school, day: date, scores: dict[str, dict[str, Any]], version_of: dict[str, Any]):
    v = SiteVisit(school_id=school.id, visited_on=day, year=day.year, month=day.month)
    db.session.add(v)
    db.session.flush()
    for programme, points in scores.items():
        for code, value in points.items():
            p, val = value if isinstance(value, tuple) else (value, None)
            db.session.add(
                VisitScore(
                    school_id=school.id,
                    visit_id=v.id,
                    programme=programme,
                    rubric_version_id=version_of[programme].id,
                    indicator_code=code,
                    points=None if p is None else D(str(p)),
                    value=None if val is None else D(str(val)),
                )
            )
    db.session.flush()
    return v


def survey_answers(school, school_year, term, group_answers: dict[str, list[list[int]]]):
    survey = db.session.scalar(
        select(Survey).where(Survey.school_year == school_year, Survey.term == term)
    )
    if survey is None:
        survey = Survey(title="评议", school_year=school_year, term=term, questions=["q"] * 5)
        db.session.add(survey)
        db.session.flush()
    for group, answer_lists in group_answers.items():
        for answers in answer_lists:
            db.session.add(
                SurveyResponse(
                    school_id=school.id,
                    survey_id=survey.id,
                    group=group,
                    answers=answers,
                    mean=D(sum(answers)) / len(answers),
                    answered_on=date(school_year, 11, 1),
                )
            )
    db.session.flush()


def complaint(school, year, month, status="verified", programme=None):
    db.session.add(
        Complaint(
            school_id=school.id,
            year=year,
            month=month,
            status=status,
            programme=programme,
            content="投诉",
            filed_at=datetime(year, month, 10),
        )
    )
    db.session.flush()


def stored(school_id: int, year: int, month: int) -> dict[str, SchoolMonthResult]:
    return {
        r.programme: r
        for r in db.session.scalars(
            select(SchoolMonthResult).where(
                SchoolMonthResult.school_id == school_id,
                SchoolMonthResult.year == year,
                SchoolMonthResult.month == month,
            )
        )
    }


def snapshot() -> list[tuple]:
    rows = db.session.execute(select(SchoolMonthResult).order_by(SchoolMonthResult.id)).scalars()
    return [
        (r.id, r.school_id, r.year, r.month, r.programme, r.computed_at)
        + tuple(str(getattr(r, f)) for f in result_store.RESULT_FIELDS)
        for r in rows
    ]


CANTEEN = [
    {"code": "A1", "max": 10, "dimension": "conditions"},
    {"code": "A2", "max": 10, "dimension": "service"},
    {"code": "V1", "max": 0, "kind": "veto", "dimension": "management"},
]
GREENING = [{"code": "G1", "max": 20, "dimension": "quality"}]
DORMITORY = [{"code": "R1", "max": 10, "boarding_only": True}]


@pytest.fixture()
def setup(app_ctx: Any, world: Any) -> Any:
    """District 1 with three small rubrics; school A is a day school."""
    with use_scope(Scope.for_district(world.d1.id)):
        versions = {
            "canteen": make_rubric("canteen", CANTEEN),
            "greening": make_rubric("greening", GREENING),
            "dormitory": make_rubric("dormitory", DORMITORY, boarding_only=True),
        }
        db.session.commit()
    return world, versions


def run(world: Any, items: list[tuple[int, int, int]]) -> dict[str, Any]:
    with use_scope(Scope.for_district(world.d1.id)):
        out = results.recompute(items)
        db.session.commit()
    return out


# --- the hand-worked school-month ----------------------------------------------------------


def test_hand_worked_school_month(setup: Any) -> None:
    world, v = setup
    a = world.a
    with use_scope(Scope.for_district(world.d1.id)):
        self_assessment(a, 2025, 10, "canteen", v["canteen"], {"A1": 8, "A2": 8, "V1": 0})
        visit(a, date(2025, 10, 15), {"canteen": {"A1": 7, "A2": 7, "V1": 0}}, v)
        # parents 4.6 on average: (4.6 - 1) / 4 * 100 = 90
        survey_answers(a, 2025, "autumn", {"parent": [[5, 5, 5, 4, 4]]})
        db.session.commit()
    run(world, [(a.id, 2025, 10)])
    with use_scope(Scope.for_district(world.d1.id)):
        rows = stored(a.id, 2025, 10)
    canteen = rows["canteen"]
    assert canteen.self_score == D("80.00")
    assert canteen.inspector_score == D("70.00")
    assert canteen.satisfaction == D("90.00")
    assert canteen.score == D("77.00")  # 0.3*80 + 0.5*70 + 0.2*90
    assert canteen.stars == 3
    assert canteen.inflation_gap == D("10.00") and canteen.inflated is False
    assert not canteen.unverified and not canteen.stand_in and not canteen.veto
    assert canteen.dimensions == {"conditions": "73.75", "service": "73.75"}
    # Greening has satisfaction only: scored from it, unverified.
    assert rows["greening"].score == D("90.00") and rows["greening"].unverified
    # A day school has no dormitory result; overall is the mean of the applicable two.
    assert "dormitory" not in rows
    assert rows["overall"].score == D("83.50")
    assert rows["overall"].unverified is True


def test_stored_values_round_half_up(setup: Any) -> None:
    """32.01 of 40 points is 80.025: stored 80.03 (half-up), never 80.02 (half-even)."""
    world, _v = setup
    with use_scope(Scope.for_district(world.d1.id)):
        store = make_rubric("store", [{"code": "S1", "max": 20}, {"code": "S2", "max": 20}])
        self_assessment(world.a, 2025, 10, "store", store, {"S1": "16.01", "S2": 16})
        db.session.commit()
    run(world, [(world.a.id, 2025, 10)])
    with use_scope(Scope.for_district(world.d1.id)):
        row = stored(world.a.id, 2025, 10)["store"]
    assert row.self_score == D("80.03") and row.score == D("80.03")
    assert row.unverified is True and row.stars == 3


def test_complaints_veto_stand_in_and_unverified(setup: Any) -> None:
    world, v = setup
    a = world.a
    with use_scope(Scope.for_district(world.d1.id)):
        for month in (10, 11, 12):
            self_assessment(a, 2025, month, "canteen", v["canteen"], {"A1": 8, "A2": 8})
        self_assessment(a, 2026, 3, "canteen", v["canteen"], {"A1": 8, "A2": 8})
        visit(a, date(2025, 10, 15), {"canteen": {"A1": 7, "A2": 7}}, v)
        visit(
            a,
            date(2025, 11, 20),
            {"canteen": {"A1": 6, "A2": 6, "V1": 1}, "greening": {"G1": 10}},
            v,
        )
        survey_answers(a, 2025, "autumn", {"parent": [[5, 5, 5, 4, 4]]})
        survey_answers(a, 2025, "spring", {"parent": [[5, 5, 5, 4, 4]]})
        for _ in range(3):
            complaint(a, 2025, 10)
        complaint(a, 2025, 10, status="unfounded")
        complaint(a, 2025, 10, status="new")
        complaint(a, 2025, 10, programme="greening")  # deducts from greening only
        db.session.commit()
    run(world, [(a.id, 2025, 10), (a.id, 2025, 11), (a.id, 2025, 12), (a.id, 2026, 3)])
    with use_scope(Scope.for_district(world.d1.id)):
        october = stored(a.id, 2025, 10)
        november = stored(a.id, 2025, 11)
        december = stored(a.id, 2025, 12)
        march = stored(a.id, 2026, 3)
    assert october["canteen"].score == D("71.00")  # 77 - 3 x 2
    assert october["canteen"].verified_complaints == 3
    assert october["canteen"].complaint_deduction == D("6.00")
    assert october["greening"].score == D("82.00")  # 90 - 4 x 2
    assert october["overall"].verified_complaints == 4
    # November: the month's visit triggered the veto.
    assert november["canteen"].veto is True and november["canteen"].score == D("0.00")
    assert november["canteen"].stars == 1
    assert november["overall"].veto is True
    # December: no visit of the canteen since November's; it stands in, flagged.
    assert december["canteen"].stand_in is True and not december["canteen"].unverified
    assert december["canteen"].veto is False  # a veto belongs to its own month
    assert december["canteen"].visit_id is not None
    assert december["canteen"].inspector_score == D("60.00")
    # Greening: November's visit (50 %) stands in for December.
    assert december["greening"].inspector_score == D("50.00") and december["greening"].stand_in
    # March 2026: the latest visit is more than 3 months old: unverified, self + satisfaction.
    assert march["canteen"].unverified is True and march["canteen"].inspector_score is None
    assert march["canteen"].score == D("84.00")  # (0.3*80 + 0.2*90) / 0.5


def test_stand_in_two_months_earlier(setup: Any) -> None:
    world, v = setup
    a = world.a
    with use_scope(Scope.for_district(world.d1.id)):
        self_assessment(a, 2025, 12, "canteen", v["canteen"], {"A1": 8, "A2": 8})
        visit(a, date(2025, 10, 3), {"canteen": {"A1": 7, "A2": 7}}, v)
        visit(a, date(2025, 10, 1), {"canteen": {"A1": 1, "A2": 1}}, v)  # earlier that month
        db.session.commit()
    run(world, [(a.id, 2025, 12)])
    with use_scope(Scope.for_district(world.d1.id)):
        row = stored(a.id, 2025, 12)["canteen"]
    assert row.stand_in is True and row.unverified is False
    assert row.inspector_score == D("70.00")  # the latest of the window
    assert row.score == D("73.75")  # (0.3*80 + 0.5*70) / 0.8


def test_drafts_returned_and_locked_drafts_do_not_count(setup: Any) -> None:
    world, v = setup
    a, b = world.a, world.b
    with use_scope(Scope.for_district(world.d1.id)):
        self_assessment(a, 2025, 10, "canteen", v["canteen"], {"A1": 10, "A2": 10}, "draft")
        self_assessment(a, 2025, 10, "greening", v["greening"], {"G1": 10}, "returned")
        sa = self_assessment(b, 2025, 10, "canteen", v["canteen"], {"A1": 10, "A2": 10}, "locked")
        sa.submitted_at = None  # a draft locked by the period's closing
        self_assessment(b, 2025, 10, "greening", v["greening"], {"G1": 10}, "locked")
        db.session.commit()
    run(world, [(a.id, 2025, 10), (b.id, 2025, 10)])
    with use_scope(Scope.for_district(world.d1.id)):
        assert stored(a.id, 2025, 10) == {}
        rows = stored(b.id, 2025, 10)
    assert set(rows) == {"greening", "overall"}
    assert rows["greening"].self_score == D("50.00")


def test_boarding_school_gets_the_dormitory(setup: Any, factories: Any) -> None:
    world, v = setup
    boarding = factories.school(world.d1, world.z1, boarding=True, level="高中")
    with use_scope(Scope.for_district(world.d1.id)):
        self_assessment(boarding, 2025, 10, "dormitory", v["dormitory"], {"R1": 9})
        self_assessment(boarding, 2025, 10, "canteen", v["canteen"], {"A1": 6, "A2": 6})
        db.session.commit()
    run(world, [(boarding.id, 2025, 10)])
    with use_scope(Scope.for_district(world.d1.id)):
        rows = stored(boarding.id, 2025, 10)
    assert rows["dormitory"].score == D("90.00")
    assert rows["canteen"].score == D("60.00")
    assert rows["overall"].score == D("75.00")
    assert rows["overall"].stars == 3


def test_idempotent_and_changes_are_audited(setup: Any) -> None:
    world, v = setup
    a = world.a
    with use_scope(Scope.for_district(world.d1.id)):
        sa = self_assessment(a, 2025, 10, "canteen", v["canteen"], {"A1": 8, "A2": 8})
        visit(a, date(2025, 10, 15), {"canteen": {"A1": 7, "A2": 7}}, v)
        self_assessment(world.b, 2025, 11, "greening", v["greening"], {"G1": 10})
        db.session.commit()
    items = [(a.id, 2025, 10), (world.b.id, 2025, 11)]
    first = run(world, items)
    assert first["written"] == 4 and first["changed_scores"] == 0
    with use_scope(Scope.for_district(world.d1.id)):
        before = snapshot()
        audits = db.session.scalar(select(func.count(AuditEntry.id)))
    second = run(world, items)
    assert second["written"] == 0 and second["unchanged"] == 4
    with use_scope(Scope.for_district(world.d1.id)):
        assert snapshot() == before
        assert db.session.scalar(select(func.count(AuditEntry.id))) == audits
        # A changed source moves the score: one audit entry with before and after.
        item = db.session.scalar(
            select(SelfAssessmentItem).where(
                SelfAssessmentItem.assessment_id == sa.id, SelfAssessmentItem.indicator_code == "A1"
            )
        )
        item.points = D("10")
        # School B's greening self-assessment is returned: its results disappear.
        db.session.execute(
            SelfAssessment.__table__.update()
            .where(SelfAssessment.programme == "greening")
            .values(status="returned")
        )
        db.session.commit()
    third = run(world, items)
    assert third["deleted"] == 2 and third["written"] == 2
    with use_scope(Scope.for_district(world.d1.id)):
        rows = stored(a.id, 2025, 10)
        assert rows["canteen"].score == D("77.50")  # (0.3*90 + 0.5*70) / 0.8
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "result.change").order_by(AuditEntry.id)
        ).all()
        assert stored(world.b.id, 2025, 11) == {}
    changed = {(e.before["programme"], e.before["score"], e.after["score"]) for e in entries}
    assert ("canteen", "73.75", "77.50") in changed
    assert ("overall", "73.75", "77.50") in changed
    assert ("greening", "50.00", None) in changed
    assert {e.school_id for e in entries} == {a.id, world.b.id}
    assert all(e.district_id == world.d1.id for e in entries)


def test_period_and_from_helpers(setup: Any) -> None:
    world, v = setup
    a, b = world.a, world.b
    with use_scope(Scope.for_district(world.d1.id)):
        assert results.school_months_of_period(2025, 10) == [(a.id, 2025, 10), (b.id, 2025, 10)]
        self_assessment(a, 2025, 9, "canteen", v["canteen"], {"A1": 8})
        self_assessment(b, 2025, 11, "canteen", v["canteen"], {"A1": 8})
        visit(a, date(2025, 10, 15), {"canteen": {"A1": 7}}, v)
        db.session.commit()
        found = results.school_months_from(2025, 10)
    # A's October visit reaches the months it stands in for, up to the latest data (Nov).
    assert found == [(a.id, 2025, 10), (a.id, 2025, 11), (b.id, 2025, 11)]


# --- the bulk path agrees with the engine fed every indicator ------------------------------


def _random_world(
    world: Any, factories: Any, rng: random.Random, partly: float = 1 / 3
) -> list[Any]:
    """Five schools × four months of random sources; ``partly``: the share of
    self-assessments and of visits that leave indicators unscored."""
    from scoring.rubrics import ensure_default_rubrics, versions_in_force

    schools = [world.a, world.b]
    for level, boarding in (("小学", True), ("高中", True), ("九年一贯制", False)):
        schools.append(factories.school(world.d1, world.z2, level=level, boarding=boarding))
    with use_scope(Scope.for_district(world.d1.id)):
        ensure_default_rubrics()
        version_of = versions_in_force(2025, 10)
        indicators = {
            p: list(
                db.session.scalars(
                    select(RubricIndicator).where(RubricIndicator.rubric_version_id == v.id)
                )
            )
            for p, v in version_of.items()
        }

        def answers(p: str, coverage: float) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for ind in indicators[p]:
                if rng.random() > coverage:
                    continue
                if ind.kind == "veto":
                    out[ind.code] = 1 if rng.random() < 0.03 else 0
                elif ind.kind == "measured" and rng.random() < 0.7:
                    out[ind.code] = (None, round(rng.uniform(0.5, 1.1), 4))
                else:
                    out[ind.code] = round(float(ind.max_points) * rng.uniform(-0.1, 1.1) * 2) / 2
            return out

        for school in schools:
            for month in (9, 10, 11, 12):
                for p in version_of:
                    if rng.random() < 0.8:
                        status = rng.choice(["submitted", "submitted", "locked", "draft"])
                        coverage = 0.7 if rng.random() < partly else 1.0
                        self_assessment(
                            school, 2025, month, p, version_of[p], answers(p, coverage), status
                        )
                for _ in range(rng.choice([0, 0, 1, 2])):
                    programmes = rng.sample(list(version_of), rng.randint(1, 4))
                    visit(
                        school,
                        date(2025, month, rng.randint(1, 28)),
                        {p: answers(p, 0.6 if rng.random() < partly else 1.0) for p in programmes},
                        version_of,
                    )
                for _ in range(rng.choice([0, 0, 1])):
                    complaint(school, 2025, month, programme=rng.choice([None, "canteen"]))
            survey_answers(
                school,
                2025,
                "autumn",
                {g: [[rng.randint(1, 5) for _ in range(5)]] for g in ("parent", "teacher")},
            )
        db.session.commit()
    return schools


@pytest.mark.parametrize(
    ("sql_from", "wrote_first"),
    [(10**9, False), (1, False), (1, True)],
    ids=["batches", "one-statement", "one-statement-after-writes"],
)
def test_bulk_path_matches_the_engine(
    app_ctx: Any, world: Any, factories: Any, monkeypatch: Any, sql_from: int, wrote_first: bool
) -> None:
    rng = random.Random(7)
    # the one statement leaves partly scored programme-months to the batches: fewer here
    schools = _random_world(world, factories, rng, 1 / 3 if sql_from > 1 else 1 / 12)
    items = [(s.id, 2025, m) for s in schools for m in (9, 10, 11, 12)]
    detailed: list[int] = []
    original = results.inflation_from_detail
    monkeypatch.setattr(
        results,
        "inflation_from_detail",
        lambda entries, *a: detailed.append(len(entries)) or original(entries, *a),
    )
    # Batches of three school-months: on PostgreSQL the database worker thread sums the
    # next batches and writes the previous ones while this thread computes.
    monkeypatch.setattr(results, "BATCH_SIZE", 3)
    # On PostgreSQL a recomputation of sql_from school-months or more is one statement
    # (scoring.result_sql), which hands the partly scored programme-months back.
    monkeypatch.setattr(results, "SQL_FROM", sql_from)
    monkeypatch.setattr(results, "SQL_CHUNK", 8)  # two schools' four months per statement
    in_sql: list[tuple[int, int]] = []
    original_sql = results.recompute_in_sql

    several_schools: list[bool] = []

    def spy(items: Any, *args: Any) -> Any:
        left = original_sql(items, *args)
        in_sql.append((len(items), len(left)))
        several_schools.append(len({s for s, _, _ in items}) > 1)
        return left

    monkeypatch.setattr(results, "recompute_in_sql", spy)
    # and a second connection computes part of each statement's schools (one of two here)
    monkeypatch.setattr(result_sql, "SPLIT_FROM", 1)
    elsewhere: list[int] = []
    original_elsewhere = result_sql._fresh_elsewhere
    monkeypatch.setattr(
        result_sql,
        "_fresh_elsewhere",
        lambda *a: elsewhere.append(1) or original_elsewhere(*a),
    )
    postgres = db.engine.dialect.name == "postgresql"
    with use_scope(Scope.for_district(world.d1.id)):
        if wrote_first and postgres:
            # a transaction that has written sees its own rows: a second connection would
            # not, so every school is computed on the same connection then
            db.session.execute(text("SELECT pg_current_xact_id()"))
        reported: list[int] = []
        stats = results.recompute(items, progress=lambda pct, _msg: reported.append(pct))
        db.session.commit()
    # one progress over both ways: never backwards, ends at 100 %
    assert reported == sorted(reported) and reported[-1] == 100, reported
    # every statement of two schools or more shared them with a second connection
    split = postgres and sql_from == 1 and not wrote_first
    assert len(elsewhere) == (sum(several_schools) if split else 0) and (elsewhere or not split)
    if sql_from == 1 and postgres:
        # the statement stored most school-months and left the partly scored ones
        given, left = sum(g for g, _ in in_sql), sum(n for _, n in in_sql)
        assert len(in_sql) == 3 and given == len(items) and 0 < left < given / 3, in_sql
    else:
        assert in_sql == []
    assert stats["results"] == stats["written"] > len(items)
    # One statement for all five schools from here on: on PostgreSQL the second
    # connection computes the last three, and this one stores, deletes and audits theirs.
    monkeypatch.setattr(results, "SQL_CHUNK", 100)
    last, split_before = schools[-1], len(elsewhere)
    with use_scope(Scope.for_district(world.d1.id)):
        # idempotent: a second run writes nothing
        again = results.recompute(items)
        db.session.commit()
        assert again["written"] == again["deleted"] == again["changed_scores"] == 0, again
        # a stored result whose month has no source any more (here one the ORM wrote) is
        # deleted; a new verified complaint moves the month's scores, audited
        db.session.add(
            SchoolMonthResult(
                school_id=last.id,
                year=2025,
                month=8,
                programme="canteen",
                score=Decimal("50"),
                stars=1,
                dimensions=None,
            )
        )
        complaint(last, 2025, 10)
        db.session.commit()
        before = {p: r.score for p, r in stored(last.id, 2025, 10).items()}
        audits = db.session.scalar(select(func.count(AuditEntry.id)))
        again = results.recompute(items + [(last.id, 2025, 8)])
        db.session.commit()
        moved = {p for p, r in stored(last.id, 2025, 10).items() if r.score != before.get(p)}
        assert again["deleted"] == 1 and stored(last.id, 2025, 8) == {}, again
        # every moved score and the deleted one: an audit entry each
        assert moved and again["changed_scores"] == len(moved) + 1, (again, moved)
        assert db.session.scalar(select(func.count(AuditEntry.id))) == audits + 1 + len(moved)
    # (new transactions: nothing written before them)
    assert len(elsewhere) == split_before + (2 if postgres and sql_from == 1 else 0)
    # The data exercises every path: partial coverage, vetoes, stand-ins, unverified months.
    assert sum(detailed) > (3 if sql_from > 1 else 0)
    with use_scope(Scope.for_district(world.d1.id)):
        flags = db.session.execute(
            select(
                func.sum(func.cast(SchoolMonthResult.veto, db.Integer)),
                func.sum(func.cast(SchoolMonthResult.stand_in, db.Integer)),
                func.sum(func.cast(SchoolMonthResult.unverified, db.Integer)),
                func.sum(func.cast(SchoolMonthResult.inflated, db.Integer)),
            ).where(SchoolMonthResult.programme != "overall")
        ).one()
    assert all(f and f > 0 for f in flags), flags
    compared = 0
    with use_scope(Scope.for_district(world.d1.id)):
        for school_id, year, month in items:
            detail = results.school_month_detail(school_id, year, month)
            assert detail is not None
            rows = stored(school_id, year, month)
            expected = {}
            for code, programme in detail.result.programmes.items():
                r = programme.result
                if r is None:
                    continue
                expected[code] = (
                    r.score_rounded,
                    r.stars,
                    programme.self_source and engine.round2(programme.self_source.score),
                    programme.inspector_source and engine.round2(programme.inspector_source.score),
                    r.veto,
                    r.unverified,
                    r.stand_in,
                    r.inflation_gap,
                    r.inflated,
                    r.verified_complaints,
                    {d: str(engine.round2(x)) for d, x in programme.dimensions.items()} or None,
                    programme.visit.visit.visit_id if programme.visit else None,
                )
            got = {
                code: (
                    row.score,
                    row.stars,
                    row.self_score,
                    row.inspector_score,
                    row.veto,
                    row.unverified,
                    row.stand_in,
                    row.inflation_gap,
                    row.inflated,
                    row.verified_complaints,
                    row.dimensions,
                    row.visit_id,
                )
                for code, row in rows.items()
                if code != "overall"
            }
            assert got == expected, repr(
                (
                    school_id,
                    year,
                    month,
                    {k: v for k, v in got.items() if expected.get(k) != v},
                    {k: v for k, v in expected.items() if got.get(k) != v},
                )
            )
            overall = detail.result.overall
            if overall is None:
                assert "overall" not in rows
            else:
                assert rows["overall"].score == overall.score_rounded
                assert rows["overall"].stars == overall.stars
                radar = {d: str(engine.round2(x)) for d, x in detail.result.dimensions.items()}
                assert rows["overall"].dimensions == (radar or None)
            compared += len(expected)
    assert compared > 40


def _two_schools_scored(world: Any, v: Any) -> list[tuple[int, int, int]]:
    """Schools A and B, each with a committed canteen self-assessment of 2025-10: their
    school-months."""
    with use_scope(Scope.for_district(world.d1.id)):
        self_assessment(world.a, 2025, 10, "canteen", v["canteen"], {"A1": 8, "A2": 8})
        self_assessment(world.b, 2025, 10, "canteen", v["canteen"], {"A1": 6})
        db.session.commit()
    return [(world.a.id, 2025, 10), (world.b.id, 2025, 10)]


def _split_from_two_school_months(monkeypatch: Any) -> None:
    """On PostgreSQL two school-months already run set-based and split between connections."""
    monkeypatch.setattr(results, "SQL_FROM", 1)
    monkeypatch.setattr(result_sql, "SPLIT_FROM", 1)


def test_a_failing_write_stops_the_recomputation_and_leaves_nothing(
    setup: Any, monkeypatch: Any
) -> None:
    """An error in the database worker reaches the caller; the session rolls back clean."""
    world, v = setup
    items = _two_schools_scored(world, v)
    calls: list[int] = []
    original = results.write_results

    def failing(writes: Any) -> None:
        calls.append(len(writes.upserts))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        original(writes)

    monkeypatch.setattr(results, "write_results", failing)
    monkeypatch.setattr(results, "BATCH_SIZE", 1)
    interval, collecting = sys.getswitchinterval(), gc.isenabled()
    with use_scope(Scope.for_district(world.d1.id)):
        with pytest.raises(RuntimeError, match="disk full"):
            results.recompute(items)
        # what the recomputation changed in the interpreter is given back
        assert (sys.getswitchinterval(), gc.isenabled()) == (interval, collecting)
        db.session.rollback()
        assert calls and len(calls) == 2
        assert db.session.scalar(select(func.count(SchoolMonthResult.id))) == 0
    monkeypatch.setattr(results, "write_results", original)
    assert run(world, items)["written"] == 4


def test_a_failure_on_the_second_connection_leaves_nothing(setup: Any, monkeypatch: Any) -> None:
    """PostgreSQL: this connection has written its own schools' rows when the other
    connection's error reaches it; the rollback leaves nothing. SQLite never splits."""
    world, v = setup
    items = _two_schools_scored(world, v)
    _split_from_two_school_months(monkeypatch)
    monkeypatch.setattr(result_sql, "_FRESH_STATEMENT", text("SELECT 1 / 0, '[]'"))
    with use_scope(Scope.for_district(world.d1.id)):
        if db.engine.dialect.name != "postgresql":
            assert results.recompute(items)["written"] == 4  # the batches: nothing to split
            return
        mine = result_sql._split(items)[0]
        assert mine == [items[0]]  # this connection: world.a; the other: world.b
        with pytest.raises(DBAPIError, match="division by zero"):
            results.recompute(items)
        # world.a's canteen and overall rows were written in this transaction …
        assert db.session.scalar(select(func.count(SchoolMonthResult.id))) == 2
        db.session.rollback()  # … and go with it
        assert db.session.scalar(select(func.count(SchoolMonthResult.id))) == 0


def test_a_failure_on_this_connection_releases_the_other(setup: Any, monkeypatch: Any) -> None:
    """PostgreSQL: this connection fails before the other could get its satisfaction; the
    other stops waiting (no thread left holding a connection) and nothing is stored."""
    world, v = setup
    items = _two_schools_scored(world, v)
    _split_from_two_school_months(monkeypatch)
    original_fill = result_sql._fill_temporary

    def fill(session: Any, *args: Any) -> None:
        if threading.current_thread() is threading.main_thread():
            raise RuntimeError("out of temporary space")
        original_fill(session, *args)

    monkeypatch.setattr(result_sql, "_fill_temporary", fill)
    finished = threading.Event()
    original_elsewhere = result_sql._fresh_elsewhere

    def elsewhere(*args: Any) -> Any:
        try:
            return original_elsewhere(*args)
        finally:
            finished.set()

    monkeypatch.setattr(result_sql, "_fresh_elsewhere", elsewhere)
    with use_scope(Scope.for_district(world.d1.id)):
        if db.engine.dialect.name != "postgresql":
            assert results.recompute(items)["written"] == 4  # the batches: nothing to split
            return
        with pytest.raises(RuntimeError, match="out of temporary space"):
            results.recompute(items)
        assert finished.wait(30), "the other connection is still waiting"
        db.session.rollback()
        assert db.session.scalar(select(func.count(SchoolMonthResult.id))) == 0


def test_set_based_runs_are_whole_schools_of_bounded_size(monkeypatch: Any) -> None:
    monkeypatch.setattr(results, "SQL_CHUNK", 25)
    items = [(s, 2025, m) for s in (1, 2, 3, 4) for m in range(1, 11)] + [
        (5, y, m) for y in (2024, 2025) for m in range(1, 13)
    ]
    chunks = results._school_chunks(sorted(items))
    assert [sorted({s for s, _, _ in c}) for c in chunks] == [[1, 2], [3, 4], [5]]
    assert sum(chunks, []) == sorted(items)  # nothing lost, nothing twice, order kept
