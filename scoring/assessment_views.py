"""Pages: monthly self-assessment (自评), evidence downloads and the submission compliance
table (提交情况).

The blueprint ``bp`` (:mod:`scoring.assessment_blueprint`), the scoring-period pages
(:mod:`scoring.period_views`) and the JSON API ``blp`` (/api/v1,
:mod:`scoring.assessment_api`) are re-exported here, as are the schemas pages and API
share (:mod:`scoring.assessment_schemas`). All call the services in
:mod:`scoring.periods` and :mod:`scoring.assessments`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from district.errors import Conflict
from district.exports import xlsx_response
from district.extensions import db
from scoring import assessments as svc
from scoring import periods
from scoring.assessment_api import (
    ADMIN,
    DISTRICT_READERS,
    SCHOOL_USERS,
    AssessmentEvidence,
    AssessmentItem,
    AssessmentReturn,
    Assessments,
    AssessmentSubmit,
    Compliance,
    EvidenceFile,
    PeriodClose,
    PeriodReopen,
    Periods,
    acting_user,
    blp,
    my_school,
    send_evidence,
)
from scoring.assessment_blueprint import bp
from scoring.assessment_schemas import (
    AssessmentDetailSchema,
    AssessmentItemSchema,
    AssessmentListArgsSchema,
    AssessmentReturnSchema,
    AssessmentSaveSchema,
    AssessmentSchema,
    AssessmentStartSchema,
    AssessmentSubmitSchema,
    EvidenceFileSchema,
    PeriodSchema,
    SubmissionComplianceArgsSchema,
    SubmissionComplianceSchema,
)
from scoring.models import Period, SelfAssessment
from scoring.period_views import period_close, period_reopen, periods_page
from scoring.rubric_data import KINDS, MEASURES, PROGRAMMES
from tenants.auth import ANY_TENANT_USER, roles_required
from tenants.models import Role, School
from tenants.services import get_or_404

__all__ = [
    "ADMIN",
    "DISTRICT_READERS",
    "SCHOOL_USERS",
    "AssessmentDetailSchema",
    "AssessmentEvidence",
    "AssessmentItem",
    "AssessmentItemSchema",
    "AssessmentListArgsSchema",
    "AssessmentReturn",
    "AssessmentReturnSchema",
    "AssessmentSaveSchema",
    "AssessmentSchema",
    "AssessmentStartSchema",
    "AssessmentSubmit",
    "AssessmentSubmitSchema",
    "Assessments",
    "Compliance",
    "EvidenceFile",
    "EvidenceFileSchema",
    "PeriodClose",
    "PeriodReopen",
    "PeriodSchema",
    "Periods",
    "SubmissionComplianceArgsSchema",
    "SubmissionComplianceSchema",
    "blp",
    "bp",
    "period_close",
    "period_reopen",
    "periods_page",
]


def _default_month() -> tuple[int, int]:
    latest = periods.list_periods()
    if latest:
        return latest[0].year, latest[0].month
    today = periods.local_today()
    return today.year, today.month


# --- pages: self-assessments ---------------------------------------------------------------


def _school_page(school: School) -> str:
    """A school's months to do (with reminders) and its history."""
    return render_template(
        "assessments/school_overview.html",
        school=school,
        reminders=svc.school_overview(school),
        history=svc.list_assessments(),
        can_submit=current_user.role == Role.SCHOOL_HEAD,
    )


@bp.get("/self-assessments")
@roles_required(*ANY_TENANT_USER)
def overview() -> Any:
    """A school's months to do (with reminders); for the district a filtered list."""
    if current_user.role in SCHOOL_USERS:
        return _school_page(my_school())
    args = AssessmentListArgsSchema().load(
        {k: v for k, v in request.args.items() if k in ("year", "month", "programme") and v}
    )
    year = args.get("year")
    month = args.get("month")
    if year is None and month is None:
        year, month = _default_month()
    return render_template(
        "assessments/list.html",
        rows=svc.list_assessments(year, month, args.get("programme")),
        year=year,
        month=month,
        programme=args.get("programme"),
        programmes=PROGRAMMES,
        labels=svc.STATE_LABELS,
    )


