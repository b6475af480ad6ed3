"""A synthetic district for the scoring benchmark: N schools, a school year of sources.

Every school-month (September–June, 10 months) has a submitted self-assessment of each
applicable programme with every indicator scored (the four default rubrics, ~24
indicators each; 文化宿舍 at boarding schools only), and most have an inspector visit
scoring every programme (the others are covered by a stand-in visit, or unverified).
One satisfaction survey per semester and a few verified complaints complete the sources.

Rows go in with a few bulk statements per table: COPY on PostgreSQL, executemany on
SQLite. Runs as the database owner (no row-level security in the way of loading).
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from district.extensions import db
from scoring import engine
from scoring.models import (
    Complaint,
    RubricIndicator,
    SelfAssessment,
    SelfAssessmentItem,
    SiteVisit,
    Survey,
    SurveyResponse,
    VisitScore,
)
from scoring.rubrics import ensure_default_rubrics, versions_in_force
from tenants.models import District, School, Zone
from tenants.scope import Scope, unscoped, use_scope

MONTHS = [(2025, m) for m in (9, 10, 11, 12)] + [(2026, m) for m in (1, 2, 3, 4, 5, 6)]
LEVELS = ("小学", "小学", "初中", "初中", "高中", "九年一贯制")
VISITED = 0.85  # share of school-months with a visit of their own


def _copy_or_insert(model: Any, rows: list[dict[str, Any]]) -> None:
    """Bulk-load rows: COPY on PostgreSQL, one executemany elsewhere."""
    if not rows:
        return
    table = model.__table__
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    raw = connection.connection.driver_connection
    with raw.cursor() as cur:
        cols = ", ".join(f'"{c}"' for c in columns)
        with cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [json.dumps(v) if isinstance(v, (list, dict)) else v for v in row.values()]
                )


def _insert_returning(model: Any, rows: list[dict[str, Any]]) -> list[int]:
    table = model.__table__
    stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    return list(db.session.scalars(stmt, rows))


class _Answers:
    """Fast plausible answers for the applicable indicators of one programme version."""

    def __init__(self, indicators: list[RubricIndicator], rng: random.Random) -> None:
        self.rng = rng
        self.indicators = indicators
        self._measured: dict[tuple[str, str], Decimal] = {}

    def __call__(self, school: Any, quality: float) -> list[tuple[str, Decimal, Decimal | None]]:
        rng = self.rng
        out = []
        for ind in self.indicators:
            if not ind.applies_to(boarding=school.boarding, level=school.level):
                continue
            f = min(1.0, max(0.0, quality + rng.gauss(0, 0.08)))
            if ind.kind == "veto":
                out.append((ind.code, Decimal(0), Decimal(0)))
            elif ind.kind == "measured" and ind.curve:
                lo, hi = ind.curve[0][0], ind.curve[-1][0]
                value = f"{lo + (hi - lo) * f:.2f}"
                key = (ind.code, value)
                if key not in self._measured:
                    self._measured[key] = engine.round2(
                        engine.measured_points(Decimal(value), ind.curve, ind.max_points)
                    )
                out.append((ind.code, self._measured[key], Decimal(value)))
            else:
                out.append((ind.code, Decimal(round(float(ind.max_points) * f * 2)) / 2, None))
        return out


def generate(schools: int, seed: int = 2026) -> dict[str, Any]:
    """Create district BENCH with ``schools`` schools and a school year of sources."""
    rng = random.Random(seed)
    with unscoped("bench: create the district"):
        district = District(code="BENCH", name="基准测试区")
        db.session.add(district)
        db.session.flush()
    with use_scope(Scope.for_district(district.id)):
        zones = [Zone(name=f"片区{i + 1}") for i in range(10)]
        db.session.add_all(zones)
        db.session.flush()
        members = []
        for i in range(schools):
            campus = rng.randrange(8000, 60000, 100)
            members.append(
                School(
                    district_id=district.id,
                    zone_id=zones[i % len(zones)].id,
                    code=f"B{i + 1:04d}",
                    name=f"基准学校{i + 1}",
                    level=LEVELS[i % len(LEVELS)],
                    boarding=rng.random() < 0.4,
                    campus_area=Decimal(campus),
                    green_area=Decimal(int(campus * rng.uniform(0.2, 0.45))),
                    honours=[],
                )
            )
        db.session.add_all(members)
        db.session.flush()
        ensure_default_rubrics()
        versions = versions_in_force(*MONTHS[0])
        answers = {
            p: _Answers(
                list(
                    db.session.scalars(
                        select(RubricIndicator)
                        .where(RubricIndicator.rubric_version_id == v.id)
                        .order_by(RubricIndicator.sort)
                    )
                ),
                rng,
            )
            for p, v in versions.items()
        }
        quality = {s.id: rng.uniform(0.5, 0.95) for s in members}
        stats = {"schools": schools, "self_items": 0, "visit_scores": 0}

        for year, month in MONTHS:
            headers, item_sets, visits, visit_sets = [], [], [], []
            for school in members:
                programmes = [
                    p for p, v in versions.items() if school.boarding or not v.rubric.boarding_only
                ]
                for p in programmes:
                    headers.append(
                        {
                            "district_id": district.id,
                            "school_id": school.id,
                            "year": year,
                            "month": month,
                            "programme": p,
                            "rubric_version_id": versions[p].id,
                            "status": SelfAssessment.LOCKED,
                            "submitted_at": datetime(year, month, 28, 10, 0),
                            "late": False,
                            "version": 1,
                        }
                    )
                    item_sets.append(answers[p](school, quality[school.id] + 0.04))
                if rng.random() < VISITED:
                    visits.append(
                        {
                            "district_id": district.id,
                            "school_id": school.id,
                            "visited_on": date(year, month, rng.randint(1, 28)),
                            "year": year,
                            "month": month,
                            "version": 1,
                        }
                    )
                    visit_sets.append(
                        [(p, answers[p](school, quality[school.id])) for p in programmes]
                    )
            ids = _insert_returning(SelfAssessment, headers)
            items = [
                {
                    "district_id": district.id,
                    "school_id": h["school_id"],
                    "assessment_id": a,
                    "indicator_code": code,
                    "points": points,
                    "value": value,
                }
                for a, h, answered in zip(ids, headers, item_sets, strict=True)
                for code, points, value in answered
            ]
            _copy_or_insert(SelfAssessmentItem, items)
            visit_ids = _insert_returning(SiteVisit, visits)
            scores = [
                {
                    "district_id": district.id,
                    "school_id": v["school_id"],
                    "visit_id": vid,
                    "programme": p,
                    "rubric_version_id": versions[p].id,
                    "indicator_code": code,
                    "points": points,
                    "value": value,
                }
                for vid, v, sets in zip(visit_ids, visits, visit_sets, strict=True)
                for p, answered in sets
                for code, points, value in answered
            ]
            _copy_or_insert(VisitScore, scores)
            stats["self_items"] += len(items)
            stats["visit_scores"] += len(scores)

        responses = []
        for school_year, term in ((2025, "autumn"), (2025, "spring")):
            survey = Survey(title="评议", school_year=school_year, term=term, questions=["问"] * 6)
            db.session.add(survey)
            db.session.flush()
            for school in members:
                for group in ("parent", "student", "teacher"):
                    for _ in range(5):
                        answers_ = [rng.randint(3, 5) for _q in range(6)]
                        responses.append(
                            {
                                "district_id": district.id,
                                "school_id": school.id,
                                "survey_id": survey.id,
                                "group": group,
                                "answers": answers_,
                                "mean": Decimal(sum(answers_)) / 6,
                                "answered_on": date(school_year + (term == "spring"), 4, 1),
                            }
                        )
        _copy_or_insert(SurveyResponse, responses)
        complaints = [
            {
                "district_id": district.id,
                "school_id": rng.choice(members).id,
                "programme": rng.choice([None, "canteen", "store"]),
                "content": "投诉",
                "filed_at": datetime(y, m, 10),
                "year": y,
                "month": m,
                "status": Complaint.VERIFIED,
                "version": 1,
            }
            for y, m in (rng.choice(MONTHS) for _ in range(max(3, schools // 10)))
        ]
        _copy_or_insert(Complaint, complaints)
        db.session.commit()
    stats["district_id"] = district.id
    stats["school_months"] = schools * len(MONTHS)
    return stats


__all__ = ["MONTHS", "generate"]
