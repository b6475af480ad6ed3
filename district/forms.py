"""Turn an HTML form into the same marshmallow-validated dict the API uses."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema, ValidationError


def parse_form(
    schema: Schema,
    *,
    lists: tuple[str, ...] = (),
    checkboxes: tuple[str, ...] = (),
    split: tuple[str, ...] = (),
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Returns (data, {}) or (None, field errors). Empty inputs count as not given."""
    raw: dict[str, Any] = {}
    for key in request.form:
        if key == "csrf_token":
            continue
        if key in lists:
            raw[key] = [v for v in request.form.getlist(key) if v != ""]
            continue
        value = request.form.get(key, "").strip()
        if value == "":
            field = schema.fields.get(key)
            if field is not None and field.allow_none:
                raw[key] = None
            continue
        if key in split:
            raw[key] = [p.strip() for p in value.replace(";", "；").split("；") if p.strip()]
            continue
        raw[key] = value
    for key in checkboxes:
        raw[key] = key in request.form
    for key in lists:
        raw.setdefault(key, [])
    try:
        return schema.load(raw), {}
    except ValidationError as err:
        return None, err.messages if isinstance(err.messages, dict) else {"_": err.messages}
