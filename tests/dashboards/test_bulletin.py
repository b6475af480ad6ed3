"""每月督查通报: background generation, web page, Excel and PDF in Chinese; certificates."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook

from dashboards import bulletin
from district.extensions import db
from scoring.models import Complaint, Finding, SchoolMonthResult, SiteVisit
from tenants.scope import unscoped


def _seed(app: Any, world: Any) -> None:
    with app.app_context(), unscoped("tests: bulletin fixtures"):
        for school, score in ((world.a, "92.00"), (world.b, "71.50"), (world.c, "99.00")):
            db.session.add(
                SchoolMonthResult(
                    district_id=school.district_id,
                    school_id=school.id,
                    year=2026,
                    month=10,
                    programme="overall",
                    score=Decimal(score),
                    stars=3,
                )
            )
        visit = SiteVisit(
            district_id=world.d1.id,
            school_id=world.a.id,
            visited_on=date(2026, 10, 8),
            year=2026,
            month=10,
        )
        db.session.add(visit)
        db.session.flush()
        db.session.add(
            Finding(
                district_id=world.d1.id,
                school_id=world.b.id,
                visit_id=visit.id,
                description="食堂留样不足48小时",
                deadline=date(2026, 10, 15),
            )
        )
        db.session.add(
            Complaint(
                district_id=world.d1.id,
                school_id=world.b.id,
                content="饭菜偏咸",
                year=2026,
                month=10,
                status="verified",
            )
        )
        db.session.commit()


def test_bulletin_generated_in_background_and_downloadable(
    app: Any, world: Any, client_for: Any, drain_jobs: Any
) -> None:
    _seed(app, world)
    admin = client_for(world.admin1)
    resp = admin.api("POST", "/api/v1/bulletins", json={"year": 2026, "month": 10})
    assert resp.status_code == 202
    ref = resp.get_json()
    drain_jobs()
    job = admin.api("GET", ref["status_url"]).get_json()
    assert job["status"] == "finished" and job["progress"] == 100
    b = admin.api("GET", f"/api/v1/bulletins/{ref['bulletin_id']}").get_json()
    assert b["status"] == "ready"
    data = b["data"]
    assert data["title"].endswith("2026年10月学校后勤督查通报")
    assert [r["school"] for r in data["league"]] == [
        "甲校-SECRET-A",
        "乙校-SECRET-B",
    ]  # no district 2
    assert data["overdue"][0]["description"] == "食堂留样不足48小时"
    assert data["complaints"]["verified"] == 1
    zones = {z["zone"]: z for z in data["zones"]}
    assert zones["甲片区-SECRET-D1"]["covered"] and not zones["乙片区-SECRET-D1"]["covered"]

    page = admin.get(f"/bulletins/{ref['bulletin_id']}")
    assert page.status_code == 200 and "逾期未整改问题" in page.get_data(as_text=True)
    pdf = admin.get(f"/bulletins/{ref['bulletin_id']}/download.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert b"CJK" in pdf.data or b"WenQuanYi" in pdf.data  # the Chinese font is embedded
    xlsx = admin.get(f"/bulletins/{ref['bulletin_id']}/download.xlsx")
    wb = load_workbook(io.BytesIO(xlsx.data))
    assert {"概况", "片区督查", "综合排名", "逾期整改", "投诉"} <= set(wb.sheetnames)

    # Schools see it only once published.
    head = client_for(world.head_a)
    assert head.get(f"/bulletins/{ref['bulletin_id']}").status_code == 404
    assert admin.post(f"/bulletins/{ref['bulletin_id']}/publish").status_code == 302
    assert head.get(f"/bulletins/{ref['bulletin_id']}").status_code == 200
    assert client_for(world.admin2).get(f"/bulletins/{ref['bulletin_id']}").status_code == 404


def test_generating_twice_is_idempotent(
    app: Any, world: Any, client_for: Any, drain_jobs: Any
) -> None:
    _seed(app, world)
    admin = client_for(world.admin1)
    first = admin.api("POST", "/api/v1/bulletins", json={"year": 2026, "month": 10}).get_json()
    drain_jobs()
    second = admin.api("POST", "/api/v1/bulletins", json={"year": 2026, "month": 10}).get_json()
    drain_jobs()
    assert first["bulletin_id"] == second["bulletin_id"]
    assert len(admin.api("GET", "/api/v1/bulletins").get_json()) == 1


def test_bad_month_is_422_and_school_cannot_generate(app: Any, world: Any, client_for: Any) -> None:
    assert (
        client_for(world.admin1)
        .api("POST", "/api/v1/bulletins", json={"year": 2026, "month": 13})
        .status_code
        == 422
    )
    assert (
        client_for(world.head_a)
        .api("POST", "/api/v1/bulletins", json={"year": 2026, "month": 10})
        .status_code
        == 403
    )


def test_certificates_pdf_one_page_per_unit() -> None:
    pdf = bulletin.render_certificates(
        [("园林一中", "先进单位"), ("东湖小学", "先进单位")],
        "2025—2026学年",
        "园林区教育局",
        "2026年7月1日",
    )
    assert pdf.startswith(b"%PDF")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 2
