"""TLSH: Trend Micro's locality-sensitive hash for documents (python-threatexchange's
TLSH extension uses it for PDFs). Needs ≥ 50 bytes with some variety."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from rasd.detect.media.files import FileInfo, Limits, MediaError
from rasd.detect.media.signals import SignalType, SignalValue

_T = re.compile(r"(t1)?[0-9a-f]{70}")
# what ``distance`` hands to ``tlsh.diff`` (uppercased) that the header can be read
# from: the 128-bucket, 1-byte-checksum hash py-tlsh reads, with or without "T1"
_DIFFABLE = re.compile(r"(T1)?[0-9A-F]{70}")
MAX_TLSH_BYTES = 64 << 20
_HEXVAL = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789ABCDEF"):
    _HEXVAL[_c] = _i


def _pair_digit_table() -> np.ndarray:
    """TLSH's body distance per hex digit: a digit holds two 2-bit bucket codes,
    and two codes a apart add |a| — 6 for 3 (TLSH's bit-pair table)."""
    pair = np.array([[(6 if abs(x - y) == 3 else abs(x - y)) for y in range(4)]
                     for x in range(4)], dtype=np.int16)
    d = np.arange(16)
    return pair[d[:, None] >> 2, d[None, :] >> 2] + pair[d[:, None] & 3, d[None, :] & 3]


DIGIT_DISTANCE = _pair_digit_table()


def digits(upper: list[str]) -> np.ndarray:
    """The 70 hex digits (0-15) of hashes that match ``_DIFFABLE``, one row each,
    column-major (``near`` reads a column at a time): digits 1-2 the checksum,
    3-4 the length value (nibbles swapped), 5 and 6 the Q ratios, 7-70 the
    body, as py-tlsh writes them."""
    raw = np.frombuffer("".join(u[-70:] for u in upper).encode("ascii"), dtype=np.uint8)
    return np.asfortranarray(_HEXVAL[raw].reshape(len(upper), 70))


def header(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(length value, Q1 ratio, Q2 ratio) of ``digits`` rows, as py-tlsh reads
    them (``Tlsh.lvalue``, ``q1ratio``, ``q2ratio``)."""
    d16 = d.astype(np.int16)
    return d16[:, 3] * 16 + d16[:, 2], d16[:, 4], d16[:, 5]


def _mod_diff(a: np.ndarray, b: int, span: int) -> np.ndarray:
    d = np.abs(a - b)
    return np.minimum(d, span - d)


def head_distance(d: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The part of TLSH's distance (``tlsh.diff``, length included) that the
    header makes, for ``digits`` rows ``d`` against one query row ``q``: the
    length values' circular difference l (mod 256) adds l when l ≤ 1, else 12·l;
    each Q ratio's r (mod 16) adds r when r ≤ 1, else 12·(r − 1); a checksum
    that differs adds 1. The body adds ``DIGIT_DISTANCE`` of each digit pair.
    Every term is ≥ 0, so any part of the sum is a lower bound of the distance."""
    lv, q1, q2 = header(d)
    (qlv,), (qq1,), (qq2,) = header(q[None, :])
    ld = _mod_diff(lv, int(qlv), 256)
    out = np.where(ld <= 1, ld, ld * 12)
    for r, qr in ((q1, qq1), (q2, qq2)):
        rd = _mod_diff(r, int(qr), 16)
        out = out + np.where(rd <= 1, rd, (rd - 1) * 12)
    return out + ((d[:, 0] != q[0]) | (d[:, 1] != q[1]))


def body_distance(d: np.ndarray, rows: np.ndarray, q: np.ndarray, cols: range
                  ) -> np.ndarray:
    """The part of TLSH's distance that body digits ``cols`` (6-69) make, for
    ``digits`` rows ``d[rows]`` against one query row ``q``."""
    out = np.zeros(len(rows), dtype=np.int16)
    for j in cols:
        out += DIGIT_DISTANCE[q[j]][d[:, j][rows]]
    return out


def prepare_one_by_one(signals: list[str]) -> Prepared:
    """What ``TlshSignal.prepare`` gives, with ``_DIFFABLE`` matched signal by
    signal, as it was before the numpy reading: the reference its tests and
    ``benchmarks/matcher_refresh.py --prepare`` hold it to."""
    upper = [x.upper() for x in signals]
    ok = np.fromiter((_DIFFABLE.fullmatch(u) is not None for u in upper),
                     dtype=bool, count=len(upper))
    return Prepared(list(signals), np.flatnonzero(ok), np.flatnonzero(~ok),
                    digits([u for u, good in zip(upper, ok, strict=True) if good]))


@dataclass(frozen=True, slots=True)
class Prepared:
    """A TLSH bank for ``near``: the signals as stored, and the ``digits`` of
    those ``tlsh.diff`` reads the hash from (``readable``: their positions;
    ``others``: the positions of the rest)."""

    signals: list[str]
    readable: np.ndarray
    others: np.ndarray
    digits: np.ndarray

    def __iter__(self):  # the base ``distances``, pair by pair, reads the signals
        return iter(self.signals)


class TlshSignal(SignalType):
    name = "tlsh"
    content_types = frozenset({"document", "text", "other"})
    index_kind = "linear"
    # TLSH's authors report low false-positive rates below ~30-40; 30 is conservative.
    default_threshold = 30
    description = "TLSH fuzzy hash of documents (distance, match ≤ 30)"

    def hash_file(self, info: FileInfo, limits: Limits) -> SignalValue | None:
        import tlsh

        if info.size < 50:
            return None
        if info.size > MAX_TLSH_BYTES:
            raise MediaError(f"tlsh: file larger than {MAX_TLSH_BYTES} bytes")
        h = tlsh.Tlsh()
        with open(info.path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        h.final()
        try:
            hx = h.hexdigest()
        except ValueError:  # "not enough variation in input"
            return None
        if not hx or hx == "TNULL":
            return None  # too little variety in the bytes for a TLSH
        return SignalValue(self.normalize(hx))

    def normalize(self, signal: str) -> str:
        s = signal.strip().lower()
        if not _T.fullmatch(s):
            raise ValueError(f"tlsh: expected 70 hex digits (optionally 'T1'-prefixed), "
                             f"got {signal!r:.80}")
        return s if s.startswith("t1") else "t1" + s

    def distance(self, a: str, b: str) -> float:
        import tlsh

        return float(tlsh.diff(a.upper(), b.upper()))

    def prepare(self, signals: list[str]) -> Any:
        """The signals and, where ``tlsh.diff`` can read them (``_DIFFABLE`` of the
        uppercased signal), their digits — read in numpy from the signals joined
        and uppercased as one string, not a regular expression and a slice a
        signal: exactly what ``prepare_one_by_one`` gives. (A character that
        uppercases into several, ``ß``, would move the others: such a bank is
        prepared one by one.)"""
        n = len(signals)
        joined = "".join(signals)
        up = joined.upper()
        if len(up) != len(joined):  # a case mapping grew a character
            return prepare_one_by_one(signals)
        lens = np.fromiter(map(len, signals), dtype=np.int64, count=n)
        ends = np.cumsum(lens)
        # one byte a character: any other than ASCII is "?", not a hex digit
        buf = np.frombuffer(up.encode("ascii", "replace"), dtype=np.uint8)
        cand = np.flatnonzero((lens == 70) | (lens == 72))
        d = _HEXVAL[buf[(ends[cand] - 70)[:, None] + np.arange(70)]]
        good = (d != 255).all(axis=1)
        long = np.flatnonzero(lens[cand] == 72)
        head = buf[(ends[cand[long]] - 72)[:, None] + np.arange(2)]
        good[long] &= (head == np.frombuffer(b"T1", dtype=np.uint8)).all(axis=1)
        ok = np.zeros(n, dtype=bool)
        ok[cand] = good
        return Prepared(list(signals), np.flatnonzero(ok), np.flatnonzero(~ok),
                        np.asfortranarray(d[good]))

    def near(self, value: str, prepared: Any, limit: float) -> list[tuple[int, float]]:
        """The signals within ``limit``. py-tlsh has only a pairwise distance, so
        ``tlsh.diff`` still gives every distance, but only for the signals that a
        lower bound of it, read from the hex digits in numpy, keeps within
        ``limit``: the header's part (length, Q ratios, checksum), then the body's,
        eight digits at a time (``head_distance``, ``body_distance``: TLSH's own
        terms, each ≥ 0, so no match is lost). A stored signal or a value ``tlsh.diff``
        reads some other way (or not at all) is compared as before, pair by pair.
        Same hits, distances and order as the base ``near``."""
        if not isinstance(prepared, Prepared):
            return super().near(value, prepared, limit)
        up = value.upper()
        if not _DIFFABLE.fullmatch(up):  # tlsh.diff decides (no hit, as a rule)
            return super().near(value, prepared, limit)
        q = digits([up])[0]
        d = prepared.digits
        low = head_distance(d, q)
        live = np.flatnonzero(low <= limit)
        low = low[live]
        for start in range(6, 70, 8):
            if not live.size:
                break
            low = low + body_distance(d, live, q, range(start, start + 8))
            keep = low <= limit
            live, low = live[keep], low[keep]
        out: list[tuple[int, float]] = []
        for i in np.union1d(prepared.readable[live], prepared.others).tolist():
            try:
                dist = self.distance(value, prepared.signals[i])
            except ValueError:
                continue
            if dist <= limit:
                out.append((i, dist))
        return out
