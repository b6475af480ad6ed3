"""Site visits (督查) and findings (整改): pages (``bp``), JSON API (``blp``) and schemas.

Pages: the inspector's phone-friendly visit form, visit lists and details, findings to
rectify for a school, the district's filtered lists and the Excel export of findings.
API under /api/v1: /visits, /visits/<id>, /visits/<id>/photos, /visits/<id>/findings,
/findings, /findings/<id> and its answer/close/reopen/evidence actions.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import select
from werkzeug.routing import BuildError

from district.audit import AuditEntry
from district.exports import xlsx_response
from district.extensions import db
from district.nav import register_nav
from scoring import visits as svc
from scoring.models import Evidence, Finding, SiteVisit
from scoring.rubric_data import KINDS
from tenants.auth import ANY_TENANT_USER, roles_required
from tenants.models import Role, School
from tenants.services import get_or_404

ADMIN, VIEWER, INSPECTOR = Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER, Role.INSPECTOR
DISTRICT_SIDE = (ADMIN, VIEWER, INSPECTOR)
RECORDERS = (INSPECTOR, ADMIN)
SCHOOL_SIDE = Role.SCHOOL_ROLES

bp = Blueprint("visits", __name__)
blp = ApiBlueprint(
    "api_visits",
    __name__,
    url_prefix="/api/v1",
    description="督查（site visits）与整改（findings）",
)

register_nav("督查", "visits.index", DISTRICT_SIDE, order=30)
register_nav("整改", "visits.findings", SCHOOL_SIDE, order=30)


# --- schemas ---------------------------------------------------------------------------


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class VisitScoreInSchema(_Strict):
    """One indicator's answer. Which field counts depends on the indicator's kind."""

    programme = fields.Str(
        required=True, validate=validate.Length(min=1, max=32), metadata={"example": "canteen"}
    )
    indicator_code = fields.Str(
        required=True, validate=validate.Length(min=1, max=32), metadata={"example": "A1"}
    )
    points = fields.Decimal(
        allow_none=True, metadata={"description": "judged: 0…max points in steps of 0.5"}
    )
    ticks = fields.List(
        fields.Int(),
        allow_none=True,
        metadata={"description": "checklist: 0-based indexes of the items found in order"},
    )
    value = fields.Decimal(
        allow_none=True,
        metadata={
            "description": "measured: the measured number (ratios as 0–1); the rubric curve "
            "turns it into points. Green ratio defaults to the school's areas."
        },
    )
    triggered = fields.Bool(allow_none=True, metadata={"description": "veto: 一票否决 triggered"})
    reason = fields.Str(
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "required (or a photo) below 60 % of max or on a veto"},
    )
    photo_ids = fields.List(
        fields.Int(),
        load_default=list,
        metadata={"description": "ids of this visit's photos that document this indicator"},
    )


class VisitCreateSchema(_Strict):
    school_id = fields.Int(required=True)
    visited_on = fields.Date(
        load_default=None, metadata={"description": "督查日期, default today; not in the future"}
    )
    notes = fields.Str(allow_none=True, validate=validate.Length(max=5000))
    scores = fields.List(fields.Nested(VisitScoreInSchema), load_default=list)


class VisitUpdateSchema(_Strict):
    visited_on = fields.Date()
    notes = fields.Str(allow_none=True, validate=validate.Length(max=5000))
    scores = fields.List(
        fields.Nested(VisitScoreInSchema),
        metadata={"description": "when given, replaces all of the visit's scores"},
    )
    version = fields.Int(
        required=True, metadata={"description": "the version you read; stale → 409"}
    )


class VisitQuerySchema(_Strict):
    year = fields.Int(validate=validate.Range(min=2000, max=2100))
    month = fields.Int(validate=validate.Range(min=1, max=12))
    zone_id = fields.Int()
    school_id = fields.Int()
    mine = fields.Bool(metadata={"description": "only the caller's own visits"})
    page = fields.Int(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=200))


class VisitEvidenceSchema(Schema):
    id = fields.Int()
    filename = fields.Str()
    content_type = fields.Str()
    size = fields.Int()
    created_at = fields.DateTime()
    url = fields.Str(allow_none=True)


class VisitScoreOutSchema(Schema):
    programme = fields.Str()
    indicator_code = fields.Str()
    indicator_name = fields.Str()
    kind = fields.Str()
    max_points = fields.Decimal(as_string=True, places=2)
    points = fields.Decimal(as_string=True, places=2, allow_none=True)
    value = fields.Decimal(as_string=True, places=4, allow_none=True)
    ticks = fields.List(fields.Int(), allow_none=True)
    triggered = fields.Bool(allow_none=True)
    reason = fields.Str(allow_none=True)
    low = fields.Bool(metadata={"description": "below 60 % of max"})
    photos = fields.List(fields.Nested(VisitEvidenceSchema))


class VisitProgrammeSchema(Schema):
    programme = fields.Str()
    name = fields.Str()
    rubric_version_id = fields.Int()
    rubric_version_number = fields.Int()
    score = fields.Decimal(
        as_string=True, places=2, allow_none=True, metadata={"description": "0–100 of this visit"}
    )
    veto = fields.Bool()


class FindingSchema(Schema):
    id = fields.Int()
    visit_id = fields.Int()
    school_id = fields.Int()
    school_name = fields.Str(allow_none=True)
    programme = fields.Str(allow_none=True)
    programme_name = fields.Str(allow_none=True)
    indicator_code = fields.Str(allow_none=True)
    description = fields.Str()
    deadline = fields.Date()
    status = fields.Str(metadata={"description": "open | answered | closed | reopened"})
    status_label = fields.Str()
    overdue = fields.Bool()
    response = fields.Str(allow_none=True)
    responded_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    reopen_count = fields.Int()
    version = fields.Int()
    created_at = fields.DateTime()
    evidence = fields.List(fields.Nested(VisitEvidenceSchema))


class VisitSummarySchema(Schema):
    id = fields.Int()
    school_id = fields.Int()
    school_name = fields.Str(allow_none=True)
    inspector_id = fields.Int(allow_none=True)
    inspector_name = fields.Str(allow_none=True)
    visited_on = fields.Date()
    year = fields.Int()
    month = fields.Int()
    notes = fields.Str(allow_none=True)
    version = fields.Int()
    created_at = fields.DateTime()
    programmes = fields.List(fields.Str())
    findings_total = fields.Int()
    findings_unresolved = fields.Int()


class VisitSchema(VisitSummarySchema):
    programme_scores = fields.List(fields.Nested(VisitProgrammeSchema))
    scores = fields.List(fields.Nested(VisitScoreOutSchema))
    photos = fields.List(fields.Nested(VisitEvidenceSchema))
    findings = fields.List(fields.Nested(FindingSchema))


class FindingCreateSchema(_Strict):
    description = fields.Str(required=True, validate=validate.Length(min=1, max=5000))
    programme = fields.Str(allow_none=True, validate=validate.Length(max=32))
    indicator_code = fields.Str(allow_none=True, validate=validate.Length(max=32))
    deadline = fields.Date(required=True, metadata={"description": "整改期限"})


class FindingAnswerSchema(_Strict):
    response = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=5000),
        metadata={"description": "整改情况: what the school did"},
    )
    version = fields.Int(metadata={"description": "stale → 409"})


class FindingCloseSchema(_Strict):
    note = fields.Str(allow_none=True, validate=validate.Length(max=2000))
    version = fields.Int()


class FindingReopenSchema(_Strict):
    note = fields.Str(required=True, validate=validate.Length(min=1, max=2000))
    deadline = fields.Date(allow_none=True, metadata={"description": "a new deadline, optional"})
    version = fields.Int()


class FindingQuerySchema(_Strict):
    status = fields.Str(validate=validate.OneOf((*svc.FINDING_STATES, "unresolved")))
    overdue = fields.Bool()
    year = fields.Int(validate=validate.Range(min=2000, max=2100))
    month = fields.Int(validate=validate.Range(min=1, max=12))
    zone_id = fields.Int()
    school_id = fields.Int()
    page = fields.Int(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Int(load_default=100, validate=validate.Range(min=1, max=500))


MULTIPART_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "JPEG/PNG/GIF/WebP/PDF, 8 MB each",
                        },
                        "programme": {"type": "string"},
                        "indicator_code": {"type": "string"},
                    },
                }
            }
        },
    }
}


# --- serialisation -----------------------------------------------------------------------


def evidence_url(ev: Evidence | dict) -> str | None:
    """Download link through the generic evidence route (when it exists)."""
    if isinstance(ev, dict):
        return ev.get("url")
    try:
        return url_for("assessments.evidence_file", evidence_id=ev.id)
    except BuildError:
        return None


def _ev(ev: Evidence) -> dict[str, Any]:
    return {
        "id": ev.id,
        "filename": ev.filename,
        "content_type": ev.content_type,
        "size": ev.size,
        "created_at": ev.created_at,
        "url": evidence_url(ev),
    }


def finding_dicts(findings: list[Finding], *, with_evidence: bool = True) -> list[dict]:
    schools = svc.schools_by_id(f.school_id for f in findings)
    attached = (
        svc.evidence.attached(svc.FINDING_OWNER, [f.id for f in findings]) if with_evidence else {}
    )
    today = date.today()
    out = []
    for f in findings:
        school = schools.get(f.school_id)
        out.append(
            {
                "id": f.id,
                "visit_id": f.visit_id,
                "school_id": f.school_id,
                "school_name": school.name if school else None,
                "programme": f.programme,
                "programme_name": svc.programme_name(f.programme) if f.programme else None,
                "indicator_code": f.indicator_code,
                "description": f.description,
                "deadline": f.deadline,
                "status": f.status,
                "status_label": svc.FINDING_LABELS.get(f.status, f.status),
                "overdue": svc.is_overdue(f, today),
                "response": f.response,
                "responded_at": f.responded_at,
                "closed_at": f.closed_at,
                "reopen_count": f.reopen_count or 0,
                "version": f.version,
                "created_at": f.created_at,
                "evidence": [_ev(e) for e in attached.get(f.id, [])],
            }
        )
    return out


def visit_summaries(visits: list[SiteVisit]) -> list[dict]:
    ids = [v.id for v in visits]
    schools = svc.schools_by_id(v.school_id for v in visits)
    names = svc.user_names(v.inspector_id for v in visits)
    programmes = svc.programmes_of(ids)
    counts = svc.finding_counts(ids)
    out = []
    for v in visits:
        school = schools.get(v.school_id)
        total, unresolved = counts.get(v.id, (0, 0))
        out.append(
            {
                "id": v.id,
                "school_id": v.school_id,
                "school_name": school.name if school else None,
                "zone_name": school.zone.name if school and school.zone else None,
                "inspector_id": v.inspector_id,
                "inspector_name": names.get(v.inspector_id) if v.inspector_id else None,
                "visited_on": v.visited_on,
                "year": v.year,
                "month": v.month,
                "notes": v.notes,
                "version": v.version,
                "created_at": v.created_at,
                "programmes": programmes.get(v.id, []),
                "findings_total": total,
                "findings_unresolved": unresolved,
            }
        )
    return out


def visit_dict(visit: SiteVisit) -> dict[str, Any]:
    data = visit_summaries([visit])[0]
    views = svc.visit_programmes(visit)
    score_ids = [s.id for pv in views for _i, s in pv.rows]
    photos = svc.evidence.attached(svc.SCORE_OWNER, score_ids)
    scores = []
    for pv in views:
        for ind, s in pv.rows:
            scores.append(
                {
                    "programme": s.programme,
                    "indicator_code": s.indicator_code,
                    "indicator_name": ind.name,
                    "kind": ind.kind,
                    "max_points": ind.max_points,
                    "points": s.points,
                    "value": s.value if ind.kind == "measured" else None,
                    "ticks": svc.ticks_of(s) if ind.kind == "checklist" else None,
                    "triggered": bool(s.points and s.points > 0) if ind.kind == "veto" else None,
                    "reason": s.reason,
                    "low": svc.is_low(s.points, Decimal(ind.max_points))
                    if ind.kind != "veto"
                    else False,
                    "photos": [_ev(e) for e in photos.get(s.id, [])],
                }
            )
    data["programme_scores"] = [
        {
            "programme": pv.programme,
            "name": pv.name,
            "rubric_version_id": pv.version.id,
            "rubric_version_number": pv.version.number,
            "score": pv.score,
            "veto": pv.veto,
        }
        for pv in views
    ]
    data["scores"] = scores
    data["photos"] = [
        _ev(e) for e in svc.evidence.attached(svc.VISIT_OWNER, [visit.id]).get(visit.id, [])
    ]
    data["findings"] = finding_dicts(sorted(visit.findings, key=lambda f: f.id))
    return data


def _uploads(*names: str) -> list[Any]:
    files = []
    for name in names:
        files.extend(f for f in request.files.getlist(name) if f and f.filename)
    return files


# --- pages: helpers ----------------------------------------------------------------------


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "evidence_url": evidence_url,
        "programme_name": svc.programme_name,
        "finding_labels": svc.FINDING_LABELS,
        "is_overdue": svc.is_overdue,
        "kinds": KINDS,
        "measure_label": svc.measure_label,
    }


def _month_arg() -> tuple[int | None, int | None, str]:
    raw = (request.args.get("month") or "").strip()
    try:
        year, month = (int(p) for p in raw.split("-"))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return year, month, f"{year:04d}-{month:02d}"
    except ValueError:
        pass
    return None, None, ""


def _parse_day(raw: str | None, errors: dict[str, list[str]]) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.setdefault("visited_on", []).append(_("日期格式有误"))
        return None


def _form_items(sheets: list[svc.ProgrammeSheet]) -> tuple[list[dict], dict]:
    """The scores of the chosen programmes from the posted form, plus indicator photos."""
    chosen = set(request.form.getlist("programmes"))
    items: list[dict] = []
    photos: dict[tuple[str, str], list[Any]] = {}
    for sheet in sheets:
        if sheet.programme not in chosen:
            continue
        for ind in sheet.indicators:
            key = f"{sheet.programme}-{ind.code}"
            item: dict[str, Any] = {
                "programme": sheet.programme,
                "indicator_code": ind.code,
                "reason": request.form.get(f"r-{key}", ""),
            }
            if ind.kind == "judged":
                item["points"] = request.form.get(f"p-{key}", "").strip()
            elif ind.kind == "checklist":
                ticks = []
                for raw in request.form.getlist(f"t-{key}"):
                    if raw.isdigit():
                        ticks.append(int(raw))
                item["ticks"] = ticks
            elif ind.kind == "measured":
                item["value"] = request.form.get(f"v-{key}", "").strip()
            elif ind.kind == "veto":
                item["triggered"] = request.form.get(f"x-{key}") == "1"
            items.append(item)
            files = _uploads(f"f-{key}")
            if files:
                photos[(sheet.programme, ind.code)] = files
    return items, photos


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
        existing_photos = svc.evidence.attached(svc.SCORE_OWNER, [s.id for s in visit.scores])
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
        had_files=posted and bool(_uploads(*request.files.keys())),
        today=date.today(),
    ), status


# --- pages: visits -------------------------------------------------------------------------


@bp.get("/visits")
@roles_required(*DISTRICT_SIDE)
def index() -> Any:
    year, month, month_value = _month_arg()
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
    day = _parse_day(source.get("visited_on"), errors) or date.today()
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
    items, score_photos = _form_items(sheets)
    data = {"visited_on": day, "notes": request.form.get("notes", "")[:5000], "scores": items}
    try:
        visit = svc.create_visit(
            school,
            data,
            current_user._get_current_object(),
            photos=_uploads("photos"),
            score_photos=score_photos,
        )
    except ValidationError as err:
        db.session.rollback()
        return _render_form(school, day, errors=_messages(err), status=422)
    flash(_("督查记录已保存"), "success")
    return redirect(url_for("visits.detail", visit_id=visit.id))


def _messages(err: ValidationError) -> dict[str, Any]:
    return err.messages if isinstance(err.messages, dict) else {"_": err.messages}


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
            day = _parse_day(requested, {}) or day
        return _render_form(school, day, visit=visit)
    errors: dict[str, Any] = {}
    day = _parse_day(request.form.get("visited_on"), errors) or visit.visited_on
    version = request.form.get("version", type=int)
    if errors:
        return _render_form(school, day, visit=visit, errors=errors, status=422)
    sheets = svc.scoring_sheet(school, day.year, day.month)
    items, score_photos = _form_items(sheets)
    data: dict[str, Any] = {"visited_on": day, "scores": items, "version": version}
    if "notes" in request.form:
        data["notes"] = request.form["notes"][:5000]
    if version is None:
        data["version"] = -1  # a form without its version is treated as stale
    try:
        svc.update_visit(visit, data, user, photos=_uploads("photos"), score_photos=score_photos)
    except ValidationError as err:
        db.session.rollback()
        visit = get_or_404(SiteVisit, visit_id)
        return _render_form(school, day, visit=visit, errors=_messages(err), status=422)
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
    svc.add_photos(visit, _uploads("photos", "file"), user)
    flash(_("照片已上传"), "success")
    return redirect(url_for("visits.detail", visit_id=visit.id))


@bp.post("/visits/<int:visit_id>/findings")
@roles_required(*RECORDERS)
def add_finding(visit_id: int) -> Any:
    visit = get_or_404(SiteVisit, visit_id)
    user = current_user._get_current_object()
    if not svc.can_edit(user, visit):
        abort(403)
    data, errors = _load(FindingCreateSchema(), request.form)
    if data is not None:
        try:
            svc.create_finding(visit, data, user)
        except ValidationError as err:
            db.session.rollback()
            errors = _messages(err)
    if errors:
        flash(_("问题未保存：") + _flat(errors), "error")
        return redirect(url_for("visits.detail", visit_id=visit_id) + "#findings"), 303
    flash(_("问题已记录，等待学校整改"), "success")
    return redirect(url_for("visits.detail", visit_id=visit.id) + "#findings")


def _load(schema: Schema, form: Any) -> tuple[dict | None, dict]:
    raw = {k: v.strip() for k, v in form.items() if k != "csrf_token" and v.strip() != ""}
    raw = {k: v for k, v in raw.items() if k in schema.fields}
    try:
        return schema.load(raw), {}
    except ValidationError as err:
        return None, _messages(err)


def _flat(errors: dict) -> str:
    parts = []
    for value in errors.values():
        if isinstance(value, dict):
            parts.append(_flat(value))
        elif isinstance(value, list):
            parts.extend(str(v) for v in value)
        else:
            parts.append(str(value))
    return "；".join(parts)


# --- pages: findings -------------------------------------------------------------------


def _finding_filters() -> dict[str, Any]:
    year, month, month_value = _month_arg()
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
            data, errors = _load(FindingAnswerSchema(), form)
            if data is None:
                raise ValidationError(errors)
            svc.answer_finding(item, data, user, uploads=_uploads("photos", "file"))
            flash(_("整改情况已提交，等待督查员复核"), "success")
        elif action == "close":
            if not svc.can_judge(user):
                abort(403)
            data, errors = _load(FindingCloseSchema(), form)
            if data is None:
                raise ValidationError(errors)
            svc.close_finding(item, data, user)
            flash(_("问题已销号"), "success")
        elif action == "reopen":
            if not svc.can_judge(user):
                abort(403)
            data, errors = _load(FindingReopenSchema(), form)
            if data is None:
                raise ValidationError(errors)
            svc.reopen_finding(item, data, user)
            flash(_("问题已退回学校重新整改"), "info")
        else:  # evidence
            svc.add_finding_evidence(item, _uploads("photos", "file"), user)
            flash(_("佐证材料已上传"), "success")
    except ValidationError as err:
        db.session.rollback()
        flash(_flat(_messages(err)), "error")
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


# --- API ------------------------------------------------------------------------------------


@blp.route("/visits")
class Visits(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.arguments(VisitQuerySchema, location="query")
    @blp.response(200, VisitSummarySchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Visits (督查记录) in the caller's scope, newest first."""
        visits = svc.list_visits(
            year=args.get("year"),
            month=args.get("month"),
            zone_id=args.get("zone_id"),
            school_id=args.get("school_id"),
            inspector_id=current_user.id if args.get("mine") else None,
            limit=args["per_page"],
            offset=(args["page"] - 1) * args["per_page"],
        )
        return visit_summaries(visits)

    @roles_required(*RECORDERS)
    @blp.arguments(VisitCreateSchema)
    @blp.response(201, VisitSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Record a visit to a school of your zones (a school outside them answers 404).

        Each programme given is scored completely against the rubric version in force
        for the visit's month; a score below 60 % of an indicator's max (or a triggered
        veto) needs a ``reason`` or ``photo_ids`` (422 with a message per indicator).
        """
        school = get_or_404(School, data["school_id"])
        visit = svc.create_visit(school, data, current_user._get_current_object())
        return visit_dict(visit)


@blp.route("/visits/<int:visit_id>")
class VisitItem(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, VisitSchema)
    def get(self, visit_id: int) -> Any:
        """One visit with its scores, photos and findings."""
        return visit_dict(get_or_404(SiteVisit, visit_id))

    @roles_required(*RECORDERS)
    @blp.arguments(VisitUpdateSchema)
    @blp.response(200, VisitSchema)
    def put(self, data: dict[str, Any], visit_id: int) -> Any:
        """Edit a visit (its inspector or a district admin); ``version`` stale → 409."""
        visit = get_or_404(SiteVisit, visit_id)
        svc.update_visit(visit, data, current_user._get_current_object())
        return visit_dict(visit)

    @roles_required(ADMIN)
    @blp.response(204)
    def delete(self, visit_id: int) -> None:
        """Delete a visit with its scores, findings and photos (district admin only)."""
        svc.delete_visit(get_or_404(SiteVisit, visit_id), current_user._get_current_object())


@blp.route("/visits/<int:visit_id>/photos")
class VisitPhotos(MethodView):
    @roles_required(*RECORDERS)
    @blp.doc(**MULTIPART_DOC)
    @blp.response(201, VisitEvidenceSchema(many=True))
    def post(self, visit_id: int) -> Any:
        """Upload photos (multipart ``file``, several allowed) of the visit, or of one
        scored indicator when ``programme`` and ``indicator_code`` are given."""
        visit = get_or_404(SiteVisit, visit_id)
        user = current_user._get_current_object()
        if not svc.can_edit(user, visit):
            abort(403)
        stored = svc.add_photos(
            visit,
            _uploads("file", "files", "photos"),
            user,
            programme=(request.form.get("programme") or "").strip() or None,
            indicator_code=(request.form.get("indicator_code") or "").strip() or None,
        )
        return [_ev(e) for e in stored]


@blp.route("/visits/<int:visit_id>/findings")
class VisitFindings(MethodView):
    @roles_required(*RECORDERS)
    @blp.arguments(FindingCreateSchema)
    @blp.response(201, FindingSchema)
    def post(self, data: dict[str, Any], visit_id: int) -> Any:
        """Record a finding (问题) with a rectification deadline (整改期限)."""
        visit = get_or_404(SiteVisit, visit_id)
        return finding_dicts([svc.create_finding(visit, data, current_user)])[0]


@blp.route("/findings")
class Findings(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.arguments(FindingQuerySchema, location="query")
    @blp.response(200, FindingSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Findings in scope; ``status=unresolved`` for all not closed, ``overdue=true``
        for unresolved ones past their deadline."""
        items = svc.list_findings(
            status=args.get("status"),
            overdue=args.get("overdue"),
            year=args.get("year"),
            month=args.get("month"),
            zone_id=args.get("zone_id"),
            school_id=args.get("school_id"),
            limit=args["per_page"],
            offset=(args["page"] - 1) * args["per_page"],
        )
        return finding_dicts(items)


@blp.route("/findings/<int:finding_id>")
class FindingItem(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, FindingSchema)
    def get(self, finding_id: int) -> Any:
        return finding_dicts([get_or_404(Finding, finding_id)])[0]


@blp.route("/findings/<int:finding_id>/answer")
class FindingAnswer(MethodView):
    @roles_required(*SCHOOL_SIDE)
    @blp.arguments(FindingAnswerSchema)
    @blp.response(200, FindingSchema)
    def post(self, data: dict[str, Any], finding_id: int) -> Any:
        """The school's answer (整改情况); add photos through /evidence."""
        item = get_or_404(Finding, finding_id)
        svc.answer_finding(item, data, current_user._get_current_object())
        return finding_dicts([item])[0]


@blp.route("/findings/<int:finding_id>/close")
class FindingClose(MethodView):
    @roles_required(*RECORDERS)
    @blp.arguments(FindingCloseSchema)
    @blp.response(200, FindingSchema)
    def post(self, data: dict[str, Any], finding_id: int) -> Any:
        """Close (销号) a finding: inspector of the school's zone or district admin."""
        item = get_or_404(Finding, finding_id)
        svc.close_finding(item, data, current_user._get_current_object())
        return finding_dicts([item])[0]


@blp.route("/findings/<int:finding_id>/reopen")
class FindingReopen(MethodView):
    @roles_required(*RECORDERS)
    @blp.arguments(FindingReopenSchema)
    @blp.response(200, FindingSchema)
    def post(self, data: dict[str, Any], finding_id: int) -> Any:
        """Send an answered or closed finding back to the school, with a note."""
        item = get_or_404(Finding, finding_id)
        svc.reopen_finding(item, data, current_user._get_current_object())
        return finding_dicts([item])[0]


@blp.route("/findings/<int:finding_id>/evidence")
class FindingEvidence(MethodView):
    @roles_required(*RECORDERS, *SCHOOL_SIDE)
    @blp.doc(**MULTIPART_DOC)
    @blp.response(201, VisitEvidenceSchema(many=True))
    def post(self, finding_id: int) -> Any:
        """Upload evidence (multipart ``file``, several allowed) for a finding."""
        item = get_or_404(Finding, finding_id)
        stored = svc.add_finding_evidence(
            item, _uploads("file", "files", "photos"), current_user._get_current_object()
        )
        return [_ev(e) for e in stored]
