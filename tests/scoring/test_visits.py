"""Site visits (督查) and findings (整改): recording, the evidence rule, rectification,
optimistic concurrency, recomputation requests, roles and the Excel export."""

from __future__ import annotations

import io
import os
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from district.audit import AuditEntry
from district.extensions import db
from district.jobs import JobRecord
from scoring.models import Evidence, Finding, SchoolMonthResult, SiteVisit, VisitScore
from tenants.models import Role, School
from tenants.scope import Scope, unscoped, use_scope

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
TODAY = date.today()


@pytest.fixture()
def setup(app: Any, world: Any, factories: Any) -> Any:
    """District 1 with the default rubrics; school A gets areas (green ratio 0.43)."""
    from scoring.rubrics import ensure_default_rubrics

    with app.app_context():
        with use_scope(Scope.for_district(world.d1.id)):
            ensure_default_rubrics()
        with unscoped("tests: school areas"):
            school = db.session.get(School, world.a.id)
            school.campus_area = Decimal("10000")
            school.green_area = Decimal("4300")
        db.session.commit()
    world.inspector2 = factories.user(
        Role.INSPECTOR, world.d1, zones=[world.z1], username="inspector2"
    )
    return world


def _sheet(app: Any, world: Any, school_id: int, day: date = TODAY) -> dict[str, list]:
    from scoring.visits import scoring_sheet

    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        school = db.session.get(School, school_id)
        out = {
            s.programme: [
                (i.code, i.kind, Decimal(i.max_points), i.checklist, i.curve, i.measure)
                for i in s.indicators
            ]
            for s in scoring_sheet(school, day.year, day.month)
        }
        db.session.rollback()
    return out


def _full(sheet: dict[str, list], programmes: tuple[str, ...], **override: dict) -> list[dict]:
    """Full marks for every indicator of the programmes; ``override`` by 'programme.code'."""
    items = []
    for programme in programmes:
        for code, kind, maximum, checklist, curve, measure in sheet[programme]:
            item: dict[str, Any] = {"programme": programme, "indicator_code": code}
            if kind == "judged":
                item["points"] = float(maximum)
            elif kind == "checklist":
                item["ticks"] = list(range(len(checklist)))
            elif kind == "measured":
                if measure != "green_ratio":  # the green ratio comes from the school's areas
                    item["value"] = max(curve, key=lambda c: c[1])[0]
            else:
                item["triggered"] = False
            item.update(override.get(f"{programme}.{code}", {}))
            items.append(item)
    return items


def _count(app: Any, model: Any, *where: Any) -> int:
    with app.app_context(), unscoped("tests: read back"):
        n = len(db.session.scalars(select(model).where(*where)).all())
        db.session.rollback()
    return n


def _create(client: Any, school_id: int, scores: list[dict], **extra: Any) -> Any:
    body = {"school_id": school_id, "scores": scores, "notes": "现场查看食堂和绿化", **extra}
    return client.api("POST", "/api/v1/visits", json=body)


def _visit_with_finding(app: Any, world: Any, client_for: Any, **finding: Any) -> tuple[int, int]:
    inspector = client_for(world.inspector1)
    visit = _create(inspector, world.a.id, [], visited_on=(TODAY - timedelta(days=20)).isoformat())
    assert visit.status_code == 201, visit.get_json()
    body = {"description": "留样记录不全", "deadline": (TODAY + timedelta(days=7)).isoformat()}
    body.update(finding)
    resp = inspector.api("POST", f"/api/v1/visits/{visit.get_json()['id']}/findings", json=body)
    assert resp.status_code == 201, resp.get_json()
    return visit.get_json()["id"], resp.get_json()["id"]


