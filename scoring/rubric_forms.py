"""Reading the rubric editor's forms (table and JSON) and flattening error messages."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import request
from flask_babel import gettext as _

from scoring import rubric_excel
from scoring.models import RubricVersion
from scoring.rubric_drafts import base_of

_ROW_FIELD = re.compile(r"^r(\d{1,4})-([a-z_]+)$")
_BOOLEAN_KEYS = ("boarding_only", "evidence_required")


def flat_errors(errors: Any) -> dict[str, list[str]]:
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


def content_from_json(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The JSON editor's text as rubric content, or (None, why not)."""
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


def posted_rows() -> list[dict[str, Any]]:
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


def content_from_table(
    version: RubricVersion,
) -> tuple[dict[str, Any] | None, list[tuple[int | None, str]]]:
    """The table editor's rows as rubric content, or (None, row-numbered problems)."""
    base = base_of(version.rubric)
    base["name"] = (request.form.get("name") or "").strip() or base["name"]
    base["boarding_only"] = bool(request.form.get("boarding_only"))
    rows = posted_rows()
    return rubric_excel.rows_to_content(list(enumerate(rows, start=1)), base)
