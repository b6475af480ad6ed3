"""Satisfaction surveys (民主评议): semesters, tokenised links, anonymous answers, results.

A district opens one survey per semester; each school hands out one-use links per
respondent group (家长 parents, 学生 students, 教师 teachers). An answer is stored
without any link to the token that allowed it, with its day only, and the token is
spent in the same transaction. The satisfaction source of a school-month is
:func:`satisfaction_for` of the semester the month belongs to.

Services flush, never commit; the request commits once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import func, select, update

from district import audit
from district.extensions import db
from scoring.engine import Month, Semester, satisfaction_score, semester_of
from scoring.models import Survey, SurveyResponse, SurveyToken
from scoring.settings import scoring_rules
from tenants.models import School, utcnow
from tenants.scope import require_scope

GROUPS: tuple[str, ...] = ("parent", "student", "teacher")
GROUP_LABELS = {"parent": "家长", "student": "学生", "teacher": "教师"}
TERMS: tuple[str, ...] = ("autumn", "spring")
TERM_LABELS = {"autumn": "秋季学期", "spring": "春季学期"}
SCALE_LABELS = {1: "很不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "很满意"}

DEFAULT_QUESTIONS: tuple[str, ...] = (
    "您对学校食堂饭菜的质量、营养和卫生满意吗？",
    "您对食堂的价格公示、服务态度和就餐秩序满意吗？",
    "您对校园超市商品的质量、价格和明码标价满意吗？",
    "您对学生宿舍（或午休场所）的条件、卫生和管理满意吗？",
    "您对校园绿化美化和环境卫生满意吗？",
    "您对学校后勤服务的总体情况满意吗？",
)
MAX_TOKENS_PER_REQUEST = 1000
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


def semester_label(school_year: int, term: str) -> str:
    return f"{school_year}-{school_year + 1}学年{TERM_LABELS.get(term, term)}"


# --- schemas (pages and API share them) --------------------------------------------


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class SurveySchema(_Strict):
    id = fields.Int(dump_only=True)
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    school_year = fields.Int(required=True, validate=validate.Range(min=2000, max=2100))
    term = fields.Str(required=True, validate=validate.OneOf(TERMS))
    questions = fields.List(
        fields.Str(validate=validate.Length(min=2, max=200)),
        load_default=lambda: list(DEFAULT_QUESTIONS),
        validate=validate.Length(min=1, max=30, error="问题数量应为 1–30 个"),
    )
    status = fields.Str(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    semester = fields.Method("_semester", dump_only=True)

    def _semester(self, survey: Any) -> str:
        return semester_label(survey.school_year, survey.term)

    @validates_schema
    def _distinct(self, data: dict, **_kw: Any) -> None:
        questions = [q.strip() for q in data.get("questions") or []]
        if len(set(questions)) != len(questions):
            raise ValidationError("问题不能重复", "questions")


class SurveyTokenRequestSchema(_Strict):
    school_id = fields.Int(required=True)
    group = fields.Str(required=True, validate=validate.OneOf(GROUPS))
    count = fields.Int(
        required=True,
        validate=validate.Range(
            min=1, max=MAX_TOKENS_PER_REQUEST, error=f"数量应为 1–{MAX_TOKENS_PER_REQUEST}"
        ),
    )


class SurveyTokenSchema(Schema):
    group = fields.Str()
    token = fields.Str()
    url = fields.Str()
    used = fields.Bool()


class SurveyAnswerSchema(_Strict):
    answers = fields.List(
        fields.Int(
            strict=False, validate=validate.Range(min=1, max=5, error="请选择 1–5 之间的分值")
        ),
        required=True,
    )
    comment = fields.Str(allow_none=True, validate=validate.Length(max=500))


class SurveyGroupResultSchema(Schema):
    responses = fields.Int()
    mean = fields.Decimal(as_string=True, places=2, allow_none=True)
    score = fields.Decimal(as_string=True, places=2, allow_none=True)


class SurveySchoolResultSchema(Schema):
    school_id = fields.Int()
    school_name = fields.Str()
    groups = fields.Dict(keys=fields.Str(), values=fields.Nested(SurveyGroupResultSchema))
    responses = fields.Int()
    satisfaction = fields.Decimal(as_string=True, places=2, allow_none=True)


class SurveyResultsSchema(Schema):
    survey_id = fields.Int()
    school_year = fields.Int()
    term = fields.Str()
    status = fields.Str()
    schools = fields.List(fields.Nested(SurveySchoolResultSchema))


# --- surveys --------------------------------------------------------------------------


def list_surveys() -> list[Survey]:
    return list(
        db.session.scalars(
            select(Survey).order_by(Survey.school_year.desc(), Survey.term.desc(), Survey.id)
        )
    )


def survey_for(school_year: int, term: str) -> Survey | None:
    """The current district's survey of a semester (at most one)."""
    return db.session.scalar(
        select(Survey).where(Survey.school_year == school_year, Survey.term == term)
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


def token_counts(survey: Survey) -> dict[tuple[int, str], tuple[int, int]]:
    """(school_id, group) -> (issued, used) for the schools the caller may see."""
    rows = db.session.execute(
        select(
            SurveyToken.school_id,
            SurveyToken.group,
            func.count(SurveyToken.id),
            func.count(SurveyToken.used_at),
        )
        .where(SurveyToken.survey_id == survey.id)
        .group_by(SurveyToken.school_id, SurveyToken.group)
    ).all()
    return {(s, g): (int(n), int(u)) for s, g, n, u in rows}


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


# --- satisfaction -----------------------------------------------------------------------


@dataclass
class GroupTally:
    responses: int = 0
    answers: int = 0
    total: int = 0

    @property
    def mean(self) -> Decimal | None:
        """Mean answer on the 1–5 scale, in full precision."""
        if not self.answers:
            return None
        return Decimal(self.total) / Decimal(self.answers)


@dataclass
class SchoolTally:
    school_id: int
    groups: dict[str, GroupTally] = field(default_factory=dict)

    @property
    def responses(self) -> int:
        return sum(g.responses for g in self.groups.values())

    def means(self) -> dict[str, Decimal]:
        return {g: t.mean for g, t in self.groups.items() if t.mean is not None}


def _tally(survey_id: int, school_ids: Iterable[int] | None = None) -> dict[int, SchoolTally]:
    """Count answers per school and group. Exact: the mean of every single answer given
    (every response answers every question), never an average of rounded means."""
    stmt = select(SurveyResponse.school_id, SurveyResponse.group, SurveyResponse.answers).where(
        SurveyResponse.survey_id == survey_id
    )
    if school_ids is not None:
        stmt = stmt.where(SurveyResponse.school_id.in_(sorted(set(school_ids))))
    out: dict[int, SchoolTally] = {}
    for school_id, group, answers in db.session.execute(stmt):
        tally = out.setdefault(school_id, SchoolTally(school_id))
        g = tally.groups.setdefault(group, GroupTally())
        values = [int(a) for a in answers or []]
        g.responses += 1
        g.answers += len(values)
        g.total += sum(values)
    return out


def group_means(school_id: int, school_year: int, term: str) -> dict[str, Decimal]:
    """Each respondent group's mean answer (1–5) of a school in a semester; groups with
    no answer are absent."""
    survey = survey_for(school_year, term)
    if survey is None:
        return {}
    tally = _tally(survey.id, [school_id]).get(school_id)
    return tally.means() if tally is not None else {}


def satisfaction_for(school_id: int, school_year: int, term: str) -> Decimal | None:
    """Satisfaction (民主评议) 0–100 of a school for a semester, full precision; None when
    nobody answered. Each group's mean → (mean − 1) ÷ 4 × 100, groups averaged equally."""
    means = group_means(school_id, school_year, term)
    return satisfaction_score(means, scoring_rules()) if means else None


def satisfaction_for_schools(
    school_ids: Iterable[int], school_year: int, term: str
) -> dict[int, Decimal | None]:
    """:func:`satisfaction_for` of many schools in one query (for recomputing a period)."""
    ids = sorted(set(school_ids))
    survey = survey_for(school_year, term)
    tallies = _tally(survey.id, ids) if survey is not None else {}
    rules = scoring_rules()
    out: dict[int, Decimal | None] = {}
    for sid in ids:
        means = tallies[sid].means() if sid in tallies else {}
        out[sid] = satisfaction_score(means, rules) if means else None
    return out


def satisfaction_for_month(school_id: int, year: int, month: int) -> Decimal | None:
    """Satisfaction that applies to a school-month (None in the summer break)."""
    rules = scoring_rules()
    semester = semester_of(year, month, rules)
    if semester is None:
        return None
    return satisfaction_for(school_id, semester.school_year, semester.term)


@dataclass
class SchoolResult:
    school: School
    tally: SchoolTally
    satisfaction: Decimal | None
    tokens: dict[str, tuple[int, int]]

    def group(self, group: str) -> GroupTally:
        return self.tally.groups.get(group) or GroupTally()

    def group_score(self, group: str) -> Decimal | None:
        mean = self.group(group).mean
        return None if mean is None else satisfaction_score({group: mean}, scoring_rules())


def results(survey: Survey) -> list[SchoolResult]:
    """Per school the caller may see: answers and mean per group, satisfaction, links.

    Three queries whatever the number of schools."""
    schools = list(db.session.scalars(select(School).order_by(School.code, School.name)))
    tallies = _tally(survey.id)
    counts = token_counts(survey)
    rules = scoring_rules()
    out = []
    for school in schools:
        tally = tallies.get(school.id) or SchoolTally(school.id)
        means = tally.means()
        out.append(
            SchoolResult(
                school=school,
                tally=tally,
                satisfaction=satisfaction_score(means, rules) if means else None,
                tokens={g: counts.get((school.id, g), (0, 0)) for g in GROUPS},
            )
        )
    return out


def results_payload(survey: Survey) -> dict[str, Any]:
    rows = []
    for r in results(survey):
        rows.append(
            {
                "school_id": r.school.id,
                "school_name": r.school.name,
                "responses": r.tally.responses,
                "satisfaction": r.satisfaction,
                "groups": {
                    g: {
                        "responses": r.group(g).responses,
                        "mean": r.group(g).mean,
                        "score": r.group_score(g),
                    }
                    for g in GROUPS
                },
            }
        )
    return {
        "survey_id": survey.id,
        "school_year": survey.school_year,
        "term": survey.term,
        "status": survey.status,
        "schools": rows,
    }


def recent_comments(survey: Survey, school_id: int, limit: int = 100) -> list[SurveyResponse]:
    return list(
        db.session.scalars(
            select(SurveyResponse)
            .where(
                SurveyResponse.survey_id == survey.id,
                SurveyResponse.school_id == school_id,
                SurveyResponse.comment.is_not(None),
            )
            .order_by(SurveyResponse.answered_on.desc(), SurveyResponse.id.desc())
            .limit(limit)
        )
    )


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
