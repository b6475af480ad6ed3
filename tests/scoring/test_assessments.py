"""Monthly self-assessment (自评): the workflow through the API and the pages, applicable
indicators, measured prefill, optimistic concurrency, roles, isolation, compliance."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from district.audit import AuditEntry
from district.extensions import db
from district.jobs import JobRecord
from scoring.models import Evidence, Period, SelfAssessment, SelfAssessmentItem
from scoring.periods import local_today
from tenants.models import Role, School
from tenants.scope import Scope, unscoped, use_scope
from tests.isolation.params_assessments import PNG

# The current month: its deadline (the 5th of the next month) is still ahead.
YEAR, MONTH = local_today().year, local_today().month


@pytest.fixture()
def seeded(app: Any, world: Any) -> None:
    """District 1 with the four default rubrics; school A has areas (43 % green)."""
    from scoring.rubrics import ensure_default_rubrics

    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        ensure_default_rubrics()
        db.session.commit()
    with app.app_context(), unscoped("tests: school areas"):
        db.session.execute(
            update(School)
            .where(School.id == world.a.id)
            .values(campus_area=Decimal("25000"), green_area=Decimal("10750"))
        )
        db.session.commit()


def _rows(app: Any, model: type, *where: Any) -> list[Any]:
    with app.app_context(), unscoped("tests: read back"):
        rows = list(db.session.scalars(select(model).where(*where).order_by(model.id)))
        db.session.expunge_all()
        db.session.rollback()
    return rows


def _open(client: Any, year: int = YEAR, month: int = MONTH) -> dict:
    resp = client.api("POST", "/api/v1/periods", json={"year": year, "month": month})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _set_deadline(app: Any, year: int, month: int, days_from_today: int) -> None:
    with app.app_context(), unscoped("tests: move a deadline"):
        db.session.execute(
            update(Period)
            .where(Period.year == year, Period.month == month)
            .values(deadline=local_today() + timedelta(days=days_from_today))
        )
        db.session.commit()


def _start(client: Any, programme: str, year: int = YEAR, month: int = MONTH) -> dict:
    resp = client.api(
        "POST",
        "/api/v1/self-assessments",
        json={"year": year, "month": month, "programme": programme},
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _full_marks(detail: dict) -> list[dict]:
    """Every applicable indicator answered at its best."""
    items = []
    for item in detail["items"]:
        if item["kind"] == "judged":
            items.append({"code": item["code"], "points": item["max_points"]})
        elif item["kind"] == "checklist":
            items.append({"code": item["code"], "checked": list(range(len(item["checklist"])))})
        elif item["kind"] == "measured":
            items.append({"code": item["code"], "value": "1" if item["ratio"] else "0.99"})
        else:
            items.append({"code": item["code"], "veto": False})
    return items


def _upload(client: Any, assessment_id: int, code: str, name: str = "photo.png") -> Any:
    return client.client.post(
        f"/api/v1/self-assessments/{assessment_id}/evidence",
        data={"code": code, "file": (io.BytesIO(PNG), name)},
        headers={"X-CSRFToken": client.csrf()},
        content_type="multipart/form-data",
    )


def _attach_all(client: Any, detail: dict) -> None:
    for item in detail["items"]:
        if item["needs_evidence"] and not item["evidence"]:
            assert _upload(client, detail["id"], item["code"]).status_code == 201


def _save(client: Any, detail: dict, items: list[dict]) -> Any:
    return client.api(
        "PUT",
        f"/api/v1/self-assessments/{detail['id']}",
        json={"version": detail["version"], "items": items},
    )


def _get(client: Any, assessment_id: int) -> dict:
    resp = client.api("GET", f"/api/v1/self-assessments/{assessment_id}")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


# --- the whole workflow ---------------------------------------------------------------------


def test_full_workflow_through_the_api(app: Any, world: Any, client_for: Any, seeded: Any) -> None:
    admin, head, staff = (
        client_for(world.admin1),
        client_for(world.head_a),
        client_for(world.staff_a),
    )
    period = _open(admin)
    detail = _start(head, "greening")
    assert detail["status"] == "draft" and detail["state_label"] == "草稿"

    # Staff fill the draft; the green ratio came prefilled from the school's areas.
    green = next(i for i in detail["items"] if i["code"] == "A1")
    assert (green["value"], green["points"]) == ("0.4300", "15.00")
    items = [i for i in _full_marks(detail) if i["code"] != "A1"]
    saved = _save(staff, detail, items)
    assert saved.status_code == 200, saved.get_json()
    detail = saved.get_json()
    assert detail["version"] > 1 and detail["score"] == "100.00"

    # Evidence is missing: the submission is refused, indicator by indicator.
    refused = head.api("POST", f"/api/v1/self-assessments/{detail['id']}/submit", json={})
    assert refused.status_code == 422
    problems = refused.get_json()["errors"]["json"]["items"]
    assert "A1" in problems and "需要上传佐证材料" in problems["A1"][0]
    assert "C6" not in problems  # an untriggered veto needs no proof
    assert _rows(app, SelfAssessment)[0].status == "draft"

    _attach_all(staff, detail)
    detail = _get(head, detail["id"])
    assert detail["problems"] == {}
    assert detail["items"][0]["evidence"][0]["url"].startswith("/api/v1/evidence/")

    # Staff may not submit; the head may, before the deadline: on time.
    denied = staff.api("POST", f"/api/v1/self-assessments/{detail['id']}/submit", json={})
    assert denied.status_code == 403 and "校长" in denied.get_json()["message"]
    done = head.api(
        "POST",
        f"/api/v1/self-assessments/{detail['id']}/submit",
        json={"version": detail["version"]},
    )
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert (body["status"], body["late"], body["state"]) == (
        "submitted",
        False,
        "submitted_on_time",
    )
    assert body["submitted_by"] == world.head_a.id and body["submitted_at"]
    assert body["score"] == "100.00"

    # A recomputation of exactly this school-month was requested.
    jobs = _rows(app, JobRecord, JobRecord.func.like("%recompute_school_months"))
    assert jobs and jobs[-1].args[1] == [[world.a.id, YEAR, MONTH]]

    # A submitted assessment is read-only until the district returns it.
    frozen = _save(head, body, [{"code": "A2", "checked": []}])
    assert frozen.status_code == 409 and "已提交" in frozen.get_json()["message"]
    assert (
        head.api(
            "POST", f"/api/v1/self-assessments/{body['id']}/return", json={"reason": "x"}
        ).status_code
        == 403
    )
    assert (
        admin.api("POST", f"/api/v1/self-assessments/{body['id']}/return", json={}).status_code
        == 422
    )
    returned = admin.api(
        "POST",
        f"/api/v1/self-assessments/{body['id']}/return",
        json={"reason": "绿化档案照片不清晰，请重新上传"},
    )
    assert returned.status_code == 200
    body = returned.get_json()
    assert (body["status"], body["return_reason"]) == ("returned", "绿化档案照片不清晰，请重新上传")
    assert body["submitted_at"] is None

    # The school corrects and resubmits; punctuality of the first submission stands.
    fixed = _save(head, body, [{"code": "B4", "checked": [0, 1]}])
    assert fixed.status_code == 200
    body = fixed.get_json()
    # 3 points off; D5 (小学 only) is dropped, so 94 of 97 applicable points: rescaled.
    assert body["score"] == "96.91"
    resubmitted = head.api("POST", f"/api/v1/self-assessments/{body['id']}/submit", json={})
    assert resubmitted.status_code == 200
    assert resubmitted.get_json()["status"] == "submitted"
    assert resubmitted.get_json()["return_reason"] is None

    # The month closes: locked, and every change is refused with the reason.
    assert admin.api("POST", f"/api/v1/periods/{period['id']}/close").status_code == 200
    locked = _get(head, body["id"])
    assert locked["status"] == "locked" and locked["editable"] is False
    edit = _save(head, locked, [{"code": "A2", "checked": []}])
    assert edit.status_code == 409
    message = edit.get_json()["message"]
    assert "锁定" in message and "区教育局后勤办" in message and "重新开放" in message
    assert (
        head.api("POST", f"/api/v1/self-assessments/{body['id']}/submit", json={}).status_code
        == 409
    )
    assert _upload(head, body["id"], "A2").status_code == 409
    assert (
        admin.api(
            "POST", f"/api/v1/self-assessments/{body['id']}/return", json={"reason": "晚了"}
        ).status_code
        == 409
    )

    actions = [e.action for e in _rows(app, AuditEntry, AuditEntry.object_type == "SelfAssessment")]
    for action in (
        "self_assessment.create",
        "self_assessment.save",
        "self_assessment.evidence",
        "self_assessment.submit",
        "self_assessment.return",
        "self_assessment.lock",
    ):
        assert action in actions, action
    submit_entry = _rows(app, AuditEntry, AuditEntry.action == "self_assessment.submit")[0]
    assert submit_entry.before["status"] == "draft" and submit_entry.after["status"] == "submitted"
    save_entry = _rows(app, AuditEntry, AuditEntry.action == "self_assessment.save")[-1]
    assert save_entry.before["items"]["B4"]["points"] == "5.00"
    assert save_entry.after["items"]["B4"]["points"] == "2.00"


def test_a_submission_after_the_deadline_is_late(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    admin, head = client_for(world.admin1), client_for(world.head_a)
    _open(admin)
    detail = _start(head, "greening")
    detail = _save(head, detail, _full_marks(detail)).get_json()
    _attach_all(head, detail)
    _set_deadline(app, YEAR, MONTH, -1)
    done = head.api("POST", f"/api/v1/self-assessments/{detail['id']}/submit", json={})
    assert done.status_code == 200
    assert (done.get_json()["late"], done.get_json()["state_label"]) == (True, "已提交（逾期）")


# --- what the form lists -----------------------------------------------------------------------


def test_only_applicable_indicators_are_listed(
    app: Any, world: Any, client_for: Any, factories: Any, seeded: Any
) -> None:
    admin = client_for(world.admin1)
    _open(admin)
    # School A: a day 初中.
    head = client_for(world.head_a)
    canteen = {i["code"] for i in _start(head, "canteen")["items"]}
    assert "E2" not in canteen  # breakfast of boarders: boarding only
    assert "E4" not in canteen  # teachers eating with pupils: 小学 / 九年一贯制
    assert {"A1", "B1", "E5", "F2"} <= canteen  # E5: 中学段 student meal committee
    dorm = head.api(
        "POST",
        "/api/v1/self-assessments",
        json={"year": YEAR, "month": MONTH, "programme": "dormitory"},
    )
    assert dorm.status_code == 422
    assert "寄宿制" in str(dorm.get_json()["errors"])

    # A boarding primary school gets the boarding and primary indicators, and 文化宿舍.
    boarding = factories.school(world.d1, world.z1, name="寄宿小学", level="小学", boarding=True)
    boarding_head = client_for(factories.user(Role.SCHOOL_HEAD, world.d1, boarding))
    canteen = {i["code"] for i in _start(boarding_head, "canteen")["items"]}
    assert {"E2", "E4"} <= canteen and "E5" not in canteen
    dorm_items = {i["code"] for i in _start(boarding_head, "dormitory")["items"]}
    assert "F2" in dorm_items and "D4" in dorm_items

    # The page lists the same indicators, and not the others.
    assessment = _rows(app, SelfAssessment, SelfAssessment.school_id == world.a.id)[0]
    page = head.get(f"/self-assessments/{assessment.id}").get_data(as_text=True)
    assert 'id="ind-E5"' in page and 'id="ind-E4"' not in page and 'id="ind-E2"' not in page


def test_measured_value_is_prefilled_from_the_green_ratio(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    _open(client_for(world.admin1))
    head = client_for(world.head_a)
    detail = _start(head, "greening")
    a1 = next(i for i in detail["items"] if i["code"] == "A1")
    assert a1["measure"] == "green_ratio" and a1["ratio"] is True
    assert a1["derived_value"] == "0.4300" and a1["value"] == "0.4300"
    assert a1["points"] == "15.00"  # 43 % ≥ 35 %: full marks
    b3 = next(i for i in detail["items"] if i["code"] == "B3")  # survival rate: entered
    assert b3["value"] is None and b3["points"] is None
    page = head.get(f"/self-assessments/{detail['id']}").get_data(as_text=True)
    assert 'value="43.00"' in page and "按本校填报的数据计算：43.00%" in page

    # A value entered by hand is turned into points by the curve (0.9 → 2.5 of 5).
    saved = _save(head, detail, [{"code": "B3", "value": 0.9}]).get_json()
    b3 = next(i for i in saved["items"] if i["code"] == "B3")
    assert (b3["value"], b3["points"]) == ("0.9000", "2.50")


# --- validation and concurrency ------------------------------------------------------------


def test_items_are_validated(app: Any, world: Any, client_for: Any, seeded: Any) -> None:
    _open(client_for(world.admin1))
    head = client_for(world.head_a)
    detail = _start(head, "greening")
    cases = [
        ({"code": "ZZ9", "points": 1}, "ZZ9", "未知指标代码"),
        ({"code": "D5", "points": 1}, "D5", "不适用"),  # 小学-only indicator at a 初中
        ({"code": "A3", "points": 4.5}, "A3", "0 到 4"),
        ({"code": "A3", "points": 1.3}, "A3", "0.5"),
        ({"code": "A3", "points": "很多"}, "A3", "数字"),
        ({"code": "B3", "value": "九成"}, "B3", "数字"),
        ({"code": "A1", "value": 95}, "A1", "0 到 1"),  # a share, not a percentage
        ({"code": "A2", "checked": [9]}, "A2", "超出范围"),
        ({"code": "C6", "veto": "maybe"}, "C6", "true"),
    ]
    for item, code, text in cases:
        resp = _save(head, detail, [item])
        assert resp.status_code == 422, item
        errors = resp.get_json()["errors"]["json"]["items"]
        assert code in errors and text in "".join(errors[code]), (item, errors)
    # Nothing of it was stored.
    rows = _rows(app, SelfAssessmentItem, SelfAssessmentItem.indicator_code.in_(["A3", "B3"]))
    assert all(r.points is None for r in rows)
    assert _rows(app, SelfAssessment)[0].version == detail["version"]


def test_a_stale_version_is_refused_and_nothing_is_saved(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    _open(client_for(world.admin1))
    head, staff = client_for(world.head_a), client_for(world.staff_a)
    detail = _start(head, "greening")
    first = _save(staff, detail, [{"code": "A3", "points": 4}])
    assert first.status_code == 200
    # The head still holds the version both read: told, not overwritten.
    second = _save(head, detail, [{"code": "A3", "points": 1}])
    assert second.status_code == 409
    assert second.get_json()["code"] == 409 and "他人修改" in second.get_json()["message"]
    assert _rows(app, SelfAssessmentItem, SelfAssessmentItem.indicator_code == "A3")[0].points == 4
    assert _save(head, detail, []).status_code == 409  # no version bypass with an empty save

    # The page: same refusal, in Chinese, nothing saved.
    page = head.post(
        f"/self-assessments/{detail['id']}", data={"version": str(detail["version"]), "p_A3": "2"}
    )
    assert page.status_code == 409
    html = page.get_data(as_text=True)
    assert "已被他人修改" in html and "您的修改没有保存" in html
    assert _rows(app, SelfAssessmentItem, SelfAssessmentItem.indicator_code == "A3")[0].points == 4


# --- roles and isolation ------------------------------------------------------------------------


def test_staff_edit_drafts_but_cannot_submit(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    _open(client_for(world.admin1))
    staff = client_for(world.staff_a)
    detail = _start(staff, "greening")  # staff may start and edit
    resp = staff.api("POST", f"/api/v1/self-assessments/{detail['id']}/submit", json={})
    assert resp.status_code == 403
    assert _rows(app, SelfAssessment)[0].status == "draft"
    page = staff.get(f"/self-assessments/{detail['id']}").get_data(as_text=True)
    assert "自评须由校长提交" in page and 'id="submit"' not in page and 'id="save"' in page
    # A submit button forged into the page only saves the draft.
    forged = staff.post(
        f"/self-assessments/{detail['id']}",
        data={"version": str(detail["version"]), "p_A3": "3", "action": "submit"},
    )
    assert forged.status_code == 302
    row = _rows(app, SelfAssessment)[0]
    assert row.status == "draft" and row.submitted_at is None
    head_page = client_for(world.head_a).get(f"/self-assessments/{detail['id']}")
    assert 'id="submit"' in head_page.get_data(as_text=True)


def test_district_users_do_not_create_self_assessments(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    _open(client_for(world.admin1))
    body = {"year": YEAR, "month": MONTH, "programme": "greening", "school_id": world.a.id}
    for user in (world.admin1, world.viewer1, world.inspector1):
        assert (
            client_for(user).api("POST", "/api/v1/self-assessments", json=body).status_code == 403
        )
    other = client_for(world.head_a).api(
        "POST", "/api/v1/self-assessments", json={**body, "school_id": world.b.id}
    )
    assert other.status_code == 422
    assert _rows(app, SelfAssessment) == []


def test_another_schools_assessment_is_not_found(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    _open(client_for(world.admin1))
    head_a = client_for(world.head_a)
    detail = _start(head_a, "greening")
    assert _upload(head_a, detail["id"], "A1").status_code == 201
    evidence_id = _rows(app, Evidence)[0].id
    head_b = client_for(world.head_b)
    assert head_b.api("GET", f"/api/v1/self-assessments/{detail['id']}").status_code == 404
    assert _save(head_b, detail, [{"code": "A3", "points": 1}]).status_code == 404
    assert (
        head_b.api("POST", f"/api/v1/self-assessments/{detail['id']}/submit", json={}).status_code
        == 404
    )
    assert head_b.get(f"/self-assessments/{detail['id']}").status_code == 404
    assert head_b.get(f"/evidence/{evidence_id}").status_code == 404
    assert head_b.api("GET", f"/api/v1/evidence/{evidence_id}").status_code == 404
    assert head_b.api("GET", "/api/v1/self-assessments").get_json() == []
    assert (
        client_for(world.admin2).api("GET", f"/api/v1/self-assessments/{detail['id']}").status_code
        == 404
    )
    # Within scope the file comes back as it was sent.
    own = head_a.get(f"/evidence/{evidence_id}")
    assert own.status_code == 200 and own.data == PNG and own.mimetype == "image/png"
    district = client_for(world.admin1).api("GET", f"/api/v1/evidence/{evidence_id}")
    assert district.status_code == 200 and district.data == PNG


# --- the pages ----------------------------------------------------------------------------------


def test_school_head_does_it_all_on_the_pages(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    _open(client_for(world.admin1))
    head = client_for(world.head_a)
    overview = head.get("/self-assessments").get_data(as_text=True)
    assert "绿化创建" in overview and "开始自评" in overview
    resp = head.post(
        "/self-assessments/start",
        data={"year": str(YEAR), "month": str(MONTH), "programme": "greening"},
    )
    assert resp.status_code == 302
    assessment = _rows(app, SelfAssessment)[0]
    detail = _get(head, assessment.id)

    data: dict[str, Any] = {"version": str(assessment.version), "action": "submit"}
    for item in detail["items"]:
        code = item["code"]
        if item["kind"] == "judged":
            data[f"p_{code}"] = str(item["max_points"])
        elif item["kind"] == "checklist":
            data[f"c_{code}"] = [str(i) for i in range(len(item["checklist"]))]
        elif item["kind"] == "measured":
            data[f"v_{code}"] = "43" if item["ratio"] else "0.99"
        else:
            data[f"x_{code}"] = "no"
        if item["needs_evidence"]:
            data[f"f_{code}"] = (io.BytesIO(PNG), f"{code}.png")
    data["csrf_token"] = head.csrf()
    resp = head.client.post(
        f"/self-assessments/{assessment.id}", data=data, content_type="multipart/form-data"
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    row = _rows(app, SelfAssessment)[0]
    assert row.status == "submitted" and row.score == Decimal("100.00") and not row.late
    a1 = _rows(app, SelfAssessmentItem, SelfAssessmentItem.indicator_code == "A1")[0]
    assert a1.value == Decimal("0.43")  # the page takes percentages
    page = head.get(f"/self-assessments/{assessment.id}").get_data(as_text=True)
    assert "已提交（按时）" in page and 'id="save"' not in page

    # Returned on the page, with the reason shown to the school.
    admin = client_for(world.admin1)
    assert (
        admin.post(
            f"/self-assessments/{assessment.id}/return", data={"reason": "请补充苗木成活率依据"}
        ).status_code
        == 302
    )
    page = head.get(f"/self-assessments/{assessment.id}").get_data(as_text=True)
    assert "请补充苗木成活率依据" in page and 'id="save"' in page


def test_page_submission_with_gaps_keeps_the_draft_and_lists_the_problems(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    _open(client_for(world.admin1))
    head = client_for(world.head_a)
    detail = _start(head, "greening")
    resp = head.post(
        f"/self-assessments/{detail['id']}",
        data={"version": str(detail["version"]), "p_A3": "3.5", "action": "submit"},
    )
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="problems"' in html and "B1 专人管理：尚未评分" in html
    assert "A1 绿化率：需要上传佐证材料" in html
    row = _rows(app, SelfAssessment)[0]
    assert row.status == "draft"
    assert _rows(app, SelfAssessmentItem, SelfAssessmentItem.indicator_code == "A3")[
        0
    ].points == Decimal("3.5")
    bad = head.post(
        f"/self-assessments/{detail['id']}", data={"version": str(row.version), "p_A3": "9"}
    )
    assert bad.status_code == 422 and "0 到 4" in bad.get_data(as_text=True)
    assert 'value="9"' in bad.get_data(as_text=True)  # what was typed is kept


# --- compliance ----------------------------------------------------------------------------------


def test_compliance_table_and_its_excel_export(
    app: Any, world: Any, client_for: Any, factories: Any, seeded: Any
) -> None:
    admin = client_for(world.admin1)
    _open(admin)
    factories.school(world.d1, world.z1, name="寄宿初中", code="A02", level="初中", boarding=True)
    head_a = client_for(world.head_a)
    greening = _start(head_a, "greening")
    greening = _save(head_a, greening, _full_marks(greening)).get_json()
    _attach_all(head_a, greening)
    assert (
        head_a.api("POST", f"/api/v1/self-assessments/{greening['id']}/submit", json={}).status_code
        == 200
    )
    _start(head_a, "canteen")  # a draft
    head_b = client_for(world.head_b)
    store = _start(head_b, "store")
    store = _save(head_b, store, _full_marks(store)).get_json()
    _attach_all(head_b, store)
    _set_deadline(app, YEAR, MONTH, -2)
    assert (
        head_b.api("POST", f"/api/v1/self-assessments/{store['id']}/submit", json={}).status_code
        == 200
    )
    admin.api("POST", f"/api/v1/self-assessments/{store['id']}/return", json={"reason": "补充"})

    data = admin.api("GET", f"/api/v1/compliance?year={YEAR}&month={MONTH}").get_json()
    assert data["overdue"] is True
    cells = {s["code"]: s["cells"] for s in data["schools"]}
    assert set(cells) == {"A01", "A02", "B01"}
    assert cells["A01"]["greening"]["state"] == "submitted_on_time"
    assert cells["A01"]["greening"]["missing"] is False
    assert (
        cells["A01"]["canteen"]["state"] == "draft" and cells["A01"]["canteen"]["missing"] is True
    )
    assert cells["A01"]["store"]["state"] == "not_started"
    assert cells["A01"]["dormitory"] is None  # day school: not applicable
    assert cells["A02"]["dormitory"]["state"] == "not_started"
    assert cells["B01"]["store"]["state"] == "returned"
    assert data["counts"]["submitted_on_time"] == 1 and data["counts"]["returned"] == 1
    assert data["missing"] == 2 + 4 + 3  # not submitted after the deadline: A01, A02, B01

    # The inspector of zone 1 sees the schools of zone 1 only.
    zone = client_for(world.inspector1).api("GET", f"/api/v1/compliance?year={YEAR}&month={MONTH}")
    assert {s["code"] for s in zone.get_json()["schools"]} == {"A01", "A02"}
    assert (
        client_for(world.head_a)
        .api("GET", f"/api/v1/compliance?year={YEAR}&month={MONTH}")
        .status_code
        == 403
    )

    page = admin.get(f"/compliance?year={YEAR}&month={MONTH}").get_data(as_text=True)
    assert 'class="missing"' in page and "已提交（按时）" in page and "已退回" in page
    assert 'id="count-submitted_on_time">1<' in page

    export = admin.get(f"/compliance?year={YEAR}&month={MONTH}&format=xlsx")
    assert export.status_code == 200 and export.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(export.data)).active
    rows = [[c for c in r] for r in sheet.iter_rows(values_only=True)]
    header = rows[0]
    assert header[:4] == ["学校代码", "学校", "片区", "学段"] and "文明食堂" in header
    by_code = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert by_code["A01"]["绿化创建"] == "已提交（按时）"
    assert by_code["A01"]["文化宿舍"] == "不适用"
    assert by_code["B01"]["放心超市"] == "已退回"
    assert by_code["A02"]["逾期未提交"] == 4


def test_a_late_submission_shows_as_late_in_the_compliance_table(
    app: Any, world: Any, client_for: Any, seeded: Any
) -> None:
    admin, head = client_for(world.admin1), client_for(world.head_a)
    period = _open(admin)
    detail = _start(head, "greening")
    detail = _save(head, detail, _full_marks(detail)).get_json()
    _attach_all(head, detail)
    _set_deadline(app, YEAR, MONTH, -1)
    head.api("POST", f"/api/v1/self-assessments/{detail['id']}/submit", json={})
    data = admin.api("GET", f"/api/v1/compliance?year={YEAR}&month={MONTH}").get_json()
    cell = next(s for s in data["schools"] if s["code"] == "A01")["cells"]["greening"]
    assert (cell["state"], cell["label"], cell["missing"]) == (
        "submitted_late",
        "已提交（逾期）",
        False,
    )
    admin.api("POST", f"/api/v1/periods/{period['id']}/close")
    data = admin.api("GET", f"/api/v1/compliance?year={YEAR}&month={MONTH}").get_json()
    cells = next(s for s in data["schools"] if s["code"] == "A01")["cells"]
    assert cells["greening"]["state"] == "locked" and cells["greening"]["missing"] is False
    assert cells["canteen"]["missing"] is True
