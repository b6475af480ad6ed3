"""A recomputation of many school-months on PostgreSQL, set-based (part of
:mod:`scoring.results`).

Recomputing a district's year is ~430,000 source rows turned into ~13,000 results. The
batched path of :mod:`scoring.results` sums in the database and computes each result
with the engine in Python; on a two-core server its cost is Python's. Here the same
arithmetic runs where the rows are, in four steps:

1. the small inputs only Python knows — the items, each school's kind and green ratio,
   the versions in force, per version and kind of school the indicators that apply and
   their totals, satisfaction — become temporary tables, analysed so that the planner
   knows their sizes (over inline JSON it guesses 100 rows and hashes the wrong side);
2. the two big sums, each into a temporary table: the items of every counted
   self-assessment (自评) and the scores of every visit in the stand-in window (督查),
   reading only the rows of these schools;
3. one ``INSERT … SELECT`` with data-modifying CTEs picks the visit (or the stand-in),
   scores each source over the applicable indicators (measured ones from their curve,
   vetoes), weighs the sources, deducts complaints, rounds, rates stars, builds the
   overall row, and writes only what changed — with a ``result.change`` audit entry
   for every stored score that moved or vanished;
4. the temporary tables are dropped.

Both cores: when the caller's transaction has written nothing (so that a second
connection sees the same committed rows), a second connection does steps 1–3 for part
of the schools at the same time, without the writing, and hands the rows to store over
as one JSON document; this connection then compares, writes and audits them with the
same SQL (_WRITE) after its own. The two big scans and the arithmetic are the work
that grows with the district; only the write stays on one connection.

What stays in Python, so there is one copy of each rule: which indicators apply to
which kind of school (:func:`scoring.engine.applicable_indicators` through
:meth:`VersionInfo.applicable`), which version is in force, satisfaction, the rules.

The statement is the engine's arithmetic written in SQL, kept equal to it by
``tests/scoring/test_results_db.py`` (every stored field, on random data with vetoes,
stand-ins, measured values, complaints and partial coverage). Numbers: sums of
two-decimal points are exact; divisions run at 30 decimal places (EXACT) and results
are snapped to the engine's SNAP_PLACES, then rounded half up to cents, as
:func:`scoring.engine.round2` does.

One case goes back to the batched path: a programme-month whose self-assessment and
visit both exist but did not score every indicator — its inflation gap compares only
the indicators both scored, which needs the per-indicator detail
(:func:`scoring.result_detail.inflation_from_detail`). The statement leaves those
school-months untouched and returns them.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from district.extensions import db
from scoring import engine
from scoring.engine import DIMENSIONS
from scoring.models import Complaint, SchoolMonthResult, SelfAssessment
from scoring.result_catalogue import (
    KIND_NUMBER,
    Catalogue,
    Item,
    SchoolKind,
    month_key,
)
from scoring.result_sources import HASH_PLANS, PLANNER_SETTINGS
from scoring.result_store import AUDIT_ACTION, RESULT_FIELDS, RESULT_KEY, actor
from tenants.models import utcnow

SQL_FROM = 100  # school-months from which a recomputation runs set-based
SQL_CHUNK = 3000  # school-months per statement at most (bounds memory; ~300 schools' year)
SPLIT_FROM = 300  # school-months from which a second connection computes part of them
MY_SHARE = 0.45  # of the schools, for the connection that also stores the other's rows


# The statement's small inputs: CTE name -> (parameter, columns). Each travels as one
# JSON parameter (Decimals as text: exact) and is read by json_to_recordset.
_INPUTS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "items": ("items", (("s", "int"), ("k", "int"))),
    "sch": ("schools", (("s", "int"), ("sk", "int"), ("boarding", "bool"), ("green", "numeric"))),
    "in_force": (
        "in_force",
        (("k", "int"), ("programme", "text"), ("version_id", "int"), ("boarding_only", "bool")),
    ),
    "kinds": (
        "kinds",
        (
            ("kind_id", "int"),
            ("version_id", "int"),
            ("sk", "int"),
            ("total_max", "numeric"),
            ("scorable", "int"),
            ("green_bits", "int"),
            *((f"m{n}", "numeric") for n in range(1, len(DIMENSIONS) + 1)),
        ),
    ),
    "ak": (
        "indicators",
        (
            ("kind_id", "int"),
            ("sk", "int"),
            ("programme", "text"),
            ("code", "text"),
            ("dim", "int"),
            ("max_points", "numeric"),
            ("kind", "int"),
            ("curved", "bool"),
            ("green_bit", "int"),
            ("xs", "numeric[]"),
            ("ps", "numeric[]"),
        ),
    ),
    "sat": ("satisfaction", (("s", "int"), ("k", "int"), ("value", "numeric"))),
}
# The inputs become temporary tables (dropped at the end), analysed, so that the planner
# knows their sizes: over json_to_recordset it guesses 100 rows, joins the wrong sides
# first and hashes 233,000 rows where it should hash 600.
_TEMPORARY = "recompute_"
_INPUT_TABLES = ",\n".join(
    f"{cte} AS NOT MATERIALIZED (SELECT * FROM {_TEMPORARY}{cte})" for cte in _INPUTS
)

# Derived inputs, also temporary and analysed: each item × programme in force that
# applies to it (pm); its counted self-assessment (sa); the visits of these schools in
# the stand-in window (vis).
_DERIVED = (
    (
        "pm",
        """SELECT row_number() OVER () AS id, i.s, i.k, f.programme, f.version_id, kd.kind_id,
       sch.green
