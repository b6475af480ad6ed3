"""Demo rosters for 园林区: 10–40 logistics staff per school, certificates (some expiring
within 30 days, some expired), five-role designations (a few canteens missing a role)
and 9 district training sessions covering 321 canteen operators.

Registered in :data:`district.demo.DEMO_EXTENSIONS` at import; runs inside the demo
district's scope with bulk inserts (a few statements for the whole district).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert, select

from district.demo import DEMO_EXTENSIONS
from district.extensions import db
from scoring.staff_models import (
    FIVE_ROLES,
    Certificate,
    StaffMember,
    TrainingAttendance,
    TrainingSession,
)
from tenants.models import School

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程"
)
GIVEN_F = "秀兰桂英玉梅丽娟春燕红霞美玲淑芬海燕金凤小红彩霞"
GIVEN_M = "建国志强卫东国华德明海涛立新永刚建军俊杰文斌晓东"
TRAINED_OPERATORS = 321
TRAINING_TOPICS = (
    ("食品安全法律法规培训", "区市场监管局"),
    ("食堂操作规范与留样管理", "区教育局后勤办"),
    ("健康证与从业人员个人卫生", "区疾控中心"),
    ("食堂消防与燃气安全", "区消防救援大队"),
    ("学生营养配餐", "区教育局后勤办"),
    ("五员制职责培训", "区教育局后勤办"),
    ("餐具清洗消毒规范", "区疾控中心"),
    ("食物中毒应急处置", "区市场监管局"),
    ("光盘行动与厨余减量", "区教育局后勤办"),
)


def _name(rng: random.Random, female: bool) -> str:
    pool = GIVEN_F if female else GIVEN_M
    given = rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.6 else "")
    return rng.choice(SURNAMES) + given


def _posts_for(school: School, rng: random.Random) -> list[str]:
    """Posts by size and boarding: bigger schools more canteen operators, boarding 宿管员."""
    n = school.student_count or 600
    posts = ["后勤主任", "会计", "校医"]
    posts += ["食堂操作员"] * (2 + n // 240 + (2 if school.boarding else 0))
    if school.boarding:
        posts += ["宿管员"] * (1 + n // 500)
    posts += ["保安"] * (2 + n // 800)
    posts += ["保洁"] * (1 + n // 450)
    if n >= 600 or rng.random() < 0.5:
        posts.append("电工")
    if rng.random() < 0.6:
        posts.append("超市店员")
    if (school.campus_area or 0) > 20000:
        posts.append("绿化工")
    return posts[:40]


def _employment(post: str, rng: random.Random) -> str:
    if post in ("后勤主任", "会计", "校医"):
        return "编制内" if rng.random() < 0.85 else "合同工"
    x = rng.random()
    return "合同工" if x < 0.7 else ("劳务派遣" if x < 0.9 else "编制内")


def _expiry(today: date, rng: random.Random) -> date:
    """Most valid for months; ~8 % expiring within 30 days; ~5 % already expired."""
    x = rng.random()
    if x < 0.05:
        return today - timedelta(days=rng.randint(1, 90))
    if x < 0.13:
        return today + timedelta(days=rng.randint(0, 30))
    return today + timedelta(days=rng.randint(31, 360))


def build_staff_demo(district_id: int, rng: random.Random) -> None:
    today = date.today()
    schools = list(db.session.scalars(select(School).order_by(School.code)))
    plan = {school.id: _posts_for(school, rng) for school in schools}
    # Enough operators that the 321 trained are most, not all, of them (~85 %).
    wanted = -(-TRAINED_OPERATORS * 100 // 85)
    by_size = sorted(schools, key=lambda s: -(s.student_count or 0))
    have = sum(p.count("食堂操作员") for p in plan.values())
    while by_size and have < wanted:
        for school in by_size:
            if have >= wanted:
                break
            if len(plan[school.id]) < 40:
                plan[school.id].insert(3, "食堂操作员")
                have += 1
        if all(len(plan[s.id]) >= 40 for s in by_size):
            break
    rows: list[dict[str, Any]] = []
    for school in schools:
        posts = plan[school.id]
        # A few canteens miss a role (五员制空缺): the compliance lists must show them.
        missing_role = rng.choice(FIVE_ROLES[:3] + FIVE_ROLES[4:]) if rng.random() < 0.1 else None
        for i, post in enumerate(posts):
            female = rng.random() < (0.7 if post in ("食堂操作员", "保洁", "宿管员") else 0.35)
            roles: list[str] = []
            if post == "食堂操作员":
                roles.append("食堂操作员")
            if post == "校医":
                roles += ["营养指导员", "卫生监督员"]
            if post == "会计":
                roles.append("伙食成本监管员")
            if post == "后勤主任":
                roles.append("伙食质量评判员")
            roles = [r for r in roles if r != missing_role]
            rows.append(
                dict(
                    district_id=district_id,
                    school_id=school.id,
                    name=_name(rng, female),
                    gender="女" if female else "男",
                    post=post,
                    employment_type=_employment(post, rng),
                    start_date=date(rng.randint(2003, today.year - 1), rng.randint(1, 12), 1),
                    phone=f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}",
                    five_roles=roles,
                    active=i != 3 or rng.random() < 0.9,
                )
            )
    ids = db.session.scalars(
        insert(StaffMember).returning(StaffMember.id, sort_by_parameter_order=True), rows
    ).all()
    certs: list[dict[str, Any]] = []
    operators: list[tuple[int, int]] = []
    serial = 0
    for staff_id, row in zip(ids, rows, strict=True):
        base = dict(district_id=district_id, school_id=row["school_id"], staff_id=staff_id)
        canteen = row["post"] == "食堂操作员" or bool(row["five_roles"])
        if row["post"] == "食堂操作员" and row["active"]:
            operators.append((staff_id, row["school_id"]))
        wanted: list[tuple[str, str]] = []
        if canteen and rng.random() < 0.95:
            wanted.append(("健康证", "区疾病预防控制中心"))
        if row["post"] == "食堂操作员" and rng.random() < 0.7:
            wanted.append(("食品安全培训证", "区市场监督管理局"))
        if row["post"] == "电工":
            wanted.append(("电工证", "应急管理局"))
        if row["post"] == "保安" and rng.random() < 0.5:
            wanted.append(("消防证", "区消防救援大队"))
        for kind, issuer in wanted:
            serial += 1
            expires = _expiry(today, rng) if kind in ("健康证", "食品安全培训证") else None
            if expires is None:
                expires = today + timedelta(days=rng.randint(200, 1800))
            certs.append(
                dict(
                    base,
                    kind=kind,
                    number=f"{'JK' if kind == '健康证' else 'ZS'}{today.year}{serial:06d}",
                    issuer=issuer,
                    issued_on=expires - timedelta(days=365 if kind == "健康证" else 1095),
                    expires_on=expires,
                )
            )
    if certs:
        db.session.execute(insert(Certificate), certs)

    # 9 sessions this year, before today, covering 321 distinct canteen operators.
    start = date(today.year, 1, 10)
    span = max((today - start).days - 1, 9)
    sessions = []
    for i, (topic, organiser) in enumerate(TRAINING_TOPICS):
        session = TrainingSession(
            district_id=district_id,
            held_on=start + timedelta(days=span * i // len(TRAINING_TOPICS)),
            topic=topic,
            organiser=organiser,
            hours=rng.choice((3, 4, 6)),
            location=rng.choice(
                ("区教师进修学校报告厅", "园林一中多功能厅", "区政务中心三楼会议室")
            ),
        )
        db.session.add(session)
        sessions.append(session)
    db.session.flush()
    trained = rng.sample(operators, k=min(TRAINED_OPERATORS, len(operators)))
    attendance: list[dict[str, Any]] = []
    for j, (staff_id, school_id) in enumerate(trained):
        picked = {j % len(sessions)}
        if rng.random() < 0.25:  # some attend a second session
            picked.add(rng.randrange(len(sessions)))
        for k in sorted(picked):
            attendance.append(
                dict(
                    district_id=district_id,
                    school_id=school_id,
                    session_id=sessions[k].id,
                    staff_id=staff_id,
                )
            )
    if attendance:
        db.session.execute(insert(TrainingAttendance), attendance)
    db.session.flush()


if build_staff_demo not in DEMO_EXTENSIONS:
    DEMO_EXTENSIONS.append(build_staff_demo)
