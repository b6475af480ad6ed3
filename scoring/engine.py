"""Four-creations (四个创建) scoring engine: pure functions over frozen dataclasses.

Every number a district may change lives in :class:`ScoringRules`. Arithmetic is
:class:`~decimal.Decimal` in one fixed context (so a caller's context cannot change
a result); only stored and displayed values are rounded, half-up to two decimals
(:func:`round2`). Comparisons that a person sees (stars, the inflation flag) use
the rounded values, so the screen and the flag always agree.

This module imports the standard library only: no Flask, no database, no project
package. Jobs, the web, the API and benchmarks all call :func:`score_school_month`
or the smaller functions below — except one: a large recomputation on PostgreSQL
(``scoring/result_sql.py``) repeats this arithmetic in SQL. A change to the arithmetic
here must be made there too; ``tests/scoring/test_results_db.py`` holds the two equal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from typing import Literal, ParamSpec, TypeVar, overload

IndicatorKind = Literal["judged", "checklist", "measured", "veto"]
Dimension = Literal["conditions", "service", "quality", "management"]
Source = Literal["self", "inspector", "satisfaction"]
Term = Literal["autumn", "spring"]
PointsValue = Decimal | int | float | bool
Number = Decimal | int | float | str

KINDS: tuple[str, ...] = ("judged", "checklist", "measured", "veto")
DIMENSIONS: tuple[str, ...] = ("conditions", "service", "quality", "management")
DIMENSION_NAMES_ZH: Mapping[str, str] = {
    "conditions": "保障好",
    "service": "服务好",
    "quality": "质量好",
    "management": "管理好",
}
SOURCES: tuple[str, ...] = ("self", "inspector", "satisfaction")

HUNDRED = Decimal(100)
_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_WEIGHT_SUM_TOLERANCE = Decimal("1e-9")
# 28 significant digits, the decimal default, but pinned so results never depend on the caller.
_CONTEXT = Context(
    prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _in_context(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with localcontext(_CONTEXT):
            return fn(*args, **kwargs)

    return wrapper


def _dec(value: Number) -> Decimal:
    """A finite Decimal from a Decimal, int, str or float (floats via their shortest repr)."""
    if isinstance(value, bool):
        raise TypeError("a yes/no value is not a number here")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        result = Decimal(value.strip())
    else:
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    return result


def _clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return max(low, min(high, value))


# "Compute in full precision": 28 significant digits leave an error of ~1e-25 after a
# few divisions, enough to put an exact half cent such as (0.3 × 150/14 + 0.5 × 1100/14)
# ÷ 0.8 = 53.125 at 53.12499…9 and round it down. A value is first snapped to SNAP_PLACES
# decimals (far below any real difference between two scores, far above the error), so
# that it rounds as the exact arithmetic would.
SNAP_PLACES = 20
_SNAP = Decimal(1).scaleb(-SNAP_PLACES)


def round2(x: Decimal) -> Decimal:
    """Round half-up (四舍五入) to 2 decimals: the stored and displayed value."""
    if type(x) is not Decimal or not x.is_finite():  # the checks and conversions of _dec
        x = _dec(x)
    if x.adjusted() < _CONTEXT.prec - SNAP_PLACES:  # i.e. the snap fits in the precision
        x = x.quantize(_SNAP, context=_CONTEXT)
    return x.quantize(_CENT, rounding=ROUND_HALF_UP, context=_CONTEXT)


# ---------------------------------------------------------------------------
# Settings


@dataclass(frozen=True)
class ScoringRules:
    """District-configurable scoring settings (考核规则); the defaults are the domain's.

    ``star_thresholds`` are the lowest scores for 5, 4, 3 and 2 stars (星级).
    Construction validates, so an invalid ``ScoringRules`` never reaches the engine;
    ``problems()`` lists what is wrong without raising.
    """

    weight_self: Decimal = Decimal("0.3")
    weight_inspector: Decimal = Decimal("0.5")
    weight_satisfaction: Decimal = Decimal("0.2")
    complaint_deduction: Decimal = Decimal(2)
    complaint_deduction_cap: Decimal = Decimal(10)
    stand_in_months: int = 3
    star_thresholds: tuple[Decimal, ...] = (Decimal(95), Decimal(85), Decimal(75), Decimal(60))
    inflation_gap_threshold: Decimal = Decimal(10)
    survey_scale_min: Decimal = Decimal(1)
    survey_scale_max: Decimal = Decimal(5)
    autumn_start_month: int = 9
    spring_start_month: int = 2
    spring_end_month: int = 7

    _DECIMAL_FIELDS = (
        "weight_self",
        "weight_inspector",
        "weight_satisfaction",
        "complaint_deduction",
        "complaint_deduction_cap",
        "inflation_gap_threshold",
        "survey_scale_min",
        "survey_scale_max",
    )

    def __post_init__(self) -> None:
        for name in self._DECIMAL_FIELDS:
            object.__setattr__(self, name, _dec(getattr(self, name)))
        object.__setattr__(self, "star_thresholds", tuple(_dec(t) for t in self.star_thresholds))
        self.validate()

    def weight(self, source: str) -> Decimal:
        """Default weight of a source: 'self' (自评), 'inspector' (督查), 'satisfaction' (民主评议)."""
        return {
            "self": self.weight_self,
            "inspector": self.weight_inspector,
            "satisfaction": self.weight_satisfaction,
        }[source]

    def problems(self) -> list[str]:
        """What is wrong with these rules, in plain words (empty when valid)."""
        out: list[str] = []
        weights = (self.weight_self, self.weight_inspector, self.weight_satisfaction)
        if any(w < 0 for w in weights):
            out.append("source weights must not be negative")
        if abs(sum(weights) - 1) > _WEIGHT_SUM_TOLERANCE:
            out.append(f"source weights must sum to 1 (they sum to {sum(weights)})")
        if self.complaint_deduction < 0 or self.complaint_deduction_cap < 0:
            out.append("complaint deduction and its cap must not be negative")
        months = self.stand_in_months
        if isinstance(months, bool) or not isinstance(months, int) or months < 0:
            out.append("stand-in window must be a whole number of months >= 0")
        thresholds = self.star_thresholds
        if len(thresholds) != 4:
            out.append("star thresholds must list the minimum for 5, 4, 3 and 2 stars")
        elif any(not _ZERO <= t <= HUNDRED for t in thresholds) or any(
            a < b for a, b in zip(thresholds, thresholds[1:], strict=False)
        ):
            out.append("star thresholds must be within 0-100 and descending")
        if self.inflation_gap_threshold < 0:
            out.append("inflation gap threshold must not be negative")
        if self.survey_scale_min >= self.survey_scale_max:
            out.append("survey scale minimum must be below its maximum")
        bounds = (self.spring_start_month, self.spring_end_month, self.autumn_start_month)
        if not all(isinstance(m, int) for m in bounds) or not (
            1 <= self.spring_start_month <= self.spring_end_month < self.autumn_start_month <= 12
        ):
            out.append(
                "semester months must satisfy 1 <= spring start <= spring end < autumn start <= 12"
            )
        return out

    def validate(self) -> None:
        """Raise ValueError listing every problem, if any."""
        problems = self.problems()
        if problems:
            raise ValueError("invalid scoring rules: " + "; ".join(problems))


DEFAULT_RULES = ScoringRules()


# ---------------------------------------------------------------------------
# Months and semesters


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, the unit of scoring (the school-month). ``Month(2025, 9) + 4`` is 2026-01."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1-12, got {self.month}")

    @classmethod
    def of(cls, day: date) -> Month:
        """The month a date falls in."""
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse 'YYYY-MM'."""
        year, month = text.strip().split("-")
        return cls(int(year), int(month))

    @classmethod
    def from_index(cls, index: int) -> Month:
        return cls(index // 12, index % 12 + 1)

    @property
    def index(self) -> int:
        """Months since year 0, so that month arithmetic is integer arithmetic."""
        return self.year * 12 + self.month - 1

    def __add__(self, months: int) -> Month:
        if not isinstance(months, int):
            return NotImplemented
        return Month.from_index(self.index + months)

    @overload
    def __sub__(self, other: int) -> Month: ...
    @overload
    def __sub__(self, other: Month) -> int: ...
    def __sub__(self, other: int | Month) -> Month | int:
        if isinstance(other, Month):
            return self.index - other.index
        if isinstance(other, int):
            return Month.from_index(self.index - other)
        return NotImplemented

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True, order=True)
class Semester:
    """A semester (学期): ``school_year`` is the year whose September starts the school year."""

    school_year: int
    term: Term

    def months(self, rules: ScoringRules = DEFAULT_RULES) -> tuple[Month, ...]:
        """The months of this semester, in order (satisfaction applies to each of them)."""
        if self.term == "autumn":
            first = Month(self.school_year, rules.autumn_start_month)
            last = Month(self.school_year + 1, rules.spring_start_month) - 1
        else:
            first = Month(self.school_year + 1, rules.spring_start_month)
            last = Month(self.school_year + 1, rules.spring_end_month)
        return tuple(first + i for i in range(last - first + 1))

    def __str__(self) -> str:
        return f"{self.school_year}-{self.school_year + 1} {self.term}"


