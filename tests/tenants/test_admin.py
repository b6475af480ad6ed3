"""District administration through the pages and the API, its audit trail, the roles
that may and may not do it, the platform operator, and the first-account CLI."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from district.extensions import db
from tenants.models import District, Role, School, User, Zone
from tenants.scope import unscoped

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _login(app: Any, username: str, password: str) -> Any:
    client = app.test_client()
    token = _CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    resp = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return client, resp


def _read(app: Any, model: type, **where: Any) -> Any:
    with app.app_context(), unscoped("tests: read back"):
        stmt = select(model).filter_by(**where)
        row = db.session.scalars(stmt).unique().one_or_none()
        if row is not None and model is User:
            _ = row.zones
        db.session.expunge_all()
        db.session.rollback()
    return row


def _audit(admin: Any) -> list[dict]:
    resp = admin.api("GET", "/api/v1/audit?per_page=500")
    assert resp.status_code == 200
    return resp.get_json()


# --- district admin through the pages -------------------------------------------------


def test_admin_builds_the_district_through_the_pages(app: Any, world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    assert admin.post("/admin/zones", data={"name": "新片区", "code": "Z9"}).status_code == 302
    zone = _read(app, Zone, name="新片区")
    assert zone.district_id == world.d1.id and zone.code == "Z9"

    resp = admin.post(
        "/admin/schools/new",
        data={
            "code": "N01",
            "name": "新区实验小学",
            "level": "小学",
            "zone_id": str(zone.id),
            "boarding": "on",
            "student_count": "640",
            "staff_count": "48",
            "campus_area": "20000",
            "green_area": "8000.5",
            "honours": "市花园式学校；市文明食堂",
        },
    )
    assert resp.status_code == 302
    school = _read(app, School, code="N01", district_id=world.d1.id)
    assert (school.zone_id, school.boarding, school.student_count) == (zone.id, True, 640)
    assert str(school.green_area) == "8000.50"
    assert school.honours == ["市花园式学校", "市文明食堂"]

    resp = admin.post(
        "/admin/users/new",
        data={
            "username": "dc_new",
            "display_name": "新督查员",
            "role": Role.INSPECTOR,
            "zone_ids": [str(zone.id), str(world.z1.id)],
            "password": "Start-2026!",
        },
    )
    assert resp.status_code == 302
    inspector = _read(app, User, username="dc_new")
    assert inspector.district_id == world.d1.id and inspector.school_id is None
    assert sorted(z.id for z in inspector.zones) == sorted([zone.id, world.z1.id])

    resp = admin.post(
        "/admin/users/new",
        data={
            "username": "head_new",
            "display_name": "新校长",
            "role": Role.SCHOOL_HEAD,
            "school_id": str(school.id),
            "password": "Start-2026!",
        },
    )
    assert resp.status_code == 302
    head = _read(app, User, username="head_new")
    assert (head.district_id, head.school_id, head.role) == (
        world.d1.id,
        school.id,
        Role.SCHOOL_HEAD,
    )
    # The new accounts work, and see what their role gives them.
    client, resp = _login(app, "head_new", "Start-2026!")
    assert resp.status_code == 302
    assert [s["code"] for s in client.get("/api/v1/schools").get_json()] == ["N01"]
    client, resp = _login(app, "dc_new", "Start-2026!")
    assert resp.status_code == 302
    assert sorted(s["code"] for s in client.get("/api/v1/schools").get_json()) == ["A01", "N01"]

    # Edit the school through its form; the audit trail keeps before and after.
    resp = admin.post(
        f"/admin/schools/{school.id}",
        data={
            "code": "N01",
            "name": "新区实验小学",
            "level": "小学",
            "zone_id": str(zone.id),
            "student_count": "700",
            "version": "1",
        },
    )
    assert resp.status_code == 302
    entries = _audit(admin)
    actions = [e["action"] for e in entries]
    for action in ("zone.create", "school.create", "user.create", "school.update"):
        assert action in actions, actions
    update = next(e for e in entries if e["action"] == "school.update")
    assert update["before"]["student_count"] == 640 and update["after"]["student_count"] == 700
    assert update["before"]["boarding"] is True and update["after"]["boarding"] is False
    assert update["actor_name"] == world.admin1.display_name
    created = [e for e in entries if e["action"] == "user.create"]
    assert {e["after"]["username"] for e in created} == {"dc_new", "head_new"}
    assert all(e["before"] is None for e in created)


def test_user_form_errors_are_shown_and_nothing_saved(
    app: Any, world: Any, client_for: Any
) -> None:
    admin = client_for(world.admin1)
    cases = [
        ({"role": Role.SCHOOL_HEAD}, "学校角色必须指定所属学校"),
        ({"role": Role.SCHOOL_HEAD, "school_id": str(world.c.id)}, "学校不存在"),
        ({"role": Role.INSPECTOR, "zone_ids": [str(world.z3.id)]}, "片区不存在"),
        ({"role": Role.DISTRICT_VIEWER, "username": "head_b"}, "用户名已被使用"),
        ({"role": Role.DISTRICT_VIEWER, "username": "bad name!"}, "用户名只能包含"),
        ({"role": Role.PLATFORM_OPERATOR}, "须为以下之一"),
    ]
    for extra, message in cases:
        data = {"username": "someone", "display_name": "某人", "password": "Start-2026!"}
        data.update(extra)
        resp = admin.post("/admin/users/new", data=data)
        assert resp.status_code == 422, extra
        assert message in resp.get_data(as_text=True), extra
    assert _read(app, User, username="someone") is None
    assert _read(app, User, username="bad name!") is None


# --- district admin through the API ---------------------------------------------------


def test_admin_builds_the_district_through_the_api(app: Any, world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    resp = admin.api("POST", "/api/v1/zones", json={"name": "接口片区"})
    assert resp.status_code == 201
    zone = resp.get_json()
    assert zone["school_count"] == 0 and zone["version"] == 1

    resp = admin.api(
        "POST",
        "/api/v1/schools",
        json={
            "code": "API1",
            "name": "接口学校",
            "level": "初中",
            "zone_id": zone["id"],
            "campus_area": "30000",
            "green_area": "9000",
        },
    )
    assert resp.status_code == 201
    school = resp.get_json()
    assert school["zone_name"] == "接口片区" and school["green_area"] == "9000.00"

    resp = admin.api(
        "POST",
        "/api/v1/users",
        json={
            "username": "api_inspector",
            "display_name": "接口督查员",
            "role": Role.INSPECTOR,
            "zone_ids": [zone["id"]],
            "password": "Start-2026!",
        },
    )
    assert resp.status_code == 201
    assert resp.get_json()["zone_ids"] == [zone["id"]] and "password" not in resp.get_json()

    resp = admin.api(
        "POST",
        "/api/v1/users",
        json={
            "username": "api_head",
            "display_name": "接口校长",
            "role": Role.SCHOOL_HEAD,
            "school_id": school["id"],
            "password": "Start-2026!",
        },
    )
    assert resp.status_code == 201
    head = resp.get_json()
    assert head["school_name"] == "接口学校"

    resp = admin.api(
        "PATCH", f"/api/v1/zones/{zone['id']}", json={"name": "接口片区二", "version": 1}
    )
    assert resp.status_code == 200 and resp.get_json()["version"] == 2
    resp = admin.api("PATCH", f"/api/v1/users/{head['id']}", json={"display_name": "接口校长二"})
    assert resp.status_code == 200

    entries = _audit(admin)
    by_action: dict[str, list[dict]] = {}
    for e in entries:
        by_action.setdefault(e["action"], []).append(e)
    assert len(by_action["zone.create"]) == 1 and len(by_action["school.create"]) == 1
    assert len(by_action["user.create"]) == 2
    assert by_action["zone.update"][0]["before"] == {"name": "接口片区", "code": None}
    assert by_action["zone.update"][0]["after"] == {"name": "接口片区二", "code": None}
    user_update = by_action["user.update"][0]
    assert user_update["before"]["display_name"] == "接口校长"
    assert user_update["after"]["display_name"] == "接口校长二"
    assert "password" not in str(entries) and "password_hash" not in str(entries)
    school_create = by_action["school.create"][0]
    assert school_create["after"]["code"] == "API1" and school_create["school_id"] == school["id"]

    # Another district's admin sees none of it.
    other = _audit(client_for(world.admin2))
    assert not [e for e in other if e["object_id"] in {str(zone["id"]), str(school["id"])}]


def test_zone_with_schools_cannot_be_deleted(app: Any, world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    resp = admin.api("DELETE", f"/api/v1/zones/{world.z1.id}")
    assert resp.status_code == 409
    assert _read(app, Zone, id=world.z1.id) is not None
    empty = admin.api("POST", "/api/v1/zones", json={"name": "空片区"}).get_json()
    assert admin.api("DELETE", f"/api/v1/zones/{empty['id']}").status_code == 204
    assert _read(app, Zone, id=empty["id"]) is None
    assert "zone.delete" in [e["action"] for e in _audit(admin)]


# --- who may do what ----------------------------------------------------------------


def test_district_viewer_reads_but_cannot_write(app: Any, world: Any, client_for: Any) -> None:
    viewer = client_for(world.viewer1)
    page = viewer.get("/admin/schools")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert world.a.name in html and world.b.name in html
    assert "/admin/schools/new" not in html  # no add button for a viewer
    assert viewer.get("/admin/schools/new").status_code == 403
    assert (
        viewer.post(
            "/admin/schools/new", data={"code": "V1", "name": "看", "level": "小学"}
        ).status_code
        == 403
    )
    assert viewer.post("/admin/zones", data={"name": "看片区"}).status_code == 403
    assert viewer.get("/admin/users").status_code == 403
    resp = viewer.api("POST", "/api/v1/schools", json={"code": "V1", "name": "看", "level": "小学"})
    assert resp.status_code == 403
    assert viewer.api("GET", "/api/v1/audit").status_code == 200
    assert _read(app, School, code="V1") is None
    assert _read(app, Zone, name="看片区") is None


def test_school_head_sees_only_their_school(app: Any, world: Any, client_for: Any) -> None:
    head = client_for(world.head_a)
    schools = head.api("GET", "/api/v1/schools").get_json()
    assert [s["code"] for s in schools] == ["A01"]
    assert head.api("GET", f"/api/v1/schools/{world.a.id}").status_code == 200
    assert head.api("GET", f"/api/v1/schools/{world.b.id}").status_code == 404
    assert head.get("/admin/schools").status_code == 403
    home = head.get("/")
    assert home.status_code == 200 and world.a.name in home.get_data(as_text=True)


def test_inspector_sees_the_schools_of_their_zones(app: Any, world: Any, client_for: Any) -> None:
    inspector = client_for(world.inspector1)
    assert [s["code"] for s in inspector.api("GET", "/api/v1/schools").get_json()] == ["A01"]
    html = inspector.get("/admin/schools").get_data(as_text=True)
    assert world.a.name in html and world.b.name not in html


# --- the platform operator -----------------------------------------------------------


def test_operator_creates_districts(app: Any, world: Any, client_for: Any) -> None:
    operator = client_for(world.operator)
    resp = operator.post(
        "/platform/districts",
        data={
            "code": "YL",
            "name": "园林区教育局",
            "region": "示范市",
            "admin_username": "yl_admin",
            "admin_name": "关瑞华",
            "admin_password": "First-2026!",
        },
    )
    assert resp.status_code == 302
    resp = operator.api(
        "POST",
        "/api/v1/districts",
        json={
            "code": "LH",
            "name": "临湖区教育局",
            "admin_username": "lh_admin",
            "admin_name": "陈国栋",
            "admin_password": "First-2026!",
        },
    )
    assert resp.status_code == 201
    assert resp.get_json()["code"] == "LH" and "admin_password" not in resp.get_json()
    codes = [d["code"] for d in operator.api("GET", "/api/v1/districts").get_json()]
    assert {"YL", "LH", "D1", "D2"} <= set(codes)
    page = operator.get("/platform/districts").get_data(as_text=True)
    assert "园林区教育局" in page and "临湖区教育局" in page

    # Duplicates are refused.
    resp = operator.api(
        "POST",
        "/api/v1/districts",
        json={
            "code": "LH",
            "name": "又一个",
            "admin_username": "lh_admin2",
            "admin_name": "某",
            "admin_password": "First-2026!",
        },
    )
    assert resp.status_code == 409
    resp = operator.post(
        "/platform/districts",
        data={"code": "X", "name": "缺密码", "admin_username": "x_admin", "admin_name": "某"},
    )
    assert resp.status_code == 422

    for username, code in (("yl_admin", "YL"), ("lh_admin", "LH")):
        client, resp = _login(app, username, "First-2026!")
        assert resp.status_code == 302
        me = client.get("/api/v1/me").get_json()
        district = _read(app, District, code=code)
        assert me["role"] == Role.DISTRICT_ADMIN and me["district_id"] == district.id
        assert client.get("/api/v1/schools").get_json() == []  # a new district is empty
        assert client.get("/").status_code == 200
    # The operator sees districts, nothing inside them.
    assert operator.api("GET", "/api/v1/schools").status_code == 403
    assert operator.get("/admin/schools").status_code == 403


# --- command line ---------------------------------------------------------------------


def test_cli_create_operator_and_district(app: Any) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-operator", "--username", "ops"], input="Ops-pass-2026\nOps-pass-2026\n"
    )
    assert result.exit_code == 0, result.output
    assert "platform operator ops created" in result.output
    operator = _read(app, User, username="ops")
    assert operator.role == Role.PLATFORM_OPERATOR and operator.district_id is None

    result = runner.invoke(
        args=[
            "create-district",
            "--code",
            "YL",
            "--name",
            "园林区教育局",
            "--admin-username",
            "yl_admin",
            "--admin-name",
            "关瑞华",
        ],
        input="Admin-pass-2026\nAdmin-pass-2026\n",
    )
    assert result.exit_code == 0, result.output
    district = _read(app, District, code="YL")
    assert f"district YL created (id {district.id})" in result.output

    client, resp = _login(app, "ops", "Ops-pass-2026")
    assert resp.status_code == 302
    assert "园林区教育局" in client.get("/platform/districts").get_data(as_text=True)
    client, resp = _login(app, "yl_admin", "Admin-pass-2026")
    assert resp.status_code == 302
    assert client.get("/api/v1/me").get_json()["district_id"] == district.id

    # Refusals: a taken username, a short password.
    result = runner.invoke(
        args=["create-operator", "--username", "ops"], input="Ops-pass-2026\nOps-pass-2026\n"
    )
    assert result.exit_code != 0
    result = runner.invoke(
        args=[
            "create-district",
            "--code",
            "ZZ",
            "--name",
            "短密码区",
            "--admin-username",
            "zz_admin",
            "--admin-name",
            "某",
        ],
        input="short\nshort\n",
    )
    assert result.exit_code != 0 and "admin_password" in result.output
    assert _read(app, District, code="ZZ") is None
    assert _read(app, User, username="zz_admin") is None
