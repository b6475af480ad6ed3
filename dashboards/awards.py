"""Awards engine (表彰奖励): 先进单位 and 先进个人 lists, pure and exact.

Plain frozen dataclasses in, plain frozen dataclasses out; standard library only
(no Flask, no database), so the web, the API, jobs and benchmarks share it.

- Places are split by the largest-remainder method (最大余数法) on exact
  fractions, so no float ever decides who gets a place.
- Scores are compared on their stored values (rounded half-up to 2 decimals).
- Every tie that changes the order is recorded with the criterion that broke
  it, so the screen can say why one school stands above another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TypeVar

K = TypeVar("K", int, str)

EXCELLENT = "优秀"
"""The staff grade that makes a person a candidate for 先进个人."""

# Tie-break criteria (并列排序依据), in the order they are applied after year score.
BY_INSPECTOR = "督查平均分"
BY_COMPLAINTS = "查实投诉数"
BY_SATISFACTION = "满意度"
BY_NAME = "名称"
BY_ID = "学校编号"  # last resort when two schools even share a name; keeps the order total
TIE_CRITERIA = (BY_INSPECTOR, BY_COMPLAINTS, BY_SATISFACTION, BY_NAME, BY_ID)

_BETTER = {
    BY_INSPECTOR: "督查平均分更高",
    BY_COMPLAINTS: "查实投诉更少",
    BY_SATISFACTION: "满意度更高",
    BY_NAME: "名称排序在前",
    BY_ID: "学校编号在前",
}
_WORSE = {
    BY_INSPECTOR: "督查平均分较低",
    BY_COMPLAINTS: "查实投诉较多",
    BY_SATISFACTION: "满意度较低或无数据",
    BY_NAME: "名称排序在后",
    BY_ID: "学校编号在后",
}
_CENT = Decimal("0.01")


def _q2(value: Decimal) -> Decimal:
    """Round half-up to the 2 decimals that are stored and compared."""
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# ---------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class AwardRules:
    """A district's award rules (评优规则) for one year."""

    total_units: int
    """先进单位 places for the whole district (the seed district: 16)."""
    total_individuals: int
    """先进个人 places for the whole district (the seed district: 308)."""
    max_late_self_assessments: int = 1
    min_inspector_visits: int = 2
    require_no_veto: bool = True

    def problems(self) -> list[str]:
        """What is wrong with these rules, in Chinese; empty when valid."""
        found = []
        for field, label in (
            ("total_units", "先进单位名额"),
            ("total_individuals", "先进个人名额"),
            ("max_late_self_assessments", "自评逾期上限"),
            ("min_inspector_visits", "最少督查次数"),
        ):
            if not _is_count(getattr(self, field)):
                found.append(f"{label}必须是不小于 0 的整数")
        if not isinstance(self.require_no_veto, bool):
            found.append("一票否决条件必须是是/否")
        return found

    def validate(self) -> None:
        """Raise ValueError listing every problem (messages in Chinese)."""
        found = self.problems()
        if found:
            raise ValueError("；".join(found))


# ---------------------------------------------------------------------------
# Largest remainder (最大余数法)


