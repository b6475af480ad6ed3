"""Browser tests: Debian's headless Chromium, driven by Playwright, against the demo district.

One live server for the whole session: a private database, upgraded by the migrations
to "heads", the demo built exactly as ``flask demo`` builds it, served by werkzeug on
127.0.0.1 in a background thread. These tests exercise the UI; the database matrix is
the rest of the suite's business. They still follow ``TEST_DATABASE_URL`` (a private
PostgreSQL database of their own, schema by the owner role, app as the non-owner role
so RLS is live) and ``REDIS_URL`` (real RQ: queued jobs are drained in-process), because
that costs nothing and proves the pages work in the PostgreSQL CI pass too.

No browser is ever downloaded: Playwright launches ``/usr/bin/chromium`` through
``executable_path``. Without it the tests skip (or fail, when ``CI`` is set).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from config import TestConfig
from tests.conftest import (
    APP_ROLE,
    REDIS_URL,
    TEST_DATABASE_URL,
    _check_services,
    _create_test_database,
    _drop_test_database,
    _pg_url,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = "WITH_CHROMIUM=1 sh scripts/install-system-deps.sh"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require_chromium() -> None:
    problems = []
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(f"{CHROMIUM} is missing")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed (pip install -e '.[test]')")
    if not problems:
        return
    message = "; ".join(problems) + f" — install Debian's chromium with `{INSTALL_HINT}`"
    if _in_ci():
        pytest.fail(f"browser tests cannot run in CI: {message}", pytrace=False)
    pytest.skip(f"browser tests need Chromium: {message}")


@pytest.fixture(scope="session")
def chromium_available() -> None:
    _require_chromium()


# --- the live server ------------------------------------------------------------------


def _create_private_database(server_url: str) -> str:
    """tests/conftest.py's private database under a name of our own: the main suite's
    ``app`` fixture (same process, same pid) must not drop ours."""
    return _create_test_database(server_url, prefix="houqin_browser")


@dataclass
class DemoFacts:
    """What the tests need to know about the demo, read from the database (so the
    tests keep passing while the demo grows)."""

    latest_month: tuple[int, int]
    school_names: list[str]
    head_school: str
    inspector_zone: str
    inspector_schools: list[str]


@dataclass
class LiveServer:
    url: str
    app: Any
    facts: DemoFacts

    def run_queued_jobs(self) -> int:
        """With real RQ (REDIS_URL), run what is queued, in-process; inline mode ran it."""
        if not self.app.config.get("REDIS_URL"):
            return 0
        from redis import Redis
        from rq import SimpleWorker

        from district.jobs import rq_queue

        conn = Redis.from_url(self.app.config["REDIS_URL"])
        with self.app.app_context():
            queues = [rq_queue(q, conn) for q in self.app.config["RQ_QUEUES"]]
            pending = sum(len(q) for q in queues)
            SimpleWorker(queues, connection=conn).work(burst=True)
        return pending


def _demo_facts() -> DemoFacts:
    from district.extensions import db
    from scoring.models import SchoolMonthResult
    from tenants.models import District, School, User
    from tenants.scope import unscoped

    with unscoped("browser tests: read what the demo built"):
        yl = db.session.scalar(select(District).where(District.code == "YL"))
        ym = db.session.scalar(
            select(func.max(SchoolMonthResult.year * 12 + SchoolMonthResult.month - 1)).where(
                SchoolMonthResult.district_id == yl.id
            )
        )
        assert ym is not None, "the demo has no school-month results"
        names = list(db.session.scalars(select(School.name).where(School.district_id == yl.id)))
        head = db.session.scalar(select(User).where(User.username == "yl_head001"))
        inspector = db.session.scalar(select(User).where(User.username == "yl_inspector1"))
        zone_ids = [z.id for z in inspector.zones]
        facts = DemoFacts(
            latest_month=(ym // 12, ym % 12 + 1),
            school_names=names,
            head_school=head.school.name,
            inspector_zone="、".join(z.name for z in inspector.zones),
            inspector_schools=list(
                db.session.scalars(select(School.name).where(School.zone_id.in_(zone_ids)))
            ),
        )
        db.session.rollback()
    return facts


@pytest.fixture(scope="session")
def live_server(chromium_available: None) -> Iterator[LiveServer]:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass  # one line per request would bury a failure's report; errors still log

    from district import create_app
    from district.extensions import db

    _check_services()  # an unreachable PostgreSQL/Redis named in the environment stops the run
    tmpdir = tempfile.mkdtemp(prefix="houqin-browser-")
    overrides: dict[str, Any] = {
        "UPLOAD_DIR": os.path.join(tmpdir, "uploads"),
        "REDIS_URL": REDIS_URL,
        # Every browser logs in from 127.0.0.1: the per-IP login limit is not under test here.
        "LOGIN_RATE_LIMIT": "1000 per minute",
    }
    owner_url = None
    if TEST_DATABASE_URL:
        owner_url = _create_private_database(_pg_url(TEST_DATABASE_URL))
        app_url = make_url(owner_url).set(username=APP_ROLE, password=None)
        overrides.update(
            SQLALCHEMY_DATABASE_URI=app_url.render_as_string(hide_password=False),
            DATABASE_OWNER_URL=owner_url,
            APP_DB_ROLE=APP_ROLE,
        )
    else:
        overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmpdir}/browser.db"
    # TestConfig: cheap password hashes; CSRF stays on (we log in through the real form).
    app = create_app(TestConfig, **overrides)
    assert app.config["WTF_CSRF_ENABLED"]
    server_box: dict[str, Any] = {}
    try:
        with app.app_context():
            from flask_migrate import upgrade

            from district.demo import build_demo
            from district.jobs import commit

            # As `flask demo` does (district/cli.py).
            upgrade(directory=app.extensions["migrate"].directory, revision="heads")
            build_demo()
            commit()
            facts = _demo_facts()
        server = LiveServer(url="", app=app, facts=facts)
        server.run_queued_jobs()

        httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        server.url = f"http://127.0.0.1:{httpd.server_port}"
        thread = threading.Thread(target=httpd.serve_forever, name="browser-live-server")
        thread.daemon = True
        thread.start()
        server_box.update(httpd=httpd, thread=thread)
        yield server
    finally:
        if "httpd" in server_box:
            server_box["httpd"].shutdown()
            server_box["httpd"].server_close()
            server_box["thread"].join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if owner_url:
            _drop_test_database(_pg_url(TEST_DATABASE_URL), owner_url)
        shutil.rmtree(tmpdir, ignore_errors=True)


# --- the browser ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser(chromium_available: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    user_data = tempfile.mkdtemp(prefix="houqin-chromium-")
    pw = sync_playwright().start()
    try:
        # launch() gives Chromium a fresh temporary profile (user-data dir) of its own; HOME
        # points at a fresh directory too, so nothing is read from or left in ~/.config.
        launched = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--crash-dumps-dir={user_data}"],
            env={**os.environ, "HOME": user_data, "XDG_CONFIG_HOME": user_data},
        )
        try:
            yield launched
        finally:
            launched.close()
    finally:
        pw.stop()
        shutil.rmtree(user_data, ignore_errors=True)


@dataclass
class Session:
    """A browser context (own cookies) with one page, logged in as one user."""

    context: Any
    page: Any
    base: str
    errors: list[str]

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def login(self, username: str) -> None:
        from playwright.sync_api import expect

        from district.demo import DEMO_PASSWORD

        page = self.page
        self.goto("/login")
        expect(page.get_by_role("heading", name="登录")).to_be_visible()
        page.get_by_label("用户名").fill(username)
        page.get_by_label("密码").fill(DEMO_PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="登录").click()
        assert "/login" not in page.url, f"{username} could not log in"
        expect(page.locator("#logout")).to_have_count(1)


@pytest.fixture()
def open_session(browser: Any, live_server: LiveServer) -> Iterator[Callable[..., Session]]:
    """``open_session(username, phone=False)``: a fresh, logged-in browser context."""
    contexts: list[Any] = []

    def make(username: str | None = None, phone: bool = False) -> Session:
        options: dict[str, Any] = {"locale": "zh-CN", "accept_downloads": True}
        if phone:
            options.update(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
        else:
            options.update(viewport={"width": 1366, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                errors.append(f"console: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )
        session = Session(context=context, page=page, base=live_server.url, errors=errors)
        if username:
            session.login(username)
        return session

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def _expect_timeout(chromium_available: None) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)


# --- checks on downloads --------------------------------------------------------------


def saved(download: Any, folder: Path) -> Path:
    """Save a Playwright download under ``folder`` and return its path."""
    assert download.failure() is None, download.failure()
    path = folder / download.suggested_filename
    download.save_as(path)
    return path


def xlsx_rows(path: Path) -> list[list[Any]]:
    """The first sheet's rows of an Excel download (which must be a real .xlsx)."""
    assert zipfile.is_zipfile(path), f"{path.name} is not an xlsx (zip) file"
    workbook = load_workbook(path, read_only=True)
    rows = [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]
    workbook.close()
    return rows


def xlsx_text(path: Path) -> str:
    """Every cell value of every sheet, one per line (to look for words anywhere)."""
    assert zipfile.is_zipfile(path), f"{path.name} is not an xlsx (zip) file"
    workbook = load_workbook(path, read_only=True)
    parts = [
        str(v)
        for ws in workbook.worksheets
        for row in ws.iter_rows(values_only=True)
        for v in row
        if v is not None
    ]
    workbook.close()
    return "\n".join(parts)


_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")


def pdf_pages(path: Path) -> int:
    """A PDF download's page count (reportlab writes plain page objects)."""
    data = path.read_bytes()
    assert data.startswith(b"%PDF-"), f"{path.name} is not a PDF"
    assert b"%%EOF" in data[-1024:], f"{path.name} is truncated"
    return len(_PDF_PAGE.findall(data))
