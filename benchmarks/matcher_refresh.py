"""What ``Matcher.refresh`` costs for a linear-scan bank (TLSH, MinHash).

A scan binds its matcher again (``MediaDetector.bind`` → ``Matcher.refresh``); the
first lookup after it brings the type's prepared bank up to date. For a SQLite
bank of ``--signals`` signals of one type, prepared by a first lookup, this times
the first lookup after a refresh
1. with nothing changed,
2. after ``--added`` signals were imported (``bank import``'s ``add_signals``),
3. after one signal was deleted (by SQL: the whole bank is read and prepared again),
each ``--repeat`` times (best and all), and checks the hits against a new matcher's.
It runs on any rasd that has ``Matcher``: run it on two checkouts to compare.

    PYTHONPATH=src python benchmarks/matcher_refresh.py --signals 50000 --added 100
    PYTHONPATH=src python benchmarks/matcher_refresh.py --types tlsh --json

And ``--prepare``: ``TlshSignal.prepare`` of ``--signals`` signals (read in
numpy) against ``tlsh.prepare_one_by_one`` (a regular expression a signal, as
before), alternated, and whether both made the same arrays.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _signals(kind: str, rng: np.random.Generator, n: int, q: str) -> list[str]:
    """``n`` signals of ``kind``, one in 500 a near copy of the query ``q``."""
    if kind == "minhash":
        from rasd.detect.media.signals.minhash import NUM_PERM, decode, encode

        qa = decode(q)
        rows = rng.integers(0, 2**32, (n, NUM_PERM), dtype=np.uint64).astype("<u4")
        for i in range(0, n, 500):
            cols = rng.choice(NUM_PERM, int(rng.integers(96, NUM_PERM + 1)), replace=False)
            rows[i, cols] = qa[cols]
        return [encode(r) for r in rows]
    hexd = np.array(list("0123456789abcdef"))
    out = ["t1" + "".join(hexd[rng.integers(0, 16, 70)]) for _ in range(n)]
    for i in range(0, n, 500):  # the query's header and most of its body
        body = list(q[2:].lower())
        for j in rng.choice(np.arange(6, 70), 4, replace=False):
            body[j] = hexd[rng.integers(0, 16)]
        out[i] = "t1" + "".join(body)
    return out


def _query(kind: str, rng: np.random.Generator) -> str:
    if kind == "minhash":
        from rasd.detect.media.signals.minhash import NUM_PERM, encode

        return encode(rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64).astype("<u4"))
    import tlsh

    return tlsh.hash(os.urandom(4000)).lower()


def _timed(m, kind: str, q: str) -> tuple[float, list]:
    m.refresh()
    t = time.perf_counter()
    hits = m.lookup(kind, q)
    return time.perf_counter() - t, [(h.signal_id, h.distance) for h in hits]


def bench(kind: str, n: int, added: int, repeat: int, seed: int = 3) -> dict:
    from sqlalchemy import delete, func, select

    from rasd.detect.media import banks as B
    from rasd.detect.media import schema as M
    from rasd.detect.media.matcher import Matcher
    from rasd.store import Store

    rng = np.random.default_rng(seed)
    q = _query(kind, rng)
    res: dict = {"type": kind, "signals": n, "added": added}
    with tempfile.TemporaryDirectory() as td:
        st = Store.open(str(Path(td) / "r.db"))
        B.create_bank(st, "b")
        B.add_signals(st, "b", [B.Entry(i, kind, s, {})
                                for i, s in enumerate(_signals(kind, rng, n, q))])
        m = Matcher(st)
        t = time.perf_counter()
        m.lookup(kind, q)
        res["first_lookup_s"] = round(time.perf_counter() - t, 3)
        runs: dict[str, list[float]] = {"unchanged": [], "added": [], "deleted": []}
        same = True
        for r in range(repeat):
            runs["unchanged"].append(_timed(m, kind, q)[0])
            new = _signals(kind, rng, added, q)
            B.add_signals(st, "b", [B.Entry(i, kind, s, {}) for i, s in enumerate(new)])
            dt, hits = _timed(m, kind, q)
            runs["added"].append(dt)
            same &= hits == _timed(Matcher(st), kind, q)[1]
            with st.begin() as c:
                bs = M.bank_signals
                top = c.execute(select(func.max(bs.c.id))).scalar_one()
                c.execute(delete(bs).where(bs.c.id == top - r - 1))
            dt, hits = _timed(m, kind, q)
            runs["deleted"].append(dt)
            same &= hits == _timed(Matcher(st), kind, q)[1]
        for k, v in runs.items():
            res[f"refresh_{k}_s"] = {"best": round(min(v), 4),
                                     "all": [round(x, 4) for x in v]}
        res["hits"] = len(_timed(m, kind, q)[1])
        res["same_hits_as_a_new_matcher"] = same
        st.close()
    return res


def bench_prepare(n: int, repeat: int, seed: int = 4) -> dict:
    from rasd.detect.media.signals import get
    from rasd.detect.media.signals.tlsh import prepare_one_by_one

    rng = np.random.default_rng(seed)
    signals = _signals("tlsh", rng, n, _query("tlsh", rng))
    st = get("tlsh")
    out: dict = {"signals": n, "numpy_s": [], "one_by_one_s": []}
    got = {}
    for _ in range(repeat):  # alternated
        for label, fn in (("numpy", st.prepare), ("one_by_one", prepare_one_by_one)):
            t = time.perf_counter()
            got[label] = fn(signals)
            out[f"{label}_s"].append(round(time.perf_counter() - t, 4))
    a, b = got["numpy"], got["one_by_one"]
    out["identical"] = bool(np.array_equal(a.digits, b.digits) and np.array_equal(
        a.readable, b.readable) and np.array_equal(a.others, b.others))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--signals", type=int, default=50_000)
    ap.add_argument("--added", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--types", default="tlsh,minhash")
    ap.add_argument("--prepare", action="store_true",
                    help="time TlshSignal.prepare against tlsh.prepare_one_by_one")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.prepare:
        out = [bench_prepare(a.signals, a.repeat)]
    else:
        out = [bench(k, a.signals, a.added, a.repeat) for k in a.types.split(",") if k]
    for r in out:
        print(json.dumps(r) if a.json else json.dumps(r, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
