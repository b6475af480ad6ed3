"""Rubrics (考核细则) and scoring settings (评分设置): pages and the /api/v1 API.

A district admin copies a version into a draft, edits it (table or JSON), publishes
it from a month on, imports and exports it as Excel, and edits the district's scoring
settings. District viewers, inspectors and school users read published versions;
drafts are the admin's alone (404 for anyone else). Published versions never change
(409).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from flask_smorest import abort as api_abort
from flask_smorest.fields import Upload
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from district import audit
from district.errors import Conflict
from district.exports import XLSX_MIME, xlsx_response
from district.extensions import db
from district.forms import parse_form
from district.nav import register_nav
from scoring import rubric_excel, rubrics, settings
from scoring.models import Rubric, RubricVersion
from scoring.rubric_data import DIMENSIONS, KINDS, MEASURES, SCHOOL_LEVELS, flatten_indicators
from tenants.auth import ANY_TENANT_USER, DISTRICT_STAFF, roles_required
from tenants.models import Role, User, utcnow
from tenants.services import get_or_404

bp = Blueprint("rubrics", __name__)
blp = ApiBlueprint(
    "api_rubrics",
    __name__,
    url_prefix="/api/v1",
    description="考核细则（版本、草稿、发布、Excel）与评分设置",
)

ADMIN = (Role.DISTRICT_ADMIN,)
READERS = ANY_TENANT_USER
STATUS_LABELS = {RubricVersion.DRAFT: "草稿", RubricVersion.PUBLISHED: "已发布"}

register_nav("考核细则", "rubrics.index", Role.DISTRICT_ROLES, order=20)
register_nav("评分设置", "rubrics.scoring_settings", ADMIN, order=85)


# --- loading and shaping ----------------------------------------------------------------


def _conflict(message: str) -> Conflict:
    """A 409 whose explanation reaches the user, on the page and in the JSON answer."""
    exc = Conflict(description=message)
    exc.data = {"message": message}  # type: ignore[attr-defined]
    return exc


def _is_admin() -> bool:
    return current_user.role == Role.DISTRICT_ADMIN


def _this_month() -> tuple[int, int]:
    now = utcnow() + timedelta(hours=8)  # the districts keep Beijing time
    return now.year, now.month


def _load_rubric(rubric_id: int) -> Rubric:
    return get_or_404(Rubric, rubric_id)


def _load_version(version_id: int) -> RubricVersion:
    """A version the caller may read: drafts are the district admin's only."""
    version = get_or_404(RubricVersion, version_id)
    if version.status != RubricVersion.PUBLISHED and not _is_admin():
        abort(404)
    return version


def _in_force(rubric: Rubric, year: int, month: int) -> RubricVersion | None:
    """Same rule as rubrics.version_in_force, on versions already loaded."""
    key = rubrics.month_key(year, month)
    published = [
        v
        for v in rubric.versions
        if v.status == RubricVersion.PUBLISHED and v.effective_key is not None
    ]
    candidates = [v for v in published if v.effective_key <= key]
    return max(candidates, key=lambda v: (v.effective_key, v.number), default=None)


def _user_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all()
    return {r[0]: r[1] for r in rows}


def _effective_text(version: RubricVersion) -> str | None:
    if version.effective_year is None or version.effective_month is None:
        return None
    return f"{version.effective_year:04d}-{version.effective_month:02d}"


def _version_out(
    version: RubricVersion, names: dict[int, str], in_force_id: int | None
) -> dict[str, Any]:
    return {
        "id": version.id,
        "rubric_id": version.rubric_id,
        "number": version.number,
        "status": version.status,
        "status_label": STATUS_LABELS.get(version.status, version.status),
        "effective": _effective_text(version),
        "effective_month": (version.effective_year, version.effective_month)
        if version.effective_year
        else None,
        "note": version.note,
        "created_at": version.created_at,
        "published_at": version.published_at,
        "published_by": version.published_by,
        "published_by_name": names.get(version.published_by) if version.published_by else None,
        "version": version.version,
        "in_force": version.id == in_force_id,
    }


