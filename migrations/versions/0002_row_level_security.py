"""row-level security policies and the app role's grants (PostgreSQL)

Revision ID: 0002
Revises: 0001
"""

from alembic import context, op

from tenants import rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = {
    "districts": "districts",
    "zones": "district",
    "schools": "schools",
    "users": "users",
    "inspector_zones": "district",
    "access_tokens": "district",
    "job_records": "district",
    "audit_entries": "school_nullable",
}


def upgrade():
    for table, kind in TABLES.items():
        rls.enable(op, table, kind)
    rls.grant_app_role(op, context.config.attributes.get("app_db_role", "houqin_app"))


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
