"""A full evaluation year through the pages and the API: plan, round, ratings from every
group (logged in and by anonymous link), submission with the 优秀 quota, vetoes, return,
the district comparison with raw and normalised scores, and isolation between schools."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from tests.scoring.test_evaluation import (
    SCHOOL_A,
    ballot,
    make_staff,
    rate_all_groups,
)


def _plan_form(**overrides: str) -> dict[str, str]:
    from scoring.evaluation import default_config

    config = default_config()
    form = {"year": "2026", "name": "2026年度后勤人员工作业绩评价方案"}
    form["dimension_rows"] = str(len(config["dimensions"]) + 2)
    for i, d in enumerate(config["dimensions"]):
        form |= {
            f"dim_code_{i}": d["code"],
            f"dim_label_{i}": d["label"],
            f"dim_max_{i}": d["max_points"],
            f"dim_criteria_{i}": d["criteria"],
        }
    for code, pct in (("self", "10"), ("leadership", "40"), ("colleagues", "20"), ("served", "30")):
        form[f"group_weight_{code}"] = pct
    for i, b in enumerate(config["grade_bands"]):
        form |= {f"band_label_{i}": b["label"], f"band_min_{i}": b["min_score"]}
    form |= {"quota_percent": "20", "health_certificate_required": "on"}
    form.update(overrides)
    return form


def _scores_form(total: int) -> dict[str, str]:
    return {f"score_{code}": value for code, value in ballot(total).items()}


def test_full_evaluation_year(app: Any, world: Any, client_for: Any) -> None:
    admin, head, staff = (
        client_for(world.admin1),
        client_for(world.head_a),
        client_for(world.staff_a),
    )

    # --- the district writes and activates the plan (page), opens a round (API)
    page = admin.get("/evaluation/plans/new")
    assert page.status_code == 200 and "遵纪守法" in page.get_data(as_text=True)
    bad = admin.post("/evaluation/plans/new", data=_plan_form(group_weight_self="15"))
    assert bad.status_code == 422
    assert "各评价主体权重之和应为 1，当前为 1.05" in bad.get_data(as_text=True)
    resp = admin.post("/evaluation/plans/new", data=_plan_form())
    assert resp.status_code == 302
    plan_id = int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert admin.post(f"/evaluation/plans/{plan_id}/activate").status_code == 302
    plan = admin.api("GET", f"/api/v1/evaluation-plans/{plan_id}").get_json()
    assert plan["status"] == "active"
    assert [d["label"] for d in plan["config"]["dimensions"]] == ["德", "能", "勤", "绩", "廉"]
    bad = admin.api(
        "PUT",
        f"/api/v1/evaluation-plans/{plan_id}",
        json={
            "year": 2026,
            "name": "x",
            "version": plan["version"],
            "config": plan["config"] | {"excellent_quota": "1.5"},
        },
    )
    assert bad.status_code == 422
    resp = admin.api(
        "POST",
        "/api/v1/evaluation-rounds",
        json={
            "plan_id": plan_id,
            "name": "2026年度评价",
            "opens_on": "2026-11-01",
            "closes_on": "2099-12-31",
        },
    )
    assert resp.status_code == 201, resp.get_json()
    rid = resp.get_json()["id"]

    # --- school A's roster; nine people already rated by every group
    ids = [make_staff(app, world.a, n, p, e, h) for n, p, e, h, _t in SCHOOL_A]
    for i, (sid, row) in enumerate(zip(ids, SCHOOL_A, strict=True)):
        rate_all_groups(
            app,
            world.a,
            rid,
            sid,
            row[4],
            head_id=world.head_a.id,
            colleague_id=ids[(i + 1) % len(ids)],
            served=row[0] != "甲八",
        )
    ten = make_staff(app, world.a, "甲十", "超市店员", "合同工")
    nine = ids[8]

    # --- 甲十 is rated by every group: leadership (page), self and colleagues (API) …
    resp = head.post(
        f"/evaluation/rounds/{rid}/rate",
        data={"staff_id": ten, "group": "leadership", **_scores_form(80)},
    )
    assert resp.status_code == 302
    resp = staff.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/ratings",
        json={"staff_id": ten, "group": "self", "scores": ballot(80)},
    )
    assert resp.status_code == 201 and resp.get_json()["rater_staff_id"] == ten
    resp = staff.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/ratings",
        json={"staff_id": ten, "group": "colleagues", "scores": ballot(80)},
    )
    assert resp.status_code == 422 and "尚未关联" in str(resp.get_json())
    resp = head.api(
        "POST",
        "/api/v1/evaluation-rater-links",
        json={"user_id": world.staff_a.id, "staff_id": nine},
    )
    assert resp.status_code == 200
    resp = staff.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/ratings",
        json={"staff_id": ten, "group": "colleagues", "scores": ballot(80)},
    )
    assert resp.status_code == 201 and resp.get_json()["rater_staff_id"] == nine
    # a rater cannot rate themselves as a colleague
    resp = staff.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/ratings",
        json={"staff_id": nine, "group": "colleagues", "scores": ballot(99)},
    )
    assert resp.status_code == 422
    assert "不能以同事身份评价自己" in resp.get_json()["errors"]["json"]["staff_id"][0]
    resp = head.post(
        f"/evaluation/rounds/{rid}/rate",
        data={"staff_id": ten, "group": "colleagues", "rater_staff_id": ten, **_scores_form(99)},
    )
    assert resp.status_code == 422 and "不能以同事身份评价自己" in resp.get_data(as_text=True)
    # … a colleague's paper ballot typed in by the head …
    resp = head.post(
        f"/evaluation/rounds/{rid}/rate",
        data={"staff_id": ten, "group": "colleagues", "rater_staff_id": ids[0], **_scores_form(80)},
    )
    assert resp.status_code == 302
    # … and a served teacher through an anonymous link, answerable once.
    resp = head.api(
        "POST", f"/api/v1/evaluation-rounds/{rid}/tokens", json={"staff_id": ten, "count": 2}
    )
    assert resp.status_code == 201
    links = [t["url"] for t in resp.get_json()["tokens"]]
    assert len(links) == 2 and all("/e/" in u for u in links)
    assert links[0].split("/e/")[1] in head.get(f"/evaluation/rounds/{rid}/links").get_data(
        as_text=True
    )
    public = client_for(None)
    path = "/e/" + links[0].split("/e/")[1]
    page = public.get(path)
    assert page.status_code == 200 and "甲十" in page.get_data(as_text=True)
    assert "甲一" not in page.get_data(as_text=True)
    forged = public.client.post(path, data=_scores_form(80))  # no CSRF token
    assert forged.status_code == 400
    incomplete = public.post(path, data={"score_ethics": "12"})
    assert incomplete.status_code == 422
    done = public.post(path, data=_scores_form(80))
    assert done.status_code == 200 and "评价已提交" in done.get_data(as_text=True)
    again = public.post(path, data=_scores_form(10))
    assert "已经使用过" in again.get_data(as_text=True)
    assert public.get("/e/not-a-token").status_code == 404

    view = head.api("GET", f"/api/v1/evaluation-rounds/{rid}/school").get_json()
    row = next(s for s in view["staff"] if s["staff_id"] == ten)
    assert row["ratings"] == {"self": 1, "leadership": 1, "colleagues": 2, "served": 1}
    assert row["tokens"] == {"issued": 2, "used": 1}
    assert row["preview"]["score"] == "80.00" and not row["preview"]["flagged_missing"]
    assert view["quota"] == {"evaluated": 10, "excellent_places": 2}
    se_id, version = view["school_evaluation"]["id"], view["school_evaluation"]["version"]

    # --- submission: over the quota is refused with the engine's message (API and page)
    excess = {str(ids[0]): "excellent", str(ids[1]): "excellent", str(ids[2]): "excellent"}
    message = (
        "优秀人数超出名额：本校参评 10 人，优秀名额最多 2 人（参评人数的 20%，向下取整），"
        "现拟评优秀 3 人，超出 1 人。请将其中 1 人调整为其他等次后再提交。"
    )
    resp = head.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/submit",
        json={"grades": excess, "version": version},
    )
    assert resp.status_code == 422
    assert resp.get_json()["errors"]["json"]["grades"] == [message]
    form = {f"grade_{k}": v for k, v in excess.items()} | {"version": str(version)}
    resp = head.post(f"/evaluation/rounds/{rid}/submit", data=form)
    assert resp.status_code == 422 and message in resp.get_data(as_text=True)
    # veto responsibility recorded by the school
    resp = head.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/vetoes",
        json={"staff_id": ids[6], "responsible": True, "note": "宿舍消防责任事故"},
    )
    assert resp.status_code == 200 and resp.get_json()["veto_responsible"] is True
    resp = head.post(f"/evaluation/rounds/{rid}/submit", data={"version": str(version)})
    assert resp.status_code == 302
    view = head.api("GET", f"/api/v1/evaluation-rounds/{rid}/school").get_json()
    assert view["status"] == "submitted" and view["editable"] is False
    stored = {s["name"]: s["stored"] for s in view["staff"]}
    assert stored["甲一"]["grade"] == "excellent" and stored["甲二"]["grade"] == "excellent"
    assert stored["甲三"]["grade"] == "qualified"  # quota
    assert stored["甲四"]["grade"] == "qualified"  # no valid 健康证
    assert stored["甲七"]["grade"] == "unqualified"  # veto
    resp = staff.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/ratings",
        json={"staff_id": ten, "group": "self", "scores": ballot(99)},
    )
    assert resp.status_code == 422  # submitted: ratings are closed for the school

    # --- school B, rated more strictly, submits too
    b_ids = [make_staff(app, world.b, f"乙-SECRET-B-{i}", "保洁") for i in range(3)]
    for sid, total in zip(b_ids, (72, 70, 68), strict=True):
        rate_all_groups(
            app,
            world.b,
            rid,
            sid,
            total,
            head_id=world.head_b.id,
            colleague_id=b_ids[1] if sid == b_ids[0] else b_ids[0],
        )
    head_b = client_for(world.head_b)
    b_view = head_b.api("GET", f"/api/v1/evaluation-rounds/{rid}/school").get_json()
    assert "甲一" not in str(b_view) and len(b_view["staff"]) == 3
    resp = head_b.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/submit",
        json={"version": b_view["school_evaluation"]["version"]},
    )
    assert resp.status_code == 200, resp.get_json()

    # --- district comparison: raw and normalised side by side, distribution per school
    data = admin.api("GET", f"/api/v1/evaluation-rounds/{rid}/results").get_json()
    by_name = {r["name"]: r for r in data["results"]}
    assert len(by_name) == 13
    assert (by_name["甲五"]["score"], by_name["甲五"]["percentile"]) == ("80.00", "40.00")
    assert by_name["乙-SECRET-B-0"]["score"] == "72.00"
    assert by_name["乙-SECRET-B-0"]["percentile"] == "83.33"  # top of a strict school
    assert float(by_name["乙-SECRET-B-0"]["z_score"]) > 0 > float(by_name["甲六"]["z_score"])
    schools = {s["school_id"]: s for s in data["schools"]}
    assert (
        schools[world.b.id]["min"],
        schools[world.b.id]["median"],
        schools[world.b.id]["max"],
    ) == ("68.00", "70.00", "72.00")
    assert schools[world.a.id]["excellent"] == 2
    filtered = admin.api(
        "GET", f"/api/v1/evaluation-rounds/{rid}/results?post=保洁&employment_type=劳务派遣"
    ).get_json()
    assert [r["name"] for r in filtered["results"]] == ["甲七"]
    only_b = admin.api("GET", f"/api/v1/evaluation-rounds/{rid}/results?school_id={world.b.id}")
    assert {r["school_id"] for r in only_b.get_json()["results"]} == {world.b.id}
    page = admin.get(f"/evaluation/rounds/{rid}/results?post=保洁")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "各校得分分布" in body and "甲一" in body
    assert "甲二" not in body  # 保安, filtered out
    pool = admin.api("GET", f"/api/v1/evaluation-rounds/{rid}/excellent-pool").get_json()["pool"]
    assert sorted(e["name"] for e in pool) == ["甲一", "甲二"]
    export = admin.get(f"/evaluation/rounds/{rid}/excellent.xlsx")
    sheet = load_workbook(io.BytesIO(export.data)).active
    assert [c.value for c in sheet[1]][:2] == ["学校", "姓名"]
    assert sorted(r[1] for r in sheet.iter_rows(min_row=2, values_only=True)) == ["甲一", "甲二"]
    overview = admin.get(f"/evaluation/rounds/{rid}").get_data(as_text=True)
    assert world.a.name in overview and "已提交" in overview

    # --- the district returns A's results with a reason; A corrects and resubmits
    resp = admin.api("POST", f"/api/v1/school-evaluations/{se_id}/return", json={"reason": ""})
    assert resp.status_code == 422
    resp = admin.api(
        "POST",
        f"/api/v1/school-evaluations/{se_id}/return",
        json={"reason": "请核实甲三的同事评价"},
    )
    assert resp.status_code == 200 and resp.get_json()["status"] == "returned"
    page = head.get(f"/evaluation/rounds/{rid}").get_data(as_text=True)
    assert "请核实甲三的同事评价" in page and "SECRET-B" not in page
    returned = admin.api("GET", f"/api/v1/evaluation-rounds/{rid}/results").get_json()
    assert {r["school_id"] for r in returned["results"]} == {world.b.id}
    view = head.api("GET", f"/api/v1/evaluation-rounds/{rid}/school").get_json()
    resp = head.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/submit",
        json={
            "grades": {str(ids[1]): "qualified", str(ids[2]): "excellent"},
            "version": view["school_evaluation"]["version"],
        },
    )
    assert resp.status_code == 200
    stale = head.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/submit",
        json={"version": view["school_evaluation"]["version"]},
    )
    assert stale.status_code in (409, 422)
    assert admin.api("POST", f"/api/v1/school-evaluations/{se_id}/accept").status_code == 200

    # --- another school's evaluation answers 404; the district closes the round
    assert head_b.api("GET", f"/api/v1/school-evaluations/{se_id}").status_code == 404
    assert (
        client_for(world.admin2).api("GET", f"/api/v1/school-evaluations/{se_id}").status_code
        == 404
    )
    assert head_b.get(f"/evaluation/rounds/{rid}/schools/{world.a.id}").status_code == 403
    b_results = head_b.api("GET", f"/api/v1/evaluation-rounds/{rid}/results").get_json()
    assert {r["school_id"] for r in b_results["results"]} == {world.b.id}
    resp = admin.api("POST", f"/api/v1/evaluation-rounds/{rid}/close")
    assert resp.status_code == 200 and resp.get_json()["status"] == "closed"
    assert "已经结束" in public.get("/e/" + links[1].split("/e/")[1]).get_data(as_text=True)


def test_audit_records_ratings_and_grade_changes(app: Any, world: Any, client_for: Any) -> None:
    from tests.scoring.test_evaluation import make_round

    _plan_id, rid = make_round(app, world.d1)
    sid = make_staff(app, world.a, "甲一")
    head = client_for(world.head_a)
    resp = head.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/ratings",
        json={"staff_id": sid, "group": "leadership", "scores": ballot(91)},
    )
    assert resp.status_code == 201
    view = head.api("GET", f"/api/v1/evaluation-rounds/{rid}/school").get_json()
    resp = head.api(
        "POST",
        f"/api/v1/evaluation-rounds/{rid}/submit",
        json={"version": view["school_evaluation"]["version"]},
    )
    assert resp.status_code == 200
    entries = head.api("GET", "/api/v1/audit?per_page=50").get_json()
    actions = [e["action"] for e in entries]
    assert "evaluation.rating" in actions and "evaluation.grade" in actions
    grade = next(e for e in entries if e["action"] == "evaluation.grade")
    # One person, 1 evaluated → no 优秀 place (floor 20 % × 1 = 0): 合格 with reason quota.
    assert grade["after"]["grade"] == "qualified"


def test_public_rating_link_is_rate_limited(app: Any, world: Any, client_for: Any) -> None:
    public = client_for(None)
    codes = {public.get("/e/no-such-link").status_code for _ in range(120)}
    assert codes == {404}
    assert public.get("/e/no-such-link").status_code == 429
