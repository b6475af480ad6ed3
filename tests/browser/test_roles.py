"""An inspector on a phone and a school head in a real browser, on the demo district."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

NO_HORIZONTAL_SCROLL = "document.body.scrollWidth <= window.innerWidth + 1"


def _body_widths(page: Any) -> dict[str, int]:
    return page.evaluate(
        "({body: document.body.scrollWidth, doc: document.documentElement.scrollWidth,"
        " inner: window.innerWidth})"
    )


@pytest.mark.browser
def test_inspector_sees_their_zone_and_the_visit_form_fits_a_phone(
    open_session: Any, live_server: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    facts = live_server.facts
    inspector = open_session("yl_inspector1", phone=True)
    page = inspector.page
    assert page.viewport_size == {"width": 390, "height": 844}

    # 我的片区: exactly the schools of their zone, those due a visit this month first.
    response = inspector.goto("/zone")
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_contain_text(facts.inspector_zone)
    names = [n.strip() for n in page.locator("#zone-table tbody td:first-child").all_inner_texts()]
    assert sorted(names) == sorted(facts.inspector_schools)
    others = set(facts.school_names) - set(facts.inspector_schools)
    assert not others & set(names)
    due = page.locator("#zone-table tbody tr", has=page.locator(".tag.warn", has_text="待督查"))
    assert due.count() >= 1
    due_flags = [
        "待督查" in t for t in page.locator("#zone-table tbody td:nth-child(4)").all_inner_texts()
    ]
    assert due_flags == sorted(due_flags, reverse=True), "schools due a visit come first"
    assert page.evaluate(NO_HORIZONTAL_SCROLL), _body_widths(page)
    school = due.first.locator("td:first-child").inner_text().strip()

    # New visit: pick a school of the zone, then the scoring form, sized for the phone.
    inspector.goto("/visits/new")
    expect(page.locator("h1")).to_have_text("新建督查")
    picks = page.locator("ul.pick li a")
    assert picks.count() == len(facts.inspector_schools)
    assert page.evaluate(NO_HORIZONTAL_SCROLL), _body_widths(page)
    picks.filter(has_text=school).first.click()
    form = page.locator("#visit-form")
    expect(form).to_be_visible()
    expect(page.locator("h1")).to_contain_text(school)
    expect(form.locator("details.prog").first).to_be_visible()
    assert form.locator("details.prog").count() >= 3  # canteen, store, greening (+ dorms)
    points = form.locator("input.js-points").first
    expect(points).to_be_visible()
    box = points.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    widths = _body_widths(page)
    assert page.evaluate(NO_HORIZONTAL_SCROLL), f"the visit form scrolls sideways: {widths}"
    page.screenshot(path=str(artifacts / "visit-form-phone.png"), full_page=True)
    assert not inspector.errors, inspector.errors


@pytest.mark.browser
def test_school_head_sees_own_school_in_chinese_and_no_district_dashboard(
    open_session: Any, live_server: Any
) -> None:
    from playwright.sync_api import expect

    facts = live_server.facts
    head = open_session("yl_head001")
    page = head.page
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.locator("h1")).to_have_text(facts.head_school)
    expect(page.locator("dl.facts")).to_contain_text("学段")
    expect(page.locator(".topbar .who")).to_contain_text("校长")
    expect(page.get_by_role("link", name="本校成绩与排名")).to_be_visible()
    assert not page.locator(".topbar nav a", has_text="看板").count()

    page.get_by_role("link", name="本校成绩与排名").click()
    page.wait_for_url("**/my-school")
    expect(page.locator("h1")).to_contain_text(facts.head_school)
    tiles = page.locator(".tiles .tile")
    assert tiles.count() >= 3
    expect(page.locator("#school-score")).to_have_text(re.compile(r"^\s*\d{1,3}\.\d{2}\s*$"))
    rank = page.locator("#school-rank").inner_text().strip()
    mine, total = (int(x) for x in rank.split("/"))
    assert 1 <= mine <= total <= len(facts.school_names) and total >= 2
    expect(page.locator('[data-figure="fig-hist"] .main-svg').first).to_be_attached()
    expect(page.locator('[data-figure="fig-hist"] g.barlayer .trace').first).to_be_attached()
    expect(page.locator('[data-figure="fig-trend"] .main-svg').first).to_be_attached()
    # The distribution is anonymous: no other school's name anywhere on the page.
    text = page.locator("body").inner_text()
    leaked = [n for n in facts.school_names if n != facts.head_school and n in text]
    assert not leaked, leaked
    assert not head.errors, head.errors

    response = head.goto("/dashboard")
    assert response is not None and response.status == 403
    expect(page.locator("body")).to_contain_text("403")
