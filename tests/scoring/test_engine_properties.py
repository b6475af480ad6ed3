"""Invariants of the four-creations scoring engine, checked with hypothesis."""

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.engine import (
    DIMENSIONS,
    HUNDRED,
    IndicatorSpec,
    Month,
    ProgrammeInput,
    SchoolMonthInput,
    ScoringRules,
    SiteVisit,
    applicable_indicators,
    measured_points,
    programme_result,
    round2,
    score_school_month,
    semester_of,
    source_score,
    star_level,
)

FAST = settings(max_examples=60, deadline=None)
LEVELS = ("小学", "初中", "高中")
NOV = Month(2025, 11)

halves = st.integers(min_value=1, max_value=100).map(lambda n: D(n) / 2)  # 0.5 … 50
scores = st.integers(min_value=0, max_value=10_000).map(lambda n: D(n) / 100)  # 0.00 … 100.00
optional_scores = st.none() | scores


@st.composite
def rules(draw):
    """Valid district rules: weights in hundredths summing to exactly 1."""
    a = draw(st.integers(0, 100))
    b = draw(st.integers(0, 100 - a))
    return ScoringRules(
        weight_self=D(a) / 100,
        weight_inspector=D(b) / 100,
        weight_satisfaction=D(100 - a - b) / 100,
        complaint_deduction=D(draw(st.integers(0, 5))),
        complaint_deduction_cap=D(draw(st.integers(0, 20))),
    )


@st.composite
def indicators(draw, min_size=1, max_size=8, restricted=True):
    """Judged and checklist indicators, some boarding-only or level-restricted."""
    n = draw(st.integers(min_size, max_size))
    specs = []
    for i in range(n):
        specs.append(
            IndicatorSpec(
                code=f"I{i}",
                max_points=draw(halves),
                kind=draw(st.sampled_from(("judged", "checklist"))),
                dimension=draw(st.sampled_from(DIMENSIONS)),
                boarding_only=draw(st.booleans()) if restricted else False,
                levels=draw(st.none() | st.frozensets(st.sampled_from(LEVELS), min_size=1))
                if restricted
                else None,
            )
        )
    return tuple(specs)


@st.composite
def points_for(draw, specs, allow_missing=True):
    """Points on the 0.5 step for each indicator, sometimes missing or out of range."""
    out = {}
    for spec in specs:
        if allow_missing and draw(st.integers(0, 4)) == 0:
            continue
        steps = int(spec.max_points * 2)
        out[spec.code] = D(draw(st.integers(-2, steps + 2))) / 2  # a little outside, clamped
    return out


# --- bounds ---------------------------------------------------------------------------


@FAST
@given(
    optional_scores, optional_scores, optional_scores, st.integers(0, 12), st.booleans(), rules()
)
def test_programme_result_within_0_and_100(self_score, inspector, satisfaction, n, veto, r):
    result = programme_result(self_score, inspector, satisfaction, n, veto, r)
    if result is None:
        assert not veto
        return
    assert 0 <= result.score <= 100
    assert result.score_rounded == round2(result.score)
    assert 1 <= result.stars <= 5
    assert result.complaint_deduction <= r.complaint_deduction_cap


@FAST
@given(st.data())
def test_source_score_within_0_and_100(data):
    specs = data.draw(indicators(restricted=False))
    result = source_score(specs, data.draw(points_for(specs)))
    if result is not None:
        assert 0 <= result.score <= 100
        assert all(0 <= v <= 100 for v in result.dimensions.values())


# --- veto -----------------------------------------------------------------------------


@FAST
@given(optional_scores, optional_scores, optional_scores, st.integers(0, 12), rules())
def test_veto_always_gives_zero(self_score, inspector, satisfaction, n, r):
    result = programme_result(self_score, inspector, satisfaction, n, True, r)
    assert result is not None
    assert result.score == 0
    assert result.stars == 1


@FAST
@given(st.data())
def test_veto_indicator_zeroes_the_school_month(data):
    specs = data.draw(indicators(restricted=False))
    veto = IndicatorSpec("V", D(0), "veto", "quality")
    self_points = {**data.draw(points_for(specs)), "V": True}
    programme = ProgrammeInput("p", (*specs, veto), self_points=self_points, satisfaction=D(90))
    result = score_school_month(SchoolMonthInput(NOV, False, "初中", (programme,)))
    assert result.programmes["p"].result.score == 0
    assert result.vetoed == ("p",)


# --- monotonicity ---------------------------------------------------------------------


@FAST
@given(st.data())
def test_score_never_drops_when_an_indicator_gains_points(data):
    specs = data.draw(indicators(restricted=False))
    r = data.draw(rules())
    self_points = data.draw(points_for(specs, allow_missing=False))
    inspector_points = data.draw(points_for(specs, allow_missing=False))
    which = data.draw(st.sampled_from(("self", "inspector")))
    code = data.draw(st.sampled_from([s.code for s in specs]))
    gain = D(data.draw(st.integers(1, 20))) / 2

    def run(self_pts, inspector_pts):
        programme = ProgrammeInput(
            "p",
            specs,
            self_points=self_pts,
            visits=(SiteVisit(date(2025, 11, 10), inspector_pts),),
            satisfaction=D(50),
            verified_complaints=1,
        )
        return score_school_month(SchoolMonthInput(NOV, False, None, (programme,)), r)

    before = run(self_points, inspector_points)
    if which == "self":
        self_points = {**self_points, code: self_points[code] + gain}
    else:
        inspector_points = {**inspector_points, code: inspector_points[code] + gain}
    after = run(self_points, inspector_points)
    assert after.programmes["p"].result.score >= before.programmes["p"].result.score
    assert after.overall.score >= before.overall.score


