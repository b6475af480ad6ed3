"""Settings, read from environment variables only.

`create_app()` picks :class:`Config`; tests pass :class:`TestConfig` with overrides.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _database_url() -> str:
    url = _env("DATABASE_URL", f"sqlite:///{ROOT / 'instance' / 'houqin.db'}")
    # Heroku-style URLs name the old driver; we ship psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


class Config:
    """Production-shaped defaults; every value can be set from the environment."""

    SECRET_KEY = _env("SECRET_KEY") or secrets.token_hex(32)
    SQLALCHEMY_DATABASE_URI = _database_url()
    # The owner role runs migrations; the app role (no ownership, no BYPASSRLS) serves requests.
    DATABASE_OWNER_URL = _env("DATABASE_OWNER_URL")
    APP_DB_ROLE = _env("APP_DB_ROLE", "houqin_app")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = _env("REDIS_URL")
    RQ_QUEUES = ("default", "scoring", "bulletins")
    # Prefix of this deployment's queues, job ids and cache keys in Redis; unset, it is
    # derived from the database URL, so deployments sharing a Redis never meet.
    REDIS_NAMESPACE = _env("REDIS_NAMESPACE")

    MAX_CONTENT_LENGTH = int(_env("MAX_CONTENT_LENGTH", str(16 * 1024 * 1024)))
    MAX_JSON_BYTES = int(_env("MAX_JSON_BYTES", str(1024 * 1024)))
    UPLOAD_DIR = _env("UPLOAD_DIR", str(ROOT / "instance" / "uploads"))

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "1") == "1"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None  # a form left open on a phone all morning still submits

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")

    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI") or _env("REDIS_URL") or "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = _env("LOGIN_RATE_LIMIT", "10 per minute")

    API_TITLE = "后勤督导 API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    # Served from the swagger-ui-bundle package by the app itself: no CDN on an isolated network.
    OPENAPI_SWAGGER_UI_URL = "/api/swagger-ui-assets/"

    JOBS_INLINE = REDIS_URL is None
    # Dashboard panel data is cached this long per scope and filters (0: off).
    DASHBOARD_CACHE_SECONDS = int(_env("DASHBOARD_CACHE_SECONDS", "60"))
    TESTING = False


class DevConfig(Config):
    """The Quick start: SQLite, jobs inline, plain-HTTP cookies on 127.0.0.1."""

    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    WTF_CSRF_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    # Each test builds its own data with recycled ids; tests/dashboards turns it on to test it.
    DASHBOARD_CACHE_SECONDS = 0
