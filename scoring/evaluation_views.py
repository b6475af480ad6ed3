"""Pages and API: staff performance evaluation (后勤人员工作业绩评价).

Plans and rounds (district admin), the school's evaluation page (ratings from every
rater group, anonymous links, vetoes, review and submission with the 优秀 quota), the
district comparison (raw and normalised scores, distribution per school, the 先进个人
pool with an Excel export), and the public anonymous rating page /e/<token>.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import ValidationError
from sqlalchemy import select

from district.exports import table_workbook, xlsx_response
from district.extensions import db, limiter
from district.nav import register_nav
from scoring import evaluation as ev
from scoring.evaluation_models import (
    RATER_GROUP_CODES,
    EvaluationPlan,
    EvaluationRound,
    SchoolEvaluation,
)
from scoring.staff_models import EMPLOYMENT_TYPES
from tenants.auth import roles_required
from tenants.models import Role, School
from tenants.scope import scoped_get, use_scope
from tenants.services import get_or_404

bp = Blueprint("evaluation", __name__)
blp = ApiBlueprint(
    "api_evaluation", __name__, url_prefix="/api/v1", description="后勤人员工作业绩评价"
)

ADMIN, VIEWER, HEAD, STAFF = (
    Role.DISTRICT_ADMIN,
    Role.DISTRICT_VIEWER,
    Role.SCHOOL_HEAD,
    Role.SCHOOL_STAFF,
)
DISTRICT = (ADMIN, VIEWER)
SCHOOL = (HEAD, STAFF)
READERS = (ADMIN, VIEWER, HEAD, STAFF)

register_nav("业绩评价", "evaluation.index", READERS, order=40)


def _user() -> Any:
    return current_user._get_current_object()


def _is_district() -> bool:
    return current_user.role in DISTRICT


FIELD_LABELS = {
    "year": "年度",
    "name": "名称",
    "dimensions": "评价维度",
    "rater_groups": "评价主体",
    "grade_bands": "评价等次",
    "excellent_quota": "优秀名额比例",
    "code": "代码",
    "label": "名称",
    "max_points": "满分",
    "criteria": "评价标准",
    "weight": "权重",
    "min_score": "分数线",
    "plan_id": "评价方案",
    "opens_on": "开始日期",
    "closes_on": "结束日期",
    "staff_id": "人员",
    "rater_staff_id": "评价人",
    "group": "评价主体",
    "scores": "评分",
    "grades": "等次",
    "count": "数量",
    "note": "说明",
    "reason": "原因",
    "user_id": "账号",
    "version": "版本",
}


def _messages(errors: Any, prefix: str = "") -> list[str]:
    """Flatten marshmallow's nested messages into readable Chinese lines."""
    out: list[str] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key in ("_schema", "_", "json", "config"):
                label = ""
            elif isinstance(key, int):
                label = f"第 {key + 1} 行"
            else:
                label = FIELD_LABELS.get(str(key), str(key))
            out += _messages(value, f"{prefix}{label}：" if label else prefix)
    elif isinstance(errors, (list, tuple)):
        for value in errors:
            out += _messages(value, prefix)
    else:
        out.append(f"{prefix}{errors}")
    return out


def _own_school() -> School:
    if current_user.school_id is None:
        abort(404)
    return get_or_404(School, current_user.school_id)


# ================================================================= pages: index, plans


@bp.get("/evaluation")
@roles_required(*READERS)
def index() -> Any:
    rounds = ev.list_rounds()
    statuses: dict[int, str] = {}
    if not _is_district():
        statuses = {
            se.round_id: se.status
            for se in db.session.scalars(
                select(SchoolEvaluation).where(SchoolEvaluation.school_id == current_user.school_id)
            )
        }
    plans = ev.list_plans() if _is_district() else []
    return render_template(
        "evaluation/index.html",
        plans=plans,
        rounds=rounds,
        statuses=statuses,
        active_plans=[p for p in plans if p.status == EvaluationPlan.ACTIVE],
        status_labels=ev.STATUS_LABELS,
        plan_labels=ev.PLAN_STATUS_LABELS,
        round_labels=ev.ROUND_STATUS_LABELS,
        errors={},
    )


def _percent_to_share(raw: str) -> str:
    try:
        return format(Decimal(raw) / 100, "f")
    except (InvalidOperation, ValueError):
        return raw


