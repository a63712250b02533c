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
  <store-id>/``, with a small JSON state (highest signal id indexed). Opening it adds
  signals with a higher id (incremental: new bank entries take effect at the next
  match, in well under a minute); entries that were disabled, tombstoned, quarantined
  or whose bank was disabled are filtered at query time against the database, so they
  take effect at once; when more than 20 % of the entries are dead the index is
  rebuilt from the live ones.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, func, select

from rasd.detect.media import schema as M
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.upsert import insert_ignore

MIH_THRESHOLD = int(os.environ.get("RASD_PDQ_MIH_THRESHOLD", "1000000"))
MIH_NHASH = 8
MIH_NFLIP = int(os.environ.get("RASD_PDQ_NFLIP", "2"))
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
        self.stats: dict[str, IndexStats] = {}

    def _state_path(self, signal_type: str) -> Path:
        return self.dir / f"{signal_type}.state.json"

    def _index_path(self, signal_type: str) -> Path:
        return self.dir / f"{signal_type}.faissbin"

    def _chunks(self, signal_type: str, after_id: int, size: int | None = None
                ) -> Iterator[list[tuple[int, str]]]:
        """Live signals with id > ``after_id`` in id order, ``size`` rows at a time
        (keyset pages: a 10M-hash rebuild never holds all rows in Python)."""
        bs = M.bank_signals
        size = size or CHUNK
        last = after_id
        while True:
            q = (select(bs.c.id, bs.c.signal)
                 .where(and_(bs.c.signal_type == signal_type, bs.c.id > last,
                             bs.c.status != "tombstoned"))
                 .order_by(bs.c.id).limit(size))
            with self.store.connect() as c:
                rows = [(r[0], r[1]) for r in c.execute(q)]
            if not rows:
                return
            yield rows
            last = rows[-1][0]
            if len(rows) < size:
                return

    def _live_count(self, signal_type: str, max_id: int) -> int:
        bs = M.bank_signals
        with self.store.connect() as c:
            return int(c.execute(select(func.count()).where(and_(
                bs.c.signal_type == signal_type, bs.c.id <= max_id,
                bs.c.status != "tombstoned"))).scalar_one())

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
        state: dict[str, Any] = {}
        idx = None if rebuild else self._cache.get(signal_type)
        if idx is None and not rebuild and ipath.exists() and spath.exists():
            try:
                state = json.loads(spath.read_text())
                idx = PdqIndex.load(ipath, state["kind"])
                if len(idx) != state.get("entries"):
                    idx = None  # torn write: rebuild
            except (OSError, ValueError, KeyError, RuntimeError):
                idx, state = None, {}
        elif idx is not None:
            state = json.loads(spath.read_text()) if spath.exists() else {}
        rebuilt = False
        if idx is not None:
            max_id = int(state.get("max_id", 0))
            live = self._live_count(signal_type, max_id)
            dead = int(state.get("signals", 0)) - live
            if dead > DEAD_FRACTION * max(1, int(state.get("signals", 0))):
                idx = None
        added = 0
        if idx is None:
            n_live = self._live_count(signal_type, 2**31 - 1)
            # vPDQ indexes frames of a few (hundred) videos: flat; PDQ by bank size
            idx = PdqIndex.for_size(n_live) if signal_type == "pdq" else PdqIndex("flat")
            state = {"kind": idx.kind, "max_id": 0, "signals": 0}
            rebuilt = True
            after = 0
        else:
            after = int(state.get("max_id", 0))
        for rows in self._chunks(signal_type, after):
            ids, codes = self._entries(signal_type, rows)
            if (not rebuilt and signal_type == "pdq" and idx.kind == "flat"
                    and len(idx) + len(ids) >= MIH_THRESHOLD):
                return self.get(signal_type, rebuild=True)  # grow into multi-hash
            idx.add(ids, codes)
            state["max_id"] = rows[-1][0]
            state["signals"] = int(state.get("signals", 0)) + len(rows)
            added += len(ids)
        if rebuilt or added:
            state["entries"] = len(idx)
            idx.save(ipath)
            tmp = spath.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, spath)
        self._cache[signal_type] = idx
        self.stats[signal_type] = IndexStats(signal_type, idx.kind, len(idx), added, rebuilt,
                                             str(ipath))
        return idx
