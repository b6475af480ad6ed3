"""The ``visits`` page blueprint: its menu entries and template helpers.

Visit pages (:mod:`scoring.visit_views`) and findings pages (:mod:`scoring.finding_views`)
both register on it; ``scoring.visit_views`` is the module named in
``district.FEATURE_MODULES`` and exposes it as ``bp``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from district.nav import register_nav
from scoring import visits as svc
from scoring.rubric_data import KINDS
from scoring.visit_access import DISTRICT_SIDE, SCHOOL_SIDE
from scoring.visit_payloads import evidence_url

bp = Blueprint("visits", __name__)

register_nav("督查", "visits.index", DISTRICT_SIDE, order=30)
register_nav("整改", "visits.findings", SCHOOL_SIDE, order=30)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "evidence_url": evidence_url,
        "programme_name": svc.programme_name,
        "finding_labels": svc.FINDING_LABELS,
        "is_overdue": svc.is_overdue,
        "kinds": KINDS,
        "measure_label": svc.measure_label,
    }
