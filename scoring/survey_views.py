"""Pages and API: satisfaction surveys (民主评议) and complaints (投诉).

Two public, login-free pages live here too: ``/s/<token>`` (answer a survey) and
``/c/<public_token>`` (file a complaint). They have no principal, so each resolves its
link with a named :func:`unscoped` lookup and then does everything else inside the
scope of the one school the link belongs to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError
from sqlalchemy import select

from district.exports import table_workbook, xlsx_response
from district.extensions import csrf, db, limiter
from district.forms import parse_form
from district.nav import register_nav
from scoring import complaints as cs
from scoring import surveys as ss
from scoring.models import Complaint, Survey, SurveyToken
from tenants.auth import roles_required
from tenants.models import Role, School
from tenants.scope import Scope, unscoped, use_scope
from tenants.services import get_or_404

bp = Blueprint("surveys", __name__)
blp = ApiBlueprint("api_surveys", __name__, url_prefix="/api/v1", description="民主评议与投诉")

ADMIN = (Role.DISTRICT_ADMIN,)
READERS = (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER, Role.SCHOOL_HEAD)
LINK_MAKERS = (Role.DISTRICT_ADMIN, Role.SCHOOL_HEAD)

register_nav("民主评议", "surveys.index", READERS, order=40)
register_nav("投诉", "surveys.complaints", READERS, order=41)


def _public_post_limit() -> str:
    return current_app.config.get("PUBLIC_FORM_RATE_LIMIT", "20 per minute")


def _public_get_limit() -> str:
    return current_app.config.get("PUBLIC_PAGE_RATE_LIMIT", "120 per minute")


def local_time(value: datetime | None) -> str:
    """A stored (naive UTC) time as the district's wall-clock time."""
    if value is None:
        return ""
    tz = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")
    local = value.replace(tzinfo=ZoneInfo("UTC")).astimezone(tz)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


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


def _is_district() -> bool:
    return current_user.role in (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER)


def _token_url(token: str) -> str:
    return url_for("surveys.answer", token=token, _external=True)


# --- surveys: pages -----------------------------------------------------------------------


@bp.get("/surveys")
@roles_required(*READERS)
def index() -> Any:
    return render_template("surveys/index.html", surveys=ss.list_surveys())


def _survey_form_data() -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for key in ("title", "school_year", "term"):
        value = request.form.get(key, "").strip()
        if value:
            raw[key] = value
    lines = [q.strip() for q in request.form.get("questions", "").splitlines() if q.strip()]
    raw["questions"] = lines
    return raw


@bp.route("/surveys/new", methods=["GET", "POST"])
@roles_required(*ADMIN)
def new() -> Any:
    semester = ss.current_semester()
    form: dict[str, Any] = {
        "title": f"{ss.semester_label(semester.school_year, semester.term)}后勤工作民主评议",
        "school_year": semester.school_year,
        "term": semester.term,
        "questions": list(ss.DEFAULT_QUESTIONS),
    }
    errors: dict[str, Any] = {}
    if request.method == "POST":
        raw = _survey_form_data()
        form.update(raw)
        try:
            survey = ss.create_survey(ss.SurveySchema().load(raw))
        except ValidationError as err:
            errors = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
        else:
            flash(_("民主评议已开始，请为各校生成答卷链接"), "success")
            return redirect(url_for("surveys.detail", survey_id=survey.id))
    return render_template("surveys/new.html", form=form, errors=errors), (422 if errors else 200)


@bp.get("/surveys/<int:survey_id>")
@roles_required(*READERS)
def detail(survey_id: int) -> Any:
    survey = get_or_404(Survey, survey_id)
    return render_template(
        "surveys/detail.html", survey=survey, rows=ss.results(survey), errors={}, form={}
    )


