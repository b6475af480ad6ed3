"""Staff performance evaluation services (后勤人员工作业绩评价): plans, rounds, ratings,
anonymous rating links, school submission with the 优秀 quota, vetoes, district comparison.

Services flush, never commit (the request commits once). The arithmetic is the pure
engine's (:mod:`scoring.staff_engine`); this module feeds it rows and stores its answers.

Who rates (rater groups of the plan):

- **本人 self** — entered by the school (head or logistics staff account) on the staff
  member's behalf, or by the staff member's own account when it is linked to their
  roster entry (:class:`RaterLink`). Either way the rater is the person themself.
- **学校领导 leadership** — the logged-in school head, one ballot per staff member.
- **同事 colleagues** — a school account rating personally (it must be linked to its
  roster entry, so the system knows who the rater is), or a paper ballot typed in by
  the school, naming the colleague who filled it in (``rater_staff_id``).
- **服务对象 served** — teachers/students through tokenised anonymous links (/e/<token>),
  one answer per token, never linked back to the token.

Nobody rates themselves outside the self group: refused wherever the rater is known
(linked accounts and paper ballots). A rater who rates the same person again before the
school submits replaces their earlier ballot (audited with before/after).
"""

from __future__ import annotations

import secrets
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import abort
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from district import audit
from district.extensions import db
from scoring import staff_engine as engine
from scoring.evaluation_models import (
    COLLEAGUES,
    LEADERSHIP,
    RATER_GROUP_CODES,
    SELF,
    SERVED,
    EvaluationPlan,
    EvaluationResult,
    EvaluationRound,
    RaterLink,
    RaterToken,
    SchoolEvaluation,
    StaffRating,
)
from scoring.staff_models import HEALTH_CERTIFICATE, StaffMember
from tenants.models import Role, School, User, utcnow
from tenants.scope import Scope, scoped_get, unscoped, use_scope
from tenants.services import check_version

MAX_TOKENS_PER_REQUEST = 200
_NOBODY = object()  # audit actor of anonymous ballots: no id, no name

# --------------------------------------------------------------------------- defaults

DEFAULT_CRITERIA = {
    "ethics": "遵纪守法，爱岗敬业，服从工作安排，团结协作，服务态度热情周到",
    "ability": "熟悉本岗位业务知识和操作规程，持证上岗，能独立处理岗位上的问题",
    "diligence": "出勤率高，工作主动积极，不怕脏累，按时保质完成各项任务",
    "results": "岗位职责落实到位，工作质量和效率高，无安全责任事故，师生满意",
    "integrity": "廉洁自律，不谋私利，爱护公物，勤俭节约，不收受服务对象财物",
}
GROUP_LABELS = {g.code: g.label for g in engine.DEFAULT_RATER_GROUPS}
STATUS_LABELS = {
    SchoolEvaluation.COLLECTING: "评分中",
    SchoolEvaluation.SUBMITTED: "已提交",
    SchoolEvaluation.RETURNED: "已退回",
    SchoolEvaluation.ACCEPTED: "已确认",
}
PLAN_STATUS_LABELS = {EvaluationPlan.DRAFT: "草稿", EvaluationPlan.ACTIVE: "已启用"}
ROUND_STATUS_LABELS = {EvaluationRound.OPEN: "进行中", EvaluationRound.CLOSED: "已结束"}


def _s(value: Decimal) -> str:
    return format(value, "f")


def default_config() -> dict[str, Any]:
    """The domain's default plan as stored JSON (decimals as strings)."""
    return config_from_engine(engine.DEFAULT_PLAN, DEFAULT_CRITERIA)


def config_from_engine(plan: engine.EvaluationPlan, criteria: dict[str, str]) -> dict[str, Any]:
    return {
        "dimensions": [
            {
                "code": d.code,
                "label": d.label,
                "max_points": _s(d.max_points),
                "criteria": criteria.get(d.code, ""),
            }
            for d in plan.dimensions
        ],
        "rater_groups": [
            {"code": g.code, "label": g.label, "weight": _s(g.weight)} for g in plan.rater_groups
        ],
        "grade_bands": [
            {"code": b.code, "label": b.label, "min_score": _s(b.min_score)}
            for b in plan.grade_bands
        ],
        "excellent_quota": _s(plan.excellent_quota),
        "quota_min_one": plan.quota_min_one,
        "excellent_grade": plan.excellent_grade,
        "veto_grade": plan.veto_grade,
        "health_certificate_required": plan.health_certificate_required,
        "tie_break_groups": list(plan.tie_break_groups),
    }


def engine_plan(config: dict[str, Any]) -> engine.EvaluationPlan:
    """The engine's plan for stored config (ratings out of range are rejected; 2 decimals)."""
    return engine.EvaluationPlan(
        dimensions=tuple(
            engine.Dimension(d["code"], d["label"], d["max_points"]) for d in config["dimensions"]
        ),
        rater_groups=tuple(
            engine.RaterGroup(g["code"], g["label"], g["weight"]) for g in config["rater_groups"]
        ),
        grade_bands=tuple(
            engine.GradeBand(b["code"], b["label"], b["min_score"]) for b in config["grade_bands"]
        ),
        excellent_quota=config["excellent_quota"],
        quota_min_one=bool(config.get("quota_min_one", False)),
        excellent_grade=config.get("excellent_grade", "excellent"),
        veto_grade=config.get("veto_grade", "unqualified"),
        health_certificate_required=bool(config.get("health_certificate_required", True)),
        tie_break_groups=tuple(config.get("tie_break_groups", ("leadership", "served"))),
    )


# ---------------------------------------------------------------------------- schemas

_CN = {
    "required": "此项为必填项",
    "null": "此项不能为空",
    "invalid": "格式不正确",
    "special": "不能是 NaN 或无穷大",
}


def _len(min: int | None = None, max: int | None = None, error: str | None = None) -> Any:
    if error is None:
        error = f"长度应在 {min}–{max} 之间" if min is not None else f"长度不能超过 {max}"
    return validate.Length(min=min, max=max, error=error)


def _range(min: Any = None, max: Any = None, error: str | None = None) -> Any:
    return validate.Range(min=min, max=max, error=error or f"应在 {min} 到 {max} 之间")


