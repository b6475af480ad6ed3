"""Small checks shared by the browser tests."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from openpyxl import load_workbook


def saved(download: Any, folder: Path) -> Path:
    """Save a Playwright download under a fresh folder and return the path."""
    assert download.failure() is None, download.failure()
    path = folder / download.suggested_filename
    download.save_as(path)
    return path


def xlsx_rows(path: Path) -> list[list[Any]]:
    """Open an Excel download (it must be a real .xlsx) and return its first sheet's rows."""
    assert zipfile.is_zipfile(path), f"{path.name} is not an xlsx (zip) file"
    workbook = load_workbook(path, read_only=True)
    rows = [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]
    workbook.close()
    return rows


def xlsx_text(path: Path) -> str:
    """All cell values of every sheet, joined (to look for words anywhere in the workbook)."""
    assert zipfile.is_zipfile(path), f"{path.name} is not an xlsx (zip) file"
    workbook = load_workbook(path, read_only=True)
    parts = [
        str(v)
        for ws in workbook.worksheets
        for row in ws.iter_rows(values_only=True)
        for v in row
        if v is not None
    ]
    workbook.close()
    return "\n".join(parts)


_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")


def pdf_pages(path: Path) -> int:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-"), f"{path.name} is not a PDF"
    assert b"%%EOF" in data[-1024:], f"{path.name} is truncated"
    return len(_PAGE.findall(data))
