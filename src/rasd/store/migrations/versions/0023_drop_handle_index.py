"""spine: drop accounts' index on (platform, handle), which no query uses

Accounts are looked up by their handle whatever its case, through
``handle_key`` (0015, indexed as ``ix_accounts_handle_key``), and listed in
handle order by ``handle_key`` too; since 0015 no query reads
``ix_accounts_handle`` (0001), yet every account row written updated it: in a
keyword crawl's shape (about one new account a post) it was one of the five
indexes each new account paid for.

Revision ID: 0023
Revises: 0022
"""
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_accounts_handle", table_name="accounts")


def downgrade() -> None:
    op.create_index("ix_accounts_handle", "accounts", ["platform", "handle"])
