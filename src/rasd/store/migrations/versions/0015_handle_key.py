"""spine: accounts keep their handle folded as Python folds it (handle_key)

Handles named by a forward or a mention are matched without regard to case:
"@name" placeholders merge into the account of that handle, and `rasd
accounts show @Name` finds it. That was done with SQL's lower(), which folds
every letter on PostgreSQL but only ASCII on SQLite: a forward from "ÄRGER"
merged into the channel "Ärger" on PostgreSQL and stayed a placeholder on
SQLite, so the network depended on the store. The key is now computed by rasd
(``str.lower``, as the placeholders' own ids are) and indexed, replacing the
index on lower(handle).

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    op.add_column("accounts", sa.Column("handle_key", sa.String(200), nullable=True))
    conn = op.get_bind()
    accounts = sa.table("accounts", sa.column("id", sa.Integer),
                        sa.column("handle", sa.String), sa.column("handle_key", sa.String))
    last = 0
    while True:
        rows = conn.execute(sa.select(accounts.c.id, accounts.c.handle)
                            .where(accounts.c.id > last, accounts.c.handle.is_not(None))
                            .order_by(accounts.c.id).limit(BATCH)).all()
        if not rows:
            break
        conn.execute(sa.update(accounts).where(accounts.c.id == sa.bindparam("b_id"))
                     .values(handle_key=sa.bindparam("key")),
                     [{"b_id": r.id, "key": r.handle.lower()[:200]} for r in rows])
        last = rows[-1].id
    op.drop_index("ix_accounts_handle_lower", table_name="accounts")
    op.create_index("ix_accounts_handle_key", "accounts", ["platform", "handle_key"])


def downgrade() -> None:
    op.drop_index("ix_accounts_handle_key", table_name="accounts")
    op.create_index("ix_accounts_handle_lower", "accounts",
                    ["platform", sa.text("lower(handle)")])
    # in place, not by Alembic's batch copy: on SQLite its DROP of the old table
    # cascaded away dependent rows with foreign keys on (see 0020)
    op.drop_column("accounts", "handle_key")
