"""Pages and API for logistics staff (后勤人员): roster, certificates, compliance, training.

School heads and school staff manage their own school's roster; the district admin
manages any school's (and imports for a chosen school); the district viewer reads;
inspectors read the schools of their zones without phones. Training sessions are
the district's. Tenancy is the scope's job: nothing here filters by school by hand.

CLI: ``flask --app wsgi staff-compliance`` enqueues the daily compliance job for
every district (see :mod:`scoring.staff_jobs` for cron / ``rq cron`` set-ups).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP
from typing import Any

import click
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, ValidationError, fields, validate

from district.exports import xlsx_response
from district.forms import parse_form
from district.nav import register_nav
from scoring import staff as services
from scoring import staff_excel as excel
from scoring.staff_models import (
    EMPLOYMENT_TYPES,
    FIVE_ROLES,
    Certificate,
    StaffMember,
    TrainingSession,
)
from tenants.auth import DISTRICT_STAFF, roles_required
from tenants.models import Role, School
from tenants.services import get_or_404

bp = Blueprint("staff", __name__, cli_group=None)
blp = ApiBlueprint("api_staff", __name__, url_prefix="/api/v1", description="后勤人员、证书与培训")

ADMIN = (Role.DISTRICT_ADMIN,)
READERS = services.READERS
WRITERS = services.WRITERS
SCHOOL_USERS = (Role.SCHOOL_HEAD, Role.SCHOOL_STAFF)
EXPORTERS = (*SCHOOL_USERS, Role.DISTRICT_ADMIN)
PER_PAGE = 100

register_nav(
    "后勤人员",
    "staff.roster",
    (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER, Role.INSPECTOR, *SCHOOL_USERS),
    order=50,
)
register_nav("培训", "staff.trainings", DISTRICT_STAFF, order=51)


def _role() -> str:
    return current_user.role


def _own_school_id() -> int | None:
    return current_user.school_id if _role() in SCHOOL_USERS else None


def _arg_date(name: str) -> date | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(400)


def _errors(err: ValidationError) -> dict[str, Any]:
    return err.messages if isinstance(err.messages, dict) else {"_": err.messages}  # type: ignore[return-value]


# ===================================== pages ==========================================


@bp.get("/staff")
@roles_required(*READERS)
def roster() -> Any:
    own = _own_school_id()
    school_id = own or request.args.get("school_id", type=int)
    filters = dict(
        school_id=school_id,
        post=request.args.get("post") or None,
        employment_type=request.args.get("employment_type") or None,
        include_inactive=request.args.get("include_inactive") == "1",
        q=(request.args.get("q") or "").strip() or None,
    )
    page = max(request.args.get("page", 1, type=int), 1)
    people = services.list_staff(page=page, per_page=PER_PAGE, **filters)
    for person in people:
        services.present(person, _role(), single=False)
    school = get_or_404(School, school_id) if school_id else None
    report = services.compliance(school_id=school.id)[0] if school is not None else None
    total = services.count_staff(**filters)
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "staff/roster.html",
        people=people,
        total=total,
        prev_url=url_for("staff.roster", page=page - 1, **args) if page > 1 else None,
        next_url=url_for("staff.roster", page=page + 1, **args)
        if page * PER_PAGE < total
        else None,
        filters=filters,
        school=school,
        schools=services.school_map(),
        posts=services.district_posts(),
        employment_types=EMPLOYMENT_TYPES,
        report=report,
        can_write=_role() in WRITERS,
        can_export=_role() in EXPORTERS,
        show_phone=_role() != Role.INSPECTOR,
    )


def _staff_form(staff: StaffMember | None) -> Any:
    errors: dict[str, Any] = {}
    if request.method == "POST":
        data, errors = parse_form(services.StaffSchema(), lists=("five_roles",))
        if data is not None:
            try:
                if staff is None:
                    staff = services.create_staff(data)
                else:
                    data.pop("school_id", None)
                    services.update_staff(staff, data)
            except ValidationError as err:
                errors = _errors(err)
            else:
                flash(_("人员信息已保存"), "success")
                return redirect(url_for("staff.staff_detail", staff_id=staff.id))
    return render_template(
        "staff/form.html",
        staff=staff,
        errors=errors,
        form=request.form if request.method == "POST" else None,
        schools=services.visible_schools(),
        posts=services.district_posts(),
        employment_types=EMPLOYMENT_TYPES,
        five_roles=FIVE_ROLES,
        pick_school=staff is None and _own_school_id() is None,
        preset_school=request.args.get("school_id", type=int),
    ), (422 if errors else 200)


@bp.route("/staff/new", methods=["GET", "POST"])
@roles_required(*WRITERS)
def new_staff() -> Any:
    return _staff_form(None)


@bp.route("/staff/<int:staff_id>", methods=["GET", "POST"])
@roles_required(*READERS)
def staff_detail(staff_id: int) -> Any:
    staff = get_or_404(StaffMember, staff_id)
    if request.method == "POST":
        if _role() not in WRITERS:
            abort(403)
        action = request.args.get("action")
        if action in ("deactivate", "reactivate"):
            version = request.form.get("version", type=int)
            services.update_staff(staff, {"active": action == "reactivate", "version": version})
            flash(_("已停用") if action == "deactivate" else _("已恢复在职"), "info")
            return redirect(url_for("staff.staff_detail", staff_id=staff.id))
        return _staff_form(staff)
    if request.args.get("edit") == "1" and _role() in WRITERS:
        return _staff_form(staff)
    return _detail_page(staff)


def _detail_page(staff: StaffMember, cert_errors: dict[str, Any] | None = None) -> Any:
    """A person's page; with ``cert_errors`` the refused certificate form is shown again (422)."""
    services.present(staff, _role(), single=True)
    page = render_template(
        "staff/detail.html",
        staff=staff,
        school=get_or_404(School, staff.school_id),
        certificates=sorted(
            staff.certificates, key=lambda c: (c.kind, c.expires_on or date.max, c.id)
        ),
        trainings=services.trainings_of(staff),
        kinds=services.certificate_kinds(),
        today=date.today(),
        can_write=_role() in WRITERS,
        show_phone=_role() != Role.INSPECTOR,
        cert_errors=cert_errors or {},
        cert_form=request.form if cert_errors else None,
    )
    return (page, 422) if cert_errors else page


