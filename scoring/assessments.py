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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from district import audit
from district.extensions import db
from scoring import engine, evidence
from scoring.models import (
    Evidence,
    Period,
    RubricIndicator,
    RubricVersion,
    SelfAssessment,
    SelfAssessmentItem,
)
from scoring.periods import conflict, forbidden, local_today, lock_explanation, period_for
from scoring.rubric_data import PROGRAMMES, RATIO_MEASURES
from scoring.rubrics import (
    applicable_indicators,
    programme_applies,
    version_in_force,
    versions_in_force,
)
from tenants.models import Role, School, User, utcnow
from tenants.scope import scoped_get
from tenants.services import check_version

EVIDENCE_OWNER = "self_item"
STEP = Decimal("0.5")
ITEM_KEYS = ("code", "points", "value", "checked", "veto", "note")
_MISSING = object()

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


# --- values derived from data -----------------------------------------------------------


def derived_measure(school: School, measure: str | None, year: int, month: int) -> Decimal | None:
    """A measured indicator's value taken from the school's data, when the data exists.

    green_ratio: green area ÷ campus area. The others (health-certificate share from
    the staff roster, dorm-standard share, meat-dish share) are entered by hand until
    their data lands; extend here, the form and the score pick it up.
    """
    if measure == "green_ratio":
        ratio = school.green_ratio
        return None if ratio is None else ratio.quantize(Decimal("0.0001"))
    return None


def is_ratio(indicator: RubricIndicator) -> bool:
    return indicator.measure in RATIO_MEASURES


def ticked(item: SelfAssessmentItem | None) -> list[int]:
    """Indices of the ticked checklist items stored in ``value`` as a bit mask."""
    if item is None or item.value is None:
        return []
    mask = int(item.value)
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


def programme_name(code: str) -> str:
    return PROGRAMMES.get(code, code)


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


# --- loading ---------------------------------------------------------------------------------


@dataclass
class IndicatorRow:
    """One applicable indicator on the form, with what the school entered so far."""

    indicator: RubricIndicator
    item: SelfAssessmentItem | None
    files: list[Evidence]
    derived: Decimal | None

    @property
    def code(self) -> str:
        return self.indicator.code

    @property
    def kind(self) -> str:
        return self.indicator.kind

    @property
    def points(self) -> Decimal | None:
        return None if self.item is None else self.item.points

    @property
    def value(self) -> Decimal | None:
        return None if self.item is None else self.item.value

    @property
    def checked(self) -> list[int]:
        return ticked(self.item) if self.kind == "checklist" else []

    @property
    def ratio(self) -> bool:
        return is_ratio(self.indicator)

    @property
    def veto(self) -> bool | None:
        if self.kind != "veto" or self.points is None:
            return None
        return self.points > 0

    @property
    def answered(self) -> bool:
        return self.points is not None

    @property
    def needs_evidence(self) -> bool:
        if not self.indicator.evidence_required:
            return False
        # A veto needs proof only when it is triggered; "no incident" has nothing to show.
        return self.kind != "veto" or bool(self.veto)


@dataclass
class AssessmentForm:
    assessment: SelfAssessment
    school: School
    period: Period | None
    rubric_version: RubricVersion
    rows: list[IndicatorRow] = field(default_factory=list)

    @property
    def block_reason(self) -> str | None:
        return edit_block_reason(self.assessment, self.period)

    @property
    def editable(self) -> bool:
        return self.block_reason is None

    def row(self, code: str) -> IndicatorRow | None:
        return next((r for r in self.rows if r.code == code), None)

    @property
    def categories(self) -> list[tuple[str, list[IndicatorRow]]]:
        out: list[tuple[str, list[IndicatorRow]]] = []
        for row in self.rows:
            name = row.indicator.category_name
            if not out or out[-1][0] != name:
                out.append((name, []))
            out[-1][1].append(row)
        return out


