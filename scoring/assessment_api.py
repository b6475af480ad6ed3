"""Scoring periods (考核月份), self-assessments (自评), evidence and submission compliance
(提交情况): the JSON API (``blp``) under /api/v1. The pages are in
:mod:`scoring.assessment_views`, which re-exports ``blp``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, request
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import ValidationError

from scoring import assessments as svc
from scoring import evidence as evidence_files
from scoring import periods
from scoring.assessment_schemas import (
    AssessmentDetailSchema,
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
from scoring.models import Evidence, Period, SelfAssessment
from tenants.auth import ANY_TENANT_USER, DISTRICT_STAFF, roles_required
from tenants.models import Role, School
from tenants.services import get_or_404

blp = ApiBlueprint(
    "api_assessments", __name__, url_prefix="/api/v1", description="考核月份、自评与佐证材料"
)

ADMIN = (Role.DISTRICT_ADMIN,)
SCHOOL_USERS = Role.SCHOOL_ROLES
DISTRICT_READERS = (*DISTRICT_STAFF, Role.INSPECTOR)


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


def my_school() -> School:
    return get_or_404(School, current_user.school_id)


def acting_user() -> Any:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def send_evidence(evidence_id: int) -> Any:
    row = get_or_404(Evidence, evidence_id)
    try:
        return evidence_files.send(row)
    except FileNotFoundError:
        abort(404)


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
            my_school(), data["year"], data["month"], data["programme"], acting_user()
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
        svc.save_draft(assessment, data["items"], data["version"], acting_user())
        return _detail(svc.load_form(assessment))


@blp.route("/self-assessments/<int:assessment_id>/submit")
class AssessmentSubmit(MethodView):
    @roles_required(*SCHOOL_USERS)
    @blp.arguments(AssessmentSubmitSchema)
    @blp.response(200, AssessmentDetailSchema)
    def post(self, data: dict[str, Any], assessment_id: int) -> Any:
        """Submit (school head only); refused per indicator when points or evidence miss."""
        assessment = get_or_404(SelfAssessment, assessment_id)
        svc.submit(assessment, acting_user(), data.get("version"))
        return _detail(svc.load_form(assessment))


@blp.route("/self-assessments/<int:assessment_id>/return")
class AssessmentReturn(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(AssessmentReturnSchema)
    @blp.response(200, AssessmentDetailSchema)
    def post(self, data: dict[str, Any], assessment_id: int) -> Any:
        """Return a submission to the school for correction, with a reason (退回)."""
        assessment = get_or_404(SelfAssessment, assessment_id)
        svc.return_assessment(assessment, data["reason"], acting_user())
        return _detail(svc.load_form(assessment))


@blp.route("/self-assessments/<int:assessment_id>/evidence")
class AssessmentEvidence(MethodView):
    @roles_required(*SCHOOL_USERS)
    @blp.response(201, EvidenceFileSchema)
    def post(self, assessment_id: int) -> Any:
        """Upload evidence (multipart: ``code`` = indicator code, ``file``; JPEG/PNG/GIF/WebP/PDF ≤ 8 MB)."""
        assessment = get_or_404(SelfAssessment, assessment_id)
        return svc.add_evidence(
            assessment, request.form.get("code", ""), request.files.get("file"), acting_user()
        )


@blp.route("/evidence/<int:evidence_id>")
class EvidenceFile(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200)
    def get(self, evidence_id: int) -> Any:
        """Download an evidence file (any kind: self-assessment, visit, finding) in your scope."""
        return send_evidence(evidence_id)


@blp.route("/compliance")
class Compliance(MethodView):
    @roles_required(*DISTRICT_READERS)
    @blp.arguments(SubmissionComplianceArgsSchema, location="query")
    @blp.response(200, SubmissionComplianceSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Submission compliance (提交情况) of a month: school × programme → state."""
        return _compliance_data(svc.compliance(args["year"], args["month"]))
