"""Radius search over PDQ hashes behind one interface, persisted beside the store.

- ``PdqIndex``: faiss binary index wrapped in an ID map (ids = ``bank_signals.id``).
  Below ``MIH_THRESHOLD`` entries it is ``IndexBinaryFlat`` (exact brute force with
  SIMD popcount: ~1.2 ms/query at 1M, but ~60 ms at 10M); above, faiss
  ``IndexBinaryMultiHash`` with 8 substrings of 32 bits (multi-index hashing). Probing
  every substring within ``nflip`` bits finds every entry within ``8 * (nflip + 1) - 1``
  bits (pigeonhole): the default nflip=2 is exact up to distance 23 and, measured on
  planted near-duplicates spread evenly over 0–31 bits, finds ~99 %; nflip=3
  (``RASD_PDQ_NFLIP=3``) is exact to 31 at ~10× the query time. The 16×16-bit split
  that is exact with nflip=1 was measured slower at 10M (~34 ms/query: its buckets
  hold ~150 entries each). Figures: benchmarks/signals.py and docs/media.md.
- ``IndexManager``: keeps one index per signal type in ``<workspace>/.rasd-index/
  <store-id>/``, with a small JSON state (highest signal id indexed, the signal
  type's generations when it was written, and an owner token). Opening it adds
  signals with a higher id (incremental: new bank entries take effect at the next
  match, in well under a minute); entries that were disabled, tombstoned,
  quarantined or whose bank was disabled are filtered at query time against the
  database, so they take effect at once; when more than 20 % of the entries are
  dead the index is rebuilt from the live ones.

  Whether the index is current is exact, and costs one row's read plus a count of
  the rows above its highest id: triggers (migration 0022) count, per signal
  type, the rows ever inserted, those deleted or changed past what adding can
  follow (a new id, type or value, a signal leaving the tombstoned state) and
  those tombstoned, in the transaction that writes them, whoever writes them
  (``generations``). The counters and the rows are read from one snapshot
  (``snapshot``). An index is rebuilt when a row was deleted or changed since it
  was written, or when the rows inserted since are not all above its highest id
  (a late commit, SQL giving an id); else the rows above it are added. A count
  of the id range, as before, missed a deletion and an insertion together (SQLite
  gives a deleted highest row's id to the next one): a new signal went unmatched,
  a deleted one still matched.

  The store id lives inside the database, so a copied or restored store (a backup, a
  case copy) shares the folder with the store it was copied from, and the two then
  give the same ids to different signals. Each index update therefore writes a new
  random token both into the state file and into the store's ``meta`` table; an index
  whose token is not the store's was last written for another copy (or an older
  state of this one) and is rebuilt. The matcher also checks every hit against the
  stored hash, so a wrong index can cost a rebuild but never a wrong match.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, func, select

from rasd.detect.media import schema as M
from rasd.envvars import env_int
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.upsert import insert_ignore

MIH_THRESHOLD = env_int("RASD_PDQ_MIH_THRESHOLD", 1_000_000, 0, 2**62)
MIH_NHASH = 8
MIH_NFLIP = env_int("RASD_PDQ_NFLIP", 2, 0, 8)  # (C(32, nflip) probes a substring)
DEAD_FRACTION = 0.2
CHUNK = 200_000
VPDQ_FRAME_BITS = 20  # frame entries: id = signal_id << 20 | frame position


def hex_to_codes(hexes: list[str]) -> np.ndarray:
    if not hexes:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, 32).copy()


class PdqIndex:
    """faiss binary index over 256-bit codes with int64 ids and radius search."""

    def __init__(self, kind: str = "flat", *, nhash: int = MIH_NHASH,
                 nflip: int | None = None):
        import faiss

        self.kind = kind
        self.nhash = nhash
        self.nflip = MIH_NFLIP if nflip is None else nflip
        if kind == "flat":
            base = faiss.IndexBinaryFlat(256)
        elif kind == "mih":
            base = faiss.IndexBinaryMultiHash(256, nhash, 256 // nhash)
            base.nflip = self.nflip
        else:
            raise ValueError(f"unknown PDQ index kind {kind!r} (flat, mih)")
        self._base = base
        self.index = faiss.IndexBinaryIDMap2(base)

    @classmethod
    def for_size(cls, n: int) -> PdqIndex:
        return cls("mih" if n >= MIH_THRESHOLD else "flat")

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def exact_radius(self) -> int:
        """Largest distance at which every entry is guaranteed to be found."""
        return 256 if self.kind == "flat" else self.nhash * (self.nflip + 1) - 1

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(codes, dtype=np.uint8),
                                    np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, codes: np.ndarray, radius: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each query code, (ids, distances) of entries within ``radius`` bits."""
        if len(self) == 0 or len(codes) == 0:
            return [(np.zeros(0, np.int64), np.zeros(0, np.int32)) for _ in range(len(codes))]
        import faiss

        # One query per call is the matcher's pattern; OpenMP threads only add spin-wait
        # overhead there (measured 10x slower on a busy 2-core machine), so small
        # batches run on one thread and large batches on all.
        threads = faiss.omp_get_max_threads()
        if len(codes) < 16 and threads > 1:
            faiss.omp_set_num_threads(1)
        try:
            lims, d, i = self.index.range_search(np.ascontiguousarray(codes, dtype=np.uint8),
                                                 radius + 1)  # faiss: strictly below
        finally:
            if len(codes) < 16 and threads > 1:
                faiss.omp_set_num_threads(threads)
        return [(i[lims[k]:lims[k + 1]], d[lims[k]:lims[k + 1]]) for k in range(len(codes))]

    def save(self, path: Path) -> None:
        import faiss

        tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
        faiss.write_index_binary(self.index, str(tmp))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, kind: str, nflip: int | None = None) -> PdqIndex:
        import faiss

        obj = cls.__new__(cls)
        obj.kind = kind
        obj.index = faiss.read_index_binary(str(path))
        obj._base = faiss.downcast_IndexBinary(obj.index.index)
        obj.nflip = MIH_NFLIP if nflip is None else nflip
        obj.nhash = MIH_NHASH
        if kind == "mih":
            obj.nhash = int(obj._base.nhash)
            obj._base.nflip = obj.nflip
        return obj