FROM recompute_items i
JOIN recompute_sch sch ON sch.s = i.s
JOIN recompute_in_force f ON f.k = i.k
JOIN recompute_kinds kd ON kd.version_id = f.version_id AND kd.sk = sch.sk
WHERE sch.boarding OR NOT f.boarding_only""",
    ),
    (
        "sa",
        f"""SELECT a.id AS aid, pm.id AS pm_id, pm.kind_id, pm.green
FROM self_assessments a
JOIN recompute_pm pm ON pm.s = a.school_id AND pm.k = a.year * 12 + a.month - 1
       AND pm.programme = a.programme
WHERE a.district_id = :d
  AND (a.status = '{SelfAssessment.SUBMITTED}'
       OR (a.status = '{SelfAssessment.LOCKED}' AND a.submitted_at IS NOT NULL))""",
    ),
    (
        "vis",
        """SELECT v.id, v.school_id AS s, v.year * 12 + v.month - 1 AS k, v.visited_on, sch.sk,
       sch.green
FROM site_visits v JOIN recompute_sch sch ON sch.s = v.school_id
WHERE v.district_id = :d AND v.year * 12 + v.month - 1 BETWEEN :lo AND :hi""",
    ),
)


_PARAMETER_COLUMNS = {param: [n for n, _ in columns] for param, columns in _INPUTS.values()}


def _records(param: str, rows: list[list[Any]]) -> str:
    names = _PARAMETER_COLUMNS[param]
    records = [dict(zip(names, row, strict=True)) for row in rows]
    return json.dumps(records, default=str, separators=(",", ":"))  # Decimals as exact text


def _parameters(
    items: Sequence[Item],
    catalogue: Catalogue,
    schools: dict[int, SchoolKind],
    rules: engine.ScoringRules,
    district_id: int,
) -> dict[str, Any]:
    """The statement's inputs that do not depend on which of the school-months a
    connection computes: the small tables only Python knows, the rules, the actor."""
    school_kind: dict[tuple[bool, str | None], int] = {}
    for school in schools.values():
        school_kind.setdefault((school.boarding, school.level), len(school_kind) + 1)
    months = sorted({(y, m) for _, y, m in items})
    in_force = []
    versions: set[int] = set()
    for y, m in months:
        for programme, version_id in catalogue.in_force(y, m).items():
            versions.add(version_id)
            boarding_only = bool(catalogue.programmes[programme].boarding_only)
            in_force.append([month_key(y, m), programme, version_id, boarding_only])
    kinds, indicators = [], []
    for version_id in sorted(versions):
        version = catalogue.versions[version_id]
        for (boarding, level), sk in school_kind.items():
            kind_id = len(kinds) + 1
            applicable = version.applicable(boarding, level)
            green_bits = 0
            for spec in applicable.specs:
                stored = version.stored_kinds.get(spec.code)
                number = KIND_NUMBER.get(stored or "", 0)
                curve = spec.curve or ()
                dim = DIMENSIONS.index(spec.dimension) + 1
                # a curved measured indicator the school's green ratio can answer (bit j)
                green_bit = 0
                if curve and version.measures.get(spec.code) == "green_ratio":
                    green_bit = 1 << green_bits.bit_count()
                    green_bits |= green_bit
                indicators.append(
                    [
                        kind_id,
                        sk,
                        version.programme,
                        spec.code,
                        dim,
                        str(spec.max_points),
                        number,
                        bool(curve),
                        green_bit,
                        [str(x) for x, _ in curve] or None,
                        [str(p) for _, p in curve] or None,
                    ]
                )
            kinds.append(
                [
                    kind_id,
                    version_id,
                    sk,
                    str(applicable.total_max),
                    applicable.scorable,
                    green_bits,
                ]
                + [None if m is None else str(m) for m in applicable.dim_max_tuple]
            )
    actor_id, actor_name = actor()
    thresholds = list(rules.star_thresholds)
    return {
        "d": district_id,
        "schools": _records(
            "schools",
            [
                [s.id, school_kind[(s.boarding, s.level)], s.boarding, s.green_ratio]
                for s in schools.values()
            ],
        ),
        "in_force": _records("in_force", in_force),
        "kinds": _records("kinds", kinds),
        "indicators": _records("indicators", indicators),
        "stand_in": rules.stand_in_months,
        "w_self": rules.weight_self,
        "w_inspector": rules.weight_inspector,
        "w_satisfaction": rules.weight_satisfaction,
        "deduction": rules.complaint_deduction,
        "cap": rules.complaint_deduction_cap,
        "t5": thresholds[0],
        "t4": thresholds[1],
        "t3": thresholds[2],
        "t2": thresholds[3],
        "gap_threshold": rules.inflation_gap_threshold,
        "now": utcnow(),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": AUDIT_ACTION,
    }


def _for_items(
    shared: dict[str, Any], items: Sequence[Item], schools: dict[int, SchoolKind]
) -> dict[str, Any]:
    """The inputs of one connection's school-months: ``shared`` (see _parameters, the
    same for both connections) with its items, their schools' range and months."""
    keys = [month_key(y, m) for _, y, m in items]
    return {
        **shared,
        "items": _records("items", [[s, month_key(y, m)] for s, y, m in items if s in schools]),
        # the schools' range: the sums skip other schools' rows before joining them
        "first_school": min(s for s, _, _ in items),
        "last_school": max(s for s, _, _ in items),
        "lo": min(keys) - shared["stand_in"],
        "hi": max(keys),
    }


