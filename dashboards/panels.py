"""Dashboard panels: each chart with the same data as a table and a download.

A panel is a figure (plotly JSON), column headers and rows; the page draws the
figure, shows the table behind a toggle, and offers the rows as Excel. Titles, headers,
notes and flags are translated when the panel is built (the cache keys on the locale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _

from dashboards import figures, queries
from dashboards.figures import PROGRAMME_NAMES
from dashboards.queries import Filters


@dataclass
class Panel:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    figure: dict[str, Any] | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "figure": self.figure,
            "note": self.note,
        }


def _stars(n: int | None) -> str:
    return "★" * int(n or 0)


def league(f: Filters) -> Panel:
    rows = queries.league_table(f)
    programmes = list(queries.PROGRAMME_ORDER)
    table = []
    for r in rows:
        line = [
            r["rank"],
            r["category_rank"],
            r["code"],
            r["name"],
            r["zone"] or "",
            r["level"],
            _("是") if r["boarding"] else _("否"),
        ]
        for p in programmes:
            cell = r["programmes"].get(p)
            line.append(None if cell is None else cell["score"])
        flags = []
        if r["unverified"]:
            flags.append(_("未核实"))
        if r["inflated"]:
            flags.append(_("自评虚高"))
        if r["veto"]:
            flags.append(_("一票否决"))
        line += [r["score"], _stars(r["stars"]), _("、").join(flags)]
        table.append(line)
    return Panel(
        key="league",
        title=_("学校排行榜"),
        columns=[
            _("排名"),
            _("类别内排名"),
            _("代码"),
            _("学校"),
            _("片区"),
            _("学段"),
            _("寄宿制"),
        ]
        + [_(PROGRAMME_NAMES[p]) for p in programmes]
        + [_("综合"), _("星级"), _("标记")],
        rows=table,
        figure=figures.league_bar(rows),
        note=_("排名为并列排名（1-2-2-4），按综合得分；类别内排名按学段。"),
    )


def trends(f: Filters) -> Panel:
    series = queries.trends(f)
    months = sorted({m for pts in series.values() for m, _ in pts})
    cols = [c for c in PROGRAMME_NAMES if c in series]
    lookup = {(c, m): v for c in cols for m, v in series[c]}
    return Panel(
        key="trends",
        title=_("月度趋势"),
        columns=[_("月份")] + [_(PROGRAMME_NAMES[c]) for c in cols],
        rows=[[m] + [lookup.get((c, m)) for c in cols] for m in months],
        figure=figures.trend_lines(series),
    )


def heatmap(f: Filters, programme: str) -> Panel:
    cells = queries.heatmap(f, programme)
    rows = [[ind] + row for ind, row in zip(cells["indicators"], cells["z"], strict=True)]
    return Panel(
        key="heatmap",
        title=_(
            "薄弱指标热力图（%(programme)s）",
            programme=_(PROGRAMME_NAMES.get(programme, programme)),
        ),
        columns=[_("指标")] + cells["schools"],
        rows=rows,
        figure=figures.heatmap(cells, programme) if cells["schools"] else None,
        note=_("督查得分占该指标满分的百分比；空白表示本月未督查该指标。"),
        extra={"programme": programme},
    )


def radar(f: Filters, school_id: int | None, school_name: str | None) -> Panel:
    data = queries.dimension_radar(f, school_id)
    return Panel(
        key="radar",
        title=_("四好雷达图：%(school)s", school=school_name) if school_name else _("四好雷达图"),
        columns=[_("维度"), _("全区中位数"), school_name or _("学校")],
        rows=[
            [_(figures.DIMENSION_NAMES[d]), m, s]
            for d, m, s in zip(data["dimensions"], data["median"], data["school"], strict=True)
        ],
        figure=figures.radar(data, school_name),
    )


def scatter(f: Filters) -> Panel:
    points = queries.self_vs_inspector(f)
    return Panel(
        key="scatter",
        title=_("自评与督查对比"),
        columns=[_("学校"), _("自评"), _("督查"), _("差值"), _("自评虚高")],
        rows=[
            [p["school"], p["self"], p["inspector"], p["gap"], _("是") if p["inflated"] else ""]
            for p in points
        ],
        figure=figures.scatter(points),
        note=_("差值 = 自评 − 督查；超过 10 分标记为自评虚高。"),
    )


def compliance(f: Filters) -> Panel:
    rows = queries.submission_compliance(f)
    return Panel(
        key="compliance",
        title=_("自评提交情况"),
        columns=[_("月份"), _("按时"), _("逾期"), _("未提交"), _("应提交")],
        rows=[[r["month"], r["on_time"], r["late"], r["missing"], r["expected"]] for r in rows],
        figure=figures.stacked_months(
            rows,
            [
                ("on_time", _("按时"), "#1f6f50"),
                ("late", _("逾期"), "#d97706"),
                ("missing", _("未提交"), "#b42318"),
            ],
            _("自评提交情况（按月）"),
        ),
    )


def coverage(f: Filters) -> Panel:
    rows = queries.visit_coverage(f)
    return Panel(
        key="coverage",
        title=_("片区督查覆盖"),
        columns=[_("片区"), _("月份"), _("督查次数"), _("督查学校数"), _("学校总数")],
        rows=[
            [r["zone"], r["month"], r["visits"], r["schools_visited"], r["schools"]] for r in rows
        ],
        figure=figures.coverage(rows),
        note=_("片区负责制：每个片区每月至少督查一次；督查次数为 0 的月份需要关注。"),
    )


def findings(f: Filters, today: date) -> Panel:
    data = queries.findings_summary(f, today)
    return Panel(
        key="findings",
        title=_("整改情况"),
        columns=[_("片区"), _("未整改"), _("已逾期")],
        rows=[[r["zone"], r["open"], r["overdue"]] for r in data["rows"]],
        figure=figures.findings_bar(data["rows"]),
        extra={"open": data["open"], "overdue": data["overdue"]},
    )


def complaints(f: Filters) -> Panel:
    rows = queries.complaint_counts(f)
    return Panel(
        key="complaints",
        title=_("投诉情况"),
        columns=[_("月份"), _("待处理"), _("查实"), _("不实")],
        rows=[[r["month"], r["new"], r["verified"], r["unfounded"]] for r in rows],
        figure=figures.stacked_months(
            rows,
            [
                ("new", _("待处理"), "#9ca3af"),
                ("verified", _("查实"), "#b42318"),
                ("unfounded", _("不实"), "#1f6f50"),
            ],
            _("投诉（按月）"),
        ),
    )


# Extra panels contributed by other capabilities (staff compliance, training…): each is
# a function (Filters, today) -> Panel | None.
EXTRA_PANELS: list[Callable[[Filters, date], Panel | None]] = []


def all_panels(
    f: Filters,
    *,
    programme: str,
    school_id: int | None,
    school_name: str | None,
    today: date,
    only: str | None = None,
) -> list[Panel]:
    """Every panel, or just ``only`` (so one panel's endpoint costs one panel's queries)."""
    builders: list[tuple[str, Callable[[], Panel | None]]] = [
        ("league", lambda: league(f)),
        ("trends", lambda: trends(f)),
        ("heatmap", lambda: heatmap(f, programme)),
        ("radar", lambda: radar(f, school_id, school_name)),
        ("scatter", lambda: scatter(f)),
        ("compliance", lambda: compliance(f)),
        ("coverage", lambda: coverage(f)),
        ("findings", lambda: findings(f, today)),
        ("complaints", lambda: complaints(f)),
    ]
    builders += [
        (getattr(extra, "panel_key", extra.__name__), lambda extra=extra: extra(f, today))
        for extra in EXTRA_PANELS
    ]
    panels = []
    for key, build in builders:
        if only is not None and key != only:
            continue
        panel = build()
        if panel is not None:
            panels.append(panel)
    return panels


PANEL_KEYS = (
    "league",
    "trends",
    "heatmap",
    "radar",
    "scatter",
    "compliance",
    "coverage",
    "findings",
    "complaints",
)
