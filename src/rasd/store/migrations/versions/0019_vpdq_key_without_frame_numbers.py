"""media: a vPDQ signal's key is its frames' hashes and qualities (not frame numbers)

A vPDQ signal in HMA's JSON list has no frame numbers (rasd numbers its frames by
position) and its seconds to 3 significant digits, so the same video imported in
HMA's form and in rasd's had two keys and was held twice in a bank. The key is now
the sha256 of ``vpdq:`` and each frame's ``pdq_hex,quality`` in order (as
``VpdqSignal.key``); stored keys are recomputed here. Where a bank already holds
one video twice (both forms imported before this revision), the earlier row takes
the new key and the later keeps its old one — both stay, as they were: merging two
rows (statuses, labels, notes, matches) is the analyst's call.

Revision ID: 0019
Revises: 0018
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BATCH = 50


def _key(signal: str) -> str | None:
    """As ``VpdqSignal.key`` at this revision, of a stored (normalised) signal:
    ``frame,quality,pdq_hex,seconds`` frames joined by ';'. None if it does not
    read so (such a row keeps its key)."""
    body = []
    for part in signal.split(";"):
        fields = [f.strip() for f in part.split(",")]
        if len(fields) != 4 or len(fields[2]) != 64 or not fields[1].isdigit():
            return None
        body.append(f"{fields[2].lower()},{int(fields[1])}")
    if not body:
        return None
    return hashlib.sha256(f"vpdq:{';'.join(body)}".encode()).hexdigest()


def _rekey_bank(conn: sa.Connection) -> None:
    t = sa.table("bank_signals", sa.column("id", sa.Integer), sa.column("bank_id", sa.Integer),
                 sa.column("signal_type", sa.String), sa.column("signal", sa.Text),
                 sa.column("signal_key", sa.String))
    last = 0
    while True:  # a few rows at a time: a vPDQ signal may be 4 MB
        rows = conn.execute(sa.select(t.c.id, t.c.bank_id, t.c.signal, t.c.signal_key)
                            .where(t.c.signal_type == "vpdq", t.c.id > last)
                            .order_by(t.c.id).limit(BATCH)).all()
        if not rows:
            break
        for r in rows:
            new = _key(r.signal)
            if new is None or new == r.signal_key:
                continue
            if conn.execute(sa.select(t.c.id).where(
                    t.c.bank_id == r.bank_id, t.c.signal_type == "vpdq",
                    t.c.signal_key == new)).first() is not None:
                continue  # the bank holds this video twice: the later row stays as it was
            conn.execute(sa.update(t).where(t.c.id == r.id).values(signal_key=new))
        last = rows[-1].id


def _rekey_media(conn: sa.Connection) -> None:
    t = sa.table("media_signals", sa.column("media_id", sa.Integer),
                 sa.column("signal_type", sa.String), sa.column("signal", sa.Text),
                 sa.column("signal_key", sa.String))
    last = 0
    while True:
        rows = conn.execute(sa.select(t.c.media_id, t.c.signal, t.c.signal_key)
                            .where(t.c.signal_type == "vpdq", t.c.media_id > last)
                            .order_by(t.c.media_id).limit(BATCH)).all()
        if not rows:
            break
        for r in rows:
            new = _key(r.signal)
            if new is not None and new != r.signal_key:
                conn.execute(sa.update(t).where(t.c.media_id == r.media_id,
                                                t.c.signal_type == "vpdq")
                             .values(signal_key=new))
        last = rows[-1].media_id


def upgrade() -> None:
    conn = op.get_bind()
    _rekey_bank(conn)
    _rekey_media(conn)


def downgrade() -> None:
    """Keys as before (sha256 of ``vpdq:`` and the whole normalised signal); a bank
    holding one video in two forms then has two distinct keys again."""
    conn = op.get_bind()
    for name, pk in (("bank_signals", "id"), ("media_signals", "media_id")):
        t = sa.table(name, sa.column(pk, sa.Integer), sa.column("signal_type", sa.String),
                     sa.column("signal", sa.Text), sa.column("signal_key", sa.String))
        for r in conn.execute(sa.select(t.c[pk], t.c.signal).where(
                t.c.signal_type == "vpdq")).all():
            conn.execute(sa.update(t).where(t.c[pk] == r[0], t.c.signal_type == "vpdq")
                         .values(signal_key=hashlib.sha256(
                             f"vpdq:{r.signal}".encode()).hexdigest()))
