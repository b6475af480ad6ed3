"""Who may do what with site visits (督查) and findings (整改)."""

from __future__ import annotations

from typing import Any

from flask import abort

from scoring.models import SiteVisit
from tenants.models import Role

ADMIN, VIEWER, INSPECTOR = Role.DISTRICT_ADMIN, Role.DISTRICT_VIEWER, Role.INSPECTOR
DISTRICT_SIDE = (ADMIN, VIEWER, INSPECTOR)
RECORDERS = (INSPECTOR, ADMIN)
SCHOOL_SIDE = Role.SCHOOL_ROLES


def can_record(user: Any) -> bool:
    return user.role in (Role.INSPECTOR, Role.DISTRICT_ADMIN)


def can_edit(user: Any, visit: SiteVisit) -> bool:
    """The visit's own inspector or a district admin."""
    if user.role == Role.DISTRICT_ADMIN:
        return True
    return user.role == Role.INSPECTOR and visit.inspector_id == user.id


def can_judge(user: Any) -> bool:
    """Close or reopen findings: inspectors (of the school's zone: their scope) and admins."""
    return user.role in (Role.INSPECTOR, Role.DISTRICT_ADMIN)


def can_answer(user: Any) -> bool:
    return user.role in Role.SCHOOL_ROLES


def require(allowed: bool) -> None:
    if not allowed:
        abort(403)