def _rubric_out(rubric: Rubric, names: dict[int, str], month: tuple[int, int]) -> dict[str, Any]:
    in_force = _in_force(rubric, *month)
    visible = [v for v in rubric.versions if _is_admin() or v.status == RubricVersion.PUBLISHED]
    draft = next((v for v in visible if v.status == RubricVersion.DRAFT), None)
    return {
        "id": rubric.id,
        "programme": rubric.programme,
        "programme_name": rubrics.programme_name(rubric.programme),
        "name": rubric.name,
        "boarding_only": rubric.boarding_only,
        "active": rubric.active,
        "in_force_version_id": in_force.id if in_force else None,
        "draft_version_id": draft.id if draft else None,
        "versions": [
            _version_out(v, names, in_force.id if in_force else None)
            for v in sorted(visible, key=lambda v: v.number, reverse=True)
        ],
    }


def _rubrics_out() -> list[dict[str, Any]]:
    rows = rubrics.rubrics()
    names = _user_names({v.published_by for r in rows for v in r.versions if v.published_by})
    month = _this_month()
    return [_rubric_out(r, names, month) for r in rows]


def _indicator_out(item: dict[str, Any]) -> dict[str, Any]:
    applies = item.get("applies_to") or {}
    return {
        "category_code": item.get("category_code"),
        "category_name": item.get("category_name"),
        "code": item.get("code"),
        "name": item.get("name"),
        "max_points": item.get("max_points"),
        "kind": item.get("kind"),
        "kind_label": KINDS.get(item.get("kind"), item.get("kind")),
        "dimension": item.get("dimension"),
        "dimension_label": DIMENSIONS.get(item.get("dimension"), item.get("dimension")),
        "guidance": item.get("guidance"),
        "evidence_required": bool(item.get("evidence_required")),
        "boarding_only": bool(applies.get("boarding_only")),
        "levels": applies.get("levels"),
        "checklist": item.get("checklist"),
        "curve": item.get("curve"),
        "measure": item.get("measure"),
        "measure_label": MEASURES.get(item.get("measure")) if item.get("measure") else None,
    }


def _version_detail(version: RubricVersion) -> dict[str, Any]:
    rubric = version.rubric
    names = _user_names({version.published_by} if version.published_by else set())
    in_force = _in_force(rubric, *_this_month())
    out = _version_out(version, names, in_force.id if in_force else None)
    items = flatten_indicators(version.content or {})
    out.update(
        programme=rubric.programme,
        rubric_name=(version.content or {}).get("name", rubric.name),
        content=version.content,
        indicators=[_indicator_out(i) for i in items],
        total_points=sum(float(i.get("max_points") or 0) for i in items if i.get("kind") != "veto"),
    )
    return out


def _tree(content: dict[str, Any]) -> list[dict[str, Any]]:
    """Categories with their indicators (as _indicator_out) and subtotals, for the page."""
    tree = []
    for category in content.get("categories", []):
        items = [
            _indicator_out({"category_code": category.get("code"), **i})
            for i in category.get("indicators", [])
        ]
        tree.append(
            {
                "code": category.get("code"),
                "name": category.get("name"),
                "indicators": items,
                "points": sum(float(i["max_points"] or 0) for i in items if i["kind"] != "veto"),
            }
        )
    return tree


def _base_of(rubric: Rubric) -> dict[str, Any]:
    """Rubric-level fields an imported sheet does not carry: from the latest version."""
    latest = rubric.versions[-1].content if rubric.versions else {}
    return {
        "programme": rubric.programme,
        "name": (latest or {}).get("name", rubric.name),
        "boarding_only": bool((latest or {}).get("boarding_only", rubric.boarding_only)),
    }


def _existing_draft(rubric: Rubric) -> RubricVersion | None:
    return next((v for v in rubric.versions if v.status == RubricVersion.DRAFT), None)