@FAST
@given(optional_scores, optional_scores, optional_scores, scores, st.sampled_from((0, 1, 2)))
def test_programme_result_monotone_in_each_source(self_score, inspector, satisfaction, bump, i):
    args = [self_score, inspector, satisfaction]
    if args[i] is None:
        return
    before = programme_result(*args)
    args[i] = max(args[i], bump)
    after = programme_result(*args)
    assert after.score >= before.score


@FAST
@given(st.lists(st.tuples(scores, scores), min_size=1, max_size=6, unique_by=lambda p: p[0]))
def test_measured_points_monotone_for_a_rising_curve(breaks):
    xs = sorted(x for x, _ in breaks)
    ps = sorted(p for _, p in breaks)
    curve = tuple(zip(xs, ps, strict=True))
    values = [D(v) for v in range(-10, 111, 7)]
    got = [measured_points(v, curve, D(60)) for v in values]
    assert all(0 <= g <= 60 for g in got)
    assert got == sorted(got)


# --- rescaling ------------------------------------------------------------------------


@FAST
@given(st.data(), st.integers(2, 1000))
def test_scaling_every_max_and_points_keeps_the_score(data, k):
    specs = data.draw(indicators(restricted=False))
    points = data.draw(points_for(specs))
    scaled_specs = [IndicatorSpec(s.code, s.max_points * k, s.kind, s.dimension) for s in specs]
    scaled_points = {c: p * k for c, p in points.items()}
    original = source_score(specs, points)
    scaled = source_score(scaled_specs, scaled_points)
    if original is None:
        assert scaled is None
    else:
        assert scaled.score == original.score
        assert scaled.dimensions == original.dimensions


@FAST
@given(optional_scores, optional_scores, optional_scores, rules())
def test_applied_weights_sum_to_one(self_score, inspector, satisfaction, r):
    result = programme_result(self_score, inspector, satisfaction, rules=r)
    if result is None:
        return
    assert set(result.weights) == set(result.sources)
    assert all(w > 0 for w in result.weights.values())
    assert abs(sum(result.weights.values()) - 1) <= D("1e-24")
    # the score is the weighted mean under those weights
    present = {"self": self_score, "inspector": inspector, "satisfaction": satisfaction}
    expected = sum(result.weights[s] * present[s] for s in result.sources)
    assert abs(expected - result.weighted_mean) <= D("1e-20")


@FAST
@given(st.data(), st.booleans(), st.sampled_from(LEVELS))
def test_dropping_non_applicable_indicators_is_like_never_having_them(data, boarding, level):
    specs = data.draw(indicators())
    self_points = data.draw(points_for(specs))
    inspector_points = data.draw(points_for(specs))
    kept = applicable_indicators(specs, boarding=boarding, level=level)
    kept_codes = {s.code for s in kept}

    def run(indicator_specs, self_pts, inspector_pts):
        programme = ProgrammeInput(
            "p",
            indicator_specs,
            self_points=self_pts,
            visits=(SiteVisit(date(2025, 10, 2), inspector_pts),),
            satisfaction=D(70),
        )
        return score_school_month(SchoolMonthInput(NOV, boarding, level, (programme,)))

    def only_kept(points):
        return {c: p for c, p in points.items() if c in kept_codes}

    with_all = run(specs, self_points, inspector_points)
    never_had = run(kept, only_kept(self_points), only_kept(inspector_points))
    # everything but the raw visit echoed back (which still carries the dropped answers)
    assert replace(with_all.programmes["p"], visit=None) == replace(
        never_had.programmes["p"], visit=None
    )
    assert with_all.overall == never_had.overall


# --- rounding, stars, semesters -------------------------------------------------------


@FAST
@given(st.integers(min_value=0, max_value=100_000))
def test_round2_is_half_up(n):
    value = D(n) / 1000  # three decimals, 0 … 100
    rounded = round2(value)
    assert rounded.as_tuple().exponent == -2
    if n % 10 == 5:
        assert rounded == value + D("0.005")  # exactly half always goes up
    else:
        assert abs(rounded - value) < D("0.005")


@FAST
@given(scores, scores)
def test_stars_never_fall_as_score_rises(a, b):
    low, high = sorted((a, b))
    assert star_level(low) <= star_level(high)


@FAST
@given(st.integers(2000, 2100), st.integers(1, 12))
def test_every_school_month_has_one_semester(year, month):
    semester = semester_of(year, month)
    if month == 8:
        assert semester is None
    else:
        assert Month(year, month) in semester.months()


@FAST
@given(st.lists(scores, min_size=1, max_size=4), st.booleans())
def test_overall_lies_between_its_programmes(programme_scores, boarding):
    programmes = tuple(
        ProgrammeInput(f"p{i}", (IndicatorSpec("A", HUNDRED, "judged", "quality"),), {"A": s})
        for i, s in enumerate(programme_scores)
    )
    result = score_school_month(SchoolMonthInput(NOV, boarding, None, programmes))
    results = [p.result.score for p in result.programmes.values()]
    assert min(results) <= result.overall.score <= max(results)
