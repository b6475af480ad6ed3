# TEMPORARY fuzz (evaluation developer). Delete.
from tests.scoring.test_evaluation import make_round, make_staff, ballot


def test_fuzz(app, world, client_for):
    pid, rid = make_round(app, world.d1)
    sid = make_staff(app, world.a, "x")
    head = client_for(world.head_a)
    admin = client_for(world.admin1)
    bodies = [
        {"staff_id": sid, "group": "leadership", "scores": {"ethics": {"a": 1}}},
        {"staff_id": sid, "group": "leadership", "scores": ballot(80) | {"ethics": [1]}},
        {"staff_id": sid, "group": "leadership", "scores": ballot(80) | {"ethics": None}},
        {"staff_id": sid, "group": "leadership", "scores": ballot(80) | {"ethics": "NaN"}},
        {"staff_id": sid, "group": "leadership", "scores": ballot(80) | {"ethics": "1e999999999"}},
        {"staff_id": sid, "group": "leadership", "scores": ballot(80) | {"ethics": True}},
        {"staff_id": "x", "group": "leadership", "scores": ballot(80)},
        {"staff_id": 99999, "group": "leadership", "scores": ballot(80)},
        {"staff_id": sid, "group": "nope", "scores": ballot(80)},
        {"staff_id": sid, "group": "colleagues", "scores": ballot(80), "rater_staff_id": 99999},
        [1, 2],
        "str",
        None,
    ]
    for b in bodies:
        r = head.api("POST", f"/api/v1/evaluation-rounds/{rid}/ratings", json=b)
        assert r.status_code in (400, 404, 409, 422), (b, r.status_code, r.get_data(as_text=True)[:300])
    for b in [{"grades": {"abc": "excellent"}, "version": 1}, {"grades": {"1": 5}, "version": 1},
              {"grades": [], "version": 1}, {"version": "x"}, {"version": 99}]:
        r = head.api("POST", f"/api/v1/evaluation-rounds/{rid}/submit", json=b)
        assert r.status_code in (400, 404, 409, 422), (b, r.status_code, r.get_data(as_text=True)[:300])
    for b in [{"staff_id": sid, "count": 0}, {"staff_id": sid, "count": 10**9}, {"staff_id": None}]:
        r = head.api("POST", f"/api/v1/evaluation-rounds/{rid}/tokens", json=b)
        assert r.status_code in (400, 404, 409, 422), (b, r.status_code)
    plan = admin.api("GET", f"/api/v1/evaluation-plans/{pid}").get_json()
    cfg = plan["config"]
    variants = [
        cfg | {"excellent_grade": "zzz"},
        cfg | {"tie_break_groups": ["nobody"]},
        cfg | {"grade_bands": cfg["grade_bands"][:1]},
        cfg | {"dimensions": [cfg["dimensions"][0] | {"max_points": "NaN"}]},
        cfg | {"dimensions": [cfg["dimensions"][0] | {"max_points": "1e400"}]},
        cfg | {"rater_groups": cfg["rater_groups"] + cfg["rater_groups"][:1]},
        cfg | {"grade_bands": list(reversed(cfg["grade_bands"]))},
        cfg | {"veto_grade": "x"},
        cfg | {"dimensions": "x"},
        {},
    ]
    for v in variants:
        r = admin.api("POST", "/api/v1/evaluation-plans", json={"year": 2027, "name": "n", "config": v})
        assert r.status_code == 422, (v, r.status_code, r.get_data(as_text=True)[:300])
        print(r.get_json()["errors"])
    r = admin.api("POST", "/api/v1/evaluation-plans", json={"year": 2027, "name": "n"})
    assert r.status_code == 201
    r = admin.api("POST", "/api/v1/evaluation-plans", json={"year": 2027, "name": "n"})
    assert r.status_code == 422
    r = admin.api("PUT", f"/api/v1/evaluation-plans/{pid}", json={"year": 2026, "name": "n2", "version": plan["version"]})
    assert r.status_code == 422, r.get_json()
    r = admin.api("POST", "/api/v1/evaluation-rounds", json={"plan_id": 99999, "name": "x", "opens_on": "2026-01-01", "closes_on": "2025-01-01"})
    assert r.status_code == 422
    print(r.get_json())
    for url in [f"/api/v1/evaluation-rounds/{rid}/results?school_id=abc", f"/api/v1/evaluation-rounds/{rid}/school?school_id=abc", f"/api/v1/evaluation-rounds/{rid}/school"]:
        r = admin.get(url)
        assert r.status_code in (200, 404, 422), (url, r.status_code)
    r = admin.post(f"/evaluation/rounds/{rid}/veto", data={"staff_id": "abc", "school_id": str(world.a.id)})
    assert r.status_code in (302, 404, 422), r.status_code
    r = head.post(f"/evaluation/rounds/{rid}/submit", data={"grade_abc": "x", "version": "1"})
    assert r.status_code == 422
    r = head.post(f"/evaluation/rounds/{rid}/tokens", data={"staff_id": "abc", "count": "-1"})
    assert r.status_code == 422
    r = head.post("/evaluation/accounts", data={"user_id": str(world.head_b.id), "staff_id": str(sid)})
    assert r.status_code == 422
