"""Home pages per role: the school head is reminded of self-assessments due soon."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from district.extensions import db
from scoring.assessments import local_today
from scoring.models import Period
from scoring.rubrics import ensure_default_rubrics
from tenants.scope import Scope, use_scope


def test_school_head_home_reminds_of_deadline(app: Any, world: Any, client_for: Any) -> None:
    today = local_today()
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        ensure_default_rubrics()
        db.session.add(
            Period(year=today.year, month=today.month, deadline=today + timedelta(days=2))
        )
        db.session.commit()
    html = client_for(world.head_a).get("/").get_data(as_text=True)
    assert "还剩 2 天" in html
    assert "文明食堂" in html and "文化宿舍" not in html  # a day school has no dormitory programme


def test_no_reminder_when_deadline_is_far(app: Any, world: Any, client_for: Any) -> None:
    today = local_today()
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        ensure_default_rubrics()
        db.session.add(
            Period(year=today.year, month=today.month, deadline=today + timedelta(days=20))
        )
        db.session.commit()
    html = client_for(world.head_a).get("/").get_data(as_text=True)
    assert "待提交" in html and "还剩" not in html
