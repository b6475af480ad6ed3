"""What recomputing results needs besides the source rows: the district's rubric
catalogue (versions in force, their indicators and applicability classes), the kind of
each school, satisfaction, verified complaints — each in a few queries per call.

Part of :mod:`scoring.results`, which explains the whole recomputation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from sqlalchemy import (
    and_,
    func,
    or_,
    select,
)

from district.extensions import db
from scoring import engine
from scoring.engine import DIMENSIONS
from scoring.models import (
    Complaint,
    Rubric,
    RubricIndicator,
    RubricVersion,
    SelfAssessment,
    Survey,
    SurveyResponse,
)
from tenants.models import School

ZERO = Decimal(0)
CENT = Decimal("0.01")
MILLI = Decimal("0.0001")
# The engine's arithmetic context, so that results never depend on the caller's.
CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
AGGREGATED_KINDS = ("judged", "checklist")
# The indicator table's numbers: summed kinds (1), measured (2), veto (3); 四好 dimensions.
AGGREGATED, MEASURED, VETO = 1, 2, 3
KIND_NUMBER = {
    "judged": AGGREGATED,
    "checklist": AGGREGATED,
    "measured": MEASURED,
    "veto": VETO,
}
DIMENSION_NUMBER = {d: n for n, d in enumerate(DIMENSIONS, start=1)}

Item = tuple[int, int, int]  # (school_id, year, month)
Progress = Callable[[int, str | None], None]


def scoring_rules() -> engine.ScoringRules:
    """The district's rules (scoring.settings), or the domain defaults without it."""
    try:
        from scoring.settings import scoring_rules as configured
    except ImportError:  # pragma: no cover - settings ship with the scoring issue
        return engine.DEFAULT_RULES
    return configured()


def month_key(year: int, month: int) -> int:
    return year * 12 + month - 1


def key_of(model: Any) -> Any:
    return model.year * 12 + model.month - 1


def as_decimal(value: Any, quantum: Decimal = CENT) -> Decimal | None:
    """A stored number as an exact Decimal (SQLite hands back floats for sums)."""
    if value is None or type(value) is Decimal:
        return value  # exact already (PostgreSQL numerics, SQLAlchemy's Numeric on SQLite)
    if isinstance(value, float):  # SQLite's sums: floats of 2-decimal values
        return Decimal(repr(value)).quantize(quantum)
    return Decimal(value).quantize(quantum)


# --- the rubric catalogue ------------------------------------------------------------


@dataclass(frozen=True)
class Applicable:
    """What of a rubric version applies to one kind of school (boarding, level)."""

    specs: tuple[engine.IndicatorSpec, ...]
    scorable: int  # applicable non-veto indicators
    total_max: Decimal
    dim_max: dict[str, Decimal]
    dim_max_tuple: tuple[Decimal | None, ...]  # the same in DIMENSIONS order, None if absent
    resolved: tuple[engine.IndicatorSpec, ...]  # measured: points from a curve, row by row
    vetoes: tuple[str, ...]
    signatures: frozenset[int]  # applicability classes (see Catalogue.signature)


@dataclass
class VersionInfo:
    """A published rubric version as scoring needs it."""

    id: int
    programme: str
    specs: tuple[engine.IndicatorSpec, ...]
    names: dict[str, tuple[str, str]]  # code -> (category name, indicator name)
    measures: dict[str, str | None]
    stored_kinds: dict[str, str]
    # (version, programme, code, dimension number, max points, signature, kind number):
    # the rows of the indicator table the batch queries join (see indicator_table)
    table: tuple[tuple[int, str, str, int, Decimal, int, int], ...] = ()
    _applicable: dict[tuple[bool, str | None], Applicable] = field(default_factory=dict)

    def applicable(self, boarding: bool, level: str | None) -> Applicable:
        key = (boarding, level)
        if key not in self._applicable:
            specs = engine.applicable_indicators(self.specs, boarding=boarding, level=level)
            signature_of = {row[2]: row[5] for row in self.table}
            scorable = [s for s in specs if s.kind != "veto"]
            dim_max: dict[str, Decimal] = {}
            for spec in scorable:
                dim_max[spec.dimension] = dim_max.get(spec.dimension, ZERO) + spec.max_points
            self._applicable[key] = Applicable(
                specs=specs,
                scorable=len(scorable),
                total_max=sum((s.max_points for s in scorable), ZERO),
                dim_max=dim_max,
                dim_max_tuple=tuple(dim_max.get(d) for d in DIMENSIONS),
                resolved=tuple(
                    s for s in scorable if self.stored_kinds.get(s.code) not in AGGREGATED_KINDS
                ),
                vetoes=tuple(s.code for s in specs if s.kind == "veto"),
                # the applicability classes of what the engine found applicable
                signatures=frozenset(signature_of[s.code] for s in specs),
            )
        return self._applicable[key]


