"""Staff performance evaluation engine (后勤人员工作业绩评价) — pure functions.

Standard library only: no Flask, no database, no project imports. Frozen
dataclasses in, frozen dataclasses out; all arithmetic in ``decimal.Decimal``
at 40 significant digits, results rounded half-up to ``plan.decimals`` (2).

Pipeline of :func:`evaluate_school` for one school (one plan, one year):

1. **Rating total** (:func:`rating_total`): one rater's points per dimension
   (德 15 · 能 20 · 勤 25 · 绩 30 · 廉 10 by default) → Σ points ÷ Σ max × 100,
   i.e. the plain sum when the maxima add up to 100.
2. **Group means** (:func:`group_scores`): mean rating total per rater group
   (本人 self · 学校领导 leadership · 同事 colleagues · 服务对象 served).
3. **Weighted score** (:func:`weighted_score`): Σ weight × mean over the groups
   present, divided by the sum of their weights (so a missing group is
   rescaled away and *flagged*, never counted as 0). The score is rounded
   half-up to 2 decimals; **bands, ranks, quota and normalisation all use the
   rounded (stored) value**, as every screen shows it (89.995 → 90.00 → 优秀).
4. **Provisional grade** from the bands: 优秀 ≥ 90, 合格 ≥ 70, 基本合格 ≥ 60,
   不合格 below.
5. **Vetoes**: responsibility for a veto incident (一票否决) → 不合格 whatever
   the score (reason ``veto``). Canteen staff without a valid health
   certificate (持证上岗) cannot be 优秀: they get the best band below 优秀
   their score reaches — 合格 with the default bands (reason
   ``health_certificate``).
6. **Quota** (:func:`quota_size`): at most ``floor(excellent_quota × evaluated
   staff)`` people are 优秀 — *floor*, because the domain rule is "at most
   20 %" (10 staff → 2, 9 → 1, 4 → 0). A district that wants small schools
   to have one place sets ``quota_min_one=True``: then a school with at
   least one evaluated person gets at least 1 place (it only matters if
   someone is eligible). Eligible candidates (provisional 优秀, not vetoed,
   not blocked) are taken in the school order below; those beyond the quota
   get the best band below 优秀 (合格) with reason ``quota``.

**School order / tie-break chain** (stable and deterministic): rounded score
descending; then, for each group in ``plan.tie_break_groups`` (default
leadership, then served), that group's mean rounded to 2 decimals,
descending, a missing group ranking after any present one; then
``staff_id`` ascending (ints numerically, before strings). ``position`` is
this strict order; ``rank`` is the competition rank on the rounded score
(1-2-2-4, shared when equal); ``tie_broken_by`` names the criterion that put
someone after an equal-scored colleague, so the screen can say so.

**Evaluated staff** are those with at least one rating of a group in the
plan. They form the quota denominator and the population for ranks and
normalisation. Someone without ratings gets no score and grade ``None``
(reason ``not_evaluated``) — or 不合格 if veto-responsible.

**Normalisation** (:func:`normalise`), within the school, on rounded scores:

- percentile = (number strictly lower + ½ × number equal, oneself included)
  ÷ N × 100 — the mid-rank percentile: a lone person or an all-equal school
  is at 50, the top of three distinct scores at 83.33;
- z-score = (x − mean) ÷ population standard deviation; 0 when it is 0.
  Computed from exact deviations n·x − Σx, so adding a constant to every
  score leaves both measures exactly unchanged.
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from typing import TypeVar

Number = Decimal | int | float | str
StaffId = int | str

PRECISION = 40
OUT_OF_RANGE_POLICIES = ("reject", "clamp")
_HUNDRED = Decimal(100)
_T = TypeVar("_T")


class PlanError(ValueError):
    """The evaluation plan fails :meth:`EvaluationPlan.validate`."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("；".join(errors))
        self.errors = list(errors)


