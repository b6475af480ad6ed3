"""The vocabulary of satisfaction surveys (民主评议) and the schemas that validate them.

Respondent groups (家长 parents, 学生 students, 教师 teachers), semesters, the answer
scale and the default questions; the schemas are shared by the pages and the API.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from tenants.schemas import StrictSchema

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


def semester_label(school_year: int, term: str) -> str:
    return f"{school_year}-{school_year + 1}学年{TERM_LABELS.get(term, term)}"


class SurveySchema(StrictSchema):
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


class SurveyTokenRequestSchema(StrictSchema):
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


class SurveyAnswerSchema(StrictSchema):
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
