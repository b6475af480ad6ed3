"""Marshmallow schemas of the rubric (考核细则) and scoring-settings API."""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import RAISE, Schema, fields, pre_load, validate

from scoring import settings
from tenants.schemas import StrictSchema


class RubricChecklistItemSchema(Schema):
    label = fields.Str(metadata={"description": "Yes/no item (检查项)"})
    points = fields.Float(metadata={"description": "Points when the item is met"})


class RubricIndicatorSchema(Schema):
    """二级指标 of a version, flattened with its category (一级指标)."""

    category_code = fields.Str()
    category_name = fields.Str()
    code = fields.Str(metadata={"description": "Indicator code, unique in the version"})
    name = fields.Str()
    max_points = fields.Float(metadata={"description": "满分 (0 for a veto indicator)"})
    kind = fields.Str(metadata={"description": "judged | checklist | measured | veto (一票否决)"})
    kind_label = fields.Str()
    dimension = fields.Str(
        metadata={
            "description": "四好: conditions 保障好 | service 服务好 | quality 质量好 | management 管理好"
        }
    )
    dimension_label = fields.Str()
    guidance = fields.Str(metadata={"description": "Scoring guidance (评分说明)"})
    evidence_required = fields.Bool(metadata={"description": "Evidence (证明材料) is required"})
    boarding_only = fields.Bool(metadata={"description": "Applies to boarding schools only"})
    levels = fields.List(
        fields.Str(),
        allow_none=True,
        metadata={"description": "School levels it applies to (null: all)"},
    )
    checklist = fields.List(fields.Nested(RubricChecklistItemSchema), allow_none=True)
    curve = fields.List(
        fields.List(fields.Float()),
        allow_none=True,
        metadata={"description": "Measured curve: [value, points] breakpoints, values ascending"},
    )
    measure = fields.Str(
        allow_none=True, metadata={"description": "Where a measured value comes from"}
    )
    measure_label = fields.Str(allow_none=True)


class RubricVersionSummarySchema(Schema):
    """A rubric version (版本): drafts are editable, published ones immutable."""

    id = fields.Int()
    rubric_id = fields.Int()
    number = fields.Int(metadata={"description": "Version number within the rubric"})
    status = fields.Str(metadata={"description": "draft | published"})
    status_label = fields.Str()
    effective = fields.Str(
        allow_none=True, metadata={"description": "First month it scores, YYYY-MM (published)"}
    )
    note = fields.Str(allow_none=True)
    created_at = fields.DateTime()
    published_at = fields.DateTime(allow_none=True)
    published_by = fields.Int(allow_none=True)
    published_by_name = fields.Str(allow_none=True)
    version = fields.Int(
        metadata={"description": "Concurrency token: send it back with PUT/publish/DELETE"}
    )
    in_force = fields.Bool(metadata={"description": "Scores the current month"})


class RubricVersionSchema(RubricVersionSummarySchema):
    programme = fields.Str()
    rubric_name = fields.Str()
    total_points = fields.Float(metadata={"description": "Sum of non-veto max points (100)"})
    content = fields.Dict(
        metadata={
            "description": "The rubric document (categories → indicators), the format "
            "PUT accepts; see scoring/rubric_data.py"
        }
    )
    indicators = fields.List(fields.Nested(RubricIndicatorSchema))


class RubricSchema(Schema):
    """考核细则 of one programme (项目) with its versions, newest first."""

    id = fields.Int()
    programme = fields.Str(metadata={"description": "canteen | store | dormitory | greening | …"})
    programme_name = fields.Str()
    name = fields.Str()
    boarding_only = fields.Bool(metadata={"description": "Only boarding schools are scored"})
    active = fields.Bool()
    in_force_version_id = fields.Int(
        allow_none=True, metadata={"description": "The version scoring the current month"}
    )
    draft_version_id = fields.Int(allow_none=True, metadata={"description": "Open draft (admin)"})
    versions = fields.List(fields.Nested(RubricVersionSummarySchema))


class RubricDefaultsSchema(StrictSchema):
    confirm = fields.Bool(
        required=True,
        validate=validate.Equal(True, error="请确认载入默认考核细则"),
        metadata={"description": "Must be true"},
    )


class RubricDraftCreateSchema(StrictSchema):
    content = fields.Dict(
        metadata={"description": "Content of the new draft; omitted: a copy of the latest version"}
    )
    note = fields.Str(validate=validate.Length(max=200), metadata={"description": "版本说明"})


class RubricDraftUpdateSchema(StrictSchema):
    content = fields.Dict(required=True, metadata={"description": "The whole rubric document"})
    version = fields.Int(
        required=True, metadata={"description": "The draft's version you edited (409 if stale)"}
    )
    note = fields.Str(
        allow_none=True, validate=validate.Length(max=200), metadata={"description": "版本说明"}
    )


class RubricPublishSchema(StrictSchema):
    effective = fields.Str(
        required=True,
        validate=validate.Regexp(r"^\d{4}-\d{2}$", error="月份格式应为 YYYY-MM，例如 2026-09"),
        metadata={"description": "First month the version scores, YYYY-MM", "example": "2026-09"},
    )
    version = fields.Int(metadata={"description": "The draft's version (409 if stale)"})


class RubricVersionArgsSchema(StrictSchema):
    version = fields.Int(metadata={"description": "The draft's version (409 if stale)"})


class RubricImportFilesSchema(Schema):
    file = Upload(required=True, metadata={"description": "Workbook (.xlsx) with a sheet 指标"})


class RubricImportErrorSchema(Schema):
    sheet = fields.Str(metadata={"description": "Worksheet (empty: the file itself)"})
    row = fields.Int(allow_none=True, metadata={"description": "Row number (null: whole sheet)"})
    message = fields.Str(metadata={"description": "What is wrong, in Chinese"})


class RubricImportRowsSchema(Schema):
    rows = fields.List(fields.Nested(RubricImportErrorSchema))


class RubricImportFailureSchema(Schema):
    code = fields.Int()
    status = fields.Str()
    message = fields.Str()
    errors = fields.Nested(RubricImportRowsSchema)


class ScoringSettingsInputSchema(settings.ScoringSettingsSchema):
    class Meta:
        unknown = RAISE

    @pre_load
    def _drop_dump_only(self, data: Any, **_kw: Any) -> Any:
        if isinstance(data, dict) and "customised" in data:
            data = {k: v for k, v in data.items() if k != "customised"}
        return data
