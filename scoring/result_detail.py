"""Scoring school-months the slow way: the engine fed every indicator of every source
(the results page's per-indicator detail, and the inflation gap of programme-months
whose sources left indicators unscored). Part of :mod:`scoring.results`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    select,
)

from district.extensions import db
from scoring import engine
from scoring.engine import Month
from scoring.models import (
    SelfAssessment,
    SelfAssessmentItem,
    VisitScore,
)
from scoring.models import SiteVisit as Visit
from scoring.result_catalogue import (
    MILLI,
    Catalogue,
    SchoolKind,
    VersionInfo,
    as_decimal,
    complaint_count,
    counted_assessment,
    derived_values,
    key_of,
    month_key,
    satisfaction_by_school,
    school_kinds,
    scoring_rules,
    verified_complaints,
)

if TYPE_CHECKING:
    from scoring.results import Pending


def _indicator_rows(
    assessment_ids: Sequence[int], visit_ids: Sequence[int]
) -> tuple[dict[int, dict[str, tuple]], dict[tuple[int, str], dict[str, tuple]]]:
    """Points and values by code: of self-assessments, and of visits by programme."""
    self_rows: dict[int, dict[str, tuple]] = defaultdict(dict)
    visit_rows: dict[tuple[int, str], dict[str, tuple]] = defaultdict(dict)
    if assessment_ids:
        for r in db.session.execute(
            select(
                SelfAssessmentItem.assessment_id,
                SelfAssessmentItem.indicator_code,
                SelfAssessmentItem.points,
                SelfAssessmentItem.value,
            ).where(SelfAssessmentItem.assessment_id.in_(sorted(set(assessment_ids))))
        ):
            self_rows[r[0]][r[1]] = (as_decimal(r[2]), as_decimal(r[3], MILLI))
    if visit_ids:
        for r in db.session.execute(
            select(
                VisitScore.visit_id,
                VisitScore.programme,
                VisitScore.indicator_code,
                VisitScore.points,
                VisitScore.value,
            ).where(VisitScore.visit_id.in_(sorted(set(visit_ids))))
        ):
            visit_rows[(r[0], r[1])][r[2]] = (as_decimal(r[3]), as_decimal(r[4], MILLI))
    return self_rows, visit_rows


def _answers(
    rows: dict[str, tuple], version: VersionInfo
) -> tuple[dict[str, Decimal | None], dict[str, Decimal]]:
    """(points by code, measured values by code) as the engine takes them."""
    kinds = {s.code: s.kind for s in version.specs}
    points = {code: p for code, (p, _v) in rows.items()}
    measured = {
        code: v for code, (_p, v) in rows.items() if v is not None and kinds.get(code) == "measured"
    }
    return points, measured


def inflation_from_detail(
    entries: list[Pending],
    catalogue: Catalogue,
    schools: dict[int, SchoolKind],
    rules: engine.ScoringRules,
) -> None:
    """Inflation gap of programme-months whose sources left indicators unscored."""
    self_rows, visit_rows = _indicator_rows(
        [p.assessment_id for p in entries if p.assessment_id is not None],
        [p.picked.visit.visit_id for p in entries if p.picked is not None],
    )
    for p in entries:
        assert p.picked is not None and p.assessment_id is not None
        version = catalogue.versions[p.version_id]
        school = schools[p.school_id]
        self_points, self_measured = _answers(self_rows.get(p.assessment_id, {}), version)
        visit_points, visit_measured = _answers(
            visit_rows.get((p.picked.visit.visit_id, p.code), {}), version
        )
        visit = engine.SiteVisit(
            p.picked.visit.visited_on, visit_points, visit_measured, p.picked.visit.visit_id
        )
        detail = engine.score_school_month(
            engine.SchoolMonthInput(
                month=Month(p.year, p.month),
                boarding=school.boarding,
                level=school.level,
                programmes=(
                    engine.ProgrammeInput(
                        code=p.code,
                        indicators=version.specs,
                        self_points=self_points,
                        self_measured=self_measured,
                        visits=(visit,),
                        measured=derived_values(version, school),
                    ),
                ),
            ),
            rules,
        )
        result = detail.programmes[p.code].result
        p.gap = result.inflation_gap if result is not None else None


@dataclass
class SchoolMonthDetail:
    """The engine's full answer for one school-month, with indicator names for display."""

    result: engine.SchoolMonthResult
    versions: dict[str, VersionInfo]
    programme_names: dict[str, str]


def engine_input(
    school_id: int, year: int, month: int, catalogue: Catalogue | None = None
) -> tuple[engine.SchoolMonthInput, dict[str, VersionInfo], Catalogue] | None:
    """The engine's complete input for one school-month, every indicator of every source."""
    rules = scoring_rules()
    catalogue = catalogue or Catalogue()
    school = school_kinds([school_id]).get(school_id)
    if school is None:
        return None
    in_force = catalogue.in_force(year, month)
    catalogue.load(in_force.values())
    key = month_key(year, month)
    assessments = {
        r.programme: r.id
        for r in db.session.execute(
            select(SelfAssessment.id, SelfAssessment.programme).where(
                SelfAssessment.school_id == school_id,
                SelfAssessment.year == year,
                SelfAssessment.month == month,
                counted_assessment(),
            )
        )
    }
    visits = db.session.execute(
        select(Visit.id, Visit.visited_on)
        .where(
            Visit.school_id == school_id,
            key_of(Visit).between(key - rules.stand_in_months, key),
        )
        .order_by(Visit.visited_on, Visit.id)
    ).all()
    self_rows, visit_rows = _indicator_rows(list(assessments.values()), [v.id for v in visits])
    semester = engine.semester_of(year, month, rules)
    satisfaction = None
    if semester is not None:
        satisfaction = satisfaction_by_school([school_id], [semester], rules).get(
            (school_id, semester.school_year, semester.term)
        )
    complaints = verified_complaints([school_id], key, key)
    programmes = []
    versions = {}
    for code, version_id in in_force.items():
        version = catalogue.versions[version_id]
        versions[code] = version
        self_points, self_measured = None, {}
        if code in assessments:
            self_points, self_measured = _answers(self_rows.get(assessments[code], {}), version)
        programme_visits = []
        for v in visits:
            if (v.id, code) in visit_rows:
                points, measured = _answers(visit_rows[(v.id, code)], version)
                programme_visits.append(engine.SiteVisit(v.visited_on, points, measured, v.id))
        programmes.append(
            engine.ProgrammeInput(
                code=code,
                indicators=version.specs,
                self_points=self_points,
                self_measured=self_measured,
                visits=tuple(programme_visits),
                measured=derived_values(version, school),
                verified_complaints=complaint_count(complaints, school_id, year, month, code),
                boarding_only=bool(catalogue.programmes[code].boarding_only),
            )
        )
    return (
        engine.SchoolMonthInput(
            month=Month(year, month),
            boarding=school.boarding,
            level=school.level,
            programmes=tuple(programmes),
            satisfaction=satisfaction,
            school_id=school_id,
        ),
        versions,
        catalogue,
    )


def school_month_detail(school_id: int, year: int, month: int) -> SchoolMonthDetail | None:
    """Score one school-month with every indicator (per-indicator self vs inspector)."""
    found = engine_input(school_id, year, month)
    if found is None:
        return None
    smi, versions, catalogue = found
    return SchoolMonthDetail(
        result=engine.score_school_month(smi, scoring_rules()),
        versions=versions,
        programme_names={c: r.name for c, r in catalogue.programmes.items()},
    )
