"""Worked cases for the four-creations scoring engine; every expected value is worked by hand."""

import ast
import sys
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from scoring.engine import (
    DEFAULT_RULES,
    IndicatorSpec,
    Month,
    ProgrammeInput,
    SchoolMonthInput,
    ScoringRules,
    Semester,
    SiteVisit,
    applicable_indicators,
    measured_points,
    overall_result,
    pick_inspector_visit,
    programme_result,
    round2,
    satisfaction_score,
    score_school_month,
    semester_of,
    source_score,
    star_level,
    year_score,
)

ENGINE = Path(__file__).resolve().parents[2] / "scoring" / "engine.py"
GREEN_CURVE = ((30, 0), (35, 4), (40, 8), (45, 10))


# --- purity ---------------------------------------------------------------------------


def test_engine_imports_only_the_standard_library():
    tree = ast.parse(ENGINE.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports would reach into the project"
            imported.add(node.module.split(".")[0])
    forbidden = {"flask", "flask_sqlalchemy", "sqlalchemy", "district", "tenants", "dashboards"}
    assert not imported & forbidden
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


# --- programme result -----------------------------------------------------------------

PROGRAMME_CASES = [
    # id, self, inspector, satisfaction, complaints, veto, expected rounded score
    # 0.3*80 + 0.5*70 + 0.2*90 = 24 + 35 + 18 = 77
    ("all three sources", 80, 70, 90, 0, False, "77.00"),
    # (0.3*80 + 0.5*70) / 0.8 = 59 / 0.8 = 73.75
    ("self + inspector", 80, 70, None, 0, False, "73.75"),
    # (0.3*80 + 0.2*90) / 0.5 = 42 / 0.5 = 84
    ("self + satisfaction, unverified", 80, None, 90, 0, False, "84.00"),
    # (0.5*70 + 0.2*90) / 0.7 = 53 / 0.7 = 75.714285... -> 75.71
    ("inspector + satisfaction", None, 70, 90, 0, False, "75.71"),
    ("self only", 80, None, None, 0, False, "80.00"),
    ("satisfaction only", None, None, 90, 0, False, "90.00"),
    # 77 - 3*2 = 71
    ("3 complaints", 80, 70, 90, 3, False, "71.00"),
    # 77 - min(5*2, 10) = 67
    ("5 complaints reach the cap", 80, 70, 90, 5, False, "67.00"),
    # 77 - min(7*2, 10) = 67
    ("7 complaints are capped at 10", 80, 70, 90, 7, False, "67.00"),
    # 5 - 10 = -5 -> clamped to 0
    ("deduction clamped at 0", 5, None, None, 7, False, "0.00"),
    ("veto", 80, 70, 90, 0, True, "0.00"),
    ("veto with no source at all", None, None, None, 0, True, "0.00"),
    # 0.3*90 + 0.5*80 + 0.2*87.225 = 27 + 40 + 17.445 = 84.445 -> half-up 84.45
    ("half-up rounding", 90, 80, D("87.225"), 0, False, "84.45"),
    ("perfect", 100, 100, 100, 0, False, "100.00"),
]


@pytest.mark.parametrize(
    ("self_score", "inspector", "satisfaction", "complaints", "veto", "expected"),
    [case[1:] for case in PROGRAMME_CASES],
    ids=[case[0] for case in PROGRAMME_CASES],
)
def test_programme_result_worked_cases(
    self_score, inspector, satisfaction, complaints, veto, expected
):
    result = programme_result(self_score, inspector, satisfaction, complaints, veto)
    assert result is not None
    assert result.score_rounded == D(expected)
    assert result.veto is veto
    assert result.unverified is (inspector is None)


def test_half_up_score_keeps_full_precision():
    result = programme_result(90, 80, D("87.225"))
    assert result.score == D("84.445")
    assert result.score_rounded == D("84.45")


def test_an_exact_half_cent_reached_through_a_division_rounds_up():
    # One indicator of 14 points: self 1.5, inspector 11 → (0.3 × 150/14 + 0.5 × 1100/14)
    # ÷ 0.8 = 53.125 exactly; 28 significant digits alone make it 53.12499…9 → 53.12.
    spec = IndicatorSpec(code="A1", max_points=14, kind="judged", dimension="quality")
    self_score = source_score([spec], {"A1": D("1.5")}).score
    inspector = source_score([spec], {"A1": 11}).score
    result = programme_result(self_score, inspector, None)
    assert result.score_rounded == D("53.13")
    assert result.stars == star_level(result.score)
    # a value that is not on the half cent is not moved
    assert round2(D("53.12499999999")) == D("53.12")


def test_no_source_gives_no_result():
    assert programme_result(None, None, None) is None
    assert programme_result(None, None, None, verified_complaints=3) is None


def test_weights_are_rescaled_over_sources_present():
    result = programme_result(80, 70, None)
    # 0.3/0.8 and 0.5/0.8
    assert result.weights == {"self": D("0.375"), "inspector": D("0.625")}
    assert result.sources == ("self", "inspector")
    assert result.weighted_mean == D("73.75")
    full = programme_result(80, 70, 90)
    assert full.weights == {"self": D("0.3"), "inspector": D("0.5"), "satisfaction": D("0.2")}


def test_complaint_deduction_reported():
    assert programme_result(80, 70, 90, 3).complaint_deduction == D(6)
    assert programme_result(80, 70, 90, 7).complaint_deduction == D(10)
    assert programme_result(80, 70, 90, 0).complaint_deduction == D(0)


def test_veto_gives_zero_and_one_star():
    result = programme_result(100, 100, 100, veto=True)
    assert result.score == 0
    assert result.stars == 1
    assert result.weighted_mean == D(100)


def test_stand_in_flag_only_with_an_inspector_score():
    assert programme_result(80, 70, None, stand_in=True).stand_in is True
    assert programme_result(80, None, None, stand_in=True).stand_in is False


@pytest.mark.parametrize(
    ("self_score", "inspector", "gap", "inflated"),
    [
        (90, 79, "11.00", True),  # 90 - 79 = 11 > 10
        (80, 70, "10.00", False),  # exactly 10 is not above 10
        (D("80.004"), 70, "10.00", False),  # compared on the stored (rounded) values
        (70, 90, "-20.00", False),  # self below inspector is not inflation
    ],
)
def test_inflation_gap(self_score, inspector, gap, inflated):
    result = programme_result(self_score, inspector, None)
    assert result.inflation_gap == D(gap)
    assert result.inflated is inflated


def test_no_inflation_gap_without_both_sources():
    result = programme_result(95, None, 50)
    assert result.inflation_gap is None
    assert result.inflated is False


def test_out_of_range_inputs_are_refused():
    with pytest.raises(ValueError):
        programme_result(101, None, None)
    with pytest.raises(ValueError):
        programme_result(80, None, None, verified_complaints=-1)


def test_district_rules_change_the_arithmetic():
    rules = ScoringRules(
        weight_self=D("0.2"),
        weight_inspector=D("0.6"),
        weight_satisfaction=D("0.2"),
        complaint_deduction=D(1),
        complaint_deduction_cap=D(3),
    )
    # 0.2*80 + 0.6*70 + 0.2*90 = 16 + 42 + 18 = 76; 5 complaints -> min(5, 3) = 3 -> 73
    assert programme_result(80, 70, 90, 5, rules=rules).score_rounded == D("73.00")


# --- rounding and stars ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("84.445", "84.45"),
        ("84.444999", "84.44"),
        ("84.435", "84.44"),  # half-up, not banker's rounding (which would give 84.44 too)
        ("84.425", "84.43"),  # banker's rounding would give 84.42
        ("0.005", "0.01"),
        ("100", "100.00"),
    ],
)
def test_round2_half_up(value, expected):
    assert round2(D(value)) == D(expected)
    assert str(round2(D(value))) == expected


