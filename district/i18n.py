"""Flask-Babel wiring: Simplified Chinese by default, English per user.

Message ids are the Chinese text the product ships with; ``translations/en``
holds the English catalogue (compiled .mo committed, so a plain install works).
"""

from __future__ import annotations

import os
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Flask, has_request_context, request
from flask_babel import get_locale
from flask_login import current_user

from district.extensions import babel

SUPPORTED = ("zh_CN", "en")


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (``flask i18n`` reads ``N_``).

    For Chinese text that Python hands to a template which translates it (``{{ _(label) }}``)
    and that no label table (see district/i18n_cli.py) already covers.
    """
    return message


def select_locale() -> str:
    wanted = request.args.get("lang") or request.cookies.get("lang")
    if getattr(current_user, "is_authenticated", False) and current_user.locale in SUPPORTED:
        wanted = wanted if request.args.get("lang") in SUPPORTED else current_user.locale
    return wanted if wanted in SUPPORTED else "zh_CN"


def _english() -> bool:
    """Whether the page being rendered is in English (never outside a request: jobs, PDFs)."""
    return has_request_context() and getattr(get_locale(), "language", "zh") == "en"


def format_month(value: date | datetime | tuple[int, int] | None) -> str:
    """2026年11月 (2026-11 in English)."""
    if value is None:
        return ""
    year, month = value if isinstance(value, tuple) else (value.year, value.month)
    return f"{year}-{month:02d}" if _english() else f"{year}年{month}月"


def format_score(value: Any) -> str:
    """Numbers with 2 decimals, rounded half-up like the stored results."""
    if value is None or value == "":
        return "—"
    return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def format_date(value: date | datetime | None) -> str:
    """2026年11月30日 (2026-11-30 in English)."""
    if value is None:
        return ""
    if _english():
        return f"{value.year}-{value.month:02d}-{value.day:02d}"
    return f"{value.year}年{value.month}月{value.day}日"


def init_i18n(app: Flask) -> None:
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", os.path.join(app.root_path, "translations")
    )
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["month"] = format_month
    app.jinja_env.filters["score"] = format_score
    app.jinja_env.filters["cndate"] = format_date
