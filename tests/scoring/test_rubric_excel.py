"""Rubric versions as Excel: export, import into a new draft, row-by-row errors."""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from scoring import rubric_excel
from scoring.models import RubricVersion
from scoring.rubric_data import PROGRAMMES, load_default_rubric
from tests.scoring.test_rubric_views import rows, seed


def _base(content: dict[str, Any]) -> dict[str, Any]:
    return {k: content[k] for k in ("programme", "name", "boarding_only")}


def _sheet(data: bytes) -> list[tuple[Any, ...]]:
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == [rubric_excel.SHEET]
    return list(wb[rubric_excel.SHEET].iter_rows(values_only=True))


def _rewrite(data: bytes, edits: dict[tuple[int, str], Any]) -> bytes:
    """Change cells, addressed by (worksheet row, column title)."""
    wb = load_workbook(io.BytesIO(data))
    ws = wb[rubric_excel.SHEET]
    header = [c.value for c in ws[1]]
    for (row, title), value in edits.items():
        ws.cell(row=row, column=header.index(title) + 1).value = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@pytest.mark.parametrize("programme", list(PROGRAMMES))
def test_round_trip_gives_identical_content(programme: str) -> None:
    content = load_default_rubric(programme)
    data = rubric_excel.export_workbook(content)
    table = _sheet(data)
    assert table[0] == rubric_excel.HEADER
    assert len(table) - 1 == sum(len(c["indicators"]) for c in content["categories"])
    result = rubric_excel.import_workbook(data, _base(content))
    assert result.errors == []
    assert result.content == content


def test_cells_are_readable() -> None:
    content = load_default_rubric("canteen")
    table = _sheet(rubric_excel.export_workbook(content))
    header = table[0]
    by_code = {r[header.index("指标编码")]: dict(zip(header, r, strict=True)) for r in table[1:]}
    b1 = by_code["B1"]
    assert (b1["类型"], b1["计分曲线"], b1["满分"]) == ("测量", "0.8:0;0.9:3;1:6", 6)
    assert b1["测量项"].startswith("持证上岗率")
    a3 = by_code["A3"]
    assert a3["类型"] == "检查项" and a3["检查项"].count(";") == 2 and a3["检查项"].endswith(":1")
    assert by_code["A1"]["四好维度"] == "保障好" and by_code["A1"]["适用寄宿制"] == "全部"


def test_formula_like_text_is_neutralised_and_restored() -> None:
    content = load_default_rubric("store")
    first = content["categories"][0]["indicators"][0]
    first["guidance"] = '=HYPERLINK("http://evil")'
    first["name"] = "@危险名称"
    data = rubric_excel.export_workbook(content)
    table = _sheet(data)
    assert table[1][rubric_excel.HEADER.index("评分说明")].startswith("'=")
    assert table[1][rubric_excel.HEADER.index("指标名称")] == "'@危险名称"
    result = rubric_excel.import_workbook(data, _base(content))
    assert result.content == content


def test_broken_rows_are_listed_and_nothing_is_returned() -> None:
    content = load_default_rubric("canteen")
    data = rubric_excel.export_workbook(content)
    broken = _rewrite(
        data,
        {
            (2, "满分"): "四分",
            (3, "类型"): "打分",
            (4, "指标名称"): None,
            (5, "检查项"): "没有分值的检查项",
            (6, "适用学段"): "大学",
            (7, "需证明材料"): "也许",
        },
    )
    result = rubric_excel.import_workbook(broken, _base(content))
    assert result.content is None and not result.ok
    by_row: dict[Any, str] = {}
    for _sheet_name, row, message in result.errors:
        by_row[row] = by_row.get(row, "") + message
    assert {2, 3, 4, 5, 6, 7} <= set(by_row)
    assert "不是数字" in by_row[2]
    assert "类型“打分”无效" in by_row[3]
    assert "指标名称不能为空" in by_row[4]
    assert "名称:分值" in by_row[5]
    assert "大学" in by_row[6]
    assert "只能填" in by_row[7]
    assert all(sheet == "指标" for sheet, _r, _m in result.errors)


