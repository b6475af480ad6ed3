"""Tenant scope: the one place isolation lives.

Every request resolves a principal and turns it into a :class:`Scope` (all of a
district; the schools of some zones; one school; the platform). One ORM hook
narrows every SELECT, UPDATE and DELETE on tenant-owned models to that scope and
stamps/checks every INSERT and change at flush. On PostgreSQL, row-level security
policies keyed by transaction-local settings are a second wall (see the
``rls`` migration).

The hook fails closed: touching a tenant-owned model with no scope set raises
:class:`TenantScopeMissing`. The only way around it is :func:`unscoped`, a
context manager with a loud name that takes a reason; grep for it.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import (
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Select,
    Table,
    event,
    false,
    select,
    text,
    true,
)
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.sql import visitors
from sqlalchemy.sql.lambdas import StatementLambdaElement
from sqlalchemy.sql.selectable import Join


class TenantScopeMissing(RuntimeError):
    """A tenant-owned model was queried with no scope set (fail closed)."""


class TenantScopeViolation(PermissionError):
    """A write would place or move a row outside the current scope."""


@dataclass(frozen=True)
class Scope:
    """What a principal may see.

    ``district_id`` None with ``platform`` True: the platform operator, who sees
    districts and nothing inside them. ``school_ids`` None: the whole district.
    """

    district_id: int | None
    school_ids: frozenset[int] | None = None
    platform: bool = False
    # The principal's own account row stays visible to it whatever the scope.
    user_id: int | None = None
    label: str = field(default="", compare=False)

    @classmethod
    def for_platform(cls, user_id: int | None = None) -> Scope:
        return cls(district_id=None, platform=True, user_id=user_id, label="platform")

    @classmethod
    def for_district(cls, district_id: int, user_id: int | None = None) -> Scope:
        return cls(district_id=district_id, user_id=user_id, label=f"district:{district_id}")

    @classmethod
    def for_schools(
        cls, district_id: int, school_ids: set[int] | frozenset[int], user_id: int | None = None
    ) -> Scope:
        return cls(
            district_id=district_id,
            school_ids=frozenset(school_ids),
            user_id=user_id,
            label=f"schools:{district_id}:{sorted(school_ids)}",
        )

    @property
    def whole_district(self) -> bool:
        return self.district_id is not None and self.school_ids is None

    def sees_school(self, school_id: int | None) -> bool:
        if self.district_id is None:
            return False
        return self.school_ids is None or school_id in self.school_ids

    def rls_settings(self) -> dict[str, str]:
        """Values for the PostgreSQL row-level-security policies."""
        return {
            "app.bypass_rls": "off",
            "app.platform": "on" if self.platform else "off",
            "app.district_id": "" if self.district_id is None else str(self.district_id),
            "app.school_ids": "*"
            if self.school_ids is None
            else ",".join(str(i) for i in sorted(self.school_ids)),
            "app.user_id": "" if self.user_id is None else str(self.user_id),
        }


class _Unscoped:
    """Marker for the explicit escape; see :func:`unscoped`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def rls_settings(self) -> dict[str, str]:
        return {
            "app.bypass_rls": "on",
            "app.platform": "off",
            "app.district_id": "",
            "app.school_ids": "",
            "app.user_id": "",
        }


_current: contextvars.ContextVar[Scope | _Unscoped | None] = contextvars.ContextVar(
    "tenant_scope", default=None
)


def current_scope() -> Scope | _Unscoped | None:
    return _current.get()


def require_scope() -> Scope:
    """The current tenant scope; raises if none is set or if running unscoped."""
    scope = _current.get()
    if not isinstance(scope, Scope):
        raise TenantScopeMissing("no tenant scope is set")
    return scope


def set_scope(scope: Scope | None) -> contextvars.Token:
    return _current.set(scope)


def reset_scope(token: contextvars.Token) -> None:
    _current.reset(token)


def _flush_before_leaving() -> None:
    """Writes are checked against the scope they were made in, so flush them in it."""
    from flask import has_app_context

    if not has_app_context():
        return
    from district.extensions import db

    session = db.session()
    if session.new or session.dirty or session.deleted:
        session.flush()


