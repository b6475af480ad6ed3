"""Demo four-creations data (四个创建) for 园林区: a school year and a bit of sources, then
the stored results, so every dashboard has something true to show.

From September of the previous school year to the month before the current one
(August skipped): periods (closed, the latest one still open), monthly
self-assessments (some late, a few missing or returned), inspector visits (every zone
every month, not every school), findings (some overdue, most rectified), one
satisfaction survey per semester answered by parents, students and teachers, a few
complaints (some verified). Each school has a hidden quality so its scores hang
together over time; two schools inflate their self-assessment by more than 10 points
and one has a veto month. Results are computed at the end by
:func:`scoring.results.recompute` (directly, not as a job).

Registered in :data:`district.demo.DEMO_EXTENSIONS` at import. Inserts in bulk: a few
statements per table for the whole district.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from district.demo import DEMO_EXTENSIONS
from district.extensions import db
from scoring import engine
from scoring.models import (
    Complaint,
    Finding,
    Period,
    RubricIndicator,
    SelfAssessment,
    SelfAssessmentItem,
    SiteVisit,
    Survey,
    SurveyResponse,
    SurveyToken,
    VisitScore,
)
from scoring.results import recompute
from scoring.rubrics import ensure_default_rubrics, versions_in_force
from tenants.models import Role, School, User, inspector_zones

HALF = Decimal("0.5")
QUESTIONS = (
    "您对学校食堂饭菜的质量、营养和卫生满意吗？",
    "您对食堂的价格公示、服务态度和就餐秩序满意吗？",
    "您对校园超市商品的质量、价格和明码标价满意吗？",
    "您对学生宿舍（或午休场所）的条件、卫生和管理满意吗？",
    "您对校园绿化美化和环境卫生满意吗？",
    "您对学校后勤服务的总体情况满意吗？",
)
RESPONDENTS = {"parent": 12, "student": 12, "teacher": 6}
FINDINGS = {
    "canteen": ("留样记录不完整，部分餐次未留足 48 小时", "食堂从业人员未按规定佩戴口罩和帽子"),
    "store": ("部分商品未明码标价", "进货台账与票据不一致"),
    "dormitory": ("个别寝室存在私拉电线现象", "宿舍值班记录缺失"),
    "greening": ("部分植物缺少标识牌", "绿化养护记录未按月填写"),
}
ANSWERS = (
    "已组织专项整改，责任人已签字确认，相关记录和照片已上传。",
    "已召开后勤工作会议通报问题，完成整改并建立长效检查机制。",
)
COMPLAINTS = (
    ("canteen", "食堂饭菜有时偏凉，分量不足。"),
    ("canteen", "孩子反映食堂有一天供应的青菜不新鲜。"),
    ("store", "校园超市部分文具价格比校外高。"),
    ("store", "超市出售的饮料没有中文标签。"),
    ("greening", "操场边的树长期没人修剪，影响通行。"),
    (None, "学校后勤服务电话经常无人接听。"),
    ("canteen", "食堂周菜谱没有按时公示。"),
    ("dormitory", "宿舍热水供应时间太短。"),
)


@dataclass
class SchoolProfile:
    """The hidden truth behind a demo school's numbers."""

    school: Any
    quality: float  # 0-1: how well its logistics are run
    bias: float  # how much its self-assessment flatters it
    trend: float  # change of quality per month


def school_year_months(today: date) -> list[tuple[int, int]]:
    """September of the previous school year up to last month, without August."""
    current_school_year = today.year if today.month >= 9 else today.year - 1
    months = []
    year, month = current_school_year - 1, 9
    while (year, month) < (today.year, today.month):
        if month != 8:
            months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _insert(model: Any, rows: list[dict[str, Any]], returning: bool = False) -> list[int]:
    """One executemany of a table-level INSERT (the ORM's bulk path runs row by row here);
    every row carries its district_id and school_id, as the scope hook would stamp them."""
    if not rows:
        return []
    table = model.__table__
    if not returning:
        db.session.execute(table.insert(), rows)
        return []
    stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
    return list(db.session.scalars(stmt, rows))


def _deadline(year: int, month: int) -> date:
    try:
        from scoring.periods import deadline_for

        return deadline_for(year, month, 5)
    except ImportError:  # pragma: no cover - periods ship with the scoring issue
        return date(year + (month == 12), month % 12 + 1, 5)


