"""Stored results (成绩) of school-months: recomputed from the source rows and upserted.

:func:`recompute` is what every job calls. It works in batches of school-months and
runs a fixed number of queries per batch, whatever the number of indicators:

1. the rubric catalogue (versions in force, their indicators) once per call;
2. per batch (1,000 school-months), the sources reduced *in the database*: one GROUP BY
   over the self-assessment items and one over the visit scores give, per
   self-assessment and per visit × programme, Σ points clamped to [0, max] per 四好
   dimension and per applicability class (boarding-only, school levels), and — in the
   same row, as a ``code|points|value`` list — the few answers the sums cannot express:
   measured indicators (points from a curve over the value) and triggered vetoes;
   plus the schools, satisfaction, complaints and the stored rows (about ten queries);
3. the pure engine (:mod:`scoring.engine`) turns those sums into results: source scores
   rescaled over the applicable indicators, the visit of the month or a stand-in of the
   last three months (else *unverified*), weights, complaints, veto, stars, inflation
   (when a source left indicators unscored, the gap comes from the engine fed the
   indicators of those programme-months: two more queries for all of them);
4. one upsert of the rows that changed, one delete of the rows that no longer have a
   result, one insert of ``result.change`` audit entries (a stored score that moved).

Unchanged rows are not written, so running a recomputation twice changes nothing.

:func:`school_month_detail` scores one school-month the slow way, feeding the engine
every indicator (:func:`scoring.engine.score_school_month`); the results page shows its
per-indicator detail and the tests check that both ways store the same numbers.

Decisions worth knowing:

- A self-assessment counts once submitted: ``submitted``, or ``locked`` with a
  submission time (closing a period also locks drafts, which stay out).
- A visit is a source of a programme when it scored that programme; the month's latest
  such visit is the inspector source, else the latest of the previous months
  (``stand_in_months``, default 3), scored with the rubric version of the month scored.
- A verified complaint (查实投诉) naming a programme deducts from that programme only;
  one naming none deducts from every programme of its school-month.
- The ``overall`` row: score = plain mean of the applicable programmes' results (engine);
  self/inspector score = mean of the programmes' source scores; veto, unverified,
  stand-in and inflated are set when any programme has them.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import json
import sys
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    or_,
    select,
    text,
)

from district.audit import AuditEntry
from district.extensions import db
from scoring import engine
from scoring.engine import DIMENSIONS, HUNDRED, Month
from scoring.models import (
    Complaint,
    Period,
    ProgrammeCode,
    Rubric,
    RubricIndicator,
    RubricVersion,
    SchoolMonthResult,
    SelfAssessment,
    SelfAssessmentItem,
    Survey,
    SurveyResponse,
    VisitScore,
)
from scoring.models import SiteVisit as Visit
from tenants.models import School, utcnow
from tenants.scope import require_scope

BATCH_SIZE = 500  # school-months per batch: bounds memory, whatever the district's size
SWITCH_INTERVAL = 0.0005  # seconds: how soon the database worker gets the GIL back
HASH_PLANS_FROM = 100  # school-months in a batch from which hash joins beat index probes
OVERALL = ProgrammeCode.OVERALL
AUDIT_ACTION = "result.change"

_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_MILLI = Decimal("0.0001")
# The engine's arithmetic context, so that results never depend on the caller's.
_CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
_AGGREGATED_KINDS = ("judged", "checklist")
# The indicator table's numbers: summed kinds (1), measured (2), veto (3); 四好 dimensions.
_AGGREGATED, _MEASURED, _VETO = 1, 2, 3
_KIND_NUMBER = {
    "judged": _AGGREGATED,
    "checklist": _AGGREGATED,
    "measured": _MEASURED,
    "veto": _VETO,
}
_DIMENSION_NUMBER = {d: n for n, d in enumerate(DIMENSIONS, start=1)}

Item = tuple[int, int, int]  # (school_id, year, month)
Progress = Callable[[int, str | None], None]

# Columns an upsert writes (everything but the key and the id).
RESULT_FIELDS = (
    "score",
    "stars",
    "self_score",
    "inspector_score",
    "satisfaction",
    "complaint_deduction",
    "verified_complaints",
    "veto",
    "unverified",
    "stand_in",
    "inflation_gap",
    "inflated",
    "dimensions",
    "rubric_version_id",
    "visit_id",
)


def scoring_rules() -> engine.ScoringRules:
    """The district's rules (scoring.settings), or the domain defaults without it."""
    try:
        from scoring.settings import scoring_rules as configured
    except ImportError:  # pragma: no cover - settings ship with the scoring issue
        return engine.DEFAULT_RULES
    return configured()


def month_key(year: int, month: int) -> int:
    return year * 12 + month - 1


def _key_of(model: Any) -> Any:
    return model.year * 12 + model.month - 1


