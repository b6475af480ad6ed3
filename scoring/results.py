"""Stored results (成绩) of school-months: recomputed from the source rows and upserted.

:func:`recompute` is what every job calls. It works in batches of school-months and
runs a fixed number of queries per batch, whatever the number of indicators:

1. the rubric catalogue (versions in force, their indicators) and the satisfaction of
   every school once per call (:mod:`scoring.result_catalogue`);
2. per batch (500 school-months), the sources reduced *in the database*
   (:mod:`scoring.result_sources`): one GROUP BY over the self-assessment items and one
   over the visit scores, both joined to a small inline table of the indicators in
   force, give per counted self-assessment and per visit × programme, Σ points clamped to [0, max] per 四好
   dimension and per applicability class (boarding-only, school levels), and — in the
   same row, as a ``code|points|value`` list — the few answers the sums cannot express:
   measured indicators (points from a curve over the value) and triggered vetoes;
   plus the schools, complaints and the stored rows (five queries in all);
3. the pure engine (:mod:`scoring.engine`) turns those sums into results: source scores
   rescaled over the applicable indicators, the visit of the month or a stand-in of the
   last three months (else *unverified*), weights, complaints, veto, stars, inflation
   (when a source left indicators unscored, the gap comes from the engine fed the
   indicators of those programme-months: two more queries for all of them);
4. one upsert of the rows that changed, one delete of the rows that no longer have a
   result, one insert of ``result.change`` audit entries (a stored score that moved;
   :mod:`scoring.result_store`).

On PostgreSQL steps 2 and 4 run in a background thread on the request's own session
(:class:`_DatabaseWorker`) while the calling thread does step 3 for the previous batch:
the database and Python work at the same time. Unchanged rows are not written, so
running a recomputation twice changes nothing.

On PostgreSQL a recomputation of ``SQL_FROM`` school-months or more (a period, a year) is
set-based instead (:mod:`scoring.result_sql`): the same arithmetic in one statement, with
part of the schools computed on a second connection at the same time; the school-months it
cannot do (partly scored sources whose inflation needs the per-indicator detail) come
back here.

:func:`school_month_detail` (:mod:`scoring.result_detail`) scores one school-month the
slow way, feeding the engine every indicator (:func:`scoring.engine.score_school_month`);
the results page shows its per-indicator detail and the tests check that both ways
store the same numbers.

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
import functools
import gc
import sys
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, localcontext
from itertools import groupby
from typing import Any

from sqlalchemy import (
    func,
    select,
)

from district.extensions import db
from scoring import engine
from scoring.engine import DIMENSIONS, HUNDRED, Month
from scoring.models import (
    Complaint,
    Period,
    ProgrammeCode,
    SchoolMonthResult,
    SelfAssessment,
)
from scoring.models import SiteVisit as Visit
from scoring.result_catalogue import (
    CONTEXT,
    DIMENSION_NUMBER,
    ZERO,
    Applicable,
    Catalogue,
    Item,
    VersionInfo,
    complaint_count,
    counted_assessment,
    derived_values,
    key_of,
    month_key,
    satisfaction_by_school,
    school_kinds,
    scoring_rules,
    semesters_of,
)
from scoring.result_detail import (
    SchoolMonthDetail,
    engine_input,
    inflation_from_detail,
    school_month_detail,
)
from scoring.result_sources import (
    HASH_PLANS_FROM,
    Batch,
    Sums,
    VisitRef,
    load_shared,
    restore_plans,
    use_hash_plans,
)
from scoring.result_sql import SQL_CHUNK, SQL_FROM, recompute_in_sql, sources_unwritten
from scoring.result_store import AUDIT_ACTION, plan_writes, write_results
from tenants.models import School
from tenants.scope import require_scope

BATCH_SIZE = 500  # school-months per batch: bounds memory, whatever the district's size
TAIL_SPLIT = 2  # the last batch's share (measured: halves beat whole and fifths)
SWITCH_INTERVAL = 0.0005  # seconds: how soon the database worker gets the GIL back
OVERALL = ProgrammeCode.OVERALL

Progress = Callable[[int, str | None], None]


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
    sums: Sums | None,
    version: VersionInfo,
    applicable: Applicable,
    derived: dict[str, Decimal],
) -> SourceResult | None:
    """Source score (Σ points ÷ Σ max × 100 over applicable indicators); exactly
    :func:`scoring.engine.source_score` after the engine's resolution of measured values
    (own value, else the school's derived value, else points given). Sums of
    applicability classes the engine found not to apply to the school are left out."""
    allowed = applicable.signatures
    got = [ZERO, ZERO, ZERO, ZERO]  # per 四好 dimension, in DIMENSIONS order
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
        got[DIMENSION_NUMBER[spec.dimension] - 1] += max(ZERO, min(spec.max_points, points))
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


def _triggered(sums: Sums | None, applicable: Applicable) -> list[str]:
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
    if sum((w for w, _ in parts), ZERO) == 0:
        parts = [(Decimal(1), d) for _, d in parts]
    out = {}
    for i, dimension in enumerate(DIMENSIONS):
        total = weight = ZERO
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
class Pending:
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


def _batch_of(items: Sequence[Item], catalogue: Catalogue, rules: engine.ScoringRules) -> Batch:
    school_ids = sorted({s for s, _, _ in items})
    months = sorted({(y, m) for _, y, m in items})
    version_ids = sorted({v for ym in months for v in catalogue.in_force(*ym).values()})
    return Batch(
        items=items,
        school_ids=school_ids,
        months=months,
        lo=month_key(*months[0]),
        hi=month_key(*months[-1]),
        version_ids=version_ids,
        stand_in=rules.stand_in_months,
    )


def _pending_of(batch: Batch, catalogue: Catalogue, rules: engine.ScoringRules) -> list[Pending]:
    """Source scores, picked visit and vetoes of every programme-month (pure Python)."""
    batch.unpack()
    schools, semesters, satisfaction = batch.schools, batch.semesters, batch.satisfaction
    in_force = {ym: catalogue.in_force(*ym) for ym in batch.months}
    stand_in = rules.stand_in_months
    derived_of: dict[tuple[int, Decimal | None], dict[str, Decimal]] = {}
    pending: list[Pending] = []
    for school_id, year, month in batch.items:
        school = schools.get(school_id)
        if school is None:
            continue
        key = month_key(year, month)
        semester = semesters.get((year, month))
        sat = (
            satisfaction.get((school_id, semester.school_year, semester.term)) if semester else None
        )
        for code, version_id in in_force[(year, month)].items():
            if catalogue.programmes[code].boarding_only and not school.boarding:
                continue
            version = catalogue.versions[version_id]
            applicable = version.applicable(school.boarding, school.level)
            dkey = (version_id, school.green_ratio)
            derived = derived_of.get(dkey)
            if derived is None:
                derived = derived_of[dkey] = derived_values(version, school)
            assessment_id = batch.assessments.get((school_id, year, month, code))
            self_source, vetoes = None, []
            if assessment_id is not None:
                self_sums = batch.self_sums.get((assessment_id, version_id))
                self_source = _evaluate(self_sums, version, applicable, derived)
                vetoes = _triggered(self_sums, applicable)
            # The inspector source, as engine.pick_inspector_visit picks it: the month's
            # latest visit, else the latest of the stand-in window (visits are sorted by
            # day, then id: the last one seen is the latest).
            in_month: VisitRef | None = None
            earlier: VisitRef | None = None
            month_visits: list[VisitRef] = []
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
            entry = Pending(
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
                complaints=complaint_count(batch.complaints, school_id, year, month, code),
                assessment_id=assessment_id,
            )
            if self_source is not None and inspector_source is not None:
                # Inflation compares the indicators both sources scored: with every indicator
                # scored on both sides that is the whole score, otherwise ask the engine.
                entry.needs_detail = not (self_source.complete and inspector_source.complete)
            pending.append(entry)
    return pending


def _results_of_batch(
    batch: Batch, pending: list[Pending], rules: engine.ScoringRules
) -> dict[Item, dict[str, dict[str, Any]]]:
    """Results of a batch: {(school, year, month): {programme: row values}} (pure)."""
    out: dict[Item, dict[str, dict[str, Any]]] = {
        item: {} for item in batch.items if item[0] in batch.schools
    }
    by_item: dict[Item, list[Pending]] = defaultdict(list)
    for p in pending:
        by_item[(p.school_id, p.year, p.month)].append(p)
    totals: dict[Item, int] = defaultdict(int)
    for (school_id, year, month, _programme), n in batch.complaints.items():
        totals[(school_id, year, month)] += n
    for item, entries in by_item.items():
        out[item] = _results_of(entries, rules, totals[item])
    return out


_r2 = engine.round2  # the stored values round exactly as the engine's results do


def _results_of(
    entries: list[Pending], rules: engine.ScoringRules, complaints: int
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
            dimensions[dimension] = sum(values, ZERO) / len(values)
    self_mean = sum(self_scores, ZERO) / len(self_scores) if self_scores else None
    inspector_mean = (
        sum(inspector_scores, ZERO) / len(inspector_scores) if inspector_scores else None
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
        "complaint_deduction": _r2(sum(deductions, ZERO) / len(deductions)),
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


def _progress_counter(progress: Progress | None, total: int) -> Callable[[int], None]:
    """A counter of finished school-months that reports them to ``progress``."""
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done * 100 // total, f"已计算 {done}/{total} 个学校月度")

    return advance


def _batch_bounds(count: int) -> list[tuple[int, int]]:
    """(start, end) of the batches of ``count`` school-months: BATCH_SIZE each, but the
    last BATCH_SIZE in TAIL_SPLIT parts. Once the last batch is loaded the database
    only waits for Python to compute it: a smaller last batch waits less."""
    if count <= BATCH_SIZE:
        return [(0, count)]
    tail = count - BATCH_SIZE
    bounds = [(a, min(a + BATCH_SIZE, tail)) for a in range(0, tail, BATCH_SIZE)]
    step = max(1, BATCH_SIZE // TAIL_SPLIT)
    return bounds + [(a, min(a + step, count)) for a in range(tail, count, step)]


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
    advance = _progress_counter(progress, len(unique))
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres and len(unique) >= SQL_FROM:
        if progress is not None:
            progress(0, f"正在计算 {len(unique)} 个学校月度")
        unique = _recompute_in_sql(unique, catalogue, rules, district_id, stats, advance)
        if not unique:
            db.session.flush()
            return stats
    batches = [_batch_of(unique[a:b], catalogue, rules) for a, b in _batch_bounds(len(unique))]
    catalogue.load({v for batch in batches for v in batch.version_ids})
    # One batch has nothing to overlap with (a submission recomputes one school-month).
    threaded = len(batches) > 1 and postgres
    semesters = semesters_of(sorted({(y, m) for _, y, m in unique}), rules)
    with _gc_paused(), _DatabaseWorker(threaded) as worker:
        plans = worker.submit(use_hash_plans) if len(unique) >= HASH_PLANS_FROM else None
        # Schools, complaints and satisfaction are small: read once for every batch.
        satisfaction = worker.submit(load_shared, batches, rules)
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
            with localcontext(CONTEXT):
                pending = _pending_of(batch, catalogue, rules)
                needing = [p for p in pending if p.needs_detail]
                if needing:
                    worker.submit(
                        inflation_from_detail, needing, catalogue, batch.schools, rules
                    ).result()
                computed = _results_of_batch(batch, pending, rules)
            stats["results"] += sum(len(v) for v in computed.values())
            writes = plan_writes(computed, batch.existing, district_id, stats, as_json=postgres)
            stored.append(worker.submit(write_results, writes))
            advance(len(batch.items))
        for future in stored:
            future.result()
        if plans is not None:
            restore_plans(plans.result())
    db.session.flush()
    return stats


def _recompute_in_sql(
    items: list[Item],
    catalogue: Catalogue,
    rules: engine.ScoringRules,
    district_id: int,
    stats: dict[str, Any],
    advance: Callable[[int], None],
) -> list[Item]:
    """PostgreSQL: the recomputation set-based (:mod:`scoring.result_sql`), SQL_CHUNK
    school-months per statement at most, whole schools each; returns the school-months
    it leaves to the batches."""
    months = sorted({(y, m) for _, y, m in items})
    catalogue.load({v for ym in months for v in catalogue.in_force(*ym).values()})
    left: list[Item] = []
    # asked once: the first statement writes results, never source rows
    elsewhere_ok = sources_unwritten()
    plans = use_hash_plans()  # transaction-local: a failed statement rolls them back too
    for chunk in _school_chunks(items):
        school_ids = sorted({s for s, _, _ in chunk})
        semesters = semesters_of(sorted({(y, m) for _, y, m in chunk}), rules)
        with localcontext(CONTEXT):
            chunk_left = recompute_in_sql(
                chunk,
                catalogue,
                school_kinds(school_ids),
                functools.partial(satisfaction_by_school, school_ids, semesters.values(), rules),
                semesters,
                rules,
                district_id,
                stats,
                elsewhere_ok,
            )
        left += chunk_left
        advance(len(chunk) - len(chunk_left))  # what is left is counted when the batches do it
    restore_plans(plans)
    return left


def _school_chunks(items: list[Item]) -> list[list[Item]]:
    """The items (sorted by school) in runs of whole schools of at most SQL_CHUNK
    school-months (a school with more is a run of its own): what one statement holds
    in memory — its inputs, sums and rows to store — stays bounded whatever the district."""
    chunks: list[list[Item]] = []
    current: list[Item] = []
    for _school_id, group in groupby(items, key=lambda item: item[0]):
        months = list(group)
        if current and len(current) + len(months) > SQL_CHUNK:
            chunks.append(current)
            current = []
        current += months
    if current:
        chunks.append(current)
    return chunks


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
            key_of(SelfAssessment) >= start
        ),
        select(Complaint.school_id, Complaint.year, Complaint.month).where(
            key_of(Complaint) >= start
        ),
        select(SchoolMonthResult.school_id, SchoolMonthResult.year, SchoolMonthResult.month).where(
            key_of(SchoolMonthResult) >= start
        ),
    ]
    found: set[Item] = set()
    for stmt in sources:
        found.update((r[0], r[1], r[2]) for r in db.session.execute(stmt.distinct()))
    visits = {
        (r[0], r[1], r[2])
        for r in db.session.execute(
            select(Visit.school_id, Visit.year, Visit.month)
            .where(key_of(Visit) >= start - rules.stand_in_months)
            .distinct()
        )
    }
    period_max = db.session.scalar(select(func.max(key_of(Period))))
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
