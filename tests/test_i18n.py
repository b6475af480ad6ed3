"""Chinese by default, English on request; the compiled catalogue ships and is complete."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import flask_babel
import pytest
from babel.messages.pofile import read_po
from babel.support import Translations
from marshmallow import ValidationError, fields, validate

from district.i18n_cli import po_path
from district.nav import NAV
from tenants.models import Role

CJK = re.compile(r"[\u3400-\u9fff]")
PO = po_path("en")
MO = PO.with_suffix(".mo")


@pytest.fixture(scope="module")
def catalog() -> Any:
    with open(PO, "rb") as f:
        return read_po(f, locale="en")


def _text(resp: Any) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def test_login_page_is_chinese_by_default(client: Any) -> None:
    html = _text(client.get("/login"))
    assert 'lang="zh-CN"' in html
    assert "用户名" in html and "密码" in html and "登录" in html
    assert "Username" not in html


def test_login_page_in_english_with_lang_en(client: Any) -> None:
    html = _text(client.get("/login?lang=en"))
    assert 'lang="en"' in html
    for text in ("Log in", "Username", "Password", "Logistics Supervision"):
        assert text in html, text
    assert "用户名" not in html and "登录" not in html


def test_user_with_english_locale_sees_english_navigation(
    world: Any, factories: Any, client_for: Any
) -> None:
    user = factories.user(Role.DISTRICT_ADMIN, world.d1, username="admin_en", locale="en")
    html = _text(client_for(user).get("/"))
    nav = re.search(r'<nav class="nav">(.*?)</nav>', html, re.S).group(1)
    for label in ("Home", "Schools", "Zone", "Users", "Audit log", "Jobs"):
        assert f">{label}<" in nav, label
    assert not CJK.search(nav), nav
    assert "District bureau logistics administrator" in html  # Role.LABELS via _(role_label)
    # Same pages for a Chinese user.
    html = _text(client_for(world.admin1).get("/"))
    assert ">首页<" in html and ">Home<" not in html


def test_the_compiled_catalogue_is_found(app: Any) -> None:
    with app.test_request_context("/?lang=en"):
        assert str(flask_babel.get_locale()) == "en"
        translations = flask_babel.get_translations()
        assert any(Path(f) == MO for f in translations.files), translations.files
        assert flask_babel.gettext("登录") == "Log in"
    with app.test_request_context("/"):
        assert str(flask_babel.get_locale()) == "zh_Hans_CN"
        assert flask_babel.gettext("登录") == "登录"


def test_menu_entries_and_role_labels_are_translated() -> None:
    """Strings only templates translate (``{{ _(label) }}``): pybabel cannot see them."""
    with open(MO, "rb") as f:
        en = Translations(f)
    labels = {item.label for item in NAV} | set(Role.LABELS.values())
    missing = sorted(label for label in labels if en.gettext(label) == label)
    assert not missing, f"run `sh scripts/i18n.sh` and translate: {missing}"


def test_every_message_is_translated(catalog: Any) -> None:
    messages = [m for m in catalog if m.id]
    assert len(messages) > 500
    empty = [m.id for m in messages if not m.string]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert not empty, f"{len(empty)} untranslated in {PO}, e.g. {empty[:5]}"
    assert not fuzzy, f"fuzzy entries in {PO}: {fuzzy[:5]}"
    errors = [(m.id, e) for m, errs in catalog.check() for e in errs]
    assert not errors, errors[:5]


def test_the_compiled_catalogue_matches_the_po(catalog: Any) -> None:
    with open(MO, "rb") as f:
        en = Translations(f)
    stale = [m.id for m in catalog if m.id and en.gettext(m.id) != m.string]
    assert not stale, f"run `sh scripts/i18n.sh` to compile: {stale[:5]}"


def test_marshmallow_defaults_are_chinese() -> None:
    assert fields.Integer().error_messages["invalid"] == "不是有效的整数。"
    assert fields.Str(required=True).error_messages["required"] == "此项为必填项。"
    with pytest.raises(ValidationError, match="^须大于或等于 0。$"):
        validate.Range(min=0)(-1)
    with pytest.raises(ValidationError, match="^长度不能超过 3。$"):
        validate.Length(max=3)("abcd")


def test_api_validation_messages_are_chinese(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    body = {"code": "N01", "name": "新学校", "level": "大学", "student_count": "many", "x": 1}
    resp = admin.api("POST", "/api/v1/schools", json=body)
    assert resp.status_code == 422
    errors = resp.get_json()["errors"]["json"]
    assert errors["student_count"] == ["不是有效的整数。"]
    assert errors["x"] == ["未知字段。"]
    assert errors["level"][0].startswith("须为以下之一：")
    assert all(CJK.search(m) for msgs in errors.values() for m in msgs), errors


def test_malformed_json_answers_400_in_chinese(world: Any, client_for: Any) -> None:
    admin = client_for(world.admin1)
    resp = admin.client.post(
        "/api/v1/schools",
        data=b'{"code": "N01", "name": ',
        content_type="application/json",
        headers={"X-CSRFToken": admin.csrf()},
    )
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["message"] == "JSON 格式有误，无法解析"
    assert "Invalid JSON body." not in resp.get_data(as_text=True)


def test_months_and_dates_follow_the_language(app: Any) -> None:
    from datetime import date

    from district.i18n import format_date, format_month

    with app.test_request_context("/?lang=en"):
        assert format_month((2026, 3)) == "2026-03"
        assert format_date(date(2026, 3, 5)) == "2026-03-05"
    with app.test_request_context("/"):
        assert format_month((2026, 3)) == "2026年3月"
        assert format_date(date(2026, 3, 5)) == "2026年3月5日"
    # Outside a request (jobs, PDFs of the bulletin) the product's language.
    assert format_month(date(2026, 11, 30)) == "2026年11月"
