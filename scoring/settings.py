"""District scoring settings (评分设置): source weights, complaint deduction, stand-in
window, star thresholds, inflation flag and the self-assessment deadline day.

Stored in the district's :class:`~scoring.models.DistrictSettings` row (``scoring`` JSON
and ``deadline_day``), created on the first save; until then every value is the
domain default of :class:`scoring.engine.ScoringRules`. Other modules call
:func:`scoring_rules` and :func:`deadline_day`; both read the current district.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from district import audit
from district.errors import Conflict
from district.extensions import db
from scoring.engine import DEFAULT_RULES, ScoringRules
from scoring.models import DistrictSettings
from tenants.scope import require_scope

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_DAY = 5
# Days that exist in every month, so "the Nth of next month" is always a real date.
MAX_DEADLINE_DAY = 28

# The ScoringRules fields a district edits here (the rest keep the engine's defaults).
DECIMAL_FIELDS = (
    "weight_self",
    "weight_inspector",
    "weight_satisfaction",
    "complaint_deduction",
    "complaint_deduction_cap",
    "inflation_gap_threshold",
)
WEIGHT_FIELDS = ("weight_self", "weight_inspector", "weight_satisfaction")
STAR_LEVELS = (5, 4, 3, 2)

LABELS = {
    "weight_self": "自评权重",
    "weight_inspector": "督查权重",
    "weight_satisfaction": "满意度权重",
    "complaint_deduction": "每件查实投诉扣分",
    "complaint_deduction_cap": "投诉扣分上限（每月）",
    "stand_in_months": "督查成绩沿用月数",
    "star_thresholds": "星级分数线（五星、四星、三星、二星）",
    "inflation_gap_threshold": "自评虚高提示阈值（分）",
    "deadline_day": "自评截止日（次月几日）",
}


def _weight(description: str) -> fields.Decimal:
    return fields.Decimal(
        required=True,
        as_string=True,
        validate=validate.Range(min=0, max=1, error="必须在 0 到 1 之间"),
        metadata={"description": description},
    )


def _points(description: str) -> fields.Decimal:
    return fields.Decimal(
        required=True,
        as_string=True,
        validate=validate.Range(min=0, max=100, error="必须在 0 到 100 之间"),
        metadata={"description": description},
    )


class ScoringSettingsSchema(Schema):
    """A district's scoring settings; PUT replaces all of them at once."""

    weight_self = _weight("自评 (self-assessment) weight, 0–1; the three weights sum to 1")
    weight_inspector = _weight("督查 (inspector) weight, 0–1")
    weight_satisfaction = _weight("民主评议 (satisfaction) weight, 0–1")
    complaint_deduction = _points("Points deducted per verified complaint (查实投诉) in a month")
    complaint_deduction_cap = _points("Most points complaints may deduct in one month")
    stand_in_months = fields.Int(
        required=True,
        strict=False,
        validate=validate.Range(min=0, max=12, error="必须是 0 到 12 之间的整数"),
        metadata={
            "description": "Months a school's latest visit stands in for a month without one"
        },
    )
    star_thresholds = fields.List(
        fields.Decimal(
            as_string=True,
            validate=validate.Range(min=0, max=100, error="必须在 0 到 100 之间"),
        ),
        required=True,
        validate=validate.Length(equal=4, error="必须依次填写五星、四星、三星、二星 4 个分数线"),
        metadata={"description": "Lowest score for 5, 4, 3 and 2 stars, strictly descending"},
    )
    inflation_gap_threshold = _points(
        "Self minus inspector gap above which self-assessment inflation is flagged"
    )
    deadline_day = fields.Int(
        required=True,
        strict=False,
        validate=validate.Range(
            min=1, max=MAX_DEADLINE_DAY, error=f"必须是 1 到 {MAX_DEADLINE_DAY} 之间的整数"
        ),
        metadata={"description": "Self-assessments are due by this day of the next month"},
    )
    version = fields.Int(
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={
            "description": "The settings version you edited (0 or absent before the first "
            "save); a stale one answers 409"
        },
    )
    customised = fields.Bool(
        dump_only=True, metadata={"description": "False while the defaults are in force"}
    )

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kw: Any) -> None:
        errors: dict[str, list[str]] = {}
        weights = [data.get(f) for f in WEIGHT_FIELDS]
        if all(w is not None for w in weights) and sum(weights) != 1:
            message = f"三项权重之和必须为 1（现为 {_plain(sum(weights))}）"
            for name in WEIGHT_FIELDS:
                errors.setdefault(name, []).append(message)
        cap, per = data.get("complaint_deduction_cap"), data.get("complaint_deduction")
        if cap is not None and per is not None and per > cap:
            errors.setdefault("complaint_deduction_cap", []).append("扣分上限不能小于每件扣分")
        thresholds = data.get("star_thresholds") or []
        if len(thresholds) == 4 and any(
            a <= b for a, b in zip(thresholds, thresholds[1:], strict=False)
        ):
            errors.setdefault("star_thresholds", []).append("星级分数线必须从五星到二星依次递减")
        if errors:
            raise ValidationError(errors)