def semester_of(year: int, month: int, rules: ScoringRules = DEFAULT_RULES) -> Semester | None:
    """Semester (学期) of a month: autumn Sep-Jan, spring Feb-Jul; None in the summer break."""
    Month(year, month)  # validates
    if rules.spring_start_month <= month <= rules.spring_end_month:
        return Semester(year - 1, "spring")
    if month >= rules.autumn_start_month:
        return Semester(year, "autumn")
    if month < rules.spring_start_month:
        return Semester(year - 1, "autumn")
    return None


# ---------------------------------------------------------------------------
# Indicators and source scores


def _normalise_curve(
    curve: Iterable[tuple[Number, Number]],
) -> tuple[tuple[Decimal, Decimal], ...]:
    points = sorted((_dec(x), _dec(p)) for x, p in curve)
    if not points:
        raise ValueError("a measured curve needs at least one (value, points) breakpoint")
    if any(a[0] == b[0] for a, b in zip(points, points[1:], strict=False)):
        raise ValueError("measured curve breakpoints must have distinct values")
    return tuple(points)


@dataclass(frozen=True)
class IndicatorSpec:
    """Indicator (二级指标) of a rubric version, as far as scoring needs it.

    ``kind``: judged (评分), checklist (是/否), measured (测量值 → curve), veto (一票否决).
    ``dimension``: 四好 — conditions 保障好, service 服务好, quality 质量好, management 管理好.
    ``levels``: the school levels it applies to (None: all); ``boarding_only``: 寄宿制 only.
    ``curve``: for measured indicators, (value, points) breakpoints.
    """

    code: str
    max_points: Decimal
    kind: IndicatorKind
    dimension: Dimension
    boarding_only: bool = False
    levels: frozenset[str] | None = None
    curve: tuple[tuple[Decimal, Decimal], ...] | None = None

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("an indicator needs a code")
        if self.kind not in KINDS:
            raise ValueError(f"{self.code}: unknown indicator kind {self.kind!r}")
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"{self.code}: unknown dimension {self.dimension!r}")
        max_points = _dec(self.max_points)
        if max_points < 0 or (self.kind != "veto" and max_points == 0):
            raise ValueError(f"{self.code}: max points must be positive")
        object.__setattr__(self, "max_points", max_points)
        if self.levels is not None:
            object.__setattr__(self, "levels", frozenset(self.levels))
        if self.kind == "measured":
            if self.curve is None:
                raise ValueError(f"{self.code}: a measured indicator needs a curve")
            object.__setattr__(self, "curve", _normalise_curve(self.curve))
        elif self.curve is not None:
            raise ValueError(f"{self.code}: only measured indicators have a curve")

    def applies_to(self, *, boarding: bool, level: str | None) -> bool:
        """Whether the indicator applies to a school of this kind."""
        if self.boarding_only and not boarding:
            return False
        return self.levels is None or level in self.levels


