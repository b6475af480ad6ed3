"""Background jobs: one ``enqueue`` entry point.

With ``REDIS_URL`` set, jobs go to RQ queues served by ``flask worker``; without
it they run inline right after the request commits, so the embedded default needs
no Redis. Either way a :class:`JobRecord` row carries status and progress for the
user who started it, and jobs are dispatched only after the data they read has
been committed.

A job is a plain function that takes ids (never ORM objects) and may call
:func:`report_progress`; it runs inside the scope of the district it was started
for and must be idempotent (recompute from source rows and upsert).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, event, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.utils import import_string

from district.extensions import db
from tenants.models import utcnow
from tenants.scope import DistrictOwned, Scope, unscoped, use_scope

log = logging.getLogger(__name__)


class JobStatus:
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    LABELS = {QUEUED: "排队中", RUNNING: "运行中", FINISHED: "已完成", FAILED: "失败"}


class JobRecord(DistrictOwned, db.Model):
    """A background job as the user who started it sees it."""

    __tablename__ = "job_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    school_id: Mapped[int | None] = mapped_column()
    func: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def status_label(self) -> str:
        return JobStatus.LABELS.get(self.status, self.status)


_current_job: contextvars.ContextVar[int | None] = contextvars.ContextVar("job", default=None)


def _func_path(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def enqueue(
    fn: Callable[..., Any],
    *args: Any,
    description: str,
    district_id: int,
    user_id: int | None = None,
    school_id: int | None = None,
    queue: str = "default",
) -> JobRecord:
    """Record a job and dispatch it once the current transaction commits."""
    record = JobRecord(
        district_id=district_id,
        school_id=school_id,
        user_id=user_id,
        func=_func_path(fn),
        args=list(args),
        description=description,
    )
    db.session.add(record)
    db.session.flush()
    # Remember the (innermost) transaction: a rolled-back savepoint takes only its own jobs.
    session = db.session()
    txn = session.get_nested_transaction() or session.get_transaction()
    db.session.info.setdefault("pending_jobs", []).append((record.id, queue, txn))
    return record


@event.listens_for(Session, "after_commit")
def _promote_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a released savepoint: its jobs wait for the outermost commit
    pending = session.info.pop("pending_jobs", None)
    if pending:
        session.info.setdefault("ready_jobs", []).extend((rid, q) for rid, q, _txn in pending)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: Any) -> None:
    # Also fires for savepoints (and a failed flush's subtransaction): drop only the jobs
    # enqueued inside the transaction that rolled back, not the outer transaction's.
    def inside(txn: Any) -> bool:
        while txn is not None:
            if txn is previous_transaction:
                return True
            txn = txn.parent
        return False

    pending = session.info.get("pending_jobs")
    if pending:
        kept = [p for p in pending if not inside(p[2])]
        if kept:
            session.info["pending_jobs"] = kept
        else:
            session.info.pop("pending_jobs", None)


def dispatch_ready() -> int:
    """Send committed jobs to RQ, or run them inline. Returns how many were dispatched."""
    ready = db.session.info.pop("ready_jobs", None) or []
    if not ready:
        return 0
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config.get("REDIS_URL"):
        from rq import Retry

        conn = redis_connection()
        prefix = redis_namespace()
        for record_id, queue in ready:
            rq_queue(queue, conn).enqueue(
                execute,
                record_id,
                job_id=f"{prefix}-job-{record_id}",
                retry=Retry(max=2, interval=[5, 30]),
                job_timeout=1800,
            )
    else:
        for record_id, _queue in ready:
            # A fresh app context gives the job its own session, as a worker would have.
            with app.app_context():
                execute(record_id, reraise=False)
    return len(ready)


def commit() -> None:
    """Commit the session and dispatch the jobs it enqueued (CLI and jobs use this)."""
    db.session.commit()
    dispatch_ready()


def redis_connection() -> Any:
    from redis import Redis

    return Redis.from_url(current_app.config["REDIS_URL"])


def redis_namespace() -> str:
    """This deployment's prefix in Redis: ``REDIS_NAMESPACE``, else one derived from the
    database URL (password left out). Two deployments — or two test databases — sharing
    a Redis then never run each other's jobs (a job carries only a record id, looked up
    in the worker's own database) nor read each other's cached dashboards."""
    cached = current_app.extensions.get("redis_namespace")
    if cached is None:  # once per app: every dashboard read asks
        configured = current_app.config.get("REDIS_NAMESPACE")
        if configured:
            cached = str(configured)
        else:
            url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
            digest = hashlib.sha256(url.render_as_string(hide_password=True).encode())
            cached = f"houqin-{digest.hexdigest()[:10]}"
        current_app.extensions["redis_namespace"] = cached
    return cached


def rq_queue(name: str, connection: Any) -> Any:
    """The RQ queue ``name`` of this deployment."""
    from rq import Queue

    return Queue(f"{redis_namespace()}:{name}", connection=connection)


def _set_record(record_id: int, **fields: Any) -> None:
    """Write job status outside the job's own transaction, so watchers see progress."""
    if db.engine.dialect.name == "sqlite":
        # One writer at a time on SQLite: update through the job's own session.
        with unscoped("job bookkeeping"):
            db.session.execute(update(JobRecord).where(JobRecord.id == record_id).values(**fields))
        return
    with db.engine.begin() as conn:
        conn.exec_driver_sql("SELECT set_config('app.bypass_rls', 'on', true)")
        conn.execute(update(JobRecord).where(JobRecord.id == record_id).values(**fields))


def report_progress(percent: int, message: str | None = None) -> None:
    """Called by a running job; a no-op outside one."""
    record_id = _current_job.get()
    if record_id is None:
        return
    _set_record(record_id, progress=max(0, min(100, int(percent))), message=message)


def execute(record_id: int, reraise: bool = True) -> Any:
    """Run one recorded job (RQ calls this; inline mode calls it after commit)."""
    if not has_app_context():
        from district import create_app

        with create_app().app_context():
            return execute(record_id, reraise=reraise)
    with unscoped("job runner: load the job record"):
        record = db.session.get(JobRecord, record_id)
        if record is None:
            log.warning("job record %s vanished", record_id)
            return None
        func, args, district_id = record.func, list(record.args or []), record.district_id
        attempts = record.attempts + 1
        db.session.commit()
    _set_record(
        record_id, status=JobStatus.RUNNING, started_at=utcnow(), attempts=attempts, error=None
    )
    db.session.commit()
    token = _current_job.set(record_id)
    try:
        with use_scope(Scope.for_district(district_id)):
            result = import_string(func.replace(":", "."))(*args)
            db.session.commit()
        _set_record(
            record_id,
            status=JobStatus.FINISHED,
            progress=100,
            finished_at=utcnow(),
            result=result if isinstance(result, dict) else None,
        )
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        log.exception("job %s failed", record_id)
        _set_record(
            record_id,
            status=JobStatus.FAILED,
            finished_at=utcnow(),
            error=traceback.format_exc(limit=5)[-2000:],
        )
        db.session.commit()
        if reraise:
            raise
        return None
    finally:
        _current_job.reset(token)
        db.session.remove()
