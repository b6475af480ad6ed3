"""PostgreSQL row-level security: the second wall behind the ORM scope.

Only meaningful on PostgreSQL (``TEST_DATABASE_URL``); on the default SQLite run the
whole module is skipped, and CI runs it against PostgreSQL. The app engine connects
as the non-owner role (``houqin_app`` in the tests), so the policies are live.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from district.extensions import db
from tenants.scope import unscoped

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _postgres_only(app: Any) -> None:
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("row-level security exists only on PostgreSQL (CI runs this on PostgreSQL)")


@pytest.fixture()
def app_engine(app: Any) -> Iterator[Any]:
    """A private engine as the app role, one pooled connection, so every transaction
    below runs on the very same server session."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture()
def owner_engine(app: Any) -> Iterator[Any]:
    engine = create_engine(app.config["DATABASE_OWNER_URL"])
    yield engine
    engine.dispose()


def _tenant(conn: Any, district_id: int | str, school_ids: str = "*") -> None:
    conn.execute(
        text(
            "SELECT set_config('app.district_id', :d, true), set_config('app.school_ids', :s, true)"
        ),
        {"d": str(district_id), "s": school_ids},
    )


def _codes(conn: Any) -> list[str]:
    return sorted(conn.execute(text("SELECT code FROM schools")).scalars())


def test_app_role_owns_nothing_and_cannot_bypass_rls(app: Any) -> None:
    with app.app_context(), db.engine.connect() as conn:
        role = conn.execute(text("SELECT current_user")).scalar_one()
        owned = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = :r"),
            {"r": role},
        ).all()
        flags = conn.execute(
            text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).one()
    assert role == app.config["APP_DB_ROLE"]
    assert owned == []
    assert tuple(flags) == (False, False)


def test_every_table_has_rls_enabled_and_a_policy(app: Any, owner_engine: Any) -> None:
    """A table added tomorrow without ``rls.enable`` in its migration fails here."""
    tables = sorted(t.name for t in db.metadata.sorted_tables)
    assert {"schools", "users", "zones", "audit_entries", "job_records"} <= set(tables)
    with owner_engine.connect() as conn:
        enabled = dict(
            conn.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                )
            ).all()
        )
        policies = set(
            conn.execute(text("SELECT tablename FROM pg_policies WHERE schemaname = 'public'"))
            .scalars()
            .all()
        )
    without_rls = [t for t in tables if not enabled.get(t)]
    without_policy = [t for t in tables if t not in policies]
    assert not without_rls, f"tables without row-level security: {without_rls}"
    assert not without_policy, f"tables without a policy: {without_policy}"


def test_no_tenant_set_sees_no_rows(app: Any, world: Any, owner_engine: Any) -> None:
    with owner_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schools")).scalar_one() == 3
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() >= 9
    # A raw connection of the app engine, no set_config.
    with app.app_context(), db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM schools")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM zones")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM districts")).scalar_one() == 0
        conn.rollback()


def test_alternating_tenants_on_one_pooled_connection_never_leak(
    world: Any, app_engine: Any
) -> None:
    pids = set()
    with app_engine.connect() as conn:
        pids.add(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        _tenant(conn, world.d1.id)
        assert _codes(conn) == ["A01", "B01"]
        conn.commit()
    for _ in range(3):
        with app_engine.connect() as conn:
            pids.add(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            assert _codes(conn) == []  # the previous tenant did not stay behind
            conn.commit()
        with app_engine.connect() as conn:
            _tenant(conn, world.d2.id)
            assert _codes(conn) == ["C01"]
            conn.commit()
        with app_engine.connect() as conn:
            _tenant(conn, world.d1.id, str(world.a.id))
            assert _codes(conn) == ["A01"]
            conn.rollback()
        with app_engine.connect() as conn:
            assert _codes(conn) == []
            conn.rollback()
    assert len(pids) == 1, "the test must reuse one server connection"


def test_set_config_local_is_transaction_local(world: Any, app_engine: Any) -> None:
    with app_engine.connect() as conn:
        _tenant(conn, world.d1.id)
        assert conn.execute(text("SELECT current_setting('app.district_id', true)")).scalar() == (
            str(world.d1.id)
        )
        conn.commit()
        assert conn.execute(text("SELECT current_setting('app.district_id', true)")).scalar() in (
            None,
            "",
        )
        assert _codes(conn) == []
        conn.commit()
    # Why the app never uses a session-level SET: it outlives the transaction.
    with app_engine.connect() as conn:
        conn.execute(
            text("SELECT set_config('app.district_id', :d, false)"), {"d": str(world.d2.id)}
        )
        conn.execute(text("SELECT set_config('app.school_ids', '*', false)"))
        conn.commit()
        assert _codes(conn) == ["C01"]
        conn.execute(text("RESET app.district_id"))
        conn.execute(text("RESET app.school_ids"))
        conn.commit()
        assert _codes(conn) == []


def test_app_session_transactions_carry_their_own_scope(app: Any, world: Any) -> None:
    """The ORM session sets the tenant at the start of each transaction, and text() SQL
    inside it sees only that tenant's rows; the next transaction starts clean."""
    from tenants.scope import Scope, use_scope

    with app.app_context():
        with use_scope(Scope.for_district(world.d2.id)):
            assert sorted(db.session.execute(text("SELECT code FROM schools")).scalars()) == ["C01"]
        db.session.commit()
        with db.engine.connect() as conn:
            assert _codes(conn) == []
        db.session.remove()


def test_app_role_cannot_update_or_delete_audit_entries(app: Any, world: Any) -> None:
    from district import audit

    with app.app_context(), unscoped("tests: an audit row to attack"):
        db.session.add(
            audit.AuditEntry(district_id=world.d1.id, action="test.write", object_type="Test")
        )
        db.session.commit()
    with app.app_context():
        for sql in ("UPDATE audit_entries SET action = 'forged'", "DELETE FROM audit_entries"):
            with db.engine.connect() as conn:
                conn.execute(text("SELECT set_config('app.bypass_rls', 'on', true)"))
                with pytest.raises(ProgrammingError, match="permission denied"):
                    conn.execute(text(sql))
                conn.rollback()
        with db.engine.connect() as conn:
            # Reading and appending stay allowed (under the tenant's policy).
            _tenant(conn, world.d1.id)
            conn.execute(
                text(
                    "INSERT INTO audit_entries (district_id, action, object_type, created_at) "
                    "VALUES (:d, 'test.append', 'Test', now())"
                ),
                {"d": world.d1.id},
            )
            actions = sorted(conn.execute(text("SELECT action FROM audit_entries")).scalars())
            conn.rollback()
    assert actions == ["test.append", "test.write"]
