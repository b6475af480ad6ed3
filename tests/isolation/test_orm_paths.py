"""Isolation for every way the ORM can reach rows.

The tenant hook in ``tenants/scope.py`` is one ``do_orm_execute`` listener plus one
``before_flush`` listener. Each test here takes one path by which SQLAlchemy can
reach a row — identity map, eager loads, many-to-many, EXISTS subqueries, bulk
UPDATE/DELETE, the statement cache, flushes — and checks it stays inside a
school-A scope and a district-1 scope (see ``World`` in ``tests/conftest.py``:
district 1 has school A in zone 甲 and school B in zone 乙, district 2 has school C
in zone 丙).

Some tests plant rows that the application itself refuses to create (a district-2
school filed under a district-1 zone, an inspector linked to another district's
zone): the ``schools.zone_id`` and ``inspector_zones`` foreign keys do not carry
``district_id``, so the read filters must hold even when the data is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import delete, event, func, insert, lambda_stmt, select, update
from sqlalchemy.orm import joinedload, selectinload, subqueryload

from district.extensions import db
from tenants.models import School, User, Zone, inspector_zones
from tenants.scope import (
    Scope,
    TenantScopeMissing,
    TenantScopeViolation,
    scoped_get,
    unscoped,
    use_scope,
)


def scope_a(world: Any) -> Scope:
    return Scope.for_schools(world.d1.id, {world.a.id})


def scope_b(world: Any) -> Scope:
    return Scope.for_schools(world.d1.id, {world.b.id})


def scope_d1(world: Any) -> Scope:
    return Scope.for_district(world.d1.id)


def scope_d2(world: Any) -> Scope:
    return Scope.for_district(world.d2.id)


@contextmanager
def count_sql() -> Iterator[list[str]]:
    """Collect the SQL statements the app engine runs inside the block."""
    statements: list[str] = []

    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "set_config" not in statement:  # PostgreSQL's per-scope RLS settings
            statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", _record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _record)


def _names(rows: Any) -> list[str]:
    return sorted(r.name for r in rows)


def _all_school_names(app: Any) -> dict[int, str]:
    with app.app_context(), unscoped("tests: read back"):
        rows = {s.id: s.name for s in db.session.scalars(select(School))}
        db.session.rollback()
        db.session.remove()
    return rows


def _all_zone_names(app: Any) -> list[str]:
    with app.app_context(), unscoped("tests: read back"):
        rows = sorted(db.session.scalars(select(Zone.name)))
        db.session.rollback()
        db.session.remove()
    return rows


@pytest.fixture()
def planted(app: Any, world: Any, factories: Any) -> dict[str, int]:
    """Rows the database itself refuses — a district-2 school in a district-1 zone, and
    inspector1 (district 1) linked to district 2's zone 丙 — planted anyway with foreign
    key checks switched off, to prove the read filter holds even if such rows existed."""
    from sqlalchemy.exc import IntegrityError

    from tests.conftest import _owner_engine

    empty = factories.zone(world.d1, name="空片区")
    with pytest.raises(IntegrityError):  # (district_id, zone_id) -> zones refuses it
        factories.school(world.d2, empty, name="丙二校-SECRET", code="C02")
    with app.app_context():
        db.session.remove()
    engine = _owner_engine(app)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.execute(
            insert(School).values(
                district_id=world.d2.id,
                zone_id=empty.id,
                name="丙二校-SECRET",
                code="C02",
                level="初中",
                boarding=False,
                student_count=1,
                staff_count=1,
                honours=[],
                public_token="planted-rogue-school",
            )
        )
        conn.execute(
            insert(inspector_zones).values(
                district_id=world.d2.id, user_id=world.inspector1.id, zone_id=world.z3.id
            )
        )
        rogue_id = conn.execute(select(School.id).where(School.code == "C02")).scalar_one()
        if engine.dialect.name != "postgresql":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    return {"empty_zone": empty.id, "rogue_school": rogue_id}


# --- session.get and the identity map ----------------------------------------------


def test_scoped_get_returns_none_for_foreign_ids(app: Any, world: Any) -> None:
    with app.app_context():
        with use_scope(scope_a(world)):
            assert scoped_get(School, world.a.id).name == world.a.name
            assert scoped_get(School, world.b.id) is None
            assert scoped_get(School, world.c.id) is None
            assert scoped_get(User, world.head_b.id) is None
            assert scoped_get(Zone, world.z3.id) is None
        with use_scope(scope_d1(world)):
            assert scoped_get(School, world.b.id).name == world.b.name
            assert scoped_get(School, world.c.id) is None
            assert scoped_get(Zone, world.z3.id) is None
            assert scoped_get(User, world.admin2.id) is None
        db.session.rollback()


def test_session_get_in_a_fresh_session_is_filtered(app: Any, world: Any) -> None:
    """With an empty identity map, Session.get runs SQL and the hook narrows it."""
    with app.app_context():
        with use_scope(scope_a(world)):
            assert db.session.get(School, world.b.id) is None
            assert db.session.get(School, world.c.id) is None
            assert db.session.get(User, world.head_c.id) is None
            assert db.session.get(School, world.a.id) is not None
        db.session.remove()
        with use_scope(scope_d1(world)):
            assert db.session.get(School, world.c.id) is None
            assert db.session.get(Zone, world.z3.id) is None
            assert db.session.get(School, world.b.id) is not None
        db.session.rollback()


def test_identity_map_can_answer_session_get_without_sql(app: Any, world: Any) -> None:
    """Why ``scoped_get`` exists: once a foreign row sits in the identity map (loaded
    unscoped earlier in the same session), ``Session.get`` hands it back without any
    SQL, so no filter runs. ``scoped_get`` always asks the database, with criteria."""
    with app.app_context():
        with unscoped("tests: put a foreign row in the identity map"):
            foreign = db.session.scalars(select(School).where(School.id == world.b.id)).one()
        with use_scope(scope_a(world)):
            with count_sql() as statements:
                leaked = db.session.get(School, world.b.id)
            assert leaked is foreign and statements == []  # the documented hole
            with count_sql() as statements:
                assert scoped_get(School, world.b.id) is None
            assert len(statements) == 1
        db.session.rollback()


# --- eager loads --------------------------------------------------------------------


@pytest.mark.parametrize("loader", [joinedload, selectinload, subqueryload])
def test_eager_loads_of_zone_schools_are_filtered(
    app: Any, world: Any, planted: dict[str, int], loader: Any
) -> None:
    with app.app_context():
        with use_scope(scope_a(world)):
            zones = db.session.scalars(select(Zone).options(loader(Zone.schools))).unique().all()
            by_name = {z.name: [s.name for s in z.schools] for z in zones}
            # Zones are district-level, so school A's scope sees all of district 1's zones,
            # but only its own school inside them.
            assert by_name == {world.z1.name: [world.a.name], world.z2.name: [], "空片区": []}
        db.session.remove()
        with use_scope(scope_d1(world)):
            zones = db.session.scalars(select(Zone).options(loader(Zone.schools))).unique().all()
            by_name = {z.name: [s.name for s in z.schools] for z in zones}
            # The planted district-2 school under 空片区 must not come along.
            assert by_name == {
                world.z1.name: [world.a.name],
                world.z2.name: [world.b.name],
                "空片区": [],
            }
        db.session.rollback()


def test_lazy_loads_follow_the_scope_of_the_parent_query(
    app: Any, world: Any, planted: dict[str, int]
) -> None:
    with app.app_context():
        with use_scope(scope_d1(world)):
            empty = db.session.scalars(select(Zone).where(Zone.id == planted["empty_zone"])).one()
            assert empty.schools == []
            zone2 = db.session.scalars(select(Zone).where(Zone.id == world.z2.id)).one()
            assert [s.name for s in zone2.schools] == [world.b.name]
        db.session.remove()
        with use_scope(scope_a(world)):
            zone2 = db.session.scalars(select(Zone).where(Zone.id == world.z2.id)).one()
            assert zone2.schools == []
        db.session.remove()
        with use_scope(scope_d2(world)):
            # Many-to-one the other way: the planted school's zone belongs to district 1.
            rogue = db.session.scalars(
                select(School).where(School.id == planted["rogue_school"])
            ).one()
            assert rogue.zone is None
            rogue = db.session.scalars(
                select(School)
                .where(School.id == planted["rogue_school"])
                .options(joinedload(School.zone))
                .execution_options(populate_existing=True)
            ).one()
            assert rogue.zone is None
        db.session.rollback()


def test_school_relationship_of_users_is_filtered(app: Any, world: Any) -> None:
    with app.app_context():
        with use_scope(scope_d1(world)):
            users = db.session.scalars(select(User).options(selectinload(User.school))).all()
            assert {u.username for u in users} >= {"head_a", "head_b", "admin1"}
            assert "admin2" not in {u.username for u in users}
            assert {u.school.name for u in users if u.school} == {world.a.name, world.b.name}
        db.session.rollback()


# --- many-to-many: User.zones through inspector_zones -------------------------------


@pytest.mark.parametrize("loader", [None, joinedload, selectinload])
def test_inspector_zones_are_filtered(
    app: Any, world: Any, planted: dict[str, int], loader: Any
) -> None:
    with app.app_context():
        with use_scope(scope_d1(world)):
            stmt = select(User).where(User.id == world.inspector1.id)
            if loader is not None:
                stmt = stmt.options(loader(User.zones))
            inspector = db.session.scalars(stmt).unique().one()
            assert [z.name for z in inspector.zones] == [world.z1.name]
            # Joining through the association table reaches no foreign zone either.
            names = db.session.scalars(
                select(Zone.name).join(User.zones.of_type(Zone)).where(User.id == inspector.id)
            ).all()
            assert names == [world.z1.name]
        db.session.remove()
        with use_scope(scope_d2(world)):
            # District 2 cannot reach the inspector through its own zone.
            assert (
                db.session.scalars(select(User).join(User.zones).where(Zone.id == world.z3.id))
                .unique()
                .all()
                == []
            )
            zone = db.session.scalars(select(Zone).where(Zone.id == world.z3.id)).one()
            assert zone.name == world.z3.name
        db.session.rollback()


# --- has() / any() subqueries -------------------------------------------------------


def test_any_does_not_reveal_zones_through_foreign_schools(
    app: Any, world: Any, planted: dict[str, int]
) -> None:
    """``Zone.schools.any()`` asks "does this zone have a school *I can see*?". Counting
    a foreign school would tell school A that zone 乙 has a school, and district 1 that
    空片区 is in use — both facts about another tenant's rows."""
    with app.app_context():
        with use_scope(scope_a(world)):
            assert _names(db.session.scalars(select(Zone).where(Zone.schools.any()))) == [
                world.z1.name
            ]
            assert _names(db.session.scalars(select(Zone).where(~Zone.schools.any()))) == sorted(
                [world.z2.name, "空片区"]
            )
            assert (
                db.session.scalars(select(Zone).where(Zone.schools.any(School.code == "B01"))).all()
                == []
            )
        db.session.remove()
        with use_scope(scope_d1(world)):
            assert _names(db.session.scalars(select(Zone).where(Zone.schools.any()))) == sorted(
                [world.z1.name, world.z2.name]
            )
            assert (
                db.session.scalars(
                    select(Zone).where(Zone.schools.any(School.district_id == world.d2.id))
                ).all()
                == []
            )
        db.session.rollback()