@pytest.mark.parametrize(
    ("score", "stars"),
    [
        ("100", 5),
        ("95", 5),
        ("94.995", 5),  # shown as 95.00, so it earns what 95.00 earns
        ("94.99", 4),
        ("85", 4),
        ("84.99", 3),
        ("75", 3),
        ("74.99", 2),
        ("60", 2),
        ("59.99", 1),
        ("0", 1),
    ],
)
def test_star_thresholds(score, stars):
    assert star_level(D(score)) == stars


def test_star_thresholds_are_configurable():
    rules = ScoringRules(star_thresholds=(D(90), D(80), D(70), D(50)))
    assert star_level(D(90), rules) == 5
    assert star_level(D(55), rules) == 2


# --- rules ----------------------------------------------------------------------------


def test_default_rules():
    rules = ScoringRules()
    assert (rules.weight_self, rules.weight_inspector, rules.weight_satisfaction) == (
        D("0.3"),
        D("0.5"),
        D("0.2"),
    )
    assert rules.complaint_deduction == 2 and rules.complaint_deduction_cap == 10
    assert rules.stand_in_months == 3
    assert rules.star_thresholds == (95, 85, 75, 60)
    assert rules.inflation_gap_threshold == 10
    assert rules.problems() == []
    rules.validate()


