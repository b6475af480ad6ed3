"""Look-ups by id that list pages and API answers share, in the caller's tenant scope."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from district.extensions import db
from tenants.models import School, User


def schools_by_id(ids: Iterable[int]) -> dict[int, School]:
    """The schools (with their zone) the caller may see, by id; one query."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {
        s.id: s
        for s in db.session.scalars(
            select(School).options(selectinload(School.zone)).where(School.id.in_(ids))
        )
    }


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of the users the caller may see (inspectors outside a school's scope
    are not visible to it; the page then says only 督查员)."""
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {user_id: name for user_id, name in rows}
