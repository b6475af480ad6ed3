"""Pages and API: scoring periods (考核月份), monthly self-assessment (自评), evidence
downloads and the submission compliance table (提交情况).

Pages live in ``bp`` ("assessments"), the JSON API in ``blp`` (/api/v1). Both call
the services in :mod:`scoring.periods` and :mod:`scoring.assessments`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from district.errors import Conflict
from district.exports import xlsx_response
from district.extensions import db
from district.nav import register_nav
from scoring import assessments as svc
from scoring import evidence as evidence_files
from scoring import periods
from scoring.models import Evidence, Period, SelfAssessment
from scoring.rubric_data import KINDS, MEASURES, PROGRAMMES
from tenants.auth import ANY_TENANT_USER, DISTRICT_STAFF, roles_required
from tenants.models import Role, School
from tenants.services import get_or_404

bp = Blueprint("assessments", __name__)
blp = ApiBlueprint(
    "api_assessments", __name__, url_prefix="/api/v1", description="考核月份、自评与佐证材料"
)

ADMIN = (Role.DISTRICT_ADMIN,)
SCHOOL_USERS = Role.SCHOOL_ROLES
DISTRICT_READERS = (*DISTRICT_STAFF, Role.INSPECTOR)


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "labels": svc.STATE_LABELS,
        "state_of": svc.state_of,
        "programme_names": PROGRAMMES,
    }


register_nav("自评", "assessments.overview", ANY_TENANT_USER, order=20)
register_nav("考核月份", "assessments.periods_page", DISTRICT_STAFF, order=21)
register_nav("提交情况", "assessments.compliance_page", DISTRICT_READERS, order=22)


# --- schemas (one set for pages and API) ---------------------------------------------------

_REQUIRED = {"required": "必填"}


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PeriodSchema(_Strict):
    id = fields.Int(dump_only=True)
    year = fields.Int(required=True, validate=validate.Range(2000, 2100), error_messages=_REQUIRED)
    month = fields.Int(required=True, validate=validate.Range(1, 12), error_messages=_REQUIRED)
    deadline = fields.Date(allow_none=True, load_default=None)
    status = fields.Str(dump_only=True)
    closed_at = fields.DateTime(dump_only=True)
    closed_by = fields.Int(dump_only=True)
    lock_message = fields.Method("_lock_message", dump_only=True)

    def _lock_message(self, period: Period) -> str | None:
        return periods.lock_explanation(period) or None


class AssessmentListArgsSchema(Schema):
    year = fields.Int(validate=validate.Range(2000, 2100))
    month = fields.Int(validate=validate.Range(1, 12))
    programme = fields.Str(validate=validate.Length(max=32))


class SubmissionComplianceArgsSchema(Schema):
    year = fields.Int(required=True, validate=validate.Range(2000, 2100))
    month = fields.Int(required=True, validate=validate.Range(1, 12))


class AssessmentStartSchema(_Strict):
    year = fields.Int(required=True, validate=validate.Range(2000, 2100), error_messages=_REQUIRED)
    month = fields.Int(required=True, validate=validate.Range(1, 12), error_messages=_REQUIRED)
    programme = fields.Str(
        required=True, validate=validate.Length(min=1, max=32), error_messages=_REQUIRED
    )
    school_id = fields.Int(load_only=True)


class AssessmentSaveSchema(_Strict):
    version = fields.Int(required=True, error_messages=_REQUIRED)
    items = fields.List(fields.Dict(), required=True, error_messages=_REQUIRED)


class AssessmentSubmitSchema(_Strict):
    version = fields.Int()


class AssessmentReturnSchema(_Strict):
    reason = fields.Str(
        required=True, validate=validate.Length(min=1, max=500), error_messages=_REQUIRED
    )


class EvidenceFileSchema(Schema):
    id = fields.Int()
    owner_type = fields.Str()
    owner_id = fields.Int()
    filename = fields.Str()
    content_type = fields.Str()
    size = fields.Int()
    sha256 = fields.Str()
    created_at = fields.DateTime()
    url = fields.Method("_url")

    def _url(self, row: Evidence) -> str:
        return url_for("api_assessments.EvidenceFile", evidence_id=row.id)


class AssessmentSchema(Schema):
    id = fields.Int()
    school_id = fields.Int()
    year = fields.Int()
    month = fields.Int()
    programme = fields.Str()
    programme_name = fields.Method("_programme_name")
    rubric_version_id = fields.Int()
    status = fields.Str()
    state = fields.Method("_state")
    state_label = fields.Method("_state_label")
    submitted_at = fields.DateTime()
    submitted_by = fields.Int()
    late = fields.Bool()
    return_reason = fields.Str()
    score = fields.Decimal(places=2, as_string=True)
    version = fields.Int()
    updated_at = fields.DateTime()

    def _programme_name(self, a: SelfAssessment) -> str:
        return svc.programme_name(a.programme)

    def _state(self, a: SelfAssessment) -> str:
        return svc.state_of(a)

    def _state_label(self, a: SelfAssessment) -> str:
        return svc.STATE_LABELS[svc.state_of(a)]


class AssessmentItemSchema(Schema):
    code = fields.Str()
    name = fields.Str()
    category = fields.Str()
    kind = fields.Str()
    dimension = fields.Str()
    max_points = fields.Decimal(places=2, as_string=True)
    guidance = fields.Str()
    evidence_required = fields.Bool()
    needs_evidence = fields.Bool()
    measure = fields.Str(allow_none=True)
    ratio = fields.Bool()
    checklist = fields.List(fields.Dict())
    points = fields.Decimal(places=2, as_string=True, allow_none=True)
    value = fields.Decimal(as_string=True, allow_none=True)
    derived_value = fields.Decimal(as_string=True, allow_none=True)
    checked = fields.List(fields.Int())
    veto = fields.Bool(allow_none=True)
    note = fields.Str(allow_none=True)
    evidence = fields.List(fields.Nested(EvidenceFileSchema))


class AssessmentDetailSchema(AssessmentSchema):
    school_name = fields.Str()
    editable = fields.Bool()
    block_reason = fields.Str(allow_none=True)
    problems = fields.Dict(keys=fields.Str(), values=fields.List(fields.Str()))
    items = fields.List(fields.Nested(AssessmentItemSchema))


class SubmissionComplianceSchema(Schema):
    year = fields.Int()
    month = fields.Int()
    deadline = fields.Date(allow_none=True)
    period_status = fields.Str(allow_none=True)
    overdue = fields.Bool()
    programmes = fields.List(fields.Dict())
    schools = fields.List(fields.Dict())
    counts = fields.Dict()
    missing = fields.Int()


class _Detail:
    """A self-assessment plus what the detail answer adds (school, items, problems)."""

    def __init__(self, form: svc.AssessmentForm) -> None:
        self._assessment = form.assessment
        self.school_name = form.school.name
        self.editable = form.editable
        self.block_reason = form.block_reason
        self.problems = svc.submission_problems(form)
        self.items = [
            {
                "code": r.code,
                "name": r.indicator.name,
                "category": r.indicator.category_name,
                "kind": r.kind,
                "dimension": r.indicator.dimension,
                "max_points": r.indicator.max_points,
                "guidance": r.indicator.guidance,
                "evidence_required": r.indicator.evidence_required,
                "needs_evidence": r.needs_evidence,
                "measure": r.indicator.measure,
                "ratio": r.ratio,
                "checklist": r.indicator.checklist or [],
                "points": r.points,
                "value": r.value if r.kind == "measured" else None,
                "derived_value": r.derived,
                "checked": r.checked,
                "veto": r.veto,
                "note": r.item.note if r.item else None,
                "evidence": r.files,
            }
            for r in form.rows
        ]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._assessment, name)


def _detail(form: svc.AssessmentForm) -> _Detail:
    return _Detail(form)


def _compliance_data(table: svc.ComplianceTable) -> dict[str, Any]:
    return {
        "year": table.year,
        "month": table.month,
        "deadline": table.period.deadline if table.period else None,
        "period_status": table.period.status if table.period else None,
        "overdue": table.overdue,
        "programmes": [{"code": c, "name": n} for c, n in table.programmes],
        "schools": [
            {
                "school_id": school.id,
                "code": school.code,
                "name": school.name,
                "zone": school.zone.name if school.zone else None,
                "cells": {
                    code: None
                    if cell is None
                    else {
                        "state": cell.state,
                        "label": cell.label,
                        "missing": cell.missing,
                        "assessment_id": cell.assessment_id,
                    }
                    for code, cell in cells.items()
                },
            }
            for school, cells in table.rows
        ],
        "counts": table.counts(),
        "missing": table.missing,
    }


def _my_school() -> School:
    return get_or_404(School, current_user.school_id)


def _user() -> Any:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _default_month() -> tuple[int, int]:
    latest = periods.list_periods()
    if latest:
        return latest[0].year, latest[0].month
    today = periods.local_today()
    return today.year, today.month


# --- pages: periods ---------------------------------------------------------------------------


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


# --- pages: self-assessments ---------------------------------------------------------------


@bp.get("/self-assessments")
@roles_required(*ANY_TENANT_USER)
def overview() -> Any:
    """A school's months to do (with reminders); for the district a filtered list."""
    if current_user.role in SCHOOL_USERS:
        school = _my_school()
        return render_template(
            "assessments/school_overview.html",
            school=school,
            reminders=svc.school_overview(school),
            history=svc.list_assessments(),
            can_submit=current_user.role == Role.SCHOOL_HEAD,
        )
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
    school = _my_school()
    try:
        data = AssessmentStartSchema().load(
            {k: v for k, v in request.form.items() if k != "csrf_token" and v.strip()}
        )
        assessment = svc.start(school, data["year"], data["month"], data["programme"], _user())
    except ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
        flash(_("无法开始自评：%(m)s", m=_flatten(messages)), "error")
        return render_template(
            "assessments/school_overview.html",
            school=school,
            reminders=svc.school_overview(school),
            history=svc.list_assessments(),
            can_submit=current_user.role == Role.SCHOOL_HEAD,
        ), 422
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
        svc.save_draft(assessment, _form_items(loaded), version, _user())
        for row in loaded.rows:
            upload = request.files.get(f"f_{row.code}")
            if upload is not None and upload.filename:
                svc.add_evidence(assessment, row.code, upload, _user())
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
        svc.submit(assessment, _user())
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