def _f(kind: type, *args: Any, **kw: Any) -> Any:
    kw.setdefault("error_messages", _CN)
    return kind(*args, **kw)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


_CODE = validate.Regexp(r"^[a-z][a-z0-9_]{0,31}$", error="代码只能由小写字母、数字和下划线组成")


class DimensionSchema(_Strict):
    code = _f(fields.Str, required=True, validate=_CODE)
    label = _f(fields.Str, required=True, validate=_len(min=1, max=20))
    max_points = _f(fields.Decimal, required=True, as_string=True, validate=_range(min=0, max=100))
    criteria = _f(fields.Str, load_default="", validate=_len(max=2000))


class RaterGroupSchema(_Strict):
    code = _f(
        fields.Str,
        required=True,
        validate=validate.OneOf(
            RATER_GROUP_CODES, error="评价主体只能是 self、leadership、colleagues 或 served"
        ),
    )
    label = _f(fields.Str, required=True, validate=_len(min=1, max=20))
    weight = _f(fields.Decimal, required=True, as_string=True, validate=_range(min=0, max=1))


class GradeBandSchema(_Strict):
    code = _f(fields.Str, required=True, validate=_CODE)
    label = _f(fields.Str, required=True, validate=_len(min=1, max=20))
    min_score = _f(fields.Decimal, required=True, as_string=True, validate=_range(min=0, max=100))


class PlanConfigSchema(_Strict):
    dimensions = _f(
        fields.List,
        fields.Nested(DimensionSchema),
        required=True,
        validate=_len(min=1, max=20),
    )
    rater_groups = _f(
        fields.List,
        fields.Nested(RaterGroupSchema),
        required=True,
        validate=_len(min=1, max=4),
    )
    grade_bands = _f(
        fields.List,
        fields.Nested(GradeBandSchema),
        required=True,
        validate=_len(min=2, max=10),
    )
    excellent_quota = _f(
        fields.Decimal, required=True, as_string=True, validate=_range(min=0, max=1)
    )
    quota_min_one = _f(fields.Bool, load_default=False)
    excellent_grade = _f(fields.Str, load_default="excellent", validate=_len(max=32))
    veto_grade = _f(fields.Str, load_default="unqualified", validate=_len(max=32))
    health_certificate_required = _f(fields.Bool, load_default=True)
    tie_break_groups = _f(
        fields.List,
        fields.Str(validate=_len(max=32)),
        load_default=lambda: ["leadership", "served"],
        validate=_len(max=4),
    )


class PlanSchema(_Strict):
    id = fields.Int(dump_only=True)
    year = _f(fields.Int, required=True, validate=_range(min=2000, max=2100))
    name = _f(fields.Str, required=True, validate=_len(min=1, max=100))
    config = fields.Nested(PlanConfigSchema)
    status = fields.Str(dump_only=True)
    status_label = fields.Function(lambda p: PLAN_STATUS_LABELS.get(p.status), dump_only=True)
    activated_at = fields.DateTime(dump_only=True)
    in_use = fields.Function(lambda p: plan_in_use(p), dump_only=True)
    version = _f(fields.Int, validate=_range(min=1))


class PlanUpdateSchema(PlanSchema):
    """PUT: the whole plan again (config optional: omitted keeps the current one)."""

    version = _f(fields.Int, required=True, validate=_range(min=1))


class RoundSchema(_Strict):
    id = fields.Int(dump_only=True)
    plan_id = _f(fields.Int, required=True)
    plan_name = fields.Function(lambda r: r.plan.name, dump_only=True)
    year = fields.Function(lambda r: r.plan.year, dump_only=True)
    name = _f(fields.Str, required=True, validate=_len(min=1, max=100))
    opens_on = _f(fields.Date, required=True)
    closes_on = _f(fields.Date, required=True)
    status = fields.Str(dump_only=True)
    status_label = fields.Function(lambda r: ROUND_STATUS_LABELS.get(r.status), dump_only=True)
    version = fields.Int(dump_only=True)

    @validates_schema
    def _dates(self, data: dict, **_kw: Any) -> None:
        if data.get("opens_on") and data.get("closes_on") and data["closes_on"] < data["opens_on"]:
            raise ValidationError("结束日期不能早于开始日期", "closes_on")


class RatingSchema(_Strict):
    staff_id = _f(fields.Int, required=True)
    group = _f(
        fields.Str,
        required=True,
        validate=validate.OneOf(RATER_GROUP_CODES, error="未知的评价主体"),
    )
    scores = _f(
        fields.Dict,
        keys=fields.Str(validate=_len(max=32)),
        values=fields.Raw(),
        required=True,
        validate=_len(min=1, max=20),
    )
    rater_staff_id = _f(fields.Int, allow_none=True, load_default=None)


class TokenRequestSchema(_Strict):
    staff_id = _f(fields.Int, required=True)
    count = _f(
        fields.Int,
        load_default=1,
        validate=_range(min=1, max=MAX_TOKENS_PER_REQUEST, error="每次可生成 1–200 个链接"),
    )


class SubmitSchema(_Strict):
    grades = _f(
        fields.Dict,
        keys=fields.Str(validate=_len(max=20)),
        values=fields.Str(validate=_len(max=32)),
        load_default=dict,
    )
    version = _f(fields.Int, required=True)


class ReturnSchema(_Strict):
    reason = _f(fields.Str, required=True, validate=_len(min=1, max=500))


class VetoSchema(_Strict):
    staff_id = _f(fields.Int, required=True)
    responsible = _f(fields.Bool, required=True)
    note = _f(fields.Str, allow_none=True, load_default=None, validate=_len(max=1000))


class RaterLinkSchema(_Strict):
    user_id = _f(fields.Int, required=True)
    staff_id = _f(fields.Int, allow_none=True, load_default=None)


class ResultArgsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    post = fields.Str(load_default=None, validate=_len(max=32))
    employment_type = fields.Str(load_default=None, validate=_len(max=16))
    school_id = fields.Int(load_default=None)


def _invalid(field_name: str, message: str) -> ValidationError:
    return ValidationError({field_name: [message]})


