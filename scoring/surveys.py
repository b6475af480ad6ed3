"""Satisfaction surveys (民主评议): semesters, tokenised links, anonymous answers.

A district opens one survey per semester; each school hands out one-use links per
respondent group (家长 parents, 学生 students, 教师 teachers). An answer is stored
without any link to the token that allowed it, with its day only, and the token is
spent in the same transaction. The satisfaction source of a school-month is
:func:`satisfaction_for` of the semester the month belongs to.

Groups, terms, questions and the schemas live in :mod:`scoring.survey_schemas`, results
and satisfaction in :mod:`scoring.survey_results`; their public names stay importable
from here. Services flush, never commit; the request commits once.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from marshmallow import ValidationError
from sqlalchemy import select, update

from district import audit
from district.extensions import db
from scoring.engine import Month, Semester, semester_of
from scoring.models import Survey, SurveyResponse, SurveyToken
from scoring.settings import scoring_rules
from scoring.survey_results import (
    GroupTally,
    SchoolResult,
    SchoolTally,
    group_means,
    recent_comments,
    results,
    results_payload,
    satisfaction_for,
    satisfaction_for_month,
    satisfaction_for_schools,
    survey_for,
    token_counts,
)
from scoring.survey_schemas import (
    DEFAULT_QUESTIONS,
    GROUP_LABELS,
    GROUPS,
    MAX_TOKENS_PER_REQUEST,
    SCALE_LABELS,
    TERM_LABELS,
    TERMS,
    SurveyAnswerSchema,
    SurveyGroupResultSchema,
    SurveyResultsSchema,
    SurveySchema,
    SurveySchoolResultSchema,
    SurveyTokenRequestSchema,
    SurveyTokenSchema,
    semester_label,
)
from tenants.models import School, utcnow
from tenants.scope import require_scope

__all__ = [
    "DEFAULT_QUESTIONS",
    "GROUPS",
    "GROUP_LABELS",
    "MAX_TOKENS_PER_REQUEST",
    "RECOMPUTE_DEBOUNCE",
    "RECOMPUTE_FUNC",
    "SCALE_LABELS",
    "TERMS",
    "TERM_LABELS",
    "GroupTally",
    "SchoolResult",
    "SchoolTally",
    "SurveyAnswerSchema",
    "SurveyGroupResultSchema",
    "SurveyResultsSchema",
    "SurveySchema",
    "SurveySchoolResultSchema",
    "SurveyTokenRequestSchema",
    "SurveyTokenSchema",
    "TokenGone",
    "check_answerable",
    "close_survey",
    "create_survey",
    "current_semester",
    "group_means",
    "issue_tokens",
    "list_surveys",
    "local_now",
    "local_today",
    "recent_comments",
    "request_semester_recompute",
    "results",
    "results_payload",
    "satisfaction_for",
    "satisfaction_for_month",
    "satisfaction_for_schools",
    "semester_label",
    "semester_months_until",
    "submit_answer",
    "survey_for",
    "token_counts",
    "tokens_of",
]

# A recompute job still waiting in the queue already covers a new answer; one older
# than this may be stuck (lost on a crash), so a fresh one is enqueued instead.
RECOMPUTE_DEBOUNCE = timedelta(minutes=10)
RECOMPUTE_FUNC = "scoring.jobs:recompute_school_months"


# --- time -------------------------------------------------------------------------


def local_now() -> datetime:
    """Now in the district's time zone (a complaint filed at 00:30 Beijing time on the
    1st belongs to the new month, although it is still the previous day in UTC)."""
    name = "Asia/Shanghai"
    if has_app_context():
        name = current_app.config.get("BABEL_DEFAULT_TIMEZONE") or name
    return datetime.now(ZoneInfo(name))


def local_today() -> date:
    return local_now().date()


def current_semester(today: date | None = None) -> Semester:
    """The semester of today, or the coming autumn one in the summer break."""
    today = today or local_today()
    return semester_of(today.year, today.month) or Semester(today.year, "autumn")


# --- surveys --------------------------------------------------------------------------


def list_surveys() -> list[Survey]:
    return list(
        db.session.scalars(
            select(Survey).order_by(Survey.school_year.desc(), Survey.term.desc(), Survey.id)
        )
    )


def create_survey(data: dict[str, Any]) -> Survey:
    if survey_for(data["school_year"], data["term"]) is not None:
        raise ValidationError({"term": ["该学期已开展民主评议"]})
    survey = Survey(
        title=data["title"].strip(),
        school_year=data["school_year"],
        term=data["term"],
        questions=[q.strip() for q in data.get("questions") or DEFAULT_QUESTIONS],
        status=Survey.OPEN,
    )
    db.session.add(survey)
    db.session.flush()
    audit.record(
        "survey.create",
        survey,
        after=audit.snapshot(survey, ("title", "school_year", "term", "questions")),
    )
    return survey


def close_survey(survey: Survey) -> Survey:
    if survey.status == Survey.CLOSED:
        return survey
    survey.status = Survey.CLOSED
    db.session.flush()
    audit.record("survey.close", survey, before={"status": Survey.OPEN}, after={"status": "closed"})
    return survey


# --- tokens -------------------------------------------------------------------------


def issue_tokens(survey: Survey, school: School, group: str, count: int) -> list[SurveyToken]:
    """Create ``count`` one-use links of ``group`` for ``school`` (which the caller may see)."""
    if survey.status != Survey.OPEN:
        raise ValidationError({"_schema": ["本次评议已结束，不能再生成链接"]})
    if group not in GROUPS:
        raise ValidationError({"group": ["对象不正确"]})
    tokens = [
        SurveyToken(
            survey_id=survey.id,
            school_id=school.id,
            group=group,
            token=secrets.token_urlsafe(18),
        )
        for _ in range(count)
    ]
    db.session.add_all(tokens)
    db.session.flush()
    audit.record(
        "survey.tokens",
        survey,
        after={"school_id": school.id, "group": group, "count": count},
        school_id=school.id,
    )
    return tokens


def tokens_of(survey: Survey, school_id: int, group: str | None = None) -> list[SurveyToken]:
    stmt = select(SurveyToken).where(
        SurveyToken.survey_id == survey.id, SurveyToken.school_id == school_id
    )
    if group:
        stmt = stmt.where(SurveyToken.group == group)
    return list(db.session.scalars(stmt.order_by(SurveyToken.group, SurveyToken.id)))


# --- answers --------------------------------------------------------------------------


class TokenGone(Exception):
    """The link was used already, or its survey is closed (HTTP 410)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_answerable(token: SurveyToken, survey: Survey) -> None:
    if survey.status != Survey.OPEN:
        raise TokenGone("closed")
    if token.used_at is not None:
        raise TokenGone("used")


