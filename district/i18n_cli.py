"""``flask i18n`` (or ``sh scripts/i18n.sh``): extract, update and compile the catalogue.

Message ids are the Chinese text, so Chinese needs no catalogue; the English one is
``district/translations/en/LC_MESSAGES/messages.po`` and its compiled ``.mo`` is committed,
so a plain ``pip install`` serves English without a build step. Run this after adding or
changing UI text, translate every new empty ``msgstr`` in the .po, and run it again to
compile (tests/test_i18n.py fails while any entry is untranslated).

Two sources of message ids:

- pybabel extraction over the packages (babel.cfg: Python and Jinja templates) with the
  usual keywords (``_``, ``gettext``, ``ngettext``, ``N_`` …) plus ``lazy_gettext``/``_l``;
- *label tables*, Chinese strings that Python hands to templates which wrap them in
  ``_()`` (``{{ _(label) }}``), and that pybabel cannot see: every menu entry registered
  with ``district.nav.register_nav``, and the values of module- or class-level constants
  named ``*_LABELS``, ``*_NAMES``, ``*_KINDS``, ``*_DIMENSIONS``, ``*_MEASURES``,
  ``*_FLAGS``, ``*_MESSAGES``, ``*_GROUPS``, ``*_BANDS`` or ``*_LEVELS`` (or just
  ``LABELS``, ``KINDS`` …): dict values, sequence items, and the ``label`` of dataclass
  items. A new table with one of these names is picked up without further marking; for
  anything else wrap the literal in ``N_("…")`` (``district.i18n.N_``, a no-op marker).
"""

from __future__ import annotations

import importlib
import io
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import click
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("district", "tenants", "scoring", "dashboards", "config")
TRANSLATIONS = ROOT / "district" / "translations"
LOCALES = ("en",)
KEYWORDS = ("_", "gettext", "ngettext", "lazy_gettext", "_l", "N_")
# Modules whose tables are not UI labels (marshmallow's messages, this module, demo data).
SKIP_MODULES = re.compile(r"^district\.(validation|i18n_cli)$|demo")
TABLE_NAME = re.compile(
    r"(?:^|_)(?:LABELS|NAMES|KINDS|DIMENSIONS|MEASURES|FLAGS|MESSAGES|GROUPS|BANDS|LEVELS)(?:_ZH)?$"
)
CJK = re.compile(r"[\u3400-\u9fff]")


HEADER = """\
# English catalogue of 后勤督导. Message ids are the Chinese UI text.
# Update with `sh scripts/i18n.sh` (district/i18n_cli.py), then translate the empty msgstr."""


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def extract() -> Catalog:
    """The message template: pybabel over the packages, plus the label tables."""
    with tempfile.TemporaryDirectory() as tmp:
        pot = os.path.join(tmp, "messages.pot")
        cmd = [sys.executable, "-m", "babel.messages.frontend", "-q", "extract"]
        cmd += ["-F", "babel.cfg", "--no-wrap", "-o", pot, "--project", "houqin-duban"]
        for keyword in KEYWORDS:
            cmd += ["-k", keyword]
        subprocess.run([*cmd, *PACKAGES], cwd=ROOT, check=True)
        with open(pot, "rb") as f:
            template = read_po(f)
    for msgid, (path, comment) in runtime_messages().items():
        if msgid in template:
            continue
        template.add(msgid, locations=[(path, None)], auto_comments=[comment])
    return template


def runtime_messages() -> dict[str, tuple[str, str]]:
    """Label-table and menu strings: msgid -> (source file, where it comes from)."""
    found: dict[str, tuple[str, str]] = {}
    for module in _project_modules():
        path = _relpath(module)
        for owner, name, value in _tables(module):
            for text in _strings(value):
                found.setdefault(text, (path, f"label table {owner}.{name}"))
    from district.nav import NAV

    for item in sorted(NAV, key=lambda i: (i.order, i.endpoint)):
        found.setdefault(item.label, ("district/nav.py", f"menu entry {item.endpoint}"))
    return found


def _project_modules() -> Iterator[Any]:
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            if SKIP_MODULES.search(info.name):
                continue
            try:
                yield importlib.import_module(info.name)
            except Exception as exc:  # noqa: BLE001 - a half-written module must not stop us
                click.echo(f"warning: cannot import {info.name}: {exc}", err=True)