@bp.post("/self-assessments/<int:assessment_id>/evidence")
@roles_required(*SCHOOL_USERS)
def evidence_upload(assessment_id: int) -> Any:
    assessment = get_or_404(SelfAssessment, assessment_id)
    try:
        svc.add_evidence(
            assessment, request.form.get("code", ""), request.files.get("file"), _user()
        )
    except ValidationError as err:
        db.session.rollback()
        return _render_form(
            svc.load_form(get_or_404(SelfAssessment, assessment_id)),
            422,
            message=_("上传失败：%(m)s", m=_flatten(err.messages)),
        )
    except Conflict as err:
        db.session.rollback()
        return _render_form(
            svc.load_form(get_or_404(SelfAssessment, assessment_id)),
            409,
            message=getattr(err, "data", {}).get("message") or _("上传失败"),
        )
    flash(_("佐证材料已上传"), "success")
    return redirect(url_for("assessments.form", assessment_id=assessment.id))


@bp.post("/self-assessments/<int:assessment_id>/return")
@roles_required(*ADMIN)
def return_page(assessment_id: int) -> Any:
    assessment = get_or_404(SelfAssessment, assessment_id)
    try:
        svc.return_assessment(assessment, request.form.get("reason", ""), _user())
    except ValidationError as err:
        db.session.rollback()
        return _render_form(
            svc.load_form(get_or_404(SelfAssessment, assessment_id)),
            422,
            message=_flatten(err.messages),
        )
    except Conflict as err:
        db.session.rollback()
        return _render_form(
            svc.load_form(get_or_404(SelfAssessment, assessment_id)),
            409,
            message=getattr(err, "data", {}).get("message") or _("无法退回"),
        )
    flash(_("已退回学校修改"), "success")
    return redirect(url_for("assessments.form", assessment_id=assessment.id))


