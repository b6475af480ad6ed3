"""Tests of the pure staff performance evaluation engine (后勤人员工作业绩评价)."""

from __future__ import annotations

import ast
import dataclasses
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import staff_engine
from scoring.staff_engine import (
    DEFAULT_PLAN,
    Dimension,
    EvaluationPlan,
    GradeBand,
    PlanError,
    RaterGroup,
    Rating,
    RatingError,
    StaffInput,
    check_quota,
    evaluate_school,
    grade_for,
    group_scores,
    normalise,
    quota_size,
    rating_total,
    weighted_score,
)

D = Decimal
PLAN = DEFAULT_PLAN
DIM_MAX = {d.code: d.max_points for d in PLAN.dimensions}
GROUPS = tuple(g.code for g in PLAN.rater_groups)
GRADE_ORDER = {b.code: i for i, b in enumerate(PLAN.grade_bands)}
FAST = settings(max_examples=60, deadline=None)


def ballot(total, plan: EvaluationPlan = PLAN) -> dict[str, Decimal]:
    """Points per dimension, each the same share of its max, summing to ``total``."""
    share = D(str(total)) / 100
    return {d.code: d.max_points * share for d in plan.dimensions}


def person(staff_id, by_group, **flags) -> StaffInput:
    """A staff member with one rating per group: ``by_group`` maps group → total."""
    if not isinstance(by_group, dict):
        by_group = dict.fromkeys(GROUPS, by_group)
    ratings = tuple(Rating(g, ballot(t)) for g, t in by_group.items())
    return StaffInput(staff_id, f"员工{staff_id}", "食堂操作员", ratings=ratings, **flags)


def by_id(results):
    return {r.staff_id: r for r in results}


# ------------------------------------------------------------------ purity


def test_engine_imports_only_the_standard_library():
    source = Path(staff_engine.__file__).read_text(encoding="utf-8")
    modules = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import in a pure engine"
            modules.append(node.module or "")
    assert modules
    outside = [m for m in modules if m.split(".")[0] not in sys.stdlib_module_names]
    assert outside == [], f"non-stdlib imports: {outside}"


# ------------------------------------------------------------------ plan


def test_default_plan_is_valid_and_matches_the_domain():
    assert PLAN.validate() == []
    assert [(d.code, d.label, d.max_points) for d in PLAN.dimensions] == [
        ("ethics", "德", 15),
        ("ability", "能", 20),
        ("diligence", "勤", 25),
        ("results", "绩", 30),
        ("integrity", "廉", 10),
    ]
    assert {g.code: g.weight for g in PLAN.rater_groups} == {
        "self": D("0.10"),
        "leadership": D("0.40"),
        "colleagues": D("0.20"),
        "served": D("0.30"),
    }
    assert [(b.code, b.label, b.min_score) for b in PLAN.grade_bands] == [
        ("excellent", "优秀", 90),
        ("qualified", "合格", 70),
        ("basic", "基本合格", 60),
        ("unqualified", "不合格", 0),
    ]
    assert PLAN.excellent_quota == D("0.20")


def test_plan_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PLAN.excellent_quota = D("0.5")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (
            {
                "rater_groups": (
                    RaterGroup("self", "本人", "0.5"),
                    RaterGroup("leadership", "领导", "0.4"),
                )
            },
            "权重之和应为 1，当前为 0.9",
        ),
        (
            {"dimensions": (Dimension("ethics", "德", 50), Dimension("ability", "能", 40))},
            "满分之和应为 100，当前为 90",
        ),
        (
            {
                "grade_bands": (
                    GradeBand("excellent", "优秀", 90),
                    GradeBand("basic", "基本合格", 60),
                    GradeBand("qualified", "合格", 70),
                    GradeBand("unqualified", "不合格", 0),
                )
            },
            "从高到低",
        ),
        (
            {
                "grade_bands": (
                    GradeBand("excellent", "优秀", 90),
                    GradeBand("qualified", "合格", 70),
                )
            },
            "最低等次的分数线应为 0",
        ),
        ({"excellent_quota": D("1.5")}, "优秀名额比例应在 0 到 1 之间"),
        ({"excellent_quota": D("-0.1")}, "优秀名额比例应在 0 到 1 之间"),
        ({"tie_break_groups": ("principal",)}, "principal"),
        ({"veto_grade": "fail"}, "fail"),
        ({"out_of_range": "ignore"}, "reject 或 clamp"),
        (
            {"dimensions": (Dimension("ethics", "德", 50), Dimension("ethics", "德", 50))},
            "代码重复：ethics",
        ),
    ],
)
def test_validate_reports_each_problem(changes, fragment):
    errors = dataclasses.replace(PLAN, **changes).validate()
    assert any(fragment in e for e in errors), errors


