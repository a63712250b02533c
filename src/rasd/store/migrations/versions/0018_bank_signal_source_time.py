"""media: bank signals keep when their source list last updated them (source_updated_at)

TCAP's hash list gives each record an ``updated_on``; an import read it not, so a
re-import could neither tell a newer record (new labels) from an older one nor keep
an older list from overwriting a newer. The time is now kept per signal.

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bank_signals") as b:
        b.add_column(sa.Column("source_updated_at", sa.DateTime(timezone=True),
                               nullable=True))


def downgrade() -> None:
    # not in batch mode: on SQLite that copies bank_signals to a new table and drops
    # the old, and with foreign keys on (rasd's connections) the DROP deleted every
    # signal's reviews and hash matches (ON DELETE CASCADE). The column has no index
    # nor constraint, so SQLite (3.35+) drops it in place.
    op.drop_column("bank_signals", "source_updated_at")