def _plan_from_form(current: dict[str, Any]) -> dict[str, Any]:
    """The plan form's fields → the same nested dict the API takes."""
    form = request.form
    dimensions = []
    for i in range(int(form.get("dimension_rows", "0") or 0)):
        row = {
            "code": form.get(f"dim_code_{i}", "").strip(),
            "label": form.get(f"dim_label_{i}", "").strip(),
            "max_points": form.get(f"dim_max_{i}", "").strip(),
            "criteria": form.get(f"dim_criteria_{i}", "").strip(),
        }
        if any(row.values()):
            dimensions.append(row)
    groups = []
    for code in RATER_GROUP_CODES:
        weight = form.get(f"group_weight_{code}", "").strip()
        if weight:
            groups.append(
                {
                    "code": code,
                    "label": form.get(f"group_label_{code}", "").strip()
                    or ev.GROUP_LABELS.get(code, code),
                    "weight": _percent_to_share(weight),
                }
            )
    bands = []
    for i, band in enumerate(current.get("grade_bands", [])):
        bands.append(
            {
                "code": band["code"],
                "label": form.get(f"band_label_{i}", "").strip(),
                "min_score": form.get(f"band_min_{i}", "").strip(),
            }
        )
    return {
        "dimensions": dimensions,
        "rater_groups": groups,
        "grade_bands": bands,
        "excellent_quota": _percent_to_share(form.get("quota_percent", "").strip()),
        "quota_min_one": "quota_min_one" in form,
        "excellent_grade": current.get("excellent_grade", "excellent"),
        "veto_grade": current.get("veto_grade", "unqualified"),
        "health_certificate_required": "health_certificate_required" in form,
        "tie_break_groups": [
            g for g in current.get("tie_break_groups", []) if form.get(f"group_weight_{g}")
        ],
    }


def _plan_page(plan: EvaluationPlan | None) -> Any:
    config = plan.config if plan is not None else ev.default_config()
    errors: list[str] = []
    form_config = config
    if request.method == "POST":
        if current_user.role != ADMIN:
            abort(403)
        form_config = _plan_from_form(config)
        raw = {
            "year": request.form.get("year", "").strip(),
            "name": request.form.get("name", "").strip(),
            "config": form_config,
        }
        try:
            if plan is None:
                data = ev.PlanSchema().load(raw)
                plan = ev.create_plan(data)
            else:
                raw["version"] = request.form.get("version", "")
                data = ev.PlanUpdateSchema().load(raw)
                ev.update_plan(plan, data)
        except ValidationError as err:
            errors = _messages(err.messages)
            db.session.rollback()
        else:
            flash(_("评价方案已保存"), "success")
            return redirect(url_for("evaluation.plan_edit", plan_id=plan.id))
    return render_template(
        "evaluation/plan_form.html",
        plan=plan,
        config=form_config,
        groups=RATER_GROUP_CODES,
        group_labels=ev.GROUP_LABELS,
        in_use=plan is not None and ev.plan_in_use(plan),
        errors=errors,
        form=request.form if request.method == "POST" else None,
    ), (422 if errors else 200)


@bp.route("/evaluation/plans/new", methods=["GET", "POST"])
@roles_required(ADMIN)
def plan_new() -> Any:
    return _plan_page(None)


@bp.route("/evaluation/plans/<int:plan_id>", methods=["GET", "POST"])
@roles_required(*DISTRICT)
def plan_edit(plan_id: int) -> Any:
    return _plan_page(get_or_404(EvaluationPlan, plan_id))


@bp.post("/evaluation/plans/<int:plan_id>/activate")
@roles_required(ADMIN)
def plan_activate(plan_id: int) -> Any:
    plan = get_or_404(EvaluationPlan, plan_id)
    ev.activate_plan(plan)
    flash(_("方案已启用"), "success")
    return redirect(url_for("evaluation.index"))


# ========================================================================= pages: rounds