def apportionment_quotas(
    total: int,
    weights: Mapping[K, int],
    *,
    caps: Mapping[K, int] | None = None,
    minimums: Mapping[K, int] | None = None,
) -> dict[K, Fraction]:
    """Exact quota of each key: proportional to weight, held within [minimum, cap].

    Without bounds, quota = total × weight ÷ Σweights. With bounds, one common
    multiplier λ is found so that Σ clamp(λ × weight, minimum, cap) = total:
    a key whose proportional quota would exceed its cap is held at the cap and
    its surplus is spread over the others in proportion to their weights; a
    key that would fall below its minimum is raised to it and the places it
    needs are taken from the others in the same proportion. Zero-weight keys
    get their minimum (0 by default). If even every cap together is below
    total, every key gets its cap and the rest stays unallocated.
    """
    if not _is_count(total):
        raise ValueError("total must be an integer >= 0")
    caps = caps or {}
    minimums = minimums or {}
    lo: dict[K, int] = {}
    hi: dict[K, int | None] = {}
    for key, weight in weights.items():
        low, high = minimums.get(key, 0), caps.get(key)
        if not _is_count(weight) or not _is_count(low):
            raise ValueError(f"weight and minimum of {key!r} must be integers >= 0")
        if high is not None and (not _is_count(high) or high < low):
            raise ValueError(f"cap of {key!r} must be an integer >= its minimum")
        lo[key] = low
        hi[key] = low if weight == 0 else high
    if sum(lo.values()) > total:
        raise ValueError("the minimums together exceed the total")
    capped = {key: h for key, h in hi.items() if h is not None}
    if len(capped) == len(hi) and sum(capped.values()) <= total:
        return {key: Fraction(h) for key, h in capped.items()}

    def clamp(key: K, lam: Fraction) -> Fraction:
        share, high = lam * weights[key], hi[key]
        if share < lo[key]:
            return Fraction(lo[key])
        return Fraction(high) if high is not None and share > high else share

    def filled(lam: Fraction) -> Fraction:
        return sum((clamp(key, lam) for key in weights), Fraction(0))

    # Σclamp is piecewise linear and non-decreasing in λ, bending only where a
    # key meets a bound: find the segment that reaches `total`, then solve on it.
    bends = {Fraction(0)}
    for key, weight in weights.items():
        if weight:
            bends.add(Fraction(lo[key], weight))
            if key in capped:
                bends.add(Fraction(capped[key], weight))
    points = sorted(bends)
    left, right = 0, len(points)  # first point whose filled total reaches `total`
    while left < right:
        mid = (left + right) // 2
        if filled(points[mid]) >= total:
            right = mid
        else:
            left = mid + 1
    if left < len(points) and filled(points[left]) == total:
        lam = points[left]
    else:
        start = points[left - 1]  # filled(0) = Σminimums <= total, so left >= 1 here
        end = points[left] if left < len(points) else None

        def free(key: K) -> bool:  # strictly between its bounds on (start, end)
            weight = weights[key]
            if not weight or Fraction(lo[key], weight) > start:
                return False
            if key not in capped:
                return True
            return end is not None and Fraction(capped[key], weight) >= end

        slope = sum(weights[key] for key in weights if free(key))
        lam = start + (total - filled(start)) / slope
    quotas = {key: clamp(key, lam) for key in weights}
    assert sum(quotas.values()) == total
    return quotas