@contextmanager
def use_scope(scope: Scope) -> Iterator[Scope]:
    """Run a block as a given tenant (jobs, CLI, tests)."""
    token = _current.set(scope)
    try:
        yield scope
        _flush_before_leaving()
    finally:
        _current.reset(token)


@contextmanager
def unscoped(reason: str) -> Iterator[None]:
    """ESCAPE the tenant scope. Only for migrations, platform jobs, login and tests.

    Every use must say why; ``grep -rn "unscoped("`` lists them all.
    """
    if not reason:
        raise ValueError("unscoped() needs a reason")
    token = _current.set(_Unscoped(reason))
    try:
        yield
        _flush_before_leaving()
    finally:
        _current.reset(token)


# --- tenant-owned models ----------------------------------------------------------

TENANT_MODELS: list[type] = []


class TenantOwned:
    """Base of every tenant-owned model; subclasses define :meth:`tenant_criteria`."""

    __tenant_owned__: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__tablename__" in cls.__dict__ or "__table__" in cls.__dict__:
            TENANT_MODELS.append(cls)

    @classmethod
    def tenant_criteria(cls, scope: Scope) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(cls.__name__)

    def tenant_ids(self) -> tuple[int | None, int | None]:
        """(district_id, school_id) of this row, for write checks."""
        return getattr(self, "district_id", None), getattr(self, "school_id", None)


class DistrictOwned(TenantOwned):
    """A row that belongs to a district (rubrics, zones, periods…)."""

    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)

    @classmethod
    def tenant_criteria(cls, scope: Scope) -> Any:
        if scope.district_id is None:
            return false()
        return cls.district_id == scope.district_id


class SchoolOwned(TenantOwned):
    """A row that belongs to one school; its FK to schools includes the district."""

    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    school_id: Mapped[int] = mapped_column()
    # Constraints of the model itself, added to the tenant FK and index.
    __extra_table_args__: ClassVar[tuple] = ()
    # False where one of those already leads with (district_id, school_id): a second
    # index on the same prefix would only cost every insert.
    __tenant_index__: ClassVar[bool] = True

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return cls.school_table_args(*cls.__extra_table_args__)

    @classmethod
    def school_table_args(cls, *extra: Any) -> tuple:
        """Composite FK (district_id, school_id) → schools and an index led by district."""
        name = cls.__tablename__  # type: ignore[attr-defined]
        tenant_index = (
            (Index(f"ix_{name}_tenant", "district_id", "school_id"),)
            if cls.__tenant_index__
            else ()
        )
        return (
            ForeignKeyConstraint(
                ["district_id", "school_id"],
                ["schools.district_id", "schools.id"],
                ondelete="CASCADE",
            ),
            *tenant_index,
            *extra,
        )

    @classmethod
    def tenant_criteria(cls, scope: Scope) -> Any:
        if scope.district_id is None:
            return false()
        crit = cls.district_id == scope.district_id
        if scope.school_ids is not None:
            crit = crit & cls.school_id.in_(sorted(scope.school_ids))
        return crit


def is_tenant_model(cls: type | None) -> bool:
    return cls is not None and getattr(cls, "__tenant_owned__", False)


def _allows(scope: Scope, obj: Any) -> bool:
    if type(obj).__name__ == "User" and obj.id is not None and obj.id == scope.user_id:
        return True  # one's own account row
    if type(obj).__name__ == "District":
        return scope.platform or obj.id == scope.district_id
    district_id, school_id = obj.tenant_ids()
    if scope.district_id is None or district_id != scope.district_id:
        return False
    if scope.school_ids is None:
        return True
    # Schools and accounts are school-bound like SchoolOwned rows: in a school scope a new
    # school (no id yet) or a district-level account is outside it, as the read criteria
    # and the RLS policies already say. District-level rows (zones…) have no school.
    school_bound = isinstance(obj, SchoolOwned) or type(obj).__name__ in ("School", "User")
    if school_id is None and not school_bound:
        return True
    return school_id in scope.school_ids


# --- the hooks ----------------------------------------------------------------------


def _criteria_options(scope: Scope) -> tuple[Any, ...]:
    # Plain expressions (not lambdas) so the tenant ids travel as bound parameters:
    # a lambda closing over them could be served stale from the statement cache.
    return _criteria_for(scope, len(TENANT_MODELS))