def _dec(value: Any, quantum: Decimal = _CENT) -> Decimal | None:
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
            scorable = [s for s in specs if s.kind != "veto"]
            dim_max: dict[str, Decimal] = {}
            for spec in scorable:
                dim_max[spec.dimension] = dim_max.get(spec.dimension, _ZERO) + spec.max_points
            self._applicable[key] = Applicable(
                specs=specs,
                scorable=len(scorable),
                total_max=sum((s.max_points for s in scorable), _ZERO),
                dim_max=dim_max,
                dim_max_tuple=tuple(dim_max.get(d) for d in DIMENSIONS),
                resolved=tuple(
                    s for s in scorable if self.stored_kinds.get(s.code) not in _AGGREGATED_KINDS
                ),
                vetoes=tuple(s.code for s in specs if s.kind == "veto"),
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
        max_points=Decimal(row.max_points).quantize(_CENT),
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
        self._allowed: dict[tuple[bool, str | None], frozenset[int]] = {}

    def signature(self, boarding_only: Any, levels: Any) -> int:
        key = (bool(boarding_only), tuple(levels) if levels else None)
        if key not in self.signatures:
            self.signatures[key] = len(self.signatures) + 1
            self._allowed.clear()
        return self.signatures[key]

    def allowed(self, boarding: bool, level: str | None) -> frozenset[int]:
        """The applicability classes whose indicators apply to a kind of school (as
        engine.applicable_indicators decides)."""
        key = (boarding, level)
        found = self._allowed.get(key)
        if found is None:
            found = self._allowed[key] = frozenset(
                number
                for (boarding_only, levels), number in self.signatures.items()
                if (boarding or not boarding_only) and (not levels or level in levels)
            )
        return found

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
                        _DIMENSION_NUMBER.get(r.dimension, 0),
                        Decimal(r.max_points).quantize(_CENT),
                        self.signature(r.boarding_only, r.levels),
                        _KIND_NUMBER.get(r.kind, 0),
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


def _schools(school_ids: Sequence[int]) -> dict[int, SchoolKind]:
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


def _derived(version: VersionInfo, school: SchoolKind) -> dict[str, Decimal]:
    """Measured values the data supplies for the school (green ratio from its areas)."""
    if school.green_ratio is None:
        return {}
    return {code: school.green_ratio for code, m in version.measures.items() if m == "green_ratio"}


# --- sources that are not per-indicator ------------------------------------------------


def _semesters(months: Iterable[tuple[int, int]], rules: engine.ScoringRules) -> dict:
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
            found = satisfaction_for_schools(school_ids, semester.school_year, semester.term)
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


def _complaints(school_ids: Sequence[int], lo: int, hi: int) -> dict[tuple, int]:
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
            _key_of(Complaint).between(lo, hi),
        )
        .group_by(Complaint.school_id, Complaint.year, Complaint.month, Complaint.programme)
    ).all()
    return {(r[0], r[1], r[2], r[3] or None): int(r[4]) for r in rows}


def _complaint_count(
    complaints: dict[tuple, int], school_id: int, y: int, m: int, code: str
) -> int:
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


_INDICATOR_COLUMNS = (
    ("version_id", Integer()),
    ("programme", String()),
    ("code", String()),
    ("dimension", Integer()),
    ("max_points", RubricIndicator.max_points.type),
    ("signature", Integer()),
    ("kind", Integer()),
)


def indicator_table(catalogue: Catalogue, version_ids: Iterable[int]) -> Any:
    """The indicators of these versions as a small inline table (a CTE ``ri``).

    Joining the source rows to it rather than to ``rubric_indicators`` lets the database
    hash a few dozen rows carrying exactly what the sums need — dimension and kind as
    numbers, the applicability class as one number — instead of comparing strings and
    grouping by a JSON list of levels for every source row. The rows travel as one JSON
    parameter, so the statement's text (and SQLAlchemy's compiled form of it) is the
    same for every batch.
    """
    rows = [row for v in version_ids for row in catalogue.versions[v].table]
    if not rows:
        return None
    names = [name for name, _ in _INDICATOR_COLUMNS]
    dialect = db.session.get_bind().dialect
    if dialect.name == "postgresql":
        typed = ", ".join(f"{n} {t.compile(dialect)}" for n, t in _INDICATOR_COLUMNS)
        sql = f"SELECT {', '.join(names)} FROM json_to_recordset(CAST(:ri AS json)) AS r({typed})"
        payload = [dict(zip(names, row, strict=True)) for row in rows]
    else:
        picks = ", ".join(f"json_extract(value, '$[{i}]') AS {n}" for i, n in enumerate(names))
        sql = f"SELECT {picks} FROM json_each(:ri)"
        payload = [list(row) for row in rows]
    # max points as JSON numbers: exact on PostgreSQL (numeric), REAL like the points on SQLite
    table = text(sql).bindparams(ri=json.dumps(payload, default=float))
    return table.columns(*(column(n, t) for n, t in _INDICATOR_COLUMNS)).cte("ri")


def _source_columns(ri: Any, points: Any, value: Any) -> list[Any]:
    """What a source is reduced to, per applicability class of its indicators: Σ clamped
    points per 四好 dimension and how many were scored (judged and checklist kinds), and
    the rows the sums cannot express — measured indicators (points come from a curve over
    the value) and triggered vetoes — as one ``code|points|value;…`` string."""
    aggregated = and_(points.is_not(None), ri.c.kind == _AGGREGATED)
    clamped = case(
        (points < 0, literal(0)),
        (points > ri.c.max_points, ri.c.max_points),
        else_=points,
    )
    # FILTER rather than CASE inside the sum: rows of other dimensions skip the aggregate.
    sums = [
        func.sum(clamped).filter(and_(aggregated, ri.c.dimension == n))
        for n in range(1, len(DIMENSIONS) + 1)
    ]
    special = case(
        (
            or_(ri.c.kind == _MEASURED, and_(ri.c.kind == _VETO, points > 0)),
            ri.c.code
            + "|"
            + func.coalesce(cast(points, String), "")
            + "|"
            + func.coalesce(cast(value, String), ""),
        ),
        else_=None,
    )
    return [
        ri.c.signature,
        *sums,
        func.count().filter(aggregated),
        func.aggregate_strings(special, ";"),
    ]


