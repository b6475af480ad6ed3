"""Daily staff compliance job (持证上岗、证书到期、五员制).

``compute_compliance(district_id)`` recomputes every school's lists from the roster
and stores a summary (counts per school, no personal data) in
``DistrictSettings.staff["compliance"]``; running it twice leaves the same summary.

Scheduling — pick one:

* system cron on one host (jobs then run on the RQ workers, or inline without Redis)::

      15 2 * * *  cd /srv/houqin && .venv/bin/flask --app wsgi staff-compliance

* RQ's own cron (``rq cron``), next to ``flask --app wsgi worker`` (which runs
  ``rq worker --with-scheduler``); a config file such as ``cron_config.py``::

      from rq import cron
      from scoring.staff_jobs import daily_compliance
      cron.register(daily_compliance, "houqin-prod:default", cron="15 2 * * *")

  started with ``rq cron cron_config.py --url $REDIS_URL``, with ``REDIS_NAMESPACE``
  set to ``houqin-prod`` for the app and the worker (queues are ``<namespace>:<name>``;
  see :func:`district.jobs.redis_namespace`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from district.extensions import db
from district.jobs import JobRecord, enqueue, report_progress
from scoring.models import DistrictSettings
from tenants.models import District, utcnow
from tenants.scope import Scope, require_scope, unscoped, use_scope


def compute_compliance(district_id: int, on: str | None = None) -> dict[str, Any]:
    """Job: the district's compliance on ``on`` (ISO date, default today); idempotent."""
    from scoring.staff import compliance

    day = date.fromisoformat(on) if on else date.today()
    scope = require_scope()
    if scope.district_id != district_id or not scope.whole_district:
        raise PermissionError("compute_compliance runs in its district's scope")
    reports = compliance(day)
    report_progress(80, "汇总")
    schools = {
        str(r.school_id): {
            "staff": r.staff_count,
            "canteen_staff": r.canteen_staff,
            "with_health": r.canteen_with_health,
            "missing_health": len(r.missing_health),
            "expiring": len(r.expiring),
            "expired": len(r.expired),
            "unfilled_roles": list(r.unfilled_roles),
        }
        for r in reports
    }
    totals = {
        "schools": len(reports),
        "canteen_staff": sum(r.canteen_staff for r in reports),
        "with_health": sum(r.canteen_with_health for r in reports),
        "missing_health": sum(len(r.missing_health) for r in reports),
        "expiring": sum(len(r.expiring) for r in reports),
        "expired": sum(len(r.expired) for r in reports),
        "canteens_with_unfilled_roles": sum(1 for r in reports if r.unfilled_roles),
    }
    settings = db.session.scalar(select(DistrictSettings))
    if settings is None:
        settings = DistrictSettings(district_id=district_id, scoring={}, staff={}, awards={})
        db.session.add(settings)
    summary = {
        "on": day.isoformat(),
        "computed_at": utcnow().isoformat(timespec="seconds"),
        "totals": totals,
        "schools": schools,
    }
    settings.staff = {**(settings.staff or {}), "compliance": summary}
    db.session.flush()
    return {"on": day.isoformat(), **totals}


def latest_summary() -> dict[str, Any] | None:
    """The stored summary of the last run for the current district (None if never run)."""
    settings = db.session.scalar(select(DistrictSettings))
    return (settings.staff or {}).get("compliance") if settings is not None else None


def enqueue_compliance(on: str | None = None, user_id: int | None = None) -> JobRecord:
    district_id = require_scope().district_id
    assert district_id is not None
    return enqueue(
        compute_compliance,
        district_id,
        on,
        description="计算后勤人员持证与五员制合规",
        district_id=district_id,
        user_id=user_id,
    )


def enqueue_all_districts(on: str | None = None) -> int:
    """Platform job: one compliance job per district. The caller commits (which dispatches)."""
    with unscoped("platform job: list every district for the daily staff compliance"):
        ids = list(db.session.scalars(select(District.id).order_by(District.id)))
    for district_id in ids:
        with use_scope(Scope.for_district(district_id)):
            enqueue_compliance(on)
    return len(ids)


def daily_compliance() -> int:
    """Entry point for ``rq cron``: enqueue for every district and commit."""
    from flask import has_app_context

    from district.jobs import commit

    if not has_app_context():
        from district import create_app

        with create_app().app_context():
            return daily_compliance()
    count = enqueue_all_districts()
    commit()
    return count
