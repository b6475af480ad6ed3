"""Complaints (投诉): filed through a school's public link, investigated by the district.

有举必查、查实必究: a verified complaint deducts points from the school-month it was
filed in (the engine applies the district's rule, by default −2 each, at most −10);
:func:`verified_complaints` is the count it needs. The complainant's contact is for
the district's investigators only: school users never see it, and it never enters the
audit trail (which a school head can read).

Services flush, never commit; the request commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_login import current_user
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, select

from district import audit
from district.audit import AuditEntry
from district.extensions import db
from scoring.models import Complaint, ProgrammeCode, Rubric
from scoring.surveys import local_now
from tenants.models import Role, School, utcnow
from tenants.schemas import StrictSchema
from tenants.services import check_version

STATUSES: tuple[str, ...] = (Complaint.NEW, Complaint.VERIFIED, Complaint.UNFOUNDED)
STATUS_LABELS = {
    Complaint.NEW: "待调查",
    Complaint.VERIFIED: "查实",
    Complaint.UNFOUNDED: "不实",
}
DEFAULT_PROGRAMMES = {
    ProgrammeCode.CANTEEN: "文明食堂",
    ProgrammeCode.STORE: "放心超市",
    ProgrammeCode.DORMITORY: "文化宿舍",
    ProgrammeCode.GREENING: "绿化创建",
}
# Who may read a complainant's contact: the district's investigators.
CONTACT_READERS = (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER)
MONTH_RE = r"^\d{4}-(0[1-9]|1[0-2])$"


def may_see_contact(user: Any = None) -> bool:
    user = current_user if user is None else user
    return bool(getattr(user, "is_authenticated", False)) and user.role in CONTACT_READERS


# --- schemas ----------------------------------------------------------------------------


class ComplaintFileSchema(StrictSchema):
    content = fields.Str(
        required=True,
        validate=validate.Length(min=5, max=2000, error="请填写 5–2000 字的投诉内容"),
        error_messages={"required": "请填写投诉内容"},
    )
    contact = fields.Str(allow_none=True, validate=validate.Length(max=100))
    programme = fields.Str(allow_none=True, validate=validate.Length(max=32))


class ComplaintVerdictSchema(StrictSchema):
    status = fields.Str(
        required=True,
        validate=validate.OneOf(
            (Complaint.VERIFIED, Complaint.UNFOUNDED), error="请选择“查实”或“不实”"
        ),
    )
    note = fields.Str(
        required=True,
        validate=validate.Length(min=2, max=2000, error="请填写调查结论（2–2000 字）"),
        error_messages={"required": "请填写调查结论"},
    )
    version = fields.Int(required=True, validate=validate.Range(min=1))


class ComplaintArgsSchema(StrictSchema):
    status = fields.Str(validate=validate.OneOf(STATUSES))
    school_id = fields.Int()
    month = fields.Str(validate=validate.Regexp(MONTH_RE, error="月份格式应为 YYYY-MM"))
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))


class ComplaintSchema(Schema):
    id = fields.Int()
    school_id = fields.Int()
    school_name = fields.Str(allow_none=True)
    programme = fields.Str(allow_none=True)
    content = fields.Str()
    contact = fields.Method("_contact", metadata={"description": "仅区级人员可见"})
    filed_at = fields.DateTime()
    year = fields.Int()
    month = fields.Int()
    status = fields.Str()
    status_label = fields.Method("_status_label")
    decision_note = fields.Str(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    version = fields.Int()

    def _contact(self, c: Complaint) -> str | None:
        return c.contact if may_see_contact() else None

    def _status_label(self, c: Complaint) -> str:
        return STATUS_LABELS.get(c.status, c.status)


# --- helpers ----------------------------------------------------------------------------


def programme_names() -> dict[str, str]:
    """Programmes a complaint may name: the district's rubrics, else the four defaults."""
    names = dict(DEFAULT_PROGRAMMES)
    for code, name in db.session.execute(
        select(Rubric.programme, Rubric.name).where(Rubric.active.is_(True))
    ):
        names[code] = name
    return names