@bp.post("/self-assessments/start")
@roles_required(*SCHOOL_USERS)
def start() -> Any:
    school = my_school()
    try:
        data = AssessmentStartSchema().load(
            {k: v for k, v in request.form.items() if k != "csrf_token" and v.strip()}
        )
        assessment = svc.start(
            school, data["year"], data["month"], data["programme"], acting_user()
        )
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
        flash(_("无法开始自评：%(m)s", m=_flatten(messages)), "error")
        return _school_page(school), 422
    except Conflict as err:
        db.session.rollback()
        flash(getattr(err, "data", {}).get("message", _("冲突")), "error")
        return redirect(url_for("assessments.overview"))
    flash(_("已开始自评，请逐项填写"), "success")
    return redirect(url_for("assessments.form", assessment_id=assessment.id))


def _flatten(messages: Any) -> str:
    if isinstance(messages, dict):
        return "；".join(_flatten(v) for v in messages.values())
    if isinstance(messages, list | tuple):
        return "；".join(_flatten(v) for v in messages)
    return str(messages)


def _form_items(form: svc.AssessmentForm) -> list[dict[str, Any]]:
    """The page's fields → the same item dicts the API takes."""
    items = []
    for row in form.rows:
        code = row.code
        item: dict[str, Any] = {"code": code}
        if row.kind == "judged" and f"p_{code}" in request.form:
            item["points"] = request.form.get(f"p_{code}", "").strip() or None
        elif row.kind == "checklist":
            raw = request.form.getlist(f"c_{code}")
            item["checked"] = [int(v) if v.isdigit() else v for v in raw]
        elif row.kind == "measured" and f"v_{code}" in request.form:
            text = request.form.get(f"v_{code}", "").strip()
            value: Any = text or None
            if text and row.ratio:
                try:
                    value = (Decimal(text.rstrip("%％")) / 100).normalize()
                except InvalidOperation:
                    value = text
            item["value"] = value
        elif row.kind == "veto" and f"x_{code}" in request.form:
            item["veto"] = request.form.get(f"x_{code}") == "yes"
        if f"n_{code}" in request.form:
            item["note"] = request.form.get(f"n_{code}", "")
        items.append(item)
    return items


def _render_form(
    form: svc.AssessmentForm,
    status: int = 200,
    *,
    errors: dict[str, Any] | None = None,
    problems: dict[str, list[str]] | None = None,
    message: str | None = None,
    posted: Any = None,
) -> Any:
    return render_template(
        "assessments/form.html",
        form=form,
        a=form.assessment,
        errors=errors or {},
        problems=problems or {},
        message=message,
        posted=posted,
        can_submit=current_user.role == Role.SCHOOL_HEAD,
        can_edit=current_user.role in SCHOOL_USERS and form.editable,
        can_return=current_user.role == Role.DISTRICT_ADMIN
        and form.assessment.status == SelfAssessment.SUBMITTED
        and form.editable is False
        and form.period is not None
        and form.period.status == Period.OPEN,
        kinds=KINDS,
        measures=MEASURES,
        state=svc.state_of(form.assessment),
        state_labels=svc.STATE_LABELS,
        status_labels=svc.STATUS_LABELS,
    ), status


