"""Every way a write can be wrong, through the API and the pages: the answer says what
is wrong (status, JSON or page, field messages) and the data is left exactly as it was."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from sqlalchemy import select

from district.extensions import db
from tenants.models import School
from tenants.scope import unscoped

VALID = {"code": "N01", "name": "新学校", "level": "小学", "student_count": 500}


def _schools(app: Any) -> list[tuple]:
    """Every school row as it is in the database (all tenants)."""
    with app.app_context(), unscoped("tests: compare before and after"):
        rows = db.session.execute(select(School.__table__).order_by(School.id)).all()
        db.session.rollback()
    return [tuple(r) for r in rows]


@pytest.fixture()
def admin(world: Any, client_for: Any) -> Any:
    return client_for(world.admin1)


def _raw(admin: Any, method: str, url: str, body: bytes, content_type: str) -> Any:
    return admin.client.open(
        url,
        method=method,
        data=body,
        content_type=content_type,
        headers={"X-CSRFToken": admin.csrf()},
    )


def _json_error(resp: Any, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.is_json, resp.headers.get("Content-Type")
    body = resp.get_json()
    assert body["code"] == status and body["message"]
    return body


# --- the API -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_malformed_json_is_400(app: Any, world: Any, admin: Any, method: str) -> None:
    url = "/api/v1/schools" if method == "POST" else f"/api/v1/schools/{world.a.id}"
    before = _schools(app)
    resp = _raw(admin, method, url, b'{"code": "N01", "name": ', "application/json")
    _json_error(resp, 400)
    assert _schools(app) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**VALID, "student_count": "many"}, "student_count"),
        ({**VALID, "student_count": -1}, "student_count"),
        ({**VALID, "student_count": 10**9}, "student_count"),
        ({**VALID, "boarding": "perhaps"}, "boarding"),
        ({**VALID, "level": "大学"}, "level"),
        ({**VALID, "campus_area": "lots"}, "campus_area"),
        ({**VALID, "campus_area": "100", "green_area": "200"}, "green_area"),
        ({k: v for k, v in VALID.items() if k != "name"}, "name"),
        ({k: v for k, v in VALID.items() if k != "level"}, "level"),
        ({**VALID, "colour": "red"}, "colour"),
        ({**VALID, "id": 123}, "id"),
        ({**VALID, "zone_id": 10**6}, "zone_id"),
    ],
)
def test_create_school_validation_is_422(
    app: Any, world: Any, admin: Any, body: dict, field: str
) -> None:
    before = _schools(app)
    resp = admin.api("POST", "/api/v1/schools", json=body)
    errors = _json_error(resp, 422)["errors"]["json"]
    assert field in errors and errors[field], errors
    assert _schools(app) == before


def test_create_school_into_a_foreign_zone_is_422(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    resp = admin.api("POST", "/api/v1/schools", json={**VALID, "zone_id": world.z3.id})
    assert "zone_id" in _json_error(resp, 422)["errors"]["json"]
    assert _schools(app) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"student_count": "many"}, "student_count"),
        ({"student_count": -1}, "student_count"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
        ({"campus_area": "100", "green_area": "200"}, "green_area"),
        ({"version": 0}, "version"),
    ],
)
def test_patch_school_validation_is_422(
    app: Any, world: Any, admin: Any, body: dict, field: str
) -> None:
    before = _schools(app)
    resp = admin.api("PATCH", f"/api/v1/schools/{world.a.id}", json=body)
    assert field in _json_error(resp, 422)["errors"]["json"]
    assert _schools(app) == before


def test_oversized_json_is_413(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    limit = app.config["MAX_JSON_BYTES"]
    body = json.dumps({**VALID, "address": "x" * (limit + 10)}).encode()
    _json_error(_raw(admin, "POST", "/api/v1/schools", body, "application/json"), 413)
    _json_error(
        _raw(admin, "PATCH", f"/api/v1/schools/{world.a.id}", body, "application/json"), 413
    )
    assert _schools(app) == before


def test_oversized_multipart_to_the_api_is_413(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    resp = admin.client.post(
        "/api/v1/schools",
        data={"file": (io.BytesIO(b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)), "big.bin")},
        content_type="multipart/form-data",
        headers={"X-CSRFToken": admin.csrf()},
    )
    _json_error(resp, 413)
    assert _schools(app) == before


def test_unknown_school_is_404_json(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    _json_error(admin.api("GET", "/api/v1/schools/999999"), 404)
    _json_error(admin.api("PATCH", "/api/v1/schools/999999", json={"name": "x"}), 404)
    # Another district's school looks exactly like a missing one.
    foreign = admin.api("PATCH", f"/api/v1/schools/{world.c.id}", json={"name": "x"})
    assert _json_error(foreign, 404) == _json_error(
        admin.api("PATCH", "/api/v1/schools/999999", json={"name": "x"}), 404
    )
    _json_error(admin.api("GET", "/api/v1/no-such-thing"), 404)
    assert _schools(app) == before


def test_stale_version_is_409(app: Any, world: Any, admin: Any) -> None:
    url = f"/api/v1/schools/{world.a.id}"
    current = admin.api("GET", url).get_json()
    assert current["version"] == 1
    ok = admin.api("PATCH", url, json={"name": "甲校（新）", "version": 1})
    assert ok.status_code == 200 and ok.get_json()["version"] == 2
    before = _schools(app)
    stale = admin.api("PATCH", url, json={"name": "甲校（旧）", "version": 1})
    _json_error(stale, 409)
    assert _schools(app) == before
    assert admin.api("GET", url).get_json()["name"] == "甲校（新）"


def test_duplicate_code_is_409(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    resp = admin.api("POST", "/api/v1/schools", json={**VALID, "code": world.a.code})
    _json_error(resp, 409)
    resp = admin.api("PATCH", f"/api/v1/schools/{world.a.id}", json={"code": world.b.code})
    _json_error(resp, 409)
    assert _schools(app) == before
    # The same code in another district is no conflict.
    resp = admin.api("POST", "/api/v1/schools", json={**VALID, "code": world.c.code})
    assert resp.status_code == 201


def test_wrong_method_is_405_json(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    _json_error(admin.api("DELETE", f"/api/v1/schools/{world.a.id}"), 405)
    _json_error(admin.api("PUT", "/api/v1/schools", json=VALID), 405)
    _json_error(admin.api("DELETE", "/api/v1/schools"), 405)
    assert _schools(app) == before


def test_success_for_contrast(app: Any, world: Any, admin: Any) -> None:
    """The same valid body is accepted, so the refusals above are about the errors."""
    resp = admin.api("POST", "/api/v1/schools", json={**VALID, "zone_id": world.z1.id})
    assert resp.status_code == 201
    assert resp.get_json()["zone_name"] == world.z1.name
    assert len(_schools(app)) == 4


# --- the pages -----------------------------------------------------------------------


def _form(**kw: Any) -> dict[str, Any]:
    data = {"code": "N01", "name": "新学校", "level": "小学", "student_count": "500"}
    data.update(kw)
    return data


def test_school_form_with_bad_number_is_422(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    resp = admin.post("/admin/schools/new", data=_form(student_count="many"))
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'class="field-error"' in html and "不是有效的整数" in html
    assert 'value="many"' in html  # what the user typed is kept
    assert _schools(app) == before


def test_school_form_with_green_area_above_campus_is_422(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    resp = admin.post("/admin/schools/new", data=_form(campus_area="100", green_area="200"))
    assert resp.status_code == 422
    assert "绿化面积不能大于校园面积" in resp.get_data(as_text=True)
    assert _schools(app) == before


def test_school_form_with_duplicate_code_is_409(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    resp = admin.post("/admin/schools/new", data=_form(code=world.b.code))
    assert resp.status_code == 409
    assert resp.mimetype == "text/html"
    assert _schools(app) == before


def test_school_edit_form_with_stale_version_is_409(app: Any, world: Any, admin: Any) -> None:
    url = f"/admin/schools/{world.a.id}"
    page = admin.get(url).get_data(as_text=True)
    assert 'name="version" value="1"' in page
    first = admin.post(url, data=_form(code=world.a.code, name="甲校（一）", version="1"))
    assert first.status_code == 302
    before = _schools(app)
    second = admin.post(url, data=_form(code=world.a.code, name="甲校（二）", version="1"))
    assert second.status_code == 409
    html = second.get_data(as_text=True)
    assert "数据已被他人修改" in html and second.mimetype == "text/html"
    assert _schools(app) == before


def test_school_form_success_for_contrast(app: Any, world: Any, admin: Any) -> None:
    resp = admin.post("/admin/schools/new", data=_form(boarding="on", honours="市文明食堂；省绿色"))
    assert resp.status_code == 302
    with app.app_context(), unscoped("tests: read back"):
        school = db.session.scalar(select(School).where(School.code == "N01"))
        assert school.district_id == world.d1.id and school.boarding is True
        assert school.honours == ["市文明食堂", "省绿色"]
        db.session.rollback()


def test_oversized_upload_to_a_page_is_413(app: Any, world: Any, admin: Any) -> None:
    before = _schools(app)
    resp = admin.post(
        "/admin/import",
        data={"file": (io.BytesIO(b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)), "big.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 413
    assert resp.mimetype == "text/html" and "上传内容过大" in resp.get_data(as_text=True)
    assert _schools(app) == before


def test_web_404_and_405_are_pages(app: Any, world: Any, admin: Any) -> None:
    resp = admin.get("/admin/schools/999999")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    resp = admin.client.delete("/admin/schools")
    assert resp.status_code == 405 and resp.mimetype == "text/html"
