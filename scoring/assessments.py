"""Monthly self-assessment (自评) services: start, save drafts, evidence, submit, return.

Workflow: draft → submitted → (returned → submitted) → locked when the period closes
(see :mod:`scoring.periods`). School staff (后勤主任) may edit drafts; only the
school head (校长) submits; a district admin returns a submission with a reason.
Every save carries the assessment's ``version``: a stale one is refused (409), so two
people editing one draft never silently overwrite each other.

How an item's columns are used, by indicator kind:

- judged: ``points`` 0…max in steps of 0.5;
- checklist: ``points`` = Σ points of the ticked items; ``value`` holds the ticked
  items as a bit mask (bit *i* = item *i*, counted from 0), see :func:`ticked`;
- measured: ``value`` the measured number (shares as 0–1), ``points`` from the curve;
- veto (一票否决): ``points`` and ``value`` 1 when triggered, 0 when not.

A self-assessment counts as submitted when ``submitted_at`` is set (status
submitted, or locked after being submitted); returning clears it.

The loaded form is in :mod:`scoring.assessment_form`, validation of entered items in
:mod:`scoring.assessment_items`, states, reminders and compliance in
:mod:`scoring.assessment_compliance`; their public names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from district import audit
from district.extensions import db
from scoring import evidence
from scoring.assessment_compliance import (
    DRAFT,
    LATE,
    LOCKED,
    NOT_STARTED,
    ON_TIME,
    RETURNED,
    STATE_LABELS,
    STATUS_LABELS,
    ComplianceCell,
    ComplianceTable,
    PeriodReminder,
    ProgrammeState,
    compliance,
    compliance_workbook,
    list_assessments,
    programmes_for,
    school_overview,
    state_of,
    submitted,
)
from scoring.assessment_form import (
    EVIDENCE_OWNER,
    AssessmentForm,
    IndicatorRow,
    derived_measure,
    edit_block_reason,
    indicator_spec,
    is_ratio,
    load_form,
    self_score,
    store_score,
    submission_problems,
    ticked,
)
from scoring.assessment_items import ITEM_KEYS, parse_items
from scoring.indicator_input import POINT_STEP, measured_score
from scoring.models import Evidence, Period, SelfAssessment, SelfAssessmentItem
from scoring.periods import conflict, forbidden, local_today, lock_explanation, period_for
from scoring.rubrics import (
    applicable_indicators,
    programme_applies,
    programme_name,
    version_in_force,
)
from tenants.models import Role, School, User, utcnow
from tenants.services import check_version

__all__ = [
    "DRAFT",
    "EVIDENCE_OWNER",
    "ITEM_KEYS",
    "LATE",
    "LOCKED",
    "NOT_STARTED",
    "ON_TIME",
    "RETURNED",
    "STATE_LABELS",
    "STATUS_LABELS",
    "STEP",
    "AssessmentForm",
    "ComplianceCell",
    "ComplianceTable",
    "IndicatorRow",
    "PeriodReminder",
    "ProgrammeState",
    "add_evidence",
    "compliance",
    "compliance_workbook",
    "derived_measure",
    "edit_block_reason",
    "indicator_spec",
    "is_ratio",
    "list_assessments",
    "load_form",
    "local_today",
    "programme_name",
    "programmes_for",
    "return_assessment",
    "save_draft",
    "school_overview",
    "self_score",
    "start",
    "state_of",
    "submission_problems",
    "submit",
    "submitted",
    "ticked",
]

STEP = POINT_STEP


def _ensure_editable(form: AssessmentForm) -> None:
    reason = form.block_reason
    if reason:
        raise conflict(reason)


def _snapshot_items(form: AssessmentForm, codes: Iterable[str]) -> dict[str, Any]:
    out = {}
    for code in codes:
        row = form.row(code)
        item = row.item if row else None
        out[code] = {
            "points": None if item is None else item.points,
            "value": None if item is None else item.value,
            "note": None if item is None else item.note,
        }
    return out


def _flush() -> None:
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise conflict(_("该自评已被他人修改，您的修改未保存。请刷新后重新填写。")) from exc


def start(school: School, year: int, month: int, programme: str, user: User) -> SelfAssessment:
    """Start a school's self-assessment of a programme for an open month."""
    if user.role not in Role.SCHOOL_ROLES or user.school_id != school.id:
        raise forbidden(_("只有本校的校长或后勤主任可以开始自评"))
    period = period_for(year, month)
    if period is None or period.status != Period.OPEN:
        raise conflict(lock_explanation(period))
    version = version_in_force(programme, year, month)
    if version is None or not version.rubric.active:
        raise ValidationError({"programme": [_("该项目没有生效的考核细则")]})
    if not programme_applies(version.rubric, school):
        raise ValidationError(
            {"programme": [_("%(name)s仅适用于寄宿制学校", name=version.rubric.name)]}
        )
    existing = db.session.scalar(
        select(SelfAssessment.id).where(
            SelfAssessment.school_id == school.id,
            SelfAssessment.year == year,
            SelfAssessment.month == month,
            SelfAssessment.programme == programme,
        )
    )
    if existing is not None:
        raise conflict(_("本校该月的这项自评已经存在（编号 %(id)d）", id=existing))
    assessment = SelfAssessment(
        school_id=school.id,
        year=year,
        month=month,
        programme=programme,
        rubric_version_id=version.id,
        status=SelfAssessment.DRAFT,
    )
    db.session.add(assessment)
    db.session.flush()
    for indicator in applicable_indicators(version, school):
        item = SelfAssessmentItem(
            school_id=school.id, assessment_id=assessment.id, indicator_code=indicator.code
        )
        if indicator.kind == "measured":
            value = derived_measure(school, indicator.measure, year, month)
            if value is not None:
                item.value = value
                item.points = measured_score(value, indicator, indicator.max_points)
        db.session.add(item)
    db.session.flush()
    form = load_form(assessment)
    store_score(form)
    db.session.flush()
    audit.record(
        "self_assessment.create",
        assessment,
        after={
            "programme": programme,
            "month": f"{year}-{month:02d}",
            "status": assessment.status,
            "rubric_version": version.number,
            "score": assessment.score,
        },
    )
    return assessment