def test_inspector_records_visit_with_two_programmes_and_a_finding(
    app: Any, setup: Any, client_for: Any
) -> None:
    world = setup
    sheet = _sheet(app, world, world.a.id)
    assert "dormitory" not in sheet  # school A is not a boarding school
    inspector = client_for(world.inspector1)
    scores = _full(sheet, ("canteen", "greening"), **{"canteen.A1": {"points": 3.5}})
    resp = _create(inspector, world.a.id, scores)
    assert resp.status_code == 201, resp.get_json()
    visit = resp.get_json()
    assert visit["visited_on"] == TODAY.isoformat()
    assert (visit["year"], visit["month"]) == (TODAY.year, TODAY.month)
    assert {p["programme"] for p in visit["programme_scores"]} == {"canteen", "greening"}
    by_code = {(s["programme"], s["indicator_code"]): s for s in visit["scores"]}
    assert by_code[("canteen", "A1")]["points"] == "3.50"
    # Green ratio 0.43 from the school's areas, above the top of the curve: full 15 points.
    assert by_code[("greening", "A1")]["value"] == "0.4300"
    assert by_code[("greening", "A1")]["points"] == "15.00"
    canteen = next(p for p in visit["programme_scores"] if p["programme"] == "canteen")
    total = sum(m for _c, k, m, *_ in sheet["canteen"] if k != "veto")
    expected = (total - Decimal("0.5")) * 100 / total
    assert Decimal(canteen["score"]) == expected.quantize(Decimal("0.01"))
    assert _count(app, VisitScore, VisitScore.visit_id == visit["id"]) == len(
        sheet["canteen"]
    ) + len(sheet["greening"])

    finding = inspector.api(
        "POST",
        f"/api/v1/visits/{visit['id']}/findings",
        json={
            "description": "留样冰箱未上锁",
            "programme": "canteen",
            "indicator_code": "B4",
            "deadline": (TODAY + timedelta(days=10)).isoformat(),
        },
    )
    assert finding.status_code == 201, finding.get_json()
    assert finding.get_json()["status"] == "open"
    shown = inspector.api("GET", f"/api/v1/visits/{visit['id']}").get_json()
    assert [f["description"] for f in shown["findings"]] == ["留样冰箱未上锁"]
    actions = {
        a
        for (a,) in _rows(app, select(AuditEntry.action).where(AuditEntry.school_id == world.a.id))
    }
    assert {"visit.create", "finding.create"} <= actions
    # The visit page and the inspector's list show it.
    page = inspector.get(f"/visits/{visit['id']}").get_data(as_text=True)
    assert "留样冰箱未上锁" in page and "文明食堂" in page
    assert "甲校-SECRET-A" in inspector.get("/visits").get_data(as_text=True)


def _rows(app: Any, stmt: Any) -> list:
    with app.app_context(), unscoped("tests: read back"):
        rows = db.session.execute(stmt).all()
        db.session.rollback()
    return rows


def test_low_score_needs_a_photo_or_a_reason(app: Any, setup: Any, client_for: Any) -> None:
    world = setup
    sheet = _sheet(app, world, world.a.id)
    inspector = client_for(world.inspector1)
    low = {"canteen.A1": {"points": 2}, "canteen.A3": {"ticks": [0]}}  # 2/4 and 1/3: below 60 %
    resp = _create(inspector, world.a.id, _full(sheet, ("canteen",), **low))
    assert resp.status_code == 422
    errors = resp.get_json()["errors"]["json"]["scores"]
    assert set(errors) == {"canteen.A1", "canteen.A3"}
    assert "60%" in errors["canteen.A1"][0] and "原因" in errors["canteen.A1"][0]
    assert _count(app, SiteVisit) == 0

    # Exactly 60 % is not below it (greening A4: 3 of 5); a reason satisfies the rule.
    ok = {
        "canteen.A1": {"points": 2.5},
        "canteen.A3": {"ticks": [0], "reason": "未设专用保洁柜，消毒记录缺失"},
        "greening.A4": {"points": 3},
    }
    resp = _create(inspector, world.a.id, _full(sheet, ("canteen", "greening"), **ok))
    assert resp.status_code == 201, resp.get_json()
    a3 = next(
        s
        for s in resp.get_json()["scores"]
        if (s["programme"], s["indicator_code"]) == ("canteen", "A3")
    )
    assert (a3["points"], a3["ticks"], a3["low"]) == ("1.00", [0], True)

    # A programme is scored completely, and a triggered veto needs evidence too.
    partial = _full(sheet, ("canteen",))[:-3]
    resp = _create(inspector, world.a.id, partial)
    assert resp.status_code == 422
    assert "尚未评分" in resp.get_json()["errors"]["json"]["scores"]["canteen"][0]
    veto = _create(
        inspector, world.a.id, _full(sheet, ("canteen",), **{"canteen.C5": {"triggered": True}})
    )
    assert veto.status_code == 422
    assert "一票否决" in veto.get_json()["errors"]["json"]["scores"]["canteen.C5"][0]