def test_has_does_not_match_through_foreign_zones(
    app: Any, world: Any, planted: dict[str, int]
) -> None:
    with app.app_context():
        with use_scope(scope_d2(world)):
            # The planted school's zone is district 1's: has() must not see it.
            assert _names(db.session.scalars(select(School).where(School.zone.has()))) == [
                world.c.name
            ]
            assert (
                db.session.scalars(select(School).where(School.zone.has(Zone.name == "空片区")))
                .unique()
                .all()
                == []
            )
            count = db.session.scalar(
                select(func.count()).select_from(User).where(User.zones.any())
            )
            assert count == 0  # inspector1 is district 1's, whatever its links say
            # The same EXISTS inside a bulk UPDATE must not match through a foreign zone.
            result = db.session.execute(
                update(School).where(School.zone.has(Zone.name == "空片区")).values(student_count=1)
            )
            assert result.rowcount == 0
        db.session.rollback()
        db.session.remove()
        with use_scope(scope_a(world)):
            assert (
                db.session.scalars(select(User).where(User.school.has(School.code == "B01"))).all()
                == []
            )
            users = db.session.scalars(select(User).where(User.school.has(School.code == "A01")))
            assert {u.username for u in users} == {"head_a", "staff_a"}
        db.session.rollback()


# --- entities outside the columns clause, and Core statements on tenant tables ------


