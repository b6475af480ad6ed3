"""The cross-tenant matrix: every route × every role, against another tenant's data.

Routes come from the app's URL map, so a route added tomorrow is tested the day it
is added. A URL parameter this file does not know how to fill fails the test: add
it to ``FOREIGN`` below (that is the whole point — nobody has to remember).

For each actor the test knows which objects are *not* theirs (school B for school
A's users and inspectors of zone 1; all of district 2 for district 1; and so on):
- reading a foreign object by id answers 401/403/404 and never shows its data;
- every list, page, export and count shows no foreign marker;
- writing to a foreign object is refused and leaves the database exactly as it was.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, text

from district.extensions import db
from tenants.scope import unscoped

SKIP_ENDPOINTS = {
    "static",
    "swagger_assets",
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
}
SAFE = {"GET"}
REFUSED = {401, 403, 404, 405}
MUTATION_REFUSED = REFUSED | {400, 409, 422}


@dataclass
class Actor:
    name: str
    user: Any
    foreign: dict[str, int]  # URL param name -> id of an object this actor must not reach
    markers: tuple[str, ...]  # text that must never appear in what this actor is shown


def _extra_rows(app: Any, world: Any) -> dict[str, Any]:
    """Tokens and jobs owned by other tenants, so their routes have foreign targets."""
    from district.jobs import JobRecord
    from tenants.models import AccessToken

    out: dict[str, Any] = {}
    with app.app_context(), unscoped("tests: matrix fixtures"):
        for key, user in (
            ("head_a", world.head_a),
            ("head_b", world.head_b),
            ("admin2", world.admin2),
            ("head_c", world.head_c),
        ):
            tok = AccessToken(
                district_id=user.district_id,
                user_id=user.id,
                name=f"令牌-SECRET-{key}",
                prefix="hq_x",
                token_hash=f"{key:0<64}"[:64],
            )
            job = JobRecord(
                district_id=user.district_id,
                school_id=user.school_id,
                user_id=user.id,
                func="tests:nothing",
                args=[],
                description=f"任务-SECRET-{key}",
                status="finished",
            )
            db.session.add_all([tok, job])
            db.session.flush()
            out[f"token_{key}"] = tok.id
            out[f"job_{key}"] = job.id
        db.session.commit()
    return out


def _actors(world: Any, extra: dict[str, int]) -> list[Actor]:
    d2_markers = (
        "丙校-SECRET",
        "二区管理员-SECRET",
        "丙校长-SECRET",
        "丙片区",
        "SECRET-admin2",
        "SECRET-head_c",
    )
    b_markers = ("乙校-SECRET", "乙校长-SECRET", "SECRET-head_b")
    a_markers = ("甲校", "SECRET-head_a")
    d2 = dict(
        school_id=world.c.id,
        zone_id=world.z3.id,
        user_id=world.head_c.id,
        token_id=extra["token_admin2"],
        job_id=extra["job_admin2"],
    )
    b = dict(
        school_id=world.b.id,
        zone_id=world.z3.id,
        user_id=world.head_b.id,
        token_id=extra["token_head_b"],
        job_id=extra["job_head_b"],
    )
    return [
        Actor("admin1", world.admin1, d2, d2_markers),
        Actor("viewer1", world.viewer1, d2, d2_markers),
        Actor("inspector1", world.inspector1, b, b_markers + d2_markers),
        Actor("head_a", world.head_a, b, b_markers + d2_markers),
        Actor("staff_a", world.staff_a, b, b_markers + d2_markers),
        Actor(
            "head_b",
            world.head_b,
            dict(
                b,
                school_id=world.a.id,
                user_id=world.head_a.id,
                token_id=extra["token_head_a"],
                job_id=extra["job_head_a"],
            ),
            a_markers + d2_markers,
        ),
        Actor(
            "admin2",
            world.admin2,
            dict(
                school_id=world.a.id,
                zone_id=world.z1.id,
                user_id=world.head_a.id,
                token_id=extra["token_head_b"],
                job_id=extra["job_head_b"],
            ),
            ("甲校", "乙校-SECRET", "乙校长-SECRET", "甲片区", "乙片区"),
        ),
        Actor(
            "operator", world.operator, dict(b, zone_id=world.z1.id), b_markers + ("甲校", "甲片区")
        ),
        Actor("anonymous", None, b, b_markers + d2_markers + a_markers),
    ]


def _routes(app: Any) -> list[tuple[str, Any, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, rule, method))
    # Logging out ends the actor's session, so it goes last.
    return sorted(out, key=lambda r: (r[0] == "tenants.logout", r[1].rule, r[2]))


def _refused(actor: Actor, resp: Any, allowed: set[int]) -> bool:
    if resp.status_code in allowed:
        return True
    # An anonymous browser is sent to the login page: a refusal too.
    return (
        actor.user is None
        and resp.status_code == 302
        and "/login" in resp.headers.get("Location", "")
    )


def _build(rule: Any, values: dict[str, int]) -> str:
    unknown = [a for a in rule.arguments if a not in values]
    assert not unknown, (
        f"route {rule.rule} has parameter(s) {unknown} the cross-tenant matrix cannot fill: "
        "add a foreign object for them in tests/isolation/test_matrix.py"
    )
    url = rule.rule
    for arg in rule.arguments:
        url = url.replace(f"<int:{arg}>", str(values[arg])).replace(f"<{arg}>", str(values[arg]))
    return url


def _body_text(resp: Any) -> str:
    data = resp.get_data()
    if data[:2] == b"PK":  # xlsx: look inside the workbook's XML
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return "".join(
                zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith(".xml")
            )
    if resp.is_json:
        import json

        return json.dumps(resp.get_json(silent=True), ensure_ascii=False)
    return data.decode("utf-8", "replace")


def _snapshot(app: Any, actor_user_id: int | None) -> dict[str, list]:
    """Every row of every table, except the acting user's own login bookkeeping."""
    snap: dict[str, list] = {}
    with app.app_context(), unscoped("tests: snapshot"):
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).mappings().all()
            cleaned = []
            for row in rows:
                row = dict(row)
                if table.name == "users" and row["id"] == actor_user_id:
                    continue
                if table.name == "access_tokens":
                    row.pop("last_used_at", None)
                cleaned.append(tuple(sorted((k, str(v)) for k, v in row.items())))
            snap[table.name] = sorted(cleaned)
        db.session.rollback()
    return snap


