"""The ``surveys`` page blueprint: its menu entries and template helpers.

Survey pages (:mod:`scoring.survey_views`) and the district's complaint pages
(:mod:`scoring.complaint_views`) both register on it; ``scoring.survey_views`` is the
module named in ``district.FEATURE_MODULES`` and exposes it as ``bp``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app

from district.i18n import format_date
from district.nav import register_nav
from scoring import complaints as cs
from scoring import surveys as ss
from scoring.survey_api import READERS

bp = Blueprint("surveys", __name__)

register_nav("民主评议", "surveys.index", READERS, order=40)
register_nav("投诉", "surveys.complaints", READERS, order=41)


def local_time(value: datetime | None) -> str:
    """A stored (naive UTC) time as the district's wall-clock time."""
    if value is None:
        return ""
    tz = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")
    local = value.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    return f"{format_date(local)} {local:%H:%M}"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "GROUPS": ss.GROUPS,
        "GROUP_LABELS": ss.GROUP_LABELS,
        "TERM_LABELS": ss.TERM_LABELS,
        "SCALE_LABELS": ss.SCALE_LABELS,
        "STATUS_LABELS": cs.STATUS_LABELS,
        "semester_label": ss.semester_label,
        "local_time": local_time,
    }
