"""Logistics staff services (后勤人员): roster, certificates, compliance, training.

Services flush, never commit; every roster and certificate change is audited.
Tenancy is the scope's job: queries here never filter by district or school by
hand, so a school user's call only ever sees that school's people.

Phones are personal data: lists show :attr:`StaffMember.masked_phone`; the full
number only reaches the school itself and the district admin (see
:func:`phone_for`), inspectors see none.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from district import audit
from district.extensions import db
from scoring.models import DistrictSettings
from scoring.staff_models import (
    CANTEEN_POSTS,
    CERTIFICATE_KINDS,
    DEFAULT_POSTS,
    EMPLOYMENT_TYPES,
    FIVE_ROLES,
    HEALTH_CERTIFICATE,
    Certificate,
    StaffMember,
    TrainingAttendance,
    TrainingSession,
)
from tenants.models import Role, School
from tenants.scope import require_scope, scoped_get
from tenants.services import check_version

GENDERS = ("男", "女")
EXPIRY_WINDOW_DAYS = 30
OPERATOR_POST = "食堂操作员"
PHONE_RE = r"^\+?[0-9][0-9 \-]{4,19}$"
STAFF_FIELDS = (
    "name",
    "gender",
    "post",
    "employment_type",
    "start_date",
    "phone",
    "five_roles",
    "active",
    "note",
)
CERT_FIELDS = ("kind", "number", "issuer", "issued_on", "expires_on")
TRAINING_FIELDS = ("held_on", "topic", "organiser", "hours", "location")


# --- schemas (pages, API and the Excel import share them) ---------------------------


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class StaffSchema(_Strict):
    """A roster entry as submitted (post is checked against the district's list)."""

    school_id = fields.Int(load_only=True, allow_none=True)
    name = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    gender = fields.Str(allow_none=True, validate=validate.OneOf(GENDERS))
    post = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    employment_type = fields.Str(required=True, validate=validate.OneOf(EMPLOYMENT_TYPES))
    start_date = fields.Date(allow_none=True)
    phone = fields.Str(
        allow_none=True,
        validate=validate.Regexp(PHONE_RE, error="手机号码格式不正确"),
    )
    five_roles = fields.List(
        fields.Str(validate=validate.OneOf(FIVE_ROLES, error="五员角色无效")),
        load_default=list,
    )
    active = fields.Bool()
    note = fields.Str(allow_none=True, validate=validate.Length(max=500))
    version = fields.Int(validate=validate.Range(min=1))


class CertificateSchema(_Strict):
    id = fields.Int(dump_only=True)
    staff_id = fields.Int(dump_only=True)
    kind = fields.Str(required=True, validate=validate.Length(min=1, max=32))
    number = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    issuer = fields.Str(allow_none=True, validate=validate.Length(max=100))
    issued_on = fields.Date(allow_none=True)
    expires_on = fields.Date(allow_none=True)

    @validates_schema
    def _dates(self, data: dict, **_kw: Any) -> None:
        issued, expires = data.get("issued_on"), data.get("expires_on")
        if issued is not None and expires is not None and expires < issued:
            raise ValidationError("有效期不能早于发证日期", "expires_on")


class TrainingSchema(_Strict):
    id = fields.Int(dump_only=True)
    held_on = fields.Date(required=True)
    topic = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    organiser = fields.Str(allow_none=True, validate=validate.Length(max=100))
    hours = fields.Int(allow_none=True, validate=validate.Range(min=0, max=1000))
    location = fields.Str(allow_none=True, validate=validate.Length(max=200))


class AttendeesSchema(_Strict):
    staff_ids = fields.List(fields.Int(), required=True, validate=validate.Length(min=1, max=2000))


# --- district configuration -----------------------------------------------------------


def _settings() -> DistrictSettings | None:
    return db.session.scalar(select(DistrictSettings))


def district_posts() -> tuple[str, ...]:
    """The district's post list (DistrictSettings.staff["posts"], else the defaults)."""
    settings = _settings()
    posts = (settings.staff or {}).get("posts") if settings is not None else None
    return tuple(posts) if posts else DEFAULT_POSTS


def certificate_kinds() -> tuple[str, ...]:
    settings = _settings()
    kinds = (settings.staff or {}).get("certificate_kinds") if settings is not None else None
    return tuple(kinds) if kinds else CERTIFICATE_KINDS


# --- who sees what ----------------------------------------------------------------------

WRITERS = (Role.SCHOOL_HEAD, Role.SCHOOL_STAFF, Role.DISTRICT_ADMIN)
READERS = (
    Role.DISTRICT_ADMIN,
    Role.DISTRICT_VIEWER,
    Role.INSPECTOR,
    Role.SCHOOL_HEAD,
    Role.SCHOOL_STAFF,
)
FULL_PHONE_ROLES = (Role.SCHOOL_HEAD, Role.SCHOOL_STAFF, Role.DISTRICT_ADMIN)


def phone_for(staff: StaffMember, role: str, *, single: bool) -> str | None:
    """What phone a role may see: none for inspectors, masked on lists and for the
    district viewer, the full number in one person's record for the school and admin."""
    if role not in READERS or role == Role.INSPECTOR:
        return None
    if single and role in FULL_PHONE_ROLES:
        return staff.phone
    return staff.masked_phone or None


def present(staff: StaffMember, role: str, *, single: bool, on: date | None = None) -> Any:
    """Attach what the dump schemas show (phone per role, health-certificate status)."""
    staff.phone_shown = phone_for(staff, role, single=single)  # type: ignore[attr-defined]
    staff.health_certificate_valid = staff.has_valid(  # type: ignore[attr-defined]
        HEALTH_CERTIFICATE, on or date.today()
    )
    return staff


# --- roster ------------------------------------------------------------------------------


def visible_schools() -> list[School]:
    return list(db.session.scalars(select(School).order_by(School.code, School.name)))


def school_map() -> dict[int, School]:
    return {s.id: s for s in visible_schools()}


def _roster_filters(
    *,
    school_id: int | None = None,
    post: str | None = None,
    employment_type: str | None = None,
    include_inactive: bool = False,
    q: str | None = None,
) -> list[Any]:
    conds: list[Any] = []
    if school_id:
        conds.append(StaffMember.school_id == school_id)
    if post:
        conds.append(StaffMember.post == post)
    if employment_type:
        conds.append(StaffMember.employment_type == employment_type)
    if not include_inactive:
        conds.append(StaffMember.active.is_(True))
    if q:
        conds.append(StaffMember.name.contains(q, autoescape=True))
    return conds


def _post_order() -> Any:
    """Posts in the district's own order (后勤主任 … as configured), unknown ones last."""
    posts = district_posts()
    return case({p: i for i, p in enumerate(posts)}, value=StaffMember.post, else_=len(posts))


def list_staff(page: int | None = None, per_page: int = 100, **filters: Any) -> list[StaffMember]:
    """The roster the caller may see, people with their certificates (2 queries)."""
    stmt = (
        select(StaffMember)
        .options(selectinload(StaffMember.certificates))
        .where(*_roster_filters(**filters))
        .order_by(StaffMember.school_id, _post_order(), StaffMember.name, StaffMember.id)
    )
    if page is not None:
        stmt = stmt.offset((page - 1) * per_page).limit(per_page)
    return list(db.session.scalars(stmt))


def count_staff(**filters: Any) -> int:
    stmt = select(func.count(StaffMember.id)).where(*_roster_filters(**filters))
    return db.session.scalar(stmt) or 0


def _target_school(school_id: int | None) -> int:
    """The school a new person joins: the caller's own, or a visible one they named."""
    scope = require_scope()
    if school_id is None and scope.school_ids is not None and len(scope.school_ids) == 1:
        return next(iter(scope.school_ids))
    if school_id is None:
        raise ValidationError({"school_id": ["请选择学校"]})
    if scoped_get(School, school_id) is None:
        raise ValidationError({"school_id": ["学校不存在"]})
    return school_id


def _check_choices(data: dict[str, Any]) -> None:
    if "post" in data and data["post"] not in district_posts():
        raise ValidationError({"post": [f"岗位“{data['post']}”不在本区岗位列表中"]})
    if "five_roles" in data:
        # Keep the district's order and drop repeats.
        data["five_roles"] = [r for r in FIVE_ROLES if r in set(data["five_roles"] or [])]


def _snapshot(staff: StaffMember) -> dict[str, Any]:
    snap = audit.snapshot(staff, STAFF_FIELDS)
    # The audit trail is read by the district viewer too: never the full number there.
    snap["phone"] = staff.masked_phone or None
    return snap


def create_staff(data: dict[str, Any]) -> StaffMember:
    data = dict(data)
    data.pop("version", None)
    school_id = _target_school(data.pop("school_id", None))
    _check_choices(data)
    staff = StaffMember(school_id=school_id, active=data.pop("active", True))
    for key in STAFF_FIELDS:
        if key in data:
            setattr(staff, key, data[key])
    staff.five_roles = list(staff.five_roles or [])
    db.session.add(staff)
    db.session.flush()
    audit.record("staff.create", staff, after=_snapshot(staff))
    return staff


def update_staff(staff: StaffMember, data: dict[str, Any]) -> StaffMember:
    check_version(staff, data.get("version"))
    data = {k: v for k, v in data.items() if k in STAFF_FIELDS}
    _check_choices(data)
    before = _snapshot(staff)
    for key, value in data.items():
        setattr(staff, key, list(value) if key == "five_roles" else value)
    db.session.flush()
    after = _snapshot(staff)
    if after != before:
        action = "staff.update"
        if before["active"] and not after["active"]:
            action = "staff.deactivate"
        elif not before["active"] and after["active"]:
            action = "staff.reactivate"
        audit.record(action, staff, before=before, after=after)
    return staff


def trainings_of(staff: StaffMember) -> list[TrainingSession]:
    return list(
        db.session.scalars(
            select(TrainingSession)
            .join(TrainingAttendance, TrainingAttendance.session_id == TrainingSession.id)
            .where(TrainingAttendance.staff_id == staff.id)
            .order_by(TrainingSession.held_on.desc(), TrainingSession.id.desc())
        )
    )


# --- certificates ------------------------------------------------------------------------


def _check_certificate(staff: StaffMember, data: dict[str, Any], exclude_id: int | None) -> None:
    if "kind" in data and data["kind"] not in certificate_kinds():
        raise ValidationError({"kind": [f"证书类别“{data['kind']}”无效"]})
    kind, number = data.get("kind"), data.get("number")
    for cert in staff.certificates:
        if cert.id != exclude_id and cert.kind == kind and cert.number == number:
            raise ValidationError({"number": ["该证书已登记"]})


def add_certificate(staff: StaffMember, data: dict[str, Any]) -> Certificate:
    _check_certificate(staff, data, None)
    cert = Certificate(school_id=staff.school_id, staff_id=staff.id)
    for key in CERT_FIELDS:
        if key in data:
            setattr(cert, key, data[key])
    staff.certificates.append(cert)
    db.session.flush()
    audit.record(
        "certificate.create",
        cert,
        after={"staff_id": staff.id, **audit.snapshot(cert, CERT_FIELDS)},
    )
    return cert


def update_certificate(cert: Certificate, data: dict[str, Any]) -> Certificate:
    merged = {k: data.get(k, getattr(cert, k)) for k in CERT_FIELDS}
    _check_certificate(cert.staff, merged, cert.id)
    if merged["issued_on"] and merged["expires_on"] and merged["expires_on"] < merged["issued_on"]:
        raise ValidationError({"expires_on": ["有效期不能早于发证日期"]})
    before = audit.snapshot(cert, CERT_FIELDS)
    for key in CERT_FIELDS:
        if key in data:
            setattr(cert, key, data[key])
    db.session.flush()
    audit.record("certificate.update", cert, before=before, after=audit.snapshot(cert, CERT_FIELDS))
    return cert


def delete_certificate(cert: Certificate) -> None:
    audit.record(
        "certificate.delete",
        cert,
        before={"staff_id": cert.staff_id, **audit.snapshot(cert, CERT_FIELDS)},
    )
    cert.staff.certificates.remove(cert)
    db.session.delete(cert)
    db.session.flush()


def current_certificate(staff: StaffMember, kind: str) -> Certificate | None:
    """The certificate of a kind that lasts longest (no expiry counts as forever)."""
    certs = [c for c in staff.certificates if c.kind == kind]
    if not certs:
        return None
    return max(certs, key=lambda c: (c.expires_on is None, c.expires_on or date.min, c.id or 0))


# --- compliance --------------------------------------------------------------------------


@dataclass
class StaffIssue:
    """A canteen worker without a valid 健康证 (none at all, or only expired ones)."""

    staff_id: int
    name: str
    post: str
    reason: str
    expired_on: date | None = None


@dataclass
class CertificateIssue:
    staff_id: int
    name: str
    post: str
    kind: str
    number: str
    expires_on: date
    days_left: int


@dataclass
class SchoolCompliance:
    """Compliance of one school on one date (合规: 持证上岗, 证书到期, 五员制)."""

    school_id: int
    school_code: str
    school_name: str
    on: date
    staff_count: int = 0
    canteen_staff: int = 0
    canteen_with_health: int = 0
    missing_health: list[StaffIssue] = field(default_factory=list)
    expiring: list[CertificateIssue] = field(default_factory=list)
    expired: list[CertificateIssue] = field(default_factory=list)
    unfilled_roles: list[str] = field(default_factory=list)

    @property
    def has_canteen(self) -> bool:
        return self.canteen_staff > 0

    @property
    def health_share(self) -> Decimal | None:
        if not self.canteen_staff:
            return None
        return Decimal(self.canteen_with_health) / Decimal(self.canteen_staff)

    @property
    def problem_count(self) -> int:
        return (
            len(self.missing_health)
            + len(self.expiring)
            + len(self.expired)
            + len(self.unfilled_roles)
        )


def _school_compliance(school: School, staff: list[StaffMember], on: date) -> SchoolCompliance:
    report = SchoolCompliance(school.id, school.code, school.name, on, staff_count=len(staff))
    horizon = on + timedelta(days=EXPIRY_WINDOW_DAYS)
    filled: set[str] = set()
    for person in staff:
        filled.update(person.five_roles or [])
        if person.is_canteen_staff:
            report.canteen_staff += 1
            if person.has_valid(HEALTH_CERTIFICATE, on):
                report.canteen_with_health += 1
            else:
                latest = current_certificate(person, HEALTH_CERTIFICATE)
                report.missing_health.append(
                    StaffIssue(
                        person.id,
                        person.name,
                        person.post,
                        "健康证已过期" if latest is not None else "无健康证",
                        latest.expires_on if latest is not None else None,
                    )
                )
        # Per kind only the longest-lasting certificate counts: a renewed one clears the old.
        for kind in sorted({c.kind for c in person.certificates}):
            cert = current_certificate(person, kind)
            if cert is None or cert.expires_on is None or cert.expires_on > horizon:
                continue
            issue = CertificateIssue(
                person.id,
                person.name,
                person.post,
                kind,
                cert.number,
                cert.expires_on,
                (cert.expires_on - on).days,
            )
            (report.expiring if cert.expires_on >= on else report.expired).append(issue)
    if report.has_canteen:
        report.unfilled_roles = [r for r in FIVE_ROLES if r not in filled]
    report.missing_health.sort(key=lambda i: (i.name, i.staff_id))
    report.expiring.sort(key=lambda i: (i.expires_on, i.name, i.staff_id))
    report.expired.sort(key=lambda i: (i.expires_on, i.name, i.staff_id))
    return report


def compliance(on: date | None = None, school_id: int | None = None) -> list[SchoolCompliance]:
    """Compliance of every visible school (or one) on ``on`` (today by default).

    A school runs a canteen when it has active canteen staff (post 食堂操作员 or a
    five-role designation); only then are its five-role positions checked.
    """
    on = on or date.today()
    schools = visible_schools()
    if school_id is not None:
        schools = [s for s in schools if s.id == school_id]
    by_school: dict[int, list[StaffMember]] = defaultdict(list)
    for person in list_staff(school_id=school_id):
        by_school[person.school_id].append(person)
    return [_school_compliance(s, by_school.get(s.id, []), on) for s in schools]


def health_certificate_share(school_id: int, on: date) -> Decimal | None:
    """Share of a school's active canteen staff holding a 健康证 valid on ``on``.

    Feeds the canteen rubric's measured indicator ``health_cert_share`` (a ratio
    0…1). None when the school has no canteen staff on its roster.
    """
    staff = [
        s
        for s in db.session.scalars(
            select(StaffMember)
            .options(selectinload(StaffMember.certificates))
            .where(StaffMember.school_id == school_id, StaffMember.active.is_(True))
        )
        if s.is_canteen_staff
    ]
    if not staff:
        return None
    valid = sum(1 for s in staff if s.has_valid(HEALTH_CERTIFICATE, on))
    return Decimal(valid) / Decimal(len(staff))


def health_cert_share_for_month(school_id: int, year: int, month: int) -> Decimal | None:
    """The month's value: certificates must hold until the month's last day."""
    last = date(year, month, calendar.monthrange(year, month)[1])
    return health_certificate_share(school_id, last)


# --- training ----------------------------------------------------------------------------


def list_trainings(year: int | None = None) -> list[tuple[TrainingSession, int]]:
    """Sessions with the number of attendees the caller may see."""
    counts = (
        select(TrainingAttendance.session_id, func.count(TrainingAttendance.id).label("n"))
        .group_by(TrainingAttendance.session_id)
        .subquery()
    )
    stmt = (
        select(TrainingSession, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.session_id == TrainingSession.id)
        .order_by(TrainingSession.held_on.desc(), TrainingSession.id.desc())
    )
    if year:
        stmt = stmt.where(
            TrainingSession.held_on >= date(year, 1, 1),
            TrainingSession.held_on <= date(year, 12, 31),
        )
    return [(s, int(n)) for s, n in db.session.execute(stmt).all()]


def create_training(data: dict[str, Any]) -> TrainingSession:
    session = TrainingSession(**{k: data.get(k) for k in TRAINING_FIELDS})
    db.session.add(session)
    db.session.flush()
    audit.record("training.create", session, after=audit.snapshot(session, TRAINING_FIELDS))
    return session


def attendees(session: TrainingSession) -> list[StaffMember]:
    return list(
        db.session.scalars(
            select(StaffMember)
            .join(TrainingAttendance, TrainingAttendance.staff_id == StaffMember.id)
            .where(TrainingAttendance.session_id == session.id)
            .order_by(StaffMember.school_id, StaffMember.name, StaffMember.id)
        )
    )


def add_attendees(session: TrainingSession, staff_ids: list[int]) -> int:
    """Record attendance of visible, active people; returns how many were new."""
    wanted = sorted(set(staff_ids))
    found = {
        s.id: s
        for s in db.session.scalars(
            select(StaffMember).where(StaffMember.id.in_(wanted), StaffMember.active.is_(True))
        )
    }
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ValidationError(
            {"staff_ids": [f"人员不存在或已停用：{', '.join(map(str, missing))}"]}
        )
    already = set(
        db.session.scalars(
            select(TrainingAttendance.staff_id).where(
                TrainingAttendance.session_id == session.id,
                TrainingAttendance.staff_id.in_(wanted),
            )
        )
    )
    new = [found[i] for i in wanted if i not in already]
    for person in new:
        db.session.add(
            TrainingAttendance(
                session_id=session.id, staff_id=person.id, school_id=person.school_id
            )
        )
    db.session.flush()
    if new:
        audit.record(
            "training.attendees.add",
            session,
            after={"staff_ids": [p.id for p in new]},
            school_id=new[0].school_id if len({p.school_id for p in new}) == 1 else None,
        )
    return len(new)


def remove_attendee(session: TrainingSession, staff_id: int) -> bool:
    row = db.session.scalar(
        select(TrainingAttendance).where(
            TrainingAttendance.session_id == session.id, TrainingAttendance.staff_id == staff_id
        )
    )
    if row is None:
        return False
    audit.record(
        "training.attendees.remove",
        session,
        before={"staff_ids": [staff_id]},
        school_id=row.school_id,
    )
    db.session.delete(row)
    db.session.flush()
    return True


@dataclass
class CoverageRow:
    school_id: int | None
    school_code: str
    school_name: str
    operators: int
    trained: int

    @property
    def share(self) -> Decimal | None:
        return Decimal(self.trained) / Decimal(self.operators) if self.operators else None


@dataclass
class Coverage:
    """Share of canteen operators (食堂操作员) trained in a calendar year."""

    year: int
    rows: list[CoverageRow]
    total: CoverageRow


def coverage(year: int) -> Coverage:
    operators = dict(
        db.session.execute(
            select(StaffMember.school_id, func.count(StaffMember.id))
            .where(StaffMember.post == OPERATOR_POST, StaffMember.active.is_(True))
            .group_by(StaffMember.school_id)
        ).all()
    )
    trained = dict(
        db.session.execute(
            select(StaffMember.school_id, func.count(func.distinct(StaffMember.id)))
            .join(TrainingAttendance, TrainingAttendance.staff_id == StaffMember.id)
            .join(TrainingSession, TrainingSession.id == TrainingAttendance.session_id)
            .where(
                StaffMember.post == OPERATOR_POST,
                StaffMember.active.is_(True),
                TrainingSession.held_on >= date(year, 1, 1),
                TrainingSession.held_on <= date(year, 12, 31),
            )
            .group_by(StaffMember.school_id)
        ).all()
    )
    rows = [
        CoverageRow(s.id, s.code, s.name, int(operators.get(s.id, 0)), int(trained.get(s.id, 0)))
        for s in visible_schools()
    ]
    total = CoverageRow(
        None, "", "合计", sum(r.operators for r in rows), sum(r.trained for r in rows)
    )
    return Coverage(year, rows, total)


__all__ = [
    "CANTEEN_POSTS",
    "StaffSchema",
    "CertificateSchema",
    "TrainingSchema",
    "compliance",
    "health_certificate_share",
    "health_cert_share_for_month",
    "coverage",
]
