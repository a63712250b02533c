"""media: bank signals' generations, counted by triggers, for exact index staleness

A PDQ/vPDQ index (``index.py``) and the matcher's prepared linear-scan banks
(``matcher.py``) told whether they were still current by counting the rows of
their id range. A deletion and an insertion made outside their knowledge (SQLite
gives the id of a deleted highest row to the next one; another process, SQL by
hand) left that count as it was while the set of signals changed: a new signal
was never matched, a deleted one still was. ``bank_signal_generations`` counts,
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


def _sqlite_bump(col: str, typ: str) -> str:
    # no INSERT OR IGNORE: a conflict clause in a trigger yields to the firing
    # statement's (an INSERT OR REPLACE would have zeroed the row)
    return (f"INSERT INTO {T} (signal_type, inserted, changed, tombstoned) "
            f"SELECT {typ}, 0, 0, 0 WHERE NOT EXISTS "
            f"(SELECT 1 FROM {T} WHERE signal_type = {typ}); "
            f"UPDATE {T} SET {col} = {col} + 1 WHERE signal_type = {typ};")


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
        + _sqlite_bump("changed", "NEW.signal_type")),
    "trg_bank_signals_gen_tombstone": (
        "AFTER UPDATE ON bank_signals FOR EACH ROW WHEN " + _TOMB,
        _sqlite_bump("tombstoned", "NEW.signal_type")),
}

# PostgreSQL: one function, told which counter to bump (TG_ARGV[0]); its
# search_path is the store's (FROM CURRENT, at this migration), so a client
# whose own search_path is another writes the counters of the table it wrote
PG_FUNCTION = f"""
CREATE FUNCTION bank_signal_generations_bump() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  col text := TG_ARGV[0];
  types text[];
  t text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    UPDATE {T} SET changed = changed + 1;
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    types := ARRAY[NEW.signal_type];
  ELSIF TG_OP = 'DELETE' THEN
    types := ARRAY[OLD.signal_type];
  ELSIF OLD.signal_type <> NEW.signal_type THEN
    types := ARRAY[OLD.signal_type, NEW.signal_type];
  ELSE
    types := ARRAY[NEW.signal_type];
  END IF;
  FOREACH t IN ARRAY types LOOP
    UPDATE {T} SET inserted = inserted + (col = 'inserted')::int,
                   changed = changed + (col = 'changed')::int,
                   tombstoned = tombstoned + (col = 'tombstoned')::int
      WHERE signal_type = t;
    IF NOT FOUND THEN
      INSERT INTO {T} AS g (signal_type, inserted, changed, tombstoned)
        VALUES (t, (col = 'inserted')::int, (col = 'changed')::int,
                (col = 'tombstoned')::int)
        ON CONFLICT (signal_type) DO UPDATE SET
          inserted = g.inserted + EXCLUDED.inserted,
          changed = g.changed + EXCLUDED.changed,
          tombstoned = g.tombstoned + EXCLUDED.tombstoned;
    END IF;
  END LOOP;
  RETURN NULL;
END $$
"""

PG_TRIGGERS = {
    "trg_bank_signals_gen_insert": "AFTER INSERT ON bank_signals FOR EACH ROW",
    "trg_bank_signals_gen_delete": "AFTER DELETE ON bank_signals FOR EACH ROW",
    "trg_bank_signals_gen_change": (
        "AFTER UPDATE ON bank_signals FOR EACH ROW WHEN ("
        + _MOVED.format(ne="IS DISTINCT FROM") + " OR " + _UNTOMB + ")"),
    "trg_bank_signals_gen_tombstone": (
        "AFTER UPDATE ON bank_signals FOR EACH ROW WHEN (" + _TOMB + ")"),
    "trg_bank_signals_gen_truncate": "AFTER TRUNCATE ON bank_signals FOR EACH STATEMENT",
}
PG_COUNTER = {"trg_bank_signals_gen_insert": "inserted",
              "trg_bank_signals_gen_delete": "changed",
              "trg_bank_signals_gen_change": "changed",
              "trg_bank_signals_gen_tombstone": "tombstoned",
              "trg_bank_signals_gen_truncate": "changed"}


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
            op.execute(f"CREATE TRIGGER {name} {when} EXECUTE PROCEDURE "
                       f"bank_signal_generations_bump('{PG_COUNTER[name]}')")
    else:
        for name, (when, body) in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN {body} END")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name in (PG_TRIGGERS if pg else SQLITE_TRIGGERS):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON bank_signals" if pg else ""))
    if pg:
        op.execute("DROP FUNCTION IF EXISTS bank_signal_generations_bump()")
    op.drop_table(T)
