"""Flask-Babel wiring: Simplified Chinese by default, English per user.

Message ids are the Chinese text the product ships with; ``translations/en``
holds the English catalogue (compiled .mo committed, so a plain install works).
"""

from __future__ import annotations

import os
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import Flask, request
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


def format_month(value: date | datetime | tuple[int, int] | None) -> str:
    """2026年11月."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return f"{value[0]}年{value[1]}月"
    return f"{value.year}年{value.month}月"


def format_score(value: Any) -> str:
    """Numbers with 2 decimals, rounded half-up like the stored results."""
    if value is None or value == "":
        return "—"
    return str(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    return f"{value.year}年{value.month}月{value.day}日"


def init_i18n(app: Flask) -> None:
    app.config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", os.path.join(app.root_path, "translations")
    )
    babel.init_app(app, locale_selector=select_locale)
    from flask_babel import get_locale

    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.filters["month"] = format_month
    app.jinja_env.filters["score"] = format_score
    app.jinja_env.filters["cndate"] = format_date