@bp.post("/staff/<int:staff_id>/certificates")
@roles_required(*WRITERS)
def add_certificate(staff_id: int) -> Any:
    staff = get_or_404(StaffMember, staff_id)
    data, errors = parse_form(services.CertificateSchema())
    if data is not None:
        try:
            services.add_certificate(staff, data)
        except ValidationError as err:
            errors = _errors(err)
        else:
            flash(_("证书已添加"), "success")
            return redirect(url_for("staff.staff_detail", staff_id=staff.id))
    return _detail_page(staff, errors)


@bp.route("/staff/certificates/<int:certificate_id>", methods=["GET", "POST"])
@roles_required(*WRITERS)
def certificate_edit(certificate_id: int) -> Any:
    cert = get_or_404(Certificate, certificate_id)
    staff = get_or_404(StaffMember, cert.staff_id)
    errors: dict[str, Any] = {}
    if request.method == "POST":
        if request.args.get("action") == "delete":
            services.delete_certificate(cert)
            flash(_("证书已删除"), "info")
            return redirect(url_for("staff.staff_detail", staff_id=staff.id))
        data, errors = parse_form(services.CertificateSchema())
        if data is not None:
            try:
                services.update_certificate(cert, data)
            except ValidationError as err:
                errors = _errors(err)
            else:
                flash(_("证书已保存"), "success")
                return redirect(url_for("staff.staff_detail", staff_id=staff.id))
    return render_template(
        "staff/certificate_form.html",
        cert=cert,
        staff=staff,
        kinds=services.certificate_kinds(),
        errors=errors,
        form=request.form if request.method == "POST" else None,
    ), (422 if errors else 200)


@bp.route("/staff/import", methods=["GET", "POST"])
@roles_required(*EXPORTERS)
def import_roster() -> Any:
    report = None
    own = _own_school_id()
    if request.method == "POST":
        upload = request.files.get("file")
        school_id = own or request.form.get("school_id", type=int)
        if school_id is not None and own is None:
            get_or_404(School, school_id)
        if upload is None or not upload.filename:
            report = excel.RosterImportReport(errors=[(0, _("请选择要导入的 Excel 文件"))])
        else:
            report = excel.import_roster(upload.stream, school_id)
        if report.ok:
            flash(
                _(
                    "导入成功：新增 %(c)d 人，更新 %(u)d 人，证书 %(k)d 条",
                    c=report.created,
                    u=report.updated,
                    k=report.certificates,
                ),
                "success",
            )
            return redirect(
                url_for("staff.roster", school_id=school_id)
                if school_id
                else url_for("staff.roster")
            )
    return render_template(
        "staff/import.html",
        report=report,
        schools=services.visible_schools() if own is None else [],
    ), (422 if report and not report.ok else 200)


