"""Append-only audit trail (who, when, what before and after).

Rows are only ever inserted: the ORM refuses updates and deletes of
:class:`AuditEntry`, and on PostgreSQL the app role has no UPDATE/DELETE grant on
the table (see the ``rls`` migration).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from district.extensions import db
from tenants.models import utcnow
from tenants.scope import DistrictOwned


class AuditEntry(DistrictOwned, db.Model):
    """One recorded change."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_tenant", "district_id", "school_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"))
    school_id: Mapped[int | None] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column()
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    @classmethod
    def tenant_criteria(cls, scope: Any) -> Any:
        # A school sees the history of its own rows; district-level rows stay with the district.
        crit = super().tenant_criteria(scope)
        if scope.school_ids is not None:
            crit = crit & cls.school_id.in_(sorted(scope.school_ids))
        return crit


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def record(
    action: str,
    obj: Any,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: Any = None,
    district_id: int | None = None,
    school_id: int | None = None,
) -> AuditEntry:
    """Add an audit entry for ``obj`` to the current session (flushed with the change)."""
    if actor is None:
        from flask_login import current_user

        actor = current_user if getattr(current_user, "is_authenticated", False) else None
    if district_id is None:
        district_id = getattr(obj, "district_id", None)
        if type(obj).__name__ == "District":
            district_id = obj.id
    if school_id is None:
        school_id = getattr(obj, "school_id", None)
        if type(obj).__name__ == "School":
            school_id = obj.id
    entry = AuditEntry(
        district_id=district_id,
        school_id=school_id,
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "display_name", None),
        action=action,
        object_type=type(obj).__name__,
        object_id=None if getattr(obj, "id", None) is None else str(obj.id),
        before=_jsonable(before),
        after=_jsonable(after),
    )
    db.session.add(entry)
    return entry


def snapshot(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: _jsonable(getattr(obj, f, None)) for f in fields}


@event.listens_for(Session, "before_flush")
def _append_only(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise PermissionError("the audit trail is append-only")
