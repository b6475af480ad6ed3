"""Survey results (民主评议结果): answers and means per group, satisfaction 0–100 per school.

The satisfaction source of a school-month is :func:`satisfaction_for` of the semester
the month belongs to (:func:`satisfaction_for_month`). Means are exact: the mean of
every single answer given, never an average of rounded means.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal_column, select

from district.extensions import db
from scoring.engine import ScoringRules, satisfaction_score, semester_of
from scoring.models import Survey, SurveyResponse, SurveyToken
from scoring.settings import scoring_rules
from scoring.survey_schemas import GROUPS
from tenants.models import School


def survey_for(school_year: int, term: str) -> Survey | None:
    """The current district's survey of a semester (at most one)."""
    return db.session.scalar(
        select(Survey).where(Survey.school_year == school_year, Survey.term == term)
    )


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


def _answer_sum() -> Any:
    """Σ of one response's answers, summed in the database (a JSON list of 1–5)."""
    if db.session.get_bind().dialect.name == "postgresql":
        elements = "SELECT CAST(a AS INTEGER) AS x FROM json_array_elements_text(answers) AS a"
    else:
        elements = "SELECT CAST(value AS INTEGER) AS x FROM json_each(answers)"
    return literal_column(f"(SELECT COALESCE(SUM(x), 0) FROM ({elements}) AS e)")


def _tally(survey_id: int, school_ids: Iterable[int] | None = None) -> dict[int, SchoolTally]:
    """Count answers per school and group. Exact: the mean of every single answer given
    (every response answers every question), never an average of rounded means. The
    database counts and sums; a recomputation of a district's year reads a few rows
    instead of every response."""
    stmt = (
        select(
            SurveyResponse.school_id,
            SurveyResponse.group,
            func.count(),
            func.sum(func.coalesce(func.json_array_length(SurveyResponse.answers), 0)),
            func.sum(_answer_sum()),
        )
        .where(SurveyResponse.survey_id == survey_id)
        .group_by(SurveyResponse.school_id, SurveyResponse.group)
    )
    if school_ids is not None:
        stmt = stmt.where(SurveyResponse.school_id.in_(sorted(set(school_ids))))
    out: dict[int, SchoolTally] = {}
    for school_id, group, responses, answers, total in db.session.execute(stmt):
        tally = out.setdefault(school_id, SchoolTally(school_id))
        tally.groups[group] = GroupTally(int(responses), int(answers or 0), int(total or 0))
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
    school_ids: Iterable[int], school_year: int, term: str, rules: ScoringRules | None = None
) -> dict[int, Decimal | None]:
    """:func:`satisfaction_for` of many schools in one query (for recomputing a period);
    ``rules``: the district's, when the caller has read them already."""
    ids = sorted(set(school_ids))
    survey = survey_for(school_year, term)
    tallies = _tally(survey.id, ids) if survey is not None else {}
    rules = rules if rules is not None else scoring_rules()
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
