"""Default rubrics (考核细则) of the four programmes (四个创建) as data, with a validator.

The four default rubrics ship as JSON files in ``scoring/rubrics/``. A rubric is a
tree: categories (一级指标) → indicators (二级指标); the file format is::

    {"programme": "canteen", "name": "文明食堂", "boarding_only": false,
     "categories": [{"code": "A", "name": "设施设备", "indicators": [
         {"code": "A1", "name": "…", "max_points": 4, "kind": "judged",
          "guidance": "…", "evidence_required": true, "dimension": "conditions",
          "applies_to": {"boarding_only": false, "levels": null},
          "checklist": [{"label": "…", "points": 1}],      # checklist only
          "curve": [[0.8, 0], [0.9, 3], [1, 6]],           # measured only
          "measure": "health_cert_share"}]}]}              # measured only

A measured indicator's curve holds (value, points) breakpoints, values strictly
ascending; a value below the first breakpoint scores the first breakpoint's points,
above the last the last one's, and linearly in between.

This module is pure: standard library only, no Flask, SQLAlchemy or project imports,
so the same checks can run in the admin editor, in migrations and in tests.
"""

import copy
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

# The four programmes (四个创建), in display order.
PROGRAMMES: dict[str, str] = {
    "canteen": "文明食堂",
    "store": "放心超市",
    "dormitory": "文化宿舍",
    "greening": "绿化创建",
}

# The four goods (四好).
DIMENSIONS: dict[str, str] = {
    "conditions": "保障好",
    "service": "服务好",
    "quality": "质量好",
    "management": "管理好",
}

KINDS: dict[str, str] = {
    "judged": "评分",
    "checklist": "检查项",
    "measured": "测量",
    "veto": "一票否决",
}

# Where the number of a measured indicator comes from.
MEASURES: dict[str, str] = {
    "green_ratio": "绿化率（绿化面积 ÷ 校园占地面积）",
    "health_cert_share": "持证上岗率（食堂从业人员持有效健康证的比例）",
    "dorm_standard_share": "文明宿舍达标率",
    "meat_dish_share": "荤菜占比（周菜谱）",
    "manual": "人工录入",
}

# Measures that are shares or ratios: their curve values lie within 0–1.
RATIO_MEASURES: frozenset[str] = frozenset(
    {"green_ratio", "health_cert_share", "dorm_standard_share", "meat_dish_share"}
)

# School levels an indicator may be restricted to; mirrors ``tenants.models.SCHOOL_LEVELS``
# (not imported, to keep this module free of the ORM).
SCHOOL_LEVELS: tuple[str, ...] = (
    "小学",
    "初中",
    "高中",
    "九年一贯制",
    "完全中学",
    "特殊教育",
    "职业高中",
    "幼儿园",
)

TOTAL_POINTS = 100
POINT_STEP = 0.5

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_PROGRAMME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

_RUBRIC_KEYS = ("programme", "name", "boarding_only", "categories")
_CATEGORY_KEYS = ("code", "name", "indicators")
_INDICATOR_KEYS = (
    "code",
    "name",
    "max_points",
    "kind",
    "guidance",
    "evidence_required",
    "dimension",
    "applies_to",
)
_INDICATOR_OPTIONAL_KEYS = ("checklist", "curve", "measure")
_APPLIES_TO_KEYS = ("boarding_only", "levels")
_CHECKLIST_ITEM_KEYS = ("label", "points")

_FIELD_LABELS = {
    "programme": "项目编码（programme）",
    "name": "名称（name）",
    "boarding_only": "仅寄宿制（boarding_only）",
    "categories": "类别列表（categories）",
    "code": "编码（code）",
    "indicators": "指标列表（indicators）",
    "max_points": "满分（max_points）",
    "kind": "类型（kind）",
    "guidance": "评分说明（guidance）",
    "evidence_required": "需佐证材料（evidence_required）",
    "dimension": "四好维度（dimension）",
    "applies_to": "适用范围（applies_to）",
    "checklist": "检查项（checklist）",
    "curve": "计分曲线（curve）",
    "measure": "测量来源（measure）",
    "levels": "学段（levels）",
    "label": "检查项名称（label）",
    "points": "分值（points）",
}


class RubricError(ValueError):
    """A rubric that does not validate; ``errors`` holds the Chinese messages."""

    def __init__(self, message: str, errors: list[str]):
        super().__init__(message)
        self.errors = errors


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_step(value: float) -> bool:
    return float(value / POINT_STEP).is_integer()


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _label(key: str) -> str:
    return _FIELD_LABELS.get(key, key)


