"""The site-visit scoring sheet (督查评分表): what an inspector scores and how answers score.

An inspector scores any subset of the programmes that apply to the school, against the
rubric version in force for the visit's month. How each indicator kind is stored in
:class:`~scoring.models.VisitScore` is described in :mod:`scoring.indicator_input`.

Evidence rule: a score below 60 % of the indicator's max (and a triggered veto) needs a
photo of that indicator or a written reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import select

from district.extensions import db
from scoring import engine, rubrics
from scoring.indicator_input import (
    POINT_STEP,
    checklist_answer,
    indicator_spec,
    is_index,
    is_ratio,
    measured_score,
    parse_decimal,
    ticks_in,
)
from scoring.models import Evidence, RubricIndicator, RubricVersion, SiteVisit, VisitScore
from scoring.rubric_data import MEASURES, PROGRAMMES
from tenants.models import School

LOW_SHARE = Decimal("0.6")
MAX_VALUE = Decimal("1000000")


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


def _fmt(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def is_low(points: Decimal | None, max_points: Decimal) -> bool:
    """Below 60 % of the indicator's max (the evidence rule)."""
    return points is not None and max_points > 0 and points < max_points * LOW_SHARE


def ticks_of(score: VisitScore) -> list[int]:
    return ticks_in(score.value)


@dataclass
class Scored:
    programme: str
    indicator: RubricIndicator
    version_id: int
    points: Decimal
    value: Decimal | None
    reason: str | None
    photo_ids: list[int]
    needs_evidence: bool


def _score_item(item: dict[str, Any], sheet: ProgrammeSheet, ind: RubricIndicator) -> Scored:
    """Turn one answer into points; raises ValueError with a Chinese message."""
    kind = ind.kind
    maximum = Decimal(ind.max_points)
    value: Decimal | None = None
    if kind == "judged":
        raw = item.get("points")
        points = parse_decimal(raw)
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
        if any(not is_index(t) for t in ticks) or any(not 0 <= t < len(items) for t in ticks):
            raise ValueError(f"检查项序号须在 0 到 {len(items) - 1} 之间")
        points, value = checklist_answer(items, ticks, maximum)
    elif kind == "measured":
        raw = item.get("value")
        value = parse_decimal(raw)
        if value is None and raw not in (None, ""):
            raise ValueError("测量值须为数字")
        if value is None:
            value = sheet.prefill.get(ind.code)
        if value is None:
            raise ValueError("请填写测量值")
        if not Decimal(0) <= value <= MAX_VALUE:
            raise ValueError("测量值须为不小于 0 的数")
        if is_ratio(ind) and value > 1:
            raise ValueError("比例须在 0 到 1 之间（如 0.43 表示 43%）")
        value = value.quantize(Decimal("0.0001"))
        points = measured_score(value, ind, maximum)
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
    return Scored(
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


def evaluate_scores(
    school: School,
    visited_on: date,
    items: Sequence[dict[str, Any]],
    *,
    existing: dict[tuple[str, str], VisitScore],
    existing_photos: dict[int, list[Evidence]],
    new_photo_keys: set[tuple[str, str]],
    visit_photo_ids: set[int],
) -> list[Scored]:
    """Validate a visit's answers against the rubrics in force; all errors at once."""
    sheets = {s.programme: s for s in scoring_sheet(school, visited_on.year, visited_on.month)}
    errors: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    scored: list[Scored] = []
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
                    Scored(
                        programme, ind, sheet.version.id, Decimal(0), Decimal(0), None, [], False
                    )
                )
    return scored


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
        specs = [indicator_spec(i) for i, _ in rows]
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
