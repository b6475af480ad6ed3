"""Pages: findings (整改) to rectify — a school's list, the district's filtered list and
its Excel export, one finding with its history, and the answer/close/reopen/evidence
actions. Part of the ``visits`` blueprint (:mod:`scoring.visit_blueprint`; endpoints
``visits.findings`` …); :mod:`scoring.visit_views` imports this module.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import select

from district.audit import AuditEntry
from district.exports import xlsx_response
from district.extensions import db
from scoring import visits as svc
from scoring.models import Finding, SiteVisit
from scoring.visit_access import DISTRICT_SIDE, RECORDERS, SCHOOL_SIDE
from scoring.visit_blueprint import bp
from scoring.visit_forms import (
    error_messages,
    flat_messages,
    load_posted,
    month_arg,
    posted_files,
)
from scoring.visit_payloads import finding_dicts
from scoring.visit_schemas import FindingAnswerSchema, FindingCloseSchema, FindingReopenSchema
from tenants.auth import ANY_TENANT_USER, roles_required
from tenants.services import get_or_404


def _finding_filters() -> dict[str, Any]:
    year, month, month_value = month_arg()
    status = request.args.get("status") or None
    if status not in (*svc.FINDING_STATES, "unresolved", None):
        status = None
    overdue = request.args.get("overdue")
    return {
        "year": year,
        "month": month,
        "month_value": month_value,
        "zone_id": request.args.get("zone_id", type=int),
        "school_id": request.args.get("school_id", type=int),
        "status": status,
        "overdue": True if overdue == "1" else None,
    }


def _filtered_findings(filters: dict[str, Any], limit: int | None = 500) -> list[Finding]:
    return svc.list_findings(
        status=filters["status"],
        overdue=filters["overdue"],
        year=filters["year"],
        month=filters["month"],
        zone_id=filters["zone_id"],
        school_id=filters["school_id"],
        limit=limit,
    )


@bp.get("/findings")
@roles_required(*ANY_TENANT_USER)
def findings() -> Any:
    filters = _finding_filters()
    school_side = current_user.role in SCHOOL_SIDE
    return render_template(
        "visits/findings.html",
        findings=finding_dicts(_filtered_findings(filters), with_evidence=False),
        filters=filters,
        school_side=school_side,
        zones=[] if school_side else svc.zones(),
        schools=[] if school_side else svc.visible_schools(),
        states=svc.FINDING_STATES,
    )


@bp.get("/findings/export")
@roles_required(*DISTRICT_SIDE)
def export_findings() -> Any:
    filters = _finding_filters()
    data = svc.findings_workbook(_filtered_findings(filters, limit=None))
    return xlsx_response(data, f"整改清单-{date.today().isoformat()}.xlsx")


@bp.get("/findings/<int:finding_id>")
@roles_required(*ANY_TENANT_USER)
def finding(finding_id: int) -> Any:
    item = get_or_404(Finding, finding_id)
    user = current_user._get_current_object()
    visit = get_or_404(SiteVisit, item.visit_id)
    history = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.object_type == "Finding", AuditEntry.object_id == str(item.id))
        .order_by(AuditEntry.id)
    ).all()
    return render_template(
        "visits/finding.html",
        f=finding_dicts([item])[0],
        finding=item,
        visit=visit,
        inspector_name=svc.user_names([visit.inspector_id]).get(visit.inspector_id),
        history=history,
        can_answer=svc.can_answer(user) and item.status in svc.ANSWERABLE,
        can_judge=svc.can_judge(user),
        reopened=svc.REOPENED,
        today=date.today(),
    )


def _finding_action(finding_id: int, action: str) -> Any:
    item = get_or_404(Finding, finding_id)
    user = current_user._get_current_object()
    form = request.form
    try:
        if action == "answer":
            if not svc.can_answer(user):
                abort(403)
            data, errors = load_posted(FindingAnswerSchema(), form)
            if data is None:
                raise ValidationError(errors)
            svc.answer_finding(item, data, user, uploads=posted_files("photos", "file"))
            flash(_("整改情况已提交，等待督查员复核"), "success")
        elif action == "close":
            if not svc.can_judge(user):
                abort(403)
            data, errors = load_posted(FindingCloseSchema(), form)
            if data is None:
                raise ValidationError(errors)
            svc.close_finding(item, data, user)
            flash(_("问题已销号"), "success")
        elif action == "reopen":
            if not svc.can_judge(user):
                abort(403)
            data, errors = load_posted(FindingReopenSchema(), form)
            if data is None:
                raise ValidationError(errors)
            svc.reopen_finding(item, data, user)
            flash(_("问题已退回学校重新整改"), "info")
        else:  # evidence
            svc.add_finding_evidence(item, posted_files("photos", "file"), user)
            flash(_("佐证材料已上传"), "success")
    except ValidationError as err:
        db.session.rollback()
        flash(flat_messages(error_messages(err)), "error")
        return redirect(url_for("visits.finding", finding_id=finding_id)), 303
    return redirect(url_for("visits.finding", finding_id=finding_id))


@bp.post("/findings/<int:finding_id>/answer")
@roles_required(*SCHOOL_SIDE)
def answer(finding_id: int) -> Any:
    return _finding_action(finding_id, "answer")


@bp.post("/findings/<int:finding_id>/close")
@roles_required(*RECORDERS)
def close(finding_id: int) -> Any:
    return _finding_action(finding_id, "close")


@bp.post("/findings/<int:finding_id>/reopen")
@roles_required(*RECORDERS)
def reopen(finding_id: int) -> Any:
    return _finding_action(finding_id, "reopen")


@bp.post("/findings/<int:finding_id>/evidence")
@roles_required(*RECORDERS, *SCHOOL_SIDE)
def finding_evidence(finding_id: int) -> Any:
    return _finding_action(finding_id, "evidence")
