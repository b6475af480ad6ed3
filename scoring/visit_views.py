"""Pages: site visits (督查) — the inspector's phone-friendly visit form, visit lists and
details, photos and recording findings. The blueprint ``bp``
(:mod:`scoring.visit_blueprint`), the findings pages (:mod:`scoring.finding_views`) and
the JSON API ``blp`` (:mod:`scoring.visit_api`) are re-exported here, as are the API
schemas (:mod:`scoring.visit_schemas`) and the shapes pages and API show
(:mod:`scoring.visit_payloads`). Form parsing: :mod:`scoring.visit_forms`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from district.extensions import db
from scoring import evidence
from scoring import visits as svc
from scoring.finding_views import (
    answer,
    close,
    export_findings,
    finding,
    finding_evidence,
    findings,
    reopen,
)
from scoring.models import SiteVisit
from scoring.visit_access import ADMIN, DISTRICT_SIDE, INSPECTOR, RECORDERS, SCHOOL_SIDE, VIEWER
from scoring.visit_api import (
    FindingAnswer,
    FindingClose,
    FindingEvidence,
    FindingItem,
    FindingReopen,
    Findings,
    VisitFindings,
    VisitItem,
    VisitPhotos,
    Visits,
    blp,
)
from scoring.visit_blueprint import bp
from scoring.visit_forms import (
    error_messages,
    flat_messages,
    form_items,
    load_posted,
    month_arg,
    parse_day,
    posted_files,
)
from scoring.visit_payloads import evidence_url, finding_dicts, visit_dict, visit_summaries
from scoring.visit_schemas import (
    MULTIPART_DOC,
    FindingAnswerSchema,
    FindingCloseSchema,
    FindingCreateSchema,
    FindingQuerySchema,
    FindingReopenSchema,
    FindingSchema,
    VisitCreateSchema,
    VisitEvidenceSchema,
    VisitProgrammeSchema,
    VisitQuerySchema,
    VisitSchema,
    VisitScoreInSchema,
    VisitScoreOutSchema,
    VisitSummarySchema,
    VisitUpdateSchema,
)
from tenants.auth import ANY_TENANT_USER, roles_required
from tenants.models import School
from tenants.services import get_or_404

__all__ = [
    "ADMIN",
    "DISTRICT_SIDE",
    "INSPECTOR",
    "MULTIPART_DOC",
    "RECORDERS",
    "SCHOOL_SIDE",
    "VIEWER",
    "FindingAnswer",
    "FindingAnswerSchema",
    "FindingClose",
    "FindingCloseSchema",
    "FindingCreateSchema",
    "FindingEvidence",
    "FindingItem",
    "FindingQuerySchema",
    "FindingReopen",
    "FindingReopenSchema",
    "FindingSchema",
    "Findings",
    "VisitCreateSchema",
    "VisitEvidenceSchema",
    "VisitFindings",
    "VisitItem",
    "VisitPhotos",
    "VisitProgrammeSchema",
    "VisitQuerySchema",
    "VisitSchema",
    "VisitScoreInSchema",
    "VisitScoreOutSchema",
    "VisitSummarySchema",
    "VisitUpdateSchema",
    "Visits",
    "answer",
    "blp",
    "bp",
    "close",
    "export_findings",
    "finding",
    "finding_evidence",
    "findings",
    "reopen",
    "evidence_url",
    "finding_dicts",
    "visit_dict",
    "visit_summaries",
]

# --- pages: visits


def _render_form(
    school: School,
    day: date,
    *,
    visit: SiteVisit | None = None,
    errors: dict | None = None,
    status: int = 200,
) -> Any:
    sheets = svc.scoring_sheet(school, day.year, day.month)
    existing: dict[tuple[str, str], Any] = {}
    existing_photos: dict[int, list] = {}
    if visit is not None:
        existing = {(s.programme, s.indicator_code): s for s in visit.scores}
        existing_photos = evidence.attached(svc.SCORE_OWNER, [s.id for s in visit.scores])
    posted = request.method == "POST"
    chosen = set(request.form.getlist("programmes")) if posted else {p for p, _c in existing}
    errors = errors or {}
    score_errors = errors.get("scores") if isinstance(errors.get("scores"), dict) else {}
    return render_template(
        "visits/form.html",
        school=school,
        day=day,
        visit=visit,
        sheets=sheets,
        chosen=chosen,
        existing=existing,
        existing_photos=existing_photos,
        ticks_of=svc.ticks_of,
        form=request.form if posted else None,
        errors=errors,
        score_errors=score_errors,
        error_count=sum(len(v) for v in score_errors.values()),
        had_files=posted and bool(posted_files(*request.files.keys())),
        today=date.today(),
    ), status


@bp.get("/visits")
@roles_required(*DISTRICT_SIDE)
def index() -> Any:
    year, month, month_value = month_arg()
    zone_id = request.args.get("zone_id", type=int)
    school_id = request.args.get("school_id", type=int)
    is_inspector = current_user.role == INSPECTOR
    mine = request.args.get("mine", "1" if is_inspector else "") == "1"
    visits = svc.list_visits(
        year=year,
        month=month,
        zone_id=zone_id,
        school_id=school_id,
        inspector_id=current_user.id if mine else None,
        limit=300,
    )
    open_findings = svc.list_findings(status="unresolved", limit=100) if is_inspector else []
    return render_template(
        "visits/index.html",
        visits=visit_summaries(visits),
        open_findings=finding_dicts(open_findings, with_evidence=False),
        zones=svc.zones(),
        schools=svc.visible_schools(),
        month_value=month_value,
        zone_id=zone_id,
        school_id=school_id,
        mine=mine,
        can_record=svc.can_record(current_user),
        today=date.today(),
    )


@bp.route("/visits/new", methods=["GET", "POST"])
@roles_required(*RECORDERS)
def new() -> Any:
    errors: dict[str, Any] = {}
    source = request.form if request.method == "POST" else request.args
    raw_school = (source.get("school_id") or "").strip()
    day = parse_day(source.get("visited_on"), errors) or date.today()
    if not raw_school:
        if request.method == "POST":
            errors.setdefault("school_id", []).append(_("请选择学校"))
        return render_template(
            "visits/choose.html",
            schools=svc.visible_schools(),
            day=day,
            errors=errors,
            today=date.today(),
        ), (422 if errors else 200)
    school = get_or_404(School, raw_school)
    if request.method == "GET":
        return _render_form(school, day, errors=errors, status=422 if errors else 200)
    if errors:
        return _render_form(school, day, errors=errors, status=422)
    sheets = svc.scoring_sheet(school, day.year, day.month)
    items, score_photos = form_items(sheets)
    data = {"visited_on": day, "notes": request.form.get("notes", "")[:5000], "scores": items}
    try:
        visit = svc.create_visit(
            school,
            data,
            current_user._get_current_object(),
            photos=posted_files("photos"),
            score_photos=score_photos,
        )
    except ValidationError as err:
        db.session.rollback()
        return _render_form(school, day, errors=error_messages(err), status=422)
    flash(_("督查记录已保存"), "success")
    return redirect(url_for("visits.detail", visit_id=visit.id))


@bp.get("/visits/<int:visit_id>")
@roles_required(*ANY_TENANT_USER)
def detail(visit_id: int) -> Any:
    visit = get_or_404(SiteVisit, visit_id)
    user = current_user._get_current_object()
    data = visit_dict(visit)
    school = get_or_404(School, visit.school_id)
    return render_template(
        "visits/detail.html",
        visit=visit,
        v=data,
        school=school,
        programmes=svc.visit_programmes(visit),
        can_edit=svc.can_edit(user, visit),
        can_delete=user.role == ADMIN,
        can_judge=svc.can_judge(user),
        default_deadline=visit.visited_on + timedelta(days=14),
        sheets=svc.scoring_sheet(school, visit.year, visit.month),
        errors={},
    )


@bp.route("/visits/<int:visit_id>/edit", methods=["GET", "POST"])
@roles_required(*RECORDERS)
def edit(visit_id: int) -> Any:
    visit = get_or_404(SiteVisit, visit_id)
    user = current_user._get_current_object()
    if not svc.can_edit(user, visit):
        abort(403)
    school = get_or_404(School, visit.school_id)
    if request.method == "GET":
        day = visit.visited_on
        requested = request.args.get("visited_on")
        if requested:
            day = parse_day(requested, {}) or day
        return _render_form(school, day, visit=visit)
    errors: dict[str, Any] = {}
    day = parse_day(request.form.get("visited_on"), errors) or visit.visited_on
    version = request.form.get("version", type=int)
    if errors:
        return _render_form(school, day, visit=visit, errors=errors, status=422)
    sheets = svc.scoring_sheet(school, day.year, day.month)
    items, score_photos = form_items(sheets)
    data: dict[str, Any] = {"visited_on": day, "scores": items, "version": version}
    if "notes" in request.form:
        data["notes"] = request.form["notes"][:5000]
    if version is None:
        data["version"] = -1  # a form without its version is treated as stale
    try:
        svc.update_visit(
            visit, data, user, photos=posted_files("photos"), score_photos=score_photos
        )
    except ValidationError as err:
        db.session.rollback()
        visit = get_or_404(SiteVisit, visit_id)
        return _render_form(school, day, visit=visit, errors=error_messages(err), status=422)
    flash(_("督查记录已更新"), "success")
    return redirect(url_for("visits.detail", visit_id=visit.id))


@bp.post("/visits/<int:visit_id>/delete")
@roles_required(ADMIN)
def delete(visit_id: int) -> Any:
    visit = get_or_404(SiteVisit, visit_id)
    svc.delete_visit(visit, current_user._get_current_object())
    flash(_("督查记录已删除"), "info")
    return redirect(url_for("visits.index"))


@bp.post("/visits/<int:visit_id>/photos")
@roles_required(*RECORDERS)
def photos(visit_id: int) -> Any:
    visit = get_or_404(SiteVisit, visit_id)
    user = current_user._get_current_object()
    if not svc.can_edit(user, visit):
        abort(403)
    svc.add_photos(visit, posted_files("photos", "file"), user)
    flash(_("照片已上传"), "success")
    return redirect(url_for("visits.detail", visit_id=visit.id))


@bp.post("/visits/<int:visit_id>/findings")
@roles_required(*RECORDERS)
def add_finding(visit_id: int) -> Any:
    visit = get_or_404(SiteVisit, visit_id)
    user = current_user._get_current_object()
    if not svc.can_edit(user, visit):
        abort(403)
    data, errors = load_posted(FindingCreateSchema(), request.form)
    if data is not None:
        try:
            svc.create_finding(visit, data, user)
        except ValidationError as err:
            db.session.rollback()
            errors = error_messages(err)
    if errors:
        flash(_("问题未保存：") + flat_messages(errors), "error")
        return redirect(url_for("visits.detail", visit_id=visit_id) + "#findings"), 303
    flash(_("问题已记录，等待学校整改"), "success")
    return redirect(url_for("visits.detail", visit_id=visit.id) + "#findings")
