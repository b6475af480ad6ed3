"""Submission states (提交情况) of self-assessments: lists, a school's reminders, and the
district's school × programme compliance table with its Excel export.

A self-assessment counts as submitted when ``submitted_at`` is set (status submitted,
or locked after being submitted); returning clears it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from district.exports import table_workbook
from district.extensions import db
from scoring.models import Period, SelfAssessment
from scoring.periods import local_today, period_for
from scoring.rubrics import programme_applies, versions_in_force
from tenants.models import School

# Compliance states (提交情况) of one school × programme × month.
NOT_STARTED = "not_started"
DRAFT = "draft"
ON_TIME = "submitted_on_time"
LATE = "submitted_late"
RETURNED = "returned"
LOCKED = "locked"
STATE_LABELS = {
    NOT_STARTED: "未开始",
    DRAFT: "草稿",
    ON_TIME: "已提交（按时）",
    LATE: "已提交（逾期）",
    RETURNED: "已退回",
    LOCKED: "已锁定",
}
STATUS_LABELS = {
    SelfAssessment.DRAFT: "草稿",
    SelfAssessment.SUBMITTED: "已提交",
    SelfAssessment.RETURNED: "已退回",
    SelfAssessment.LOCKED: "已锁定",
}


def state_of(assessment: SelfAssessment | None) -> str:
    if assessment is None:
        return NOT_STARTED
    if assessment.status == SelfAssessment.SUBMITTED:
        return LATE if assessment.late else ON_TIME
    return {
        SelfAssessment.DRAFT: DRAFT,
        SelfAssessment.RETURNED: RETURNED,
        SelfAssessment.LOCKED: LOCKED,
    }.get(assessment.status, DRAFT)


def submitted(assessment: SelfAssessment | None) -> bool:
    return assessment is not None and assessment.submitted_at is not None


# --- lists, reminders and compliance ---------------------------------------------------------


def list_assessments(
    year: int | None = None, month: int | None = None, programme: str | None = None
) -> list[tuple[SelfAssessment, School]]:
    """Self-assessments the caller may see (the tenant scope narrows it), newest first."""
    stmt = (
        select(SelfAssessment, School)
        .join(School, School.id == SelfAssessment.school_id)
        .order_by(
            SelfAssessment.year.desc(),
            SelfAssessment.month.desc(),
            School.code,
            SelfAssessment.programme,
        )
    )
    if year is not None:
        stmt = stmt.where(SelfAssessment.year == year)
    if month is not None:
        stmt = stmt.where(SelfAssessment.month == month)
    if programme:
        stmt = stmt.where(SelfAssessment.programme == programme)
    return [(a, s) for a, s in db.session.execute(stmt.limit(2000)).all()]


def programmes_for(school: School | None, year: int, month: int) -> list[tuple[str, str, bool]]:
    """(code, name, applies) of the programmes in force for a month, in display order."""
    out = []
    for code, version in versions_in_force(year, month).items():
        applies = school is None or programme_applies(version.rubric, school)
        out.append((code, version.rubric.name, applies))
    return out


@dataclass
class ProgrammeState:
    code: str
    name: str
    assessment: SelfAssessment | None

    @property
    def state(self) -> str:
        return state_of(self.assessment)

    @property
    def label(self) -> str:
        return _(STATE_LABELS[self.state])

    @property
    def done(self) -> bool:
        return submitted(self.assessment)


@dataclass
class PeriodReminder:
    """One open month as a school sees it: what is still to submit and by when."""

    period: Period
    programmes: list[ProgrammeState]
    today: Any

    @property
    def days_left(self) -> int:
        return (self.period.deadline - self.today).days

    @property
    def pending(self) -> list[ProgrammeState]:
        return [p for p in self.programmes if not p.done]

    @property
    def reminder(self) -> str | None:
        """ "还剩 N 天" within 3 days of the deadline, "已逾期" after it (pending only)."""
        if not self.pending:
            return None
        days = self.days_left
        if days < 0:
            return _("已逾期 %(n)d 天", n=-days)
        if days == 0:
            return _("今天截止")
        if days <= 3:
            return _("还剩 %(n)d 天", n=days)
        return None


def school_overview(school: School) -> list[PeriodReminder]:
    """The school's open months with each applicable programme's state."""
    today = local_today()
    periods = list(
        db.session.scalars(
            select(Period)
            .where(Period.status == Period.OPEN)
            .order_by(Period.year.desc(), Period.month.desc())
        )
    )
    if not periods:
        return []
    mine = {
        (a.year, a.month, a.programme): a
        for a in db.session.scalars(
            select(SelfAssessment).where(SelfAssessment.school_id == school.id)
        )
    }
    out = []
    for period in periods:
        states = [
            ProgrammeState(code, name, mine.get((period.year, period.month, code)))
            for code, name, applies in programmes_for(school, period.year, period.month)
            if applies
        ]
        out.append(PeriodReminder(period=period, programmes=states, today=today))
    return out


@dataclass
class ComplianceCell:
    state: str
    assessment_id: int | None
    missing: bool  # not submitted after the deadline: highlighted

    @property
    def label(self) -> str:
        return _(STATE_LABELS[self.state])


@dataclass
class ComplianceTable:
    year: int
    month: int
    period: Period | None
    overdue: bool
    programmes: list[tuple[str, str]]
    rows: list[tuple[School, dict[str, ComplianceCell | None]]]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATE_LABELS, 0)
        for _school, cells in self.rows:
            for cell in cells.values():
                if cell is not None:
                    out[cell.state] += 1
        return out

    @property
    def missing(self) -> int:
        return sum(1 for _s, cells in self.rows for c in cells.values() if c and c.missing)


def compliance(year: int, month: int) -> ComplianceTable:
    """Each school × programme of a month → its submission state (提交情况)."""
    period = period_for(year, month)
    overdue = period is not None and local_today() > period.deadline
    versions = versions_in_force(year, month)
    schools = list(
        db.session.scalars(
            select(School).options(selectinload(School.zone)).order_by(School.code, School.name)
        )
    )
    found = {
        (a.school_id, a.programme): a
        for a in db.session.scalars(
            select(SelfAssessment).where(SelfAssessment.year == year, SelfAssessment.month == month)
        )
    }
    rows = []
    for school in schools:
        cells: dict[str, ComplianceCell | None] = {}
        for code, version in versions.items():
            if not programme_applies(version.rubric, school):
                cells[code] = None
                continue
            assessment = found.get((school.id, code))
            cells[code] = ComplianceCell(
                state=state_of(assessment),
                assessment_id=assessment.id if assessment else None,
                missing=overdue and not submitted(assessment),
            )
        rows.append((school, cells))
    return ComplianceTable(
        year=year,
        month=month,
        period=period,
        overdue=overdue,
        programmes=[(code, v.rubric.name) for code, v in versions.items()],
        rows=rows,
    )


def compliance_workbook(table: ComplianceTable) -> bytes:
    """The compliance table as an Excel sheet (cells neutralised against formulas)."""
    header = [_("学校代码"), _("学校"), _("片区"), _("学段")]
    header += [name for _code, name in table.programmes]
    header += [_("逾期未提交")]
    rows = []
    for school, cells in table.rows:
        row: list[Any] = [
            school.code,
            school.name,
            school.zone.name if school.zone else "",
            school.level,
        ]
        for code, _name in table.programmes:
            cell = cells.get(code)
            row.append(_("不适用") if cell is None else cell.label)
        row.append(sum(1 for c in cells.values() if c is not None and c.missing))
        rows.append(row)
    return table_workbook(f"{table.year}年{table.month}月自评提交情况", header, rows)
