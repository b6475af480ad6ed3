"""The demo command: a fresh SQLite app gets a living district with a login for every role."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from config import TestConfig
from district import create_app
from district.demo import DEMO_PASSWORD, ZONES
from district.extensions import db
from tenants.models import District, Role, School, User, Zone
from tenants.scope import unscoped

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
_LOGIN_LINE = re.compile(r"^\s+\S+\s+([a-z_0-9]+)\s+\S", re.M)


@pytest.fixture(scope="module")
def demo_app() -> Iterator[Any]:
    tmp = tempfile.mkdtemp(prefix="houqin-demo-")
    app = create_app(
        TestConfig,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{os.path.join(tmp, 'demo.db')}",
        UPLOAD_DIR=os.path.join(tmp, "uploads"),
        REDIS_URL=None,
    )
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    app.config["DEMO_OUTPUT"] = result.output
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _counts(app: Any) -> dict[str, Any]:
    with app.app_context(), unscoped("tests: count the demo"):
        yl = db.session.scalar(select(District).where(District.code == "YL"))
        out = {
            "districts": db.session.scalar(select(func.count(District.id))),
            "yl_schools": db.session.scalar(
                select(func.count(School.id)).where(School.district_id == yl.id)
            ),
            "yl_zones": sorted(
                db.session.scalars(select(Zone.name).where(Zone.district_id == yl.id))
            ),
            "users": db.session.scalar(select(func.count(User.id))),
            "roles": set(db.session.scalars(select(User.role).distinct())),
            "zone_sizes": sorted(
                db.session.execute(
                    select(func.count(School.id))
                    .where(School.district_id == yl.id)
                    .group_by(School.zone_id)
                ).scalars()
            ),
        }
        db.session.rollback()
    return out


def test_demo_builds_a_district_with_every_role(demo_app: Any) -> None:
    counts = _counts(demo_app)
    assert counts["districts"] == 2  # 园林区 and its small neighbour 临湖区
    assert counts["yl_schools"] == 62  # as the README promises
    assert counts["yl_zones"] == sorted(ZONES) and len(ZONES) == 5
    assert min(counts["zone_sizes"]) >= 10 and len(counts["zone_sizes"]) == 5
    assert counts["roles"] == set(Role.ALL)
    # Two accounts per school plus the district's own, and a few in the neighbour.
    assert counts["users"] >= 2 * counts["yl_schools"] + 7
    output = demo_app.config["DEMO_OUTPUT"]
    assert f"Every demo login uses the password: {DEMO_PASSWORD}" in output


def _demo_logins(app: Any) -> list[str]:
    found = _LOGIN_LINE.findall(app.config["DEMO_OUTPUT"].split(DEMO_PASSWORD, 1)[1])
    assert len(found) >= 7, app.config["DEMO_OUTPUT"]
    return found


def test_every_demo_login_works_and_its_home_page_is_chinese(demo_app: Any) -> None:
    logins = _demo_logins(demo_app)
    assert {"platform", "yl_admin", "yl_leader", "yl_inspector1", "yl_head001", "yl_staff001"} <= (
        set(logins)
    )
    for username in logins:
        client = demo_app.test_client()
        token = _CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
        resp = client.post(
            "/login",
            data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token},
        )
        assert resp.status_code == 302, username
        home = client.get("/", follow_redirects=True)
        assert home.status_code == 200, username
        html = home.get_data(as_text=True)
        assert '<html lang="zh-CN">' in html and "退出" in html, username
    head = demo_app.test_client()
    token = _CSRF_RE.search(head.get("/login").get_data(as_text=True)).group(1)
    head.post(
        "/login", data={"username": "yl_head001", "password": DEMO_PASSWORD, "csrf_token": token}
    )
    assert [s["name"] for s in head.get("/api/v1/schools").get_json()] == ["园林一中"]


def test_running_the_demo_twice_does_not_duplicate(demo_app: Any) -> None:
    before = _counts(demo_app)
    result = demo_app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "demo data already present" in result.output
    assert _counts(demo_app) == before