def _check_keys(
    obj: dict,
    where: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    errors: list[str],
) -> None:
    for key in obj:
        if key not in required and key not in optional:
            errors.append(f"{where}：未知字段 {key}")
    for key in required:
        if key not in obj:
            errors.append(f"{where}：缺少字段 {_label(key)}")


def _check_text(obj: dict, key: str, where: str, errors: list[str]) -> None:
    if key in obj and not (isinstance(obj[key], str) and obj[key].strip()):
        errors.append(f"{where}：{_label(key)}必须为非空字符串")


def _check_bool(obj: dict, key: str, where: str, errors: list[str]) -> None:
    if key in obj and not isinstance(obj[key], bool):
        errors.append(f"{where}：{_label(key)}必须为 true 或 false")


def validate_rubric(
    data: dict, *, known_levels: tuple[str, ...] | None = SCHOOL_LEVELS
) -> list[str]:
    """Check a rubric; return Chinese error messages with their location, [] when valid.

    ``known_levels``: the school levels ``applies_to.levels`` may name (None: any text).
    """
    errors: list[str] = []
    where = "考核细则"
    if not isinstance(data, dict):
        return [f"{where}：必须为 JSON 对象"]
    _check_keys(data, where, _RUBRIC_KEYS, (), errors)

    programme = data.get("programme")
    if "programme" in data and not (isinstance(programme, str) and _PROGRAMME_RE.match(programme)):
        errors.append(f"{where}：{_label('programme')}必须为小写字母开头的英文编码")
    _check_text(data, "name", where, errors)
    _check_bool(data, "boarding_only", where, errors)
    boarding_rubric = data.get("boarding_only") is True

    categories = data.get("categories")
    if "categories" not in data:
        return errors
    if not isinstance(categories, list) or not categories:
        errors.append(f"{where}：{_label('categories')}必须为非空列表")
        return errors

    category_codes: set[str] = set()
    indicator_codes: set[str] = set()
    total = 0.0
    total_known = True
    for c_index, category in enumerate(categories, start=1):
        c_where = f"第 {c_index} 个类别"
        if not isinstance(category, dict):
            errors.append(f"{c_where}：必须为 JSON 对象")
            total_known = False
            continue
        c_code = category.get("code")
        if isinstance(c_code, str) and _CODE_RE.match(c_code):
            c_where = f"类别 {c_code}"
            if c_code in category_codes:
                errors.append(f"{c_where}：类别编码重复")
            category_codes.add(c_code)
        elif "code" in category:
            errors.append(f"{c_where}：{_label('code')}必须为 1–32 位字母、数字或 _.-")
        _check_keys(category, c_where, _CATEGORY_KEYS, (), errors)
        _check_text(category, "name", c_where, errors)
        indicators = category.get("indicators")
        if "indicators" not in category:
            total_known = False
            continue
        if not isinstance(indicators, list) or not indicators:
            errors.append(f"{c_where}：{_label('indicators')}必须为非空列表")
            total_known = False
            continue
        for i_index, indicator in enumerate(indicators, start=1):
            points = _validate_indicator(
                indicator,
                f"{c_where} 第 {i_index} 个指标",
                indicator_codes,
                boarding_rubric,
                known_levels,
                errors,
            )
            if points is None:
                total_known = False
            else:
                total += points

    if total_known and not math.isclose(total, TOTAL_POINTS, abs_tol=1e-9):
        errors.append(
            f"{where}：非否决指标满分合计为 {_fmt(round(total, 6))}，必须为 {TOTAL_POINTS}"
        )
    return errors