def test_evaluate_school_refuses_an_invalid_plan():
    with pytest.raises(PlanError) as info:
        evaluate_school(dataclasses.replace(PLAN, excellent_quota=D(2)), [person(1, 95)])
    assert info.value.errors


def test_a_configured_plan_is_used_everywhere():
    plan = EvaluationPlan(
        dimensions=(Dimension("work", "工作", 60), Dimension("attitude", "态度", 40)),
        rater_groups=(RaterGroup("leadership", "领导", "0.5"), RaterGroup("served", "师生", "0.5")),
        grade_bands=(GradeBand("excellent", "优秀", 85), GradeBand("unqualified", "不合格", 0)),
        excellent_quota=D("0.5"),
    )
    assert plan.validate() == []
    assert rating_total(plan, {"work": 60, "attitude": 20}) == 80
    staff = [
        StaffInput(1, "甲", ratings=(Rating("leadership", {"work": 54, "attitude": 36}),)),
        StaffInput(2, "乙", ratings=(Rating("served", {"work": 51, "attitude": 35}),)),
    ]
    results = by_id(evaluate_school(plan, staff))
    assert results[1].rounded == D("90.00") and results[1].grade == "excellent"
    assert results[2].rounded == D("86.00") and results[2].grade == "unqualified"
    assert [r.code for r in results[2].reasons] == ["quota"]


# ------------------------------------------------------------------ rating totals


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ({"ethics": 15, "ability": 20, "diligence": 25, "results": 30, "integrity": 10}, D(100)),
        ({"ethics": 0, "ability": 0, "diligence": 0, "results": 0, "integrity": 0}, D(0)),
        (
            {"ethics": 13, "ability": 18, "diligence": "22.5", "results": 27, "integrity": 9},
            D("89.5"),
        ),
        ({"ethics": 12.5, "ability": 17, "diligence": 20, "results": 24.5, "integrity": 8}, D(82)),
    ],
)
def test_rating_total_worked_cases(scores, expected):
    assert rating_total(PLAN, scores) == expected


def test_rating_total_rejects_out_of_range_by_default_and_clamps_when_configured():
    over = {**ballot(80), "ethics": 16}
    under = {**ballot(80), "results": -1}
    for bad in (over, under):
        with pytest.raises(RatingError, match="超出范围"):
            rating_total(PLAN, bad)
    clamp = dataclasses.replace(PLAN, out_of_range="clamp")
    assert rating_total(clamp, over) == 80 - 12 + 15
    assert rating_total(clamp, under) == 80 - 24


def test_rating_total_rejects_missing_unknown_and_invalid_values():
    with pytest.raises(RatingError, match="缺少维度"):
        rating_total(PLAN, {"ethics": 10})
    with pytest.raises(RatingError, match="未知的评价维度"):
        rating_total(PLAN, {**ballot(80), "charm": 5})
    with pytest.raises(RatingError):
        rating_total(PLAN, {**ballot(80), "ethics": "NaN"})


def test_group_scores_are_means_per_group_in_plan_order():
    ratings = [
        Rating("served", ballot(70)),
        Rating("leadership", ballot(80)),
        Rating("leadership", ballot(90)),
        Rating("served", ballot(75)),
        Rating("served", ballot(80)),
    ]
    assert group_scores(PLAN, ratings) == {"leadership": D(85), "served": D(75)}
    assert list(group_scores(PLAN, ratings)) == ["leadership", "served"]
    with pytest.raises(RatingError, match="未知的评价主体"):
        group_scores(PLAN, [Rating("parents", ballot(80))])


# ------------------------------------------------------------------ weighted score


