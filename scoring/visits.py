"""Site visits (督查): services. They flush; the request commits once.

An inspector records a visit to a school of their zones with indicator scores for any
subset of programmes, scored against the rubric version in force for the visit's month
(:mod:`scoring.visit_scoring`). How each indicator kind is stored in
:class:`~scoring.models.VisitScore`:

- judged: ``points`` (0…max, step 0.5);
- checklist: ``points`` = Σ ticked items, ``value`` = bitmask of the ticked items
  (bit *i* = item *i*, in rubric order);
- measured: ``value`` = the measured number, ``points`` = the rubric curve applied to it
  (:func:`scoring.engine.measured_points`);
- veto (一票否决): ``points`` = ``value`` = 1 when triggered, 0 otherwise (the engine's
  convention: a veto answer above 0 is triggered; vetoes carry no points).

Evidence rule: a score below 60 % of the indicator's max (and a triggered veto) needs a
photo of that indicator or a written reason. Indicator photos are evidence rows with
``owner_type="visit_score"`` (owner = the VisitScore); photos of the visit as a whole
have ``owner_type="visit"``. A visit photo can be assigned to an indicator by id.

A visit's scores feed its month and can stand in for the next three months, so saving
them asks for recomputation of the school-month and the three after it.

Findings (整改) live in :mod:`scoring.findings`, who may do what in
:mod:`scoring.visit_access`, list look-ups in :mod:`scoring.visit_queries`; their public
names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import flag_modified

from district import audit
from district.extensions import db
from scoring import engine, evidence, jobs
from scoring.findings import (
    ANSWERABLE,
    FINDING_HEADER,
    FINDING_LABELS,
    FINDING_OWNER,
    FINDING_STATES,
    REOPENED,
    UNRESOLVED,
    add_finding_evidence,
    answer_finding,
    close_finding,
    create_finding,
    finding_counts,
    findings_workbook,
    is_overdue,
    list_findings,
    overdue_findings,
    reopen_finding,
)
from scoring.indicator_input import POINT_STEP
from scoring.lookups import schools_by_id, user_names
from scoring.models import Evidence, SchoolMonthResult, SiteVisit, VisitScore
from scoring.visit_access import can_answer, can_edit, can_judge, can_record, require
from scoring.visit_queries import list_visits, programmes_of, visible_schools, zones
from scoring.visit_scoring import (
    LOW_SHARE,
    MAX_VALUE,
    ProgrammeSheet,
    ProgrammeView,
    Scored,
    evaluate_scores,
    is_low,
    measure_label,
    programme_name,
    scoring_sheet,
    ticks_of,
    visit_programmes,
)
from tenants.models import Role, School
from tenants.services import check_version, get_or_404

__all__ = [
    "ANSWERABLE",
    "FINDING_HEADER",
    "FINDING_LABELS",
    "FINDING_OWNER",
    "FINDING_STATES",
    "LOW_SHARE",
    "MAX_VALUE",
    "POINT_STEP",
    "REOPENED",
    "SCORE_OWNER",
    "STAND_IN_MONTHS",
    "UNRESOLVED",
    "VISIT_OWNER",
    "ProgrammeSheet",
    "ProgrammeView",
    "add_finding_evidence",
    "add_photos",
    "answer_finding",
    "can_answer",
    "can_edit",
    "can_judge",
    "can_record",
    "close_finding",
    "create_finding",
    "create_visit",
    "delete_visit",
    "finding_counts",
    "findings_workbook",
    "is_low",
    "is_overdue",
    "list_findings",
    "list_visits",
    "measure_label",
    "overdue_findings",
    "programme_name",
    "programmes_of",
    "reopen_finding",
    "request_visit_recompute",
    "require",
    "schools_by_id",
    "scoring_sheet",
    "ticks_of",
    "update_visit",
    "user_names",
    "visible_schools",
    "visit_programmes",
    "zones",
]

STAND_IN_MONTHS = 3
VISIT_OWNER = "visit"
SCORE_OWNER = "visit_score"


def _check_date(visited_on: date) -> None:
    if visited_on > date.today():
        raise ValidationError({"visited_on": ["督查日期不能晚于今天"]})
    if visited_on.year < 2000:
        raise ValidationError({"visited_on": ["督查日期有误"]})


def _months_affected(school_id: int, day: date) -> list[tuple[int, int, int]]:
    start = engine.Month.of(day)
    return [(school_id, m.year, m.month) for m in (start + i for i in range(STAND_IN_MONTHS + 1))]


def request_visit_recompute(school_id: int, *days: date) -> None:
    """The visit's month and the three it can stand in for (代评), for every date given."""
    items: list[tuple[int, int, int]] = []
    for day in days:
        items.extend(_months_affected(school_id, day))
    jobs.request_recompute(items, description="督查记录变更后重新计算成绩")


def _score_snapshot(scores: Iterable[VisitScore]) -> dict[str, Any]:
    return {
        f"{s.programme}.{s.indicator_code}": {
            "points": None if s.points is None else str(s.points),
            "value": None if s.value is None else str(s.value),
            "reason": s.reason,
        }
        for s in sorted(scores, key=lambda s: (s.programme, s.indicator_code))
    }


