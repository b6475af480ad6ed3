"""Organisation and accounts: District → Zone (片区) → School (the tenant), User, tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from district.extensions import db
from tenants.scope import DistrictOwned, Scope, TenantOwned


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Role:
    """One role per user in one district (see the domain guide)."""

    PLATFORM_OPERATOR = "platform_operator"
    DISTRICT_ADMIN = "district_admin"
    DISTRICT_VIEWER = "district_viewer"
    INSPECTOR = "inspector"
    SCHOOL_HEAD = "school_head"
    SCHOOL_STAFF = "school_staff"

    ALL = (
        PLATFORM_OPERATOR,
        DISTRICT_ADMIN,
        DISTRICT_VIEWER,
        INSPECTOR,
        SCHOOL_HEAD,
        SCHOOL_STAFF,
    )
    DISTRICT_ROLES = (DISTRICT_ADMIN, DISTRICT_VIEWER, INSPECTOR)
    SCHOOL_ROLES = (SCHOOL_HEAD, SCHOOL_STAFF)
    LABELS = {
        PLATFORM_OPERATOR: "平台管理员",
        DISTRICT_ADMIN: "区教育局后勤办管理员",
        DISTRICT_VIEWER: "局领导",
        INSPECTOR: "督查员",
        SCHOOL_HEAD: "校长",
        SCHOOL_STAFF: "后勤主任/总务",
    }


SCHOOL_LEVELS = ("小学", "初中", "高中", "九年一贯制", "完全中学", "特殊教育", "职业高中", "幼儿园")


class District(TenantOwned, db.Model):
    """A district education bureau (区教育局): the paying customer."""

    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    @classmethod
    def tenant_criteria(cls, scope: Scope) -> Any:
        if scope.platform:
            return true()
        if scope.district_id is None:
            return false()
        return cls.id == scope.district_id

    def tenant_ids(self) -> tuple[int | None, int | None]:
        return self.id, None


class Zone(DistrictOwned, db.Model):
    """片区: a group of schools an inspector is responsible for (片区负责制)."""

    __tablename__ = "zones"
    __table_args__ = (
        UniqueConstraint("district_id", "name"),
        # Target of (district_id, zone_id) foreign keys: a school cannot sit in another district's zone.
        UniqueConstraint("district_id", "id", name="uq_zones_district_id_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str | None] = mapped_column(String(32))

    schools: Mapped[list[School]] = relationship(
        back_populates="zone",
        order_by="School.name",
        primaryjoin="and_(School.zone_id == Zone.id, School.district_id == Zone.district_id)",
        foreign_keys="[School.zone_id]",
    )
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class School(TenantOwned, db.Model):
    """A school: the tenant."""

    __tablename__ = "schools"
    __table_args__ = (
        UniqueConstraint("district_id", "id", name="uq_schools_district_id_id"),
        ForeignKeyConstraint(["district_id", "zone_id"], ["zones.district_id", "zones.id"]),
        UniqueConstraint("district_id", "name"),
        UniqueConstraint("district_id", "code"),
        Index("ix_schools_tenant", "district_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    zone_id: Mapped[int | None] = mapped_column()
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(20))
    boarding: Mapped[bool] = mapped_column(Boolean, default=False)
    student_count: Mapped[int] = mapped_column(Integer, default=0)
    staff_count: Mapped[int] = mapped_column(Integer, default=0)
    campus_area: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    green_area: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    honours: Mapped[list[str]] = mapped_column(JSON, default=list)
    address: Mapped[str | None] = mapped_column(String(200))
    public_token: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: secrets.token_urlsafe(16)
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    zone: Mapped[Zone | None] = relationship(
        back_populates="schools",
        primaryjoin="and_(School.zone_id == Zone.id, School.district_id == Zone.district_id)",
        foreign_keys="[School.zone_id]",
    )
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Optimistic concurrency: a stale form or a second editor gets a 409, never a silent overwrite.
    __mapper_args__ = {"version_id_col": version}

    @classmethod
    def tenant_criteria(cls, scope: Scope) -> Any:
        if scope.district_id is None:
            return false()
        crit = cls.district_id == scope.district_id
        if scope.school_ids is not None:
            crit = crit & cls.id.in_(sorted(scope.school_ids))
        return crit

    def tenant_ids(self) -> tuple[int | None, int | None]:
        return self.district_id, self.id

    @property
    def green_ratio(self) -> Decimal | None:
        """Green-coverage ratio (绿化覆盖率) = green area ÷ campus area."""
        if not self.campus_area or self.green_area is None:
            return None
        return Decimal(self.green_area) / Decimal(self.campus_area)


def _zone_district_id(context: Any) -> int:
    """The link row takes its zone's district (read under the caller's own RLS settings)."""
    from sqlalchemy import text

    zone_id = context.get_current_parameters()["zone_id"]
    return context.connection.execute(
        text("SELECT district_id FROM zones WHERE id = :z"), {"z": zone_id}
    ).scalar_one()


inspector_zones = Table(
    "inspector_zones",
    db.metadata,
    Column("district_id", ForeignKey("districts.id"), nullable=False, default=_zone_district_id),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("zone_id", Integer, primary_key=True),
    ForeignKeyConstraint(
        ["district_id", "zone_id"], ["zones.district_id", "zones.id"], ondelete="CASCADE"
    ),
)


class User(UserMixin, TenantOwned, db.Model):
    """An account: one role in one district (platform operators have none)."""

    __tablename__ = "users"
    __table_args__ = (
        ForeignKeyConstraint(
            ["district_id", "school_id"], ["schools.district_id", "schools.id"], ondelete="CASCADE"
        ),
        Index("ix_users_tenant", "district_id", "school_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    school_id: Mapped[int | None] = mapped_column()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Rotated on logout and password change: every cookie carrying the old one dies.
    session_nonce: Mapped[str] = mapped_column(String(32), default=lambda: secrets.token_hex(8))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}

    school: Mapped[School | None] = relationship(
        primaryjoin="and_(User.school_id == School.id, User.district_id == School.district_id)",
        foreign_keys="[User.district_id, User.school_id]",
        viewonly=True,
    )
    zones: Mapped[list[Zone]] = relationship(secondary=inspector_zones, order_by="Zone.name")

    @classmethod
    def tenant_criteria(cls, scope: Scope) -> Any:
        if scope.district_id is None:
            crit = false()
        else:
            crit = cls.district_id == scope.district_id
            if scope.school_ids is not None:
                crit = crit & cls.school_id.in_(sorted(scope.school_ids))
        if scope.user_id is not None:
            crit = crit | (cls.id == scope.user_id)
        return crit

    # -- accounts
    def set_password(self, password: str) -> None:
        # scrypt (werkzeug's default): memory-hard, no extra dependency. Tests may pick a
        # cheaper method through PASSWORD_HASH_METHOD; production never sets it.
        from flask import current_app, has_app_context

        method = (
            current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
            if has_app_context()
            else "scrypt"
        )
        self.password_hash = generate_password_hash(password, method=method)
        self.session_nonce = secrets.token_hex(8)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return bool(self.active)

    @property
    def role_label(self) -> str:
        return Role.LABELS.get(self.role, self.role)

    @property
    def is_district_admin(self) -> bool:
        return self.role == Role.DISTRICT_ADMIN


class AccessToken(DistrictOwned, db.Model):
    """Personal access token for API clients; only its hash is stored."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship()

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def generate(cls) -> str:
        return "hq_" + secrets.token_urlsafe(30)
