"""Background jobs: ``district.jobs.enqueue`` runs after commit (inline, or through RQ
when ``REDIS_URL`` is set), records progress and results, shows failures to the user
who started the job, and never runs a job whose transaction rolled back."""

from __future__ import annotations

import contextlib
import html
from typing import Any

from sqlalchemy import select

from district import jobs
from district.audit import AuditEntry
from district.extensions import db
from district.jobs import JobRecord, JobStatus, enqueue
from tenants.scope import Scope, unscoped, use_scope
from tests import jobs_fixtures


def _record(app: Any, record_id: int) -> JobRecord | None:
    with app.app_context(), unscoped("tests: read the job record"):
        record = db.session.get(JobRecord, record_id)
        if record is not None:
            db.session.expunge(record)
        db.session.rollback()
    return record


def _notes(app: Any) -> list[str]:
    with app.app_context(), unscoped("tests: read the notes"):
        rows = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "note.add").order_by(AuditEntry.id)
        ).all()
        texts = [r.after["text"] for r in rows]
        db.session.rollback()
    return texts


def _start(app: Any, world: Any, fn: Any, text: str, user: Any = None, commit: bool = True) -> int:
    """Enqueue ``fn`` as ``user`` would from a request (inside their scope), then commit."""
    user = user or world.admin1
    with app.app_context():
        with use_scope(Scope.for_district(world.d1.id, user.id)):
            record = enqueue(
                fn,
                world.d1.id,
                text,
                description=f"测试任务：{text}",
                district_id=world.d1.id,
                user_id=user.id,
                school_id=user.school_id,
            )
            record_id = record.id
            assert record.status == JobStatus.QUEUED
        if commit:
            jobs.commit()
        db.session.remove()
    return record_id


def _inline(app: Any) -> bool:
    return not app.config.get("REDIS_URL")


def test_job_runs_after_commit_and_records_its_result(
    app: Any, world: Any, drain_jobs: Any, client_for: Any
) -> None:
    with app.app_context():
        with use_scope(Scope.for_district(world.d1.id)):
            record = enqueue(
                jobs_fixtures.add_note,
                world.d1.id,
                "第一条",
                description="写备注",
                district_id=world.d1.id,
                user_id=world.admin1.id,
            )
            record_id = record.id
            db.session.flush()
            assert _notes(app) == []  # nothing runs before the commit
        jobs.commit()
        db.session.remove()

    if _inline(app):
        assert drain_jobs() == 0
    else:
        queued = _record(app, record_id)
        assert queued.status == JobStatus.QUEUED and queued.progress == 0
        assert _notes(app) == []
        assert drain_jobs() >= 1

    done = _record(app, record_id)
    assert done.status == JobStatus.FINISHED
    assert done.progress == 100 and done.message == "快好了"
    assert done.result == {"text": "第一条", "notes": 1}
    assert done.attempts == 1 and done.error is None
    assert done.started_at is not None and done.finished_at >= done.started_at
    assert done.func == "tests.jobs_fixtures:add_note" and done.args == [world.d1.id, "第一条"]
    assert _notes(app) == ["第一条"]

    admin = client_for(world.admin1)
    data = admin.api("GET", f"/api/v1/jobs/{record_id}").get_json()
    assert data["status"] == "finished" and data["status_label"] == "已完成"
    assert data["result"] == {"text": "第一条", "notes": 1}
    page = admin.get(f"/jobs/{record_id}").get_data(as_text=True)
    assert "写备注" in page and "已完成" in page and 'value="100"' in page
    assert [j["id"] for j in admin.api("GET", "/api/v1/jobs").get_json()] == [record_id]