@bp.get("/evidence/<int:evidence_id>")
@roles_required(*ANY_TENANT_USER)
def evidence_file(evidence_id: int) -> Any:
    """Download any evidence file (self-assessment, visit, finding) the caller may see."""
    return _send_evidence(evidence_id)


def _send_evidence(evidence_id: int) -> Any:
    row = get_or_404(Evidence, evidence_id)
    try:
        return evidence_files.send(row)
    except FileNotFoundError:
        abort(404)


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


# --- API -------------------------------------------------------------------------------------


@blp.route("/periods")
class Periods(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, PeriodSchema(many=True))
    def get(self) -> Any:
        """Scoring months (考核月份) of the district, newest first."""
        return periods.list_periods()

    @roles_required(*ADMIN)
    @blp.arguments(PeriodSchema)
    @blp.response(201, PeriodSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Open a month for self-assessment; deadline defaults to the 5th of the next month."""
        return periods.open_period(data["year"], data["month"], data.get("deadline"))


@blp.route("/periods/<int:period_id>/close")
class PeriodClose(MethodView):
    @roles_required(*ADMIN)
    @blp.response(200, PeriodSchema)
    def post(self, period_id: int) -> Any:
        """Close a month: all its self-assessments lock."""
        return periods.close_period(get_or_404(Period, period_id), current_user.id)


@blp.route("/periods/<int:period_id>/reopen")
class PeriodReopen(MethodView):
    @roles_required(*ADMIN)
    @blp.response(200, PeriodSchema)
    def post(self, period_id: int) -> Any:
        """Reopen a closed month: its self-assessments unlock."""
        return periods.reopen_period(get_or_404(Period, period_id), current_user.id)


@blp.route("/self-assessments")
class Assessments(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.arguments(AssessmentListArgsSchema, location="query")
    @blp.response(200, AssessmentSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Self-assessments you may see (a school: its own)."""
        rows = svc.list_assessments(args.get("year"), args.get("month"), args.get("programme"))
        return [a for a, _school in rows]

    @roles_required(*SCHOOL_USERS)
    @blp.arguments(AssessmentStartSchema)
    @blp.response(201, AssessmentDetailSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Start your school's self-assessment of a programme for an open month.

        Only school users create self-assessments, for their own school."""
        if data.get("school_id") not in (None, current_user.school_id):
            raise ValidationError({"school_id": [_("只能为本校开始自评")]})
        assessment = svc.start(
            _my_school(), data["year"], data["month"], data["programme"], _user()
        )
        return _detail(svc.load_form(assessment))


@blp.route("/self-assessments/<int:assessment_id>")
class AssessmentItem(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, AssessmentDetailSchema)
    def get(self, assessment_id: int) -> Any:
        """One self-assessment with its applicable indicators and what was entered."""
        return _detail(svc.load_form(get_or_404(SelfAssessment, assessment_id)))

    @roles_required(*SCHOOL_USERS)
    @blp.arguments(AssessmentSaveSchema)
    @blp.response(200, AssessmentDetailSchema)
    def put(self, data: dict[str, Any], assessment_id: int) -> Any:
        """Save draft items. ``version`` must be the one you read (409 when stale).

        Item: ``{"code", "points"}`` (judged), ``{"code", "checked": [0, 2]}`` (checklist),
        ``{"code", "value"}`` (measured; shares as 0–1), ``{"code", "veto": false}``;
        optional ``note``. Items not listed stay as they are."""
        assessment = get_or_404(SelfAssessment, assessment_id)
        svc.save_draft(assessment, data["items"], data["version"], _user())
        return _detail(svc.load_form(assessment))


@blp.route("/self-assessments/<int:assessment_id>/submit")
class AssessmentSubmit(MethodView):
    @roles_required(*SCHOOL_USERS)
    @blp.arguments(AssessmentSubmitSchema)
    @blp.response(200, AssessmentDetailSchema)
    def post(self, data: dict[str, Any], assessment_id: int) -> Any:
        """Submit (school head only); refused per indicator when points or evidence miss."""
        assessment = get_or_404(SelfAssessment, assessment_id)
        svc.submit(assessment, _user(), data.get("version"))
        return _detail(svc.load_form(assessment))


@blp.route("/self-assessments/<int:assessment_id>/return")
class AssessmentReturn(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(AssessmentReturnSchema)
    @blp.response(200, AssessmentDetailSchema)
    def post(self, data: dict[str, Any], assessment_id: int) -> Any:
        """Return a submission to the school for correction, with a reason (退回)."""
        assessment = get_or_404(SelfAssessment, assessment_id)
        svc.return_assessment(assessment, data["reason"], _user())
        return _detail(svc.load_form(assessment))


@blp.route("/self-assessments/<int:assessment_id>/evidence")
class AssessmentEvidence(MethodView):
    @roles_required(*SCHOOL_USERS)
    @blp.response(201, EvidenceFileSchema)
    def post(self, assessment_id: int) -> Any:
        """Upload evidence (multipart: ``code`` = indicator code, ``file``; JPEG/PNG/GIF/WebP/PDF ≤ 8 MB)."""
        assessment = get_or_404(SelfAssessment, assessment_id)
        return svc.add_evidence(
            assessment, request.form.get("code", ""), request.files.get("file"), _user()
        )


@blp.route("/evidence/<int:evidence_id>")
class EvidenceFile(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200)
    def get(self, evidence_id: int) -> Any:
        """Download an evidence file (any kind: self-assessment, visit, finding) in your scope."""
        return _send_evidence(evidence_id)


@blp.route("/compliance")
class Compliance(MethodView):
    @roles_required(*DISTRICT_READERS)
    @blp.arguments(SubmissionComplianceArgsSchema, location="query")
    @blp.response(200, SubmissionComplianceSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Submission compliance (提交情况) of a month: school × programme → state."""
        return _compliance_data(svc.compliance(args["year"], args["month"]))