@dataclass
class IndexStats:
    signal_type: str
    kind: str
    entries: int
    added: int
    rebuilt: bool
    path: str


@dataclass(frozen=True)
class Generation:
    """The counters of one signal type's bank signals (``bank_signal_generations``,
    kept by triggers): rows ever inserted; rows deleted, or changed past what
    adding rows can follow (a new id, type or value, a signal leaving the
    tombstoned state); rows that became tombstoned."""

    inserted: int = 0
    changed: int = 0
    tombstoned: int = 0

    def as_list(self) -> list[int]:
        return [self.inserted, self.changed, self.tombstoned]

    @classmethod
    def of(cls, value: Any) -> Generation | None:
        """From ``as_list`` (a state file's), None where it does not read so."""
        if (isinstance(value, list) and len(value) == 3
                and all(type(v) is int and v >= 0 for v in value)):
            return cls(*value)
        return None

    def follows(self, then: Generation) -> int | None:
        """How many rows were inserted since ``then`` when nothing was deleted or
        changed meanwhile (what was indexed at ``then`` is still there, as it
        was); None otherwise (counters that went back: another store's)."""
        if (self.changed != then.changed or self.inserted < then.inserted
                or self.tombstoned < then.tombstoned):
            return None
        return self.inserted - then.inserted


def generations(c: Connection, signal_type: str) -> Generation:
    """The counters of ``signal_type`` (zeros where no row of it was ever written)."""
    g = M.bank_signal_generations
    row = c.execute(select(g.c.inserted, g.c.changed, g.c.tombstoned).where(
        g.c.signal_type == signal_type)).first()
    return Generation(*(int(v) for v in row)) if row else Generation()


def rows_above(c: Connection, signal_type: str, max_id: int) -> int:
    """Rows of ``signal_type`` (any status) with id > ``max_id``: the rows inserted
    since an index or a prepared bank read up to ``max_id``, when they were all
    given higher ids (a primary-key range: cheap for a few new rows)."""
    bs = M.bank_signals
    return int(c.execute(select(func.count()).where(and_(
        bs.c.signal_type == signal_type, bs.c.id > max_id))).scalar_one())


def dead_if_addable(c: Connection, signal_type: str, gen: Generation, then: Generation,
                    max_id: int, dead: int, entries: int) -> int | None:
    """Whether a reading of ``signal_type``'s signals (an index, a prepared
    linear-scan bank) made at counters ``then``, up to id ``max_id``, holding
    ``entries`` entries of which ``dead`` were tombstoned since, can be brought
    up to date with the counters ``gen`` by adding the rows above ``max_id``:
    its dead entries then, with those tombstoned since ``then``; None where it
    must be read again whole — a row was deleted or changed since
    (``Generation.follows``), a row inserted since is not above ``max_id`` (a
    late commit, an id given by SQL), or more than ``DEAD_FRACTION`` of its
    entries are dead."""
    added = gen.follows(then)
    if added is None or rows_above(c, signal_type, max_id) != added:
        return None
    dead += gen.tombstoned - then.tombstoned
    return None if dead > DEAD_FRACTION * max(1, entries) else dead