def _at(day: date, rng: random.Random) -> datetime:
    return datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.randint(0, 59))


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))


class _Scorer:
    """Answers for one source of one programme, as the forms would store them."""

    def __init__(self, rng: random.Random, indicators: list[RubricIndicator]) -> None:
        self.rng = rng
        self.indicators = indicators

    def answers(
        self, level: float, school: Any, *, veto: bool = False, noise: float = 0.08
    ) -> list[dict[str, Any]]:
        rng = self.rng
        out = []
        for ind in self.indicators:
            if not ind.applies_to(boarding=school.boarding, level=school.level):
                continue
            maximum = Decimal(ind.max_points)
            f = _clip(level + rng.gauss(0, noise))
            points: Decimal
            value: Decimal | None = None
            if ind.kind == "veto":
                points = value = Decimal(1 if veto and ind.programme == "canteen" else 0)
            elif ind.kind == "checklist" and ind.checklist:
                chosen = [i for i in range(len(ind.checklist)) if rng.random() < f + 0.05]
                points = min(
                    sum((Decimal(str(ind.checklist[i]["points"])) for i in chosen), Decimal(0)),
                    maximum,
                )
                value = Decimal(sum(1 << i for i in chosen))
            elif ind.kind == "measured" and ind.curve:
                value = self._measure(ind, f, school)
                points = engine.round2(engine.measured_points(value, ind.curve, maximum))
            else:
                points = (maximum * Decimal(str(f)) / HALF).quantize(Decimal(1)) * HALF
            out.append({"code": ind.code, "points": points, "value": value, "max": maximum})
        return out

    def _measure(self, ind: RubricIndicator, f: float, school: Any) -> Decimal:
        if ind.measure == "green_ratio" and school.green_ratio is not None:
            return Decimal(school.green_ratio).quantize(Decimal("0.0001"))
        xs = [Decimal(str(x)) for x, _p in ind.curve]
        ps = [Decimal(str(p)) for _x, p in ind.curve]
        low, high = xs[0], xs[-1]
        if ps[0] > ps[-1]:  # lower is better (price ratio against the market)
            low, high = high, low
        span = high - low
        value = low + span * Decimal(str(_clip(f * 1.05 - 0.02)))
        return value.quantize(Decimal("0.0001"))


