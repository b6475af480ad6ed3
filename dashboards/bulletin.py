"""每月督查通报 (monthly inspection bulletin): data, Excel and PDF.

The data is gathered once (a fixed number of grouped queries) into a plain dict;
the web page, the workbook and the PDF are all drawn from that same dict, so the
three always agree. The PDF uses a Debian CJK font (fonts-wqy-zenhei, installed
by scripts/install-system-deps.sh) through reportlab.
"""

from __future__ import annotations

import io
import os
from datetime import date
from typing import Any

from sqlalchemy import and_, func, select

from dashboards import queries
from dashboards.queries import Filters
from district.extensions import db
from scoring.models import Complaint, Finding, SchoolMonthResult, SelfAssessment, SiteVisit
from scoring.rubric_data import PROGRAMMES
from tenants.models import District, School, Zone

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)


class FontMissing(RuntimeError):
    """No CJK font: PDFs would print empty boxes, so we refuse with a clear message."""


def _month_label(year: int, month: int) -> str:
    return f"{year}年{month}月"


def gather(
    year: int, month: int, *, today: date | None = None, progress: Any = None
) -> dict[str, Any]:
    """Everything the bulletin shows, as JSON-able data, for the current district."""
    today = today or date.today()
    step = progress or (lambda *_a, **_k: None)
    f = Filters(year=year, month=month)
    district = db.session.scalar(select(District))
    step(10, "汇总自评提交情况")
    schools = db.session.execute(
        select(School.id, School.name, School.boarding, Zone.name).outerjoin(
            Zone, Zone.id == School.zone_id
        )
    ).all()
    statuses = db.session.execute(
        select(
            SelfAssessment.school_id,
            SelfAssessment.programme,
            SelfAssessment.status,
            SelfAssessment.late,
        ).where(SelfAssessment.year == year, SelfAssessment.month == month)
    ).all()
    submitted = {
        (s, p): late
        for s, p, st, late in statuses
        if st in (SelfAssessment.SUBMITTED, SelfAssessment.LOCKED)
    }
    missing = []
    on_time = late = 0
    for sid, name, boarding, zone in schools:
        for programme in PROGRAMMES:
            if programme == "dormitory" and not boarding:
                continue
            if (sid, programme) in submitted:
                if submitted[(sid, programme)]:
                    late += 1
                else:
                    on_time += 1
            else:
                missing.append(
                    {"school": name, "zone": zone or "", "programme": PROGRAMMES[programme]}
                )
    step(30, "汇总片区督查")
    visits = db.session.execute(
        select(Zone.name, func.count(SiteVisit.id), func.count(func.distinct(SiteVisit.school_id)))
        .join(School, School.zone_id == Zone.id)
        .outerjoin(
            SiteVisit,
            and_(
                SiteVisit.school_id == School.id, SiteVisit.year == year, SiteVisit.month == month
            ),
        )
        .group_by(Zone.name)
        .order_by(Zone.name)
    ).all()
    zone_sizes = dict(
        db.session.execute(
            select(Zone.name, func.count(School.id))
            .join(School, School.zone_id == Zone.id)
            .group_by(Zone.name)
        ).all()
    )
    zone_rows = [
        {
            "zone": z,
            "visits": int(n),
            "schools_visited": int(s),
            "schools": int(zone_sizes.get(z, 0)),
            "covered": int(n) > 0,
        }
        for z, n, s in visits
    ]
    step(50, "排出各项目最好和较弱的学校")
    results = db.session.execute(
        select(
            SchoolMonthResult.programme,
            School.name,
            SchoolMonthResult.score,
            SchoolMonthResult.stars,
        )
        .join(School, School.id == SchoolMonthResult.school_id)
        .where(SchoolMonthResult.year == year, SchoolMonthResult.month == month)
    ).all()
    by_programme: dict[str, list[tuple[str, float, int]]] = {}
    for programme, name, score, stars in results:
        by_programme.setdefault(programme, []).append((name, float(score), int(stars)))
    extremes = []
    for programme in ("overall", *PROGRAMMES):
        rows = sorted(by_programme.get(programme, []), key=lambda r: (-r[1], r[0]))
        if not rows:
            continue
        extremes.append(
            {
                "programme": "四个创建综合" if programme == "overall" else PROGRAMMES[programme],
                "best": [{"school": n, "score": s, "stars": st} for n, s, st in rows[:3]],
                "weakest": [{"school": n, "score": s, "stars": st} for n, s, st in rows[-3:][::-1]]
                if len(rows) > 3
                else [],
                "mean": round(sum(r[1] for r in rows) / len(rows), 2),
                "schools": len(rows),
            }
        )
    step(70, "列出逾期未整改问题")
    overdue = db.session.execute(
        select(School.name, Finding.description, Finding.deadline, Finding.status)
        .join(School, School.id == Finding.school_id)
        .where(Finding.status != Finding.CLOSED, Finding.deadline < today)
        .order_by(Finding.deadline, School.name)
    ).all()
    overdue_rows = [
        {
            "school": n,
            "description": d,
            "deadline": dl.isoformat(),
            "days": (today - dl).days,
            "status": st,
        }
        for n, d, dl, st in overdue
    ]
    step(85, "汇总投诉")
    complaints = db.session.execute(
        select(Complaint.status, func.count(Complaint.id))
        .where(Complaint.year == year, Complaint.month == month)
        .group_by(Complaint.status)
    ).all()
    complaint_counts = {s: int(n) for s, n in complaints}
    verified_by_school = db.session.execute(
        select(School.name, func.count(Complaint.id))
        .join(School, School.id == Complaint.school_id)
        .where(
            Complaint.year == year, Complaint.month == month, Complaint.status == Complaint.VERIFIED
        )
        .group_by(School.name)
        .order_by(func.count(Complaint.id).desc(), School.name)
    ).all()
    league = queries.league_table(f)
    return {
        "district": district.name if district else "",
        "year": year,
        "month": month,
        "title": f"{district.name if district else ''}{_month_label(year, month)}学校后勤督查通报",
        "generated_on": today.isoformat(),
        "compliance": {
            "on_time": on_time,
            "late": late,
            "missing": len(missing),
            "expected": on_time + late + len(missing),
            "missing_list": missing,
        },
        "zones": zone_rows,
        "extremes": extremes,
        "overdue": overdue_rows,
        "complaints": {
            "new": complaint_counts.get(Complaint.NEW, 0),
            "verified": complaint_counts.get(Complaint.VERIFIED, 0),
            "unfounded": complaint_counts.get(Complaint.UNFOUNDED, 0),
            "verified_by_school": [{"school": n, "count": int(c)} for n, c in verified_by_school],
        },
        "league": [
            {
                "rank": r["rank"],
                "school": r["name"],
                "zone": r["zone"] or "",
                "level": r["level"],
                "score": r["score"],
                "stars": r["stars"],
            }
            for r in league
        ],
    }