def save_draft(
    assessment: SelfAssessment, items: list[dict[str, Any]], version: int | None, user: User
) -> SelfAssessment:
    """Save entered items (those not listed stay as they are); stale ``version`` → 409."""
    if user.role not in Role.SCHOOL_ROLES:
        raise forbidden(_("只有本校的校长或后勤主任可以填写自评"))
    form = load_form(assessment)
    _ensure_editable(form)
    check_version(assessment, version)
    parsed = parse_items(form, items)
    before = _snapshot_items(form, parsed)
    before_score = assessment.score
    for code, changes in parsed.items():
        row = form.row(code)
        assert row is not None
        if row.item is None:
            row.item = SelfAssessmentItem(
                school_id=assessment.school_id, assessment_id=assessment.id, indicator_code=code
            )
            db.session.add(row.item)
        for key, value in changes.items():
            setattr(row.item, key, value)
    store_score(form)
    assessment.updated_at = utcnow()  # bumps the version even when only items changed
    _flush()
    changed = [c for c in parsed if before[c] != _snapshot_items(form, [c])[c]]
    audit.record(
        "self_assessment.save",
        assessment,
        before={"items": {c: before[c] for c in changed}, "score": before_score},
        after={
            "items": _snapshot_items(form, changed),
            "score": assessment.score,
            "version": assessment.version,
        },
    )
    return assessment


