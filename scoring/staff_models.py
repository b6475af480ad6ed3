"""Logistics staff (后勤人员): roster, certificates, training.

Contract workers (合同工) and agency workers are staff like any other here.
Personal data (phone) is school-owned: visible to the school and its district only.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from district.extensions import db
from tenants.models import utcnow
from tenants.scope import DistrictOwned, SchoolOwned

# District-configurable defaults (DistrictSettings.staff may override the lists).
DEFAULT_POSTS = (
    "食堂操作员",
    "宿管员",
    "保安",
    "校医",
    "电工",
    "保洁",
    "超市店员",
    "后勤主任",
    "会计",
    "绿化工",
)
CANTEEN_POSTS = ("食堂操作员",)
EMPLOYMENT_TYPES = ("编制内", "合同工", "劳务派遣")
CERTIFICATE_KINDS = ("健康证", "食品安全培训证", "电工证", "消防证", "特种设备操作证")
HEALTH_CERTIFICATE = "健康证"
# 五员制: each canteen must name trained people for every role.
FIVE_ROLES = ("营养指导员", "伙食成本监管员", "卫生监督员", "食堂操作员", "伙食质量评判员")


class StaffMember(SchoolOwned, db.Model):
    """One person on a school's logistics roster."""

    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str | None] = mapped_column(String(4))  # 男 | 女
    post: Mapped[str] = mapped_column(String(32))
    employment_type: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32))
    five_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}

    certificates: Mapped[list[Certificate]] = relationship(
        back_populates="staff", cascade="all, delete-orphan", order_by="Certificate.expires_on"
    )

    @property
    def is_canteen_staff(self) -> bool:
        return self.post in CANTEEN_POSTS or bool(self.five_roles)

    @property
    def masked_phone(self) -> str:
        if not self.phone or len(self.phone) < 7:
            return self.phone or ""
        return self.phone[:3] + "****" + self.phone[-4:]

    def has_valid(self, kind: str, on: date) -> bool:
        return any(
            c.kind == kind and (c.expires_on is None or c.expires_on >= on)
            for c in self.certificates
        )


class Certificate(SchoolOwned, db.Model):
    """证书: 健康证, 食品安全培训证, 电工证 … with number, issuer and expiry."""

    __tablename__ = "certificates"
    __extra_table_args__ = (UniqueConstraint("staff_id", "kind", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str | None] = mapped_column(String(100))
    issued_on: Mapped[date | None] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)

    staff: Mapped[StaffMember] = relationship(back_populates="certificates")


class TrainingSession(DistrictOwned, db.Model):
    """A district training session (培训), attended by staff of many schools."""

    __tablename__ = "training_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    held_on: Mapped[date] = mapped_column(Date)
    topic: Mapped[str] = mapped_column(String(200))
    organiser: Mapped[str | None] = mapped_column(String(100))
    hours: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TrainingAttendance(SchoolOwned, db.Model):
    """One staff member's attendance at a training session (owned by their school)."""

    __tablename__ = "training_attendance"
    __extra_table_args__ = (UniqueConstraint("session_id", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("training_sessions.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
