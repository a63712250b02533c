"""spine: an index on lower(handle), for merging "@name" stubs in one query

Forwards and mentions that name an account only by handle create "@name"
stubs; once the real account is ingested they are merged into it, matching
handles case-insensitively. Without this index that match scanned every
account once per stub after every ingest (5 s on a store of 53k posts).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_accounts_handle_lower", "accounts",
                    ["platform", sa.text("lower(handle)")])


def downgrade() -> None:
    op.drop_index("ix_accounts_handle_lower", table_name="accounts")
