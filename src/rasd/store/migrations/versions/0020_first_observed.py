"""spine: each state keeps when it was first seen (first_observed_at)

A record's current copy and each kept version held one collection time,
``observed_at``: when that state was last seen. A copy collected earlier than
the stored one but read later was placed against those times alone, so a copy
that added nothing (it kept the state then in effect, or the one that came
next) left no trace: an older copy read after it could not end that state in
time (January's A read before February's B, with March's A stored: B was taken
as the state since January), and across ingests a version began at the first
of its copies placed, not at its earliest. ``first_observed_at`` is the
earliest collection time of a copy keeping that state (NULL: the same as
``observed_at``, as every row written before this revision), moved back by
copies read late.

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TABLES = ("accounts", "posts", "account_versions", "post_versions")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("first_observed_at", sa.DateTime(timezone=True),
                                       nullable=True))


def downgrade() -> None:
    # not in batch mode: on SQLite that copies each table to a new one and drops
    # the old, and with foreign keys on (rasd's connections) dropping accounts
    # or posts deleted their versions, edges and detections (ON DELETE CASCADE)
    # or failed. The column has no index nor constraint, so SQLite (3.35+)
    # drops it in place.
    for table in TABLES:
        op.drop_column(table, "first_observed_at")