@pytest.mark.parametrize(
    "overrides",
    [
        {"weight_self": D("0.4")},  # sums to 1.1
        {"weight_self": D("-0.1"), "weight_inspector": D("0.9")},  # negative
        {"complaint_deduction": D(-2)},
        {"stand_in_months": -1},
        {"star_thresholds": (D(85), D(95), D(75), D(60))},  # not descending
        {"star_thresholds": (D(95), D(85), D(75))},  # not four
        {"survey_scale_min": D(5)},
        {"spring_end_month": 10},
    ],
)
def test_invalid_rules_are_refused(overrides):
    with pytest.raises(ValueError, match="invalid scoring rules"):
        ScoringRules(**overrides)


def test_rules_accept_strings_from_settings():
    rules = ScoringRules(weight_self="0.25", weight_inspector="0.55", weight_satisfaction="0.2")
    assert rules.weight_self == D("0.25")


# --- satisfaction ---------------------------------------------------------------------


def test_satisfaction_two_groups():
    # parents (4.2-1)/4*100 = 80, students (3.8-1)/4*100 = 70 -> (80+70)/2 = 75
    assert satisfaction_score({"parents": D("4.2"), "students": D("3.8")}) == D(75)


def test_satisfaction_three_groups():
    # 80, 70, teachers (5-1)/4*100 = 100 -> 250/3 = 83.333... -> 83.33
    score = satisfaction_score({"parents": D("4.2"), "students": D("3.8"), "teachers": D(5)})
    assert round2(score) == D("83.33")


def test_satisfaction_edges():
    assert satisfaction_score({"parents": D(1)}) == 0
    assert satisfaction_score({"parents": D(5)}) == 100
    assert satisfaction_score({}) is None
    assert satisfaction_score({"parents": None}) is None
    # a group with no answers does not count
    assert satisfaction_score({"parents": D("4.2"), "teachers": None}) == D(80)
    with pytest.raises(ValueError):
        satisfaction_score({"parents": D("5.5")})


# --- semesters and months -------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2025, 9, Semester(2025, "autumn")),
        (2025, 12, Semester(2025, "autumn")),
        (2026, 1, Semester(2025, "autumn")),  # January still belongs to the autumn term
        (2026, 2, Semester(2025, "spring")),
        (2026, 7, Semester(2025, "spring")),
        (2026, 8, None),  # summer break
    ],
)
def test_semester_of(year, month, expected):
    assert semester_of(year, month) == expected


def test_semester_months():
    assert [str(m) for m in Semester(2025, "autumn").months()] == [
        "2025-09",
        "2025-10",
        "2025-11",
        "2025-12",
        "2026-01",
    ]
    assert len(Semester(2025, "spring").months()) == 6


def test_month_arithmetic():
    assert Month(2025, 11) - 3 == Month(2025, 8)
    assert Month(2026, 1) - 2 == Month(2025, 11)
    assert Month(2025, 11) + 2 == Month(2026, 1)
    assert Month(2026, 1) - Month(2025, 10) == 3
    assert Month(2025, 12) < Month(2026, 1)
    assert Month.parse("2025-09") == Month(2025, 9)
    assert str(Month(2025, 9)) == "2025-09"
    assert Month.of(date(2025, 9, 30)) == Month(2025, 9)
    with pytest.raises(ValueError):
        Month(2025, 13)


