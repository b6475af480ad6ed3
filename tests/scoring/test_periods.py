"""Scoring periods (考核月份): deadlines, open / close / reopen, locks and who may do it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from district.audit import AuditEntry
from district.extensions import db
from scoring.models import Period, SelfAssessment
from scoring.periods import deadline_for, local_today
from tenants.scope import Scope, unscoped, use_scope


@pytest.fixture()
def seeded(app: Any, world: Any) -> None:
    """District 1 with the four default rubrics."""
    from scoring.rubrics import ensure_default_rubrics

    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        ensure_default_rubrics()
        db.session.commit()


def _rows(app: Any, model: type, *where: Any) -> list[Any]:
    with app.app_context(), unscoped("tests: read back"):
        rows = list(db.session.scalars(select(model).where(*where).order_by(model.id)))
        db.session.expunge_all()
        db.session.rollback()
    return rows


def test_deadline_is_the_deadline_day_of_the_next_month() -> None:
    assert deadline_for(2026, 10) == date(2026, 11, 5)
    assert deadline_for(2026, 12) == date(2027, 1, 5)
    # A day past the month's end is clamped (a district that sets the 31st).
    assert deadline_for(2026, 1, day=31) == date(2026, 2, 28)
    assert deadline_for(2028, 1, day=31) == date(2028, 2, 29)


def test_admin_opens_closes_and_reopens_a_month(app: Any, world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    resp = admin.api("POST", "/api/v1/periods", json={"year": 2026, "month": 10})
    assert resp.status_code == 201, resp.get_json()
    period = resp.get_json()
    assert period["deadline"] == "2026-11-05"
    assert period["status"] == "open" and period["lock_message"] is None

    # The same month twice is refused with a reason.
    again = admin.api("POST", "/api/v1/periods", json={"year": 2026, "month": 10})
    assert again.status_code == 409
    assert "已经开放过" in again.get_json()["message"]
    assert admin.api("POST", "/api/v1/periods", json={"year": 2026, "month": 13}).status_code == 422

    closed = admin.api("POST", f"/api/v1/periods/{period['id']}/close")
    assert closed.status_code == 200
    body = closed.get_json()
    assert body["status"] == "closed" and body["closed_by"] == world.admin1.id
    # A locked month says why and who can reopen it.
    assert "管理员-SECRET-D1" in body["lock_message"]
    assert "重新开放" in body["lock_message"]
    assert admin.api("POST", f"/api/v1/periods/{period['id']}/close").status_code == 409

    reopened = admin.api("POST", f"/api/v1/periods/{period['id']}/reopen")
    assert reopened.status_code == 200 and reopened.get_json()["status"] == "open"

    actions = [e.action for e in _rows(app, AuditEntry, AuditEntry.object_type == "Period")]
    assert actions == ["period.open", "period.close", "period.reopen"]
    close_entry = _rows(app, AuditEntry, AuditEntry.action == "period.close")[0]
    assert close_entry.before["status"] == "open" and close_entry.after["status"] == "closed"

    listed = client_for(world.head_a).api("GET", "/api/v1/periods").get_json()
    assert [(p["year"], p["month"], p["status"]) for p in listed] == [(2026, 10, "open")]
    # Another district sees none of it.
    assert client_for(world.admin2).api("GET", "/api/v1/periods").get_json() == []


def test_only_the_district_admin_manages_periods(app: Any, world: Any, client_for: Any) -> None:
    for user in (world.head_a, world.staff_a, world.viewer1, world.inspector1):
        resp = client_for(user).api("POST", "/api/v1/periods", json={"year": 2026, "month": 9})
        assert resp.status_code == 403, user.username
    assert _rows(app, Period) == []
    page = client_for(world.viewer1).get("/periods")
    assert page.status_code == 200 and 'id="open-period"' not in page.get_data(as_text=True)


def test_periods_page_opens_closes_and_explains_the_lock(
    app: Any, world: Any, client_for: Any
) -> None:
    admin = client_for(world.admin1)
    resp = admin.post("/periods", data={"year": "2026", "month": "9"})
    assert resp.status_code == 302
    period = _rows(app, Period)[0]
    assert (period.year, period.month, period.deadline) == (2026, 9, date(2026, 10, 5))
    bad = admin.post("/periods", data={"year": "2026", "month": "0"})
    assert bad.status_code == 422 and len(_rows(app, Period)) == 1

    assert admin.post(f"/periods/{period.id}/close").status_code == 302
    page = admin.get("/periods").get_data(as_text=True)
    assert "已关闭" in page and "重新开放" in page and "管理员-SECRET-D1" in page
    assert admin.post(f"/periods/{period.id}/reopen").status_code == 302
    assert _rows(app, Period)[0].status == "open"


def test_closing_locks_every_assessment_and_reopening_restores_them(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    admin = client_for(world.admin1)
    period = admin.api("POST", "/api/v1/periods", json={"year": 2026, "month": 5}).get_json()
    head = client_for(world.head_a)
    draft = head.api(
        "POST", "/api/v1/self-assessments", json={"year": 2026, "month": 5, "programme": "store"}
    ).get_json()
    assert admin.api("POST", f"/api/v1/periods/{period['id']}/close").status_code == 200
    row = _rows(app, SelfAssessment, SelfAssessment.id == draft["id"])[0]
    assert row.status == SelfAssessment.LOCKED
    locks = _rows(app, AuditEntry, AuditEntry.action == "self_assessment.lock")
    assert [(e.before, e.after["status"]) for e in locks] == [({"status": "draft"}, "locked")]

    # Nothing starts in a closed month either.
    refused = head.api(
        "POST", "/api/v1/self-assessments", json={"year": 2026, "month": 5, "programme": "canteen"}
    )
    assert refused.status_code == 409 and "锁定" in refused.get_json()["message"]

    assert admin.api("POST", f"/api/v1/periods/{period['id']}/reopen").status_code == 200
    assert _rows(app, SelfAssessment, SelfAssessment.id == draft["id"])[0].status == "draft"


def test_school_overview_reminds_within_three_days_and_after_the_deadline(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    admin = client_for(world.admin1)
    admin.api("POST", "/api/v1/periods", json={"year": 2026, "month": 4})
    admin.api("POST", "/api/v1/periods", json={"year": 2026, "month": 3})
    today = local_today()
    with app.app_context(), unscoped("tests: move deadlines"):
        db.session.execute(
            update(Period).where(Period.month == 4).values(deadline=today + timedelta(days=2))
        )
        db.session.execute(
            update(Period).where(Period.month == 3).values(deadline=today - timedelta(days=1))
        )
        db.session.commit()
    page = client_for(world.head_a).get("/self-assessments").get_data(as_text=True)
    assert "还剩 2 天" in page
    assert "已逾期 1 天" in page
    # A day school is not asked for the dormitory programme.
    april = page.split('id="period-2026-4"')[1].split("</section>")[0]
    assert "文明食堂" in april and "绿化创建" in april and "文化宿舍" not in april

    with app.app_context(), unscoped("tests: move deadlines"):
        db.session.execute(
            update(Period).where(Period.month == 4).values(deadline=today + timedelta(days=10))
        )
        db.session.commit()
    page = client_for(world.head_a).get("/self-assessments").get_data(as_text=True)
    assert "还剩" not in page
