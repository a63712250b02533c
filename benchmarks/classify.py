#!/usr/bin/env python3
"""Throughput and peak memory of the text classifier, per tier and for the ensemble,
against a plain scikit-learn TF-IDF + logistic regression baseline — same run, same data.

    python benchmarks/classify.py                 # uses ../shared/data when present
    python benchmarks/classify.py --n 20000 --use-n 2000 --json

Each measurement runs in a fresh subprocess so that its peak RSS is its own.
Posts are real tweets (ISIS-account and TweetEval tweets) when ../shared/data is
present, else the functional-suite sentences repeated. The baseline is trained in
the same run on TweetEval (none) + rule-curated ISIS tweets, then timed on the
same posts as the tiers. `--jobs 2` rows show the char tier on both cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("RASD_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_posts(n: int) -> list[str]:
    texts: list[str] = []
    tw = DATA / "isis-twitter" / "tweets.csv"
    if tw.is_file():
        import csv

        with open(tw, encoding="utf-8", newline="") as fh:
            texts += [r["tweets"] for r in csv.DictReader(fh)]
        for f in sorted((DATA / "tweeteval").glob("*_text.txt")):
            texts += f.read_text(encoding="utf-8").splitlines()
    if not texts:
        from rasd.detect.text.evaluate import functional_suite

        texts = [c["text"] for c in functional_suite()]
    while len(texts) < n:
        texts = texts + texts
    return texts[:n]


def _worker_init():
    global _CLF
    from rasd.detect.text.model import TextClassifier

    _CLF = TextClassifier.load(tiers=["char"])


def _worker(chunk):
    c = time.process_time()
    P, _ = _CLF.predict_proba(chunk)
    labels = [d[0] for d in _CLF.decide(P)]
    return len(labels), time.process_time() - c


def one(kind: str, n: int, jobs: int) -> dict:
    texts = load_posts(n)
    t_load = time.perf_counter()
    if kind == "baseline":
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        from rasd.detect.text.curation import curate
        from rasd.detect.text.normalize import fold

        train = load_posts(30000)
        y = [curate(fold(t)) for t in train]
        keep = [i for i, lab in enumerate(y) if lab is not None]
        Xt = [train[i] for i in keep]
        yt = np.array([y[i] != "none" for i in keep])
        vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
        lr = LogisticRegression(max_iter=500).fit(vec.fit_transform(Xt), yt)
        t0, c0 = time.perf_counter(), time.process_time()
        lr.predict_proba(vec.transform(texts))
    elif kind == "char" and jobs > 1:
        from multiprocessing import get_context

        ctx = get_context("fork")
        chunks = [texts[i:i + 2000] for i in range(0, len(texts), 2000)]
        with ctx.Pool(jobs, initializer=_worker_init) as pool:
            pool.map(_worker, chunks[:jobs])  # warm
            t0, c0 = time.perf_counter(), time.process_time()
            done = pool.map(_worker, chunks, chunksize=1)
            worker_cpu = sum(c for _, c in done)
    else:
        from rasd.detect.text.model import TextClassifier

        tiers = None if kind == "ensemble" else [kind]
        clf = TextClassifier.load(tiers=tiers)
        clf.predict_proba(texts[:64])
        t0, c0 = time.perf_counter(), time.process_time()
        for s in range(0, len(texts), 4096):
            P, _ = clf.predict_proba(texts[s:s + 4096])
            clf.decide(P)
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if jobs > 1:
        cpu += worker_cpu  # the workers' own CPU time for the timed chunks
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if jobs > 1:
        peak_kb += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * (jobs - 1)
    return {"tier": kind, "jobs": jobs, "posts": n, "seconds": round(dt, 3),
            "posts_per_s": round(n / dt), "cpu_s": round(cpu, 3),
            "posts_per_cpu_s": round(n / cpu) if cpu > 0 else None, "setup_s": round(t0 - t_load, 2),
            "peak_rss_mb": round(peak_kb / 1024)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20000, help="posts for the char tier and baseline")
    ap.add_argument("--use-n", type=int, default=2000, help="posts for the USE tier and ensemble")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.n, args.jobs)))
        return 0
    plan = [("baseline", args.n, 1), ("char", args.n, 1), ("char", args.n, 2),
            ("use", args.use_n, 1), ("ensemble", args.use_n, 1)]
    results = []
    for kind, n, jobs in plan:
        out = subprocess.run([sys.executable, __file__, "--one", kind, "--n", str(n),
                              "--jobs", str(jobs)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return 1
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = results[0]["posts_per_s"]
    for r in results:
        r["vs_baseline"] = round(r["posts_per_s"] / base, 3)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"data: {'shared data tweets' if (DATA / 'isis-twitter').is_dir() else 'functional suite'}; "
              f"cpus {os.cpu_count()}")
        print(f"load average {os.getloadavg()[0]:.1f} (wall-clock posts/s shrink when other "
              "work shares the cores; posts per CPU-second do not)")
        print(f"{'tier':10} {'jobs':>4} {'posts':>7} {'posts/s':>9} {'posts/cpu-s':>11} "
              f"{'x baseline':>10} {'peak MB':>8}")
        for r in results:
            print(f"{r['tier']:10} {r['jobs']:>4} {r['posts']:>7} {r['posts_per_s']:>9} "
                  f"{r['posts_per_cpu_s']!s:>11} {r['vs_baseline']:>10} {r['peak_rss_mb']:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
