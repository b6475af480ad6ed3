"""Indicator answers as self-assessments (自评) and site visits (督查) both store them.

One answer per indicator kind, in ``points`` and ``value``:

- judged: ``points`` 0…max in steps of :data:`POINT_STEP`;
- checklist: ``points`` = Σ points of the ticked items (at most the max), ``value`` the
  ticked items as a bit mask (bit *i* = item *i*, counted from 0);
- measured: ``value`` the measured number (shares as 0–1), ``points`` from the curve;
- veto (一票否决): ``points`` = ``value`` = 1 when triggered, 0 when not.

Each workflow keeps its own messages; what is computed from an answer lives here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from scoring import engine
from scoring.models import RubricIndicator
from scoring.rubric_data import RATIO_MEASURES

POINT_STEP = Decimal("0.5")


def parse_decimal(raw: Any, *, percent_sign: bool = False) -> Decimal | None:
    """A finite number from a form or JSON value; None when missing, yes/no or not a number.

    ``percent_sign``: ignore ``%``/``％`` (self-assessment forms accept "43%").
    """
    if raw is None or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    if percent_sign:
        text = text.replace("％", "").replace("%", "")
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def is_ratio(indicator: RubricIndicator) -> bool:
    """A measured share entered as 0–1 (0.43 = 43 %)."""
    return indicator.measure in RATIO_MEASURES


def ticks_in(mask_value: Decimal | None) -> list[int]:
    """Indices of the ticked checklist items stored in ``value`` as a bit mask."""
    if mask_value is None:
        return []
    mask = int(mask_value)
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


def is_index(value: Any) -> bool:
    """A checklist item index as posted: an int, and not a yes/no."""
    return isinstance(value, int) and not isinstance(value, bool)


def checklist_answer(
    options: Sequence[dict[str, Any]], ticked: Iterable[int], maximum: Decimal
) -> tuple[Decimal, Decimal]:
    """(points capped at ``maximum``, bit mask) of valid ticked item indices."""
    chosen = sorted(set(ticked))
    total = sum((Decimal(str(options[i]["points"])) for i in chosen), Decimal(0))
    return min(total, maximum), Decimal(sum(1 << i for i in chosen))


def measured_score(value: Decimal, indicator: RubricIndicator, maximum: Any) -> Decimal:
    """Points of a measured value on the indicator's curve, to 2 decimals."""
    return engine.round2(engine.measured_points(value, indicator.curve or [], maximum))


def indicator_spec(indicator: RubricIndicator) -> engine.IndicatorSpec:
    """The engine's view of a rubric indicator."""
    curve = None
    if indicator.kind == "measured" and indicator.curve:
        curve = tuple((Decimal(str(x)), Decimal(str(p))) for x, p in indicator.curve)
    return engine.IndicatorSpec(
        code=indicator.code,
        max_points=Decimal(indicator.max_points),
        kind=indicator.kind,  # type: ignore[arg-type]
        dimension=indicator.dimension,  # type: ignore[arg-type]
        boarding_only=indicator.boarding_only,
        levels=frozenset(indicator.levels) if indicator.levels else None,
        curve=curve,
    )
