"""Organisation and account services. They flush; the request commits once."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import abort
from sqlalchemy import func, select

from district import audit
from district.errors import Conflict
from district.extensions import db
from tenants.models import AccessToken, District, Role, School, User, Zone, utcnow
from tenants.scope import require_scope, scoped_get, unscoped

SCHOOL_FIELDS = (
    "code",
    "name",
    "level",
    "zone_id",
    "boarding",
    "student_count",
    "staff_count",
    "campus_area",
    "green_area",
    "honours",
    "address",
)
USER_FIELDS = ("username", "display_name", "role", "school_id", "phone", "locale", "active")


def get_or_404(model: type, ident: Any) -> Any:
    """Load by id through the tenant scope; out of scope looks exactly like missing."""
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    obj = scoped_get(model, ident)
    if obj is None:
        abort(404)
    return obj


def check_version(obj: Any, version: int | None) -> None:
    """Refuse a write based on a stale copy (optimistic concurrency)."""
    if version is not None and version != obj.version:
        raise Conflict(description="数据已被他人修改，请刷新后重试")


# --- districts (platform operator) -------------------------------------------------


def create_district_with_admin(data: dict[str, Any]) -> tuple[District, User]:
    """Create a district and its first admin. Platform-level work: runs unscoped."""
    with unscoped("platform: create a district and its first admin"):
        if db.session.scalar(select(District.id).where(District.code == data["code"])):
            raise Conflict(description="区县代码已存在")
        if db.session.scalar(select(User.id).where(User.username == data["admin_username"])):
            raise Conflict(description="用户名已被使用")
        district = District(code=data["code"], name=data["name"], region=data.get("region"))
        db.session.add(district)
        db.session.flush()
        admin = User(
            district_id=district.id,
            username=data["admin_username"],
            display_name=data["admin_name"],
            role=Role.DISTRICT_ADMIN,
        )
        admin.set_password(data["admin_password"])
        db.session.add(admin)
        db.session.flush()
        audit.record(
            "district.create", district, after={"code": district.code, "name": district.name}
        )
    return district, admin


def create_platform_operator(username: str, display_name: str, password: str) -> User:
    with unscoped("platform: create a platform operator"):
        if db.session.scalar(select(User.id).where(User.username == username)):
            raise Conflict(description="用户名已被使用")
        user = User(username=username, display_name=display_name, role=Role.PLATFORM_OPERATOR)
        user.set_password(password)
        db.session.add(user)
        db.session.flush()
    return user


# --- zones ---------------------------------------------------------------------------


def create_zone(data: dict[str, Any]) -> Zone:
    zone = Zone(name=data["name"], code=data.get("code"))
    db.session.add(zone)
    db.session.flush()
    audit.record("zone.create", zone, after={"name": zone.name, "code": zone.code})
    return zone


def update_zone(zone: Zone, data: dict[str, Any]) -> Zone:
    check_version(zone, data.get("version"))
    before = audit.snapshot(zone, ("name", "code"))
    for key in ("name", "code"):
        if key in data:
            setattr(zone, key, data[key])
    db.session.flush()
    audit.record("zone.update", zone, before=before, after=audit.snapshot(zone, ("name", "code")))
    return zone


def delete_zone(zone: Zone) -> None:
    if zone.schools:
        raise Conflict(description="片区内还有学校，不能删除")
    audit.record("zone.delete", zone, before={"name": zone.name})
    db.session.delete(zone)
    db.session.flush()


# --- schools -------------------------------------------------------------------------


def _check_zone(zone_id: int | None) -> None:
    if zone_id is not None and scoped_get(Zone, zone_id) is None:
        from marshmallow import ValidationError

        raise ValidationError({"zone_id": ["片区不存在"]})


def create_school(data: dict[str, Any]) -> School:
    _check_zone(data.get("zone_id"))
    school = School(**{k: data.get(k) for k in SCHOOL_FIELDS if k in data})
    db.session.add(school)
    db.session.flush()
    audit.record("school.create", school, after=audit.snapshot(school, SCHOOL_FIELDS))
    return school


def update_school(school: School, data: dict[str, Any]) -> School:
    check_version(school, data.get("version"))
    if "zone_id" in data:
        _check_zone(data["zone_id"])
    before = audit.snapshot(school, SCHOOL_FIELDS)
    for key in SCHOOL_FIELDS:
        if key in data:
            setattr(school, key, data[key])
    db.session.flush()
    audit.record(
        "school.update", school, before=before, after=audit.snapshot(school, SCHOOL_FIELDS)
    )
    return school


def list_schools(zone_id: int | None = None, level: str | None = None) -> list[School]:
    from sqlalchemy.orm import selectinload

    stmt = select(School).options(selectinload(School.zone)).order_by(School.code, School.name)
    if zone_id:
        stmt = stmt.where(School.zone_id == zone_id)
    if level:
        stmt = stmt.where(School.level == level)
    return list(db.session.scalars(stmt))


# --- users ---------------------------------------------------------------------------


def _username_taken(username: str, exclude_id: int | None = None) -> bool:
    # Usernames are global (one login page for every district), so look across tenants.
    with unscoped("accounts: usernames are unique across districts"):
        stmt = select(User.id).where(func.lower(User.username) == username.lower())
        if exclude_id is not None:
            stmt = stmt.where(User.id != exclude_id)
        return db.session.scalar(stmt) is not None


def _apply_user_links(user: User, data: dict[str, Any]) -> None:
    from marshmallow import ValidationError

    role = data.get("role", user.role)
    school_id = data.get("school_id", user.school_id)
    if role in Role.SCHOOL_ROLES:
        if school_id is None or scoped_get(School, school_id) is None:
            raise ValidationError({"school_id": ["学校不存在"]})
    else:
        data["school_id"] = None
    if role == Role.INSPECTOR:
        zone_ids = data.get("zone_ids")
        if zone_ids is not None:
            zones = list(db.session.scalars(select(Zone).where(Zone.id.in_(zone_ids))))
            if len(zones) != len(set(zone_ids)):
                raise ValidationError({"zone_ids": ["片区不存在"]})
            user.zones = zones
    else:
        user.zones = []


def create_user(data: dict[str, Any]) -> User:
    from marshmallow import ValidationError

    if _username_taken(data["username"]):
        raise ValidationError({"username": ["用户名已被使用"]})
    if not data.get("password"):
        raise ValidationError({"password": ["请设置初始密码（至少 8 位）"]})
    user = User(**{k: data.get(k) for k in USER_FIELDS if k in data})
    user.district_id = require_scope().district_id
    _apply_user_links(user, data)
    user.school_id = data.get("school_id")
    user.set_password(data["password"])
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", user, after=audit.snapshot(user, USER_FIELDS))
    return user


def update_user(user: User, data: dict[str, Any]) -> User:
    from marshmallow import ValidationError

    check_version(user, data.get("version"))
    if "username" in data and _username_taken(data["username"], exclude_id=user.id):
        raise ValidationError({"username": ["用户名已被使用"]})
    before = audit.snapshot(user, USER_FIELDS)
    _apply_user_links(user, data)
    for key in USER_FIELDS:
        if key in data:
            setattr(user, key, data[key])
    if data.get("password"):
        user.set_password(data["password"])
    db.session.flush()
    audit.record("user.update", user, before=before, after=audit.snapshot(user, USER_FIELDS))
    return user


def list_users() -> list[User]:
    from sqlalchemy.orm import selectinload

    return list(
        db.session.scalars(
            select(User)
            .options(selectinload(User.zones), selectinload(User.school))
            .order_by(User.role, User.username)
        )
    )


def list_zones() -> list[Zone]:
    from sqlalchemy.orm import selectinload

    return list(
        db.session.scalars(select(Zone).options(selectinload(Zone.schools)).order_by(Zone.name))
    )


# --- accounts ------------------------------------------------------------------------


def change_password(user: User, current: str, new: str) -> None:
    from marshmallow import ValidationError

    if not user.check_password(current):
        raise ValidationError({"current_password": ["当前密码不正确"]})
    user.set_password(new)
    db.session.flush()


def rotate_session(user: User) -> None:
    """Logout: every cookie of this user stops working, server-side."""
    import secrets

    user.session_nonce = secrets.token_hex(8)
    db.session.flush()


def create_token(user: User, name: str, expires_in_days: int) -> tuple[AccessToken, str]:
    raw = AccessToken.generate()
    token = AccessToken(
        district_id=user.district_id,
        user_id=user.id,
        name=name,
        prefix=raw[:10],
        token_hash=AccessToken.hash(raw),
        expires_at=utcnow() + timedelta(days=expires_in_days),
    )
    db.session.add(token)
    db.session.flush()
    return token, raw


def user_tokens(user: User) -> list[AccessToken]:
    return list(
        db.session.scalars(
            select(AccessToken)
            .where(AccessToken.user_id == user.id)
            .order_by(AccessToken.id.desc())
        )
    )


def revoke_token(user: User, token_id: Any) -> AccessToken:
    token = get_or_404(AccessToken, token_id)
    if token.user_id != user.id:
        abort(404)
    token.revoked = True
    db.session.flush()
    return token


# --- Excel import --------------------------------------------------------------------


@dataclass
class ImportReport:
    """Row-by-row outcome of an import; nothing is written when ``errors`` is non-empty."""

    schools: int = 0
    users: int = 0
    errors: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors
