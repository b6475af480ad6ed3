"""Award pages and API: rules, draft ranking with reasons, 公示, objections, finalisation."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from dashboards import award_service as svc
from dashboards.models import AwardList, AwardObjection, AwardYear
from district.exports import table_workbook, xlsx_response
from district.extensions import db
from district.forms import parse_form
from district.nav import register_nav
from tenants.auth import ANY_TENANT_USER, roles_required
from tenants.models import Role
from tenants.services import get_or_404

bp = Blueprint("awards", __name__)
blp = ApiBlueprint("api_awards", __name__, url_prefix="/api/v1", description="表彰与公示")

ADMIN = (Role.DISTRICT_ADMIN,)
register_nav("表彰", "awards.index", ANY_TENANT_USER, order=40)


def current_school_year(today: date | None = None) -> int:
    today = today or date.today()
    return today.year if today.month >= 9 else today.year - 1


class AwardYearSchema(Schema):
    school_year = fields.Int(dump_only=True)
    total_units = fields.Int(validate=validate.Range(min=0, max=10000))
    total_individuals = fields.Int(validate=validate.Range(min=0, max=100000))
    max_late_self_assessments = fields.Int(validate=validate.Range(min=0, max=100))
    min_inspector_visits = fields.Int(validate=validate.Range(min=0, max=100))
    require_no_veto = fields.Bool()
    notice_working_days = fields.Int(validate=validate.Range(min=1, max=60))
    evaluation_round_id = fields.Int(
        allow_none=True, metadata={"description": "先进个人取自该业绩评价轮次"}
    )
    version = fields.Int()


class AwardListSchema(Schema):
    id = fields.Int()
    kind = fields.Str()
    status = fields.Str()
    status_label = fields.Str()
    snapshot = fields.Dict()
    checksum = fields.Str(allow_none=True)
    computed_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    notice_ends_on = fields.Date(allow_none=True)
    finalised_at = fields.DateTime(allow_none=True)
    drifted = fields.Method("_drifted")
    intact = fields.Method("_intact")

    def _drifted(self, lst: AwardList) -> bool:
        return svc.drifted(lst) if lst.status == AwardList.FINALISED else False

    def _intact(self, lst: AwardList) -> bool:
        return svc.verify(lst)


class ObjectionSchema(Schema):
    id = fields.Int(dump_only=True)
    content = fields.Str(required=True, validate=validate.Length(min=2, max=2000))
    status = fields.Str(dump_only=True)
    resolution = fields.Str(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class ResolveSchema(Schema):
    resolution = fields.Str(required=True, validate=validate.Length(min=2, max=2000))


class FinaliseSchema(Schema):
    early_reason = fields.Str(validate=validate.Length(max=500))


class YearArgs(Schema):
    school_year = fields.Int(validate=validate.Range(min=2000, max=2100))


def _visible(lst: AwardList) -> AwardList:
    """Schools and inspectors see a list only once the district has published it."""
    if (
        current_user.role not in (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER)
        and lst.status == AwardList.DRAFT
    ):
        abort(404)
    return lst


def _list_or_404(list_id: int) -> AwardList:
    return _visible(get_or_404(AwardList, list_id))


def _year_arg() -> int:
    value = request.args.get("school_year", type=int)
    return value if value and 2000 <= value <= 2100 else current_school_year()


@bp.route("/awards", methods=["GET", "POST"])
@roles_required(*ANY_TENANT_USER)
def index() -> Any:
    school_year = _year_arg()
    year = db.session.scalar(select(AwardYear).where(AwardYear.school_year == school_year))
    errors: dict[str, Any] = {}
    if request.method == "POST":
        if current_user.role != Role.DISTRICT_ADMIN:
            abort(403)
        data, errors = parse_form(AwardYearSchema(), checkboxes=("require_no_veto",))
        if data is not None:
            year = year or svc.get_or_create_year(school_year)
            svc.update_rules(year, data)
            flash(_("表彰规则已保存"), "success")
            return redirect(url_for("awards.index", school_year=school_year))
    lists = []
    if year is not None:
        lists = [
            lst
            for lst in year.lists
            if current_user.role in (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER)
            or lst.status != AwardList.DRAFT
        ]
    from scoring.evaluation_models import EvaluationRound

    rounds = db.session.scalars(select(EvaluationRound).order_by(EvaluationRound.id.desc())).all()
    return render_template(
        "awards/index.html",
        year=year,
        school_year=school_year,
        lists=lists,
        errors=errors,
        rounds=rounds,
    ), (422 if errors else 200)


@bp.post("/awards/compute")
@roles_required(*ADMIN)
def compute() -> Any:
    school_year = _year_arg()
    year = svc.get_or_create_year(school_year)
    lst = svc.draft_units(year)
    flash(_("已按当前成绩生成先进单位草稿名单"), "success")
    return redirect(url_for("awards.list_page", list_id=lst.id))


@bp.post("/awards/compute-individuals")
@roles_required(*ADMIN)
def compute_individuals() -> Any:
    year = svc.get_or_create_year(_year_arg())
    lst = svc.draft_individuals(year)
    flash(_("已按业绩评价结果生成先进个人草稿名单"), "success")
    return redirect(url_for("awards.list_page", list_id=lst.id))


@bp.get("/awards/lists/<int:list_id>")
@roles_required(*ANY_TENANT_USER)
def list_page(list_id: int) -> Any:
    lst = _list_or_404(list_id)
    drift = lst.status == AwardList.FINALISED and svc.drifted(lst)
    mine = None
    if current_user.school_id:
        mine = next(
            (e for e in lst.snapshot["entries"] if e["school_id"] == current_user.school_id), None
        )
    return render_template(
        "awards/list.html",
        lst=lst,
        drift=drift,
        intact=svc.verify(lst),
        mine=mine,
        today=date.today(),
        is_admin=current_user.role == Role.DISTRICT_ADMIN,
        is_district=current_user.role in (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER),
    )


@bp.post("/awards/lists/<int:list_id>/publish")
@roles_required(*ADMIN)
def publish(list_id: int) -> Any:
    svc.publish(get_or_404(AwardList, list_id))
    flash(_("名单已公示"), "success")
    return redirect(url_for("awards.list_page", list_id=list_id))


@bp.post("/awards/lists/<int:list_id>/objections")
@roles_required(*ANY_TENANT_USER)
def object_to(list_id: int) -> Any:
    lst = _list_or_404(list_id)
    data, errors = parse_form(ObjectionSchema())
    if data is None:
        return render_template("error.html", code=422, message="请填写异议内容", errors=errors), 422
    svc.object_to(lst, data["content"], school_id=current_user.school_id, user_id=current_user.id)
    flash(_("异议已提交，区教育局将在公示期内答复"), "success")
    return redirect(url_for("awards.list_page", list_id=list_id))


@bp.post("/awards/objections/<int:objection_id>/resolve")
@roles_required(*ADMIN)
def resolve(objection_id: int) -> Any:
    obj = get_or_404(AwardObjection, objection_id)
    data, errors = parse_form(ResolveSchema())
    if data is None:
        return render_template("error.html", code=422, message="请填写处理意见", errors=errors), 422
    svc.resolve(obj, data["resolution"], user_id=current_user.id)
    flash(_("异议已处理"), "success")
    return redirect(url_for("awards.list_page", list_id=obj.award_list_id))


@bp.post("/awards/lists/<int:list_id>/finalise")
@roles_required(*ADMIN)
def finalise(list_id: int) -> Any:
    lst = get_or_404(AwardList, list_id)
    data, errors = parse_form(FinaliseSchema())
    if data is None:
        return render_template("error.html", code=422, message="提交有误", errors=errors), 422
    svc.finalise(lst, user_id=current_user.id, early_reason=data.get("early_reason") or None)
    flash(_("名单已定稿并生成校验码"), "success")
    return redirect(url_for("awards.list_page", list_id=list_id))


def list_table(lst: AwardList) -> tuple[list[str], list[list[Any]]]:
    if lst.kind == AwardList.INDIVIDUALS:
        rows = [
            [e["school"], e["name"], e["score"], "先进个人" if e["awarded"] else ""]
            for e in sorted(
                lst.snapshot["entries"], key=lambda e: (e["school"], -float(e["score"]))
            )
        ]
        return ["学校", "姓名", "得分", "结果"], rows
    header = [
        "名次",
        "类别内顺序",
        "学校",
        "类别",
        "年度得分",
        "督查平均分",
        "督查次数",
        "自评逾期",
        "查实投诉",
        "满意度",
        "结果",
        "说明",
    ]
    rows = []
    for e in sorted(
        lst.snapshot["entries"], key=lambda e: (e["category"], e["order"] or 10**6, e["name"])
    ):
        rows.append(
            [
                e["display_rank"],
                e["order"],
                e["name"],
                e["category"],
                e["year_score"],
                e["inspector_average"],
                e["inspector_visits"],
                e["late_self_assessments"],
                e["verified_complaints"],
                e["satisfaction"],
                "先进单位" if e["awarded"] else ("不符合条件" if not e["eligible"] else ""),
                "；".join(e["explain"]),
            ]
        )
    return header, rows


@bp.get("/awards/lists/<int:list_id>/export.xlsx")
@roles_required(*ANY_TENANT_USER)
def export(list_id: int) -> Any:
    lst = _list_or_404(list_id)
    header, rows = list_table(lst)
    year = lst.award_year.school_year
    return xlsx_response(
        table_workbook("先进单位", header, rows), f"{year}学年先进单位名单_{lst.status_label}.xlsx"
    )


@bp.get("/awards/lists/<int:list_id>/certificates.pdf")
@roles_required(*ANY_TENANT_USER)
def certificates(list_id: int) -> Any:
    """奖状: one page per awarded unit, once the list is public."""
    from flask import Response

    from dashboards.bulletin import render_certificates
    from tenants.models import District

    lst = _list_or_404(list_id)
    if lst.status == AwardList.DRAFT:
        abort(409, description=_("草稿名单不能打印奖状"))
    year = lst.award_year.school_year
    district = db.session.scalar(select(District))
    honour = "先进个人" if lst.kind == AwardList.INDIVIDUALS else "先进单位"
    names = [
        (f"{e['school']} {e['name']}" if lst.kind == AwardList.INDIVIDUALS else e["name"], honour)
        for e in lst.snapshot["entries"]
        if e["awarded"]
    ]
    when = (lst.finalised_at or lst.published_at).strftime("%Y年%m月%d日")
    pdf = render_certificates(
        names, f"{year}—{year + 1}学年学校后勤工作先进单位", district.name if district else "", when
    )
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = "attachment; filename=certificates.pdf"
    return resp


# --- API --------------------------------------------------------------------------


@blp.route("/awards")
class AwardYearApi(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.arguments(YearArgs, location="query")
    @blp.response(200, AwardYearSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The year's award rules (defaults until the district saves its own)."""
        school_year = args.get("school_year") or current_school_year()
        year = db.session.scalar(select(AwardYear).where(AwardYear.school_year == school_year))
        return year or AwardYear(
            school_year=school_year,
            total_units=16,
            total_individuals=0,
            max_late_self_assessments=1,
            min_inspector_visits=2,
            require_no_veto=True,
            notice_working_days=5,
            version=0,
        )

    @roles_required(*ADMIN)
    @blp.arguments(YearArgs, location="query")
    @blp.arguments(AwardYearSchema)
    @blp.response(200, AwardYearSchema)
    def put(self, args: dict[str, Any], data: dict[str, Any]) -> Any:
        """Set the year's rules: totals, eligibility, notice period."""
        year = svc.get_or_create_year(args.get("school_year") or current_school_year())
        return svc.update_rules(year, data)


