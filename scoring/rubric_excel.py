"""Rubric versions as Excel (考核细则导入导出), and the row format the table editor shares.

One sheet, 指标, one row per indicator (二级指标) with its category (一级指标) repeated:

    类别编码 类别名称 指标编码 指标名称 满分 类型 四好维度 适用寄宿制 适用学段 需证明材料
    评分说明 检查项 计分曲线 测量项

Checklists read ``项目:分;项目:分`` and curves ``0:0;0.9:3;1:6`` (value:points).
Importing checks every row first and creates nothing when any row is wrong; the
errors name the sheet, the row and what is wrong, in Chinese. Exported cells that
look like formulas are neutralised (a leading ``'``), and the import undoes that.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font

from district.exports import safe_row, workbook_response_bytes
from scoring.rubric_data import (
    DIMENSIONS,
    KINDS,
    MEASURES,
    SCHOOL_LEVELS,
    flatten_indicators,
    validate_rubric,
)

SHEET = "指标"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("类别编码", "category_code"),
    ("类别名称", "category_name"),
    ("指标编码", "code"),
    ("指标名称", "name"),
    ("满分", "max_points"),
    ("类型", "kind"),
    ("四好维度", "dimension"),
    ("适用寄宿制", "boarding_only"),
    ("适用学段", "levels"),
    ("需证明材料", "evidence_required"),
    ("评分说明", "guidance"),
    ("检查项", "checklist"),
    ("计分曲线", "curve"),
    ("测量项", "measure"),
)
HEADER: tuple[str, ...] = tuple(title for title, _key in COLUMNS)
KEYS: tuple[str, ...] = tuple(key for _title, key in COLUMNS)
TITLE_OF: dict[str, str] = {key: title for title, key in COLUMNS}
REQUIRED_COLUMNS = ("类别编码", "类别名称", "指标编码", "指标名称", "满分", "类型", "四好维度")
MAX_ROWS = 500
WIDTHS = (8, 14, 8, 24, 6, 8, 8, 10, 16, 10, 60, 40, 22, 22)

BOARDING_ONLY_TEXT, ALL_SCHOOLS_TEXT = "仅寄宿制", "全部"
YES_TEXT, NO_TEXT = "是", "否"
_TRUE = {"是", "y", "yes", "true", "1", "仅寄宿制", "寄宿制", "仅寄宿", "√"}
_FALSE = {"否", "n", "no", "false", "0", "全部", "全部学校", "不限", "×"}
_LEVEL_SPLIT = re.compile(r"[;；,，、/\s]+")
_ITEM_SPLIT = re.compile(r"[;\n]+")
_FORMULA_ESCAPED = re.compile(r"^'[=+\-@\t\r]")


def _by_label(table: dict[str, str]) -> dict[str, str]:
    out = {}
    for code, label in table.items():
        out[code.lower()] = code
        out[label] = code
        out[label.split("（")[0].strip()] = code  # "绿化率（…）" may be typed as "绿化率"
    return out


_KIND_OF = _by_label(KINDS)
_DIMENSION_OF = _by_label(DIMENSIONS)
_MEASURE_OF = _by_label(MEASURES)


class RowError(ValueError):
    """One cell that cannot be read."""


@dataclass
class ImportResult:
    """A parsed workbook: ``content`` for a new draft, or ``errors`` (sheet, row, message)."""

    content: dict[str, Any] | None = None
    errors: list[tuple[str, int | None, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and self.content is not None

    def as_dicts(self) -> list[dict[str, Any]]:
        return [{"sheet": s, "row": r, "message": m} for s, r, m in self.errors]


# --- cells -------------------------------------------------------------------------


def fmt_number(value: Any) -> str:
    """4 -> "4", 2.5 -> "2.5", 0.9 -> "0.9" (never "4.0" or "0.90000001")."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _number(value: Any, what: str) -> int | float:
    """A finite number from a cell (int when whole), or RowError."""
    if isinstance(value, bool):
        raise RowError(f"{what}必须为数字")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RowError(f"{what}必须为有限的数字")
        return int(value) if value.is_integer() else value
    text = str(value).strip().replace("，", ".") if value is not None else ""
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise RowError(f"{what}“{value}”不是数字") from None
    if not number.is_finite():
        raise RowError(f"{what}必须为有限的数字")
    if number == number.to_integral_value():
        return int(number)
    return float(text)