@bp.get("/staff/import/template.xlsx")
@roles_required(*EXPORTERS)
def import_template() -> Any:
    return xlsx_response(excel.roster_template(), "人员名册导入模板.xlsx")


@bp.get("/staff/export.xlsx")
@roles_required(*EXPORTERS)
def export_roster() -> Any:
    own = _own_school_id()
    school_id = own or request.args.get("school_id", type=int)
    if school_id:
        school = get_or_404(School, school_id)
        return xlsx_response(excel.roster_workbook(school.id), f"{school.name}-后勤人员名册.xlsx")
    return xlsx_response(excel.roster_workbook(None), "后勤人员名册.xlsx")


@bp.get("/staff/compliance")
@roles_required(*READERS)
def compliance() -> Any:
    on = _arg_date("on") or date.today()
    school_id = _own_school_id() or request.args.get("school_id", type=int)
    school = get_or_404(School, school_id) if school_id else None
    reports = services.compliance(on, school_id=school.id if school else None)
    if request.args.get("format") == "xlsx":
        name = f"{school.name}-" if school else ""
        return xlsx_response(
            excel.compliance_workbook(reports), f"{name}持证与五员制合规-{on}.xlsx"
        )
    if school is not None:
        return render_template("staff/compliance_school.html", r=reports[0], school=school, on=on)
    from scoring.staff_jobs import latest_summary

    return render_template(
        "staff/compliance_district.html",
        reports=reports,
        on=on,
        summary=latest_summary() if _role() in DISTRICT_STAFF else None,
        totals={
            "canteen_staff": sum(r.canteen_staff for r in reports),
            "with_health": sum(r.canteen_with_health for r in reports),
            "missing_health": sum(len(r.missing_health) for r in reports),
            "expiring": sum(len(r.expiring) for r in reports),
            "expired": sum(len(r.expired) for r in reports),
            "unfilled": sum(1 for r in reports if r.unfilled_roles),
        },
    )


# --- training ----------------------------------------------------------------------------


@bp.route("/trainings", methods=["GET", "POST"])
@roles_required(*DISTRICT_STAFF)
def trainings() -> Any:
    errors: dict[str, Any] = {}
    if request.method == "POST":
        if _role() != Role.DISTRICT_ADMIN:
            abort(403)
        data, errors = parse_form(services.TrainingSchema())
        if data is not None:
            session = services.create_training(data)
            flash(_("培训已登记，请添加参训人员"), "success")
            return redirect(url_for("staff.training_detail", training_id=session.id))
    year = request.args.get("year", type=int)
    return render_template(
        "staff/trainings.html",
        rows=services.list_trainings(year),
        year=year,
        errors=errors,
        form=request.form if request.method == "POST" else None,
    ), (422 if errors else 200)


@bp.get("/trainings/export.xlsx")
@roles_required(*DISTRICT_STAFF)
def trainings_export() -> Any:
    year = request.args.get("year", type=int)
    return xlsx_response(excel.trainings_workbook(services.list_trainings(year)), "培训记录.xlsx")


@bp.get("/trainings/coverage")
@roles_required(*DISTRICT_STAFF)
def coverage() -> Any:
    year = request.args.get("year", type=int) or date.today().year
    cov = services.coverage(year)
    if request.args.get("format") == "xlsx":
        return xlsx_response(excel.coverage_workbook(cov), f"{year}年食堂操作员培训覆盖率.xlsx")
    return render_template("staff/coverage.html", cov=cov, year=year)


@bp.get("/trainings/attendees/template.xlsx")
@roles_required(*ADMIN)
def attendee_template() -> Any:
    return xlsx_response(excel.attendee_template(), "参训人员导入模板.xlsx")