def _refuse_second_draft(rubric: Rubric) -> None:
    draft = _existing_draft(rubric)
    if draft is not None:
        raise _conflict(_("该细则已有草稿（第 %(n)d 版），请先发布或删除它", n=draft.number))


# --- services the pages and the API share ---------------------------------------------


def _require_draft(version: RubricVersion) -> None:
    if version.status != RubricVersion.DRAFT:
        raise _conflict(_("已发布的版本不能修改，请复制为新草稿后再编辑"))


def _check_programme(version: RubricVersion, content: Any) -> None:
    if isinstance(content, dict) and content.get("programme") != version.rubric.programme:
        raise ValidationError(
            {
                "content": [
                    _("项目编码（programme）必须为 %(p)s，不能修改", p=version.rubric.programme)
                ]
            }
        )


def _save_draft(
    version: RubricVersion, content: Any, expected: int | None, note: str | None = None
) -> RubricVersion:
    """Replace a draft's content (and its note, when ``note`` is given; "" clears it)."""
    _require_draft(version)
    if expected is not None and expected != version.version:
        raise _conflict(_("草稿已被他人修改，请刷新后重试"))
    _check_programme(version, content)
    try:
        rubrics.update_draft(version, content, expected)
        new_note = (note.strip() or None) if note is not None else version.note
        if new_note != version.note:
            audit.record(
                "rubric.note", version, before={"note": version.note}, after={"note": new_note}
            )
            version.note = new_note
            db.session.flush()
    except StaleDataError as exc:
        raise _conflict(_("草稿已被他人修改，请刷新后重试")) from exc
    return version


def _new_draft(rubric: Rubric, content: dict[str, Any] | None, note: str | None) -> RubricVersion:
    _refuse_second_draft(rubric)
    if content is not None and content.get("programme") != rubric.programme:
        raise ValidationError(
            {"content": [_("项目编码（programme）必须为 %(p)s", p=rubric.programme)]}
        )
    version = rubrics.create_draft(rubric, content)
    if note:
        version.note = note
        db.session.flush()
    return version


def _publish(version: RubricVersion, effective_text: str, expected: int | None) -> RubricVersion:
    _require_draft(version)
    if expected is not None and expected != version.version:
        raise _conflict(_("草稿已被他人修改，请刷新后重试"))
    effective = rubrics.parse_month(effective_text)
    rubrics.check_effective(version, effective)
    try:
        return rubrics.publish(version, effective=effective, user_id=current_user.id)
    except StaleDataError as exc:
        raise _conflict(_("草稿已被他人修改，请刷新后重试")) from exc


def _delete(version: RubricVersion, expected: int | None) -> None:
    _require_draft(version)
    try:
        rubrics.delete_draft(version, expected)
    except StaleDataError as exc:
        raise _conflict(_("草稿已被他人修改，请刷新后重试")) from exc


def _import(rubric: Rubric, data: bytes, filename: str | None) -> tuple[Any, RubricVersion | None]:
    _refuse_second_draft(rubric)
    result = rubric_excel.import_workbook(data, _base_of(rubric))
    if not result.ok:
        return result, None
    version = rubrics.create_draft(rubric, result.content)
    version.note = _("从 Excel 导入")
    db.session.flush()
    audit.record(
        "rubric.import",
        version,
        after={
            "file": (filename or "")[:100],
            "indicators": len(flatten_indicators(result.content or {})),
        },
    )
    return result, version


def _export(version: RubricVersion) -> Any:
    rubric = version.rubric
    name = (version.content or {}).get("name", rubric.name)
    data = rubric_excel.export_workbook(version.content or {}, title=f"{name} 第{version.number}版")
    return xlsx_response(data, f"{name}-第{version.number}版.xlsx")