def _text(value: Any) -> str | None:
    """A cell as stripped text (None when empty); whole floats lose their '.0'."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if _FORMULA_ESCAPED.match(text):
        text = text[1:]
    return text or None


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value)
    if text is None:
        return False
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RowError(f"{what}只能填“{YES_TEXT}”或“{NO_TEXT}”（现为“{text}”）")


def _code(value: Any, table: dict[str, str], what: str, choices: dict[str, str]) -> str:
    text = _text(value)
    if text is None:
        raise RowError(f"{what}不能为空")
    code = table.get(text) or table.get(text.lower())
    if code is None:
        raise RowError(f"{what}“{text}”无效，可选：{'、'.join(choices.values())}")
    return code


def _levels(value: Any) -> list[str] | None:
    text = _text(value)
    if text is None or text in ("全部", "全部学段", "不限"):
        return None
    levels = [p for p in _LEVEL_SPLIT.split(text) if p]
    unknown = [lv for lv in levels if lv not in SCHOOL_LEVELS]
    if unknown:
        raise RowError(f"适用学段“{'、'.join(unknown)}”无效，可选：{'、'.join(SCHOOL_LEVELS)}")
    return levels or None


def _pair(part: str, what: str) -> tuple[str, str]:
    cut = max(part.rfind(":"), part.rfind("："))
    if cut < 0:
        raise RowError(f"{what}“{part}”应写成“名称:分值”")
    return part[:cut].strip(), part[cut + 1 :].strip()


def parse_checklist(value: Any) -> list[dict[str, Any]] | None:
    """``项目:1;项目:2`` (items may also be on separate lines) -> [{"label", "points"}]."""
    text = _text(value)
    if text is None:
        return None
    items = []
    for part in (p.strip() for p in _ITEM_SPLIT.split(text)):
        if not part:
            continue
        label, points = _pair(part, "检查项")
        if not label:
            raise RowError(f"检查项“{part}”缺少名称")
        items.append({"label": label, "points": _number(points, f"检查项“{label}”的分值")})
    return items or None


def format_checklist(items: Sequence[dict[str, Any]] | None) -> str:
    return ";".join(f"{i['label']}:{fmt_number(i['points'])}" for i in items or ())


def parse_curve(value: Any) -> list[list[int | float]] | None:
    """``0:0;0.9:3;1:6`` (measured value:points) -> [[0, 0], [0.9, 3], [1, 6]]."""
    text = _text(value)
    if text is None:
        return None
    points = []
    for part in (p.strip() for p in _ITEM_SPLIT.split(text)):
        if not part:
            continue
        x, y = _pair(part, "计分曲线的点")
        points.append([_number(x, "计分曲线的测量值"), _number(y, "计分曲线的得分")])
    return points or None


def format_curve(curve: Sequence[Sequence[Any]] | None) -> str:
    return ";".join(f"{fmt_number(x)}:{fmt_number(y)}" for x, y in curve or ())


# --- indicators <-> rows -----------------------------------------------------------


def indicator_cells(item: dict[str, Any]) -> dict[str, Any]:
    """One flattened indicator (see rubric_data.flatten_indicators) as row cells."""
    applies = item.get("applies_to") or {}
    return {
        "category_code": item.get("category_code"),
        "category_name": item.get("category_name"),
        "code": item.get("code"),
        "name": item.get("name"),
        "max_points": item.get("max_points"),
        "kind": KINDS.get(item.get("kind"), item.get("kind")),
        "dimension": DIMENSIONS.get(item.get("dimension"), item.get("dimension")),
        "boarding_only": BOARDING_ONLY_TEXT if applies.get("boarding_only") else ALL_SCHOOLS_TEXT,
        "levels": "、".join(applies.get("levels") or []),
        "evidence_required": YES_TEXT if item.get("evidence_required") else NO_TEXT,
        "guidance": item.get("guidance"),
        "checklist": format_checklist(item.get("checklist")),
        "curve": format_curve(item.get("curve")),
        "measure": MEASURES.get(item.get("measure"), item.get("measure") or ""),
    }


def content_cells(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [indicator_cells(item) for item in flatten_indicators(content)]


def parse_row(cells: dict[str, Any]) -> tuple[tuple[str, str], dict[str, Any], list[str]]:
    """A row's (category code, name), indicator dict and cell errors (Chinese)."""
    errors: list[str] = []
    indicator: dict[str, Any] = {}

    def cell(key: str, fn: Any) -> Any:
        try:
            return fn(cells.get(key))
        except RowError as exc:
            errors.append(str(exc))
            return None

    def required_text(key: str) -> Any:
        def read(value: Any) -> str:
            text = _text(value)
            if text is None:
                raise RowError(f"{TITLE_OF[key]}不能为空")
            return text

        return cell(key, read)

    category = (required_text("category_code") or "", required_text("category_name") or "")
    indicator["code"] = required_text("code")
    indicator["name"] = required_text("name")
    max_points = cell("max_points", lambda v: _number(v, "满分") if _text(v) is not None else None)
    if max_points is None and not any("满分" in e for e in errors):
        errors.append("满分不能为空")
    indicator["max_points"] = max_points
    indicator["kind"] = cell("kind", lambda v: _code(v, _KIND_OF, "类型", KINDS))
    indicator["guidance"] = required_text("guidance")
    indicator["evidence_required"] = cell("evidence_required", lambda v: _bool(v, "需证明材料"))
    indicator["dimension"] = cell(
        "dimension", lambda v: _code(v, _DIMENSION_OF, "四好维度", DIMENSIONS)
    )
    indicator["applies_to"] = {
        "boarding_only": cell("boarding_only", lambda v: _bool(v, "适用寄宿制")),
        "levels": cell("levels", _levels),
    }
    checklist = cell("checklist", parse_checklist)
    if checklist is not None:
        indicator["checklist"] = checklist
    curve = cell("curve", parse_curve)
    if curve is not None:
        indicator["curve"] = curve
    if _text(cells.get("measure")) is not None:
        indicator["measure"] = cell("measure", lambda v: _code(v, _MEASURE_OF, "测量项", MEASURES))
    return category, indicator, errors


