"""Storing recomputed results: compare with the stored rows, then upsert, delete and
audit in at most three statements per batch (part of :mod:`scoring.results`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    delete,
    select,
    text,
)

from district.audit import AuditEntry
from district.extensions import db
from scoring.models import (
    SchoolMonthResult,
)
from scoring.result_catalogue import (
    Item,
    as_decimal,
    key_of,
    month_key,
)
from tenants.models import utcnow

AUDIT_ACTION = "result.change"

# Columns an upsert writes (everything but the key and the id).
RESULT_FIELDS = (
    "score",
    "stars",
    "self_score",
    "inspector_score",
    "satisfaction",
    "complaint_deduction",
    "verified_complaints",
    "veto",
    "unverified",
    "stand_in",
    "inflation_gap",
    "inflated",
    "dimensions",
    "rubric_version_id",
    "visit_id",
)


# --- storing ------------------------------------------------------------------------------


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a stored row already holds these values (Decimals compare by value)."""
    return all(old[name] == new[name] for name in RESULT_FIELDS)


def stored_results(items: Sequence[Item]) -> dict[tuple[int, int, int, str], dict[str, Any]]:
    school_ids = sorted({s for s, _, _ in items})
    keys = [month_key(y, m) for _, y, m in items]
    wanted = set(items)
    columns = [getattr(SchoolMonthResult, f) for f in RESULT_FIELDS]
    rows = db.session.execute(
        select(
            SchoolMonthResult.id,
            SchoolMonthResult.school_id,
            SchoolMonthResult.year,
            SchoolMonthResult.month,
            SchoolMonthResult.programme,
            *columns,
        ).where(
            SchoolMonthResult.school_id.in_(school_ids),
            key_of(SchoolMonthResult).between(min(keys), max(keys)),
        )
    ).all()
    out = {}
    for r in rows:
        if (r.school_id, r.year, r.month) in wanted:
            out[(r.school_id, r.year, r.month, r.programme)] = {
                "id": r.id,
                **{f: getattr(r, f) for f in RESULT_FIELDS},
            }
    return out


def _upsert(rows: list[dict[str, Any]]) -> None:
    """SQLite: one executemany of the table-level (Core) upsert."""
    from sqlalchemy.dialects.sqlite import insert

    stmt = insert(SchoolMonthResult.__table__)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(RESULT_KEY),
        set_={name: stmt.excluded[name] for name in (*RESULT_FIELDS, "computed_at")},
    )
    db.session.execute(stmt, rows)


RESULT_KEY = ("district_id", "school_id", "year", "month", "programme")  # the unique key
_UPSERT_COLUMNS = (*RESULT_KEY, "computed_at", *RESULT_FIELDS)


def _upsert_json(payload: str) -> None:
    """PostgreSQL: every row in one statement, sent as one JSON document.

    An executemany binds and sends ~20 parameters per row, which costs more than
    computing the results; ``json_to_recordset`` turns the document back into typed
    rows on the server (Decimals travel as strings, so nothing is rounded on the way).
    """
    bind = db.session.get_bind()
    table = SchoolMonthResult.__table__
    typed = ", ".join(f"{n} {table.c[n].type.compile(bind.dialect)}" for n in _UPSERT_COLUMNS)
    names = ", ".join(_UPSERT_COLUMNS)
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in (*RESULT_FIELDS, "computed_at"))
    statement = text(
        f"INSERT INTO {table.name} ({names}) SELECT {names}"
        f" FROM json_to_recordset(CAST(:rows AS json)) AS r({typed})"
        f" ON CONFLICT ({', '.join(RESULT_KEY)}) DO UPDATE SET {updates}"
    )
    db.session.execute(statement, {"rows": payload})


def actor() -> tuple[int | None, str]:
    """Who a recomputation is recorded as: the signed-in user, else the system."""
    try:
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False):
            return current_user.id, current_user.display_name
    except (ImportError, RuntimeError):  # pragma: no cover - outside a request
        pass
    return None, "系统重新计算"


@dataclass
class Writes:
    """What storing a batch writes: the rows that changed, the rows to delete, audit."""

    upserts: list[dict[str, Any]] = field(default_factory=list)
    payload: str | None = None  # the upserts as one JSON document (PostgreSQL)
    deletions: list[int] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


def plan_writes(
    computed: dict[Item, dict[str, dict[str, Any]]],
    existing: dict[tuple[int, int, int, str], dict[str, Any]],
    district_id: int,
    stats: dict[str, int],
    *,
    as_json: bool,
) -> Writes:
    """Compare the computed rows with the stored ones (pure: no database)."""
    now = utcnow()
    writes = Writes()
    changes: list[tuple[tuple[int, int, int, str], Any, Any, Any]] = []
    for (school_id, year, month), programmes in computed.items():
        for code, values in programmes.items():
            key = (school_id, year, month, code)
            old = existing.pop(key, None)
            if old is not None and _same(old, values):
                stats["unchanged"] += 1
                continue
            writes.upserts.append(
                {
                    "district_id": district_id,
                    "school_id": school_id,
                    "year": year,
                    "month": month,
                    "programme": code,
                    "computed_at": now,
                    **values,
                }
            )
            if old is not None and as_decimal(old["score"]) != values["score"]:
                changes.append((key, old["id"], old["score"], values["score"]))
    for key, old in existing.items():  # rows whose school-month no longer has that result
        writes.deletions.append(old["id"])
        changes.append((key, old["id"], old["score"], None))
    if as_json and writes.upserts:
        writes.payload = json.dumps(writes.upserts, default=str)  # Decimal, datetime as text
    if changes:
        actor_id, actor_name = actor()
        writes.audit = [
            {
                "district_id": district_id,
                "school_id": key[0],
                "actor_id": actor_id,
                "actor_name": actor_name,
                "action": AUDIT_ACTION,
                "object_type": "SchoolMonthResult",
                "object_id": str(row_id) if row_id is not None else None,
                "before": {
                    "year": key[1],
                    "month": key[2],
                    "programme": key[3],
                    "score": None if before is None else str(as_decimal(before)),
                },
                "after": {
                    "year": key[1],
                    "month": key[2],
                    "programme": key[3],
                    "score": None if after is None else str(after),
                },
                "created_at": now,
            }
            for key, row_id, before, after in changes
        ]
    stats["written"] += len(writes.upserts)
    stats["deleted"] += len(writes.deletions)
    stats["changed_scores"] += len(changes)
    return writes


def write_results(writes: Writes) -> None:
    """Upsert, delete and audit one batch: at most three statements."""
    if writes.payload is not None:
        _upsert_json(writes.payload)
    elif writes.upserts:
        _upsert(writes.upserts)
    if writes.deletions:
        db.session.execute(
            delete(SchoolMonthResult)
            .where(SchoolMonthResult.id.in_(writes.deletions))
            .execution_options(synchronize_session=False)
        )
    if writes.audit:
        db.session.execute(AuditEntry.__table__.insert(), writes.audit)
