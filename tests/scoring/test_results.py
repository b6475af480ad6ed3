"""成绩 pages, API and jobs: scoping by role, the period recomputation with progress,
the Excel export, and the demo's four-creations data."""

from __future__ import annotations

import io
import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from district.extensions import db
from district.jobs import JobRecord
from scoring import results
from scoring.models import SchoolMonthResult
from tenants.scope import Scope, use_scope
from tests.scoring.test_results_db import (
    CANTEEN,
    DORMITORY,
    GREENING,
    make_rubric,
    self_assessment,
    survey_answers,
    visit,
)


@pytest.fixture()
def scored(app: Any, world: Any) -> Any:
    """School A: canteen 77.00 in October 2025 (self 80, inspector 70, satisfaction 90);
    school B: a canteen self-assessment only (unverified).

    No app context stays pushed: test requests would share its ``g`` (and CSRF token)."""
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        v = {
            "canteen": make_rubric("canteen", CANTEEN),
            "greening": make_rubric("greening", GREENING),
            "dormitory": make_rubric("dormitory", DORMITORY, boarding_only=True),
        }
        self_assessment(world.a, 2025, 10, "canteen", v["canteen"], {"A1": 8, "A2": 8})
        visit(world.a, date(2025, 10, 15), {"canteen": {"A1": 7, "A2": 7}}, v)
        survey_answers(world.a, 2025, "autumn", {"parent": [[5, 5, 5, 4, 4]]})
        self_assessment(world.b, 2025, 10, "canteen", v["canteen"], {"A1": 5, "A2": 5})
        db.session.commit()
    return world


def _rows(app: Any, world: Any) -> dict[tuple[int, str], Any]:
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        return {
            (r.school_id, r.programme): (r.score, r.unverified)
            for r in db.session.scalars(select(SchoolMonthResult))
        }


def test_admin_recomputes_a_period_with_progress(
    app: Any, scored: Any, client_for: Any, drain_jobs: Any, monkeypatch: Any
) -> None:
    world = scored
    seen: list[int] = []
    import scoring.jobs as scoring_jobs

    original = scoring_jobs.report_progress
    monkeypatch.setattr(
        scoring_jobs,
        "report_progress",
        lambda pct, msg=None: (seen.append(pct), original(pct, msg))[1],
    )
    monkeypatch.setattr(results, "BATCH_SIZE", 1)  # one school-month per batch: two steps
    admin = client_for(world.admin1)
    resp = admin.post("/results/recompute", {"year": "2025", "month": "10"})
    assert resp.status_code == 302 and "/jobs/" in resp.headers["Location"]
    drain_jobs()
    job_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        job = db.session.get(JobRecord, job_id)
        assert job.status == "finished" and job.progress == 100
        assert job.result["school_months"] == 2 and job.result["results"] == 5
    assert seen == [50, 100]
    rows = _rows(app, world)
    assert rows[(world.a.id, "canteen")] == (Decimal("77.00"), False)
    assert rows[(world.b.id, "canteen")] == (Decimal("50.00"), True)
    page = admin.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "100%" in page


def test_recompute_is_refused_to_others_and_validated(
    app: Any, scored: Any, client_for: Any
) -> None:
    world = scored
    for user in (world.viewer1, world.inspector1, world.head_a):
        assert (
            client_for(user).post("/results/recompute", {"year": "2025", "month": "10"}).status_code
            == 403
        )
        resp = client_for(user).api(
            "POST", "/api/v1/results/recompute", json={"year": 2025, "month": 10}
        )
        assert resp.status_code == 403
    admin = client_for(world.admin1)
    resp = admin.api("POST", "/api/v1/results/recompute", json={"year": 2025, "month": 13})
    assert resp.status_code == 422 and "month" in resp.get_json()["errors"]["json"]
    resp = admin.api("POST", "/api/v1/results/recompute", json={"year": 2099, "month": 1})
    assert resp.status_code == 422  # a month that has not come yet
    resp = admin.post("/results/recompute", {"year": "", "month": "10"}, follow_redirects=True)
    assert "请填写年份" in resp.get_data(as_text=True)
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        assert db.session.scalar(select(func.count(JobRecord.id))) == 0
    resp = admin.api("POST", "/api/v1/results/recompute", json={"year": 2025, "month": 10})
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["id"] and body["description"].startswith("重新计算 2025年10月")


def _recompute(app: Any, world: Any) -> None:
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        results.recompute(results.school_months_of_period(2025, 10))
        db.session.commit()