_WHERE_PATTERNS = (
    ("indicator", re.compile(r"^指标 ([A-Za-z0-9][A-Za-z0-9_.\-]*)")),
    ("cat_code_pos", re.compile(r"^类别 ([A-Za-z0-9][A-Za-z0-9_.\-]*) 第 (\d+) 个指标")),
    ("cat_pos_pos", re.compile(r"^第 (\d+) 个类别 第 (\d+) 个指标")),
    ("category", re.compile(r"^类别 ([A-Za-z0-9][A-Za-z0-9_.\-]*)")),
    ("cat_pos", re.compile(r"^第 (\d+) 个类别")),
)


def rows_to_content(
    rows: Iterable[tuple[int, dict[str, Any]]], base: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[tuple[int | None, str]]]:
    """Rows (number, cells) -> rubric content built on ``base`` (programme, name,
    boarding_only), validated; or None and (row number, message) errors."""
    errors: list[tuple[int | None, str]] = []
    categories: list[dict[str, Any]] = []
    by_code: dict[str, tuple[dict[str, Any], list[int], int]] = {}
    code_rows: dict[str, list[int]] = {}
    count = 0
    for number, cells in rows:
        count += 1
        (c_code, c_name), indicator, row_errors = parse_row(cells)
        errors.extend((number, e) for e in row_errors)
        if c_code and c_code in by_code:
            category, numbers, first = by_code[c_code]
            if c_name and category["name"] != c_name:
                errors.append(
                    (
                        number,
                        f"类别 {c_code} 的名称“{c_name}”与第 {first} 行的“{category['name']}”不一致",
                    )
                )
        else:
            category = {"code": c_code, "name": c_name, "indicators": []}
            numbers = []
            categories.append(category)
            by_code[c_code] = (category, numbers, number)
        category["indicators"].append(indicator)
        numbers.append(number)
        if indicator.get("code"):
            code_rows.setdefault(indicator["code"], []).append(number)
    if count == 0:
        errors.append((None, "没有任何指标行"))
    if errors:
        return None, errors

    content = {
        "programme": base.get("programme"),
        "name": base.get("name"),
        "boarding_only": bool(base.get("boarding_only")),
        "categories": categories,
    }
    category_rows = [by_code[c["code"]][1] for c in categories]
    for message in validate_rubric(content):
        errors.append((_row_of(message, categories, category_rows, code_rows), message))
    if errors:
        return None, errors
    return content, []


