"""spine: each kept version says when it was collected

A profile or post text collected earlier than the stored one but read later
(an older crawl or export ingested after a newer one) was dropped: the old
handle, name or text survived only in the raw record. Such a copy is now kept
as a version of its own, placed in time by when it was collected
(``observed_at``, the time of the copy the version holds), and ``valid_until``
of a version is the collection time of the copy that superseded it where that
is known (it was the wall-clock time of the ingest that replaced it).

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("account_versions", "post_versions"):
        op.add_column(table, sa.Column("observed_at", sa.DateTime(timezone=True),
                                       nullable=True))


def downgrade() -> None:
    for table in ("account_versions", "post_versions"):
        # in place, not by Alembic's batch copy: on SQLite its DROP of the old table
        # cascaded away dependent rows with foreign keys on (see 0020)
        op.drop_column(table, "observed_at")
