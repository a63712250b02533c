"""spine: links to posts not stored yet wait for them (pending_links)

A reply, repost or quote that names its target post by id alone gets its edge
only once that post and its author are known. Before, a link whose target came
later (a later file, a newest-first crawl, two ingests at once) never got its
edge: the network depended on the order files were read. Now such links wait
in ``pending_links`` and every ingest draws the edges whose targets have come.
Links of posts stored before this migration are not looked at again.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target_post_id", sa.String(200), nullable=False),
        sa.UniqueConstraint("post_id", "kind", "target_post_id"),
    )
    op.create_index("ix_pending_links_target", "pending_links", ["platform", "target_post_id"])


def downgrade() -> None:
    op.drop_index("ix_pending_links_target", table_name="pending_links")
    op.drop_table("pending_links")
