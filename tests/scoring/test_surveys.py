"""Satisfaction surveys (民主评议): links, anonymous one-use answers, results, scoring input."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import inspect, select

from district.extensions import db
from scoring import surveys as ss
from scoring.engine import round2
from scoring.models import Survey, SurveyResponse, SurveyToken
from tenants.scope import Scope, unscoped, use_scope

TODAY = date(2025, 11, 12)


@pytest.fixture(autouse=True)
def _fixed_day(monkeypatch: Any) -> None:
    # Answers fall in November 2025 (autumn semester 2025: Sep–Jan).
    monkeypatch.setattr(ss, "local_today", lambda: TODAY)


def _open_survey(client: Any, **kw: Any) -> dict[str, Any]:
    body = {"title": "2025秋季民主评议", "school_year": 2025, "term": "autumn", **kw}
    resp = client.api("POST", "/api/v1/surveys", json=body)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _tokens(client: Any, survey_id: int, school_id: int, group: str, count: int) -> list[str]:
    resp = client.api(
        "POST",
        f"/api/v1/surveys/{survey_id}/tokens",
        json={"school_id": school_id, "group": group, "count": count},
    )
    assert resp.status_code == 201, resp.get_json()
    return [t["token"] for t in resp.get_json()]


def _answer(client: Any, token: str, answers: list[int], comment: str = "") -> Any:
    data = {f"q{i}": str(a) for i, a in enumerate(answers)}
    if comment:
        data["comment"] = comment
    return client.post(f"/s/{token}", data=data)


def _in_district(app: Any, district_id: int) -> Any:
    class _Ctx:
        def __enter__(self) -> None:
            self.app_ctx = app.app_context()
            self.app_ctx.push()
            self.scope = use_scope(Scope.for_district(district_id))
            self.scope.__enter__()

        def __exit__(self, *exc: Any) -> None:
            self.scope.__exit__(*exc)
            db.session.rollback()
            db.session.remove()
            self.app_ctx.pop()

    return _Ctx()


def _rows(app: Any, model: type) -> list[Any]:
    with app.app_context(), unscoped("tests: inspect rows"):
        rows = list(db.session.scalars(select(model).order_by(model.id)))
        for r in rows:
            db.session.expunge(r)
        return rows


# --- opening a survey and making links -------------------------------------------------


def test_admin_opens_survey_with_default_questions_once_per_semester(
    world: Any, client_for: Any
) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    assert survey["questions"] == list(ss.DEFAULT_QUESTIONS)
    assert len(survey["questions"]) == 6
    assert survey["status"] == "open"
    again = admin.api(
        "POST", "/api/v1/surveys", json={"title": "x", "school_year": 2025, "term": "autumn"}
    )
    assert again.status_code == 422
    assert "term" in again.get_json()["errors"]["json"]
    # school heads read, they do not open surveys
    assert (
        client_for(world.head_a)
        .api("POST", "/api/v1/surveys", json={"title": "x", "school_year": 2026, "term": "spring"})
        .status_code
        == 403
    )


def test_survey_created_from_the_page_with_edited_questions(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    page = admin.get("/surveys/new")
    assert page.status_code == 200 and ss.DEFAULT_QUESTIONS[0] in page.get_data(as_text=True)
    resp = admin.post(
        "/surveys/new",
        data={
            "title": "春季评议",
            "school_year": "2025",
            "term": "spring",
            "questions": "饭菜好吃吗？\n\n宿舍干净吗？\n",
        },
    )
    assert resp.status_code == 302
    (survey,) = _rows(world_app(admin), Survey)
    assert survey.questions == ["饭菜好吃吗？", "宿舍干净吗？"]
    assert (survey.school_year, survey.term) == (2025, "spring")
    bad = admin.post("/surveys/new", data={"title": "", "school_year": "2025", "term": "spring"})
    assert bad.status_code == 422


def world_app(client: Any) -> Any:
    return client.app


def test_token_links_generated_and_downloaded(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    resp = admin.api(
        "POST",
        f"/api/v1/surveys/{survey['id']}/tokens",
        json={"school_id": world.a.id, "group": "parent", "count": 3},
    )
    assert resp.status_code == 201
    links = resp.get_json()
    assert len(links) == 3 and {t["group"] for t in links} == {"parent"}
    assert all(t["url"] == f"http://localhost/s/{t['token']}" for t in links)
    assert len({t["token"] for t in links}) == 3
    _tokens(admin, survey["id"], world.a.id, "teacher", 2)

    xlsx = admin.get(f"/surveys/{survey['id']}/schools/{world.a.id}/links.xlsx")
    assert xlsx.status_code == 200
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("学校", "对象", "序号", "链接", "状态")
    assert len(rows) == 1 + 5
    assert {r[3] for r in rows[1:] if r[1] == "家长"} == {t["url"] for t in links}
    only_parents = admin.get(
        f"/surveys/{survey['id']}/schools/{world.a.id}/links.xlsx?group=parent"
    )
    assert len(list(load_workbook(io.BytesIO(only_parents.data)).active.iter_rows())) == 4

    printable = admin.get(f"/surveys/{survey['id']}/schools/{world.a.id}/links?group=parent")
    html = printable.get_data(as_text=True)
    assert printable.status_code == 200
    assert all(t["url"] in html for t in links)
    detail = admin.get(f"/surveys/{survey['id']}").get_data(as_text=True)
    assert "0/3" in detail and "0/2" in detail
    # a spent link drops off the printable sheet unless all=1 is asked for
    assert _answer(client_for(None), links[0]["token"], [5] * 6).status_code == 200
    base = f"/surveys/{survey['id']}/schools/{world.a.id}/links?group=parent"
    assert links[0]["url"] not in admin.get(base).get_data(as_text=True)
    assert links[0]["url"] in admin.get(base + "&all=1").get_data(as_text=True)
    assert (
        admin.get(f"/surveys/{survey['id']}/schools/{world.a.id}/links?group=x").status_code == 404
    )


def test_link_form_redirects_to_printable_links(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    resp = admin.post(
        f"/surveys/{survey['id']}/tokens",
        data={"school_id": world.b.id, "group": "student", "count": "4"},
    )
    assert resp.status_code == 302 and f"/schools/{world.b.id}/links" in resp.location
    assert len(_rows(admin.app, SurveyToken)) == 4
    too_many = admin.post(
        f"/surveys/{survey['id']}/tokens",
        data={"school_id": world.b.id, "group": "student", "count": "5000"},
    )
    assert too_many.status_code == 422
    assert len(_rows(admin.app, SurveyToken)) == 4


def test_school_head_makes_links_only_for_own_school(world: Any, client_for: Any) -> None:
    survey = _open_survey(client_for(world.admin1))
    head = client_for(world.head_a)
    assert len(_tokens(head, survey["id"], world.a.id, "parent", 2)) == 2
    foreign = head.api(
        "POST",
        f"/api/v1/surveys/{survey['id']}/tokens",
        json={"school_id": world.b.id, "group": "parent", "count": 2},
    )
    assert foreign.status_code == 404
    assert head.get(f"/surveys/{survey['id']}/schools/{world.b.id}/links").status_code == 404
    assert head.get(f"/surveys/{survey['id']}/schools/{world.b.id}/links.xlsx").status_code == 404
    assert head.get(f"/surveys/{survey['id']}/schools/{world.a.id}/links").status_code == 200
    assert {t.school_id for t in _rows(head.app, SurveyToken)} == {world.a.id}
    # the viewer reads results but does not hand out links
    assert (
        client_for(world.viewer1)
        .api(
            "POST",
            f"/api/v1/surveys/{survey['id']}/tokens",
            json={"school_id": world.a.id, "group": "parent", "count": 1},
        )
        .status_code
        == 403
    )


# --- answering ------------------------------------------------------------------------------


def test_answer_stored_once_and_second_use_refused(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    (token,) = _tokens(admin, survey["id"], world.a.id, "parent", 1)
    public = client_for(None)
    page = public.get(f"/s/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert ss.DEFAULT_QUESTIONS[0] in html and "甲校-SECRET-A" in html and "家长" in html
    assert html.count('type="radio"') == 6 * 5

    done = _answer(public, token, [5, 4, 4, 3, 5, 5], comment="食堂很干净")
    assert done.status_code == 200 and "感谢" in done.get_data(as_text=True)
    (response,) = _rows(admin.app, SurveyResponse)
    assert (response.school_id, response.group, response.survey_id) == (
        world.a.id,
        "parent",
        survey["id"],
    )
    assert response.answers == [5, 4, 4, 3, 5, 5]
    assert response.mean == Decimal("4.3333")
    assert response.comment == "食堂很干净"

    again = _answer(public, token, [1, 1, 1, 1, 1, 1])
    assert again.status_code == 410
    assert public.get(f"/s/{token}").status_code == 410
    assert len(_rows(admin.app, SurveyResponse)) == 1


def test_answers_are_anonymous(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    (token,) = _tokens(admin, survey["id"], world.a.id, "student", 1)
    assert _answer(client_for(None), token, [4] * 6).status_code == 200
    columns = {c.key for c in inspect(SurveyResponse).columns}
    assert not {c for c in columns if "token" in c}
    (response,) = _rows(admin.app, SurveyResponse)
    (tok,) = _rows(admin.app, SurveyToken)
    assert token not in str(vars(response))
    targets = {fk.column.table.name for fk in SurveyResponse.__table__.foreign_keys}
    assert "survey_tokens" not in targets
    # the day only, on the answer and on the spent token alike
    assert type(response.answered_on) is date and response.answered_on == TODAY
    assert tok.used_at == datetime(2025, 11, 12)


def test_unknown_token_gets_a_clear_404(world: Any, client_for: Any) -> None:
    resp = client_for(None).get("/s/not-a-real-token")
    assert resp.status_code == 404
    assert "找不到该答卷链接" in resp.get_data(as_text=True)


def test_incomplete_answer_is_refused_and_the_link_stays_usable(
    world: Any, client_for: Any
) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    (token,) = _tokens(admin, survey["id"], world.a.id, "parent", 1)
    public = client_for(None)
    resp = _answer(public, token, [5, 5, 5])
    assert resp.status_code == 422 and "请回答全部问题" in resp.get_data(as_text=True)
    out_of_range = public.post(f"/s/{token}", data={f"q{i}": "9" for i in range(6)})
    assert out_of_range.status_code == 422
    assert _rows(admin.app, SurveyResponse) == []
    assert _rows(admin.app, SurveyToken)[0].used_at is None
    assert _answer(public, token, [3] * 6).status_code == 200


def test_form_needs_csrf_but_json_is_accepted(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    first, second = _tokens(admin, survey["id"], world.a.id, "teacher", 2)
    public = client_for(None)
    forged = public.client.post(f"/s/{first}", data={f"q{i}": "5" for i in range(6)})
    assert forged.status_code == 400
    assert _rows(admin.app, SurveyResponse) == []
    ok = public.client.post(f"/s/{second}", json={"answers": [5, 5, 4, 4, 3, 3]})
    assert ok.status_code == 201 and ok.get_json()["ok"] is True
    bad = public.client.post(f"/s/{first}", json={"answers": [5]})
    assert bad.status_code == 422
    (response,) = _rows(admin.app, SurveyResponse)
    assert response.group == "teacher" and response.answers == [5, 5, 4, 4, 3, 3]


def test_rate_limit_triggers_429(world: Any, client_for: Any) -> None:
    public = client_for(None)
    codes = [
        public.client.post("/s/guessing", json={"answers": [5]}).status_code for _ in range(21)
    ]
    assert codes[:20] == [404] * 20
    assert codes[20] == 429


def test_closed_survey_refuses_answers_and_new_links(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    (token,) = _tokens(admin, survey["id"], world.a.id, "parent", 1)
    closed = admin.api("POST", f"/api/v1/surveys/{survey['id']}/close")
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    public = client_for(None)
    page = public.get(f"/s/{token}")
    assert page.status_code == 410 and "已经结束" in page.get_data(as_text=True)
    assert _answer(public, token, [5] * 6).status_code == 410
    assert _rows(admin.app, SurveyResponse) == []
    more = admin.api(
        "POST",
        f"/api/v1/surveys/{survey['id']}/tokens",
        json={"school_id": world.a.id, "group": "parent", "count": 1},
    )
    assert more.status_code == 422
    assert (
        client_for(world.head_a).api("POST", f"/api/v1/surveys/{survey['id']}/close").status_code
        == 403
    )


def test_token_only_reaches_its_own_school_and_survey(
    app: Any, world: Any, client_for: Any
) -> None:
    """The public page's link is its credential; it must reveal and change one school only."""
    admin1, admin2 = client_for(world.admin1), client_for(world.admin2)
    autumn = _open_survey(admin1, questions=["问题一？", "问题二？"])
    spring = _open_survey(admin1, term="spring", questions=["春季问题-SECRET-D1？"])
    other = _open_survey(admin2, title="二区评议-SECRET-C", questions=["二区问题-SECRET-C？"])
    (tok_a,) = _tokens(admin1, autumn["id"], world.a.id, "parent", 1)
    (tok_b,) = _tokens(admin1, autumn["id"], world.b.id, "parent", 1)
    (tok_c,) = _tokens(admin2, other["id"], world.c.id, "parent", 1)

    public = client_for(None)
    html = public.get(f"/s/{tok_a}").get_data(as_text=True)
    assert "甲校-SECRET-A" in html and "问题一？" in html
    for foreign in ("SECRET-B", "SECRET-C", "春季问题"):
        assert foreign not in html
    assert _answer(public, tok_a, [4, 5]).status_code == 200
    html_c = public.get(f"/s/{tok_c}").get_data(as_text=True)
    assert "丙校-SECRET-C" in html_c and "SECRET-A" not in html_c and "SECRET-B" not in html_c

    (response,) = _rows(app, SurveyResponse)
    assert (response.district_id, response.school_id, response.survey_id) == (
        world.d1.id,
        world.a.id,
        autumn["id"],
    )
    used = {t.token: t.used_at is not None for t in _rows(app, SurveyToken)}
    assert used == {tok_a: True, tok_b: False, tok_c: False}
    # a logged-in user of another district holding the link reaches the same school only
    assert client_for(world.admin2).get(f"/s/{tok_b}").status_code == 200
    assert spring["id"] != autumn["id"]
    with _in_district(app, world.d1.id):
        assert ss.group_means(world.b.id, 2025, "autumn") == {}
        assert ss.group_means(world.a.id, 2025, "spring") == {}
    with _in_district(app, world.d2.id):
        assert ss.group_means(world.a.id, 2025, "autumn") == {}


