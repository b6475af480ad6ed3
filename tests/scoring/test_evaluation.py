"""Staff performance evaluation services: plans, rounds, rater rules, tokens, submission
with the 优秀 quota, vetoes, the district comparison and the demo extension.

The helpers at the top are shared with test_evaluation_views.py.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import ValidationError
from sqlalchemy import func, select

from district.extensions import db
from tenants.scope import Scope, unscoped, use_scope

DIMS = {"ethics": 15, "ability": 20, "diligence": 25, "results": 30, "integrity": 10}


# ------------------------------------------------------------------------ helpers


def ballot(total: float | int | str) -> dict[str, str]:
    """Points per dimension, each the same share of its max, adding up to ``total``."""
    share = Decimal(str(total)) / 100
    return {code: format(Decimal(m) * share, "f") for code, m in DIMS.items()}


def make_staff(
    app: Any,
    school: Any,
    name: str,
    post: str = "保洁",
    employment: str = "合同工",
    health: bool | None = None,
) -> int:
    """A roster member; ``health`` True/False adds a valid/expired health certificate."""
    from scoring.staff_models import Certificate, StaffMember

    with app.app_context(), unscoped("tests: staff fixture"):
        person = StaffMember(
            district_id=school.district_id,
            school_id=school.id,
            name=name,
            post=post,
            employment_type=employment,
            five_roles=["食堂操作员"] if post == "食堂操作员" else [],
        )
        db.session.add(person)
        db.session.flush()
        if health is not None:
            db.session.add(
                Certificate(
                    district_id=school.district_id,
                    school_id=school.id,
                    staff_id=person.id,
                    kind="健康证",
                    number=f"JK{person.id}",
                    expires_on=date.today() + timedelta(days=200 if health else -10),
                )
            )
        db.session.commit()
        return person.id


def add_rating(
    app: Any,
    school: Any,
    round_id: int,
    staff_id: int,
    group: str,
    total: float | int,
    *,
    rater_user_id: int | None = None,
    rater_staff_id: int | None = None,
) -> None:
    from scoring.evaluation_models import StaffRating

    with app.app_context(), unscoped("tests: rating fixture"):
        db.session.add(
            StaffRating(
                district_id=school.district_id,
                school_id=school.id,
                round_id=round_id,
                staff_id=staff_id,
                group=group,
                rater_user_id=rater_user_id,
                rater_staff_id=rater_staff_id,
                scores=ballot(total),
                total=Decimal(str(total)),
            )
        )
        db.session.commit()


def rate_all_groups(
    app: Any,
    school: Any,
    round_id: int,
    staff_id: int,
    total: float | int,
    *,
    head_id: int,
    colleague_id: int,
    served: bool = True,
) -> None:
    """One ballot per rater group, all with the same total."""
    add_rating(app, school, round_id, staff_id, "self", total, rater_staff_id=staff_id)
    add_rating(app, school, round_id, staff_id, "leadership", total, rater_user_id=head_id)
    add_rating(app, school, round_id, staff_id, "colleagues", total, rater_staff_id=colleague_id)
    if served:
        add_rating(app, school, round_id, staff_id, "served", total)


def make_round(app: Any, district: Any) -> tuple[int, int]:
    """An active default plan and an open round (every school takes part)."""
    from scoring import evaluation as ev

    with app.app_context(), use_scope(Scope.for_district(district.id)):
        plan = ev.create_plan({"year": 2026, "name": "测试方案"})
        ev.activate_plan(plan)
        rnd = ev.create_round(
            {
                "plan_id": plan.id,
                "name": "2026年度评价",
                "opens_on": date(2026, 11, 1),
                "closes_on": date(2099, 12, 31),
            }
        )
        db.session.commit()
        return plan.id, rnd.id


SCHOOL_A = [
    # name, post, employment, health, total
    ("甲一", "保洁", "合同工", None, 95),
    ("甲二", "保安", "编制内", None, 93),
    ("甲三", "宿管员", "合同工", None, 91),
    ("甲四", "食堂操作员", "合同工", False, 96),  # no valid 健康证: cannot be 优秀
    ("甲五", "食堂操作员", "劳务派遣", True, 80),
    ("甲六", "电工", "编制内", None, 75),
    ("甲七", "保洁", "劳务派遣", None, 65),
    ("甲八", "校医", "编制内", None, 55),  # no served ballots: rescaled and flagged
    ("甲九", "后勤主任", "编制内", None, 85),
]


@pytest.fixture()
def year(app: Any, world: Any) -> dict[str, Any]:
    """District 1 with a round; school A: 9 rated people and 甲十 not yet rated."""
    plan_id, round_id = make_round(app, world.d1)
    ids = [
        make_staff(app, world.a, name, post, employment, health)
        for name, post, employment, health, _total in SCHOOL_A
    ]
    for i, (sid, row) in enumerate(zip(ids, SCHOOL_A, strict=True)):
        rate_all_groups(
            app,
            world.a,
            round_id,
            sid,
            row[4],
            head_id=world.head_a.id,
            colleague_id=ids[(i + 1) % len(ids)],
            served=row[0] != "甲八",
        )
    ten = make_staff(app, world.a, "甲十", "超市店员", "合同工")
    return {"plan_id": plan_id, "round_id": round_id, "ids": ids, "ten": ten}


def _ctx(app: Any, scope: Scope) -> Any:
    class _Both:
        def __enter__(self) -> Any:
            self.app_ctx = app.app_context()
            self.app_ctx.__enter__()
            self.scope = use_scope(scope)
            self.scope.__enter__()
            return self

        def __exit__(self, *exc: Any) -> None:
            try:
                if exc[0] is None:
                    db.session.commit()
                else:
                    db.session.rollback()
                self.scope.__exit__(*exc)
            finally:
                db.session.remove()
                self.app_ctx.__exit__(*exc)

    return _Both()


def school_scope(world: Any, school: Any, user: Any) -> Scope:
    return Scope.for_schools(world.d1.id, {school.id}, user.id)


# -------------------------------------------------------------------------- plans


def test_default_plan_is_the_domain_default(app: Any, world: Any) -> None:
    from scoring import evaluation as ev
    from scoring import staff_engine as engine

    config = ev.default_config()
    plan = ev.engine_plan(config)
    assert [(d.label, d.max_points) for d in plan.dimensions] == [
        ("德", 15),
        ("能", 20),
        ("勤", 25),
        ("绩", 30),
        ("廉", 10),
    ]
    assert {g.code: g.weight for g in plan.rater_groups} == {
        "self": Decimal("0.10"),
        "leadership": Decimal("0.40"),
        "colleagues": Decimal("0.20"),
        "served": Decimal("0.30"),
    }
    assert [(b.label, b.min_score) for b in plan.grade_bands] == [
        ("优秀", 90),
        ("合格", 70),
        ("基本合格", 60),
        ("不合格", 0),
    ]
    assert plan.excellent_quota == Decimal("0.20") and plan.health_certificate_required
    assert plan == engine.DEFAULT_PLAN
    assert all(d["criteria"] for d in config["dimensions"])


def test_invalid_plan_is_refused_with_the_engines_chinese_messages(app: Any, world: Any) -> None:
    from scoring import evaluation as ev

    config = ev.default_config()
    config["rater_groups"][0]["weight"] = "0.20"  # weights add up to 1.1
    config["dimensions"][0]["max_points"] = "20"  # maxima add up to 105
    with _ctx(app, Scope.for_district(world.d1.id)):
        with pytest.raises(ValidationError) as err:
            ev.create_plan({"year": 2026, "name": "错误方案", "config": config})
        messages = err.value.messages["config"]
        assert "各评价主体权重之和应为 1，当前为 1.1" in messages
        assert "各评价维度满分之和应为 100，当前为 105" in messages
        assert db.session.scalar(select(func.count()).select_from(ev.EvaluationPlan)) == 0


def test_activating_a_plan_retires_the_years_other_one_and_a_used_plan_is_frozen(
    app: Any, world: Any
) -> None:
    from scoring import evaluation as ev
    from scoring.evaluation_models import EvaluationPlan

    with _ctx(app, Scope.for_district(world.d1.id)):
        first = ev.activate_plan(ev.create_plan({"year": 2026, "name": "甲方案"}))
        second = ev.create_plan({"year": 2026, "name": "乙方案"})
        ev.activate_plan(second)
        assert (first.status, second.status) == (EvaluationPlan.DRAFT, EvaluationPlan.ACTIVE)
        ev.create_round(
            {
                "plan_id": second.id,
                "name": "轮次",
                "opens_on": date(2026, 11, 1),
                "closes_on": date(2026, 12, 1),
            }
        )
        with pytest.raises(ValidationError) as err:
            ev.update_plan(second, {"year": 2026, "name": "改名", "version": second.version})
        assert "不能再修改" in err.value.messages["_schema"][0]
        with pytest.raises(ValidationError) as err:
            ev.create_round(
                {
                    "plan_id": first.id,
                    "name": "草稿方案的轮次",
                    "opens_on": date(2026, 11, 1),
                    "closes_on": date(2026, 12, 1),
                }
            )
        assert err.value.messages == {"plan_id": ["评价方案尚未启用，不能开启评价轮次"]}


# ---------------------------------------------------------------------- rater rules


def _rating(app: Any, world: Any, user: Any, round_id: int, **data: Any) -> Any:
    from scoring import evaluation as ev
    from scoring.evaluation_models import EvaluationRound
    from tenants.models import User

    with _ctx(app, school_scope(world, world.a, user)):
        rnd = db.session.get(EvaluationRound, round_id)
        u = db.session.get(User, user.id)
        data.setdefault("scores", ballot(80))
        rating = ev.record_rating(rnd, u, {"rater_staff_id": None, **data})
        return (rating.group, rating.rater_user_id, rating.rater_staff_id, rating.total)


def test_rater_rules(app: Any, world: Any, year: dict[str, Any]) -> None:
    from scoring import evaluation as ev
    from scoring.evaluation_models import StaffRating

    rid, ten, nine = year["round_id"], year["ten"], year["ids"][8]
    # 本人: entered by the school on the person's behalf; the rater is the person themself.
    assert _rating(app, world, world.staff_a, rid, staff_id=ten, group="self") == (
        "self",
        None,
        ten,
        Decimal("80.00"),
    )
    # 学校领导: only the school head.
    with pytest.raises(ValidationError) as err:
        _rating(app, world, world.staff_a, rid, staff_id=ten, group="leadership")
    assert err.value.messages == {"group": ["学校领导评价须由校长登录后填写"]}
    assert _rating(app, world, world.head_a, rid, staff_id=ten, group="leadership")[:2] == (
        "leadership",
        world.head_a.id,
    )
    # 同事 in person needs the account linked to its roster entry …
    with pytest.raises(ValidationError) as err:
        _rating(app, world, world.staff_a, rid, staff_id=ten, group="colleagues")
    assert "尚未关联" in err.value.messages["_schema"][0]
    with _ctx(app, school_scope(world, world.a, world.head_a)):
        ev.set_link(world.a.id, world.staff_a.id, nine)
    assert _rating(app, world, world.staff_a, rid, staff_id=ten, group="colleagues")[1:3] == (
        world.staff_a.id,
        nine,
    )
    # … and then never rates themselves as a colleague (nor as a paper ballot).
    with pytest.raises(ValidationError) as err:
        _rating(app, world, world.staff_a, rid, staff_id=nine, group="colleagues")
    assert err.value.messages == {
        "staff_id": ["不能以同事身份评价自己（本人评价请选择“本人自评”）"]
    }
    with pytest.raises(ValidationError) as err:
        _rating(app, world, world.head_a, rid, staff_id=ten, group="colleagues", rater_staff_id=ten)
    assert "不能以同事身份评价自己" in err.value.messages["rater_staff_id"][0]
    # A linked account may enter its own self rating (here replacing the school's entry).
    mine = _rating(app, world, world.staff_a, rid, staff_id=nine, group="self", scores=ballot(70))
    assert (mine[0], mine[2], mine[3]) == ("self", nine, Decimal("70.00"))
    # Rating again replaces the ballot: one rater rates one person once a round.
    _rating(app, world, world.head_a, rid, staff_id=ten, group="leadership", scores=ballot(60))
    with app.app_context(), unscoped("tests: count"):
        rows = db.session.scalars(
            select(StaffRating).where(
                StaffRating.staff_id == ten, StaffRating.group == "leadership"
            )
        ).all()
        assert [r.total for r in rows] == [Decimal("60.00")]
    # The one rater cannot come back under another group for the same person.
    with pytest.raises(ValidationError) as err:
        _rating(app, world, world.staff_a, rid, staff_id=ten, group="self", rater_staff_id=nine)
    assert err.value.messages == {"rater_staff_id": ["本人自评的评价人只能是本人"]}
    # Served teachers/students only through anonymous links; bad points are refused.
    with pytest.raises(ValidationError) as err:
        _rating(app, world, world.head_a, rid, staff_id=ten, group="served")
    assert "匿名评价链接" in err.value.messages["group"][0]
    bad = ballot(80) | {"results": "31"}
    with pytest.raises(ValidationError) as err:
        _rating(
            app,
            world,
            world.head_a,
            rid,
            staff_id=year["ids"][0],
            group="colleagues",
            rater_staff_id=ten,
            scores=bad,
        )
    assert err.value.messages == {"scores": ["维度“绩”的评分 31 超出范围 0–30"]}


def test_every_rating_is_audited(app: Any, world: Any, year: dict[str, Any]) -> None:
    from district.audit import AuditEntry

    _rating(app, world, world.head_a, year["round_id"], staff_id=year["ten"], group="leadership")
    with app.app_context(), unscoped("tests: audit"):
        entry = db.session.scalar(
            select(AuditEntry).where(AuditEntry.action == "evaluation.rating")
        )
        assert entry.school_id == world.a.id
        assert entry.after["group"] == "leadership" and entry.after["total"] == "80.00"


# ------------------------------------------------------------------------ tokens


def test_a_token_rates_only_its_own_staff_member_once(
    app: Any, world: Any, year: dict[str, Any]
) -> None:
    from scoring import evaluation as ev
    from scoring.evaluation_models import EvaluationRound, RaterToken, StaffRating

    ten = year["ten"]
    with _ctx(app, school_scope(world, world.a, world.head_a)):
        rnd = db.session.get(EvaluationRound, year["round_id"])
        raw = [t.token for t in ev.create_tokens(rnd, ten, 2)]
    scope, tok = ev_resolve(app, raw[0])
    assert scope.school_ids == frozenset({world.a.id}) and tok.staff_id == ten
    with _ctx(app, scope):
        ballot_ = ev.public_ballot(tok)
        assert ballot_.staff.id == ten and ballot_.problem is None
        ev.answer_token(ballot_, ballot(88))
    with _ctx(app, scope):
        again = ev.public_ballot(tok)
        assert "已经使用过" in again.problem
        with pytest.raises(ValidationError):
            ev.answer_token(again, ballot(88))
    with app.app_context(), unscoped("tests: check"):
        served = db.session.scalars(
            select(StaffRating).where(StaffRating.staff_id == ten, StaffRating.group == "served")
        ).all()
        assert len(served) == 1
        assert (served[0].rater_user_id, served[0].rater_staff_id, served[0].entered_by) == (
            None,
            None,
            None,
        )
        used = db.session.scalar(select(RaterToken).where(RaterToken.token == raw[0])).used_at
        assert (used.hour, used.minute, used.second) == (0, 0, 0)  # the day only
    assert ev_resolve(app, "no-such-token") is None


def ev_resolve(app: Any, raw: str) -> Any:
    from scoring import evaluation as ev

    with app.app_context():
        found = ev.resolve_token(raw)
        db.session.remove()
        return found


# --------------------------------------------------------------------- submission


def _submit(app: Any, world: Any, round_id: int, grades: dict[str, str] | None) -> Any:
    from scoring import evaluation as ev
    from scoring.evaluation_models import EvaluationRound
    from tenants.models import School, User

    with _ctx(app, school_scope(world, world.a, world.head_a)):
        rnd = db.session.get(EvaluationRound, round_id)
        se = ev.ensure_school_evaluation(rnd, world.a.id)
        ev.submit(
            rnd,
            db.session.get(School, world.a.id),
            db.session.get(User, world.head_a.id),
            grades,
            se.version,
        )
        return se.status


def _stored(app: Any, round_id: int) -> dict[str, Any]:
    from scoring.evaluation_models import EvaluationResult
    from scoring.staff_models import StaffMember

    with app.app_context(), unscoped("tests: results"):
        rows = db.session.execute(
            select(StaffMember.name, EvaluationResult)
            .join(StaffMember, StaffMember.id == EvaluationResult.staff_id)
            .where(EvaluationResult.round_id == round_id)
        ).all()
        return {name: r for name, r in rows}


def test_submission_applies_bands_quota_vetoes_and_refuses_an_excess(
    app: Any, world: Any, year: dict[str, Any]
) -> None:
    ids, rid = year["ids"], year["round_id"]
    # 9 evaluated (甲十 has no ballots) → floor(20 % × 9) = 1 place.
    with pytest.raises(ValidationError) as err:
        _submit(app, world, rid, {str(ids[0]): "excellent", str(ids[1]): "excellent"})
    assert err.value.messages == {
        "grades": [
            "优秀人数超出名额：本校参评 9 人，优秀名额最多 1 人（参评人数的 20%，向下取整），"
            "现拟评优秀 2 人，超出 1 人。请将其中 1 人调整为其他等次后再提交。"
        ]
    }
    # Nobody may be proposed above what the score and the vetoes allow.
    with pytest.raises(ValidationError) as err:
        _submit(app, world, rid, {str(ids[0]): "qualified", str(ids[3]): "excellent"})
    assert err.value.messages == {"grades": ["甲四是食堂从业人员且无有效健康证，不能评为优秀"]}
    with pytest.raises(ValidationError) as err:
        _submit(app, world, rid, {str(ids[5]): "excellent"})
    assert err.value.messages == {"grades": ["甲六得分 75.00 最高只能评为合格"]}
    assert _submit(app, world, rid, None) == "submitted"
    stored = _stored(app, rid)
    assert stored["甲一"].grade == "excellent" and stored["甲一"].rounded == Decimal("95.00")
    assert stored["甲二"].grade == "qualified"
    assert [r["code"] for r in stored["甲二"].reasons] == ["quota"]
    assert stored["甲四"].grade == "qualified"
    assert [r["code"] for r in stored["甲四"].reasons] == ["health_certificate"]
    assert stored["甲八"].groups_missing == ["served"] and stored["甲八"].grade == "unqualified"
    assert stored["甲十"].grade is None and stored["甲十"].rounded is None
    # Normalised within the school: mid-rank percentile, population z-score.
    assert stored["甲四"].rank == 1 and stored["甲四"].percentile == Decimal("94.44")
    assert stored["甲八"].percentile == Decimal("5.56") and stored["甲八"].z_score < 0


def test_head_may_give_the_quota_place_to_a_tied_out_colleague(
    app: Any, world: Any, year: dict[str, Any]
) -> None:
    from district.audit import AuditEntry

    ids, rid = year["ids"], year["round_id"]
    assert _submit(app, world, rid, {str(ids[0]): "qualified", str(ids[1]): "excellent"}) == (
        "submitted"
    )
    stored = _stored(app, rid)
    assert (stored["甲一"].grade, stored["甲二"].grade) == ("qualified", "excellent")
    assert stored["甲一"].reasons[-1]["code"] == "adjusted"
    with app.app_context(), unscoped("tests: audit"):
        grades = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "evaluation.grade")
        ).all()
        assert len(grades) == 9  # every evaluated person's first stored grade
        assert {(e.before["grade"], e.after["grade"]) for e in grades} >= {
            (None, "excellent"),
            (None, "qualified"),
        }


def test_veto_responsibility_means_unqualified(app: Any, world: Any, year: dict[str, Any]) -> None:
    from scoring import evaluation as ev
    from scoring.evaluation_models import EvaluationRound
    from tenants.models import User

    ids, rid = year["ids"], year["round_id"]
    with _ctx(app, school_scope(world, world.a, world.head_a)):
        rnd = db.session.get(EvaluationRound, rid)
        head = db.session.get(User, world.head_a.id)
        with pytest.raises(ValidationError) as err:
            ev.set_veto(rnd, head, ids[0], True, "")
        assert err.value.messages == {"note": ["请说明所负责任的一票否决事项"]}
    with _ctx(app, school_scope(world, world.a, world.head_a)):
        rnd = db.session.get(EvaluationRound, rid)
        ev.set_veto(rnd, db.session.get(User, world.head_a.id), ids[0], True, "食品安全事故")
    _submit(app, world, rid, None)
    stored = _stored(app, rid)
    assert stored["甲一"].grade == "unqualified" and stored["甲一"].veto_responsible
    assert [r["code"] for r in stored["甲一"].reasons] == ["veto"]
    assert stored["甲二"].grade == "excellent"  # the place passes to the next in line
    # The district records a veto after submission: applied to the stored grade at once.
    with _ctx(app, Scope.for_district(world.d1.id, world.admin1.id)):
        rnd = db.session.get(EvaluationRound, rid)
        admin = db.session.get(User, world.admin1.id)
        ev.set_veto(rnd, admin, ids[1], True, "区教育局认定")
        with pytest.raises(ValidationError):
            ev.set_veto(rnd, admin, ids[1], False, None)
    assert _stored(app, rid)["甲二"].grade == "unqualified"


# ------------------------------------------------------------ district comparison


def test_district_comparison_and_excellent_pool(app: Any, world: Any, year: dict[str, Any]) -> None:
    from scoring import evaluation as ev
    from scoring.evaluation_models import EvaluationRound
    from tenants.models import School, User

    rid = year["round_id"]
    b_ids = [make_staff(app, world.b, f"乙{i}", "保洁") for i in range(3)]
    for sid, total in zip(b_ids, (72, 70, 68), strict=True):
        rate_all_groups(
            app,
            world.b,
            rid,
            sid,
            total,
            head_id=world.head_b.id,
            colleague_id=b_ids[0] if sid != b_ids[0] else b_ids[1],
        )
    _submit(app, world, rid, None)
    with _ctx(app, school_scope(world, world.b, world.head_b)):
        rnd = db.session.get(EvaluationRound, rid)
        se = ev.ensure_school_evaluation(rnd, world.b.id)
        ev.submit(
            rnd,
            db.session.get(School, world.b.id),
            db.session.get(User, world.head_b.id),
            None,
            se.version,
        )
    with _ctx(app, Scope.for_district(world.d1.id)):
        rnd = db.session.get(EvaluationRound, rid)
        rows = ev.round_results(rnd)
        assert len(rows) == 12
        b_top = next(r for r in rows if r.staff.name == "乙0")
        a_mid = next(r for r in rows if r.staff.name == "甲五")  # 80, 5th of 9 in school A
        # Raw: 乙0 is below 甲五; normalised within their schools, 乙0 is ahead.
        assert b_top.result.rounded < a_mid.result.rounded
        assert b_top.result.percentile == Decimal("83.33") > a_mid.result.percentile
        stats = {s.school.id: s for s in ev.school_distribution(rnd, rows)}
        assert (stats[world.b.id].minimum, stats[world.b.id].median, stats[world.b.id].maximum) == (
            Decimal("68.00"),
            Decimal("70.00"),
            Decimal("72.00"),
        )
        assert stats[world.a.id].count == 9 and stats[world.a.id].excellent == 1
        cleaners = ev.round_results(rnd, post="保洁", employment_type="合同工")
        assert sorted(r.staff.name for r in cleaners) == ["乙0", "乙1", "乙2", "甲一"]
        pool = ev.excellent_pool(rid)
        assert [(e.name, e.school_name, e.score) for e in pool] == [
            ("甲一", world.a.name, Decimal("95.00"))
        ]
    # A school sees only its own results.
    with _ctx(app, school_scope(world, world.b, world.head_b)):
        rnd = db.session.get(EvaluationRound, rid)
        assert {r.school.id for r in ev.round_results(rnd)} == {world.b.id}
        assert ev.excellent_pool(rid) == []


# --------------------------------------------------------------------------- demo


def test_demo_extension_builds_a_finished_round(app: Any, world: Any) -> None:
    from scoring import evaluation_demo
    from scoring.evaluation_models import EvaluationResult, SchoolEvaluation, StaffRating
    from tenants.models import Role

    # Without a roster the extension creates nothing.
    with _ctx(app, Scope.for_district(world.d1.id)):
        assert evaluation_demo.build_evaluation_demo(world.d1.id, random.Random(1)) == {}
    with app.app_context(), unscoped("tests: check"):
        assert db.session.scalar(select(func.count()).select_from(StaffRating)) == 0
    for school, head in ((world.a, world.head_a), (world.b, world.head_b)):
        assert head.role == Role.SCHOOL_HEAD
        for i in range(10):
            post = "食堂操作员" if i < 3 else "保洁"
            make_staff(app, school, f"{school.code}-{i}", post, health=(i != 0) if i < 3 else None)
    with _ctx(app, Scope.for_district(world.d1.id)):
        counts = evaluation_demo.build_evaluation_demo(world.d1.id, random.Random(2))
    assert counts["submitted"] == 2 and counts["ratings"] >= 20 * 8
    with app.app_context(), unscoped("tests: check"):
        groups = set(db.session.scalars(select(StaffRating.group).distinct()))
        assert groups == {"self", "leadership", "colleagues", "served"}
        statuses = set(db.session.scalars(select(SchoolEvaluation.status)))
        assert statuses <= {"submitted", "accepted"}
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(EvaluationResult)
                .where(EvaluationResult.grade.is_not(None))
            )
            == 20
        )