# ------------------------------------------------------------------------------ plans


def plan_in_use(plan: EvaluationPlan) -> bool:
    return (
        db.session.scalar(select(EvaluationRound.id).where(EvaluationRound.plan_id == plan.id))
        is not None
    )


def load_config(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Validate a plan config (schema, then the engine's rules) → stored JSON. 422 if bad."""
    if raw is None:
        return default_config()
    try:
        data = PlanConfigSchema().load(raw)
    except ValidationError as err:
        raise ValidationError({"config": err.messages}) from err
    return _checked_config(data)


def _checked_config(data: dict[str, Any]) -> dict[str, Any]:
    criteria = {d["code"]: d.get("criteria", "") for d in data["dimensions"]}
    try:
        plan = engine_plan(data)
    except (engine.RatingError, ArithmeticError) as err:
        raise _invalid("config", str(err)) from err
    errors = plan.validate()
    if errors:
        raise ValidationError({"config": errors})
    return config_from_engine(plan, criteria)


def list_plans() -> list[EvaluationPlan]:
    return list(
        db.session.scalars(
            select(EvaluationPlan).order_by(EvaluationPlan.year.desc(), EvaluationPlan.id.desc())
        )
    )


def _plan_name_taken(year: int, name: str, exclude_id: int | None = None) -> bool:
    stmt = select(EvaluationPlan.id).where(EvaluationPlan.year == year, EvaluationPlan.name == name)
    if exclude_id is not None:
        stmt = stmt.where(EvaluationPlan.id != exclude_id)
    return db.session.scalar(stmt) is not None


def create_plan(data: dict[str, Any]) -> EvaluationPlan:
    config = _checked_config(data["config"]) if data.get("config") is not None else default_config()
    if _plan_name_taken(data["year"], data["name"]):
        raise _invalid("name", "该年度已有同名方案")
    plan = EvaluationPlan(year=data["year"], name=data["name"], config=config)
    db.session.add(plan)
    db.session.flush()
    audit.record(
        "evaluation_plan.create", plan, after={"year": plan.year, "name": plan.name, **config}
    )
    return plan


def update_plan(plan: EvaluationPlan, data: dict[str, Any]) -> EvaluationPlan:
    check_version(plan, data.get("version"))
    if plan_in_use(plan):
        raise _invalid("_schema", "该方案已用于评价轮次，不能再修改；如需调整请新建方案")
    before = {"year": plan.year, "name": plan.name, **plan.config}
    year = data.get("year", plan.year)
    name = data.get("name", plan.name)
    if _plan_name_taken(year, name, exclude_id=plan.id):
        raise _invalid("name", "该年度已有同名方案")
    if data.get("config") is not None:
        plan.config = _checked_config(data["config"])
    if plan.status == EvaluationPlan.ACTIVE and year != plan.year:
        _deactivate_others(year, plan)
    plan.year, plan.name = year, name
    db.session.flush()
    audit.record(
        "evaluation_plan.update",
        plan,
        before=before,
        after={"year": plan.year, "name": plan.name, **plan.config},
    )
    return plan


def _deactivate_others(year: int, keep: EvaluationPlan) -> None:
    others = db.session.scalars(
        select(EvaluationPlan).where(
            EvaluationPlan.year == year,
            EvaluationPlan.status == EvaluationPlan.ACTIVE,
            EvaluationPlan.id != keep.id,
        )
    )
    for other in others:
        other.status = EvaluationPlan.DRAFT
        audit.record(
            "evaluation_plan.deactivate",
            other,
            before={"status": "active"},
            after={"status": "draft"},
        )


def activate_plan(plan: EvaluationPlan) -> EvaluationPlan:
    """启用: the plan for its year (any other active plan of that year goes back to draft)."""
    errors = engine_plan(plan.config).validate()
    if errors:
        raise ValidationError({"config": errors})
    if plan.status != EvaluationPlan.ACTIVE:
        _deactivate_others(plan.year, plan)
        plan.status = EvaluationPlan.ACTIVE
        plan.activated_at = utcnow()
        db.session.flush()
        audit.record(
            "evaluation_plan.activate", plan, before={"status": "draft"}, after={"status": "active"}
        )
    return plan


# ----------------------------------------------------------------------------- rounds


def list_rounds() -> list[EvaluationRound]:
    return list(
        db.session.scalars(
            select(EvaluationRound)
            .options(selectinload(EvaluationRound.plan))
            .order_by(EvaluationRound.opens_on.desc(), EvaluationRound.id.desc())
        )
    )


def create_round(data: dict[str, Any]) -> EvaluationRound:
    plan = scoped_get(EvaluationPlan, data["plan_id"])
    if plan is None:
        raise _invalid("plan_id", "评价方案不存在")
    if plan.status != EvaluationPlan.ACTIVE:
        raise _invalid("plan_id", "评价方案尚未启用，不能开启评价轮次")
    rnd = EvaluationRound(
        plan_id=plan.id, name=data["name"], opens_on=data["opens_on"], closes_on=data["closes_on"]
    )
    db.session.add(rnd)
    db.session.flush()
    for school_id in db.session.scalars(select(School.id).order_by(School.id)):
        db.session.add(SchoolEvaluation(round_id=rnd.id, school_id=school_id))
    db.session.flush()
    audit.record(
        "evaluation_round.open",
        rnd,
        after={
            "plan_id": plan.id,
            "name": rnd.name,
            "opens_on": rnd.opens_on,
            "closes_on": rnd.closes_on,
        },
    )
    return rnd


def close_round(rnd: EvaluationRound) -> EvaluationRound:
    if rnd.status == EvaluationRound.CLOSED:
        raise _invalid("_schema", "该评价轮次已经结束")
    rnd.status = EvaluationRound.CLOSED
    rnd.closed_at = utcnow()
    db.session.flush()
    audit.record(
        "evaluation_round.close", rnd, before={"status": "open"}, after={"status": "closed"}
    )
    return rnd


def _require_open(rnd: EvaluationRound) -> None:
    if rnd.status != EvaluationRound.OPEN:
        raise _invalid("_schema", "评价轮次已结束，不能再修改")


# ----------------------------------------------------------------- school evaluations


def school_evaluation(rnd: EvaluationRound, school_id: int) -> SchoolEvaluation | None:
    return db.session.scalar(
        select(SchoolEvaluation).where(
            SchoolEvaluation.round_id == rnd.id, SchoolEvaluation.school_id == school_id
        )
    )


def ensure_school_evaluation(rnd: EvaluationRound, school_id: int) -> SchoolEvaluation:
    """The school's part of the round (schools added after the round opened get one now)."""
    se = school_evaluation(rnd, school_id)
    if se is None:
        se = SchoolEvaluation(round_id=rnd.id, school_id=school_id)
        db.session.add(se)
        db.session.flush()
    return se


def _require_editable(se: SchoolEvaluation) -> None:
    if se.status not in SchoolEvaluation.EDITABLE:
        raise _invalid("_schema", "本校评价结果已提交，不能再修改；如需修改请联系区教育局退回")


def active_staff(school_id: int) -> list[StaffMember]:
    return list(
        db.session.scalars(
            select(StaffMember)
            .options(selectinload(StaffMember.certificates))
            .where(StaffMember.school_id == school_id, StaffMember.active.is_(True))
            .order_by(StaffMember.id)
        )
    )


def _staff_of_school(staff_id: Any, field_name: str = "staff_id") -> StaffMember:
    staff = scoped_get(StaffMember, staff_id) if isinstance(staff_id, int) else None
    if staff is None or not staff.active:
        raise _invalid(field_name, "人员不存在或已不在岗")
    return staff


def evaluation_date(rnd: EvaluationRound) -> date:
    """Certificates must be valid on this day: today, or the round's last day if earlier."""
    return min(date.today(), rnd.closes_on)


@dataclass
class SchoolView:
    """Everything the school's evaluation page and API show, loaded in a fixed few queries."""

    round: EvaluationRound
    plan: engine.EvaluationPlan
    school: School
    evaluation: SchoolEvaluation | None
    staff: list[StaffMember]
    results: dict[int, engine.StaffResult]
    stored: dict[int, EvaluationResult]
    counts: dict[int, dict[str, int]]
    tokens: dict[int, tuple[int, int]]  # staff id → (issued, used)
    health_ok: dict[int, bool]
    quota: int
    evaluated: int
    links: dict[int, int] = field(default_factory=dict)  # staff id → user id

    @property
    def status(self) -> str:
        return self.evaluation.status if self.evaluation else SchoolEvaluation.COLLECTING

    @property
    def editable(self) -> bool:
        return (
            self.round.status == EvaluationRound.OPEN and self.status in SchoolEvaluation.EDITABLE
        )

    def grade_label(self, code: str | None) -> str:
        return grade_label(self.plan, code)


def grade_label(plan: engine.EvaluationPlan, code: str | None) -> str:
    if not code:
        return "—"
    try:
        return plan.band(code).label
    except KeyError:
        return code


def round_plan(rnd: EvaluationRound) -> engine.EvaluationPlan:
    return engine_plan(rnd.plan.config)


def school_view(rnd: EvaluationRound, school: School) -> SchoolView:
    plan = round_plan(rnd)
    staff = active_staff(school.id)
    ratings = db.session.scalars(
        select(StaffRating).where(
            StaffRating.round_id == rnd.id, StaffRating.school_id == school.id
        )
    ).all()
    stored = {
        r.staff_id: r
        for r in db.session.scalars(
            select(EvaluationResult).where(
                EvaluationResult.round_id == rnd.id, EvaluationResult.school_id == school.id
            )
        )
    }
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_staff: dict[int, list[engine.Rating]] = defaultdict(list)
    groups = {g.code for g in plan.rater_groups}
    for r in ratings:
        if r.group in groups:
            by_staff[r.staff_id].append(engine.Rating(r.group, r.scores))
            counts[r.staff_id][r.group] += 1
    tokens: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for staff_id, used_at in db.session.execute(
        select(RaterToken.staff_id, RaterToken.used_at).where(
            RaterToken.round_id == rnd.id, RaterToken.school_id == school.id
        )
    ):
        tokens[staff_id][0] += 1
        tokens[staff_id][1] += used_at is not None
    on = evaluation_date(rnd)
    health_ok = {s.id: s.has_valid(HEALTH_CERTIFICATE, on) for s in staff}
    inputs = [
        engine.StaffInput(
            staff_id=s.id,
            name=s.name,
            post=s.post,
            is_canteen_staff=s.is_canteen_staff,
            has_valid_health_certificate=health_ok[s.id],
            veto_responsible=bool(stored.get(s.id) and stored[s.id].veto_responsible),
            ratings=tuple(by_staff.get(s.id, ())),
        )
        for s in staff
    ]
    results = {r.staff_id: r for r in engine.evaluate_school(plan, inputs)}
    evaluated = sum(1 for r in results.values() if r.evaluated)
    links = {
        link.staff_id: link.user_id
        for link in db.session.scalars(select(RaterLink).where(RaterLink.school_id == school.id))
    }
    return SchoolView(
        round=rnd,
        plan=plan,
        school=school,
        evaluation=school_evaluation(rnd, school.id),
        staff=staff,
        results=results,
        stored=stored,
        counts={k: dict(v) for k, v in counts.items()},
        tokens={k: (v[0], v[1]) for k, v in tokens.items()},
        health_ok=health_ok,
        quota=engine.quota_size(plan, evaluated),
        evaluated=evaluated,
        links=links,
    )


# ---------------------------------------------------------------------------- ratings


def _link_of(user: User) -> RaterLink | None:
    return db.session.scalar(select(RaterLink).where(RaterLink.user_id == user.id))


def record_rating(rnd: EvaluationRound, user: User, data: dict[str, Any]) -> StaffRating:
    """One identified rater's ballot (self, leadership, colleagues); see the module doc."""
    _require_open(rnd)
    plan = round_plan(rnd)
    staff = _staff_of_school(data["staff_id"])
    group = data["group"]
    if group not in {g.code for g in plan.rater_groups}:
        raise _invalid("group", "本评价方案没有该评价主体")
    if group == SERVED:
        raise _invalid("group", "服务对象（师生）评价请通过匿名评价链接填写")
    se = ensure_school_evaluation(rnd, staff.school_id)
    _require_editable(se)
    try:
        total = engine.round_half_up(engine.rating_total(plan, data["scores"]), plan.decimals)
    except engine.RatingError as err:
        raise _invalid("scores", str(err)) from err
    scores = {d.code: _s(engine.to_decimal(data["scores"][d.code])) for d in plan.dimensions}

    link = _link_of(user)
    linked_staff = link.staff_id if link else None
    rater_user_id: int | None = user.id
    rater_staff_id: int | None = linked_staff
    paper_rater = data.get("rater_staff_id")
    if group == SELF:
        if paper_rater is not None and paper_rater != staff.id:
            raise _invalid("rater_staff_id", "本人自评的评价人只能是本人")
        # The school enters it on the person's behalf, unless it is the person's own account.
        rater_user_id = user.id if linked_staff == staff.id else None
        rater_staff_id = staff.id
    elif group == LEADERSHIP:
        if user.role != Role.SCHOOL_HEAD:
            raise _invalid("group", "学校领导评价须由校长登录后填写")
        if paper_rater is not None:
            raise _invalid("rater_staff_id", "学校领导评价不能代填")
        if linked_staff == staff.id:
            raise _invalid("staff_id", "不能评价自己（本人评价请选择“本人自评”）")
    elif group == COLLEAGUES:
        if paper_rater is not None:
            rater = _staff_of_school(paper_rater, "rater_staff_id")
            if rater.school_id != staff.school_id:
                raise _invalid("rater_staff_id", "评价人必须是本校人员")
            if rater.id == staff.id:
                raise _invalid(
                    "rater_staff_id", "不能以同事身份评价自己（本人评价请选择“本人自评”）"
                )
            rater_user_id, rater_staff_id = None, rater.id
        else:
            if user.role == Role.SCHOOL_HEAD:
                raise _invalid(
                    "group", "校长请以“学校领导”身份评价；代录纸质同事评价时请选择评价人"
                )
            if linked_staff is None:
                raise _invalid(
                    "_schema", "您的账号尚未关联本人的人员档案，不能参加同事互评；请联系校长关联"
                )
            if linked_staff == staff.id:
                raise _invalid("staff_id", "不能以同事身份评价自己（本人评价请选择“本人自评”）")

    existing = _existing_rating(rnd, staff.id, group, rater_user_id, rater_staff_id)
    if existing is not None and existing.group != group:
        raise _invalid(
            "group",
            f"该评价人已以“{GROUP_LABELS.get(existing.group, existing.group)}”身份评价过此人，"
            "每位评价人对同一人员只评价一次",
        )
    after = {
        "staff_id": staff.id,
        "group": group,
        "scores": scores,
        "total": total,
        "rater_user_id": rater_user_id,
        "rater_staff_id": rater_staff_id,
    }
    if existing is not None:
        before = {"scores": existing.scores, "total": existing.total}
        existing.scores, existing.total = scores, total
        existing.entered_by, existing.updated_at = user.id, utcnow()
        db.session.flush()
        audit.record("evaluation.rating.update", existing, before=before, after=after)
        return existing
    rating = StaffRating(
        school_id=staff.school_id,
        round_id=rnd.id,
        staff_id=staff.id,
        group=group,
        rater_user_id=rater_user_id,
        rater_staff_id=rater_staff_id,
        entered_by=user.id,
        scores=scores,
        total=total,
    )
    db.session.add(rating)
    db.session.flush()
    audit.record("evaluation.rating", rating, after=after)
    return rating


def _existing_rating(
    rnd: EvaluationRound,
    staff_id: int,
    group: str,
    rater_user_id: int | None,
    rater_staff_id: int | None,
) -> StaffRating | None:
    stmt = select(StaffRating).where(
        StaffRating.round_id == rnd.id, StaffRating.staff_id == staff_id
    )
    if rater_staff_id is not None:
        found = db.session.scalar(stmt.where(StaffRating.rater_staff_id == rater_staff_id))
        if found is not None:
            return found
    if rater_user_id is not None:
        return db.session.scalar(
            stmt.where(StaffRating.group == group, StaffRating.rater_user_id == rater_user_id)
        )
    return None


# ---------------------------------------------------------------------- rating links


def create_tokens(rnd: EvaluationRound, staff_id: int, count: int) -> list[RaterToken]:
    """Anonymous links for served teachers/students (服务对象) to rate one staff member."""
    _require_open(rnd)
    plan = round_plan(rnd)
    if SERVED not in {g.code for g in plan.rater_groups}:
        raise _invalid("_schema", "本评价方案不含服务对象评价")
    staff = _staff_of_school(staff_id)
    _require_editable(ensure_school_evaluation(rnd, staff.school_id))
    tokens = [
        RaterToken(
            school_id=staff.school_id,
            round_id=rnd.id,
            staff_id=staff.id,
            group=SERVED,
            token=secrets.token_urlsafe(24),
        )
        for _ in range(count)
    ]
    db.session.add_all(tokens)
    db.session.flush()
    audit.record(
        "evaluation.tokens", staff, after={"round_id": rnd.id, "staff_id": staff.id, "count": count}
    )
    return tokens


def unused_tokens(rnd: EvaluationRound, school_id: int) -> list[tuple[RaterToken, StaffMember]]:
    return list(
        db.session.execute(
            select(RaterToken, StaffMember)
            .join(StaffMember, StaffMember.id == RaterToken.staff_id)
            .where(
                RaterToken.round_id == rnd.id,
                RaterToken.school_id == school_id,
                RaterToken.used_at.is_(None),
            )
            .order_by(StaffMember.id, RaterToken.id)
        ).tuples()
    )


@dataclass
class PublicBallot:
    """What the anonymous rating page shows; ``problem`` says why it cannot be answered."""

    token: RaterToken
    staff: StaffMember
    school: School
    round: EvaluationRound
    plan: engine.EvaluationPlan
    config: dict[str, Any]
    problem: str | None


def resolve_token(raw: str) -> tuple[Scope, RaterToken] | None:
    """Find a public token across tenants; the caller then works inside its school's scope."""
    if not raw or len(raw) > 64:
        return None
    with unscoped("public evaluation: resolve token"):
        tok = db.session.scalar(select(RaterToken).where(RaterToken.token == raw))
        if tok is None:
            return None
        scope = Scope.for_schools(tok.district_id, {tok.school_id})
    return scope, tok


def public_ballot(tok: RaterToken) -> PublicBallot | None:
    """Load a token's ballot (call inside the token's school scope)."""
    tok = scoped_get(RaterToken, tok.id)
    if tok is None:
        return None
    staff = scoped_get(StaffMember, tok.staff_id)
    rnd = scoped_get(EvaluationRound, tok.round_id)
    school = scoped_get(School, tok.school_id)
    if staff is None or rnd is None or school is None:
        return None
    problem = None
    se = school_evaluation(rnd, school.id)
    if tok.used_at is not None:
        problem = "该评价链接已经使用过，每个链接只能评价一次。感谢您的参与！"
    elif rnd.status != EvaluationRound.OPEN or not staff.active:
        problem = "本次评价已经结束。"
    elif se is not None and se.status not in SchoolEvaluation.EDITABLE:
        problem = "学校已提交本次评价结果，评价链接已失效。"
    return PublicBallot(tok, staff, school, rnd, round_plan(rnd), rnd.plan.config, problem)


def answer_token(ballot: PublicBallot, scores: dict[str, Any]) -> StaffRating:
    """Store an anonymous served-group rating; the token can answer once only."""
    if ballot.problem:
        raise _invalid("_schema", ballot.problem)
    try:
        total = engine.round_half_up(engine.rating_total(ballot.plan, scores), ballot.plan.decimals)
    except engine.RatingError as err:
        raise _invalid("scores", str(err)) from err
    # Atomic: of two concurrent answers on one token, only one sees used_at still empty.
    # Day only (here and on the ballot): exact times could tie a ballot to its token.
    today = date.today()
    midnight = datetime(today.year, today.month, today.day)
    claimed = db.session.execute(
        update(RaterToken)
        .where(RaterToken.id == ballot.token.id, RaterToken.used_at.is_(None))
        .values(used_at=midnight)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise _invalid("_schema", "该评价链接已经使用过，每个链接只能评价一次。")
    rating = StaffRating(
        school_id=ballot.school.id,
        round_id=ballot.round.id,
        staff_id=ballot.staff.id,
        group=ballot.token.group,
        scores={d.code: _s(engine.to_decimal(scores[d.code])) for d in ballot.plan.dimensions},
        total=total,
        created_at=midnight,
    )
    db.session.add(rating)
    db.session.flush()
    audit.record(
        "evaluation.rating",
        rating,
        after={
            "staff_id": ballot.staff.id,
            "group": rating.group,
            "scores": rating.scores,
            "total": total,
            "anonymous": True,
        },
        actor=_NOBODY,  # anonymous even when the browser happens to be logged in
    )
    return rating


# ------------------------------------------------------------------------ rater links


def school_users(school_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.school_id == school_id, User.role.in_(Role.SCHOOL_ROLES))
            .order_by(User.username)
        )
    )


def list_links() -> list[RaterLink]:
    return list(db.session.scalars(select(RaterLink).order_by(RaterLink.id)))


def set_link(school_id: int, user_id: int, staff_id: int | None) -> RaterLink | None:
    """Link a school account to its roster entry (or unlink with ``staff_id`` None)."""
    user = scoped_get(User, user_id)
    if user is None or user.school_id != school_id or user.role not in Role.SCHOOL_ROLES:
        raise _invalid("user_id", "账号不存在或不属于本校")
    link = db.session.scalar(select(RaterLink).where(RaterLink.user_id == user.id))
    before = {"staff_id": link.staff_id} if link else None
    if staff_id is None:
        if link is not None:
            audit.record("evaluation.rater_link.delete", link, before=before)
            db.session.delete(link)
            db.session.flush()
        return None
    staff = _staff_of_school(staff_id)
    if staff.school_id != school_id:
        raise _invalid("staff_id", "人员不存在或已不在岗")
    taken = db.session.scalar(
        select(RaterLink).where(RaterLink.staff_id == staff.id, RaterLink.user_id != user.id)
    )
    if taken is not None:
        raise _invalid("staff_id", "该人员已关联其他账号")
    if link is None:
        link = RaterLink(school_id=school_id, user_id=user.id, staff_id=staff.id)
        db.session.add(link)
    else:
        link.staff_id = staff.id
    db.session.flush()
    audit.record("evaluation.rater_link", link, before=before, after={"staff_id": staff.id})
    return link


# ----------------------------------------------------------------------------- vetoes


def _result_row(rnd: EvaluationRound, staff: StaffMember) -> EvaluationResult:
    row = db.session.scalar(
        select(EvaluationResult).where(
            EvaluationResult.round_id == rnd.id, EvaluationResult.staff_id == staff.id
        )
    )
    if row is None:
        row = EvaluationResult(school_id=staff.school_id, round_id=rnd.id, staff_id=staff.id)
        db.session.add(row)
    return row


def set_veto(
    rnd: EvaluationRound, user: User, staff_id: int, responsible: bool, note: str | None
) -> EvaluationResult:
    """Record responsibility for a veto incident (一票否决) → 不合格 whatever the score.

    The school records it while collecting; the district at any time. On a school whose
    results are already submitted the district's veto applies to the stored grade at once
    (audited); lifting one there needs the submission returned first.
    """
    staff = _staff_of_school(staff_id)
    plan = round_plan(rnd)
    se = ensure_school_evaluation(rnd, staff.school_id)
    district = user.role == Role.DISTRICT_ADMIN
    if not district:
        _require_open(rnd)
        _require_editable(se)
    if responsible and not (note or "").strip():
        raise _invalid("note", "请说明所负责任的一票否决事项")
    row = _result_row(rnd, staff)
    before = {"veto_responsible": bool(row.veto_responsible), "veto_note": row.veto_note}
    final = se.status in SchoolEvaluation.FINAL
    if final and row.veto_responsible and not responsible:
        raise _invalid("_schema", "该校评价结果已提交，撤销一票否决前请先退回该校评价结果")
    row.veto_responsible = responsible
    row.veto_note = (note or "").strip() or None
    row.veto_recorded_by = user.id
    db.session.flush()
    audit.record(
        "evaluation.veto",
        row,
        before=before,
        after={"veto_responsible": responsible, "veto_note": row.veto_note, "staff_id": staff.id},
    )
    if final and responsible and row.grade is not None and row.grade != plan.veto_grade:
        old = row.grade
        row.grade = plan.veto_grade
        row.reasons = [
            *row.reasons,
            {"code": "veto", "message": "区教育局认定对一票否决事项负有责任"},
        ]
        db.session.flush()
        audit.record(
            "evaluation.grade",
            row,
            before={"grade": old},
            after={"grade": row.grade, "staff_id": staff.id, "reason": "veto"},
        )
    return row


# ------------------------------------------------------------------------- submission


def _best_allowed(plan: engine.EvaluationPlan, result: engine.StaffResult) -> str | None:
    """The best grade a school head may propose: the engine's grade before the quota."""
    if any(r.code == "quota" for r in result.reasons):
        return plan.excellent_grade
    return result.grade


def submit(
    rnd: EvaluationRound,
    school: School,
    user: User,
    grades: dict[str, str] | None,
    version: int | None,
) -> SchoolEvaluation:
    """The school head submits the school's results.

    Without ``grades`` the engine's grades stand (quota already applied). A head may
    propose other grades (e.g. give a tied 优秀 place to someone else), never better than
    the score and the vetoes allow; proposals over the quota are refused with the engine's
    message (:func:`scoring.staff_engine.check_quota`) — never silently changed.
    """
    _require_open(rnd)
    se = ensure_school_evaluation(rnd, school.id)
    check_version(se, version)
    _require_editable(se)
    view = school_view(rnd, school)
    plan = view.plan
    evaluated = {sid: r for sid, r in view.results.items() if r.evaluated}
    if not evaluated:
        raise _invalid("_schema", "本校尚无有效评分，不能提交")
    order = {b.code: i for i, b in enumerate(plan.grade_bands)}
    proposed = {sid: r.grade for sid, r in evaluated.items()}
    names = {s.id: s.name for s in view.staff}
    problems: list[str] = []
    for key, grade in (grades or {}).items():
        try:
            sid = int(key)
        except ValueError:
            sid = None
        if sid not in evaluated:
            problems.append(f"人员 {key} 不在本校本轮参评名单中")
            continue
        if grade not in order:
            problems.append(f"无效的评价等次：{grade}")
            continue
        result = evaluated[sid]
        best = _best_allowed(plan, result)
        if order[grade] < order[best]:
            if any(r.code == "veto" for r in result.reasons):
                why = f"对一票否决事项负有责任，只能评为{grade_label(plan, plan.veto_grade)}"
            elif any(r.code == "health_certificate" for r in result.reasons):
                why = f"是食堂从业人员且无有效健康证，不能评为{grade_label(plan, grade)}"
            else:
                why = f"得分 {result.rounded} 最高只能评为{grade_label(plan, best)}"
            problems.append(f"{names.get(sid, sid)}{why}")
            continue
        proposed[sid] = grade
    if problems:
        raise ValidationError({"grades": problems})
    check = engine.check_quota(plan, proposed)
    if not check.ok:
        raise ValidationError({"grades": [check.message]})

    now = utcnow()
    for s in view.staff:
        r = view.results[s.id]
        row = view.stored.get(s.id) or _result_row(rnd, s)
        old_grade = row.grade
        grade = proposed.get(s.id, r.grade)
        reasons = [{"code": x.code, "message": x.message} for x in r.reasons]
        if grade != r.grade:
            reasons.append(
                {
                    "code": "adjusted",
                    "message": f"校长提交时由{grade_label(plan, r.grade)}调整为{grade_label(plan, grade)}",
                }
            )
        row.score = None if r.score is None else engine.round_half_up(r.score, 6)
        row.rounded = r.rounded
        row.provisional_grade = r.provisional_grade
        row.grade = grade
        row.reasons = reasons
        row.group_means = {k: _s(engine.round_half_up(v, 2)) for k, v in r.group_means.items()}
        row.rank = r.rank
        row.percentile = r.percentile
        row.z_score = r.z_score
        row.groups_missing = list(r.groups_missing)
        row.computed_at = now
        db.session.flush()
        if old_grade != grade:
            audit.record(
                "evaluation.grade",
                row,
                before={"grade": old_grade},
                after={"grade": grade, "staff_id": s.id, "score": r.rounded},
            )
    before = {"status": se.status}
    se.status = SchoolEvaluation.SUBMITTED
    se.submitted_at = now
    se.submitted_by = user.id
    db.session.flush()
    audit.record(
        "school_evaluation.submit",
        se,
        before=before,
        after={"status": se.status, "grades": {str(k): v for k, v in proposed.items()}},
    )
    return se


def return_submission(se: SchoolEvaluation, reason: str) -> SchoolEvaluation:
    """退回: the district sends a submitted school's results back with a reason."""
    if se.status not in SchoolEvaluation.FINAL:
        raise _invalid("_schema", "只能退回已提交的评价结果")
    before = {"status": se.status}
    se.status = SchoolEvaluation.RETURNED
    se.return_reason = reason.strip()
    se.returned_at = utcnow()
    db.session.flush()
    audit.record(
        "school_evaluation.return", se, before=before, after={"status": se.status, "reason": reason}
    )
    return se


def accept_submission(se: SchoolEvaluation) -> SchoolEvaluation:
    if se.status != SchoolEvaluation.SUBMITTED:
        raise _invalid("_schema", "只能确认已提交的评价结果")
    se.status = SchoolEvaluation.ACCEPTED
    se.accepted_at = utcnow()
    db.session.flush()
    audit.record(
        "school_evaluation.accept", se, before={"status": "submitted"}, after={"status": se.status}
    )
    return se


def round_overview(rnd: EvaluationRound) -> list[dict[str, Any]]:
    """Per school of the caller's scope: status, ratings collected, staff evaluated."""
    from sqlalchemy import func

    schools = db.session.scalars(select(School).order_by(School.code)).all()
    evaluations = {
        se.school_id: se
        for se in db.session.scalars(
            select(SchoolEvaluation).where(SchoolEvaluation.round_id == rnd.id)
        )
    }
    rating_counts: dict[int, int] = dict(
        list(
            db.session.execute(
                select(StaffRating.school_id, func.count(StaffRating.id))
                .where(StaffRating.round_id == rnd.id)
                .group_by(StaffRating.school_id)
            ).tuples()
        )
    )
    result_counts: dict[int, int] = dict(
        list(
            db.session.execute(
                select(EvaluationResult.school_id, func.count(EvaluationResult.id))
                .where(EvaluationResult.round_id == rnd.id, EvaluationResult.rounded.is_not(None))
                .group_by(EvaluationResult.school_id)
            ).tuples()
        )
    )
    return [
        {
            "school": s,
            "evaluation": evaluations.get(s.id),
            "status": evaluations[s.id].status if s.id in evaluations else "collecting",
            "ratings": rating_counts.get(s.id, 0),
            "evaluated": result_counts.get(s.id, 0),
        }
        for s in schools
    ]


# ----------------------------------------------------------------- district comparison


@dataclass
class ResultRow:
    """One staff member's stored result, with who they are (for the district view)."""

    result: EvaluationResult
    staff: StaffMember
    school: School
    grade_label: str


@dataclass
class SchoolStats:
    """Distribution of one school's stored scores, to spot lenient or strict raters."""

    school: School
    count: int
    minimum: Decimal
    median: Decimal
    maximum: Decimal
    mean: Decimal
    excellent: int


def round_results(
    rnd: EvaluationRound,
    *,
    post: str | None = None,
    employment_type: str | None = None,
    school_id: int | None = None,
) -> list[ResultRow]:
    """Submitted (or accepted) results of the round in the caller's scope, filtered."""
    plan = round_plan(rnd)
    stmt = (
        select(EvaluationResult, StaffMember, School)
        .join(StaffMember, StaffMember.id == EvaluationResult.staff_id)
        .join(School, School.id == EvaluationResult.school_id)
        .join(
            SchoolEvaluation,
            (SchoolEvaluation.round_id == EvaluationResult.round_id)
            & (SchoolEvaluation.school_id == EvaluationResult.school_id),
        )
        .where(
            EvaluationResult.round_id == rnd.id,
            EvaluationResult.rounded.is_not(None),
            SchoolEvaluation.status.in_(SchoolEvaluation.FINAL),
        )
        .order_by(School.code, EvaluationResult.rank, StaffMember.id)
    )
    if post:
        stmt = stmt.where(StaffMember.post == post)
    if employment_type:
        stmt = stmt.where(StaffMember.employment_type == employment_type)
    if school_id:
        stmt = stmt.where(EvaluationResult.school_id == school_id)
    return [
        ResultRow(result, staff, school, grade_label(plan, result.grade))
        for result, staff, school in db.session.execute(stmt).tuples()
    ]


def school_distribution(rnd: EvaluationRound, rows: list[ResultRow]) -> list[SchoolStats]:
    plan = round_plan(rnd)
    by_school: dict[int, list[ResultRow]] = defaultdict(list)
    for row in rows:
        by_school[row.school.id].append(row)
    stats = []
    for group in by_school.values():
        scores = [Decimal(r.result.rounded) for r in group]
        stats.append(
            SchoolStats(
                school=group[0].school,
                count=len(scores),
                minimum=min(scores),
                median=engine.round_half_up(Decimal(statistics.median(scores)), 2),
                maximum=max(scores),
                mean=engine.round_half_up(sum(scores, Decimal(0)) / len(scores), 2),
                excellent=sum(1 for r in group if r.result.grade == plan.excellent_grade),
            )
        )
    return sorted(stats, key=lambda s: (-s.mean, s.school.code))


@dataclass(frozen=True)
class PoolEntry:
    """A staff member graded 优秀: eligible for 先进个人 (advanced individual)."""

    staff_id: int
    name: str
    school_id: int
    school_name: str
    post: str
    employment_type: str
    score: Decimal
    percentile: Decimal | None
    z_score: Decimal | None


def excellent_pool(round_id: int) -> list[PoolEntry]:
    """Everyone graded 优秀 in the round's submitted results (in the caller's scope)."""
    rnd = scoped_get(EvaluationRound, round_id)
    if rnd is None:
        return []
    plan = round_plan(rnd)
    return [
        PoolEntry(
            staff_id=row.staff.id,
            name=row.staff.name,
            school_id=row.school.id,
            school_name=row.school.name,
            post=row.staff.post,
            employment_type=row.staff.employment_type,
            score=row.result.rounded,
            percentile=row.result.percentile,
            z_score=row.result.z_score,
        )
        for row in round_results(rnd)
        if row.result.grade == plan.excellent_grade
    ]


POOL_HEADER = ("学校", "姓名", "岗位", "用工类型", "得分", "校内百分位", "校内 z 分数")


def pool_rows(pool: list[PoolEntry]) -> list[tuple[Any, ...]]:
    return [
        (
            e.school_name,
            e.name,
            e.post,
            e.employment_type,
            float(e.score),
            None if e.percentile is None else float(e.percentile),
            None if e.z_score is None else float(e.z_score),
        )
        for e in pool
    ]


def get_or_404_round(round_id: int) -> EvaluationRound:
    rnd = scoped_get(EvaluationRound, round_id)
    if rnd is None:
        abort(404)
    return rnd


__all__ = [
    "PlanSchema",
    "RoundSchema",
    "RatingSchema",
    "SubmitSchema",
    "create_plan",
    "update_plan",
    "activate_plan",
    "create_round",
    "close_round",
    "record_rating",
    "create_tokens",
    "answer_token",
    "submit",
    "return_submission",
    "accept_submission",
    "set_veto",
    "round_results",
    "school_distribution",
    "excellent_pool",
    "use_scope",
]