def build_scoring_demo(district_id: int, rng: random.Random, today: date | None = None) -> dict:
    """Seed the four creations for every school of the current district; compute results."""
    if today is None:
        try:
            from scoring.periods import local_today

            today = local_today()
        except ImportError:  # pragma: no cover
            today = date.today()
    months = school_year_months(today)
    if not months:
        return {}
    ensure_default_rubrics()
    versions = versions_in_force(*months[0])
    indicators = {
        p: list(
            db.session.scalars(
                select(RubricIndicator)
                .where(RubricIndicator.rubric_version_id == v.id)
                .order_by(RubricIndicator.sort)
            )
        )
        for p, v in versions.items()
    }
    boarding_only = {p: bool(v.rubric.boarding_only) for p, v in versions.items()}
    schools = list(db.session.scalars(select(School).order_by(School.code)))
    admin_id = db.session.scalar(select(User.id).where(User.role == Role.DISTRICT_ADMIN))
    heads = dict(
        db.session.execute(
            select(User.school_id, User.id).where(User.role == Role.SCHOOL_HEAD)
        ).all()
    )
    inspectors: dict[int, int] = {}
    for zone_id, user_id in db.session.execute(
        select(inspector_zones.c.zone_id, inspector_zones.c.user_id).where(
            inspector_zones.c.district_id == district_id
        )
    ):
        inspectors.setdefault(zone_id, user_id)

    profiles = _profiles(schools, rng)
    scorers = {p: _Scorer(rng, inds) for p, inds in indicators.items()}
    veto_school = profiles[len(profiles) // 3].school.id
    veto_month = months[len(months) // 2]

    _periods(months, today, admin_id)
    assessments = _self_assessments(
        district_id, profiles, months, versions, scorers, boarding_only, heads, today, rng
    )
    visits, findings = _visits(
        district_id,
        profiles,
        months,
        versions,
        scorers,
        boarding_only,
        inspectors,
        (veto_school, veto_month),
        today,
        rng,
    )
    responses = _surveys(district_id, profiles, months, today, rng)
    complaints = _complaints(district_id, profiles, months, admin_id, rng)
    db.session.flush()
    stats = recompute([(p.school.id, y, m) for p in profiles for y, m in months])
    return {
        "months": len(months),
        "self_assessments": assessments,
        "visits": visits,
        "findings": findings,
        "survey_responses": responses,
        "complaints": complaints,
        "results": stats["results"],
    }


def _profiles(schools: list[Any], rng: random.Random) -> list[SchoolProfile]:
    profiles = []
    for i, school in enumerate(schools):
        if i == 0:
            quality = 0.95  # the seed school of the reference report: among the best
        elif i % 9 == 4:
            quality = rng.uniform(0.45, 0.6)  # a few clearly weak schools
        else:
            quality = rng.uniform(0.62, 0.93)
        bias = rng.uniform(0.0, 0.06)
        profiles.append(SchoolProfile(school, quality, bias, rng.uniform(-0.004, 0.008)))
    # Two schools flatter themselves: self-assessment well above what inspectors find.
    for profile in (profiles[5], profiles[17]) if len(profiles) > 17 else profiles[-1:]:
        profile.bias = 0.2
        profile.quality = min(profile.quality, 0.7)
    return profiles


def _periods(months: list[tuple[int, int]], today: date, admin_id: int | None) -> None:
    existing = {(p.year, p.month) for p in db.session.scalars(select(Period))}
    current = (today.year, today.month)
    rows = []
    for ym in [*months, current]:
        if ym in existing:
            continue
        deadline = _deadline(*ym)
        closed = ym != months[-1] and ym != current
        rows.append(
            {
                "year": ym[0],
                "month": ym[1],
                "deadline": deadline,
                "status": Period.CLOSED if closed else Period.OPEN,
                "closed_at": datetime.combine(deadline + timedelta(days=3), datetime.min.time())
                if closed
                else None,
                "closed_by": admin_id if closed else None,
            }
        )
    if rows:
        db.session.add_all([Period(**r) for r in rows])
        db.session.flush()


def _self_assessments(
    district_id, profiles, months, versions, scorers, boarding_only, heads, today, rng
) -> int:
    latest = months[-1]
    headers, items_of = [], []
    for profile in profiles:
        school = profile.school
        for n, (year, month) in enumerate(months):
            if rng.random() < 0.035:
                continue  # missing this month altogether
            deadline = _deadline(year, month)
            late = rng.random() < 0.08
            submitted_on = (
                deadline + timedelta(days=rng.randint(1, 6))
                if late
                else deadline - (timedelta(days=rng.randint(0, 6)))
            )
            level = profile.quality + profile.bias + profile.trend * n
            for programme, version in versions.items():
                if boarding_only[programme] and not school.boarding:
                    continue
                status = (
                    SelfAssessment.LOCKED if (year, month) != latest else (SelfAssessment.SUBMITTED)
                )
                submitted_at: datetime | None = _at(min(submitted_on, today), rng)
                reason = None
                if (year, month) == latest and rng.random() < 0.04:
                    status, submitted_at = SelfAssessment.RETURNED, None
                    reason = "部分指标缺少佐证材料，请补充照片后重新提交。"
                answers = scorers[programme].answers(level, school, noise=0.06)
                scored = sum((a["points"] for a in answers if a["max"] > 0), Decimal(0))
                total = sum((a["max"] for a in answers), Decimal(0))
                headers.append(
                    {
                        "district_id": district_id,
                        "school_id": school.id,
                        "year": year,
                        "month": month,
                        "programme": programme,
                        "rubric_version_id": version.id,
                        "status": status,
                        "submitted_at": submitted_at,
                        "submitted_by": heads.get(school.id),
                        "late": late and submitted_at is not None,
                        "return_reason": reason,
                        "score": engine.round2(scored * 100 / total) if total else None,
                        "created_at": _at(date(year, month, 20), rng),
                        "updated_at": submitted_at or _at(date(year, month, 25), rng),
                    }
                )
                items_of.append(answers)
    ids = _insert(SelfAssessment, headers, returning=True)
    items = [
        {
            "district_id": district_id,
            "school_id": header["school_id"],
            "assessment_id": assessment_id,
            "indicator_code": a["code"],
            "points": a["points"],
            "value": a["value"],
        }
        for assessment_id, header, answers in zip(ids, headers, items_of, strict=True)
        for a in answers
    ]
    _insert(SelfAssessmentItem, items)
    return len(headers)


def _visits(
    district_id,
    profiles,
    months,
    versions,
    scorers,
    boarding_only,
    inspectors,
    veto,
    today,
    rng,
) -> tuple[int, int]:
    by_zone: dict[int | None, list[SchoolProfile]] = defaultdict(list)
    for profile in profiles:
        by_zone[profile.school.zone_id].append(profile)
    headers, scores_of, findings_of = [], [], []
    for n, (year, month) in enumerate(months):
        for zone_id, members in sorted(by_zone.items(), key=lambda kv: kv[0] or 0):
            # Each zone is visited every month (片区负责制), about half its schools each time.
            count = max(2, round(len(members) * rng.uniform(0.4, 0.6)))
            chosen = rng.sample(members, min(count, len(members)))
            if any(p.school.id == veto[0] for p in members) and (year, month) == veto[1]:
                chosen = [p for p in members if p.school.id == veto[0]] + [
                    p for p in chosen if p.school.id != veto[0]
                ]
            for profile in chosen:
                school = profile.school
                day = date(year, month, rng.randint(3, 26))
                if day >= today:
                    day = today - timedelta(days=1)
                vetoed = school.id == veto[0] and (year, month) == veto[1]
                programmes = [p for p in versions if not (boarding_only[p] and not school.boarding)]
                if rng.random() < 0.25 and not vetoed:
                    programmes = rng.sample(programmes, rng.randint(1, len(programmes)))
                level = profile.quality + profile.trend * n
                scores, findings = [], []
                for programme in programmes:
                    answers = scorers[programme].answers(level, school, veto=vetoed)
                    for a in answers:
                        low = a["max"] > 0 and a["points"] < a["max"] * Decimal("0.6")
                        scores.append(
                            {
                                "programme": programme,
                                "rubric_version_id": versions[programme].id,
                                "indicator_code": a["code"],
                                "points": a["points"],
                                "value": a["value"],
                                "reason": "现场检查未达标，已拍照留存" if low else None,
                            }
                        )
                    weakest = min(
                        (a for a in answers if a["max"] > 0),
                        key=lambda a: a["points"] / a["max"],
                        default=None,
                    )
                    if weakest and weakest["points"] < weakest["max"] * Decimal("0.7"):
                        findings.append(_finding(programme, weakest["code"], day, today, rng))
                if vetoed:
                    findings.append(
                        {
                            **_finding("canteen", "C5", day, today, rng),
                            "description": "发生学生集体腹泻事件，经调查系食堂食品安全问题（一票否决）",
                        }
                    )
                headers.append(
                    {
                        "district_id": district_id,
                        "school_id": school.id,
                        "inspector_id": inspectors.get(zone_id),
                        "visited_on": day,
                        "year": day.year,
                        "month": day.month,
                        "notes": "例行督查：查看食堂、超市、宿舍和校园环境，查阅台账。",
                        "created_at": _at(day, rng),
                    }
                )
                scores_of.append(scores)
                findings_of.append(findings)
    ids = _insert(SiteVisit, headers, returning=True)
    rows, finding_rows = [], []
    for visit_id, header, scores, findings in zip(
        ids, headers, scores_of, findings_of, strict=True
    ):
        common = {
            "district_id": district_id,
            "school_id": header["school_id"],
            "visit_id": visit_id,
        }
        rows.extend({**common, **s} for s in scores)
        finding_rows.extend({**common, **f} for f in findings)
    _insert(VisitScore, rows)
    _insert(Finding, finding_rows)
    return len(headers), len(finding_rows)


def _finding(programme: str, code: str, day: date, today: date, rng: random.Random) -> dict:
    deadline = day + timedelta(days=14)
    overdue = deadline < today
    roll = rng.random()
    status = Finding.OPEN
    if overdue and roll < 0.85 or not overdue and roll < 0.3:
        status = Finding.CLOSED if roll < 0.7 else Finding.ANSWERED
    answered = status != Finding.OPEN
    responded = min(day + timedelta(days=rng.randint(3, 12)), today)
    return {
        "programme": programme,
        "indicator_code": code,
        "description": rng.choice(FINDINGS[programme]),
        "deadline": deadline,
        "status": status,
        "response": rng.choice(ANSWERS) if answered else None,
        "responded_at": _at(responded, rng) if answered else None,
        "closed_at": _at(min(responded + timedelta(days=2), today), rng)
        if status == Finding.CLOSED
        else None,
        "created_at": _at(day, rng),
    }


def _surveys(district_id, profiles, months, today, rng) -> int:
    rules = engine.DEFAULT_RULES
    semesters = sorted({engine.semester_of(y, m, rules) for y, m in months} - {None})
    current = engine.semester_of(today.year, today.month, rules)
    try:
        from scoring.surveys import DEFAULT_QUESTIONS as questions
    except ImportError:  # pragma: no cover
        questions = QUESTIONS
    tokens, responses = [], []
    for semester in semesters:
        first = semester.months(rules)[0]
        survey = db.session.scalar(
            select(Survey).where(
                Survey.school_year == semester.school_year, Survey.term == semester.term
            )
        )
        if survey is None:
            label = "秋季学期" if semester.term == "autumn" else "春季学期"
            survey = Survey(
                title=f"{semester.school_year}–{semester.school_year + 1} 学年{label}后勤服务民主评议",
                school_year=semester.school_year,
                term=semester.term,
                questions=list(questions),
                status=Survey.OPEN if semester == current else Survey.CLOSED,
                created_at=datetime(first.year, first.month, 15, 9, 0),
            )
            db.session.add(survey)
            db.session.flush()
        answered_on = min(date(first.year, first.month, 1) + timedelta(days=45), today)
        for profile in profiles:
            for group, count in RESPONDENTS.items():
                for k in range(count + 2):  # a couple of links are never used
                    used = k < count
                    tokens.append(
                        {
                            "district_id": district_id,
                            "school_id": profile.school.id,
                            "survey_id": survey.id,
                            "group": group,
                            "token": f"{rng.getrandbits(120):030x}",
                            "used_at": _at(answered_on, rng) if used else None,
                        }
                    )
                    if not used:
                        continue
                    warmth = profile.quality + (0.05 if group == "student" else 0.0)
                    answers = [
                        max(1, min(5, round(1 + 4 * _clip(warmth + rng.gauss(0.05, 0.18)))))
                        for _q in questions
                    ]
                    responses.append(
                        {
                            "district_id": district_id,
                            "school_id": profile.school.id,
                            "survey_id": survey.id,
                            "group": group,
                            "answers": answers,
                            "mean": (Decimal(sum(answers)) / len(answers)).quantize(
                                Decimal("0.0001")
                            ),
                            "comment": None,
                            "answered_on": answered_on,
                        }
                    )
    _insert(SurveyToken, tokens)
    _insert(SurveyResponse, responses)
    return len(responses)


def _complaints(district_id, profiles, months, admin_id, rng) -> int:
    weakest = sorted(profiles, key=lambda p: p.quality)[: max(3, len(profiles) // 6)]
    rows = []
    for i, (programme, content) in enumerate(COMPLAINTS):
        profile = weakest[i % len(weakest)]
        if programme == "dormitory" and not profile.school.boarding:
            programme = "canteen"
        year, month = months[(i * 5 + 3) % len(months)]
        status = (Complaint.VERIFIED, Complaint.UNFOUNDED, Complaint.VERIFIED, Complaint.NEW)[i % 4]
        if (year, month) == months[-1]:
            status = Complaint.NEW
        filed = _at(date(year, month, rng.randint(2, 25)), rng)
        decided = status != Complaint.NEW
        rows.append(
            {
                "district_id": district_id,
                "school_id": profile.school.id,
                "programme": programme,
                "content": content,
                "contact": f"138****{rng.randint(1000, 9999)}",
                "filed_at": filed,
                "year": year,
                "month": month,
                "status": status,
                "decision_note": (
                    "经实地调查，情况属实，已责令学校整改。"
                    if status == Complaint.VERIFIED
                    else "经调查，反映情况与事实不符。"
                )
                if decided
                else None,
                "decided_by": admin_id if decided else None,
                "decided_at": filed + timedelta(days=rng.randint(3, 10)) if decided else None,
            }
        )
    _insert(Complaint, rows)
    return len(rows)


def extend(district_id: int, rng: random.Random) -> None:
    # An own seed: the scores stay the same whatever other demo modules draw before.
    build_scoring_demo(district_id, random.Random("四个创建"))


if extend not in DEMO_EXTENSIONS:
    DEMO_EXTENSIONS.append(extend)

__all__ = ["build_scoring_demo", "extend", "school_year_months"]