@bp.post("/surveys/<int:survey_id>/tokens")
@roles_required(*LINK_MAKERS)
def tokens(survey_id: int) -> Any:
    survey = get_or_404(Survey, survey_id)
    data, errors = parse_form(ss.SurveyTokenRequestSchema())
    if data is not None:
        school = get_or_404(School, data["school_id"])
        try:
            made = ss.issue_tokens(survey, school, data["group"], data["count"])
        except ValidationError as err:
            errors = err.messages  # type: ignore[assignment]
        else:
            flash(
                _(
                    "已为 %(school)s 生成 %(n)s 个%(group)s链接",
                    school=school.name,
                    n=len(made),
                    group=_(ss.GROUP_LABELS[data["group"]]),
                ),
                "success",
            )
            return redirect(
                url_for(
                    "surveys.links", survey_id=survey.id, school_id=school.id, group=data["group"]
                )
            )
    return render_template(
        "surveys/detail.html",
        survey=survey,
        rows=ss.results(survey),
        errors=errors,
        form=request.form,
    ), 422


@bp.post("/surveys/<int:survey_id>/close")
@roles_required(*ADMIN)
def close(survey_id: int) -> Any:
    survey = get_or_404(Survey, survey_id)
    ss.close_survey(survey)
    flash(_("民主评议已结束，链接不再接受答卷"), "info")
    return redirect(url_for("surveys.detail", survey_id=survey.id))


@bp.get("/surveys/<int:survey_id>/results")
@roles_required(*READERS)
def results(survey_id: int) -> Any:
    survey = get_or_404(Survey, survey_id)
    rows = ss.results(survey)
    comment_school = None
    wanted = request.args.get("school_id", type=int)
    if wanted is not None:
        comment_school = get_or_404(School, wanted)
    elif len(rows) == 1:
        comment_school = rows[0].school
    comments = ss.recent_comments(survey, comment_school.id) if comment_school else []
    return render_template(
        "surveys/results.html",
        survey=survey,
        rows=rows,
        comment_school=comment_school,
        comments=comments,
    )


def _links_data(survey_id: int, school_id: int) -> tuple[Survey, School, list[SurveyToken], str]:
    survey = get_or_404(Survey, survey_id)
    school = get_or_404(School, school_id)
    group = request.args.get("group") or ""
    if group and group not in ss.GROUPS:
        abort(404)
    return survey, school, ss.tokens_of(survey, school.id, group or None), group


@bp.get("/surveys/<int:survey_id>/schools/<int:school_id>/links")
@roles_required(*LINK_MAKERS)
def links(survey_id: int, school_id: int) -> Any:
    """A printable sheet of answer links (unused ones unless ``all=1``)."""
    survey, school, toks, group = _links_data(survey_id, school_id)
    show_all = request.args.get("all") == "1"
    shown = toks if show_all else [t for t in toks if t.used_at is None]
    return render_template(
        "surveys/links.html",
        survey=survey,
        school=school,
        tokens=shown,
        total=len(toks),
        used=sum(1 for t in toks if t.used_at is not None),
        group=group,
        show_all=show_all,
        token_url=_token_url,
    )


@bp.get("/surveys/<int:survey_id>/schools/<int:school_id>/links.xlsx")
@roles_required(*LINK_MAKERS)
def links_xlsx(survey_id: int, school_id: int) -> Any:
    survey, school, toks, group = _links_data(survey_id, school_id)
    rows = (
        (
            school.name,
            ss.GROUP_LABELS[t.group],
            i,
            _token_url(t.token),
            "已使用" if t.used_at is not None else "未使用",
        )
        for i, t in enumerate(toks, 1)
    )
    data = table_workbook("答卷链接", ["学校", "对象", "序号", "链接", "状态"], rows)
    label = ss.GROUP_LABELS.get(group, "全部")
    return xlsx_response(
        data, f"民主评议链接-{school.code}-{survey.school_year}{survey.term}-{label}.xlsx"
    )


# --- surveys: the public answer page -------------------------------------------------------


def _public_message(title: str, message: str, code: int) -> Any:
    if request.is_json:
        return jsonify(code=code, message=message), code
    return render_template("surveys/public_message.html", title=title, message=message), code


