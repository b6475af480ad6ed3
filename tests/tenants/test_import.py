"""Excel import of schools and users (all or nothing), the template, the users export."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from district.extensions import db
from tenants.importer import SCHOOL_COLUMNS, USER_COLUMNS
from tenants.models import Role, School, User, Zone
from tenants.scope import unscoped

SCHOOL_HEADER = [
    "学校代码",
    "学校名称",
    "学段",
    "片区",
    "寄宿制",
    "学生数",
    "教职工数",
    "校园面积",
    "绿化面积",
    "地址",
    "荣誉",
]
USER_HEADER = ["用户名", "姓名", "角色", "学校代码", "负责片区", "手机", "初始密码"]

SCHOOL_ROWS = [
    [
        "IM01",
        "导入一中",
        "初中",
        "东片",
        "是",
        1200,
        90,
        40000,
        12000,
        "东路 1 号",
        "市文明食堂；省放心超市示范店",
    ],
    ["IM02", "导入小学", "小学", "西片", "否", 600, 40, None, None, None, None],
    ["IM03", "导入高中", "高中", None, "Y", "1500", "110", 50000.5, 20000, None, None],
]
USER_ROWS = [
    ["im_head1", "导入校长", "校长", "IM01", None, "13800000000", "Start-2026!"],
    ["im_staff2", "导入总务", "后勤主任/总务", "IM02", None, None, "Start-2026!"],
    ["im_dc", "导入督查员", "督查员", None, "东片；西片", None, "Start-2026!"],
    ["im_leader", "导入局领导", "局领导", None, None, None, "Start-2026!"],
]


def workbook(
    schools: list[list[Any]] | None = SCHOOL_ROWS,
    users: list[list[Any]] | None = USER_ROWS,
    school_header: list[str] = SCHOOL_HEADER,
    user_header: list[str] = USER_HEADER,
    sheet_names: tuple[str, str] = ("学校", "用户"),
) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    if schools is not None:
        ws = wb.create_sheet(sheet_names[0])
        ws.append(school_header)
        for row in schools:
            ws.append(row)
    if users is not None:
        ws = wb.create_sheet(sheet_names[1])
        ws.append(user_header)
        for row in users:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _counts(app: Any, district_id: int) -> dict[str, int]:
    with app.app_context(), unscoped("tests: count rows"):
        out = {
            model.__name__: db.session.scalar(
                select(func.count()).select_from(model).where(model.district_id == district_id)
            )
            for model in (School, User, Zone)
        }
        db.session.rollback()
    return out


def _upload(client: Any, data: bytes, filename: str = "导入.xlsx") -> Any:
    return client.post(
        "/admin/import",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def _error_rows(resp: Any) -> list[tuple[str, str, str]]:
    html = resp.get_data(as_text=True)
    table = re.search(r'<table class="table" id="import-errors">(.*?)</table>', html, re.S)
    assert table, "the page shows the error table"
    body = table.group(1).split("<tbody>")[1]
    return re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", body)


@pytest.fixture()
def admin(world: Any, client_for: Any) -> Any:
    return client_for(world.admin1)


def test_valid_workbook_imports_everything(app: Any, world: Any, admin: Any) -> None:
    before = _counts(app, world.d1.id)
    resp = _upload(admin, workbook())
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    after = _counts(app, world.d1.id)
    assert after["School"] == before["School"] + 3
    assert after["User"] == before["User"] + 4
    assert after["Zone"] == before["Zone"] + 2  # 东片 and 西片 created on the way
    flashed = admin.get("/admin/schools").get_data(as_text=True)
    assert "导入成功：学校 3 所，用户 4 人" in flashed

    with app.app_context(), unscoped("tests: read back"):
        schools = {
            s.code: s for s in db.session.scalars(select(School).where(School.code.like("IM%")))
        }
        assert {s.district_id for s in schools.values()} == {world.d1.id}
        assert schools["IM01"].zone.name == "东片" and schools["IM01"].boarding is True
        assert schools["IM01"].honours == ["市文明食堂", "省放心超市示范店"]
        assert schools["IM02"].boarding is False and schools["IM03"].zone_id is None
        assert (
            schools["IM03"].student_count == 1500 and str(schools["IM03"].campus_area) == "50000.50"
        )
        users = {
            u.username: u
            for u in db.session.scalars(select(User).where(User.username.like("im_%")))
        }
        assert users["im_head1"].school_id == schools["IM01"].id
        assert (
            users["im_head1"].role == Role.SCHOOL_HEAD and users["im_head1"].phone == "13800000000"
        )
        assert users["im_staff2"].school_id == schools["IM02"].id
        assert sorted(z.name for z in users["im_dc"].zones) == ["东片", "西片"]
        assert (
            users["im_leader"].role == Role.DISTRICT_VIEWER and users["im_leader"].school_id is None
        )
        assert {u.district_id for u in users.values()} == {world.d1.id}
        db.session.rollback()
    # Imported accounts can log in with their initial password.
    client = app.test_client()
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)
    ).group(1)
    resp = client.post(
        "/login", data={"username": "im_head1", "password": "Start-2026!", "csrf_token": token}
    )
    assert resp.status_code == 302
    # Another district is untouched.
    assert _counts(app, world.d2.id) == {"School": 1, "User": 2, "Zone": 1}


def test_existing_zones_are_reused(app: Any, world: Any, admin: Any) -> None:
    rows = [["IM09", "已有片区学校", "小学", world.z1.name, "否", 100, 10, None, None, None, None]]
    users = [["im_dc9", "督查", "督查员", None, world.z2.name, None, "Start-2026!"]]
    before = _counts(app, world.d1.id)
    assert _upload(admin, workbook(rows, users)).status_code == 302
    after = _counts(app, world.d1.id)
    assert after["Zone"] == before["Zone"] and after["School"] == before["School"] + 1


BAD_CASES = {
    "bad level": (
        [
            SCHOOL_ROWS[0],
            SCHOOL_ROWS[1],
            ["IM03", "导入高中", "大学", None, "否", 1, 1, None, None, None, None],
        ],
        USER_ROWS,
        ("学校", "4", "level"),
    ),
    "duplicate code in the sheet": (
        [
            SCHOOL_ROWS[0],
            SCHOOL_ROWS[1],
            ["IM01", "另一所", "小学", None, "否", 1, 1, None, None, None, None],
        ],
        USER_ROWS,
        ("学校", "4", "学校代码 IM01 重复"),
    ),
    "code already in the district": (
        [
            SCHOOL_ROWS[0],
            SCHOOL_ROWS[1],
            ["A01", "另一所", "小学", None, "否", 1, 1, None, None, None, None],
        ],
        USER_ROWS,
        ("学校", "4", "学校代码 A01 重复"),
    ),
    "bad boarding value": (
        [
            SCHOOL_ROWS[0],
            SCHOOL_ROWS[1],
            ["IM03", "导入高中", "高中", None, "有时", 1, 1, None, None, None, None],
        ],
        USER_ROWS,
        ("学校", "4", "寄宿制只能填“是”或“否”"),
    ),
    "bad student count": (
        [
            SCHOOL_ROWS[0],
            SCHOOL_ROWS[1],
            ["IM03", "导入高中", "高中", None, "否", "很多", 1, None, None, None, None],
        ],
        USER_ROWS,
        ("学校", "4", "student_count"),
    ),
    "unknown school code for a user": (
        SCHOOL_ROWS,
        [
            USER_ROWS[0],
            ["im_staff2", "导入总务", "后勤主任/总务", "NOPE", None, None, "Start-2026!"],
            USER_ROWS[2],
        ],
        ("用户", "3", "学校代码 NOPE 不存在"),
    ),
    "another district's school code": (
        SCHOOL_ROWS,
        [
            USER_ROWS[0],
            ["im_staff2", "导入总务", "后勤主任/总务", "C01", None, None, "Start-2026!"],
        ],
        ("用户", "3", "学校代码 C01 不存在"),
    ),
    "unknown zone for an inspector": (
        SCHOOL_ROWS,
        [USER_ROWS[0], ["im_dc", "督查员", "督查员", None, "北片", None, "Start-2026!"]],
        ("用户", "3", "片区不存在：北片"),
    ),
    "bad role": (
        SCHOOL_ROWS,
        [USER_ROWS[0], ["im_x", "某", "超级管理员", None, None, None, "Start-2026!"]],
        ("用户", "3", "角色“超级管理员”无效"),
    ),
    "username taken in another district": (
        SCHOOL_ROWS,
        [USER_ROWS[0], ["head_c", "撞名", "局领导", None, None, None, "Start-2026!"]],
        ("用户", "3", "用户名 head_c 已被使用"),
    ),
    "short password": (
        SCHOOL_ROWS,
        [USER_ROWS[0], ["im_short", "某", "局领导", None, None, None, "123"]],
        ("用户", "3", "password"),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_one_bad_row_imports_nothing(app: Any, world: Any, admin: Any, case: str) -> None:
    schools, users, (sheet, row, message) = BAD_CASES[case]
    before = _counts(app, world.d1.id)
    resp = _upload(admin, workbook(schools, users))
    assert resp.status_code == 422
    assert "未导入任何数据" in resp.get_data(as_text=True)
    errors = _error_rows(resp)
    assert len(errors) == 1, errors
    assert errors[0][0] == sheet and errors[0][1] == row and message in errors[0][2], errors
    assert _counts(app, world.d1.id) == before


def test_every_error_is_listed_with_sheet_and_row(app: Any, world: Any, admin: Any) -> None:
    schools = [
        SCHOOL_ROWS[0],
        ["IM02", "导入小学", "大学", None, "否", 1, 1, None, None, None, None],
        ["IM03", "导入高中", "高中", None, "也许", 1, 1, None, None, None, None],
    ]
    users = [USER_ROWS[0], ["im_x", "某", "校长", "NOPE", None, None, "Start-2026!"]]
    before = _counts(app, world.d1.id)
    resp = _upload(admin, workbook(schools, users))
    assert resp.status_code == 422
    assert [(s, r) for s, r, _m in _error_rows(resp)] == [
        ("学校", "3"),
        ("学校", "4"),
        ("用户", "3"),
    ]
    assert _counts(app, world.d1.id) == before


def test_missing_and_unknown_columns(app: Any, world: Any, admin: Any) -> None:
    header = [h for h in SCHOOL_HEADER if h != "学段"]
    rows = [[v for h, v in zip(SCHOOL_HEADER, r, strict=True) if h != "学段"] for r in SCHOOL_ROWS]
    before = _counts(app, world.d1.id)
    resp = _upload(admin, workbook(rows, None, school_header=header))
    assert resp.status_code == 422
    assert _error_rows(resp) == [("学校", "1", "缺少列：学段")]
    resp = _upload(admin, workbook(SCHOOL_ROWS, None, school_header=[*SCHOOL_HEADER[:-1], "备注"]))
    assert resp.status_code == 422
    assert _error_rows(resp) == [("学校", "1", "无法识别的列：备注")]
    assert _counts(app, world.d1.id) == before


def test_non_xlsx_upload_is_refused(app: Any, world: Any, admin: Any) -> None:
    before = _counts(app, world.d1.id)
    for data, name in (
        (b"code,name\nX1,Y\n", "学校.csv"),
        (b"PK\x03\x04 not really a zip", "坏文件.xlsx"),
        (b"", "空.xlsx"),
    ):
        resp = _upload(admin, data, name)
        assert resp.status_code == 422, name
        rows = _error_rows(resp)
        assert len(rows) == 1 and "无法读取 Excel 文件（.xlsx）" in rows[0][2], rows
    resp = admin.post("/admin/import", data={}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "请选择要导入的 Excel 文件" in resp.get_data(as_text=True)
    assert _counts(app, world.d1.id) == before


def test_wrong_sheet_names_are_named(app: Any, world: Any, admin: Any) -> None:
    before = _counts(app, world.d1.id)
    resp = _upload(admin, workbook(sheet_names=("Sheet1", "Sheet2")))
    assert resp.status_code == 422
    ((_sheet, _row, message),) = _error_rows(resp)
    assert "学校" in message and "用户" in message and "Sheet1" in message
    assert _counts(app, world.d1.id) == before


def test_import_is_for_district_admins_only(app: Any, world: Any, client_for: Any) -> None:
    before = _counts(app, world.d1.id)
    for user in (world.viewer1, world.head_a, world.inspector1):
        assert _upload(client_for(user), workbook()).status_code == 403
    assert _counts(app, world.d1.id) == before


def test_template_is_a_valid_workbook_that_imports(app: Any, world: Any, admin: Any) -> None:
    resp = admin.get("/admin/import/template.xlsx")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in resp.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["学校", "用户"]
    assert [c.value for c in wb["学校"][1]] == list(SCHOOL_COLUMNS)
    assert [c.value for c in wb["用户"][1]] == list(USER_COLUMNS)
    assert wb["学校"].max_row >= 2 and wb["用户"].max_row >= 2
    # Its example rows are themselves a valid import.
    before = _counts(app, world.d1.id)
    result = _upload(admin, resp.data)
    assert result.status_code == 302, _error_rows(result)
    after = _counts(app, world.d1.id)
    assert after["School"] == before["School"] + wb["学校"].max_row - 1
    assert after["User"] == before["User"] + wb["用户"].max_row - 1


def test_users_export_is_a_workbook_that_neutralises_formulas(
    app: Any, world: Any, factories: Any, admin: Any
) -> None:
    factories.user(
        Role.DISTRICT_VIEWER,
        world.d1,
        username="formula",
        display_name='=HYPERLINK("http://evil","点我")',
    )
    factories.user(Role.DISTRICT_VIEWER, world.d1, username="plus", display_name="+1-2")
    resp = admin.get("/admin/users?format=xlsx")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = load_workbook(io.BytesIO(resp.data))
    ws = wb["用户"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("用户名", "姓名", "角色", "学校", "负责片区", "状态")
    by_username = {r[0]: r for r in rows[1:]}
    assert by_username["formula"][1] == '\'=HYPERLINK("http://evil","点我")'
    assert by_username["plus"][1] == "'+1-2"
    assert by_username["head_a"][3] == world.a.name
    assert by_username["inspector1"][4] == world.z1.name
    # Only the admin's own district.
    assert "admin2" not in by_username and "head_c" not in by_username
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
