"""Accounts and sessions: login, logout, password change, tokens, headers, locale."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from district.extensions import db
from tenants.models import AccessToken, Role, utcnow
from tenants.scope import unscoped

PASSWORD = "Password-123"
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _login_form(client: Any) -> str:
    html = client.get("/login").get_data(as_text=True)
    match = _CSRF_RE.search(html)
    assert match, "the login page carries a CSRF token"
    return match.group(1)


def _login(client: Any, username: str, password: str = PASSWORD) -> Any:
    token = _login_form(client)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


def _session_cookie(client: Any) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def _client_with_cookie(app: Any, value: str) -> Any:
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def _is_login_redirect(resp: Any) -> bool:
    return resp.status_code == 302 and "/login" in resp.headers["Location"]


# --- login and logout ---------------------------------------------------------------


def test_login_and_logout(app: Any, world: Any) -> None:
    client = app.test_client()
    assert _is_login_redirect(client.get("/"))
    resp = _login(client, "admin1")
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and world.admin1.display_name in home.get_data(as_text=True)
    # Usernames are case-insensitive.
    other = app.test_client()
    assert _login(other, "ADMIN1").status_code == 302
    token = _CSRF_RE.search(home.get_data(as_text=True)).group(1)
    resp = client.post("/logout", data={"csrf_token": token})
    assert _is_login_redirect(resp)
    assert _is_login_redirect(client.get("/"))


def test_login_follows_only_local_next(app: Any, world: Any) -> None:
    client = app.test_client()
    token = _login_form(client)
    resp = client.post(
        "/login?next=/admin/schools",
        data={"username": "admin1", "password": PASSWORD, "csrf_token": token},
    )
    assert resp.headers["Location"] == "/admin/schools"
    client = app.test_client()
    token = _login_form(client)
    resp = client.post(
        "/login?next=https://evil.example/",
        data={"username": "admin1", "password": PASSWORD, "csrf_token": token},
    )
    assert resp.headers["Location"] == "/"


def test_login_without_csrf_token_is_refused(app: Any, world: Any) -> None:
    client = app.test_client()
    client.get("/login")
    resp = client.post("/login", data={"username": "admin1", "password": PASSWORD})
    assert resp.status_code == 400
    assert _is_login_redirect(client.get("/"))


def test_wrong_password_and_unknown_user_look_the_same(app: Any, world: Any) -> None:
    client = app.test_client()
    wrong = _login(client, "admin1", "not-the-password")
    unknown = _login(client, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码不正确" in wrong.get_data(as_text=True)

    def message(resp: Any) -> str:
        return re.search(r'role="alert">([^<]*)<', resp.get_data(as_text=True)).group(1)

    assert message(wrong) == message(unknown)
    assert _is_login_redirect(client.get("/"))


def test_inactive_account_cannot_log_in(app: Any, factories: Any, world: Any) -> None:
    factories.user(Role.DISTRICT_VIEWER, world.d1, username="retired", active=False)
    resp = _login(app.test_client(), "retired")
    assert resp.status_code == 401


def test_login_is_rate_limited(app: Any, world: Any) -> None:
    client = app.test_client()
    token = _login_form(client)
    statuses = [
        client.post(
            "/login", data={"username": "admin1", "password": "wrong", "csrf_token": token}
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    # The limit counts POSTs only: the form itself still answers, even the right password
    # is refused until the window passes.
    assert client.get("/login").status_code == 200
    resp = client.post(
        "/login", data={"username": "admin1", "password": PASSWORD, "csrf_token": token}
    )
    assert resp.status_code == 429


def test_rate_limits_count_per_deployment(app: Any, world: Any) -> None:
    """Counters carry the deployment's Redis namespace: another deployment sharing the
    Redis (another REDIS_NAMESPACE) starts from zero for the same address."""
    client = app.test_client()
    token = _login_form(client)

    def attempts() -> list[int]:
        return [
            client.post(
                "/login", data={"username": "admin1", "password": "wrong", "csrf_token": token}
            ).status_code
            for _ in range(11)
        ]

    saved = app.extensions.get("redis_namespace")
    try:
        app.extensions["redis_namespace"] = "deployment-a"
        assert attempts()[-1] == 429
        app.extensions["redis_namespace"] = "deployment-b"
        assert attempts() == [401] * 10 + [429]
    finally:
        app.extensions["redis_namespace"] = saved


def test_logout_invalidates_the_old_cookie_server_side(app: Any, world: Any) -> None:
    client = app.test_client()
    _login(client, "head_a")
    stolen = _session_cookie(client)
    assert _client_with_cookie(app, stolen).get("/").status_code == 200
    token = _CSRF_RE.search(client.get("/account/password").get_data(as_text=True)).group(1)
    assert _is_login_redirect(client.post("/logout", data={"csrf_token": token}))
    replay = _client_with_cookie(app, stolen)
    assert _is_login_redirect(replay.get("/"))
    assert replay.get("/api/v1/me").status_code == 401


# --- password change ------------------------------------------------------------------


def test_change_password(app: Any, world: Any) -> None:
    client = app.test_client()
    _login(client, "head_a")
    elsewhere = app.test_client()
    _login(elsewhere, "head_a")
    assert elsewhere.get("/").status_code == 200
    token = _CSRF_RE.search(client.get("/account/password").get_data(as_text=True)).group(1)

    resp = client.post(
        "/account/password",
        data={
            "current_password": "wrong-one",
            "new_password": "New-pass-2026",
            "csrf_token": token,
        },
    )
    assert resp.status_code == 422
    assert "当前密码不正确" in resp.get_data(as_text=True)
    resp = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "short", "csrf_token": token},
    )
    assert resp.status_code == 422
    assert elsewhere.get("/").status_code == 200  # failed attempts changed nothing

    resp = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "New-pass-2026", "csrf_token": token},
    )
    assert resp.status_code == 302
    assert client.get("/").status_code == 200  # this session stays
    assert _is_login_redirect(elsewhere.get("/"))  # every other one is gone
    assert _login(app.test_client(), "head_a", PASSWORD).status_code == 401
    assert _login(app.test_client(), "head_a", "New-pass-2026").status_code == 302


# --- personal access tokens ----------------------------------------------------------


def _bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_personal_access_token_lifecycle(app: Any, world: Any, client_for: Any) -> None:
    owner = client_for(world.head_a)
    resp = owner.api("POST", "/api/v1/tokens", json={"name": "报表脚本", "expires_in_days": 30})
    assert resp.status_code == 201
    created = resp.get_json()
    raw = created["token"]
    assert raw.startswith("hq_") and created["prefix"] == raw[:10]

    listed = owner.api("GET", "/api/v1/tokens").get_json()
    assert [t["name"] for t in listed] == ["报表脚本"]
    assert raw not in str(listed) and "token" not in listed[0]  # shown once, never again

    api = app.test_client()  # no cookie at all
    me = api.get("/api/v1/me", headers=_bearer(raw))
    assert me.status_code == 200 and me.get_json()["username"] == "head_a"
    schools = api.get("/api/v1/schools", headers=_bearer(raw)).get_json()
    assert [s["code"] for s in schools] == ["A01"]  # the token carries the owner's scope
    assert api.get("/api/v1/me", headers=_bearer(raw + "x")).status_code == 401

    assert owner.api("DELETE", f"/api/v1/tokens/{created['id']}").status_code == 204
    resp = api.get("/api/v1/me", headers=_bearer(raw))
    assert resp.status_code == 401 and resp.is_json


def test_expired_token_is_refused(app: Any, world: Any, client_for: Any) -> None:
    raw = (
        client_for(world.admin1)
        .api("POST", "/api/v1/tokens", json={"name": "t"})
        .get_json()["token"]
    )
    api = app.test_client()
    assert api.get("/api/v1/me", headers=_bearer(raw)).status_code == 200
    with app.app_context(), unscoped("tests: expire the token"):
        db.session.execute(
            update(AccessToken)
            .where(AccessToken.token_hash == AccessToken.hash(raw))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()
    resp = api.get("/api/v1/me", headers=_bearer(raw))
    assert resp.status_code == 401 and resp.get_json()["code"] == 401


def test_token_callers_need_no_csrf_but_cookie_callers_do(
    app: Any, world: Any, client_for: Any
) -> None:
    admin = client_for(world.admin1)
    raw = admin.api("POST", "/api/v1/tokens", json={"name": "t"}).get_json()["token"]
    api = app.test_client()
    resp = api.post("/api/v1/zones", json={"name": "令牌片区"}, headers=_bearer(raw))
    assert resp.status_code == 201
    # The same request riding the session cookie without the CSRF header is refused.
    resp = admin.client.post("/api/v1/zones", json={"name": "无令牌片区"})
    assert resp.status_code == 400 and resp.is_json
    names = [z["name"] for z in admin.api("GET", "/api/v1/zones").get_json()]
    assert "令牌片区" in names and "无令牌片区" not in names


def test_token_of_a_deactivated_user_is_refused(app: Any, world: Any, client_for: Any) -> None:
    from tenants.models import User

    raw = (
        client_for(world.head_a)
        .api("POST", "/api/v1/tokens", json={"name": "t"})
        .get_json()["token"]
    )
    with app.app_context(), unscoped("tests: deactivate"):
        db.session.execute(update(User).where(User.id == world.head_a.id).values(active=False))
        db.session.commit()
    assert app.test_client().get("/api/v1/me", headers=_bearer(raw)).status_code == 401


def test_api_without_auth_is_401_json(app: Any, world: Any) -> None:
    for url in ("/api/v1/me", "/api/v1/schools", "/api/v1/zones"):
        resp = app.test_client().get(url)
        assert resp.status_code == 401, url
        assert resp.is_json and resp.get_json()["code"] == 401


def test_api_role_refusal_is_403_json(app: Any, world: Any, client_for: Any) -> None:
    head = client_for(world.head_a)
    for method, url, body in (
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/zones", {"name": "校长片区"}),
        ("POST", "/api/v1/schools", {"code": "X1", "name": "校长学校", "level": "小学"}),
        ("GET", "/api/v1/districts", None),
    ):
        resp = head.api(method, url, json=body)
        assert resp.status_code == 403, url
        assert resp.is_json and resp.get_json()["code"] == 403
    names = [z["name"] for z in client_for(world.admin1).api("GET", "/api/v1/zones").get_json()]
    assert "校长片区" not in names


# --- cookies, headers, language ------------------------------------------------------


def test_session_cookie_flags(app: Any, world: Any) -> None:
    client = app.test_client()
    resp = _login(client, "admin1")
    cookies = [v for k, v in resp.headers.items() if k == "Set-Cookie" and v.startswith("session=")]
    assert cookies, "login sets the session cookie"
    assert "HttpOnly" in cookies[0]
    assert "SameSite=Lax" in cookies[0]


def test_security_headers_and_csp_nonce(app: Any, world: Any, client_for: Any) -> None:
    client = app.test_client()
    first = client.get("/login")
    second = client.get("/login")
    csp = first.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert nonce and nonce not in second.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["X-Frame-Options"] == "DENY"
    assert first.headers["Referrer-Policy"] == "same-origin"
    # JSON answers carry them too.
    assert "Content-Security-Policy" in client.get("/api/v1/me").headers

    # A page with an inline script: its nonce is the one in the header.
    from district.jobs import JobRecord

    with app.app_context(), unscoped("tests: a job to look at"):
        job = JobRecord(
            district_id=world.d1.id,
            user_id=world.admin1.id,
            func="tests:nothing",
            args=[],
            description="看一眼",
        )
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    page = client_for(world.admin1).get(f"/jobs/{job_id}")
    assert page.status_code == 200
    header_nonce = re.search(r"'nonce-([^']+)'", page.headers["Content-Security-Policy"]).group(1)
    script_nonces = re.findall(r'<script nonce="([^"]+)"', page.get_data(as_text=True))
    assert script_nonces == [header_nonce]


def test_login_page_is_chinese_by_default(app: Any) -> None:
    resp = app.test_client().get("/login")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert '<html lang="zh-CN">' in html
    for text in ("登录", "用户名", "密码", "区教育局、督查员和学校使用同一个入口。"):
        assert text in html
    assert "Log in" not in html


def test_home_pages_answer_in_chinese(app: Any, world: Any, client_for: Any) -> None:
    for user in (world.admin1, world.inspector1, world.head_a):
        resp = client_for(user).get("/")
        assert resp.status_code == 200
        html = resp.get_data(as_text=True)
        assert '<html lang="zh-CN">' in html and "退出" in html
