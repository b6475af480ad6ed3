"""Dashboard data: SQL aggregations over the stored results and the source rows.

Every query goes through the ORM, so the tenant scope narrows it like any other;
each function returns plain dicts/lists (no ORM objects) in a fixed number of
queries, whatever the number of schools.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from statistics import median
from typing import Any

from sqlalchemy import and_, case, func, select

from district.extensions import db
from scoring.models import (
    Complaint,
    Finding,
    RubricIndicator,
    SchoolMonthResult,
    SelfAssessment,
    SiteVisit,
    VisitScore,
)
from scoring.rubric_data import PROGRAMMES
from tenants.models import School, Zone

OVERALL = "overall"
PROGRAMME_ORDER = tuple(PROGRAMMES)  # canteen, store, dormitory, greening


@dataclass(frozen=True)
class Filters:
    year: int
    month: int
    zone_id: int | None = None
    level: str | None = None
    boarding: bool | None = None

    @property
    def key(self) -> int:
        return self.year * 12 + self.month - 1


def month_add(year: int, month: int, delta: int) -> tuple[int, int]:
    k = year * 12 + month - 1 + delta
    return k // 12, k % 12 + 1


def latest_result_month() -> tuple[int, int] | None:
    row = db.session.execute(
        select(SchoolMonthResult.year, SchoolMonthResult.month)
        .order_by(SchoolMonthResult.year.desc(), SchoolMonthResult.month.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def _school_filter(stmt: Any, f: Filters) -> Any:
    if f.zone_id:
        stmt = stmt.where(School.zone_id == f.zone_id)
    if f.level:
        stmt = stmt.where(School.level == f.level)
    if f.boarding is not None:
        stmt = stmt.where(School.boarding == f.boarding)
    return stmt


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def league_table(f: Filters) -> list[dict[str, Any]]:
    """Schools by overall score for the month, with per-programme scores and stars.

    Rank is competition ranking (1-2-2-4) on the stored overall score, computed by the
    database's window function; also the rank within the school's level (category).
    """
    overall = (
        select(
            SchoolMonthResult.school_id,
            SchoolMonthResult.score,
            SchoolMonthResult.stars,
            SchoolMonthResult.unverified,
            SchoolMonthResult.inflated,
            SchoolMonthResult.veto,
            func.rank().over(order_by=SchoolMonthResult.score.desc()).label("rank"),
        )
        .join(
            School,
            and_(
                School.id == SchoolMonthResult.school_id,
                School.district_id == SchoolMonthResult.district_id,
            ),
        )
        .where(
            SchoolMonthResult.year == f.year,
            SchoolMonthResult.month == f.month,
            SchoolMonthResult.programme == OVERALL,
        )
    )
    overall = _school_filter(overall, f).subquery()
    category_rank = func.rank().over(partition_by=School.level, order_by=overall.c.score.desc())
    stmt = (
        select(
            School.id,
            School.code,
            School.name,
            School.level,
            School.boarding,
            Zone.name.label("zone"),
            overall.c.score,
            overall.c.stars,
            overall.c.unverified,
            overall.c.inflated,
            overall.c.veto,
            overall.c.rank,
            category_rank.label("category_rank"),
        )
        .join(overall, overall.c.school_id == School.id)
        .outerjoin(Zone, Zone.id == School.zone_id)
        .order_by(overall.c.score.desc(), School.name)
    )
    rows = [dict(r._mapping) for r in db.session.execute(stmt)]
    programmes = db.session.execute(
        select(
            SchoolMonthResult.school_id,
            SchoolMonthResult.programme,
            SchoolMonthResult.score,
            SchoolMonthResult.stars,
        ).where(
            SchoolMonthResult.year == f.year,
            SchoolMonthResult.month == f.month,
            SchoolMonthResult.programme != OVERALL,
        )
    ).all()
    by_school: dict[int, dict[str, Any]] = defaultdict(dict)
    for school_id, programme, score, stars in programmes:
        by_school[school_id][programme] = {"score": _f(score), "stars": stars}
    for row in rows:
        row["score"] = _f(row["score"])
        row["programmes"] = by_school.get(row["id"], {})
    return rows


def trends(f: Filters, months: int = 12) -> dict[str, Any]:
    """District mean per programme per month, over the last ``months`` months."""
    start_y, start_m = month_add(f.year, f.month, -(months - 1))
    key = SchoolMonthResult.year * 12 + SchoolMonthResult.month
    stmt = (
        select(
            SchoolMonthResult.year,
            SchoolMonthResult.month,
            SchoolMonthResult.programme,
            func.avg(SchoolMonthResult.score),
            func.count(SchoolMonthResult.id),
        )
        .join(School, School.id == SchoolMonthResult.school_id)
        .where(key >= start_y * 12 + start_m, key <= f.year * 12 + f.month)
        .group_by(SchoolMonthResult.year, SchoolMonthResult.month, SchoolMonthResult.programme)
        .order_by(SchoolMonthResult.year, SchoolMonthResult.month)
    )
    stmt = _school_filter(stmt, f)
    series: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for year, month, programme, avg, _n in db.session.execute(stmt):
        series[programme].append((f"{year}-{month:02d}", round(float(avg), 2)))
    return dict(series)


def heatmap(f: Filters, programme: str) -> dict[str, Any]:
    """Inspector points as % of max, indicator × school, for the month's visits."""
    # The month's visits first, then their scores by visit id: in one statement the
    # planner, misled by the tenant criteria on every table, walked every score of every
    # school of the district (60 ms for 200 schools; about 20 ms this way).
    visit_ids = list(
        db.session.scalars(
            select(SiteVisit.id).where(SiteVisit.year == f.year, SiteVisit.month == f.month)
        )
    )
    stmt = (
        select(
            School.name,
            VisitScore.indicator_code,
            RubricIndicator.name,
            func.avg(VisitScore.points * 100 / RubricIndicator.max_points),
        )
        .join(School, School.id == VisitScore.school_id)
        .join(
            RubricIndicator,
            and_(
                RubricIndicator.rubric_version_id == VisitScore.rubric_version_id,
                RubricIndicator.code == VisitScore.indicator_code,
            ),
        )
        .where(
            VisitScore.visit_id.in_(visit_ids),
            VisitScore.programme == programme,
            RubricIndicator.max_points > 0,
            VisitScore.points.is_not(None),
        )
        .group_by(School.name, VisitScore.indicator_code, RubricIndicator.name)
    )
    stmt = _school_filter(stmt, f)
    cells = db.session.execute(stmt).all()
    schools = sorted({c[0] for c in cells})
    indicators = sorted({(c[1], c[2]) for c in cells})
    z = {(c[0], c[1]): round(float(c[3]), 1) for c in cells}
    return {
        "schools": schools,
        "indicators": [f"{code} {name}" for code, name in indicators],
        "codes": [code for code, _ in indicators],
        "z": [[z.get((s, code)) for s in schools] for code, _ in indicators],
    }