def test_district_table_sort_filter_and_export(app: Any, scored: Any, client_for: Any) -> None:
    world = scored
    _recompute(app, world)
    viewer = client_for(world.viewer1)
    page = viewer.get("/results?year=2025&month=10").get_data(as_text=True)
    assert "甲校-SECRET-A" in page and "乙校-SECRET-B" in page
    assert "77.00" in page and "★★★" in page and "未核验" in page
    assert page.index("甲校-SECRET-A") < page.index("乙校-SECRET-B")  # 77 before 50 by default
    ascending = viewer.get("/results?year=2025&month=10&sort=overall&dir=asc").get_data(
        as_text=True
    )
    assert ascending.index("乙校-SECRET-B") < ascending.index("甲校-SECRET-A")
    english = viewer.get("/results?year=2025&month=10&lang=en").get_data(as_text=True)
    level = world.a.level  # a label the product ships, shown in the reader's language
    assert f"<td>{level}" in page and f"<td>{level}" not in english
    assert "2025-10" in english and "2025年10月" not in english
    by_zone = viewer.get(f"/results?ym=2025-10&zone_id={world.z2.id}").get_data(as_text=True)
    assert "乙校-SECRET-B" in by_zone and "甲校-SECRET-A" not in by_zone
    resp = viewer.get("/results/export.xlsx?year=2025&month=10")
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:2] == ["学校代码", "学校"]
    a_row = next(r for r in values if r[1] == "甲校-SECRET-A")
    assert 77.0 in a_row
    # The admin sees the recompute form; the viewer does not.
    assert 'id="recompute"' not in page
    assert 'id="recompute"' in client_for(world.admin1).get("/results").get_data(as_text=True)


def test_school_users_see_only_their_own_results(app: Any, scored: Any, client_for: Any) -> None:
    world = scored
    _recompute(app, world)
    head = client_for(world.head_a)
    resp = head.get("/results")
    assert resp.status_code == 302 and f"/results/schools/{world.a.id}" in resp.headers["Location"]
    page = head.get(f"/results/schools/{world.a.id}?month=2025-10").get_data(as_text=True)
    assert "77.00" in page and "乙校-SECRET-B" not in page
    assert "保障好" in page and "服务好" in page  # 四好 of the month
    assert "A1" in page and "8.00" in page and "7.00" in page  # self vs inspector points
    assert head.get(f"/results/schools/{world.b.id}").status_code == 404
    assert head.get(f"/api/v1/schools/{world.b.id}/results").status_code == 404
    listed = head.get("/api/v1/results?year=2025&month=10").get_json()
    assert {r["school_id"] for r in listed} == {world.a.id}
    mine = head.get(f"/api/v1/schools/{world.a.id}/results?year=2025").get_json()
    canteen = next(r for r in mine if r["programme"] == "canteen")
    assert canteen["score"] == "77.00" and canteen["stars"] == 3 and canteen["year"] == 2025
    assert canteen["dimensions"] == {"conditions": "73.75", "service": "73.75"}
    # The export is the district's: school users are refused.
    assert head.get("/results/export.xlsx").status_code == 403


def test_inspector_sees_the_schools_of_their_zones(app: Any, scored: Any, client_for: Any) -> None:
    world = scored
    _recompute(app, world)
    inspector = client_for(world.inspector1)
    page = inspector.get("/results?year=2025&month=10").get_data(as_text=True)
    assert "甲校-SECRET-A" in page and "乙校-SECRET-B" not in page
    assert inspector.get(f"/results/schools/{world.b.id}").status_code == 404
    rows = inspector.get("/api/v1/results?year=2025&month=10&programme=canteen").get_json()
    assert [(r["school_id"], r["programme"]) for r in rows] == [(world.a.id, "canteen")]


def test_other_district_gets_404(app: Any, scored: Any, client_for: Any) -> None:
    world = scored
    _recompute(app, world)
    other = client_for(world.admin2)
    assert other.get(f"/results/schools/{world.a.id}").status_code == 404
    assert other.get(f"/api/v1/schools/{world.a.id}/results").status_code == 404
    assert other.get("/api/v1/results?year=2025&month=10").get_json() == []
    assert "SECRET-A" not in other.get("/results?year=2025&month=10").get_data(as_text=True)


def test_demo_seeds_a_year_and_results_for_every_school(
    app_ctx: Any, world: Any, factories: Any
) -> None:
    """scoring.demo on a small district: every school gets results in every month."""
    import district.demo
    from scoring import demo
    from tenants.models import Role

    assert demo.extend in district.demo.DEMO_EXTENSIONS
    boarding = factories.school(world.d1, world.z1, boarding=True, level="小学")
    factories.user(Role.INSPECTOR, world.d1, zones=[world.z2])
    today = date(2026, 11, 30)
    months = demo.school_year_months(today)
    assert months[0] == (2025, 9) and months[-1] == (2026, 10) and (2026, 8) not in months
    assert len(months) == 13
    with use_scope(Scope.for_district(world.d1.id)):
        stats = demo.build_scoring_demo(world.d1.id, random.Random(3), today=today)
        db.session.commit()
        rows = db.session.execute(
            select(
                SchoolMonthResult.school_id, SchoolMonthResult.year, SchoolMonthResult.month
            ).where(SchoolMonthResult.programme == "overall")
        ).all()
        dorm = db.session.scalar(
            select(func.count(SchoolMonthResult.id)).where(
                SchoolMonthResult.programme == "dormitory"
            )
        )
    assert stats["visits"] > 0 and stats["survey_responses"] > 0 and stats["findings"] > 0
    schools = {world.a.id, world.b.id, boarding.id}
    per_school = {s: {(y, m) for sid, y, m in rows if sid == s} for s in schools}
    assert all(len(got) >= len(months) - 1 for got in per_school.values()), per_school
    assert dorm > 0  # the boarding school's dormitory