@functools.lru_cache(maxsize=512)
def _criteria_for(scope: Scope, _model_count: int) -> tuple[Any, ...]:
    """Built once per scope (one option per tenant model is most of the hook's cost);
    the options are immutable, so sharing them between statements is safe."""
    return tuple(
        with_loader_criteria(cls, cls.tenant_criteria(scope), include_aliases=True)
        for cls in TENANT_MODELS
    )


def _tenant_tables() -> dict[Table, type]:
    return {cls.__table__: cls for cls in TENANT_MODELS}  # type: ignore[attr-defined]


def _tenant_model_of(table: Any, tables: dict[Table, type]) -> type | None:
    # ORM entities appear as annotated copies of their Table: match on the plain one.
    if not isinstance(table, Table):
        return None
    return tables.get(table._deannotate()) if table._annotations else tables.get(table)


def _tenant_models_read(statement: Any) -> set[type]:
    """Every tenant model whose table the statement touches, wherever it appears.

    ``ORMExecuteState.all_mappers`` only lists the entities in the columns clause (or
    the bulk target): ``select(func.count()).select_from(User)``, a lambda statement or
    a Core ``School.__table__`` query would otherwise pass unfiltered and not fail closed.
    """
    tables = _tenant_tables()
    found = set()
    for elem in visitors.iterate(statement):
        model = _tenant_model_of(elem, tables)
        if model is not None:
            found.add(model)
    return found


def _plain_tables(from_: Any) -> Iterator[Any]:
    if isinstance(from_, Join):
        yield from _plain_tables(from_.left)
        yield from _plain_tables(from_.right)
    else:
        yield from_


def _narrow_selects(statement: Any, scope: Scope, *, root: bool) -> Any:
    """Add the tenant criteria to every nested SELECT that reads a tenant table (and to
    the statement itself when ``root``: a Core SELECT that loader criteria do not reach).

    ``relationship.any()``/``has()`` build their EXISTS against the bare table, which
    ``with_loader_criteria`` never reaches (sqlalchemy#13070): ``Zone.schools.any()``
    would otherwise count another tenant's schools.
    """
    tables = _tenant_tables()

    def criteria(select_: Select) -> list[Any]:
        found = []
        for from_ in select_.get_final_froms():
            for table in _plain_tables(from_):
                model = _tenant_model_of(table, tables)
                if model is not None:
                    found.append(model.tenant_criteria(scope))  # type: ignore[attr-defined]
        return found

    def narrow(select_: Select) -> Select:
        inner = visitors.replacement_traverse(
            select_, {}, lambda e: narrow(e) if isinstance(e, Select) and e is not select_ else None
        )
        crit = criteria(select_)
        return inner.where(*crit) if crit else inner

    if root and isinstance(statement, Select):
        return narrow(statement)
    if not any(isinstance(e, Select) and e is not statement for e in visitors.iterate(statement)):
        return statement
    return visitors.replacement_traverse(
        statement, {}, lambda e: narrow(e) if isinstance(e, Select) and e is not statement else None
    )


def _rls_values(scope: Scope | _Unscoped | None) -> dict[str, str]:
    if scope is None:
        return {
            "app.bypass_rls": "off",
            "app.platform": "off",
            "app.district_id": "",
            "app.school_ids": "",
            "app.user_id": "",
        }
    return scope.rls_settings()


_SET_RLS = text(
    "SELECT set_config('app.bypass_rls', :b, true), set_config('app.platform', :p, true),"
    " set_config('app.district_id', :d, true), set_config('app.school_ids', :s, true),"
    " set_config('app.user_id', :u, true)"
)


def _write_rls(connection: Any, values: dict[str, str]) -> None:
    connection.execute(
        _SET_RLS,
        {
            "b": values["app.bypass_rls"],
            "p": values["app.platform"],
            "d": values["app.district_id"],
            "s": values["app.school_ids"],
            "u": values["app.user_id"],
        },
    )


def _sync_rls(session: Session) -> None:
    """Keep PostgreSQL's transaction-local tenant settings in step with the scope."""
    if session.get_bind().dialect.name != "postgresql":
        return
    values = _rls_values(_current.get())
    key = tuple(sorted(values.items()))
    if session.info.get("rls_key") == key:
        return
    conn = session.connection()  # may begin a transaction (after_begin then sets it)
    if session.info.get("rls_key") != key:
        _write_rls(conn, values)
        session.info["rls_key"] = key


