"""Default rubrics (考核细则) as data files, and their validator."""

import ast
import copy
import json
import sys
from pathlib import Path

import pytest

from scoring import rubric_data
from scoring.rubric_data import (
    DIMENSIONS,
    KINDS,
    MEASURES,
    PROGRAMMES,
    RubricError,
    default_rubrics,
    flatten_indicators,
    load_default_rubric,
    validate_rubric,
)

MODULE_PATH = Path(rubric_data.__file__)
RUBRIC_DIR = MODULE_PATH.parent / "rubrics"


def _interpolate(value: float, curve: list[list[float]]) -> float:
    """Reference reading of a curve: clamped outside, linear between breakpoints."""
    if value <= curve[0][0]:
        return curve[0][1]
    for (x0, y0), (x1, y1) in zip(curve, curve[1:], strict=False):
        if value <= x1:
            return y0 + (y1 - y0) * (value - x0) / (x1 - x0)
    return curve[-1][1]


def _indicator(data: dict, code: str) -> dict:
    return next(i for i in flatten_indicators(data) if i["code"] == code)


def _text(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


# --------------------------------------------------------------------------- constants


def test_constants():
    assert list(PROGRAMMES.items()) == [
        ("canteen", "文明食堂"),
        ("store", "放心超市"),
        ("dormitory", "文化宿舍"),
        ("greening", "绿化创建"),
    ]
    assert DIMENSIONS == {
        "conditions": "保障好",
        "service": "服务好",
        "quality": "质量好",
        "management": "管理好",
    }
    assert set(KINDS) == {"judged", "checklist", "measured", "veto"}
    assert set(MEASURES) == {
        "green_ratio",
        "health_cert_share",
        "dorm_standard_share",
        "meat_dish_share",
        "manual",
    }


# --------------------------------------------------------------------------- default files


@pytest.mark.parametrize("programme", list(PROGRAMMES))
def test_default_rubric_is_valid(programme):
    data = load_default_rubric(programme)
    assert validate_rubric(data) == []
    assert data["programme"] == programme
    assert data["name"] == PROGRAMMES[programme]
    assert data["boarding_only"] is (programme == "dormitory")


@pytest.mark.parametrize("programme", list(PROGRAMMES))
def test_default_rubric_shape(programme):
    data = load_default_rubric(programme)
    indicators = flatten_indicators(data)
    assert 4 <= len(data["categories"]) <= 7
    assert 20 <= len(indicators) <= 30
    assert sum(i["max_points"] for i in indicators if i["kind"] != "veto") == 100
    assert all(i["max_points"] == 0 for i in indicators if i["kind"] == "veto")
    codes = [i["code"] for i in indicators]
    assert len(codes) == len(set(codes))
    category_codes = [c["code"] for c in data["categories"]]
    assert len(category_codes) == len(set(category_codes))
    # Every category carries points, so per-category percentages never divide by 0.
    for category in data["categories"]:
        assert sum(i["max_points"] for i in category["indicators"]) > 0
    for indicator in indicators:
        assert indicator["code"].startswith(indicator["category_code"])
        assert len(indicator["guidance"]) >= 40
        if indicator["kind"] == "checklist":
            assert sum(item["points"] for item in indicator["checklist"]) == indicator["max_points"]
        if indicator["kind"] == "measured":
            assert max(y for _, y in indicator["curve"]) == indicator["max_points"]
    # Every 四好 dimension is represented in every programme (for the radar chart).
    assert {i["dimension"] for i in indicators} == set(DIMENSIONS)


@pytest.mark.parametrize("programme", list(PROGRAMMES))
def test_default_file_is_pretty_utf8_chinese(programme):
    raw = (RUBRIC_DIR / f"{programme}.json").read_text(encoding="utf-8")
    assert PROGRAMMES[programme] in raw
    assert "\\u" not in raw  # ensure_ascii=False
    assert raw.startswith('{\n  "programme"')
    assert json.loads(raw) == load_default_rubric(programme)


def test_default_rubrics_in_programme_order_and_fresh_copies():
    rubrics = default_rubrics()
    assert list(rubrics) == list(PROGRAMMES)
    rubrics["canteen"]["categories"].clear()
    assert load_default_rubric("canteen")["categories"]


def test_unknown_programme_is_rejected():
    with pytest.raises(ValueError, match="未知的创建项目"):
        load_default_rubric("library")


def test_some_indicators_are_level_specific():
    specific = [
        (programme, i["code"], tuple(i["applies_to"]["levels"]))
        for programme, data in default_rubrics().items()
        for i in flatten_indicators(data)
        if i["applies_to"]["levels"] is not None
    ]
    assert len(specific) >= 3
    canteen_levels = {
        code: levels for programme, code, levels in specific if programme == "canteen"
    }
    assert any(levels == ("小学", "九年一贯制") for levels in canteen_levels.values())


def test_canteen_contents():
    data = load_default_rubric("canteen")
    text = _text(data)
    for word in (
        "留样",
        "48 小时",
        "经手人",
        "验收人",
        "审核人",
        "每周一",
        "两荤两素一汤",
        "光盘行动",
        "早餐",
        "特殊膳食",
        "后勤服务企业库",
    ):
        assert word in text, word
    indicators = flatten_indicators(data)

    five_roles = next(i for i in indicators if i["name"] == "五员制")
    labels = "".join(item["label"] for item in five_roles["checklist"])
    for role in ("营养指导员", "伙食成本监管员", "卫生监督员", "食堂操作员", "伙食质量评判员"):
        assert role in labels

    cert = next(i for i in indicators if i.get("measure") == "health_cert_share")
    assert cert["kind"] == "measured"
    full = cert["max_points"]
    assert _interpolate(1.0, cert["curve"]) == full
    assert _interpolate(0.9, cert["curve"]) == full / 2
    assert _interpolate(0.79, cert["curve"]) == 0

    meat = next(i for i in indicators if i.get("measure") == "meat_dish_share")
    assert _interpolate(0.5, meat["curve"]) == meat["max_points"]
    assert _interpolate(0.45, meat["curve"]) < meat["max_points"]

    vetoes = [i for i in indicators if i["kind"] == "veto"]
    assert any("食物中毒" in i["name"] for i in vetoes)

    breakfast = next(i for i in indicators if "早餐" in i["name"])
    assert breakfast["applies_to"]["boarding_only"] is True

    accompanying = next(i for i in indicators if "陪餐" in i["name"])
    assert "小学" in accompanying["applies_to"]["levels"]
    assert "高中" not in accompanying["applies_to"]["levels"]


def test_store_contents():
    data = load_default_rubric("store")
    text = _text(data)
    for word in ("营业执照", "后勤服务企业库", "明码标价", "不高于市场", "台账", "三无"):
        assert word in text, word
    indicators = flatten_indicators(data)
    six = next(i for i in indicators if "六统一" in i["name"])
    assert len(six["checklist"]) == 6
    vetoes = [i for i in indicators if i["kind"] == "veto"]
    assert any("三无" in i["name"] and "过期" in i["name"] for i in vetoes)


def test_dormitory_contents():
    data = load_default_rubric("dormitory")
    text = _text(data)
    for word in ("床被", "热水", "饮用水", "值班", "寝室长", "封闭式管理", "查寝", "消防", "每周"):
        assert word in text, word
    indicators = flatten_indicators(data)
    assert all(i["applies_to"]["boarding_only"] for i in indicators)
    share = next(i for i in indicators if i.get("measure") == "dorm_standard_share")
    assert _interpolate(0.9, share["curve"]) == share["max_points"]
    assert _interpolate(0.85, share["curve"]) < share["max_points"]
    assert any(i["kind"] == "veto" and "安全事故" in i["name"] for i in indicators)


def test_greening_contents():
    data = load_default_rubric("greening")
    text = _text(data)
    for word in ("平面图", "挂牌", "成活率", "三季有花、四季常青", "档案", "10968"):
        assert word in text, word
    ratio = next(i for i in flatten_indicators(data) if i.get("measure") == "green_ratio")
    assert _interpolate(0.35, ratio["curve"]) == ratio["max_points"]
    assert _interpolate(0.43, ratio["curve"]) == ratio["max_points"]  # the seed school
    assert _interpolate(0.30, ratio["curve"]) < ratio["max_points"]


def test_flatten_indicators_keeps_order_and_attaches_category():
    data = load_default_rubric("canteen")
    flat = flatten_indicators(data)
    expected = [(c["code"], i["code"]) for c in data["categories"] for i in c["indicators"]]
    assert [(i["category_code"], i["code"]) for i in flat] == expected
    assert flat[0]["category_name"] == data["categories"][0]["name"]
    flat[0]["checklist"] = []
    flat[0]["name"] = "改"
    assert data["categories"][0]["indicators"][0]["name"] != "改"
    assert "checklist" not in data["categories"][0]["indicators"][0]


# --------------------------------------------------------------------------- validator


def _small_rubric() -> dict:
    applies = {"boarding_only": False, "levels": None}
    return {
        "programme": "canteen",
        "name": "文明食堂",
        "boarding_only": False,
        "categories": [
            {
                "code": "A",
                "name": "设施设备",
                "indicators": [
                    {
                        "code": "A1",
                        "name": "座椅",
                        "max_points": 50,
                        "kind": "judged",
                        "guidance": "座椅齐全得满分。",
                        "evidence_required": True,
                        "dimension": "conditions",
                        "applies_to": dict(applies),
                    },
                    {
                        "code": "A2",
                        "name": "消毒",
                        "max_points": 30,
                        "kind": "checklist",
                        "guidance": "逐项核查。",
                        "evidence_required": False,
                        "dimension": "management",
                        "applies_to": {"boarding_only": False, "levels": ["小学"]},
                        "checklist": [
                            {"label": "消毒柜", "points": 20},
                            {"label": "保洁柜", "points": 10},
                        ],
                    },
                ],
            },
            {
                "code": "B",
                "name": "规范操作",
                "indicators": [
                    {
                        "code": "B1",
                        "name": "持证上岗",
                        "max_points": 20,
                        "kind": "measured",
                        "guidance": "按持证比例计分。",
                        "evidence_required": True,
                        "dimension": "service",
                        "applies_to": dict(applies),
                        "curve": [[0.8, 0], [0.9, 10], [1, 20]],
                        "measure": "health_cert_share",
                    },
                    {
                        "code": "B2",
                        "name": "食物中毒事故",
                        "max_points": 0,
                        "kind": "veto",
                        "guidance": "发生即否决。",
                        "evidence_required": True,
                        "dimension": "quality",
                        "applies_to": dict(applies),
                    },
                ],
            },
        ],
    }


def _ind(data: dict, code: str) -> dict:
    for category in data["categories"]:
        for indicator in category["indicators"]:
            if indicator["code"] == code:
                return indicator
    raise KeyError(code)


def _has(errors: list[str], *fragments: str) -> bool:
    return any(all(f in e for f in fragments) for e in errors)


def test_small_rubric_is_valid():
    assert validate_rubric(_small_rubric()) == []


def _break_unknown_top_key(d):
    d["version"] = 2


def _break_unknown_indicator_key(d):
    _ind(d, "A1")["weight"] = 1


def _break_unknown_applies_key(d):
    _ind(d, "A1")["applies_to"]["zone"] = "东片"


def _break_unknown_checklist_key(d):
    _ind(d, "A2")["checklist"][0]["note"] = "x"


def _break_missing_guidance(d):
    del _ind(d, "A1")["guidance"]


def _break_points_type(d):
    _ind(d, "A1")["max_points"] = "50"


def _break_points_bool(d):
    _ind(d, "B2")["max_points"] = False


def _break_evidence_type(d):
    _ind(d, "A1")["evidence_required"] = "是"


def _break_name_empty(d):
    _ind(d, "A1")["name"] = "  "


def _break_categories_type(d):
    d["categories"] = {"A": []}


def _break_boarding_type(d):
    d["boarding_only"] = "否"


def _break_levels_type(d):
    _ind(d, "A1")["applies_to"]["levels"] = "小学"


def _break_unknown_level(d):
    _ind(d, "A2")["applies_to"]["levels"] = ["大学"]


def _break_step(d):
    _ind(d, "A1")["max_points"] = 49.7


def _break_duplicate_indicator(d):
    _ind(d, "B1")["code"] = "A1"


def _break_duplicate_category(d):
    d["categories"][1]["code"] = "A"


def _break_sum(d):
    _ind(d, "A1")["max_points"] = 45


def _break_checklist_sum(d):
    _ind(d, "A2")["checklist"][1]["points"] = 5


def _break_checklist_on_judged(d):
    _ind(d, "A1")["checklist"] = [{"label": "x", "points": 50}]


def _break_curve_order(d):
    _ind(d, "B1")["curve"] = [[0.9, 10], [0.8, 0], [1, 20]]


def _break_curve_high(d):
    _ind(d, "B1")["curve"] = [[0.8, 0], [0.9, 10], [1, 25]]


def _break_curve_negative(d):
    _ind(d, "B1")["curve"] = [[0.8, -1], [0.9, 10], [1, 20]]


def _break_curve_ratio(d):
    _ind(d, "B1")["curve"] = [[80, 0], [90, 10], [100, 20]]


def _break_curve_short(d):
    _ind(d, "B1")["curve"] = [[1, 20]]


def _break_curve_point(d):
    _ind(d, "B1")["curve"] = [[0.8, 0], [0.9], [1, 20]]


def _break_curve_unreachable(d):
    _ind(d, "B1")["curve"] = [[0.8, 0], [1, 15]]


def _break_measure_missing(d):
    del _ind(d, "B1")["measure"]


def _break_unknown_kind(d):
    _ind(d, "A1")["kind"] = "bonus"


def _break_unknown_dimension(d):
    _ind(d, "A1")["dimension"] = "safety"


def _break_unknown_measure(d):
    _ind(d, "B1")["measure"] = "attendance"


def _break_veto_points(d):
    _ind(d, "B2")["max_points"] = 5


def _break_zero_points(d):
    _ind(d, "A1")["max_points"] = 0


def _break_boarding_rubric(d):
    d["boarding_only"] = True
    for code in ("A1", "A2", "B1"):
        _ind(d, code)["applies_to"]["boarding_only"] = True


BROKEN = [
    (_break_unknown_top_key, ("考核细则：", "未知字段 version")),
    (_break_unknown_indicator_key, ("指标 A1：", "未知字段 weight")),
    (_break_unknown_applies_key, ("指标 A1 适用范围：", "未知字段 zone")),
    (_break_unknown_checklist_key, ("指标 A2 检查项 1：", "未知字段 note")),
    (_break_missing_guidance, ("指标 A1：", "缺少字段", "guidance")),
    (_break_points_type, ("指标 A1：", "满分", "必须为数字")),
    (_break_points_bool, ("指标 B2：", "必须为数字")),
    (_break_evidence_type, ("指标 A1：", "evidence_required", "true 或 false")),
    (_break_name_empty, ("指标 A1：", "name", "非空字符串")),
    (_break_categories_type, ("考核细则：", "categories", "非空列表")),
    (_break_boarding_type, ("考核细则：", "boarding_only")),
    (_break_levels_type, ("指标 A1 适用范围：", "levels")),
    (_break_unknown_level, ("指标 A2 适用范围：", "未知学段 大学")),
    (_break_step, ("指标 A1：满分必须为 0.5 的倍数",)),
    (_break_duplicate_indicator, ("指标 A1：指标编码重复",)),
    (_break_duplicate_category, ("类别 A：类别编码重复",)),
    (_break_sum, ("考核细则：", "合计为 95", "必须为 100")),
    (_break_checklist_sum, ("指标 A2：", "检查项分值合计为 25", "满分 30")),
    (_break_checklist_on_judged, ("指标 A1：", "checklist")),
    (_break_curve_order, ("指标 B1 曲线第 2 点：", "严格递增")),
    (_break_curve_high, ("指标 B1 曲线第 3 点：", "得分 25", "0–20")),
    (_break_curve_negative, ("指标 B1 曲线第 1 点：", "得分 -1")),
    (_break_curve_ratio, ("指标 B1 曲线第 1 点：", "0–1")),
    (_break_curve_short, ("指标 B1：", "至少 2 个")),
    (_break_curve_point, ("指标 B1 曲线第 2 点：", "两个数字")),
    (_break_curve_unreachable, ("指标 B1：", "最高得分为 15", "满分 20")),
    (_break_measure_missing, ("指标 B1：", "缺少字段", "measure")),
    (_break_unknown_kind, ("指标 A1：", "未知的指标类型 'bonus'")),
    (_break_unknown_dimension, ("指标 A1：", "未知的四好维度 'safety'")),
    (_break_unknown_measure, ("指标 B1：", "未知的测量来源 'attendance'")),
    (_break_veto_points, ("指标 B2：", "一票否决指标的满分必须为 0")),
    (_break_zero_points, ("指标 A1：", "满分必须大于 0")),
    (_break_boarding_rubric, ("指标 B2：", "寄宿制")),
]


@pytest.mark.parametrize(("breaker", "fragments"), BROKEN, ids=[b.__name__[7:] for b, _ in BROKEN])
def test_validator_reports_each_error_kind(breaker, fragments):
    data = _small_rubric()
    breaker(data)
    errors = validate_rubric(data)
    assert errors, "expected at least one error"
    assert _has(errors, *fragments), errors


def test_validator_rejects_non_object():
    assert validate_rubric([]) == ["考核细则：必须为 JSON 对象"]


def test_validator_does_not_mutate_input():
    data = _small_rubric()
    _break_curve_order(data)
    snapshot = copy.deepcopy(data)
    validate_rubric(data)
    assert data == snapshot


def test_validator_accepts_descending_points_and_half_steps():
    data = _small_rubric()
    _ind(data, "A1")["max_points"] = 49.5
    _ind(data, "A2")["max_points"] = 30.5
    _ind(data, "A2")["checklist"][1]["points"] = 10.5
    # A price ratio: lower is better, so points fall as the value rises.
    b1 = _ind(data, "B1")
    b1["measure"] = "manual"
    b1["curve"] = [[1, 20], [1.05, 10], [1.1, 0]]
    assert validate_rubric(data) == []


def test_validator_accepts_custom_levels_when_asked():
    data = _small_rubric()
    _ind(data, "A2")["applies_to"]["levels"] = ["学前"]
    assert validate_rubric(data)
    assert validate_rubric(data, known_levels=None) == []


def test_broken_packaged_file_raises_rubric_error(monkeypatch, tmp_path):
    data = load_default_rubric("store")
    data["categories"][0]["indicators"][0]["max_points"] += 1
    (tmp_path / "store.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(rubric_data, "_rubrics_dir", lambda: tmp_path)
    with pytest.raises(RubricError) as info:
        load_default_rubric("store")
    assert any("必须为 100" in e for e in info.value.errors)


# --------------------------------------------------------------------------- purity


def test_module_imports_standard_library_only():
    tree = ast.parse(MODULE_PATH.read_text(encoding="utf-8"))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative (project) imports"
            modules.add(node.module.split(".")[0])
    assert modules, "expected some imports"
    assert not {m for m in modules if m.startswith(("flask", "sqlalchemy"))}
    assert modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)
