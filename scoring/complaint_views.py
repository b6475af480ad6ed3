"""Pages: the district's complaints (投诉) — list, public links, detail and verdict.

They are part of the ``surveys`` blueprint (:mod:`scoring.survey_blueprint`; endpoints
``surveys.complaints`` …); :mod:`scoring.survey_views` imports this module. The public
filing page ``/c/<public_token>`` stays there with the other login-free page.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import ValidationError
from sqlalchemy import select

from district.extensions import db
from district.forms import parse_form
from scoring import complaints as cs
from scoring.models import Complaint
from scoring.survey_api import ADMIN, LINK_MAKERS, READERS
from scoring.survey_blueprint import bp
from tenants.auth import roles_required
from tenants.models import Role, School
from tenants.services import get_or_404


def _is_district() -> bool:
    return current_user.role in (Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER)


def _complaint_filters() -> tuple[dict[str, Any], dict[str, Any]]:
    raw = {k: v for k, v in request.args.items() if v and k in cs.ComplaintArgsSchema().fields}
    try:
        return cs.ComplaintArgsSchema().load(raw), {}
    except ValidationError as err:
        return cs.ComplaintArgsSchema().load({}), err.messages  # type: ignore[return-value]


@bp.get("/complaints")
@roles_required(*READERS)
def complaints() -> Any:
    args, errors = _complaint_filters()
    items, total = cs.list_complaints(
        status=args.get("status"),
        school_id=args.get("school_id"),
        month=cs.parse_month(args.get("month")),
        page=args["page"],
        per_page=args["per_page"],
    )
    cs.with_school_names(items)
    schools = (
        list(db.session.scalars(select(School).order_by(School.code))) if _is_district() else []
    )
    return render_template(
        "complaints/list.html",
        complaints=items,
        total=total,
        args=args,
        errors=errors,
        schools=schools,
        counts=cs.counts_by_status(),
        programmes=cs.programme_names(),
        show_contact=cs.may_see_contact(),
    )


@bp.get("/complaints/links")
@roles_required(*LINK_MAKERS)
def complaint_links() -> Any:
    """Each school's public complaint link, to post on notice boards and parents' groups."""
    schools = list(db.session.scalars(select(School).order_by(School.code)))
    return render_template(
        "complaints/links.html",
        schools=schools,
        link=lambda s: url_for(
            "surveys.file_complaint", public_token=s.public_token, _external=True
        ),
    )


@bp.get("/complaints/<int:complaint_id>")
@roles_required(*READERS)
def complaint(complaint_id: int) -> Any:
    item = get_or_404(Complaint, complaint_id)
    cs.with_school_names([item])
    return _complaint_page(item, {}, 200)


def _complaint_page(item: Complaint, errors: dict[str, Any], status: int) -> Any:
    return render_template(
        "complaints/detail.html",
        c=item,
        errors=errors,
        history=cs.history(item),
        programmes=cs.programme_names(),
        show_contact=cs.may_see_contact(),
    ), status


@bp.post("/complaints/<int:complaint_id>/verdict")
@roles_required(*ADMIN)
def complaint_verdict(complaint_id: int) -> Any:
    item = get_or_404(Complaint, complaint_id)
    data, errors = parse_form(cs.ComplaintVerdictSchema())
    if data is None:
        cs.with_school_names([item])
        return _complaint_page(item, errors, 422)
    cs.decide(item, data)
    flash(_("已记录调查结论：%(s)s", s=_(cs.STATUS_LABELS[item.status])), "success")
    return redirect(url_for("surveys.complaint", complaint_id=item.id))
