"""A living demo district in Chinese, so a newcomer meets a real-looking system.

Deterministic (seeded) so screenshots and tests see the same names every time.
Later capabilities add their data through :data:`DEMO_EXTENSIONS`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from district.extensions import db
from tenants import services
from tenants.models import District, Role, School, User, Zone
from tenants.scope import Scope, unscoped, use_scope

DEMO_PASSWORD = "Demo-2026"

ZONES = ("城区片", "东湖片", "西山片", "南岭片", "北川片")
TOWNS = (
    "城关",
    "东湖",
    "西山",
    "南岭",
    "北川",
    "花园",
    "柳林",
    "青山",
    "白沙",
    "石桥",
    "龙泉",
    "金桥",
    "新华",
    "红旗",
    "河口",
    "双龙",
    "桃源",
    "凤凰",
    "清水",
    "马岭",
)
HONOURS = ("市花园式学校", "省绿色文明校园", "市文明食堂", "省放心超市示范店", "市平安校园")


@dataclass
class DemoLogin:
    role: str
    username: str
    description: str


@dataclass
class DemoResult:
    district_id: int
    logins: list[DemoLogin] = field(default_factory=list)
    schools: int = 0


# Later capabilities register functions called as fn(district_id, rng) inside the district scope.
DEMO_EXTENSIONS: list[Callable[[int, random.Random], None]] = []


def _school_specs(rng: random.Random) -> list[dict]:
    specs: list[dict] = []
    # The seed school of the reference report, kept recognisable.
    specs.append(
        dict(name="园林一中", level="初中", boarding=True, students=1350, campus=25500, green=10968)
    )
    specs.append(dict(name="园林二中", level="初中", boarding=True, students=1120))
    specs.append(dict(name="园林高级中学", level="高中", boarding=True, students=2400))
    specs.append(dict(name="园林实验小学", level="小学", boarding=False, students=1800))
    for town in TOWNS:
        specs.append(dict(name=f"{town}镇中心小学", level="小学", boarding=rng.random() < 0.4))
        if len(specs) < 59 and rng.random() < 0.75:
            specs.append(dict(name=f"{town}镇初级中学", level="初中", boarding=rng.random() < 0.7))
        if len(specs) < 59 and rng.random() < 0.2:
            specs.append(dict(name=f"{town}九年一贯制学校", level="九年一贯制", boarding=True))
    # The draws above leave the district short of its 62 schools: top up with second
    # primary schools (the three district-wide schools below make up the rest).
    for town in TOWNS:
        if len(specs) >= 59:
            break
        specs.append(dict(name=f"{town}镇第二小学", level="小学", boarding=rng.random() < 0.3))
    specs.append(dict(name="园林区特殊教育学校", level="特殊教育", boarding=True, students=180))
    specs.append(dict(name="园林区第二高级中学", level="高中", boarding=True, students=2100))
    specs.append(dict(name="园林区职业高级中学", level="职业高中", boarding=True, students=1500))
    return specs[:62]


def build_demo(seed: int = 2026) -> DemoResult:
    """Create the demo district (and a small neighbour, to show isolation). Flushes only."""
    rng = random.Random(seed)
    with unscoped("demo: platform operator"):
        if db.session.scalar(select(User.id).where(User.username == "platform")) is None:
            services.create_platform_operator("platform", "平台管理员", DEMO_PASSWORD)
    district, _admin = services.create_district_with_admin(
        dict(
            code="YL",
            name="园林区教育局",
            region="示范市园林区",
            admin_username="yl_admin",
            admin_name="关瑞华",
            admin_password=DEMO_PASSWORD,
        )
    )
    result = DemoResult(district_id=district.id)
    result.logins.append(DemoLogin(Role.PLATFORM_OPERATOR, "platform", "平台管理员：创建区县"))
    result.logins.append(DemoLogin(Role.DISTRICT_ADMIN, "yl_admin", "区教育局后勤办管理员"))
    with use_scope(Scope.for_district(district.id)):
        zones = [
            services.create_zone({"name": z, "code": f"Z{i + 1}"}) for i, z in enumerate(ZONES)
        ]
        schools: list[School] = []
        for i, spec in enumerate(_school_specs(rng)):
            students = spec.get("students") or rng.randrange(300, 1600, 10)
            campus = spec.get("campus") or rng.randrange(8000, 60000, 100)
            green_ratio = rng.uniform(0.22, 0.48)
            school = services.create_school(
                dict(
                    code=f"YL{i + 1:03d}",
                    name=spec["name"],
                    level=spec["level"],
                    zone_id=zones[i % len(zones)].id,
                    boarding=spec["boarding"],
                    student_count=students,
                    staff_count=max(12, students // 14),
                    campus_area=Decimal(campus),
                    green_area=Decimal(spec.get("green") or int(campus * green_ratio)),
                    honours=rng.sample(HONOURS, k=rng.choice((0, 0, 1, 2))),
                    address=f"园林区{spec['name'][:2]}路 {rng.randint(1, 199)} 号",
                )
            )
            schools.append(school)
        result.schools = len(schools)
        services.create_user(
            dict(
                username="yl_leader",
                display_name="黎义波",
                role=Role.DISTRICT_VIEWER,
                password=DEMO_PASSWORD,
            )
        )
        result.logins.append(DemoLogin(Role.DISTRICT_VIEWER, "yl_leader", "局领导：只读查看"))
        inspectors = ("赵忠平", "钱立新", "孙秀英", "李建国", "周晓梅")
        for i, (zone, name) in enumerate(zip(zones, inspectors, strict=True)):
            services.create_user(
                dict(
                    username=f"yl_inspector{i + 1}",
                    display_name=name,
                    role=Role.INSPECTOR,
                    zone_ids=[zone.id],
                    password=DEMO_PASSWORD,
                )
            )
        result.logins.append(
            DemoLogin(Role.INSPECTOR, "yl_inspector1", f"督查员：负责{zones[0].name}")
        )
        surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
        given = "建华志强秀兰国庆海燕晓东丽娟春梅德明"
        for i, school in enumerate(schools):
            head = rng.choice(surnames) + rng.choice(given) + rng.choice(given)
            services.create_user(
                dict(
                    username=f"yl_head{i + 1:03d}",
                    display_name=head,
                    role=Role.SCHOOL_HEAD,
                    school_id=school.id,
                    password=DEMO_PASSWORD,
                )
            )
            services.create_user(
                dict(
                    username=f"yl_staff{i + 1:03d}",
                    display_name=rng.choice(surnames) + rng.choice(given),
                    role=Role.SCHOOL_STAFF,
                    school_id=school.id,
                    password=DEMO_PASSWORD,
                )
            )
        result.logins.append(DemoLogin(Role.SCHOOL_HEAD, "yl_head001", f"校长：{schools[0].name}"))
        result.logins.append(
            DemoLogin(Role.SCHOOL_STAFF, "yl_staff001", f"后勤主任：{schools[0].name}")
        )
        for extend in DEMO_EXTENSIONS:
            extend(district.id, rng)

    # A small neighbouring district: its data must never show up in 园林区.
    other, _ = services.create_district_with_admin(
        dict(
            code="LH",
            name="临湖区教育局",
            region="示范市临湖区",
            admin_username="lh_admin",
            admin_name="陈国栋",
            admin_password=DEMO_PASSWORD,
        )
    )
    with use_scope(Scope.for_district(other.id)):
        zone = services.create_zone({"name": "湖滨片"})
        for i, name in enumerate(("临湖一中", "临湖实验小学", "湖滨镇中心小学")):
            services.create_school(
                dict(
                    code=f"LH{i + 1:03d}",
                    name=name,
                    level="初中" if "中" in name[-2:] else "小学",
                    zone_id=zone.id,
                    boarding=i == 0,
                    student_count=800,
                    staff_count=60,
                )
            )
    result.logins.append(DemoLogin(Role.DISTRICT_ADMIN, "lh_admin", "另一个区县（临湖区）的管理员"))
    return result


def demo_exists() -> bool:
    with unscoped("demo: is the demo district there?"):
        return db.session.scalar(select(District.id).where(District.code == "YL")) is not None


__all__ = ["build_demo", "demo_exists", "DEMO_PASSWORD", "DEMO_EXTENSIONS", "Zone"]

# Feature demo data registers itself in DEMO_EXTENSIONS (imported last: they import this module).
# The order of these imports is the order the extensions run in.
# isort: off
import scoring.evaluation_demo  # noqa: E402,F401 - imports staff_demo first, so runs after it
import scoring.staff_demo  # noqa: E402,F401
import scoring.demo  # noqa: E402,F401 - four creations: sources and results, runs last
# isort: on