def _stale() -> Conflict:
    message = "评分设置已被他人修改，请刷新后重试"
    exc = Conflict(description=message)
    exc.data = {"message": message}  # type: ignore[attr-defined]
    return exc


def _plain(value: Decimal) -> str:
    """0.30 -> "0.3", 60.00 -> "60": the stored and shown form."""
    return format(Decimal(value).normalize(), "f")


def _row() -> DistrictSettings | None:
    return db.session.scalar(select(DistrictSettings))


def settings_row(create: bool = False) -> DistrictSettings | None:
    """The current district's settings row (created, unflushed defaults, when asked)."""
    row = _row()
    if row is None and create:
        row = DistrictSettings(scoring={}, staff={}, awards={}, deadline_day=DEFAULT_DEADLINE_DAY)
        db.session.add(row)
    return row


def _rules_from(stored: dict[str, Any] | None) -> ScoringRules:
    stored = stored or {}
    kwargs: dict[str, Any] = {}
    for name in DECIMAL_FIELDS:
        if stored.get(name) is not None:
            kwargs[name] = Decimal(str(stored[name]))
    if stored.get("stand_in_months") is not None:
        kwargs["stand_in_months"] = int(stored["stand_in_months"])
    if stored.get("star_thresholds"):
        kwargs["star_thresholds"] = tuple(Decimal(str(t)) for t in stored["star_thresholds"])
    return ScoringRules(**kwargs)


def scoring_rules() -> ScoringRules:
    """The current district's :class:`ScoringRules` (the defaults when it never saved any).

    One small query per call: call it once per batch rather than per school-month.
    """
    district_id = require_scope().district_id
    row = _row()
    try:
        return _rules_from(row.scoring if row is not None else None)
    except (ValueError, TypeError, ArithmeticError):
        # Saved values are validated; a row edited by hand must not stop scoring.
        log.exception("invalid stored scoring settings of district %s", district_id)
        return DEFAULT_RULES


def deadline_day() -> int:
    """Day of the next month by which a month's self-assessment is due (default the 5th)."""
    require_scope()
    row = _row()
    day = row.deadline_day if row is not None and row.deadline_day else DEFAULT_DEADLINE_DAY
    return max(1, min(MAX_DEADLINE_DAY, int(day)))


def current_settings() -> dict[str, Any]:
    """Everything the settings page and API show, as ScoringSettingsSchema dumps it."""
    row = _row()
    rules = scoring_rules()
    out: dict[str, Any] = {name: getattr(rules, name) for name in DECIMAL_FIELDS}
    out["stand_in_months"] = rules.stand_in_months
    out["star_thresholds"] = list(rules.star_thresholds)
    out["deadline_day"] = deadline_day()
    out["version"] = row.version if row is not None else 0
    out["customised"] = row is not None and bool(row.scoring)
    return out


def _stored_form(data: dict[str, Any]) -> dict[str, Any]:
    stored: dict[str, Any] = {name: _plain(Decimal(data[name])) for name in DECIMAL_FIELDS}
    stored["stand_in_months"] = int(data["stand_in_months"])
    stored["star_thresholds"] = [_plain(Decimal(t)) for t in data["star_thresholds"]]
    return stored


def save_settings(data: dict[str, Any]) -> dict[str, Any]:
    """Validate and store the district's scoring settings; audit the change.

    ``data`` is what :class:`ScoringSettingsSchema` loaded. Enqueues nothing: results
    already computed keep their numbers until a period is recomputed.
    """
    stored = _stored_form(data)
    try:
        _rules_from(stored)
    except ValueError as exc:  # the schema checks first; this is the engine's last word
        raise ValidationError({"_schema": [f"评分设置无效：{exc}"]}) from exc
    before = current_settings()
    row = settings_row(create=False)
    expected = data.get("version")
    if row is None:
        if expected:
            raise _stale()
        row = settings_row(create=True)
        assert row is not None
    elif expected is not None and expected != row.version:
        raise _stale()
    row.scoring = {**(row.scoring or {}), **stored}
    row.deadline_day = int(data["deadline_day"])
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise _stale() from exc
    after = current_settings()
    audit.record(
        "settings.scoring",
        row,
        before={k: v for k, v in before.items() if k not in ("version", "customised")},
        after={k: v for k, v in after.items() if k not in ("version", "customised")},
    )
    return after
