"""spine: accounts whose handle or name has no key yet are found by an index

handle_key (0015) and name_key (0017) are written by rasd's ingest, and 0015
and 0017 keyed the accounts stored before them. An account written another way
— by SQL, or by an older rasd on a store already upgraded — has a handle or a
name and no key, so `rasd accounts show`/`mark` found it by neither. A lookup
now keys such accounts first; these partial indexes hold only them (none, in a
store rasd wrote), so finding that there are none costs an index probe, not a
scan of the accounts without a name.

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# (an empty handle or name has no key; written as rasd.store.schema writes them,
# so that SQLite takes these indexes, not the key's, for the accounts unkeyed)
UNKEYED = {"ix_accounts_unkeyed_handle": "handle != '' AND coalesce(handle_key, '') = ''",
           "ix_accounts_unkeyed_name": "name != '' AND coalesce(name_key, '') = ''"}


def upgrade() -> None:
    for name, where in UNKEYED.items():
        op.create_index(name, "accounts", ["id"], sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))


def downgrade() -> None:
    for name in UNKEYED:
        op.drop_index(name, table_name="accounts")
