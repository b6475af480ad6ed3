"""foreign keys to zones carry the district: (district_id, zone_id) -> zones

Revision ID: 0007_zone_fks
Revises: 0006_awards
"""

from alembic import op

revision = "0007_zone_fks"
down_revision = "0006_awards"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("zones") as batch:
        batch.create_unique_constraint("uq_zones_district_id_id", ["district_id", "id"])
    with op.batch_alter_table("schools") as batch:
        batch.drop_constraint("fk_schools_zone_id_zones", type_="foreignkey")
        batch.create_foreign_key(
            "fk_schools_district_id_zone_id_zones", "zones", ["district_id", "zone_id"], ["district_id", "id"]
        )
    with op.batch_alter_table("inspector_zones") as batch:
        batch.drop_constraint("fk_inspector_zones_zone_id_zones", type_="foreignkey")
        batch.create_foreign_key(
            "fk_inspector_zones_district_id_zone_id_zones",
            "zones",
            ["district_id", "zone_id"],
            ["district_id", "id"],
            ondelete="CASCADE",
        )


def downgrade():
    with op.batch_alter_table("inspector_zones") as batch:
        batch.drop_constraint("fk_inspector_zones_district_id_zone_id_zones", type_="foreignkey")
        batch.create_foreign_key("fk_inspector_zones_zone_id_zones", "zones", ["zone_id"], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("schools") as batch:
        batch.drop_constraint("fk_schools_district_id_zone_id_zones", type_="foreignkey")
        batch.create_foreign_key("fk_schools_zone_id_zones", "zones", ["zone_id"], ["id"])
    with op.batch_alter_table("zones") as batch:
        batch.drop_constraint("uq_zones_district_id_id", type_="unique")
