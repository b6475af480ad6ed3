"""WSGI entry point: ``gunicorn wsgi:app``."""

from district import create_app

app = create_app()