class _Sums:
    """A source's points: per applicability class, Σ per dimension and a count; plus the
    measured and veto rows by code (points, value)."""

    __slots__ = ("parts", "special")

    def __init__(self) -> None:
        self.parts: list[tuple[int, tuple[Decimal | None, ...], int]] = []
        self.special: dict[str, tuple[Decimal | None, Decimal | None]] = {}

    def add(self, row: Sequence[Any], at: int, exact: bool) -> None:
        """The columns of :func:`_source_columns` in ``row`` from index ``at``; ``exact``:
        the sums are Decimals already (PostgreSQL numerics; SQLite hands back floats)."""
        n = row[at + 5]
        if n:
            dims = (row[at + 1], row[at + 2], row[at + 3], row[at + 4])
            self.parts.append((row[at], dims if exact else tuple(map(_dec, dims)), n))
        special = row[at + 6]
        if special:
            for entry in special.split(";"):
                code, points, value = entry.split("|")
                # Text of a NUMERIC (PostgreSQL) or of a REAL (SQLite, 15 digits): exact.
                self.special[code] = (
                    Decimal(points) if points else None,
                    Decimal(value) if value else None,
                )


@dataclass
class _VisitRef:
    """A visit that scored a programme: the engine's SiteVisit (no points: the sums
    stand for them) and its month as a key."""

    visit: engine.SiteVisit
    key: int


@dataclass
class _Batch:
    """Every source row a batch of school-months needs, loaded in a fixed number of queries
    (:meth:`load`, in the database worker); :func:`_compute_batch` then only computes."""

    items: Sequence[Item]
    school_ids: list[int]
    months: list[tuple[int, int]]
    lo: int
    hi: int
    version_ids: list[int]
    stand_in: int
    schools: dict[int, SchoolKind] = field(default_factory=dict)
    semesters: dict = field(default_factory=dict)
    satisfaction: dict = field(default_factory=dict)
    complaints: dict[tuple, int] = field(default_factory=dict)
    existing: dict[tuple[int, int, int, str], dict[str, Any]] = field(default_factory=dict)
    assessments: dict[tuple[int, int, int, str], int] = field(default_factory=dict)
    self_sums: dict[tuple[int, int], _Sums] = field(default_factory=dict)
    visits: dict[tuple[int, str], list[_VisitRef]] = field(
        default_factory=lambda: defaultdict(list)
    )
    visit_sums: dict[tuple[int, str, int], _Sums] = field(default_factory=dict)
    exact: bool = False  # sums come back as Decimals (PostgreSQL)
    # raw rows of the two big queries, turned into the dicts above by unpack()
    _self_rows: list[Any] = field(default_factory=list)
    _visit_rows: list[Any] = field(default_factory=list)

    def load(self, catalogue: Catalogue) -> None:
        """The batch's sources: schools, complaints, the stored results, the counted
        self-assessments and — summed in the database — their items and the visits'
        scores. Only fetches: the rows are unpacked by :meth:`unpack`."""
        sids = self.school_ids
        self.exact = db.session.get_bind().dialect.name == "postgresql"
        self.schools = _schools(sids)
        self.complaints = _complaints(sids, self.lo, self.hi)
        known = [item for item in self.items if item[0] in self.schools]
        self.existing = _existing(known) if known else {}
        in_batch = (
            SelfAssessment.school_id.in_(sids),
            _key_of(SelfAssessment).between(self.lo, self.hi),
            counted_assessment(),
        )
        ri = indicator_table(catalogue, self.version_ids)
        if ri is None:
            return
        with hash_plans() if len(self.items) >= HASH_PLANS_FROM else contextlib.nullcontext():
            # An assessment none of whose items the versions know has no sums, as if
            # it had none: its self source is missing either way.
            self._self_rows = db.session.execute(
                select(
                    SelfAssessment.id,
                    ri.c.version_id,
                    SelfAssessment.school_id,
                    SelfAssessment.year,
                    SelfAssessment.month,
                    SelfAssessment.programme,
                )
                .add_columns(
                    *_source_columns(ri, SelfAssessmentItem.points, SelfAssessmentItem.value)
                )
                .join(SelfAssessment, SelfAssessment.id == SelfAssessmentItem.assessment_id)
                .join(
                    ri,
                    and_(
                        ri.c.programme == SelfAssessment.programme,
                        ri.c.code == SelfAssessmentItem.indicator_code,
                    ),
                )
                # The items' own school filter lets the (district, school) index lead.
                .where(SelfAssessmentItem.school_id.in_(sids), *in_batch)
                # the assessment's other columns depend on its id: grouping by it is enough
                .group_by(SelfAssessment.id, ri.c.version_id, ri.c.signature)
            ).all()
            # Every visit that scored a programme is a candidate inspector source, whatever
            # it scored (an outer join: rows the versions in force do not know still count).
            self._visit_rows = db.session.execute(
                select(
                    Visit.id,
                    VisitScore.programme,
                    Visit.school_id,
                    Visit.visited_on,
                    ri.c.version_id,
                )
                .add_columns(*_source_columns(ri, VisitScore.points, VisitScore.value))
                .join(Visit, Visit.id == VisitScore.visit_id)
                .outerjoin(
                    ri,
                    and_(
                        ri.c.programme == VisitScore.programme,
                        ri.c.code == VisitScore.indicator_code,
                    ),
                )
                .where(
                    VisitScore.school_id.in_(sids),
                    Visit.school_id.in_(sids),
                    _key_of(Visit).between(self.lo - self.stand_in, self.hi),
                )
                # school and day depend on the visit's key: grouping by it is enough.
                .group_by(Visit.id, VisitScore.programme, ri.c.version_id, ri.c.signature)
            ).all()

    def unpack(self) -> None:
        """The fetched rows as sums by source (pure Python: runs beside the next fetch)."""
        exact = self.exact
        self_sums = self.self_sums
        assessments = self.assessments
        for r in self._self_rows:
            key = (r[0], r[1])
            sums = self_sums.get(key)
            if sums is None:
                sums = self_sums[key] = _Sums()
                assessments[(r[2], r[3], r[4], r[5])] = r[0]
            sums.add(r, 6, exact)
        seen: dict[int, engine.SiteVisit] = {}
        pairs: set[tuple[int, str]] = set()
        visit_sums = self.visit_sums
        for r in self._visit_rows:
            visit_id, programme, school_id, visited_on = r[0], r[1], r[2], r[3]
            if (visit_id, programme) not in pairs:
                pairs.add((visit_id, programme))
                visit = seen.get(visit_id)
                if visit is None:
                    visit = seen[visit_id] = engine.SiteVisit(visited_on, visit_id=visit_id)
                key = month_key(visited_on.year, visited_on.month)
                self.visits[(school_id, programme)].append(_VisitRef(visit, key))
            if r[4] is not None:
                key = (visit_id, programme, r[4])
                sums = visit_sums.get(key)
                if sums is None:
                    sums = visit_sums[key] = _Sums()
                sums.add(r, 5, exact)
        for refs in self.visits.values():
            refs.sort(key=lambda v: (v.visit.visited_on, v.visit.visit_id))
        self._self_rows, self._visit_rows = [], []


