"""school_month_results: the unique key leads with the tenant; no separate tenant index

Revision ID: 0010_result_key
Revises: 0009_result_district_fk

The key (school_id, year, month, programme) becomes (district_id, school_id, year,
month, programme): it then leads with the tenant, as the architecture asks of indexes,
and answers the tenant's lookups, so the index ix_school_month_results_tenant on
(district_id, school_id) is dropped — one index fewer to write for each of the ~13,000
rows of a district's year. Same rows allowed: a school belongs to one district.
"""

from alembic import op

revision = "0010_result_key"
down_revision = "0009_result_district_fk"
branch_labels = None
depends_on = None

OLD_KEY = "uq_school_month_results_school_id_year_month_programme"
NEW_KEY = "uq_school_month_results_school_month_programme"
TENANT_INDEX = "ix_school_month_results_tenant"


def upgrade():
    with op.batch_alter_table("school_month_results") as batch:
        batch.drop_constraint(OLD_KEY, type_="unique")
        batch.create_unique_constraint(
            NEW_KEY, ["district_id", "school_id", "year", "month", "programme"]
        )
        batch.drop_index(TENANT_INDEX)


def downgrade():
    with op.batch_alter_table("school_month_results") as batch:
        batch.create_index(TENANT_INDEX, ["district_id", "school_id"])
        batch.drop_constraint(NEW_KEY, type_="unique")
        batch.create_unique_constraint(OLD_KEY, ["school_id", "year", "month", "programme"])
