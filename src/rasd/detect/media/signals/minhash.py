"""MinHash of normalised text (near-duplicate text, copypasta): estimated Jaccard
similarity of character 5-gram sets. Distance = 1 - Jaccard; match ≤ 0.3."""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np

from rasd.detect.media.files import FileInfo, Limits
from rasd.detect.media.signals import SignalType, SignalValue

NUM_PERM = 128
SHINGLE = 5
SEED = 1
MAX_TEXT_CHARS = 100_000

_URL = re.compile(r"https?://\S+|www\.\S+|t\.me/\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_NONWORD = re.compile(r"[^\w]+", re.UNICODE)
_TATWEEL = "\u0640"


def normalize_text(text: str) -> str:
    """Case-folded, NFKC, without URLs, @mentions, diacritics, punctuation or tatweel;
    whitespace collapsed. Small edits to copypasta (a link swapped, emoji added,
    tashkeel) do not change the result much."""
    t = unicodedata.normalize("NFKC", text[:MAX_TEXT_CHARS])
    t = _URL.sub(" ", t)
    t = _MENTION.sub(" ", t)
    t = unicodedata.normalize("NFKD", t.casefold())
    t = "".join(ch for ch in t if not unicodedata.combining(ch) and ch != _TATWEEL)
    t = _NONWORD.sub(" ", t).replace("_", " ")
    return " ".join(t.split())


def shingles(norm: str, k: int = SHINGLE) -> set[bytes]:
    if len(norm) <= k:
        return {norm.encode()} if norm else set()
    return {norm[i:i + k].encode() for i in range(len(norm) - k + 1)}


def minhash_of(norm: str, num_perm: int = NUM_PERM, seed: int = SEED):
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=seed)
    sh = shingles(norm)
    if sh:
        m.update_batch(list(sh))
    return m


def encode(hashvalues: np.ndarray) -> str:
    return base64.b64encode(np.asarray(hashvalues, dtype="<u4").tobytes()).decode()


def decode(signal: str) -> np.ndarray:
    raw = base64.b64decode(signal, validate=True)
    if len(raw) != NUM_PERM * 4:
        raise ValueError(f"minhash: expected {NUM_PERM} 32-bit values, got {len(raw)} bytes")
    return np.frombuffer(raw, dtype="<u4")