@event.listens_for(Session, "after_begin")
def _after_begin(session: Session, transaction: Any, connection: Any) -> None:
    # Every transaction starts with the tenant settings of the scope in force, so even a
    # bare flush (which never passes through do_orm_execute) runs under RLS.
    if connection.dialect.name != "postgresql":
        return
    values = _rls_values(_current.get())
    _write_rls(connection, values)
    session.info["rls_key"] = tuple(sorted(values.items()))


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: Any) -> None:
    # A rolled-back savepoint may have reverted set_config: set it again next time.
    session.info.pop("rls_key", None)


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    scope = _current.get()
    _sync_rls(state.session)

    if isinstance(scope, _Unscoped):
        return
    if state.is_column_load or state.is_relationship_load:
        # Criteria added to the parent query propagate to its lazy and column loads.
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    statement = state.statement
    if isinstance(statement, StatementLambdaElement):
        # Work on the statement with this call's values: a lambda's cached expression
        # still carries the bound values of its first run.
        statement = statement._resolved
    models = {m.class_ for m in state.all_mappers if is_tenant_model(m.class_)}
    models |= _tenant_models_read(statement)
    if not models:
        # text() and non-tenant tables: PostgreSQL's RLS is the wall for raw SQL.
        return
    if scope is None:
        raise TenantScopeMissing(
            "query on tenant-owned model(s) "
            + ", ".join(sorted(m.__name__ for m in models))
            + " with no tenant scope"
        )
    orm_enabled = statement._propagate_attrs.get("compile_state_plugin") == "orm"
    statement = _narrow_selects(statement, scope, root=state.is_select and not orm_enabled)
    if state.is_select:
        state.statement = statement.options(*_criteria_options(scope))
        return
    # ORM bulk UPDATE/DELETE: with_loader_criteria does not reach these reliably, so
    # narrow the statement itself.
    target = state.bind_mapper.class_ if state.bind_mapper is not None else None
    if target is None:
        target = _tenant_model_of(getattr(statement, "table", None), _tenant_tables())
    if is_tenant_model(target):
        statement = statement.where(target.tenant_criteria(scope))
    state.statement = statement


@event.listens_for(Session, "before_flush")
def _stamp_and_check(session: Session, flush_context: Any, instances: Any) -> None:
    scope = _current.get()
    _sync_rls(session)
    if isinstance(scope, _Unscoped):
        return
    for obj in session.new:
        if not is_tenant_model(type(obj)):
            continue
        if scope is None:
            raise TenantScopeMissing(f"insert of {type(obj).__name__} with no tenant scope")
        if type(obj).__name__ != "District":
            if getattr(obj, "district_id", None) is None and scope.district_id is not None:
                obj.district_id = scope.district_id
            if (
                isinstance(obj, SchoolOwned)
                and obj.school_id is None
                and scope.school_ids is not None
                and len(scope.school_ids) == 1
            ):
                obj.school_id = next(iter(scope.school_ids))
        if not _allows(scope, obj):
            raise TenantScopeViolation(f"{type(obj).__name__} outside the current scope")
    for obj in list(session.dirty) + list(session.deleted):
        if not is_tenant_model(type(obj)):
            continue
        if scope is None:
            raise TenantScopeMissing(f"change to {type(obj).__name__} with no tenant scope")
        if not _allows(scope, obj):
            raise TenantScopeViolation(f"{type(obj).__name__} outside the current scope")


def scoped_get(model: type, ident: Any) -> Any:
    """Load one row by id *through* the scoped query (never the identity map alone).

    ``Session.get`` may answer from the identity map without SQL, so the filter
    would never run; this always asks the database with the criteria applied.
    """
    from district.extensions import db

    return db.session.execute(
        select(model).where(model.id == ident).execution_options(populate_existing=True)
    ).scalar_one_or_none()


__all__ = [
    "Scope",
    "TenantScopeMissing",
    "TenantScopeViolation",
    "TenantOwned",
    "DistrictOwned",
    "SchoolOwned",
    "TENANT_MODELS",
    "current_scope",
    "require_scope",
    "set_scope",
    "reset_scope",
    "use_scope",
    "unscoped",
    "scoped_get",
    "is_tenant_model",
    "true",
]
