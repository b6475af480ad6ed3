"""Pages: login, account, district administration (zones, schools, users, import)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from marshmallow import ValidationError
from sqlalchemy import func, select

from district.exports import xlsx_response
from district.extensions import db, limiter
from district.forms import parse_form
from tenants import importer, services
from tenants.auth import DISTRICT_STAFF, roles_required
from tenants.models import SCHOOL_LEVELS, District, Role, School, User, Zone, utcnow
from tenants.schemas import (
    DistrictCreateSchema,
    PasswordChangeSchema,
    SchoolSchema,
    TokenSchema,
    UserSchema,
    ZoneSchema,
)
from tenants.scope import unscoped

bp = Blueprint("tenants", __name__)

ADMIN = (Role.DISTRICT_ADMIN,)


def _login_limit() -> str:
    from flask import current_app

    return current_app.config["LOGIN_RATE_LIMIT"]


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("core.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return url_for("core.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        with unscoped("login: find the account by username"):
            user = db.session.scalar(
                select(User).where(func.lower(User.username) == username.lower())
            )
            ok = user is not None and user.active and user.check_password(password)
            if ok:
                user.last_login_at = utcnow()
                db.session.flush()
        if ok:
            session.clear()
            login_user(user, remember=False)
            return redirect(_safe_next(request.args.get("next")))
        # Same words whether or not the account exists.
        error = _("用户名或密码不正确")
    return render_template("auth/login.html", error=error), (401 if error else 200)


@bp.post("/logout")
@login_required
def logout() -> Any:
    services.rotate_session(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("已安全退出"), "info")
    return redirect(url_for("tenants.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    errors: dict[str, Any] = {}
    if request.method == "POST":
        data, errors = parse_form(PasswordChangeSchema())
        if data is not None:
            user = current_user._get_current_object()
            try:
                services.change_password(user, data["current_password"], data["new_password"])
            except ValidationError as err:
                errors = err.messages  # type: ignore[assignment]
            else:
                login_user(user)  # keep this session; every other one is now invalid
                flash(_("密码已修改"), "success")
                return redirect(url_for("core.home"))
    return render_template("auth/password.html", errors=errors), (422 if errors else 200)


@bp.post("/account/locale")
@login_required
def set_locale() -> Any:
    locale = request.form.get("locale")
    if locale not in ("zh_CN", "en"):
        abort(422)
    user = current_user._get_current_object()
    user.locale = locale
    db.session.flush()
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/account/tokens", methods=["GET", "POST"])
@roles_required(*[r for r in Role.ALL if r != Role.PLATFORM_OPERATOR])
def tokens() -> Any:
    user = current_user._get_current_object()
    errors: dict[str, Any] = {}
    new_token = None
    if request.method == "POST":
        data, errors = parse_form(TokenSchema())
        if data is not None:
            _token, new_token = services.create_token(user, data["name"], data["expires_in_days"])
    return render_template(
        "auth/tokens.html", tokens=services.user_tokens(user), new_token=new_token, errors=errors
    ), (422 if errors else 200)


@bp.post("/account/tokens/<int:token_id>/revoke")
@roles_required(*[r for r in Role.ALL if r != Role.PLATFORM_OPERATOR])
def revoke_token(token_id: int) -> Any:
    services.revoke_token(current_user._get_current_object(), token_id)
    flash(_("令牌已撤销"), "info")
    return redirect(url_for("tenants.tokens"))


# --- district administration --------------------------------------------------------


@bp.route("/admin/zones", methods=["GET", "POST"])
@roles_required(*DISTRICT_STAFF)
def zones() -> Any:
    errors: dict[str, Any] = {}
    if request.method == "POST":
        if current_user.role != Role.DISTRICT_ADMIN:
            abort(403)
        data, errors = parse_form(ZoneSchema())
        if data is not None:
            services.create_zone(data)
            flash(_("片区已添加"), "success")
            return redirect(url_for("tenants.zones"))
    return render_template("admin/zones.html", zones=services.list_zones(), errors=errors), (
        422 if errors else 200
    )


@bp.route("/admin/zones/<int:zone_id>", methods=["GET", "POST"])
@roles_required(*ADMIN)
def zone_edit(zone_id: int) -> Any:
    zone = services.get_or_404(Zone, zone_id)
    errors: dict[str, Any] = {}
    if request.method == "POST":
        if request.form.get("action") == "delete":
            services.delete_zone(zone)
            flash(_("片区已删除"), "info")
            return redirect(url_for("tenants.zones"))
        data, errors = parse_form(ZoneSchema())
        if data is not None:
            services.update_zone(zone, data)
            flash(_("已保存"), "success")
            return redirect(url_for("tenants.zones"))
    return render_template("admin/zone_form.html", zone=zone, errors=errors), (
        422 if errors else 200
    )


@bp.get("/admin/schools")
@roles_required(*DISTRICT_STAFF, Role.INSPECTOR)
def schools() -> Any:
    zone_id = request.args.get("zone_id", type=int)
    level = request.args.get("level") or None
    return render_template(
        "admin/schools.html",
        schools=services.list_schools(zone_id=zone_id, level=level),
        zones=services.list_zones(),
        levels=SCHOOL_LEVELS,
        zone_id=zone_id,
        level=level,
    )


def _school_form(school: School | None) -> Any:
    errors: dict[str, Any] = {}
    if request.method == "POST":
        data, errors = parse_form(SchoolSchema(), checkboxes=("boarding",), split=("honours",))
        if data is not None:
            try:
                if school is None:
                    school = services.create_school(data)
                else:
                    services.update_school(school, data)
            except ValidationError as err:
                errors = err.messages  # type: ignore[assignment]
            else:
                flash(_("学校信息已保存"), "success")
                return redirect(url_for("tenants.schools"))
    return render_template(
        "admin/school_form.html",
        school=school,
        zones=services.list_zones(),
        levels=SCHOOL_LEVELS,
        errors=errors,
        form=request.form if request.method == "POST" else None,
    ), (422 if errors else 200)


@bp.route("/admin/schools/new", methods=["GET", "POST"])
@roles_required(*ADMIN)
def school_new() -> Any:
    return _school_form(None)


@bp.route("/admin/schools/<int:school_id>", methods=["GET", "POST"])
@roles_required(*ADMIN)
def school_edit(school_id: int) -> Any:
    return _school_form(services.get_or_404(School, school_id))


@bp.get("/admin/users")
@roles_required(*ADMIN)
def users() -> Any:
    users = services.list_users()
    if request.args.get("format") == "xlsx":
        return xlsx_response(importer.users_workbook(users), "用户名单.xlsx")
    return render_template("admin/users.html", users=users)


def _user_form(user: User | None) -> Any:
    errors: dict[str, Any] = {}
    if request.method == "POST":
        schema = UserSchema(partial=user is not None)
        data, errors = parse_form(
            schema, lists=("zone_ids",), checkboxes=("active",) if user is not None else ()
        )
        if data is not None:
            try:
                if user is None:
                    user = services.create_user(data)
                else:
                    services.update_user(user, data)
            except ValidationError as err:
                errors = err.messages  # type: ignore[assignment]
            else:
                flash(_("用户已保存"), "success")
                return redirect(url_for("tenants.users"))
    return render_template(
        "admin/user_form.html",
        user=user,
        roles=[(r, Role.LABELS[r]) for r in Role.ALL if r != Role.PLATFORM_OPERATOR],
        schools=services.list_schools(),
        zones=services.list_zones(),
        errors=errors,
        form=request.form if request.method == "POST" else None,
    ), (422 if errors else 200)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@roles_required(*ADMIN)
def user_new() -> Any:
    return _user_form(None)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(*ADMIN)
def user_edit(user_id: int) -> Any:
    return _user_form(services.get_or_404(User, user_id))


@bp.route("/admin/import", methods=["GET", "POST"])
@roles_required(*ADMIN)
def import_sheet() -> Any:
    report = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            report = services.ImportReport(errors=[("", 0, _("请选择要导入的 Excel 文件"))])
        else:
            report = importer.import_workbook(upload.stream)
        if report.ok:
            flash(
                _("导入成功：学校 %(s)d 所，用户 %(u)d 人", s=report.schools, u=report.users),
                "success",
            )
            return redirect(url_for("tenants.schools"))
    return render_template("admin/import.html", report=report), (
        422 if report and not report.ok else 200
    )


@bp.get("/admin/import/template.xlsx")
@roles_required(*ADMIN)
def import_template() -> Any:
    return xlsx_response(importer.template_workbook(), "学校和用户导入模板.xlsx")


# --- platform -----------------------------------------------------------------------


@bp.route("/platform/districts", methods=["GET", "POST"])
@roles_required(Role.PLATFORM_OPERATOR)
def districts() -> Any:
    errors: dict[str, Any] = {}
    if request.method == "POST":
        data, errors = parse_form(DistrictCreateSchema())
        if data is not None:
            services.create_district_with_admin(data)
            flash(_("区县已创建"), "success")
            return redirect(url_for("tenants.districts"))
    rows = db.session.scalars(select(District).order_by(District.code)).all()
    return render_template("platform/districts.html", districts=rows, errors=errors), (
        422 if errors else 200
    )