def test_validator_messages_point_at_rows() -> None:
    content = load_default_rubric("canteen")
    data = rubric_excel.export_workbook(content)
    table = _sheet(data)
    codes = [r[rubric_excel.HEADER.index("指标编码")] for r in table]
    a3_row = codes.index("A3") + 1
    a1_row = codes.index("A1") + 1
    broken = _rewrite(
        data, {(a3_row, "满分"): 5, (a1_row + 1, "指标编码"): "A1", (a1_row, "类别名称"): "别名"}
    )
    result = rubric_excel.import_workbook(broken, _base(content))
    messages = {(row, message) for _s, row, message in result.errors}
    assert any(row == a1_row + 1 and "不一致" in m for row, m in messages)
    broken = _rewrite(data, {(a3_row, "满分"): 5, (a1_row + 1, "指标编码"): "A1"})
    result = rubric_excel.import_workbook(broken, _base(content))
    messages = {(row, message) for _s, row, message in result.errors}
    assert any(row == a3_row and "检查项分值合计" in m for row, m in messages)
    assert any(row == a1_row + 1 and "指标编码重复" in m for row, m in messages)
    assert any(row is None and "必须为 100" in m for row, m in messages)


def test_wrong_files_are_refused_clearly() -> None:
    base = _base(load_default_rubric("greening"))
    result = rubric_excel.import_workbook(b"not a workbook at all", base)
    assert not result.ok and "不是 Excel 工作簿" in result.errors[0][2]

    wb = Workbook()
    wb.active.title = "Sheet1"
    buf = io.BytesIO()
    wb.save(buf)
    result = rubric_excel.import_workbook(buf.getvalue(), base)
    assert "找不到工作表“指标”" in result.errors[0][2] and "Sheet1" in result.errors[0][2]

    wb = Workbook()
    ws = wb.active
    ws.title = "指标"
    ws.append(["类别编码", "指标编码", "满分"])
    ws.append(["A", "A1", 100])
    buf = io.BytesIO()
    wb.save(buf)
    result = rubric_excel.import_workbook(buf.getvalue(), base)
    assert result.errors[0][:2] == ("指标", 1)
    assert "缺少列" in result.errors[0][2] and "类别名称" in result.errors[0][2]

    wb = Workbook()
    wb.active.title = "指标"
    wb.active.append(list(rubric_excel.HEADER))
    buf = io.BytesIO()
    wb.save(buf)
    result = rubric_excel.import_workbook(buf.getvalue(), base)
    assert "没有任何指标行" in result.errors[0][2]


def test_hand_typed_variants_are_accepted() -> None:
    content = load_default_rubric("canteen")
    data = rubric_excel.export_workbook(content)
    table = _sheet(data)
    codes = [r[rubric_excel.HEADER.index("指标编码")] for r in table]
    b1, a3 = codes.index("B1") + 1, codes.index("A3") + 1
    variants = _rewrite(
        data,
        {
            (b1, "类型"): "measured",
            (b1, "测量项"): "health_cert_share",
            (b1, "满分"): "6",
            (2, "四好维度"): "conditions",
        },
    )
    result = rubric_excel.import_workbook(variants, _base(content))
    assert result.errors == [] and result.content == content
    items = table[a3 - 1][rubric_excel.HEADER.index("检查项")].replace(";", "\n")
    result = rubric_excel.import_workbook(_rewrite(data, {(a3, "检查项"): items}), _base(content))
    assert result.content == content


# --- through the API and the pages ---------------------------------------------------------