def _spec(row: Any) -> engine.IndicatorSpec:
    kind = row.kind
    curve = None
    if kind == "measured":
        if row.curve:
            curve = tuple((Decimal(str(x)), Decimal(str(p))) for x, p in row.curve)
        else:
            kind = "judged"  # a curve-less measured indicator scores the points given
    return engine.IndicatorSpec(
        code=row.code,
        max_points=Decimal(row.max_points).quantize(CENT),
        kind=kind,
        dimension=row.dimension,
        boarding_only=bool(row.boarding_only),
        levels=frozenset(row.levels) if row.levels else None,
        curve=curve,
    )


class Catalogue:
    """The district's programmes and published rubric versions (3 queries, then cached)."""

    def __init__(self) -> None:
        rubrics = db.session.execute(
            select(
                Rubric.id, Rubric.programme, Rubric.name, Rubric.boarding_only, Rubric.sort
            ).where(Rubric.active.is_(True))
        ).all()
        self.programmes = {
            r.programme: r for r in sorted(rubrics, key=lambda r: (r.sort, r.id))
        }  # code -> row (name, boarding_only)
        by_rubric = {r.id: r.programme for r in rubrics}
        self._versions: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for v in db.session.execute(
            select(
                RubricVersion.id,
                RubricVersion.rubric_id,
                RubricVersion.number,
                RubricVersion.effective_year,
                RubricVersion.effective_month,
            ).where(RubricVersion.status == RubricVersion.PUBLISHED)
        ):
            if v.rubric_id in by_rubric and v.effective_year and v.effective_month:
                key = month_key(v.effective_year, v.effective_month)
                self._versions[by_rubric[v.rubric_id]].append((key, v.number, v.id))
        for versions in self._versions.values():
            versions.sort(reverse=True)
        self.versions: dict[int, VersionInfo] = {}
        # Applicability classes of indicators, (boarding only, levels) -> a small number:
        # sources are summed per class, and a school adds up the classes that apply to it.
        self.signatures: dict[tuple[bool, tuple[str, ...] | None], int] = {}

    def signature(self, boarding_only: Any, levels: Any) -> int:
        key = (bool(boarding_only), tuple(levels) if levels else None)
        return self.signatures.setdefault(key, len(self.signatures) + 1)

    def in_force(self, year: int, month: int) -> dict[str, int]:
        """programme -> version id in force for a month (latest effective, then number)."""
        key = month_key(year, month)
        out = {}
        for programme in self.programmes:
            for effective, _number, version_id in self._versions.get(programme, ()):
                if effective <= key:
                    out[programme] = version_id
                    break
        return out

    def load(self, version_ids: Iterable[int]) -> None:
        missing = sorted(set(version_ids) - set(self.versions))
        if not missing:
            return
        rows = db.session.execute(
            select(
                RubricIndicator.rubric_version_id,
                RubricIndicator.programme,
                RubricIndicator.code,
                RubricIndicator.category_name,
                RubricIndicator.name,
                RubricIndicator.max_points,
                RubricIndicator.kind,
                RubricIndicator.dimension,
                RubricIndicator.boarding_only,
                RubricIndicator.levels,
                RubricIndicator.curve,
                RubricIndicator.measure,
            )
            .where(RubricIndicator.rubric_version_id.in_(missing))
            .order_by(RubricIndicator.rubric_version_id, RubricIndicator.sort)
        ).all()
        grouped: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            grouped[row.rubric_version_id].append(row)
        for version_id in missing:
            members = grouped.get(version_id, [])
            programme = next(
                (p for p, vs in self._versions.items() if any(v[2] == version_id for v in vs)),
                members[0].programme if members else "",
            )
            self.versions[version_id] = VersionInfo(
                id=version_id,
                programme=programme,
                specs=tuple(_spec(r) for r in members),
                names={r.code: (r.category_name, r.name) for r in members},
                measures={r.code: r.measure for r in members},
                stored_kinds={r.code: r.kind for r in members},
                table=tuple(
                    (
                        version_id,
                        r.programme,
                        r.code,
                        DIMENSION_NUMBER.get(r.dimension, 0),
                        Decimal(r.max_points).quantize(CENT),
                        self.signature(r.boarding_only, r.levels),
                        KIND_NUMBER.get(r.kind, 0),
                    )
                    for r in members
                ),
            )


