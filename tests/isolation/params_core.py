"""Foreign-object providers for the foundation's URL parameters.

Each ``params_*.py`` module in this folder exports ``PARAMS``: URL parameter name ->
``provide(ctx, owner)`` returning the id (or token) of an object of that kind owned by
``owner``: "a" (school A), "b" (school B, same district, other zone), "d1" (district 1
itself, no school), or "c" (district 2) — or None when no object of that kind is
foreign for that owner (zones are district-wide, say). Text the provider stores should
contain ``ctx.marker(owner)`` so the matrix can spot it in any response. ``ctx.once(key,
make)`` creates a fixture object once per test. ``ctx.world`` is tests.conftest.World.
"""

from __future__ import annotations

from typing import Any

from district.extensions import db
from tenants.scope import unscoped


def school_id(ctx: Any, owner: str) -> int:
    return {"a": ctx.world.a, "b": ctx.world.b, "d1": ctx.world.b, "c": ctx.world.c}[owner].id


def zone_id(ctx: Any, owner: str) -> int | None:
    # Zones belong to a district, not a school: inside district 1 they are not secret.
    return {"a": None, "b": None, "d1": ctx.world.z1.id, "c": ctx.world.z3.id}[owner]


def user_id(ctx: Any, owner: str) -> int:
    return {
        "a": ctx.world.head_a,
        "b": ctx.world.head_b,
        "d1": ctx.world.viewer1,
        "c": ctx.world.head_c,
    }[owner].id


def _user_of(ctx: Any, owner: str) -> Any:
    return {
        "a": ctx.world.head_a,
        "b": ctx.world.head_b,
        "d1": ctx.world.viewer1,
        "c": ctx.world.admin2,
    }[owner]


def token_id(ctx: Any, owner: str) -> int:
    from tenants.models import AccessToken

    def make() -> int:
        user = _user_of(ctx, owner)
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            tok = AccessToken(
                district_id=user.district_id,
                user_id=user.id,
                name=f"令牌-{ctx.marker(owner)}",
                prefix="hq_x",
                token_hash=f"{owner}-{user.id}".ljust(64, "0")[:64],
            )
            db.session.add(tok)
            db.session.commit()
            return tok.id

    return ctx.once(("token", owner), make)


def job_id(ctx: Any, owner: str) -> int:
    from district.jobs import JobRecord

    def make() -> int:
        user = _user_of(ctx, owner)
        with ctx.app.app_context(), unscoped("tests: matrix fixtures"):
            job = JobRecord(
                district_id=user.district_id,
                school_id=user.school_id,
                user_id=user.id,
                func="tests:nothing",
                args=[],
                description=f"任务-{ctx.marker(owner)}",
                status="finished",
            )
            db.session.add(job)
            db.session.commit()
            return job.id

    return ctx.once(("job", owner), make)


PARAMS = {
    "school_id": school_id,
    "zone_id": zone_id,
    "user_id": user_id,
    "token_id": token_id,
    "job_id": job_id,
}
