"""Four-creations data: rubrics (versioned), periods, self-assessments, site visits,
findings, evidence, satisfaction surveys, complaints and stored results.

Months are stored as ``year`` + ``month`` integer columns; scores as Numeric(6, 2).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from district.extensions import db
from tenants.models import utcnow
from tenants.scope import DistrictOwned, SchoolOwned

Score = Numeric(6, 2)


class ProgrammeCode:
    CANTEEN = "canteen"
    STORE = "store"
    DORMITORY = "dormitory"
    GREENING = "greening"
    OVERALL = "overall"  # the four-creations mean, stored beside the programmes


class DistrictSettings(DistrictOwned, db.Model):
    """A district's configurable rules (weights, deadlines, award rules…) as JSON blobs."""

    __tablename__ = "district_settings"
    __table_args__ = (UniqueConstraint("district_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scoring: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    staff: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    awards: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deadline_day: Mapped[int] = mapped_column(Integer, default=5)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class Rubric(DistrictOwned, db.Model):
    """考核细则 of one programme in one district; its content lives in versions."""

    __tablename__ = "rubrics"
    __table_args__ = (UniqueConstraint("district_id", "programme"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    boarding_only: Mapped[bool] = mapped_column(Boolean, default=False)
    sort: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    versions: Mapped[list[RubricVersion]] = relationship(
        back_populates="rubric", order_by="RubricVersion.number"
    )


class RubricVersion(DistrictOwned, db.Model):
    """An immutable once-published version; a period is scored with the one in force."""

    __tablename__ = "rubric_versions"
    __table_args__ = (
        UniqueConstraint("rubric_id", "number"),
        Index("ix_rubric_versions_tenant", "district_id", "rubric_id"),
    )

    DRAFT = "draft"
    PUBLISHED = "published"

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric_id: Mapped[int] = mapped_column(ForeignKey("rubrics.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    # First month (YYYY*12 + month-1 ordering via the two columns) this version scores.
    effective_year: Mapped[int | None] = mapped_column(Integer)
    effective_month: Mapped[int | None] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}

    rubric: Mapped[Rubric] = relationship(back_populates="versions")
    indicators: Mapped[list[RubricIndicator]] = relationship(
        back_populates="rubric_version", order_by="RubricIndicator.sort"
    )

    @property
    def effective_key(self) -> int | None:
        if self.effective_year is None or self.effective_month is None:
            return None
        return self.effective_year * 12 + self.effective_month - 1


class RubricIndicator(DistrictOwned, db.Model):
    """二级指标 of a published version, flattened for scoring and SQL aggregation."""

    __tablename__ = "rubric_indicators"
    __table_args__ = (
        UniqueConstraint("rubric_version_id", "code"),
        Index("ix_rubric_indicators_tenant", "district_id", "rubric_version_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rubric_version_id: Mapped[int] = mapped_column(
        ForeignKey("rubric_versions.id", ondelete="CASCADE")
    )
    programme: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(32))
    category_code: Mapped[str] = mapped_column(String(32))
    category_name: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    max_points: Mapped[Decimal] = mapped_column(Score)
    kind: Mapped[str] = mapped_column(String(16))
    dimension: Mapped[str] = mapped_column(String(16))
    guidance: Mapped[str | None] = mapped_column(Text)
    evidence_required: Mapped[bool] = mapped_column(Boolean, default=False)
    boarding_only: Mapped[bool] = mapped_column(Boolean, default=False)
    levels: Mapped[list[str] | None] = mapped_column(JSON)
    checklist: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    curve: Mapped[list[list[float]] | None] = mapped_column(JSON)
    measure: Mapped[str | None] = mapped_column(String(32))
    sort: Mapped[int] = mapped_column(Integer, default=0)

    rubric_version: Mapped[RubricVersion] = relationship(back_populates="indicators")

    def applies_to(self, *, boarding: bool, level: str) -> bool:
        if self.boarding_only and not boarding:
            return False
        return not self.levels or level in self.levels


class Period(DistrictOwned, db.Model):
    """A scoring month of a district: open for self-assessment until closed (locked)."""

    __tablename__ = "periods"
    __table_args__ = (UniqueConstraint("district_id", "year", "month"),)

    OPEN = "open"
    CLOSED = "closed"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SelfAssessment(SchoolOwned, db.Model):
    """自评: a school's monthly self-assessment of one programme."""

    __tablename__ = "self_assessments"

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    LOCKED = "locked"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    programme: Mapped[str] = mapped_column(String(32))
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    return_reason: Mapped[str | None] = mapped_column(String(500))
    score: Mapped[Decimal | None] = mapped_column(Score)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}
    __extra_table_args__ = (UniqueConstraint("school_id", "year", "month", "programme"),)

    items: Mapped[list[SelfAssessmentItem]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan"
    )


class SelfAssessmentItem(SchoolOwned, db.Model):
    """One indicator's self-given points (and the measured value, if any)."""

    __tablename__ = "self_assessment_items"
    __extra_table_args__ = (UniqueConstraint("assessment_id", "indicator_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("self_assessments.id", ondelete="CASCADE")
    )
    indicator_code: Mapped[str] = mapped_column(String(32))
    points: Mapped[Decimal | None] = mapped_column(Score)
    value: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    note: Mapped[str | None] = mapped_column(String(500))

    assessment: Mapped[SelfAssessment] = relationship(back_populates="items")


class Evidence(SchoolOwned, db.Model):
    """An uploaded file (photo, scan) attached to a self-assessment item, visit or finding."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(32))  # self_item | visit | finding | response
    owner_id: Mapped[int] = mapped_column(Integer, index=True)
    filename: Mapped[str] = mapped_column(String(200))
    stored_name: Mapped[str] = mapped_column(String(100), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SiteVisit(SchoolOwned, db.Model):
    """督查: an inspector's visit to a school."""

    __tablename__ = "site_visits"
    __extra_table_args__ = (Index("ix_site_visits_month", "district_id", "year", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    visited_on: Mapped[date] = mapped_column(Date)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}

    scores: Mapped[list[VisitScore]] = relationship(
        back_populates="visit", cascade="all, delete-orphan"
    )
    findings: Mapped[list[Finding]] = relationship(
        back_populates="visit", cascade="all, delete-orphan"
    )


class VisitScore(SchoolOwned, db.Model):
    """An inspector's points for one indicator on one visit."""

    __tablename__ = "visit_scores"
    __extra_table_args__ = (UniqueConstraint("visit_id", "programme", "indicator_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("site_visits.id", ondelete="CASCADE"))
    programme: Mapped[str] = mapped_column(String(32))
    rubric_version_id: Mapped[int] = mapped_column(ForeignKey("rubric_versions.id"))
    indicator_code: Mapped[str] = mapped_column(String(32))
    points: Mapped[Decimal | None] = mapped_column(Score)
    value: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    reason: Mapped[str | None] = mapped_column(String(500))

    visit: Mapped[SiteVisit] = relationship(back_populates="scores")


class Finding(SchoolOwned, db.Model):
    """督查发现的问题 with a rectification (整改) deadline."""

    __tablename__ = "findings"

    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("site_visits.id", ondelete="CASCADE"))
    programme: Mapped[str | None] = mapped_column(String(32))
    indicator_code: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    response: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None] = mapped_column(DateTime)
    responded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}

    visit: Mapped[SiteVisit] = relationship(back_populates="findings")


class Survey(DistrictOwned, db.Model):
    """民主评议: a district's satisfaction survey for one semester."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("district_id", "school_year", "term"),)

    OPEN = "open"
    CLOSED = "closed"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    school_year: Mapped[int] = mapped_column(Integer)  # the September it starts in
    term: Mapped[str] = mapped_column(String(8))  # autumn | spring
    questions: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SurveyToken(SchoolOwned, db.Model):
    """One anonymous answer's right: a tokenised link for a parent, student or teacher."""

    __tablename__ = "survey_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    group: Mapped[str] = mapped_column(String(16))  # parent | student | teacher
    token: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class SurveyResponse(SchoolOwned, db.Model):
    """An anonymous answer: deliberately not linked to its token."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    group: Mapped[str] = mapped_column(String(16))
    answers: Mapped[list[int]] = mapped_column(JSON)
    mean: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    comment: Mapped[str | None] = mapped_column(Text)
    # Day only: a timestamp could re-identify a respondent against token use times.
    answered_on: Mapped[date] = mapped_column(Date)


class Complaint(SchoolOwned, db.Model):
    """投诉 filed through the school's public link; investigated by the district."""

    __tablename__ = "complaints"

    NEW = "new"
    VERIFIED = "verified"
    UNFOUNDED = "unfounded"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme: Mapped[str | None] = mapped_column(String(32))
    content: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(100))
    filed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=NEW)
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class SchoolMonthResult(SchoolOwned, db.Model):
    """Stored result of one programme (or ``overall``) for one school-month."""

    __tablename__ = "school_month_results"
    # The key leads with the tenant (district_id, school_id), so it serves the tenant's
    # lookups too and there is no separate tenant index: a recomputation writes ~13,000
    # rows into every index of this table.
    __tenant_index__ = False
    __extra_table_args__ = (
        UniqueConstraint(
            "district_id",
            "school_id",
            "year",
            "month",
            "programme",
            name="uq_school_month_results_school_month_programme",
        ),
        Index("ix_school_month_results_rank", "district_id", "year", "month", "programme"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A stored result is derived data, rewritten by every recomputation (~13,000 rows for a
    # district's year, each checked once per foreign key): its only foreign key is the
    # tenant's, (district_id, school_id) → schools, which also implies the district.
    # rubric_version_id and visit_id say where the numbers came from: published versions
    # are never deleted, and deleting a visit clears the results that name it
    # (scoring.visits.delete_visit) before they are recomputed.
    district_id: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    programme: Mapped[str] = mapped_column(String(32))
    score: Mapped[Decimal] = mapped_column(Score)
    stars: Mapped[int] = mapped_column(Integer)
    self_score: Mapped[Decimal | None] = mapped_column(Score)
    inspector_score: Mapped[Decimal | None] = mapped_column(Score)
    satisfaction: Mapped[Decimal | None] = mapped_column(Score)
    complaint_deduction: Mapped[Decimal] = mapped_column(Score, default=Decimal("0"))
    verified_complaints: Mapped[int] = mapped_column(Integer, default=0)
    veto: Mapped[bool] = mapped_column(Boolean, default=False)
    unverified: Mapped[bool] = mapped_column(Boolean, default=False)
    stand_in: Mapped[bool] = mapped_column(Boolean, default=False)
    inflation_gap: Mapped[Decimal | None] = mapped_column(Score)
    inflated: Mapped[bool] = mapped_column(Boolean, default=False)
    dimensions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rubric_version_id: Mapped[int | None] = mapped_column(Integer)
    visit_id: Mapped[int | None] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
