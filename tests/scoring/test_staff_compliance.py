"""Staff compliance (持证上岗、证书到期、五员制), the health-certificate share, the daily
job, and training sessions with their coverage figures."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from district.extensions import db
from scoring.models import DistrictSettings
from scoring.staff_models import Certificate, StaffMember, TrainingAttendance, TrainingSession
from tenants.scope import Scope, unscoped, use_scope

ON = date(2026, 11, 15)


class Roster:
    """A small hand-built school A (district 1) on 2026-11-15:

    - 甲 operator, 健康证 valid to 2027-05-01, role 食堂操作员
    - 乙 operator, no 健康证 at all
    - 丙 operator, 健康证 expiring 2026-11-25 (in 10 days), role 营养指导员
    - 丁 operator, 健康证 expired 2026-11-10 (5 days ago)
    - 戊 会计 designated 伙食成本监管员 (so canteen staff), 健康证 valid
    - 己 保安, 消防证 expired but renewed (no issue); not canteen staff
    - 庚 inactive operator without certificate (ignored)
    Unfilled five roles: 卫生监督员, 伙食质量评判员. Valid share: 3 of 5.
    """

    def __init__(self, factories: Any, world: Any) -> None:
        self.f, self.world = factories, world
        a = world.a
        self.jia = self.person(
            a, "甲", "食堂操作员", ["食堂操作员"], [("健康证", "J1", date(2027, 5, 1))]
        )
        self.yi = self.person(a, "乙", "食堂操作员", [], [])
        self.bing = self.person(
            a, "丙", "食堂操作员", ["营养指导员"], [("健康证", "J3", ON + timedelta(days=10))]
        )
        self.ding = self.person(
            a, "丁", "食堂操作员", [], [("健康证", "J4", ON - timedelta(days=5))]
        )
        self.wu = self.person(a, "戊", "会计", ["伙食成本监管员"], [("健康证", "J5", None)])
        self.ji = self.person(
            a,
            "己",
            "保安",
            [],
            [("消防证", "F1", date(2026, 1, 1)), ("消防证", "F2", date(2029, 1, 1))],
        )
        self.geng = self.person(a, "庚", "食堂操作员", ["卫生监督员"], [], active=False)

    def person(
        self,
        school: Any,
        name: str,
        post: str,
        roles: list[str],
        certs: list[tuple[str, str, date | None]],
        active: bool = True,
    ) -> StaffMember:
        person = self.f._save(
            StaffMember(
                district_id=school.district_id,
                school_id=school.id,
                name=name,
                post=post,
                employment_type="合同工",
                phone="13700001111",
                five_roles=roles,
                active=active,
            )
        )
        for kind, number, expires in certs:
            self.f._save(
                Certificate(
                    district_id=school.district_id,
                    school_id=school.id,
                    staff_id=person.id,
                    kind=kind,
                    number=number,
                    expires_on=expires,
                )
            )
        return person


@pytest.fixture()
def roster(factories: Any, world: Any) -> Roster:
    return Roster(factories, world)


def test_compliance_lists_of_a_hand_built_school(app: Any, world: Any, roster: Roster) -> None:
    from scoring.staff import compliance

    with app.app_context(), use_scope(Scope.for_schools(world.d1.id, {world.a.id})):
        [r] = compliance(ON)
    assert (r.school_id, r.staff_count, r.canteen_staff, r.canteen_with_health) == (
        world.a.id,
        6,
        5,
        3,
    )
    assert [(i.name, i.reason, i.expired_on) for i in r.missing_health] == [
        ("丁", "健康证已过期", date(2026, 11, 10)),
        ("乙", "无健康证", None),
    ]
    assert [(c.name, c.kind, c.number, c.days_left) for c in r.expiring] == [
        ("丙", "健康证", "J3", 10)
    ]
    assert [(c.name, c.kind, c.number, c.days_left) for c in r.expired] == [
        ("丁", "健康证", "J4", -5)
    ]
    assert r.unfilled_roles == ["卫生监督员", "伙食质量评判员"]
    assert r.health_share == Decimal("0.6")


def test_health_certificate_share_exact_values(app: Any, world: Any, roster: Roster) -> None:
    from scoring.staff import health_cert_share_for_month, health_certificate_share

    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        assert health_certificate_share(world.a.id, ON) == Decimal(3) / Decimal(5)
        # On the 25th 丙's certificate still holds; on the 26th it does not.
        assert health_certificate_share(world.a.id, date(2026, 11, 25)) == Decimal("0.6")
        assert health_certificate_share(world.a.id, date(2026, 11, 26)) == Decimal("0.4")
        # Before 丁's expired, four of five were valid.
        assert health_certificate_share(world.a.id, date(2026, 11, 1)) == Decimal("0.8")
        # The month's value needs certificates valid to the month's last day.
        assert health_cert_share_for_month(world.a.id, 2026, 11) == Decimal("0.4")
        assert health_certificate_share(world.b.id, ON) is None  # no canteen staff
    # Out of scope: a school user of B sees no canteen staff of A at all.
    with app.app_context(), use_scope(Scope.for_schools(world.d1.id, {world.b.id})):
        assert health_certificate_share(world.a.id, ON) is None


def test_compliance_api_page_district_table_and_export(
    world: Any, roster: Roster, client_for: Any
) -> None:
    head = client_for(world.head_a)
    body = head.api("get", f"/api/v1/staff/compliance?on={ON}").get_json()
    [school] = body["schools"]
    assert school["health_share"] == "0.6000"
    assert [i["name"] for i in school["missing_health"]] == ["丁", "乙"]
    assert [c["expires_on"] for c in school["expiring"]] == ["2026-11-25"]
    assert school["unfilled_roles"] == ["卫生监督员", "伙食质量评判员"]
    assert "13700001111" not in str(body)
    assert head.api("get", f"/api/v1/staff/compliance?school_id={world.b.id}").status_code == 404
    assert head.api("get", "/api/v1/staff/compliance?on=2026-13-01").status_code == 422

    page = head.get(f"/staff/compliance?on={ON}").get_data(as_text=True)
    assert "60.00%" in page and "卫生监督员、伙食质量评判员" in page and "无健康证" in page

    admin = client_for(world.admin1)
    table = admin.get(f"/staff/compliance?on={ON}").get_data(as_text=True)
    assert f"/staff/compliance?school_id={world.a.id}" in table and "乙校-SECRET-B" in table
    api_all = admin.api("get", f"/api/v1/staff/compliance?on={ON}").get_json()
    assert [(s["school_code"], len(s["missing_health"])) for s in api_all["schools"]] == [
        ("A01", 2),
        ("B01", 0),
    ]
    drill = admin.get(f"/staff/compliance?school_id={world.a.id}&on={ON}")
    assert drill.status_code == 200 and "丙" in drill.get_data(as_text=True)
    assert admin.get(f"/staff/compliance?school_id={world.c.id}").status_code == 404

    wb = load_workbook(io.BytesIO(admin.get(f"/staff/compliance?on={ON}&format=xlsx").data))
    summary = [list(r) for r in wb["汇总"].iter_rows(min_row=2, values_only=True)]
    assert summary[0][:9] == ["A01", "甲校-SECRET-A", 6, 5, 3, 0.6, 2, 1, 1]
    details = [r[2] for r in wb["明细"].iter_rows(min_row=2, values_only=True)]
    assert details.count("五员制空缺：卫生监督员") == 1 and "证书30天内到期" in details

    # The roster page of the school shows the same counts.
    roster_page = head.get("/staff").get_data(as_text=True)
    assert "五员制空缺：卫生监督员、伙食质量评判员" in roster_page

    inspector = client_for(world.inspector1)
    listed = inspector.api("get", "/api/v1/staff/compliance").get_json()["schools"]
    assert [s["school_code"] for s in listed] == ["A01"]


def test_daily_job_stores_a_summary_idempotently(
    app: Any, world: Any, roster: Roster, drain_jobs: Any
) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["staff-compliance", "--on", ON.isoformat()])
    assert result.exit_code == 0, result.output
    assert "2 district(s)" in result.output
    drain_jobs()

    def stored() -> dict[int, Any]:
        with app.app_context(), unscoped("tests: read stored summaries"):
            rows = db.session.scalars(select(DistrictSettings)).all()
            out = {s.district_id: dict(s.staff or {}) for s in rows}
            db.session.rollback()
            return out

    first = stored()
    summary = first[world.d1.id]["compliance"]
    assert summary["on"] == "2026-11-15"
    assert summary["totals"] == {
        "schools": 2,
        "canteen_staff": 5,
        "with_health": 3,
        "missing_health": 2,
        "expiring": 1,
        "expired": 1,
        "canteens_with_unfilled_roles": 1,
    }
    assert summary["schools"][str(world.a.id)]["unfilled_roles"] == ["卫生监督员", "伙食质量评判员"]
    assert first[world.d2.id]["compliance"]["totals"]["canteen_staff"] == 0
    assert "甲" not in str(summary)  # counts only, no personal data

    assert runner.invoke(args=["staff-compliance", "--on", ON.isoformat()]).exit_code == 0
    drain_jobs()
    again = stored()[world.d1.id]["compliance"]
    assert {k: v for k, v in again.items() if k != "computed_at"} == {
        k: v for k, v in summary.items() if k != "computed_at"
    }
    assert runner.invoke(args=["staff-compliance", "--on", "15/11/2026"]).exit_code != 0


def test_compute_compliance_refuses_a_foreign_scope(app: Any, world: Any) -> None:
    from scoring.staff_jobs import compute_compliance

    with (
        app.app_context(),
        use_scope(Scope.for_district(world.d2.id)),
        pytest.raises(PermissionError),
    ):
        compute_compliance(world.d1.id)


# --- training --------------------------------------------------------------------------------


def _operator(factories: Any, school: Any, name: str, post: str = "食堂操作员") -> StaffMember:
    return factories._save(
        StaffMember(
            district_id=school.district_id,
            school_id=school.id,
            name=name,
            post=post,
            employment_type="合同工",
            five_roles=[],
        )
    )


def test_training_sessions_attendance_and_coverage(
    app: Any, world: Any, client_for: Any, factories: Any
) -> None:
    a1, a2, a3 = (_operator(factories, world.a, n) for n in ("甲一", "甲二", "甲三"))
    b1 = _operator(factories, world.b, "乙一")
    guard = _operator(factories, world.b, "乙保安", post="保安")
    c1 = _operator(factories, world.c, "丙一")
    admin = client_for(world.admin1)

    resp = admin.api(
        "post",
        "/api/v1/trainings",
        json={"held_on": "2026-03-05", "topic": "食品安全培训", "organiser": "后勤办", "hours": 3},
    )
    assert resp.status_code == 201
    this_year = resp.get_json()["id"]
    url = f"/api/v1/trainings/{this_year}/attendees"
    resp = admin.api("post", url, json={"staff_ids": [a1.id, b1.id, guard.id]})
    assert resp.status_code == 200
    assert sorted(p["name"] for p in resp.get_json()["attendees"]) == ["乙一", "乙保安", "甲一"]
    # Another district's person does not exist here: nothing is added.
    assert admin.api("post", url, json={"staff_ids": [a2.id, c1.id]}).status_code == 422
    assert admin.api("post", url, json={"staff_ids": []}).status_code == 422
    assert admin.api("post", "/api/v1/trainings", json={"topic": "无日期"}).status_code == 422

    # Page: last year's session, attended by 甲二 (does not count for this year).
    resp = admin.post("/trainings", data={"held_on": "2025-12-20", "topic": "去年的培训"})
    assert resp.status_code == 302
    last_year = int(resp.headers["Location"].rsplit("/", 1)[1])
    resp = admin.post(f"/trainings/{last_year}/attendees", data={"staff_ids": [str(a2.id)]})
    assert resp.status_code == 302

    cov = admin.api("get", "/api/v1/trainings/coverage?year=2026").get_json()
    assert cov["total"] == {
        "school_id": None,
        "school_code": "",
        "school_name": "合计",
        "operators": 4,
        "trained": 2,
        "share": "0.5000",
    }
    assert [(r["school_code"], r["operators"], r["trained"], r["share"]) for r in cov["rows"]] == [
        ("A01", 3, 1, "0.3333"),
        ("B01", 1, 1, "1.0000"),
    ]
    assert (
        admin.api("get", "/api/v1/trainings/coverage?year=2025").get_json()["total"]["trained"] == 1
    )
    page = admin.get("/trainings/coverage?year=2026").get_data(as_text=True)
    assert "50.00%" in page and "33.33%" in page

    # Attendance shows on each person, for their own school too.
    head = client_for(world.head_a)
    one = head.api("get", f"/api/v1/staff/{a1.id}").get_json()
    assert [t["topic"] for t in one["trainings"]] == ["食品安全培训"]
    assert "食品安全培训" in head.get(f"/staff/{a1.id}").get_data(as_text=True)
    assert head.api("get", f"/api/v1/trainings/{this_year}").status_code == 403
    assert head.get("/trainings").status_code == 403

    listed = client_for(world.viewer1).api("get", "/api/v1/trainings").get_json()
    assert [(t["topic"], t["attendee_count"]) for t in listed] == [
        ("食品安全培训", 3),
        ("去年的培训", 1),
    ]
    assert client_for(world.admin2).api("get", f"/api/v1/trainings/{this_year}").status_code == 404

    # Remove one attendee, then the Excel exports.
    resp = admin.post(
        f"/trainings/{this_year}/attendees?action=remove", data={"staff_id": str(guard.id)}
    )
    assert resp.status_code == 302
    wb = load_workbook(io.BytesIO(admin.get(f"/trainings/{this_year}?format=xlsx").data))
    assert sorted(r[2] for r in wb["参训人员"].iter_rows(min_row=2, values_only=True)) == [
        "乙一",
        "甲一",
    ]
    wb = load_workbook(io.BytesIO(admin.get("/trainings/export.xlsx").data))
    assert [r[1] for r in wb["培训"].iter_rows(min_row=2, values_only=True)] == [
        "食品安全培训",
        "去年的培训",
    ]
    wb = load_workbook(io.BytesIO(admin.get("/trainings/coverage?year=2026&format=xlsx").data))
    assert list(wb.active.iter_rows(min_row=4, values_only=True))[0] == (None, "合计", 4, 2, 0.5)


def test_training_page_picks_schools_then_people(
    world: Any, client_for: Any, factories: Any
) -> None:
    _operator(factories, world.a, "甲操作员")
    _operator(factories, world.b, "乙操作员")
    admin = client_for(world.admin1)
    resp = admin.post("/trainings", data={"held_on": "2026-04-01", "topic": "五员制职责"})
    session_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    page = admin.get(f"/trainings/{session_id}?school_ids={world.b.id}").get_data(as_text=True)
    assert "乙操作员" in page and "甲操作员" not in page
    assert admin.post("/trainings", data={"topic": "缺日期"}).status_code == 422
    assert (
        client_for(world.viewer1)
        .post("/trainings", data={"held_on": "2026-04-01", "topic": "x"})
        .status_code
        == 403
    )


def _sheet(rows: list[list[Any]]) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.title = "参训人员"
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


def test_attendee_import_by_school_code_and_name_is_all_or_nothing(
    app: Any, world: Any, client_for: Any, factories: Any
) -> None:
    a1 = _operator(factories, world.a, "王芳")
    _operator(factories, world.b, "李娜")
    _operator(factories, world.b, "李娜")  # two of the same name at school B
    _operator(factories, world.c, "陈丽")
    with app.app_context(), unscoped("tests: fixture"):
        session = TrainingSession(
            district_id=world.d1.id, held_on=date(2026, 5, 1), topic="导入测试"
        )
        db.session.add(session)
        db.session.commit()
        session_id = session.id
    admin = client_for(world.admin1)

    def upload(rows: list[list[Any]]) -> Any:
        return admin.post(
            f"/trainings/{session_id}/attendees/import",
            data={"file": (_sheet(rows), "a.xlsx")},
            content_type="multipart/form-data",
        )

    resp = upload(
        [["学校代码", "姓名"], ["A01", "王芳"], ["B01", "李娜"], ["C01", "陈丽"], ["A01", "无名"]]
    )
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "有多名“李娜”" in html and "学校代码“C01”不存在" in html and "没有在职人员“无名”" in html

    def attendance() -> list[int]:
        with app.app_context(), unscoped("tests: read attendance"):
            return sorted(db.session.scalars(select(TrainingAttendance.staff_id)))

    assert attendance() == []
    assert upload([["学校代码", "姓名"], ["A01", "王芳"]]).status_code == 302
    assert attendance() == [a1.id]


def test_health_certificate_share_prefills_the_canteen_indicator(app, world) -> None:  # noqa: ANN001
    """The canteen rubric's measured indicator takes its value from the roster."""
    from datetime import date
    from decimal import Decimal

    from district.extensions import db
    from scoring.assessments import derived_measure
    from scoring.staff_models import Certificate, StaffMember
    from tenants.models import School
    from tenants.scope import Scope, use_scope

    with app.app_context(), use_scope(Scope.for_schools(world.d1.id, {world.a.id})):
        for i, valid in enumerate((True, True, False)):
            person = StaffMember(
                school_id=world.a.id,
                name=f"操作员{i}",
                post="食堂操作员",
                employment_type="合同工",
                five_roles=[],
            )
            db.session.add(person)
            db.session.flush()
            if valid:
                db.session.add(
                    Certificate(
                        school_id=world.a.id,
                        staff_id=person.id,
                        kind="健康证",
                        number=f"H{i}",
                        expires_on=date(2027, 1, 1),
                    )
                )
        db.session.flush()
        school = db.session.get(School, world.a.id)
        assert derived_measure(school, "health_cert_share", 2026, 11) == Decimal("0.6667")
        db.session.rollback()
