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
    with op.batch_alter_table("bank_signals") as b:
        b.drop_column("source_updated_at")