# --- satisfaction ---------------------------------------------------------------------------


def test_satisfaction_for_worked_case(app: Any, world: Any, client_for: Any) -> None:
    """Parents 4.2 and students 3.8 → (80 + 70) ÷ 2 = 75.00 (domain guide)."""
    admin = client_for(world.admin1)
    survey = _open_survey(admin, questions=["一？", "二？", "三？", "四？", "五？"])
    parents = _tokens(admin, survey["id"], world.a.id, "parent", 2)
    students = _tokens(admin, survey["id"], world.a.id, "student", 1)
    public = client_for(None)
    # parents: (4+4+4+4+5 + 5+4+4+4+4) / 10 = 4.2 ; students: (4+4+4+4+3) / 5 = 3.8
    assert _answer(public, parents[0], [4, 4, 4, 4, 5]).status_code == 200
    assert _answer(public, parents[1], [5, 4, 4, 4, 4]).status_code == 200
    assert _answer(public, students[0], [4, 4, 4, 4, 3]).status_code == 200

    with _in_district(app, world.d1.id):
        assert ss.group_means(world.a.id, 2025, "autumn") == {
            "parent": Decimal("4.2"),
            "student": Decimal("3.8"),
        }
        value = ss.satisfaction_for(world.a.id, 2025, "autumn")
        assert value == Decimal("75")
        assert round2(value) == Decimal("75.00")
        assert ss.satisfaction_for(world.b.id, 2025, "autumn") is None
        assert ss.satisfaction_for(world.a.id, 2024, "autumn") is None
        assert ss.satisfaction_for_schools([world.a.id, world.b.id], 2025, "autumn") == {
            world.a.id: Decimal("75"),
            world.b.id: None,
        }
        assert ss.satisfaction_for_month(world.a.id, 2026, 1) == Decimal("75")
        assert ss.satisfaction_for_month(world.a.id, 2026, 2) is None  # spring semester

    body = admin.api("GET", f"/api/v1/surveys/{survey['id']}/results").get_json()
    row = next(r for r in body["schools"] if r["school_id"] == world.a.id)
    assert row["satisfaction"] == "75.00"
    assert row["groups"]["parent"] == {"responses": 2, "mean": "4.20", "score": "80.00"}
    assert row["groups"]["student"] == {"responses": 1, "mean": "3.80", "score": "70.00"}
    assert row["groups"]["teacher"] == {"responses": 0, "mean": None, "score": None}