def applicable_indicators(
    indicators: Iterable[IndicatorSpec], *, boarding: bool, level: str | None
) -> tuple[IndicatorSpec, ...]:
    """The indicators that apply to a school (the rest are dropped and the score rescaled)."""
    return tuple(i for i in indicators if i.applies_to(boarding=boarding, level=level))


def _interpolate(value: Decimal, curve: Sequence[tuple[Decimal, Decimal]]) -> Decimal:
    if value <= curve[0][0]:
        return curve[0][1]
    for (x0, p0), (x1, p1) in zip(curve, curve[1:], strict=False):
        if value <= x1:
            return p0 + (value - x0) * (p1 - p0) / (x1 - x0)
    return curve[-1][1]


@_in_context
def measured_points(
    value: Number, curve: Iterable[tuple[Number, Number]], max_points: Number
) -> Decimal:
    """Points of a measured indicator (测量值): piecewise-linear over the curve, clamped.

    Below the first breakpoint the first points apply, above the last the last; the
    result is clamped to [0, max_points].
    """
    points = _interpolate(_dec(value), _normalise_curve(curve))
    return _clamp(points, _ZERO, _dec(max_points))


def indicator_points(spec: IndicatorSpec, value: PointsValue | None) -> Decimal | None:
    """Points of one non-veto indicator, clamped to [0, max]; None when not scored.

    A checklist item accepts True/False for full/no points. For a measured indicator
    the value here is already points (see :func:`measured_points`).
    """
    if value is None:
        return None
    if spec.kind == "veto":
        raise ValueError(f"{spec.code}: a veto indicator has no points")
    if isinstance(value, bool):
        if spec.kind != "checklist":
            raise TypeError(f"{spec.code}: yes/no answers need a checklist or veto indicator")
        return spec.max_points if value else _ZERO
    return _clamp(_dec(value), _ZERO, spec.max_points)