def _validate_indicator(
    indicator: Any,
    where: str,
    seen_codes: set[str],
    boarding_rubric: bool,
    known_levels: tuple[str, ...] | None,
    errors: list[str],
) -> float | None:
    """Validate one indicator; return the points it adds to the total (None: unknown)."""
    if not isinstance(indicator, dict):
        errors.append(f"{where}：必须为 JSON 对象")
        return None
    code = indicator.get("code")
    if isinstance(code, str) and _CODE_RE.match(code):
        where = f"指标 {code}"
        if code in seen_codes:
            errors.append(f"{where}：指标编码重复")
        seen_codes.add(code)
    elif "code" in indicator:
        errors.append(f"{where}：{_label('code')}必须为 1–32 位字母、数字或 _.-")
    _check_keys(indicator, where, _INDICATOR_KEYS, _INDICATOR_OPTIONAL_KEYS, errors)
    _check_text(indicator, "name", where, errors)
    _check_text(indicator, "guidance", where, errors)
    _check_bool(indicator, "evidence_required", where, errors)

    kind = indicator.get("kind")
    if "kind" in indicator and kind not in KINDS:
        errors.append(f"{where}：未知的指标类型 {kind!r}（可选：{'、'.join(KINDS)}）")
        kind = None
    dimension = indicator.get("dimension")
    if "dimension" in indicator and dimension not in DIMENSIONS:
        errors.append(f"{where}：未知的四好维度 {dimension!r}（可选：{'、'.join(DIMENSIONS)}）")

    max_points = indicator.get("max_points")
    valid_max: float | None = None
    if "max_points" in indicator:
        if not _is_number(max_points):
            errors.append(f"{where}：{_label('max_points')}必须为数字")
        elif max_points < 0:
            errors.append(f"{where}：满分不能为负数")
        elif not _is_step(max_points):
            errors.append(f"{where}：满分必须为 {_fmt(POINT_STEP)} 的倍数")
        elif kind == "veto" and max_points != 0:
            errors.append(f"{where}：一票否决指标的满分必须为 0")
        elif kind is not None and kind != "veto" and max_points == 0:
            errors.append(f"{where}：非否决指标的满分必须大于 0")
        else:
            valid_max = float(max_points)

    _validate_applies_to(indicator, where, boarding_rubric, known_levels, errors)

    for key, owner in (("checklist", "checklist"), ("curve", "measured"), ("measure", "measured")):
        if key in indicator and kind is not None and kind != owner:
            errors.append(f"{where}：只有 {owner} 类型的指标可以有 {key} 字段")
        elif key not in indicator and kind == owner:
            errors.append(f"{where}：缺少字段 {_label(key)}")

    if kind == "checklist" and "checklist" in indicator:
        _validate_checklist(indicator["checklist"], where, valid_max, errors)
    if kind == "measured":
        measure = indicator.get("measure")
        if "measure" in indicator and measure not in MEASURES:
            errors.append(f"{where}：未知的测量来源 {measure!r}（可选：{'、'.join(MEASURES)}）")
        if "curve" in indicator:
            _validate_curve(indicator["curve"], where, valid_max, measure, errors)

    if kind == "veto":
        return 0.0
    if kind is None or valid_max is None:
        return None
    return valid_max


def _validate_applies_to(
    indicator: dict,
    where: str,
    boarding_rubric: bool,
    known_levels: tuple[str, ...] | None,
    errors: list[str],
) -> None:
    if "applies_to" not in indicator:
        return
    applies_to = indicator["applies_to"]
    if not isinstance(applies_to, dict):
        errors.append(f"{where}：{_label('applies_to')}必须为 JSON 对象")
        return
    a_where = f"{where} 适用范围"
    _check_keys(applies_to, a_where, _APPLIES_TO_KEYS, (), errors)
    _check_bool(applies_to, "boarding_only", a_where, errors)
    if boarding_rubric and applies_to.get("boarding_only") is False:
        errors.append(f"{where}：本考核细则仅适用于寄宿制学校，指标的 boarding_only 也必须为 true")
    if "levels" not in applies_to or applies_to["levels"] is None:
        return
    levels = applies_to["levels"]
    if not isinstance(levels, list) or not levels:
        errors.append(f"{a_where}：{_label('levels')}必须为 null（全部学段）或非空列表")
        return
    seen: set[str] = set()
    for level in levels:
        if not (isinstance(level, str) and level.strip()):
            errors.append(f"{a_where}：学段必须为非空字符串")
            continue
        if level in seen:
            errors.append(f"{a_where}：学段 {level} 重复")
        seen.add(level)
        if known_levels is not None and level not in known_levels:
            errors.append(f"{a_where}：未知学段 {level}（可选：{'、'.join(known_levels)}）")


