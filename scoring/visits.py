"""Site visits (督查) and findings (整改): services. They flush; the request commits once.

An inspector records a visit to a school of their zones with indicator scores for any
subset of programmes, scored against the rubric version in force for the visit's month.
How each indicator kind is stored in :class:`~scoring.models.VisitScore`:

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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort
from marshmallow import ValidationError
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm.attributes import flag_modified

from district import audit
from district.exports import table_workbook
from district.extensions import db
from scoring import engine, evidence, jobs, rubrics
from scoring.models import Evidence, Finding, RubricIndicator, RubricVersion, SiteVisit, VisitScore
from scoring.rubric_data import MEASURES, PROGRAMMES, RATIO_MEASURES
from tenants.models import Role, School, User, Zone, utcnow
from tenants.services import check_version, get_or_404

# Findings may be reopened after an answer or a close; the model's String(16) holds it.
REOPENED = "reopened"
FINDING_STATES = (Finding.OPEN, Finding.ANSWERED, Finding.CLOSED, REOPENED)
FINDING_LABELS = {
    Finding.OPEN: "待整改",
    Finding.ANSWERED: "已答复",
    Finding.CLOSED: "已销号",
    REOPENED: "重新整改",
}
UNRESOLVED = (Finding.OPEN, REOPENED, Finding.ANSWERED)
ANSWERABLE = (Finding.OPEN, REOPENED, Finding.ANSWERED)

LOW_SHARE = Decimal("0.6")
STAND_IN_MONTHS = 3
POINT_STEP = Decimal("0.5")
MAX_VALUE = Decimal("1000000")
VISIT_OWNER = "visit"
SCORE_OWNER = "visit_score"
FINDING_OWNER = "finding"


# --- who may do what ------------------------------------------------------------------


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


# --- the scoring sheet ------------------------------------------------------------------


@dataclass
class ProgrammeSheet:
    """One programme's part of the visit form: the version in force and what applies."""

    programme: str
    name: str
    version: RubricVersion
    indicators: list[RubricIndicator]
    prefill: dict[str, Decimal] = field(default_factory=dict)

    def indicator(self, code: str) -> RubricIndicator | None:
        return next((i for i in self.indicators if i.code == code), None)


def programme_name(code: str | None) -> str:
    return PROGRAMMES.get(code or "", code or "")


def measure_label(code: str | None) -> str:
    return MEASURES.get(code or "", "")