# --- Excel --------------------------------------------------------------------------


def render_xlsx(data: dict[str, Any]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    from district.exports import safe_row, workbook_response_bytes

    wb = Workbook()
    ws = wb.active
    ws.title = "概况"
    c = data["compliance"]
    ws.append([data["title"]])
    ws.append(["自评按时提交", c["on_time"]])
    ws.append(["自评逾期提交", c["late"]])
    ws.append(["自评未提交", c["missing"]])
    ws.append(["应提交", c["expected"]])
    ws.append(["查实投诉", data["complaints"]["verified"]])
    ws.append(["逾期未整改问题", len(data["overdue"])])

    wz = wb.create_sheet("片区督查")
    wz.append(["片区", "督查次数", "督查学校数", "学校总数", "本月已督查"])
    for z in data["zones"]:
        wz.append(
            safe_row(
                [
                    z["zone"],
                    z["visits"],
                    z["schools_visited"],
                    z["schools"],
                    "是" if z["covered"] else "否",
                ]
            )
        )
    if data["zones"]:
        chart = BarChart()
        chart.title = "各片区督查次数"
        chart.add_data(
            Reference(wz, min_col=2, min_row=1, max_row=len(data["zones"]) + 1),
            titles_from_data=True,
        )
        chart.set_categories(Reference(wz, min_col=1, min_row=2, max_row=len(data["zones"]) + 1))
        wz.add_chart(chart, "G2")

    we = wb.create_sheet("好与弱")
    we.append(["项目", "类型", "学校", "得分", "星级"])
    for e in data["extremes"]:
        for r in e["best"]:
            we.append(safe_row([e["programme"], "最好", r["school"], r["score"], "★" * r["stars"]]))
        for r in e["weakest"]:
            we.append(safe_row([e["programme"], "较弱", r["school"], r["score"], "★" * r["stars"]]))

    wl = wb.create_sheet("综合排名")
    wl.append(["名次", "学校", "片区", "学段", "综合得分", "星级"])
    for r in data["league"]:
        wl.append(
            safe_row(
                [
                    r["rank"],
                    r["school"],
                    r["zone"],
                    r["level"],
                    r["score"],
                    "★" * int(r["stars"] or 0),
                ]
            )
        )

    wo = wb.create_sheet("逾期整改")
    wo.append(["学校", "问题", "整改期限", "逾期天数", "状态"])
    for r in data["overdue"]:
        wo.append(safe_row([r["school"], r["description"], r["deadline"], r["days"], r["status"]]))

    wm = wb.create_sheet("未提交自评")
    wm.append(["学校", "片区", "项目"])
    for r in data["compliance"]["missing_list"]:
        wm.append(safe_row([r["school"], r["zone"], r["programme"]]))

    wc = wb.create_sheet("投诉")
    wc.append(["待处理", "查实", "不实"])
    wc.append(
        [data["complaints"]["new"], data["complaints"]["verified"], data["complaints"]["unfounded"]]
    )
    wc.append([])
    wc.append(["学校", "查实投诉数"])
    for r in data["complaints"]["verified_by_school"]:
        wc.append(safe_row([r["school"], r["count"]]))
    return workbook_response_bytes(wb)


# --- PDF ----------------------------------------------------------------------------


def cjk_font_path() -> str:
    configured = os.environ.get("CJK_FONT_PATH")
    for path in ((configured,) if configured else ()) + FONT_CANDIDATES:
        if path and os.path.exists(path):
            return path
    raise FontMissing("未找到中文字体（fonts-wqy-zenhei）：请先运行 scripts/install-system-deps.sh")


def _register_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    name = "CJK"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, cjk_font_path(), subfontIndex=0))
    return name


