"""The sources of a batch of school-months, reduced in the database: self-assessment
items and visit scores summed per source, 四好 dimension and applicability class
(part of :mod:`scoring.results`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    text,
)

from district.extensions import db
from scoring import engine
from scoring.engine import DIMENSIONS
from scoring.models import (
    RubricIndicator,
    SelfAssessment,
    SelfAssessmentItem,
    VisitScore,
)
from scoring.models import SiteVisit as Visit
from scoring.result_catalogue import (
    AGGREGATED,
    MEASURED,
    VETO,
    Catalogue,
    Item,
    SchoolKind,
    as_decimal,
    counted_assessment,
    key_of,
    month_key,
    satisfaction_by_school,
    school_kinds,
    semesters_of,
    verified_complaints,
)
from scoring.result_store import stored_results

HASH_PLANS_FROM = 100  # school-months from which hash joins beat index probes


_INDICATOR_COLUMNS = (
    ("version_id", Integer()),
    ("programme", String()),
    ("code", String()),
    ("dimension", Integer()),
    ("max_points", RubricIndicator.max_points.type),
    ("signature", Integer()),
    ("kind", Integer()),
)


# SQLite cannot hash a join: there the indicators go into a per-connection temporary
# table with an index (its own metadata: never created by migrations or create_all).
_TEMPORARY = MetaData()
_SQLITE_TABLE = Table(
    "recompute_indicators",
    _TEMPORARY,
    *(Column(name, type_) for name, type_ in _INDICATOR_COLUMNS),
    Index("ix_recompute_indicators", "programme", "code"),
    prefixes=["TEMPORARY"],
)


def indicator_table(catalogue: Catalogue, version_ids: Iterable[int]) -> Any:
    """The indicators of these versions as a small inline table ``ri``.

    Joining the source rows to it rather than to ``rubric_indicators`` lets the database
    hash a few dozen rows carrying exactly what the sums need — dimension and kind as
    numbers, the applicability class as one number — instead of comparing strings and
    grouping by a JSON list of levels for every source row. On PostgreSQL the rows travel
    as one JSON parameter of a CTE, so the statement's text (and SQLAlchemy's compiled
    form of it) is the same for every batch; on SQLite they fill an indexed temporary
    table, which its nested loops can search.
    """
    rows = [row for v in version_ids for row in catalogue.versions[v].table]
    if not rows:
        return None
    names = [name for name, _ in _INDICATOR_COLUMNS]
    dialect = db.session.get_bind().dialect
    if dialect.name != "postgresql":
        _SQLITE_TABLE.create(db.session.connection(), checkfirst=True)
        db.session.execute(_SQLITE_TABLE.delete())
        db.session.execute(_SQLITE_TABLE.insert(), [dict(zip(names, r, strict=True)) for r in rows])
        return _SQLITE_TABLE.alias("ri")
    typed = ", ".join(f"{n} {t.compile(dialect)}" for n, t in _INDICATOR_COLUMNS)
    sql = f"SELECT {', '.join(names)} FROM json_to_recordset(CAST(:ri AS json)) AS r({typed})"
    payload = [dict(zip(names, row, strict=True)) for row in rows]
    # max points as JSON numbers: exact in a numeric
    table = text(sql).bindparams(ri=json.dumps(payload, default=float))
    return table.columns(*(column(n, t) for n, t in _INDICATOR_COLUMNS)).cte("ri")


def _source_columns(ri: Any, points: Any, value: Any) -> list[Any]:
    """What a source is reduced to, per applicability class of its indicators: Σ clamped
    points per 四好 dimension and how many were scored (judged and checklist kinds), and
    the rows the sums cannot express — measured indicators (points come from a curve over
    the value) and triggered vetoes — as one ``code|points|value;…`` string."""
    aggregated = and_(points.is_not(None), ri.c.kind == AGGREGATED)
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
            or_(ri.c.kind == MEASURED, and_(ri.c.kind == VETO, points > 0)),
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


class Sums:
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
            self.parts.append((row[at], dims if exact else tuple(map(as_decimal, dims)), n))
        special = row[at + 6]
        if special:
            for entry in special.split(";"):
                code, points, value = entry.split("|")
                # Text of a NUMERIC (PostgreSQL) or of a REAL (SQLite, 15 digits): exact.
                self.special[code] = (
                    Decimal(points) if points else None,
                    Decimal(value) if value else None,
                )


def load_shared(
    batches: Sequence[Batch], rules: engine.ScoringRules
) -> dict[tuple[int, int, str], Decimal | None]:
    """What every batch needs and is small: the schools' kinds and verified complaints,
    given to each batch; returns the satisfaction of every school and semester."""
    school_ids = sorted({s for batch in batches for s in batch.school_ids})
    schools = school_kinds(school_ids)
    lo, hi = min(b.lo for b in batches), max(b.hi for b in batches)
    complaints = verified_complaints(school_ids, lo, hi)
    for batch in batches:
        batch.schools = {s: schools[s] for s in batch.school_ids if s in schools}
        wanted = set(batch.items)
        batch.complaints = {k: n for k, n in complaints.items() if k[:3] in wanted}
    months = sorted({(y, m) for batch in batches for _, y, m in batch.items})
    return satisfaction_by_school(school_ids, semesters_of(months, rules).values(), rules)


@dataclass
class VisitRef:
    """A visit that scored a programme: the engine's SiteVisit (no points: the sums
    stand for them) and its month as a key."""

    visit: engine.SiteVisit
    key: int


@dataclass
class Batch:
    """Every source row a batch of school-months needs, loaded in a fixed number of queries
    (:meth:`load`, in the database worker); :mod:`scoring.results` then only computes."""

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
    self_sums: dict[tuple[int, int], Sums] = field(default_factory=dict)
    visits: dict[tuple[int, str], list[VisitRef]] = field(default_factory=lambda: defaultdict(list))
    visit_sums: dict[tuple[int, str, int], Sums] = field(default_factory=dict)
    exact: bool = False  # sums come back as Decimals (PostgreSQL)
    # raw rows of the two big queries, turned into the dicts above by unpack()
    _self_rows: list[Any] = field(default_factory=list)
    _visit_rows: list[Any] = field(default_factory=list)

    def load(self, catalogue: Catalogue) -> None:
        """The batch's sources: the stored results, the counted self-assessments and —
        summed in the database — their items and the visits' scores (schools,
        complaints and satisfaction come from :func:`load_shared`). Only fetches: the
        rows are unpacked by :meth:`unpack`."""
        sids = self.school_ids
        self.exact = db.session.get_bind().dialect.name == "postgresql"
        known = [item for item in self.items if item[0] in self.schools]
        self.existing = stored_results(known) if known else {}
        in_batch = (
            SelfAssessment.school_id.in_(sids),
            key_of(SelfAssessment).between(self.lo, self.hi),
            counted_assessment(),
        )
        ri = indicator_table(catalogue, self.version_ids)
        if ri is None:
            return
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
            .add_columns(*_source_columns(ri, SelfAssessmentItem.points, SelfAssessmentItem.value))
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
                key_of(Visit).between(self.lo - self.stand_in, self.hi),
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
                sums = self_sums[key] = Sums()
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
                self.visits[(school_id, programme)].append(VisitRef(visit, key))
            if r[4] is not None:
                key = (visit_id, programme, r[4])
                sums = visit_sums.get(key)
                if sums is None:
                    sums = visit_sums[key] = Sums()
                sums.add(r, 5, exact)
        for refs in self.visits.values():
            refs.sort(key=lambda v: (v.visit.visited_on, v.visit.visit_id))
        self._self_rows, self._visit_rows = [], []


def use_hash_plans() -> tuple[str, ...] | None:
    """Let PostgreSQL plan the recomputation's aggregations with hash joins; returns the
    settings to give back to :func:`restore_plans` (None elsewhere than PostgreSQL).

    The row-level-security filter reads settings the planner cannot see, so it guesses
    that one row passes and picks nested loops probing an index once per source row —
    about three times slower than hashing over a batch of tens of thousands of rows.
    ``set_config(…, true)`` would otherwise last until the end of the transaction, hence
    the restore. No parallel workers: the second core is computing the previous batch
    meanwhile (see scoring.results._DatabaseWorker).
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    before = db.session.execute(PLANNER_SETTINGS, HASH_PLANS).one()
    return tuple(before[:5])


def restore_plans(before: tuple[str, ...] | None) -> None:
    if before is not None:
        loops, sort, mem, par, jit = before
        db.session.execute(
            PLANNER_SETTINGS, {"loops": loops, "sort": sort, "mem": mem, "par": par, "jit": jit}
        )


# With sorting discouraged the sums are grouped in a hash table (work_mem holds it); no
# JIT: the discouraged plans' costs would make PostgreSQL compile the statement (seconds).
HASH_PLANS = {"loops": "off", "sort": None, "mem": "64MB", "par": "0", "jit": "off"}
PLANNER_SETTINGS = text(
    "SELECT current_setting('enable_nestloop'), current_setting('enable_sort'),"
    " current_setting('work_mem'), current_setting('max_parallel_workers_per_gather'),"
    " current_setting('jit'),"
    " set_config('enable_nestloop', :loops, true),"
    " set_config('enable_sort', COALESCE(:sort, :loops), true), set_config('work_mem', :mem, true),"
    " set_config('max_parallel_workers_per_gather', :par, true), set_config('jit', :jit, true)"
)