# --- inspector visit ------------------------------------------------------------------

NOV = Month(2025, 11)


def _visit(year, month, day, visit_id=None):
    return SiteVisit(date(year, month, day), {"A": 10}, visit_id=visit_id)


def test_latest_visit_of_the_month_is_used():
    early, late = _visit(2025, 11, 3, "early"), _visit(2025, 11, 20, "late")
    picked = pick_inspector_visit(NOV, [late, early, _visit(2025, 10, 28)])
    assert picked.visit.visit_id == "late"
    assert picked.stand_in is False


def test_same_day_visits_last_given_wins():
    picked = pick_inspector_visit(NOV, [_visit(2025, 11, 5, 1), _visit(2025, 11, 5, 2)])
    assert picked.visit.visit_id == 2


def test_stand_in_from_two_months_ago():
    picked = pick_inspector_visit(NOV, [_visit(2025, 9, 20, "sep")])
    assert picked.visit.visit_id == "sep"
    assert picked.stand_in is True


def test_stand_in_window_is_three_months():
    assert pick_inspector_visit(NOV, [_visit(2025, 8, 1)]).stand_in is True  # 3 months ago
    assert pick_inspector_visit(NOV, [_visit(2025, 7, 10)]) is None  # 4 months ago


def test_latest_stand_in_wins_and_later_months_are_ignored():
    visits = [_visit(2025, 9, 1, "sep"), _visit(2025, 10, 1, "oct"), _visit(2025, 12, 1, "dec")]
    assert pick_inspector_visit(NOV, visits).visit.visit_id == "oct"
    assert pick_inspector_visit(Month(2025, 8), [_visit(2025, 12, 1)]) is None


def test_stand_in_across_the_new_year():
    assert pick_inspector_visit(Month(2026, 1), [_visit(2025, 10, 15)]).stand_in is True


def test_stand_in_window_is_configurable():
    assert pick_inspector_visit(NOV, [_visit(2025, 10, 1)], ScoringRules(stand_in_months=0)) is None


# --- indicators, source scores --------------------------------------------------------

A = IndicatorSpec("A", D(40), "judged", "conditions")
B = IndicatorSpec("B", D(30), "judged", "service")
DORM = IndicatorSpec("D", D(30), "judged", "management", boarding_only=True)
HIGH = IndicatorSpec("H", D(10), "judged", "quality", levels=frozenset({"高中"}))
VETO = IndicatorSpec("V", D(0), "veto", "quality")


def test_boarding_only_indicator_is_dropped_and_the_score_rescaled():
    points = {"A": 36, "B": 24, "D": 15}
    boarding = source_score(
        applicable_indicators([A, B, DORM], boarding=True, level="初中"), points
    )
    day = source_score(applicable_indicators([A, B, DORM], boarding=False, level="初中"), points)
    # (36 + 24 + 15) / 100 * 100 = 75
    assert boarding.score == D(75)
    # (36 + 24) / 70 * 100 = 85.714285... -> 85.71
    assert round2(day.score) == D("85.71")


def test_level_restricted_indicator():
    assert applicable_indicators([A, HIGH], boarding=False, level="小学") == (A,)
    assert applicable_indicators([A, HIGH], boarding=False, level="高中") == (A, HIGH)
    assert applicable_indicators([A, HIGH], boarding=False, level=None) == (A,)


def test_missing_indicator_counts_zero_once_anything_is_scored():
    score = source_score([A, B], {"A": 36})
    # 36 / 70 * 100 = 51.428571... -> 51.43
    assert round2(score.score) == D("51.43")
    assert score.missing == ("B",)
    assert source_score([A, B], {}) is None
    assert source_score([A, B], {"A": None, "X": 5}) is None


def test_points_are_clamped_to_the_indicator_range():
    score = source_score([A, B], {"A": 50, "B": -3})
    assert score.indicator_points == {"A": D(40), "B": D(0)}
    # 40 / 70 * 100 = 57.142857... -> 57.14
    assert round2(score.score) == D("57.14")


