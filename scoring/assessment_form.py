"""A self-assessment (自评) as its form: applicable indicators, entered items, evidence.

:func:`load_form` loads it in a fixed number of queries; :func:`self_score` scores it
through the engine; :func:`submission_problems` says what still blocks a submission.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from flask import abort
from flask_babel import gettext as _
from sqlalchemy import select

from district.extensions import db
from scoring import engine, evidence
from scoring.indicator_input import indicator_spec, is_ratio, ticks_in
from scoring.models import (
    Evidence,
    Period,
    RubricIndicator,
    RubricVersion,
    SelfAssessment,
    SelfAssessmentItem,
)
from scoring.periods import lock_explanation, period_for
from scoring.rubrics import applicable_indicators
from tenants.models import School
from tenants.scope import scoped_get

EVIDENCE_OWNER = "self_item"

__all__ = [
    "EVIDENCE_OWNER",
    "AssessmentForm",
    "IndicatorRow",
    "derived_measure",
    "edit_block_reason",
    "indicator_spec",
    "is_ratio",
    "load_form",
    "self_score",
    "store_score",
    "submission_problems",
    "ticked",
]


def derived_measure(school: School, measure: str | None, year: int, month: int) -> Decimal | None:
    """A measured indicator's value taken from the school's data, when the data exists.

    green_ratio: green area ÷ campus area; health_cert_share: canteen staff with a valid
    健康证 on the month's last day ÷ canteen staff, from the staff roster (None when the
    roster has no canteen staff, so the school enters it by hand). Dorm-standard and
    meat-dish shares are entered by hand; extend here, the form and the score pick it up.
    """
    if measure == "green_ratio":
        ratio = school.green_ratio
        return None if ratio is None else ratio.quantize(Decimal("0.0001"))
    if measure == "health_cert_share":
        from scoring.staff import health_cert_share_for_month

        share = health_cert_share_for_month(school.id, year, month)
        return None if share is None else share.quantize(Decimal("0.0001"))
    return None


def ticked(item: SelfAssessmentItem | None) -> list[int]:
    """Indices of the ticked checklist items stored in ``value`` as a bit mask."""
    return [] if item is None else ticks_in(item.value)


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


def self_score(form: AssessmentForm) -> engine.SourceScore | None:
    """The self score (Σ points ÷ Σ max × 100 over applicable indicators) via the engine."""
    specs = [indicator_spec(r.indicator) for r in form.rows]
    return engine.source_score(specs, {r.code: r.points for r in form.rows})


def store_score(form: AssessmentForm) -> None:
    result = self_score(form)
    form.assessment.score = None if result is None else engine.round2(result.score)


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