def _row_of(
    message: str,
    categories: list[dict[str, Any]],
    category_rows: list[list[int]],
    code_rows: dict[str, list[int]],
) -> int | None:
    """The worksheet row a validate_rubric() message is about (None: the whole rubric)."""
    positions = {c["code"]: i for i, c in enumerate(categories)}

    def at(cat_index: int, ind_index: int | None = None) -> int | None:
        if not 0 <= cat_index < len(category_rows):
            return None
        numbers = category_rows[cat_index]
        if ind_index is None:
            return numbers[0]
        return numbers[ind_index] if 0 <= ind_index < len(numbers) else None

    for kind, pattern in _WHERE_PATTERNS:
        match = pattern.match(message)
        if not match:
            continue
        if kind == "indicator":
            numbers = code_rows.get(match.group(1))
            if numbers:
                return numbers[-1] if "重复" in message else numbers[0]
        elif kind == "cat_code_pos" and match.group(1) in positions:
            return at(positions[match.group(1)], int(match.group(2)) - 1)
        elif kind == "cat_pos_pos":
            return at(int(match.group(1)) - 1, int(match.group(2)) - 1)
        elif kind == "category" and match.group(1) in positions:
            return at(positions[match.group(1)])
        elif kind == "cat_pos":
            return at(int(match.group(1)) - 1)
    return None


# --- workbook ------------------------------------------------------------------------


def export_workbook(content: dict[str, Any], *, title: str | None = None) -> bytes:
    """The rubric content as a one-sheet workbook (指标), formula-like text neutralised."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append(list(HEADER))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for cells in content_cells(content):
        ws.append(safe_row(cells[key] if cells[key] != "" else None for key in KEYS))
    for index, width in enumerate(WIDTHS, start=1):
        ws.column_dimensions[ws.cell(row=1, column=index).column_letter].width = width
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = wrap
    ws.freeze_panes = "A2"
    if title:
        wb.properties.title = title
    return workbook_response_bytes(wb)


def import_workbook(stream: IO[bytes] | bytes, base: dict[str, Any]) -> ImportResult:
    """Read a workbook exported by :func:`export_workbook` (or typed by hand)."""
    result = ImportResult()
    data = stream if isinstance(stream, bytes) else stream.read()
    if not data or not zipfile.is_zipfile(io.BytesIO(data)):
        result.errors.append(
            (
                "",
                None,
                "文件不是 Excel 工作簿（.xlsx），请上传由本系统导出或用 Excel 保存的 .xlsx 文件",
            )
        )
        return result
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds on a bad file
        result.errors.append(("", None, f"无法读取 Excel 工作簿（.xlsx）：{type(exc).__name__}"))
        return result
    try:
        if SHEET not in wb.sheetnames:
            result.errors.append(
                (
                    "",
                    None,
                    f"找不到工作表“{SHEET}”（当前工作表：{'、'.join(wb.sheetnames) or '无'}）",
                )
            )
            return result
        rows = _sheet_rows(wb[SHEET], result)
    finally:
        wb.close()
    if result.errors:
        return result
    content, errors = rows_to_content(rows, base)
    result.errors.extend((SHEET, number, message) for number, message in errors)
    result.content = content if not errors else None
    return result


def _sheet_rows(ws: Any, result: ImportResult) -> list[tuple[int, dict[str, Any]]]:
    values = ws.iter_rows(values_only=True)
    header = next(values, None)
    if header is None:
        result.errors.append((SHEET, 1, "工作表为空，缺少表头"))
        return []
    names = [str(h).strip() if h is not None else "" for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        result.errors.append(
            (SHEET, 1, f"缺少列：{'、'.join(missing)}（表头应为：{'、'.join(HEADER)}）")
        )
        return []
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    if duplicated:
        result.errors.append((SHEET, 1, f"列重复：{'、'.join(duplicated)}"))
        return []
    key_of = {title: key for title, key in COLUMNS}
    rows = []
    for number, row in enumerate(values, start=2):
        if row is None or all(_text(v) is None for v in row):
            continue
        if len(rows) >= MAX_ROWS:
            result.errors.append((SHEET, number, f"指标行数超过上限 {MAX_ROWS}"))
            break
        rows.append(
            (
                number,
                {key_of[n]: v for n, v in zip(names, row, strict=False) if n in key_of},
            )
        )
    return rows
