"""Staff roster (后勤人员): pages and API, masked phones, scope, Excel import/export."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from district.audit import AuditEntry
from district.extensions import db
from scoring.staff_models import Certificate, StaffMember
from tenants.scope import unscoped

PHONE = "13812345678"
MASKED = "138****5678"


def _staff(factories: Any, school: Any, name: str = "王秀兰", **kw: Any) -> StaffMember:
    values = dict(
        district_id=school.district_id,
        school_id=school.id,
        name=name,
        gender="女",
        post="食堂操作员",
        employment_type="合同工",
        phone=PHONE,
        five_roles=[],
    )
    values.update(kw)
    return factories._save(StaffMember(**values))


def _rows(app: Any, model: Any, *where: Any) -> list[Any]:
    with app.app_context(), unscoped("tests: inspect rows"):
        rows = list(db.session.scalars(select(model).where(*where)))
        for r in rows:
            db.session.expunge(r)
        return rows


def _actions(app: Any) -> list[str]:
    return [e.action for e in _rows(app, AuditEntry)]


def _xlsx(rows: list[list[Any]], sheet: str = "人员") -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


HEADER = [
    "姓名",
    "性别",
    "岗位",
    "用工性质",
    "入职日期",
    "手机",
    "五员角色",
    "健康证号",
    "健康证有效期",
]


# --- pages ---------------------------------------------------------------------------------


def test_school_head_manages_roster_through_pages(app: Any, world: Any, client_for: Any) -> None:
    head = client_for(world.head_a)
    resp = head.post(
        "/staff/new",
        data={
            "name": "李桂英",
            "gender": "女",
            "post": "食堂操作员",
            "employment_type": "劳务派遣",
            "start_date": "2022-09-01",
            "phone": PHONE,
            "five_roles": ["食堂操作员", "卫生监督员"],
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)
    [person] = _rows(app, StaffMember)
    assert (person.school_id, person.employment_type) == (world.a.id, "劳务派遣")
    assert person.five_roles == ["卫生监督员", "食堂操作员"]  # FIVE_ROLES order

    listing = head.get("/staff").get_data(as_text=True)
    assert MASKED in listing and PHONE not in listing
    detail = head.get(f"/staff/{person.id}").get_data(as_text=True)
    assert PHONE in detail

    # Edit with the current version, then a stale copy of the form is refused (409).
    form = {"name": "李桂英", "post": "保洁", "employment_type": "合同工", "version": "1"}
    assert head.post(f"/staff/{person.id}", data=form).status_code == 302
    assert head.post(f"/staff/{person.id}", data=form).status_code == 409
    [person] = _rows(app, StaffMember)
    assert (person.post, person.version, person.phone, person.five_roles) == ("保洁", 2, PHONE, [])

    # Bad input re-renders the form with the message, nothing changes.
    bad = head.post(f"/staff/{person.id}", data={**form, "version": "2", "post": "厨神"})
    assert bad.status_code == 422 and "不在本区岗位列表中" in bad.get_data(as_text=True)

    resp = head.post(f"/staff/{person.id}?action=deactivate", data={"version": "2"})
    assert resp.status_code == 302
    assert _rows(app, StaffMember)[0].active is False
    assert "李桂英" not in head.get("/staff").get_data(as_text=True)
    assert "李桂英" in head.get("/staff?include_inactive=1").get_data(as_text=True)
    assert _actions(app) == ["staff.create", "staff.update", "staff.deactivate"]


def test_certificates_through_pages(app: Any, world: Any, client_for: Any, factories: Any) -> None:
    person = _staff(factories, world.a)
    staff = client_for(world.staff_a)
    resp = staff.post(
        f"/staff/{person.id}/certificates",
        data={
            "kind": "健康证",
            "number": "JK001",
            "issued_on": "2026-01-01",
            "expires_on": "2026-12-31",
        },
    )
    assert resp.status_code == 302
    [cert] = _rows(app, Certificate)
    bad = staff.post(
        f"/staff/{person.id}/certificates",
        data={"kind": "健康证", "number": "JK001"},
    )
    assert bad.status_code == 422 and "该证书已登记" in bad.get_data(as_text=True)
    resp = staff.post(
        f"/staff/certificates/{cert.id}",
        data={"kind": "健康证", "number": "JK001", "expires_on": "2027-06-30"},
    )
    assert resp.status_code == 302
    assert _rows(app, Certificate)[0].expires_on == date(2027, 6, 30)
    assert staff.post(f"/staff/certificates/{cert.id}?action=delete").status_code == 302
    assert _rows(app, Certificate) == []
    assert _actions(app) == ["certificate.create", "certificate.update", "certificate.delete"]


def test_menu_entries_by_role(world: Any, client_for: Any) -> None:
    head_home = client_for(world.head_a).get("/").get_data(as_text=True)
    admin_home = client_for(world.admin1).get("/").get_data(as_text=True)
    inspector_home = client_for(world.inspector1).get("/").get_data(as_text=True)
    assert "后勤人员" in head_home and 'href="/trainings"' not in head_home
    assert "后勤人员" in inspector_home and 'href="/trainings"' not in inspector_home
    assert "后勤人员" in admin_home and 'href="/trainings"' in admin_home


# --- API -----------------------------------------------------------------------------------


def test_api_roster_crud_masks_phones_and_refuses_bad_input(
    app: Any, world: Any, client_for: Any
) -> None:
    staff = client_for(world.staff_a)
    body = {
        "name": "张建国",
        "gender": "男",
        "post": "电工",
        "employment_type": "编制内",
        "start_date": "2019-03-01",
        "phone": PHONE,
        "five_roles": [],
    }
    resp = staff.api("post", "/api/v1/staff", json=body)
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["phone"] == PHONE and created["school_id"] == world.a.id

    listed = staff.api("get", "/api/v1/staff").get_json()
    assert [p["phone"] for p in listed] == [MASKED]
    one = staff.api("get", f"/api/v1/staff/{created['id']}").get_json()
    assert one["phone"] == PHONE and one["certificates"] == [] and one["trainings"] == []

    # The district admin sees the full number in one record, the viewer never does.
    assert (
        client_for(world.admin1).api("get", f"/api/v1/staff/{created['id']}").get_json()["phone"]
        == PHONE
    )
    viewer = client_for(world.viewer1)
    assert viewer.api("get", f"/api/v1/staff/{created['id']}").get_json()["phone"] == MASKED
    assert (
        viewer.api("patch", f"/api/v1/staff/{created['id']}", json={"note": "x"}).status_code == 403
    )

    url = f"/api/v1/staff/{created['id']}"
    resp = staff.api("patch", url, json={"post": "保安", "version": 1})
    assert resp.status_code == 200 and resp.get_json()["version"] == 2
    assert staff.api("patch", url, json={"post": "保洁", "version": 1}).status_code == 409
    assert staff.api("patch", url, json={"post": "厨神"}).status_code == 422
    assert staff.api("patch", url, json={"employment_type": "临时工"}).status_code == 422
    assert staff.api("patch", url, json={"five_roles": ["总厨"]}).status_code == 422
    assert staff.api("patch", url, json={"phone": "abc"}).status_code == 422
    assert staff.api("patch", url, json={"school_id": world.b.id}).status_code == 422
    resp = staff.api("patch", url, json={"active": False})
    assert resp.status_code == 200 and resp.get_json()["active"] is False
    assert staff.api("get", "/api/v1/staff").get_json() == []
    assert len(staff.api("get", "/api/v1/staff?include_inactive=true").get_json()) == 1
    assert staff.api("post", "/api/v1/staff", json={}).status_code == 422
    bad = staff.client.post(
        "/api/v1/staff",
        data="{not json",
        content_type="application/json",
        headers={"X-CSRFToken": staff.csrf()},
    )
    assert bad.status_code == 400

    admin = client_for(world.admin1)
    assert admin.api("post", "/api/v1/staff", json=body).status_code == 422  # which school?
    resp = admin.api("post", "/api/v1/staff", json={**body, "school_id": world.b.id})
    assert resp.status_code == 201 and resp.get_json()["school_id"] == world.b.id
    resp = admin.api("post", "/api/v1/staff", json={**body, "school_id": world.c.id})
    assert resp.status_code == 422  # another district's school does not exist here
    by_school = admin.api("get", f"/api/v1/staff?school_id={world.b.id}").get_json()
    assert [p["school_name"] for p in by_school] == ["乙校-SECRET-B"]
    assert {e for e in _actions(app)} >= {"staff.create", "staff.update", "staff.deactivate"}


def test_api_certificates(app: Any, world: Any, client_for: Any, factories: Any) -> None:
    person = _staff(factories, world.a)
    head = client_for(world.head_a)
    url = f"/api/v1/staff/{person.id}/certificates"
    body = {"kind": "健康证", "number": "JK9", "issuer": "疾控中心", "expires_on": "2027-01-31"}
    resp = head.api("post", url, json=body)
    assert resp.status_code == 201
    cert_id = resp.get_json()["id"]
    assert head.api("post", url, json=body).status_code == 422  # same number twice
    assert head.api("post", url, json={**body, "number": "X", "kind": "驾照"}).status_code == 422
    assert (
        head.api("post", url, json={**body, "number": "Y", "issued_on": "2027-02-01"}).status_code
        == 422
    )
    resp = head.api("patch", f"/api/v1/certificates/{cert_id}", json={"expires_on": "2028-01-31"})
    assert resp.status_code == 200 and resp.get_json()["expires_on"] == "2028-01-31"
    one = head.api("get", f"/api/v1/staff/{person.id}").get_json()
    assert one["health_certificate_valid"] is True
    assert [c["number"] for c in one["certificates"]] == ["JK9"]
    assert head.api("delete", f"/api/v1/certificates/{cert_id}").status_code == 204
    assert head.api("delete", f"/api/v1/certificates/{cert_id}").status_code == 404
    assert _actions(app) == ["certificate.create", "certificate.update", "certificate.delete"]


def test_another_schools_staff_is_404(
    app: Any, world: Any, client_for: Any, factories: Any
) -> None:
    person = _staff(factories, world.a, name="甲校员工")
    cert = factories._save(
        Certificate(
            district_id=world.d1.id,
            school_id=world.a.id,
            staff_id=person.id,
            kind="健康证",
            number="JK1",
        )
    )
    for user in (world.head_b, world.admin2):
        c = client_for(user)
        assert c.api("get", f"/api/v1/staff/{person.id}").status_code == 404
        assert c.get(f"/staff/{person.id}").status_code == 404
        assert c.api("patch", f"/api/v1/staff/{person.id}", json={"name": "x"}).status_code == 404
        assert (
            c.api("patch", f"/api/v1/certificates/{cert.id}", json={"number": "x"}).status_code
            == 404
        )
        assert c.api("delete", f"/api/v1/certificates/{cert.id}").status_code == 404
        assert "甲校员工" not in c.api("get", "/api/v1/staff").get_data(as_text=True)
        assert "甲校员工" not in c.get("/staff").get_data(as_text=True)
    assert _rows(app, StaffMember)[0].name == "甲校员工"
    assert len(_rows(app, Certificate)) == 1


def test_inspector_reads_zone_schools_without_phones(
    app: Any, world: Any, client_for: Any, factories: Any
) -> None:
    mine = _staff(factories, world.a, name="甲校厨师")
    other = _staff(factories, world.b, name="乙校厨师")
    inspector = client_for(world.inspector1)
    listed = inspector.api("get", "/api/v1/staff").get_json()
    assert [(p["name"], p["phone"]) for p in listed] == [("甲校厨师", None)]
    assert inspector.api("get", f"/api/v1/staff/{mine.id}").get_json()["phone"] is None
    assert inspector.api("get", f"/api/v1/staff/{other.id}").status_code == 404
    for page in ("/staff", f"/staff/{mine.id}"):
        html = inspector.get(page).get_data(as_text=True)
        assert "甲校厨师" in html and "5678" not in html and "乙校厨师" not in html
    assert inspector.api("patch", f"/api/v1/staff/{mine.id}", json={"name": "x"}).status_code == 403
    assert inspector.get("/staff/export.xlsx").status_code == 403


def test_district_post_list_is_configurable(
    app: Any, world: Any, client_for: Any, factories: Any
) -> None:
    from scoring.models import DistrictSettings

    factories._save(
        DistrictSettings(
            district_id=world.d1.id, scoring={}, awards={}, staff={"posts": ["厨师长", "保安"]}
        )
    )
    head = client_for(world.head_a)
    body = {"name": "赵师傅", "post": "厨师长", "employment_type": "合同工"}
    assert head.api("post", "/api/v1/staff", json=body).status_code == 201
    assert head.api("post", "/api/v1/staff", json={**body, "post": "电工"}).status_code == 422
    assert "厨师长" in head.get("/staff/new").get_data(as_text=True)


# --- Excel ---------------------------------------------------------------------------------


def _import(c: Any, rows: list[list[Any]], **data: Any) -> Any:
    return c.post(
        "/staff/import",
        data={"file": (_xlsx(rows), "roster.xlsx"), **data},
        content_type="multipart/form-data",
    )


def test_import_is_all_or_nothing_with_row_errors(app: Any, world: Any, client_for: Any) -> None:
    head = client_for(world.head_a)
    rows = [
        HEADER,
        [
            "王秀兰",
            "女",
            "食堂操作员",
            "合同工",
            "2021-09-01",
            PHONE,
            "食堂操作员",
            "JK1",
            "2027-03-31",
        ],
        ["李四", "男", "厨神", "合同工", "", "", "", "", ""],
        ["张三", "男", "保安", "合同工", "2021-13-45", "", "", "", ""],
        ["赵五", "男", "保安", "临时工", "", "", "", "", ""],
        ["王秀兰", "女", "保洁", "合同工", "", PHONE, "", "", ""],
        ["钱六", "女", "保洁", "合同工", "", "", "营养师", "", ""],
        ["孙七", "女", "保洁", "合同工", "", "", "", "", "2027-01-01"],
    ]
    resp = _import(head, rows)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "发现 6 处错误，未导入任何数据" in html
    for text in ("厨神", "2021-13-45", "临时工", "与第 2 行重复", "营养师", "没有健康证号"):
        assert text in html, text
    assert _rows(app, StaffMember) == [] and _rows(app, Certificate) == []


def test_import_creates_then_updates_matched_people(
    app: Any, world: Any, client_for: Any, factories: Any
) -> None:
    head = client_for(world.head_a)
    rows = [
        HEADER,
        [
            "王秀兰",
            "女",
            "食堂操作员",
            "合同工",
            date(2021, 9, 1),
            PHONE,
            "食堂操作员；卫生监督员",
            "JK1",
            date(2027, 3, 31),
        ],
        ["王秀兰", "女", "保洁", "合同工", "2020/5/6", "13900000000", "", "", ""],
    ]
    assert _import(head, rows).status_code == 302
    people = sorted(_rows(app, StaffMember), key=lambda p: p.post)
    assert [(p.post, p.school_id, p.start_date) for p in people] == [
        ("保洁", world.a.id, date(2020, 5, 6)),
        ("食堂操作员", world.a.id, date(2021, 9, 1)),
    ]
    assert people[1].five_roles == ["卫生监督员", "食堂操作员"]
    rows[1][3], rows[1][8] = "编制内", "2028-03-31"
    assert _import(head, rows).status_code == 302
    people = _rows(app, StaffMember)
    assert len(people) == 2
    assert {p.employment_type for p in people if p.post == "食堂操作员"} == {"编制内"}
    [cert] = _rows(app, Certificate)
    assert cert.expires_on == date(2028, 3, 31)
    assert _actions(app).count("staff.create") == 2 and "staff.update" in _actions(app)


def test_export_neutralises_formulas_and_reimports(
    app: Any, world: Any, client_for: Any, factories: Any
) -> None:
    person = _staff(factories, world.a, name='=HYPERLINK("http://x","点我")', note="@SUM(A1)")
    factories._save(
        Certificate(
            district_id=world.d1.id,
            school_id=world.a.id,
            staff_id=person.id,
            kind="健康证",
            number="+JK1",
            expires_on=date(2027, 1, 31),
        )
    )
    _staff(factories, world.b, name="乙校的人")
    head = client_for(world.head_a)
    resp = head.get("/staff/export.xlsx")
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.data))["人员"]
    header, *rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert header[:7] == HEADER[:7] and "健康证号" in header and "电工证有效期" in header
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert row["姓名"] == '\'=HYPERLINK("http://x","点我")'
    assert row["备注"] == "'@SUM(A1)"
    assert row["健康证号"] == "'+JK1" and row["手机"] == PHONE
    assert row["健康证有效期"] == "2027-01-31"
    assert "乙校的人" not in resp.data.decode("latin-1")

    # The export imports back onto the same person (apostrophe stripped, nothing new).
    resp = head.post(
        "/staff/import",
        data={"file": (io.BytesIO(resp.data), "back.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    [again] = [p for p in _rows(app, StaffMember) if p.school_id == world.a.id]
    assert again.name.startswith("=HYPERLINK") and again.id == person.id
    assert len(_rows(app, Certificate)) == 1


def test_district_admin_exports_all_and_imports_by_school_code(
    app: Any, world: Any, client_for: Any, factories: Any
) -> None:
    _staff(factories, world.a, name="甲一")
    _staff(factories, world.b, name="乙一")
    admin = client_for(world.admin1)
    data = admin.get("/staff/export.xlsx").data
    ws = load_workbook(io.BytesIO(data))["人员"]
    header, *rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert header[:2] == ["学校代码", "学校名称"]
    assert sorted((r[0], r[2]) for r in rows) == [("A01", "甲一"), ("B01", "乙一")]
    one = load_workbook(io.BytesIO(admin.get(f"/staff/export.xlsx?school_id={world.b.id}").data))
    assert [r[0] for r in one["人员"].iter_rows(min_row=2, values_only=True)] == ["乙一"]
    assert admin.get(f"/staff/export.xlsx?school_id={world.c.id}").status_code == 404

    rows = [
        ["学校代码", *HEADER],
        ["B01", "乙二", "男", "保安", "合同工", "", "", "", "", ""],
        ["C01", "丙二", "男", "保安", "合同工", "", "", "", "", ""],
    ]
    resp = _import(admin, rows)
    assert resp.status_code == 422 and "学校代码“C01”不存在" in resp.get_data(as_text=True)
    assert _import(admin, rows[:2]).status_code == 302
    assert {p.name for p in _rows(app, StaffMember) if p.school_id == world.b.id} == {
        "乙一",
        "乙二",
    }
    # Without a school code column the admin must choose a school.
    resp = _import(admin, [HEADER, ["甲二", "男", "保安", "合同工", "", "", "", "", ""]])
    assert resp.status_code == 422 and "请选择导入到哪所学校" in resp.get_data(as_text=True)
    resp = _import(
        admin,
        [HEADER, ["甲二", "男", "保安", "合同工", "", "", "", "", ""]],
        school_id=str(world.a.id),
    )
    assert resp.status_code == 302
    # A school user cannot import into another school by code.
    resp = _import(client_for(world.head_a), rows[:2])
    assert resp.status_code == 422 and "学校代码“B01”不存在" in resp.get_data(as_text=True)


def test_import_rejects_a_file_that_is_not_excel(world: Any, client_for: Any) -> None:
    resp = client_for(world.head_a).post(
        "/staff/import",
        data={"file": (io.BytesIO(b"name,post\n"), "roster.csv")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422 and "无法读取 Excel 文件" in resp.get_data(as_text=True)


@pytest.mark.parametrize("role_user", ["viewer1", "inspector1"])
def test_only_school_users_and_admin_import_or_export(
    world: Any, client_for: Any, role_user: str
) -> None:
    c = client_for(getattr(world, role_user))
    assert c.get("/staff/export.xlsx").status_code == 403
    assert c.get("/staff/import").status_code == 403


def test_roster_list_runs_a_fixed_number_of_queries(
    app: Any, world: Any, client_for: Any, factories: Any
) -> None:
    from sqlalchemy import event

    def add(n: int) -> None:
        for i in range(n):
            person = _staff(factories, world.a, name=f"员工{i}-{n}")
            factories._save(
                Certificate(
                    district_id=world.d1.id,
                    school_id=world.a.id,
                    staff_id=person.id,
                    kind="健康证",
                    number=f"JK{i}-{n}",
                )
            )

    def count(url: str) -> int:
        statements: list[str] = []

        def record(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert head.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(statements)

    head = client_for(world.head_a)
    add(2)
    few = (count("/staff"), count("/api/v1/staff"))
    assert min(few) >= 3  # the listener does see the queries
    add(8)
    assert (count("/staff"), count("/api/v1/staff")) == few
