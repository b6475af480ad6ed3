"""Dashboard staff panels: certificate compliance and training coverage, district-only."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from district.extensions import db
from scoring.staff_models import Certificate, StaffMember, TrainingAttendance, TrainingSession
from tenants.scope import unscoped


def test_certificate_and_training_panels(app: Any, world: Any, client_for: Any) -> None:
    today = date.today()
    with app.app_context(), unscoped("tests: staff fixtures"):

        def person(school: Any, name: str) -> StaffMember:
            p = StaffMember(
                district_id=school.district_id,
                school_id=school.id,
                name=name,
                post="食堂操作员",
                employment_type="合同工",
                five_roles=[],
            )
            db.session.add(p)
            db.session.flush()
            return p

        ok = person(world.a, "持证甲")
        missing = person(world.a, "无证乙")
        person(world.c, "外区丙-SECRET-C")
        db.session.add(
            Certificate(
                district_id=world.d1.id,
                school_id=world.a.id,
                staff_id=ok.id,
                kind="健康证",
                number="J1",
                expires_on=today + timedelta(days=10),
            )
        )
        session = TrainingSession(district_id=world.d1.id, held_on=today, topic="食品安全培训")
        db.session.add(session)
        db.session.flush()
        db.session.add(
            TrainingAttendance(
                district_id=world.d1.id,
                school_id=world.a.id,
                session_id=session.id,
                staff_id=missing.id,
            )
        )
        db.session.commit()
    admin = client_for(world.admin1)
    panels = {p["key"]: p for p in admin.api("GET", "/api/v1/dashboard").get_json()["panels"]}
    cert = panels["certificates"]
    row = next(r for r in cert["rows"] if r[0] == "甲校-SECRET-A")
    assert row[1:6] == [2, 1, 50.0, 1, 0]  # 2 canteen staff, 1 without, 50 %, 1 expiring
    assert "SECRET-C" not in str(cert)
    training = panels["training"]
    assert training["rows"][-1] == ["合计", 2, 1, 50.0]
    assert training["figure"]["data"][0]["value"] == 50.0