def test_every_route_is_isolated(app: Any, world: Any, client_for: Any) -> None:
    extra = _extra_rows(app, world)
    actors = _actors(world, extra)
    routes = _routes(app)
    assert len(routes) > 20, "the matrix found suspiciously few routes"
    failures: list[str] = []
    checked = 0
    for actor in actors:
        c = client_for(actor.user)
        for _endpoint, rule, method in routes:
            url = _build(rule, actor.foreign)
            has_target = bool(rule.arguments)
            is_api = url.startswith("/api/")
            if method in SAFE:
                resp = c.get(url)
                body = _body_text(resp)
                if resp.status_code >= 500:
                    failures.append(f"{actor.name} GET {url}: {resp.status_code}")
                if has_target and not _refused(actor, resp, REFUSED):
                    failures.append(
                        f"{actor.name} GET {url}: {resp.status_code}, expected 401/403/404"
                    )
                leaked = [m for m in actor.markers if m in body]
                if leaked:
                    failures.append(f"{actor.name} GET {url}: shows foreign data {leaked}")
            else:
                before = _snapshot(app, getattr(actor.user, "id", None))
                if is_api:
                    resp = c.api(method, url, json={})
                else:
                    resp = (
                        c.post(url, data={})
                        if method == "POST"
                        else c.client.open(url, method=method)
                    )
                after = _snapshot(app, getattr(actor.user, "id", None))
                if resp.status_code >= 500:
                    failures.append(f"{actor.name} {method} {url}: {resp.status_code}")
                if has_target and not _refused(actor, resp, MUTATION_REFUSED):
                    failures.append(
                        f"{actor.name} {method} {url}: {resp.status_code}, expected refusal"
                    )
                if before != after:
                    changed = [t for t in before if before[t] != after[t]]
                    failures.append(f"{actor.name} {method} {url}: changed tables {changed}")
                leaked = [m for m in actor.markers if m in _body_text(resp)]
                if leaked:
                    failures.append(f"{actor.name} {method} {url}: shows foreign data {leaked}")
            checked += 1
    assert not failures, f"{len(failures)} isolation failures:\n" + "\n".join(failures)
    assert checked >= len(routes) * len(actors)


def test_matrix_knows_every_parameter(app: Any) -> None:
    """A new route with a new kind of id must be added to the matrix, not skipped."""
    known = {"school_id", "zone_id", "user_id", "token_id", "job_id"}
    for _endpoint, rule, _method in _routes(app):
        assert set(rule.arguments) <= known, f"{rule.rule}: teach the matrix about {rule.arguments}"


def test_matrix_catches_a_missing_filter(
    app: Any, world: Any, client_for: Any, monkeypatch: Any
) -> None:
    """Switch the central ORM filter off: the leak must become visible (on SQLite), or be
    stopped by row-level security (on PostgreSQL, the second wall)."""
    import tenants.scope as scope

    monkeypatch.setattr(scope, "_criteria_options", lambda _scope: [])
    body = client_for(world.head_a).get("/api/v1/schools").get_data(as_text=True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert "乙校-SECRET" not in body and "丙校-SECRET" not in body
        assert "甲校" in body
    else:
        assert "乙校-SECRET" in body and "丙校-SECRET" in body


@pytest.mark.parametrize("path", ["/", "/api/v1/schools", "/admin/schools", "/api/v1/zones"])
def test_counts_do_not_include_other_districts(
    app: Any, world: Any, client_for: Any, path: str
) -> None:
    resp = client_for(world.admin1).get(path)
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    if path == "/api/v1/schools":
        assert sorted(s["code"] for s in resp.get_json()) == ["A01", "B01"]
    elif path == "/api/v1/zones":
        assert sorted(z["name"] for z in resp.get_json()) == ["乙片区", "甲片区"]
    elif path == "/":
        assert 'id="stat-schools">2<' in body
    else:
        assert "丙校" not in body and "乙校" in body


def test_text_sql_is_walled_by_rls_on_postgres(app: Any, world: Any) -> None:
    """Raw SQL bypasses the ORM hook; on PostgreSQL RLS still narrows it."""
    from tenants.scope import Scope, use_scope

    with app.app_context(), use_scope(Scope.for_schools(world.d1.id, {world.a.id})):
        names = set(db.session.execute(text("SELECT name FROM schools")).scalars())
        db.session.rollback()
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert names == {"甲校"}
    else:
        assert names == {"甲校", "乙校-SECRET", "丙校-SECRET"}  # documented hole on SQLite