def dimension_radar(f: Filters, school_id: int | None) -> dict[str, Any]:
    """四好 of one school against the district median (from the stored overall rows)."""
    rows = db.session.execute(
        _school_filter(
            select(SchoolMonthResult.school_id, SchoolMonthResult.dimensions)
            .join(School, School.id == SchoolMonthResult.school_id)
            .where(
                SchoolMonthResult.year == f.year,
                SchoolMonthResult.month == f.month,
                SchoolMonthResult.programme == OVERALL,
            ),
            f,
        )
    ).all()
    dims = ("conditions", "service", "quality", "management")
    values: dict[str, list[float]] = {d: [] for d in dims}
    mine: dict[str, float | None] = dict.fromkeys(dims)
    for sid, d in rows:
        for k in dims:
            v = (d or {}).get(k)
            if v is not None:
                values[k].append(float(v))
                if sid == school_id:
                    mine[k] = float(v)
    return {
        "dimensions": list(dims),
        "median": [round(median(values[k]), 2) if values[k] else None for k in dims],
        "school": [mine[k] for k in dims],
    }


def self_vs_inspector(f: Filters) -> list[dict[str, Any]]:
    """Each school's mean self and inspector source scores over its programmes."""
    stmt = (
        select(
            School.id,
            School.name,
            func.avg(SchoolMonthResult.self_score),
            func.avg(SchoolMonthResult.inspector_score),
            func.max(case((SchoolMonthResult.inflated, 1), else_=0)),
        )
        .join(School, School.id == SchoolMonthResult.school_id)
        .where(
            SchoolMonthResult.year == f.year,
            SchoolMonthResult.month == f.month,
            SchoolMonthResult.programme != OVERALL,
            SchoolMonthResult.self_score.is_not(None),
            SchoolMonthResult.inspector_score.is_not(None),
        )
        .group_by(School.id, School.name)
        .order_by(School.name)
    )
    out = []
    for sid, name, s, i, inflated in db.session.execute(_school_filter(stmt, f)):
        gap = float(s) - float(i)
        out.append(
            {
                "school_id": sid,
                "school": name,
                "self": round(float(s), 2),
                "inspector": round(float(i), 2),
                "gap": round(gap, 2),
                "inflated": bool(inflated) or gap > 10,
            }
        )
    return out


