"""District dashboard, school overview and zone view on a small hand-built district."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from district.extensions import db
from scoring.models import Finding, SchoolMonthResult, SiteVisit
from tenants.models import Role
from tenants.scope import unscoped


def _result(world: Any, school: Any, programme: str, score: str, **kw: Any) -> SchoolMonthResult:
    return SchoolMonthResult(
        district_id=school.district_id,
        school_id=school.id,
        year=kw.pop("year", 2026),
        month=kw.pop("month", 10),
        programme=programme,
        score=Decimal(score),
        stars=kw.pop("stars", 3),
        **kw,
    )


@pytest.fixture()
def scored(app: Any, world: Any) -> Any:
    """School A 88.50, school B 88.50 (a tie), school C (other district) 99.00."""
    with app.app_context(), unscoped("tests: dashboard fixtures"):
        rows = [
            _result(
                world,
                world.a,
                "overall",
                "88.50",
                stars=4,
                dimensions={"conditions": 90, "service": 80, "quality": 85, "management": 95},
            ),
            _result(
                world,
                world.a,
                "canteen",
                "91.00",
                self_score=Decimal("95"),
                inspector_score=Decimal("80"),
                inflated=True,
            ),
            _result(
                world,
                world.b,
                "overall",
                "88.50",
                stars=4,
                dimensions={"conditions": 70, "service": 70, "quality": 70, "management": 70},
            ),
            _result(
                world,
                world.b,
                "canteen",
                "88.50",
                self_score=Decimal("85"),
                inspector_score=Decimal("84"),
            ),
            _result(world, world.a, "overall", "80.00", month=9),
            _result(world, world.c, "overall", "99.00", stars=5),
        ]
        db.session.add_all(rows)
        visit = SiteVisit(
            district_id=world.d1.id,
            school_id=world.a.id,
            visited_on=date(2026, 10, 12),
            year=2026,
            month=10,
        )
        db.session.add(visit)
        db.session.flush()
        db.session.add(
            Finding(
                district_id=world.d1.id,
                school_id=world.a.id,
                visit_id=visit.id,
                description="留样记录不全",
                deadline=date(2026, 10, 20),
            )
        )
        db.session.commit()
    return world


def test_league_table_ranks_ties_and_hides_other_districts(scored: Any, client_for: Any) -> None:
    resp = client_for(scored.admin1).api("GET", "/api/v1/dashboard?year=2026&month=10&panel=league")
    assert resp.status_code == 200
    panel = resp.get_json()["panels"][0]
    names = [row[3] for row in panel["rows"]]
    assert names == ["乙校-SECRET-B", "甲校-SECRET-A"] or names == [
        "甲校-SECRET-A",
        "乙校-SECRET-B",
    ]
    assert [row[0] for row in panel["rows"]] == [1, 1]  # shared rank for equal scores
    assert all("SECRET-C" not in str(row) for row in panel["rows"])
    assert panel["figure"]["data"][0]["type"] == "bar"


def test_every_panel_renders_and_exports(scored: Any, client_for: Any) -> None:
    c = client_for(scored.viewer1)
    page = c.get("/dashboard?year=2026&month=10")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for key in (
        "league",
        "trends",
        "heatmap",
        "radar",
        "scatter",
        "compliance",
        "coverage",
        "findings",
        "complaints",
    ):
        assert f'id="panel-{key}"' in html
    assert "plotly.min.js" in html
    export = c.get("/dashboard/export.xlsx?year=2026&month=10&panel=scatter")
    assert export.status_code == 200
    wb = load_workbook(io.BytesIO(export.data))
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0] == ("学校", "自评", "督查", "差值", "自评虚高")
    inflated = {r[0]: r[4] for r in rows[1:]}
    assert inflated["甲校-SECRET-A"] == "是" and inflated["乙校-SECRET-B"] in (None, "")


def _no_cjk(value: Any) -> bool:
    return not re.search(r"[\u3400-\u9fff]", str(value))


def test_panels_speak_english_to_an_english_user(
    scored: Any, factories: Any, client_for: Any
) -> None:
    """Titles, headers, notes, flags and chart text follow the user's language; data does not."""
    user = factories.user(Role.DISTRICT_VIEWER, scored.d1, username="viewer_en", locale="en")
    c = client_for(user)
    panels = {
        p["key"]: p
        for p in c.api("GET", "/api/v1/dashboard?year=2026&month=10").get_json()["panels"]
    }
    assert panels["league"]["title"] == "School league table"
    assert panels["scatter"]["columns"] == [
        "Schools",
        "Self-assessment",
        "Inspection",
        "Gap",
        "Inflated self-assessment",
    ]
    for key, panel in panels.items():
        assert _no_cjk(panel["title"]) and _no_cjk(panel["note"] or ""), key
        layout = (panel["figure"] or {}).get("layout", {})
        assert _no_cjk(layout.get("title", {}).get("text", "")), key
    league = panels["league"]
    assert all(_no_cjk(c) for c in league["columns"]), league["columns"]
    assert {row[6] for row in league["rows"]} == {"No"}  # 寄宿制 否
    scatter = {row[0]: row[4] for row in panels["scatter"]["rows"]}
    assert scatter["甲校-SECRET-A"] == "Yes"  # the school's name stays as entered
    assert [t["name"] for t in panels["scatter"]["figure"]["data"]][:2] == [
        "Normal",
        "Inflated self-assessment (gap > 10)",
    ]
    html = c.get("/dashboard?year=2026&month=10").get_data(as_text=True)
    assert "School league table" in html and "学校排行榜" not in html
    export = c.get("/dashboard/export.xlsx?year=2026&month=10&panel=scatter")
    header = next(load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    assert "2026-10.xlsx" in export.headers["Content-Disposition"]
    radar = c.api(
        "GET", f"/api/v1/dashboard?year=2026&month=10&panel=radar&school_id={scored.a.id}"
    ).get_json()["panels"][0]
    assert radar["title"] == "Four Goods radar: 甲校-SECRET-A"
    assert header == ("Schools", "Self-assessment", "Inspection", "Gap", "Inflated self-assessment")
    # A Chinese user of the same district still reads Chinese.
    zh = client_for(scored.viewer1).api("GET", "/api/v1/dashboard?year=2026&month=10&panel=league")
    assert zh.get_json()["panels"][0]["title"] == "学校排行榜"


def test_findings_panel_counts_overdue(scored: Any, client_for: Any) -> None:
    panel = (
        client_for(scored.admin1)
        .api("GET", "/api/v1/dashboard?year=2026&month=10&panel=findings")
        .get_json()["panels"][0]
    )
    assert panel["rows"] == [["甲片区-SECRET-D1", 1, 1]]


def test_bad_dashboard_arguments_are_422(scored: Any, client_for: Any) -> None:
    c = client_for(scored.admin1)
    assert c.api("GET", "/api/v1/dashboard?month=13").status_code == 422
    assert c.api("GET", "/api/v1/dashboard?panel=nope").status_code == 422
    assert c.get("/dashboard/export.xlsx?year=2026&month=10").status_code == 422


def test_school_head_sees_own_rank_and_anonymous_distribution(scored: Any, client_for: Any) -> None:
    c = client_for(scored.head_a)
    data = c.api("GET", f"/api/v1/schools/{scored.a.id}/overview?year=2026&month=10").get_json()
    assert data["score"] == 88.5
    assert data["rank"] == 1 and data["total"] == 2  # tie with B; district 2 not counted
    assert data["distribution"] == [88.5, 88.5]
    assert "SECRET-B" not in str(data)
    assert c.get(f"/schools/{scored.b.id}/overview").status_code == 404
    page = c.get("/my-school")
    assert page.status_code == 200 and "甲校-SECRET-A" in page.get_data(as_text=True)


def test_school_head_cannot_open_the_district_dashboard(scored: Any, client_for: Any) -> None:
    assert client_for(scored.head_a).get("/dashboard").status_code == 403
    assert client_for(scored.head_a).api("GET", "/api/v1/dashboard").status_code == 403


def test_zone_view_lists_due_schools(scored: Any, client_for: Any) -> None:
    page = client_for(scored.inspector1).get("/zone")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "甲校-SECRET-A" in html and "SECRET-B" not in html


def test_plotly_bundle_is_served_locally(app: Any, client: Any) -> None:
    resp = client.get("/static-vendor/plotly.min.js")
    assert resp.status_code == 200 and b"plotly" in resp.data[:2000].lower()