def largest_remainder(
    total: int,
    weights: Mapping[K, int],
    *,
    caps: Mapping[K, int] | None = None,
    minimums: Mapping[K, int] | None = None,
) -> dict[K, int]:
    """Split ``total`` places in proportion to ``weights`` (最大余数法).

    Each key first gets the whole part of its exact quota (see
    :func:`apportionment_quotas`: total × weight ÷ Σweights when no bound
    binds); the places left go one each to the largest fractional parts,
    ties to the key with the larger weight, then to the smaller key (plain
    code-point order for names, not pinyin). Zero-weight keys get 0.

    Every share lies within 1 of its quota and within [minimum, cap]; the
    shares sum to ``total`` unless every key is at its cap (then to Σcaps).
    Without caps no key ever gets more than its weight while total ≤ Σweights,
    because a quota of at most the weight rounds up only when fractional.
    """
    quotas = apportionment_quotas(total, weights, caps=caps, minimums=minimums)
    shares = {key: q.numerator // q.denominator for key, q in quotas.items()}
    left = int(sum(quotas.values())) - sum(shares.values())
    by_remainder = sorted(quotas, key=lambda k: (-(quotas[k] - shares[k]), -weights[k], k))
    for key in by_remainder[:left]:
        shares[key] += 1
    return shares


# ---------------------------------------------------------------------------
# 先进单位 (advanced units)


@dataclass(frozen=True)
class SchoolYearRecord:
    """One school's year for the 先进单位 selection; scores are stored values."""

    school_id: int
    name: str
    category: str
    """School category (学段): 小学, 初中, 高中, 九年一贯制 …"""
    year_score: Decimal
    """四个创建 year score, already rounded to 2 decimals."""
    inspector_average: Decimal | None
    """Mean 督查 score of the year; None when never visited."""
    verified_complaints: int
    """查实投诉 in the year."""
    satisfaction: Decimal | None
    """民主评议 score 0–100; None when no survey was answered."""
    veto_count: int
    """Triggered 一票否决 items in the year."""
    late_self_assessments: int
    """自评 submitted after their deadline."""
    inspector_visits: int
    """督查 visits in the year."""


@dataclass(frozen=True)
class Eligibility:
    """Whether a school may be ranked (评选资格), with every failed criterion."""

    school_id: int
    eligible: bool
    reasons: tuple[str, ...]


def unit_eligibility(school: SchoolYearRecord, rules: AwardRules) -> Eligibility:
    """Check the 先进单位 criteria; reasons name each failed one in Chinese."""
    reasons = []
    if rules.require_no_veto and school.veto_count > 0:
        reasons.append("本年度有一票否决事项")
    if school.late_self_assessments > rules.max_late_self_assessments:
        reasons.append(
            f"自评逾期 {school.late_self_assessments} 次"
            f"（上限 {rules.max_late_self_assessments} 次）"
        )
    if school.inspector_visits < rules.min_inspector_visits:
        reasons.append(
            f"督查次数 {school.inspector_visits} 次（至少 {rules.min_inspector_visits} 次）"
        )
    return Eligibility(school.school_id, not reasons, tuple(reasons))


@dataclass(frozen=True)
class UnitEntry:
    """A school's line on the 先进单位 screen.

    ``display_rank`` is competition ranking on year score (1-2-2-4);
    ``order`` is the position after the tie chain and decides the places;
    ``tie_broken_by`` names the criterion that put this school behind the
    one just above it with the same year score. Ineligible schools have no
    rank or order, and ``reasons`` says why.
    """

    school_id: int
    name: str
    category: str
    year_score: Decimal
    eligible: bool
    display_rank: int | None
    order: int | None
    awarded: bool
    tie_broken_by: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class TieBreak:
    """Two adjacent schools with equal year score and what separated them."""

    category: str
    year_score: Decimal
    above: int
    below: int
    criterion: str


@dataclass(frozen=True)
class CategoryAllocation:
    """A category's share of the 先进单位 places (名额分配)."""

    category: str
    school_count: int
    eligible_count: int
    quota: Fraction
    """Exact proportional quota: total × eligible ÷ all eligible (capped)."""
    places: int


@dataclass(frozen=True)
class UnitAwardResult:
    """The whole 先进单位 selection: allocation, ranking, ties, exclusions."""

    rules: AwardRules
    categories: tuple[CategoryAllocation, ...]
    entries: tuple[UnitEntry, ...]
    """By category; ranked schools in order, then the ineligible by name."""
    ties: tuple[TieBreak, ...]
    unallocated: int
    """Places nobody could take because too few schools were eligible."""

    @property
    def awarded(self) -> tuple[UnitEntry, ...]:
        return tuple(e for e in self.entries if e.awarded)

    def entry(self, school_id: int) -> UnitEntry:
        for e in self.entries:
            if e.school_id == school_id:
                return e
        raise KeyError(school_id)

    def category(self, name: str) -> CategoryAllocation:
        for c in self.categories:
            if c.category == name:
                return c
        raise KeyError(name)


def _tie_keys(r: SchoolYearRecord) -> tuple[tuple, ...]:
    """Sort keys per tie criterion, smaller is better; None ranks lowest."""
    insp = (1, 0) if r.inspector_average is None else (0, -_q2(r.inspector_average))
    sat = (1, 0) if r.satisfaction is None else (0, -_q2(r.satisfaction))
    return (insp, (r.verified_complaints,), sat, (r.name,), (r.school_id,))


def rank_units(records: Sequence[SchoolYearRecord], rules: AwardRules) -> UnitAwardResult:
    """Select the 先进单位: check eligibility, split places, rank each category.

    Places are split across categories by largest remainder on their
    eligible counts, capped at those counts. Within a category schools are
    ordered by year score, then higher inspector average, fewer verified
    complaints, higher satisfaction (missing lowest), name, school id; the
    first ``places`` of that order are awarded. The result does not depend
    on the order of ``records``.
    """
    rules.validate()
    ids = [r.school_id for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate school_id in records")
    for r in records:
        counts = (r.verified_complaints, r.veto_count, r.late_self_assessments, r.inspector_visits)
        if not all(_is_count(c) for c in counts):
            raise ValueError(f"counts of school {r.school_id!r} must be integers >= 0")

    checks = {r.school_id: unit_eligibility(r, rules) for r in records}
    names = sorted({r.category for r in records})
    eligible = {
        c: [r for r in records if r.category == c and checks[r.school_id].eligible] for c in names
    }
    counts = {c: len(eligible[c]) for c in names}
    quotas = apportionment_quotas(rules.total_units, counts, caps=counts)
    places = largest_remainder(rules.total_units, counts, caps=counts)

    entries: list[UnitEntry] = []
    ties: list[TieBreak] = []
    for c in names:
        ranked = sorted(eligible[c], key=lambda r: (-_q2(r.year_score), *_tie_keys(r)))
        above: SchoolYearRecord | None = None
        rank = 0
        for order, r in enumerate(ranked, start=1):
            score = _q2(r.year_score)
            broken_by = None
            if above is not None and _q2(above.year_score) == score:
                pairs = zip(_tie_keys(above), _tie_keys(r), strict=True)
                broken_by = next(
                    crit for crit, (a, b) in zip(TIE_CRITERIA, pairs, strict=True) if a != b
                )
                ties.append(TieBreak(c, score, above.school_id, r.school_id, broken_by))
            if broken_by is None:  # competition ranking: a tie keeps the rank above
                rank = order
            awarded = order <= places[c]
            entry = UnitEntry(
                r.school_id, r.name, c, score, True, rank, order, awarded, broken_by, ()
            )
            entries.append(entry)
            above = r
        excluded = sorted(
            (r for r in records if r.category == c and not checks[r.school_id].eligible),
            key=lambda r: (r.name, r.school_id),
        )
        for r in excluded:
            reasons = checks[r.school_id].reasons
            entries.append(
                UnitEntry(
                    r.school_id,
                    r.name,
                    c,
                    _q2(r.year_score),
                    False,
                    None,
                    None,
                    False,
                    None,
                    reasons,
                )
            )
    allocations = tuple(
        CategoryAllocation(
            c, sum(1 for r in records if r.category == c), counts[c], quotas[c], places[c]
        )
        for c in names
    )
    return UnitAwardResult(
        rules, allocations, tuple(entries), tuple(ties), rules.total_units - sum(places.values())
    )


def _fmt_fraction(value: Fraction) -> str:
    return str(_q2(Decimal(value.numerator) / Decimal(value.denominator)))


def explain(result: UnitAwardResult, school_id: int) -> list[str]:
    """Chinese sentences saying why a school is or is not on the 先进单位 list."""
    e = result.entry(school_id)
    if not e.eligible:
        lines = [f"{e.name}不符合先进单位评选条件，未参加{e.category}类别排名。"]
        return lines + [f"原因：{reason}。" for reason in e.reasons]
    alloc = result.category(e.category)
    shared = any(
        o.category == e.category and o.display_rank == e.display_rank and o is not e
        for o in result.entries
    )
    rank = f"{'并列' if shared else ''}第 {e.display_rank} 名"
    lines = [
        f"{e.name}年度得分 {e.year_score} 分，在{e.category}类别 {alloc.eligible_count} 所"
        f"符合条件的学校中按得分排{rank}。",
        f"{e.category}类别按最大余数法分得名额 {alloc.places} 个"
        f"（按比例应得 {_fmt_fraction(alloc.quota)} 个）。",
    ]
    for tie in result.ties:
        if tie.below == school_id:
            other = result.entry(tie.above).name
            lines.append(f"与{other}同为 {tie.year_score} 分，因{_WORSE[tie.criterion]}排在其后。")
        if tie.above == school_id:
            other = result.entry(tie.below).name
            lines.append(f"与{other}同为 {tie.year_score} 分，因{_BETTER[tie.criterion]}排在其前。")
    outcome = "列入先进单位名单" if e.awarded else "未列入先进单位名单"
    lines.append(f"按排序规则为类别内第 {e.order} 名，名额 {alloc.places} 个，{outcome}。")
    return lines


# ---------------------------------------------------------------------------
# 先进个人 (advanced individuals)


@dataclass(frozen=True)
class StaffCandidate:
    """An evaluated staff member (后勤人员); only grade 优秀 can be honoured."""

    staff_id: int
    name: str
    score: Decimal
    grade: str


@dataclass(frozen=True)
class SchoolStaffPool:
    """A school's evaluated staff for the year's 业绩评价."""

    school_id: int
    evaluated_staff: int
    """Staff evaluated this year: the weight of the school's share."""
    candidates: tuple[StaffCandidate, ...]
    """Evaluated staff with their grades; others than 优秀 are ignored."""

    @property
    def eligible(self) -> tuple[StaffCandidate, ...]:
        return tuple(c for c in self.candidates if c.grade == EXCELLENT)


@dataclass(frozen=True)
class IndividualAward:
    """One 先进个人; ``order`` is the position within the school."""

    school_id: int
    staff_id: int
    name: str
    score: Decimal
    order: int


def _check_pools(schools: Sequence[SchoolStaffPool]) -> None:
    ids = [s.school_id for s in schools]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate school_id in pools")
    for s in schools:
        staff = [c.staff_id for c in s.candidates]
        if len(set(staff)) != len(staff):
            raise ValueError(f"duplicate staff_id in school {s.school_id!r}")
        if not _is_count(s.evaluated_staff) or s.evaluated_staff < len(s.eligible):
            raise ValueError(f"evaluated_staff of school {s.school_id!r} is below its 优秀 count")


def allocate_individuals(total: int, schools: Sequence[SchoolStaffPool]) -> dict[int, int]:
    """Split 先进个人 places across schools (名额分配).

    Shares follow evaluated staff by largest remainder, with each school held
    within [1, its 优秀 count] (0 for a school without one). The minimum is
    taken back from the others proportionally, not first-come: quotas use one
    common multiplier (see :func:`apportionment_quotas`), so a school below
    one place is raised to exactly 1 and every other school gives up places
    in proportion to its evaluated staff. When ``total`` is below the number
    of schools with a 优秀 person the at-least-one rule cannot hold: one place
    each goes to the schools with the most evaluated staff (ties by id).
    """
    _check_pools(schools)
    caps = {s.school_id: len(s.eligible) for s in schools}
    weights = {s.school_id: s.evaluated_staff for s in schools}
    with_people = {k: 1 for k, n in caps.items() if n}
    if total >= len(with_people):
        return largest_remainder(total, weights, caps=caps, minimums=with_people)
    return largest_remainder(total, weights, caps={k: min(1, n) for k, n in caps.items()})


def rank_individuals(pools: Sequence[SchoolStaffPool], total: int) -> list[IndividualAward]:
    """Choose the 先进个人: each school's places go by score desc, then staff_id."""
    places = allocate_individuals(total, pools)
    awards = []
    for pool in sorted(pools, key=lambda p: p.school_id):
        best = sorted(pool.eligible, key=lambda c: (-c.score, c.staff_id))
        for order, c in enumerate(best[: places[pool.school_id]], start=1):
            awards.append(IndividualAward(pool.school_id, c.staff_id, c.name, c.score, order))
    return awards


# ---------------------------------------------------------------------------
# 公示 snapshot


def _canon(value: Decimal) -> str:
    """Value-canonical decimal text: 90.5 and 90.50 give the same string."""
    return "0" if value == 0 else format(value.normalize(), "f")


def snapshot_payload(result: UnitAwardResult | Sequence[IndividualAward]) -> str:
    """Canonical JSON of a final award list (sorted keys, decimals as strings)."""
    if isinstance(result, UnitAwardResult):
        kind = "units"
        rows = [
            {
                "school_id": e.school_id,
                "name": e.name,
                "category": e.category,
                "year_score": _canon(e.year_score),
                "display_rank": e.display_rank,
                "order": e.order,
                "tie_broken_by": e.tie_broken_by,
            }
            for e in sorted(result.awarded, key=lambda e: (e.category, e.order))
        ]
    else:
        kind = "individuals"
        rows = [
            {
                "school_id": a.school_id,
                "staff_id": a.staff_id,
                "name": a.name,
                "score": _canon(a.score),
                "order": a.order,
            }
            for a in sorted(result, key=lambda a: (a.school_id, a.order))
        ]
    payload = {"kind": kind, "awards": rows}
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def snapshot_checksum(result: UnitAwardResult | Sequence[IndividualAward]) -> str:
    """sha256 (hex) of :func:`snapshot_payload`: seals a finalised 公示 list."""
    return hashlib.sha256(snapshot_payload(result).encode("utf-8")).hexdigest()