@dataclass(frozen=True)
class SchoolKind:
    id: int
    boarding: bool
    level: str | None
    green_ratio: Decimal | None


def school_kinds(school_ids: Sequence[int]) -> dict[int, SchoolKind]:
    rows = db.session.execute(
        select(
            School.id, School.boarding, School.level, School.green_area, School.campus_area
        ).where(School.id.in_(school_ids))
    ).all()
    out = {}
    for r in rows:
        ratio = None
        if r.campus_area and r.green_area is not None:
            ratio = Decimal(r.green_area) / Decimal(r.campus_area)  # School.green_ratio
        out[r.id] = SchoolKind(r.id, bool(r.boarding), r.level, ratio)
    return out


def derived_values(version: VersionInfo, school: SchoolKind) -> dict[str, Decimal]:
    """Measured values the data supplies for the school (green ratio from its areas)."""
    if school.green_ratio is None:
        return {}
    return {code: school.green_ratio for code, m in version.measures.items() if m == "green_ratio"}


# --- sources that are not per-indicator ------------------------------------------------


def semesters_of(months: Iterable[tuple[int, int]], rules: engine.ScoringRules) -> dict:
    out = {}
    for year, month in months:
        semester = engine.semester_of(year, month, rules)
        if semester is not None:
            out[(year, month)] = semester
    return out


def satisfaction_by_school(
    school_ids: Sequence[int], semesters: Iterable[engine.Semester], rules: engine.ScoringRules
) -> dict[tuple[int, int, str], Decimal | None]:
    """(school_id, school_year, term) -> satisfaction 0-100 (民主评议), full precision."""
    out: dict[tuple[int, int, str], Decimal | None] = {}
    wanted = sorted(set(semesters))
    if not wanted or not school_ids:
        return out
    try:
        from scoring.surveys import satisfaction_for_schools
    except ImportError:  # pragma: no cover - surveys ship with the scoring issue
        satisfaction_for_schools = None
    if satisfaction_for_schools is not None:
        for semester in wanted:
            found = satisfaction_for_schools(school_ids, semester.school_year, semester.term, rules)
            for school_id, value in found.items():
                out[(school_id, semester.school_year, semester.term)] = value
        return out
    # Fallback: each group's mean of every answer given, groups averaged equally.
    rows = db.session.execute(
        select(
            SurveyResponse.school_id,
            Survey.school_year,
            Survey.term,
            SurveyResponse.group,
            SurveyResponse.answers,
        )
        .join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(
            SurveyResponse.school_id.in_(school_ids),
            Survey.school_year.in_({s.school_year for s in wanted}),
        )
    ).all()
    totals: dict[tuple[int, int, str], dict[str, list[int]]] = defaultdict(dict)
    for r in rows:
        tally = totals[(r.school_id, r.school_year, r.term)].setdefault(r.group, [0, 0])
        answers = [int(a) for a in r.answers or []]
        tally[0] += sum(answers)
        tally[1] += len(answers)
    for key, groups in totals.items():
        means = {g: Decimal(t) / Decimal(n) for g, (t, n) in groups.items() if n}
        out[key] = engine.satisfaction_score(means, rules) if means else None
    return out


def verified_complaints(school_ids: Sequence[int], lo: int, hi: int) -> dict[tuple, int]:
    """(school_id, year, month, programme or None) -> verified complaints."""
    rows = db.session.execute(
        select(
            Complaint.school_id,
            Complaint.year,
            Complaint.month,
            Complaint.programme,
            func.count(Complaint.id),
        )
        .where(
            Complaint.status == Complaint.VERIFIED,
            Complaint.school_id.in_(school_ids),
            key_of(Complaint).between(lo, hi),
        )
        .group_by(Complaint.school_id, Complaint.year, Complaint.month, Complaint.programme)
    ).all()
    return {(r[0], r[1], r[2], r[3] or None): int(r[4]) for r in rows}


def complaint_count(complaints: dict[tuple, int], school_id: int, y: int, m: int, code: str) -> int:
    return complaints.get((school_id, y, m, None), 0) + complaints.get((school_id, y, m, code), 0)


# --- sources summed in the database ----------------------------------------------------


def counted_assessment() -> Any:
    """A self-assessment that counts: submitted, or locked after being submitted."""
    return or_(
        SelfAssessment.status == SelfAssessment.SUBMITTED,
        and_(
            SelfAssessment.status == SelfAssessment.LOCKED,
            SelfAssessment.submitted_at.is_not(None),
        ),
    )