def _bar_chart(labels: list[str], values: list[float], font: str, title: str) -> Any:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib import colors

    drawing = Drawing(460, 200)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 30, 400, 140
    chart.data = [values or [0]]
    chart.categoryAxis.categoryNames = labels or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = font
    chart.bars[0].fillColor = colors.HexColor("#1f6f50")
    drawing.add(chart)
    drawing.add(String(230, 185, title, fontName=font, fontSize=10, textAnchor="middle"))
    return drawing


def render_pdf(data: dict[str, Any]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _register_font()
    title = ParagraphStyle("t", fontName=font, fontSize=16, leading=22, alignment=1, spaceAfter=8)
    h2 = ParagraphStyle("h2", fontName=font, fontSize=12, leading=18, spaceBefore=10, spaceAfter=4)
    body = ParagraphStyle("b", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK")

    def table(rows: list[list[Any]], widths: list[float] | None = None) -> Table:
        cells = [[Paragraph("" if v is None else str(v), body) for v in row] for row in rows]
        t = Table(cells, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#c8cfc8")),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f3ee")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    story: list[Any] = [Paragraph(data["title"], title)]
    c = data["compliance"]
    story.append(
        Paragraph(
            f"本月应提交自评 {c['expected']} 份，按时 {c['on_time']} 份，逾期 {c['late']} 份，未提交 {c['missing']} 份；"
            f"查实投诉 {data['complaints']['verified']} 件；逾期未整改问题 {len(data['overdue'])} 个。",
            body,
        )
    )
    story.append(Paragraph("一、片区督查情况", h2))
    story.append(
        table(
            [["片区", "督查次数", "督查学校数", "学校总数", "本月已督查"]]
            + [
                [
                    z["zone"],
                    z["visits"],
                    z["schools_visited"],
                    z["schools"],
                    "是" if z["covered"] else "否（需补督查）",
                ]
                for z in data["zones"]
            ]
        )
    )
    story.append(
        _bar_chart(
            [z["zone"] for z in data["zones"]],
            [z["visits"] for z in data["zones"]],
            font,
            "各片区督查次数",
        )
    )
    story.append(Paragraph("二、各项目最好与较弱的学校", h2))
    rows = [["项目", "最好", "较弱", "平均分"]]
    for e in data["extremes"]:
        rows.append(
            [
                e["programme"],
                "、".join(f"{r['school']}（{r['score']:.2f}）" for r in e["best"]),
                "、".join(f"{r['school']}（{r['score']:.2f}）" for r in e["weakest"]) or "—",
                f"{e['mean']:.2f}",
            ]
        )
    story.append(table(rows, [28 * mm, 62 * mm, 62 * mm, 20 * mm]))
    story.append(Paragraph("三、自评提交情况", h2))
    story.append(
        _bar_chart(
            ["按时", "逾期", "未提交"], [c["on_time"], c["late"], c["missing"]], font, "自评提交"
        )
    )
    if c["missing_list"]:
        story.append(
            table(
                [["学校", "片区", "未提交项目"]]
                + [[m["school"], m["zone"], m["programme"]] for m in c["missing_list"][:80]]
            )
        )
    story.append(Paragraph("四、逾期未整改问题", h2))
    if data["overdue"]:
        story.append(
            table(
                [["学校", "问题", "整改期限", "逾期天数"]]
                + [
                    [r["school"], r["description"], r["deadline"], r["days"]]
                    for r in data["overdue"]
                ],
                [40 * mm, 80 * mm, 28 * mm, 22 * mm],
            )
        )
    else:
        story.append(Paragraph("无。", body))
    story.append(Paragraph("五、投诉处理情况", h2))
    cc = data["complaints"]
    story.append(
        Paragraph(
            f"本月收到投诉：待处理 {cc['new']} 件，查实 {cc['verified']} 件，不实 {cc['unfounded']} 件。",
            body,
        )
    )
    if cc["verified_by_school"]:
        story.append(
            table(
                [["学校", "查实投诉数"]]
                + [[r["school"], r["count"]] for r in cc["verified_by_school"]]
            )
        )
    story.append(Spacer(1, 10))
    story.append(Paragraph(f"{data['district']}　{data['generated_on']}", body))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=data["title"],
    )
    doc.build(story)
    return buf.getvalue()


def render_certificates(names: list[tuple[str, str]], title: str, issuer: str, when: str) -> bytes:
    """Award certificates (奖状), one page per unit or person: (name, honour) pairs."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen import canvas

    font = _register_font()
    buf = io.BytesIO()
    width, height = landscape(A4)
    pdf = canvas.Canvas(buf, pagesize=(width, height))
    pdf.setTitle(title)
    for name, honour in names:
        pdf.setStrokeColor(colors.HexColor("#b42318"))
        pdf.setLineWidth(6)
        pdf.rect(24, 24, width - 48, height - 48)
        pdf.setFillColor(colors.HexColor("#b42318"))
        pdf.setFont(font, 48)
        pdf.drawCentredString(width / 2, height - 130, "荣 誉 证 书")
        pdf.setFillColor(colors.black)
        pdf.setFont(font, 30)
        pdf.drawCentredString(width / 2, height / 2 + 20, name)
        pdf.setFont(font, 20)
        pdf.drawCentredString(width / 2, height / 2 - 40, f"被评为 {honour}")
        pdf.setFont(font, 14)
        pdf.drawCentredString(width / 2, height / 2 - 80, title)
        pdf.drawRightString(width - 90, 110, issuer)
        pdf.drawRightString(width - 90, 85, when)
        pdf.showPage()
    pdf.save()
    return buf.getvalue()