def _tables(module: Any) -> Iterator[tuple[str, str, Any]]:
    try:
        source = Path(module.__file__).read_text(encoding="utf-8")
    except (TypeError, OSError):
        return

    def assigned(name: str) -> bool:  # defined here, not imported from elsewhere
        return re.search(rf"^\s*{name}\s*(?::[^=\n]*)?=", source, re.MULTILINE) is not None

    for name, value in sorted(vars(module).items()):
        if TABLE_NAME.search(name) and not name.startswith("_") and assigned(name):
            yield module.__name__, name, value
        elif isinstance(value, type) and value.__module__ == module.__name__:
            for attr, inner in sorted(vars(value).items()):
                if TABLE_NAME.search(attr) and not attr.startswith("_") and assigned(attr):
                    yield f"{module.__name__}.{name}", attr, inner


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > 3:
        return
    if isinstance(value, str):
        if CJK.search(value):
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        items: Iterable[Any] = (
            sorted(value, key=str) if isinstance(value, set | frozenset) else value
        )
        for item in items:
            yield from _strings(item, depth + 1)
    elif isinstance(getattr(value, "label", None), str):
        yield from _strings(value.label, depth + 1)


def _relpath(module: Any) -> str:
    try:
        return Path(module.__file__).resolve().relative_to(ROOT).as_posix()
    except (TypeError, ValueError):
        return module.__name__


def update(locale: str, template: Catalog) -> Catalog:
    """Merge the template into the locale's .po (no fuzzy guesses, obsolete ids dropped)."""
    path = po_path(locale)
    if path.exists():
        with open(path, "rb") as f:
            catalog = read_po(f, locale=locale)
    else:
        catalog = Catalog(locale=locale, fuzzy=False)
    before = _contents(catalog)
    created = catalog.creation_date
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
    catalog.obsolete.clear()
    if _contents(catalog) == before:
        catalog.creation_date = created  # nothing changed: leave the files byte-identical
    catalog.header_comment = HEADER
    catalog.project, catalog.version = "houqin-duban", "1"
    catalog.msgid_bugs_address = catalog.last_translator = ""
    catalog.language_team = "English"
    return catalog


def _contents(catalog: Catalog) -> list[tuple[Any, Any]]:
    return [(m.id, m.string) for m in catalog if m.id]


def untranslated(catalog: Catalog) -> list[str]:
    return [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]


def placeholder_errors(catalog: Catalog) -> list[str]:
    return [f"{m.id!r}: {err}" for m, errors in catalog.check() for err in errors]


def write(locale: str, catalog: Catalog) -> None:
    path = po_path(locale)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(buf, catalog, width=None, include_lineno=False, ignore_obsolete=True)
    path.write_bytes(buf.getvalue())
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    path.with_suffix(".mo").write_bytes(buf.getvalue())


@click.command("i18n")
@click.option("--check", is_flag=True, help="write nothing; fail if the catalogue is stale")
def i18n(check: bool) -> None:
    """Extract UI text, update the English catalogue and compile it."""
    template = extract()
    failed = False
    for locale in LOCALES:
        catalog = update(locale, template)
        missing = untranslated(catalog)
        bad = placeholder_errors(catalog)
        click.echo(
            f"{locale}: {len([m for m in catalog if m.id])} messages, {len(missing)} untranslated"
        )
        for msgid in missing[:50]:
            click.echo(f"  untranslated: {msgid}")
        for line in bad:
            click.echo(f"  placeholder mismatch: {line}", err=True)
        failed = failed or bool(bad) or (check and bool(missing))
        if check:
            current: set[str] = set()
            if po_path(locale).exists():
                with open(po_path(locale), "rb") as f:
                    current = {m.id for m in read_po(f) if m.id}
            stale = {m.id for m in catalog if m.id} ^ current
            if stale:
                click.echo(f"  {len(stale)} ids differ from the committed .po: run without --check")
                failed = True
        else:
            write(locale, catalog)
            click.echo(f"  wrote {po_path(locale).relative_to(ROOT)} and .mo")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    i18n()
