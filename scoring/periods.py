"""Scoring periods (考核月份): a district admin opens a month for self-assessment,
closes it (every self-assessment of the month locks) and may reopen it.

A period's deadline is the district's deadline day of the *next* month (default the
5th): the October self-assessment is due by 5 November. Closing records who closed
it and when, so a locked form can say why it is locked and who can reopen it.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select
from werkzeug.exceptions import Forbidden

from district import audit
from district.errors import Conflict
from district.extensions import db
from scoring.models import Period, SelfAssessment
from tenants.models import User, utcnow

DEFAULT_DEADLINE_DAY = 5
PERIOD_FIELDS = ("year", "month", "deadline", "status", "closed_at", "closed_by")


def conflict(message: str) -> Conflict:
    """A 409 whose explanation reaches the user (page and JSON) instead of the generic text."""
    exc = Conflict(description=message)
    exc.data = {"message": message}  # type: ignore[attr-defined]
    return exc


def forbidden(message: str) -> Forbidden:
    """A 403 that says why (e.g. staff may edit drafts but only the head submits)."""
    exc = Forbidden(description=message)
    exc.data = {"message": message}  # type: ignore[attr-defined]
    return exc


def deadline_day() -> int:
    """The district's deadline day; the settings module may not exist yet (fallback 5)."""
    try:
        from scoring.settings import deadline_day as configured  # type: ignore[import-not-found]
    except ImportError:
        return DEFAULT_DEADLINE_DAY
    from tenants.scope import TenantScopeMissing

    try:
        day = int(configured())
    except (TypeError, ValueError, TenantScopeMissing):
        return DEFAULT_DEADLINE_DAY
    return day if 1 <= day <= 31 else DEFAULT_DEADLINE_DAY


def deadline_for(year: int, month: int, day: int | None = None) -> date:
    """The deadline day of the month after (year, month), clamped to that month's length."""
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    day = day if day is not None else deadline_day()
    last = calendar.monthrange(next_year, next_month)[1]
    return date(next_year, next_month, min(max(day, 1), last))


def local_now() -> datetime:
    """Now in the district's time zone (deadlines are local calendar days)."""
    tz = "Asia/Shanghai"
    if has_app_context():
        tz = current_app.config.get("BABEL_DEFAULT_TIMEZONE", tz)
    return datetime.now(ZoneInfo(tz)).replace(tzinfo=None)


def local_today() -> date:
    return local_now().date()


def to_local(utc_naive: datetime) -> datetime:
    """A stored (naive UTC) timestamp in local time."""
    tz = "Asia/Shanghai"
    if has_app_context():
        tz = current_app.config.get("BABEL_DEFAULT_TIMEZONE", tz)
    from datetime import UTC

    return utc_naive.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def _check_month(year: Any, month: Any) -> tuple[int, int]:
    errors: dict[str, list[str]] = {}
    try:
        year = int(year)
        if not 2000 <= year <= 2100:
            raise ValueError
    except (TypeError, ValueError):
        errors["year"] = [_("年份应在 2000–2100 之间")]
    try:
        month = int(month)
        if not 1 <= month <= 12:
            raise ValueError
    except (TypeError, ValueError):
        errors["month"] = [_("月份应在 1–12 之间")]
    if errors:
        raise ValidationError(errors)
    return year, month


# --- queries ---------------------------------------------------------------------------


def list_periods() -> list[Period]:
    return list(
        db.session.scalars(select(Period).order_by(Period.year.desc(), Period.month.desc()))
    )


def open_periods() -> list[Period]:
    return list(
        db.session.scalars(
            select(Period)
            .where(Period.status == Period.OPEN)
            .order_by(Period.year.desc(), Period.month.desc())
        )
    )


def period_for(year: int, month: int) -> Period | None:
    return db.session.scalar(select(Period).where(Period.year == year, Period.month == month))


def submission_counts() -> dict[tuple[int, int], tuple[int, int]]:
    """(year, month) → (submitted, started) self-assessments the caller may see."""
    from sqlalchemy import func

    rows = db.session.execute(
        select(
            SelfAssessment.year,
            SelfAssessment.month,
            func.count(SelfAssessment.submitted_at),
            func.count(SelfAssessment.id),
        ).group_by(SelfAssessment.year, SelfAssessment.month)
    ).all()
    return {(y, m): (int(done), int(total)) for y, m, done, total in rows}


def closer_name(period: Period) -> str | None:
    if period.closed_by is None:
        return None
    return db.session.scalar(select(User.display_name).where(User.id == period.closed_by))