def _validate_checklist(
    checklist: Any, where: str, max_points: float | None, errors: list[str]
) -> None:
    if not isinstance(checklist, list) or not checklist:
        errors.append(f"{where}：{_label('checklist')}必须为非空列表")
        return
    total = 0.0
    total_known = True
    labels: set[str] = set()
    for index, item in enumerate(checklist, start=1):
        i_where = f"{where} 检查项 {index}"
        if not isinstance(item, dict):
            errors.append(f"{i_where}：必须为 JSON 对象")
            total_known = False
            continue
        _check_keys(item, i_where, _CHECKLIST_ITEM_KEYS, (), errors)
        _check_text(item, "label", i_where, errors)
        label = item.get("label")
        if isinstance(label, str) and label.strip():
            if label in labels:
                errors.append(f"{i_where}：检查项名称重复")
            labels.add(label)
        points = item.get("points")
        if not _is_number(points):
            if "points" in item:
                errors.append(f"{i_where}：{_label('points')}必须为数字")
            total_known = False
        elif points <= 0:
            errors.append(f"{i_where}：分值必须大于 0")
            total_known = False
        elif not _is_step(points):
            errors.append(f"{i_where}：分值必须为 {_fmt(POINT_STEP)} 的倍数")
            total_known = False
        else:
            total += points
    if total_known and max_points is not None and not math.isclose(total, max_points):
        errors.append(
            f"{where}：检查项分值合计为 {_fmt(round(total, 6))}，必须等于满分 {_fmt(max_points)}"
        )


def _validate_curve(
    curve: Any, where: str, max_points: float | None, measure: Any, errors: list[str]
) -> None:
    if not isinstance(curve, list) or len(curve) < 2:
        errors.append(f"{where}：{_label('curve')}必须为至少 2 个 [测量值, 得分] 点的列表")
        return
    previous_x: float | None = None
    highest: float | None = None
    all_valid = True
    for index, point in enumerate(curve, start=1):
        p_where = f"{where} 曲线第 {index} 点"
        if not (
            isinstance(point, list)
            and len(point) == 2
            and _is_number(point[0])
            and _is_number(point[1])
        ):
            errors.append(f"{p_where}：必须为 [测量值, 得分] 两个数字")
            all_valid = False
            continue
        x, y = point
        if previous_x is not None and x <= previous_x:
            errors.append(
                f"{p_where}：测量值必须严格递增（{_fmt(x)} 不大于前一点的 {_fmt(previous_x)}）"
            )
        previous_x = x
        if measure in RATIO_MEASURES and not 0 <= x <= 1:
            errors.append(f"{p_where}：测量值 {_fmt(x)} 是比例，必须在 0–1 之间")
        if max_points is not None and not 0 <= y <= max_points:
            errors.append(f"{p_where}：得分 {_fmt(y)} 超出 0–{_fmt(max_points)} 的范围")
            all_valid = False
        highest = y if highest is None else max(highest, y)
    if all_valid and max_points is not None and highest is not None and highest != max_points:
        errors.append(
            f"{where}：计分曲线的最高得分为 {_fmt(highest)}，必须能达到满分 {_fmt(max_points)}"
        )


def _rubrics_dir() -> Any:
    if __package__:
        return resources.files(__package__) / "rubrics"
    return Path(__file__).resolve().parent / "rubrics"


def load_default_rubric(programme: str) -> dict:
    """The packaged default rubric of ``programme`` (a fresh dict on every call).

    Raises ``ValueError`` for an unknown programme and :class:`RubricError` if the
    packaged file does not validate.
    """
    if programme not in PROGRAMMES:
        raise ValueError(f"未知的创建项目：{programme!r}（可选：{'、'.join(PROGRAMMES)}）")
    resource = _rubrics_dir() / f"{programme}.json"
    data = json.loads(resource.read_text(encoding="utf-8"))
    errors = validate_rubric(data)
    if isinstance(data, dict) and data.get("programme") != programme:
        errors.append(f"考核细则：项目编码应为 {programme}")
    if errors:
        raise RubricError(f"默认考核细则 {programme}.json 无效：" + "；".join(errors), errors)
    return data


def default_rubrics() -> dict[str, dict]:
    """All four default rubrics, keyed by programme code in :data:`PROGRAMMES` order."""
    return {programme: load_default_rubric(programme) for programme in PROGRAMMES}


def flatten_indicators(data: dict) -> list[dict]:
    """The rubric's indicators in order, each a copy with ``category_code``/``category_name``."""
    flat: list[dict] = []
    for category in data.get("categories", []):
        for indicator in category.get("indicators", []):
            flat.append(
                {
                    "category_code": category.get("code"),
                    "category_name": category.get("name"),
                    **copy.deepcopy(indicator),
                }
            )
    return flat