def test_counts_and_core_statements_on_tenant_tables_are_filtered(app: Any, world: Any) -> None:
    """``ORMExecuteState.all_mappers`` lists only the entities in the columns clause:
    ``select(func.count()).select_from(User)`` and ``select(School.__table__)`` have
    none, and must still be narrowed (and fail closed without a scope)."""
    schools = School.__table__
    with app.app_context():
        with use_scope(scope_a(world)):
            assert db.session.scalar(select(func.count()).select_from(School)) == 1
            assert db.session.scalar(select(func.count()).select_from(User)) == 2
            assert list(db.session.scalars(select(schools.c.code))) == ["A01"]
            assert (
                db.session.scalar(select(func.count()).select_from(schools.join(User.__table__)))
                == 2
            )
        with use_scope(scope_d1(world)):
            assert db.session.scalar(select(func.count()).select_from(School)) == 2
            assert db.session.scalar(select(func.count()).select_from(Zone)) == 2
            assert db.session.scalar(select(func.count(schools.c.id))) == 2
        db.session.rollback()
        with pytest.raises(TenantScopeMissing):
            db.session.scalar(select(func.count()).select_from(User))
        db.session.rollback()
        with pytest.raises(TenantScopeMissing):
            db.session.scalar(select(func.count(schools.c.id)))
        db.session.rollback()
        with use_scope(scope_a(world)):
            result = db.session.execute(update(schools).values(student_count=7))
            assert result.rowcount == 1
        db.session.commit()
        with unscoped("tests: read back"):
            counts = dict(db.session.execute(select(School.code, School.student_count)).all())
        db.session.rollback()
    assert counts == {"A01": 7, "B01": 800, "C01": 800}


