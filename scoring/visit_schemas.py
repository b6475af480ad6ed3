"""Marshmallow schemas of the site-visit (督查) and findings (整改) API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from scoring.findings import FINDING_STATES
from tenants.schemas import StrictSchema


class VisitScoreInSchema(StrictSchema):
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


class VisitCreateSchema(StrictSchema):
    school_id = fields.Int(required=True)
    visited_on = fields.Date(
        load_default=None, metadata={"description": "督查日期, default today; not in the future"}
    )
    notes = fields.Str(allow_none=True, validate=validate.Length(max=5000))
    scores = fields.List(fields.Nested(VisitScoreInSchema), load_default=list)


class VisitUpdateSchema(StrictSchema):
    visited_on = fields.Date()
    notes = fields.Str(allow_none=True, validate=validate.Length(max=5000))
    scores = fields.List(
        fields.Nested(VisitScoreInSchema),
        metadata={"description": "when given, replaces all of the visit's scores"},
    )
    version = fields.Int(
        required=True, metadata={"description": "the version you read; stale → 409"}
    )


class VisitQuerySchema(StrictSchema):
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


class FindingCreateSchema(StrictSchema):
    description = fields.Str(required=True, validate=validate.Length(min=1, max=5000))
    programme = fields.Str(allow_none=True, validate=validate.Length(max=32))
    indicator_code = fields.Str(allow_none=True, validate=validate.Length(max=32))
    deadline = fields.Date(required=True, metadata={"description": "整改期限"})


class FindingAnswerSchema(StrictSchema):
    response = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=5000),
        metadata={"description": "整改情况: what the school did"},
    )
    version = fields.Int(metadata={"description": "stale → 409"})


class FindingCloseSchema(StrictSchema):
    note = fields.Str(allow_none=True, validate=validate.Length(max=2000))
    version = fields.Int()


class FindingReopenSchema(StrictSchema):
    note = fields.Str(required=True, validate=validate.Length(min=1, max=2000))
    deadline = fields.Date(allow_none=True, metadata={"description": "a new deadline, optional"})
    version = fields.Int()


class FindingQuerySchema(StrictSchema):
    status = fields.Str(validate=validate.OneOf((*FINDING_STATES, "unresolved")))
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