def _gone(reason: str) -> Any:
    if reason == "closed":
        return _public_message(_("评议已结束"), _("本次民主评议已经结束，感谢您的关注。"), 410)
    return _public_message(
        _("链接已使用"), _("该链接已经提交过答卷，每个链接只能使用一次。感谢您的参与！"), 410
    )


def _check_public_csrf() -> str | None:
    """Forms carry a CSRF token; a JSON POST cannot be forged cross-site without CORS."""
    if request.is_json:
        return None
    try:
        csrf.protect()
    except CSRFError:
        return _("页面已过期，请重新填写后提交")
    return None


def _answer_payload(n: int) -> dict[str, Any]:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ValidationError({"_schema": ["请求格式有误"]})
        return body
    answers: list[Any] = []
    missing = []
    for i in range(n):
        value = request.form.get(f"q{i}", "").strip()
        if not value:
            missing.append(i)
        answers.append(value)
    if missing:
        raise ValidationError({"answers": {i: ["请选择"] for i in missing}})
    comment = request.form.get("comment", "").strip()
    return {"answers": answers, "comment": comment or None}


@bp.route("/s/<token>", methods=["GET", "POST"])
@limiter.limit(_public_get_limit, methods=["GET"])
@limiter.limit(_public_post_limit, methods=["POST"])
@csrf.exempt
def answer(token: str) -> Any:
    """Answer a survey through a one-use link (no login)."""
    with unscoped("public survey: resolve token"):
        row = db.session.execute(
            select(SurveyToken.id, SurveyToken.district_id, SurveyToken.school_id).where(
                SurveyToken.token == token
            )
        ).first()
    if row is None:
        return _public_message(_("链接无效"), _("找不到该答卷链接，请核对链接是否完整。"), 404)
    with use_scope(Scope.for_schools(row.district_id, {row.school_id})):
        tok = get_or_404(SurveyToken, row.id)
        survey = get_or_404(Survey, tok.survey_id)
        school = get_or_404(School, tok.school_id)
        try:
            ss.check_answerable(tok, survey)
        except ss.TokenGone as gone:
            return _gone(gone.reason)
        errors: dict[str, Any] = {}
        chosen: dict[int, str] = {}
        if request.method == "POST":
            csrf_error = _check_public_csrf()
            if csrf_error:
                errors = {"_": [csrf_error]}
            else:
                try:
                    payload = _answer_payload(len(survey.questions))
                    chosen = dict(enumerate(str(a) for a in payload.get("answers") or []))
                    ss.submit_answer(tok, survey, ss.SurveyAnswerSchema().load(payload))
                except ValidationError as err:
                    errors = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
                except ss.TokenGone as gone:
                    db.session.rollback()
                    return _gone(gone.reason)
                else:
                    if request.is_json:
                        return jsonify(ok=True, message=_("提交成功，感谢您的参与！")), 201
                    return render_template(
                        "surveys/public_message.html",
                        title=_("提交成功"),
                        message=_("您的答卷已匿名提交，感谢您对学校后勤工作的支持！"),
                    )
            if request.is_json:
                return jsonify(code=422, message=_("提交的数据有误"), errors=errors), 422
        return render_template(
            "surveys/answer.html",
            survey=survey,
            school=school,
            group=tok.group,
            errors=errors,
            chosen=chosen,
            comment=request.form.get("comment", ""),
        ), (422 if errors and "_" not in errors else 400 if errors else 200)


# --- complaints: pages -----------------------------------------------------------------------


def _complaint_filters() -> tuple[dict[str, Any], dict[str, Any]]:
    raw = {k: v for k, v in request.args.items() if v and k in cs.ComplaintArgsSchema().fields}
    try:
        return cs.ComplaintArgsSchema().load(raw), {}
    except ValidationError as err:
        return cs.ComplaintArgsSchema().load({}), err.messages  # type: ignore[return-value]