def _form_data(school_id: int, sheet: dict, programme: str, **override: dict) -> dict[str, Any]:
    """The phone form's fields for one fully scored programme."""
    data: dict[str, Any] = {"school_id": str(school_id), "visited_on": TODAY.isoformat()}
    data["programmes"] = [programme]
    for item in _full(sheet, (programme,), **override):
        key = f"{programme}-{item['indicator_code']}"
        if "points" in item:
            data[f"p-{key}"] = str(item["points"])
        if "ticks" in item:
            data[f"t-{key}"] = [str(t) for t in item["ticks"]]
        if "value" in item:
            data[f"v-{key}"] = str(item["value"])
        if "triggered" in item:
            data[f"x-{key}"] = "1" if item["triggered"] else "0"
        if item.get("reason"):
            data[f"r-{key}"] = item["reason"]
    return data


def test_low_score_with_a_photo_from_the_phone_form(app: Any, setup: Any, client_for: Any) -> None:
    world = setup
    sheet = _sheet(app, world, world.a.id)
    inspector = client_for(world.inspector1)
    form = inspector.get(f"/visits/new?school_id={world.a.id}").get_data(as_text=True)
    assert 'capture="environment"' in form and "sticky-save" in form

    data = _form_data(world.a.id, sheet, "store", **{"store.A2": {"points": 1}})
    refused = inspector.post("/visits/new", data=dict(data))
    assert refused.status_code == 422
    assert "放心超市 A2" in refused.get_data(as_text=True)
    data["f-store-A2"] = (io.BytesIO(PNG), "a2.png")
    data["photos"] = (io.BytesIO(PNG), "door.png")
    resp = inspector.post("/visits/new", data=data, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    assert _count(app, Evidence, Evidence.owner_type == "visit_score") == 1
    assert _count(app, Evidence, Evidence.owner_type == "visit") == 1


def test_a_rejected_photo_leaves_no_file_behind(app: Any, setup: Any, client_for: Any) -> None:
    """The first photo is stored before the second is found not to be an image; the form
    is refused, and the first file goes with the rolled-back transaction."""
    world = setup
    sheet = _sheet(app, world, world.a.id)
    inspector = client_for(world.inspector1)
    folder = app.config["UPLOAD_DIR"]
    before = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    data = _form_data(world.a.id, sheet, "store", **{"store.A2": {"points": 1}})
    data["f-store-A2"] = (io.BytesIO(PNG), "a2.png")
    data["photos"] = [(io.BytesIO(PNG), "door.png"), (io.BytesIO(b"MZ not a photo"), "x.exe")]
    resp = inspector.post("/visits/new", data=data, content_type="multipart/form-data")
    assert resp.status_code == 422
    assert "只接受" in resp.get_data(as_text=True)
    assert _count(app, Evidence) == 0
    after = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    assert after == before


def test_a_school_outside_the_inspectors_zones_is_not_found(
    app: Any, setup: Any, client_for: Any
) -> None:
    world = setup
    inspector = client_for(world.inspector1)
    assert _create(inspector, world.b.id, []).status_code == 404
    assert inspector.get(f"/visits/new?school_id={world.b.id}").status_code == 404
    assert inspector.post("/visits/new", data={"school_id": str(world.b.id)}).status_code == 404
    assert _create(inspector, world.c.id, []).status_code == 404
    assert _count(app, SiteVisit) == 0


def test_school_staff_cannot_create_visits(app: Any, setup: Any, client_for: Any) -> None:
    world = setup
    for user in (world.staff_a, world.head_a, world.viewer1):
        client = client_for(user)
        assert _create(client, world.a.id, []).status_code == 403
        assert client.post("/visits/new", data={"school_id": str(world.a.id)}).status_code == 403
    assert _count(app, SiteVisit) == 0


def test_school_answers_with_evidence_then_inspector_closes_and_reopens(
    app: Any, setup: Any, client_for: Any
) -> None:
    world = setup
    visit_id, finding_id = _visit_with_finding(app, world, client_for)
    head, staff = client_for(world.head_a), client_for(world.staff_a)
    inspector = client_for(world.inspector1)

    # The school's page lists it with the answer form.
    page = staff.get("/findings").get_data(as_text=True)
    assert "留样记录不全" in page
    assert "留样记录不全" in head.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert 'id="answer-form"' in staff.get(f"/findings/{finding_id}").get_data(as_text=True)
    # Inspectors cannot answer for the school; schools cannot close.
    assert (
        inspector.api(
            "POST", f"/api/v1/findings/{finding_id}/answer", json={"response": "x"}
        ).status_code
        == 403
    )
    assert head.api("POST", f"/api/v1/findings/{finding_id}/close", json={}).status_code == 403

    resp = staff.post(
        f"/findings/{finding_id}/answer",
        data={"response": "已补齐留样登记表并专人签字", "photos": (io.BytesIO(PNG), "log.png")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    more = head.api(
        "POST",
        f"/api/v1/findings/{finding_id}/evidence",
        data={"file": (io.BytesIO(PNG), "fridge.png")},
        content_type="multipart/form-data",
    )
    assert more.status_code == 201, more.get_json()
    got = head.api("GET", f"/api/v1/findings/{finding_id}").get_json()
    assert got["status"] == "answered"
    assert got["response"] == "已补齐留样登记表并专人签字"
    assert sorted(e["filename"] for e in got["evidence"]) == ["fridge.png", "log.png"]

    closed = inspector.api("POST", f"/api/v1/findings/{finding_id}/close", json={"note": "到位"})
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert (
        staff.api(
            "POST", f"/api/v1/findings/{finding_id}/answer", json={"response": "再答"}
        ).status_code
        == 422
    )

    no_note = inspector.api("POST", f"/api/v1/findings/{finding_id}/reopen", json={})
    assert no_note.status_code == 422
    reopened = inspector.post(f"/findings/{finding_id}/reopen", data={"note": "复查发现仍未签字"})
    assert reopened.status_code == 302
    got = head.api("GET", f"/api/v1/findings/{finding_id}").get_json()
    assert got["status"] == "reopened" and got["reopen_count"] == 1
    again = head.api(
        "POST",
        f"/api/v1/findings/{finding_id}/answer",
        json={"response": "已签字", "version": got["version"]},
    )
    assert again.status_code == 200 and again.get_json()["status"] == "answered"

    actions = [
        a
        for (a,) in _rows(
            app,
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "Finding", AuditEntry.object_id == str(finding_id))
            .order_by(AuditEntry.id),
        )
    ]
    assert actions == [
        "finding.create",
        "finding.answer",
        "finding.evidence",
        "finding.close",
        "finding.reopen",
        "finding.answer",
    ]
    history = staff.get(f"/findings/{finding_id}").get_data(as_text=True)
    assert "复查发现仍未签字" in history


def test_overdue_findings_query(app: Any, setup: Any, client_for: Any) -> None:
    from scoring import visits

    world = setup
    past = (TODAY - timedelta(days=2)).isoformat()
    _v, late_open = _visit_with_finding(app, world, client_for, deadline=past)
    _v, late_answered = _visit_with_finding(app, world, client_for, deadline=past)
    _v, late_closed = _visit_with_finding(app, world, client_for, deadline=past)
    _v, on_time = _visit_with_finding(app, world, client_for)
    client_for(world.head_a).api(
        "POST", f"/api/v1/findings/{late_answered}/answer", json={"response": "已整改"}
    )
    client_for(world.inspector1).api("POST", f"/api/v1/findings/{late_closed}/close", json={})

    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        assert [f.id for f in visits.overdue_findings(TODAY)] == [late_open, late_answered]
        assert (
            visits.overdue_findings(TODAY - timedelta(days=2)) == []
        )  # the deadline day is not late
        later = {f.id for f in visits.overdue_findings(TODAY + timedelta(days=30))}
        assert later == {late_open, late_answered, on_time}
    with app.app_context(), use_scope(Scope.for_schools(world.d1.id, {world.b.id})):
        assert visits.overdue_findings(TODAY) == []  # scoped like everything else

    listed = client_for(world.admin1).api("GET", "/api/v1/findings?overdue=true").get_json()
    assert sorted(f["id"] for f in listed) == sorted([late_open, late_answered])
    assert all(f["overdue"] for f in listed)
    answered = client_for(world.admin1).api("GET", "/api/v1/findings?status=answered").get_json()
    assert [f["id"] for f in answered] == [late_answered]
    assert (
        client_for(world.admin1).api("GET", "/api/v1/findings?status=nonsense").status_code == 422
    )


def test_stale_edit_is_refused_with_409(app: Any, setup: Any, client_for: Any) -> None:
    world = setup
    sheet = _sheet(app, world, world.a.id)
    inspector = client_for(world.inspector1)
    created = _create(inspector, world.a.id, _full(sheet, ("greening",))).get_json()
    first = inspector.api(
        "PUT",
        f"/api/v1/visits/{created['id']}",
        json={
            "version": created["version"],
            "scores": _full(sheet, ("greening",), **{"greening.B1": {"points": 4}}),
        },
    )
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["version"] == created["version"] + 1  # a scores-only change counts
    stale = inspector.api(
        "PUT", f"/api/v1/visits/{created['id']}", json={"version": created["version"], "notes": "x"}
    )
    assert stale.status_code == 409
    form = inspector.post(
        f"/visits/{created['id']}/edit",
        data={"version": str(created["version"]), "visited_on": TODAY.isoformat(), "notes": "y"},
    )
    assert form.status_code == 409
    # Another inspector of the same zone may read it but not edit it.
    other = client_for(world.inspector2)
    assert other.api("GET", f"/api/v1/visits/{created['id']}").status_code == 200
    assert (
        other.api(
            "PUT", f"/api/v1/visits/{created['id']}", json={"version": first.get_json()["version"]}
        ).status_code
        == 403
    )
    with app.app_context(), unscoped("tests: read back"):
        visit = db.session.get(SiteVisit, created["id"])
        b1 = next(s for s in visit.scores if s.indicator_code == "B1")
        assert (visit.notes, b1.points) == ("现场查看食堂和绿化", Decimal("4.00"))
        assert (
            db.session.scalars(select(AuditEntry).where(AuditEntry.action == "visit.scores"))
            .one()
            .before["greening.B1"]["points"]
            == "5.00"
        )
        db.session.rollback()


def test_recompute_requested_for_the_month_and_the_next_three(
    app: Any, setup: Any, client_for: Any, drain_jobs: Any
) -> None:
    world = setup
    day = date(TODAY.year - 1, 11, 20)
    sheet = _sheet(app, world, world.a.id, day)
    resp = _create(
        client_for(world.inspector1),
        world.a.id,
        _full(sheet, ("canteen",)),
        visited_on=day.isoformat(),
    )
    assert resp.status_code == 201, resp.get_json()
    with app.app_context(), unscoped("tests: read back"):
        records = db.session.scalars(
            select(JobRecord).where(JobRecord.func == "scoring.jobs:recompute_school_months")
        ).all()
        assert len(records) == 1
        district_id, items = records[0].args
        db.session.rollback()
    y = day.year
    assert district_id == world.d1.id
    assert items == [
        [world.a.id, y, 11],
        [world.a.id, y, 12],
        [world.a.id, y + 1, 1],
        [world.a.id, y + 1, 2],
    ]


def test_delete_only_by_district_admin(app: Any, setup: Any, client_for: Any) -> None:
    world = setup
    visit_id, finding_id = _visit_with_finding(app, world, client_for)
    assert (
        client_for(world.inspector1).api("DELETE", f"/api/v1/visits/{visit_id}").status_code == 403
    )
    assert client_for(world.viewer1).post(f"/visits/{visit_id}/delete").status_code == 403
    assert client_for(world.admin1).api("DELETE", f"/api/v1/visits/{visit_id}").status_code == 204
    assert _count(app, SiteVisit) == 0 and _count(app, Finding) == 0
    assert _count(app, AuditEntry, AuditEntry.action == "visit.delete") == 1


def test_deleting_a_visit_clears_the_results_that_name_it(
    app: Any, setup: Any, client_for: Any
) -> None:
    # school_month_results.visit_id has no foreign key (a derived table, rewritten by every
    # recomputation): the deletion itself must not leave results naming a missing visit.
    world = setup
    visit_id, _finding = _visit_with_finding(app, world, client_for)
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        visit = db.session.get(SiteVisit, visit_id)
        for programme in ("canteen", "overall"):
            db.session.add(
                SchoolMonthResult(
                    school_id=world.a.id,
                    year=visit.year,
                    month=visit.month,
                    programme=programme,
                    score=Decimal("80"),
                    stars=3,
                    visit_id=visit_id if programme == "canteen" else None,
                )
            )
        db.session.commit()
    assert client_for(world.admin1).api("DELETE", f"/api/v1/visits/{visit_id}").status_code == 204
    assert _count(app, SchoolMonthResult) == 2
    assert _count(app, SchoolMonthResult, SchoolMonthResult.visit_id.is_not(None)) == 0


def test_bad_input_is_refused_not_crashed(app: Any, setup: Any, client_for: Any) -> None:
    world = setup
    inspector = client_for(world.inspector1)
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    cases = [
        {"school_id": world.a.id, "visited_on": tomorrow},
        {"school_id": world.a.id, "visited_on": "not a date"},
        {"school_id": "x"},
        {"school_id": world.a.id, "scores": [{"programme": "canteen", "indicator_code": "ZZ"}]},
        {"school_id": world.a.id, "scores": [{"programme": "dormitory", "indicator_code": "A1"}]},
        {
            "school_id": world.a.id,
            "scores": [{"programme": "canteen", "indicator_code": "A1", "points": "NaN"}],
        },
        {
            "school_id": world.a.id,
            "scores": [{"programme": "canteen", "indicator_code": "A1", "points": 3.3}],
        },
        {
            "school_id": world.a.id,
            "scores": [{"programme": "canteen", "indicator_code": "A3", "ticks": [9]}],
        },
        {"school_id": world.a.id, "unknown": 1},
    ]
    for body in cases:
        resp = inspector.api("POST", "/api/v1/visits", json=body)
        assert resp.status_code == 422, (body, resp.status_code, resp.get_json())
    assert inspector.api("POST", "/api/v1/visits", json=[1, 2]).status_code == 422
    assert inspector.post("/visits/new", data={}).status_code == 422
    assert _count(app, SiteVisit) == 0


def test_district_sees_all_and_exports_findings(app: Any, setup: Any, client_for: Any) -> None:
    world = setup
    _visit_with_finding(app, world, client_for, description='=HYPERLINK("x") 价格未公示')
    admin = client_for(world.admin1)
    page = admin.get(f"/findings?zone_id={world.z1.id}&status=open").get_data(as_text=True)
    assert "价格未公示" in page and "甲校-SECRET-A" in page
    assert "价格未公示" not in admin.get(f"/findings?zone_id={world.z2.id}").get_data(as_text=True)
    assert "甲校-SECRET-A" in admin.get("/visits").get_data(as_text=True)

    resp = admin.get("/findings/export?status=open")
    assert resp.status_code == 200
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(resp.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "学校", "片区")
    assert rows[1][1] == "甲校-SECRET-A"
    assert rows[1][7].startswith("'=HYPERLINK")  # formula neutralised
    assert rows[1][9] == "待整改"
    assert len(rows) == 2
    assert client_for(world.head_a).get("/findings/export").status_code == 403


def test_api_photos_document_a_low_score(app: Any, setup: Any, client_for: Any) -> None:
    """API flow: record the visit, upload a (phone-sized) photo, assign it to the low score."""
    world = setup
    sheet = _sheet(app, world, world.a.id)
    inspector = client_for(world.inspector1)
    visit = _create(inspector, world.a.id, []).get_json()
    big = PNG + b"\x00" * (1536 * 1024)  # beyond the 1 MB JSON limit, within the upload limit
    up = inspector.api(
        "POST",
        f"/api/v1/visits/{visit['id']}/photos",
        data={"file": [(io.BytesIO(big), "seats.png"), (io.BytesIO(PNG), "hall.png")]},
        content_type="multipart/form-data",
    )
    assert up.status_code == 201, up.get_json()
    photo_id = up.get_json()[0]["id"]
    low = {"canteen.A1": {"points": 1, "photo_ids": [photo_id]}}
    resp = inspector.api(
        "PUT",
        f"/api/v1/visits/{visit['id']}",
        json={"version": visit["version"], "scores": _full(sheet, ("canteen",), **low)},
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    a1 = next(s for s in body["scores"] if s["indicator_code"] == "A1")
    assert [p["filename"] for p in a1["photos"]] == ["seats.png"]
    assert [p["filename"] for p in body["photos"]] == ["hall.png"]
    # The photo now documents A1: a later edit keeps the low score without a reason.
    again = inspector.api(
        "PUT",
        f"/api/v1/visits/{visit['id']}",
        json={"version": body["version"], "notes": "补充说明"},
    )
    assert again.status_code == 200, again.get_json()
    # Another visit's photo cannot be borrowed, and a non-image is refused.
    other = _create(inspector, world.a.id, []).get_json()
    borrowed = inspector.api(
        "PUT",
        f"/api/v1/visits/{other['id']}",
        json={
            "version": other["version"],
            "scores": _full(
                sheet, ("canteen",), **{"canteen.A1": {"points": 1, "photo_ids": [photo_id]}}
            ),
        },
    )
    assert borrowed.status_code == 422
    text = inspector.api(
        "POST",
        f"/api/v1/visits/{other['id']}/photos",
        data={"file": (io.BytesIO(b"hello"), "x.png")},
        content_type="multipart/form-data",
    )
    assert text.status_code == 422


def test_edit_through_the_phone_form(app: Any, setup: Any, client_for: Any) -> None:
    world = setup
    sheet = _sheet(app, world, world.a.id)
    inspector = client_for(world.inspector1)
    created = _create(inspector, world.a.id, _full(sheet, ("greening",))).get_json()
    page = inspector.get(f"/visits/{created['id']}/edit").get_data(as_text=True)
    assert 'name="p-greening-B1"' in page and 'value="5.00"' in page
    data = _form_data(
        world.a.id, sheet, "greening", **{"greening.B1": {"points": 2, "reason": "死株未补植"}}
    )
    data["version"] = str(created["version"])
    resp = inspector.post(f"/visits/{created['id']}/edit", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1000]
    shown = inspector.api("GET", f"/api/v1/visits/{created['id']}").get_json()
    b1 = next(s for s in shown["scores"] if s["indicator_code"] == "B1")
    assert (b1["points"], b1["reason"], b1["low"]) == ("2.00", "死株未补植", True)
    assert shown["version"] == created["version"] + 1


def test_a_visit_feeds_its_month_and_stands_in_for_the_next(
    app: Any, setup: Any, client_for: Any, drain_jobs: Any
) -> None:
    from scoring.models import SchoolMonthResult

    world = setup
    day = date(TODAY.year - 1, 11, 20)
    sheet = _sheet(app, world, world.a.id, day)
    resp = _create(
        client_for(world.inspector1),
        world.a.id,
        _full(sheet, ("canteen",)),
        visited_on=day.isoformat(),
    )
    assert resp.status_code == 201
    drain_jobs()
    with app.app_context(), unscoped("tests: read back"):
        rows = {
            r.month: r
            for r in db.session.scalars(
                select(SchoolMonthResult).where(
                    SchoolMonthResult.school_id == world.a.id,
                    SchoolMonthResult.programme == "canteen",
                )
            )
        }
        assert rows[11].inspector_score == Decimal("100.00") and not rows[11].stand_in
        assert rows[12].inspector_score == Decimal("100.00") and rows[12].stand_in
        db.session.rollback()
