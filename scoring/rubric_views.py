"""Rubrics (考核细则) and scoring settings (评分设置): pages (``bp``); the API ``blp`` is
re-exported from :mod:`scoring.rubric_api`.

A district admin copies a version into a draft, edits it (table or JSON), publishes
it from a month on, imports and exports it as Excel, and edits the district's scoring
settings. District viewers, inspectors and school users read published versions;
drafts are the admin's alone (404 for anyone else). Published versions never change
(409). Draft services: :mod:`scoring.rubric_drafts`; what pages and API show:
:mod:`scoring.rubric_payloads`; editor forms: :mod:`scoring.rubric_forms`; API
schemas: :mod:`scoring.rubric_schemas`.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError

from district.errors import Conflict
from district.extensions import db
from district.forms import parse_form
from district.nav import register_nav
from scoring import rubric_drafts as drafts
from scoring import rubric_excel, rubrics, settings
from scoring.models import RubricVersion
from scoring.rubric_api import (
    RubricDefaults,
    RubricDrafts,
    RubricImport,
    RubricItem,
    RubricList,
    ScoringSettings,
    VersionExport,
    VersionItem,
    VersionPublish,
    blp,
)
from scoring.rubric_data import DIMENSIONS, KINDS, MEASURES, SCHOOL_LEVELS
from scoring.rubric_forms import content_from_json, content_from_table, flat_errors, posted_rows
from scoring.rubric_payloads import (
    ADMIN,
    READERS,
    STATUS_LABELS,
    is_admin,
    load_rubric,
    load_version,
    rubrics_out,
    this_month,
    tree,
    version_detail,
)
from scoring.rubric_schemas import (
    RubricChecklistItemSchema,
    RubricDefaultsSchema,
    RubricDraftCreateSchema,
    RubricDraftUpdateSchema,
    RubricImportErrorSchema,
    RubricImportFailureSchema,
    RubricImportFilesSchema,
    RubricImportRowsSchema,
    RubricIndicatorSchema,
    RubricPublishSchema,
    RubricSchema,
    RubricVersionArgsSchema,
    RubricVersionSchema,
    RubricVersionSummarySchema,
    ScoringSettingsInputSchema,
)
from tenants.auth import DISTRICT_STAFF, roles_required
from tenants.models import Role

__all__ = [
    "ADMIN",
    "READERS",
    "STATUS_LABELS",
    "RubricChecklistItemSchema",
    "RubricDefaults",
    "RubricDefaultsSchema",
    "RubricDraftCreateSchema",
    "RubricDraftUpdateSchema",
    "RubricDrafts",
    "RubricImport",
    "RubricImportErrorSchema",
    "RubricImportFailureSchema",
    "RubricImportFilesSchema",
    "RubricImportRowsSchema",
    "RubricIndicatorSchema",
    "RubricItem",
    "RubricList",
    "RubricPublishSchema",
    "RubricSchema",
    "RubricVersionArgsSchema",
    "RubricVersionSchema",
    "RubricVersionSummarySchema",
    "ScoringSettings",
    "ScoringSettingsInputSchema",
    "VersionExport",
    "VersionItem",
    "VersionPublish",
    "blp",
    "bp",
]

bp = Blueprint("rubrics", __name__)

register_nav("考核细则", "rubrics.index", Role.DISTRICT_ROLES, order=20)
register_nav("评分设置", "rubrics.scoring_settings", ADMIN, order=85)


# --- pages ------------------------------------------------------------------------------


@bp.get("/rubrics")
@roles_required(*READERS)
def index() -> Any:
    return render_template(
        "rubrics/index.html", rubrics=rubrics_out(), month=this_month(), is_admin=is_admin()
    )


@bp.post("/rubrics/defaults")
@roles_required(*ADMIN)
def load_defaults() -> Any:
    if request.form.get("confirm") != "1":
        abort(400)
    created = rubrics.ensure_default_rubrics()
    if created:
        flash(_("已载入 %(n)d 个默认考核细则", n=len(created)), "success")
    else:
        flash(_("默认考核细则已存在，未作改动"), "info")
    return redirect(url_for("rubrics.index"))


@bp.post("/rubrics/<int:rubric_id>/drafts")
@roles_required(*ADMIN)
def new_draft(rubric_id: int) -> Any:
    rubric = load_rubric(rubric_id)
    draft = drafts.existing_draft(rubric)
    if draft is not None:
        flash(_("该细则已有草稿（第 %(n)d 版），请先发布或删除它", n=draft.number), "error")
        return redirect(url_for("rubrics.version_page", rubric_version_id=draft.id))
    version = drafts.new_draft(rubric, None, None)
    flash(_("已复制为第 %(n)d 版草稿", n=version.number), "success")
    return redirect(url_for("rubrics.edit", rubric_version_id=version.id))


@bp.get("/rubric-versions/<int:rubric_version_id>")
@roles_required(*READERS)
def version_page(rubric_version_id: int) -> Any:
    version = load_version(rubric_version_id)
    return _render_version(version)


def _render_version(version: RubricVersion, errors: Any = None, status: int = 200) -> Any:
    school = getattr(current_user, "school", None) if current_user.school_id else None
    return render_template(
        "rubrics/version.html",
        version=version,
        info=version_detail(version),
        tree=tree(version.content or {}),
        school=school,
        is_admin=is_admin(),
        errors=flat_errors(errors) if errors else {},
        this_month=this_month(),
    ), status


@bp.route("/rubric-versions/<int:rubric_version_id>/edit", methods=["GET", "POST"])
@roles_required(*ADMIN)
def edit(rubric_version_id: int) -> Any:
    version = load_version(rubric_version_id)
    if version.status != RubricVersion.DRAFT:
        raise drafts.conflict(_("已发布的版本不能修改，请复制为新草稿后再编辑"))
    mode = request.values.get("mode", "table")
    mode = mode if mode in ("table", "json") else "table"
    if request.method == "GET":
        return _render_editor(version, mode)
    form_version = request.form.get("version", type=int)
    note = (request.form.get("note") or "").strip()[:200]
    if mode == "json":
        content, errors = content_from_json(request.form.get("content_json", ""))
        row_errors: list[tuple[int | None, str]] = []
    else:
        content, row_errors = content_from_table(version)
        errors = []
    if content is not None:
        try:
            drafts.save_draft(version, content, form_version, note)
        except ValidationError as err:
            errors = flat_errors(err.messages).get("content") or sum(
                flat_errors(err.messages).values(), []
            )
            db.session.rollback()
        except Conflict as err:
            db.session.rollback()
            return _render_editor(version, mode, posted=True, conflict=err.description, status=409)
        else:
            flash(_("草稿已保存"), "success")
            return redirect(url_for("rubrics.version_page", rubric_version_id=version.id))
    return _render_editor(
        version, mode, posted=True, errors=errors, row_errors=row_errors, status=422
    )


def _render_editor(
    version: RubricVersion,
    mode: str,
    *,
    posted: bool = False,
    errors: list[str] | None = None,
    row_errors: list[tuple[int | None, str]] | None = None,
    conflict: str | None = None,
    status: int = 200,
) -> Any:
    content = version.content or {}
    if posted and mode == "table":
        rows = posted_rows()
        name = request.form.get("name", "")
        boarding_only = bool(request.form.get("boarding_only"))
    else:
        rows = [
            {
                k: (rubric_excel.fmt_number(v) if isinstance(v, int | float) else (v or ""))
                for k, v in cells.items()
            }
            for cells in rubric_excel.content_cells(content)
        ]
        for row in rows:
            row["boarding_only"] = row["boarding_only"] == rubric_excel.BOARDING_ONLY_TEXT
            row["evidence_required"] = row["evidence_required"] == rubric_excel.YES_TEXT
        name = content.get("name", version.rubric.name)
        boarding_only = bool(content.get("boarding_only"))
    if posted and mode == "table":
        for row in rows:
            row["boarding_only"] = row["boarding_only"] == "是"
            row["evidence_required"] = row["evidence_required"] == "是"
    json_text = (
        request.form.get("content_json", "")
        if posted and mode == "json"
        else json.dumps(content, ensure_ascii=False, indent=2)
    )
    bad_rows = {n for n, _m in (row_errors or []) if n is not None}
    return render_template(
        "rubrics/edit.html",
        version=version,
        mode=mode,
        rows=rows,
        blank_rows=3,
        name=name,
        boarding_only=boarding_only,
        json_text=json_text,
        note=request.form.get("note", version.note or "") if posted else (version.note or ""),
        form_version=request.form.get("version", version.version) if posted else version.version,
        errors=errors or [],
        row_errors=row_errors or [],
        bad_rows=bad_rows,
        conflict=conflict,
        kinds=KINDS,
        dimensions=DIMENSIONS,
        measures=MEASURES,
        levels=SCHOOL_LEVELS,
    ), status


@bp.post("/rubric-versions/<int:rubric_version_id>/publish")
@roles_required(*ADMIN)
def publish(rubric_version_id: int) -> Any:
    version = load_version(rubric_version_id)
    drafts.require_draft(version)
    try:
        drafts.publish(
            version, request.form.get("effective", ""), request.form.get("version", type=int)
        )
    except ValidationError as err:
        db.session.rollback()
        return _render_version(version, errors=err.messages, status=422)
    flash(
        _(
            "第 %(n)d 版已发布，自 %(y)d年%(m)d月起生效；受影响的月度成绩将重新计算",
            n=version.number,
            y=version.effective_year,
            m=version.effective_month,
        ),
        "success",
    )
    return redirect(url_for("rubrics.version_page", rubric_version_id=version.id))


@bp.post("/rubric-versions/<int:rubric_version_id>/delete")
@roles_required(*ADMIN)
def delete(rubric_version_id: int) -> Any:
    version = load_version(rubric_version_id)
    number = version.number
    drafts.delete_draft(version, request.form.get("version", type=int))
    flash(_("第 %(n)d 版草稿已删除", n=number), "info")
    return redirect(url_for("rubrics.index"))


@bp.get("/rubric-versions/<int:rubric_version_id>/export.xlsx")
@roles_required(*READERS)
def export(rubric_version_id: int) -> Any:
    return drafts.export_response(load_version(rubric_version_id))


@bp.route("/rubrics/<int:rubric_id>/import", methods=["GET", "POST"])
@roles_required(*ADMIN)
def import_xlsx(rubric_id: int) -> Any:
    rubric = load_rubric(rubric_id)
    result = None
    conflict = None
    status = 200
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            result = rubric_excel.ImportResult(errors=[("", None, _("请选择要导入的 Excel 文件"))])
            status = 422
        else:
            try:
                result, version = drafts.import_draft(rubric, upload.read(), upload.filename)
            except Conflict as err:
                conflict, status = err.description, 409
            else:
                if version is not None:
                    flash(_("已导入为第 %(n)d 版草稿，请检查后发布", n=version.number), "success")
                    return redirect(url_for("rubrics.version_page", rubric_version_id=version.id))
                status = 422
    return render_template(
        "rubrics/import.html",
        rubric=rubric,
        result=result,
        conflict=conflict,
        draft=drafts.existing_draft(rubric),
        columns=rubric_excel.HEADER,
    ), status


@bp.route("/settings/scoring", methods=["GET", "POST"])
@roles_required(*DISTRICT_STAFF)
def scoring_settings() -> Any:
    errors: dict[str, list[str]] = {}
    form = None
    status = 200
    if request.method == "POST":
        if not is_admin():
            abort(403)
        data, raw_errors = parse_form(settings.ScoringSettingsSchema(), lists=("star_thresholds",))
        if data is not None:
            try:
                settings.save_settings(data)
            except ValidationError as err:
                raw_errors = err.messages  # type: ignore[assignment]
                db.session.rollback()
            except Conflict:
                db.session.rollback()
                raw_errors = {"_schema": [_("评分设置已被他人修改，请刷新页面后重新填写")]}
                status = 409
            else:
                flash(
                    _("评分设置已保存；已计算的成绩不会自动改变，如需可重新计算相应月份"), "success"
                )
                return redirect(url_for("rubrics.scoring_settings"))
        errors = flat_errors(raw_errors)
        form = request.form
        status = status if status != 200 else 422
    return render_template(
        "rubrics/settings.html",
        current=settings.current_settings(),
        defaults=settings.DEFAULT_RULES,
        labels=settings.LABELS,
        errors=errors,
        form=form,
        is_admin=is_admin(),
        default_deadline=settings.DEFAULT_DEADLINE_DAY,
        max_deadline=settings.MAX_DEADLINE_DAY,
    ), status
