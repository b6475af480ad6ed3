"""Pages: scoring periods (考核月份) — open a month for self-assessment, close it (its
self-assessments lock) and reopen it. Part of the ``assessments`` blueprint
(:mod:`scoring.assessment_blueprint`; endpoints ``assessments.periods_page`` …);
:mod:`scoring.assessment_views` imports this module.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from district.errors import Conflict
from district.extensions import db
from scoring import periods
from scoring.assessment_api import ADMIN
from scoring.assessment_blueprint import bp
from scoring.assessment_schemas import PeriodSchema
from scoring.models import Period
from tenants.auth import DISTRICT_STAFF, roles_required
from tenants.models import Role
from tenants.services import get_or_404


@bp.route("/periods", methods=["GET", "POST"])
@roles_required(*DISTRICT_STAFF)
def periods_page() -> Any:
    errors: dict[str, Any] = {}
    if request.method == "POST":
        if current_user.role != Role.DISTRICT_ADMIN:
            abort(403)
        try:
            data = PeriodSchema().load(
                {k: v for k, v in request.form.items() if k != "csrf_token" and v.strip()}
            )
            period = periods.open_period(data["year"], data["month"], data.get("deadline"))
        except ValidationError as err:
            errors = err.messages  # type: ignore[assignment]
        except Conflict as err:
            errors = {"_": [getattr(err, "data", {}).get("message", _("冲突"))]}
        else:
            flash(_("已开放 %(y)d年%(m)d月的自评", y=period.year, m=period.month), "success")
            return redirect(url_for("assessments.periods_page"))
    today = periods.local_today()
    rows = periods.list_periods()
    return render_template(
        "assessments/periods.html",
        periods=rows,
        counts=periods.submission_counts(),
        lock_messages={p.id: periods.lock_explanation(p) for p in rows},
        errors=errors,
        form=request.form if request.method == "POST" else None,
        default=(today.year, today.month),
        deadline_day=periods.deadline_day(),
    ), (422 if errors else 200)


def _period_action(period_id: int, action: str) -> Any:
    period = get_or_404(Period, period_id)
    try:
        if action == "close":
            periods.close_period(period, current_user.id)
            flash(
                _("已关闭 %(y)d年%(m)d月，该月自评已全部锁定", y=period.year, m=period.month),
                "success",
            )
        else:
            periods.reopen_period(period, current_user.id)
            flash(_("已重新开放 %(y)d年%(m)d月", y=period.year, m=period.month), "success")
    except Conflict as err:
        db.session.rollback()
        flash(getattr(err, "data", {}).get("message", _("操作冲突")), "error")
    return redirect(url_for("assessments.periods_page"))


@bp.post("/periods/<int:period_id>/close")
@roles_required(*ADMIN)
def period_close(period_id: int) -> Any:
    return _period_action(period_id, "close")


@bp.post("/periods/<int:period_id>/reopen")
@roles_required(*ADMIN)
def period_reopen(period_id: int) -> Any:
    return _period_action(period_id, "reopen")