def _apply_scores(
    visit: SiteVisit,
    scored: list[Scored],
    *,
    user_id: int | None,
    new_photos: dict[tuple[str, str], list[Any]],
) -> None:
    """Upsert scores by (programme, indicator); drop the ones no longer given."""
    current = {(s.programme, s.indicator_code): s for s in visit.scores}
    wanted = {(r.programme, r.indicator.code): r for r in scored}
    for key, row in list(current.items()):
        if key not in wanted:
            for ev in evidence.attached(SCORE_OWNER, [row.id]).get(row.id, []):
                db.session.delete(ev)
            visit.scores.remove(row)
    for key, result in wanted.items():
        row = current.get(key)
        if row is None:
            row = VisitScore(
                school_id=visit.school_id,
                programme=result.programme,
                indicator_code=result.indicator.code,
            )
            visit.scores.append(row)
        row.rubric_version_id = result.version_id
        row.points = result.points
        row.value = result.value
        row.reason = result.reason
    db.session.flush()
    by_key = {(s.programme, s.indicator_code): s for s in visit.scores}
    photo_ids = {pid: by_key[key] for key, r in wanted.items() for pid in r.photo_ids}
    if photo_ids:
        for ev in db.session.scalars(
            select(Evidence).where(
                Evidence.id.in_(list(photo_ids)),
                Evidence.owner_type == VISIT_OWNER,
                Evidence.owner_id == visit.id,
            )
        ):
            ev.owner_type, ev.owner_id = SCORE_OWNER, photo_ids[ev.id].id
    for key, uploads in new_photos.items():
        row = by_key.get(key)
        if row is None:
            continue
        for upload in uploads:
            evidence.store(
                upload,
                owner_type=SCORE_OWNER,
                owner_id=row.id,
                school_id=visit.school_id,
                user_id=user_id,
                field=f"{key[0]}.{key[1]}",
            )
    db.session.flush()


def _visit_photo_ids(visit: SiteVisit | None) -> set[int]:
    if visit is None or visit.id is None:
        return set()
    return {e.id for e in evidence.attached(VISIT_OWNER, [visit.id]).get(visit.id, [])}


def _store_visit_photos(visit: SiteVisit, uploads: Iterable[Any], user_id: int | None) -> list:
    stored = []
    for upload in uploads:
        stored.append(
            evidence.store(
                upload,
                owner_type=VISIT_OWNER,
                owner_id=visit.id,
                school_id=visit.school_id,
                user_id=user_id,
                field="photos",
            )
        )
    return stored


def create_visit(
    school: School,
    data: dict[str, Any],
    user: Any,
    *,
    photos: Iterable[Any] = (),
    score_photos: dict[tuple[str, str], list[Any]] | None = None,
) -> SiteVisit:
    """Record a visit; ``school`` was loaded through the caller's scope (404 outside it)."""
    require(can_record(user))
    visited_on = data.get("visited_on") or date.today()
    _check_date(visited_on)
    score_photos = {k: v for k, v in (score_photos or {}).items() if v}
    items = data.get("scores") or []
    scored = evaluate_scores(
        school,
        visited_on,
        items,
        existing={},
        existing_photos={},
        new_photo_keys=set(score_photos),
        visit_photo_ids=set(),
    )
    visit = SiteVisit(
        school_id=school.id,
        inspector_id=user.id,
        visited_on=visited_on,
        year=visited_on.year,
        month=visited_on.month,
        notes=(data.get("notes") or "").strip() or None,
    )
    db.session.add(visit)
    db.session.flush()
    _apply_scores(visit, scored, user_id=user.id, new_photos=score_photos)
    _store_visit_photos(visit, photos, user.id)
    audit.record(
        "visit.create",
        visit,
        after={
            "school_id": visit.school_id,
            "visited_on": visit.visited_on,
            "notes": visit.notes,
            "scores": _score_snapshot(visit.scores),
        },
    )
    if visit.scores:
        request_visit_recompute(visit.school_id, visited_on)
    return visit