@contextmanager
def snapshot(store: Store) -> Iterator[Connection]:
    """A read transaction whose statements all see one state of the store, so that
    counters (``generations``) and the rows read with them agree: SQLite's read
    transaction (BEGIN, which rasd's connections emit); PostgreSQL's REPEATABLE
    READ (its default READ COMMITTED takes a new snapshot each statement)."""
    with store.engine.connect() as c:
        if not store.is_sqlite:
            c.execution_options(isolation_level="REPEATABLE READ")
        with c.begin():
            yield c


def store_id(store: Store) -> str:
    """A random id kept in the store's ``meta`` table: names this store's index folder."""
    with store.begin() as c:
        row = c.execute(select(S.meta.c.value).where(S.meta.c.key == "media.store_id")).first()
        if row:
            return row[0]
        c.execute(insert_ignore(c, S.meta), [{"key": "media.store_id",
                                              "value": uuid.uuid4().hex}])
        return c.execute(select(S.meta.c.value).where(S.meta.c.key == "media.store_id")).one()[0]


def index_dir(store: Store) -> Path:
    base = os.environ.get("RASD_INDEX_DIR")
    root = Path(base) if base else store.workspace_dir() / ".rasd-index"
    d = root / store_id(store)
    d.mkdir(parents=True, exist_ok=True)
    return d


