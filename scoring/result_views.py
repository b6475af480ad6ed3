"""成绩 (four-creations results): pages (``bp``) and JSON API (``blp``).

Pages: the district's results of a month (sortable, filtered by zone and level, Excel
export, and the district admin's 重新计算 of a period with progress on /jobs/<id>); a
school's results by school year with the per-indicator detail of a month. A school's
own users see only their school; inspectors the schools of their zones (the tenant
scope does the narrowing: an out-of-scope school answers 404).

API under /api/v1: GET /results, GET /schools/<id>/results, POST /results/recompute.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from district.exports import table_workbook, xlsx_response
from district.extensions import db
from district.forms import parse_form
from district.nav import register_nav
from scoring import engine, jobs
from scoring.models import Rubric, SchoolMonthResult
from scoring.results import OVERALL, month_key, school_month_detail
from tenants.auth import ANY_TENANT_USER, roles_required
from tenants.models import SCHOOL_LEVELS, Role, School, Zone
from tenants.schemas import JobSchema
from tenants.services import get_or_404, list_schools, list_zones

ADMIN, VIEWER, INSPECTOR = Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER, Role.INSPECTOR
DISTRICT_SIDE = (ADMIN, VIEWER, INSPECTOR)

bp = Blueprint("results", __name__)
blp = ApiBlueprint(
    "api_results", __name__, url_prefix="/api/v1", description="成绩（四个创建月度结果）"
)

register_nav("成绩", "results.index", ANY_TENANT_USER, order=35)

FLAGS = {"unverified": "未核验", "inflated": "自评虚高", "veto": "一票否决", "stand_in": "沿用督查"}


def _today() -> date:
    try:
        from scoring.periods import local_today
    except ImportError:  # pragma: no cover - periods ship with the scoring issue
        return date.today()
    return local_today()


def _previous_month(today: date) -> tuple[int, int]:
    return (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)


# --- schemas -------------------------------------------------------------------------


class RecomputeSchema(Schema):
    """A period to recompute (every school of the district)."""

    class Meta:
        unknown = RAISE

    year = fields.Int(
        required=True,
        strict=False,
        validate=validate.Range(min=2000, max=2100, error="年份须在 2000 到 2100 之间"),
        error_messages={"required": "请填写年份", "invalid": "年份须为整数"},
    )
    month = fields.Int(
        required=True,
        strict=False,
        validate=validate.Range(min=1, max=12, error="月份须在 1 到 12 之间"),
        error_messages={"required": "请选择月份", "invalid": "月份须为整数"},
    )

    @validates_schema
    def _not_future(self, data: dict[str, Any], **_kw: Any) -> None:
        if "year" not in data or "month" not in data:
            return
        today = _today()
        if month_key(data["year"], data["month"]) > month_key(today.year, today.month):
            raise ValidationError({"month": ["不能计算尚未到来的月份"]})


class MonthArgsSchema(Schema):
    year = fields.Int(validate=validate.Range(min=2000, max=2100))
    month = fields.Int(validate=validate.Range(min=1, max=12))
    programme = fields.Str(
        validate=validate.Length(max=32),
        metadata={"description": "canteen | store | dormitory | greening | overall"},
    )


class SchoolYearArgsSchema(Schema):
    year = fields.Int(
        validate=validate.Range(min=2000, max=2100),
        metadata={"description": "学年，以其九月所在年份表示（2025 即 2025–2026 学年）"},
    )


def _score() -> fields.Decimal:
    return fields.Decimal(as_string=True, places=2, allow_none=True)


class ResultSchema(Schema):
    """One stored result: a programme (or ``overall``) of a school-month."""

    school_id = fields.Int()
    school_code = fields.Str()
    school_name = fields.Str()
    zone = fields.Str(allow_none=True)
    level = fields.Str()
    year = fields.Int()
    month = fields.Int()
    programme = fields.Str()
    score = _score()
    stars = fields.Int()
    self_score = _score()
    inspector_score = _score()
    satisfaction = _score()
    complaint_deduction = _score()
    verified_complaints = fields.Int()
    veto = fields.Bool()
    unverified = fields.Bool()
    stand_in = fields.Bool()
    inflation_gap = _score()
    inflated = fields.Bool()
    dimensions = fields.Dict(
        allow_none=True, metadata={"description": "四好: conditions/service/quality/management"}
    )
    computed_at = fields.DateTime()


# --- queries -------------------------------------------------------------------------


def programme_columns() -> list[tuple[str, str]]:
    """(code, name) of the district's active programmes, in display order."""
    rows = db.session.execute(
        select(Rubric.programme, Rubric.name)
        .where(Rubric.active.is_(True))
        .order_by(Rubric.sort, Rubric.id)
    ).all()
    return [(r.programme, r.name) for r in rows]


def result_months() -> list[tuple[int, int]]:
    rows = db.session.execute(
        select(SchoolMonthResult.year, SchoolMonthResult.month)
        .distinct()
        .order_by(SchoolMonthResult.year.desc(), SchoolMonthResult.month.desc())
    ).all()
    return [(r[0], r[1]) for r in rows]


