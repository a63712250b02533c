"""media: bank signals' generations, counted by triggers, for exact index staleness

A PDQ/vPDQ index (``index.py``) told whether it was still current by counting
the rows of its id range. A deletion and an insertion made outside its knowledge
(SQLite gives the id of a deleted highest row to the next one; another process,
SQL by hand) left that count as it was while the set of signals changed: a new
signal was never matched, a deleted one still was. (The matcher's prepared
linear-scan banks, ``matcher.py``, were read whole again at every refresh: the
counters let them prepare only what was added.) ``bank_signal_generations`` counts,
per signal type, the rows ever inserted (``inserted``), those deleted or changed
so that an index cannot follow them by adding (``changed``: a delete, a new id,
type or value, a signal leaving the tombstoned state, a TRUNCATE) and those that
became tombstoned (``tombstoned``: an index's dead entries). Triggers bump them
in the transaction that writes ``bank_signals``, whoever writes it — every rasd
command and any other client — so a reader that takes the counters and the rows
from one snapshot knows exactly whether what it holds is current, in one row's
read. Existing rows are counted as inserted.

Revision ID: 0022
Revises: 0021
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

T = "bank_signal_generations"
# an UPDATE that an index cannot follow by adding rows: the row is another one now
_MOVED = "(OLD.id {ne} NEW.id OR OLD.signal_type {ne} NEW.signal_type OR OLD.signal {ne} NEW.signal)"
_UNTOMB = "(OLD.status = 'tombstoned' AND NEW.status <> 'tombstoned')"
_TOMB = "(OLD.status <> 'tombstoned' AND NEW.status = 'tombstoned')"


def _sqlite_bump(col: str, typ: str, when: str = "1") -> str:
    # no INSERT OR IGNORE: a conflict clause in a trigger yields to the firing
    # statement's (an INSERT OR REPLACE would have zeroed the row)
    return (f"INSERT INTO {T} (signal_type, inserted, changed, tombstoned) "
            f"SELECT {typ}, 0, 0, 0 WHERE ({when}) AND NOT EXISTS "
            f"(SELECT 1 FROM {T} WHERE signal_type = {typ}); "
            f"UPDATE {T} SET {col} = {col} + 1 WHERE signal_type = {typ} AND ({when});")


SQLITE_TRIGGERS = {
    "trg_bank_signals_gen_insert": (
        "AFTER INSERT ON bank_signals FOR EACH ROW",
        _sqlite_bump("inserted", "NEW.signal_type")),
    "trg_bank_signals_gen_delete": (
        "AFTER DELETE ON bank_signals FOR EACH ROW",
        _sqlite_bump("changed", "OLD.signal_type")),
    "trg_bank_signals_gen_change": (
        "AFTER UPDATE ON bank_signals FOR EACH ROW WHEN "
        + _MOVED.format(ne="IS NOT") + " OR " + _UNTOMB,
        _sqlite_bump("changed", "OLD.signal_type") + " "
        + _sqlite_bump("changed", "NEW.signal_type", "NEW.signal_type <> OLD.signal_type")),
    "trg_bank_signals_gen_tombstone": (
        "AFTER UPDATE ON bank_signals FOR EACH ROW WHEN " + _TOMB,
        _sqlite_bump("tombstoned", "NEW.signal_type")),
}

# PostgreSQL: statement-level triggers over the statement's transition tables,
# one counter update a statement at most. Row-level triggers, as on SQLite, made
# a 50,000-signal import take 24 s instead of 11-14, and tombstoning 20,000
# signals 13 s instead of 2: PostgreSQL writes a new version of the counter row
# at each update, and each update of it in one transaction walks the versions
# the transaction made before. The function's search_path is the store's (FROM
# CURRENT, at this migration), so a client whose own search_path is another
# writes the counters of the table it wrote.
_UPSERT = (f"INSERT INTO {T} AS g (signal_type, inserted, changed, tombstoned) "
           "SELECT signal_type, sum(i), sum(c), sum(t) FROM ({rows}) AS d "
           "GROUP BY signal_type HAVING sum(i) + sum(c) + sum(t) > 0 "
           "ON CONFLICT (signal_type) DO UPDATE SET inserted = g.inserted + EXCLUDED.inserted, "
           "changed = g.changed + EXCLUDED.changed, tombstoned = g.tombstoned + EXCLUDED.tombstoned")
_PG_UPDATED = """
  SELECT o.signal_type, 0 AS i, 1 AS c, 0 AS t
    FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id
   WHERE n.id IS NULL OR n.signal_type <> o.signal_type OR n.signal <> o.signal
      OR (o.status = 'tombstoned' AND n.status <> 'tombstoned')
  UNION ALL
  SELECT n.signal_type, 0, 1, 0
    FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id
   WHERE o.id IS NULL OR n.signal_type <> o.signal_type
  UNION ALL
  SELECT n.signal_type, 0, 0, 1
    FROM old_rows o JOIN new_rows n ON n.id = o.id
   WHERE o.status <> 'tombstoned' AND n.status = 'tombstoned'
"""
PG_FUNCTION = f"""
CREATE FUNCTION bank_signal_generations_count() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE {T} SET changed = changed + 1;
  ELSIF TG_OP = 'INSERT' THEN
    {_UPSERT.format(rows="SELECT signal_type, 1 AS i, 0 AS c, 0 AS t FROM new_rows")};
  ELSIF TG_OP = 'DELETE' THEN
    {_UPSERT.format(rows="SELECT signal_type, 0 AS i, 1 AS c, 0 AS t FROM old_rows")};
  ELSE
    {_UPSERT.format(rows=_PG_UPDATED)};
  END IF;
  RETURN NULL;
END $$
"""

PG_TRIGGERS = {
    "trg_bank_signals_gen_insert": "AFTER INSERT ON bank_signals "
                                   "REFERENCING NEW TABLE AS new_rows",
    "trg_bank_signals_gen_delete": "AFTER DELETE ON bank_signals "
                                   "REFERENCING OLD TABLE AS old_rows",
    "trg_bank_signals_gen_update": "AFTER UPDATE ON bank_signals "
                                   "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "trg_bank_signals_gen_truncate": "AFTER TRUNCATE ON bank_signals",
}


def upgrade() -> None:
    op.create_table(
        T,
        sa.Column("signal_type", sa.String(32), nullable=False),
        sa.Column("inserted", sa.BigInteger(), nullable=False),
        sa.Column("changed", sa.BigInteger(), nullable=False),
        sa.Column("tombstoned", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("signal_type", name=op.f(f"pk_{T}")),
    )
    op.execute(f"INSERT INTO {T} (signal_type, inserted, changed, tombstoned) "
               "SELECT signal_type, count(*), 0, 0 FROM bank_signals GROUP BY signal_type")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for name, when in PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT "
                       "EXECUTE PROCEDURE bank_signal_generations_count()")
    else:
        for name, (when, body) in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN {body} END")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name in (PG_TRIGGERS if pg else SQLITE_TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON bank_signals" if pg else ""))
    if pg:
        op.execute("DROP FUNCTION IF EXISTS bank_signal_generations_count()")
    op.drop_table(T)
