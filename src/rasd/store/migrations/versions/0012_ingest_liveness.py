"""spine: each ingest run records who runs it and when it was last seen

A run killed hard (SIGKILL, a crash, a power cut) stayed recorded as running
for good, and every later run, taking it for one still going, looked at every
waiting link at its end instead of those its own writes could complete. Runs
now record the process and host that run them (``pid``, ``host``) and beat a
heartbeat (``seen_at``) while they write; a run whose process is gone from
this host, or that has not been seen for an hour, is dead: the next run draws
its waiting links once, then records it as ``killed``.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ingest_files", sa.Column("pid", sa.Integer(), nullable=True))
    op.add_column("ingest_files", sa.Column("host", sa.String(255), nullable=True))
    op.add_column("ingest_files", sa.Column("seen_at", sa.DateTime(timezone=True),
                                            nullable=True))


def downgrade() -> None:
    # in place, not by Alembic's batch copy: on SQLite its DROP of the old table
    # cascaded away dependent rows with foreign keys on (see 0020)
    op.drop_column("ingest_files", "seen_at")
    op.drop_column("ingest_files", "host")
    op.drop_column("ingest_files", "pid")