def school_names(ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return dict(db.session.execute(select(School.id, School.name).where(School.id.in_(ids))).all())


def with_school_names(complaints: list[Complaint]) -> list[Complaint]:
    """Attach ``school_name`` to each complaint with one query (no N+1 in lists)."""
    names = school_names(c.school_id for c in complaints)
    for c in complaints:
        c.school_name = names.get(c.school_id)  # type: ignore[attr-defined]
    return complaints


def parse_month(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    year, month = text.split("-")
    return int(year), int(month)


# --- filing (public) ----------------------------------------------------------------------


def file_complaint(school: School, data: dict[str, Any]) -> Complaint:
    """A complaint through the school's public link. Runs in that school's scope."""
    programme = (data.get("programme") or "").strip() or None
    if programme is not None and programme not in programme_names():
        raise ValidationError({"programme": ["请选择有效的项目"]})
    now = local_now()
    complaint = Complaint(
        school_id=school.id,
        programme=programme,
        content=data["content"].strip(),
        contact=(data.get("contact") or "").strip() or None,
        filed_at=utcnow(),
        year=now.year,
        month=now.month,
        status=Complaint.NEW,
    )
    db.session.add(complaint)
    db.session.flush()
    # No contact in the trail: the school head reads the trail of their school.
    audit.record(
        "complaint.file",
        complaint,
        after={"programme": programme, "year": now.year, "month": now.month},
    )
    return complaint


# --- investigation (district) --------------------------------------------------------------


def list_complaints(
    *,
    status: str | None = None,
    school_id: int | None = None,
    month: tuple[int, int] | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Complaint], int]:
    """Complaints the caller may see, newest first, and how many match in all."""
    stmt = select(Complaint)
    if status:
        stmt = stmt.where(Complaint.status == status)
    if school_id:
        stmt = stmt.where(Complaint.school_id == school_id)
    if month:
        stmt = stmt.where(Complaint.year == month[0], Complaint.month == month[1])
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(
        stmt.order_by(Complaint.filed_at.desc(), Complaint.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), int(total)


def decide(complaint: Complaint, data: dict[str, Any]) -> Complaint:
    """Mark a complaint verified (查实) or unfounded (不实) with the investigation's note."""
    from scoring.jobs import request_recompute

    check_version(complaint, data.get("version"))
    fields_ = ("status", "decision_note")
    before = audit.snapshot(complaint, fields_)
    old_status = complaint.status
    complaint.status = data["status"]
    complaint.decision_note = data["note"].strip()
    complaint.decided_at = utcnow()
    complaint.decided_by = getattr(current_user, "id", None)
    db.session.flush()
    audit.record(
        "complaint.verdict", complaint, before=before, after=audit.snapshot(complaint, fields_)
    )
    if Complaint.VERIFIED in (old_status, complaint.status):
        request_recompute(
            [(complaint.school_id, complaint.year, complaint.month)],
            description="投诉处理后重新计算学校月度成绩",
        )
    return complaint


def history(complaint: Complaint) -> list[AuditEntry]:
    """The audit trail of one complaint, oldest first."""
    return list(
        db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.object_type == "Complaint", AuditEntry.object_id == str(complaint.id))
            .order_by(AuditEntry.id)
        )
    )


# --- scoring input ----------------------------------------------------------------------------


def verified_complaints(school_id: int, year: int, month: int) -> int:
    """Number of verified complaints filed about a school in a month."""
    return int(
        db.session.scalar(
            select(func.count(Complaint.id)).where(
                Complaint.school_id == school_id,
                Complaint.year == year,
                Complaint.month == month,
                Complaint.status == Complaint.VERIFIED,
            )
        )
        or 0
    )


def verified_counts(year: int, month: int) -> dict[int, int]:
    """school_id -> verified complaints of a month, for every school that has any."""
    rows = db.session.execute(
        select(Complaint.school_id, func.count(Complaint.id))
        .where(
            Complaint.year == year,
            Complaint.month == month,
            Complaint.status == Complaint.VERIFIED,
        )
        .group_by(Complaint.school_id)
    ).all()
    return {int(s): int(n) for s, n in rows}


def counts_by_status() -> dict[str, int]:
    rows = db.session.execute(
        select(Complaint.status, func.count(Complaint.id)).group_by(Complaint.status)
    ).all()
    return {s: int(n) for s, n in rows}


__all__ = [
    "ComplaintArgsSchema",
    "ComplaintFileSchema",
    "ComplaintSchema",
    "ComplaintVerdictSchema",
    "decide",
    "file_complaint",
    "history",
    "list_complaints",
    "may_see_contact",
    "verified_complaints",
    "verified_counts",
]