def _satisfaction_records(
    items: Sequence[Item],
    schools: dict[int, SchoolKind],
    satisfaction: dict[tuple[int, int, str], Decimal | None],
    semesters: dict[tuple[int, int], engine.Semester],
) -> str:
    """(school, month) -> the satisfaction of the school's semester, where there is one."""
    keyed = []
    for s, y, m in items:
        semester = semesters.get((y, m))
        value = satisfaction.get((s, semester.school_year, semester.term)) if semester else None
        if value is not None and s in schools:
            keyed.append([s, month_key(y, m), str(value)])
    return _records("satisfaction", keyed)


def recompute_in_sql(
    items: Sequence[Item],
    catalogue: Catalogue,
    schools: dict[int, SchoolKind],
    satisfaction: Callable[[], dict[tuple[int, int, str], Decimal | None]],
    semesters: dict[tuple[int, int], engine.Semester],
    rules: engine.ScoringRules,
    district_id: int,
    stats: dict[str, int],
    elsewhere_ok: bool,
) -> list[Item]:
    """Recompute and store these school-months (sorted by school); adds to ``stats`` and
    returns the school-months left to the Python path (see the module's docstring).

    With ``elsewhere_ok`` (see :func:`sources_unwritten`) and SPLIT_FROM school-months or
    more, a second connection computes part of the schools meanwhile, and this one
    stores its rows after its own.
    """
    mine, theirs = _split(items) if elsewhere_ok else (list(items), [])
    shared = _parameters(items, catalogue, schools, rules, district_id)
    other: Future | None = None
    their_satisfaction: Future[str] = Future()
    if theirs:
        their_params = _for_items(shared, theirs, schools)
        pool = ThreadPoolExecutor(1, thread_name_prefix="recompute-elsewhere")
        other = pool.submit(
            contextvars.copy_context().run,
            _fresh_elsewhere,
            db.engine,
            their_params,
            their_satisfaction,
        )
        pool.shutdown(wait=False)
    try:
        params = _for_items(shared, mine, schools)

        def satisfaction_records() -> str:
            # read here, while the other connection sums (its statement needs it, its
            # sums do not), rather than before anything could start
            by_school = satisfaction()
            their_satisfaction.set_result(
                _satisfaction_records(theirs, schools, by_school, semesters)
            )
            return _satisfaction_records(mine, schools, by_school, semesters)

        _prepare(db.session, params, satisfaction_records)
        left = _count(stats, db.session.execute(_STATEMENT, params).one())
        _drop_temporary()
    finally:
        if not their_satisfaction.done():
            # this connection failed first: the other stops waiting and rolls back
            their_satisfaction.set_exception(RuntimeError("recomputation stopped"))
    if other is not None:
        fresh, their_left = other.result()
        keys = ("d", "items", "now", "actor_id", "actor_name", "action")
        written = db.session.execute(
            _WRITE_FRESH_STATEMENT,
            {**{k: their_params[k] for k in keys}, "fresh": fresh, "left_over": their_left},
        ).one()
        left += _count(stats, written)
    return sorted((s, k // 12, k % 12 + 1) for s, k in left)


def _count(stats: dict[str, int], row: Sequence[Any]) -> list[list[int]]:
    """Add a statement's counts to ``stats``; its left-over (school, month key) pairs."""
    results, written, deleted, audited, left = row
    stats["results"] += results
    stats["written"] += written
    stats["unchanged"] += results - written
    stats["deleted"] += deleted
    stats["changed_scores"] += audited
    return list(left or [])


def _split(items: Sequence[Item]) -> tuple[list[Item], list[Item]]:
    """(this connection's, the other's) school-months, whole schools each.

    This connection does MY_SHARE of the schools: it also stores the other's rows once
    they arrive (inserting is a fifth of the work), so an even split would keep it busy
    while the other idles; 0.45 balanced the two on the benchmark's district.
    """
    school_ids = sorted({s for s, _, _ in items})
    if len(items) < SPLIT_FROM or len(school_ids) < 2:
        return list(items), []
    cut = school_ids[max(1, round(len(school_ids) * MY_SHARE))]
    return [i for i in items if i[0] < cut], [i for i in items if i[0] >= cut]


_N = range(1, len(DIMENSIONS) + 1)
# "Compute in full precision; round half-up to cents at the end" (domain): divisions run
# at 30 decimal places (PostgreSQL's default is ~16-20 significant digits) and a value is
# snapped to the engine's SNAP_PLACES before it is rounded to cents, so that a result
# exactly on a half cent (e.g. 53.125 reached through fourteenths) rounds up, as exact
# arithmetic and scoring.engine.round2 have it.
EXACT = "numeric(1000, 30)"
SNAP = engine.SNAP_PLACES


def _cents(expr: str) -> str:
    """SQL rounding an expression half-up to cents, after the snap (see EXACT)."""
    return f"ROUND(ROUND({expr}, {SNAP}), 2)"


def _interpolated(v: str) -> str:
    """SQL of engine.measured_points before the clamp: piecewise-linear over ak.xs/ak.ps,
    the first points below the first breakpoint, the last above the last."""
    b = f"width_bucket({v}, ak.xs)"
    return (
        f"CASE WHEN {b} = 0 THEN ak.ps[1]"
        f" WHEN {b} >= cardinality(ak.xs) THEN ak.ps[cardinality(ak.ps)]"
        f" ELSE ak.ps[{b}] + CAST(({v} - ak.xs[{b}]) * (ak.ps[{b} + 1] - ak.ps[{b}]) AS {EXACT})"
        f" / (ak.xs[{b} + 1] - ak.xs[{b}]) END"
    )


# A source row's value: its own, else — for a green-ratio indicator — the school's.
_VALUE = "COALESCE(x.value, CASE WHEN ak.green_bit <> 0 THEN src.green END)"
# Judged and checklist rows add their points, measured ones the curve's points over
# their value (else the points given); each clamped to [0, max]. A filter tests the
# dimension first: for three sums out of four nothing else is evaluated.
_MEASURED_COUNTS = f"(x.points IS NOT NULL OR ak.curved AND {_VALUE} IS NOT NULL)"
_COUNTS = f"(ak.kind = 1 AND x.points IS NOT NULL OR ak.kind = 2 AND {_MEASURED_COUNTS})"
_POINTS = (
    f"CASE WHEN ak.kind = 1 OR NOT ak.curved OR {_VALUE} IS NULL THEN x.points"
    f" ELSE {_interpolated(_VALUE)} END"
)
_SUMS = ",\n    ".join(
    f"SUM(LEAST(GREATEST({_POINTS}, 0), ak.max_points))"
    f" FILTER (WHERE ak.dim = {n} AND {_COUNTS}) AS g{n}"
    for n in _N
)
_SOURCE_AGGREGATES = f"""{_SUMS},
    COUNT(*) FILTER (WHERE {_COUNTS}) AS n,
    COALESCE(BOOL_OR(x.points > 0) FILTER (WHERE ak.kind = 3), false) AS veto,
    BIT_OR(ak.green_bit) FILTER (WHERE ak.kind = 2) AS green_present"""
_DERIVED_SUMS = ", ".join(f"SUM(pts) FILTER (WHERE dim = {n}) AS h{n}" for n in _N)
_SOURCE_DIMS = ", ".join(f"COALESCE(s.g{n}, 0) + COALESCE(m.h{n}, 0) AS d{n}" for n in _N)
_SCORED_DIMS = ", ".join(f"CAST(c.d{n} * 100 AS {EXACT}) / kd.m{n} AS s{n}" for n in _N)
_TOTAL = " + ".join(f"c.d{n}" for n in _N)
# 四好 of a programme: self and inspector dimensions by their weights, rescaled over the
# sources that have the dimension (engine: _combined_dimensions; equal if both weigh 0).
_COMBINED = ",\n    ".join(
    f"CAST(COALESCE(p.ews * p.self_s{n}, 0) + COALESCE(p.ewi * p.insp_s{n}, 0) AS {EXACT})"
    f" / NULLIF(COALESCE(CASE WHEN p.self_s{n} IS NOT NULL THEN p.ews END, 0)"
    f" + COALESCE(CASE WHEN p.insp_s{n} IS NOT NULL THEN p.ewi END, 0), 0) AS c{n}"
    for n in _N
)


def _dimensions_json(prefix: str) -> str:
    """The stored 四好 JSON ({dimension: "12.34"}, in DIMENSIONS order; NULL if none)."""
    # Text put together and parsed once (json_build_object then json_strip_nulls would
    # build and parse it twice); the keys and the two-decimal numbers need no escaping.
    pairs = ", ".join(
        f"""'"{d}": "' || {_cents(f"{prefix}{n}")} || '"'"""
        for n, d in zip(_N, DIMENSIONS, strict=True)
    )
    present = " OR ".join(f"{prefix}{n} IS NOT NULL" for n in _N)
    return f"CASE WHEN {present} THEN CAST('{{' || concat_ws(', ', {pairs}) || '}}' AS json) END"


_STARS = """CASE WHEN {x} >= :t5 THEN 5 WHEN {x} >= :t4 THEN 4 WHEN {x} >= :t3 THEN 3
                 WHEN {x} >= :t2 THEN 2 ELSE 1 END"""

_COLUMNS = ", ".join(RESULT_FIELDS)

# The two big sums, each into a temporary table: the items of each counted
# self-assessment (自评), and the scores of every visit of these schools in the window
# per programme and indicator table (督查; a visit that scored a programme is a
# candidate even if the version in force knows none of its codes: the outer join).
_SELF_SUMS = f"""SELECT src.pm_id, {_SOURCE_AGGREGATES}
FROM self_assessment_items x
JOIN {_TEMPORARY}sa src ON src.aid = x.assessment_id
JOIN {_TEMPORARY}ak ak ON ak.kind_id = src.kind_id AND ak.code = x.indicator_code
WHERE x.district_id = :d AND x.school_id BETWEEN :first_school AND :last_school
GROUP BY src.pm_id"""
_VISIT_SUMS = f"""SELECT x.visit_id, x.programme, ak.kind_id, {_SOURCE_AGGREGATES}
FROM visit_scores x
JOIN {_TEMPORARY}vis src ON src.id = x.visit_id
LEFT JOIN {_TEMPORARY}ak ak ON ak.sk = src.sk AND ak.programme = x.programme
                         AND ak.code = x.indicator_code
WHERE x.district_id = :d AND x.school_id BETWEEN :first_school AND :last_school
GROUP BY x.visit_id, x.programme, ak.kind_id"""
_INPUTS_BUT_SATISFACTION = tuple(n for n in _INPUTS if n != "sat")
_DERIVED_NAMES = tuple(n for n, _ in _DERIVED)
_SUMS_OF = {"self_sums": _SELF_SUMS, "visit_sums": _VISIT_SUMS}
_TABLES = (*_INPUTS, *_DERIVED_NAMES, *_SUMS_OF)
# What the planner needs to know of each temporary table: its size and its keys'
# distinct values. ANALYZE reads only these columns (all thirteen of a sums table cost
# ~70 ms, mostly the numerics' statistics, for estimates nothing uses).
_KEYS = {
    "items": "s, k",
    "sch": "s, sk",
    "in_force": "k, version_id",
    "kinds": "kind_id, version_id, sk",
    "ak": "kind_id, sk, programme, code",
    "sat": "s, k",
    "pm": "id, s, k, programme, kind_id",
    "sa": "aid, pm_id",
    "vis": "id, s, k",
    "self_sums": "pm_id",
    "visit_sums": "visit_id, programme, kind_id",
}


def _sum(session: Session, params: dict[str, Any], name: str) -> None:
    """One of the two big sums into its temporary table (see _SELF_SUMS, _VISIT_SUMS)."""
    session.execute(text(f"CREATE TEMPORARY TABLE {_TEMPORARY}{name} AS {_SUMS_OF[name]}"), params)


def _prepare(session: Session, params: dict[str, Any], satisfaction: Callable[[], str]) -> None:
    """A connection's temporary tables: the inputs, then the two big sums (satisfaction,
    as records, is asked for between them)."""
    _fill_temporary(session, params, _INPUTS_BUT_SATISFACTION, _DERIVED_NAMES)
    _sum(session, params, "self_sums")
    params["satisfaction"] = satisfaction()
    _fill_temporary(session, params, ("sat",), ())
    _sum(session, params, "visit_sums")
    _analyze(session, ("self_sums", "visit_sums"))


def _analyze(session: Session, names: Sequence[str]) -> None:
    session.execute(text("ANALYZE " + ", ".join(f"{_TEMPORARY}{n} ({_KEYS[n]})" for n in names)))


def _fill_temporary(
    session: Session, params: dict[str, Any], inputs: Sequence[str], derived: Sequence[str]
) -> None:
    """Create and analyse these inputs (CTE names of _INPUTS) and derived tables."""
    for cte in inputs:
        param, columns = _INPUTS[cte]
        _insert_records(session, cte, columns, params[param])
    for name, statement in _DERIVED:
        if name in derived:
            session.execute(
                text(f"CREATE TEMPORARY TABLE {_TEMPORARY}{name} AS {statement}"), params
            )
    _analyze(session, (*inputs, *derived))


def _insert_records(
    session: Session, name: str, columns: Sequence[tuple[str, str]], records: str
) -> None:
    typed = ", ".join(f"{n} {t}" for n, t in columns)
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE {_TEMPORARY}{name} AS"
            f" SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS r({typed})"
        ),
        {"rows": records},
    )