@bp.get("/trainings/<int:training_id>")
@roles_required(*DISTRICT_STAFF)
def training_detail(training_id: int) -> Any:
    session = get_or_404(TrainingSession, training_id)
    people = services.attendees(session)
    if request.args.get("format") == "xlsx":
        return xlsx_response(
            excel.attendees_workbook(session, people), f"参训人员-{session.held_on}.xlsx"
        )
    picked = [int(i) for i in request.args.getlist("school_ids") if i.isdigit()]
    candidates: list[StaffMember] = []
    if picked and _role() == Role.DISTRICT_ADMIN:
        attending = {p.id for p in people}
        for sid in picked:
            candidates += [p for p in services.list_staff(school_id=sid) if p.id not in attending]
    return _training_page(session, people=people, picked=picked, candidates=candidates)


@bp.post("/trainings/<int:training_id>/attendees")
@roles_required(*ADMIN)
def training_attendees(training_id: int) -> Any:
    session = get_or_404(TrainingSession, training_id)
    if request.args.get("action") == "remove":
        staff_id = request.form.get("staff_id", type=int)
        if staff_id is None or not services.remove_attendee(session, staff_id):
            abort(404)
        flash(_("已移除"), "info")
        return redirect(url_for("staff.training_detail", training_id=session.id))
    ids = [int(i) for i in request.form.getlist("staff_ids") if i.isdigit()]
    if not ids:
        report = excel.AttendeeImportReport(errors=[(0, _("请先勾选参训人员"))])
        return _training_page(session, report), 422
    added = services.add_attendees(session, ids)
    flash(_("已添加 %(n)d 名参训人员", n=added), "success")
    return redirect(url_for("staff.training_detail", training_id=session.id))


