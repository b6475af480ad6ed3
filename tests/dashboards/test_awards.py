"""Awards engine (表彰奖励): worked cases with exact values, then properties."""

from __future__ import annotations

import ast
import dataclasses
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboards import awards
from dashboards.awards import (
    BY_COMPLAINTS,
    BY_ID,
    BY_INSPECTOR,
    BY_NAME,
    BY_SATISFACTION,
    AwardRules,
    IndividualAward,
    SchoolStaffPool,
    SchoolYearRecord,
    StaffCandidate,
    TieBreak,
    allocate_individuals,
    apportionment_quotas,
    explain,
    largest_remainder,
    rank_individuals,
    rank_units,
    snapshot_checksum,
    snapshot_payload,
    unit_eligibility,
)

D = Decimal
PROPS = settings(max_examples=100, deadline=None)


def school(
    school_id: int,
    name: str,
    category: str = "小学",
    year_score: str = "85.00",
    *,
    inspector: str | None = "85.00",
    complaints: int = 0,
    satisfaction: str | None = "90.00",
    veto: int = 0,
    late: int = 0,
    visits: int = 4,
) -> SchoolYearRecord:
    return SchoolYearRecord(
        school_id=school_id,
        name=name,
        category=category,
        year_score=D(year_score),
        inspector_average=None if inspector is None else D(inspector),
        verified_complaints=complaints,
        satisfaction=None if satisfaction is None else D(satisfaction),
        veto_count=veto,
        late_self_assessments=late,
        inspector_visits=visits,
    )


def staff(staff_id: int, score: str, grade: str = "优秀") -> StaffCandidate:
    return StaffCandidate(staff_id, f"职工{staff_id}", D(score), grade)


# ---------------------------------------------------------------------------
# The engine stays pure


