"""Staff panels on the district dashboard: certificate compliance and training coverage."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from dashboards import figures
from dashboards.panels import EXTRA_PANELS, Panel
from dashboards.queries import Filters


def certificate_compliance(f: Filters, today: date) -> Panel | None:
    from scoring.staff import compliance

    rows = [r for r in compliance(on=today) if r.staff_count]
    if f.zone_id or f.level or f.boarding is not None:
        from sqlalchemy import select

        from district.extensions import db
        from tenants.models import School

        stmt = select(School.id)
        if f.zone_id:
            stmt = stmt.where(School.zone_id == f.zone_id)
        if f.level:
            stmt = stmt.where(School.level == f.level)
        if f.boarding is not None:
            stmt = stmt.where(School.boarding == f.boarding)
        keep = set(db.session.scalars(stmt))
        rows = [r for r in rows if r.school_id in keep]
    rows.sort(key=lambda r: (-r.problem_count, r.school_name))
    table = [
        [
            r.school_name,
            r.canteen_staff,
            len(r.missing_health),
            None if r.health_share is None else round(float(r.health_share) * 100, 2),
            len(r.expiring),
            len(r.expired),
            _("、").join(r.unfilled_roles),
        ]
        for r in rows
    ]
    worst = rows[:20]
    figure = {
        "data": [
            {
                "type": "bar",
                "name": _("无有效健康证"),
                "x": [r.school_name for r in worst],
                "y": [len(r.missing_health) for r in worst],
                "marker": {"color": "#b42318"},
            },
            {
                "type": "bar",
                "name": _("30天内到期"),
                "x": [r.school_name for r in worst],
                "y": [len(r.expiring) for r in worst],
                "marker": {"color": "#d97706"},
            },
        ],
        "layout": figures._layout(
            _("证书合规（问题最多的学校）"),
            barmode="stack",
            xaxis={"tickangle": -45},
            yaxis={"tickformat": "d"},
        ),
    }
    return Panel(
        key="certificates",
        title=_("后勤人员证书合规"),
        columns=[
            _("学校"),
            _("食堂从业人员"),
            _("无有效健康证"),
            _("持证率%"),
            _("30天内到期"),
            _("已过期"),
            _("五员制缺岗"),
        ],
        rows=table,
        figure=figure if worst else None,
        note=_("持证上岗：食堂从业人员须持有效健康证；五员制各岗位须有专人。"),
    )


def training_coverage(f: Filters, today: date) -> Panel | None:
    from scoring.staff import coverage

    cov = coverage(today.year)
    rows = [r for r in cov.rows if r.operators]
    return Panel(
        key="training",
        title=_("%(year)s年食堂操作员培训覆盖", year=cov.year),
        columns=[_("学校"), _("食堂操作员"), _("已培训"), _("覆盖率%")],
        rows=[
            [
                r.school_name,
                r.operators,
                r.trained,
                None if r.share is None else round(float(r.share) * 100, 2),
            ]
            for r in rows
        ]
        + [
            [
                _(cov.total.school_name),
                cov.total.operators,
                cov.total.trained,
                None if cov.total.share is None else round(float(cov.total.share) * 100, 2),
            ]
        ],
        figure={
            "data": [
                {
                    "type": "indicator",
                    "mode": "gauge+number",
                    "value": 0
                    if cov.total.share is None
                    else round(float(cov.total.share) * 100, 1),
                    "number": {"suffix": "%"},
                    "gauge": {"axis": {"range": [0, 100]}, "bar": {"color": "#1f6f50"}},
                    "title": {
                        "text": _(
                            "已培训 %(trained)s / %(operators)s 人",
                            trained=cov.total.trained,
                            operators=cov.total.operators,
                        )
                    },
                }
            ],
            "layout": figures._layout(_("食堂操作员培训覆盖率")),
        },
    )


certificate_compliance.panel_key = "certificates"  # type: ignore[attr-defined]
training_coverage.panel_key = "training"  # type: ignore[attr-defined]
EXTRA_PANELS.extend([certificate_compliance, training_coverage])