def test_satisfaction_is_exact_not_a_mean_of_rounded_means(
    app: Any, world: Any, client_for: Any
) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin, questions=["一？", "二？", "三？"])
    tokens = _tokens(admin, survey["id"], world.a.id, "teacher", 3)
    public = client_for(None)
    for answers in ([5, 5, 4], [4, 4, 4], [3, 5, 5]):  # 39 answers-points over 9 → 4.333…
        assert _answer(public, tokens.pop(), answers).status_code == 200
    with _in_district(app, world.d1.id):
        (mean,) = ss.group_means(world.a.id, 2025, "autumn").values()
        assert mean == Decimal(39) / Decimal(9)
        assert round2(ss.satisfaction_for(world.a.id, 2025, "autumn")) == Decimal("83.33")


def test_answer_requests_recompute_of_the_semester_so_far(
    app: Any, world: Any, client_for: Any
) -> None:
    from district.jobs import JobRecord

    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    (token,) = _tokens(admin, survey["id"], world.a.id, "parent", 1)
    assert _answer(client_for(None), token, [5] * 6).status_code == 200
    jobs = [j for j in _rows(app, JobRecord) if j.func == ss.RECOMPUTE_FUNC]
    assert len(jobs) == 1
    assert jobs[0].args == [
        world.d1.id,
        [[world.a.id, 2025, 9], [world.a.id, 2025, 10], [world.a.id, 2025, 11]],
    ]
    assert jobs[0].school_id == world.a.id