def test_jobs_run_in_their_own_district_and_are_idempotent_to_rerun(
    app: Any, world: Any, drain_jobs: Any
) -> None:
    first = _start(app, world, jobs_fixtures.add_note, "甲")
    second = _start(app, world, jobs_fixtures.add_note, "乙")
    drain_jobs()
    assert _record(app, first).result == {"text": "甲", "notes": 1}
    assert _record(app, second).result == {"text": "乙", "notes": 2}
    with app.app_context(), unscoped("tests: where did the notes go"):
        districts = set(
            db.session.scalars(
                select(AuditEntry.district_id).where(AuditEntry.action == "note.add")
            )
        )
        db.session.rollback()
    assert districts == {world.d1.id}
    # Running a record again (what RQ's retry does) updates the same row.
    with app.app_context():
        jobs.execute(first, reraise=True)
    again = _record(app, first)
    assert again.status == JobStatus.FINISHED and again.attempts == 2


def test_failed_job_is_visible_to_its_user(
    app: Any, world: Any, drain_jobs: Any, client_for: Any
) -> None:
    record_id = _start(app, world, jobs_fixtures.fail, "表格损坏", user=world.head_a)
    try:
        drain_jobs()
    finally:
        if not _inline(app):
            _forget_rq_job(app, record_id)  # its retry is scheduled for later: not in this test

    failed = _record(app, record_id)
    assert failed.status == JobStatus.FAILED
    assert failed.finished_at is not None and failed.progress < 100
    assert "RuntimeError" in failed.error and "出错了：表格损坏" in failed.error

    head = client_for(world.head_a)
    data = head.api("GET", f"/api/v1/jobs/{record_id}").get_json()
    assert data["status"] == "failed" and data["status_label"] == "失败"
    assert "出错了：表格损坏" in data["error"]
    page = head.get(f"/jobs/{record_id}")
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    assert "失败" in text and "出错了：表格损坏" in text
    assert record_id in [j["id"] for j in head.api("GET", "/api/v1/jobs").get_json()]
    # The district admin sees it too.
    admin = client_for(world.admin1)
    assert admin.api("GET", f"/api/v1/jobs/{record_id}").get_json()["status"] == "failed"
    listing = admin.get("/jobs").get_data(as_text=True)
    assert "测试任务：表格损坏" in listing and "失败" in listing


def _forget_rq_job(app: Any, record_id: int) -> None:
    from redis import Redis
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from district.jobs import redis_namespace

    conn = Redis.from_url(app.config["REDIS_URL"])
    with app.app_context():
        job_id = f"{redis_namespace()}-job-{record_id}"
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(job_id, connection=conn).delete()


def test_rolled_back_job_is_never_dispatched(app: Any, world: Any, drain_jobs: Any) -> None:
    with app.app_context():
        with use_scope(Scope.for_district(world.d1.id)):
            record = enqueue(
                jobs_fixtures.add_note,
                world.d1.id,
                "不该运行",
                description="回滚",
                district_id=world.d1.id,
            )
            record_id = record.id
        db.session.rollback()
        with use_scope(Scope.for_district(world.d1.id)):
            assert jobs.dispatch_ready() == 0
            jobs.commit()  # a later commit in the same session does not revive it
        db.session.remove()
    assert drain_jobs() == 0
    assert _record(app, record_id) is None
    assert _notes(app) == []


def test_a_rolled_back_savepoint_keeps_the_outer_transactions_jobs(
    app: Any, world: Any, drain_jobs: Any
) -> None:
    with app.app_context():
        with use_scope(Scope.for_district(world.d1.id)):
            record = enqueue(
                jobs_fixtures.add_note,
                world.d1.id,
                "外层",
                description="保存点",
                district_id=world.d1.id,
            )
            record_id = record.id
            savepoint = db.session.begin_nested()
            db.session.add(AuditEntry(district_id=world.d1.id, action="x", object_type="X"))
            savepoint.rollback()
            # A job enqueued inside a savepoint that rolls back goes with it.
            savepoint = db.session.begin_nested()
            inner = enqueue(
                jobs_fixtures.add_note,
                world.d1.id,
                "内层",
                description="保存点内",
                district_id=world.d1.id,
            )
            inner_id = inner.id
            savepoint.rollback()
        jobs.commit()
        db.session.remove()
    drain_jobs()
    assert _record(app, record_id).status == JobStatus.FINISHED
    assert _record(app, inner_id) is None
    assert _notes(app) == ["外层"]


