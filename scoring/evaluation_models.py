"""Staff performance evaluation data (后勤人员工作业绩评价): plans, rounds, ratings, results.

- :class:`EvaluationPlan` (业绩评价方案) and :class:`EvaluationRound` belong to the district;
- :class:`SchoolEvaluation`, :class:`StaffRating`, :class:`RaterToken`,
  :class:`EvaluationResult` and :class:`RaterLink` belong to one school.

The arithmetic lives in the pure engine :mod:`scoring.staff_engine`; these rows are its
inputs (ratings, veto flags) and its stored outputs (results). Scores as Numeric(6, 2).
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

# Rater groups the workflow knows how to collect (a plan may weight them, or drop one).
SELF, LEADERSHIP, COLLEAGUES, SERVED = "self", "leadership", "colleagues", "served"
RATER_GROUP_CODES = (SELF, LEADERSHIP, COLLEAGUES, SERVED)


class EvaluationPlan(DistrictOwned, db.Model):
    """业绩评价方案 of a district for one year: dimensions, raters, bands, quota, vetoes.

    ``config`` holds the fields of :class:`scoring.staff_engine.EvaluationPlan` as JSON
    (decimals as strings, dimensions with their criteria text). At most one plan per
    district and year is active; a plan used by a round is no longer edited.
    """

    __tablename__ = "evaluation_plans"
    __table_args__ = (
        UniqueConstraint("district_id", "year", "name"),
        Index("ix_evaluation_plans_tenant", "district_id", "year"),
    )

    DRAFT = "draft"
    ACTIVE = "active"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class EvaluationRound(DistrictOwned, db.Model):
    """评价轮次: the district opens it for a plan; schools collect ratings until closed."""

    __tablename__ = "evaluation_rounds"
    __table_args__ = (Index("ix_evaluation_rounds_tenant", "district_id", "plan_id"),)

    OPEN = "open"
    CLOSED = "closed"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("evaluation_plans.id"))
    name: Mapped[str] = mapped_column(String(100))
    opens_on: Mapped[date] = mapped_column(Date)
    closes_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}

    plan: Mapped[EvaluationPlan] = relationship()


class SchoolEvaluation(SchoolOwned, db.Model):
    """One school's part of a round: collecting → submitted → (returned →) accepted."""

    __tablename__ = "school_evaluations"
    __extra_table_args__ = (UniqueConstraint("round_id", "school_id"),)

    COLLECTING = "collecting"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    EDITABLE = (COLLECTING, RETURNED)
    FINAL = (SUBMITTED, ACCEPTED)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey("evaluation_rounds.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=COLLECTING)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    return_reason: Mapped[str | None] = mapped_column(String(500))
    returned_at: Mapped[datetime | None] = mapped_column(DateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    __mapper_args__ = {"version_id_col": version}


class StaffRating(SchoolOwned, db.Model):
    """One rater's ballot for one staff member in one round (points per dimension).

    Who rated: ``rater_user_id`` is the account that rated as itself (the school head
    for 学校领导, a school user for 同事); ``rater_staff_id`` is the roster member who
    rated (the person themself for 本人, a colleague's paper ballot, or the roster entry
    linked to the rating account). Served teachers/students (服务对象) rate through a
    token and leave both empty: anonymous. ``entered_by`` is the account that typed it in.
    The two unique constraints make one identifiable rater rate one person once a round
    (NULLs never collide, so anonymous ballots are limited by their tokens instead).
    """

    __tablename__ = "staff_ratings"
    __extra_table_args__ = (
        UniqueConstraint("round_id", "staff_id", "group", "rater_user_id"),
        UniqueConstraint("round_id", "staff_id", "rater_staff_id"),
        Index("ix_staff_ratings_round", "district_id", "round_id", "school_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("evaluation_rounds.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    group: Mapped[str] = mapped_column(String(16))
    rater_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rater_staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_members.id", ondelete="SET NULL")
    )
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    total: Mapped[Decimal] = mapped_column(Score)
    # Anonymous ballots keep the day only: a timestamp could be matched to a token's use.
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)


class RaterToken(SchoolOwned, db.Model):
    """A tokenised anonymous link (/e/<token>) for one served teacher or student.

    One answer per token; the answer is a :class:`StaffRating` deliberately not linked
    back to its token.
    """

    __tablename__ = "rater_tokens"
    __extra_table_args__ = (Index("ix_rater_tokens_round", "district_id", "round_id", "school_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("evaluation_rounds.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    group: Mapped[str] = mapped_column(String(16), default=SERVED)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)


class EvaluationResult(SchoolOwned, db.Model):
    """A staff member's stored result in a round (what the school head submitted).

    The row also carries the veto responsibility (一票否决责任) recorded by the school or
    the district, so it exists before any score does (``score`` None).
    """

    __tablename__ = "evaluation_results"
    __extra_table_args__ = (
        UniqueConstraint("round_id", "staff_id"),
        Index("ix_evaluation_results_round", "district_id", "round_id", "school_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("evaluation_rounds.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    score: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    rounded: Mapped[Decimal | None] = mapped_column(Score)
    provisional_grade: Mapped[str | None] = mapped_column(String(16))
    grade: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    group_means: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    rank: Mapped[int | None] = mapped_column(Integer)
    percentile: Mapped[Decimal | None] = mapped_column(Score)
    z_score: Mapped[Decimal | None] = mapped_column(Score)
    groups_missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    veto_responsible: Mapped[bool] = mapped_column(Boolean, default=False)
    veto_note: Mapped[str | None] = mapped_column(Text)
    veto_recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    computed_at: Mapped[datetime | None] = mapped_column(DateTime)


class RaterLink(SchoolOwned, db.Model):
    """Links a school account to its own roster entry, so the system knows who a
    logged-in rater is: they may then enter their own 本人 rating, and can never rate
    themselves as a colleague (or as school leadership)."""

    __tablename__ = "evaluation_rater_links"
    __extra_table_args__ = (UniqueConstraint("user_id"), UniqueConstraint("staff_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
