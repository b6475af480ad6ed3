"""The application: factory, extensions, CLI, jobs wiring, errors, audit trail."""

from __future__ import annotations

import os
import secrets
from typing import Any

from flask import Flask, g, request, send_from_directory

from config import Config, DevConfig
from district.validation import install as _install_validation_messages

# marshmallow copies its default messages into each field when a schema class is defined,
# so the Chinese ones are set before any module of the project defines a schema.
_install_validation_messages()

# Feature modules: each exposes ``bp`` (pages, a Flask Blueprint) and ``blp`` (API, a
# flask-smorest Blueprint), either may be None. Registering here is all a new one needs;
# the cross-tenant matrix then covers its routes automatically.
FEATURE_MODULES = (
    "scoring.rubric_views",
    "scoring.assessment_views",
    "scoring.visit_views",
    "scoring.survey_views",
    "scoring.result_views",
    "scoring.staff_views",
    "scoring.evaluation_views",
    "dashboards.views",
    "dashboards.award_views",
    "dashboards.bulletin_views",
)


def create_app(config: type[Config] | Config | None = None, **overrides: Any) -> Flask:
    """Build the Flask app. Nothing here touches the database."""
    app = Flask(__name__, instance_relative_config=False)
    if config is None:
        config = DevConfig if os.environ.get("FLASK_ENV_CONFIG", "dev") == "dev" else Config
    app.config.from_object(config)
    app.config.update(overrides)
    app.config["JOBS_INLINE"] = not app.config.get("REDIS_URL")
    app.json.ensure_ascii = False  # Chinese stays readable in API answers
    os.makedirs(app.config["UPLOAD_DIR"], exist_ok=True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(
            os.path.dirname(app.config["SQLALCHEMY_DATABASE_URI"][10:]) or ".", exist_ok=True
        )

    from district import extensions as ext

    ext.db.init_app(app)
    _tune_sqlite(app)
    ext.migrate.init_app(
        app, ext.db, directory=os.path.join(app.root_path, "..", "migrations"), render_as_batch=True
    )
    ext.csrf.init_app(app)
    ext.limiter.init_app(app)

    from district.i18n import init_i18n

    init_i18n(app)

    # Models register their tables before anything reflects on the metadata.
    import district.models  # noqa: F401
    from tenants.auth import init_auth

    init_auth(app)

    ext.api.init_app(app)
    from district.api import register_api

    register_api(app, ext.api)

    from district.views import bp as core_bp
    from tenants.views import bp as tenants_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(tenants_bp)
    import importlib

    for name in FEATURE_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "bp", None) is not None:
            app.register_blueprint(module.bp)

    import district.navigation  # noqa: F401 - registers the foundation's menu entries
    from district.nav import init_nav

    init_nav(app)

    from district.errors import init_errors

    init_errors(app)

    from district.cli import init_cli

    init_cli(app)

    _security_headers(app)

    @app.get("/api/swagger-ui-assets/<path:filename>")
    def swagger_assets(filename: str):  # noqa: ANN202 - static passthrough
        import swagger_ui_bundle

        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)

    return app


def _tune_sqlite(app: Flask) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return

    @event.listens_for(Engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        if type(dbapi_conn).__module__.startswith("sqlite3"):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()


def _security_headers(app: Flask) -> None:
    @app.before_request
    def _nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def _headers(response: Any) -> Any:
        nonce = getattr(g, "csp_nonce", "")
        script = f"'self' 'nonce-{nonce}'"
        style = "'self' 'unsafe-inline'"
        if request.path.startswith("/api/docs"):
            # flask-smorest's Swagger page bootstraps with an inline script of its own.
            script = "'self' 'unsafe-inline'"
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src {script}; style-src {style}; img-src 'self' data: blob:; "
            "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
