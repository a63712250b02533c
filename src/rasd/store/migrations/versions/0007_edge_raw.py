"""spine: follow edges keep the raw record they were read from

Edges derived from a post are traced through ``post_id``; a follow read from an
X following/followers page has no post, so it names its raw record instead.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("edges", sa.Column("raw_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    # in place, not by Alembic's batch copy: on SQLite its DROP of the old table
    # cascaded away dependent rows with foreign keys on (see 0020)
    op.drop_column("edges", "raw_sha256")