def test_api_export_import_round_trip(app: Any, world: Any, client_for: Any) -> None:
    canteen = seed(app, world.d1)["canteen"]
    c = client_for(world.admin1)
    v1 = c.get(f"/api/v1/rubrics/{canteen}").get_json()["versions"][0]
    resp = c.get(f"/api/v1/rubric-versions/{v1['id']}/export.xlsx")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in resp.headers["Content-Disposition"]
    exported = resp.data

    def upload(data: bytes, name: str = "细则.xlsx") -> Any:
        return c.api(
            "POST",
            f"/api/v1/rubrics/{canteen}/import",
            data={"file": (io.BytesIO(data), name)},
            content_type="multipart/form-data",
        )

    broken = _rewrite(exported, {(2, "满分"): "abc", (3, "四好维度"): "很好"})
    resp = upload(broken)
    assert resp.status_code == 422
    errors = resp.get_json()["errors"]["rows"]
    assert [(e["sheet"], e["row"]) for e in errors] == [("指标", 2), ("指标", 3)]
    assert "导入失败" in resp.get_json()["message"]
    assert upload(b"PK\x03\x04garbage").status_code == 422
    assert c.api("POST", f"/api/v1/rubrics/{canteen}/import", json={}).status_code == 422
    assert [v.number for v in rows(app, RubricVersion, RubricVersion.rubric_id == canteen)] == [1]

    resp = upload(exported)
    assert resp.status_code == 201, resp.get_json()
    draft = resp.get_json()
    assert draft["status"] == "draft" and draft["content"] == v1_content(c, v1["id"])
    assert upload(exported).status_code == 409  # one draft at a time
    from district.audit import AuditEntry

    assert rows(app, AuditEntry, AuditEntry.action == "rubric.import")


def v1_content(c: Any, version_id: int) -> dict[str, Any]:
    return c.get(f"/api/v1/rubric-versions/{version_id}").get_json()["content"]


def test_page_import(app: Any, world: Any, client_for: Any) -> None:
    canteen = seed(app, world.d1)["canteen"]
    c = client_for(world.admin1)
    v1 = c.get(f"/api/v1/rubrics/{canteen}").get_json()["versions"][0]
    exported = c.get(f"/rubric-versions/{v1['id']}/export.xlsx").data
    url = f"/rubrics/{canteen}/import"
    assert "指标" in c.get(url).get_data(as_text=True)

    changed = _rewrite(exported, {(2, "满分"): "x"})
    resp = c.post(
        url, {"file": (io.BytesIO(changed), "a.xlsx")}, content_type="multipart/form-data"
    )
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="import-errors"' in body and "不是数字" in body
    resp = c.post(url, {}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "请选择" in resp.get_data(as_text=True)
    assert len(rows(app, RubricVersion, RubricVersion.rubric_id == canteen)) == 1

    renamed = copy.deepcopy(v1_content(c, v1["id"]))
    renamed["categories"][0]["indicators"][0]["name"] = "从 Excel 改名"
    data = rubric_excel.export_workbook(renamed)
    resp = c.post(url, {"file": (io.BytesIO(data), "b.xlsx")}, content_type="multipart/form-data")
    assert resp.status_code == 302
    draft = next(
        v for v in rows(app, RubricVersion, RubricVersion.rubric_id == canteen) if v.number == 2
    )
    assert draft.status == "draft" and draft.content == renamed
    resp = c.post(url, {"file": (io.BytesIO(data), "b.xlsx")}, content_type="multipart/form-data")
    assert resp.status_code == 409
    assert c.get(f"/rubrics/{canteen}/import").status_code == 200


def test_viewer_cannot_import(app: Any, world: Any, client_for: Any) -> None:
    canteen = seed(app, world.d1)["canteen"]
    data = rubric_excel.export_workbook(load_default_rubric("canteen"))
    viewer = client_for(world.viewer1)
    resp = viewer.api(
        "POST",
        f"/api/v1/rubrics/{canteen}/import",
        data={"file": (io.BytesIO(data), "a.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 403
    assert viewer.get(f"/rubrics/{canteen}/import").status_code == 403
    assert len(rows(app, RubricVersion, RubricVersion.rubric_id == canteen)) == 1