@bp.post("/evaluation/rounds")
@roles_required(ADMIN)
def round_new() -> Any:
    raw = {k: request.form.get(k, "").strip() for k in ("plan_id", "name", "opens_on", "closes_on")}
    try:
        rnd = ev.create_round(ev.RoundSchema().load({k: v for k, v in raw.items() if v}))
    except ValidationError as err:
        db.session.rollback()
        plans = ev.list_plans()
        return render_template(
            "evaluation/index.html",
            plans=plans,
            rounds=ev.list_rounds(),
            statuses={},
            active_plans=[p for p in plans if p.status == EvaluationPlan.ACTIVE],
            status_labels=ev.STATUS_LABELS,
            plan_labels=ev.PLAN_STATUS_LABELS,
            round_labels=ev.ROUND_STATUS_LABELS,
            errors=_messages(err.messages),
            form=request.form,
        ), 422
    flash(_("评价轮次已开启"), "success")
    return redirect(url_for("evaluation.round_page", round_id=rnd.id))


@bp.get("/evaluation/rounds/<int:round_id>")
@roles_required(*READERS)
def round_page(round_id: int) -> Any:
    rnd = ev.get_or_404_round(round_id)
    if not _is_district():
        return _school_page(rnd, _own_school())
    return render_template(
        "evaluation/round.html",
        round=rnd,
        rows=ev.round_overview(rnd),
        status_labels=ev.STATUS_LABELS,
        round_labels=ev.ROUND_STATUS_LABELS,
    )


@bp.post("/evaluation/rounds/<int:round_id>/close")
@roles_required(ADMIN)
def round_close(round_id: int) -> Any:
    rnd = ev.get_or_404_round(round_id)
    try:
        ev.close_round(rnd)
    except ValidationError as err:
        db.session.rollback()
        flash("；".join(_messages(err.messages)), "error")
    else:
        flash(_("评价轮次已结束"), "success")
    return redirect(url_for("evaluation.round_page", round_id=round_id))


@bp.get("/evaluation/rounds/<int:round_id>/schools/<int:school_id>")
@roles_required(*DISTRICT)
def school_detail(round_id: int, school_id: int) -> Any:
    rnd = ev.get_or_404_round(round_id)
    return _school_page(rnd, get_or_404(School, school_id))


def _school_page(
    rnd: EvaluationRound, school: School, errors: list[str] | None = None, status: int = 200
) -> Any:
    view = ev.school_view(rnd, school)
    users = ev.school_users(school.id) if current_user.role == HEAD else []
    return render_template(
        "evaluation/school.html",
        view=view,
        errors=errors or [],
        status_labels=ev.STATUS_LABELS,
        group_labels=ev.GROUP_LABELS,
        users=users,
        form=request.form if request.method == "POST" else None,
    ), status


def _school_action(round_id: int, action: Any, success_url: str | None = None) -> Any:
    """Run a school-page action; on a refusal show the page again with the messages."""
    rnd = ev.get_or_404_round(round_id)
    school = _own_school() if not _is_district() else None
    try:
        message = action(rnd, school)
    except ValidationError as err:
        db.session.rollback()
        rnd = ev.get_or_404_round(round_id)
        if school is None:
            school_id = request.form.get("school_id", type=int)
            school = get_or_404(School, school_id)
        else:
            school = _own_school()
        return _school_page(rnd, school, _messages(err.messages), 422)
    flash(message, "success")
    if success_url:
        return redirect(success_url)
    school_id = request.form.get("school_id", type=int)
    if school is None and school_id:
        return redirect(url_for("evaluation.school_detail", round_id=round_id, school_id=school_id))
    return redirect(url_for("evaluation.round_page", round_id=round_id))


def _form_int(name: str) -> int | str | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    return int(raw) if raw.isdigit() else raw


@bp.route("/evaluation/rounds/<int:round_id>/rate", methods=["GET", "POST"])
@roles_required(*SCHOOL)
def rate(round_id: int) -> Any:
    rnd = ev.get_or_404_round(round_id)
    school = _own_school()
    view = ev.school_view(rnd, school)
    errors: list[str] = []
    staff_id = request.values.get("staff_id", type=int)
    if request.method == "POST":
        raw = {
            "staff_id": _form_int("staff_id"),
            "group": request.form.get("group", "").strip(),
            "scores": {
                d.code: request.form.get(f"score_{d.code}", "").strip()
                for d in view.plan.dimensions
            },
            "rater_staff_id": _form_int("rater_staff_id"),
        }
        raw = {k: v for k, v in raw.items() if v not in (None, "")}
        try:
            ev.record_rating(rnd, _user(), ev.RatingSchema().load(raw))
        except ValidationError as err:
            db.session.rollback()
            errors = _messages(err.messages)
            rnd = ev.get_or_404_round(round_id)
            view = ev.school_view(rnd, _own_school())
        else:
            flash(_("评分已保存"), "success")
            return redirect(url_for("evaluation.rate", round_id=round_id, staff_id=staff_id))
    groups = [g for g in view.plan.rater_groups if g.code != "served"]
    if current_user.role != HEAD:
        groups = [g for g in groups if g.code != "leadership"]
    return render_template(
        "evaluation/rate.html",
        view=view,
        staff_id=staff_id,
        groups=groups,
        criteria={d["code"]: d.get("criteria", "") for d in rnd.plan.config["dimensions"]},
        errors=errors,
        form=request.form if request.method == "POST" else None,
    ), (422 if errors else 200)