def test_dimension_scores():
    score = source_score([A, B], {"A": 36, "B": 24})
    # conditions 36/40 = 90, service 24/30 = 80; total 60/70 -> 85.71
    assert score.dimensions == {"conditions": D(90), "service": D(80)}


def test_checklist_items_accept_yes_no():
    item = IndicatorSpec("C", D(5), "checklist", "management")
    assert source_score([item, A], {"C": True, "A": 40}).score == D(100)
    # 0 + 40 over 45 -> 88.888... -> 88.89
    assert round2(source_score([item, A], {"C": False, "A": 40}).score) == D("88.89")
    with pytest.raises(TypeError):
        source_score([A], {"A": True})


def test_veto_indicator_does_not_score_but_is_reported():
    triggered = source_score([A, VETO], {"A": 40, "V": True})
    assert triggered.score == D(100)
    assert triggered.veto_triggered is True
    assert triggered.vetoes == ("V",)
    assert source_score([A, VETO], {"A": 40, "V": False}).veto_triggered is False
    assert source_score([A, VETO], {"A": 40, "V": 1}).veto_triggered is True
    assert source_score([A, VETO], {"A": 40, "V": 0}).veto_triggered is False


def test_duplicate_codes_are_refused():
    with pytest.raises(ValueError):
        source_score([A, A], {"A": 1})


@pytest.mark.parametrize(
    ("value", "points"),
    [
        (20, "0"),  # below the first breakpoint
        (30, "0"),
        (D("37.5"), "6"),  # 4 + (2.5/5)*4
        (43, "9.2"),  # 8 + (3/5)*2; the seed school's 43 % green ratio
        (45, "10"),
        (60, "10"),  # above the last breakpoint
    ],
)
def test_measured_points(value, points):
    assert measured_points(value, GREEN_CURVE, 10) == D(points)


def test_measured_points_clamped_to_max_and_zero():
    # -5 + (50/100) * 25 = 7.5, inside [0, 10]
    assert measured_points(50, [(0, -5), (100, 20)], 10) == D("7.5")
    assert measured_points(90, [(0, -5), (100, 20)], 10) == D(10)  # 17.5 clamped to 10
    assert measured_points(10, [(0, -5), (100, 20)], 10) == D(0)  # -2.5 clamped to 0
    # breakpoints are sorted by value first
    assert measured_points(43, tuple(reversed(GREEN_CURVE)), 10) == D("9.2")


def test_measured_indicator_needs_a_curve():
    with pytest.raises(ValueError):
        IndicatorSpec("G", D(10), "measured", "conditions")
    with pytest.raises(ValueError):
        IndicatorSpec("G", D(10), "measured", "conditions", curve=((1, 2), (1, 3)))


# --- overall and year -----------------------------------------------------------------


def test_overall_is_the_plain_mean_of_programmes():
    # (80 + 70 + 90) / 3 = 80
    result = overall_result({"canteen": D(80), "store": D(70), "greening": D(90)})
    assert result.score_rounded == D("80.00")
    assert result.stars == 3
    # boarding school: (80 + 70 + 90 + 100) / 4 = 85
    boarding = overall_result({"canteen": 80, "store": 70, "greening": 90, "dormitory": 100})
    assert boarding.score_rounded == D("85.00")
    assert boarding.stars == 4


def test_overall_leaves_out_programmes_without_result():
    result = overall_result({"canteen": D(80), "store": None, "greening": D(91)})
    assert result.score == D("85.5")
    assert result.missing == ("store",)
    assert overall_result({"canteen": None}) is None


def test_year_score_is_mean_of_months_with_results():
    # (80 + 70) / 2 = 75
    result = year_score([D(80), None, D(70)])
    assert result.score_rounded == D("75.00")
    assert result.months == 2
    assert year_score([None, None]) is None


# --- a whole school-month ---------------------------------------------------------------