def load_form(assessment: SelfAssessment) -> AssessmentForm:
    """The assessment with its applicable indicators, items and evidence (fixed queries)."""
    school = scoped_get(School, assessment.school_id)
    version = scoped_get(RubricVersion, assessment.rubric_version_id)
    if school is None or version is None:
        abort(404)
    indicators = applicable_indicators(version, school)
    items = {
        i.indicator_code: i
        for i in db.session.scalars(
            select(SelfAssessmentItem).where(SelfAssessmentItem.assessment_id == assessment.id)
        )
    }
    files = evidence.attached(EVIDENCE_OWNER, [i.id for i in items.values()])
    rows = [
        IndicatorRow(
            indicator=ind,
            item=items.get(ind.code),
            files=files.get(items[ind.code].id, []) if ind.code in items else [],
            derived=derived_measure(school, ind.measure, assessment.year, assessment.month)
            if ind.kind == "measured"
            else None,
        )
        for ind in indicators
    ]
    return AssessmentForm(
        assessment=assessment,
        school=school,
        period=period_for(assessment.year, assessment.month),
        rubric_version=version,
        rows=rows,
    )


def edit_block_reason(assessment: SelfAssessment, period: Period | None) -> str | None:
    """Why this assessment cannot be edited or submitted now (None: it can)."""
    if period is None:
        return lock_explanation(None)
    if period.status == Period.CLOSED or assessment.status == SelfAssessment.LOCKED:
        return lock_explanation(period) or _("自评已锁定，请联系区教育局后勤办管理员。")
    if assessment.status == SelfAssessment.SUBMITTED:
        return _("自评已提交，不能再修改；如需更正，请联系区教育局后勤办退回。")
    return None


def _ensure_editable(form: AssessmentForm) -> None:
    reason = form.block_reason
    if reason:
        raise conflict(reason)


# --- scoring ---------------------------------------------------------------------------------


def indicator_spec(indicator: RubricIndicator) -> engine.IndicatorSpec:
    curve = None
    if indicator.kind == "measured" and indicator.curve:
        curve = tuple((Decimal(str(x)), Decimal(str(p))) for x, p in indicator.curve)
    return engine.IndicatorSpec(
        code=indicator.code,
        max_points=Decimal(indicator.max_points),
        kind=indicator.kind,  # type: ignore[arg-type]
        dimension=indicator.dimension,  # type: ignore[arg-type]
        boarding_only=indicator.boarding_only,
        levels=frozenset(indicator.levels) if indicator.levels else None,
        curve=curve,
    )


def self_score(form: AssessmentForm) -> engine.SourceScore | None:
    """The self score (Σ points ÷ Σ max × 100 over applicable indicators) via the engine."""
    specs = [indicator_spec(r.indicator) for r in form.rows]
    return engine.source_score(specs, {r.code: r.points for r in form.rows})


def _store_score(form: AssessmentForm) -> None:
    result = self_score(form)
    form.assessment.score = None if result is None else engine.round2(result.score)


# --- validation of entered items -------------------------------------------------------------


