"""The dashboard's panel cache: per scope, invalidated by recomputation, off in tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from district.extensions import db
from scoring.models import SchoolMonthResult
from tenants.scope import unscoped


def _result(school: Any, score: str) -> SchoolMonthResult:
    return SchoolMonthResult(
        district_id=school.district_id,
        school_id=school.id,
        year=2026,
        month=10,
        programme="overall",
        score=Decimal(score),
        stars=3,
    )


def _league(client: Any) -> list[list[Any]]:
    resp = client.api("GET", "/api/v1/dashboard?year=2026&month=10&panel=league")
    return resp.get_json()["panels"][0]["rows"]


def test_cache_serves_until_results_are_recomputed(app: Any, world: Any, client_for: Any) -> None:
    from dashboards import cache

    app.config["DASHBOARD_CACHE_SECONDS"] = 60
    try:
        with app.app_context(), unscoped("tests: results"):
            db.session.add(_result(world.a, "80.00"))
            db.session.commit()
        admin1 = client_for(world.admin1)
        assert [r[3] for r in _league(admin1)] == ["甲校-SECRET-A"]
        with app.app_context(), unscoped("tests: a new result"):
            db.session.add(_result(world.b, "90.00"))
            db.session.commit()
        assert [r[3] for r in _league(admin1)] == ["甲校-SECRET-A"]  # served from the cache
        with app.app_context():
            cache.invalidate(world.d1.id)  # what a recompute job does when it finishes
        assert [r[3] for r in _league(admin1)] == ["乙校-SECRET-B", "甲校-SECRET-A"]
        # Another district's admin never gets district 1's cached panels.
        assert _league(client_for(world.admin2)) == []
    finally:
        app.config["DASHBOARD_CACHE_SECONDS"] = 0
        with app.app_context():
            cache.invalidate(world.d1.id)
            cache.invalidate(world.d2.id)


def test_cache_keeps_each_language_apart(app: Any, world: Any, client_for: Any) -> None:
    """Panels carry translated titles: an English read must not get the Chinese entry."""
    from dashboards import cache

    app.config["DASHBOARD_CACHE_SECONDS"] = 60
    url = "/api/v1/dashboard?year=2026&month=10&panel=league"
    try:
        admin1 = client_for(world.admin1)
        titles = [
            admin1.api("GET", url + lang).get_json()["panels"][0]["title"]
            for lang in ("", "&lang=en", "", "&lang=en")
        ]
        assert titles == ["学校排行榜", "School league table", "学校排行榜", "School league table"]
    finally:
        app.config["DASHBOARD_CACHE_SECONDS"] = 0
        with app.app_context():
            cache.invalidate(world.d1.id)
