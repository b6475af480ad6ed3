"""The ``assessments`` page blueprint: its menu entries and template helpers.

Self-assessment pages (:mod:`scoring.assessment_views`) and scoring-period pages
(:mod:`scoring.period_views`) both register on it; ``scoring.assessment_views`` is the
module named in ``district.FEATURE_MODULES`` and exposes it as ``bp``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from district.nav import register_nav
from scoring import assessments as svc
from scoring.assessment_api import DISTRICT_READERS
from scoring.rubric_data import PROGRAMMES
from tenants.auth import ANY_TENANT_USER, DISTRICT_STAFF

bp = Blueprint("assessments", __name__)


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "labels": svc.STATE_LABELS,
        "state_of": svc.state_of,
        "programme_names": PROGRAMMES,
    }


register_nav("自评", "assessments.overview", ANY_TENANT_USER, order=20)
register_nav("考核月份", "assessments.periods_page", DISTRICT_STAFF, order=21)
register_nav("提交情况", "assessments.compliance_page", DISTRICT_READERS, order=22)
