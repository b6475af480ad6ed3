"""A short-lived cache of dashboard panel data, per tenant scope and filters.

A district's dashboard is read far more often than its results change, and each
panel is a few grouped queries over the whole district. Panel data is cached for
``DASHBOARD_CACHE_SECONDS`` (default 60; 0 disables it) in Redis when REDIS_URL is
set (shared by all workers), else in process. The key carries the principal's
scope, so one tenant's panels are never served to another, the locale (panels carry
translated titles and headers), and a per-district generation number that recomputation
bumps, so new results show at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import current_app
from flask_babel import get_locale

from tenants.scope import require_scope

_local: dict[str, tuple[float, Any]] = {}
_local_gen: dict[int, int] = {}
_lock = threading.Lock()
_MAX_LOCAL = 512


def _ttl() -> int:
    return int(current_app.config.get("DASHBOARD_CACHE_SECONDS", 60))


def _redis() -> Any:
    if not current_app.config.get("REDIS_URL"):
        return None
    from district.jobs import redis_connection

    return redis_connection()


def _prefix() -> str:
    from district.jobs import redis_namespace

    return redis_namespace()


def generation(district_id: int) -> int:
    r = _redis()
    if r is not None:
        return int(r.get(f"{_prefix()}:dash:gen:{district_id}") or 0)
    return _local_gen.get(district_id, 0)


def invalidate(district_id: int | None) -> None:
    """Called after results change: the next dashboard read recomputes its panels."""
    if district_id is None:
        return
    try:
        r = _redis()
    except RuntimeError:  # outside an app context
        return
    if r is not None:
        r.incr(f"{_prefix()}:dash:gen:{district_id}")
        return
    with _lock:
        _local_gen[district_id] = _local_gen.get(district_id, 0) + 1


def cached(parts: dict[str, Any], build: Callable[[], Any]) -> Any:
    """``build()`` (JSON-able) for these filters in the current scope, cached for a while."""
    ttl = _ttl()
    if ttl <= 0:
        return build()
    scope = require_scope()
    schools = "*" if scope.school_ids is None else ",".join(map(str, sorted(scope.school_ids)))
    key = f"{_prefix()}:dash:v1:" + json.dumps(
        {
            "d": scope.district_id,
            "s": schools,
            "g": generation(scope.district_id or 0),
            "l": str(get_locale()),
            **parts,
        },
        sort_keys=True,
        default=str,
    )
    r = _redis()
    if r is not None:
        hit = r.get(key)
        if hit is not None:
            return json.loads(hit)
        value = build()
        r.set(key, json.dumps(value, ensure_ascii=False, default=str), ex=ttl)
        return value
    now = time.monotonic()
    with _lock:
        hit = _local.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    value = build()
    with _lock:
        if len(_local) >= _MAX_LOCAL:
            _local.clear()
        _local[key] = (now + ttl, value)
    return value
