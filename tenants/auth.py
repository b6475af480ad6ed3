"""Who is asking: session login, personal access tokens, the request principal.

Every request resolves a principal and sets the tenant scope once, here, before
any view runs; views never filter by tenant themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, abort, g, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from district.extensions import db, login_manager
from tenants.models import AccessToken, Role, School, User, inspector_zones, utcnow
from tenants.scope import Scope, reset_scope, set_scope, unscoped

ANONYMOUS = Scope(district_id=None, label="anonymous")


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def scope_for(user: User) -> Scope:
    """Turn a principal into what it may see."""
    if user.role == Role.PLATFORM_OPERATOR:
        return Scope.for_platform(user.id)
    if user.district_id is None:
        return ANONYMOUS
    if user.role in (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER):
        return Scope.for_district(user.district_id, user.id)
    if user.role == Role.INSPECTOR:
        with unscoped("principal: schools of the inspector's zones"):
            ids = db.session.scalars(
                select(School.id)
                .join(inspector_zones, inspector_zones.c.zone_id == School.zone_id)
                .where(
                    inspector_zones.c.user_id == user.id,
                    School.district_id == user.district_id,
                )
            ).all()
        return Scope.for_schools(user.district_id, set(ids), user.id)
    if user.role in Role.SCHOOL_ROLES and user.school_id is not None:
        return Scope.for_schools(user.district_id, {user.school_id}, user.id)
    return ANONYMOUS


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    user_id, _sep, nonce = session_id.partition(":")
    if not user_id.isdigit():
        return None
    with unscoped("principal: load the logged-in user"):
        user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_nonce != nonce:
        return None
    return user


@login_manager.request_loader
def _load_token_user(req: Any) -> User | None:
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    raw = header[len("Bearer ") :].strip()
    with unscoped("principal: authenticate a personal access token"):
        token = db.session.scalar(
            select(AccessToken).where(AccessToken.token_hash == AccessToken.hash(raw))
        )
        if token is None or token.revoked:
            return None
        if token.expires_at is not None and token.expires_at < utcnow():
            return None
        user = db.session.get(User, token.user_id)
        if user is None or not user.active:
            return None
        now = utcnow()
        # Record use at most every 5 minutes: a write (and commit) on every API GET
        # would cost more than the request itself.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
            token.last_used_at = now
    g.auth_via_token = True
    return user


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    if is_api_request():
        resp = jsonify(code=401, status="Unauthorized", message=_("需要登录或有效的访问令牌"))
        resp.status_code = 401
        return resp
    return redirect(url_for("tenants.login", next=request.full_path.rstrip("?")))


def roles_required(*roles: str) -> Callable:
    """Allow only these roles (403 otherwise); anonymous users go to the login page."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


DISTRICT_STAFF = (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER)
ANY_TENANT_USER = (
    Role.DISTRICT_ADMIN,
    Role.DISTRICT_VIEWER,
    Role.INSPECTOR,
    Role.SCHOOL_HEAD,
    Role.SCHOOL_STAFF,
)


def init_auth(app: Flask) -> None:
    login_manager.init_app(app)
    # "basic": inspectors hop between Wi-Fi and mobile data; a strong check would log them out.
    login_manager.session_protection = "basic"
    login_manager.login_view = "tenants.login"

    @app.before_request
    def _set_tenant_scope() -> None:
        g.scope_token = set_scope(ANONYMOUS)
        user = current_user._get_current_object()  # type: ignore[attr-defined]
        scope = scope_for(user) if user.is_authenticated else ANONYMOUS
        g.scope = scope
        set_scope(scope)

    @app.teardown_request
    def _clear_tenant_scope(_exc: BaseException | None) -> None:
        token = g.pop("scope_token", None)
        if token is not None:
            reset_scope(token)