def add_evidence(assessment: SelfAssessment, code: str, upload: Any, user: User) -> Evidence:
    """Attach an uploaded file to one indicator of an editable self-assessment."""
    if user.role not in Role.SCHOOL_ROLES:
        raise forbidden(_("只有本校的校长或后勤主任可以上传佐证材料"))
    form = load_form(assessment)
    _ensure_editable(form)
    row = form.row(code or "")
    if row is None:
        raise ValidationError(
            {"code": [_("未知指标代码 %(code)s（或该指标不适用于本校）", code=code or "—")]}
        )
    if upload is None or not getattr(upload, "filename", None):
        raise ValidationError({"file": [_("请选择要上传的文件")]})
    if row.item is None:
        row.item = SelfAssessmentItem(
            school_id=assessment.school_id, assessment_id=assessment.id, indicator_code=code
        )
        db.session.add(row.item)
        db.session.flush()
    stored = evidence.store(
        upload,
        owner_type=EVIDENCE_OWNER,
        owner_id=row.item.id,
        school_id=assessment.school_id,
        user_id=user.id,
    )
    audit.record(
        "self_assessment.evidence",
        assessment,
        after={"indicator": code, "evidence_id": stored.id, "filename": stored.filename},
    )
    return stored


def submit(assessment: SelfAssessment, user: User, version: int | None = None) -> SelfAssessment:
    """The school head submits; late when the first submission is after the deadline."""
    if user.role != Role.SCHOOL_HEAD:
        raise forbidden(_("自评须由校长提交；后勤主任可以填写和保存草稿。"))
    form = load_form(assessment)
    _ensure_editable(form)
    check_version(assessment, version)
    problems = submission_problems(form)
    if problems:
        raise ValidationError({"items": problems})
    assert form.period is not None
    before = audit.snapshot(assessment, ("status", "submitted_at", "late", "score"))
    if assessment.status == SelfAssessment.DRAFT:
        # A resubmission after a return keeps the first submission's punctuality.
        assessment.late = local_today() > form.period.deadline
    assessment.status = SelfAssessment.SUBMITTED
    assessment.submitted_at = utcnow()
    assessment.submitted_by = user.id
    assessment.return_reason = None
    store_score(form)
    assessment.updated_at = utcnow()
    _flush()
    audit.record(
        "self_assessment.submit",
        assessment,
        before=before,
        after=audit.snapshot(assessment, ("status", "submitted_at", "late", "score")),
    )
    _recompute(assessment, "自评提交后重新计算")
    return assessment


def return_assessment(assessment: SelfAssessment, reason: str, user: User) -> SelfAssessment:
    """A district admin returns a submission for correction (退回), with a reason."""
    if user.role != Role.DISTRICT_ADMIN:
        raise forbidden(_("只有区教育局后勤办管理员可以退回自评"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("请填写退回原因")]})
    if len(reason) > 500:
        raise ValidationError({"reason": [_("退回原因不能超过 500 字")]})
    period = period_for(assessment.year, assessment.month)
    if (
        period is None
        or period.status == Period.CLOSED
        or assessment.status == SelfAssessment.LOCKED
    ):
        raise conflict(lock_explanation(period))
    if assessment.status != SelfAssessment.SUBMITTED:
        raise conflict(_("只有已提交的自评可以退回"))
    before = audit.snapshot(assessment, ("status", "submitted_at", "return_reason"))
    assessment.status = SelfAssessment.RETURNED
    assessment.return_reason = reason
    assessment.submitted_at = None
    assessment.updated_at = utcnow()
    _flush()
    audit.record(
        "self_assessment.return",
        assessment,
        before=before,
        after=audit.snapshot(assessment, ("status", "submitted_at", "return_reason")),
    )
    _recompute(assessment, "自评退回后重新计算")
    return assessment


def _recompute(assessment: SelfAssessment, description: str) -> None:
    from scoring.jobs import request_recompute

    request_recompute(
        [(assessment.school_id, assessment.year, assessment.month)],
        description=f"{description}（{assessment.year}年{assessment.month}月）",
    )