def test_recompute_requests_are_debounced_while_a_job_waits(app: Any, world: Any) -> None:
    with app.app_context(), use_scope(Scope.for_schools(world.d1.id, {world.a.id})):
        survey = Survey(title="t", school_year=2025, term="autumn", questions=["q"])
        with unscoped("tests: a district-level survey"):
            survey.district_id = world.d1.id
            db.session.add(survey)
            db.session.flush()
        first = ss.request_semester_recompute(world.a.id, survey, today=date(2025, 10, 3))
        second = ss.request_semester_recompute(world.a.id, survey, today=date(2025, 10, 20))
        later = ss.request_semester_recompute(world.a.id, survey, today=date(2025, 11, 2))
        before = ss.request_semester_recompute(world.a.id, survey, today=date(2025, 8, 30))
        assert second.id == first.id
        assert later.id != first.id and later.args[1][-1] == [world.a.id, 2025, 11]
        assert before is None  # nothing of the semester has happened yet
        db.session.rollback()


# --- results pages ---------------------------------------------------------------------------


def test_results_pages_district_sees_all_school_head_own(
    app: Any, world: Any, client_for: Any
) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin, questions=["一？"])
    (tok_a,) = _tokens(admin, survey["id"], world.a.id, "parent", 1)
    (tok_b,) = _tokens(admin, survey["id"], world.b.id, "student", 1)
    public = client_for(None)
    _answer(public, tok_a, [5], comment="甲校留言-SECRET-A")
    _answer(public, tok_b, [2], comment="乙校留言-SECRET-B")

    district = admin.get(f"/surveys/{survey['id']}/results").get_data(as_text=True)
    assert "甲校-SECRET-A" in district and "乙校-SECRET-B" in district
    assert "100.00" in district and "25.00" in district
    comments = admin.get(f"/surveys/{survey['id']}/results?school_id={world.b.id}")
    assert "乙校留言-SECRET-B" in comments.get_data(as_text=True)

    head = client_for(world.head_a)
    own = head.get(f"/surveys/{survey['id']}/results").get_data(as_text=True)
    assert "甲校-SECRET-A" in own and "甲校留言-SECRET-A" in own and "100.00" in own
    assert "SECRET-B" not in own and "25.00" not in own
    assert head.get(f"/surveys/{survey['id']}/results?school_id={world.b.id}").status_code == 404
    api = head.api("GET", f"/api/v1/surveys/{survey['id']}/results").get_json()
    assert [r["school_id"] for r in api["schools"]] == [world.a.id]
    detail = head.get(f"/surveys/{survey['id']}").get_data(as_text=True)
    assert "SECRET-B" not in detail and "生成答卷链接" in detail
    assert client_for(world.admin2).get(f"/surveys/{survey['id']}/results").status_code == 404
    assert client_for(world.inspector1).get("/surveys").status_code == 403