def update_visit(
    visit: SiteVisit,
    data: dict[str, Any],
    user: Any,
    *,
    photos: Iterable[Any] = (),
    score_photos: dict[tuple[str, str], list[Any]] | None = None,
) -> SiteVisit:
    """Edit date, notes and/or scores; ``version`` must match (409 otherwise)."""
    require(can_edit(user, visit))
    check_version(visit, data.get("version"))
    school = get_or_404(School, visit.school_id)
    old_day = visit.visited_on
    visited_on = data.get("visited_on") or old_day
    _check_date(visited_on)
    score_photos = {k: v for k, v in (score_photos or {}).items() if v}
    start_version = visit.version
    before_scores = _score_snapshot(visit.scores)
    before = audit.snapshot(visit, ("visited_on", "notes"))
    # Without new scores only the date or notes change: the kept scores must still fit.
    given = "scores" in data
    items = (data["scores"] or []) if given else [_as_item(s) for s in visit.scores]
    existing = {(s.programme, s.indicator_code): s for s in visit.scores}
    try:
        scored = evaluate_scores(
            school,
            visited_on,
            items,
            existing=existing,
            existing_photos=evidence.attached(SCORE_OWNER, [s.id for s in visit.scores]),
            new_photo_keys=set(score_photos),
            visit_photo_ids=_visit_photo_ids(visit),
        )
    except ValidationError as err:
        if "scores" not in data:
            raise ValidationError(
                {"visited_on": ["新日期所在月份适用的考核细则不同，请重新评分"]}
            ) from err
        raise
    if "scores" not in data and any(
        existing[(r.programme, r.indicator.code)].rubric_version_id != r.version_id
        for r in scored
        if (r.programme, r.indicator.code) in existing
    ):
        raise ValidationError({"visited_on": ["新日期所在月份适用的考核细则不同，请重新评分"]})
    visit.visited_on = visited_on
    visit.year, visit.month = visited_on.year, visited_on.month
    if "notes" in data:
        visit.notes = (data.get("notes") or "").strip() or None
    _apply_scores(visit, scored, user_id=user.id, new_photos=score_photos)
    _store_visit_photos(visit, photos, user.id)
    db.session.flush()
    after_scores = _score_snapshot(visit.scores)
    after = audit.snapshot(visit, ("visited_on", "notes"))
    if before_scores != after_scores and visit.version == start_version:
        # Scores live in other rows: touch the visit so its version moves on too, and a
        # second editor holding the old version is told (409).
        flag_modified(visit, "notes")
    db.session.flush()
    if before != after:
        audit.record("visit.update", visit, before=before, after=after)
    if before_scores != after_scores:
        audit.record("visit.scores", visit, before=before_scores, after=after_scores)
    if before_scores != after_scores or old_day != visited_on:
        request_visit_recompute(visit.school_id, *sorted({old_day, visited_on}))
    return visit


def _as_item(score: VisitScore) -> dict[str, Any]:
    item: dict[str, Any] = {
        "programme": score.programme,
        "indicator_code": score.indicator_code,
        "points": score.points,
        "value": score.value,
        "reason": score.reason,
        "triggered": bool(score.points and score.points > 0),
        "ticks": ticks_of(score),
    }
    return item


def delete_visit(visit: SiteVisit, user: Any) -> None:
    """District admin only; its findings, scores and photos go with it."""
    require(user.role == Role.DISTRICT_ADMIN)
    had_scores = bool(visit.scores)
    finding_ids = [f.id for f in visit.findings]
    score_ids = [s.id for s in visit.scores]
    for owner_type, ids in (
        (VISIT_OWNER, [visit.id]),
        (SCORE_OWNER, score_ids),
        (FINDING_OWNER, finding_ids),
    ):
        for rows in evidence.attached(owner_type, ids).values():
            for ev in rows:
                db.session.delete(ev)
    audit.record(
        "visit.delete",
        visit,
        before={
            "school_id": visit.school_id,
            "visited_on": visit.visited_on,
            "notes": visit.notes,
            "scores": _score_snapshot(visit.scores),
            "findings": finding_ids,
        },
    )
    school_id, day = visit.school_id, visit.visited_on
    # Stored results name the visit that was their inspector source (no foreign key: see
    # SchoolMonthResult.visit_id); the recomputation below replaces them, and meanwhile
    # they must not name a visit that is gone.
    db.session.execute(
        update(SchoolMonthResult)
        .where(SchoolMonthResult.school_id == school_id, SchoolMonthResult.visit_id == visit.id)
        .values(visit_id=None)
        .execution_options(synchronize_session=False)
    )
    db.session.delete(visit)
    db.session.flush()
    if had_scores:
        request_visit_recompute(school_id, day)


def add_photos(
    visit: SiteVisit,
    uploads: Sequence[Any],
    user: Any,
    *,
    programme: str | None = None,
    indicator_code: str | None = None,
) -> list[Evidence]:
    """Photos of the visit, or of one scored indicator when programme+indicator are given."""
    require(can_edit(user, visit))
    if not uploads:
        raise ValidationError({"file": ["请选择要上传的照片"]})
    if programme or indicator_code:
        score = next(
            (
                s
                for s in visit.scores
                if s.programme == programme and s.indicator_code == indicator_code
            ),
            None,
        )
        if score is None:
            raise ValidationError({"indicator_code": ["本次督查没有该指标的评分"]})
        stored = [
            evidence.store(
                u,
                owner_type=SCORE_OWNER,
                owner_id=score.id,
                school_id=visit.school_id,
                user_id=user.id,
            )
            for u in uploads
        ]
    else:
        stored = _store_visit_photos(visit, uploads, user.id)
    audit.record(
        "visit.photos",
        visit,
        after={
            "indicator": f"{programme}.{indicator_code}" if programme else None,
            "files": [e.filename for e in stored],
            "evidence_ids": [e.id for e in stored],
        },
    )
    return stored