@pytest.mark.parametrize(
    ("means", "score", "rounded", "missing"),
    [
        # all dimensions full for every group
        (dict.fromkeys(GROUPS, 100), D(100), D("100.00"), ()),
        # 0.1*90 + 0.4*80 + 0.2*85 + 0.3*70
        ({"self": 90, "leadership": 80, "colleagues": 85, "served": 70}, D(79), D("79.00"), ()),
        # served missing: (9 + 32 + 17) / 0.7
        (
            {"self": 90, "leadership": 80, "colleagues": 85},
            D(58) / D("0.7"),
            D("82.86"),
            ("served",),
        ),
        # only the self-assessment: rescaled to itself
        ({"self": 60}, D(60), D("60.00"), ("leadership", "colleagues", "served")),
        # half-up, not banker's rounding: 80.125 -> 80.13
        (dict.fromkeys(GROUPS, "80.125"), D("80.125"), D("80.13"), ()),
        # 89.995 rounds to 90.00 — and bands use the rounded value
        (dict.fromkeys(GROUPS, "89.995"), D("89.995"), D("90.00"), ()),
    ],
)
def test_weighted_score_worked_cases(means, score, rounded, missing):
    result = weighted_score(PLAN, means)
    assert abs(result.score - score) < D("1e-20")  # full precision inside
    assert result.rounded == rounded
    assert str(result.rounded) == str(rounded)
    assert result.groups_missing == missing
    assert result.flagged_missing is bool(missing)
    assert set(result.groups_present) | set(missing) == set(GROUPS)
    assert abs(sum(result.weights_applied.values()) - 1) < D("1e-20")


def test_weighted_score_applied_weights_are_rescaled():
    result = weighted_score(PLAN, {"self": 90, "leadership": 80, "colleagues": 85})
    assert abs(result.weights_applied["leadership"] - D(4) / 7) < D("1e-20")
    assert round(float(result.score), 6) == round(58 / 0.7, 6)


def test_weighted_score_with_no_group_has_no_score():
    result = weighted_score(PLAN, {})
    assert result.score is None and result.rounded is None
    assert result.flagged_missing and result.groups_missing == GROUPS


def test_grade_band_boundaries():
    assert [
        grade_for(PLAN, s) for s in ("100", "90", "89.99", "70", "69.99", "60", "59.99", "0")
    ] == [
        "excellent",
        "excellent",
        "qualified",
        "qualified",
        "basic",
        "basic",
        "unqualified",
        "unqualified",
    ]
    assert grade_for(PLAN, 96, allow_excellent=False) == "qualified"


# ------------------------------------------------------------------ quota


@pytest.mark.parametrize(
    ("count", "quota", "min_one", "expected"),
    [
        (10, "0.20", False, 2),
        (9, "0.20", False, 1),
        (14, "0.20", False, 2),
        (15, "0.20", False, 3),
        (4, "0.20", False, 0),  # "at most 20 %": a school of 4 gets no 优秀 by default
        (4, "0.20", True, 1),  # ... unless the district grants at least one
        (0, "0.20", True, 0),
        (7, "0.30", False, 2),  # 2.1 -> 2
        (20, "0.15", False, 3),
        (10, "0", True, 0),
        (3, "1", False, 3),
    ],
)
def test_quota_size(count, quota, min_one, expected):
    plan = dataclasses.replace(PLAN, excellent_quota=D(quota), quota_min_one=min_one)
    assert quota_size(plan, count) == expected


def test_check_quota_accepts_grades_within_the_quota():
    result = check_quota(PLAN, ["excellent", "excellent"] + ["qualified"] * 8)
    assert result.ok and result.message is None
    assert (result.quota, result.excellent_count, result.excess) == (2, 2, 0)


def test_check_quota_explains_an_excess_in_chinese():
    proposed = {f"S{i:02d}": "excellent" if i < 3 else "qualified" for i in range(10)}
    result = check_quota(PLAN, proposed)
    assert not result.ok
    assert (result.evaluated_count, result.quota, result.excellent_count, result.excess) == (
        10,
        2,
        3,
        1,
    )
    assert result.message == (
        "优秀人数超出名额：本校参评 10 人，优秀名额最多 2 人（参评人数的 20%，向下取整），"
        "现拟评优秀 3 人，超出 1 人。请将其中 1 人调整为其他等次后再提交。"
    )


def test_check_quota_rejects_unknown_grades():
    result = check_quota(PLAN, ["qualified", "great"])
    assert not result.ok and result.unknown_grades == ("great",)
    assert "great" in result.message


# ------------------------------------------------------------------ normalisation