@blp.route("/awards/lists")
class AwardListsApi(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.arguments(YearArgs, location="query")
    @blp.response(200, AwardListSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        school_year = args.get("school_year") or current_school_year()
        stmt = (
            select(AwardList)
            .join(AwardYear)
            .where(AwardYear.school_year == school_year)
            .order_by(AwardList.id)
        )
        rows = db.session.scalars(stmt).all()
        if current_user.role not in (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER):
            rows = [r for r in rows if r.status != AwardList.DRAFT]
        return rows

    @roles_required(*ADMIN)
    @blp.arguments(YearArgs, location="query")
    @blp.response(201, AwardListSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Compute a new 先进单位 draft from the current results."""
        return svc.draft_units(
            svc.get_or_create_year(args.get("school_year") or current_school_year())
        )


@blp.route("/awards/lists/individuals")
class IndividualListsApi(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(YearArgs, location="query")
    @blp.response(201, AwardListSchema)
    def post(self, args: dict[str, Any]) -> Any:
        """Compute a new 先进个人 draft from the chosen evaluation round."""
        return svc.draft_individuals(
            svc.get_or_create_year(args.get("school_year") or current_school_year())
        )


@blp.route("/awards/lists/<int:list_id>")
class AwardListApi(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, AwardListSchema)
    def get(self, list_id: int) -> Any:
        return _list_or_404(list_id)


@blp.route("/awards/lists/<int:list_id>/publish")
class PublishApi(MethodView):
    @roles_required(*ADMIN)
    @blp.response(200, AwardListSchema)
    def post(self, list_id: int) -> Any:
        return svc.publish(get_or_404(AwardList, list_id))


@blp.route("/awards/lists/<int:list_id>/objections")
class ObjectionsApi(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, ObjectionSchema(many=True))
    def get(self, list_id: int) -> Any:
        lst = _list_or_404(list_id)
        if current_user.role in (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER):
            return lst.objections
        return [o for o in lst.objections if o.raised_by == current_user.id]

    @roles_required(*ANY_TENANT_USER)
    @blp.arguments(ObjectionSchema)
    @blp.response(201, ObjectionSchema)
    def post(self, data: dict[str, Any], list_id: int) -> Any:
        return svc.object_to(
            _list_or_404(list_id),
            data["content"],
            school_id=current_user.school_id,
            user_id=current_user.id,
        )


@blp.route("/awards/objections/<int:objection_id>/resolve")
class ResolveApi(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(ResolveSchema)
    @blp.response(200, ObjectionSchema)
    def post(self, data: dict[str, Any], objection_id: int) -> Any:
        return svc.resolve(
            get_or_404(AwardObjection, objection_id), data["resolution"], user_id=current_user.id
        )


@blp.route("/awards/lists/<int:list_id>/finalise")
class FinaliseApi(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(FinaliseSchema)
    @blp.response(200, AwardListSchema)
    def post(self, data: dict[str, Any], list_id: int) -> Any:
        """Freeze the list into an immutable snapshot with a checksum."""
        return svc.finalise(
            get_or_404(AwardList, list_id),
            user_id=current_user.id,
            early_reason=data.get("early_reason"),
        )