def submission_compliance(f: Filters, months: int = 6) -> list[dict[str, Any]]:
    """Per month: self-assessments submitted on time, late, and missing."""
    start_y, start_m = month_add(f.year, f.month, -(months - 1))
    key = SelfAssessment.year * 12 + SelfAssessment.month
    submitted = (SelfAssessment.SUBMITTED, SelfAssessment.LOCKED)
    stmt = (
        select(
            SelfAssessment.year,
            SelfAssessment.month,
            func.sum(
                case(
                    (and_(SelfAssessment.status.in_(submitted), SelfAssessment.late.is_(False)), 1),
                    else_=0,
                )
            ),
            func.sum(
                case(
                    (and_(SelfAssessment.status.in_(submitted), SelfAssessment.late.is_(True)), 1),
                    else_=0,
                )
            ),
        )
        .join(School, School.id == SelfAssessment.school_id)
        .where(key >= start_y * 12 + start_m, key <= f.year * 12 + f.month)
        .group_by(SelfAssessment.year, SelfAssessment.month)
    )
    counts = {
        (y, m): (int(a or 0), int(b or 0))
        for y, m, a, b in db.session.execute(_school_filter(stmt, f))
    }
    school_stmt = _school_filter(
        select(func.count(School.id), func.sum(case((School.boarding, 1), else_=0))), f
    )
    n_schools, n_boarding = db.session.execute(school_stmt).one()
    per_month = int(n_schools or 0) * 3 + int(
        n_boarding or 0
    )  # dormitory only for boarding schools
    from scoring.models import Period

    # Only months the district opened for self-assessment are expected (no August, say).
    opened = set(db.session.execute(select(Period.year, Period.month)).all())
    out = []
    for i in range(months):
        y, m = month_add(start_y, start_m, i)
        on_time, late = counts.get((y, m), (0, 0))
        expected = per_month if (y, m) in opened else on_time + late
        out.append(
            {
                "month": f"{y}-{m:02d}",
                "on_time": on_time,
                "late": late,
                "missing": max(expected - on_time - late, 0),
                "expected": expected,
            }
        )
    return out


