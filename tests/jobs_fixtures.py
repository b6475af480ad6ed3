"""Small job functions for tests/tenants/test_jobs.py (importable by RQ by dotted path)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from district import audit
from district.extensions import db
from district.jobs import report_progress
from tenants.models import District
from tenants.scope import require_scope, scoped_get


def add_note(district_id: int, text: str) -> dict[str, Any]:
    """Write an audit note in the job's district and say how many notes it now has."""
    scope = require_scope()
    assert scope.district_id == district_id and scope.whole_district
    report_progress(40, "写入备注")
    district = scoped_get(District, district_id)
    audit.record("note.add", district, after={"text": text}, actor=None)
    db.session.flush()
    notes = db.session.scalar(
        select(func.count(audit.AuditEntry.id)).where(audit.AuditEntry.action == "note.add")
    )
    report_progress(90, "快好了")
    return {"text": text, "notes": notes}


def fail(district_id: int, text: str) -> None:
    report_progress(10, "开始")
    raise RuntimeError(f"出错了：{text}")
