"""Rubric drafts (考核细则草稿): the services the pages and the API share.

Copy into a draft, save, publish from a month on, delete, import from and export to
Excel. Published versions never change: editing one is a 409 whose explanation reaches
the user (on the page and in the JSON answer), like a stale ``version``.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy.orm.exc import StaleDataError

from district import audit
from district.errors import Conflict
from district.exports import xlsx_response
from district.extensions import db
from scoring import rubric_excel, rubrics
from scoring.models import Rubric, RubricVersion
from scoring.rubric_data import flatten_indicators


def conflict(message: str) -> Conflict:
    """A 409 whose explanation reaches the user, on the page and in the JSON answer."""
    exc = Conflict(description=message)
    exc.data = {"message": message}  # type: ignore[attr-defined]
    return exc


def base_of(rubric: Rubric) -> dict[str, Any]:
    """Rubric-level fields an imported sheet does not carry: from the latest version."""
    latest = rubric.versions[-1].content if rubric.versions else {}
    return {
        "programme": rubric.programme,
        "name": (latest or {}).get("name", rubric.name),
        "boarding_only": bool((latest or {}).get("boarding_only", rubric.boarding_only)),
    }


def existing_draft(rubric: Rubric) -> RubricVersion | None:
    return next((v for v in rubric.versions if v.status == RubricVersion.DRAFT), None)


def refuse_second_draft(rubric: Rubric) -> None:
    draft = existing_draft(rubric)
    if draft is not None:
        raise conflict(_("该细则已有草稿（第 %(n)d 版），请先发布或删除它", n=draft.number))


def require_draft(version: RubricVersion) -> None:
    if version.status != RubricVersion.DRAFT:
        raise conflict(_("已发布的版本不能修改，请复制为新草稿后再编辑"))


def _check_programme(version: RubricVersion, content: Any) -> None:
    if isinstance(content, dict) and content.get("programme") != version.rubric.programme:
        raise ValidationError(
            {
                "content": [
                    _("项目编码（programme）必须为 %(p)s，不能修改", p=version.rubric.programme)
                ]
            }
        )


def save_draft(
    version: RubricVersion, content: Any, expected: int | None, note: str | None = None
) -> RubricVersion:
    """Replace a draft's content (and its note, when ``note`` is given; "" clears it)."""
    require_draft(version)
    if expected is not None and expected != version.version:
        raise conflict(_("草稿已被他人修改，请刷新后重试"))
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
        raise conflict(_("草稿已被他人修改，请刷新后重试")) from exc
    return version


def new_draft(rubric: Rubric, content: dict[str, Any] | None, note: str | None) -> RubricVersion:
    refuse_second_draft(rubric)
    if content is not None and content.get("programme") != rubric.programme:
        raise ValidationError(
            {"content": [_("项目编码（programme）必须为 %(p)s", p=rubric.programme)]}
        )
    version = rubrics.create_draft(rubric, content)
    if note:
        version.note = note
        db.session.flush()
    return version


def publish(version: RubricVersion, effective_text: str, expected: int | None) -> RubricVersion:
    require_draft(version)
    if expected is not None and expected != version.version:
        raise conflict(_("草稿已被他人修改，请刷新后重试"))
    effective = rubrics.parse_month(effective_text)
    rubrics.check_effective(version, effective)
    try:
        return rubrics.publish(version, effective=effective, user_id=current_user.id)
    except StaleDataError as exc:
        raise conflict(_("草稿已被他人修改，请刷新后重试")) from exc


def delete_draft(version: RubricVersion, expected: int | None) -> None:
    require_draft(version)
    try:
        rubrics.delete_draft(version, expected)
    except StaleDataError as exc:
        raise conflict(_("草稿已被他人修改，请刷新后重试")) from exc


def import_draft(
    rubric: Rubric, data: bytes, filename: str | None
) -> tuple[Any, RubricVersion | None]:
    refuse_second_draft(rubric)
    result = rubric_excel.import_workbook(data, base_of(rubric))
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


def export_response(version: RubricVersion) -> Any:
    rubric = version.rubric
    name = (version.content or {}).get("name", rubric.name)
    data = rubric_excel.export_workbook(version.content or {}, title=f"{name} 第{version.number}版")
    return xlsx_response(data, f"{name}-第{version.number}版.xlsx")
