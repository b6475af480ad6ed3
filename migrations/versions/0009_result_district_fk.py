"""school_month_results: only the tenant's foreign key

Revision ID: 0009_result_district_fk
Revises: 0008_rls_initplan

A stored result is derived data that every recomputation rewrites (~13,000 rows for a
district's year), and each row written was checked once per foreign key. Kept: the
tenant's (district_id, school_id) → schools, which also implies the district. Dropped:
the single-column key to districts (implied), and the keys of the two provenance
columns — rubric_version_id names a published version, which is never deleted, and
deleting a visit clears the results that name it (scoring.visits.delete_visit).
"""

from alembic import op

revision = "0009_result_district_fk"
down_revision = "0008_rls_initplan"
branch_labels = None
depends_on = None

DROPPED = (
    ("fk_school_month_results_district_id_districts", "districts", "district_id", None),
    ("fk_school_month_results_rubric_version_id_rubric_versions", "rubric_versions", "rubric_version_id", None),
    ("fk_school_month_results_visit_id_site_visits", "site_visits", "visit_id", "SET NULL"),
)


def upgrade():
    with op.batch_alter_table("school_month_results") as batch:
        for name, _table, _column, _ondelete in DROPPED:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade():
    with op.batch_alter_table("school_month_results") as batch:
        for name, table, column, ondelete in DROPPED:
            batch.create_foreign_key(name, table, [column], ["id"], ondelete=ondelete)