def _fresh_elsewhere(
    engine: Engine, params: dict[str, Any], satisfaction: Future[str]
) -> tuple[str, str]:
    """The other connection's schools computed, as JSON documents (the rows to store and
    the left-over school-months) for _WRITE_FRESH_STATEMENT.

    Runs in a thread beside this connection's own schools, so that the recomputation
    uses both cores. Only called when the caller's transaction has written nothing: a
    second connection then sees exactly what it sees (committed rows). The tenant scope
    comes with the copied context (RLS settings on begin); the temporary tables vanish
    with the rolled-back transaction.
    """
    with Session(bind=engine) as other:
        other.execute(PLANNER_SETTINGS, HASH_PLANS)
        _prepare(other, params, satisfaction.result)  # read by the caller meanwhile
        fresh, left = other.execute(_FRESH_STATEMENT, params).one()
        other.rollback()
    return fresh, left


def sources_unwritten() -> bool:
    """Whether the caller's transaction has written nothing yet (no transaction id): then a
    second connection sees the same source rows. Asked before a recomputation writes."""
    return not db.session.execute(
        text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
    ).scalar()


def _drop_temporary() -> None:
    db.session.execute(text(f"DROP TABLE {', '.join(_TEMPORARY + n for n in _TABLES)}"))


# What a set of school-months computes: every CTE up to ``fresh`` (the rows to store)
# and ``left_over`` (the school-months left to the batches).
_COMPUTE = f"""
{_INPUT_TABLES},
-- the programme-months to score (pm), their counted self-assessments (sa) and the
-- visits in the window (vis): temporary tables, see _DERIVED
pm AS NOT MATERIALIZED (SELECT * FROM recompute_pm),
sa AS NOT MATERIALIZED (SELECT * FROM recompute_sa),
vis AS NOT MATERIALIZED (SELECT * FROM recompute_vis),
-- 自评 and 督查 summed per source (temporary tables, see _SUMS_OF)
self_sums AS NOT MATERIALIZED (SELECT * FROM recompute_self_sums),
visit_sums AS NOT MATERIALIZED (SELECT * FROM recompute_visit_sums),
candidates AS (
  SELECT DISTINCT vs.visit_id, vs.programme, vis.s, vis.k, vis.visited_on
  FROM visit_sums vs JOIN vis ON vis.id = vs.visit_id
),
-- the month's latest visit, else the latest of the stand-in window (代评)
picked AS MATERIALIZED (
  SELECT DISTINCT ON (pm.id) pm.id AS pm_id, c.visit_id, c.k <> pm.k AS stand_in
  FROM pm JOIN candidates c ON c.s = pm.s AND c.programme = pm.programme
                           AND c.k BETWEEN pm.k - :stand_in AND pm.k
  ORDER BY pm.id, c.k = pm.k DESC, c.visited_on DESC, c.visit_id DESC
),
-- a veto belongs to its month: any of the month's visits counts, stand-ins not
month_veto AS (
  SELECT pm.id AS pm_id, BOOL_OR(vs.veto) AS veto
  FROM pm
  JOIN vis ON vis.s = pm.s AND vis.k = pm.k
  JOIN visit_sums vs ON vs.visit_id = vis.id AND vs.programme = pm.programme
                    AND vs.kind_id = pm.kind_id
  GROUP BY pm.id
),
sources AS MATERIALIZED (
  SELECT sa.pm_id, 1 AS source, {", ".join(f"ss.g{n}" for n in _N)}, ss.n, ss.veto,
         ss.green_present
  FROM sa LEFT JOIN self_sums ss ON ss.pm_id = sa.pm_id
  UNION ALL
  SELECT p.pm_id, 2, {", ".join(f"vs.g{n}" for n in _N)}, vs.n, false, vs.green_present
  FROM picked p
  JOIN pm ON pm.id = p.pm_id
  LEFT JOIN visit_sums vs ON vs.visit_id = p.visit_id AND vs.programme = pm.programme
                         AND vs.kind_id = pm.kind_id
),
-- a green-ratio indicator the source did not answer still counts, from the school's
-- green ratio (engine: the measured value the data supplies)
derived AS (
  SELECT s.pm_id, s.source, ak.dim,
         LEAST(GREATEST({_interpolated("pm.green")}, 0), ak.max_points) AS pts
  FROM sources s
  JOIN pm ON pm.id = s.pm_id
  JOIN ak ON ak.kind_id = pm.kind_id AND ak.green_bit <> 0
  WHERE pm.green IS NOT NULL AND COALESCE(s.green_present, 0) & ak.green_bit = 0
),
derived_sums AS (
  SELECT pm_id, source, {_DERIVED_SUMS}, COUNT(*) AS mn
  FROM derived GROUP BY pm_id, source
),
counted AS (
  SELECT s.pm_id, s.source, {_SOURCE_DIMS},
         COALESCE(s.n, 0) + COALESCE(m.mn, 0) AS cnt
  FROM sources s LEFT JOIN derived_sums m ON m.pm_id = s.pm_id AND m.source = s.source
),
-- source scores: Σ points ÷ Σ max × 100 over the applicable indicators (engine.source_score)
scored AS MATERIALIZED (
  SELECT c.pm_id, c.source, CAST(({_TOTAL}) * 100 AS {EXACT}) / kd.total_max AS score, {
    _SCORED_DIMS
},
         c.cnt = kd.scorable AS complete
  FROM counted c JOIN pm ON pm.id = c.pm_id JOIN kinds kd ON kd.kind_id = pm.kind_id
  WHERE c.cnt > 0
),
complaint_counts AS (
  SELECT c.school_id AS s, c.year * 12 + c.month - 1 AS k, NULLIF(c.programme, '') AS programme,
         COUNT(*) AS n
  FROM complaints c JOIN items i ON i.s = c.school_id AND i.k = c.year * 12 + c.month - 1
  WHERE c.district_id = :d AND c.status = '{Complaint.VERIFIED}'
  GROUP BY 1, 2, 3
),
complaint_totals AS (
  SELECT s, k, SUM(n) AS total, SUM(n) FILTER (WHERE programme IS NULL) AS generic
  FROM complaint_counts GROUP BY s, k
),
inputs AS (
  SELECT pm.id, pm.s, pm.k, pm.programme, pm.version_id,
         s1.score AS self, s2.score AS insp,
         {", ".join(f"s1.s{n} AS self_s{n}, s2.s{n} AS insp_s{n}" for n in _N)},
         s1.complete AS self_complete, s2.complete AS insp_complete,
         sat.value AS sat, p.visit_id, COALESCE(p.stand_in, false) AS picked_stand_in,
         COALESCE(s1v.veto, false) OR COALESCE(mv.veto, false) AS veto,
         (COALESCE(ct.generic, 0) + COALESCE(cp.n, 0))::int AS complaints,
         COALESCE(ct.total, 0)::int AS all_complaints
  FROM pm
  LEFT JOIN scored s1 ON s1.pm_id = pm.id AND s1.source = 1
  LEFT JOIN scored s2 ON s2.pm_id = pm.id AND s2.source = 2
  LEFT JOIN sat ON sat.s = pm.s AND sat.k = pm.k
  LEFT JOIN picked p ON p.pm_id = pm.id
  LEFT JOIN sources s1v ON s1v.pm_id = pm.id AND s1v.source = 1
  LEFT JOIN month_veto mv ON mv.pm_id = pm.id
  LEFT JOIN complaint_totals ct ON ct.s = pm.s AND ct.k = pm.k
  LEFT JOIN complaint_counts cp ON cp.s = pm.s AND cp.k = pm.k AND cp.programme = pm.programme
),
-- the weights of the sources present (engine.programme_result)
weighed AS (
  SELECT i.*,
         CASE WHEN i.self IS NOT NULL AND :w_self > 0 THEN :w_self ELSE 0 END AS ws,
         CASE WHEN i.insp IS NOT NULL AND :w_inspector > 0 THEN :w_inspector ELSE 0 END AS wi,
         CASE WHEN i.sat IS NOT NULL AND :w_satisfaction > 0 THEN :w_satisfaction ELSE 0 END
           AS wsat,
         LEAST(:deduction * i.complaints, :cap) AS deduction,
         CASE WHEN (CASE WHEN i.self IS NOT NULL THEN :w_self ELSE 0 END)
                 + (CASE WHEN i.insp IS NOT NULL THEN :w_inspector ELSE 0 END) = 0
              THEN 1 END AS equal
  FROM inputs i
),
programmes AS MATERIALIZED (
  SELECT p.*,
         CASE WHEN p.veto OR p.ws + p.wi + p.wsat = 0 THEN 0
              ELSE LEAST(GREATEST(
                CAST(p.ws * COALESCE(p.self, 0) + p.wi * COALESCE(p.insp, 0)
                     + p.wsat * COALESCE(p.sat, 0) AS {EXACT}) / (p.ws + p.wi + p.wsat)
                - p.deduction, 0), 100)
         END AS full_score,
         CASE WHEN p.self IS NOT NULL AND p.insp IS NOT NULL
              THEN {_cents("p.self")} - {_cents("p.insp")} END AS gap,
         {_COMBINED}
  FROM (SELECT w.*,
               CASE WHEN w.self IS NOT NULL THEN COALESCE(w.equal, :w_self) END AS ews,
               CASE WHEN w.insp IS NOT NULL THEN COALESCE(w.equal, :w_inspector) END AS ewi
        FROM weighed w) p
  WHERE p.veto OR p.ws + p.wi + p.wsat > 0
),
-- school-months the Python path must do: a source left indicators unscored while the
-- other source exists (the inflation gap compares only what both scored)
left_over AS MATERIALIZED (
  SELECT DISTINCT s, k FROM inputs
  WHERE self IS NOT NULL AND insp IS NOT NULL AND NOT (self_complete AND insp_complete)
),
fresh AS MATERIALIZED (
  SELECT r.s, r.k, r.programme, r.score, {_STARS.format(x="r.score")} AS stars,
         r.self_score, r.inspector_score, r.satisfaction, r.complaint_deduction,
         r.verified_complaints, r.veto, r.unverified, r.stand_in, r.inflation_gap,
         COALESCE(r.inflation_gap > :gap_threshold, false) AS inflated, r.dimensions,
         r.rubric_version_id, r.visit_id
  FROM (
    SELECT p.s, p.k, p.programme,
           {_cents("p.full_score")} AS score,
           {_cents("p.self")} AS self_score, {_cents("p.insp")} AS inspector_score,
           {_cents("p.sat")} AS satisfaction, {_cents("p.deduction")} AS complaint_deduction,
           p.complaints AS verified_complaints, p.veto, p.insp IS NULL AS unverified,
           p.picked_stand_in AND p.insp IS NOT NULL AS stand_in, p.gap AS inflation_gap,
           {_dimensions_json("p.c")} AS dimensions,
           p.version_id AS rubric_version_id, p.visit_id
    FROM programmes p
    WHERE NOT EXISTS (SELECT 1 FROM left_over l WHERE l.s = p.s AND l.k = p.k)
    OFFSET 0  -- each rounding once: not pulled up into the stars' comparisons
  ) r
  UNION ALL
  -- 总分: the plain mean of the programmes' results (engine.overall_result)
  SELECT o.s, o.k, 'overall', o.score, {_STARS.format(x="o.score")}, o.self, o.insp,
         o.sat, o.deduction, o.complaints, o.veto, o.unverified, o.stand_in,
         o.self - o.insp, o.inflated, {_dimensions_json("o.c")}, NULL::int, NULL::int
  FROM (
    SELECT p.s, p.k, {_cents("AVG(p.full_score)")} AS score, {_cents("AVG(p.self)")} AS self,
           {_cents("AVG(p.insp)")} AS insp, {_cents("MAX(p.sat)")} AS sat,
           {_cents("AVG(p.deduction)")} AS deduction,
           MAX(p.all_complaints) AS complaints,
           BOOL_OR(p.veto) AS veto, BOOL_OR(p.insp IS NULL) AS unverified,
           BOOL_OR(p.picked_stand_in AND p.insp IS NOT NULL) AS stand_in,
           BOOL_OR(COALESCE(p.gap > :gap_threshold, false)) AS inflated,
           {", ".join(f"AVG(p.c{n}) AS c{n}" for n in _N)}
    FROM programmes p
    WHERE NOT EXISTS (SELECT 1 FROM left_over l WHERE l.s = p.s AND l.k = p.k)
    GROUP BY p.s, p.k
  ) o
)"""
# What storing them does, given ``items``, ``left_over`` and ``fresh``: compare with what
# is stored, upsert what changed, delete what has no result any more, audit moved scores.
_WRITE = f"""
stored AS MATERIALIZED (
  SELECT r.id, r.school_id AS s, r.year * 12 + r.month - 1 AS k, r.programme, r.score,
         r.stars, r.self_score, r.inspector_score, r.satisfaction, r.complaint_deduction,
         r.verified_complaints, r.veto, r.unverified, r.stand_in, r.inflation_gap,
         r.inflated, NULLIF(r.dimensions::jsonb, 'null') AS dimensions,
         r.rubric_version_id, r.visit_id  -- a JSON null (the ORM's None) is no 四好
  FROM school_month_results r
  JOIN items i ON i.s = r.school_id AND i.k = r.year * 12 + r.month - 1
  WHERE r.district_id = :d
    AND NOT EXISTS (SELECT 1 FROM left_over l WHERE l.s = i.s AND l.k = i.k)
),
changed AS MATERIALIZED (
  SELECT f.*, o.id AS old_id, o.score AS old_score
  FROM fresh f
  LEFT JOIN stored o ON o.s = f.s AND o.k = f.k AND o.programme = f.programme
  WHERE o.id IS NULL
     OR ({", ".join(f"o.{c}" for c in RESULT_FIELDS)})
        IS DISTINCT FROM ({
    ", ".join("f.dimensions::jsonb" if c == "dimensions" else f"f.{c}" for c in RESULT_FIELDS)
})
),
written AS (
  INSERT INTO school_month_results
    (district_id, school_id, year, month, programme, computed_at, {_COLUMNS})
  SELECT CAST(:d AS int), s, k / 12, k % 12 + 1, programme, CAST(:now AS timestamp),
         {_COLUMNS} FROM changed
  ON CONFLICT ({", ".join(RESULT_KEY)}) DO UPDATE SET
    {", ".join(f"{c} = EXCLUDED.{c}" for c in (*RESULT_FIELDS, "computed_at"))}
  RETURNING 1
),
gone AS (
  -- by primary key: a cold recomputation has nothing stored and deletes nothing
  DELETE FROM school_month_results r
  WHERE r.id = ANY(ARRAY(
    SELECT o.id FROM stored o
    WHERE NOT EXISTS (SELECT 1 FROM fresh f
                      WHERE f.s = o.s AND f.k = o.k AND f.programme = o.programme)))
  RETURNING r.id, r.school_id AS s, r.year * 12 + r.month - 1 AS k, r.programme, r.score
),
moved AS (
  SELECT old_id AS id, s, k, programme, old_score, score FROM changed
  WHERE old_id IS NOT NULL AND old_score <> score
  UNION ALL
  SELECT id, s, k, programme, score, NULL FROM gone
),
audited AS (
  INSERT INTO audit_entries (district_id, school_id, actor_id, actor_name, action,
                             object_type, object_id, before, after, created_at)
  SELECT CAST(:d AS int), s, CAST(:actor_id AS int), CAST(:actor_name AS varchar),
         CAST(:action AS varchar), 'SchoolMonthResult', id::text,
         json_build_object('year', k / 12, 'month', k % 12 + 1, 'programme', programme,
                           'score', old_score::text),
         json_build_object('year', k / 12, 'month', k % 12 + 1, 'programme', programme,
                           'score', score::text),
         CAST(:now AS timestamp)
  FROM moved
  RETURNING 1
)
SELECT (SELECT COUNT(*) FROM fresh)::int, (SELECT COUNT(*) FROM written)::int,
       (SELECT COUNT(*) FROM gone)::int, (SELECT COUNT(*) FROM audited)::int,
       (SELECT json_agg(json_build_array(s, k)) FROM left_over)
"""
_STATEMENT = text(f"WITH {_COMPUTE},\n{_WRITE}")
# The other connection's part: compute only, and hand the rows over as JSON documents.
_FRESH_STATEMENT = text(
    f"""WITH {_COMPUTE}
SELECT (SELECT COALESCE(json_agg(f), '[]') FROM fresh f)::text,
       (SELECT COALESCE(json_agg(json_build_array(s, k)), '[]') FROM left_over)::text"""
)
# (s, k, programme and the stored fields, typed as the table has them)
_FRESH_COLUMNS = (
    ("s", "int"),
    ("k", "int"),
    ("programme", "text"),
    *(
        (name, SchoolMonthResult.__table__.c[name].type.compile(dialect=postgresql.dialect()))
        for name in RESULT_FIELDS
    ),
)
# This connection stores them: the same _WRITE over the rows the other one computed.
_WRITE_FRESH_STATEMENT = text(
    f"""WITH
items AS (SELECT * FROM json_to_recordset(CAST(:items AS json)) AS r(s int, k int)),
left_over AS MATERIALIZED (
  SELECT (e ->> 0)::int AS s, (e ->> 1)::int AS k
  FROM json_array_elements(CAST(:left_over AS json)) e
),
fresh AS MATERIALIZED (
  SELECT * FROM json_to_recordset(CAST(:fresh AS json))
    AS r({", ".join(f"{n} {t}" for n, t in _FRESH_COLUMNS)})
),
{_WRITE}"""
)