def test_normalise_worked_cases():
    percentiles, z = normalise([D(70), D(80), D(90)])
    assert [p.quantize(D("0.01")) for p in percentiles] == [D("16.67"), D("50.00"), D("83.33")]
    assert [x.quantize(D("0.01")) for x in z] == [D("-1.22"), D("0.00"), D("1.22")]

    # ties share the mid-rank: 80, 80 -> (1 lower + 2/2) / 4
    percentiles, z = normalise([80, 80, 90, 60])
    assert percentiles == [D("50"), D("50"), D("87.5"), D("12.5")]
    # mean 77.5, population sd sqrt(118.75) = 10.897...
    assert [x.quantize(D("0.01")) for x in z] == [D("0.23"), D("0.23"), D("1.15"), D("-1.61")]


def test_normalise_degenerate_cases():
    assert normalise([]) == ([], [])
    assert normalise([D(75)]) == ([D(50)], [D(0)])
    assert normalise([88, 88, 88]) == ([D(50)] * 3, [D(0)] * 3)


# ------------------------------------------------------------------ school evaluation


def test_ten_staff_default_quota_and_worked_results():
    scores = [95, 92, 92, 80, 75, 70, 65, 60, 50, 40]
    results = evaluate_school(PLAN, [person(i, s) for i, s in enumerate(scores, start=1)])
    assert [r.grade for r in results] == [
        "excellent",
        "excellent",
        "qualified",  # third ≥ 90 beyond the quota of 2; ties with no. 2, id decides
        "qualified",
        "qualified",
        "qualified",
        "basic",
        "basic",
        "unqualified",
        "unqualified",
    ]
    third = results[2]
    assert [r.code for r in third.reasons] == ["quota"]
    assert "最多 2 人" in third.reasons[0].message
    assert "按人员编号顺序排序" in third.reasons[0].message
    assert third.provisional_grade == "excellent" and third.grade_label == "合格"
    assert [r.rank for r in results] == [1, 2, 2, 4, 5, 6, 7, 8, 9, 10]
    assert [r.position for r in results] == list(range(1, 11))
    assert third.tie_broken_by == "staff_id"


def test_quota_tie_at_the_boundary_broken_by_leadership_mean():
    plan = dataclasses.replace(PLAN, excellent_quota=D("0.5"))  # 3 staff -> floor(1.5) = 1
    staff = [
        person("A", 95),  # leadership 95
        # 0.1*95 + 0.4*98 + 0.2*95 + 0.3*91 = 95.00, leadership 98
        person("B", {"self": 95, "leadership": 98, "colleagues": 95, "served": 91}),
        person("C", 92),
    ]
    results = by_id(evaluate_school(plan, staff))
    assert results["B"].rounded == results["A"].rounded == D("95.00")
    assert results["B"].grade == "excellent"
    assert results["A"].grade == "qualified"
    assert results["C"].grade == "qualified"
    assert "按学校领导评价均分排序" in results["A"].reasons[0].message
    assert (results["B"].position, results["A"].position, results["C"].position) == (1, 2, 3)
    assert results["A"].rank == results["B"].rank == 1 and results["C"].rank == 3
    assert results["A"].tie_broken_by == "leadership"


def test_quota_tie_broken_by_served_mean_then_staff_id():
    plan = dataclasses.replace(PLAN, excellent_quota=D("0.7"))  # 3 staff -> floor(2.1) = 2
    staff = [
        person(3, 95),
        person(1, 92),  # served 92
        # 0.1*91 + 0.4*92 + 0.2*91 + 0.3*93 = 92.00: same leadership, served 93
        person(2, {"self": 91, "leadership": 92, "colleagues": 91, "served": 93}),
    ]
    results = by_id(evaluate_school(plan, staff))
    assert results[2].rounded == results[1].rounded == D("92.00")
    assert results[2].grade == "excellent" and results[2].tie_broken_by is None
    assert results[1].grade == "qualified" and results[1].tie_broken_by == "served"
    assert "按服务对象（师生）评价均分排序" in results[1].reasons[0].message

    same = [person(7, 95), person(5, 92), person(4, 92)]
    results = by_id(evaluate_school(plan, same))
    assert results[4].grade == "excellent" and results[5].grade == "qualified"
    assert results[5].tie_broken_by == "staff_id"