def visit_coverage(f: Filters, months: int = 6) -> list[dict[str, Any]]:
    """Per zone and month: visits, schools visited, schools in the zone (每月下片区)."""
    start_y, start_m = month_add(f.year, f.month, -(months - 1))
    key = SiteVisit.year * 12 + SiteVisit.month
    stmt = (
        select(
            Zone.id,
            Zone.name,
            SiteVisit.year,
            SiteVisit.month,
            func.count(SiteVisit.id),
            func.count(func.distinct(SiteVisit.school_id)),
        )
        .join(School, School.id == SiteVisit.school_id)
        .join(Zone, Zone.id == School.zone_id)
        .where(key >= start_y * 12 + start_m, key <= f.year * 12 + f.month)
        .group_by(Zone.id, Zone.name, SiteVisit.year, SiteVisit.month)
    )
    visits = {
        (z, y, m): (n, s) for z, _name, y, m, n, s in db.session.execute(_school_filter(stmt, f))
    }
    zones = db.session.execute(
        _school_filter(
            select(Zone.id, Zone.name, func.count(School.id))
            .join(School, School.zone_id == Zone.id)
            .group_by(Zone.id, Zone.name)
            .order_by(Zone.name),
            f,
        )
    ).all()
    out = []
    for zone_id, name, n_schools in zones:
        for i in range(months):
            y, m = month_add(start_y, start_m, i)
            n, s = visits.get((zone_id, y, m), (0, 0))
            out.append(
                {
                    "zone": name,
                    "month": f"{y}-{m:02d}",
                    "visits": n,
                    "schools_visited": s,
                    "schools": n_schools,
                }
            )
    return out


def findings_summary(f: Filters, today: date) -> dict[str, Any]:
    """Open and overdue findings per zone (整改)."""
    open_states = (Finding.OPEN, Finding.ANSWERED, "reopened")
    stmt = (
        select(
            Zone.name,
            func.count(Finding.id),
            func.sum(case((Finding.deadline < today, 1), else_=0)),
        )
        .join(School, School.id == Finding.school_id)
        .outerjoin(Zone, Zone.id == School.zone_id)
        .where(Finding.status.in_(open_states))
        .group_by(Zone.name)
        .order_by(Zone.name)
    )
    rows = [
        {"zone": z or "—", "open": int(n), "overdue": int(o or 0)}
        for z, n, o in db.session.execute(_school_filter(stmt, f))
    ]
    return {
        "rows": rows,
        "open": sum(r["open"] for r in rows),
        "overdue": sum(r["overdue"] for r in rows),
    }


def complaint_counts(f: Filters, months: int = 6) -> list[dict[str, Any]]:
    start_y, start_m = month_add(f.year, f.month, -(months - 1))
    key = Complaint.year * 12 + Complaint.month
    stmt = (
        select(Complaint.year, Complaint.month, Complaint.status, func.count(Complaint.id))
        .join(School, School.id == Complaint.school_id)
        .where(key >= start_y * 12 + start_m, key <= f.year * 12 + f.month)
        .group_by(Complaint.year, Complaint.month, Complaint.status)
    )
    counts: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for y, m, status, n in db.session.execute(_school_filter(stmt, f)):
        counts[(y, m)][status] = int(n)
    out = []
    for i in range(months):
        y, m = month_add(start_y, start_m, i)
        c = counts.get((y, m), {})
        out.append(
            {
                "month": f"{y}-{m:02d}",
                "new": c.get(Complaint.NEW, 0),
                "verified": c.get(Complaint.VERIFIED, 0),
                "unfounded": c.get(Complaint.UNFOUNDED, 0),
            }
        )
    return out


def score_distribution(f: Filters) -> list[float]:
    """Every school's overall score for the month, without names (what a school head may see)."""
    stmt = _school_filter(
        select(SchoolMonthResult.score)
        .join(School, School.id == SchoolMonthResult.school_id)
        .where(
            SchoolMonthResult.year == f.year,
            SchoolMonthResult.month == f.month,
            SchoolMonthResult.programme == OVERALL,
        ),
        f,
    )
    return sorted(float(s) for s in db.session.scalars(stmt))


def as_decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))