@contextlib.contextmanager
def hash_plans() -> Iterator[None]:
    """Let PostgreSQL plan the batch's aggregations with hash joins, for them only.

    The row-level-security filter reads settings the planner cannot see, so it guesses
    that one row passes and picks nested loops probing an index once per source row —
    about three times slower than hashing over a batch of tens of thousands of rows. The
    previous values are restored afterwards (``set_config(…, true)`` would otherwise last
    until the end of the transaction). No parallel workers: the second core is computing
    the previous batch meanwhile (see :class:`_DatabaseWorker`).
    """
    if db.session.get_bind().dialect.name != "postgresql":
        yield
        return
    before = db.session.execute(
        _PLANNER_SETTINGS, {"loops": "off", "sort": None, "mem": "64MB", "par": "0"}
    ).one()
    try:
        yield
    finally:
        db.session.execute(
            _PLANNER_SETTINGS,
            {"loops": before[0], "sort": before[1], "mem": before[2], "par": before[3]},
        )


# With sorting discouraged the sums are grouped in a hash table (work_mem holds it).
_PLANNER_SETTINGS = text(
    "SELECT current_setting('enable_nestloop'), current_setting('enable_sort'),"
    " current_setting('work_mem'), current_setting('max_parallel_workers_per_gather'),"
    " set_config('enable_nestloop', :loops, true),"
    " set_config('enable_sort', COALESCE(:sort, :loops), true), set_config('work_mem', :mem, true),"
    " set_config('max_parallel_workers_per_gather', :par, true)"
)


# --- from sums to results ----------------------------------------------------------------

_measured_cache: dict[tuple[int, str, Decimal], Decimal] = {}


def _measured(version_id: int, spec: engine.IndicatorSpec, value: Decimal) -> Decimal:
    key = (version_id, spec.code, value)
    points = _measured_cache.get(key)
    if points is None:
        assert spec.curve is not None
        points = engine.measured_points(value, spec.curve, spec.max_points)
        if len(_measured_cache) > 100_000:
            _measured_cache.clear()
        _measured_cache[key] = points
    return points


@dataclass(slots=True)
class SourceResult:
    """One source's score of a programme (the engine's SourceScore, as far as stored)."""

    score: Decimal
    dimensions: tuple[Decimal | None, ...]  # per 四好 dimension in DIMENSIONS order
    complete: bool  # every applicable non-veto indicator scored


def _evaluate(
    sums: _Sums | None,
    version: VersionInfo,
    applicable: Applicable,
    allowed: frozenset[int],
    derived: dict[str, Decimal],
) -> SourceResult | None:
    """Source score (Σ points ÷ Σ max × 100 over applicable indicators); exactly
    :func:`scoring.engine.source_score` after the engine's resolution of measured values
    (own value, else the school's derived value, else points given). ``allowed``: the
    applicability classes that apply to the school."""
    got = [_ZERO, _ZERO, _ZERO, _ZERO]  # per 四好 dimension, in DIMENSIONS order
    count = 0
    special = sums.special if sums is not None else {}
    if sums is not None:
        for signature, dim_sums, n in sums.parts:
            if signature not in allowed:
                continue
            for i, value in enumerate(dim_sums):
                if value:
                    got[i] += value
            count += n
    for spec in applicable.resolved:
        points, value = special.get(spec.code, (None, None))
        if spec.kind == "measured":
            measured = value if value is not None else derived.get(spec.code)
            if measured is not None:
                points = _measured(version.id, spec, measured)
        if points is None:
            continue
        got[_DIMENSION_NUMBER[spec.dimension] - 1] += max(_ZERO, min(spec.max_points, points))
        count += 1
    if count == 0:
        return None
    m0, m1, m2, m3 = applicable.dim_max_tuple
    g0, g1, g2, g3 = got
    return SourceResult(
        (g0 + g1 + g2 + g3) * HUNDRED / applicable.total_max,
        (
            None if m0 is None else g0 * HUNDRED / m0,
            None if m1 is None else g1 * HUNDRED / m1,
            None if m2 is None else g2 * HUNDRED / m2,
            None if m3 is None else g3 * HUNDRED / m3,
        ),
        count == applicable.scorable,
    )


def _triggered(sums: _Sums | None, applicable: Applicable) -> list[str]:
    """The applicable veto (一票否决) indicators a source triggered."""
    if sums is None or not sums.special:
        return []
    special = sums.special
    return [c for c in applicable.vetoes if c in special and engine.veto_triggered(special[c][0])]


