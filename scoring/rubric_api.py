"""Rubrics (考核细则) and scoring settings (评分设置): the JSON API (``blp``) under /api/v1.

The pages are in :mod:`scoring.rubric_views`, which re-exports ``blp``.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint as ApiBlueprint
from flask_smorest import abort as api_abort

from district.exports import XLSX_MIME
from scoring import rubric_drafts as drafts
from scoring import rubrics, settings
from scoring.lookups import user_names
from scoring.rubric_payloads import (
    ADMIN,
    READERS,
    load_rubric,
    load_version,
    rubric_out,
    rubrics_out,
    this_month,
    version_detail,
)
from scoring.rubric_schemas import (
    RubricDefaultsSchema,
    RubricDraftCreateSchema,
    RubricDraftUpdateSchema,
    RubricImportFailureSchema,
    RubricImportFilesSchema,
    RubricPublishSchema,
    RubricSchema,
    RubricVersionArgsSchema,
    RubricVersionSchema,
    ScoringSettingsInputSchema,
)
from tenants.auth import DISTRICT_STAFF, roles_required

blp = ApiBlueprint(
    "api_rubrics",
    __name__,
    url_prefix="/api/v1",
    description="考核细则（版本、草稿、发布、Excel）与评分设置",
)


@blp.route("/rubrics")
class RubricList(MethodView):
    @roles_required(*READERS)
    @blp.response(200, RubricSchema(many=True))
    def get(self) -> Any:
        """Rubrics (考核细则) of the district with their versions.

        District admins also see drafts; everyone else sees published versions only.
        """
        return rubrics_out()


@blp.route("/rubrics/defaults")
class RubricDefaults(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(RubricDefaultsSchema)
    @blp.response(201, RubricSchema(many=True))
    def post(self, _data: dict[str, Any]) -> Any:
        """Load the four default programmes (四个创建), published, if the district has none."""
        rubrics.ensure_default_rubrics()
        return rubrics_out()


@blp.route("/rubrics/<int:rubric_id>")
class RubricItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, RubricSchema)
    def get(self, rubric_id: int) -> Any:
        """One rubric with its versions (drafts for district admins only)."""
        rubric = load_rubric(rubric_id)
        names = user_names({v.published_by for v in rubric.versions if v.published_by})
        return rubric_out(rubric, names, this_month())


@blp.route("/rubrics/<int:rubric_id>/drafts")
class RubricDrafts(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(RubricDraftCreateSchema)
    @blp.response(201, RubricVersionSchema)
    @blp.alt_response(409, description="The rubric already has a draft")
    @blp.alt_response(422, description="The content does not validate (Chinese messages)")
    def post(self, data: dict[str, Any], rubric_id: int) -> Any:
        """Start a new draft: a copy of the latest version, or the content given."""
        rubric = load_rubric(rubric_id)
        version = drafts.new_draft(rubric, data.get("content"), data.get("note"))
        return version_detail(version)


@blp.route("/rubrics/<int:rubric_id>/import")
class RubricImport(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(RubricImportFilesSchema, location="files")
    @blp.response(201, RubricVersionSchema)
    @blp.alt_response(409, description="The rubric already has a draft")
    @blp.alt_response(
        422,
        schema=RubricImportFailureSchema,
        description="Row-by-row errors in errors.rows; nothing is created",
    )
    def post(self, files: dict[str, Any], rubric_id: int) -> Any:
        """Import a workbook (sheet 指标, the export's columns) into a new draft."""
        rubric = load_rubric(rubric_id)
        upload = files["file"]
        result, version = drafts.import_draft(rubric, upload.read(), upload.filename)
        if version is None:
            api_abort(
                422,
                message=_("导入失败：发现 %(n)d 处错误，未创建草稿", n=len(result.errors)),
                errors={"rows": result.as_dicts()},
            )
        return version_detail(version)


@blp.route("/rubric-versions/<int:rubric_version_id>")
class VersionItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, RubricVersionSchema)
    def get(self, rubric_version_id: int) -> Any:
        """A version with its indicators (drafts: district admins only)."""
        return version_detail(load_version(rubric_version_id))

    @roles_required(*ADMIN)
    @blp.arguments(RubricDraftUpdateSchema)
    @blp.response(200, RubricVersionSchema)
    @blp.alt_response(409, description="Published (immutable) or stale version")
    def put(self, data: dict[str, Any], rubric_version_id: int) -> Any:
        """Replace a draft's content; ``version`` must match (else 409)."""
        version = load_version(rubric_version_id)
        drafts.save_draft(version, data["content"], data["version"], data.get("note"))
        return version_detail(version)

    @roles_required(*ADMIN)
    @blp.arguments(RubricVersionArgsSchema, location="query")
    @blp.response(204)
    @blp.alt_response(409, description="Published versions cannot be deleted")
    def delete(self, args: dict[str, Any], rubric_version_id: int) -> None:
        """Delete a draft."""
        drafts.delete_draft(load_version(rubric_version_id), args.get("version"))


@blp.route("/rubric-versions/<int:rubric_version_id>/publish")
class VersionPublish(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(RubricPublishSchema)
    @blp.response(200, RubricVersionSchema)
    @blp.alt_response(409, description="Already published, or stale version")
    def post(self, data: dict[str, Any], rubric_version_id: int) -> Any:
        """Publish a draft from a month on; affected school-months are recomputed."""
        version = load_version(rubric_version_id)
        drafts.publish(version, data["effective"], data.get("version"))
        return version_detail(version)


@blp.route("/rubric-versions/<int:rubric_version_id>/export.xlsx")
class VersionExport(MethodView):
    @roles_required(*READERS)
    @blp.response(
        200,
        content_type=XLSX_MIME,
        description="Workbook with one sheet 指标",
    )
    def get(self, rubric_version_id: int) -> Any:
        """A version as an Excel workbook (columns as the import expects)."""
        return drafts.export_response(load_version(rubric_version_id))


@blp.route("/settings/scoring")
class ScoringSettings(MethodView):
    @roles_required(*DISTRICT_STAFF)
    @blp.response(200, settings.ScoringSettingsSchema)
    def get(self) -> Any:
        """The district's scoring settings (defaults until first saved)."""
        return settings.current_settings()

    @roles_required(*ADMIN)
    @blp.arguments(ScoringSettingsInputSchema)
    @blp.response(200, settings.ScoringSettingsSchema)
    @blp.alt_response(409, description="Stale settings version")
    @blp.alt_response(422, description="Field messages (weights must sum to 1, …)")
    def put(self, data: dict[str, Any]) -> Any:
        """Replace the scoring settings. Nothing is recomputed automatically."""
        return settings.save_settings(data)