def _canteen():
    return ProgrammeInput(
        code="canteen",
        indicators=(
            IndicatorSpec("C1", D(40), "judged", "conditions"),
            IndicatorSpec("C2", D(10), "checklist", "management"),
            # % of canteen staff with a valid health certificate: 80 % -> 0, 100 % -> 20
            IndicatorSpec("C3", D(20), "measured", "quality", curve=((80, 0), (100, 20))),
            IndicatorSpec("C4", D(30), "judged", "service"),
            IndicatorSpec("CV", D(0), "veto", "quality"),
        ),
        self_points={"C1": 36, "C2": True, "C4": 27},
        self_measured={"C3": 95},
        visits=(
            SiteVisit(date(2025, 11, 12), {"C1": 30, "C2": False, "C4": 24}, measured={"C3": 90}),
        ),
        satisfaction=D(80),
        verified_complaints=1,
    )


def _store(inspector_veto=False):
    visits = ()
    if inspector_veto:
        visits = (SiteVisit(date(2025, 11, 3), {"S1": 50, "S2": 50, "SV": True}),)
    return ProgrammeInput(
        code="store",
        indicators=(
            IndicatorSpec("S1", D(50), "judged", "conditions"),
            IndicatorSpec("S2", D(50), "judged", "management"),
            IndicatorSpec("SV", D(0), "veto", "quality"),  # 三无产品
        ),
        self_points={"S1": 45, "S2": 45},
        visits=visits,
    )


def _dormitory():
    return ProgrammeInput(
        code="dormitory",
        indicators=(IndicatorSpec("D1", D(100), "judged", "conditions"),),
        self_points={"D1": 50},
        boarding_only=True,
    )


def _greening():
    return ProgrammeInput(
        code="greening",
        indicators=(
            IndicatorSpec("G1", D(10), "measured", "conditions", curve=GREEN_CURVE),
            IndicatorSpec("G2", D(90), "judged", "quality"),
        ),
        self_points={"G2": 81},
        visits=(SiteVisit(date(2025, 9, 18), {"G2": 72}),),  # stand-in from September
        measured={"G1": 43},  # green ratio derived for the school, applies to both sources
    )


def _school_month(**kwargs):
    defaults = {
        "month": NOV,
        "boarding": False,
        "level": "初中",
        "programmes": (_canteen(), _store(), _dormitory(), _greening()),
        "satisfaction": D(75),
        "school_id": 7,
    }
    return SchoolMonthInput(**{**defaults, **kwargs})


def test_school_month_worked_example():
    result = score_school_month(_school_month())
    assert result.school_id == 7
    assert result.not_applicable == ("dormitory",)
    assert set(result.programmes) == {"canteen", "store", "greening"}

    canteen = result.programmes["canteen"]
    # self: 36 + 10 + (95 % -> 15) + 27 = 88 of 100
    assert canteen.self_source.score == D(88)
    # inspector: 30 + 0 + (90 % -> 10) + 24 = 64 of 100
    assert canteen.inspector_source.score == D(64)
    # 0.3*88 + 0.5*64 + 0.2*80 = 26.4 + 32 + 16 = 74.4; one complaint -> 72.4
    assert canteen.result.score_rounded == D("72.40")
    assert canteen.result.stars == 2
    assert canteen.result.inflation_gap == D("24.00")  # 88 - 64
    assert canteen.result.inflated is True
    assert canteen.result.unverified is False
    # 四好: self weight 0.3/0.8 = 0.375, inspector 0.625
    # conditions 0.375*90 + 0.625*75 = 80.625; management 0.375*100 + 0.625*0 = 37.5
    # quality 0.375*75 + 0.625*50 = 59.375; service 0.375*90 + 0.625*80 = 83.75
    assert canteen.dimensions == {
        "conditions": D("80.625"),
        "service": D("83.75"),
        "quality": D("59.375"),
        "management": D("37.5"),
    }
    c3 = next(i for i in canteen.indicators if i.code == "C3")
    assert (c3.self_points, c3.inspector_points) == (D(15), D(10))
    c2 = next(i for i in canteen.indicators if i.code == "C2")
    assert (c2.self_points, c2.inspector_points) == (D(10), D(0))

    store = result.programmes["store"]
    # no visit in the last 3 months: (0.3*90 + 0.2*75) / 0.5 = 42 / 0.5 = 84, unverified
    assert store.result.score_rounded == D("84.00")
    assert store.result.unverified is True
    assert store.satisfaction == D(75)  # the school's satisfaction stands for the programme

    greening = result.programmes["greening"]
    # self (9.2 + 81) / 100 = 90.2; stand-in inspector (9.2 + 72) / 100 = 81.2
    # 0.3*90.2 + 0.5*81.2 + 0.2*75 = 27.06 + 40.6 + 15 = 82.66
    assert greening.result.score_rounded == D("82.66")
    assert greening.result.stand_in is True
    assert greening.result.inflation_gap == D("9.00")
    assert greening.result.inflated is False

    # overall: (72.4 + 84 + 82.66) / 3 = 239.06 / 3 = 79.68666... -> 79.69, 3 stars
    assert result.overall.score_rounded == D("79.69")
    assert result.overall.stars == 3
    # 四好 radar: conditions (80.625 + 90 + 92) / 3 = 87.541666... -> 87.54
    assert round2(result.dimensions["conditions"]) == D("87.54")
    # management (37.5 + 90) / 2 = 63.75
    assert result.dimensions["management"] == D("63.75")
    assert result.vetoed == ()


