"""Dashboard jobs: the monthly bulletin. Idempotent: regenerate and overwrite."""

from __future__ import annotations

import os
from typing import Any

from flask import current_app, url_for
from sqlalchemy import select

from dashboards import bulletin as render
from dashboards.models import Bulletin
from district.extensions import db
from district.jobs import report_progress
from tenants.models import utcnow


def bulletin_dir() -> str:
    folder = os.path.join(current_app.config["UPLOAD_DIR"], "bulletins")
    os.makedirs(folder, exist_ok=True)
    return folder


def generate_bulletin(district_id: int, year: int, month: int) -> dict[str, Any]:
    """Gather the month, write the Excel and PDF files, store the data on the Bulletin row."""
    row = db.session.scalar(select(Bulletin).where(Bulletin.year == year, Bulletin.month == month))
    if row is None:
        row = Bulletin(year=year, month=month)
        db.session.add(row)
        db.session.flush()
    report_progress(5, "开始生成")
    data = render.gather(year, month, progress=report_progress)
    report_progress(90, "生成 Excel 和 PDF")
    base = f"bulletin-{district_id}-{year}-{month:02d}"
    folder = bulletin_dir()
    with open(os.path.join(folder, base + ".xlsx"), "wb") as fh:
        fh.write(render.render_xlsx(data))
    with open(os.path.join(folder, base + ".pdf"), "wb") as fh:
        fh.write(render.render_pdf(data))
    row.data = data
    row.xlsx_name = base + ".xlsx"
    row.pdf_name = base + ".pdf"
    row.status = "ready"
    row.generated_at = utcnow()
    db.session.flush()
    try:
        link = url_for("bulletins.detail", bulletin_id=row.id)
    except RuntimeError:  # no request context in a worker
        link = f"/bulletins/{row.id}"
    return {"bulletin_id": row.id, "url": link}
