"""PostgreSQL row-level security: the second wall behind the ORM scope.

Policies read transaction-local settings that :mod:`tenants.scope` sets with
``set_config(..., true)`` at the start of every transaction. With no tenant set,
a query sees no rows. Every migration that creates a tenant-owned table calls
:func:`enable` for it; a test checks that every tenant table has a policy.
"""

from __future__ import annotations

from typing import Any

# Each setting is read inside a scalar sub-SELECT, so PostgreSQL evaluates it once per
# statement (an InitPlan) instead of once per row checked: several times faster on big
# aggregations (see bench/RESULTS.md), same rows visible.
BYPASS = "(SELECT current_setting('app.bypass_rls', true)) = 'on'"
DISTRICT = "(SELECT NULLIF(current_setting('app.district_id', true), '')::int)"
ALL_SCHOOLS = "(SELECT current_setting('app.school_ids', true)) = '*'"
# The trailing cast keeps ANY(...) an array expression rather than a row subquery.
SCHOOL_LIST = "(SELECT string_to_array(NULLIF(current_setting('app.school_ids', true), '*'), ',')::int[])::int[]"

KINDS = {
    # rows of a district (zones, rubrics, periods…)
    "district": f"district_id = {DISTRICT}",
    # rows of one school
    "school": f"district_id = {DISTRICT} AND ({ALL_SCHOOLS} OR school_id = ANY ({SCHOOL_LIST}))",
    # rows of a school or of the district itself (users, audit): a school scope sees
    # only its own school's rows, a district scope all of them
    "school_nullable": f"district_id = {DISTRICT} AND ({ALL_SCHOOLS} OR school_id = ANY ({SCHOOL_LIST}))",
    # accounts: like school_nullable, and a principal always sees its own row
    "users": f"(district_id = {DISTRICT} AND ({ALL_SCHOOLS} OR school_id = ANY ({SCHOOL_LIST})))"
    " OR id = (SELECT NULLIF(current_setting('app.user_id', true), '')::int)",
    # the schools table itself
    "schools": f"district_id = {DISTRICT} AND ({ALL_SCHOOLS} OR id = ANY ({SCHOOL_LIST}))",
    # the districts table: the platform sees all, a tenant its own
    "districts": f"(SELECT current_setting('app.platform', true)) = 'on' OR id = {DISTRICT}",
}


def policy_sql(table: str, kind: str) -> list[str]:
    using = f"{BYPASS} OR ({KINDS[kind]})"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({using})",
    ]


def enable(op: Any, table: str, kind: str) -> None:
    """Call from a migration after creating a tenant-owned table (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for stmt in policy_sql(table, kind):
        op.execute(stmt)


def grant_app_role(op: Any, role: str) -> None:
    """The app role: may read and write, owns nothing, cannot bypass RLS."""
    if op.get_bind().dialect.name != "postgresql":
        return
    if not role.replace("_", "").isalnum():
        raise ValueError(f"bad role name {role!r}")
    op.execute(
        f"""DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS;
          END IF;
        EXCEPTION WHEN insufficient_privilege THEN
          RAISE NOTICE 'cannot create role {role}; create it yourself';
        END $$"""
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}"
    )
    # The audit trail is append-only, for the app as for anyone using its credentials.
    op.execute(f"REVOKE UPDATE, DELETE ON audit_entries FROM {role}")
