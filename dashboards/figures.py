"""Plotly figures as plain JSON-able dicts, built from plain data.

No database, no request needed: the page embeds the dict and the plotly.js bundle served
from /static draws it. Colours follow the app's green. Text goes through flask_babel's
``gettext``: English for a user who chose it, the Chinese message id otherwise (also
outside a request).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

PROGRAMME_NAMES = {
    "canteen": "文明食堂",
    "store": "放心超市",
    "dormitory": "文化宿舍",
    "greening": "绿化创建",
    "overall": "四个创建综合",
}
DIMENSION_NAMES = {
    "conditions": "保障好",
    "service": "服务好",
    "quality": "质量好",
    "management": "管理好",
}
COLOURS = ["#1f6f50", "#d97706", "#2563eb", "#7c3aed", "#dc2626"]
FONT = {"family": "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif", "size": 12}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout = {
        "title": {"text": title, "font": {"size": 15}},
        "font": FONT,
        "margin": {"l": 50, "r": 20, "t": 50, "b": 60},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "closest",
    }
    layout.update(extra)
    return layout


def league_bar(rows: list[dict[str, Any]], top: int = 30) -> dict[str, Any]:
    shown = rows[:top]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [r["name"] for r in shown][::-1],
                "x": [r["score"] for r in shown][::-1],
                "marker": {"color": COLOURS[0]},
                "hovertemplate": "%{y}: %{x:.2f}<extra></extra>",
            }
        ],
        "layout": _layout(
            _("综合得分排名（前 %(n)s 名）", n=len(shown)),
            height=max(300, 22 * len(shown) + 80),
            xaxis={"range": [0, 100], "title": {"text": _("得分")}},
            margin={"l": 160, "r": 20, "t": 50, "b": 40},
        ),
    }


def trend_lines(series: dict[str, list[tuple[str, float]]]) -> dict[str, Any]:
    data = []
    for i, code in enumerate(k for k in PROGRAMME_NAMES if k in series):
        points = series[code]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": _(PROGRAMME_NAMES[code]),
                "x": [p[0] for p in points],
                "y": [p[1] for p in points],
                "line": {
                    "color": COLOURS[i % len(COLOURS)],
                    "width": 3 if code == "overall" else 2,
                },
            }
        )
    return {
        "data": data,
        "layout": _layout(
            _("月度趋势（全区平均）"),
            yaxis={"title": {"text": _("平均分")}},
            xaxis={"type": "category"},
        ),
    }


def heatmap(cells: dict[str, Any], programme: str) -> dict[str, Any]:
    return {
        "data": [
            {
                "type": "heatmap",
                "x": cells["schools"],
                "y": cells["indicators"],
                "z": cells["z"],
                "zmin": 0,
                "zmax": 100,
                "colorscale": [[0, "#b42318"], [0.6, "#fde68a"], [1, "#1f6f50"]],
                "hovertemplate": "%{x}<br>%{y}<br>" + _("得分率") + " %{z:.1f}%<extra></extra>",
                "colorbar": {"title": {"text": "%"}},
            }
        ],
        "layout": _layout(
            _(
                "%(programme)s：指标 × 学校 得分率（督查）",
                programme=_(PROGRAMME_NAMES.get(programme, programme)),
            ),
            height=max(320, 18 * len(cells["indicators"]) + 160),
            margin={"l": 220, "r": 20, "t": 50, "b": 120},
            xaxis={"tickangle": -45},
        ),
    }


def radar(data: dict[str, Any], school_name: str | None) -> dict[str, Any]:
    labels = [_(DIMENSION_NAMES[d]) for d in data["dimensions"]]
    traces = [
        {
            "type": "scatterpolar",
            "r": data["median"] + data["median"][:1],
            "theta": labels + labels[:1],
            "name": _("全区中位数"),
            "line": {"color": "#9ca3af"},
        }
    ]
    if school_name and any(v is not None for v in data["school"]):
        traces.append(
            {
                "type": "scatterpolar",
                "r": data["school"] + data["school"][:1],
                "theta": labels + labels[:1],
                "name": school_name,
                "fill": "toself",
                "line": {"color": COLOURS[0]},
            }
        )
    return {
        "data": traces,
        "layout": _layout(
            _("四好雷达图"), polar={"radialaxis": {"range": [0, 100]}}, showlegend=True
        ),
    }


def scatter(points: list[dict[str, Any]]) -> dict[str, Any]:
    normal = [p for p in points if not p["inflated"]]
    flagged = [p for p in points if p["inflated"]]

    def trace(items: list[dict[str, Any]], name: str, colour: str) -> dict[str, Any]:
        return {
            "type": "scatter",
            "mode": "markers",
            "name": name,
            "x": [p["inspector"] for p in items],
            "y": [p["self"] for p in items],
            "text": [p["school"] for p in items],
            "marker": {"color": colour, "size": 9},
            "hovertemplate": "%{text}<br>"
            + _("督查")
            + " %{x:.2f}<br>"
            + _("自评")
            + " %{y:.2f}<extra></extra>",
        }

    return {
        "data": [
            trace(normal, _("正常"), COLOURS[0]),
            trace(flagged, _("自评虚高（差值 > 10）"), "#b42318"),
            {
                "type": "scatter",
                "mode": "lines",
                "x": [0, 100],
                "y": [0, 100],
                "name": _("自评 = 督查"),
                "line": {"dash": "dot", "color": "#9ca3af"},
                "hoverinfo": "skip",
            },
        ],
        "layout": _layout(
            _("自评与督查得分对比"),
            xaxis={"title": {"text": _("督查得分")}, "range": [0, 100]},
            yaxis={"title": {"text": _("自评得分")}, "range": [0, 100]},
        ),
    }


def stacked_months(
    rows: list[dict[str, Any]], series: list[tuple[str, str, str]], title: str
) -> dict[str, Any]:
    return {
        "data": [
            {
                "type": "bar",
                "name": label,
                "x": [r["month"] for r in rows],
                "y": [r[key] for r in rows],
                "marker": {"color": colour},
            }
            for key, label, colour in series
        ],
        "layout": _layout(
            title,
            barmode="stack",
            xaxis={"type": "category"},
            yaxis={"tickformat": "d", "rangemode": "tozero"},
        ),
    }


def coverage(rows: list[dict[str, Any]]) -> dict[str, Any]:
    zones = sorted({r["zone"] for r in rows})
    months = sorted({r["month"] for r in rows})
    by = {(r["zone"], r["month"]): r for r in rows}
    return {
        "data": [
            {
                "type": "bar",
                "name": zone,
                "x": months,
                "y": [by.get((zone, m), {}).get("visits", 0) for m in months],
                "marker": {"color": COLOURS[i % len(COLOURS)]},
            }
            for i, zone in enumerate(zones)
        ],
        "layout": _layout(_("各片区每月督查次数"), barmode="group", xaxis={"type": "category"}),
    }


def findings_bar(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": [
            {
                "type": "bar",
                "name": _("未整改"),
                "x": [r["zone"] for r in rows],
                "y": [r["open"] for r in rows],
                "marker": {"color": "#d97706"},
            },
            {
                "type": "bar",
                "name": _("已逾期"),
                "x": [r["zone"] for r in rows],
                "y": [r["overdue"] for r in rows],
                "marker": {"color": "#b42318"},
            },
        ],
        "layout": _layout(_("未整改与逾期问题（按片区）"), barmode="group"),
    }


def histogram(scores: list[float], mine: float | None = None) -> dict[str, Any]:
    shapes = []
    if mine is not None:
        shapes.append(
            {
                "type": "line",
                "x0": mine,
                "x1": mine,
                "y0": 0,
                "y1": 1,
                "yref": "paper",
                "line": {"color": "#b42318", "width": 3},
            }
        )
    return {
        "data": [
            {
                "type": "histogram",
                "x": scores,
                "xbins": {"start": 0, "end": 100, "size": 5},
                "marker": {"color": COLOURS[0]},
                "name": _("学校数"),
            }
        ],
        "layout": _layout(
            _("全区综合得分分布"),
            shapes=shapes,
            xaxis={"range": [0, 100], "title": {"text": _("综合得分")}},
            yaxis={"title": {"text": _("学校数")}},
        ),
    }


def scores_over_time(series: dict[str, list[tuple[str, float]]], title: str) -> dict[str, Any]:
    fig = trend_lines(series)
    fig["layout"]["title"]["text"] = title
    return fig