# --- ORM bulk UPDATE and DELETE -------------------------------------------------------


@pytest.mark.parametrize("sync", ["auto", "fetch", "evaluate", False])
def test_bulk_update_changes_only_the_scope(app: Any, world: Any, sync: Any) -> None:
    before = _all_school_names(app)
    with app.app_context():
        with use_scope(scope_a(world)):
            result = db.session.execute(
                update(School).values(name="改名"), execution_options={"synchronize_session": sync}
            )
            assert result.rowcount == 1
        db.session.commit()
        db.session.remove()
    after = _all_school_names(app)
    assert after[world.a.id] == "改名"
    assert {k: v for k, v in after.items() if k != world.a.id} == {
        k: v for k, v in before.items() if k != world.a.id
    }


def test_bulk_update_with_where_cannot_reach_foreign_rows(app: Any, world: Any) -> None:
    with app.app_context():
        with use_scope(scope_d1(world)):
            result = db.session.execute(
                update(School).where(School.id == world.c.id).values(student_count=1)
            )
            assert result.rowcount == 0
            result = db.session.execute(update(User).values(phone="110"))
            assert result.rowcount == 6  # district 1's users only
        db.session.commit()
        db.session.remove()
        with unscoped("tests: read back"):
            assert db.session.get(School, world.c.id).student_count == 800
            phones = dict(db.session.execute(select(User.username, User.phone)).all())
        db.session.rollback()
    assert phones["admin2"] is None and phones["head_c"] is None and phones["operator"] is None
    assert phones["admin1"] == phones["head_b"] == "110"