@bp.route("/self-assessments/<int:assessment_id>", methods=["GET", "POST"])
@roles_required(*ANY_TENANT_USER)
def form(assessment_id: int) -> Any:
    assessment = get_or_404(SelfAssessment, assessment_id)
    if request.method == "GET":
        return _render_form(svc.load_form(assessment))
    if current_user.role not in SCHOOL_USERS:
        abort(403)
    action = request.form.get("action", "save")
    loaded = svc.load_form(assessment)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        version = -1  # a form without its version is treated as stale
    try:
        svc.save_draft(assessment, _form_items(loaded), version, acting_user())
        for row in loaded.rows:
            upload = request.files.get(f"f_{row.code}")
            if upload is not None and upload.filename:
                svc.add_evidence(assessment, row.code, upload, acting_user())
    except Conflict as err:
        db.session.rollback()
        fresh = svc.load_form(get_or_404(SelfAssessment, assessment_id))
        stale = getattr(err, "data", None) is None
        message = (
            _(
                "保存失败：这份自评已被他人修改（您打开的是第 %(old)s 版，现在是第 %(new)s 版）。"
                "您的修改没有保存，下面显示的是最新内容，请核对后重新填写。",
                old=version,
                new=fresh.assessment.version,
            )
            if stale
            else err.data["message"]  # type: ignore[attr-defined]
        )
        return _render_form(fresh, 409, message=message)
    except ValidationError as err:
        db.session.rollback()
        fresh = svc.load_form(get_or_404(SelfAssessment, assessment_id))
        messages = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
        return _render_form(
            fresh,
            422,
            errors=messages.get("items", {}) | {k: v for k, v in messages.items() if k != "items"},
            message=_("有填写错误，未保存。请修正标出的指标后再保存。"),
            posted=request.form,
        )
    if action != "submit":
        flash(_("草稿已保存"), "success")
        return redirect(url_for("assessments.form", assessment_id=assessment.id))
    if current_user.role != Role.SCHOOL_HEAD:
        flash(_("草稿已保存。自评须由校长提交，后勤主任不能提交。"), "info")
        return redirect(url_for("assessments.form", assessment_id=assessment.id))
    try:
        svc.submit(assessment, acting_user())
    except ValidationError as err:
        # The draft is saved (200, so the request commits); the problems are listed inline.
        problems = err.messages.get("items", {}) if isinstance(err.messages, dict) else {}
        return _render_form(
            svc.load_form(assessment),
            200,
            problems=problems,
            message=_("草稿已保存，但还不能提交：请补全下列指标的评分或佐证材料。"),
        )
    flash(_("自评已提交"), "success")
    return redirect(url_for("assessments.form", assessment_id=assessment.id))


def _refused(assessment_id: int, status: int, message: str) -> Any:
    """Nothing was saved: the form again, as it is now, with why."""
    db.session.rollback()
    return _render_form(
        svc.load_form(get_or_404(SelfAssessment, assessment_id)), status, message=message
    )


@bp.post("/self-assessments/<int:assessment_id>/evidence")
@roles_required(*SCHOOL_USERS)
def evidence_upload(assessment_id: int) -> Any:
    assessment = get_or_404(SelfAssessment, assessment_id)
    try:
        svc.add_evidence(
            assessment, request.form.get("code", ""), request.files.get("file"), acting_user()
        )
    except ValidationError as err:
        return _refused(assessment_id, 422, _("上传失败：%(m)s", m=_flatten(err.messages)))
    except Conflict as err:
        message = getattr(err, "data", {}).get("message") or _("上传失败")
        return _refused(assessment_id, 409, message)
    flash(_("佐证材料已上传"), "success")
    return redirect(url_for("assessments.form", assessment_id=assessment.id))


@bp.post("/self-assessments/<int:assessment_id>/return")
@roles_required(*ADMIN)
def return_page(assessment_id: int) -> Any:
    assessment = get_or_404(SelfAssessment, assessment_id)
    try:
        svc.return_assessment(assessment, request.form.get("reason", ""), acting_user())
    except ValidationError as err:
        return _refused(assessment_id, 422, _flatten(err.messages))
    except Conflict as err:
        return _refused(
            assessment_id, 409, getattr(err, "data", {}).get("message") or _("无法退回")
        )
    flash(_("已退回学校修改"), "success")
    return redirect(url_for("assessments.form", assessment_id=assessment.id))


@bp.get("/evidence/<int:evidence_id>")
@roles_required(*ANY_TENANT_USER)
def evidence_file(evidence_id: int) -> Any:
    """Download any evidence file (self-assessment, visit, finding) the caller may see."""
    return send_evidence(evidence_id)


@bp.get("/compliance")
@roles_required(*DISTRICT_READERS)
def compliance_page() -> Any:
    args = SubmissionComplianceArgsSchema(partial=True).load(
        {k: v for k, v in request.args.items() if k in ("year", "month") and v}
    )
    year, month = args.get("year"), args.get("month")
    if year is None or month is None:
        year, month = _default_month()
    table = svc.compliance(year, month)
    if request.args.get("format") == "xlsx":
        return xlsx_response(svc.compliance_workbook(table), f"{year}年{month}月自评提交情况.xlsx")
    return render_template(
        "assessments/compliance.html",
        table=table,
        counts=table.counts(),
        labels=svc.STATE_LABELS,
        periods=periods.list_periods(),
    )
