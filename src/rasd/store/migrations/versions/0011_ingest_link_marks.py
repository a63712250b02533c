"""spine: each ingest run records where its waiting links start

``link_pending`` draws, at the end of a run, the edges of waiting links whose
target post that run wrote. A run killed after writing a target but before
drawing left that link waiting for good: later runs began above it. Each run now
records the highest post and waiting-link ids when it began to write
(``ingest_files.link_marks``), and a run draws from the lowest marks of every
run that has not finished — its own included; a run that completes a file marks
that file's unfinished runs superseded.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ingest_files", sa.Column("link_marks", sa.JSON(), nullable=True))


def downgrade() -> None:
    # in place, not by Alembic's batch copy: on SQLite its DROP of the old table
    # cascaded away dependent rows with foreign keys on (see 0020)
    op.drop_column("ingest_files", "link_marks")