def _combined_dimensions(
    self_source: SourceResult | None,
    inspector_source: SourceResult | None,
    rules: engine.ScoringRules,
) -> dict[str, Decimal]:
    """四好 of a programme: self and inspector dimensions by their weights (as the engine:
    weights rescaled over the sources that have the dimension; equal if both are 0)."""
    parts = []
    if self_source is not None:
        parts.append((rules.weight_self, self_source.dimensions))
    if inspector_source is not None:
        parts.append((rules.weight_inspector, inspector_source.dimensions))
    if not parts:
        return {}
    if sum((w for w, _ in parts), _ZERO) == 0:
        parts = [(Decimal(1), d) for _, d in parts]
    out = {}
    for i, dimension in enumerate(DIMENSIONS):
        total = weight = _ZERO
        present = False
        for w, dims in parts:
            value = dims[i]
            if value is not None:
                present = True
                total += w * value
                weight += w
        if present and weight > 0:
            out[dimension] = total / weight
    return out


@dataclass(slots=True)
class _Pending:
    """A programme-month between the source pass and the result pass."""

    school_id: int
    year: int
    month: int
    code: str
    version_id: int
    self_source: SourceResult | None
    inspector_source: SourceResult | None
    picked: engine.PickedVisit | None
    vetoes: list[str]
    satisfaction: Decimal | None
    complaints: int
    assessment_id: int | None
    gap: Decimal | None = None
    needs_detail: bool = False


def _batch_of(items: Sequence[Item], catalogue: Catalogue, rules: engine.ScoringRules) -> _Batch:
    school_ids = sorted({s for s, _, _ in items})
    months = sorted({(y, m) for _, y, m in items})
    version_ids = sorted({v for ym in months for v in catalogue.in_force(*ym).values()})
    return _Batch(
        items=items,
        school_ids=school_ids,
        months=months,
        lo=month_key(*months[0]),
        hi=month_key(*months[-1]),
        version_ids=version_ids,
        stand_in=rules.stand_in_months,
    )


def _pending_of(batch: _Batch, catalogue: Catalogue, rules: engine.ScoringRules) -> list[_Pending]:
    """Source scores, picked visit and vetoes of every programme-month (pure Python)."""
    batch.unpack()
    schools, semesters, satisfaction = batch.schools, batch.semesters, batch.satisfaction
    in_force = {ym: catalogue.in_force(*ym) for ym in batch.months}
    stand_in = rules.stand_in_months
    derived_of: dict[tuple[int, Decimal | None], dict[str, Decimal]] = {}
    pending: list[_Pending] = []
    for school_id, year, month in batch.items:
        school = schools.get(school_id)
        if school is None:
            continue
        key = month_key(year, month)
        semester = semesters.get((year, month))
        sat = (
            satisfaction.get((school_id, semester.school_year, semester.term)) if semester else None
        )
        allowed = catalogue.allowed(school.boarding, school.level)
        for code, version_id in in_force[(year, month)].items():
            if catalogue.programmes[code].boarding_only and not school.boarding:
                continue
            version = catalogue.versions[version_id]
            applicable = version.applicable(school.boarding, school.level)
            dkey = (version_id, school.green_ratio)
            derived = derived_of.get(dkey)
            if derived is None:
                derived = derived_of[dkey] = _derived(version, school)
            assessment_id = batch.assessments.get((school_id, year, month, code))
            self_source, vetoes = None, []
            if assessment_id is not None:
                self_sums = batch.self_sums.get((assessment_id, version_id))
                self_source = _evaluate(self_sums, version, applicable, allowed, derived)
                vetoes = _triggered(self_sums, applicable)
            # The inspector source, as engine.pick_inspector_visit picks it: the month's
            # latest visit, else the latest of the stand-in window (visits are sorted by
            # day, then id: the last one seen is the latest).
            in_month: _VisitRef | None = None
            earlier: _VisitRef | None = None
            month_visits: list[_VisitRef] = []
            for ref in batch.visits.get((school_id, code), ()):
                if ref.key == key:
                    in_month = ref
                    month_visits.append(ref)
                elif key - stand_in <= ref.key < key:
                    earlier = ref
            picked = None
            if in_month is not None:
                picked = engine.PickedVisit(in_month.visit, stand_in=False)
            elif earlier is not None:
                picked = engine.PickedVisit(earlier.visit, stand_in=True)
            inspector_source = None
            if picked is not None:
                inspector_source = _evaluate(
                    batch.visit_sums.get((picked.visit.visit_id, code, version_id)),
                    version,
                    applicable,
                    allowed,
                    derived,
                )
            # A veto belongs to its month: any of the month's visits counts, stand-ins not.
            found = set(vetoes)
            for ref in month_visits:
                found.update(
                    _triggered(
                        batch.visit_sums.get((ref.visit.visit_id, code, version_id)), applicable
                    )
                )
            entry = _Pending(
                school_id=school_id,
                year=year,
                month=month,
                code=code,
                version_id=version_id,
                self_source=self_source,
                inspector_source=inspector_source,
                picked=picked,
                vetoes=[c for c in applicable.vetoes if c in found],
                satisfaction=sat,
                complaints=_complaint_count(batch.complaints, school_id, year, month, code),
                assessment_id=assessment_id,
            )
            if self_source is not None and inspector_source is not None:
                # Inflation compares the indicators both sources scored: with every indicator
                # scored on both sides that is the whole score, otherwise ask the engine.
                entry.needs_detail = not (self_source.complete and inspector_source.complete)
            pending.append(entry)
    return pending


def _results_of_batch(
    batch: _Batch, pending: list[_Pending], rules: engine.ScoringRules
) -> dict[Item, dict[str, dict[str, Any]]]:
    """Results of a batch: {(school, year, month): {programme: row values}} (pure)."""
    out: dict[Item, dict[str, dict[str, Any]]] = {
        item: {} for item in batch.items if item[0] in batch.schools
    }
    by_item: dict[Item, list[_Pending]] = defaultdict(list)
    for p in pending:
        by_item[(p.school_id, p.year, p.month)].append(p)
    totals: dict[Item, int] = defaultdict(int)
    for (school_id, year, month, _programme), n in batch.complaints.items():
        totals[(school_id, year, month)] += n
    for item, entries in by_item.items():
        out[item] = _results_of(entries, rules, totals[item])
    return out