def _chosen_month(year: int | None, month: int | None, months: list[tuple[int, int]]) -> tuple:
    if year and month:
        return year, month
    return months[0] if months else _previous_month(_today())


def _result_rows(stmt: Any) -> list[dict[str, Any]]:
    stmt = (
        stmt.add_columns(School.code, School.name, School.level, Zone.name)
        .join(School, School.id == SchoolMonthResult.school_id)
        .outerjoin(Zone, Zone.id == School.zone_id)
    )
    out = []
    for row, code, name, level, zone in db.session.execute(stmt):
        data = {c.key: getattr(row, c.key) for c in SchoolMonthResult.__table__.columns}
        data.update(school_code=code, school_name=name, level=level, zone=zone)
        out.append(data)
    return out


def month_results(year: int, month: int, programme: str | None = None) -> list[dict[str, Any]]:
    stmt = select(SchoolMonthResult).where(
        SchoolMonthResult.year == year, SchoolMonthResult.month == month
    )
    if programme:
        stmt = stmt.where(SchoolMonthResult.programme == programme)
    return _result_rows(stmt.order_by(SchoolMonthResult.school_id, SchoolMonthResult.programme))


def school_year_results(school_id: int, school_year: int) -> list[dict[str, Any]]:
    first, last = month_key(school_year, 9), month_key(school_year + 1, 8)
    key = SchoolMonthResult.year * 12 + SchoolMonthResult.month - 1
    stmt = select(SchoolMonthResult).where(
        SchoolMonthResult.school_id == school_id, key.between(first, last)
    )
    return _result_rows(
        stmt.order_by(SchoolMonthResult.year, SchoolMonthResult.month, SchoolMonthResult.programme)
    )


SORT_KEYS = ("school", "zone", "level")


def month_table(
    year: int, month: int, zone_id: int | None, level: str | None, sort: str, descending: bool
) -> list[dict[str, Any]]:
    """One row per school in scope: its programmes' results and overall for the month."""
    schools = list_schools(zone_id=zone_id, level=level)
    by_school: dict[int, dict[str, dict[str, Any]]] = {}
    for row in month_results(year, month):
        by_school.setdefault(row["school_id"], {})[row["programme"]] = row
    table = [
        {"school": s, "zone": s.zone.name if s.zone else "", "results": by_school.get(s.id, {})}
        for s in schools
    ]

    table.sort(key=lambda e: e["school"].code)  # the tie-break: sorts below are stable
    if sort in SORT_KEYS:
        text = {"school": lambda e: e["school"].code, "zone": lambda e: e["zone"]}
        table.sort(key=text.get(sort, lambda e: e["school"].level), reverse=descending)
        return table
    scored = [e for e in table if sort in e["results"]]
    scored.sort(key=lambda e: e["results"][sort]["score"], reverse=descending)
    return scored + [e for e in table if sort not in e["results"]]  # no result: last


def stars(n: int | None) -> str:
    return "★" * int(n or 0)


# --- pages ---------------------------------------------------------------------------


def _filters() -> dict[str, Any]:
    months = result_months()
    year = request.args.get("year", type=int)
    month = request.args.get("month", type=int)
    picked = _month_arg(request.args.get("ym"))
    if picked:
        year, month = picked
    year, month = _chosen_month(year, month, months)
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        abort(404)
    level = request.args.get("level") or None
    sort = request.args.get("sort") or OVERALL
    descending = (
        request.args.get("dir") == "desc" if request.args.get("dir") else sort not in SORT_KEYS
    )
    return {
        "months": months
        if (year, month) in months
        else sorted([*months, (year, month)], reverse=True),
        "year": year,
        "month": month,
        "zone_id": request.args.get("zone_id", type=int),
        "level": level if level in SCHOOL_LEVELS else None,
        "sort": sort,
        "descending": descending,
    }


@bp.get("/results")
@roles_required(*ANY_TENANT_USER)
def index() -> Any:
    if current_user.role in Role.SCHOOL_ROLES:
        return redirect(url_for("results.school", school_id=current_user.school_id))
    f = _filters()
    programmes = programme_columns()
    if f["sort"] not in (*SORT_KEYS, OVERALL, *(c for c, _name in programmes)):
        f["sort"] = OVERALL
    table = month_table(f["year"], f["month"], f["zone_id"], f["level"], f["sort"], f["descending"])
    return render_template(
        "results/index.html",
        table=table,
        programmes=programmes,
        zones=list_zones(),
        levels=SCHOOL_LEVELS,
        stars=stars,
        flags=FLAGS,
        form={"year": f["year"], "month": f["month"]},
        errors={},
        **f,
    )