def test_survey_pages_render(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    survey = _open_survey(admin)
    index = admin.get("/surveys").get_data(as_text=True)
    assert "2025秋季民主评议" in index and "2025-2026学年秋季学期" in index
    detail = admin.get(f"/surveys/{survey['id']}")
    assert detail.status_code == 200 and "结束评议" in detail.get_data(as_text=True)
    closed = admin.post(f"/surveys/{survey['id']}/close")
    assert closed.status_code == 302
    assert "已结束" in admin.get(f"/surveys/{survey['id']}").get_data(as_text=True)
    assert client_for(world.admin2).get(f"/surveys/{survey['id']}").status_code == 404
    listing = admin.api("GET", "/api/v1/surveys").get_json()
    assert [s["id"] for s in listing] == [survey["id"]]
    assert re.search(r"2025-2026学年秋季学期", listing[0]["semester"])


def test_a_token_spent_meanwhile_is_not_spent_twice(app: Any, world: Any, client_for: Any) -> None:
    """Two submissions racing with one link both pass the "unused?" check; the conditional
    UPDATE lets exactly one of them store an answer."""
    admin = client_for(world.admin1)
    survey = _open_survey(admin, questions=["一？"])
    (token,) = _tokens(admin, survey["id"], world.a.id, "parent", 1)
    with app.app_context(), use_scope(Scope.for_schools(world.d1.id, {world.a.id})):
        tok = db.session.scalar(select(SurveyToken).where(SurveyToken.token == token))
        srv = db.session.get(Survey, survey["id"])
        ss.submit_answer(tok, srv, {"answers": [5]})
        assert tok.used_at is None  # the racing request's copy still looks unused
        with pytest.raises(ss.TokenGone):
            ss.submit_answer(tok, srv, {"answers": [1]})
        db.session.commit()
    assert [r.answers for r in _rows(app, SurveyResponse)] == [[5]]


def test_answers_reach_the_stored_results(
    app: Any, world: Any, client_for: Any, drain_jobs: Any
) -> None:
    from scoring.models import SchoolMonthResult
    from scoring.rubrics import ensure_default_rubrics

    with app.app_context(), use_scope(Scope.for_district(world.d1.id)):
        ensure_default_rubrics()
        db.session.commit()
    admin = client_for(world.admin1)
    survey = _open_survey(admin, questions=["一？", "二？"])
    first, second = _tokens(admin, survey["id"], world.a.id, "parent", 2)
    assert _answer(client_for(None), first, [5, 4]).status_code == 200
    assert _answer(client_for(None), second, [4, 3]).status_code == 200
    drain_jobs()
    rows = [
        r
        for r in _rows(app, SchoolMonthResult)
        if r.school_id == world.a.id and r.programme == "overall"
    ]
    assert {(r.year, r.month) for r in rows} == {(2025, 9), (2025, 10), (2025, 11)}
    assert {r.satisfaction for r in rows} == {Decimal("75.00")}


def test_survey_form_shows_which_question_is_wrong(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    resp = admin.post(
        "/surveys/new",
        data={"title": "评议", "school_year": "2025", "term": "autumn", "questions": "好吗？\n?"},
    )
    assert resp.status_code == 422
    assert "第 2 题" in resp.get_data(as_text=True)
    dup = admin.post(
        "/surveys/new",
        data={
            "title": "评议",
            "school_year": "2025",
            "term": "autumn",
            "questions": "好吗？\n好吗？",
        },
    )
    assert dup.status_code == 422 and "问题不能重复" in dup.get_data(as_text=True)
    assert _rows(admin.app, Survey) == []
