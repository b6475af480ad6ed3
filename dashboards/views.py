"""District dashboard, school overview and the inspector's zone view (pages and API)."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from flask import Blueprint, abort, render_template, request, send_from_directory
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import func, select

from dashboards import cache as dashboard_cache
from dashboards import panels as panel_mod
from dashboards import queries, staff_panels  # noqa: F401 - registers the staff panels
from dashboards.queries import Filters
from district.exports import table_workbook, xlsx_response
from district.extensions import db
from district.i18n import format_month
from district.nav import register_nav
from scoring.models import Finding, SchoolMonthResult, SiteVisit
from scoring.rubric_data import PROGRAMMES
from tenants.auth import ANY_TENANT_USER, DISTRICT_STAFF, roles_required
from tenants.models import SCHOOL_LEVELS, Role, School, Zone
from tenants.services import get_or_404

bp = Blueprint("dashboards", __name__)
blp = ApiBlueprint("api_dashboards", __name__, url_prefix="/api/v1", description="看板与学校概况")

register_nav("看板", "dashboards.dashboard", DISTRICT_STAFF, order=5)
register_nav("我的片区", "dashboards.zone_view", (Role.INSPECTOR,), order=5)


class DashboardArgs(Schema):
    year = fields.Int(validate=validate.Range(min=2000, max=2100))
    month = fields.Int(validate=validate.Range(min=1, max=12))
    zone_id = fields.Int()
    level = fields.Str(validate=validate.OneOf(SCHOOL_LEVELS))
    boarding = fields.Bool()
    programme = fields.Str(validate=validate.OneOf(list(PROGRAMMES)))
    school_id = fields.Int()
    panel = fields.Str(validate=validate.OneOf(panel_mod.PANEL_KEYS))


class PanelSchema(Schema):
    key = fields.Str()
    title = fields.Str()
    columns = fields.List(fields.Str())
    rows = fields.List(fields.List(fields.Raw()))
    figure = fields.Dict(allow_none=True)
    note = fields.Str(allow_none=True)


class DashboardSchema(Schema):
    year = fields.Int()
    month = fields.Int()
    panels = fields.List(fields.Nested(PanelSchema))


def _filters(args: dict[str, Any]) -> Filters:
    year, month = args.get("year"), args.get("month")
    if not year or not month:
        latest = queries.latest_result_month()
        today = date.today()
        year, month = latest or (today.year, today.month)
    return Filters(
        year=year,
        month=month,
        zone_id=args.get("zone_id"),
        level=args.get("level"),
        boarding=args.get("boarding"),
    )


def _parse_args() -> dict[str, Any]:
    raw = {k: v for k, v in request.args.items() if v != "" and k in DashboardArgs().fields}
    return DashboardArgs().load(raw)


def _panels(args: dict[str, Any], f: Filters, only: str | None = None) -> list[panel_mod.Panel]:
    school_id = args.get("school_id")
    school_name = None
    if school_id:
        school = get_or_404(School, school_id)
        school_name = school.name
    today = date.today()

    def build() -> list[dict[str, Any]]:
        panels = panel_mod.all_panels(
            f,
            programme=args.get("programme") or "canteen",
            school_id=school_id,
            school_name=school_name,
            today=today,
            only=only,
        )
        return [p.as_json() for p in panels]

    parts = {
        "f": [f.year, f.month, f.zone_id, f.level, f.boarding],
        "args": args,
        "only": only,
        "today": today,
    }
    return [panel_mod.Panel(**data) for data in dashboard_cache.cached(parts, build)]


@bp.get("/static-vendor/plotly.min.js")
def plotly_js() -> Any:
    """plotly.js from the installed plotly package: no CDN, works on an isolated network."""
    import plotly

    folder = os.path.join(os.path.dirname(plotly.__file__), "package_data")
    return send_from_directory(folder, "plotly.min.js", max_age=86400)


@bp.get("/dashboard")
@roles_required(*DISTRICT_STAFF)
def dashboard() -> Any:
    args = _parse_args()
    f = _filters(args)
    panels = _panels(args, f)
    zones = db.session.scalars(select(Zone).order_by(Zone.name)).all()
    schools = db.session.execute(select(School.id, School.name).order_by(School.name)).all()
    return render_template(
        "dashboards/dashboard.html",
        panels=panels,
        f=f,
        args=args,
        zones=zones,
        schools=schools,
        levels=SCHOOL_LEVELS,
        programmes=PROGRAMMES,
    )


@bp.get("/dashboard/export.xlsx")
@roles_required(*DISTRICT_STAFF)
def dashboard_export() -> Any:
    args = _parse_args()
    key = args.get("panel")
    if not key:
        abort(422)
    f = _filters(args)
    panels = _panels(args, f, only=key)
    if not panels:
        abort(404)
    panel = panels[0]
    data = table_workbook(panel.title[:30], panel.columns, panel.rows)
    return xlsx_response(data, f"{panel.title}_{format_month((f.year, f.month))}.xlsx")


# --- school overview --------------------------------------------------------------


def school_overview(school: School, f: Filters) -> dict[str, Any]:
    """What the school itself and the district see about one school."""
    rows = db.session.execute(
        select(
            SchoolMonthResult.year,
            SchoolMonthResult.month,
            SchoolMonthResult.programme,
            SchoolMonthResult.score,
        )
        .where(SchoolMonthResult.school_id == school.id)
        .order_by(SchoolMonthResult.year, SchoolMonthResult.month)
    ).all()
    series: dict[str, list[tuple[str, float]]] = {}
    for y, m, p, s in rows:
        series.setdefault(p, []).append((f"{y}-{m:02d}", float(s)))
    mine = next(
        (s for y, m, p, s in rows if (y, m) == (f.year, f.month) and p == queries.OVERALL), None
    )
    distribution, rank, total, category_rank, category_total = _published_distribution(school, f)
    weak = _weak_indicators(school, f)
    findings = db.session.scalars(
        select(Finding)
        .where(Finding.school_id == school.id, Finding.status != Finding.CLOSED)
        .order_by(Finding.deadline)
    ).all()
    return {
        "school": school,
        "f": f,
        "series": series,
        "score": None if mine is None else float(mine),
        "distribution": distribution,
        "rank": rank,
        "total": total,
        "category_rank": category_rank,
        "category_total": category_total,
        "weak": weak,
        "findings": findings,
    }


def _published_distribution(
    school: School, f: Filters
) -> tuple[list[float], int | None, int, int | None, int]:
    """The district's score distribution and the school's own rank, without names.

    A school's scope cannot read other schools' rows, so this steps into the
    district scope for anonymous aggregates only (scores, counts) — never names.
    """
    from tenants.scope import Scope, use_scope

    with use_scope(Scope.for_district(school.district_id)):
        rows = db.session.execute(
            select(SchoolMonthResult.school_id, SchoolMonthResult.score, School.level)
            .join(School, School.id == SchoolMonthResult.school_id)
            .where(
                SchoolMonthResult.year == f.year,
                SchoolMonthResult.month == f.month,
                SchoolMonthResult.programme == queries.OVERALL,
            )
        ).all()
    scores = sorted((float(s) for _sid, s, _lvl in rows), reverse=True)
    mine = next((float(s) for sid, s, _ in rows if sid == school.id), None)
    if mine is None:
        return sorted(scores), None, len(scores), None, 0
    rank = 1 + sum(1 for s in scores if s > mine)
    same = [float(s) for _sid, s, lvl in rows if lvl == school.level]
    category_rank = 1 + sum(1 for s in same if s > mine)
    return sorted(scores), rank, len(scores), category_rank, len(same)


def _weak_indicators(school: School, f: Filters, limit: int = 8) -> list[dict[str, Any]]:
    from scoring.models import RubricIndicator, VisitScore

    rows = db.session.execute(
        select(
            VisitScore.programme,
            VisitScore.indicator_code,
            RubricIndicator.name,
            VisitScore.points,
            RubricIndicator.max_points,
            SiteVisit.visited_on,
        )
        .join(SiteVisit, SiteVisit.id == VisitScore.visit_id)
        .join(
            RubricIndicator,
            (RubricIndicator.rubric_version_id == VisitScore.rubric_version_id)
            & (RubricIndicator.code == VisitScore.indicator_code),
        )
        .where(
            VisitScore.school_id == school.id,
            RubricIndicator.max_points > 0,
            VisitScore.points.is_not(None),
            (SiteVisit.year * 12 + SiteVisit.month) <= f.year * 12 + f.month,
            (SiteVisit.year * 12 + SiteVisit.month) > f.year * 12 + f.month - 3,
        )
        .order_by(SiteVisit.visited_on.desc())
    ).all()
    latest: dict[tuple[str, str], Any] = {}
    for row in rows:
        latest.setdefault((row[0], row[1]), row)
    items = [
        {
            "programme": PROGRAMMES.get(p, p),
            "code": code,
            "name": name,
            "points": float(points),
            "max": float(mx),
            "ratio": float(points) / float(mx) * 100,
            "visited_on": visited,
        }
        for (p, code), (_p, _c, name, points, mx, visited) in latest.items()
    ]
    return sorted(items, key=lambda i: (i["ratio"], i["code"]))[:limit]


def _may_see_school(school: School) -> None:
    # The scope already hides other schools (404); roles outside any tenant are refused.
    if current_user.role not in ANY_TENANT_USER:
        abort(403)


@bp.get("/schools/<int:school_id>/overview")
@roles_required(*ANY_TENANT_USER)
def school_page(school_id: int) -> Any:
    school = get_or_404(School, school_id)
    _may_see_school(school)
    args = _parse_args()
    latest = queries.latest_result_month() or (date.today().year, date.today().month)
    f = Filters(year=args.get("year") or latest[0], month=args.get("month") or latest[1])
    data = school_overview(school, f)
    from dashboards import figures

    data["trend_figure"] = figures.scores_over_time(
        data["series"], _("%(school)s 月度得分", school=school.name)
    )
    data["histogram"] = figures.histogram(data["distribution"], data["score"])
    return render_template("dashboards/school.html", **data)


@bp.get("/my-school")
@roles_required(Role.SCHOOL_HEAD, Role.SCHOOL_STAFF)
def my_school() -> Any:
    return school_page(current_user.school_id)


# --- inspector's zone view ----------------------------------------------------------


@bp.get("/zone")
@roles_required(Role.INSPECTOR)
def zone_view() -> Any:
    today = date.today()
    last_visit = dict(
        db.session.execute(
            select(SiteVisit.school_id, func.max(SiteVisit.visited_on)).group_by(
                SiteVisit.school_id
            )
        ).all()
    )
    open_findings = dict(
        db.session.execute(
            select(Finding.school_id, func.count(Finding.id))
            .where(Finding.status != Finding.CLOSED)
            .group_by(Finding.school_id)
        ).all()
    )
    overdue = dict(
        db.session.execute(
            select(Finding.school_id, func.count(Finding.id))
            .where(Finding.status != Finding.CLOSED, Finding.deadline < today)
            .group_by(Finding.school_id)
        ).all()
    )
    schools = db.session.scalars(select(School).order_by(School.zone_id, School.name)).all()
    rows = []
    for s in schools:
        visited = last_visit.get(s.id)
        due = visited is None or (visited.year, visited.month) != (today.year, today.month)
        rows.append(
            {
                "school": s,
                "last_visit": visited,
                "due": due,
                "open": open_findings.get(s.id, 0),
                "overdue": overdue.get(s.id, 0),
            }
        )
    rows.sort(key=lambda r: (not r["due"], -(r["overdue"]), r["school"].name))
    return render_template("dashboards/zone.html", rows=rows, zones=current_user.zones, today=today)


# --- API --------------------------------------------------------------------------


@blp.route("/dashboard")
class DashboardApi(MethodView):
    @roles_required(*DISTRICT_STAFF)
    @blp.arguments(DashboardArgs, location="query")
    @blp.response(200, DashboardSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """District dashboard panels (figure JSON + table rows); ``panel`` picks one."""
        f = _filters(args)
        panels = _panels(args, f, only=args.get("panel"))
        return {"year": f.year, "month": f.month, "panels": [p.as_json() for p in panels]}


class SchoolOverviewSchema(Schema):
    school_id = fields.Int()
    name = fields.Str()
    year = fields.Int()
    month = fields.Int()
    score = fields.Float(allow_none=True)
    rank = fields.Int(allow_none=True)
    total = fields.Int()
    category_rank = fields.Int(allow_none=True)
    category_total = fields.Int()
    distribution = fields.List(fields.Float())
    series = fields.Dict()
    weak = fields.List(fields.Dict())


@blp.route("/schools/<int:school_id>/overview")
class SchoolOverviewApi(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.arguments(DashboardArgs, location="query")
    @blp.response(200, SchoolOverviewSchema)
    def get(self, args: dict[str, Any], school_id: int) -> Any:
        """One school's scores over time, its rank and the district distribution (anonymous)."""
        school = get_or_404(School, school_id)
        latest = queries.latest_result_month() or (date.today().year, date.today().month)
        f = Filters(year=args.get("year") or latest[0], month=args.get("month") or latest[1])
        data = school_overview(school, f)
        return {
            "school_id": school.id,
            "name": school.name,
            "year": f.year,
            "month": f.month,
            "score": data["score"],
            "rank": data["rank"],
            "total": data["total"],
            "category_rank": data["category_rank"],
            "category_total": data["category_total"],
            "distribution": data["distribution"],
            "series": {k: [list(p) for p in v] for k, v in data["series"].items()},
            "weak": [
                {k: (v.isoformat() if isinstance(v, date) else v) for k, v in w.items()}
                for w in data["weak"]
            ],
        }
