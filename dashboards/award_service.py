"""Award services: year records from the stored results, draft lists, 公示, finalisation.

The arithmetic is the pure engine's (dashboards/awards.py); this module only
gathers each school's year in a fixed number of grouped queries and keeps the
workflow: draft → published for a notice period (objections recorded and
resolved) → finalised into an immutable, checksummed snapshot.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import case, func, select

from dashboards import awards
from dashboards.models import AwardList, AwardObjection, AwardYear
from district import audit
from district.errors import Conflict
from district.extensions import db
from scoring.models import Complaint, SchoolMonthResult, SelfAssessment, SiteVisit
from tenants.models import School, utcnow

OVERALL = "overall"
CENT = Decimal("0.01")


def year_bounds(school_year: int) -> tuple[int, int]:
    """Month keys (year*12+month-1) of September of ``school_year`` to July of the next."""
    return school_year * 12 + 8, (school_year + 1) * 12 + 6


def _key(year_col: Any, month_col: Any) -> Any:
    return year_col * 12 + month_col - 1


def _q2(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def year_records(school_year: int) -> list[awards.SchoolYearRecord]:
    """Every school of the district with its year: scores, visits, lates, vetoes, complaints."""
    lo, hi = year_bounds(school_year)
    res_key = _key(SchoolMonthResult.year, SchoolMonthResult.month)
    overall = dict(
        db.session.execute(
            select(SchoolMonthResult.school_id, func.avg(SchoolMonthResult.score))
            .where(SchoolMonthResult.programme == OVERALL, res_key >= lo, res_key <= hi)
            .group_by(SchoolMonthResult.school_id)
        ).all()
    )
    programme_rows = db.session.execute(
        select(
            SchoolMonthResult.school_id,
            func.avg(SchoolMonthResult.inspector_score),
            func.avg(SchoolMonthResult.satisfaction),
            func.sum(case((SchoolMonthResult.veto, 1), else_=0)),
        )
        .where(SchoolMonthResult.programme != OVERALL, res_key >= lo, res_key <= hi)
        .group_by(SchoolMonthResult.school_id)
    ).all()
    by_programme = {sid: (insp, sat, int(v or 0)) for sid, insp, sat, v in programme_rows}
    visits = dict(
        db.session.execute(
            select(SiteVisit.school_id, func.count(SiteVisit.id))
            .where(
                _key(SiteVisit.year, SiteVisit.month) >= lo,
                _key(SiteVisit.year, SiteVisit.month) <= hi,
            )
            .group_by(SiteVisit.school_id)
        ).all()
    )
    late = dict(
        db.session.execute(
            select(SelfAssessment.school_id, func.count(SelfAssessment.id))
            .where(
                SelfAssessment.late.is_(True),
                _key(SelfAssessment.year, SelfAssessment.month) >= lo,
                _key(SelfAssessment.year, SelfAssessment.month) <= hi,
            )
            .group_by(SelfAssessment.school_id)
        ).all()
    )
    complaints = dict(
        db.session.execute(
            select(Complaint.school_id, func.count(Complaint.id))
            .where(
                Complaint.status == Complaint.VERIFIED,
                _key(Complaint.year, Complaint.month) >= lo,
                _key(Complaint.year, Complaint.month) <= hi,
            )
            .group_by(Complaint.school_id)
        ).all()
    )
    records = []
    for school in db.session.scalars(select(School).order_by(School.id)):
        if school.id not in overall:
            continue  # no scored month this year: nothing to rank
        insp, sat, vetoes = by_programme.get(school.id, (None, None, 0))
        records.append(
            awards.SchoolYearRecord(
                school_id=school.id,
                name=school.name,
                category=school.level,
                year_score=_q2(overall[school.id]),
                inspector_average=_q2(insp),
                verified_complaints=int(complaints.get(school.id, 0)),
                satisfaction=_q2(sat),
                veto_count=vetoes,
                late_self_assessments=int(late.get(school.id, 0)),
                inspector_visits=int(visits.get(school.id, 0)),
            )
        )
    return records


def rules_of(year: AwardYear) -> awards.AwardRules:
    return awards.AwardRules(
        total_units=year.total_units,
        total_individuals=year.total_individuals,
        max_late_self_assessments=year.max_late_self_assessments,
        min_inspector_visits=year.min_inspector_visits,
        require_no_veto=year.require_no_veto,
    )


def compute_units(year: AwardYear) -> awards.UnitAwardResult:
    return awards.rank_units(year_records(year.school_year), rules_of(year))


def _dec(v: Any) -> str | None:
    return None if v is None else str(v)


def unit_snapshot(
    result: awards.UnitAwardResult, records: list[awards.SchoolYearRecord] | None = None
) -> dict[str, Any]:
    """A JSON-able picture of the list as shown, with the reasons for every decision."""
    by_id = {r.school_id: r for r in records or []}
    entries = []
    for e in result.entries:
        rec = by_id.get(e.school_id)
        entries.append(
            {
                "school_id": e.school_id,
                "name": e.name,
                "category": e.category,
                "year_score": _dec(e.year_score),
                "eligible": e.eligible,
                "display_rank": e.display_rank,
                "order": e.order,
                "awarded": e.awarded,
                "tie_broken_by": e.tie_broken_by,
                "reasons": list(e.reasons),
                "explain": awards.explain(result, e.school_id),
                "inspector_average": _dec(rec.inspector_average) if rec else None,
                "inspector_visits": rec.inspector_visits if rec else None,
                "late_self_assessments": rec.late_self_assessments if rec else None,
                "verified_complaints": rec.verified_complaints if rec else None,
                "satisfaction": _dec(rec.satisfaction) if rec else None,
            }
        )
    return {
        "categories": [
            {
                "category": c.category,
                "schools": c.school_count,
                "eligible": c.eligible_count,
                "quota": f"{float(c.quota):.4f}",
                "places": c.places,
            }
            for c in result.categories
        ],
        "entries": entries,
        "unallocated": result.unallocated,
        # The engine's checksum of the awarded list: compared with a fresh computation
        # to tell when the live ranking has drifted from this list.
        "ranking_checksum": awards.snapshot_checksum(result),
    }


def snapshot_digest(snapshot: dict[str, Any]) -> str:
    """sha256 over the whole stored snapshot (canonical JSON): tamper evidence."""
    import hashlib
    import json

    payload = json.dumps(snapshot, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def get_or_create_year(school_year: int) -> AwardYear:
    year = db.session.scalar(select(AwardYear).where(AwardYear.school_year == school_year))
    if year is None:
        year = AwardYear(school_year=school_year)
        db.session.add(year)
        db.session.flush()
    return year


def update_rules(year: AwardYear, data: dict[str, Any]) -> AwardYear:
    if data.get("version") is not None and data["version"] != year.version:
        raise Conflict(description="数据已被他人修改，请刷新后重试")
    fields = (
        "total_units",
        "total_individuals",
        "max_late_self_assessments",
        "min_inspector_visits",
        "require_no_veto",
        "notice_working_days",
        "evaluation_round_id",
    )
    before = {f: getattr(year, f) for f in fields}
    for f in fields:
        if f in data:
            setattr(year, f, data[f])
    awards.AwardRules(
        total_units=year.total_units,
        total_individuals=year.total_individuals,
        max_late_self_assessments=year.max_late_self_assessments,
        min_inspector_visits=year.min_inspector_visits,
        require_no_veto=year.require_no_veto,
    ).validate()
    db.session.flush()
    audit.record("award.rules", year, before=before, after={f: getattr(year, f) for f in fields})
    return year


def draft_units(year: AwardYear) -> AwardList:
    """(Re)compute the 先进单位 draft; an existing draft is replaced, a published list is not."""
    current = [
        lst
        for lst in year.lists
        if lst.kind == AwardList.UNITS and lst.status != AwardList.FINALISED
    ]
    if any(lst.status == AwardList.PUBLISHED for lst in current):
        raise Conflict(description="已有名单正在公示，公示结束定稿后才能重新生成")
    for lst in current:
        db.session.delete(lst)
    records = year_records(year.school_year)
    result = awards.rank_units(records, rules_of(year))
    lst = AwardList(
        award_year_id=year.id, kind=AwardList.UNITS, snapshot=unit_snapshot(result, records)
    )
    db.session.add(lst)
    db.session.flush()
    audit.record("award.draft", lst, after={"awarded": sum(1 for e in result.entries if e.awarded)})
    return lst


def add_working_days(start: date, days: int) -> date:
    d = start
    added = 0
    while added < days:
        d += timedelta(days=1)
        if d.weekday() < 5:
            added += 1
    return d


def publish(lst: AwardList, *, today: date | None = None) -> AwardList:
    if lst.status != AwardList.DRAFT:
        raise Conflict(description="只有草稿名单才能发布公示")
    today = today or date.today()
    lst.status = AwardList.PUBLISHED
    lst.published_at = utcnow()
    lst.notice_ends_on = add_working_days(today, lst.award_year.notice_working_days)
    db.session.flush()
    audit.record("award.publish", lst, after={"notice_ends_on": lst.notice_ends_on.isoformat()})
    return lst


def object_to(
    lst: AwardList, content: str, *, school_id: int | None, user_id: int | None
) -> AwardObjection:
    if lst.status != AwardList.PUBLISHED:
        raise Conflict(description="只能在公示期内提出异议")
    obj = AwardObjection(
        award_list_id=lst.id, school_id=school_id, raised_by=user_id, content=content
    )
    db.session.add(obj)
    db.session.flush()
    audit.record("award.objection", obj, after={"content": content[:200]})
    return obj


def resolve(obj: AwardObjection, resolution: str, *, user_id: int | None) -> AwardObjection:
    if obj.status == AwardObjection.RESOLVED:
        raise Conflict(description="该异议已处理")
    obj.status = AwardObjection.RESOLVED
    obj.resolution = resolution
    obj.resolved_by = user_id
    obj.resolved_at = utcnow()
    db.session.flush()
    audit.record("award.resolve", obj, after={"resolution": resolution[:200]})
    return obj


def finalise(
    lst: AwardList,
    *,
    user_id: int | None,
    early_reason: str | None = None,
    today: date | None = None,
) -> AwardList:
    """Freeze the list. The notice period must be over, or an early reason given."""
    today = today or date.today()
    if lst.status != AwardList.PUBLISHED:
        raise Conflict(description="只有公示中的名单才能定稿")
    if any(o.status == AwardObjection.OPEN for o in lst.objections):
        raise Conflict(description="还有未处理的异议，处理完毕后才能定稿")
    if lst.notice_ends_on and today < lst.notice_ends_on and not early_reason:
        raise Conflict(description="公示期未满：如需提前定稿，请填写理由")
    lst.status = AwardList.FINALISED
    lst.finalised_at = utcnow()
    lst.finalised_by = user_id
    lst.checksum = snapshot_digest(lst.snapshot)
    db.session.flush()
    audit.record(
        "award.finalise",
        lst,
        after={"checksum": lst.checksum, "early_reason": early_reason},
    )
    return lst


def verify(lst: AwardList) -> bool:
    """The stored snapshot still matches its checksum (tamper evidence)."""
    return lst.checksum is None or lst.checksum == snapshot_digest(lst.snapshot)


def drifted(lst: AwardList) -> bool:
    """Has the live ranking moved away from this list since it was computed?"""
    year = lst.award_year
    if lst.kind == AwardList.INDIVIDUALS:
        try:
            return individual_snapshot(year)["ranking_checksum"] != lst.snapshot.get(
                "ranking_checksum"
            )
        except Exception:  # noqa: BLE001 - the round is gone or empty: that is drift too
            return True
    live = awards.rank_units(year_records(year.school_year), rules_of(year))
    return awards.snapshot_checksum(live) != lst.snapshot.get("ranking_checksum")


# --- 先进个人 -----------------------------------------------------------------------


def _individual_pools(round_id: int) -> tuple[list[awards.SchoolStaffPool], dict[int, str]]:
    """Per school: evaluated staff and the people graded 优秀 in the round."""
    from scoring.evaluation import excellent_pool
    from scoring.evaluation_models import EvaluationResult

    evaluated = dict(
        db.session.execute(
            select(EvaluationResult.school_id, func.count(EvaluationResult.id))
            .where(EvaluationResult.round_id == round_id, EvaluationResult.rounded.is_not(None))
            .group_by(EvaluationResult.school_id)
        ).all()
    )
    candidates: dict[int, list[awards.StaffCandidate]] = {}
    names: dict[int, str] = {}
    for entry in excellent_pool(round_id):
        names[entry.school_id] = entry.school_name
        candidates.setdefault(entry.school_id, []).append(
            awards.StaffCandidate(
                entry.staff_id, entry.name, Decimal(str(entry.score)), awards.EXCELLENT
            )
        )
    pools = [
        awards.SchoolStaffPool(school_id, int(count), tuple(candidates.get(school_id, ())))
        for school_id, count in sorted(evaluated.items())
    ]
    return pools, names


def individual_snapshot(year: AwardYear) -> dict[str, Any]:
    from marshmallow import ValidationError

    if not year.evaluation_round_id:
        raise ValidationError({"evaluation_round_id": ["请先在表彰规则中选择业绩评价轮次"]})
    pools, names = _individual_pools(year.evaluation_round_id)
    if not pools:
        raise ValidationError({"evaluation_round_id": ["该评价轮次还没有已提交的结果"]})
    places = awards.allocate_individuals(year.total_individuals, pools)
    chosen = awards.rank_individuals(pools, year.total_individuals)
    awarded = {(a.school_id, a.staff_id) for a in chosen}
    return {
        "schools": [
            {
                "school_id": p.school_id,
                "school": names.get(p.school_id, str(p.school_id)),
                "evaluated": p.evaluated_staff,
                "excellent": len(p.eligible),
                "places": places.get(p.school_id, 0),
            }
            for p in pools
        ],
        "entries": [
            {
                "school_id": p.school_id,
                "school": names.get(p.school_id, ""),
                "staff_id": c.staff_id,
                "name": c.name,
                "score": str(c.score),
                "awarded": (p.school_id, c.staff_id) in awarded,
            }
            for p in pools
            for c in sorted(p.eligible, key=lambda c: (-c.score, c.staff_id))
        ],
        "total": year.total_individuals,
        "ranking_checksum": awards.snapshot_checksum(chosen),
    }


def draft_individuals(year: AwardYear) -> AwardList:
    current = [
        lst
        for lst in year.lists
        if lst.kind == AwardList.INDIVIDUALS and lst.status != AwardList.FINALISED
    ]
    if any(lst.status == AwardList.PUBLISHED for lst in current):
        raise Conflict(description="已有名单正在公示，公示结束定稿后才能重新生成")
    snapshot = individual_snapshot(year)
    for lst in current:
        db.session.delete(lst)
    lst = AwardList(award_year_id=year.id, kind=AwardList.INDIVIDUALS, snapshot=snapshot)
    db.session.add(lst)
    db.session.flush()
    audit.record(
        "award.draft", lst, after={"awarded": sum(1 for e in snapshot["entries"] if e["awarded"])}
    )
    return lst