def scoring_sheet(school: School, year: int, month: int) -> list[ProgrammeSheet]:
    """Every programme that applies to the school, with the version in force for the month."""
    sheets = []
    for rubric in rubrics.rubrics():
        if not rubric.active or not rubrics.programme_applies(rubric, school):
            continue
        version = rubrics.version_in_force(rubric.programme, year, month)
        if version is None:
            continue
        indicators = rubrics.applicable_indicators(version, school)
        if not indicators:
            continue
        prefill = {}
        ratio = school.green_ratio
        for ind in indicators:
            if ind.kind == "measured" and ind.measure == "green_ratio" and ratio is not None:
                prefill[ind.code] = ratio.quantize(Decimal("0.0001"))
        sheets.append(ProgrammeSheet(rubric.programme, rubric.name, version, indicators, prefill))
    return sheets


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _fmt(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def is_low(points: Decimal | None, max_points: Decimal) -> bool:
    """Below 60 % of the indicator's max (the evidence rule)."""
    return points is not None and max_points > 0 and points < max_points * LOW_SHARE


def ticks_of(score: VisitScore) -> list[int]:
    if score.value is None:
        return []
    mask = int(score.value)
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


@dataclass
class _Scored:
    programme: str
    indicator: RubricIndicator
    version_id: int
    points: Decimal
    value: Decimal | None
    reason: str | None
    photo_ids: list[int]
    needs_evidence: bool


def _score_item(item: dict[str, Any], sheet: ProgrammeSheet, ind: RubricIndicator) -> _Scored:
    """Turn one answer into points; raises ValueError with a Chinese message."""
    kind = ind.kind
    maximum = Decimal(ind.max_points)
    value: Decimal | None = None
    if kind == "judged":
        raw = item.get("points")
        points = _dec(raw)
        if points is None:
            raise ValueError("请打分" if raw in (None, "") else "得分须为数字")
        if not Decimal(0) <= points <= maximum:
            raise ValueError(f"得分须在 0 到 {_fmt(maximum)} 之间")
        if points % POINT_STEP != 0:
            raise ValueError("得分须为 0.5 的倍数")
    elif kind == "checklist":
        ticks = item.get("ticks")
        if ticks is None:
            raise ValueError("请勾选检查项（全部未达到时提交空列表）")
        items = ind.checklist or []
        if any(not isinstance(t, int) or isinstance(t, bool) for t in ticks) or any(
            not 0 <= t < len(items) for t in ticks
        ):
            raise ValueError(f"检查项序号须在 0 到 {len(items) - 1} 之间")
        chosen = sorted(set(ticks))
        points = min(sum((Decimal(str(items[t]["points"])) for t in chosen), Decimal(0)), maximum)
        value = Decimal(sum(1 << t for t in chosen))
    elif kind == "measured":
        raw = item.get("value")
        value = _dec(raw)
        if value is None and raw not in (None, ""):
            raise ValueError("测量值须为数字")
        if value is None:
            value = sheet.prefill.get(ind.code)
        if value is None:
            raise ValueError("请填写测量值")
        if not Decimal(0) <= value <= MAX_VALUE:
            raise ValueError("测量值须为不小于 0 的数")
        if ind.measure in RATIO_MEASURES and value > 1:
            raise ValueError("比例须在 0 到 1 之间（如 0.43 表示 43%）")
        value = value.quantize(Decimal("0.0001"))
        points = engine.round2(engine.measured_points(value, ind.curve or [], maximum))
    elif kind == "veto":
        triggered = item.get("triggered")
        if triggered is None:
            triggered = False
        if not isinstance(triggered, bool):
            raise ValueError("一票否决项须填是或否")
        points = Decimal(1) if triggered else Decimal(0)
        value = points
    else:  # pragma: no cover - the rubric validator knows every kind
        raise ValueError(f"未知指标类型 {kind}")
    reason = (item.get("reason") or "").strip() or None
    needs = points > 0 if kind == "veto" else is_low(points, maximum)
    return _Scored(
        programme=sheet.programme,
        indicator=ind,
        version_id=sheet.version.id,
        points=points,
        value=value,
        reason=reason,
        photo_ids=list(item.get("photo_ids") or []),
        needs_evidence=needs,
    )


def _label(programme: str, ind: RubricIndicator) -> str:
    return f"{programme_name(programme)} {ind.code} {ind.name}"


def _evaluate(
    school: School,
    visited_on: date,
    items: Sequence[dict[str, Any]],
    *,
    existing: dict[tuple[str, str], VisitScore],
    existing_photos: dict[int, list[Evidence]],
    new_photo_keys: set[tuple[str, str]],
    visit_photo_ids: set[int],
) -> list[_Scored]:
    """Validate a visit's answers against the rubrics in force; all errors at once."""
    sheets = {s.programme: s for s in scoring_sheet(school, visited_on.year, visited_on.month)}
    errors: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    scored: list[_Scored] = []
    chosen: dict[str, set[str]] = {}

    def fail(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    for item in items:
        programme, code = item.get("programme"), item.get("indicator_code")
        key = f"{programme}.{code}"
        sheet = sheets.get(programme)  # type: ignore[arg-type]
        if sheet is None:
            fail(key, f"项目 {programme} 不适用于该校或在该月没有生效的考核细则")
            continue
        ind = sheet.indicator(code)  # type: ignore[arg-type]
        if ind is None:
            fail(key, f"{programme_name(programme)}：指标 {code} 不存在或不适用于该校")
            continue
        if (programme, code) in seen:
            fail(key, f"{_label(programme, ind)}：重复评分")
            continue
        seen.add((programme, code))
        chosen.setdefault(programme, set()).add(code)
        try:
            result = _score_item(item, sheet, ind)
        except ValueError as err:
            fail(key, f"{_label(programme, ind)}：{err}")
            continue
        bad_photos = [p for p in result.photo_ids if p not in visit_photo_ids]
        if bad_photos:
            fail(key, f"{_label(programme, ind)}：照片 {bad_photos} 不属于本次督查")
            continue
        if result.needs_evidence and not result.reason:
            old = existing.get((programme, code))
            has_photo = (
                bool(result.photo_ids)
                or (programme, code) in new_photo_keys
                or (old is not None and bool(existing_photos.get(old.id)))
            )
            if not has_photo:
                what = (
                    "触发一票否决"
                    if ind.kind == "veto"
                    else f"得分 {_fmt(result.points)} 低于满分 {_fmt(Decimal(ind.max_points))} 的 60%"
                )
                fail(key, f"{_label(programme, ind)}：{what}，须拍照上传或填写原因")
        if result.reason and len(result.reason) > 500:
            fail(key, f"{_label(programme, ind)}：原因不超过 500 字")
        scored.append(result)
    # A programme that is scored at all is scored completely: an unscored indicator
    # would silently count 0 and dodge the evidence rule.
    for programme, codes in chosen.items():
        sheet = sheets[programme]
        missing = [i.code for i in sheet.indicators if i.kind != "veto" and i.code not in codes]
        if missing:
            fail(
                programme,
                f"{sheet.name}：以下指标尚未评分：{'、'.join(missing)}",
            )
    if errors:
        raise ValidationError({"scores": errors})
    # Unanswered vetoes of a scored programme are recorded as "not triggered".
    for programme, codes in chosen.items():
        sheet = sheets[programme]
        for ind in sheet.indicators:
            if ind.kind == "veto" and ind.code not in codes:
                scored.append(
                    _Scored(
                        programme, ind, sheet.version.id, Decimal(0), Decimal(0), None, [], False
                    )
                )
    return scored


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
    scored: list[_Scored],
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
    scored = _evaluate(
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
        scored = _evaluate(
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


# --- findings ------------------------------------------------------------------------


def _finding_snapshot(f: Finding) -> dict[str, Any]:
    return audit.snapshot(
        f,
        (
            "status",
            "description",
            "programme",
            "indicator_code",
            "deadline",
            "response",
            "reopen_count",
        ),
    )


def create_finding(visit: SiteVisit, data: dict[str, Any], user: Any) -> Finding:
    require(can_edit(user, visit))
    description = (data.get("description") or "").strip()
    if not description:
        raise ValidationError({"description": ["请填写发现的问题"]})
    programme = data.get("programme") or None
    code = data.get("indicator_code") or None
    if code and not programme:
        raise ValidationError({"programme": ["指定指标时须同时选择项目"]})
    if programme:
        school = get_or_404(School, visit.school_id)
        sheets = {s.programme: s for s in scoring_sheet(school, visit.year, visit.month)}
        sheet = sheets.get(programme)
        if sheet is None:
            raise ValidationError({"programme": ["该项目不适用于该校"]})
        if code and sheet.indicator(code) is None:
            raise ValidationError({"indicator_code": ["该指标不存在或不适用于该校"]})
    deadline = data.get("deadline")
    if deadline is None:
        raise ValidationError({"deadline": ["请填写整改期限"]})
    if deadline < visit.visited_on:
        raise ValidationError({"deadline": ["整改期限不能早于督查日期"]})
    finding = Finding(
        school_id=visit.school_id,
        visit_id=visit.id,
        programme=programme,
        indicator_code=code,
        description=description,
        deadline=deadline,
        status=Finding.OPEN,
    )
    db.session.add(finding)
    db.session.flush()
    audit.record("finding.create", finding, after=_finding_snapshot(finding))
    return finding


def answer_finding(
    finding: Finding, data: dict[str, Any], user: Any, *, uploads: Sequence[Any] = ()
) -> Finding:
    """The school says what it did (整改情况), with evidence photos."""
    require(can_answer(user))
    check_version(finding, data.get("version"))
    if finding.status not in ANSWERABLE:
        raise ValidationError({"status": ["该问题已销号，不能再答复"]})
    response = (data.get("response") or "").strip()
    if not response:
        raise ValidationError({"response": ["请填写整改情况"]})
    before = _finding_snapshot(finding)
    finding.response = response
    finding.status = Finding.ANSWERED
    finding.responded_at = utcnow()
    finding.responded_by = user.id
    db.session.flush()
    stored = [
        evidence.store(
            u,
            owner_type=FINDING_OWNER,
            owner_id=finding.id,
            school_id=finding.school_id,
            user_id=user.id,
        )
        for u in uploads
    ]
    after = _finding_snapshot(finding)
    after["evidence_ids"] = [e.id for e in stored]
    audit.record("finding.answer", finding, before=before, after=after)
    return finding


def add_finding_evidence(finding: Finding, uploads: Sequence[Any], user: Any) -> list[Evidence]:
    """More evidence for a finding: the school (while not closed) or the inspector/admin."""
    if can_answer(user):
        if finding.status == Finding.CLOSED:
            raise ValidationError({"status": ["该问题已销号"]})
    else:
        require(can_judge(user))
    if not uploads:
        raise ValidationError({"file": ["请选择要上传的文件"]})
    stored = [
        evidence.store(
            u,
            owner_type=FINDING_OWNER,
            owner_id=finding.id,
            school_id=finding.school_id,
            user_id=user.id,
        )
        for u in uploads
    ]
    audit.record(
        "finding.evidence",
        finding,
        after={"files": [e.filename for e in stored], "evidence_ids": [e.id for e in stored]},
    )
    return stored


def close_finding(finding: Finding, data: dict[str, Any], user: Any) -> Finding:
    """销号: the inspector (or a district admin) accepts the rectification."""
    require(can_judge(user))
    check_version(finding, data.get("version"))
    if finding.status == Finding.CLOSED:
        raise ValidationError({"status": ["该问题已销号"]})
    before = _finding_snapshot(finding)
    finding.status = Finding.CLOSED
    finding.closed_at = utcnow()
    db.session.flush()
    after = _finding_snapshot(finding)
    after["note"] = (data.get("note") or "").strip() or None
    audit.record("finding.close", finding, before=before, after=after)
    return finding


def reopen_finding(finding: Finding, data: dict[str, Any], user: Any) -> Finding:
    """Not good enough: back to the school, with a note saying why."""
    require(can_judge(user))
    check_version(finding, data.get("version"))
    note = (data.get("note") or "").strip()
    if not note:
        raise ValidationError({"note": ["请说明重新整改的原因"]})
    if finding.status not in (Finding.ANSWERED, Finding.CLOSED):
        raise ValidationError({"status": ["只有已答复或已销号的问题可以重新打开"]})
    before = _finding_snapshot(finding)
    finding.status = REOPENED
    finding.closed_at = None
    finding.reopen_count = (finding.reopen_count or 0) + 1
    if data.get("deadline"):
        if data["deadline"] < date.today():
            raise ValidationError({"deadline": ["新的整改期限不能早于今天"]})
        finding.deadline = data["deadline"]
    db.session.flush()
    after = _finding_snapshot(finding)
    after["note"] = note
    audit.record("finding.reopen", finding, before=before, after=after)
    return finding


def is_overdue(finding: Finding, as_of: date | None = None) -> bool:
    return finding.status in UNRESOLVED and finding.deadline < (as_of or date.today())


def overdue_findings(as_of: date | None = None) -> list[Finding]:
    """Findings not closed whose deadline has passed (open, reopened, or answered but not
    yet closed), oldest deadline first; current scope. For dashboards and bulletins."""
    as_of = as_of or date.today()
    return list(
        db.session.scalars(
            select(Finding)
            .where(Finding.status.in_(UNRESOLVED), Finding.deadline < as_of)
            .order_by(Finding.deadline, Finding.id)
        )
    )


# --- lists ---------------------------------------------------------------------------


def _month_filter(stmt: Any, model: Any, year: int | None, month: int | None) -> Any:
    if year:
        stmt = stmt.where(model.year == year)
    if month:
        stmt = stmt.where(model.month == month)
    return stmt


def list_visits(
    *,
    year: int | None = None,
    month: int | None = None,
    zone_id: int | None = None,
    school_id: int | None = None,
    inspector_id: int | None = None,
    limit: int | None = 500,
    offset: int = 0,
) -> list[SiteVisit]:
    stmt = select(SiteVisit).order_by(SiteVisit.visited_on.desc(), SiteVisit.id.desc())
    stmt = _month_filter(stmt, SiteVisit, year, month)
    if zone_id:
        stmt = stmt.join(School, School.id == SiteVisit.school_id).where(School.zone_id == zone_id)
    if school_id:
        stmt = stmt.where(SiteVisit.school_id == school_id)
    if inspector_id:
        stmt = stmt.where(SiteVisit.inspector_id == inspector_id)
    if offset:
        stmt = stmt.offset(offset)
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def list_findings(
    *,
    status: str | None = None,
    overdue: bool | None = None,
    year: int | None = None,
    month: int | None = None,
    zone_id: int | None = None,
    school_id: int | None = None,
    as_of: date | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Finding]:
    """Findings in scope; ``year``/``month`` filter on the visit's month."""
    as_of = as_of or date.today()
    stmt = select(Finding).join(SiteVisit, SiteVisit.id == Finding.visit_id)
    if status == "unresolved":
        stmt = stmt.where(Finding.status.in_(UNRESOLVED))
    elif status:
        stmt = stmt.where(Finding.status == status)
    if overdue is True:
        stmt = stmt.where(Finding.status.in_(UNRESOLVED), Finding.deadline < as_of)
    elif overdue is False:
        stmt = stmt.where(or_(Finding.status.not_in(UNRESOLVED), Finding.deadline >= as_of))
    stmt = _month_filter(stmt, SiteVisit, year, month)
    if zone_id:
        stmt = stmt.join(School, School.id == Finding.school_id).where(School.zone_id == zone_id)
    if school_id:
        stmt = stmt.where(Finding.school_id == school_id)
    # Unresolved first (what needs doing), then by deadline.
    closed_last = case((Finding.status == Finding.CLOSED, 1), else_=0)
    stmt = stmt.order_by(closed_last, Finding.deadline, Finding.id)
    if offset:
        stmt = stmt.offset(offset)
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def schools_by_id(ids: Iterable[int]) -> dict[int, School]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    from sqlalchemy.orm import selectinload

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


def programmes_of(visit_ids: Sequence[int]) -> dict[int, list[str]]:
    if not visit_ids:
        return {}
    rows = db.session.execute(
        select(VisitScore.visit_id, VisitScore.programme)
        .where(VisitScore.visit_id.in_(list(visit_ids)))
        .group_by(VisitScore.visit_id, VisitScore.programme)
    )
    out: dict[int, list[str]] = {}
    for visit_id, programme in rows:
        out.setdefault(visit_id, []).append(programme)
    order = list(PROGRAMMES)
    for value in out.values():
        value.sort(key=lambda p: order.index(p) if p in order else len(order))
    return out


def finding_counts(visit_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(all, unresolved) findings per visit."""
    if not visit_ids:
        return {}
    rows = db.session.execute(
        select(
            Finding.visit_id,
            func.count(Finding.id),
            func.sum(func.cast(Finding.status.in_(UNRESOLVED), db.Integer)),
        )
        .where(Finding.visit_id.in_(list(visit_ids)))
        .group_by(Finding.visit_id)
    )
    return {v: (int(n), int(u or 0)) for v, n, u in rows}


def zones() -> list[Zone]:
    return list(db.session.scalars(select(Zone).order_by(Zone.name)))


def visible_schools() -> list[School]:
    return list(db.session.scalars(select(School).order_by(School.code, School.name)))


# --- programme scores of one visit ------------------------------------------------------


@dataclass
class ProgrammeView:
    """A visit's programme as the detail page and the API show it."""

    programme: str
    name: str
    version: RubricVersion
    rows: list[tuple[RubricIndicator, VisitScore]]
    score: Decimal | None
    veto: bool


def visit_programmes(visit: SiteVisit) -> list[ProgrammeView]:
    """Scores grouped per programme with the indicator they score and the 0–100 source score."""
    by_version: dict[int, list[VisitScore]] = {}
    for s in visit.scores:
        by_version.setdefault(s.rubric_version_id, []).append(s)
    if not by_version:
        return []
    versions = {
        v.id: v
        for v in db.session.scalars(
            select(RubricVersion).where(RubricVersion.id.in_(list(by_version)))
        )
    }
    indicators: dict[tuple[int, str], RubricIndicator] = {
        (i.rubric_version_id, i.code): i
        for i in db.session.scalars(
            select(RubricIndicator).where(RubricIndicator.rubric_version_id.in_(list(by_version)))
        )
    }
    out = []
    for version_id, scores in by_version.items():
        version = versions.get(version_id)
        if version is None:
            continue
        rows = [
            (indicators[(version_id, s.indicator_code)], s)
            for s in scores
            if (version_id, s.indicator_code) in indicators
        ]
        rows.sort(key=lambda r: r[0].sort)
        specs = [_spec(i) for i, _ in rows]
        result = engine.source_score(
            specs, {i.code: s.points for i, s in rows if s.points is not None}
        )
        programme = scores[0].programme
        out.append(
            ProgrammeView(
                programme=programme,
                name=programme_name(programme),
                version=version,
                rows=rows,
                score=None if result is None else engine.round2(result.score),
                veto=bool(result and result.veto_triggered),
            )
        )
    order = list(PROGRAMMES)
    out.sort(key=lambda p: order.index(p.programme) if p.programme in order else len(order))
    return out


def _spec(ind: RubricIndicator) -> engine.IndicatorSpec:
    return engine.IndicatorSpec(
        code=ind.code,
        max_points=Decimal(ind.max_points),
        kind=ind.kind,  # type: ignore[arg-type]
        dimension=ind.dimension,  # type: ignore[arg-type]
        curve=tuple((Decimal(str(x)), Decimal(str(p))) for x, p in ind.curve)
        if ind.kind == "measured" and ind.curve
        else None,
    )


# --- Excel export ----------------------------------------------------------------------

FINDING_HEADER = (
    "编号",
    "学校",
    "片区",
    "督查日期",
    "督查员",
    "项目",
    "指标",
    "发现的问题",
    "整改期限",
    "状态",
    "是否逾期",
    "整改情况",
    "答复时间",
    "重新整改次数",
)


def findings_workbook(findings: Sequence[Finding], as_of: date | None = None) -> bytes:
    as_of = as_of or date.today()
    schools = schools_by_id(f.school_id for f in findings)
    visits = (
        {
            v.id: v
            for v in db.session.scalars(
                select(SiteVisit).where(SiteVisit.id.in_(sorted({f.visit_id for f in findings})))
            )
        }
        if findings
        else {}
    )
    names = user_names(v.inspector_id for v in visits.values())

    def rows() -> Iterable[list[Any]]:
        for f in findings:
            school = schools.get(f.school_id)
            visit = visits.get(f.visit_id)
            yield [
                f.id,
                school.name if school else "",
                school.zone.name if school and school.zone else "",
                visit.visited_on if visit else None,
                names.get(visit.inspector_id, "") if visit and visit.inspector_id else "",
                programme_name(f.programme) if f.programme else "",
                f.indicator_code or "",
                f.description,
                f.deadline,
                FINDING_LABELS.get(f.status, f.status),
                "是" if is_overdue(f, as_of) else "否",
                f.response or "",
                _datetime(f.responded_at),
                f.reopen_count or 0,
            ]

    return table_workbook("整改清单", FINDING_HEADER, rows())


def _datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""