@bp.post("/evaluation/rounds/<int:round_id>/tokens")
@roles_required(*SCHOOL)
def tokens(round_id: int) -> Any:
    def act(rnd: EvaluationRound, _school: School | None) -> str:
        raw = {"staff_id": _form_int("staff_id"), "count": _form_int("count") or 1}
        data = ev.TokenRequestSchema().load({k: v for k, v in raw.items() if v is not None})
        made = ev.create_tokens(rnd, data["staff_id"], data["count"])
        return _("已生成 %(n)d 个匿名评价链接", n=len(made))

    return _school_action(round_id, act, url_for("evaluation.links", round_id=round_id))


@bp.get("/evaluation/rounds/<int:round_id>/links")
@roles_required(*SCHOOL)
def links(round_id: int) -> Any:
    rnd = ev.get_or_404_round(round_id)
    school = _own_school()
    return render_template(
        "evaluation/links.html", round=rnd, school=school, rows=ev.unused_tokens(rnd, school.id)
    )


@bp.post("/evaluation/rounds/<int:round_id>/submit")
@roles_required(HEAD)
def submit(round_id: int) -> Any:
    def act(rnd: EvaluationRound, school: School | None) -> str:
        grades = {
            key[len("grade_") :]: value
            for key, value in request.form.items()
            if key.startswith("grade_") and value
        }
        raw = {"grades": grades, "version": _form_int("version")}
        data = ev.SubmitSchema().load({k: v for k, v in raw.items() if v is not None})
        ev.submit(rnd, school, _user(), data["grades"], data["version"])
        return _("本校评价结果已提交")

    return _school_action(round_id, act)


@bp.post("/evaluation/rounds/<int:round_id>/veto")
@roles_required(HEAD, ADMIN)
def veto(round_id: int) -> Any:
    def act(rnd: EvaluationRound, _school: School | None) -> str:
        raw = {
            "staff_id": _form_int("staff_id"),
            "responsible": request.form.get("responsible", "") in ("1", "on", "true"),
            "note": request.form.get("note", "").strip() or None,
        }
        data = ev.VetoSchema().load({k: v for k, v in raw.items() if v is not None})
        ev.set_veto(rnd, _user(), data["staff_id"], data["responsible"], data["note"])
        return _("一票否决责任已记录") if data["responsible"] else _("一票否决责任已撤销")

    return _school_action(round_id, act)


@bp.post("/evaluation/school-evaluations/<int:school_evaluation_id>/return")
@roles_required(ADMIN)
def school_return(school_evaluation_id: int) -> Any:
    se = get_or_404(SchoolEvaluation, school_evaluation_id)
    try:
        data = ev.ReturnSchema().load({"reason": request.form.get("reason", "").strip()})
        ev.return_submission(se, data["reason"])
    except ValidationError as err:
        db.session.rollback()
        flash("；".join(_messages(err.messages)) or _("请填写退回原因"), "error")
    else:
        flash(_("已退回该校评价结果"), "success")
    return redirect(url_for("evaluation.round_page", round_id=se.round_id))


@bp.post("/evaluation/school-evaluations/<int:school_evaluation_id>/accept")
@roles_required(ADMIN)
def school_accept(school_evaluation_id: int) -> Any:
    se = get_or_404(SchoolEvaluation, school_evaluation_id)
    try:
        ev.accept_submission(se)
    except ValidationError as err:
        db.session.rollback()
        flash("；".join(_messages(err.messages)), "error")
    else:
        flash(_("已确认该校评价结果"), "success")
    return redirect(url_for("evaluation.round_page", round_id=se.round_id))


