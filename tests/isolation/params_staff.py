"""Foreign-object providers for the staff routes (staff_id, certificate_id, training_id).

People and certificates belong to a school (a, b, c); district 1 itself owns none.
Training sessions belong to a district: inside district 1 they are not secret from
its schools' users, so a/b give None; d1 and c give a session of district 1 / 2, each
attended by that district's people so attendee lists carry the owners' markers.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from district.extensions import db
from tenants.scope import unscoped


def _school(ctx: Any, owner: str) -> Any:
    return {"a": ctx.world.a, "b": ctx.world.b, "c": ctx.world.c}[owner]


def _staff(ctx: Any, owner: str) -> tuple[int, int]:
    """(staff id, certificate id) of a canteen worker of the owner's school."""
    from scoring.staff_models import Certificate, StaffMember

    def make() -> tuple[int, int]:
        school = _school(ctx, owner)
        marker = ctx.marker(owner)
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            person = StaffMember(
                district_id=school.district_id,
                school_id=school.id,
                name=f"员工-{marker}",
                gender="女",
                post="食堂操作员",
                employment_type="合同工",
                phone="13912345678",
                five_roles=["食堂操作员"],
                note=f"备注-{marker}",
            )
            db.session.add(person)
            db.session.flush()
            cert = Certificate(
                district_id=school.district_id,
                school_id=school.id,
                staff_id=person.id,
                kind="健康证",
                number=f"JK-{marker}",
                issuer=f"疾控中心-{marker}",
                expires_on=date.today() + timedelta(days=10),
            )
            db.session.add(cert)
            db.session.commit()
            return person.id, cert.id

    return ctx.once(("staff", owner), make)


def staff_id(ctx: Any, owner: str) -> int | None:
    return None if owner == "d1" else _staff(ctx, owner)[0]


def certificate_id(ctx: Any, owner: str) -> int | None:
    return None if owner == "d1" else _staff(ctx, owner)[1]


def training_id(ctx: Any, owner: str) -> int | None:
    from scoring.staff_models import TrainingAttendance, TrainingSession

    if owner in ("a", "b"):
        return None

    def make() -> int:
        district = ctx.world.d1 if owner == "d1" else ctx.world.d2
        attendees = ["a", "b"] if owner == "d1" else ["c"]
        people = [(_school(ctx, o), _staff(ctx, o)[0]) for o in attendees]
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            session = TrainingSession(
                district_id=district.id,
                held_on=date.today(),
                topic=f"食品安全培训-{ctx.marker(owner)}",
                organiser=f"后勤办-{ctx.marker(owner)}",
                hours=3,
                location="报告厅",
            )
            db.session.add(session)
            db.session.flush()
            for school, person_id in people:
                db.session.add(
                    TrainingAttendance(
                        district_id=district.id,
                        school_id=school.id,
                        session_id=session.id,
                        staff_id=person_id,
                    )
                )
            db.session.commit()
            return session.id

    return ctx.once(("training", owner), make)


PARAMS = {
    "staff_id": staff_id,
    "certificate_id": certificate_id,
    "training_id": training_id,
}
