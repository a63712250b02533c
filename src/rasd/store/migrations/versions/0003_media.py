"""detect.media: hash banks, bank signals, media signals, matches, signal reviews,
near-duplicate text clusters (issue 4)

Hand-written to mirror ``rasd.detect.media.schema``.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hash_banks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("negative", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("pdq_threshold", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_banks")),
        sa.UniqueConstraint("name", name=op.f("uq_hash_banks_name")),
    )
    op.create_table(
        "bank_signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("signal", sa.Text(), nullable=False),
        sa.Column("signal_key", sa.String(length=64), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("added_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["hash_banks.id"], ondelete="CASCADE",
                                name=op.f("fk_bank_signals_bank_id_hash_banks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_signals")),
        sa.UniqueConstraint("bank_id", "signal_type", "signal_key",
                            name=op.f("uq_bank_signals_bank_id")),
    )
    op.create_index("ix_bank_signals_key", "bank_signals", ["signal_type", "signal_key"])
    op.create_table(
        "media_signals",
        sa.Column("media_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("signal", sa.Text(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.Column("signal_key", sa.String(length=64), nullable=False),
        sa.Column("computed_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], ondelete="CASCADE",
                                name=op.f("fk_media_signals_media_id_media")),
        sa.PrimaryKeyConstraint("media_id", "signal_type", name=op.f("pk_media_signals")),
    )
    op.create_index("ix_media_signals_sig", "media_signals", ["signal_type", "signal_key"])
    op.create_table(
        "hash_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("distance", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("matched_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["media_id"], ["media.id"], ondelete="CASCADE",
                                name=op.f("fk_hash_matches_media_id_media")),
        sa.ForeignKeyConstraint(["signal_id"], ["bank_signals.id"], ondelete="CASCADE",
                                name=op.f("fk_hash_matches_signal_id_bank_signals")),
        sa.ForeignKeyConstraint(["bank_id"], ["hash_banks.id"], ondelete="CASCADE",
                                name=op.f("fk_hash_matches_bank_id_hash_banks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_matches")),
    )
    op.create_index("ix_hash_matches_signal", "hash_matches", ["signal_id", "matched_at"])
    op.create_index("ix_hash_matches_media", "hash_matches", ["media_id"])
    op.create_table(
        "signal_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["signal_id"], ["bank_signals.id"], ondelete="CASCADE",
                                name=op.f("fk_signal_reviews_signal_id_bank_signals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_reviews")),
    )
    op.create_table(
        "text_clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("n_accounts", sa.Integer(), nullable=False),
        sa.Column("representative_post_id", sa.Integer(), nullable=True),
        sa.Column("sample_text", sa.Text(), nullable=True),
        sa.Column("first_at", TS, nullable=True),
        sa.Column("last_at", TS, nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["representative_post_id"], ["posts.id"], ondelete="SET NULL",
                                name=op.f("fk_text_clusters_representative_post_id_posts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_clusters")),
    )
    op.create_index("ix_text_clusters_size", "text_clusters", ["size"])
    op.create_table(
        "text_cluster_members",
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["cluster_id"], ["text_clusters.id"], ondelete="CASCADE",
                                name=op.f("fk_text_cluster_members_cluster_id_text_clusters")),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE",
                                name=op.f("fk_text_cluster_members_post_id_posts")),
        sa.PrimaryKeyConstraint("cluster_id", "post_id", name=op.f("pk_text_cluster_members")),
    )
    op.create_index("ix_text_cluster_members_post", "text_cluster_members", ["post_id"])
    op.create_table(
        "post_minhash",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("params", sa.String(length=40), nullable=False),
        sa.Column("text_key", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE",
                                name=op.f("fk_post_minhash_post_id_posts")),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_post_minhash")),
    )


def downgrade() -> None:
    op.drop_table("post_minhash")
    op.drop_index("ix_text_cluster_members_post", table_name="text_cluster_members")
    op.drop_table("text_cluster_members")
    op.drop_index("ix_text_clusters_size", table_name="text_clusters")
    op.drop_table("text_clusters")
    op.drop_table("signal_reviews")
    op.drop_index("ix_hash_matches_media", table_name="hash_matches")
    op.drop_index("ix_hash_matches_signal", table_name="hash_matches")
    op.drop_table("hash_matches")
    op.drop_index("ix_media_signals_sig", table_name="media_signals")
    op.drop_table("media_signals")
    op.drop_index("ix_bank_signals_key", table_name="bank_signals")
    op.drop_table("bank_signals")
    op.drop_table("hash_banks")