# What ``decode`` reads: 512 bytes (128 little-endian 32-bit values) in base64 —
# 683 digits and one "=" (strict: no other form decodes to 512 bytes); 171 groups of
# 4 digits, each 3 bytes, the last byte of the last group padding.
SIGNAL_CHARS = 4 * -(-NUM_PERM * 4 // 3)  # 684
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# a byte → its base64 digit's value (0-63); 255 for anything else ("=" included)
_SEXTET = bytes(_B64.index(b) if b in _B64 else 255 for b in range(256))
# signatures decoded in numpy at a time by ``prepare``: 0.7 MB of text, whose
# temporaries stay in the CPU's cache
PREPARE_CHUNK = 1024


def _decode_rows(signals: list[str], out: np.ndarray) -> np.ndarray:
    """Decode, in numpy, the signatures of ``signals`` in the one form ``decode``
    reads into the matching rows of ``out`` (len(signals) × 128, any layout); the
    rows of the others are left as they are. Returns which rows it decoded: the
    same values as ``decode`` for exactly those. Each group of 4 base64 digits is
    one 24-bit value; 4 groups are 12 bytes, 3 little-endian 32-bit values."""
    m = len(signals)
    good = np.zeros(m, dtype=bool)
    try:
        fits = np.fromiter(map(len, signals), dtype=np.intp, count=m) == SIGNAL_CHARS
        text = signals if fits.all() else [s for s, f in zip(signals, fits, strict=True) if f]
        joined = "".join(text)
    except TypeError:  # not all text (bytes, None): decode says what the others are
        fits = np.fromiter((isinstance(s, str) and len(s) == SIGNAL_CHARS for s in signals),
                           dtype=bool, count=m)
        text = [s for s, f in zip(signals, fits, strict=True) if f]
        joined = "".join(text)
    if not text:
        return good
    # one byte a character: a non-ASCII one becomes "?", which no digit is
    raw = joined.encode("ascii", "replace")
    k = len(text)
    chars = np.frombuffer(raw, dtype=np.uint8).reshape(k, SIGNAL_CHARS)
    digit = np.frombuffer(raw.translate(_SEXTET), dtype=np.uint8).reshape(k, SIGNAL_CHARS)
    valid = ((chars[:, -1] == ord("="))
             & (np.bitwise_or.reduce(digit[:, :-1], axis=1) < 64))
    # (d0, d1, d2, d3) of each group, read as one little-endian 32-bit word, to
    # d0 << 18 | d1 << 12 | d2 << 6 | d3 (the "=" of the last group, 255, lands in
    # its low byte: the padding byte, never read)
    w = digit.view("<u4")
    y = w << 18
    y &= 0xFC0000
    t = w & 0x3F00
    t <<= 4
    y |= t
    t = w >> 10
    t &= 0xFC0
    y |= t
    y |= w >> 24
    y0, y1, y2, y3 = y[:, 0::4], y[:, 1::4], y[:, 2::4], y[:, 3::4]  # 43, 43, 43, 42
    # the 12 bytes of 4 groups as 3 big-endian words, then swapped to little-endian
    vals = np.empty((k, NUM_PERM), dtype="<u4")
    a = y0 << 8
    a |= y1 >> 16
    vals[:, 0::3] = a
    a = y1 << 16
    a |= y2 >> 8
    vals[:, 1::3] = a
    a = y2[:, :y3.shape[1]] << 24
    a |= y3
    vals[:, 2::3] = a
    vals.byteswap(inplace=True)
    if k == m and valid.all():  # the rule: every row a signature
        out[...] = vals
        good[:] = True
    else:
        where = np.flatnonzero(fits)[valid]
        out[where] = vals[valid]
        good[where] = True
    return good


def decode_each(signals: list, rows: np.ndarray, ok: np.ndarray, which: Iterable[int]) -> None:
    """``decode`` the signals at ``which`` one by one into ``rows``, ``ok`` set
    for each it reads (a row it refuses is left as it is): ``prepare``'s way
    for the values not in the one form ``_decode_rows`` reads."""
    for i in which:
        try:
            rows[i] = decode(signals[i])
            ok[i] = True
        except ValueError:  # binascii.Error included
            pass


def prepare_row_by_row(signals: list) -> tuple[np.ndarray, np.ndarray]:
    """What ``MinHashSignal.prepare`` gives, made with ``decode`` row by row,
    as it was before the numpy decoding: the reference its tests and
    ``benchmarks/signals.py`` hold it to."""
    rows = np.zeros((len(signals), NUM_PERM), dtype="<u4", order="F")
    ok = np.zeros(len(signals), dtype=bool)
    decode_each(signals, rows, ok, range(len(signals)))
    return rows, ok


class MinHashSignal(SignalType):
    name = "minhash"
    content_types = frozenset({"text"})
    index_kind = "linear"
    default_threshold = 0.3
    description = "MinHash (128 perms) of normalised text 5-grams; distance = 1 - Jaccard"

    def hash_text(self, text: str) -> SignalValue | None:
        norm = normalize_text(text)
        if len(norm) < 20:
            return None  # too short to tell copypasta from coincidence
        return SignalValue(encode(minhash_of(norm).hashvalues))

    def hash_file(self, info: FileInfo, limits: Limits) -> SignalValue | None:
        with open(info.path, "rb") as fh:
            data = fh.read(MAX_TEXT_CHARS * 4)
        return self.hash_text(data.decode("utf-8", errors="replace"))

    def normalize(self, signal: str) -> str:
        s = signal.strip()
        try:
            decode(s)
        except (ValueError, base64.binascii.Error) as e:
            raise ValueError(f"minhash: not a base64 signature: {e}") from None
        return s

    def distance(self, a: str, b: str) -> float:
        return 1.0 - float(np.mean(decode(a) == decode(b)))

    def prepare(self, signals: list[str]) -> Any:
        """(signatures as one N×128 array, which rows decoded): decoded once. The
        array is column-major: ``near`` reads a few permutations of every row, and
        each column is then one contiguous run. The signatures in the one form
        ``decode`` reads (683 base64 digits and one ``=``) are decoded in numpy,
        ``PREPARE_CHUNK`` at a time (``_decode_rows``); any other stored value goes
        through ``decode`` itself, one by one, and its row is left out (``ok``
        false) where that refuses it — what the row-by-row loop before did for
        every signal."""
        n = len(signals)
        rows = np.zeros((n, NUM_PERM), dtype="<u4", order="F")
        ok = np.zeros(n, dtype=bool)
        for start in range(0, n, PREPARE_CHUNK):
            part = signals[start:start + PREPARE_CHUNK]
            ok[start:start + len(part)] = _decode_rows(part, rows[start:start + len(part)])
        decode_each(signals, rows, ok, np.flatnonzero(~ok).tolist())
        return rows, ok

    def distances(self, value: str, prepared: Any) -> list[float | None]:
        rows, ok = prepared
        q = decode(value)
        d = 1.0 - (rows == q).mean(axis=1)  # an empty bank gives an empty array
        return [float(x) if good else None for x, good in zip(d, ok, strict=True)]

    def near(self, value: str, prepared: Any, limit: float) -> list[tuple[int, float]]:
        """The rows within ``limit``, found without a distance per row. A row's
        distance is ``1 - k/128`` for the k permutations it shares with ``value``,
        so ``limit`` is a least k; a row can reach it only while its shares so far
        plus the columns left are ≥ k. The first 129 - k columns are counted for
        every row (one comparison a column) — a row within the limit shares one of
        them, by pigeonhole — then the rest a block at a time for the rows that
        can still reach k. Text banks share common shingles, so
        many rows may share a column or two: they drop out as the columns run
        out, without a copy of their rows. Distances and order are exactly those
        of ``distances`` filtered (the base ``near``)."""
        rows, ok = prepared
        q = decode(value)
        dist = 1.0 - np.arange(NUM_PERM + 1) / NUM_PERM  # = distances' mean, exactly
        within = dist <= limit
        if not within.any():
            return []
        need = int(np.argmax(within))  # the least k; within[k:] all true (dist falls)
        first = min(NUM_PERM - need + 1, NUM_PERM)  # one more than can all differ
        shared = np.zeros(len(rows), dtype=np.uint8)
        for j in range(first):
            shared += rows[:, j] == q[j]
        reach = ok & (shared.astype(np.int16) + (NUM_PERM - first) >= need)
        live = np.flatnonzero(reach)
        shared = shared[live]
        for start in range(first, NUM_PERM, 8):
            stop = min(start + 8, NUM_PERM)
            for j in range(start, stop):
                shared += rows[:, j][live] == q[j]
            reach = shared.astype(np.int16) + (NUM_PERM - stop) >= need
            live, shared = live[reach], shared[reach]
        return list(zip(live.tolist(), dist[shared].tolist(), strict=True))