@bp.get("/complaints")
@roles_required(*READERS)
def complaints() -> Any:
    args, errors = _complaint_filters()
    items, total = cs.list_complaints(
        status=args.get("status"),
        school_id=args.get("school_id"),
        month=cs.parse_month(args.get("month")),
        page=args["page"],
        per_page=args["per_page"],
    )
    cs.with_school_names(items)
    schools = (
        list(db.session.scalars(select(School).order_by(School.code))) if _is_district() else []
    )
    return render_template(
        "complaints/list.html",
        complaints=items,
        total=total,
        args=args,
        errors=errors,
        schools=schools,
        counts=cs.counts_by_status(),
        programmes=cs.programme_names(),
        show_contact=cs.may_see_contact(),
    )


@bp.get("/complaints/links")
@roles_required(*LINK_MAKERS)
def complaint_links() -> Any:
    """Each school's public complaint link, to post on notice boards and parents' groups."""
    schools = list(db.session.scalars(select(School).order_by(School.code)))
    return render_template(
        "complaints/links.html",
        schools=schools,
        link=lambda s: url_for(
            "surveys.file_complaint", public_token=s.public_token, _external=True
        ),
    )


@bp.get("/complaints/<int:complaint_id>")
@roles_required(*READERS)
def complaint(complaint_id: int) -> Any:
    item = get_or_404(Complaint, complaint_id)
    cs.with_school_names([item])
    return _complaint_page(item, {}, 200)


def _complaint_page(item: Complaint, errors: dict[str, Any], status: int) -> Any:
    return render_template(
        "complaints/detail.html",
        c=item,
        errors=errors,
        history=cs.history(item),
        programmes=cs.programme_names(),
        show_contact=cs.may_see_contact(),
    ), status


@bp.post("/complaints/<int:complaint_id>/verdict")
@roles_required(*ADMIN)
def complaint_verdict(complaint_id: int) -> Any:
    item = get_or_404(Complaint, complaint_id)
    data, errors = parse_form(cs.ComplaintVerdictSchema())
    if data is None:
        cs.with_school_names([item])
        return _complaint_page(item, errors, 422)
    cs.decide(item, data)
    flash(_("已记录调查结论：%(s)s", s=_(cs.STATUS_LABELS[item.status])), "success")
    return redirect(url_for("surveys.complaint", complaint_id=item.id))


# --- complaints: the public filing page -------------------------------------------------------


@bp.route("/c/<public_token>", methods=["GET", "POST"])
@limiter.limit(_public_get_limit, methods=["GET"])
@limiter.limit(_public_post_limit, methods=["POST"])
@csrf.exempt
def file_complaint(public_token: str) -> Any:
    """File a complaint about a school through its public link (no login)."""
    with unscoped("public complaint: resolve the school's public link"):
        row = db.session.execute(
            select(School.id, School.district_id).where(School.public_token == public_token)
        ).first()
    if row is None:
        return _public_message(_("链接无效"), _("找不到该投诉链接，请核对链接是否完整。"), 404)
    with use_scope(Scope.for_schools(row.district_id, {row.id})):
        school = get_or_404(School, row.id)
        programmes = cs.programme_names()
        if request.args.get("done") == "1" and request.method == "GET":
            return render_template(
                "surveys/public_message.html",
                title=_("投诉已受理"),
                message=_("我们已收到您的投诉，区教育局将按“有举必查、查实必究”进行调查。"),
            )
        errors: dict[str, Any] = {}
        if request.method == "POST":
            csrf_error = _check_public_csrf()
            if csrf_error:
                errors = {"_": [csrf_error]}
            else:
                try:
                    if request.is_json:
                        data = cs.ComplaintFileSchema().load(request.get_json(silent=True) or {})
                    else:
                        data, errors = parse_form(cs.ComplaintFileSchema())
                    if data is not None:
                        cs.file_complaint(school, data)
                except ValidationError as err:
                    errors = err.messages if isinstance(err.messages, dict) else {"_": err.messages}
                if not errors:
                    if request.is_json:
                        return jsonify(ok=True, message=_("投诉已受理")), 201
                    return redirect(
                        url_for("surveys.file_complaint", public_token=public_token, done=1)
                    )
            if request.is_json:
                return jsonify(code=422, message=_("提交的数据有误"), errors=errors), 422
        return render_template(
            "complaints/file.html",
            school=school,
            programmes=programmes,
            errors=errors,
            form=request.form,
        ), (422 if errors and "_" not in errors else 400 if errors else 200)