@bp.route("/evaluation/accounts", methods=["GET", "POST"])
@roles_required(HEAD)
def accounts() -> Any:
    school = _own_school()
    errors: list[str] = []
    if request.method == "POST":
        raw = {"user_id": _form_int("user_id"), "staff_id": _form_int("staff_id")}
        try:
            data = ev.RaterLinkSchema().load({k: v for k, v in raw.items() if v is not None})
            ev.set_link(school.id, data["user_id"], data["staff_id"])
        except ValidationError as err:
            db.session.rollback()
            errors = _messages(err.messages)
            school = _own_school()
        else:
            flash(_("账号关联已保存"), "success")
            return redirect(url_for("evaluation.accounts"))
    links = {link.user_id: link.staff_id for link in ev.list_links()}
    return render_template(
        "evaluation/accounts.html",
        users=ev.school_users(school.id),
        staff=ev.active_staff(school.id),
        links=links,
        errors=errors,
    ), (422 if errors else 200)


# ====================================================================== pages: results


@bp.get("/evaluation/rounds/<int:round_id>/results")
@roles_required(*READERS)
def results(round_id: int) -> Any:
    rnd = ev.get_or_404_round(round_id)
    post = request.args.get("post") or None
    employment_type = request.args.get("employment_type") or None
    school_id = request.args.get("school_id", type=int)
    every = ev.round_results(rnd, school_id=school_id)
    rows = [
        r
        for r in every
        if (not post or r.staff.post == post)
        and (not employment_type or r.staff.employment_type == employment_type)
    ]
    if request.args.get("format") == "xlsx":
        header = (
            "学校",
            "姓名",
            "岗位",
            "用工类型",
            "得分",
            "校内名次",
            "校内百分位",
            "校内 z 分数",
            "等次",
        )
        data = table_workbook(
            "评价结果",
            header,
            (
                (
                    r.school.name,
                    r.staff.name,
                    r.staff.post,
                    r.staff.employment_type,
                    float(r.result.rounded),
                    r.result.rank,
                    None if r.result.percentile is None else float(r.result.percentile),
                    None if r.result.z_score is None else float(r.result.z_score),
                    r.grade_label,
                )
                for r in rows
            ),
        )
        return xlsx_response(data, f"{rnd.name}-评价结果.xlsx")
    schools = sorted({r.school.id: r.school for r in every}.values(), key=lambda s: s.code)
    if school_id and not schools:
        schools = [s for s in [scoped_get(School, school_id)] if s is not None]
    return render_template(
        "evaluation/results.html",
        round=rnd,
        rows=rows,
        stats=ev.school_distribution(rnd, rows),
        posts=sorted({r.staff.post for r in every}),
        employment_types=sorted({r.staff.employment_type for r in every} | set(EMPLOYMENT_TYPES)),
        schools=schools,
        post=post,
        employment_type=employment_type,
        school_id=school_id,
        pool_size=len(ev.excellent_pool(rnd.id)) if _is_district() else None,
    )


@bp.get("/evaluation/rounds/<int:round_id>/excellent.xlsx")
@roles_required(*DISTRICT)
def excellent_export(round_id: int) -> Any:
    rnd = ev.get_or_404_round(round_id)
    data = table_workbook("先进个人候选", ev.POOL_HEADER, ev.pool_rows(ev.excellent_pool(rnd.id)))
    return xlsx_response(data, f"{rnd.name}-先进个人候选名单.xlsx")


# ================================================================ public anonymous page