class RatingError(ValueError):
    """A rating is incomplete, refers to an unknown code or is out of range."""


def _precise(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Run ``fn`` in a private decimal context (independent of the caller's)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with localcontext() as ctx:
            ctx.prec = PRECISION
            ctx.rounding = ROUND_HALF_EVEN
            return fn(*args, **kwargs)

    return wrapper


def to_decimal(value: Number) -> Decimal:
    """Coerce to a finite Decimal (floats via ``str``, so 9.5 → Decimal('9.5'))."""
    if isinstance(value, bool):
        raise RatingError(f"不是有效的分数：{value!r}")
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError as exc:
        raise RatingError(f"不是有效的分数：{value!r}") from exc
    if not d.is_finite():
        raise RatingError(f"不是有效的分数：{value!r}")
    return d


def round_half_up(value: Decimal, decimals: int = 2) -> Decimal:
    """Round half-up (四舍五入) to ``decimals`` places."""
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def _fmt(value: Decimal) -> str:
    """Plain text of a Decimal without exponent or trailing zeros (0.20 → '0.2')."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _id_key(staff_id: StaffId) -> tuple[int, int, str]:
    """Sort key for staff ids: ints numerically first, then strings."""
    if isinstance(staff_id, int):
        return (0, staff_id, "")
    return (1, 0, str(staff_id))


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Dimension:
    """评价维度: a dimension a rater scores from 0 to ``max_points``."""

    code: str
    label: str
    max_points: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_points", to_decimal(self.max_points))


@dataclass(frozen=True)
class RaterGroup:
    """评价主体: a group of raters and its weight in the final score."""

    code: str
    label: str
    weight: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", to_decimal(self.weight))


@dataclass(frozen=True)
class GradeBand:
    """评价等次: a grade reached from ``min_score`` (inclusive) upwards."""

    code: str
    label: str
    min_score: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_score", to_decimal(self.min_score))


DEFAULT_DIMENSIONS = (
    Dimension("ethics", "德", Decimal(15)),
    Dimension("ability", "能", Decimal(20)),
    Dimension("diligence", "勤", Decimal(25)),
    Dimension("results", "绩", Decimal(30)),
    Dimension("integrity", "廉", Decimal(10)),
)
DEFAULT_RATER_GROUPS = (
    RaterGroup("self", "本人自评", Decimal("0.10")),
    RaterGroup("leadership", "学校领导", Decimal("0.40")),
    RaterGroup("colleagues", "同事互评", Decimal("0.20")),
    RaterGroup("served", "服务对象（师生）", Decimal("0.30")),
)
DEFAULT_GRADE_BANDS = (
    GradeBand("excellent", "优秀", Decimal(90)),
    GradeBand("qualified", "合格", Decimal(70)),
    GradeBand("basic", "基本合格", Decimal(60)),
    GradeBand("unqualified", "不合格", Decimal(0)),
)


@dataclass(frozen=True)
class EvaluationPlan:
    """业绩评价方案: every rule of the evaluation, with the district defaults.

    ``grade_bands`` run from the best band down; ``excellent_grade`` must be
    the first and is the one limited by ``excellent_quota`` (share of the
    school's evaluated staff). ``out_of_range`` says what happens to a rating
    outside 0…max: ``'reject'`` (raise :class:`RatingError`) or ``'clamp'``.
    """

    dimensions: tuple[Dimension, ...] = DEFAULT_DIMENSIONS
    rater_groups: tuple[RaterGroup, ...] = DEFAULT_RATER_GROUPS
    grade_bands: tuple[GradeBand, ...] = DEFAULT_GRADE_BANDS
    excellent_quota: Decimal = Decimal("0.20")
    quota_min_one: bool = False
    excellent_grade: str = "excellent"
    veto_grade: str = "unqualified"
    health_certificate_required: bool = True
    tie_break_groups: tuple[str, ...] = ("leadership", "served")
    out_of_range: str = "reject"
    decimals: int = 2

    def __post_init__(self) -> None:
        for name in ("dimensions", "rater_groups", "grade_bands", "tie_break_groups"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "excellent_quota", to_decimal(self.excellent_quota))

    def validate(self) -> list[str]:
        """Return the plan's errors in Chinese (an empty list means valid)."""
        errors: list[str] = []
        errors += _duplicates("评价维度", [d.code for d in self.dimensions])
        errors += _duplicates("评价主体", [g.code for g in self.rater_groups])
        errors += _duplicates("评价等次", [b.code for b in self.grade_bands])
        if not self.dimensions:
            errors.append("至少需要一个评价维度")
        for d in self.dimensions:
            if d.max_points <= 0:
                errors.append(f"维度“{d.label}”的满分必须大于 0")
        dim_total = sum((d.max_points for d in self.dimensions), Decimal(0))
        if dim_total != _HUNDRED:
            errors.append(f"各评价维度满分之和应为 100，当前为 {_fmt(dim_total)}")
        if not self.rater_groups:
            errors.append("至少需要一个评价主体")
        for g in self.rater_groups:
            if g.weight < 0:
                errors.append(f"评价主体“{g.label}”的权重不能为负数")
        weight_total = sum((g.weight for g in self.rater_groups), Decimal(0))
        if weight_total != 1:
            errors.append(f"各评价主体权重之和应为 1，当前为 {_fmt(weight_total)}")
        if not self.grade_bands:
            errors.append("至少需要一个评价等次")
        else:
            mins = [b.min_score for b in self.grade_bands]
            if any(a <= b for a, b in zip(mins, mins[1:], strict=False)):
                errors.append("评价等次的分数线必须从高到低严格递减")
            if any(m < 0 or m > _HUNDRED for m in mins):
                errors.append("评价等次的分数线必须在 0 到 100 之间")
            if mins[-1] != 0:
                errors.append("最低等次的分数线应为 0，以覆盖所有得分")
            if self.grade_bands[0].code != self.excellent_grade:
                errors.append(f"受名额限制的等次“{self.excellent_grade}”必须是最高等次")
            if len(self.grade_bands) < 2:
                errors.append("至少需要两个评价等次")
        if self.veto_grade not in {b.code for b in self.grade_bands}:
            errors.append(f"一票否决对应的等次“{self.veto_grade}”不存在")
        if not 0 <= self.excellent_quota <= 1:
            errors.append(f"优秀名额比例应在 0 到 1 之间，当前为 {_fmt(self.excellent_quota)}")
        group_codes = {g.code for g in self.rater_groups}
        for code in self.tie_break_groups:
            if code not in group_codes:
                errors.append(f"并列排序依据的评价主体“{code}”不存在")
        if self.out_of_range not in OUT_OF_RANGE_POLICIES:
            errors.append(f"超出分值范围的处理方式应为 reject 或 clamp，当前为 {self.out_of_range}")
        if not 0 <= self.decimals <= 6:
            errors.append("保留小数位数应在 0 到 6 之间")
        return errors

    def band(self, code: str) -> GradeBand:
        """The grade band with ``code`` (KeyError if none)."""
        for b in self.grade_bands:
            if b.code == code:
                return b
        raise KeyError(code)

    def group(self, code: str) -> RaterGroup:
        """The rater group with ``code`` (KeyError if none)."""
        for g in self.rater_groups:
            if g.code == code:
                return g
        raise KeyError(code)


def _duplicates(what: str, codes: Sequence[str]) -> list[str]:
    dups = sorted({c for c in codes if codes.count(c) > 1})
    return [f"{what}代码重复：{c}" for c in dups]


DEFAULT_PLAN = EvaluationPlan()


# ------------------------------------------------------------------ inputs/outputs


@dataclass(frozen=True)
class Rating:
    """One rater's ballot: points per dimension code, tagged with the rater group."""

    group: str
    scores: Mapping[str, Number]
    rater_id: str | None = None


@dataclass(frozen=True)
class StaffInput:
    """One member of the school's logistics staff and the ratings they received.

    ``has_valid_health_certificate`` matters only for canteen staff and
    defaults to False, so a missing certificate never slips through.
    """

    staff_id: StaffId
    name: str
    post: str = ""
    is_canteen_staff: bool = False
    has_valid_health_certificate: bool = False
    veto_responsible: bool = False
    ratings: tuple[Rating, ...] = ()


@dataclass(frozen=True)
class WeightedScore:
    """Weighted score over the rater groups present, rescaled to their weights."""

    score: Decimal | None
    rounded: Decimal | None
    groups_present: tuple[str, ...]
    groups_missing: tuple[str, ...]
    flagged_missing: bool
    weights_applied: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class Reason:
    """Why a grade differs from the provisional band (code + Chinese message)."""

    code: str
    message: str


@dataclass(frozen=True)
class StaffResult:
    """The evaluation of one staff member within their school."""

    staff_id: StaffId
    name: str
    post: str
    evaluated: bool
    score: Decimal | None
    rounded: Decimal | None
    provisional_grade: str | None
    grade: str | None
    grade_label: str | None
    reasons: tuple[Reason, ...]
    rank: int | None
    position: int | None
    tie_broken_by: str | None
    group_means: dict[str, Decimal]
    rater_counts: dict[str, int]
    groups_missing: tuple[str, ...]
    flagged_missing: bool
    weights_applied: dict[str, Decimal]
    percentile: Decimal | None
    z_score: Decimal | None


@dataclass(frozen=True)
class QuotaCheck:
    """Outcome of :func:`check_quota`; ``message`` is shown to the school head."""

    ok: bool
    evaluated_count: int
    quota: int
    excellent_count: int
    excess: int
    unknown_grades: tuple[str, ...]
    message: str | None


# ------------------------------------------------------------------- arithmetic


@_precise
def rating_total(plan: EvaluationPlan, dimension_scores: Mapping[str, Number]) -> Decimal:
    """One rater's total on 0–100: Σ points ÷ Σ max points × 100 (full precision).

    Every dimension of the plan must be rated; unknown codes are rejected;
    out-of-range points are rejected or clamped per ``plan.out_of_range``.
    """
    known = {d.code for d in plan.dimensions}
    unknown = sorted(set(dimension_scores) - known)
    if unknown:
        raise RatingError(f"未知的评价维度：{'、'.join(unknown)}")
    points = Decimal(0)
    max_total = Decimal(0)
    for d in plan.dimensions:
        if d.code not in dimension_scores:
            raise RatingError(f"缺少维度“{d.label}”的评分")
        value = to_decimal(dimension_scores[d.code])
        if not 0 <= value <= d.max_points:
            if plan.out_of_range != "clamp":
                raise RatingError(
                    f"维度“{d.label}”的评分 {_fmt(value)} 超出范围 0–{_fmt(d.max_points)}"
                )
            value = min(max(value, Decimal(0)), d.max_points)
        points += value
        max_total += d.max_points
    if max_total <= 0:
        raise RatingError("评价维度满分之和必须大于 0")
    return points * _HUNDRED / max_total


@_precise
def _group_stats(
    plan: EvaluationPlan, ratings: Sequence[Rating]
) -> tuple[dict[str, Decimal], dict[str, int]]:
    sums: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    known = {g.code for g in plan.rater_groups}
    for r in ratings:
        if r.group not in known:
            raise RatingError(f"未知的评价主体：{r.group}")
        sums[r.group] = sums.get(r.group, Decimal(0)) + rating_total(plan, r.scores)
        counts[r.group] = counts.get(r.group, 0) + 1
    order = [g.code for g in plan.rater_groups if g.code in sums]
    return {c: sums[c] / counts[c] for c in order}, {c: counts[c] for c in order}


def group_scores(plan: EvaluationPlan, ratings: Sequence[Rating]) -> dict[str, Decimal]:
    """Mean rating total per rater group present (plan order, full precision)."""
    return _group_stats(plan, ratings)[0]


@_precise
def weighted_score(plan: EvaluationPlan, group_means: Mapping[str, Number]) -> WeightedScore:
    """Weighted mean of the group means present, rescaled over their weights.

    Groups with weight > 0 but no mean are listed in ``groups_missing`` and
    set ``flagged_missing``. With no weighted group present the score is None.
    """
    known = {g.code for g in plan.rater_groups}
    unknown = sorted(set(group_means) - known)
    if unknown:
        raise RatingError(f"未知的评价主体：{'、'.join(unknown)}")
    present: list[RaterGroup] = []
    means: dict[str, Decimal] = {}
    for g in plan.rater_groups:
        if g.code not in group_means:
            continue
        value = to_decimal(group_means[g.code])
        if not 0 <= value <= _HUNDRED:
            if plan.out_of_range != "clamp":
                raise RatingError(f"评价主体“{g.label}”的均分 {_fmt(value)} 超出范围 0–100")
            value = min(max(value, Decimal(0)), _HUNDRED)
        present.append(g)
        means[g.code] = value
    missing = tuple(g.code for g in plan.rater_groups if g.weight > 0 and g.code not in means)
    weight_sum = sum((g.weight for g in present), Decimal(0))
    if weight_sum <= 0:
        return WeightedScore(None, None, tuple(means), missing, bool(missing), {})
    score = sum((g.weight * means[g.code] for g in present), Decimal(0)) / weight_sum
    applied = {g.code: g.weight / weight_sum for g in present}
    return WeightedScore(
        score=score,
        rounded=round_half_up(score, plan.decimals),
        groups_present=tuple(means),
        groups_missing=missing,
        flagged_missing=bool(missing),
        weights_applied=applied,
    )


def grade_for(plan: EvaluationPlan, score: Number, *, allow_excellent: bool = True) -> str:
    """Band code for a (rounded) score; without ``allow_excellent`` the best other band."""
    value = to_decimal(score)
    bands = [b for b in plan.grade_bands if allow_excellent or b.code != plan.excellent_grade]
    for b in bands:
        if value >= b.min_score:
            return b.code
    return bands[-1].code


def quota_size(plan: EvaluationPlan, evaluated_count: int) -> int:
    """Most 优秀 places for a school: floor(quota × evaluated), ≥ 1 if ``quota_min_one``."""
    if evaluated_count <= 0:
        return 0
    with localcontext() as ctx:
        ctx.prec = PRECISION
        places = int((plan.excellent_quota * evaluated_count).to_integral_value(ROUND_FLOOR))
    if plan.quota_min_one and plan.excellent_quota > 0:
        places = max(places, 1)
    return max(0, min(places, evaluated_count))


def _quota_rule_text(plan: EvaluationPlan) -> str:
    pct = _fmt(plan.excellent_quota * _HUNDRED)
    rule = "向下取整，至少 1 人" if plan.quota_min_one else "向下取整"
    return f"参评人数的 {pct}%，{rule}"


def check_quota(
    plan: EvaluationPlan, proposed_grades: Mapping[StaffId, str] | Sequence[str]
) -> QuotaCheck:
    """Check a school head's proposed grades (one per evaluated staff member).

    Returns ``ok=False`` with a Chinese message when more people are proposed
    as 优秀 than :func:`quota_size` allows or a grade code is unknown.
    """
    grades = list(
        proposed_grades.values() if isinstance(proposed_grades, Mapping) else proposed_grades
    )
    n = len(grades)
    quota = quota_size(plan, n)
    excellent = sum(1 for g in grades if g == plan.excellent_grade)
    known = {b.code for b in plan.grade_bands}
    unknown = tuple(sorted({str(g) for g in grades if g not in known}))
    excess = max(0, excellent - quota)
    label = plan.band(plan.excellent_grade).label if plan.excellent_grade in known else "优秀"
    parts: list[str] = []
    if excess:
        parts.append(
            f"{label}人数超出名额：本校参评 {n} 人，{label}名额最多 {quota} 人"
            f"（{_quota_rule_text(plan)}），现拟评{label} {excellent} 人，超出 {excess} 人。"
            f"请将其中 {excess} 人调整为其他等次后再提交。"
        )
    if unknown:
        parts.append(f"存在无效的评价等次：{'、'.join(unknown)}。")
    return QuotaCheck(
        ok=not parts,
        evaluated_count=n,
        quota=quota,
        excellent_count=excellent,
        excess=excess,
        unknown_grades=unknown,
        message="".join(parts) or None,
    )


@_precise
def normalise(scores: Sequence[Number]) -> tuple[list[Decimal], list[Decimal]]:
    """Mid-rank percentiles and population z-scores, in input order, full precision."""
    xs = [to_decimal(s) for s in scores]
    n = len(xs)
    if n == 0:
        return [], []
    ordered = sorted(xs)
    percentiles = []
    for x in xs:
        lower = bisect_left(ordered, x)
        equal = bisect_right(ordered, x) - lower
        percentiles.append(Decimal(2 * lower + equal) * 50 / n)
    total = sum(xs, Decimal(0))
    deviations = [n * x - total for x in xs]  # exact: n·(x − mean)
    squares = sum((d * d for d in deviations), Decimal(0))
    if squares == 0:
        return percentiles, [Decimal(0)] * n
    factor = (Decimal(n) / squares).sqrt()  # = 1 / (n · σ)
    return percentiles, [d * factor for d in deviations]


# ---------------------------------------------------------------- school evaluation


@dataclass
class _Work:
    """Mutable scratch record for one staff member during evaluate_school."""

    staff: StaffInput
    means: dict[str, Decimal]
    counts: dict[str, int]
    weighted: WeightedScore
    rounded_means: dict[str, Decimal]
    provisional: str | None = None
    grade: str | None = None
    reasons: list[Reason] = field(default_factory=list)
    position: int | None = None
    rank: int | None = None
    tie_broken_by: str | None = None
    percentile: Decimal | None = None
    z_score: Decimal | None = None


def _order_key(plan: EvaluationPlan, w: _Work) -> tuple:
    parts: list[object] = [-(w.weighted.rounded or Decimal(0))]
    for code in plan.tie_break_groups:
        mean = w.rounded_means.get(code)
        parts.append((1, Decimal(0)) if mean is None else (0, -mean))
    parts.append(_id_key(w.staff.staff_id))
    return tuple(parts)


def _deciding_criterion(plan: EvaluationPlan, ahead: _Work, behind: _Work) -> str:
    """Which criterion of the chain puts ``ahead`` before ``behind``."""
    if ahead.weighted.rounded != behind.weighted.rounded:
        return "score"
    for code in plan.tie_break_groups:
        if ahead.rounded_means.get(code) != behind.rounded_means.get(code):
            return code
    return "staff_id"


def criterion_label(plan: EvaluationPlan, criterion: str) -> str:
    """Chinese wording of a tie-break criterion code."""
    if criterion == "score":
        return "总分"
    if criterion == "staff_id":
        return "人员编号顺序"
    return f"{plan.group(criterion).label}评价均分"


@_precise
def evaluate_school(plan: EvaluationPlan, staff: Sequence[StaffInput]) -> list[StaffResult]:
    """Grade, rank and normalise one school's staff (results in input order).

    Raises :class:`PlanError` for an invalid plan and :class:`RatingError`
    for bad ratings or duplicate staff ids.
    """
    errors = plan.validate()
    if errors:
        raise PlanError(errors)
    ids = [_id_key(s.staff_id) for s in staff]
    if len(set(ids)) != len(ids):
        raise RatingError("人员编号重复")
    excellent_label = plan.band(plan.excellent_grade).label
    veto_label = plan.band(plan.veto_grade).label

    work: list[_Work] = []
    for s in staff:
        means, counts = _group_stats(plan, s.ratings)
        ws = weighted_score(plan, means)
        rounded_means = {c: round_half_up(m, plan.decimals) for c, m in means.items()}
        work.append(_Work(s, means, counts, ws, rounded_means))

    evaluated = [w for w in work if w.weighted.rounded is not None]
    order = sorted(evaluated, key=functools.partial(_order_key, plan))
    for i, w in enumerate(order, start=1):
        w.position = w.rank = i
        ahead = order[i - 2] if i > 1 else None
        if ahead is not None and ahead.weighted.rounded == w.weighted.rounded:
            w.rank = ahead.rank  # competition ranking: 1-2-2-4
            w.tie_broken_by = _deciding_criterion(plan, ahead, w)

    for w in work:
        s, rounded = w.staff, w.weighted.rounded
        if rounded is None:
            w.reasons.append(Reason("not_evaluated", "无有效评分记录，未参加评价"))
        else:
            w.provisional = w.grade = grade_for(plan, rounded)
        if s.veto_responsible:
            w.grade = plan.veto_grade
            w.reasons.append(Reason("veto", f"对一票否决事项负有责任，不论得分，评为{veto_label}"))
        elif (
            w.grade == plan.excellent_grade
            and plan.health_certificate_required
            and s.is_canteen_staff
            and not s.has_valid_health_certificate
        ):
            w.grade = grade_for(plan, rounded, allow_excellent=False)
            w.reasons.append(
                Reason(
                    "health_certificate",
                    f"食堂从业人员无有效健康证，不能评为{excellent_label}，"
                    f"评为{plan.band(w.grade).label}",
                )
            )

    quota = quota_size(plan, len(evaluated))
    candidates = [w for w in order if w.grade == plan.excellent_grade]
    for i, w in enumerate(candidates[quota:], start=quota + 1):
        w.grade = grade_for(plan, w.weighted.rounded, allow_excellent=False)
        message = (
            f"超出本校{excellent_label}名额（最多 {quota} 人，{_quota_rule_text(plan)}），"
            f"在符合条件的人员中排第 {i} 位，评为{plan.band(w.grade).label}"
        )
        if quota and candidates[quota - 1].weighted.rounded == w.weighted.rounded:
            why = criterion_label(plan, _deciding_criterion(plan, candidates[quota - 1], w))
            message += f"；与第 {quota} 位总分相同，按{why}排序"
        w.reasons.append(Reason("quota", message))

    percentiles, z_scores = normalise([w.weighted.rounded for w in evaluated])
    for w, p, z in zip(evaluated, percentiles, z_scores, strict=True):
        w.percentile = round_half_up(p, plan.decimals)
        w.z_score = round_half_up(z, plan.decimals) + 0  # + 0 turns -0.00 into 0.00

    return [
        StaffResult(
            staff_id=w.staff.staff_id,
            name=w.staff.name,
            post=w.staff.post,
            evaluated=w.weighted.rounded is not None,
            score=w.weighted.score,
            rounded=w.weighted.rounded,
            provisional_grade=w.provisional,
            grade=w.grade,
            grade_label=plan.band(w.grade).label if w.grade else None,
            reasons=tuple(w.reasons),
            rank=w.rank,
            position=w.position,
            tie_broken_by=w.tie_broken_by,
            group_means=dict(w.means),
            rater_counts=dict(w.counts),
            groups_missing=w.weighted.groups_missing,
            flagged_missing=w.weighted.flagged_missing,
            weights_applied=dict(w.weighted.weights_applied),
            percentile=w.percentile,
            z_score=w.z_score,
        )
        for w in work
    ]
