"""Findings (整改) of site visits: record, answer, close (销号), reopen; lists and export.

An inspector records what a visit found with a rectification deadline; the school
answers with what it did and evidence; the inspector (or a district admin) closes the
finding or sends it back. Services flush; the request commits once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import case, func, or_, select

from district import audit
from district.exports import table_workbook
from district.extensions import db
from scoring import evidence
from scoring.lookups import schools_by_id, user_names
from scoring.models import Evidence, Finding, SiteVisit
from scoring.visit_access import can_answer, can_edit, can_judge, require
from scoring.visit_queries import month_filter
from scoring.visit_scoring import programme_name, scoring_sheet
from tenants.models import School, utcnow
from tenants.services import check_version, get_or_404

# Findings may be reopened after an answer or a close; the model's String(16) holds it.
REOPENED = "reopened"
FINDING_STATES = (Finding.OPEN, Finding.ANSWERED, Finding.CLOSED, REOPENED)
FINDING_LABELS = {
    Finding.OPEN: "待整改",
    Finding.ANSWERED: "已答复",
    Finding.CLOSED: "已销号",
    REOPENED: "重新整改",
}
UNRESOLVED = (Finding.OPEN, REOPENED, Finding.ANSWERED)
ANSWERABLE = (Finding.OPEN, REOPENED, Finding.ANSWERED)

FINDING_OWNER = "finding"


def _finding_snapshot(f: Finding) -> dict[str, Any]:
    return audit.snapshot(
        f,
        (
            "status",
            "description",
            "programme",
            "indicator_code",
            "deadline",
            "response",
            "reopen_count",
        ),
    )


def _store_evidence(finding: Finding, uploads: Iterable[Any], user: Any) -> list[Evidence]:
    return [
        evidence.store(
            u,
            owner_type=FINDING_OWNER,
            owner_id=finding.id,
            school_id=finding.school_id,
            user_id=user.id,
        )
        for u in uploads
    ]


def create_finding(visit: SiteVisit, data: dict[str, Any], user: Any) -> Finding:
    require(can_edit(user, visit))
    description = (data.get("description") or "").strip()
    if not description:
        raise ValidationError({"description": ["请填写发现的问题"]})
    programme = data.get("programme") or None
    code = data.get("indicator_code") or None
    if code and not programme:
        raise ValidationError({"programme": ["指定指标时须同时选择项目"]})
    if programme:
        school = get_or_404(School, visit.school_id)
        sheets = {s.programme: s for s in scoring_sheet(school, visit.year, visit.month)}
        sheet = sheets.get(programme)
        if sheet is None:
            raise ValidationError({"programme": ["该项目不适用于该校"]})
        if code and sheet.indicator(code) is None:
            raise ValidationError({"indicator_code": ["该指标不存在或不适用于该校"]})
    deadline = data.get("deadline")
    if deadline is None:
        raise ValidationError({"deadline": ["请填写整改期限"]})
    if deadline < visit.visited_on:
        raise ValidationError({"deadline": ["整改期限不能早于督查日期"]})
    finding = Finding(
        school_id=visit.school_id,
        visit_id=visit.id,
        programme=programme,
        indicator_code=code,
        description=description,
        deadline=deadline,
        status=Finding.OPEN,
    )
    db.session.add(finding)
    db.session.flush()
    audit.record("finding.create", finding, after=_finding_snapshot(finding))
    return finding


def answer_finding(
    finding: Finding, data: dict[str, Any], user: Any, *, uploads: Sequence[Any] = ()
) -> Finding:
    """The school says what it did (整改情况), with evidence photos."""
    require(can_answer(user))
    check_version(finding, data.get("version"))
    if finding.status not in ANSWERABLE:
        raise ValidationError({"status": ["该问题已销号，不能再答复"]})
    response = (data.get("response") or "").strip()
    if not response:
        raise ValidationError({"response": ["请填写整改情况"]})
    before = _finding_snapshot(finding)
    finding.response = response
    finding.status = Finding.ANSWERED
    finding.responded_at = utcnow()
    finding.responded_by = user.id
    db.session.flush()
    stored = _store_evidence(finding, uploads, user)
    after = _finding_snapshot(finding)
    after["evidence_ids"] = [e.id for e in stored]
    audit.record("finding.answer", finding, before=before, after=after)
    return finding


def add_finding_evidence(finding: Finding, uploads: Sequence[Any], user: Any) -> list[Evidence]:
    """More evidence for a finding: the school (while not closed) or the inspector/admin."""
    if can_answer(user):
        if finding.status == Finding.CLOSED:
            raise ValidationError({"status": ["该问题已销号"]})
    else:
        require(can_judge(user))
    if not uploads:
        raise ValidationError({"file": ["请选择要上传的文件"]})
    stored = _store_evidence(finding, uploads, user)
    audit.record(
        "finding.evidence",
        finding,
        after={"files": [e.filename for e in stored], "evidence_ids": [e.id for e in stored]},
    )
    return stored


def close_finding(finding: Finding, data: dict[str, Any], user: Any) -> Finding:
    """销号: the inspector (or a district admin) accepts the rectification."""
    require(can_judge(user))
    check_version(finding, data.get("version"))
    if finding.status == Finding.CLOSED:
        raise ValidationError({"status": ["该问题已销号"]})
    before = _finding_snapshot(finding)
    finding.status = Finding.CLOSED
    finding.closed_at = utcnow()
    db.session.flush()
    after = _finding_snapshot(finding)
    after["note"] = (data.get("note") or "").strip() or None
    audit.record("finding.close", finding, before=before, after=after)
    return finding


def reopen_finding(finding: Finding, data: dict[str, Any], user: Any) -> Finding:
    """Not good enough: back to the school, with a note saying why."""
    require(can_judge(user))
    check_version(finding, data.get("version"))
    note = (data.get("note") or "").strip()
    if not note:
        raise ValidationError({"note": ["请说明重新整改的原因"]})
    if finding.status not in (Finding.ANSWERED, Finding.CLOSED):
        raise ValidationError({"status": ["只有已答复或已销号的问题可以重新打开"]})
    before = _finding_snapshot(finding)
    finding.status = REOPENED
    finding.closed_at = None
    finding.reopen_count = (finding.reopen_count or 0) + 1
    if data.get("deadline"):
        if data["deadline"] < date.today():
            raise ValidationError({"deadline": ["新的整改期限不能早于今天"]})
        finding.deadline = data["deadline"]
    db.session.flush()
    after = _finding_snapshot(finding)
    after["note"] = note
    audit.record("finding.reopen", finding, before=before, after=after)
    return finding


def is_overdue(finding: Finding, as_of: date | None = None) -> bool:
    return finding.status in UNRESOLVED and finding.deadline < (as_of or date.today())


def overdue_findings(as_of: date | None = None) -> list[Finding]:
    """Findings not closed whose deadline has passed (open, reopened, or answered but not
    yet closed), oldest deadline first; current scope. For dashboards and bulletins."""
    as_of = as_of or date.today()
    return list(
        db.session.scalars(
            select(Finding)
            .where(Finding.status.in_(UNRESOLVED), Finding.deadline < as_of)
            .order_by(Finding.deadline, Finding.id)
        )
    )


# --- lists ---------------------------------------------------------------------------


def list_findings(
    *,
    status: str | None = None,
    overdue: bool | None = None,
    year: int | None = None,
    month: int | None = None,
    zone_id: int | None = None,
    school_id: int | None = None,
    as_of: date | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Finding]:
    """Findings in scope; ``year``/``month`` filter on the visit's month."""
    as_of = as_of or date.today()
    stmt = select(Finding).join(SiteVisit, SiteVisit.id == Finding.visit_id)
    if status == "unresolved":
        stmt = stmt.where(Finding.status.in_(UNRESOLVED))
    elif status:
        stmt = stmt.where(Finding.status == status)
    if overdue is True:
        stmt = stmt.where(Finding.status.in_(UNRESOLVED), Finding.deadline < as_of)
    elif overdue is False:
        stmt = stmt.where(or_(Finding.status.not_in(UNRESOLVED), Finding.deadline >= as_of))
    stmt = month_filter(stmt, SiteVisit, year, month)
    if zone_id:
        stmt = stmt.join(School, School.id == Finding.school_id).where(School.zone_id == zone_id)
    if school_id:
        stmt = stmt.where(Finding.school_id == school_id)
    # Unresolved first (what needs doing), then by deadline.
    closed_last = case((Finding.status == Finding.CLOSED, 1), else_=0)
    stmt = stmt.order_by(closed_last, Finding.deadline, Finding.id)
    if offset:
        stmt = stmt.offset(offset)
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def finding_counts(visit_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(all, unresolved) findings per visit."""
    if not visit_ids:
        return {}
    rows = db.session.execute(
        select(
            Finding.visit_id,
            func.count(Finding.id),
            func.sum(func.cast(Finding.status.in_(UNRESOLVED), db.Integer)),
        )
        .where(Finding.visit_id.in_(list(visit_ids)))
        .group_by(Finding.visit_id)
    )
    return {v: (int(n), int(u or 0)) for v, n, u in rows}


# --- Excel export ----------------------------------------------------------------------

FINDING_HEADER = (
    "编号",
    "学校",
    "片区",
    "督查日期",
    "督查员",
    "项目",
    "指标",
    "发现的问题",
    "整改期限",
    "状态",
    "是否逾期",
    "整改情况",
    "答复时间",
    "重新整改次数",
)


def findings_workbook(findings: Sequence[Finding], as_of: date | None = None) -> bytes:
    as_of = as_of or date.today()
    schools = schools_by_id(f.school_id for f in findings)
    visits = (
        {
            v.id: v
            for v in db.session.scalars(
                select(SiteVisit).where(SiteVisit.id.in_(sorted({f.visit_id for f in findings})))
            )
        }
        if findings
        else {}
    )
    names = user_names(v.inspector_id for v in visits.values())

    def rows() -> Iterable[list[Any]]:
        for f in findings:
            school = schools.get(f.school_id)
            visit = visits.get(f.visit_id)
            yield [
                f.id,
                school.name if school else "",
                school.zone.name if school and school.zone else "",
                visit.visited_on if visit else None,
                names.get(visit.inspector_id, "") if visit and visit.inspector_id else "",
                programme_name(f.programme) if f.programme else "",
                f.indicator_code or "",
                f.description,
                f.deadline,
                FINDING_LABELS.get(f.status, f.status),
                "是" if is_overdue(f, as_of) else "否",
                f.response or "",
                _datetime(f.responded_at),
                f.reopen_count or 0,
            ]

    return table_workbook("整改清单", FINDING_HEADER, rows())


def _datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""
