"""A synthetic city for the dashboard benchmark (issue 5): N schools in D districts.

Each district gets 10 zones, its share of the schools, the four default rubrics, the
ten scoring months of a school year (September–June) opened as periods, and — loaded
directly, not through the recomputation — what the dashboard, the award ranking and the
bulletin read:

- ``school_month_results``: every school-month has the four programmes it runs
  (文化宿舍 at boarding schools only) and an ``overall`` row with the 四好 dimensions,
  i.e. 5 rows per school-month at a boarding school (4 elsewhere);
- ``self_assessments`` (headers only, a few late or missing);
- ``site_visits`` (85 % of school-months) with ``visit_scores`` for every applicable
  indicator of every programme the school runs (the heat map's cells);
- ``findings`` on a quarter of the visits (open, answered, closed; some overdue);
- ``complaints`` (new, verified, unfounded), about one per ten schools a month.

Rows go in with COPY (large tables) or one executemany (the rest) as the database
owner, so row-level security is not in the way of loading. One district admin per
district gets a personal access token for the HTTP load.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bench.generate import MONTHS, _insert_returning
from district.extensions import db
from scoring.models import (
    Complaint,
    Finding,
    Period,
    RubricIndicator,
    SchoolMonthResult,
    SelfAssessment,
    SiteVisit,
    VisitScore,
)
from scoring.rubrics import ensure_default_rubrics, versions_in_force
from tenants.models import District, Role, School, User, Zone
from tenants.scope import Scope, unscoped, use_scope

LEVELS = ("小学", "小学", "初中", "初中", "高中", "九年一贯制")
VISITED = 0.85
DIMENSIONS = ("conditions", "service", "quality", "management")
NOW = datetime(2026, 7, 1, 8, 0)


def _copy(table: Any, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """COPY rows (tuples in ``columns`` order) into ``table`` on PostgreSQL."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    raw = connection.connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(v) if isinstance(v, (list, dict)) else v for v in row])


def _stars(score: float) -> int:
    return 5 if score >= 95 else 4 if score >= 90 else 3 if score >= 80 else 2 if score >= 70 else 1