@bp.post("/trainings/<int:training_id>/attendees/import")
@roles_required(*ADMIN)
def training_import(training_id: int) -> Any:
    session = get_or_404(TrainingSession, training_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        report = excel.AttendeeImportReport(errors=[(0, _("请选择要导入的 Excel 文件"))])
    else:
        report = excel.import_attendees(session, upload.stream)
    if report.ok:
        flash(
            _("已导入 %(n)d 名参训人员（%(a)d 名已在名单中）", n=report.added, a=report.already),
            "success",
        )
        return redirect(url_for("staff.training_detail", training_id=session.id))
    return _training_page(session, report), 422


def _training_page(
    session: TrainingSession,
    report: excel.AttendeeImportReport | None = None,
    *,
    people: list[StaffMember] | None = None,
    picked: list[int] | None = None,
    candidates: list[StaffMember] | None = None,
) -> str:
    """A training's page: its attendees, the schools' people to add, an import's report."""
    return render_template(
        "staff/training_detail.html",
        session=session,
        people=services.attendees(session) if people is None else people,
        schools=services.school_map(),
        picked=picked or [],
        candidates=candidates or [],
        report=report,
    )


@bp.cli.command("staff-compliance")
@click.option("--on", "on", default=None, help="date (YYYY-MM-DD), default today")
def staff_compliance_command(on: str | None) -> None:
    """Enqueue the staff compliance job (持证与五员制合规) for every district."""
    from district.jobs import commit
    from scoring.staff_jobs import enqueue_all_districts

    if on is not None:
        try:
            date.fromisoformat(on)
        except ValueError as exc:
            raise click.BadParameter("use YYYY-MM-DD", param_hint="--on") from exc
    count = enqueue_all_districts(on)
    commit()
    click.echo(f"staff compliance enqueued for {count} district(s)")


# ====================================== API ===========================================


class CertificateOutSchema(services.CertificateSchema):
    staff_id = fields.Int(dump_only=True)


class TrainingSessionSchema(Schema):
    id = fields.Int()
    held_on = fields.Date()
    topic = fields.Str()
    organiser = fields.Str(allow_none=True)
    hours = fields.Int(allow_none=True)
    location = fields.Str(allow_none=True)
    attendee_count = fields.Int()


class StaffOutSchema(Schema):
    id = fields.Int()
    school_id = fields.Int()
    school_name = fields.Str(allow_none=True)
    name = fields.Str()
    gender = fields.Str(allow_none=True)
    post = fields.Str()
    employment_type = fields.Str()
    start_date = fields.Date(allow_none=True)
    phone = fields.Str(
        attribute="phone_shown",
        allow_none=True,
        metadata={"description": "列表中打码；单人记录中学校和区管理员可见完整号码；督查员不可见"},
    )
    five_roles = fields.List(fields.Str())
    active = fields.Bool()
    note = fields.Str(allow_none=True)
    version = fields.Int()
    is_canteen_staff = fields.Bool()
    health_certificate_valid = fields.Bool()


class TrainingAttendedSchema(Schema):
    id = fields.Int()
    held_on = fields.Date()
    topic = fields.Str()
    organiser = fields.Str(allow_none=True)
    hours = fields.Int(allow_none=True)


class StaffDetailSchema(StaffOutSchema):
    certificates = fields.List(fields.Nested(CertificateOutSchema))
    trainings = fields.List(fields.Nested(TrainingAttendedSchema))


class StaffQuerySchema(Schema):
    school_id = fields.Int()
    post = fields.Str()
    employment_type = fields.Str()
    include_inactive = fields.Bool(load_default=False)
    q = fields.Str()
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Int(load_default=100, validate=validate.Range(min=1, max=500))


class StaffComplianceQuerySchema(Schema):
    school_id = fields.Int()
    on = fields.Date()


class HealthCertificateIssueSchema(Schema):
    staff_id = fields.Int()
    name = fields.Str()
    post = fields.Str()
    reason = fields.Str()
    expired_on = fields.Date(allow_none=True)


class CertificateIssueSchema(Schema):
    staff_id = fields.Int()
    name = fields.Str()
    post = fields.Str()
    kind = fields.Str()
    number = fields.Str()
    expires_on = fields.Date()
    days_left = fields.Int()


def _share_field() -> fields.Decimal:
    return fields.Decimal(places=4, rounding=ROUND_HALF_UP, as_string=True, allow_none=True)


class SchoolStaffComplianceSchema(Schema):
    school_id = fields.Int()
    school_code = fields.Str()
    school_name = fields.Str()
    staff_count = fields.Int()
    canteen_staff = fields.Int()
    canteen_with_health = fields.Int()
    health_share = _share_field()
    has_canteen = fields.Bool()
    missing_health = fields.List(fields.Nested(HealthCertificateIssueSchema))
    expiring = fields.List(fields.Nested(CertificateIssueSchema))
    expired = fields.List(fields.Nested(CertificateIssueSchema))
    unfilled_roles = fields.List(fields.Str())


class StaffComplianceSchema(Schema):
    on = fields.Date()
    schools = fields.List(fields.Nested(SchoolStaffComplianceSchema))


class AttendeeSchema(Schema):
    staff_id = fields.Int(attribute="id")
    name = fields.Str()
    post = fields.Str()
    employment_type = fields.Str()
    school_id = fields.Int()
    school_name = fields.Str(allow_none=True)


class TrainingDetailSchema(TrainingSessionSchema):
    attendees = fields.List(fields.Nested(AttendeeSchema))


class CoverageRowSchema(Schema):
    school_id = fields.Int(allow_none=True)
    school_code = fields.Str()
    school_name = fields.Str()
    operators = fields.Int()
    trained = fields.Int()
    share = _share_field()


class CoverageSchema(Schema):
    year = fields.Int()
    total = fields.Nested(CoverageRowSchema)
    rows = fields.List(fields.Nested(CoverageRowSchema))


class TrainingYearQuerySchema(Schema):
    year = fields.Int(validate=validate.Range(min=2000, max=2100))


def _with_school_names(people: list[StaffMember]) -> list[StaffMember]:
    schools = services.school_map()
    for p in people:
        school = schools.get(p.school_id)
        p.school_name = school.name if school else None  # type: ignore[attr-defined]
    return people


def _detail(staff: StaffMember) -> StaffMember:
    services.present(staff, _role(), single=True)
    _with_school_names([staff])
    staff.trainings = services.trainings_of(staff)  # type: ignore[attr-defined]
    return staff


@blp.route("/staff")
class StaffList(MethodView):
    @roles_required(*READERS)
    @blp.arguments(StaffQuerySchema, location="query")
    @blp.response(200, StaffOutSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """The roster you may see (phones masked; none for inspectors)."""
        page, per_page = args.pop("page"), args.pop("per_page")
        people = services.list_staff(page=page, per_page=per_page, **args)
        for p in people:
            services.present(p, _role(), single=False)
        return _with_school_names(people)

    @roles_required(*WRITERS)
    @blp.arguments(services.StaffSchema)
    @blp.response(201, StaffDetailSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Add a person (school users: to their school; district admin: ``school_id``)."""
        return _detail(services.create_staff(data))


@blp.route("/staff/<int:staff_id>")
class StaffItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, StaffDetailSchema)
    def get(self, staff_id: int) -> Any:
        """One person with certificates and training attended."""
        return _detail(get_or_404(StaffMember, staff_id))

    @roles_required(*WRITERS)
    @blp.arguments(services.StaffSchema(partial=True, exclude=("school_id",)))
    @blp.response(200, StaffDetailSchema)
    def patch(self, data: dict[str, Any], staff_id: int) -> Any:
        """Edit or deactivate (``active: false``); send ``version`` to get 409 on a stale copy."""
        return _detail(services.update_staff(get_or_404(StaffMember, staff_id), data))


@blp.route("/staff/<int:staff_id>/certificates")
class StaffCertificates(MethodView):
    @roles_required(*WRITERS)
    @blp.arguments(services.CertificateSchema)
    @blp.response(201, CertificateOutSchema)
    def post(self, data: dict[str, Any], staff_id: int) -> Any:
        """Add a certificate (健康证, 食品安全培训证, 电工证 …)."""
        return services.add_certificate(get_or_404(StaffMember, staff_id), data)


@blp.route("/certificates/<int:certificate_id>")
class CertificateItem(MethodView):
    @roles_required(*WRITERS)
    @blp.arguments(services.CertificateSchema(partial=True))
    @blp.response(200, CertificateOutSchema)
    def patch(self, data: dict[str, Any], certificate_id: int) -> Any:
        return services.update_certificate(get_or_404(Certificate, certificate_id), data)

    @roles_required(*WRITERS)
    @blp.response(204)
    def delete(self, certificate_id: int) -> None:
        services.delete_certificate(get_or_404(Certificate, certificate_id))


@blp.route("/staff/compliance")
class StaffCompliance(MethodView):
    @roles_required(*READERS)
    @blp.arguments(StaffComplianceQuerySchema, location="query")
    @blp.response(200, StaffComplianceSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Canteen staff without a valid 健康证, certificates expiring within 30 days or
        expired, unfilled five-role positions — per school you may see."""
        on = args.get("on") or date.today()
        school_id = args.get("school_id")
        if school_id is not None:
            get_or_404(School, school_id)
        return {"on": on, "schools": services.compliance(on, school_id=school_id)}


@blp.route("/trainings")
class Trainings(MethodView):
    @roles_required(*DISTRICT_STAFF)
    @blp.arguments(TrainingYearQuerySchema, location="query")
    @blp.response(200, TrainingSessionSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Training sessions (培训) of the district."""
        out = []
        for session, count in services.list_trainings(args.get("year")):
            session.attendee_count = count  # type: ignore[attr-defined]
            out.append(session)
        return out

    @roles_required(*ADMIN)
    @blp.arguments(services.TrainingSchema)
    @blp.response(201, TrainingSessionSchema)
    def post(self, data: dict[str, Any]) -> Any:
        session = services.create_training(data)
        session.attendee_count = 0  # type: ignore[attr-defined]
        return session


@blp.route("/trainings/coverage")
class TrainingCoverage(MethodView):
    @roles_required(*DISTRICT_STAFF)
    @blp.arguments(TrainingYearQuerySchema, location="query")
    @blp.response(200, CoverageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Share of canteen operators (食堂操作员) trained in the year, per school and overall."""
        return services.coverage(args.get("year") or date.today().year)


def _training_detail(session: TrainingSession) -> TrainingSession:
    people = _with_school_names(services.attendees(session))
    session.attendees = people  # type: ignore[attr-defined]
    session.attendee_count = len(people)  # type: ignore[attr-defined]
    return session


@blp.route("/trainings/<int:training_id>")
class TrainingItem(MethodView):
    @roles_required(*DISTRICT_STAFF)
    @blp.response(200, TrainingDetailSchema)
    def get(self, training_id: int) -> Any:
        return _training_detail(get_or_404(TrainingSession, training_id))


@blp.route("/trainings/<int:training_id>/attendees")
class TrainingAttendees(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(services.AttendeesSchema)
    @blp.response(200, TrainingDetailSchema)
    def post(self, data: dict[str, Any], training_id: int) -> Any:
        """Record attendance of people from any school of the district."""
        session = get_or_404(TrainingSession, training_id)
        services.add_attendees(session, data["staff_ids"])
        return _training_detail(session)
