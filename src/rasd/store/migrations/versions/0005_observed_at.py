"""spine: snapshot times, so an older copy never replaces a newer one

Adds ``observed_at`` to accounts and posts: when the current view's snapshot was
taken (X: the API page's retrieval time; CSV rows: the post's time).

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as b:
        b.add_column(sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("posts") as b:
        b.add_column(sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # in place, not by Alembic's batch copy: on SQLite its DROP of the old table
    # cascaded away dependent rows with foreign keys on (see 0020)
    op.drop_column("posts", "observed_at")
    op.drop_column("accounts", "observed_at")