def veto_triggered(value: PointsValue | None) -> bool:
    """Whether a veto (一票否决) answer is triggered: True, or a number above 0."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    return _dec(value) > 0


def triggered_vetoes(
    indicators: Iterable[IndicatorSpec], points_by_code: Mapping[str, PointsValue | None]
) -> tuple[str, ...]:
    """Codes of the veto (一票否决) indicators triggered in these answers."""
    return tuple(
        i.code
        for i in indicators
        if i.kind == "veto" and veto_triggered(points_by_code.get(i.code))
    )


def _unique(indicators: Iterable[IndicatorSpec]) -> tuple[IndicatorSpec, ...]:
    specs = tuple(indicators)
    codes = [i.code for i in specs]
    if len(set(codes)) != len(codes):
        raise ValueError("indicator codes must be unique within a programme")
    return specs


@dataclass(frozen=True)
class SourceScore:
    """One source's score (自评 or 督查) of a programme, 0-100 over applicable indicators.

    ``dimensions`` holds a 0-100 score per 四好 dimension that has indicators;
    ``indicator_points`` the clamped points of each scored indicator; ``missing`` the
    indicators left unscored (they count 0).
    """

    score: Decimal
    points: Decimal
    max_points: Decimal
    dimensions: Mapping[str, Decimal] = field(hash=False)
    indicator_points: Mapping[str, Decimal] = field(hash=False)
    missing: tuple[str, ...]
    veto_triggered: bool
    vetoes: tuple[str, ...]


@_in_context
def source_score(
    indicators: Iterable[IndicatorSpec], points_by_code: Mapping[str, PointsValue | None]
) -> SourceScore | None:
    """Source score: Σ points ÷ Σ max × 100 over the (applicable) indicators given.

    Pass only applicable indicators (:func:`applicable_indicators`); answers for other
    codes are ignored. Unscored indicators count 0 once anything is scored; with
    nothing scored the result is None. Veto indicators carry no points: they are
    reported in ``vetoes``.
    """
    specs = _unique(indicators)
    scorable = [i for i in specs if i.kind != "veto"]
    points = {i.code: indicator_points(i, points_by_code.get(i.code)) for i in scorable}
    if all(p is None for p in points.values()):
        return None
    total = sum((p for p in points.values() if p is not None), _ZERO)
    total_max = sum((i.max_points for i in scorable), _ZERO)
    dimensions: dict[str, Decimal] = {}
    for dimension in DIMENSIONS:
        members = [i for i in scorable if i.dimension == dimension]
        if members:
            got = sum((points[i.code] or _ZERO for i in members), _ZERO)
            dimensions[dimension] = got * HUNDRED / sum((i.max_points for i in members), _ZERO)
    vetoes = triggered_vetoes(specs, points_by_code)
    return SourceScore(
        score=total * HUNDRED / total_max,
        points=total,
        max_points=total_max,
        dimensions=dimensions,
        indicator_points={c: p for c, p in points.items() if p is not None},
        missing=tuple(c for c, p in points.items() if p is None),
        veto_triggered=bool(vetoes),
        vetoes=vetoes,
    )


@_in_context
def satisfaction_score(
    group_means: Mapping[str, Number | None], rules: ScoringRules = DEFAULT_RULES
) -> Decimal | None:
    """Satisfaction (民主评议) 0-100: each group's 1-5 mean → (mean − 1) ÷ 4 × 100, groups equal.

    Groups with no mean (None) are left out; with no group at all the result is None.
    """
    low, high = rules.survey_scale_min, rules.survey_scale_max
    scores = []
    for group in sorted(group_means):
        raw = group_means[group]
        if raw is None:
            continue
        mean = _dec(raw)
        if not low <= mean <= high:
            raise ValueError(f"satisfaction mean of {group!r} is outside {low}-{high}: {mean}")
        scores.append((mean - low) * HUNDRED / (high - low))
    if not scores:
        return None
    return sum(scores, _ZERO) / len(scores)


# ---------------------------------------------------------------------------
# Site visits


@dataclass(frozen=True)
class SiteVisit:
    """Site visit (督查) by an inspector: points by indicator code, measured values by code."""

    visited_on: date
    points: Mapping[str, PointsValue | None] = field(default_factory=dict, hash=False)
    measured: Mapping[str, Number] = field(default_factory=dict, hash=False)
    visit_id: int | str | None = None

    @property
    def month(self) -> Month:
        return Month.of(self.visited_on)


@dataclass(frozen=True)
class PickedVisit:
    """The visit that is the inspector source of a month; ``stand_in`` if from an earlier month."""

    visit: SiteVisit
    stand_in: bool


def pick_inspector_visit(
    month: Month, visits: Iterable[SiteVisit], rules: ScoringRules = DEFAULT_RULES
) -> PickedVisit | None:
    """The month's latest visit, else the latest of the previous ``stand_in_months`` (代评).

    Later months are ignored; visits on the same day are ordered as given (last wins).
    None means the month is unverified (未核验).
    """
    earliest = month - rules.stand_in_months
    in_month: tuple[tuple[date, int], SiteVisit] | None = None
    earlier: tuple[tuple[date, int], SiteVisit] | None = None
    for position, visit in enumerate(visits):
        key = (visit.visited_on, position)
        visit_month = visit.month
        if visit_month == month:
            if in_month is None or key > in_month[0]:
                in_month = (key, visit)
        elif earliest <= visit_month < month and (earlier is None or key > earlier[0]):
            earlier = (key, visit)
    if in_month is not None:
        return PickedVisit(in_month[1], stand_in=False)
    if earlier is not None:
        return PickedVisit(earlier[1], stand_in=True)
    return None


# ---------------------------------------------------------------------------
# Results


def star_level(score: Number, rules: ScoringRules = DEFAULT_RULES) -> int:
    """Star rating (星级): 5 at ≥ 95, 4 at ≥ 85, 3 at ≥ 75, 2 at ≥ 60, else 1 (on the rounded score)."""
    return _stars_of_shown(round2(_dec(score)), rules)


def _stars_of_shown(shown: Decimal, rules: ScoringRules) -> int:
    for stars, threshold in zip((5, 4, 3, 2), rules.star_thresholds, strict=True):
        if shown >= threshold:
            return stars
    return 1


@dataclass(frozen=True)
class ProgrammeResult:
    """Result of one programme (创建项目) for a school-month.

    ``score`` is full precision, ``score_rounded`` what is stored and shown.
    ``weights`` are the source weights rescaled over the sources present.
    ``inflation_gap`` is self − inspector (自评虚高) on the rounded scores.
    """

    score: Decimal
    score_rounded: Decimal
    stars: int
    sources: tuple[Source, ...]
    weights: Mapping[str, Decimal] = field(hash=False)
    weighted_mean: Decimal | None
    complaint_deduction: Decimal
    verified_complaints: int
    veto: bool
    unverified: bool
    stand_in: bool
    inflation_gap: Decimal | None
    inflated: bool


def _check_score(name: str, value: Number | None) -> Decimal | None:
    if value is None:
        return None
    score = value if type(value) is Decimal and value.is_finite() else _dec(value)
    if not _ZERO <= score <= HUNDRED:
        raise ValueError(f"{name} score must be within 0-100, got {score}")
    return score


@_in_context
def programme_result(
    self_score: Number | None,
    inspector_score: Number | None,
    satisfaction: Number | None,
    verified_complaints: int = 0,
    veto: bool = False,
    rules: ScoringRules = DEFAULT_RULES,
    stand_in: bool = False,
    *,
    inflation_gap: Number | None = None,
) -> ProgrammeResult | None:
    """Programme result: weighted mean of the sources present − complaints, clamped 0-100.

    Weights (self 0.3, inspector 0.5, satisfaction 0.2) are rescaled over the sources
    present; each verified complaint (查实投诉) deducts 2, at most 10; a veto (一票否决)
    makes it 0. No source at all gives None — except under a veto, which is 0 regardless.
    Without an inspector score the result is unverified. ``inflation_gap`` overrides the
    self − inspector gap (e.g. computed on the indicators both scored).
    """
    if isinstance(verified_complaints, bool) or verified_complaints < 0:
        raise ValueError("verified complaints must be a count >= 0")
    self_value = _check_score("self", self_score)
    inspector_value = _check_score("inspector", inspector_score)
    used = [
        (source, weight, value)
        for source, weight, value in (
            ("self", rules.weight_self, self_value),
            ("inspector", rules.weight_inspector, inspector_value),
            ("satisfaction", rules.weight_satisfaction, _check_score("satisfaction", satisfaction)),
        )
        if value is not None and weight > 0
    ]
    if not used and not veto:
        return None

    total_weight = sum((w for _, w, _ in used), _ZERO)
    weighted_mean = sum((w * v for _, w, v in used), _ZERO) / total_weight if used else None
    deduction = min(rules.complaint_deduction * verified_complaints, rules.complaint_deduction_cap)
    if veto or weighted_mean is None:
        score = _ZERO
    else:
        score = _clamp(weighted_mean - deduction, _ZERO, HUNDRED)

    gap: Decimal | None = None
    if self_value is not None and inspector_value is not None:
        gap = (
            round2(_dec(inflation_gap))
            if inflation_gap is not None
            else round2(self_value) - round2(inspector_value)
        )
    shown = round2(score)
    return ProgrammeResult(
        score=score,
        score_rounded=shown,
        stars=_stars_of_shown(shown, rules),
        sources=tuple(s for s, _, _ in used),  # type: ignore[misc]
        weights={s: w / total_weight for s, w, _ in used},
        weighted_mean=weighted_mean,
        complaint_deduction=deduction,
        verified_complaints=verified_complaints,
        veto=veto,
        unverified=inspector_value is None,
        stand_in=stand_in and inspector_value is not None,
        inflation_gap=gap,
        inflated=gap is not None and gap > rules.inflation_gap_threshold,
    )


@dataclass(frozen=True)
class OverallResult:
    """Overall four-creations (四个创建) result of a school-month: mean of its programmes."""

    score: Decimal
    score_rounded: Decimal
    stars: int
    programmes: tuple[str, ...]
    missing: tuple[str, ...]


@_in_context
def overall_result(
    programme_scores: Mapping[str, Number | None], rules: ScoringRules = DEFAULT_RULES
) -> OverallResult | None:
    """Plain mean of the applicable programmes' results (pass only applicable ones).

    Programmes without a result (None) are left out and listed in ``missing``;
    with no result at all the answer is None.
    """
    codes = sorted(programme_scores)
    scored = [(c, _dec(programme_scores[c])) for c in codes if programme_scores[c] is not None]
    if not scored:
        return None
    score = sum((v for _, v in scored), _ZERO) / len(scored)
    return OverallResult(
        score=score,
        score_rounded=round2(score),
        stars=star_level(score, rules),
        programmes=tuple(c for c, _ in scored),
        missing=tuple(c for c in codes if programme_scores[c] is None),
    )


@dataclass(frozen=True)
class YearResult:
    """Year score (年度得分): mean of the school-months with results."""

    score: Decimal
    score_rounded: Decimal
    stars: int
    months: int


@_in_context
def year_score(
    month_scores: Iterable[Number | None], rules: ScoringRules = DEFAULT_RULES
) -> YearResult | None:
    """Mean of the school-months that have a result (None entries are skipped)."""
    values = [_dec(v) for v in month_scores if v is not None]
    if not values:
        return None
    score = sum(values, _ZERO) / len(values)
    return YearResult(score, round2(score), star_level(score, rules), len(values))


# ---------------------------------------------------------------------------
# A whole school-month


@dataclass(frozen=True)
class ProgrammeInput:
    """One programme (创建项目) of a school-month: its rubric and everything scored against it.

    ``self_points`` is None when no self-assessment (自评) was submitted. Measured
    indicators take their value from the source's own ``*measured`` mapping, else from
    ``measured`` (values derived for the school, e.g. from the staff roster), else from
    points given directly. ``satisfaction`` is 0-100 (see :func:`satisfaction_score`);
    None falls back to the school-month's. ``incident_veto`` is a veto recorded outside
    the rubric answers (e.g. by the district).
    """

    code: str
    indicators: tuple[IndicatorSpec, ...]
    self_points: Mapping[str, PointsValue | None] | None = field(default=None, hash=False)
    self_measured: Mapping[str, Number] = field(default_factory=dict, hash=False)
    visits: tuple[SiteVisit, ...] = ()
    measured: Mapping[str, Number] = field(default_factory=dict, hash=False)
    satisfaction: Number | None = None
    verified_complaints: int = 0
    incident_veto: bool = False
    boarding_only: bool = False
    levels: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "indicators", _unique(self.indicators))
        object.__setattr__(self, "visits", tuple(self.visits))
        if self.levels is not None:
            object.__setattr__(self, "levels", frozenset(self.levels))

    def applies_to(self, *, boarding: bool, level: str | None) -> bool:
        """Whether the programme applies (文化宿舍 only to boarding schools)."""
        if self.boarding_only and not boarding:
            return False
        return self.levels is None or level in self.levels


@dataclass(frozen=True)
class SchoolMonthInput:
    """Everything needed to score one school for one month."""

    month: Month
    boarding: bool
    level: str | None
    programmes: tuple[ProgrammeInput, ...]
    satisfaction: Number | None = None
    school_id: int | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "programmes", tuple(self.programmes))
        codes = [p.code for p in self.programmes]
        if len(set(codes)) != len(codes):
            raise ValueError("programme codes must be unique within a school-month")


@dataclass(frozen=True)
class IndicatorResult:
    """Per-indicator points of a school-month (heat map 指标×学校); None when not scored."""

    code: str
    kind: IndicatorKind
    dimension: Dimension
    max_points: Decimal
    self_points: Decimal | None
    inspector_points: Decimal | None
    veto_triggered: bool


@dataclass(frozen=True)
class ProgrammeMonthResult:
    """One programme of a school-month: result, both source scores, and the detail behind them.

    ``dimensions`` combines self and inspector 四好 scores with their source weights
    rescaled over the two (satisfaction has no dimension). ``vetoes`` are the triggered
    veto codes (plus 'incident' for ``incident_veto``).
    """

    code: str
    result: ProgrammeResult | None
    self_source: SourceScore | None
    inspector_source: SourceScore | None
    visit: PickedVisit | None
    satisfaction: Decimal | None
    indicators: tuple[IndicatorResult, ...]
    dimensions: Mapping[str, Decimal] = field(hash=False)
    vetoes: tuple[str, ...]


@dataclass(frozen=True)
class SchoolMonthResult:
    """All results of one school-month: per applicable programme, overall, 四好 radar."""

    school_id: int | str | None
    month: Month
    programmes: Mapping[str, ProgrammeMonthResult] = field(hash=False)
    not_applicable: tuple[str, ...]
    overall: OverallResult | None
    dimensions: Mapping[str, Decimal] = field(hash=False)
    vetoed: tuple[str, ...]


def _resolve_points(
    specs: Sequence[IndicatorSpec],
    points: Mapping[str, PointsValue | None],
    own_measured: Mapping[str, Number],
    derived_measured: Mapping[str, Number],
) -> dict[str, PointsValue | None]:
    resolved: dict[str, PointsValue | None] = dict(points)
    for spec in specs:
        if spec.kind != "measured" or spec.curve is None:
            continue
        value = own_measured.get(spec.code)
        if value is None:
            value = derived_measured.get(spec.code)
        if value is not None:
            resolved[spec.code] = measured_points(value, spec.curve, spec.max_points)
    return resolved


def _combined_dimensions(
    parts: Sequence[tuple[Decimal, SourceScore]],
) -> dict[str, Decimal]:
    if not parts:
        return {}
    if sum((w for w, _ in parts), _ZERO) == 0:
        parts = [(Decimal(1), s) for _, s in parts]
    combined: dict[str, Decimal] = {}
    for dimension in DIMENSIONS:
        values = [(w, s.dimensions[dimension]) for w, s in parts if dimension in s.dimensions]
        weight = sum((w for w, _ in values), _ZERO)
        if values and weight > 0:
            combined[dimension] = sum((w * v for w, v in values), _ZERO) / weight
    return combined


def _score_programme(
    programme: ProgrammeInput, school_month: SchoolMonthInput, rules: ScoringRules
) -> ProgrammeMonthResult:
    month = school_month.month
    specs = applicable_indicators(
        programme.indicators, boarding=school_month.boarding, level=school_month.level
    )
    scorable = [s for s in specs if s.kind != "veto"]

    self_values: dict[str, PointsValue | None] = {}
    self_source = None
    if programme.self_points is not None:
        self_values = _resolve_points(
            specs, programme.self_points, programme.self_measured, programme.measured
        )
        self_source = source_score(specs, self_values)

    picked = pick_inspector_visit(month, programme.visits, rules)
    inspector_values: dict[str, PointsValue | None] = {}
    inspector_source = None
    if picked is not None:
        inspector_values = _resolve_points(
            specs, picked.visit.points, picked.visit.measured, programme.measured
        )
        inspector_source = source_score(specs, inspector_values)

    # A veto belongs to the month it happened in: any of the month's visits counts,
    # a stand-in visit from an earlier month does not.
    vetoes = set(triggered_vetoes(specs, self_values))
    for visit in programme.visits:
        if visit.month == month:
            vetoes.update(triggered_vetoes(specs, visit.points))
    ordered_vetoes = tuple(s.code for s in specs if s.code in vetoes)
    if programme.incident_veto:
        ordered_vetoes += ("incident",)

    # Inflation (自评虚高) compares the indicators both sources actually scored.
    gap = None
    if self_source is not None and inspector_source is not None:
        common = [
            s
            for s in scorable
            if s.code in self_source.indicator_points
            and s.code in inspector_source.indicator_points
        ]
        if common:
            self_common = source_score(common, self_values)
            inspector_common = source_score(common, inspector_values)
            if self_common is not None and inspector_common is not None:
                gap = round2(self_common.score) - round2(inspector_common.score)

    satisfaction_raw = (
        programme.satisfaction if programme.satisfaction is not None else school_month.satisfaction
    )
    satisfaction = _dec(satisfaction_raw) if satisfaction_raw is not None else None
    result = programme_result(
        self_source.score if self_source else None,
        inspector_source.score if inspector_source else None,
        satisfaction,
        programme.verified_complaints,
        bool(ordered_vetoes),
        rules,
        stand_in=picked.stand_in if picked else False,
        inflation_gap=gap,
    )

    parts = []
    if self_source is not None:
        parts.append((rules.weight_self, self_source))
    if inspector_source is not None:
        parts.append((rules.weight_inspector, inspector_source))

    indicator_results = []
    for spec in specs:
        is_veto = spec.kind == "veto"
        indicator_results.append(
            IndicatorResult(
                code=spec.code,
                kind=spec.kind,
                dimension=spec.dimension,
                max_points=spec.max_points,
                self_points=None if is_veto else indicator_points(spec, self_values.get(spec.code)),
                inspector_points=None
                if is_veto
                else indicator_points(spec, inspector_values.get(spec.code)),
                veto_triggered=spec.code in vetoes,
            )
        )
    return ProgrammeMonthResult(
        code=programme.code,
        result=result,
        self_source=self_source,
        inspector_source=inspector_source,
        visit=picked,
        satisfaction=satisfaction,
        indicators=tuple(indicator_results),
        dimensions=_combined_dimensions(parts),
        vetoes=ordered_vetoes,
    )


@_in_context
def score_school_month(
    school_month: SchoolMonthInput, rules: ScoringRules = DEFAULT_RULES
) -> SchoolMonthResult:
    """Score a whole school-month: each applicable programme, the overall mean, the 四好 radar.

    Programmes that do not apply to the school (文化宿舍 at a day school) are listed in
    ``not_applicable`` and left out of the overall mean.
    """
    results: dict[str, ProgrammeMonthResult] = {}
    not_applicable: list[str] = []
    for programme in school_month.programmes:
        if not programme.applies_to(boarding=school_month.boarding, level=school_month.level):
            not_applicable.append(programme.code)
            continue
        results[programme.code] = _score_programme(programme, school_month, rules)

    overall = overall_result(
        {code: r.result.score if r.result else None for code, r in results.items()}, rules
    )
    dimensions: dict[str, Decimal] = {}
    for dimension in DIMENSIONS:
        values = [r.dimensions[dimension] for r in results.values() if dimension in r.dimensions]
        if values:
            dimensions[dimension] = sum(values, _ZERO) / len(values)
    return SchoolMonthResult(
        school_id=school_month.school_id,
        month=school_month.month,
        programmes=results,
        not_applicable=tuple(not_applicable),
        overall=overall,
        dimensions=dimensions,
        vetoed=tuple(code for code, r in results.items() if r.result and r.result.veto),
    )


__all__ = [
    "DEFAULT_RULES",
    "DIMENSIONS",
    "DIMENSION_NAMES_ZH",
    "HUNDRED",
    "KINDS",
    "SOURCES",
    "IndicatorResult",
    "IndicatorSpec",
    "Month",
    "OverallResult",
    "PickedVisit",
    "ProgrammeInput",
    "ProgrammeMonthResult",
    "ProgrammeResult",
    "SchoolMonthInput",
    "SchoolMonthResult",
    "ScoringRules",
    "Semester",
    "SiteVisit",
    "SourceScore",
    "YearResult",
    "applicable_indicators",
    "indicator_points",
    "measured_points",
    "overall_result",
    "pick_inspector_visit",
    "programme_result",
    "round2",
    "satisfaction_score",
    "score_school_month",
    "semester_of",
    "source_score",
    "star_level",
    "triggered_vetoes",
    "veto_triggered",
    "year_score",
]
