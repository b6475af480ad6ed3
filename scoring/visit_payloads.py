"""Site visits (督查) and findings (整改) as the pages and the API show them (plain dicts)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import url_for
from werkzeug.routing import BuildError

from scoring import evidence
from scoring import visits as svc
from scoring.models import Evidence, Finding, SiteVisit


def evidence_url(ev: Evidence | dict) -> str | None:
    """Download link through the generic evidence route (when it exists)."""
    if isinstance(ev, dict):
        return ev.get("url")
    try:
        return url_for("assessments.evidence_file", evidence_id=ev.id)
    except BuildError:
        return None


def evidence_dict(ev: Evidence) -> dict[str, Any]:
    return {
        "id": ev.id,
        "filename": ev.filename,
        "content_type": ev.content_type,
        "size": ev.size,
        "created_at": ev.created_at,
        "url": evidence_url(ev),
    }


def finding_dicts(findings: list[Finding], *, with_evidence: bool = True) -> list[dict]:
    schools = svc.schools_by_id(f.school_id for f in findings)
    attached = (
        evidence.attached(svc.FINDING_OWNER, [f.id for f in findings]) if with_evidence else {}
    )
    today = date.today()
    out = []
    for f in findings:
        school = schools.get(f.school_id)
        out.append(
            {
                "id": f.id,
                "visit_id": f.visit_id,
                "school_id": f.school_id,
                "school_name": school.name if school else None,
                "programme": f.programme,
                "programme_name": svc.programme_name(f.programme) if f.programme else None,
                "indicator_code": f.indicator_code,
                "description": f.description,
                "deadline": f.deadline,
                "status": f.status,
                "status_label": svc.FINDING_LABELS.get(f.status, f.status),
                "overdue": svc.is_overdue(f, today),
                "response": f.response,
                "responded_at": f.responded_at,
                "closed_at": f.closed_at,
                "reopen_count": f.reopen_count or 0,
                "version": f.version,
                "created_at": f.created_at,
                "evidence": [evidence_dict(e) for e in attached.get(f.id, [])],
            }
        )
    return out


def visit_summaries(visits: list[SiteVisit]) -> list[dict]:
    ids = [v.id for v in visits]
    schools = svc.schools_by_id(v.school_id for v in visits)
    names = svc.user_names(v.inspector_id for v in visits)
    programmes = svc.programmes_of(ids)
    counts = svc.finding_counts(ids)
    out = []
    for v in visits:
        school = schools.get(v.school_id)
        total, unresolved = counts.get(v.id, (0, 0))
        out.append(
            {
                "id": v.id,
                "school_id": v.school_id,
                "school_name": school.name if school else None,
                "zone_name": school.zone.name if school and school.zone else None,
                "inspector_id": v.inspector_id,
                "inspector_name": names.get(v.inspector_id) if v.inspector_id else None,
                "visited_on": v.visited_on,
                "year": v.year,
                "month": v.month,
                "notes": v.notes,
                "version": v.version,
                "created_at": v.created_at,
                "programmes": programmes.get(v.id, []),
                "findings_total": total,
                "findings_unresolved": unresolved,
            }
        )
    return out


def visit_dict(visit: SiteVisit) -> dict[str, Any]:
    data = visit_summaries([visit])[0]
    views = svc.visit_programmes(visit)
    score_ids = [s.id for pv in views for _i, s in pv.rows]
    photos = evidence.attached(svc.SCORE_OWNER, score_ids)
    scores = []
    for pv in views:
        for ind, s in pv.rows:
            scores.append(
                {
                    "programme": s.programme,
                    "indicator_code": s.indicator_code,
                    "indicator_name": ind.name,
                    "kind": ind.kind,
                    "max_points": ind.max_points,
                    "points": s.points,
                    "value": s.value if ind.kind == "measured" else None,
                    "ticks": svc.ticks_of(s) if ind.kind == "checklist" else None,
                    "triggered": bool(s.points and s.points > 0) if ind.kind == "veto" else None,
                    "reason": s.reason,
                    "low": svc.is_low(s.points, Decimal(ind.max_points))
                    if ind.kind != "veto"
                    else False,
                    "photos": [evidence_dict(e) for e in photos.get(s.id, [])],
                }
            )
    data["programme_scores"] = [
        {
            "programme": pv.programme,
            "name": pv.name,
            "rubric_version_id": pv.version.id,
            "rubric_version_number": pv.version.number,
            "score": pv.score,
            "veto": pv.veto,
        }
        for pv in views
    ]
    data["scores"] = scores
    data["photos"] = [
        evidence_dict(e) for e in evidence.attached(svc.VISIT_OWNER, [visit.id]).get(visit.id, [])
    ]
    data["findings"] = finding_dicts(sorted(visit.findings, key=lambda f: f.id))
    return data
