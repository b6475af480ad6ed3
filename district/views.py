"""Core pages: the home page per role, job status, audit history, health."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from district.audit import AuditEntry
from district.extensions import db
from district.jobs import JobRecord
from tenants.auth import ANY_TENANT_USER, roles_required
from tenants.models import Role, School, User, Zone
from tenants.services import get_or_404

bp = Blueprint("core", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/")
@login_required
def home() -> Any:
    role = current_user.role
    if role == Role.PLATFORM_OPERATOR:
        return redirect(url_for("tenants.districts"))
    if role in (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER):
        by_level = db.session.execute(
            select(
                School.level,
                func.count(School.id),
                func.sum(func.cast(School.boarding, db.Integer)),
            )
            .group_by(School.level)
            .order_by(School.level)
        ).all()
        zones = db.session.execute(
            select(Zone.id, Zone.name, func.count(School.id))
            .outerjoin(School, School.zone_id == Zone.id)
            .group_by(Zone.id, Zone.name)
            .order_by(Zone.name)
        ).all()
        stats = {
            "schools": sum(r[1] for r in by_level),
            "boarding": sum(r[2] or 0 for r in by_level),
            "users": db.session.scalar(select(func.count(User.id))),
            "zones": len(zones),
        }
        return render_template("home/district.html", by_level=by_level, zones=zones, stats=stats)
    if role == Role.INSPECTOR:
        schools = db.session.scalars(select(School).order_by(School.zone_id, School.name)).all()
        return render_template("home/inspector.html", schools=schools, zones=current_user.zones)
    school = get_or_404(School, current_user.school_id)
    from scoring.assessments import school_overview

    return render_template("home/school.html", school=school, reminders=school_overview(school))


@bp.get("/jobs")
@roles_required(*ANY_TENANT_USER)
def jobs() -> Any:
    stmt = select(JobRecord).order_by(JobRecord.id.desc()).limit(100)
    if current_user.role != Role.DISTRICT_ADMIN:
        # A district admin sees every job of the district (failed ones included); others their own.
        stmt = stmt.where(JobRecord.user_id == current_user.id)
    return render_template("jobs/list.html", jobs=db.session.scalars(stmt).all())


@bp.get("/jobs/<int:job_id>")
@roles_required(*ANY_TENANT_USER)
def job(job_id: int) -> Any:
    record = get_or_404(JobRecord, job_id)
    if current_user.role != Role.DISTRICT_ADMIN and record.user_id != current_user.id:
        return render_template("error.html", code=404, message="找不到该任务"), 404
    if request.args.get("format") == "json" or request.accept_mimetypes.best == "application/json":
        from tenants.schemas import JobSchema

        return jsonify(JobSchema().dump(record))
    return render_template("jobs/detail.html", job=record)


@bp.get("/audit")
@roles_required(Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER, Role.SCHOOL_HEAD)
def audit_log() -> Any:
    page = max(request.args.get("page", 1, type=int), 1)
    entries = db.session.scalars(
        select(AuditEntry).order_by(AuditEntry.id.desc()).offset((page - 1) * 50).limit(50)
    ).all()
    return render_template("audit/list.html", entries=entries, page=page)