@bp.get("/results/export.xlsx")
@roles_required(*DISTRICT_SIDE)
def export() -> Any:
    f = _filters()
    programmes = programme_columns()
    table = month_table(f["year"], f["month"], f["zone_id"], f["level"], OVERALL, True)
    header = ["学校代码", "学校", "片区", "学段", "寄宿制"]
    for _code, name in programmes:
        header += [name, f"{name}星级"]
    header += ["总分", "总星级", "自评均分", "督查均分", "标记"]
    rows = []
    for entry in table:
        s, res = entry["school"], entry["results"]
        row: list[Any] = [s.code, s.name, entry["zone"], s.level, "是" if s.boarding else "否"]
        for code, _name in programmes:
            r = res.get(code)
            row += [_num(r and r["score"]), stars(r and r["stars"])]
        o = res.get(OVERALL)
        row += [
            _num(o and o["score"]),
            stars(o and o["stars"]),
            _num(o and o["self_score"]),
            _num(o and o["inspector_score"]),
            "、".join(label for flag, label in FLAGS.items() if o and o[flag]),
        ]
        rows.append(row)
    data = table_workbook(f"{f['year']}年{f['month']}月", header, rows)
    return xlsx_response(data, f"四个创建成绩-{f['year']}-{f['month']:02d}.xlsx")


def _num(value: Any) -> float | None:
    return None if value is None else float(Decimal(value))


@bp.post("/results/recompute")
@roles_required(ADMIN)
def recompute() -> Any:
    data, errors = parse_form(RecomputeSchema())
    if data is None:
        msg = "；".join(m for v in errors.values() for m in (v if isinstance(v, list) else [v]))
        flash(_("无法重新计算：%(msg)s", msg=msg), "error")
        return redirect(url_for("results.index")), 303
    job = jobs.request_full_recompute(data["year"], data["month"], user_id=current_user.id)
    return redirect(url_for("core.job", job_id=job.id))


def latest_month_of(school_id: int) -> tuple[int, int] | None:
    row = db.session.execute(
        select(SchoolMonthResult.year, SchoolMonthResult.month)
        .where(SchoolMonthResult.school_id == school_id)
        .order_by(SchoolMonthResult.year.desc(), SchoolMonthResult.month.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def _school_year_of(year: int, month: int) -> int:
    return year if month >= 8 else year - 1


def _month_arg(text: str | None) -> tuple[int, int] | None:
    try:
        m = engine.Month.parse(text or "")
    except (ValueError, TypeError):
        return None
    return (m.year, m.month) if 2000 <= m.year <= 2100 else None


@bp.get("/results/schools/<int:school_id>")
@roles_required(*ANY_TENANT_USER)
def school(school_id: int) -> Any:
    school = get_or_404(School, school_id)
    chosen = _month_arg(request.args.get("month"))
    default_month = latest_month_of(school.id) or _previous_month(_today())
    school_year = request.args.get("year", type=int)
    if school_year is None or not 2000 <= school_year <= 2100:
        school_year = _school_year_of(*(chosen or default_month))
    rows = school_year_results(school.id, school_year)
    programmes = programme_columns()
    months: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for row in rows:
        months.setdefault((row["year"], row["month"]), {})[row["programme"]] = row
    year_scores = {}
    for code in [c for c, _name in programmes] + [OVERALL]:
        found = engine.year_score(m[code]["score"] for m in months.values() if code in m)
        if found is not None:
            year_scores[code] = found
    month = chosen or (max(months) if months else default_month)
    detail = school_month_detail(school.id, *month)
    return render_template(
        "results/school.html",
        school=school,
        school_year=school_year,
        months=sorted(months.items()),
        programmes=programmes,
        year_scores=year_scores,
        month=month,
        detail=detail,
        stored=months.get(month, {}),
        dimension_names=engine.DIMENSION_NAMES_ZH,
        stars=stars,
        flags=FLAGS,
    )


# --- API -----------------------------------------------------------------------------


@blp.route("/results")
class Results(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.arguments(MonthArgsSchema, location="query")
    @blp.response(200, ResultSchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """Results of a month (default: the latest month with results) for the schools in
        the caller's scope; every programme and ``overall`` unless ``programme`` is given."""
        year, month = _chosen_month(args.get("year"), args.get("month"), result_months())
        return month_results(year, month, args.get("programme"))


@blp.route("/schools/<int:school_id>/results")
class SchoolResults(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.arguments(SchoolYearArgsSchema, location="query")
    @blp.response(200, ResultSchema(many=True))
    def get(self, args: dict[str, Any], school_id: int) -> Any:
        """A school's results of a school year (default: the school year of its latest)."""
        school = get_or_404(School, school_id)
        school_year = args.get("year")
        if school_year is None:
            latest = latest_month_of(school.id) or _previous_month(_today())
            school_year = _school_year_of(*latest)
        return school_year_results(school.id, school_year)


@blp.route("/results/recompute")
class Recompute(MethodView):
    @roles_required(ADMIN)
    @blp.arguments(RecomputeSchema)
    @blp.response(202, JobSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Recompute every school's results of a month (district admin); returns the job,
        whose progress GET /api/v1/jobs/<id> reports."""
        return jobs.request_full_recompute(data["year"], data["month"], user_id=current_user.id)