def submit_answer(token: SurveyToken, survey: Survey, data: dict[str, Any]) -> SurveyResponse:
    """Store one anonymous answer and spend the token, atomically."""
    check_answerable(token, survey)
    answers = [int(a) for a in data["answers"]]
    if len(answers) != len(survey.questions):
        raise ValidationError({"answers": ["请回答全部问题"]})
    today = local_today()
    # Spend the token with a conditional UPDATE: of two simultaneous submissions exactly
    # one matches. Day only, like the answer, so use times cannot be matched to answers.
    spent = db.session.execute(
        update(SurveyToken)
        .where(SurveyToken.id == token.id, SurveyToken.used_at.is_(None))
        .values(used_at=datetime(today.year, today.month, today.day))
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise TokenGone("used")
    comment = (data.get("comment") or "").strip() or None
    mean = (Decimal(sum(answers)) / Decimal(len(answers))).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_UP
    )
    response = SurveyResponse(
        survey_id=survey.id,
        school_id=token.school_id,
        group=token.group,
        answers=answers,
        mean=mean,
        comment=comment,
        answered_on=today,
    )
    db.session.add(response)
    db.session.flush()
    request_semester_recompute(token.school_id, survey, today=today)
    return response


# --- recompute ------------------------------------------------------------------------


def semester_months_until(survey: Survey, today: date) -> list[Month]:
    """The months of the survey's semester up to (and including) today's month."""
    now = Month(today.year, today.month)
    months = Semester(survey.school_year, survey.term).months(scoring_rules())  # type: ignore[arg-type]
    return [m for m in months if m <= now]


def request_semester_recompute(school_id: int, survey: Survey, *, today: date) -> Any:
    """Recompute the school's months of the semester so far, unless a job that covers
    them is still waiting in the queue (debounce: one job for a burst of answers)."""
    from district.jobs import JobRecord, JobStatus, enqueue
    from scoring.jobs import recompute_school_months

    items = [[school_id, m.year, m.month] for m in semester_months_until(survey, today)]
    if not items:
        return None
    wanted = {tuple(i) for i in items}
    # FOR UPDATE: a worker cannot mark the job running (and start reading) before this
    # answer is committed, so a job we rely on is sure to see it.
    pending = db.session.scalars(
        select(JobRecord)
        .where(
            JobRecord.func == RECOMPUTE_FUNC,
            JobRecord.school_id == school_id,
            JobRecord.status == JobStatus.QUEUED,
            JobRecord.created_at >= utcnow() - RECOMPUTE_DEBOUNCE,
        )
        .order_by(JobRecord.id.desc())
        .limit(5)
        .with_for_update()
    ).all()
    for job in pending:
        args = job.args or []
        covered = {tuple(i) for i in (args[1] if len(args) > 1 else [])}
        if wanted <= covered:
            return job
    district_id = require_scope().district_id
    return enqueue(
        recompute_school_months,
        district_id,
        items,
        description=f"民主评议答卷后重新计算 {len(items)} 个学校月度成绩",
        district_id=district_id,
        school_id=school_id,
        queue="scoring",
    )
