"""Command line: platform operator, a district's first admin, demo data, RQ worker."""

from __future__ import annotations

import os

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from district.extensions import db
from district.jobs import commit


def _upgrade_schema() -> None:
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory, revision="heads")


def init_cli(app: Flask) -> None:
    @app.cli.command("create-operator")
    @click.option("--username", required=True)
    @click.option("--name", "display_name", default="平台管理员")
    @click.password_option()
    @with_appcontext
    def create_operator(username: str, display_name: str, password: str) -> None:
        """Create a platform operator (平台管理员)."""
        from tenants.services import create_platform_operator

        create_platform_operator(username, display_name, password)
        commit()
        click.echo(f"platform operator {username} created")

    @app.cli.command("create-district")
    @click.option("--code", required=True, help="short code, e.g. YL")
    @click.option("--name", required=True, help="e.g. 园林区教育局")
    @click.option("--admin-username", required=True)
    @click.option("--admin-name", required=True)
    @click.password_option("--admin-password")
    @with_appcontext
    def create_district(
        code: str, name: str, admin_username: str, admin_name: str, admin_password: str
    ) -> None:
        """Create a district and its first admin (区教育局后勤办管理员)."""
        from marshmallow import ValidationError

        from tenants.schemas import DistrictCreateSchema
        from tenants.services import create_district_with_admin

        try:
            data = DistrictCreateSchema().load(
                dict(
                    code=code,
                    name=name,
                    admin_username=admin_username,
                    admin_name=admin_name,
                    admin_password=admin_password,
                )
            )
        except ValidationError as err:
            raise click.ClickException(str(err.messages)) from err
        district, _admin = create_district_with_admin(data)
        # Read before committing: afterwards the expired row would reload with no tenant
        # scope, which PostgreSQL's row-level security answers with no row at all.
        code, district_id = district.code, district.id
        commit()
        click.echo(f"district {code} created (id {district_id}); admin {admin_username}")

    @app.cli.command("demo")
    @click.option("--reset", is_flag=True, help="drop everything first (SQLite only)")
    @click.option("--port", default=int(os.environ.get("PORT", "5000")), show_default=True)
    @with_appcontext
    def demo(reset: bool, port: int) -> None:
        """Upgrade the schema and build the demo district (园林区) with logins for every role."""
        from district.demo import DEMO_PASSWORD, build_demo, demo_exists

        url = str(db.engine.url)
        if reset:
            if not url.startswith("sqlite"):
                raise click.ClickException("--reset only works on the embedded SQLite database")
            db.drop_all()
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        _upgrade_schema()
        if demo_exists():
            click.echo("demo data already present (use --reset to rebuild)")
            result = None
        else:
            result = build_demo()
            commit()
        click.echo("")
        click.echo("后勤督导 demo is ready.")
        click.echo(f"  Open http://127.0.0.1:{port}")
        click.echo(f"  Every demo login uses the password: {DEMO_PASSWORD}")
        if result is not None:
            from tenants.models import Role

            for login in result.logins:
                click.echo(
                    f"  {Role.LABELS[login.role]:<12} {login.username:<16} {login.description}"
                )
        else:
            click.echo(
                "  platform, yl_admin, yl_leader, yl_inspector1, yl_head001, yl_staff001, lh_admin"
            )

    @app.cli.command("worker")
    @click.option("--queues", default="default,scoring,bulletins", show_default=True)
    @click.option("--burst", is_flag=True, help="exit when the queues are empty")
    @with_appcontext
    def worker(queues: str, burst: bool) -> None:
        """Serve RQ queues (needs REDIS_URL); runs the scheduler for periodic jobs too."""
        if not current_app.config.get("REDIS_URL"):
            raise click.ClickException("REDIS_URL is not set: jobs run inline, no worker needed")
        from rq import Worker

        from district.jobs import redis_connection, rq_queue

        conn = redis_connection()
        qs = [rq_queue(q.strip(), conn) for q in queues.split(",") if q.strip()]
        Worker(qs, connection=conn).work(with_scheduler=not burst, burst=burst)

    from district.i18n_cli import i18n

    app.cli.add_command(i18n)