# --- API ------------------------------------------------------------------------------------------


@blp.route("/surveys")
class Surveys(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ss.SurveySchema(many=True))
    def get(self) -> Any:
        """Satisfaction surveys (民主评议) of the district."""
        return ss.list_surveys()

    @roles_required(*ADMIN)
    @blp.arguments(ss.SurveySchema)
    @blp.response(201, ss.SurveySchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Open a survey for a semester (school_year = the September it starts in)."""
        return ss.create_survey(data)


@blp.route("/surveys/<int:survey_id>")
class SurveyItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ss.SurveySchema)
    def get(self, survey_id: int) -> Any:
        return get_or_404(Survey, survey_id)


@blp.route("/surveys/<int:survey_id>/close")
class SurveyClose(MethodView):
    @roles_required(*ADMIN)
    @blp.response(200, ss.SurveySchema)
    def post(self, survey_id: int) -> Any:
        """Close a survey: its links stop accepting answers."""
        return ss.close_survey(get_or_404(Survey, survey_id))


@blp.route("/surveys/<int:survey_id>/tokens")
class SurveyTokens(MethodView):
    @roles_required(*LINK_MAKERS)
    @blp.arguments(ss.SurveyTokenRequestSchema)
    @blp.response(201, ss.SurveyTokenSchema(many=True))
    def post(self, data: dict[str, Any], survey_id: int) -> Any:
        """Create one-use answer links for a school and group (a school head: own school)."""
        survey = get_or_404(Survey, survey_id)
        school = get_or_404(School, data["school_id"])
        made = ss.issue_tokens(survey, school, data["group"], data["count"])
        return [
            {"group": t.group, "token": t.token, "url": _token_url(t.token), "used": False}
            for t in made
        ]


@blp.route("/surveys/<int:survey_id>/results")
class SurveyResults(MethodView):
    @roles_required(*READERS)
    @blp.response(200, ss.SurveyResultsSchema)
    def get(self, survey_id: int) -> Any:
        """Answers, group means (1–5) and satisfaction (0–100) per visible school."""
        return ss.results_payload(get_or_404(Survey, survey_id))


@blp.route("/complaints")
class Complaints(MethodView):
    @roles_required(*READERS)
    @blp.arguments(cs.ComplaintArgsSchema, location="query")
    @blp.response(200, cs.ComplaintSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Complaints (投诉) visible to the caller; contact only for district staff."""
        items, _total = cs.list_complaints(
            status=args.get("status"),
            school_id=args.get("school_id"),
            month=cs.parse_month(args.get("month")),
            page=args["page"],
            per_page=args["per_page"],
        )
        return cs.with_school_names(items)


@blp.route("/complaints/<int:complaint_id>")
class ComplaintItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, cs.ComplaintSchema)
    def get(self, complaint_id: int) -> Any:
        return cs.with_school_names([get_or_404(Complaint, complaint_id)])[0]


@blp.route("/complaints/<int:complaint_id>/verdict")
class ComplaintVerdict(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(cs.ComplaintVerdictSchema)
    @blp.response(200, cs.ComplaintSchema)
    def post(self, data: dict[str, Any], complaint_id: int) -> Any:
        """Mark verified (查实) or unfounded (不实) with a note; send ``version`` (409 if stale)."""
        item = get_or_404(Complaint, complaint_id)
        return cs.with_school_names([cs.decide(item, data)])[0]