def test_a_released_savepoint_does_not_dispatch_before_the_outer_commit(
    app: Any, world: Any, drain_jobs: Any
) -> None:
    with app.app_context():
        with use_scope(Scope.for_district(world.d1.id)):
            # An outer write first: pysqlite only emits BEGIN before DML, so a SAVEPOINT
            # opened first would itself be the outermost transaction on SQLite.
            db.session.add(AuditEntry(district_id=world.d1.id, action="x", object_type="X"))
            db.session.flush()
            with db.session.begin_nested():
                record = enqueue(
                    jobs_fixtures.add_note,
                    world.d1.id,
                    "释放的保存点",
                    description="保存点释放",
                    district_id=world.d1.id,
                )
                record_id = record.id
            assert jobs.dispatch_ready() == 0  # released, but nothing is committed yet
        db.session.rollback()
        with use_scope(Scope.for_district(world.d1.id)):
            jobs.commit()
        db.session.remove()
    assert drain_jobs() == 0
    assert _record(app, record_id) is None and _notes(app) == []


def test_failed_request_dispatches_nothing(
    app: Any, world: Any, drain_jobs: Any, client_for: Any
) -> None:
    """The request's single commit: an error answer rolls back the jobs it enqueued."""
    from district.errors import error_response

    with app.test_request_context("/api/v1/nothing", method="POST"):
        with use_scope(Scope.for_district(world.d1.id)):
            record = enqueue(
                jobs_fixtures.add_note,
                world.d1.id,
                "失败的请求",
                description="请求失败",
                district_id=world.d1.id,
            )
            record_id = record.id
        response = error_response(422, "bad")
        app.process_response(response)
        assert response.status_code == 422
        db.session.remove()
    assert drain_jobs() == 0
    assert _record(app, record_id) is None and _notes(app) == []


def test_other_users_get_404_on_a_job(
    app: Any, world: Any, drain_jobs: Any, client_for: Any
) -> None:
    record_id = _start(app, world, jobs_fixtures.add_note, "甲校的任务", user=world.head_a)
    drain_jobs()
    assert client_for(world.head_a).get(f"/jobs/{record_id}").status_code == 200
    for user in (world.head_b, world.staff_a, world.inspector1, world.admin2, world.head_c):
        c = client_for(user)
        assert c.get(f"/jobs/{record_id}").status_code == 404, user.username
        assert c.api("GET", f"/api/v1/jobs/{record_id}").status_code == 404, user.username
        listed = [j["id"] for j in c.api("GET", "/api/v1/jobs").get_json()]
        assert record_id not in listed, user.username
    assert client_for(world.admin1).get(f"/jobs/{record_id}").status_code == 200


def test_each_database_has_its_own_redis_namespace(app: Any) -> None:
    """Queues, job ids and cached panels are prefixed per deployment: derived from the
    database URL (never its password), or REDIS_NAMESPACE when set."""
    from flask import Flask

    def namespace(**config: Any) -> str:
        other = Flask("other")
        other.config.update(config)
        with other.app_context():
            return jobs.redis_namespace()

    one = namespace(SQLALCHEMY_DATABASE_URI="postgresql://app:secret@db/houqin_a")
    assert one == namespace(SQLALCHEMY_DATABASE_URI="postgresql://app:other@db/houqin_a")
    assert one != namespace(SQLALCHEMY_DATABASE_URI="postgresql://app:secret@db/houqin_b")
    assert "secret" not in one and one.startswith("houqin-")
    assert namespace(SQLALCHEMY_DATABASE_URI="sqlite://", REDIS_NAMESPACE="yl-prod") == "yl-prod"
    from redis import Redis

    with app.app_context():
        mine = jobs.redis_namespace()
        # a client object connects lazily: nothing here needs a server
        assert jobs.rq_queue("scoring", Redis()).name == f"{mine}:scoring"
