"""每月督查通报 pages and API: generate (background job), view, download."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from dashboards.jobs import bulletin_dir, generate_bulletin
from dashboards.models import Bulletin
from district.extensions import db
from district.forms import parse_form
from district.jobs import enqueue
from district.nav import register_nav
from tenants.auth import ANY_TENANT_USER, roles_required
from tenants.models import Role
from tenants.scope import require_scope
from tenants.services import get_or_404

bp = Blueprint("bulletins", __name__)
blp = ApiBlueprint("api_bulletins", __name__, url_prefix="/api/v1", description="每月督查通报")

ADMIN = (Role.DISTRICT_ADMIN,)
DISTRICT = (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER)
register_nav("督查通报", "bulletins.index", ANY_TENANT_USER, order=45)


class GenerateSchema(Schema):
    year = fields.Int(required=True, validate=validate.Range(min=2000, max=2100))
    month = fields.Int(required=True, validate=validate.Range(min=1, max=12))


class BulletinSchema(Schema):
    id = fields.Int()
    year = fields.Int()
    month = fields.Int()
    status = fields.Str()
    published = fields.Bool()
    generated_at = fields.DateTime(allow_none=True)
    job_id = fields.Int(allow_none=True)
    data = fields.Dict(allow_none=True)


class JobRefSchema(Schema):
    job_id = fields.Int()
    bulletin_id = fields.Int()
    status_url = fields.Str()


def _visible(b: Bulletin) -> Bulletin:
    """Schools and inspectors see a bulletin only once the district has published it."""
    if current_user.role not in DISTRICT and not b.published:
        abort(404)
    return b


def start(year: int, month: int) -> tuple[Bulletin, Any]:
    row = db.session.scalar(select(Bulletin).where(Bulletin.year == year, Bulletin.month == month))
    if row is None:
        row = Bulletin(year=year, month=month)
        db.session.add(row)
    row.status = "pending"
    db.session.flush()
    district_id = require_scope().district_id
    job = enqueue(
        generate_bulletin,
        district_id,
        year,
        month,
        description=f"生成 {year}年{month}月 督查通报",
        district_id=district_id,
        user_id=current_user.id,
        queue="bulletins",
    )
    row.job_id = job.id
    db.session.flush()
    return row, job


@bp.route("/bulletins", methods=["GET", "POST"])
@roles_required(*ANY_TENANT_USER)
def index() -> Any:
    errors: dict[str, Any] = {}
    if request.method == "POST":
        if current_user.role != Role.DISTRICT_ADMIN:
            abort(403)
        data, errors = parse_form(GenerateSchema())
        if data is not None:
            _row, job = start(data["year"], data["month"])
            flash(_("通报正在后台生成"), "info")
            return redirect(url_for("core.job", job_id=job.id))
    stmt = select(Bulletin).order_by(Bulletin.year.desc(), Bulletin.month.desc())
    rows = [b for b in db.session.scalars(stmt) if current_user.role in DISTRICT or b.published]
    today = date.today()
    last = (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
    return render_template("bulletins/index.html", bulletins=rows, errors=errors, last=last), (
        422 if errors else 200
    )


@bp.get("/bulletins/<int:bulletin_id>")
@roles_required(*ANY_TENANT_USER)
def detail(bulletin_id: int) -> Any:
    b = _visible(get_or_404(Bulletin, bulletin_id))
    return render_template("bulletins/detail.html", b=b, data=b.data or {})


def _file(b: Bulletin, name: str | None, mimetype: str, suffix: str) -> Any:
    if b.status != "ready" or not name:
        abort(409, description=_("通报尚未生成完成"))
    path = os.path.join(bulletin_dir(), name)
    if not os.path.exists(path):
        abort(404)
    return send_file(
        path,
        mimetype=mimetype,
        as_attachment=True,
        download_name=f"{b.year}年{b.month}月督查通报.{suffix}",
    )


@bp.get("/bulletins/<int:bulletin_id>/download.xlsx")
@roles_required(*ANY_TENANT_USER)
def download_xlsx(bulletin_id: int) -> Any:
    b = _visible(get_or_404(Bulletin, bulletin_id))
    return _file(
        b, b.xlsx_name, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
    )


@bp.get("/bulletins/<int:bulletin_id>/download.pdf")
@roles_required(*ANY_TENANT_USER)
def download_pdf(bulletin_id: int) -> Any:
    b = _visible(get_or_404(Bulletin, bulletin_id))
    return _file(b, b.pdf_name, "application/pdf", "pdf")


@bp.post("/bulletins/<int:bulletin_id>/publish")
@roles_required(*ADMIN)
def publish(bulletin_id: int) -> Any:
    b = get_or_404(Bulletin, bulletin_id)
    if b.status != "ready":
        abort(409, description=_("通报尚未生成完成"))
    b.published = True
    db.session.flush()
    from district import audit

    audit.record("bulletin.publish", b, after={"year": b.year, "month": b.month})
    flash(_("通报已发布，各校可见"), "success")
    return redirect(url_for("bulletins.detail", bulletin_id=b.id))


@blp.route("/bulletins")
class BulletinsApi(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, BulletinSchema(many=True))
    def get(self) -> Any:
        rows = db.session.scalars(
            select(Bulletin).order_by(Bulletin.year.desc(), Bulletin.month.desc())
        ).all()
        return [b for b in rows if current_user.role in DISTRICT or b.published]

    @roles_required(*ADMIN)
    @blp.arguments(GenerateSchema)
    @blp.response(202, JobRefSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Generate (or regenerate) a month's bulletin in the background."""
        row, job = start(data["year"], data["month"])
        return {
            "job_id": job.id,
            "bulletin_id": row.id,
            "status_url": url_for("api_tenants.JobItem", job_id=job.id),
        }


@blp.route("/bulletins/<int:bulletin_id>")
class BulletinApi(MethodView):
    @roles_required(*ANY_TENANT_USER)
    @blp.response(200, BulletinSchema)
    def get(self, bulletin_id: int) -> Any:
        return _visible(get_or_404(Bulletin, bulletin_id))