class IndexManager:
    """Up-to-date PDQ and vPDQ-frame indexes for a store (see the module docstring)."""

    def __init__(self, store: Store, directory: Path | None = None):
        self.store = store
        self.dir = directory or index_dir(store)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._cache: dict[str, PdqIndex] = {}
        self._states: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, IndexStats] = {}

    def _state_path(self, signal_type: str) -> Path:
        return self.dir / f"{signal_type}.state.json"

    def _index_path(self, signal_type: str) -> Path:
        return self.dir / f"{signal_type}.faissbin"

    @staticmethod
    def _token_key(signal_type: str) -> str:
        return f"media.index.{signal_type}"

    def _owner_token(self, signal_type: str) -> str | None:
        """The token of the last index update made for this store (None: never)."""
        with self.store.connect() as c:
            return c.execute(select(S.meta.c.value).where(
                S.meta.c.key == self._token_key(signal_type))).scalar()

    def _claim(self, signal_type: str, token: str) -> None:
        """Record in the store that the index now on disk was written for it."""
        m, key = S.meta, self._token_key(signal_type)
        with self.store.begin() as c:
            c.execute(m.delete().where(m.c.key == key))
            c.execute(m.insert().values(key=key, value=token))

    def invalidate(self, signal_type: str) -> None:
        """Forget the index of ``signal_type``: the next ``get`` rebuilds it (a hit
        disagreed with the stored signal, so the index is not this store's)."""
        self._cache.pop(signal_type, None)
        self._states.pop(signal_type, None)
        with self.store.begin() as c:
            c.execute(S.meta.delete().where(S.meta.c.key == self._token_key(signal_type)))

    @staticmethod
    def _chunks(c: Connection, signal_type: str, after_id: int, size: int | None = None
                ) -> Iterator[list[tuple[int, str, str]]]:
        """Signals of every status with id > ``after_id`` in id order, ``size`` rows
        at a time (keyset pages: a 10M-hash rebuild never holds all rows in Python),
        read in the snapshot ``c``. Tombstoned rows come too: the highest id read is
        that of every row."""
        bs = M.bank_signals
        size = size or CHUNK
        last = after_id
        while True:
            q = (select(bs.c.id, bs.c.signal, bs.c.status)
                 .where(and_(bs.c.signal_type == signal_type, bs.c.id > last))
                 .order_by(bs.c.id).limit(size))
            rows = [(r[0], r[1], r[2]) for r in c.execute(q)]
            if not rows:
                return
            yield rows
            last = rows[-1][0]
            if len(rows) < size:
                return

    @staticmethod
    def _stale(c: Connection, signal_type: str, state: dict[str, Any], gen: Generation
               ) -> bool:
        """Whether an index whose state is ``state`` no longer fits the store's rows
        as ``c`` sees them, with counters ``gen``: a row was deleted or changed
        since (``Generation.follows``), a row inserted since is not above its
        highest id (a late commit, an id given by SQL), or more than
        ``DEAD_FRACTION`` of its entries are dead (tombstoned since it was built)."""
        then = Generation.of(state.get("generation"))
        if then is None:
            return True  # written before the counters (or damaged): rebuilt once
        return dead_if_addable(c, signal_type, gen, then, int(state.get("max_id", 0)),
                               int(state.get("dead", 0)), int(state.get("signals", 0))) is None

    def _load(self, signal_type: str, owner: str | None
              ) -> tuple[PdqIndex | None, dict[str, Any]]:
        """The cached or persisted index with its state, when it was written for this
        store as it is now (its token is the store's); else (None, {})."""
        if owner is None:
            return None, {}
        idx, state = self._cache.get(signal_type), self._states.get(signal_type, {})
        if idx is not None and state.get("token") == owner:
            return idx, state
        ipath, spath = self._index_path(signal_type), self._state_path(signal_type)
        try:
            state = json.loads(spath.read_text())
            if (not isinstance(state, dict) or state.get("token") != owner
                    or Generation.of(state.get("generation")) is None
                    or not all(type(state.get(k, 0)) is int and state.get(k, 0) >= 0
                               for k in ("max_id", "signals", "dead"))):
                return None, {}  # another's, or written before the counters: rebuilt
            idx = PdqIndex.load(ipath, state["kind"])
        except (OSError, ValueError, KeyError, RuntimeError):
            return None, {}
        if len(idx) != state.get("entries"):
            return None, {}  # torn write: rebuild
        return idx, state

    @staticmethod
    def _entries(signal_type: str, rows: list[tuple[int, str]]) -> tuple[np.ndarray, np.ndarray]:
        if signal_type == "pdq":
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            return ids, hex_to_codes([r[1] for r in rows])
        if signal_type == "vpdq":
            from rasd.detect.media.signals.vpdq import parse, usable_unique

            ids_l: list[int] = []
            hexes: list[str] = []
            for sid, text in rows:
                for k, hx in enumerate(usable_unique(parse(text))[: 1 << VPDQ_FRAME_BITS]):
                    ids_l.append((sid << VPDQ_FRAME_BITS) | k)
                    hexes.append(hx)
            return np.array(ids_l, dtype=np.int64), hex_to_codes(hexes)
        raise ValueError(f"no faiss index for signal type {signal_type!r}")

    def get(self, signal_type: str, *, rebuild: bool = False) -> PdqIndex:
        """The index for ``pdq`` or ``vpdq``, brought up to date with the banks."""
        ipath, spath = self._index_path(signal_type), self._state_path(signal_type)
        idx, state = (None, {}) if rebuild else self._load(signal_type,
                                                           self._owner_token(signal_type))
        rebuilt = grow = False
        added = read = 0
        with snapshot(self.store) as c:  # counters and rows of one moment
            gen = generations(c, signal_type)
            if idx is not None and self._stale(c, signal_type, state, gen):
                idx = None
            if idx is None:
                bs = M.bank_signals
                n_live = int(c.execute(select(func.count()).where(and_(
                    bs.c.signal_type == signal_type, bs.c.status != "tombstoned"))
                ).scalar_one())
                # vPDQ indexes frames of a few (hundred) videos: flat; PDQ by bank size
                idx = PdqIndex.for_size(n_live) if signal_type == "pdq" else PdqIndex("flat")
                state = {"kind": idx.kind, "max_id": 0, "signals": 0, "dead": 0,
                         "generation": gen.as_list()}
                rebuilt = True
            else:
                state = dict(state)  # the cached state changes only once saved
            for rows in self._chunks(c, signal_type, int(state.get("max_id", 0))):
                live = [(sid, value) for sid, value, status in rows if status != "tombstoned"]
                ids, codes = self._entries(signal_type, live)
                if (not rebuilt and signal_type == "pdq" and idx.kind == "flat"
                        and len(idx) + len(ids) >= MIH_THRESHOLD):
                    grow = True
                    break
                idx.add(ids, codes)
                state["max_id"] = rows[-1][0]
                state["signals"] = int(state.get("signals", 0)) + len(live)
                added += len(ids)
                read += len(rows)
        if grow:
            return self.get(signal_type, rebuild=True)  # grow into multi-hash
        if rebuilt or read:
            then = Generation.of(state["generation"]) or gen
            state["dead"] = int(state.get("dead", 0)) + gen.tombstoned - then.tombstoned
            state["generation"] = gen.as_list()
            state["entries"] = len(idx)
            state["token"] = uuid.uuid4().hex
            idx.save(ipath)
            tmp = spath.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, spath)
            self._claim(signal_type, state["token"])
        self._cache[signal_type] = idx
        self._states[signal_type] = state
        self.stats[signal_type] = IndexStats(signal_type, idx.kind, len(idx), added, rebuilt,
                                             str(ipath))
        return idx