def test_boarding_school_counts_the_dormitory():
    result = score_school_month(_school_month(boarding=True))
    # dormitory: self only 50 with satisfaction 75: (0.3*50 + 0.2*75) / 0.5 = 30 / 0.5 = 60
    assert result.programmes["dormitory"].result.score_rounded == D("60.00")
    # (72.4 + 84 + 60 + 82.66) / 4 = 299.06 / 4 = 74.765 -> 74.77 (half-up)
    assert result.overall.score == D("74.765")
    assert result.overall.score_rounded == D("74.77")


def test_veto_found_on_a_visit_zeroes_the_programme():
    result = score_school_month(_school_month(programmes=(_canteen(), _store(inspector_veto=True))))
    store = result.programmes["store"]
    assert store.result.score == 0
    assert store.vetoes == ("SV",)
    assert result.vetoed == ("store",)
    # overall (72.4 + 0) / 2 = 36.2
    assert result.overall.score_rounded == D("36.20")


def test_veto_on_a_stand_in_visit_belongs_to_its_own_month():
    store = _store(inspector_veto=True)
    result = score_school_month(_school_month(month=Month(2025, 12), programmes=(store,)))
    assert result.programmes["store"].result.veto is False
    assert result.programmes["store"].result.stand_in is True


def test_incident_veto_recorded_by_the_district():
    store = ProgrammeInput(
        code="store", indicators=_store().indicators, self_points=None, incident_veto=True
    )
    result = score_school_month(_school_month(programmes=(store,), satisfaction=None))
    assert result.programmes["store"].result.score == 0
    assert result.programmes["store"].vetoes == ("incident",)


def test_programme_with_nothing_scored_has_no_result():
    empty = ProgrammeInput(code="store", indicators=_store().indicators)
    result = score_school_month(_school_month(programmes=(empty, _canteen()), satisfaction=None))
    assert result.programmes["store"].result is None
    assert result.overall.missing == ("store",)
    assert result.overall.score_rounded == D("72.40")


def test_derived_measure_does_not_invent_a_self_assessment():
    # greening has a derived green ratio, but with no self-assessment there is no self score
    greening = ProgrammeInput(
        code="greening", indicators=_greening().indicators, measured={"G1": 43}
    )
    result = score_school_month(_school_month(programmes=(greening,), satisfaction=None))
    assert result.programmes["greening"].self_source is None
    assert result.programmes["greening"].result is None


def test_inflation_gap_uses_indicators_both_sources_scored():
    programme = ProgrammeInput(
        code="canteen",
        indicators=(A, B),
        self_points={"A": 40, "B": 30},
        visits=(SiteVisit(date(2025, 11, 5), {"A": 36}),),  # B not inspected
    )
    result = score_school_month(_school_month(programmes=(programme,), satisfaction=None))
    outcome = result.programmes["canteen"].result
    # whole scores 100 vs 36/70 = 51.43 would suggest a 48.57 gap; on A alone: 100 - 90 = 10
    assert outcome.inflation_gap == D("10.00")
    assert outcome.inflated is False


def test_default_rules_object_is_shared():
    assert score_school_month(_school_month(), DEFAULT_RULES) == score_school_month(_school_month())
