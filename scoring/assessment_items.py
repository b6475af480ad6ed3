"""Validation of the items a school enters on its self-assessment (自评), page or API.

Item: ``{"code", "points"}`` (judged), ``{"code", "checked": [0, 2]}`` (checklist),
``{"code", "value"}`` (measured; shares as 0–1), ``{"code", "veto": false}``; optional
``note``. Every problem is reported at once (422), per indicator code.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from marshmallow import ValidationError

from scoring import engine
from scoring.assessment_form import AssessmentForm
from scoring.indicator_input import (
    POINT_STEP,
    checklist_answer,
    is_index,
    is_ratio,
    measured_score,
    parse_decimal,
)
from scoring.models import RubricIndicator

ITEM_KEYS = ("code", "points", "value", "checked", "veto", "note")
_MISSING = object()


def _fmt(value: Decimal) -> str:
    return engine.round2(value).normalize().to_eng_string()


def parse_item(indicator: RubricIndicator, raw: dict[str, Any]) -> tuple[dict[str, Any], list]:
    """(changes to apply, error messages) for one entered item."""
    kind, maximum = indicator.kind, Decimal(indicator.max_points)
    changes: dict[str, Any] = {}
    errors: list[str] = []
    points = raw.get("points", _MISSING)
    value = raw.get("value", _MISSING)
    checked = raw.get("checked", _MISSING)
    veto = raw.get("veto", _MISSING)

    if kind == "judged":
        if value is not _MISSING and value is not None or checked is not _MISSING:
            errors.append(_("评分类指标只填写分数（points）"))
        if points is not _MISSING:
            if points is None or points == "":
                changes.update(points=None, value=None)
            else:
                number = parse_decimal(points, percent_sign=True)
                if number is None:
                    errors.append(_("分数必须是数字"))
                elif not Decimal(0) <= number <= maximum:
                    errors.append(_("分数应在 0 到 %(max)s 之间", max=_fmt(maximum)))
                elif number % POINT_STEP != 0:
                    errors.append(_("分数须以 0.5 分为单位"))
                else:
                    changes.update(points=engine.round2(number), value=None)
    elif kind == "checklist":
        if points is not _MISSING or value is not _MISSING:
            errors.append(_("检查项类指标请勾选符合的条目（checked），分数自动累加"))
        if checked is not _MISSING:
            options = indicator.checklist or []
            if checked is None:
                changes.update(points=None, value=None)
            elif not isinstance(checked, list | tuple) or not all(is_index(i) for i in checked):
                errors.append(_("checked 应为条目序号（从 0 开始）的列表"))
            elif any(not 0 <= i < len(options) for i in checked):
                errors.append(_("勾选的条目序号超出范围（共 %(n)d 项）", n=len(options)))
            else:
                total, mask = checklist_answer(options, checked, maximum)
                changes.update(points=engine.round2(total), value=mask)
    elif kind == "measured":
        if points is not _MISSING or checked is not _MISSING:
            errors.append(_("测量类指标请填写测量值（value），分数按计分曲线自动计算"))
        if value is not _MISSING:
            if value is None or value == "":
                changes.update(points=None, value=None)
            else:
                number = parse_decimal(value, percent_sign=True)
                if number is None:
                    errors.append(_("测量值必须是数字"))
                elif number < 0:
                    errors.append(_("测量值不能为负数"))
                elif is_ratio(indicator) and number > 1:
                    errors.append(_("比例应在 0 到 1 之间（例如 0.43 表示 43%）"))
                elif number >= Decimal("1e8"):
                    errors.append(_("测量值过大"))
                else:
                    changes.update(
                        points=measured_score(number, indicator, maximum),
                        value=number.quantize(Decimal("0.0001")),
                    )
    elif kind == "veto":
        if points is not _MISSING or value is not _MISSING or checked is not _MISSING:
            errors.append(_("一票否决项只回答是否发生（veto: true / false）"))
        if veto is not _MISSING:
            if veto is None:
                changes.update(points=None, value=None)
            elif not isinstance(veto, bool):
                errors.append(_("veto 应为 true 或 false"))
            else:
                flag = Decimal(1) if veto else Decimal(0)
                changes.update(points=flag, value=flag)
    note = raw.get("note", _MISSING)
    if note is not _MISSING:
        if note is not None and not isinstance(note, str):
            errors.append(_("说明必须是文字"))
        elif note is not None and len(note) > 500:
            errors.append(_("说明不能超过 500 字"))
        else:
            changes["note"] = (note or "").strip() or None
    return changes, errors


def parse_items(form: AssessmentForm, items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Validate entered items against the applicable indicators; 422 listing every problem."""
    errors: dict[str, list[str]] = {}
    parsed: dict[str, dict[str, Any]] = {}
    for raw in items:
        if not isinstance(raw, dict):
            errors.setdefault("_", []).append(_("每个条目应为对象"))
            continue
        code = str(raw.get("code") or "")
        unknown = [k for k in raw if k not in ITEM_KEYS]
        row = form.row(code)
        if row is None:
            errors.setdefault(code or "_", []).append(
                _("未知指标代码 %(code)s（或该指标不适用于本校）", code=code or "—")
            )
            continue
        changes, problems = parse_item(row.indicator, raw)
        if unknown:
            problems.append(_("未知字段：%(f)s", f="、".join(unknown)))
        if problems:
            errors.setdefault(code, []).extend(problems)
        else:
            parsed[code] = changes
    if errors:
        raise ValidationError({"items": errors})
    return parsed
