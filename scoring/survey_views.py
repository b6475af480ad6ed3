"""Pages: satisfaction surveys (民主评议) and the two public, login-free pages; the
blueprint ``bp`` (:mod:`scoring.survey_blueprint`), the district's complaint pages
(:mod:`scoring.complaint_views`) and the API ``blp`` (:mod:`scoring.survey_api`) are
re-exported here.

The public pages are ``/s/<token>`` (answer a survey) and ``/c/<public_token>`` (file a
complaint). They have no principal, so each resolves its link with a named
:func:`unscoped` lookup and then does everything else inside the scope of the one school
the link belongs to (helpers in :mod:`scoring.survey_public`).
"""

from __future__ import annotations

from typing import Any

from flask import (
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select

from district.exports import table_workbook, xlsx_response
from district.extensions import csrf, db, limiter
from district.forms import parse_form
from scoring import complaints as cs
from scoring import surveys as ss
from scoring.complaint_views import complaint, complaint_links, complaint_verdict, complaints
from scoring.models import Survey, SurveyToken
from scoring.survey_api import (
    ADMIN,
    LINK_MAKERS,
    READERS,
    ComplaintItem,
    Complaints,
    ComplaintVerdict,
    SurveyClose,
    SurveyItem,
    SurveyResults,
    Surveys,
    SurveyTokens,
    blp,
)
from scoring.survey_blueprint import bp, local_time
from scoring.survey_public import (
    answer_payload,
    check_public_csrf,
    field_errors,
    invalid_json,
    link_gone,
    page_status,
    public_get_limit,
    public_message,
    public_post_limit,
    token_url,
)
from tenants.auth import roles_required
from tenants.models import School
from tenants.scope import Scope, unscoped, use_scope
from tenants.services import get_or_404

__all__ = [
    "ADMIN",
    "LINK_MAKERS",
    "READERS",
    "ComplaintItem",
    "ComplaintVerdict",
    "Complaints",
    "SurveyClose",
    "SurveyItem",
    "SurveyResults",
    "SurveyTokens",
    "Surveys",
    "blp",
    "bp",
    "complaint",
    "complaint_links",
    "complaint_verdict",
    "complaints",
    "local_time",
]

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
            errors = field_errors(err)
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
        token_url=token_url,
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
            token_url(t.token),
            "已使用" if t.used_at is not None else "未使用",
        )
        for i, t in enumerate(toks, 1)
    )
    data = table_workbook("答卷链接", ["学校", "对象", "序号", "链接", "状态"], rows)
    label = ss.GROUP_LABELS.get(group, "全部")
    return xlsx_response(
        data, f"民主评议链接-{school.code}-{survey.school_year}{survey.term}-{label}.xlsx"
    )


@bp.route("/s/<token>", methods=["GET", "POST"])
@limiter.limit(public_get_limit, methods=["GET"])
@limiter.limit(public_post_limit, methods=["POST"])
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
        return public_message(_("链接无效"), _("找不到该答卷链接，请核对链接是否完整。"), 404)
    with use_scope(Scope.for_schools(row.district_id, {row.school_id})):
        tok = get_or_404(SurveyToken, row.id)
        survey = get_or_404(Survey, tok.survey_id)
        school = get_or_404(School, tok.school_id)
        try:
            ss.check_answerable(tok, survey)
        except ss.TokenGone as gone:
            return link_gone(gone.reason)
        errors: dict[str, Any] = {}
        chosen: dict[int, str] = {}
        if request.method == "POST":
            csrf_error = check_public_csrf()
            if csrf_error:
                errors = {"_": [csrf_error]}
            else:
                try:
                    payload = answer_payload(len(survey.questions))
                    chosen = dict(enumerate(str(a) for a in payload.get("answers") or []))
                    ss.submit_answer(tok, survey, ss.SurveyAnswerSchema().load(payload))
                except ValidationError as err:
                    errors = field_errors(err)
                except ss.TokenGone as gone:
                    db.session.rollback()
                    return link_gone(gone.reason)
                else:
                    if request.is_json:
                        return jsonify(ok=True, message=_("提交成功，感谢您的参与！")), 201
                    return render_template(
                        "surveys/public_message.html",
                        title=_("提交成功"),
                        message=_("您的答卷已匿名提交，感谢您对学校后勤工作的支持！"),
                    )
            if request.is_json:
                return invalid_json(errors)
        return render_template(
            "surveys/answer.html",
            survey=survey,
            school=school,
            group=tok.group,
            errors=errors,
            chosen=chosen,
            comment=request.form.get("comment", ""),
        ), page_status(errors)


# --- complaints: the public filing page -------------------------------------------------------


@bp.route("/c/<public_token>", methods=["GET", "POST"])
@limiter.limit(public_get_limit, methods=["GET"])
@limiter.limit(public_post_limit, methods=["POST"])
@csrf.exempt
def file_complaint(public_token: str) -> Any:
    """File a complaint about a school through its public link (no login)."""
    with unscoped("public complaint: resolve the school's public link"):
        row = db.session.execute(
            select(School.id, School.district_id).where(School.public_token == public_token)
        ).first()
    if row is None:
        return public_message(_("链接无效"), _("找不到该投诉链接，请核对链接是否完整。"), 404)
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
            csrf_error = check_public_csrf()
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
                    errors = field_errors(err)
                if not errors:
                    if request.is_json:
                        return jsonify(ok=True, message=_("投诉已受理")), 201
                    return redirect(
                        url_for("surveys.file_complaint", public_token=public_token, done=1)
                    )
            if request.is_json:
                return invalid_json(errors)
        return render_template(
            "complaints/file.html",
            school=school,
            programmes=programmes,
            errors=errors,
            form=request.form,
        ), page_status(errors)
