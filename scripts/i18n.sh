#!/bin/sh
# Extract UI text, update the English catalogue and compile it (district/translations/en).
# Run after adding or changing UI text; then translate the new empty msgstr entries in
# district/translations/en/LC_MESSAGES/messages.po and run it again to compile.
# Same as `flask --app wsgi i18n`; pass --check to only verify (non-zero exit if stale).
set -e
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" -m district.i18n_cli "$@"