def _district(index: int, n_schools: int, rng: random.Random, school_offset: int) -> dict[str, Any]:
    with unscoped("bench: create a district"):
        district = District(code=f"CITY{index + 1:02d}", name=f"基准城区{index + 1}")
        db.session.add(district)
        db.session.flush()
    did = district.id
    stats: dict[str, Any] = {"district_id": did, "schools": n_schools}
    with use_scope(Scope.for_district(did)):
        zones = [Zone(name=f"片区{i + 1}") for i in range(10)]
        db.session.add_all(zones)
        db.session.flush()
        members = []
        for i in range(n_schools):
            campus = rng.randrange(8000, 60000, 100)
            members.append(
                School(
                    district_id=did,
                    zone_id=zones[i % len(zones)].id,
                    code=f"C{school_offset + i + 1:05d}",
                    name=f"基准学校{school_offset + i + 1}",
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
        indicators = {
            p: list(
                db.session.scalars(
                    select(RubricIndicator)
                    .where(RubricIndicator.rubric_version_id == v.id)
                    .order_by(RubricIndicator.sort)
                )
            )
            for p, v in versions.items()
        }
        for y, m in MONTHS:
            db.session.add(Period(year=y, month=m, deadline=date(y, m, 25), status=Period.CLOSED))
        admin = User(
            district_id=did,
            username=f"city{index + 1:02d}_admin",
            display_name=f"城区{index + 1}管理员",
            role=Role.DISTRICT_ADMIN,
        )
        admin.set_password("bench-password-1")
        db.session.add(admin)
        db.session.flush()
        from tenants.services import create_token

        _token, raw_token = create_token(admin, "bench", 30)
        stats["token"] = raw_token

        quality = {s.id: rng.uniform(0.55, 0.97) for s in members}
        smr_cols = [
            "district_id", "school_id", "year", "month", "programme", "score", "stars",
            "self_score", "inspector_score", "satisfaction", "complaint_deduction",
            "verified_complaints", "veto", "unverified", "stand_in", "inflation_gap",
            "inflated", "dimensions", "computed_at",
        ]  # fmt: skip
        sa_cols = [
            "district_id", "school_id", "year", "month", "programme", "rubric_version_id",
            "status", "submitted_at", "late", "created_at", "updated_at", "version",
        ]  # fmt: skip
        vs_cols = [
            "district_id", "school_id", "visit_id", "programme", "rubric_version_id",
            "indicator_code", "points", "value",
        ]  # fmt: skip
        f_cols = [
            "district_id", "school_id", "visit_id", "programme", "indicator_code",
            "description", "deadline", "status", "reopen_count", "created_at", "version",
        ]  # fmt: skip
        c_cols = [
            "district_id", "school_id", "programme", "content", "filed_at", "year", "month",
            "status", "version",
        ]  # fmt: skip
        results, headers, scores, findings, complaints = [], [], [], [], []
        for y, m in MONTHS:
            visits, visit_sets = [], []
            for s in members:
                programmes = [
                    p for p, v in versions.items() if s.boarding or not v.rubric.boarding_only
                ]
                q = quality[s.id]
                visited = rng.random() < VISITED
                prog_scores = []
                for p in programmes:
                    self_ = min(100.0, 100 * (q + 0.04 + rng.gauss(0, 0.05)))
                    insp = min(100.0, 100 * (q + rng.gauss(0, 0.05))) if visited else None
                    score = self_ if insp is None else (0.3 * self_ + 0.5 * insp) / 0.8
                    prog_scores.append(score)
                    gap = None if insp is None else round(self_ - insp, 2)
                    results.append(
                        (did, s.id, y, m, p, round(score, 2), _stars(score), round(self_, 2),
                         None if insp is None else round(insp, 2), None, 0, 0, False,
                         not visited, False, gap, gap is not None and gap > 10, None, NOW)
                    )  # fmt: skip
                    status = SelfAssessment.LOCKED if rng.random() > 0.02 else SelfAssessment.DRAFT
                    headers.append(
                        (did, s.id, y, m, p, versions[p].id, status,
                         datetime(y, m, 24, 10) if status == SelfAssessment.LOCKED else None,
                         rng.random() < 0.05, NOW, NOW, 1)
                    )  # fmt: skip
                overall = sum(prog_scores) / len(prog_scores)
                dims = {d: round(min(100.0, overall + rng.gauss(0, 3)), 2) for d in DIMENSIONS}
                results.append(
                    (did, s.id, y, m, "overall", round(overall, 2), _stars(overall), None,
                     None, None, 0, 0, False, not visited, False, None, False, dims, NOW)
                )  # fmt: skip
                if visited:
                    visits.append(
                        {
                            "district_id": did,
                            "school_id": s.id,
                            "visited_on": date(y, m, rng.randint(1, 28)),
                            "year": y,
                            "month": m,
                            "version": 1,
                        }
                    )
                    visit_sets.append((s, programmes, q))
            visit_ids = _insert_returning(SiteVisit, visits)
            for vid, (s, programmes, q) in zip(visit_ids, visit_sets, strict=True):
                for p in programmes:
                    for ind in indicators[p]:
                        if not ind.applies_to(boarding=s.boarding, level=s.level):
                            continue
                        if ind.kind == "veto":
                            scores.append((did, s.id, vid, p, versions[p].id, ind.code, 0, 0))
                            continue
                        f = min(1.0, max(0.0, q + rng.gauss(0, 0.1)))
                        points = Decimal(round(float(ind.max_points) * f * 2)) / 2
                        scores.append((did, s.id, vid, p, versions[p].id, ind.code, points, None))
                if rng.random() < 0.25:
                    p = rng.choice(programmes)
                    r = rng.random()
                    status = Finding.OPEN if r < 0.4 else Finding.ANSWERED if r < 0.5 else "closed"
                    created = datetime(y, m, 15)
                    findings.append(
                        (did, s.id, vid, p, None, "整改：后厨地面积水", (created + timedelta(days=
                         rng.choice((7, 14, 30, 400)))).date(), status, 0, created, 1)
                    )  # fmt: skip
            for _ in range(max(1, n_schools // 10)):
                st = rng.choice((Complaint.NEW, Complaint.VERIFIED, Complaint.UNFOUNDED))
                complaints.append(
                    (did, rng.choice(members).id, rng.choice((None, "canteen", "store")), "投诉",
                     datetime(y, m, 10), y, m, st, 1)
                )  # fmt: skip
        _copy(SchoolMonthResult.__table__, smr_cols, results)
        _copy(SelfAssessment.__table__, sa_cols, headers)
        _copy(VisitScore.__table__, vs_cols, scores)
        _copy(Finding.__table__, f_cols, findings)
        _copy(Complaint.__table__, c_cols, complaints)
        stats.update(
            results=len(results),
            self_assessments=len(headers),
            visit_scores=len(scores),
            findings=len(findings),
            complaints=len(complaints),
        )
    db.session.commit()
    return stats


def generate_city(schools: int = 2000, districts: int = 10, seed: int = 2026) -> dict[str, Any]:
    """Create ``districts`` districts sharing ``schools`` schools, each with a school year."""
    rng = random.Random(seed)
    per = [schools // districts + (1 if i < schools % districts else 0) for i in range(districts)]
    out: dict[str, Any] = {"districts": []}
    offset = 0
    for i, n in enumerate(per):
        out["districts"].append(_district(i, n, rng, offset))
        offset += n
    for key in ("results", "self_assessments", "visit_scores", "findings", "complaints"):
        out[key] = sum(d[key] for d in out["districts"])
    return out


__all__ = ["generate_city"]
