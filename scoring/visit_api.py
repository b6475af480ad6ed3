"""Site visits (督查) and findings (整改): the JSON API (``blp``) under /api/v1.

/visits, /visits/<id>, /visits/<id>/photos, /visits/<id>/findings, /findings,
/findings/<id> and its answer/close/reopen/evidence actions. The pages are in
:mod:`scoring.visit_views`, which re-exports ``blp``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint

from scoring import visits as svc
from scoring.models import Finding, SiteVisit
from scoring.visit_access import ADMIN, RECORDERS, SCHOOL_SIDE
from scoring.visit_forms import posted_files
from scoring.visit_payloads import evidence_dict, finding_dicts, visit_dict, visit_summaries
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
    VisitQuerySchema,
    VisitSchema,
    VisitSummarySchema,
    VisitUpdateSchema,
)
from tenants.auth import ANY_TENANT_USER, roles_required
from tenants.models import School
from tenants.services import get_or_404

blp = ApiBlueprint(
    "api_visits",
    __name__,
    url_prefix="/api/v1",
    description="督查（site visits）与整改（findings）",
)


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
            posted_files("file", "files", "photos"),
            user,
            programme=(request.form.get("programme") or "").strip() or None,
            indicator_code=(request.form.get("indicator_code") or "").strip() or None,
        )
        return [evidence_dict(e) for e in stored]


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
            item, posted_files("file", "files", "photos"), current_user._get_current_object()
        )
        return [evidence_dict(e) for e in stored]
