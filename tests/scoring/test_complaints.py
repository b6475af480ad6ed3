"""Complaints (投诉): public filing, district investigation, verified counts, privacy."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from district.audit import AuditEntry
from district.extensions import db
from scoring import complaints as cs
from scoring.models import Complaint
from tenants.scope import Scope, unscoped, use_scope

# 00:30 on 1 December in Beijing is still 30 November in UTC: the complaint is December's.
NOW = datetime(2025, 12, 1, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def _fixed_now(monkeypatch: Any) -> None:
    monkeypatch.setattr(cs, "local_now", lambda: NOW)


def _school_token(app: Any, school: Any) -> str:
    with app.app_context(), unscoped("tests: read a public link"):
        from tenants.models import School

        return db.session.scalar(select(School.public_token).where(School.id == school.id))


def _complaints(app: Any) -> list[Complaint]:
    with app.app_context(), unscoped("tests: inspect rows"):
        rows = list(db.session.scalars(select(Complaint).order_by(Complaint.id)))
        for r in rows:
            db.session.expunge(r)
        return rows


def _make(app: Any, school: Any, **kw: Any) -> int:
    values = dict(content="食堂饭菜有异味", contact="13800000000", year=2025, month=10)
    values.update(kw)
    with app.app_context(), unscoped("tests: factory"):
        c = Complaint(district_id=school.district_id, school_id=school.id, **values)
        db.session.add(c)
        db.session.commit()
        return c.id


def _file(app: Any, client: Any, school: Any, **data: Any) -> Any:
    return client.post(f"/c/{_school_token(app, school)}", data=data)


# --- filing -----------------------------------------------------------------------------------


def test_complaint_filed_publicly(app: Any, world: Any, client_for: Any) -> None:
    public = client_for(None)
    token = _school_token(app, world.a)
    page = public.get(f"/c/{token}")
    assert page.status_code == 200 and "甲校-SECRET-A" in page.get_data(as_text=True)
    resp = public.post(
        f"/c/{token}",
        data={
            "content": "超市卖过期面包，价格也没有公示",
            "contact": "王女士 139",
            "programme": "store",
        },
    )
    assert resp.status_code == 302 and "done=1" in resp.location
    assert "投诉已受理" in public.get(resp.location).get_data(as_text=True)
    (c,) = _complaints(app)
    assert (c.district_id, c.school_id, c.programme) == (world.d1.id, world.a.id, "store")
    assert c.contact == "王女士 139" and c.status == "new"
    assert (c.year, c.month) == (2025, 12)
    with app.app_context(), unscoped("tests: audit"):
        (entry,) = db.session.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "Complaint")
        )
        assert entry.action == "complaint.file" and entry.school_id == world.a.id
        assert "139" not in str(entry.after) and "王女士" not in str(entry.after)


def test_complaint_needs_content_csrf_and_a_real_link(
    app: Any, world: Any, client_for: Any
) -> None:
    public = client_for(None)
    assert public.get("/c/no-such-link").status_code == 404
    empty = _file(app, public, world.a, content="", contact="x")
    assert empty.status_code == 422 and "请填写投诉内容" in empty.get_data(as_text=True)
    bad_programme = _file(app, public, world.a, content="宿舍热水不够用", programme="zoo")
    assert bad_programme.status_code == 422
    forged = public.client.post(
        f"/c/{_school_token(app, world.a)}", data={"content": "伪造的投诉内容"}
    )
    assert forged.status_code == 400
    assert _complaints(app) == []
    as_json = public.client.post(
        f"/c/{_school_token(app, world.a)}", json={"content": "绿化带无人养护"}
    )
    assert as_json.status_code == 201
    assert [c.content for c in _complaints(app)] == ["绿化带无人养护"]


def test_complaint_rate_limited(app: Any, world: Any, client_for: Any) -> None:
    public = client_for(None)
    url = f"/c/{_school_token(app, world.a)}"
    codes = [public.client.post(url, json={"content": "x"}).status_code for _ in range(21)]
    assert codes[:20] == [422] * 20 and codes[20] == 429


def test_public_link_only_reaches_its_own_school(app: Any, world: Any, client_for: Any) -> None:
    public = client_for(None)
    html = public.get(f"/c/{_school_token(app, world.c)}").get_data(as_text=True)
    assert "丙校-SECRET-C" in html and "SECRET-A" not in html and "SECRET-B" not in html
    assert _file(app, public, world.c, content="二区学校的投诉内容").status_code == 302
    (c,) = _complaints(app)
    assert (c.district_id, c.school_id) == (world.d2.id, world.c.id)
    assert client_for(world.admin1).api("GET", "/api/v1/complaints").get_json() == []
    assert [
        x["id"] for x in client_for(world.admin2).api("GET", "/api/v1/complaints").get_json()
    ] == [c.id]
    assert client_for(world.head_a).api("GET", "/api/v1/complaints").get_json() == []


# --- investigation ------------------------------------------------------------------------------


def test_verdict_by_district_with_409_on_stale_version(
    app: Any, world: Any, client_for: Any
) -> None:
    cid = _make(app, world.a)
    admin = client_for(world.admin1)
    url = f"/api/v1/complaints/{cid}/verdict"
    ok = admin.api("POST", url, json={"status": "verified", "note": "现场核实属实", "version": 1})
    assert ok.status_code == 200
    body = ok.get_json()
    assert body["status"] == "verified" and body["decision_note"] == "现场核实属实"
    assert body["version"] == 2
    stale = admin.api("POST", url, json={"status": "unfounded", "note": "改判", "version": 1})
    assert stale.status_code == 409
    (c,) = _complaints(app)
    assert c.status == "verified" and c.decided_by == world.admin1.id
    page_stale = admin.post(
        f"/complaints/{cid}/verdict", data={"status": "unfounded", "note": "改判", "version": "1"}
    )
    assert page_stale.status_code == 409
    page_ok = admin.post(
        f"/complaints/{cid}/verdict",
        data={"status": "unfounded", "note": "复查不实", "version": "2"},
    )
    assert page_ok.status_code == 302
    (c,) = _complaints(app)
    assert (c.status, c.decision_note) == ("unfounded", "复查不实")
    missing_note = admin.api("POST", url, json={"status": "verified", "version": 3})
    assert missing_note.status_code == 422
    assert (
        client_for(world.head_a)
        .api("POST", url, json={"status": "verified", "note": "校长自己处理", "version": 3})
        .status_code
        == 403
    )
    detail = admin.get(f"/complaints/{cid}").get_data(as_text=True)
    assert "调查结论" in detail and "查实" in detail and "不实" in detail
    with app.app_context(), unscoped("tests: audit"):
        actions = list(
            db.session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.object_id == str(cid))
                .order_by(AuditEntry.id)
            )
        )
    assert actions == ["complaint.verdict", "complaint.verdict"]


def test_verdict_requests_recompute_of_the_school_month(
    app: Any, world: Any, client_for: Any
) -> None:
    from district.jobs import JobRecord

    cid = _make(app, world.b, year=2025, month=11)
    admin = client_for(world.admin1)
    resp = admin.api(
        "POST",
        f"/api/v1/complaints/{cid}/verdict",
        json={"status": "verified", "note": "属实", "version": 1},
    )
    assert resp.status_code == 200
    with app.app_context(), unscoped("tests: jobs"):
        jobs = list(
            db.session.scalars(
                select(JobRecord).where(JobRecord.func == "scoring.jobs:recompute_school_months")
            )
        )
        assert [j.args for j in jobs] == [[world.d1.id, [[world.b.id, 2025, 11]]]]


def test_verified_count_per_month(app: Any, world: Any) -> None:
    _make(app, world.a, status="verified", month=10)
    _make(app, world.a, status="verified", month=10)
    _make(app, world.a, status="unfounded", month=10)
    _make(app, world.a, status="new", month=10)
    _make(app, world.a, status="verified", month=11)
    _make(app, world.b, status="verified", month=10)
    _make(app, world.c, status="verified", month=10)
    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        assert cs.verified_complaints(world.a.id, 2025, 10) == 2
        assert cs.verified_complaints(world.a.id, 2025, 11) == 1
        assert cs.verified_complaints(world.a.id, 2025, 12) == 0
        assert cs.verified_complaints(world.b.id, 2025, 10) == 1
        # another district's school counts nothing from here
        assert cs.verified_complaints(world.c.id, 2025, 10) == 0
        assert cs.verified_counts(2025, 10) == {world.a.id: 2, world.b.id: 1}


def test_list_filters(app: Any, world: Any, client_for: Any) -> None:
    a_oct = _make(app, world.a, content="十月甲校投诉内容", month=10)
    a_nov = _make(app, world.a, content="十一月甲校投诉内容", month=11, status="verified")
    b_oct = _make(app, world.b, content="十月乙校投诉内容", month=10)
    admin = client_for(world.admin1)

    def ids(query: str) -> list[int]:
        resp = admin.api("GET", f"/api/v1/complaints{query}")
        assert resp.status_code == 200
        return sorted(c["id"] for c in resp.get_json())

    assert ids("") == sorted([a_oct, a_nov, b_oct])
    assert ids("?status=verified") == [a_nov]
    assert ids(f"?school_id={world.a.id}") == sorted([a_oct, a_nov])
    assert ids("?month=2025-10") == sorted([a_oct, b_oct])
    assert admin.api("GET", "/api/v1/complaints?month=2025-13").status_code == 422
    page = admin.get(f"/complaints?school_id={world.b.id}&month=2025-10").get_data(as_text=True)
    assert "十月乙校投诉内容" in page and "甲校投诉内容" not in page
    assert "13800000000" in page  # the district's investigators see the contact


# --- privacy and isolation --------------------------------------------------------------------------


def test_school_head_sees_own_complaints_but_never_the_contact(
    app: Any, world: Any, client_for: Any
) -> None:
    own = _make(app, world.a, content="甲校食堂投诉", contact="联系人-13912345678")
    other = _make(app, world.b, content="乙校投诉-SECRET-B", contact="13700000000")
    admin = client_for(world.admin1)
    admin.api(
        "POST",
        f"/api/v1/complaints/{own}/verdict",
        json={"status": "verified", "note": "已核实并整改", "version": 1},
    )

    head = client_for(world.head_a)
    pages = [head.get("/complaints"), head.get(f"/complaints/{own}")]
    apis = [head.api("GET", "/api/v1/complaints"), head.api("GET", f"/api/v1/complaints/{own}")]
    for resp in pages + apis:
        assert resp.status_code == 200
        text = resp.get_data(as_text=True)
        assert "13912345678" not in text and "联系人" not in text
        assert "SECRET-B" not in text
    detail = pages[1].get_data(as_text=True)
    assert "甲校食堂投诉" in detail and "已核实并整改" in detail and "查实" in detail
    assert apis[1].get_json()["contact"] is None
    assert head.get(f"/complaints/{other}").status_code == 404
    audit = head.api("GET", "/api/v1/audit").get_data(as_text=True)
    assert "13912345678" not in audit
    # the district sees it
    assert (
        admin.api("GET", f"/api/v1/complaints/{own}").get_json()["contact"] == "联系人-13912345678"
    )
    assert "13912345678" in admin.get(f"/complaints/{own}").get_data(as_text=True)


def test_another_districts_complaint_is_404(app: Any, world: Any, client_for: Any) -> None:
    cid = _make(app, world.a, content="甲校投诉-SECRET-A")
    admin2 = client_for(world.admin2)
    assert admin2.api("GET", f"/api/v1/complaints/{cid}").status_code == 404
    assert admin2.get(f"/complaints/{cid}").status_code == 404
    refused = admin2.api(
        "POST",
        f"/api/v1/complaints/{cid}/verdict",
        json={"status": "verified", "note": "越权", "version": 1},
    )
    assert refused.status_code == 404
    assert (
        admin2.post(
            f"/complaints/{cid}/verdict",
            data={"status": "verified", "note": "越权", "version": "1"},
        ).status_code
        == 404
    )
    (c,) = _complaints(app)
    assert c.status == "new" and c.version == 1
    assert "SECRET-A" not in admin2.get("/complaints").get_data(as_text=True)
    assert client_for(world.head_b).api("GET", f"/api/v1/complaints/{cid}").status_code == 404


def test_complaint_links_page(app: Any, world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1).get("/complaints/links").get_data(as_text=True)
    assert _school_token(app, world.a) in admin and _school_token(app, world.b) in admin
    head = client_for(world.head_a).get("/complaints/links").get_data(as_text=True)
    assert _school_token(app, world.a) in head
    assert _school_token(app, world.b) not in head and "SECRET-B" not in head


def test_viewer_reads_but_does_not_decide(app: Any, world: Any, client_for: Any) -> None:
    cid = _make(app, world.b, content="乙校宿舍投诉内容")
    viewer = client_for(world.viewer1)
    page = viewer.get(f"/complaints/{cid}").get_data(as_text=True)
    assert "乙校宿舍投诉内容" in page and "13800000000" in page
    assert "保存结论" not in page
    assert "筛选条件有误" in viewer.get("/complaints?month=2025-99").get_data(as_text=True)
    assert (
        viewer.post(
            f"/complaints/{cid}/verdict",
            data={"status": "verified", "note": "属实", "version": "1"},
        ).status_code
        == 403
    )
    assert viewer.get("/complaints/links").status_code == 403
    assert _complaints(app)[0].status == "new"
