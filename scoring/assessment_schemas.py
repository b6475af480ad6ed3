"""Marshmallow schemas of scoring periods (考核月份) and self-assessments (自评), shared by
the pages and the API."""

from __future__ import annotations

from flask import url_for
from marshmallow import Schema, fields, validate

from scoring import assessments as svc
from scoring import periods
from scoring.models import Evidence, Period, SelfAssessment
from tenants.schemas import StrictSchema

_REQUIRED = {"required": "必填"}


class PeriodSchema(StrictSchema):
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


class AssessmentStartSchema(StrictSchema):
    year = fields.Int(required=True, validate=validate.Range(2000, 2100), error_messages=_REQUIRED)
    month = fields.Int(required=True, validate=validate.Range(1, 12), error_messages=_REQUIRED)
    programme = fields.Str(
        required=True, validate=validate.Length(min=1, max=32), error_messages=_REQUIRED
    )
    school_id = fields.Int(load_only=True)


class AssessmentSaveSchema(StrictSchema):
    version = fields.Int(required=True, error_messages=_REQUIRED)
    items = fields.List(fields.Dict(), required=True, error_messages=_REQUIRED)


class AssessmentSubmitSchema(StrictSchema):
    version = fields.Int()


class AssessmentReturnSchema(StrictSchema):
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