def test_engine_imports_only_the_standard_library():
    tree = ast.parse(Path(awards.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports in the engine"
            imported.add(node.module.split(".")[0])
    forbidden = {"flask", "flask_sqlalchemy", "sqlalchemy", "district", "tenants", "scoring"}
    assert not imported & forbidden
    assert imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_results_are_frozen():
    rules = AwardRules(total_units=1, total_individuals=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.total_units = 2  # type: ignore[misc]


# ---------------------------------------------------------------------------
# Rules


def test_rules_defaults_and_validation():
    rules = AwardRules(total_units=16, total_individuals=308)
    assert (rules.max_late_self_assessments, rules.min_inspector_visits) == (1, 2)
    assert rules.require_no_veto is True
    rules.validate()
    bad = AwardRules(total_units=-1, total_individuals=True, min_inspector_visits=2.5)  # type: ignore[arg-type]
    assert bad.problems() == [
        "先进单位名额必须是不小于 0 的整数",
        "先进个人名额必须是不小于 0 的整数",
        "最少督查次数必须是不小于 0 的整数",
    ]
    with pytest.raises(ValueError, match="先进单位名额"):
        bad.validate()
    with pytest.raises(ValueError):
        rank_units([school(1, "甲")], bad)


# ---------------------------------------------------------------------------
# Largest remainder


def test_largest_remainder_seed_district_16_units():
    # 16 places over 30 + 12 + 5 + 3 = 50 eligible schools; quota = 16 × n ÷ 50:
    #   小学       16×30/50 = 9.60  → floor 9, remainder .60
    #   初中       16×12/50 = 3.84  → floor 3, remainder .84
    #   高中       16× 5/50 = 1.60  → floor 1, remainder .60
    #   九年一贯制 16× 3/50 = 0.96  → floor 0, remainder .96
    # Floors give 13; the 3 left go to .96 (九年一贯制), .84 (初中), and of the
    # two .60s to 小学, which has more eligible schools than 高中.
    counts = {"小学": 30, "初中": 12, "高中": 5, "九年一贯制": 3}
    assert apportionment_quotas(16, counts) == {
        "小学": Fraction(48, 5),
        "初中": Fraction(96, 25),
        "高中": Fraction(8, 5),
        "九年一贯制": Fraction(24, 25),
    }
    assert largest_remainder(16, counts) == {"小学": 10, "初中": 4, "高中": 1, "九年一贯制": 1}


def test_largest_remainder_ties_go_to_larger_weight_then_smaller_key():
    # quotas .5, .5, 1: z keeps its whole place; x and y tie on remainder and weight → "x".
    assert largest_remainder(2, {"y": 1, "x": 1, "z": 2}) == {"x": 1, "y": 0, "z": 1}
    # 1 place over weights 1 and 1 and 2 → quotas .25 .25 .5 → the heavier key
    assert largest_remainder(1, {"a": 1, "b": 1, "c": 2}) == {"a": 0, "b": 0, "c": 1}


def test_largest_remainder_edges():
    assert largest_remainder(5, {"a": 0, "b": 3}) == {"a": 0, "b": 5}
    assert largest_remainder(0, {"a": 2, "b": 3}) == {"a": 0, "b": 0}
    assert largest_remainder(4, {"a": 0, "b": 0}) == {"a": 0, "b": 0}  # nobody to give to
    assert largest_remainder(3, {}) == {}
    with pytest.raises(ValueError):
        largest_remainder(-1, {"a": 1})
    with pytest.raises(ValueError):
        largest_remainder(2, {"a": -1})
    with pytest.raises(ValueError):
        largest_remainder(1, {"a": 1, "b": 1}, minimums={"a": 1, "b": 1})
    with pytest.raises(ValueError):
        largest_remainder(3, {"a": 1}, caps={"a": 1}, minimums={"a": 2})


def test_caps_redistribute_surplus_in_proportion():
    # A's quota 10×100/140 = 7.14 exceeds its cap 3: A holds 3, the other 7 go to B.
    assert largest_remainder(10, {"A": 100, "B": 40}, caps={"A": 3}) == {"A": 3, "B": 7}
    # A capped at 2; the 8 left split 30:10 → 6 and 2.
    assert largest_remainder(10, {"A": 100, "B": 30, "C": 10}, caps={"A": 2}) == {
        "A": 2,
        "B": 6,
        "C": 2,
    }
    # More places than caps together: everyone at the cap, the rest unallocated.
    assert largest_remainder(16, {"a": 3, "b": 2}, caps={"a": 3, "b": 2}) == {"a": 3, "b": 2}


# ---------------------------------------------------------------------------
# 先进单位: eligibility


def test_ineligible_school_lists_every_failed_criterion():
    rules = AwardRules(total_units=1, total_individuals=0)
    result = unit_eligibility(school(7, "河口小学", veto=1, late=3, visits=1), rules)
    assert result.eligible is False
    assert result.reasons == (
        "本年度有一票否决事项",
        "自评逾期 3 次（上限 1 次）",
        "督查次数 1 次（至少 2 次）",
    )
    assert unit_eligibility(school(8, "合格小学", late=1, visits=2), rules).reasons == ()
    lenient = AwardRules(
        total_units=1,
        total_individuals=0,
        max_late_self_assessments=3,
        min_inspector_visits=0,
        require_no_veto=False,
    )
    assert unit_eligibility(school(7, "河口小学", veto=1, late=3, visits=0), lenient).eligible


# ---------------------------------------------------------------------------
# 先进单位: ranking and ties


def tie_case() -> list[SchoolYearRecord]:
    return [
        school(3, "城西小学", year_score="90.50", inspector="88.00"),
        school(4, "城南小学", year_score="89.00"),
        school(1, "实验小学", year_score="95.00"),
        school(2, "城东小学", year_score="90.50", inspector="92.00"),
        school(5, "河口小学", year_score="99.00", veto=1, late=3, visits=1),
    ]


def test_competition_ranks_and_tie_broken_by_inspector_average():
    result = rank_units(tie_case(), AwardRules(total_units=2, total_individuals=0))
    ranked = [e for e in result.entries if e.eligible]
    assert [(e.name, e.display_rank, e.order, e.awarded, e.tie_broken_by) for e in ranked] == [
        ("实验小学", 1, 1, True, None),
        ("城东小学", 2, 2, True, None),
        ("城西小学", 2, 3, False, BY_INSPECTOR),
        ("城南小学", 4, 4, False, None),
    ]
    assert result.ties == (TieBreak("小学", D("90.50"), 2, 3, BY_INSPECTOR),)
    (alloc,) = result.categories
    assert (alloc.school_count, alloc.eligible_count, alloc.quota, alloc.places) == (5, 4, 2, 2)
    assert result.unallocated == 0
    assert [e.school_id for e in result.awarded] == [1, 2]
    excluded = result.entry(5)
    assert (excluded.eligible, excluded.display_rank, excluded.order, excluded.awarded) == (
        False,
        None,
        None,
        False,
    )
    assert excluded.reasons == (
        "本年度有一票否决事项",
        "自评逾期 3 次（上限 1 次）",
        "督查次数 1 次（至少 2 次）",
    )


@pytest.mark.parametrize(
    ("first", "second", "criterion"),
    [
        ({"complaints": 0}, {"complaints": 2}, BY_COMPLAINTS),
        ({"satisfaction": "80.00"}, {"satisfaction": "79.99"}, BY_SATISFACTION),
        ({"satisfaction": "0.00"}, {"satisfaction": None}, BY_SATISFACTION),
        ({"inspector": "70.00"}, {"inspector": None, "visits": 2}, BY_INSPECTOR),
        ({}, {}, BY_NAME),
    ],
)
def test_each_link_of_the_tie_chain(first, second, criterion):
    # "乙" < "甲" in code-point order, so on a name tie 乙 comes first; the
    # other criteria must overrule that, hence "甲" always holds `first`.
    expected_first = "乙" if criterion == BY_NAME else "甲"
    records = [school(2, "乙", **second), school(1, "甲", **first)]
    result = rank_units(records, AwardRules(total_units=1, total_individuals=0))
    top, below = (e for e in result.entries if e.eligible)
    assert top.name == expected_first and top.awarded and not below.awarded
    assert (top.display_rank, below.display_rank) == (1, 1)
    assert below.tie_broken_by == criterion and top.tie_broken_by is None


def test_inspector_average_is_compared_on_stored_two_decimals():
    records = [school(2, "乙", inspector="88.004"), school(1, "甲", inspector="88.001")]
    result = rank_units(records, AwardRules(total_units=1, total_individuals=0))
    assert [e.name for e in result.entries] == ["乙", "甲"]
    assert result.ties[0].criterion == BY_NAME


def test_same_name_falls_back_to_school_id():
    records = [school(9, "中心小学"), school(4, "中心小学")]
    result = rank_units(records, AwardRules(total_units=1, total_individuals=0))
    assert [e.school_id for e in result.entries] == [4, 9]
    assert result.entries[1].tie_broken_by == BY_ID


def seed_district() -> list[SchoolYearRecord]:
    """50 eligible schools (小学 30, 初中 12, 高中 5, 九年一贯制 3) and 4 ineligible."""
    records, next_id = [], 1
    for category, count in (("小学", 30), ("初中", 12), ("高中", 5), ("九年一贯制", 3)):
        for i in range(count):
            score = f"{95 - i * 0.5:.2f}"
            records.append(school(next_id, f"{category}{i:02d}", category, score))
            next_id += 1
        records.append(school(next_id, f"{category}否决", category, "99.00", veto=1))
        next_id += 1
    return records


def test_seed_district_16_units_split_by_largest_remainder():
    result = rank_units(seed_district(), AwardRules(total_units=16, total_individuals=308))
    assert {
        c.category: (c.school_count, c.eligible_count, c.places) for c in result.categories
    } == {
        "小学": (31, 30, 10),
        "初中": (13, 12, 4),
        "高中": (6, 5, 1),
        "九年一贯制": (4, 3, 1),
    }
    assert result.category("初中").quota == Fraction(96, 25)
    awarded = result.awarded
    assert len(awarded) == 16 and result.unallocated == 0
    assert [e.name for e in awarded if e.category == "高中"] == ["高中00"]
    assert all("否决" not in e.name for e in awarded)


def test_too_few_eligible_leaves_places_unallocated():
    records = [school(1, "甲"), school(2, "乙", category="初中"), school(3, "丙", visits=0)]
    result = rank_units(records, AwardRules(total_units=5, total_individuals=0))
    assert [c.places for c in result.categories] == [1, 1]
    assert result.unallocated == 3
    assert len(result.awarded) == 2


def test_rank_units_rejects_duplicate_ids():
    with pytest.raises(ValueError):
        rank_units([school(1, "甲"), school(1, "乙")], AwardRules(1, 0))


# ---------------------------------------------------------------------------
# 先进单位: explanations


def test_explain_ineligible_tied_and_awarded_schools():
    result = rank_units(tie_case(), AwardRules(total_units=2, total_individuals=0))
    assert explain(result, 5) == [
        "河口小学不符合先进单位评选条件，未参加小学类别排名。",
        "原因：本年度有一票否决事项。",
        "原因：自评逾期 3 次（上限 1 次）。",
        "原因：督查次数 1 次（至少 2 次）。",
    ]
    assert explain(result, 3) == [
        "城西小学年度得分 90.50 分，在小学类别 4 所符合条件的学校中按得分排并列第 2 名。",
        "小学类别按最大余数法分得名额 2 个（按比例应得 2.00 个）。",
        "与城东小学同为 90.50 分，因督查平均分较低排在其后。",
        "按排序规则为类别内第 3 名，名额 2 个，未列入先进单位名单。",
    ]
    assert explain(result, 2)[2] == "与城西小学同为 90.50 分，因督查平均分更高排在其前。"
    assert explain(result, 1)[0].endswith("按得分排第 1 名。")
    assert explain(result, 1)[-1] == "按排序规则为类别内第 1 名，名额 2 个，列入先进单位名单。"
    with pytest.raises(KeyError):
        explain(result, 404)


# ---------------------------------------------------------------------------
# 先进个人


def pools() -> list[SchoolStaffPool]:
    return [
        SchoolStaffPool(1, 100, tuple(staff(100 + i, "95.00") for i in range(20))),
        SchoolStaffPool(2, 40, tuple(staff(200 + i, f"{90 + i}.00") for i in range(8))),
        SchoolStaffPool(
            3, 10, (staff(301, "92.00"), staff(302, "93.00"), staff(303, "99", "合格"))
        ),
        SchoolStaffPool(4, 5, (staff(401, "90.00"),)),
        SchoolStaffPool(5, 30, (staff(501, "88.00", "合格"),)),  # nobody graded 优秀
    ]


def test_individuals_at_least_one_taken_back_in_proportion():
    # 10 places, evaluated staff 100/40/10/5/30; school 5 has no 优秀 so takes none.
    # Plain quotas over 155: 6.45, 2.58, 0.65, 0.32 — schools 3 and 4 fall below 1,
    # so they are raised to exactly 1 and the other 8 are split 100:40 →
    # 40/7 = 5.71 and 16/7 = 2.29 → floors 5 + 2, the last place to .71 → 6 and 2.
    # (Giving the minimum first and splitting the rest would give 5/3/1/1 instead.)
    assert allocate_individuals(10, pools()) == {1: 6, 2: 2, 3: 1, 4: 1, 5: 0}


def test_individuals_never_more_than_eligible_count():
    # 8 places over two schools of 50 evaluated staff: 4 and 4, but school 1 has
    # only 2 优秀 people, so it holds 2 and its surplus goes to school 2.
    capped = [
        SchoolStaffPool(1, 50, (staff(1, "95"), staff(2, "94"))),
        SchoolStaffPool(2, 50, tuple(staff(10 + i, "93") for i in range(10))),
    ]
    assert allocate_individuals(8, capped) == {1: 2, 2: 6}
    # 30 places: quotas 30/155 × (100, 40, 10, 5) = 19.35, 7.74, 1.94, 0.97; school 4
    # rises to 1, the other 29 split 100:40:10 → 19.33, 7.73, 1.93 → 19 + 7 + 1 = 27,
    # two places left to remainders .93 (school 3) and .73 (school 2).
    assert allocate_individuals(30, pools()) == {1: 19, 2: 8, 3: 2, 4: 1, 5: 0}
    # More places than 优秀 people: everyone honoured, the rest unallocated.
    assert allocate_individuals(500, pools()) == {1: 20, 2: 8, 3: 2, 4: 1, 5: 0}


def test_individuals_fewer_places_than_schools_with_candidates():
    # 4 schools have a 优秀 person but only 2 places: the two largest get one each.
    assert allocate_individuals(2, pools()) == {1: 1, 2: 1, 3: 0, 4: 0, 5: 0}


def test_rank_individuals_by_score_then_staff_id():
    result = rank_individuals(pools(), 10)
    by_school = {}
    for award in result:
        by_school.setdefault(award.school_id, []).append(award.staff_id)
    assert by_school == {1: [100, 101, 102, 103, 104, 105], 2: [207, 206], 3: [302], 4: [401]}
    assert result[0] == IndividualAward(1, 100, "职工100", D("95.00"), 1)
    assert all(a.staff_id != 303 for a in rank_individuals(pools(), 30))  # 合格 never chosen


def test_individual_pools_are_validated():
    with pytest.raises(ValueError):
        allocate_individuals(1, [SchoolStaffPool(1, 1, (staff(1, "95"), staff(2, "95")))])
    with pytest.raises(ValueError):
        allocate_individuals(1, [SchoolStaffPool(1, 5, ()), SchoolStaffPool(1, 5, ())])


# ---------------------------------------------------------------------------
# 公示 snapshot checksum


def test_checksum_stable_under_reordering_and_changes_with_values():
    rules = AwardRules(total_units=2, total_individuals=0)
    base = snapshot_checksum(rank_units(tie_case(), rules))
    assert len(base) == 64 and int(base, 16) >= 0
    assert snapshot_checksum(rank_units(list(reversed(tie_case())), rules)) == base
    changed = [
        [school(1, "实验小学", year_score="95.01") if r.school_id == 1 else r for r in tie_case()],
        [dataclasses.replace(r, name="实验学校") if r.school_id == 1 else r for r in tie_case()],
        [dataclasses.replace(r, school_id=11) if r.school_id == 1 else r for r in tie_case()],
        [dataclasses.replace(r, category="初中") if r.school_id == 1 else r for r in tie_case()],
        [
            dataclasses.replace(r, inspector_average=D("80")) if r.school_id == 2 else r
            for r in tie_case()
        ],
    ]
    for records in changed:
        assert snapshot_checksum(rank_units(records, rules)) != base


def test_checksum_covers_the_final_list_with_canonical_decimals():
    rules = AwardRules(total_units=1, total_individuals=0)
    result = rank_units([school(1, "甲", year_score="90.5")], rules)
    same = rank_units([school(1, "甲", year_score="90.50")], rules)
    assert snapshot_checksum(result) == snapshot_checksum(same)
    assert snapshot_payload(result) == (
        '{"awards":[{"category":"小学","display_rank":1,"name":"甲","order":1,'
        '"school_id":1,"tie_broken_by":null,"year_score":"90.5"}],"kind":"units"}'
    )


def test_individual_checksum_stable_under_reordering():
    base = rank_individuals(pools(), 10)
    shuffled = [dataclasses.replace(p, candidates=p.candidates[::-1]) for p in reversed(pools())]
    assert snapshot_checksum(rank_individuals(shuffled, 10)) == snapshot_checksum(base)
    assert snapshot_checksum(list(reversed(base))) == snapshot_checksum(base)
    bumped = [dataclasses.replace(base[0], score=D("95.01")), *base[1:]]
    assert snapshot_checksum(bumped) != snapshot_checksum(base)
    assert snapshot_checksum(base) != snapshot_checksum(rank_individuals(pools(), 11))


# ---------------------------------------------------------------------------
# Properties

weights_st = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=2), st.integers(0, 60), min_size=1, max_size=8
)


@PROPS
@given(total=st.integers(0, 200), weights=weights_st)
def test_plain_largest_remainder_properties(total, weights):
    shares = largest_remainder(total, weights)
    weight_sum = sum(weights.values())
    assert set(shares) == set(weights)
    if weight_sum == 0:
        assert all(v == 0 for v in shares.values())
        return
    assert sum(shares.values()) == total
    for key, weight in weights.items():
        assert abs(shares[key] - Fraction(total * weight, weight_sum)) < 1
        if weight == 0:
            assert shares[key] == 0
        if total <= weight_sum:
            assert shares[key] <= weight


@PROPS
@given(data=st.data(), total=st.integers(0, 120), weights=weights_st)
def test_bounded_largest_remainder_properties(data, total, weights):
    caps = {k: data.draw(st.integers(0, 30)) for k in weights if data.draw(st.booleans())}
    minimums = {k: data.draw(st.integers(0, min(2, caps.get(k, 2)))) for k in weights}
    if sum(minimums.values()) > total:
        with pytest.raises(ValueError):
            largest_remainder(total, weights, caps=caps, minimums=minimums)
        return
    quotas = apportionment_quotas(total, weights, caps=caps, minimums=minimums)
    shares = largest_remainder(total, weights, caps=caps, minimums=minimums)
    ceiling = {k: caps.get(k) if w else minimums[k] for k, w in weights.items()}
    if None not in ceiling.values() and sum(ceiling.values()) <= total:
        assert shares == ceiling
    else:
        assert sum(shares.values()) == total == sum(quotas.values())
    for key, weight in weights.items():
        assert (
            minimums[key]
            <= shares[key]
            <= (caps.get(key, shares[key]) if weight else minimums[key])
        )
        assert abs(shares[key] - quotas[key]) < 1
    # Water-filling: keys strictly inside their bounds share one quota per unit of
    # weight λ; a key held at its minimum would get less at λ, one held at its cap more.
    free = {
        quotas[k] / w
        for k, w in weights.items()
        if w and minimums[k] < quotas[k] < caps.get(k, total + 1)
    }
    assert len(free) <= 1
    for lam in free:
        for key, weight in weights.items():
            if weight and minimums[key] == quotas[key] != caps.get(key):
                assert lam * weight <= minimums[key]
            if weight and minimums[key] != quotas[key] == caps.get(key):
                assert lam * weight >= caps[key]


categories_st = st.sampled_from(["小学", "初中", "高中", "九年一贯制"])
scores_st = st.sampled_from(["80.00", "85.50", "90.00", "90.00", "92.25"])
optional_st = st.one_of(st.none(), st.sampled_from(["70.00", "85.50", "90.00"]))


@st.composite
def district_records(draw) -> list[SchoolYearRecord]:
    count = draw(st.integers(0, 25))
    return [
        school(
            school_id,
            draw(st.sampled_from(["甲校", "乙校", "丙校", "丁校", "戊校"])),
            draw(categories_st),
            draw(scores_st),
            inspector=draw(optional_st),
            complaints=draw(st.integers(0, 2)),
            satisfaction=draw(optional_st),
            veto=draw(st.sampled_from([0, 0, 0, 1])),
            late=draw(st.integers(0, 2)),
            visits=draw(st.integers(0, 4)),
        )
        for school_id in range(1, count + 1)
    ]


@PROPS
@given(data=st.data(), records=district_records(), total=st.integers(0, 30))
def test_unit_ranking_properties(data, records, total):
    rules = AwardRules(total_units=total, total_individuals=0)
    result = rank_units(records, rules)
    eligible_total = sum(c.eligible_count for c in result.categories)
    places = sum(c.places for c in result.categories)
    assert places == min(total, eligible_total) == len(result.awarded)
    assert result.unallocated == total - places
    for c in result.categories:
        assert c.places <= c.eligible_count
        if total <= eligible_total:
            assert abs(c.places - Fraction(total * c.eligible_count, eligible_total or 1)) < 1
        ranked = [e for e in result.entries if e.category == c.category and e.eligible]
        assert [e.order for e in ranked] == list(range(1, len(ranked) + 1))
        assert [e.awarded for e in ranked] == [e.order <= c.places for e in ranked]
        for e in ranked:  # competition ranking: 1 + number of strictly higher scores
            assert e.display_rank == 1 + sum(o.year_score > e.year_score for o in ranked)
        for above, below in zip(ranked, ranked[1:], strict=False):
            assert above.year_score >= below.year_score
            assert (below.tie_broken_by is not None) == (above.year_score == below.year_score)
    for e in result.entries:
        assert e.eligible == (not e.reasons)
        assert explain(result, e.school_id)
    shuffled = data.draw(st.permutations(records))
    again = rank_units(shuffled, rules)
    assert again == result
    assert snapshot_checksum(again) == snapshot_checksum(result)


@st.composite
def staff_pools(draw) -> list[SchoolStaffPool]:
    result, next_staff = [], 1
    for school_id in range(1, draw(st.integers(0, 8)) + 1):
        grades = draw(st.lists(st.sampled_from(["优秀", "合格"]), max_size=6))
        candidates = []
        for grade in grades:
            score = draw(st.sampled_from(["90.00", "92.50", "95.00"]))
            candidates.append(staff(next_staff, score, grade))
            next_staff += 1
        evaluated = len(candidates) + draw(st.integers(0, 20))
        result.append(SchoolStaffPool(school_id, evaluated, tuple(candidates)))
    return result


@PROPS
@given(data=st.data(), schools=staff_pools(), total=st.integers(0, 30))
def test_individual_allocation_properties(data, schools, total):
    shares = allocate_individuals(total, schools)
    eligible = {p.school_id: len(p.eligible) for p in schools}
    with_people = sum(1 for n in eligible.values() if n)
    for key, n in eligible.items():
        assert 0 <= shares[key] <= n
    if total >= with_people:
        assert sum(shares.values()) == min(total, sum(eligible.values()))
        assert all(shares[k] >= 1 for k, n in eligible.items() if n)
    else:
        assert sum(shares.values()) == total
        assert all(v <= 1 for v in shares.values())
    chosen = rank_individuals(schools, total)
    assert len(chosen) == sum(shares.values())
    for pool in schools:
        picked = [a for a in chosen if a.school_id == pool.school_id]
        best = sorted(pool.eligible, key=lambda c: (-c.score, c.staff_id))[: shares[pool.school_id]]
        assert [a.staff_id for a in picked] == [c.staff_id for c in best]
    shuffled = data.draw(st.permutations(schools))
    assert rank_individuals(shuffled, total) == chosen
