"""detect.finance: designation lists, indicators (issue 5)

Tables: fin_lists, fin_entities, fin_names, fin_identifiers, fin_sightings
(see rasd.detect.finance.schema).

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "fin_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("published", sa.String(length=40), nullable=True),
        sa.Column("entities", sa.Integer(), nullable=False),
        sa.Column("names", sa.Integer(), nullable=False),
        sa.Column("identifiers", sa.Integer(), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fin_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_fin_lists_name")),
    )
    op.create_table(
        "fin_entities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("list_ref", sa.String(length=200), nullable=False),
        sa.Column("schema", sa.String(length=32), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("programmes", sa.JSON(), nullable=True),
        sa.Column("listed_on", sa.String(length=40), nullable=True),
        sa.Column("remarks", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["list_id"], ["fin_lists.id"],
                                name=op.f("fk_fin_entities_list_id_fin_lists"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fin_entities")),
        sa.UniqueConstraint("list_id", "list_ref", name=op.f("uq_fin_entities_list_id")),
    )
    op.create_index("ix_fin_entities_ref", "fin_entities", ["list_ref"], unique=False)
    op.create_table(
        "fin_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("script", sa.String(length=32), nullable=True),
        sa.Column("norm", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["entity_id"], ["fin_entities.id"],
                                name=op.f("fk_fin_names_entity_id_fin_entities"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fin_names")),
    )
    op.create_index("ix_fin_names_entity", "fin_names", ["entity_id"], unique=False)
    op.create_table(
        "fin_identifiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("norm", sa.String(length=300), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["entity_id"], ["fin_entities.id"],
                                name=op.f("fk_fin_identifiers_entity_id_fin_entities"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fin_identifiers")),
    )
    op.create_index("ix_fin_identifiers_norm", "fin_identifiers", ["norm"], unique=False)
    op.create_index("ix_fin_identifiers_entity", "fin_identifiers", ["entity_id"], unique=False)
    op.create_table(
        "fin_sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("post_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=True),
        sa.Column("asset", sa.String(length=16), nullable=True),
        sa.Column("span_start", sa.Integer(), nullable=False),
        sa.Column("span_end", sa.Integer(), nullable=False),
        sa.Column("seen_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_fin_sightings_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"],
                                name=op.f("fk_fin_sightings_post_id_posts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fin_sightings")),
        sa.UniqueConstraint("subject_type", "subject_id", "type", "value", "span_start",
                            name=op.f("uq_fin_sightings_subject_type")),
    )
    op.create_index("ix_fin_sightings_value", "fin_sightings", ["type", "value"], unique=False)
    op.create_index("ix_fin_sightings_account", "fin_sightings", ["account_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_fin_sightings_account", table_name="fin_sightings")
    op.drop_index("ix_fin_sightings_value", table_name="fin_sightings")
    op.drop_table("fin_sightings")
    op.drop_index("ix_fin_identifiers_entity", table_name="fin_identifiers")
    op.drop_index("ix_fin_identifiers_norm", table_name="fin_identifiers")
    op.drop_table("fin_identifiers")
    op.drop_index("ix_fin_names_entity", table_name="fin_names")
    op.drop_table("fin_names")
    op.drop_index("ix_fin_entities_ref", table_name="fin_entities")
    op.drop_table("fin_entities")
    op.drop_table("fin_lists")
