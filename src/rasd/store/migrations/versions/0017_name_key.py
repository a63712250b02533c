"""spine: accounts keep their display name folded as rasd folds it (name_key)

`rasd accounts show NAME` (a Telegram channel, or a forward's source, has only
a name) compared names exactly, case and all, by a scan of every account. The
name is now kept folded by rasd (NFC, ``str.casefold``, 200 characters), as
handles are in handle_key (0015), and indexed: a lookup whatever the case,
non-ASCII included, on SQLite as on PostgreSQL, without a scan.

Revision ID: 0017
Revises: 0016
"""
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BATCH = 5000


def _key(name: str) -> str:  # as rasd.store.schema.name_key, at this revision
    return unicodedata.normalize("NFC", name).casefold()[:200]


def upgrade() -> None:
    op.add_column("accounts", sa.Column("name_key", sa.String(200), nullable=True))
    conn = op.get_bind()
    accounts = sa.table("accounts", sa.column("id", sa.Integer),
                        sa.column("name", sa.Text), sa.column("name_key", sa.String))
    last = 0
    while True:
        rows = conn.execute(sa.select(accounts.c.id, accounts.c.name)
                            .where(accounts.c.id > last, accounts.c.name.is_not(None))
                            .order_by(accounts.c.id).limit(BATCH)).all()
        if not rows:
            break
        keyed = [{"b_id": r.id, "key": _key(r.name)} for r in rows if r.name]
        if keyed:
            conn.execute(sa.update(accounts).where(accounts.c.id == sa.bindparam("b_id"))
                         .values(name_key=sa.bindparam("key")), keyed)
        last = rows[-1].id
    op.create_index("ix_accounts_name_key", "accounts", ["name_key"])


def downgrade() -> None:
    op.drop_index("ix_accounts_name_key", table_name="accounts")
    # in place, not by Alembic's batch copy: on SQLite its DROP of the old table
    # cascaded away dependent rows with foreign keys on (see 0020)
    op.drop_column("accounts", "name_key")
