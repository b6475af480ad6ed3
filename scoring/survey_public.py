"""What the two login-free pages share: ``/s/<token>`` (answer a survey) and
``/c/<public_token>`` (file a complaint).

Rate limits, the public message page, CSRF for forms (a JSON POST cannot be forged
cross-site without CORS), answer links, and the status a refused submission answers.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from marshmallow import ValidationError

from district.extensions import csrf


def public_post_limit() -> str:
    return current_app.config.get("PUBLIC_FORM_RATE_LIMIT", "20 per minute")


def public_get_limit() -> str:
    return current_app.config.get("PUBLIC_PAGE_RATE_LIMIT", "120 per minute")


def token_url(token: str) -> str:
    """The full answer link of a survey token, to print or send."""
    return url_for("surveys.answer", token=token, _external=True)


def public_message(title: str, message: str, code: int) -> Any:
    """A message page (or JSON for JSON callers) with the given status."""
    if request.is_json:
        return jsonify(code=code, message=message), code
    return render_template("surveys/public_message.html", title=title, message=message), code


def link_gone(reason: str) -> Any:
    """410: the survey is closed, or this one-use link was used."""
    if reason == "closed":
        return public_message(_("评议已结束"), _("本次民主评议已经结束，感谢您的关注。"), 410)
    return public_message(
        _("链接已使用"), _("该链接已经提交过答卷，每个链接只能使用一次。感谢您的参与！"), 410
    )


def check_public_csrf() -> str | None:
    """Forms carry a CSRF token; a JSON POST cannot be forged cross-site without CORS."""
    if request.is_json:
        return None
    try:
        csrf.protect()
    except CSRFError:
        return _("页面已过期，请重新填写后提交")
    return None


def answer_payload(n: int) -> dict[str, Any]:
    """The posted answers to ``n`` questions (form or JSON), not yet validated."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ValidationError({"_schema": ["请求格式有误"]})
        return body
    answers: list[Any] = []
    missing = []
    for i in range(n):
        value = request.form.get(f"q{i}", "").strip()
        if not value:
            missing.append(i)
        answers.append(value)
    if missing:
        raise ValidationError({"answers": {i: ["请选择"] for i in missing}})
    comment = request.form.get("comment", "").strip()
    return {"answers": answers, "comment": comment or None}


def field_errors(err: ValidationError) -> dict[str, Any]:
    return err.messages if isinstance(err.messages, dict) else {"_": err.messages}


def invalid_json(errors: dict[str, Any]) -> Any:
    return jsonify(code=422, message=_("提交的数据有误"), errors=errors), 422


def page_status(errors: dict[str, Any]) -> int:
    """422 for field errors, 400 for errors of the form as a whole ("_"), else 200."""
    return 422 if errors and "_" not in errors else 400 if errors else 200
