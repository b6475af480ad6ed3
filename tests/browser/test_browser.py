"""The district admin in a real browser: dashboard charts, the 公示 workflow, the bulletin."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import pdf_pages, saved, xlsx_rows, xlsx_text

CHECKSUM = re.compile(r"\b[0-9a-f]{64}\b")


@pytest.mark.browser
def test_dashboard_draws_plotly_charts_toggles_tables_and_exports_excel(
    open_session: Any, artifacts: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    admin = open_session("yl_admin")
    page = admin.page
    response = admin.goto("/dashboard")
    assert response is not None and response.status == 200
    expect(page.locator("h1")).to_contain_text("区教育局后勤督导看板")

    # plotly.js comes from the app itself (no CDN) and drew an SVG for every panel that
    # has a figure: the league bar, the trend lines and the others.
    assert page.evaluate("typeof Plotly") == "object"
    charts = page.locator(".chart[data-figure]")
    expect(page.locator("#panel-league .chart .main-svg").first).to_be_attached()
    expect(page.locator("#panel-trends .chart .main-svg").first).to_be_attached()
    expect(page.locator("#panel-league .chart g.barlayer .trace").first).to_be_attached()
    expect(page.locator("#panel-trends .chart g.scatterlayer path.js-line").first).to_be_attached()
    assert charts.count() >= 5, "the dashboard should show several chart panels"
    expect(page.locator(".chart[data-figure]:not(:has(.main-svg))")).to_have_count(0)
    drawn = page.locator(".chart .main-svg")
    assert drawn.count() >= charts.count()
    assert not admin.errors, admin.errors

    # Every chart has its data as a table behind a toggle.
    table = page.locator("#table-league")
    toggle = page.locator('#panel-league [data-toggle-table="table-league"]')
    expect(table).to_be_hidden()
    toggle.click()
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    assert rows.count() >= 10
    header = [t.strip() for t in table.locator("thead th").all_inner_texts()]
    assert header[:4] == ["排名", "类别内排名", "代码", "学校"]
    # The table sorts in the browser: the 代码 column, ascending then descending.
    page.locator("#table-league thead th", has_text="代码").click()
    codes = [c.strip() for c in table.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert codes == sorted(codes)
    page.locator("#table-league thead th", has_text="代码").click()
    codes = [c.strip() for c in table.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert codes == sorted(codes, reverse=True)
    toggle.click()
    expect(table).to_be_hidden()

    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

    # Download the league table as Excel: a real workbook with the table's header.
    with page.expect_download() as info:
        page.locator("#panel-league a", has_text="下载 Excel").click()
    path = saved(info.value, tmp_path)
    assert path.suffix == ".xlsx"
    sheet = xlsx_rows(path)
    assert [str(c) for c in sheet[0][: len(header)]] == header
    assert len(sheet) - 1 == rows.count()


@pytest.mark.browser
def test_award_public_notice_from_draft_to_finalised_list_and_certificates(
    open_session: Any, live_server: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from dashboards.award_views import current_school_year

    # The last complete school year of the demo (the current one has only begun).
    school_year = current_school_year() - 1
    admin = open_session("yl_admin")
    page = admin.page
    admin.goto(f"/awards?school_year={school_year}")
    expect(page.locator("h1")).to_contain_text(f"{school_year}—{school_year + 1}")

    # The district's rules for the year.
    page.get_by_label("先进单位总名额").fill("16")
    page.get_by_label("至少督查次数").fill("2")
    page.get_by_role("button", name="保存规则").click()
    expect(page.locator(".flash.success")).to_contain_text("表彰规则已保存")
    expect(page.get_by_label("先进单位总名额")).to_have_value("16")

    # A draft from the current results: categories with their places, a reason per school.
    page.get_by_role("button", name="按当前成绩生成草稿名单").click()
    page.wait_for_url(re.compile(r"/awards/lists/\d+$"))
    list_url = page.url
    expect(page.locator("#list-status")).to_have_text("草稿")
    allocation = page.locator("section", has_text="名额分配").locator("tbody tr")
    assert allocation.count() >= 2
    categories = [c.strip() for c in allocation.locator("td:first-child").all_inner_texts()]
    assert {"小学", "初中"} <= set(categories), categories
    places = sum(int(p) for p in allocation.locator("td:nth-child(5)").all_inner_texts())
    entries = page.locator("#award-table tbody tr")
    assert entries.count() == len(live_server.facts.school_names)
    awarded = page.locator("#award-table tbody tr.awarded")
    assert awarded.count() == places <= 16
    reasons = entries.locator("td:nth-child(7)").all_inner_texts()
    assert all(r.strip() for r in reasons), "every school needs its explanation"
    if page.locator("#award-table .tag.warn").count():
        expect(page.locator("#award-table tbody tr", has_text="不符合条件").first).to_be_visible()

    page.get_by_role("button", name="发布公示").click()
    expect(page.locator("#list-status")).to_have_text("公示中")
    expect(page.locator(".flash").filter(has_text="公示期至")).to_be_visible()

    # A school head, in a browser of their own, sees the published list and objects.
    head = open_session("yl_head001")
    head.goto(f"/awards?school_year={school_year}")
    link = head.page.locator("table a", has_text=list_url.rsplit("/", 1)[1])
    expect(link).to_be_visible()
    link.click()
    expect(head.page.locator("#list-status")).to_have_text("公示中")
    expect(head.page.locator("h2", has_text="本校情况")).to_be_visible()
    objection = "浏览器测试：请核实本校督查次数的统计口径。"
    head.page.get_by_label("提出异议").fill(objection)
    head.page.get_by_role("button", name="提交异议").click()
    expect(head.page.locator(".flash.success")).to_contain_text("异议已提交")

    # The admin answers it, then finalises before the notice period is over (with a reason).
    admin.page.goto(list_url)
    row = page.locator("section", has_text="异议").locator("tr", has_text=objection)
    expect(row).to_be_visible()
    row.get_by_placeholder("处理意见").fill("已核实：督查次数按督查记录统计，名单不变。")
    row.get_by_role("button", name="答复").click()
    expect(page.locator(".flash.success")).to_contain_text("异议已处理")
    expect(page.locator("tr", has_text=objection)).to_contain_text("已处理")
    early = page.get_by_label("公示期未满，提前定稿的理由")
    if early.count():
        early.fill("浏览器测试：局务会已审定")
    page.locator("#finalise-list").click()
    expect(page.locator("#list-status")).to_have_text("已定稿")
    note = page.locator("#finalised-note")
    expect(note).to_contain_text("已定稿")
    expect(note).to_contain_text("校验通过")
    assert CHECKSUM.search(note.locator("code").inner_text())
    expect(page.locator("#finalise-list")).to_have_count(0)

    # The school head sees the finalised list with the same checksum.
    head.page.reload()
    expect(head.page.locator("#list-status")).to_have_text("已定稿")
    assert (
        head.page.locator("#finalised-note code").inner_text() == note.locator("code").inner_text()
    )

    with page.expect_download() as info:
        page.get_by_role("link", name="导出 Excel").click()
    text = xlsx_text(saved(info.value, tmp_path))
    assert "先进单位" in text and live_server.facts.school_names[0] in text
    if places:
        with page.expect_download() as info:
            page.locator("#certificates").click()
        assert pdf_pages(saved(info.value, tmp_path)) == places
    assert not admin.errors and not head.errors, admin.errors + head.errors


@pytest.mark.browser
def test_monthly_bulletin_generates_in_the_background_and_downloads(
    open_session: Any, live_server: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    year, month = live_server.facts.latest_month
    admin = open_session("yl_admin")
    page = admin.page
    admin.goto("/bulletins")
    expect(page.locator("h1")).to_have_text("每月督查通报")
    form = page.locator("form", has=page.locator("#generate-bulletin"))
    form.get_by_label("年").fill(str(year))
    form.get_by_label("月").fill(str(month))
    page.locator("#generate-bulletin").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("h1")).to_contain_text(f"{year}年{month}月")
    # Inline jobs have finished during the request; with RQ (REDIS_URL) the job waits in
    # its queue, we run it here, and the page's polling shows it finish.
    if live_server.app.config.get("REDIS_URL"):
        expect(page.locator("#job-result")).to_have_count(0)
        assert live_server.run_queued_jobs() >= 1
    result = page.locator("#job-result")
    expect(result).to_be_visible()
    expect(result).to_have_text("查看结果")
    expect(page.locator("#job-status")).to_have_text("已完成")
    expect(page.locator("#job-pct")).to_have_text("100%")

    result.click()
    page.wait_for_url(re.compile(r"/bulletins/\d+$"))
    expect(page.locator("#bulletin-title")).to_contain_text("督查通报")
    expect(page.locator("h2", has_text="片区督查情况")).to_be_visible()
    zones = page.locator("section", has_text="片区督查情况").locator("tbody tr")
    assert zones.count() >= 1

    with page.expect_download() as info:
        page.locator("#download-pdf").click()
    pdf = saved(info.value, tmp_path)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert pdf_pages(pdf) >= 1
    with page.expect_download() as info:
        page.locator("#download-xlsx").click()
    workbook = saved(info.value, tmp_path)
    assert workbook.suffix == ".xlsx"
    assert live_server.facts.inspector_zone.split("、")[0] in xlsx_text(workbook)
    assert not admin.errors, admin.errors
