"""One place that turns errors into answers: JSON under /api, a page elsewhere.

Also the request's single commit (indico's rule): views and services only flush;
a request that ends well commits once, then dispatches the jobs it enqueued;
any error rolls everything back, so nothing is half-written.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, make_response, render_template
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, InternalServerError

from district.extensions import db
from district.jobs import dispatch_ready
from district.validation import INVALID_JSON_BODY
from tenants.auth import is_api_request
from tenants.scope import TenantScopeViolation

log = logging.getLogger(__name__)

MESSAGES = {
    400: "请求格式有误",
    401: "需要登录",
    403: "没有权限执行此操作",
    404: "找不到该页面或对象",
    405: "不支持该请求方法",
    409: "数据已被他人修改或与现有数据冲突，请刷新后重试",
    413: "上传内容过大",
    415: "不支持的内容类型",
    422: "提交的数据有误",
    429: "请求过于频繁，请稍后再试",
    500: "服务器内部错误",
}


class Conflict(HTTPException):
    code = 409
    description = "conflict"


def error_response(code: int, message: str | None = None, errors: Any = None) -> Any:
    message = message or (_(MESSAGES[code]) if code in MESSAGES else _("请求失败"))
    if is_api_request():
        body: dict[str, Any] = {"code": code, "status": _status_name(code), "message": message}
        if errors:
            body["errors"] = errors
        resp = jsonify(body)
        resp.status_code = code
        return resp
    return make_response(
        render_template("error.html", code=code, message=message, errors=errors), code
    )


def _status_name(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def init_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Any:
        db.session.rollback()
        data = getattr(e, "data", None) or {}
        errors = data.get("messages") or data.get("errors")
        message = data.get("message")
        if message is None and (e.code not in MESSAGES or isinstance(e, Conflict) or e.code == 409):
            # Our own 409s carry a Chinese explanation (why it conflicts, what to do).
            default = getattr(type(e), "description", None)
            if e.description and e.description != default:
                message = e.description
        if errors == {"json": [INVALID_JSON_BODY]}:
            # webargs' fixed English text for a body that does not parse.
            errors = {"json": [_("JSON 格式有误，无法解析")]}
            message = message or errors["json"][0]
        if message is None and e.code == 400 and e.description and "JSON" in e.description:
            message = _("JSON 格式有误，无法解析")
        return error_response(e.code or 500, message, errors)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError) -> Any:
        db.session.rollback()
        return error_response(422, None, {"json": e.messages})

    @app.errorhandler(TenantScopeViolation)
    def _outside_scope(e: TenantScopeViolation) -> Any:
        db.session.rollback()
        return error_response(404)

    @app.errorhandler(IntegrityError)
    def _integrity(e: IntegrityError) -> Any:
        db.session.rollback()
        return error_response(409)

    @app.errorhandler(InternalServerError)
    def _internal(e: InternalServerError) -> Any:
        db.session.rollback()
        log.exception("unhandled error", exc_info=e.original_exception)
        return error_response(500)

    @app.after_request
    def _commit_once(response: Any) -> Any:
        if response.status_code >= 400:
            db.session.rollback()
            return response
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return error_response(409)
        dispatch_ready()
        return response
