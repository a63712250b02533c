"""spine: counts and sizes as 64-bit integers

A file of 2 GB or more (the ingest benchmark's 1 GB file is half of that) has a
size PostgreSQL's 4-byte INTEGER cannot hold: ``ingest_files.size`` stopped such
an ingest before it began. Follower counts, media sizes and durations come from
input, where a number past 2^31 is possible (and an adversary's to choose).
SQLite's integers are 64-bit already: nothing to do there.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = (("ingest_files", "size"), ("accounts", "followers"), ("accounts", "following"),
           ("accounts", "post_count"), ("media", "width"), ("media", "height"),
           ("media", "duration_ms"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