def test_bulk_delete_changes_only_the_scope(app: Any, world: Any, factories: Any) -> None:
    for district in (world.d1, world.d2):
        for i in range(2):
            factories.zone(district, name=f"待删{district.code}-{i}")
    with app.app_context():
        with use_scope(scope_d1(world)):
            result = db.session.execute(delete(Zone).where(Zone.name.like("待删%")))
            assert result.rowcount == 2
        db.session.commit()
        db.session.remove()
    assert _all_zone_names(app) == sorted(
        [world.z1.name, world.z2.name, world.z3.name, "待删D2-0", "待删D2-1"]
    )


def test_bulk_delete_in_a_school_scope_spares_other_schools(app: Any, world: Any) -> None:
    with app.app_context():
        with use_scope(scope_a(world)):
            result = db.session.execute(delete(User).where(User.role == "school_head"))
            assert result.rowcount == 1
        db.session.commit()
        db.session.remove()
        with unscoped("tests: read back"):
            heads = set(db.session.scalars(select(User.username).where(User.role == "school_head")))
        db.session.rollback()
    assert heads == {"head_b", "head_c"}


# --- the statement cache --------------------------------------------------------------


def test_tenant_ids_are_not_served_stale_from_the_statement_cache(app: Any, world: Any) -> None:
    """The same statement object (one cache key) run alternately in two scopes must
    follow the scope every time: the tenant ids travel as bound parameters."""
    stmt = select(School.code).order_by(School.code)
    lam = lambda_stmt(lambda: select(School.code).order_by(School.code))
    expected = {"a": ["A01"], "b": ["B01"], "d1": ["A01", "B01"], "d2": ["C01"]}
    scopes = {
        "a": scope_a(world),
        "b": scope_b(world),
        "d1": scope_d1(world),
        "d2": scope_d2(world),
    }
    seen: list[tuple[str, list[str], list[str]]] = []
    with app.app_context():
        for i in range(40):
            key = ("a", "b", "d1", "d2")[i % 4]
            with use_scope(scopes[key]):
                plain = list(db.session.scalars(stmt))
                cached = list(db.session.scalars(lam))
                by_get = scoped_get(School, world.b.id)
            seen.append((key, plain, cached))
            assert (by_get is not None) == (key in ("b", "d1")), (i, key)
        db.session.rollback()
    wrong = [(k, p, c) for k, p, c in seen if p != expected[k] or c != expected[k]]
    assert not wrong


# --- fail closed ----------------------------------------------------------------------


def test_queries_without_a_scope_raise(app: Any, world: Any) -> None:
    with app.app_context():
        with pytest.raises(TenantScopeMissing):
            db.session.scalars(select(School)).all()
        db.session.rollback()
        with pytest.raises(TenantScopeMissing):
            db.session.get(User, world.admin1.id)
        db.session.rollback()
        with pytest.raises(TenantScopeMissing):
            db.session.execute(select(func.count(Zone.id)))
        db.session.rollback()
        with pytest.raises(TenantScopeMissing):
            db.session.execute(update(School).values(name="x"))
        db.session.rollback()
        with pytest.raises(TenantScopeMissing):
            db.session.execute(delete(Zone))
        db.session.rollback()
        with pytest.raises(TenantScopeMissing):
            scoped_get(School, world.a.id)
        db.session.rollback()
    assert sorted(_all_school_names(app).values()) == sorted(
        [world.a.name, world.b.name, world.c.name]
    )