def _flat_errors(errors: Any) -> dict[str, list[str]]:
    """Marshmallow messages (possibly nested by list index) as {field: [text]}."""
    out: dict[str, list[str]] = {}

    def walk(key: str, value: Any) -> None:
        if isinstance(value, dict):
            for sub in value.values():
                walk(key, sub)
        elif isinstance(value, (list, tuple)):
            for sub in value:
                walk(key, sub)
        else:
            out.setdefault(key, []).append(str(value))

    if isinstance(errors, dict):
        for key, value in errors.items():
            walk(str(key), value)
    else:
        walk("_schema", errors)
    return out


# --- pages ------------------------------------------------------------------------------


@bp.get("/rubrics")
@roles_required(*READERS)
def index() -> Any:
    return render_template(
        "rubrics/index.html", rubrics=_rubrics_out(), month=_this_month(), is_admin=_is_admin()
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
    rubric = _load_rubric(rubric_id)
    draft = _existing_draft(rubric)
    if draft is not None:
        flash(_("该细则已有草稿（第 %(n)d 版），请先发布或删除它", n=draft.number), "error")
        return redirect(url_for("rubrics.version_page", rubric_version_id=draft.id))
    version = _new_draft(rubric, None, None)
    flash(_("已复制为第 %(n)d 版草稿", n=version.number), "success")
    return redirect(url_for("rubrics.edit", rubric_version_id=version.id))


@bp.get("/rubric-versions/<int:rubric_version_id>")
@roles_required(*READERS)
def version_page(rubric_version_id: int) -> Any:
    version = _load_version(rubric_version_id)
    return _render_version(version)


def _render_version(version: RubricVersion, errors: Any = None, status: int = 200) -> Any:
    school = getattr(current_user, "school", None) if current_user.school_id else None
    return render_template(
        "rubrics/version.html",
        version=version,
        info=_version_detail(version),
        tree=_tree(version.content or {}),
        school=school,
        is_admin=_is_admin(),
        errors=_flat_errors(errors) if errors else {},
        this_month=_this_month(),
    ), status


@bp.route("/rubric-versions/<int:rubric_version_id>/edit", methods=["GET", "POST"])
@roles_required(*ADMIN)
def edit(rubric_version_id: int) -> Any:
    version = _load_version(rubric_version_id)
    if version.status != RubricVersion.DRAFT:
        raise _conflict(_("已发布的版本不能修改，请复制为新草稿后再编辑"))
    mode = request.values.get("mode", "table")
    mode = mode if mode in ("table", "json") else "table"
    if request.method == "GET":
        return _render_editor(version, mode)
    form_version = request.form.get("version", type=int)
    note = (request.form.get("note") or "").strip()[:200]
    if mode == "json":
        content, errors = _content_from_json(request.form.get("content_json", ""))
        row_errors: list[tuple[int | None, str]] = []
    else:
        content, row_errors = _content_from_table(version)
        errors = []
    if content is not None:
        try:
            _save_draft(version, content, form_version, note)
        except ValidationError as err:
            errors = _flat_errors(err.messages).get("content") or sum(
                _flat_errors(err.messages).values(), []
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


def _content_from_json(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [
            _(
                "JSON 格式有误：第 %(l)d 行第 %(c)d 列（%(m)s）",
                l=exc.lineno,
                c=exc.colno,
                m=exc.msg,
            )
        ]
    if not isinstance(content, dict):
        return None, [_("内容必须是一个 JSON 对象")]
    return content, []


_ROW_FIELD = re.compile(r"^r(\d{1,4})-([a-z_]+)$")
_BOOLEAN_KEYS = ("boarding_only", "evidence_required")


def _posted_rows() -> list[dict[str, Any]]:
    """The table editor's rows in order, without deleted and empty ones."""
    rows: dict[int, dict[str, Any]] = {}
    for key in request.form:
        match = _ROW_FIELD.match(key)
        if match and (match.group(2) in rubric_excel.KEYS or match.group(2) == "delete"):
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = request.form.get(key)
    out = []
    for index in sorted(rows):
        row = rows[index]
        if row.get("delete"):
            continue
        if all(not (row.get(k) or "").strip() for k in rubric_excel.KEYS if k not in _BOOLEAN_KEYS):
            continue
        for key in _BOOLEAN_KEYS:
            row[key] = "是" if row.get(key) else "否"
        out.append(row)
    return out


def _content_from_table(
    version: RubricVersion,
) -> tuple[dict[str, Any] | None, list[tuple[int | None, str]]]:
    base = _base_of(version.rubric)
    base["name"] = (request.form.get("name") or "").strip() or base["name"]
    base["boarding_only"] = bool(request.form.get("boarding_only"))
    rows = _posted_rows()
    return rubric_excel.rows_to_content(list(enumerate(rows, start=1)), base)


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
        rows = _posted_rows()
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
    version = _load_version(rubric_version_id)
    _require_draft(version)
    try:
        _publish(version, request.form.get("effective", ""), request.form.get("version", type=int))
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
    version = _load_version(rubric_version_id)
    number = version.number
    _delete(version, request.form.get("version", type=int))
    flash(_("第 %(n)d 版草稿已删除", n=number), "info")
    return redirect(url_for("rubrics.index"))


@bp.get("/rubric-versions/<int:rubric_version_id>/export.xlsx")
@roles_required(*READERS)
def export(rubric_version_id: int) -> Any:
    return _export(_load_version(rubric_version_id))


@bp.route("/rubrics/<int:rubric_id>/import", methods=["GET", "POST"])
@roles_required(*ADMIN)
def import_xlsx(rubric_id: int) -> Any:
    rubric = _load_rubric(rubric_id)
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
                result, version = _import(rubric, upload.read(), upload.filename)
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
        draft=_existing_draft(rubric),
        columns=rubric_excel.HEADER,
    ), status


@bp.route("/settings/scoring", methods=["GET", "POST"])
@roles_required(*DISTRICT_STAFF)
def scoring_settings() -> Any:
    errors: dict[str, list[str]] = {}
    form = None
    status = 200
    if request.method == "POST":
        if not _is_admin():
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
        errors = _flat_errors(raw_errors)
        form = request.form
        status = status if status != 200 else 422
    return render_template(
        "rubrics/settings.html",
        current=settings.current_settings(),
        defaults=settings.DEFAULT_RULES,
        labels=settings.LABELS,
        errors=errors,
        form=form,
        is_admin=_is_admin(),
        default_deadline=settings.DEFAULT_DEADLINE_DAY,
        max_deadline=settings.MAX_DEADLINE_DAY,
    ), status


# --- API schemas --------------------------------------------------------------------------


class _StrictSchema(Schema):
    class Meta:
        unknown = RAISE


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


class RubricDefaultsSchema(_StrictSchema):
    confirm = fields.Bool(
        required=True,
        validate=validate.Equal(True, error="请确认载入默认考核细则"),
        metadata={"description": "Must be true"},
    )


class RubricDraftCreateSchema(_StrictSchema):
    content = fields.Dict(
        metadata={"description": "Content of the new draft; omitted: a copy of the latest version"}
    )
    note = fields.Str(validate=validate.Length(max=200), metadata={"description": "版本说明"})


class RubricDraftUpdateSchema(_StrictSchema):
    content = fields.Dict(required=True, metadata={"description": "The whole rubric document"})
    version = fields.Int(
        required=True, metadata={"description": "The draft's version you edited (409 if stale)"}
    )
    note = fields.Str(
        allow_none=True, validate=validate.Length(max=200), metadata={"description": "版本说明"}
    )


class RubricPublishSchema(_StrictSchema):
    effective = fields.Str(
        required=True,
        validate=validate.Regexp(r"^\d{4}-\d{2}$", error="月份格式应为 YYYY-MM，例如 2026-09"),
        metadata={"description": "First month the version scores, YYYY-MM", "example": "2026-09"},
    )
    version = fields.Int(metadata={"description": "The draft's version (409 if stale)"})


class RubricVersionArgsSchema(_StrictSchema):
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


# --- API ---------------------------------------------------------------------------------


@blp.route("/rubrics")
class RubricList(MethodView):
    @roles_required(*READERS)
    @blp.response(200, RubricSchema(many=True))
    def get(self) -> Any:
        """Rubrics (考核细则) of the district with their versions.

        District admins also see drafts; everyone else sees published versions only.
        """
        return _rubrics_out()


@blp.route("/rubrics/defaults")
class RubricDefaults(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(RubricDefaultsSchema)
    @blp.response(201, RubricSchema(many=True))
    def post(self, _data: dict[str, Any]) -> Any:
        """Load the four default programmes (四个创建), published, if the district has none."""
        rubrics.ensure_default_rubrics()
        return _rubrics_out()


@blp.route("/rubrics/<int:rubric_id>")
class RubricItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, RubricSchema)
    def get(self, rubric_id: int) -> Any:
        """One rubric with its versions (drafts for district admins only)."""
        rubric = _load_rubric(rubric_id)
        names = _user_names({v.published_by for v in rubric.versions if v.published_by})
        return _rubric_out(rubric, names, _this_month())


@blp.route("/rubrics/<int:rubric_id>/drafts")
class RubricDrafts(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(RubricDraftCreateSchema)
    @blp.response(201, RubricVersionSchema)
    @blp.alt_response(409, description="The rubric already has a draft")
    @blp.alt_response(422, description="The content does not validate (Chinese messages)")
    def post(self, data: dict[str, Any], rubric_id: int) -> Any:
        """Start a new draft: a copy of the latest version, or the content given."""
        rubric = _load_rubric(rubric_id)
        version = _new_draft(rubric, data.get("content"), data.get("note"))
        return _version_detail(version)


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
        rubric = _load_rubric(rubric_id)
        upload = files["file"]
        result, version = _import(rubric, upload.read(), upload.filename)
        if version is None:
            api_abort(
                422,
                message=_("导入失败：发现 %(n)d 处错误，未创建草稿", n=len(result.errors)),
                errors={"rows": result.as_dicts()},
            )
        return _version_detail(version)


@blp.route("/rubric-versions/<int:rubric_version_id>")
class VersionItem(MethodView):
    @roles_required(*READERS)
    @blp.response(200, RubricVersionSchema)
    def get(self, rubric_version_id: int) -> Any:
        """A version with its indicators (drafts: district admins only)."""
        return _version_detail(_load_version(rubric_version_id))

    @roles_required(*ADMIN)
    @blp.arguments(RubricDraftUpdateSchema)
    @blp.response(200, RubricVersionSchema)
    @blp.alt_response(409, description="Published (immutable) or stale version")
    def put(self, data: dict[str, Any], rubric_version_id: int) -> Any:
        """Replace a draft's content; ``version`` must match (else 409)."""
        version = _load_version(rubric_version_id)
        _save_draft(version, data["content"], data["version"], data.get("note"))
        return _version_detail(version)

    @roles_required(*ADMIN)
    @blp.arguments(RubricVersionArgsSchema, location="query")
    @blp.response(204)
    @blp.alt_response(409, description="Published versions cannot be deleted")
    def delete(self, args: dict[str, Any], rubric_version_id: int) -> None:
        """Delete a draft."""
        _delete(_load_version(rubric_version_id), args.get("version"))


@blp.route("/rubric-versions/<int:rubric_version_id>/publish")
class VersionPublish(MethodView):
    @roles_required(*ADMIN)
    @blp.arguments(RubricPublishSchema)
    @blp.response(200, RubricVersionSchema)
    @blp.alt_response(409, description="Already published, or stale version")
    def post(self, data: dict[str, Any], rubric_version_id: int) -> Any:
        """Publish a draft from a month on; affected school-months are recomputed."""
        version = _load_version(rubric_version_id)
        _publish(version, data["effective"], data.get("version"))
        return _version_detail(version)


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
        return _export(_load_version(rubric_version_id))


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
