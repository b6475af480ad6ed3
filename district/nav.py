"""Navigation registry: each views module adds its own entries, base.html shows them.

Keeps base.html free of per-capability edits; an entry names the roles that see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, url_for


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    roles: frozenset[str]
    order: int = 100


NAV: list[NavItem] = []


def register_nav(
    label: str, endpoint: str, roles: tuple[str, ...] | list[str], order: int = 100
) -> None:
    item = NavItem(label, endpoint, frozenset(roles), order)
    if item not in NAV:
        NAV.append(item)


def nav_for(role: str) -> list[tuple[str, str]]:
    items = sorted((i for i in NAV if role in i.roles), key=lambda i: (i.order, i.label))
    return [(i.label, url_for(i.endpoint)) for i in items]


def init_nav(app: Flask) -> None:
    app.jinja_env.globals["nav_for"] = nav_for
