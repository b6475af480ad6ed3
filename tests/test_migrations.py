"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from config import TestConfig
from district import create_app
from district.extensions import db


def _owner_url(app: Any) -> str:
    return app.config.get("DATABASE_OWNER_URL") or app.config["SQLALCHEMY_DATABASE_URI"]


def _head(app: Any) -> str:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", app.extensions["migrate"].directory)
    return ScriptDirectory.from_config(config).get_current_head()


def test_upgraded_database_matches_the_models(app: Any) -> None:
    """The session's database was built by ``flask db upgrade`` (see conftest): comparing
    it with the metadata is what ``flask db migrate`` would do, and must find nothing."""
    engine = create_engine(_owner_url(app))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "render_as_batch": conn.dialect.name == "sqlite",
                },
            )
            assert context.get_current_revision() == _head(app)
            diff = compare_metadata(context, db.metadata)
    finally:
        engine.dispose()
    assert diff == [], "models and migrations disagree (run `flask db migrate`):\n" + "\n".join(
        map(str, diff)
    )


def test_flask_db_upgrade_on_a_fresh_sqlite_file() -> None:
    tmp = tempfile.mkdtemp(prefix="houqin-migrate-")
    path = os.path.join(tmp, "fresh.db")
    fresh = create_app(
        TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", UPLOAD_DIR=os.path.join(tmp, "u")
    )
    result = fresh.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = create_engine(f"sqlite:///{path}")
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": True}
            )
            diff = compare_metadata(context, db.metadata)
    finally:
        engine.dispose()
    assert {t.name for t in db.metadata.sorted_tables} | {"alembic_version"} == tables
    assert version == _head(fresh)
    assert diff == []
    # Upgrading again is a no-op.
    again = fresh.test_cli_runner().invoke(args=["db", "upgrade"])
    assert again.exit_code == 0, again.output
