"""Known-content matching benchmark: hashing speed and PDQ index size/speed.

Prints
1. images hashed per second: PDQ only (decode + hash) and the full ``rasd hash``
   pipeline (read, md5, sha256, sniff, decode, PDQ), one process and one per core,
   on generated 640x480 JPEGs (anchor: Meta's C++ PDQ hasher, 527-566 photos/s);
2. copypasta clustering: posts per second of ``rasd clusters build`` (MinHash + LSH)
   on generated posts with planted near-copies, cold and with cached signatures;
3. for each index size: build time, RAM (RSS growth), single-query latency and
   batched throughput of the faiss flat index and the multi-index-hashing index
   rasd uses above 1M hashes, their recall on planted near-duplicates (0-31 flipped
   bits) against a brute-force numpy popcount scan in the same run, and the ratio of
   the brute-force latency to each index's (goal: ≤ 1 ms/query at 10M in ≤ 8 GB);
4. linear-scan lookups (MinHash at 10k/100k/1M signals, TLSH at 10k/100k): latency
   per lookup before (a distance per bank signal, filtered in Python) and after
   (``SignalType.near``), in the same run, their ratio and whether they agree; the
   time to prepare each MinHash bank before (``decode`` signal by signal) and after
   (decoded in numpy), twice each, alternating, and whether both made the same
   arrays; and ``Matcher.lookup`` of one item against a stored MinHash bank (what a
   scan pays per item), and of a new matcher's first item (the bank read from the
   store and prepared), before and after (``benchmarks/matcher_refresh.py``: what
   ``Matcher.refresh`` costs).

    python benchmarks/signals.py                       # 1M hashes, 500 images
    python benchmarks/signals.py --sizes 1000000,10000000
    python benchmarks/signals.py --sizes 100000 --images 100 --json
    python benchmarks/signals.py --sizes "" --images 0 --posts 0   # linear lookups only

Each index size runs in a child process so that its RAM figure is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# --- hashing --------------------------------------------------------------------
def make_images(d: Path, n: int, seed: int = 0, size: tuple[int, int] = (640, 480)
                ) -> list[Path]:
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        small = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        im = Image.fromarray(small).resize(size, Image.BICUBIC)
        im = im.filter(ImageFilter.GaussianBlur(2))
        p = d / f"img{i:05d}.jpg"
        im.save(p, quality=85)
        out.append(p)
    return out


def _pdq_only(paths: list[str]) -> int:
    from rasd.detect.media.files import Limits, load_image_rgb
    from rasd.detect.media.signals.pdq import hash_array

    lim = Limits()
    for p in paths:
        hash_array(load_image_rgb(Path(p), lim))
    return len(paths)


def _full(paths: list[str]) -> int:
    from rasd.detect.media.hasher import hash_path

    for p in paths:
        hash_path(p, ["md5", "sha256", "pdq"])
    return len(paths)


def bench_hashing(n_images: int, workers: int, size: tuple[int, int] = (640, 480)) -> dict:
    with tempfile.TemporaryDirectory() as td:
        paths = [str(p) for p in make_images(Path(td), n_images, size=size)]
        _pdq_only(paths[:5])  # warm imports
        res = {"images": n_images, "size": f"{size[0]}x{size[1]} JPEG q85"}
        for name, fn in (("pdq_only", _pdq_only), ("rasd_hash", _full)):
            t = time.perf_counter()
            fn(paths)
            res[f"{name}_per_s_1proc"] = round(n_images / (time.perf_counter() - t), 1)
            if workers > 1:
                chunks = [paths[i::workers] for i in range(workers)]
                with ProcessPoolExecutor(workers) as ex:
                    list(ex.map(fn, [c[:2] for c in chunks]))  # warm workers
                    t = time.perf_counter()
                    list(ex.map(fn, chunks))
                res[f"{name}_per_s_{workers}proc"] = round(
                    n_images / (time.perf_counter() - t), 1)
    return res


# --- copypasta clusters ----------------------------------------------------------------
_VOCAB = ("the of and to in is for on that with as are at this be by from was have not they "
         "news city report people day time world today state new video attack police said "
         "government week group support join share read more brothers convoy friday travel "
         "must wait permission short market weather rain north south match league")
WORDS = _VOCAB.split()


def bench_clusters(n_posts: int, seed: int = 3) -> dict:
    """Posts in a temporary SQLite store: 90 % unrelated random sentences, 10 % copies
    of 50 campaign texts with small edits; time ``build_clusters`` (cold and warm)."""
    import random
    from datetime import UTC, datetime

    from rasd.detect.media.textdup import build_clusters
    from rasd.store import Store
    from rasd.store import schema as S

    rng = random.Random(seed)
    campaigns = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 40)))
                 for _ in range(50)]
    ts = datetime(2024, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as td:
        st = Store.open(str(Path(td) / "b.db"))
        with st.begin() as c:
            c.execute(S.accounts.insert(), [{"platform": "x", "platform_id": f"a{i}",
                                             "first_seen": ts, "last_seen": ts, "stub": False}
                                            for i in range(1000)])
            rows = []
            planted = 0
            for i in range(n_posts):
                if rng.random() < 0.1:
                    words = rng.choice(campaigns).split()
                    k = rng.randrange(len(words))
                    words[k] = rng.choice(WORDS)  # one word changed
                    text = " ".join(words) + rng.choice(["", " !!", " https://t.me/x"])
                    planted += 1
                else:
                    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40)))
                rows.append({"platform": "x", "platform_id": str(i), "kind": "post",
                             "text": text, "account_id": rng.randint(1, 1000),
                             "created_at": ts, "first_seen": ts, "last_seen": ts})
                if len(rows) == 20_000:
                    c.execute(S.posts.insert(), rows)
                    rows = []
            if rows:
                c.execute(S.posts.insert(), rows)
        t = time.perf_counter()
        rep = build_clusters(st)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        build_clusters(st)
        warm = time.perf_counter() - t
        st.close()
    return {"posts": n_posts, "planted_copies": planted, "campaigns": 50,
            "clusters": rep.clusters, "clustered_posts": rep.clustered_posts,
            "cold_s": round(cold, 1), "warm_s": round(warm, 1),
            "posts_per_s_cold": round(n_posts / cold)}


# --- linear-scan lookups (MinHash, TLSH) ------------------------------------------------
def _minhash_bank(rng: np.random.Generator, n: int, q: np.ndarray) -> list[str]:
    """``n`` MinHash signatures: random, but one in 500 shares 80-128 of its 128
    values with ``q`` (distances 0-0.375: hits and misses on both sides of 0.3)."""
    from rasd.detect.media.signals.minhash import NUM_PERM, encode

    rows = rng.integers(0, 2**32, (n, NUM_PERM), dtype=np.uint64).astype("<u4")
    for i in range(0, n, 500):
        k = int(rng.integers(80, NUM_PERM + 1))
        cols = rng.choice(NUM_PERM, k, replace=False)
        rows[i, cols] = q[cols]
    return [encode(r) for r in rows]


def _tlsh_headers(rng: np.random.Generator, n: int) -> list[str]:
    """Real TLSH hashes of ``n`` generated documents of 256 B - 1 MB (log-uniform):
    their headers (length value, Q ratios) are what a bank of documents holds."""
    import tlsh

    out = []
    for _ in range(n):
        size = int(2 ** rng.uniform(8, 20))
        block = rng.integers(0, 256, min(size, 4096), dtype=np.uint8).tobytes()
        out.append(tlsh.hash((block * (size // len(block) + 1))[:size]))
    return out


def _tlsh_bank(rng: np.random.Generator, n: int, headers: list[str], q: str) -> list[str]:
    """``n`` TLSH signals: a real header (``headers``), a random body; one in 500 is
    ``q`` with a few body digits changed (a near copy)."""
    hexd = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
    bodies = hexd[rng.integers(0, 16, (n, 64))]
    out = []
    for i in range(n):
        if i % 500 == 0:
            b = bytearray(q[8:].encode())
            for pos in rng.choice(64, int(rng.integers(0, 12)), replace=False):
                b[pos] = int(hexd[rng.integers(0, 16)])
            out.append(q[:8] + b.decode())
        else:
            out.append(headers[i % len(headers)][:8] + bodies[i].tobytes().decode())
    return out


def _prepare_before(mh, signals: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """MinHash ``prepare`` as it was: ``decode`` (base64, an array) signal by
    signal into the column-major array (``minhash.prepare_row_by_row``)."""
    from rasd.detect.media.signals.minhash import prepare_row_by_row

    return prepare_row_by_row(signals)


def _prepare_times(mh, bank: list[str], repeat: int = 2
                   ) -> tuple[list[float], list[float], bool]:
    """Seconds to prepare ``bank`` before (row by row) and after (numpy), each
    ``repeat`` times, alternating; and whether both made the same arrays."""
    before: list[float] = []
    after: list[float] = []
    same = True
    for _ in range(repeat):
        for fn, times in ((lambda b: _prepare_before(mh, b), before), (mh.prepare, after)):
            t = time.perf_counter()
            res = fn(bank)
            times.append(round(time.perf_counter() - t, 2))
            if times is before:
                want = res
            else:
                same = same and np.array_equal(res[0], want[0]) and np.array_equal(
                    res[1], want[1]) and res[0].flags.f_contiguous
            del res
        del want
    return before, after, same


def _per_lookup_ms(fn, queries: list[str], repeat: int) -> tuple[float, list]:
    fn(queries[0])  # warm
    t = time.perf_counter()
    res = [fn(v) for v in queries for _ in range(repeat)]
    return (time.perf_counter() - t) * 1000 / len(res), res[::repeat]


def bench_linear(minhash_sizes: list[int], tlsh_sizes: list[int], n_queries: int = 5,
                 seed: int = 5) -> list[dict]:
    """Per-lookup latency of a linear-scan bank, before and after in the same run:
    *before* is the previous path — ``distances`` (one Python float per bank signal;
    MinHash on the previous row-major array) filtered in Python, i.e. the base
    ``SignalType.near``; *after* is the type's ``near``. Both must give the same
    (position, distance) list. MinHash is measured on random signatures and on
    those of 10,000 generated texts of a small vocabulary (each repeated), which
    share many values, as texts with common shingles do; TLSH is measured on a bank of mixed document sizes
    and on one whose signals all have the query's length value (the pre-filter's
    worst case)."""
    from rasd.detect.media.signals import SignalType, get
    from rasd.detect.media.signals.minhash import NUM_PERM, encode

    rng = np.random.default_rng(seed)
    out: list[dict] = []
    mh = get("minhash")
    qs = [rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64).astype("<u4")
          for _ in range(n_queries)]
    for n in minhash_sizes:
        bank = _minhash_bank(rng, n, qs[0])
        prep_before, prep_after, prep_same = _prepare_times(mh, bank)
        prep = mh.prepare(bank)
        del bank
        rowmajor = (np.ascontiguousarray(prep[0]), prep[1])
        queries = [encode(q) for q in qs]
        rep = max(1, 100_000 // n)
        before, r0 = _per_lookup_ms(
            lambda v, p=rowmajor: SignalType.near(mh, v, p, mh.default_threshold), queries, rep)
        after, r1 = _per_lookup_ms(
            lambda v, p=prep: mh.near(v, p, mh.default_threshold), queries, rep)
        out.append({"type": "minhash", "signals": n,
                    "prepare_before_s": prep_before, "prepare_after_s": prep_after,
                    "prepare_speedup": round(min(prep_before) / min(prep_after), 1),
                    "prepare_identical": prep_same, "before_ms": round(before, 3), "after_ms": round(after, 3),
                    "speedup": round(before / after, 1), "hits_first_query": len(r1[0]),
                    "identical": r0 == r1})
        del rowmajor, prep
    if minhash_sizes:  # signatures of texts share values (common shingles): worse
        import random

        r = random.Random(seed)
        texts = [mh.hash_text(" ".join(r.choice(WORDS) for _ in range(r.randint(12, 40))))
                 for _ in range(10_000)]
        n = min(100_000, max(minhash_sizes))
        prep = mh.prepare([t.value for t in texts] * (n // 10_000 or 1))
        rowmajor = (np.ascontiguousarray(prep[0]), prep[1])
        queries = [t.value for t in texts[:n_queries]]
        before, r0 = _per_lookup_ms(
            lambda v, p=rowmajor: SignalType.near(mh, v, p, mh.default_threshold), queries, 2)
        after, r1 = _per_lookup_ms(
            lambda v, p=prep: mh.near(v, p, mh.default_threshold), queries, 2)
        out.append({"type": "minhash (text signatures)", "signals": len(prep[1]),
                    "before_ms": round(before, 3), "after_ms": round(after, 3),
                    "speedup": round(before / after, 1), "hits_first_query": len(r1[0]),
                    "identical": r0 == r1})
        del rowmajor, prep
    tl = get("tlsh")
    headers = _tlsh_headers(rng, 400)
    for n in tlsh_sizes:
        for kind in ("mixed sizes", "one length"):
            q = headers[0]
            pool = headers if kind == "mixed sizes" else [
                h for h in headers if h[4:6] == q[4:6]] or [q]
            bank = _tlsh_bank(rng, n, pool, q)
            t = time.perf_counter()
            prep = tl.prepare(bank)
            prep_s = time.perf_counter() - t
            queries = [q] + [b for b in bank[1:n_queries * 7:7]][:n_queries - 1]
            rep = max(1, 20_000 // n)
            before, r0 = _per_lookup_ms(
                lambda v, p=prep: SignalType.near(tl, v, p, tl.default_threshold), queries, rep)
            after, r1 = _per_lookup_ms(
                lambda v, p=prep: tl.near(v, p, tl.default_threshold), queries, rep)
            out.append({"type": f"tlsh ({kind})", "signals": n, "prepare_s": round(prep_s, 2),
                        "before_ms": round(before, 3), "after_ms": round(after, 3),
                        "speedup": round(before / after, 1),
                        "hits_first_query": len(r1[0]), "identical": r0 == r1})
    return out


def bench_scan_item(n: int, seed: int = 6) -> dict:
    """What one item costs in a scan: ``Matcher.lookup`` of a MinHash value against a
    SQLite bank of ``n`` signals (prepared once per matcher, as a scan does), with
    the previous path (the base ``near``, here on the new column-major array) and
    the new one; for an item that matches nothing (most of a scan) and one with a
    near copy in every 500 signals (the hits are then read from the store)."""
    from types import MethodType

    from rasd.detect.media import banks as B
    from rasd.detect.media import schema as M
    from rasd.detect.media.matcher import Matcher
    from rasd.detect.media.signals import SignalType, get
    from rasd.detect.media.signals.minhash import NUM_PERM, encode
    from rasd.store import Store
    from rasd.store.db import now

    rng = np.random.default_rng(seed)
    q = rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64).astype("<u4")
    mh = get("minhash")
    with tempfile.TemporaryDirectory() as td:
        st = Store.open(str(Path(td) / "m.db"))
        B.create_bank(st, "b")
        ts = now()
        with st.begin() as c:
            bid = c.execute(M.hash_banks.select()).first().id
            bank = _minhash_bank(rng, n, q)
            c.execute(M.bank_signals.insert(), [
                {"bank_id": bid, "signal_type": "minhash", "signal": s,
                 "signal_key": f"{i:064x}", "added_at": ts, "updated_at": ts}
                for i, s in enumerate(bank)])  # near copies may repeat a signal
        m = Matcher(st)
        m.lookup("minhash", encode(q))  # prepares the bank
        res: dict = {"signals": n, "first_lookup_before_s": [], "first_lookup_after_s": []}
        for _ in range(2):  # a new matcher's first lookup: the bank read and prepared
            for label in ("before", "after"):
                if label == "before":  # the previous preparation, row by row
                    mh.prepare = MethodType(_prepare_before, mh)
                try:
                    fresh = Matcher(st)  # (a refresh prepares only what was added)
                    t = time.perf_counter()
                    fresh.lookup("minhash", encode(q))
                    res[f"first_lookup_{label}_s"].append(round(time.perf_counter() - t, 2))
                finally:
                    mh.__dict__.pop("prepare", None)
        other = rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64).astype("<u4")
        for item, v in (("no_hit", encode(other)), ("hit", encode(q))):
            res[f"{item}_hits"] = len(m.lookup("minhash", v))
            for label in ("before", "after"):
                if label == "before":
                    mh.near = MethodType(SignalType.near, mh)  # the previous path
                try:
                    m.lookup("minhash", v)
                    t = time.perf_counter()
                    for _ in range(20):
                        m.lookup("minhash", v)
                    res[f"{item}_{label}_ms"] = round((time.perf_counter() - t) * 1000 / 20, 2)
                finally:
                    mh.__dict__.pop("near", None)
            res[f"{item}_speedup"] = round(res[f"{item}_before_ms"] / res[f"{item}_after_ms"], 1)
        st.close()
    return res


# --- index --------------------------------------------------------------------------
def planted(rng: np.random.Generator, n: int, nq: int) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    base = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    targets = rng.integers(0, n, nq)
    q = base[targets].copy()
    for k in range(nq):
        bits = np.unpackbits(q[k])
        bits[rng.choice(256, int(rng.integers(0, 32)), replace=False)] ^= 1
        q[k] = np.packbits(bits)
    return base, q, targets


def brute(base64: np.ndarray, q: np.ndarray, radius: int) -> np.ndarray:
    qq = q.view(np.uint64).reshape(-1)
    d = np.bitwise_count(base64 ^ qq).sum(axis=1, dtype=np.int32)
    return np.nonzero(d <= radius)[0]


def bench_index(n: int, n_queries: int, n_brute: int, nhash: int,
                nflips: tuple[int, ...] = (2, 3), seed: int = 1) -> dict:
    from rasd.detect.media.index import PdqIndex

    rng = np.random.default_rng(seed)
    base, queries, targets = planted(rng, n, n_queries)
    ids = np.arange(n, dtype=np.int64)
    out: dict = {"hashes": n, "queries": n_queries, "radius": 31}
    # brute force
    b64 = base.view(np.uint64).reshape(n, 4)
    t = time.perf_counter()
    truth = [set(brute(b64, queries[k], 31).tolist()) for k in range(n_brute)]
    brute_ms = (time.perf_counter() - t) * 1000 / n_brute
    out["brute_ms_per_query"] = round(brute_ms, 3)
    for kind in ("flat", "mih"):
        r0 = rss_mb()
        t = time.perf_counter()
        idx = PdqIndex(kind, nhash=nhash) if kind == "mih" else PdqIndex("flat")
        idx.add(ids, base)
        build = time.perf_counter() - t
        ram = rss_mb() - r0
        for nflip in ((None,) if kind == "flat" else nflips):
            if nflip is not None:
                idx.nflip = idx._base.nflip = nflip
            idx.search(queries[:2], 31)  # warm
            t = time.perf_counter()
            for k in range(n_queries):
                idx.search(queries[k:k + 1], 31)
            single = (time.perf_counter() - t) * 1000 / n_queries
            t = time.perf_counter()
            res = idx.search(queries, 31)
            batch = (time.perf_counter() - t) * 1000 / n_queries
            found = sum(int(targets[k]) in set(res[k][0].tolist()) for k in range(n_queries))
            exact = all(set(res[k][0].tolist()) == truth[k] for k in range(n_brute))
            label = kind if kind == "flat" else f"mih{nhash}x{256 // nhash}_nflip{nflip}"
            out[label] = {"build_s": round(build, 2), "ram_mb": round(ram, 1),
                          "ms_per_query": round(single, 3),
                          "ms_per_query_batched": round(batch, 4),
                          "exact_to_distance": min(31, idx.exact_radius()),
                          "recall_planted": f"{found}/{n_queries}",
                          "equals_brute_force": exact,
                          "speedup_vs_brute": round(brute_ms / single, 1)}
            del res
        del idx
    out["peak_rss_mb"] = round(rss_mb(), 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000",
                    help="comma-separated index sizes (default 1000000; e.g. 1000000,10000000)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--brute-queries", type=int, default=10)
    ap.add_argument("--images", type=int, default=500, help="images to hash (0: skip)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--image-size", default="640x480", help="WxH of the generated JPEGs")
    ap.add_argument("--nhash", type=int, default=8, help="multi-index substrings (8 x 32 "
                    "bits, as rasd uses; 16 x 16 bits is exact with nflip=1)")
    ap.add_argument("--nflips", default="2,3", help="multi-index probe radii to measure")
    ap.add_argument("--posts", type=int, default=20_000,
                    help="posts for the copypasta-clustering run (0: skip)")
    ap.add_argument("--linear-minhash", default="10000,100000,1000000",
                    help="MinHash bank sizes for the linear-lookup run ('' to skip)")
    ap.add_argument("--linear-tlsh", default="10000,100000",
                    help="TLSH bank sizes for the linear-lookup run ('' to skip)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--_child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._child:
        nfl = tuple(int(x) for x in a.nflips.split(","))
        print(json.dumps(bench_index(a._child, a.queries, a.brute_queries, a.nhash, nfl)))
        return
    report: dict = {"machine": {"cpus": os.cpu_count()}}
    try:
        import psutil

        report["machine"]["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    if a.images:
        w, h = (int(x) for x in a.image_size.lower().split("x"))
        report["hashing"] = bench_hashing(a.images, a.workers, (w, h))
        if not a.json:
            print("hashing:", json.dumps(report["hashing"]), flush=True)
    if a.posts:
        report["clusters"] = bench_clusters(a.posts)
        if not a.json:
            print("clusters:", json.dumps(report["clusters"]), flush=True)
    # (0 or an empty list: none of that kind)
    mh_sizes = [n for x in a.linear_minhash.split(",") if x.strip() and (n := int(x)) > 0]
    tl_sizes = [n for x in a.linear_tlsh.split(",") if x.strip() and (n := int(x)) > 0]
    if mh_sizes or tl_sizes:
        report["linear"] = bench_linear(mh_sizes, tl_sizes)
        if not a.json:
            for r in report["linear"]:
                print("linear lookup:", json.dumps(r), flush=True)
        report["scan_item"] = [bench_scan_item(n) for n in mh_sizes if n <= 100_000]
        if not a.json:
            for r in report["scan_item"]:
                print("scan item (Matcher.lookup):", json.dumps(r), flush=True)
    report["index"] = []
    for n in [int(x) for x in a.sizes.split(",") if x.strip()]:
        cmd = [sys.executable, __file__, "--_child", str(n), "--queries", str(a.queries),
               "--brute-queries", str(a.brute_queries), "--nhash", str(a.nhash),
               "--nflips", a.nflips]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            raise SystemExit(f"index benchmark at {n} failed")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        report["index"].append(res)
        if not a.json:
            print(f"index {n:,}:", json.dumps(res), flush=True)
    if a.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