def _r2(value: Decimal) -> Decimal:
    """engine.round2 of a Decimal (half-up to cents), without its type checks."""
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _results_of(
    entries: list[_Pending], rules: engine.ScoringRules, complaints: int
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    scores: dict[str, Decimal | None] = {}
    all_dimensions: list[dict[str, Decimal]] = []
    self_scores, inspector_scores, deductions = [], [], []
    veto = unverified = stand_in = inflated = False
    for p in entries:
        self_source, inspector_source = p.self_source, p.inspector_source
        result = engine.programme_result(
            self_source.score if self_source else None,
            inspector_source.score if inspector_source else None,
            p.satisfaction,
            p.complaints,
            bool(p.vetoes),
            rules,
            stand_in=p.picked.stand_in if p.picked else False,
            inflation_gap=p.gap,
        )
        dimensions = _combined_dimensions(self_source, inspector_source, rules)
        all_dimensions.append(dimensions)
        if result is None:
            scores[p.code] = None
            continue
        scores[p.code] = result.score
        if self_source is not None:
            self_scores.append(self_source.score)
        if inspector_source is not None:
            inspector_scores.append(inspector_source.score)
        deductions.append(result.complaint_deduction)
        veto = veto or result.veto
        unverified = unverified or result.unverified
        stand_in = stand_in or result.stand_in
        inflated = inflated or result.inflated
        rows[p.code] = {
            "score": result.score_rounded,
            "stars": result.stars,
            "self_score": _r2(self_source.score) if self_source else None,
            "inspector_score": _r2(inspector_source.score) if inspector_source else None,
            "satisfaction": _r2(p.satisfaction) if p.satisfaction is not None else None,
            "complaint_deduction": _r2(result.complaint_deduction),
            "verified_complaints": result.verified_complaints,
            "veto": result.veto,
            "unverified": result.unverified,
            "stand_in": result.stand_in,
            "inflation_gap": result.inflation_gap,
            "inflated": result.inflated,
            "dimensions": _stored_dimensions(dimensions),
            "rubric_version_id": p.version_id,
            "visit_id": p.picked.visit.visit_id if p.picked else None,
        }
    overall = engine.overall_result(scores, rules)
    if overall is None:
        return rows
    dimensions = {}
    for dimension in DIMENSIONS:
        values = [d[dimension] for d in all_dimensions if dimension in d]
        if values:
            dimensions[dimension] = sum(values, _ZERO) / len(values)
    self_mean = sum(self_scores, _ZERO) / len(self_scores) if self_scores else None
    inspector_mean = (
        sum(inspector_scores, _ZERO) / len(inspector_scores) if inspector_scores else None
    )
    gap = None
    if self_mean is not None and inspector_mean is not None:
        gap = _r2(self_mean) - _r2(inspector_mean)
    first = entries[0]
    rows[OVERALL] = {
        "score": overall.score_rounded,
        "stars": overall.stars,
        "self_score": _r2(self_mean) if self_mean is not None else None,
        "inspector_score": _r2(inspector_mean) if inspector_mean is not None else None,
        "satisfaction": _r2(first.satisfaction) if first.satisfaction is not None else None,
        "complaint_deduction": _r2(sum(deductions, _ZERO) / len(deductions)),
        "verified_complaints": complaints,
        "veto": veto,
        "unverified": unverified,
        "stand_in": stand_in,
        "inflated": inflated,
        "inflation_gap": gap,
        "dimensions": _stored_dimensions(dimensions),
        "rubric_version_id": None,
        "visit_id": None,
    }
    return rows


def _stored_dimensions(dimensions: dict[str, Decimal]) -> dict[str, str] | None:
    if not dimensions:
        return None
    return {d: str(_r2(v)) for d, v in dimensions.items()}


# --- per-indicator detail: the engine fed every indicator ----------------------------------


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
            self_rows[r[0]][r[1]] = (_dec(r[2]), _dec(r[3], _MILLI))
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
            visit_rows[(r[0], r[1])][r[2]] = (_dec(r[3]), _dec(r[4], _MILLI))
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


def _inflation_from_detail(
    entries: list[_Pending],
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
                        measured=_derived(version, school),
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
    school = _schools([school_id]).get(school_id)
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
            _key_of(Visit).between(key - rules.stand_in_months, key),
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
    complaints = _complaints([school_id], key, key)
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
                measured=_derived(version, school),
                verified_complaints=_complaint_count(complaints, school_id, year, month, code),
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


# --- storing ------------------------------------------------------------------------------


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a stored row already holds these values (Decimals compare by value)."""
    return all(old[name] == new[name] for name in RESULT_FIELDS)


def _existing(items: Sequence[Item]) -> dict[tuple[int, int, int, str], dict[str, Any]]:
    school_ids = sorted({s for s, _, _ in items})
    keys = [month_key(y, m) for _, y, m in items]
    wanted = set(items)
    columns = [getattr(SchoolMonthResult, f) for f in RESULT_FIELDS]
    rows = db.session.execute(
        select(
            SchoolMonthResult.id,
            SchoolMonthResult.school_id,
            SchoolMonthResult.year,
            SchoolMonthResult.month,
            SchoolMonthResult.programme,
            *columns,
        ).where(
            SchoolMonthResult.school_id.in_(school_ids),
            _key_of(SchoolMonthResult).between(min(keys), max(keys)),
        )
    ).all()
    out = {}
    for r in rows:
        if (r.school_id, r.year, r.month) in wanted:
            out[(r.school_id, r.year, r.month, r.programme)] = {
                "id": r.id,
                **{f: getattr(r, f) for f in RESULT_FIELDS},
            }
    return out


def _upsert(rows: list[dict[str, Any]]) -> None:
    """SQLite: one executemany of the table-level (Core) upsert."""
    from sqlalchemy.dialects.sqlite import insert

    stmt = insert(SchoolMonthResult.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(_RESULT_KEY),
        set_={name: stmt.excluded[name] for name in (*RESULT_FIELDS, "computed_at")},
    )
    db.session.execute(stmt, rows)


_RESULT_KEY = ("school_id", "year", "month", "programme")
_UPSERT_COLUMNS = ("district_id", *_RESULT_KEY, "computed_at", *RESULT_FIELDS)


def _upsert_json(payload: str) -> None:
    """PostgreSQL: every row in one statement, sent as one JSON document.

    An executemany binds and sends ~20 parameters per row, which costs more than
    computing the results; ``json_to_recordset`` turns the document back into typed
    rows on the server (Decimals travel as strings, so nothing is rounded on the way).
    """
    bind = db.session.get_bind()
    table = SchoolMonthResult.__table__
    typed = ", ".join(f"{n} {table.c[n].type.compile(bind.dialect)}" for n in _UPSERT_COLUMNS)
    names = ", ".join(_UPSERT_COLUMNS)
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in (*RESULT_FIELDS, "computed_at"))
    statement = text(
        f"INSERT INTO {table.name} ({names}) SELECT {names}"
        f" FROM json_to_recordset(CAST(:rows AS json)) AS r({typed})"
        f" ON CONFLICT ({', '.join(_RESULT_KEY)}) DO UPDATE SET {updates}"
    )
    db.session.execute(statement, {"rows": payload})


def _actor() -> tuple[int | None, str]:
    try:
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            return current_user.id, current_user.display_name
    except (ImportError, RuntimeError):  # pragma: no cover - outside a request
        pass
    return None, "系统重新计算"


@dataclass
class _Writes:
    """What storing a batch writes: the rows that changed, the rows to delete, audit."""

    upserts: list[dict[str, Any]] = field(default_factory=list)
    payload: str | None = None  # the upserts as one JSON document (PostgreSQL)
    deletions: list[int] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


def _plan_writes(
    computed: dict[Item, dict[str, dict[str, Any]]],
    existing: dict[tuple[int, int, int, str], dict[str, Any]],
    district_id: int,
    stats: dict[str, int],
    *,
    as_json: bool,
) -> _Writes:
    """Compare the computed rows with the stored ones (pure: no database)."""
    now = utcnow()
    writes = _Writes()
    changes: list[tuple[tuple[int, int, int, str], Any, Any, Any]] = []
    for (school_id, year, month), programmes in computed.items():
        for code, values in programmes.items():
            key = (school_id, year, month, code)
            old = existing.pop(key, None)
            if old is not None and _same(old, values):
                stats["unchanged"] += 1
                continue
            writes.upserts.append(
                {
                    "district_id": district_id,
                    "school_id": school_id,
                    "year": year,
                    "month": month,
                    "programme": code,
                    "computed_at": now,
                    **values,
                }
            )
            if old is not None and _dec(old["score"]) != values["score"]:
                changes.append((key, old["id"], old["score"], values["score"]))
    for key, old in existing.items():  # rows whose school-month no longer has that result
        writes.deletions.append(old["id"])
        changes.append((key, old["id"], old["score"], None))
    if as_json and writes.upserts:
        writes.payload = json.dumps(writes.upserts, default=str)  # Decimal, datetime as text
    if changes:
        actor_id, actor_name = _actor()
        writes.audit = [
            {
                "district_id": district_id,
                "school_id": key[0],
                "actor_id": actor_id,
                "actor_name": actor_name,
                "action": AUDIT_ACTION,
                "object_type": "SchoolMonthResult",
                "object_id": str(row_id) if row_id is not None else None,
                "before": {
                    "year": key[1],
                    "month": key[2],
                    "programme": key[3],
                    "score": None if before is None else str(_dec(before)),
                },
                "after": {
                    "year": key[1],
                    "month": key[2],
                    "programme": key[3],
                    "score": None if after is None else str(after),
                },
                "created_at": now,
            }
            for key, row_id, before, after in changes
        ]
    stats["written"] += len(writes.upserts)
    stats["deleted"] += len(writes.deletions)
    stats["changed_scores"] += len(changes)
    return writes


def _write(writes: _Writes) -> None:
    """Upsert, delete and audit one batch: at most three statements."""
    if writes.payload is not None:
        _upsert_json(writes.payload)
    elif writes.upserts:
        _upsert(writes.upserts)
    if writes.deletions:
        db.session.execute(
            delete(SchoolMonthResult)
            .where(SchoolMonthResult.id.in_(writes.deletions))
            .execution_options(synchronize_session=False)
        )
    if writes.audit:
        db.session.execute(AuditEntry.__table__.insert(), writes.audit)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the recomputation.

    A batch builds some hundred thousand small objects that live until it is stored, none
    in a reference cycle; the collector would scan them again and again as they pile up
    (about a third of the computing time). Memory stays bounded by the batch size, and
    whatever cycles do form are collected once it is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _DatabaseWorker:
    """Runs the recomputation's database work in order, beside the computing.

    On PostgreSQL the database works while Python computes: one background thread runs
    the queries of the *same* session — same connection, transaction and tenant scope
    (the caller's context is copied into it) — so that the database sums batch n + 1 and
    stores batch n - 1 while the calling thread turns batch n into results. The session is
    never used by both at once: between ``submit`` and ``result`` the caller only
    computes, and every database task goes through this one-thread queue, in order.
    On SQLite (in process, nothing to overlap) a task runs when it is submitted.
    """

    def __init__(self, threaded: bool) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="recompute-db") if threaded else None
        self._interval = sys.getswitchinterval()
        if threaded:
            # The worker needs the GIL for a moment after each reply from the database;
            # by default it may wait 5 ms for the computing thread to hand it over, per
            # query. A shorter interval keeps the database busy (restored on exit).
            sys.setswitchinterval(SWITCH_INTERVAL)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._pool is not None:
            return self._pool.submit(contextvars.copy_context().run, fn, *args)
        done: Future = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as error:  # handed to the caller by result(), as a thread would
            done.set_exception(error)
        return done

    def __enter__(self) -> _DatabaseWorker:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if self._pool is not None:
            # Never leave a query running on the session the caller is about to roll back.
            self._pool.shutdown(wait=True, cancel_futures=kind is not None)
            sys.setswitchinterval(self._interval)


def recompute(items: Iterable[Sequence[int]], progress: Progress | None = None) -> dict[str, Any]:
    """Recompute and store the results of these (school_id, year, month) items.

    Idempotent: rows whose values did not change are left alone, so a second run writes
    nothing. Must run in a district scope; returns counts (stored as the job's result).
    """
    district_id = require_scope().district_id
    if district_id is None:  # pragma: no cover - jobs always run in a district
        raise RuntimeError("recompute needs a district scope")
    unique = sorted({(int(s), int(y), int(m)) for s, y, m in items})
    stats = {
        "school_months": len(unique),
        "results": 0,
        "written": 0,
        "unchanged": 0,
        "deleted": 0,
        "changed_scores": 0,
    }
    if not unique:
        return stats
    rules = scoring_rules()
    catalogue = Catalogue()
    batches = [
        _batch_of(unique[start : start + BATCH_SIZE], catalogue, rules)
        for start in range(0, len(unique), BATCH_SIZE)
    ]
    catalogue.load({v for batch in batches for v in batch.version_ids})
    # One batch has nothing to overlap with (a submission recomputes one school-month).
    postgres = db.session.get_bind().dialect.name == "postgresql"
    # One batch has nothing to overlap with (a submission recomputes one school-month).
    threaded = len(batches) > 1 and postgres
    semesters = _semesters(sorted({(y, m) for _, y, m in unique}), rules)
    done = 0
    with _gc_paused(), _DatabaseWorker(threaded) as worker:
        # Satisfaction is per school and semester: read once for every batch.
        satisfaction = worker.submit(
            satisfaction_by_school, sorted({s for s, _, _ in unique}), semesters.values(), rules
        )
        queue = deque(batches)  # a batch is dropped once computed: two in memory at most
        del batches
        loading = worker.submit(queue[0].load, catalogue)
        stored: list[Future] = []
        while queue:
            batch = queue.popleft()
            loading.result()
            if queue:
                loading = worker.submit(queue[0].load, catalogue)
            batch.semesters, batch.satisfaction = semesters, satisfaction.result()
            with localcontext(_CONTEXT):
                pending = _pending_of(batch, catalogue, rules)
                needing = [p for p in pending if p.needs_detail]
                if needing:
                    worker.submit(
                        _inflation_from_detail, needing, catalogue, batch.schools, rules
                    ).result()
                computed = _results_of_batch(batch, pending, rules)
            stats["results"] += sum(len(v) for v in computed.values())
            writes = _plan_writes(computed, batch.existing, district_id, stats, as_json=postgres)
            stored.append(worker.submit(_write, writes))
            done += len(batch.items)
            if progress is not None:
                progress(done * 100 // len(unique), f"已计算 {done}/{len(unique)} 个学校月度")
        for future in stored:
            future.result()
    db.session.flush()
    return stats


# --- which school-months --------------------------------------------------------------------


def school_months_of_period(year: int, month: int) -> list[Item]:
    """Every school of the current district for one month."""
    Month(year, month)  # validates
    ids = db.session.scalars(select(School.id).order_by(School.id)).all()
    return [(school_id, year, month) for school_id in ids]


def school_months_from(year: int, month: int) -> list[Item]:
    """Every school-month from ``year-month`` on that has source data or a stored result.

    A visit also reaches the months it may stand in for, up to the latest month the
    district has data or a period for (never into an empty future).
    """
    start = month_key(year, month)
    rules = scoring_rules()
    sources = [
        select(SelfAssessment.school_id, SelfAssessment.year, SelfAssessment.month).where(
            _key_of(SelfAssessment) >= start
        ),
        select(Complaint.school_id, Complaint.year, Complaint.month).where(
            _key_of(Complaint) >= start
        ),
        select(SchoolMonthResult.school_id, SchoolMonthResult.year, SchoolMonthResult.month).where(
            _key_of(SchoolMonthResult) >= start
        ),
    ]
    found: set[Item] = set()
    for stmt in sources:
        found.update((r[0], r[1], r[2]) for r in db.session.execute(stmt.distinct()))
    visits = {
        (r[0], r[1], r[2])
        for r in db.session.execute(
            select(Visit.school_id, Visit.year, Visit.month)
            .where(_key_of(Visit) >= start - rules.stand_in_months)
            .distinct()
        )
    }
    period_max = db.session.scalar(select(func.max(_key_of(Period))))
    horizon = max(
        [k for k in (period_max,) if k is not None]
        + [month_key(y, m) for _, y, m in found | visits]
        + [start]
    )
    for school_id, y, m in visits:
        key = month_key(y, m)
        for k in range(key, key + rules.stand_in_months + 1):
            if start <= k <= horizon:
                found.add((school_id, *_ym(k)))
    return sorted(found)


def _ym(key: int) -> tuple[int, int]:
    return key // 12, key % 12 + 1


__all__ = [
    "AUDIT_ACTION",
    "Catalogue",
    "OVERALL",
    "SchoolMonthDetail",
    "counted_assessment",
    "engine_input",
    "month_key",
    "recompute",
    "satisfaction_by_school",
    "school_month_detail",
    "school_months_from",
    "school_months_of_period",
    "scoring_rules",
]
