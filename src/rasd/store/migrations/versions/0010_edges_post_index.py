"""spine: an index on edges.post_id

A post's edges (``rasd show``: whom it replies to and mentions) were found
through the index on their source account, reading every edge of that account:
for a channel with a million edges, a million rows for one post. The foreign
key from edges to posts (ON DELETE CASCADE) had no index either, so deleting a
post scanned every edge on PostgreSQL. Like the other secondary indexes of
edges, a big load drops it and builds it again at the end (``Store.bulk_load``).

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_edges_post", "edges", ["post_id"])


def downgrade() -> None:
    op.drop_index("ix_edges_post", table_name="edges")
