"""PDQ index: faiss flat and multi-index hashing agree with a brute-force scan; the
persisted index is updated incrementally and rebuilt when many entries are dead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rasd.detect.media import banks as B
from rasd.detect.media import index as I
from rasd.detect.media.signals.vpdq import pairwise_hamming

POSTER = (Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo" / "telegram"
          / "photos" / "photo_1@01-03-2024_10-00-00.jpg")


def _planted(rng, n: int, nq: int):
    base = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    targets = rng.integers(0, n, nq)
    queries = base[targets].copy()
    flips = rng.integers(0, 32, nq)  # 0..31 flipped bits
    for k in range(nq):
        bits = np.unpackbits(queries[k])
        pos = rng.choice(256, flips[k], replace=False)
        bits[pos] ^= 1
        queries[k] = np.packbits(bits)
    return base, queries, targets


@pytest.mark.parametrize(("kind", "nflip"), [("flat", None), ("mih", 3)])
def test_radius_search_equals_brute_force(kind, nflip):
    """Flat, and multi-index hashing with nflip=3 (pigeonhole: exact to 31), return
    exactly what a brute-force scan returns."""
    rng = np.random.default_rng(42)
    base, queries, targets = _planted(rng, 20_000, 60)
    idx = I.PdqIndex(kind, nflip=nflip)
    ids = np.arange(100, 100 + len(base), dtype=np.int64)
    idx.add(ids, base)
    res = idx.search(queries, 31)
    brute = pairwise_hamming(queries, base)
    for k, (got_ids, got_d) in enumerate(res):
        want = set((np.nonzero(brute[k] <= 31)[0] + 100).tolist())
        assert set(got_ids.tolist()) == want
        assert targets[k] + 100 in want
        assert all(brute[k][i - 100] == d for i, d in zip(got_ids, got_d, strict=True))


def test_mih_default_probe_is_exact_to_23_bits():
    rng = np.random.default_rng(11)
    base = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    idx = I.PdqIndex("mih", nflip=2)
    assert idx.exact_radius() == 23
    idx.add(np.arange(len(base), dtype=np.int64), base)
    for k in range(40):
        q = np.unpackbits(base[k])
        q[rng.choice(256, 23, replace=False)] ^= 1  # 23 bits, spread anywhere
        ids, _ = idx.search(np.packbits(q)[None, :], 31)[0]
        assert k in set(ids.tolist())


def test_mih_save_load_keeps_exact_recall(tmp_path):
    rng = np.random.default_rng(3)
    base, queries, targets = _planted(rng, 5_000, 30)
    idx = I.PdqIndex("mih", nflip=3)
    idx.add(np.arange(len(base), dtype=np.int64), base)
    idx.save(tmp_path / "x.faissbin")
    back = I.PdqIndex.load(tmp_path / "x.faissbin", "mih", nflip=3)
    assert back.nhash == 8 and back.exact_radius() == 31
    assert len(back) == len(base)
    for k, (ids, _) in enumerate(back.search(queries, 31)):
        assert targets[k] in set(ids.tolist())


def _hex(rng) -> str:
    return rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def test_manager_incremental_and_rebuild(store, tmp_path, monkeypatch):
    monkeypatch.setattr(I, "CHUNK", 7)  # read the bank in several pages
    rng = np.random.default_rng(9)
    B.create_bank(store, "k")
    first = [_hex(rng) for _ in range(50)]
    B.add_signals(store, "k", [B.Entry(i, "pdq", h, {}) for i, h in enumerate(first)])
    d = tmp_path / "idx"
    mgr = I.IndexManager(store, d)
    idx = mgr.get("pdq")
    assert len(idx) == 50 and mgr.stats["pdq"].rebuilt
    # a new process sees the persisted index and adds only the new signals
    B.add_signals(store, "k", [B.Entry(1, "pdq", _hex(rng), {}) for _ in range(5)])
    mgr2 = I.IndexManager(store, d)
    idx2 = mgr2.get("pdq")
    assert len(idx2) == 55 and not mgr2.stats["pdq"].rebuilt and mgr2.stats["pdq"].added == 5
    # tombstoning many signals triggers a rebuild without them
    ids = [i for h in first[:20] for i in B.find_signals(store, "k", h, "pdq")]
    B.set_signal_status(store, ids, "tombstoned")
    mgr3 = I.IndexManager(store, d)
    assert len(mgr3.get("pdq")) == 35 and mgr3.stats["pdq"].rebuilt
    # a torn/corrupt file is rebuilt, not trusted
    (d / "pdq.faissbin").write_bytes(b"garbage")
    assert len(I.IndexManager(store, d).get("pdq")) == 35


def test_manager_switches_to_multihash_above_threshold(store, tmp_path, monkeypatch):
    monkeypatch.setattr(I, "MIH_THRESHOLD", 30)
    rng = np.random.default_rng(5)
    B.create_bank(store, "k")
    B.add_signals(store, "k", [B.Entry(i, "pdq", _hex(rng), {}) for i in range(20)])
    mgr = I.IndexManager(store, tmp_path / "i")
    assert mgr.get("pdq").kind == "flat"
    B.add_signals(store, "k", [B.Entry(i, "pdq", _hex(rng), {}) for i in range(20)])
    idx = I.IndexManager(store, tmp_path / "i").get("pdq")
    assert idx.kind == "mih" and len(idx) == 40


def _edited(src, tmp_path, name: str, op) -> str:
    """PDQ of an edited copy of ``src`` (rotated, flipped: far from the original)."""
    from PIL import Image

    from rasd.detect.media.hasher import hash_path

    out = tmp_path / name
    with Image.open(src) as im:
        op(im.convert("RGB")).save(out)
    return hash_path(out, ["pdq"]).signals["pdq"].value


def test_a_copied_store_does_not_use_the_other_copys_index(tmp_path, monkeypatch):
    """A store copied file-for-file (a backup, a case copy) carries the same store id
    and so the same index folder. Each copy then adds different signals under the same
    ids: neither may miss its own signals nor report the other's labels."""
    import shutil

    from PIL import Image

    from rasd.detect.media.matcher import Matcher
    from rasd.store import Store

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    base = _edited(POSTER, tmp_path, "base.png", lambda im: im)
    rot = _edited(POSTER, tmp_path, "rot.png", lambda im: im.transpose(Image.Transpose.ROTATE_90))
    flip = _edited(POSTER, tmp_path, "flip.png",
                   lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    a = Store.open(str(tmp_path / "A.db"))
    B.create_bank(a, "b")
    B.add_signals(a, "b", [B.Entry(1, "pdq", base, {"content": "base"})])
    assert [h.labels["content"] for h in Matcher(a).lookup("pdq", base)] == ["base"]
    a.close()
    shutil.copy(tmp_path / "A.db", tmp_path / "B.db")
    a, b = Store.open(str(tmp_path / "A.db")), Store.open(str(tmp_path / "B.db"))
    try:
        assert I.store_id(a) == I.store_id(b)  # the premise: one index folder
        B.add_signals(a, "b", [B.Entry(1, "pdq", rot, {"content": "rotated"})])
        assert [h.labels["content"] for h in Matcher(a).lookup("pdq", rot)] == ["rotated"]
        B.add_signals(b, "b", [B.Entry(1, "pdq", flip, {"content": "flipped"})])
        mb = Matcher(b)
        assert [h.labels["content"] for h in mb.lookup("pdq", flip)] == ["flipped"]
        assert mb.lookup("pdq", rot) == []
        # and back on A, after B rewrote the shared index
        ma = Matcher(a)
        assert [h.labels["content"] for h in ma.lookup("pdq", rot)] == ["rotated"]
        assert ma.lookup("pdq", flip) == []
    finally:
        a.close()
        b.close()


def test_a_hit_is_checked_against_the_stored_signal(store, tmp_path):
    """An index whose entry holds another value than the signal with its id (a stale
    or foreign index) never reports that signal: the distance is recomputed from the
    stored hash."""
    from rasd.detect.media.matcher import Matcher

    rng = np.random.default_rng(21)
    stored, foreign = _hex(rng), _hex(rng)
    B.create_bank(store, "k")
    B.add_signals(store, "k", [B.Entry(1, "pdq", stored, {})])
    mgr = I.IndexManager(store, tmp_path / "idx")
    idx = mgr.get("pdq")
    (sid,) = B.find_signals(store, "k", stored, "pdq")
    idx.index.remove_ids(np.array([sid], dtype=np.int64))
    idx.add(np.array([sid], dtype=np.int64), I.hex_to_codes([foreign]))
    m = Matcher(store, indexes=mgr)
    assert m.lookup("pdq", foreign) == []
    assert [h.signal_id for h in m.lookup("pdq", stored)] == [sid]


def test_a_signal_back_from_tombstoned_is_indexed_again(store, tmp_path):
    """rasd refuses to revive a tombstone, but a store changed by an older rasd or by
    hand may hold one: the index, built without it, notices and is rebuilt."""
    from sqlalchemy import update

    from rasd.detect.media import schema as M
    from rasd.detect.media.matcher import Matcher

    rng = np.random.default_rng(8)
    hexes = [_hex(rng) for _ in range(10)]
    B.create_bank(store, "k")
    B.add_signals(store, "k", [B.Entry(i, "pdq", h, {}) for i, h in enumerate(hexes)])
    (sid,) = B.find_signals(store, "k", hexes[3], "pdq")
    B.set_signal_status(store, [sid], "tombstoned")
    mgr = I.IndexManager(store, tmp_path / "idx")
    assert len(mgr.get("pdq")) == 9
    with store.begin() as c:
        c.execute(update(M.bank_signals).where(M.bank_signals.c.id == sid)
                  .values(status="active"))
    m = Matcher(store, indexes=I.IndexManager(store, tmp_path / "idx"))
    assert [h.signal_id for h in m.lookup("pdq", hexes[3])] == [sid]


def _signal_row(bank_id: int, value: str, **kw) -> dict:
    from rasd.detect.media import signals as sig
    from rasd.store.db import now

    ts = now()
    return {"bank_id": bank_id, "signal_type": "pdq", "signal": value,
            "signal_key": sig.get("pdq").key(value), "labels": {}, "status": "active",
            "added_at": ts, "updated_at": ts, **kw}


def _indexed_bank(store, tmp_path, seed: int, n: int) -> tuple[list[str], Path]:
    """Bank "k" of ``n`` random PDQ signals, its index built in ``tmp_path/idx``:
    the signals' hex values and the index folder."""
    rng = np.random.default_rng(seed)
    hexes = [_hex(rng) for _ in range(n)]
    B.create_bank(store, "k")
    B.add_signals(store, "k", [B.Entry(i, "pdq", h, {}) for i, h in enumerate(hexes)])
    d = tmp_path / "idx"
    I.IndexManager(store, d).get("pdq")
    return hexes, d


def _found(store, d, value: str) -> list[int]:
    """Signal ids a matcher of a new process (the persisted index) finds for ``value``."""
    from rasd.detect.media.matcher import Matcher

    return [h.signal_id for h in Matcher(store, indexes=I.IndexManager(store, d))
            .lookup("pdq", value)]


@pytest.mark.parametrize("change", ["highest_id_reused", "id_given_again", "value_replaced"])
def test_a_change_that_keeps_the_row_count_is_seen(store, tmp_path, change):
    """The index counted the rows of its id range to tell whether it was current:
    a deletion and an insertion together left the count as it was, and the new
    signal was never matched. SQLite gives a deleted highest row's id to the next
    one (a signal deleted by hand, then ``bank import``); SQL may give a row an id
    again, or replace a stored value in place. Each is seen (the counters that
    triggers keep), and the index is rebuilt."""
    from sqlalchemy import delete, update

    from rasd.detect.media import schema as M

    rng = np.random.default_rng(31)
    hexes = [_hex(rng) for _ in range(10)]
    new = _hex(rng)
    bank = B.create_bank(store, "k")
    B.add_signals(store, "k", [B.Entry(i, "pdq", h, {}) for i, h in enumerate(hexes)])
    ids = {h: B.find_signals(store, "k", h, "pdq")[0] for h in hexes}
    d = tmp_path / "idx"
    assert len(I.IndexManager(store, d).get("pdq")) == 10
    bs = M.bank_signals
    gone = hexes[-1] if change == "highest_id_reused" else hexes[4]
    if change == "value_replaced":
        with store.begin() as c:
            c.execute(update(bs).where(bs.c.id == ids[gone]).values(
                signal=new, signal_key=_signal_row(bank.id, new)["signal_key"]))
    else:
        with store.begin() as c:
            c.execute(delete(bs).where(bs.c.id == ids[gone]))
        if change == "highest_id_reused":
            B.add_signals(store, "k", [B.Entry(1, "pdq", new, {})])
        else:
            with store.begin() as c:
                c.execute(bs.insert().values(**_signal_row(bank.id, new, id=ids[gone])))
    (sid,) = B.find_signals(store, "k", new, "pdq")
    if store.is_sqlite or change != "highest_id_reused":
        assert sid == ids[gone]  # the count of the id range is what it was
    assert _found(store, d, new) == [sid]
    assert _found(store, d, gone) == []
    mgr = I.IndexManager(store, d)
    assert len(mgr.get("pdq")) == 10 and not mgr.stats["pdq"].rebuilt  # current now


def test_a_late_commit_below_the_highest_id_is_indexed(pg_store, tmp_path):
    """PostgreSQL gives ids when rows are written, not when they commit: a signal
    given its id before the index was built but committed after it has an id below
    the highest indexed one. Its insertion is counted, the rows above the highest
    id do not hold it, and the index is rebuilt with it; a deletion at the same
    time (which kept the old row count) does not hide it."""
    from sqlalchemy import delete, text

    from rasd.detect.media import schema as M

    store = pg_store
    rng = np.random.default_rng(32)
    hexes = [_hex(rng) for _ in range(5)]
    late, after = _hex(rng), _hex(rng)
    bank = B.create_bank(store, "k")
    B.add_signals(store, "k", [B.Entry(i, "pdq", h, {}) for i, h in enumerate(hexes)])
    with store.begin() as c:  # the id the late writer's INSERT drew
        lid = c.execute(text("SELECT nextval(pg_get_serial_sequence('bank_signals', 'id'))")
                        ).scalar_one()
    B.add_signals(store, "k", [B.Entry(1, "pdq", after, {})])
    d = tmp_path / "idx"
    assert len(I.IndexManager(store, d).get("pdq")) == 6
    with store.begin() as c:  # the late commit, and a deletion with it
        c.execute(M.bank_signals.insert().values(**_signal_row(bank.id, late, id=lid)))
        c.execute(delete(M.bank_signals).where(
            M.bank_signals.c.id == B.find_signals(store, "k", hexes[0], "pdq")[0]))
    (aid,) = B.find_signals(store, "k", after, "pdq")
    assert B.find_signals(store, "k", late, "pdq") == [lid] and lid < aid
    assert _found(store, d, late) == [lid]
    assert _found(store, d, after) == [aid]
    assert _found(store, d, hexes[0]) == []


def test_an_unchanged_index_reads_no_rows(store, tmp_path):
    """Whether the index is current costs the counters' row and a count of the rows
    above its highest id, not a count of all of them: unchanged, nothing is read
    or written; status changes other than tombstoning do not touch it."""
    hexes, d = _indexed_bank(store, tmp_path, 33, 20)
    before = (d / "pdq.state.json").read_text()
    ids = B.find_signals(store, "k", hexes[0], "pdq")
    B.set_signal_status(store, ids, "disabled")
    mgr = I.IndexManager(store, d)
    assert len(mgr.get("pdq")) == 20
    assert not mgr.stats["pdq"].rebuilt and mgr.stats["pdq"].added == 0
    assert (d / "pdq.state.json").read_text() == before


def test_migration_0022_counts_the_signals_stored_before_it(store):
    """A store upgraded to 0022 has its signals counted as inserted, and its
    triggers count from then on; the downgrade takes the triggers and the table
    away (signals are written without them)."""
    from alembic import command
    from sqlalchemy import inspect

    from rasd.store.migrate import alembic_config

    rng = np.random.default_rng(34)
    B.create_bank(store, "k")

    def write(n: int) -> None:
        B.add_signals(store, "k", [B.Entry(i, "pdq", _hex(rng), {}) for i in range(n)])

    def step(revision: str, up: bool) -> None:
        with store.engine.connect() as c:
            cfg = alembic_config(store.engine)
            cfg.attributes["connection"] = c
            (command.upgrade if up else command.downgrade)(cfg, revision)
            c.commit()

    write(3)
    step("0021", up=False)
    assert "bank_signal_generations" not in inspect(store.engine).get_table_names()
    write(4)
    step("head", up=True)
    with store.connect() as c:
        assert I.generations(c, "pdq") == I.Generation(7, 0, 0)
    write(2)
    ids = B.find_signals(store, "k", "1")
    B.set_signal_status(store, ids, "tombstoned")
    with store.connect() as c:
        assert I.generations(c, "pdq") == I.Generation(9, 0, 1)
        assert I.generations(c, "md5") == I.Generation()


def test_the_counters_count_every_kind_of_write(store):
    """``bank_signal_generations`` as the triggers keep it, on SQLite (a row
    trigger) and PostgreSQL (a statement trigger): an import counts its signals
    inserted (its duplicates not); a status other than tombstoned changes
    nothing; a tombstone counts once; a deletion, a new type (for both types),
    a new id, a signal set back from tombstoned, and a bank's deletion (its
    signals by cascade) count as changed."""
    from sqlalchemy import delete, update

    from rasd.detect.media import schema as M

    rng = np.random.default_rng(35)
    bs = M.bank_signals
    B.create_bank(store, "k")
    hexes = [_hex(rng) for _ in range(6)]
    B.add_signals(store, "k", [B.Entry(i, "pdq", h, {}) for i, h in enumerate(hexes)])
    B.add_signals(store, "k", [B.Entry(i, "pdq", h, {}) for i, h in enumerate(hexes[:3])])
    ids = [B.find_signals(store, "k", h, "pdq")[0] for h in hexes]

    def gen(t: str = "pdq") -> tuple[int, int, int]:
        with store.connect() as c:
            return tuple(I.generations(c, t).as_list())

    def sql(stmt) -> None:
        with store.begin() as c:
            c.execute(stmt)

    assert gen() == (6, 0, 0)
    B.set_signal_status(store, ids[:2], "disabled")
    B.set_signal_status(store, ids[:1], "quarantined")
    assert gen() == (6, 0, 0)
    B.set_signal_status(store, ids[:2], "tombstoned")
    B.set_signal_status(store, ids[:2], "tombstoned")  # again: already
    assert gen() == (6, 0, 2)
    sql(update(bs).where(bs.c.id == ids[0]).values(status="active"))
    assert gen() == (6, 1, 2)
    sql(delete(bs).where(bs.c.id == ids[1]))
    assert gen() == (6, 2, 2)
    sql(update(bs).where(bs.c.id == ids[2]).values(signal_type="sha256"))
    assert gen() == (6, 3, 2) and gen("sha256") == (0, 1, 0)
    sql(update(bs).where(bs.c.id == ids[3]).values(id=ids[-1] + 100))
    assert gen()[1] > 3
    before = gen()
    sql(delete(M.hash_banks))
    assert gen()[1] > before[1] and gen("sha256")[1] == 2


def test_a_state_file_of_another_form_is_rebuilt(store, tmp_path):
    """An index state written before the counters (an older rasd's: a row count,
    no generation) is rebuilt once; so is one whose numbers do not read as such
    (a damaged file), where reading it raised ValueError."""
    import json

    hexes, d = _indexed_bank(store, tmp_path, 36, 5)
    spath = d / "pdq.state.json"
    state = json.loads(spath.read_text())
    for changed in ({"rows": 5, "generation": None}, {"max_id": "x"}, {"dead": -1},
                    {"generation": [5, 0]}):
        spath.write_text(json.dumps({**state, **changed}))
        mgr = I.IndexManager(store, d)
        assert len(mgr.get("pdq")) == 5 and mgr.stats["pdq"].rebuilt, changed
        state = json.loads(spath.read_text())
        mgr = I.IndexManager(store, d)
        assert len(mgr.get("pdq")) == 5 and not mgr.stats["pdq"].rebuilt
    assert _found(store, d, hexes[2]) == B.find_signals(store, "k", hexes[2])
