"""Rubric management (考核细则) and scoring settings through the pages and the API."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import select

from district.audit import AuditEntry
from district.extensions import db
from district.jobs import JobRecord
from scoring import rubric_excel
from scoring.models import DistrictSettings, Period, Rubric, RubricIndicator, RubricVersion
from tenants.scope import Scope, unscoped, use_scope


def seed(app: Any, district: Any) -> dict[str, int]:
    """The four default programmes for a district; {programme: rubric id}."""
    from scoring.rubrics import ensure_default_rubrics

    with app.app_context(), use_scope(Scope.for_district(district.id)):
        created = ensure_default_rubrics()
        ids = {r.programme: r.id for r in created}
        db.session.commit()
    return ids


def rows(app: Any, model: Any, *where: Any) -> list[Any]:
    with app.app_context(), unscoped("tests: inspect"):
        found = list(db.session.scalars(select(model).where(*where)))
        for obj in found:
            db.session.expunge(obj)
    return found


def in_force(app: Any, district: Any, year: int, month: int) -> int | None:
    from scoring.rubrics import version_in_force

    with app.app_context(), use_scope(Scope.for_district(district.id)):
        version = version_in_force("canteen", year, month)
        return version.number if version else None


def edited(content: dict[str, Any]) -> dict[str, Any]:
    """A valid change: A1 renamed, its 4 points moved onto A2."""
    data = copy.deepcopy(content)
    first, second = data["categories"][0]["indicators"][:2]
    first["name"] = "就餐场所（已修订）"
    first["max_points"] -= 1
    second["max_points"] += 1
    return data


@pytest.fixture()
def canteen(app: Any, world: Any) -> int:
    return seed(app, world.d1)["canteen"]


# --- the workflow through the API ----------------------------------------------------------


def test_api_workflow_copy_edit_publish(
    app: Any, world: Any, client_for: Any, canteen: int, drain_jobs: Any
) -> None:
    c = client_for(world.admin1)
    listing = c.get("/api/v1/rubrics").get_json()
    assert [r["programme"] for r in listing] == ["canteen", "store", "dormitory", "greening"]
    v1 = listing[0]["versions"][0]
    assert (v1["number"], v1["status"], v1["effective"], v1["in_force"]) == (
        1,
        "published",
        "2000-01",
        True,
    )

    resp = c.api("POST", f"/api/v1/rubrics/{canteen}/drafts", json={"note": "2026 修订"})
    assert resp.status_code == 201, resp.get_json()
    draft = resp.get_json()
    assert (draft["number"], draft["status"], draft["note"]) == (2, "draft", "2026 修订")
    original = c.get(f"/api/v1/rubric-versions/{v1['id']}").get_json()
    assert draft["content"] == original["content"]
    assert len(original["indicators"]) >= 20 and original["total_points"] == 100
    # One draft at a time.
    assert c.api("POST", f"/api/v1/rubrics/{canteen}/drafts", json={}).status_code == 409

    url = f"/api/v1/rubric-versions/{draft['id']}"
    new_content = edited(draft["content"])
    resp = c.api("PUT", url, json={"content": new_content, "version": draft["version"]})
    assert resp.status_code == 200, resp.get_json()
    saved = resp.get_json()
    assert saved["version"] == draft["version"] + 1
    assert saved["indicators"][0]["name"] == "就餐场所（已修订）"

    # Invalid content: refused with Chinese messages, nothing saved.
    broken = copy.deepcopy(new_content)
    broken["categories"][0]["indicators"][0]["max_points"] += 5
    resp = c.api("PUT", url, json={"content": broken, "version": saved["version"]})
    assert resp.status_code == 422
    assert "必须为 100" in " ".join(resp.get_json()["errors"]["json"]["content"])
    wrong_kind = copy.deepcopy(new_content)
    wrong_kind["categories"][0]["indicators"][1]["kind"] = "guess"
    resp = c.api("PUT", url, json={"content": wrong_kind, "version": saved["version"]})
    assert resp.status_code == 422
    assert "未知的指标类型" in " ".join(resp.get_json()["errors"]["json"]["content"])
    assert c.get(url).get_json()["content"] == new_content

    # A stale copy is told, not silently applied.
    resp = c.api("PUT", url, json={"content": broken, "version": draft["version"]})
    assert resp.status_code == 409
    # The programme code cannot be changed.
    other = copy.deepcopy(new_content)
    other["programme"] = "store"
    assert (
        c.api("PUT", url, json={"content": other, "version": saved["version"]}).status_code == 422
    )

    assert c.api("POST", f"{url}/publish", json={"effective": "2026-13"}).status_code == 422
    assert c.api("POST", f"{url}/publish", json={"effective": "Sept"}).status_code == 422
    assert (
        c.api("POST", f"{url}/publish", json={"effective": "2026-09", "version": 1}).status_code
        == 409
    )
    resp = c.api("POST", f"{url}/publish", json={"effective": "2026-09"})
    assert resp.status_code == 200, resp.get_json()
    published = resp.get_json()
    assert (published["status"], published["effective"]) == ("published", "2026-09")
    assert published["published_by"] == world.admin1.id
    drain_jobs()

    assert in_force(app, world.d1, 2026, 8) == 1
    assert in_force(app, world.d1, 2026, 9) == 2
    assert in_force(app, world.d1, 2027, 3) == 2
    indicators = rows(app, RubricIndicator, RubricIndicator.rubric_version_id == draft["id"])
    assert {i.code for i in indicators} == {i["code"] for i in published["indicators"]}
    jobs = rows(app, JobRecord, JobRecord.func == "scoring.jobs:recompute_district_from")
    assert [j.args[1:] for j in jobs] == [[2026, 9]]

    # Published versions are immutable.
    assert c.api("PUT", url, json={"content": new_content, "version": 99}).status_code == 409
    assert (
        c.api(
            "PUT", url, json={"content": new_content, "version": published["version"]}
        ).status_code
        == 409
    )
    resp = c.api("POST", f"{url}/publish", json={"effective": "2027-01"})
    assert resp.status_code == 409 and "已发布的版本不能修改" in resp.get_json()["message"]
    assert c.api("DELETE", url).status_code == 409
    assert c.get(url).get_json()["content"] == new_content

    actions = [a.action for a in rows(app, AuditEntry, AuditEntry.object_id == str(draft["id"]))]
    assert {"rubric.draft", "rubric.edit", "rubric.publish"} <= set(actions)


def test_api_delete_draft_and_create_with_content(
    app: Any, world: Any, client_for: Any, canteen: int
) -> None:
    c = client_for(world.admin1)
    draft = c.api("POST", f"/api/v1/rubrics/{canteen}/drafts", json={}).get_json()
    url = f"/api/v1/rubric-versions/{draft['id']}"
    assert c.api("DELETE", f"{url}?version=99").status_code == 409
    assert c.api("DELETE", f"{url}?version={draft['version']}").status_code == 204
    assert c.get(url).status_code == 404
    assert rows(app, AuditEntry, AuditEntry.action == "rubric.draft_delete")

    content = edited(draft["content"])
    resp = c.api("POST", f"/api/v1/rubrics/{canteen}/drafts", json={"content": content})
    assert resp.status_code == 201 and resp.get_json()["content"] == content
    c.api("DELETE", f"/api/v1/rubric-versions/{resp.get_json()['id']}")
    bad = copy.deepcopy(content)
    bad["categories"] = []
    resp = c.api("POST", f"/api/v1/rubrics/{canteen}/drafts", json={"content": bad})
    assert resp.status_code == 422
    assert "非空列表" in " ".join(resp.get_json()["errors"]["json"]["content"])
    assert len(rows(app, RubricVersion, RubricVersion.rubric_id == canteen)) == 1


def test_effective_month_cannot_rewrite_the_past(
    app: Any, world: Any, client_for: Any, canteen: int
) -> None:
    c = client_for(world.admin1)

    def publish(effective: str) -> Any:
        draft = c.api("POST", f"/api/v1/rubrics/{canteen}/drafts", json={}).get_json()
        resp = c.api(
            "POST", f"/api/v1/rubric-versions/{draft['id']}/publish", json={"effective": effective}
        )
        if resp.status_code != 200:
            c.api("DELETE", f"/api/v1/rubric-versions/{draft['id']}")
        return resp

    assert publish("2026-09").status_code == 200
    resp = publish("2026-03")
    assert resp.status_code == 422
    assert "不能早于" in str(resp.get_json()["errors"])
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        from datetime import date

        db.session.add(Period(year=2026, month=10, deadline=date(2026, 11, 5), status="closed"))
        db.session.commit()
    resp = publish("2026-10")
    assert resp.status_code == 422 and "已关闭" in str(resp.get_json()["errors"])
    assert publish("2026-11").status_code == 200
    assert in_force(app, world.d1, 2026, 10) == 2
    assert in_force(app, world.d1, 2026, 11) == 3  # the refused drafts were deleted


# --- the workflow through the pages --------------------------------------------------------


def _table_form(content: dict[str, Any], version: int, **extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "mode": "table",
        "version": str(version),
        "name": content["name"],
        "note": "",
    }
    for i, cells in enumerate(rubric_excel.content_cells(content)):
        for key, value in cells.items():
            if key in ("boarding_only", "evidence_required"):
                if value in (rubric_excel.BOARDING_ONLY_TEXT, rubric_excel.YES_TEXT):
                    form[f"r{i}-{key}"] = "1"
            else:
                form[f"r{i}-{key}"] = rubric_excel.fmt_number(value) if value is not None else ""
    form.update(extra)
    return form


def test_page_workflow(app: Any, world: Any, client_for: Any, drain_jobs: Any) -> None:
    c = client_for(world.admin1)
    page = c.get("/rubrics").get_data(as_text=True)
    assert "载入四个默认项目" in page
    assert c.post("/rubrics/defaults", {}).status_code == 400
    assert not rows(app, Rubric)
    resp = c.post("/rubrics/defaults", {"confirm": "1"})
    assert resp.status_code == 302
    page = c.get("/rubrics").get_data(as_text=True)
    assert all(name in page for name in ("文明食堂", "放心超市", "文化宿舍", "绿化创建"))
    assert "载入四个默认项目" not in page
    canteen = next(r for r in rows(app, Rubric) if r.programme == "canteen")

    resp = c.post(f"/rubrics/{canteen.id}/drafts", {})
    assert resp.status_code == 302 and "/edit" in resp.headers["Location"]
    draft = next(
        v for v in rows(app, RubricVersion, RubricVersion.rubric_id == canteen.id) if v.number == 2
    )
    edit_url = f"/rubric-versions/{draft.id}/edit"
    page = c.get(edit_url).get_data(as_text=True)
    assert 'name="r0-code" value="A1"' in page and "就餐场所与座椅" in page

    # Table editor: rename A1, delete nothing, add a blank row (ignored).
    form = _table_form(draft.content, draft.version, **{"r0-name": "就餐场所（页面修订）"})
    form.update({"r99-code": "", "r99-name": "   "})
    resp = c.post(edit_url, form)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    saved = rows(app, RubricVersion, RubricVersion.id == draft.id)[0]
    assert saved.content["categories"][0]["indicators"][0]["name"] == "就餐场所（页面修订）"
    assert saved.version == draft.version + 1

    # Invalid rows: every problem listed with its row, nothing saved.
    form = _table_form(saved.content, saved.version, **{"r1-max_points": "", "r2-kind": "猜测"})
    resp = c.post(edit_url, form)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "第 2 行" in body and "满分不能为空" in body and "第 3 行" in body and "猜测" in body
    # Deleting a row breaks the 100-point total: refused by the validator.
    resp = c.post(edit_url, _table_form(saved.content, saved.version, **{"r0-delete": "1"}))
    assert resp.status_code == 422 and "必须为 100" in resp.get_data(as_text=True)
    assert rows(app, RubricVersion, RubricVersion.id == draft.id)[0].version == saved.version

    # JSON editor.
    json_form = {"mode": "json", "version": str(saved.version), "content_json": "{oops"}
    resp = c.post(edit_url, json_form)
    assert resp.status_code == 422 and "JSON 格式有误" in resp.get_data(as_text=True)
    # Stale form: 409, the user's text is kept on the page.
    resp = c.post(edit_url, _table_form(saved.content, draft.version, **{"r0-name": "我的修改"}))
    assert resp.status_code == 409
    assert "已被他人修改" in resp.get_data(as_text=True) and "我的修改" in resp.get_data(
        as_text=True
    )

    page = c.get(f"/rubric-versions/{draft.id}").get_data(as_text=True)
    assert "就餐场所（页面修订）" in page and 'name="effective"' in page
    resp = c.post(
        f"/rubric-versions/{draft.id}/publish", {"effective": "2026-9x", "version": saved.version}
    )
    assert resp.status_code == 422 and "YYYY-MM" in resp.get_data(as_text=True)
    resp = c.post(
        f"/rubric-versions/{draft.id}/publish", {"effective": "2026-09", "version": saved.version}
    )
    assert resp.status_code == 302
    drain_jobs()
    assert in_force(app, world.d1, 2026, 8) == 1 and in_force(app, world.d1, 2026, 9) == 2
    page = c.get("/rubrics").get_data(as_text=True)
    assert "2026年9月" in page and "管理员-SECRET-D1" in page

    # Published: the editor and the delete button refuse.
    assert c.get(edit_url).status_code == 409
    assert c.post(edit_url, form).status_code == 409
    assert c.post(f"/rubric-versions/{draft.id}/delete", {}).status_code == 409
    assert rows(app, RubricVersion, RubricVersion.id == draft.id)[0].status == "published"


def test_page_delete_draft(app: Any, world: Any, client_for: Any, canteen: int) -> None:
    c = client_for(world.admin1)
    c.post(f"/rubrics/{canteen}/drafts", {})
    draft = next(
        v for v in rows(app, RubricVersion, RubricVersion.rubric_id == canteen) if v.number == 2
    )
    assert c.post(f"/rubric-versions/{draft.id}/delete", {"version": "99"}).status_code == 409
    resp = c.post(f"/rubric-versions/{draft.id}/delete", {"version": str(draft.version)})
    assert resp.status_code == 302
    assert [v.number for v in rows(app, RubricVersion, RubricVersion.rubric_id == canteen)] == [1]


# --- who may do what --------------------------------------------------------------------------


def test_roles(app: Any, world: Any, client_for: Any, canteen: int) -> None:
    admin = client_for(world.admin1)
    draft = admin.api("POST", f"/api/v1/rubrics/{canteen}/drafts", json={}).get_json()
    v1 = next(v for v in rows(app, RubricVersion) if v.number == 1 and v.rubric_id == canteen)
    url = f"/api/v1/rubric-versions/{draft['id']}"

    viewer = client_for(world.viewer1)
    assert (
        viewer.api("PUT", url, json={"content": draft["content"], "version": 1}).status_code == 403
    )
    assert viewer.api("POST", f"/api/v1/rubrics/{canteen}/drafts", json={}).status_code == 403
    assert viewer.api("POST", f"{url}/publish", json={"effective": "2026-09"}).status_code == 403
    assert viewer.api("DELETE", url).status_code == 403
    assert viewer.post(f"/rubrics/{canteen}/drafts", {}).status_code == 403
    assert viewer.get(f"/rubric-versions/{draft['id']}/edit").status_code == 403
    # Drafts are the admin's working copy: invisible to everyone else.
    assert viewer.get(url).status_code == 404
    assert viewer.get(f"/rubric-versions/{draft['id']}").status_code == 404
    listing = viewer.get("/api/v1/rubrics").get_json()
    assert all(v["status"] == "published" for r in listing for v in r["versions"])
    assert viewer.get(f"/api/v1/rubric-versions/{v1.id}").status_code == 200
    assert "复制为新草稿" not in viewer.get("/rubrics").get_data(as_text=True)

    head = client_for(world.head_a)
    page = head.get("/rubrics")
    assert page.status_code == 200 and "文明食堂" in page.get_data(as_text=True)
    body = head.get(f"/api/v1/rubric-versions/{v1.id}").get_json()
    assert body["in_force"] is True and len(body["indicators"]) >= 20
    page = head.get(f"/rubric-versions/{v1.id}").get_data(as_text=True)
    assert "A1" in page and "甲校-SECRET-A" in page
    export = head.get(f"/api/v1/rubric-versions/{v1.id}/export.xlsx")
    assert export.status_code == 200 and export.data[:2] == b"PK"
    assert head.get(url).status_code == 404
    assert head.api("PUT", url, json={"content": draft["content"], "version": 1}).status_code == 403
    assert head.get("/api/v1/settings/scoring").status_code == 403
    assert head.get("/settings/scoring").status_code == 403

    inspector = client_for(world.inspector1)
    assert "考核细则" in inspector.get("/rubrics").get_data(as_text=True)
    assert inspector.get(f"/rubric-versions/{v1.id}").status_code == 200
    assert rows(app, RubricVersion, RubricVersion.id == draft["id"])[0].version == draft["version"]


def test_menu_entries(app: Any, world: Any, client_for: Any) -> None:
    admin_page = client_for(world.admin1).get("/rubrics").get_data(as_text=True)
    assert 'href="/rubrics"' in admin_page and 'href="/settings/scoring"' in admin_page
    viewer_page = client_for(world.viewer1).get("/rubrics").get_data(as_text=True)
    assert 'href="/rubrics"' in viewer_page and 'href="/settings/scoring"' not in viewer_page


# --- scoring settings -------------------------------------------------------------------------


VALID = {
    "weight_self": "0.25",
    "weight_inspector": "0.55",
    "weight_satisfaction": "0.2",
    "complaint_deduction": "3",
    "complaint_deduction_cap": "12",
    "stand_in_months": 2,
    "star_thresholds": ["90", "80", "70", "55"],
    "inflation_gap_threshold": "8",
    "deadline_day": 10,
}


def _rules(app: Any, district: Any) -> tuple[Any, int]:
    from scoring.settings import deadline_day, scoring_rules

    with app.app_context(), use_scope(Scope.for_district(district.id)):
        return scoring_rules(), deadline_day()


def test_settings_defaults_and_save(app: Any, world: Any, client_for: Any) -> None:
    from decimal import Decimal

    from scoring.engine import DEFAULT_RULES

    rules, day = _rules(app, world.d1)
    assert rules == DEFAULT_RULES and day == 5
    c = client_for(world.admin1)
    current = c.get("/api/v1/settings/scoring").get_json()
    assert current["weight_self"] == "0.3" and current["star_thresholds"] == [
        "95",
        "85",
        "75",
        "60",
    ]
    assert (current["deadline_day"], current["version"], current["customised"]) == (5, 0, False)

    resp = c.api("PUT", "/api/v1/settings/scoring", json={**VALID, "version": 0})
    assert resp.status_code == 200, resp.get_json()
    saved = resp.get_json()
    assert saved["customised"] is True and saved["weight_inspector"] == "0.55"
    rules, day = _rules(app, world.d1)
    assert rules.weight_self == Decimal("0.25") and rules.weight_inspector == Decimal("0.55")
    assert rules.complaint_deduction == 3 and rules.complaint_deduction_cap == 12
    assert rules.stand_in_months == 2 and rules.inflation_gap_threshold == 8
    assert rules.star_thresholds == (Decimal(90), Decimal(80), Decimal(70), Decimal(55))
    assert day == 10
    # Another district still has the defaults.
    assert _rules(app, world.d2) == (DEFAULT_RULES, 5)
    # A GET→PUT round trip (with the dump-only field) works; a stale version is 409.
    again = {**saved, "deadline_day": 6}
    assert c.api("PUT", "/api/v1/settings/scoring", json=again).status_code == 200
    assert c.api("PUT", "/api/v1/settings/scoring", json=again).status_code == 409
    assert _rules(app, world.d1)[1] == 6
    assert len(rows(app, AuditEntry, AuditEntry.action == "settings.scoring")) == 2
    assert not rows(app, JobRecord)  # saving recomputes nothing
    assert len(rows(app, DistrictSettings)) == 1


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"weight_satisfaction": "0.3"}, "weight_self", "之和必须为 1"),
        ({"weight_self": "-0.05", "weight_inspector": "0.85"}, "weight_self", "0 到 1"),
        ({"star_thresholds": ["90", "80", "80", "55"]}, "star_thresholds", "依次递减"),
        ({"star_thresholds": ["90", "80", "70"]}, "star_thresholds", "4 个分数线"),
        ({"star_thresholds": ["190", "80", "70", "55"]}, "star_thresholds", "0 到 100"),
        ({"deadline_day": 31}, "deadline_day", "1 到 28"),
        ({"stand_in_months": -1}, "stand_in_months", "0 到 12"),
        (
            {"complaint_deduction": "5", "complaint_deduction_cap": "4"},
            "complaint_deduction_cap",
            "不能小于",
        ),
        ({"weight_self": "abc"}, "weight_self", ""),
    ],
)
def test_settings_validation(
    app: Any, world: Any, client_for: Any, change: dict, field: str, words: str
) -> None:
    c = client_for(world.admin1)
    resp = c.api("PUT", "/api/v1/settings/scoring", json={**VALID, **change})
    assert resp.status_code == 422
    errors = resp.get_json()["errors"]["json"]
    assert field in errors and words in str(errors[field])
    assert not rows(app, DistrictSettings)


def test_settings_page(app: Any, world: Any, client_for: Any) -> None:
    c = client_for(world.admin1)
    page = c.get("/settings/scoring").get_data(as_text=True)
    assert "当前使用默认设置" in page and 'value="0.3"' in page
    form = {k: v for k, v in VALID.items() if k != "star_thresholds"}
    form["version"] = "0"
    form["star_thresholds"] = ["90", "80", "70", "55"]
    bad = {**form, "weight_self": "0.5"}
    resp = c.post("/settings/scoring", bad)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "之和必须为 1" in body and 'value="0.5"' in body
    assert not rows(app, DistrictSettings)
    assert c.post("/settings/scoring", form).status_code == 302
    assert _rules(app, world.d1)[1] == 10
    assert 'value="0.55"' in c.get("/settings/scoring").get_data(as_text=True)

    viewer = client_for(world.viewer1)
    assert viewer.get("/settings/scoring").status_code == 200
    assert viewer.post("/settings/scoring", {**form, "deadline_day": "3"}).status_code == 403
    assert viewer.api("PUT", "/api/v1/settings/scoring", json=VALID).status_code == 403
    assert _rules(app, world.d1)[1] == 10


def test_openapi_documents_the_endpoints(app: Any) -> None:
    spec = app.test_client().get("/api/openapi.json").get_json()
    paths = spec["paths"]
    for path in (
        "/api/v1/rubrics",
        "/api/v1/rubrics/{rubric_id}",
        "/api/v1/rubrics/{rubric_id}/drafts",
        "/api/v1/rubrics/{rubric_id}/import",
        "/api/v1/rubric-versions/{rubric_version_id}",
        "/api/v1/rubric-versions/{rubric_version_id}/publish",
        "/api/v1/rubric-versions/{rubric_version_id}/export.xlsx",
        "/api/v1/settings/scoring",
    ):
        assert path in paths, path
    schemas = spec["components"]["schemas"]
    assert "description" in schemas["RubricPublish"]["properties"]["effective"]
    assert "description" in schemas["ScoringSettings"]["properties"]["deadline_day"]
    assert set(paths["/api/v1/rubric-versions/{rubric_version_id}"]) >= {"get", "put", "delete"}
