"""school_month_results: drop the district foreign key the school key already implies

Revision ID: 0009_result_district_fk
Revises: 0008_rls_initplan

A stored result's (district_id, school_id) references schools(district_id, id), and a
school's district_id references districts: the single-column key to districts checked
nothing more, once per row written — a full recomputation writes ~13,000 rows.
"""

from alembic import op

revision = "0009_result_district_fk"
down_revision = "0008_rls_initplan"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("school_month_results") as batch:
        batch.drop_constraint("fk_school_month_results_district_id_districts", type_="foreignkey")


def downgrade():
    with op.batch_alter_table("school_month_results") as batch:
        batch.create_foreign_key(
            "fk_school_month_results_district_id_districts", "districts", ["district_id"], ["id"]
        )