def test_canteen_staff_without_health_certificate_cannot_be_excellent():
    staff = [
        person(1, 96, is_canteen_staff=True, has_valid_health_certificate=False),
        person(2, 96, is_canteen_staff=True, has_valid_health_certificate=True),
        person(3, 96, is_canteen_staff=False),  # certificate irrelevant off the canteen
        person(4, 85, is_canteen_staff=True),  # not excellent anyway: no demotion
    ] + [person(i, 50) for i in range(5, 16)]
    results = by_id(evaluate_school(PLAN, staff))  # 15 evaluated -> quota 3
    assert results[1].grade == "qualified" and results[1].grade_label == "合格"
    assert [r.code for r in results[1].reasons] == ["health_certificate"]
    assert "健康证" in results[1].reasons[0].message
    assert results[2].grade == "excellent" and results[3].grade == "excellent"
    assert results[4].grade == "qualified" and results[4].reasons == ()


def test_veto_means_unqualified_and_frees_the_quota_place():
    staff = [person(1, 98, veto_responsible=True), person(2, 91)] + [
        person(i, 75) for i in range(3, 8)
    ]
    results = by_id(evaluate_school(PLAN, staff))  # 7 evaluated -> quota 1
    assert results[1].grade == "unqualified" and results[1].grade_label == "不合格"
    assert results[1].provisional_grade == "excellent"
    assert [r.code for r in results[1].reasons] == ["veto"]
    assert results[2].grade == "excellent"
    assert results[1].rank == 1  # ranks follow scores; the grade says why


def test_staff_without_ratings_are_not_evaluated():
    staff = [person(1, 95)] + [person(i, 80) for i in range(2, 6)]
    staff += [StaffInput(9, "新员工"), StaffInput(10, "出事者", veto_responsible=True)]
    results = by_id(evaluate_school(PLAN, staff))  # 5 evaluated -> quota 1
    assert results[1].grade == "excellent"
    assert results[9].evaluated is False and results[9].grade is None
    assert results[9].score is None and results[9].rank is None and results[9].percentile is None
    assert [r.code for r in results[9].reasons] == ["not_evaluated"]
    assert results[10].grade == "unqualified"
    assert [r.code for r in results[10].reasons] == ["not_evaluated", "veto"]


def test_missing_rater_group_is_flagged_on_the_result():
    staff = [person(1, {"self": 90, "leadership": 80, "colleagues": 85})]
    (result,) = evaluate_school(PLAN, staff)
    assert result.rounded == D("82.86")
    assert result.flagged_missing and result.groups_missing == ("served",)
    assert result.rater_counts == {"self": 1, "leadership": 1, "colleagues": 1}
    assert result.percentile == D("50.00") and result.z_score == D("0.00")


def test_school_normalisation_on_results():
    results = evaluate_school(PLAN, [person(i, s) for i, s in enumerate([60, 80, 80, 90])])
    assert [r.percentile for r in results] == [D("12.50"), D("50.00"), D("50.00"), D("87.50")]
    assert [r.z_score for r in results] == [D("-1.61"), D("0.23"), D("0.23"), D("1.15")]


def test_duplicate_staff_ids_are_rejected():
    with pytest.raises(RatingError, match="重复"):
        evaluate_school(PLAN, [person(1, 80), person(1, 90)])


def test_quota_min_one_gives_a_small_school_one_place():
    staff = [person(1, 93), person(2, 91), person(3, 70)]
    assert [r.grade for r in evaluate_school(PLAN, staff)][:2] == ["qualified", "qualified"]
    plan = dataclasses.replace(PLAN, quota_min_one=True)
    assert [r.grade for r in evaluate_school(plan, staff)][:2] == ["excellent", "qualified"]


# ------------------------------------------------------------------ properties


def half_points(maximum: Decimal):
    return st.integers(0, int(maximum * 2)).map(lambda k: D(k) / 2)


free_ballots = st.fixed_dictionaries({c: half_points(m) for c, m in DIM_MAX.items()})
high_ballots = st.integers(1400, 2000).map(lambda k: ballot(D(k) / 20))
ballots = st.one_of(free_ballots, high_ballots)
ratings_st = st.builds(Rating, group=st.sampled_from(GROUPS), scores=ballots)
plans = st.builds(
    lambda q, one: dataclasses.replace(PLAN, excellent_quota=D(q), quota_min_one=one),
    st.sampled_from(["0", "0.1", "0.2", "0.35", "0.5", "1"]),
    st.booleans(),
)


