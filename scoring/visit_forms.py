"""Reading the site-visit (督查) pages' forms: the scoring sheet, dates, months, uploads."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request
from flask_babel import gettext as _
from marshmallow import Schema, ValidationError

from scoring.visit_scoring import ProgrammeSheet


def posted_files(*names: str) -> list[Any]:
    """The uploaded files (with a name) under any of these form fields."""
    files = []
    for name in names:
        files.extend(f for f in request.files.getlist(name) if f and f.filename)
    return files


def month_arg() -> tuple[int | None, int | None, str]:
    """``?month=YYYY-MM`` as (year, month, the value to show again); Nones when absent."""
    raw = (request.args.get("month") or "").strip()
    try:
        year, month = (int(p) for p in raw.split("-"))
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return year, month, f"{year:04d}-{month:02d}"
    except ValueError:
        pass
    return None, None, ""


def parse_day(raw: str | None, errors: dict[str, list[str]]) -> date | None:
    """An ISO date, or None (with a ``visited_on`` message in ``errors`` when malformed)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.setdefault("visited_on", []).append(_("日期格式有误"))
        return None


def form_items(sheets: list[ProgrammeSheet]) -> tuple[list[dict], dict]:
    """The scores of the chosen programmes from the posted form, plus indicator photos."""
    chosen = set(request.form.getlist("programmes"))
    items: list[dict] = []
    photos: dict[tuple[str, str], list[Any]] = {}
    for sheet in sheets:
        if sheet.programme not in chosen:
            continue
        for ind in sheet.indicators:
            key = f"{sheet.programme}-{ind.code}"
            item: dict[str, Any] = {
                "programme": sheet.programme,
                "indicator_code": ind.code,
                "reason": request.form.get(f"r-{key}", ""),
            }
            if ind.kind == "judged":
                item["points"] = request.form.get(f"p-{key}", "").strip()
            elif ind.kind == "checklist":
                ticks = []
                for raw in request.form.getlist(f"t-{key}"):
                    if raw.isdigit():
                        ticks.append(int(raw))
                item["ticks"] = ticks
            elif ind.kind == "measured":
                item["value"] = request.form.get(f"v-{key}", "").strip()
            elif ind.kind == "veto":
                item["triggered"] = request.form.get(f"x-{key}") == "1"
            items.append(item)
            files = posted_files(f"f-{key}")
            if files:
                photos[(sheet.programme, ind.code)] = files
    return items, photos


def error_messages(err: ValidationError) -> dict[str, Any]:
    """A validation error's messages as a dict (a bare list goes under "_")."""
    return err.messages if isinstance(err.messages, dict) else {"_": err.messages}


def load_posted(schema: Schema, form: Any) -> tuple[dict | None, dict]:
    """(data, {}) or (None, messages) for the schema's non-empty fields of a posted form."""
    raw = {k: v.strip() for k, v in form.items() if k != "csrf_token" and v.strip() != ""}
    raw = {k: v for k, v in raw.items() if k in schema.fields}
    try:
        return schema.load(raw), {}
    except ValidationError as err:
        return None, error_messages(err)


def flat_messages(errors: dict) -> str:
    """Nested messages as one line for a flash message."""
    parts = []
    for value in errors.values():
        if isinstance(value, dict):
            parts.append(flat_messages(value))
        elif isinstance(value, list):
            parts.extend(str(v) for v in value)
        else:
            parts.append(str(value))
    return "；".join(parts)