@bp.route("/e/<token>", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
@limiter.limit("120 per minute", methods=["GET"])
def public_rate(token: str) -> Any:
    """服务对象评价: a teacher or student rates one staff member through their link."""
    found = ev.resolve_token(token)
    if found is None:
        abort(404)
    scope, tok = found
    errors: list[str] = []
    done = False
    with use_scope(scope):
        ballot = ev.public_ballot(tok)
        if ballot is None:
            abort(404)
        if request.method == "POST" and not ballot.problem:
            scores = {
                d.code: request.form.get(f"score_{d.code}", "").strip()
                for d in ballot.plan.dimensions
            }
            if not all(scores.values()):
                errors = [_("请为每一项打分后再提交")]
            else:
                try:
                    ev.answer_token(ballot, scores)
                except ValidationError as err:
                    errors = _messages(err.messages)
                else:
                    done = True
        html = render_template(
            "evaluation/public.html",
            ballot=ballot,
            criteria={d["code"]: d.get("criteria", "") for d in ballot.config["dimensions"]},
            errors=errors,
            done=done,
            form=request.form if request.method == "POST" else None,
        )
    return html, (422 if errors else 200)


# ======================================================================== API: helpers


def _dt(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _dec(value: Any) -> str | None:
    return None if value is None else format(Decimal(value).quantize(Decimal("0.01")), "f")


def _se_dict(se: SchoolEvaluation | None, school: School | None = None) -> dict[str, Any] | None:
    if se is None:
        return None
    return {
        "id": se.id,
        "round_id": se.round_id,
        "school_id": se.school_id,
        "school_name": school.name if school is not None else None,
        "status": se.status,
        "status_label": ev.STATUS_LABELS.get(se.status),
        "submitted_at": _dt(se.submitted_at),
        "return_reason": se.return_reason,
        "version": se.version,
    }


def _view_dict(view: ev.SchoolView) -> dict[str, Any]:
    staff = []
    for s in view.staff:
        r = view.results[s.id]
        stored = view.stored.get(s.id)
        issued, used = view.tokens.get(s.id, (0, 0))
        staff.append(
            {
                "staff_id": s.id,
                "name": s.name,
                "post": s.post,
                "employment_type": s.employment_type,
                "is_canteen_staff": s.is_canteen_staff,
                "has_valid_health_certificate": view.health_ok[s.id],
                "ratings": view.counts.get(s.id, {}),
                "tokens": {"issued": issued, "used": used},
                "veto_responsible": bool(stored and stored.veto_responsible),
                "veto_note": stored.veto_note if stored else None,
                "preview": {
                    "evaluated": r.evaluated,
                    "score": _dec(r.rounded),
                    "provisional_grade": r.provisional_grade,
                    "grade": r.grade,
                    "grade_label": r.grade_label,
                    "reasons": [{"code": x.code, "message": x.message} for x in r.reasons],
                    "rank": r.rank,
                    "percentile": _dec(r.percentile),
                    "z_score": _dec(r.z_score),
                    "group_means": {k: _dec(v) for k, v in r.group_means.items()},
                    "groups_missing": list(r.groups_missing),
                    "flagged_missing": r.flagged_missing,
                },
                "stored": None
                if stored is None or stored.computed_at is None
                else {
                    "score": _dec(stored.rounded),
                    "grade": stored.grade,
                    "grade_label": view.grade_label(stored.grade),
                    "rank": stored.rank,
                    "percentile": _dec(stored.percentile),
                    "z_score": _dec(stored.z_score),
                    "reasons": stored.reasons,
                },
            }
        )
    return {
        "round": ev.RoundSchema().dump(view.round),
        "school": {"id": view.school.id, "name": view.school.name},
        "school_evaluation": _se_dict(view.evaluation, view.school),
        "status": view.status,
        "editable": view.editable,
        "quota": {"evaluated": view.evaluated, "excellent_places": view.quota},
        "staff": staff,
    }


def _result_dict(row: ev.ResultRow) -> dict[str, Any]:
    r = row.result
    return {
        "staff_id": row.staff.id,
        "name": row.staff.name,
        "post": row.staff.post,
        "employment_type": row.staff.employment_type,
        "school_id": row.school.id,
        "school_name": row.school.name,
        "score": _dec(r.rounded),
        "rank": r.rank,
        "percentile": _dec(r.percentile),
        "z_score": _dec(r.z_score),
        "grade": r.grade,
        "grade_label": row.grade_label,
        "reasons": r.reasons,
        "groups_missing": r.groups_missing,
        "veto_responsible": r.veto_responsible,
    }


# ========================================================================== API: plans


@blp.route("/evaluation-plans")
class Plans(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ev.PlanSchema(many=True))
    def get(self) -> Any:
        """Evaluation plans (业绩评价方案) of the district, newest year first."""
        return ev.list_plans()

    @roles_required(ADMIN)
    @blp.arguments(ev.PlanSchema)
    @blp.response(201, ev.PlanSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a plan (draft); without ``config`` the district defaults apply."""
        return ev.create_plan(data)


@blp.route("/evaluation-plans/<int:plan_id>")
class PlanItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ev.PlanSchema)
    def get(self, plan_id: int) -> Any:
        return get_or_404(EvaluationPlan, plan_id)

    @roles_required(ADMIN)
    @blp.arguments(ev.PlanUpdateSchema)
    @blp.response(200, ev.PlanSchema)
    def put(self, data: dict[str, Any], plan_id: int) -> Any:
        """Replace a plan's fields; 422 with the engine's Chinese messages if invalid."""
        return ev.update_plan(get_or_404(EvaluationPlan, plan_id), data)


@blp.route("/evaluation-plans/<int:plan_id>/activate")
class PlanActivate(MethodView):
    @roles_required(ADMIN)
    @blp.response(200, ev.PlanSchema)
    def post(self, plan_id: int) -> Any:
        """启用: the plan becomes the year's active plan (rounds can be opened for it)."""
        return ev.activate_plan(get_or_404(EvaluationPlan, plan_id))


# ========================================================================= API: rounds


@blp.route("/evaluation-rounds")
class Rounds(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ev.RoundSchema(many=True))
    def get(self) -> Any:
        return ev.list_rounds()

    @roles_required(ADMIN)
    @blp.arguments(ev.RoundSchema)
    @blp.response(201, ev.RoundSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Open a round for an active plan; every school of the district takes part."""
        return ev.create_round(data)


@blp.route("/evaluation-rounds/<int:round_id>")
class RoundItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ev.RoundSchema)
    def get(self, round_id: int) -> Any:
        return ev.get_or_404_round(round_id)


@blp.route("/evaluation-rounds/<int:round_id>/close")
class RoundClose(MethodView):
    @roles_required(ADMIN)
    @blp.response(200, ev.RoundSchema)
    def post(self, round_id: int) -> Any:
        return ev.close_round(ev.get_or_404_round(round_id))


@blp.route("/evaluation-rounds/<int:round_id>/school")
class RoundSchool(MethodView):
    @roles_required(*READERS)
    def get(self, round_id: int) -> Any:
        """The caller's school in the round (district users: ``?school_id=``): staff,
        ratings collected per group, links issued/used, the engine's preview, stored results."""
        rnd = ev.get_or_404_round(round_id)
        if _is_district():
            school_id = request.args.get("school_id", type=int)
            if school_id is None:
                raise ValidationError({"school_id": ["请指定学校"]})
            school = get_or_404(School, school_id)
        else:
            school = _own_school()
        return _view_dict(ev.school_view(rnd, school))


@blp.route("/evaluation-rounds/<int:round_id>/ratings")
class Ratings(MethodView):
    @roles_required(*SCHOOL)
    @blp.arguments(ev.RatingSchema)
    def post(self, data: dict[str, Any], round_id: int) -> Any:
        """A rating: ``group`` self / leadership (school head) / colleagues (linked account,
        or a paper ballot naming ``rater_staff_id``); ``scores`` per dimension code."""
        rnd = ev.get_or_404_round(round_id)
        rating = ev.record_rating(rnd, _user(), data)
        return {
            "id": rating.id,
            "staff_id": rating.staff_id,
            "group": rating.group,
            "scores": rating.scores,
            "total": _dec(rating.total),
            "rater_user_id": rating.rater_user_id,
            "rater_staff_id": rating.rater_staff_id,
        }, 201


@blp.route("/evaluation-rounds/<int:round_id>/tokens")
class Tokens(MethodView):
    @roles_required(*SCHOOL)
    @blp.arguments(ev.TokenRequestSchema)
    def post(self, data: dict[str, Any], round_id: int) -> Any:
        """Anonymous links for served teachers/students; each answers once."""
        rnd = ev.get_or_404_round(round_id)
        made = ev.create_tokens(rnd, data["staff_id"], data["count"])
        return {
            "staff_id": data["staff_id"],
            "tokens": [
                {
                    "token": t.token,
                    "url": url_for("evaluation.public_rate", token=t.token, _external=True),
                }
                for t in made
            ],
        }, 201


@blp.route("/evaluation-rounds/<int:round_id>/vetoes")
class Vetoes(MethodView):
    @roles_required(HEAD, ADMIN)
    @blp.arguments(ev.VetoSchema)
    def post(self, data: dict[str, Any], round_id: int) -> Any:
        """Record (or lift) a staff member's responsibility for a veto incident, with a note."""
        rnd = ev.get_or_404_round(round_id)
        row = ev.set_veto(rnd, _user(), data["staff_id"], data["responsible"], data["note"])
        return {
            "staff_id": row.staff_id,
            "veto_responsible": row.veto_responsible,
            "veto_note": row.veto_note,
            "grade": row.grade,
        }


@blp.route("/evaluation-rounds/<int:round_id>/submit")
class Submit(MethodView):
    @roles_required(HEAD)
    @blp.arguments(ev.SubmitSchema)
    def post(self, data: dict[str, Any], round_id: int) -> Any:
        """The school head submits; ``grades`` (staff id → grade code) may adjust the
        engine's grades within the score, the vetoes and the 优秀 quota (422 otherwise)."""
        rnd = ev.get_or_404_round(round_id)
        school = _own_school()
        ev.submit(rnd, school, _user(), data["grades"], data["version"])
        return _view_dict(ev.school_view(rnd, school))


@blp.route("/evaluation-rounds/<int:round_id>/results")
class Results(MethodView):
    @roles_required(*READERS)
    @blp.arguments(ev.ResultArgsSchema, location="query")
    def get(self, args: dict[str, Any], round_id: int) -> Any:
        """Submitted results: raw score and the within-school percentile and z-score side by
        side, and the distribution per school (min/median/max/mean) to spot lenient raters."""
        rnd = ev.get_or_404_round(round_id)
        rows = ev.round_results(rnd, **args)
        return {
            "round_id": rnd.id,
            "results": [_result_dict(r) for r in rows],
            "schools": [
                {
                    "school_id": s.school.id,
                    "school_name": s.school.name,
                    "count": s.count,
                    "min": _dec(s.minimum),
                    "median": _dec(s.median),
                    "max": _dec(s.maximum),
                    "mean": _dec(s.mean),
                    "excellent": s.excellent,
                }
                for s in ev.school_distribution(rnd, rows)
            ],
        }


@blp.route("/evaluation-rounds/<int:round_id>/excellent-pool")
class ExcellentPool(MethodView):
    @roles_required(*DISTRICT)
    def get(self, round_id: int) -> Any:
        """Staff graded 优秀: the pool eligible for 先进个人."""
        rnd = ev.get_or_404_round(round_id)
        return {
            "round_id": rnd.id,
            "pool": [
                {
                    "staff_id": e.staff_id,
                    "name": e.name,
                    "school_id": e.school_id,
                    "school_name": e.school_name,
                    "post": e.post,
                    "employment_type": e.employment_type,
                    "score": _dec(e.score),
                    "percentile": _dec(e.percentile),
                    "z_score": _dec(e.z_score),
                }
                for e in ev.excellent_pool(rnd.id)
            ],
        }


@blp.route("/school-evaluations/<int:school_evaluation_id>")
class SchoolEvaluationItem(MethodView):
    @roles_required(*READERS)
    def get(self, school_evaluation_id: int) -> Any:
        se = get_or_404(SchoolEvaluation, school_evaluation_id)
        return _se_dict(se, get_or_404(School, se.school_id))


@blp.route("/school-evaluations/<int:school_evaluation_id>/return")
class SchoolEvaluationReturn(MethodView):
    @roles_required(ADMIN)
    @blp.arguments(ev.ReturnSchema)
    def post(self, data: dict[str, Any], school_evaluation_id: int) -> Any:
        """退回: send a submitted school's results back with a reason."""
        se = get_or_404(SchoolEvaluation, school_evaluation_id)
        ev.return_submission(se, data["reason"])
        return _se_dict(se, get_or_404(School, se.school_id))


@blp.route("/school-evaluations/<int:school_evaluation_id>/accept")
class SchoolEvaluationAccept(MethodView):
    @roles_required(ADMIN)
    def post(self, school_evaluation_id: int) -> Any:
        se = get_or_404(SchoolEvaluation, school_evaluation_id)
        ev.accept_submission(se)
        return _se_dict(se, get_or_404(School, se.school_id))


@blp.route("/evaluation-rater-links")
class RaterLinks(MethodView):
    @roles_required(HEAD)
    def get(self) -> Any:
        """Which school account is which roster member (for rating as oneself)."""
        return [{"user_id": link.user_id, "staff_id": link.staff_id} for link in ev.list_links()]

    @roles_required(HEAD)
    @blp.arguments(ev.RaterLinkSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Link a school account to its roster entry (``staff_id`` null unlinks)."""
        school = _own_school()
        link = ev.set_link(school.id, data["user_id"], data["staff_id"])
        return {"user_id": data["user_id"], "staff_id": link.staff_id if link else None}