def _number(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        value = Decimal(str(raw).strip().replace("％", "").replace("%", ""))
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _fmt(value: Decimal) -> str:
    return engine.round2(value).normalize().to_eng_string()


def _parse_item(indicator: RubricIndicator, raw: dict[str, Any]) -> tuple[dict[str, Any], list]:
    """(changes to apply, error messages) for one entered item."""
    kind, maximum = indicator.kind, Decimal(indicator.max_points)
    changes: dict[str, Any] = {}
    errors: list[str] = []
    points = raw.get("points", _MISSING)
    value = raw.get("value", _MISSING)
    checked = raw.get("checked", _MISSING)
    veto = raw.get("veto", _MISSING)

    if kind == "judged":
        if value is not _MISSING and value is not None or checked is not _MISSING:
            errors.append(_("评分类指标只填写分数（points）"))
        if points is not _MISSING:
            if points is None or points == "":
                changes.update(points=None, value=None)
            else:
                number = _number(points)
                if number is None:
                    errors.append(_("分数必须是数字"))
                elif not Decimal(0) <= number <= maximum:
                    errors.append(_("分数应在 0 到 %(max)s 之间", max=_fmt(maximum)))
                elif number % STEP != 0:
                    errors.append(_("分数须以 0.5 分为单位"))
                else:
                    changes.update(points=engine.round2(number), value=None)
    elif kind == "checklist":
        if points is not _MISSING or value is not _MISSING:
            errors.append(_("检查项类指标请勾选符合的条目（checked），分数自动累加"))
        if checked is not _MISSING:
            options = indicator.checklist or []
            if checked is None:
                changes.update(points=None, value=None)
            elif not isinstance(checked, list | tuple) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in checked
            ):
                errors.append(_("checked 应为条目序号（从 0 开始）的列表"))
            elif any(not 0 <= i < len(options) for i in checked):
                errors.append(_("勾选的条目序号超出范围（共 %(n)d 项）", n=len(options)))
            else:
                chosen = sorted(set(checked))
                total = sum((Decimal(str(options[i]["points"])) for i in chosen), Decimal(0))
                changes.update(
                    points=engine.round2(min(total, maximum)),
                    value=Decimal(sum(1 << i for i in chosen)),
                )
    elif kind == "measured":
        if points is not _MISSING or checked is not _MISSING:
            errors.append(_("测量类指标请填写测量值（value），分数按计分曲线自动计算"))
        if value is not _MISSING:
            if value is None or value == "":
                changes.update(points=None, value=None)
            else:
                number = _number(value)
                if number is None:
                    errors.append(_("测量值必须是数字"))
                elif number < 0:
                    errors.append(_("测量值不能为负数"))
                elif is_ratio(indicator) and number > 1:
                    errors.append(_("比例应在 0 到 1 之间（例如 0.43 表示 43%）"))
                elif number >= Decimal("1e8"):
                    errors.append(_("测量值过大"))
                else:
                    got = engine.measured_points(number, indicator.curve or [], maximum)
                    changes.update(
                        points=engine.round2(got), value=number.quantize(Decimal("0.0001"))
                    )
    elif kind == "veto":
        if points is not _MISSING or value is not _MISSING or checked is not _MISSING:
            errors.append(_("一票否决项只回答是否发生（veto: true / false）"))
        if veto is not _MISSING:
            if veto is None:
                changes.update(points=None, value=None)
            elif not isinstance(veto, bool):
                errors.append(_("veto 应为 true 或 false"))
            else:
                flag = Decimal(1) if veto else Decimal(0)
                changes.update(points=flag, value=flag)
    note = raw.get("note", _MISSING)
    if note is not _MISSING:
        if note is not None and not isinstance(note, str):
            errors.append(_("说明必须是文字"))
        elif note is not None and len(note) > 500:
            errors.append(_("说明不能超过 500 字"))
        else:
            changes["note"] = (note or "").strip() or None
    return changes, errors


def _parse_items(
    form: AssessmentForm, items: Iterable[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Validate entered items against the applicable indicators; 422 listing every problem."""
    errors: dict[str, list[str]] = {}
    parsed: dict[str, dict[str, Any]] = {}
    for raw in items:
        if not isinstance(raw, dict):
            errors.setdefault("_", []).append(_("每个条目应为对象"))
            continue
        code = str(raw.get("code") or "")
        unknown = [k for k in raw if k not in ITEM_KEYS]
        row = form.row(code)
        if row is None:
            errors.setdefault(code or "_", []).append(
                _("未知指标代码 %(code)s（或该指标不适用于本校）", code=code or "—")
            )
            continue
        changes, problems = _parse_item(row.indicator, raw)
        if unknown:
            problems.append(_("未知字段：%(f)s", f="、".join(unknown)))
        if problems:
            errors.setdefault(code, []).extend(problems)
        else:
            parsed[code] = changes
    if errors:
        raise ValidationError({"items": errors})
    return parsed


# --- changes ---------------------------------------------------------------------------------


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
                item.points = engine.round2(
                    engine.measured_points(value, indicator.curve or [], indicator.max_points)
                )
        db.session.add(item)
    db.session.flush()
    form = load_form(assessment)
    _store_score(form)
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
    parsed = _parse_items(form, items)
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
    _store_score(form)
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


def submission_problems(form: AssessmentForm) -> dict[str, list[str]]:
    """Per-indicator reasons a submission is refused (empty: it may be submitted)."""
    problems: dict[str, list[str]] = {}
    for row in form.rows:
        label = f"{row.code} {row.indicator.name}"
        if not row.answered:
            msg = (
                _("%(i)s：请回答是否发生", i=label)
                if row.kind == "veto"
                else _("%(i)s：尚未评分", i=label)
            )
            problems.setdefault(row.code, []).append(msg)
        if row.needs_evidence and not row.files:
            problems.setdefault(row.code, []).append(_("%(i)s：需要上传佐证材料", i=label))
    return problems


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
    _store_score(form)
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
    from sqlalchemy.orm import selectinload

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
    from district.exports import table_workbook

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
