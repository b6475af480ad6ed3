"""Test fixtures: app, database, factories, logged-in clients.

Default run: SQLite in a temporary file, jobs inline. With ``TEST_DATABASE_URL``
(PostgreSQL, an owner role) the schema is built by the migrations as that owner
and the app connects as the non-owner role ``houqin_app``, so RLS is live; with
``REDIS_URL`` jobs go through real RQ queues. When ``CI`` is set, an unreachable
PostgreSQL or Redis named in the environment fails the run instead of skipping.

Each test leaves an empty database behind: every table is emptied after it. We
commit for real (rather than rolling back a savepoint) so that what is tested is
what production does: one commit per request, RLS settings per transaction.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from config import TestConfig
from district import create_app
from district.extensions import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("REDIS_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
APP_ROLE = "houqin_app"


def _pg_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def pytest_report_header(config: Any) -> list[str]:
    return [
        f"database: {'PostgreSQL ' + TEST_DATABASE_URL if TEST_DATABASE_URL else 'SQLite (temporary file)'}",
        f"jobs: {'RQ on ' + REDIS_URL if REDIS_URL else 'inline'}",
    ]


def _check_services() -> None:
    problems = []
    if TEST_DATABASE_URL:
        try:
            with create_engine(_pg_url(TEST_DATABASE_URL)).connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means unreachable
            problems.append(f"PostgreSQL at {TEST_DATABASE_URL} unreachable: {exc}")
    if REDIS_URL:
        try:
            from redis import Redis

            Redis.from_url(REDIS_URL).ping()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"Redis at {REDIS_URL} unreachable: {exc}")
    if problems:
        pytest.exit("; ".join(problems), returncode=3)


def _create_test_database(server_url: str, prefix: str = "houqin_test") -> str:
    """A private database per test run (parallel runs on one server never collide);
    TEST_DATABASE_URL's own database is only used to create and drop it."""
    name = f"{prefix}_{os.getpid()}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}
        ).scalar()
        if not exists:
            # A parallel run may create it meanwhile.
            with contextlib.suppress(Exception):
                conn.execute(text(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS"))
    engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _drop_test_database(server_url: str, db_url: str) -> None:
    name = make_url(db_url).database
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def app() -> Iterator[Any]:
    _check_services()
    tmpdir = tempfile.mkdtemp(prefix="houqin-test-")
    overrides: dict[str, Any] = {
        "UPLOAD_DIR": os.path.join(tmpdir, "uploads"),
        "REDIS_URL": REDIS_URL,
    }
    owner_url = None
    if TEST_DATABASE_URL:
        server_url = _pg_url(TEST_DATABASE_URL)
        owner_url = _create_test_database(server_url)
        app_url = make_url(owner_url).set(username=APP_ROLE, password=None)
        overrides.update(
            SQLALCHEMY_DATABASE_URI=app_url.render_as_string(hide_password=False),
            DATABASE_OWNER_URL=owner_url,
            APP_DB_ROLE=APP_ROLE,
        )
    else:
        overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmpdir}/test.db"
    application = create_app(TestConfig, **overrides)
    with application.app_context():
        from flask_migrate import upgrade

        upgrade(directory=application.extensions["migrate"].directory, revision="heads")
    if REDIS_URL:
        from redis import Redis

        Redis.from_url(REDIS_URL).flushdb()
    yield application
    if owner_url:
        with application.app_context():
            db.engine.dispose()
        application.extensions.pop("_test_owner_engine", None)
        _drop_test_database(_pg_url(TEST_DATABASE_URL), owner_url)


def _owner_engine(app: Any) -> Any:
    url = app.config.get("DATABASE_OWNER_URL") or app.config["SQLALCHEMY_DATABASE_URI"]
    key = "_test_owner_engine"
    if key not in app.extensions:
        app.extensions[key] = create_engine(url)
    return app.extensions[key]


def _empty_all_tables(app: Any) -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    engine = _owner_engine(app)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for name in tables:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")


@pytest.fixture(autouse=True)
def _clean_database(request: Any) -> Iterator[None]:
    if "app" not in request.fixturenames and not any(
        f in request.fixturenames for f in ("client", "world", "make_school", "app_ctx")
    ):
        yield
        return
    app = request.getfixturevalue("app")
    yield
    with app.app_context():
        db.session.remove()
    _empty_all_tables(app)
    from district.extensions import limiter

    limiter.reset()
    if app.config.get("REDIS_URL"):
        # Jobs a test enqueued but never drained must not run in a later test: ids restart
        # with the tables, so a stale ``job-<id>`` would run that test's own record again.
        from redis import Redis

        from district.jobs import rq_queue

        conn = Redis.from_url(app.config["REDIS_URL"])
        with app.app_context():
            for name in app.config["RQ_QUEUES"]:
                rq_queue(name, conn).empty()


@pytest.fixture()
def app_ctx(app: Any) -> Iterator[Any]:
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture()
def client(app: Any) -> Any:
    return app.test_client()


# --- factories --------------------------------------------------------------------


@pytest.fixture()
def factories(app: Any) -> Any:
    return Factories(app)


class Factories:
    """Create rows directly (unscoped, committed) for tests."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.n = 0

    def _next(self) -> int:
        self.n += 1
        return self.n

    def _save(self, obj: Any) -> Any:
        from tenants.scope import unscoped

        with self.app.app_context(), unscoped("tests: factory"):
            db.session.add(obj)
            db.session.commit()
            db.session.refresh(obj)
            db.session.expunge(obj)
        return obj

    def district(self, **kw: Any) -> Any:
        from tenants.models import District

        n = self._next()
        return self._save(
            District(code=kw.pop("code", f"D{n}"), name=kw.pop("name", f"测试区{n}"), **kw)
        )

    def zone(self, district: Any, **kw: Any) -> Any:
        from tenants.models import Zone

        n = self._next()
        return self._save(Zone(district_id=district.id, name=kw.pop("name", f"片区{n}"), **kw))

    def school(self, district: Any, zone: Any = None, **kw: Any) -> Any:
        from tenants.models import School

        n = self._next()
        defaults = dict(
            code=f"S{n:04d}",
            name=f"测试学校{n}",
            level="初中",
            boarding=False,
            student_count=800,
            staff_count=60,
            honours=[],
        )
        defaults.update(kw)
        return self._save(
            School(
                district_id=district.id, zone_id=zone.id if zone is not None else None, **defaults
            )
        )

    def user(
        self, role: str, district: Any = None, school: Any = None, zones: Any = (), **kw: Any
    ) -> Any:
        from tenants.models import User, Zone
        from tenants.scope import unscoped

        n = self._next()
        user = User(
            username=kw.pop("username", f"{role}{n}"),
            display_name=kw.pop("display_name", f"用户{n}"),
            role=role,
            district_id=district.id if district is not None else None,
            school_id=school.id if school is not None else None,
            **kw,
        )
        with self.app.app_context():
            user.set_password(kw.get("password", "Password-123"))
            with unscoped("tests: factory"):
                db.session.add(user)
                if zones:
                    user.zones = [db.session.get(Zone, z.id) for z in zones]
                db.session.commit()
                db.session.refresh(user)
                _ = user.zones
                db.session.expunge(user)
        return user


# --- clients ----------------------------------------------------------------------

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class UserClient:
    """A test client logged in as one user, with CSRF handled like a browser would."""

    def __init__(self, app: Any, user: Any | None) -> None:
        self.app = app
        self.user = user
        self.client = app.test_client()
        self._csrf: str | None = None
        if user is not None:
            with self.client.session_transaction() as sess:
                sess["_user_id"] = user.get_id()
                sess["_fresh"] = True

    def csrf(self) -> str:
        if self._csrf is None:
            page = "/account/password" if self.user is not None else "/login"
            html = self.client.get(page).get_data(as_text=True)
            match = _CSRF_RE.search(html)
            assert match, f"no csrf token on {page}"
            self._csrf = match.group(1)
        return self._csrf

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict | None = None, **kw: Any) -> Any:
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf())
        return self.client.post(url, data=data, **kw)

    def api(self, method: str, url: str, json: Any = None, **kw: Any) -> Any:
        headers = kw.pop("headers", {})
        headers.setdefault("X-CSRFToken", self.csrf())
        return self.client.open(url, method=method.upper(), json=json, headers=headers, **kw)


@pytest.fixture()
def client_for(app: Any) -> Callable[[Any], UserClient]:
    def make(user: Any | None) -> UserClient:
        return UserClient(app, user)

    return make


@pytest.fixture()
def drain_jobs(app: Any) -> Callable[[], int]:
    """Run queued RQ jobs in-process (real Redis); inline mode already ran them."""

    def run() -> int:
        if not app.config.get("REDIS_URL"):
            return 0
        from redis import Redis
        from rq import SimpleWorker

        from district.jobs import rq_queue

        conn = Redis.from_url(app.config["REDIS_URL"])
        with app.app_context():
            queues = [rq_queue(q, conn) for q in app.config["RQ_QUEUES"]]
            pending = sum(len(q) for q in queues)
            SimpleWorker(queues, connection=conn).work(burst=True)
        return pending

    return run


# --- a world of two districts for isolation tests -----------------------------------


class World:
    """District 1 (zones Z1, Z2; school A in Z1, school B in Z2) and district 2 (school C)."""

    def __init__(self, f: Factories) -> None:
        from tenants.models import Role

        # Every name inside a district carries its owner's marker (SECRET-A, -B, -D1, -C) so the
        # cross-tenant matrix can spot it in any response.
        self.d1 = f.district(code="D1", name="一区")
        self.d2 = f.district(code="D2", name="二区")
        self.z1 = f.zone(self.d1, name="甲片区-SECRET-D1")
        self.z2 = f.zone(self.d1, name="乙片区-SECRET-D1")
        self.z3 = f.zone(self.d2, name="丙片区-SECRET-C")
        self.a = f.school(self.d1, self.z1, name="甲校-SECRET-A", code="A01")
        self.b = f.school(self.d1, self.z2, name="乙校-SECRET-B", code="B01")
        self.c = f.school(self.d2, self.z3, name="丙校-SECRET-C", code="C01")
        self.operator = f.user(Role.PLATFORM_OPERATOR, username="operator")
        self.admin1 = f.user(
            Role.DISTRICT_ADMIN, self.d1, username="admin1", display_name="管理员-SECRET-D1"
        )
        self.viewer1 = f.user(
            Role.DISTRICT_VIEWER, self.d1, username="viewer1", display_name="局领导-SECRET-D1"
        )
        self.inspector1 = f.user(
            Role.INSPECTOR,
            self.d1,
            zones=[self.z1],
            username="inspector1",
            display_name="督查员-SECRET-D1",
        )
        self.head_a = f.user(
            Role.SCHOOL_HEAD, self.d1, self.a, username="head_a", display_name="甲校长-SECRET-A"
        )
        self.staff_a = f.user(
            Role.SCHOOL_STAFF, self.d1, self.a, username="staff_a", display_name="甲总务-SECRET-A"
        )
        self.head_b = f.user(
            Role.SCHOOL_HEAD, self.d1, self.b, username="head_b", display_name="乙校长-SECRET-B"
        )
        self.admin2 = f.user(
            Role.DISTRICT_ADMIN, self.d2, username="admin2", display_name="二区管理员-SECRET-C"
        )
        self.head_c = f.user(
            Role.SCHOOL_HEAD, self.d2, self.c, username="head_c", display_name="丙校长-SECRET-C"
        )


@pytest.fixture()
def world(factories: Factories) -> World:
    return World(factories)