def lock_explanation(period: Period | None) -> str:
    """Why a month's self-assessments cannot be changed, and who can change that."""
    if period is None:
        return _("该月尚未开放自评，请等待区教育局后勤办开放。")
    if period.status != Period.CLOSED:
        return ""
    when = to_local(period.closed_at).strftime("%Y-%m-%d %H:%M") if period.closed_at else ""
    who = closer_name(period) or _("区教育局后勤办")
    return _(
        "%(y)d年%(m)d月的考核期已于 %(when)s 由 %(who)s 关闭，自评已锁定，不能再修改或提交。"
        "如需更正，请联系区教育局后勤办管理员重新开放该月。",
        y=period.year,
        m=period.month,
        when=when,
        who=who,
    )


# --- changes ---------------------------------------------------------------------------


def open_period(year: Any, month: Any, deadline: date | None = None) -> Period:
    """Open a month for self-assessment; the deadline defaults to the deadline day of
    the next month (the district's setting, default the 5th)."""
    year, month = _check_month(year, month)
    if deadline is not None and deadline < date(year, month, 1):
        raise ValidationError({"deadline": [_("截止日期不能早于该月的第一天")]})
    if period_for(year, month) is not None:
        raise conflict(_("%(y)d年%(m)d月已经开放过，不能重复开放。", y=year, m=month))
    period = Period(
        year=year,
        month=month,
        deadline=deadline or deadline_for(year, month),
        status=Period.OPEN,
    )
    db.session.add(period)
    db.session.flush()
    audit.record("period.open", period, after=audit.snapshot(period, PERIOD_FIELDS))
    return period


def _assessments_of(period: Period) -> list[SelfAssessment]:
    return list(
        db.session.scalars(
            select(SelfAssessment).where(
                SelfAssessment.year == period.year, SelfAssessment.month == period.month
            )
        )
    )


def _restored_status(assessment: SelfAssessment) -> str:
    """The status a locked self-assessment had before its period closed.

    Submitting sets ``submitted_at``; returning clears it and keeps the reason, and a
    resubmission sets it again and clears the reason, so the two fields say it all.
    """
    if assessment.submitted_at is not None:
        return SelfAssessment.SUBMITTED
    if assessment.return_reason:
        return SelfAssessment.RETURNED
    return SelfAssessment.DRAFT


def close_period(period: Period, user_id: int | None) -> Period:
    """Close a month: every self-assessment of it locks (drafts included)."""
    if period.status == Period.CLOSED:
        raise conflict(_("该月已关闭。"))
    before = audit.snapshot(period, PERIOD_FIELDS)
    period.status = Period.CLOSED
    period.closed_at = utcnow()
    period.closed_by = user_id
    affected = []
    for assessment in _assessments_of(period):
        if assessment.status == SelfAssessment.LOCKED:
            continue
        previous = assessment.status
        assessment.status = SelfAssessment.LOCKED
        assessment.updated_at = utcnow()
        audit.record(
            "self_assessment.lock",
            assessment,
            before={"status": previous},
            after={"status": SelfAssessment.LOCKED, "reason": "period closed"},
        )
        affected.append((assessment.school_id, assessment.year, assessment.month))
    db.session.flush()
    audit.record(
        "period.close",
        period,
        before=before,
        after={**audit.snapshot(period, PERIOD_FIELDS), "locked": len(affected)},
    )
    _recompute(affected, user_id, f"{period.year}年{period.month}月关闭后重新计算")
    return period


def reopen_period(period: Period, user_id: int | None) -> Period:
    """Reopen a closed month: its self-assessments return to their pre-lock status."""
    if period.status != Period.CLOSED:
        raise conflict(_("该月未关闭，无需重新开放。"))
    before = audit.snapshot(period, PERIOD_FIELDS)
    period.status = Period.OPEN
    period.closed_at = None
    period.closed_by = None
    affected = []
    for assessment in _assessments_of(period):
        if assessment.status != SelfAssessment.LOCKED:
            continue
        assessment.status = _restored_status(assessment)
        assessment.updated_at = utcnow()
        audit.record(
            "self_assessment.unlock",
            assessment,
            before={"status": SelfAssessment.LOCKED},
            after={"status": assessment.status, "reason": "period reopened"},
        )
        affected.append((assessment.school_id, assessment.year, assessment.month))
    db.session.flush()
    audit.record(
        "period.reopen",
        period,
        before=before,
        after={**audit.snapshot(period, PERIOD_FIELDS), "unlocked": len(affected)},
    )
    _recompute(affected, user_id, f"{period.year}年{period.month}月重新开放后重新计算")
    return period


def _recompute(items: list[tuple[int, int, int]], user_id: int | None, description: str) -> None:
    if not items:
        return
    from scoring.jobs import request_recompute

    request_recompute(items, user_id=user_id, description=description)