def test_insert_without_a_scope_raises(app: Any, world: Any) -> None:
    with app.app_context():
        db.session.add(Zone(district_id=world.d1.id, name="无范围片区"))
        with pytest.raises(TenantScopeMissing):
            db.session.flush()
        db.session.rollback()
        db.session.remove()
    assert "无范围片区" not in _all_zone_names(app)


# --- writes outside the scope -----------------------------------------------------------


def test_insert_into_another_district_raises(app: Any, world: Any) -> None:
    with app.app_context():
        with use_scope(scope_d1(world)):
            db.session.add(School(district_id=world.d2.id, code="X01", name="越界校", level="小学"))
            with pytest.raises(TenantScopeViolation):
                db.session.flush()
            db.session.rollback()
        with use_scope(scope_a(world)):
            # A school scope cannot create a new school, even in its own district, nor a
            # district-level account.
            db.session.add(
                School(district_id=world.d1.id, code="X02", name="越界校2", level="小学")
            )
            with pytest.raises(TenantScopeViolation):
                db.session.flush()
            db.session.rollback()
            db.session.add(
                User(
                    username="sneaky", display_name="越界", role="district_admin", password_hash="x"
                )
            )
            with pytest.raises(TenantScopeViolation):
                db.session.flush()
            db.session.rollback()
        with use_scope(scope_d1(world)):
            zone = Zone(name="盖章片区")
            db.session.add(zone)
            db.session.flush()
            assert zone.district_id == world.d1.id  # stamped from the scope
        db.session.rollback()
        db.session.remove()
    assert "越界校" not in _all_school_names(app).values()
    assert "越界校2" not in _all_school_names(app).values()
    with app.app_context(), unscoped("tests: read back"):
        assert db.session.scalar(select(User).where(User.username == "sneaky")) is None
        db.session.rollback()
    assert "盖章片区" not in _all_zone_names(app)


def test_foreign_row_loaded_unscoped_cannot_be_written_in_scope(app: Any, world: Any) -> None:
    with app.app_context():
        with unscoped("tests: load a foreign row"):
            foreign = db.session.scalars(select(School).where(School.id == world.c.id)).one()
        with use_scope(scope_d1(world)):
            foreign.name = "被改了"
            with pytest.raises(TenantScopeViolation):
                db.session.flush()
            db.session.rollback()
        with unscoped("tests: load a foreign row"):
            b = db.session.scalars(select(School).where(School.id == world.b.id)).one()
        with use_scope(scope_a(world)):
            db.session.delete(b)
            with pytest.raises(TenantScopeViolation):
                db.session.flush()
            db.session.rollback()
        db.session.remove()
    names = _all_school_names(app)
    assert names[world.c.id] == world.c.name and names[world.b.id] == world.b.name


def test_own_row_cannot_be_moved_out_of_the_scope(app: Any, world: Any) -> None:
    with app.app_context():
        with use_scope(scope_d1(world)):
            zone = scoped_get(Zone, world.z1.id)
            zone.district_id = world.d2.id
            with pytest.raises(TenantScopeViolation):
                db.session.flush()
            db.session.rollback()
        with use_scope(scope_a(world)):
            staff = scoped_get(User, world.staff_a.id)
            staff.school_id = world.b.id
            with pytest.raises(TenantScopeViolation):
                db.session.flush()
            db.session.rollback()
        db.session.remove()
        with unscoped("tests: read back"):
            assert db.session.get(Zone, world.z1.id).district_id == world.d1.id
            assert db.session.get(User, world.staff_a.id).school_id == world.a.id
        db.session.rollback()


def test_unscoped_requires_a_reason(app: Any) -> None:
    with pytest.raises(ValueError), unscoped(""):
        pass
    with pytest.raises(ValueError), unscoped(None):  # type: ignore[arg-type]
        pass
