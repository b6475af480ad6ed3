"""先进单位: year records from stored results, draft, 公示, objections, finalisation, drift."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from dashboards import award_service as svc
from district.extensions import db
from scoring.models import SchoolMonthResult, SelfAssessment, SiteVisit
from tenants.scope import Scope, unscoped, use_scope


def _month_result(school: Any, year: int, month: int, score: str, **kw: Any) -> list[Any]:
    common = dict(
        district_id=school.district_id, school_id=school.id, year=year, month=month, stars=3
    )
    return [
        SchoolMonthResult(programme="overall", score=Decimal(score), **common),
        SchoolMonthResult(
            programme="canteen",
            score=Decimal(score),
            inspector_score=Decimal(kw.get("inspector", score)),
            satisfaction=Decimal("80"),
            veto=kw.get("veto", False),
            **common,
        ),
    ]


@pytest.fixture()
def year_data(app: Any, world: Any, factories: Any) -> Any:
    """School year 2025: A 90 (2 visits), B 90 (2 visits, lower inspector avg), E 95 but 1 visit."""
    world.e = factories.school(world.d1, world.z1, name="戊校-SECRET-A2", code="E01", level="初中")
    with app.app_context(), unscoped("tests: award fixtures"):
        rows: list[Any] = []
        rows += _month_result(world.a, 2025, 10, "90.00", inspector="88")
        rows += _month_result(world.a, 2026, 3, "90.00", inspector="88")
        rows += _month_result(world.b, 2025, 10, "90.00", inspector="80")
        rows += _month_result(world.b, 2026, 3, "90.00", inspector="80")
        rows += _month_result(world.e, 2025, 10, "95.00")
        rows += _month_result(world.c, 2025, 10, "99.00")  # another district
        db.session.add_all(rows)
        for school, n in ((world.a, 2), (world.b, 2), (world.e, 1), (world.c, 3)):
            for i in range(n):
                db.session.add(
                    SiteVisit(
                        district_id=school.district_id,
                        school_id=school.id,
                        visited_on=date(2025, 10 + i, 9),
                        year=2025,
                        month=10 + i,
                    )
                )
        db.session.commit()
    return world


def test_year_records_aggregate_the_school_year(app: Any, year_data: Any) -> None:
    with app.app_context(), use_scope(Scope.for_district(year_data.d1.id)):
        records = {r.name: r for r in svc.year_records(2025)}
    assert set(records) == {"甲校-SECRET-A", "乙校-SECRET-B", "戊校-SECRET-A2"}
    a = records["甲校-SECRET-A"]
    assert a.year_score == Decimal("90.00") and a.inspector_average == Decimal("88.00")
    assert a.inspector_visits == 2 and a.late_self_assessments == 0 and a.veto_count == 0


def test_full_workflow_through_the_pages(app: Any, year_data: Any, client_for: Any) -> None:
    admin = client_for(year_data.admin1)
    resp = admin.post(
        "/awards?school_year=2025",
        data={
            "total_units": "1",
            "total_individuals": "0",
            "max_late_self_assessments": "1",
            "min_inspector_visits": "2",
            "notice_working_days": "5",
            "require_no_veto": "on",
        },
    )
    assert resp.status_code == 302
    resp = admin.post("/awards/compute?school_year=2025")
    assert resp.status_code == 302
    list_url = resp.headers["Location"]
    list_id = int(list_url.rstrip("/").split("/")[-1])
    page = admin.get(list_url).get_data(as_text=True)
    # A and B tie on 90.00; A wins on inspector average; E is excluded for too few visits.
    assert "督查次数 1 次（至少 2 次）" in page
    assert f"/results/schools/{year_data.a.id}" in page  # every score traces to its school-months
    data = admin.api("GET", f"/api/v1/awards/lists/{list_id}").get_json()
    awarded = [e["name"] for e in data["snapshot"]["entries"] if e["awarded"]]
    assert awarded == ["甲校-SECRET-A"]
    b = next(e for e in data["snapshot"]["entries"] if e["name"] == "乙校-SECRET-B")
    assert b["display_rank"] == 1 and b["tie_broken_by"] is not None  # shared rank, tie explained
    assert all("SECRET-C" not in e["name"] for e in data["snapshot"]["entries"])

    # School heads do not see drafts.
    head_b = client_for(year_data.head_b)
    assert head_b.get(list_url).status_code == 404

    assert admin.post(f"/awards/lists/{list_id}/publish").status_code == 302
    page = head_b.get(list_url)
    assert page.status_code == 200 and "公示期至" in page.get_data(as_text=True)
    resp = head_b.post(
        f"/awards/lists/{list_id}/objections", data={"content": "我校督查平均分计算有误"}
    )
    assert resp.status_code == 302

    # Cannot finalise with an open objection, nor before the notice period without a reason.
    refused = admin.api("POST", f"/api/v1/awards/lists/{list_id}/finalise", json={})
    assert refused.status_code == 409
    assert "异议" in refused.get_json()["message"]  # the reason, not a generic conflict message
    objections = admin.api("GET", f"/api/v1/awards/lists/{list_id}/objections").get_json()
    assert len(objections) == 1
    resp = admin.post(
        f"/awards/objections/{objections[0]['id']}/resolve", data={"resolution": "经复核，计算无误"}
    )
    assert resp.status_code == 302
    assert "经复核，计算无误" in head_b.get(list_url).get_data(
        as_text=True
    )  # the school sees the answer
    early = admin.api("POST", f"/api/v1/awards/lists/{list_id}/finalise", json={})
    assert early.status_code == 409 and "公示期未满" in early.get_json()["message"]
    resp = admin.api(
        "POST", f"/api/v1/awards/lists/{list_id}/finalise", json={"early_reason": "局务会已审议"}
    )
    assert resp.status_code == 200
    final = resp.get_json()
    assert final["status"] == "finalised" and len(final["checksum"]) == 64
    assert final["intact"] is True and final["drifted"] is False

    # Later score changes do not alter the finalised list; the page says the ranking drifted.
    with app.app_context(), unscoped("tests: change a score after finalisation"):
        row = db.session.scalar(
            db.select(SchoolMonthResult).where(
                SchoolMonthResult.school_id == year_data.b.id,
                SchoolMonthResult.programme == "overall",
                SchoolMonthResult.month == 10,
            )
        )
        row.score = Decimal("99.00")
        db.session.commit()
    again = admin.api("GET", f"/api/v1/awards/lists/{list_id}").get_json()
    assert again["checksum"] == final["checksum"] and again["snapshot"] == final["snapshot"]
    assert again["drifted"] is True
    assert "定稿后成绩有变动" in admin.get(list_url).get_data(as_text=True)
    # And it cannot be recomputed in place or finalised twice.
    assert admin.api("POST", f"/api/v1/awards/lists/{list_id}/publish").status_code == 409

    export = head_b.get(f"/awards/lists/{list_id}/export.xlsx")
    rows = list(load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    assert rows[0][2] == "学校" and any(
        r[2] == "甲校-SECRET-A" and r[10] == "先进单位" for r in rows[1:]
    )


def test_veto_and_late_submissions_exclude(app: Any, year_data: Any) -> None:
    with app.app_context(), unscoped("tests: add a veto and lates"):
        row = db.session.scalar(
            db.select(SchoolMonthResult).where(
                SchoolMonthResult.school_id == year_data.a.id,
                SchoolMonthResult.programme == "canteen",
                SchoolMonthResult.month == 10,
            )
        )
        row.veto = True
        db.session.commit()
    with app.app_context(), use_scope(Scope.for_district(year_data.d1.id)):
        from scoring.rubrics import ensure_default_rubrics, version_in_force

        ensure_default_rubrics()
        version_id = version_in_force("canteen", 2025, 10).id
        for month in (10, 11):
            db.session.add(
                SelfAssessment(
                    school_id=year_data.b.id,
                    year=2025,
                    month=month,
                    programme="canteen",
                    rubric_version_id=version_id,
                    late=True,
                    status="submitted",
                )
            )
        db.session.commit()
    with app.app_context(), use_scope(Scope.for_district(year_data.d1.id)):
        year = svc.get_or_create_year(2025)
        result = svc.compute_units(year)
    reasons = {e.name: e.reasons for e in result.entries}
    assert any("一票否决" in r for r in reasons["甲校-SECRET-A"])
    assert any("逾期 2 次" in r for r in reasons["乙校-SECRET-B"])


def test_rules_validation_and_roles(app: Any, year_data: Any, client_for: Any) -> None:
    admin = client_for(year_data.admin1)
    bad = admin.api("PUT", "/api/v1/awards?school_year=2025", json={"total_units": -1})
    assert bad.status_code == 422
    assert (
        client_for(year_data.viewer1)
        .api("POST", "/api/v1/awards/lists?school_year=2025")
        .status_code
        == 403
    )
    assert client_for(year_data.head_a).post("/awards/compute?school_year=2025").status_code == 403