@st.composite
def staff_ratings(draw):
    """Mostly strong staff near a level (so quota and ties happen), sometimes anything."""
    if draw(st.integers(0, 3)) == 0:
        return tuple(draw(st.lists(ratings_st, max_size=5)))
    level = D(draw(st.integers(170, 200))) / 2
    groups = draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=4, unique=True))
    return tuple(
        Rating(g, ballot(min(D(100), level + draw(st.sampled_from([-1, 0, 0, 1]))))) for g in groups
    )


@st.composite
def schools(draw):
    size = draw(st.integers(0, 12))
    return [
        StaffInput(
            staff_id=i,
            name=f"员工{i}",
            is_canteen_staff=draw(st.booleans()),
            has_valid_health_certificate=draw(st.booleans()),
            veto_responsible=draw(st.integers(0, 5)) == 0,
            ratings=draw(staff_ratings()),
        )
        for i in range(size)
    ]


@FAST
@given(ratings=st.lists(ratings_st, max_size=8))
def test_property_score_between_0_and_100(ratings):
    result = weighted_score(PLAN, group_scores(PLAN, ratings))
    if not ratings:
        assert result.score is None
    else:
        assert 0 <= result.score <= 100 and 0 <= result.rounded <= 100
        assert result.flagged_missing is (set(result.groups_present) != set(GROUPS))


@FAST
@given(ratings=st.lists(ratings_st, min_size=1, max_size=6), data=st.data())
def test_property_monotone_in_any_rating(ratings, data):
    index = data.draw(st.integers(0, len(ratings) - 1))
    dim = data.draw(st.sampled_from(list(DIM_MAX)))
    old = ratings[index]
    current = D(old.scores[dim])
    raised = current + D(data.draw(st.integers(0, int((DIM_MAX[dim] - current) * 2)))) / 2
    new = [*ratings]
    new[index] = Rating(old.group, {**old.scores, dim: raised})
    before = weighted_score(PLAN, group_scores(PLAN, ratings))
    after = weighted_score(PLAN, group_scores(PLAN, new))
    assert after.score >= before.score
    assert after.rounded >= before.rounded


@FAST
@given(plan=plans, staff=schools())
def test_property_excellent_never_above_quota(plan, staff):
    results = evaluate_school(plan, staff)
    evaluated = [r for r in results if r.evaluated]
    excellent = [r for r in results if r.grade == "excellent"]
    assert len(excellent) <= quota_size(plan, len(evaluated))
    assert check_quota(plan, [r.grade for r in evaluated]).ok
    for r in results:
        if r.grade == "excellent":
            assert r.rounded >= 90
    for s, r in zip(staff, results, strict=True):
        if s.veto_responsible:
            assert r.grade == "unqualified"
        if s.is_canteen_staff and not s.has_valid_health_certificate:
            assert r.grade != "excellent"


@FAST
@given(plan=plans, staff=schools())
def test_property_grades_ordered_like_scores_among_unvetoed(plan, staff):
    results = evaluate_school(plan, staff)
    free = [
        r
        for s, r in zip(staff, results, strict=True)
        if r.evaluated
        and not s.veto_responsible
        and not (s.is_canteen_staff and not s.has_valid_health_certificate)
    ]
    for a in free:
        for b in free:
            if a.rounded > b.rounded:
                assert GRADE_ORDER[a.grade] <= GRADE_ORDER[b.grade], (a, b)
        # the grade is the band unless the quota demoted it
        if a.grade != a.provisional_grade:
            assert [x.code for x in a.reasons] == ["quota"]


@FAST
@given(plan=plans, staff=schools(), data=st.data())
def test_property_results_do_not_depend_on_input_order(plan, staff, data):
    shuffled = data.draw(st.permutations(staff))
    first = {r.staff_id: r for r in evaluate_school(plan, staff)}
    second = {r.staff_id: r for r in evaluate_school(plan, shuffled)}
    assert first == second


scores_st = st.integers(-100_000, 100_000).map(lambda k: D(k) / 100)


@FAST
@given(scores=st.lists(scores_st, max_size=15), shift=scores_st)
def test_property_normalisation_invariant_to_a_constant_shift(scores, shift):
    percentiles, z_scores = normalise(scores)
    shifted_p, shifted_z = normalise([s + shift for s in scores])
    assert shifted_p == percentiles
    assert shifted_z == z_scores
    assert all(0 < p <= 100 for p in percentiles)
    if scores:
        assert abs(sum(z_scores)) < D("1e-20")
