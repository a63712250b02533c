"""Copypasta-clusters benchmark: ``rasd clusters build`` on a generated SQLite store.

Prints posts/s and peak RSS of ``build_clusters`` cold (every text hashed) and
warm (every signature cached), and of a floor measured in the same run over the
same signatures: datasketch's ``MinHashLSH`` alone (the distinct signatures read
from ``post_minhash`` into numpy, inserted and queried; no posts, no texts, no
store writes), with the ratio between them.

    python benchmarks/clusters.py                       # 200k posts, 30 % copypasta
    python benchmarks/clusters.py --posts 50000 --copies 0.1
    python benchmarks/clusters.py --before /tmp/old/src # also the code of another tree
    python benchmarks/clusters.py --posts 20000 --hostile 20000 --before /tmp/old/src

Each measurement runs in a child process so that peak RSS is its own; the store is
generated in a child too (Linux keeps a process's peak RSS across fork and exec).
``--before SRC`` runs the build of the source tree SRC (e.g. a checkout of an older
commit) on a copy of the same store, and says whether it stored the same clusters.

The posts: accounts and times drawn at random; a share ``--copies`` of them copies of
300 campaign texts in English, Arabic and Russian (exact, with a link, @mention or
emoji added, upper-cased, with Arabic tashkeel, or with a word or two changed), the
rest random sentences; 5 % reposts, 3 % forwards and 1 % service messages (left
out), 2 % texts too short to cluster, 1 % without a time and 1 % without an account.
``--hostile K`` adds K posts made to share one LSH bucket without being alike
(``hostile_texts``: what ``_join_bucket``'s split and ``PAIRS_PER_TEXT`` are for);
where a build reaches that limit, its clusters, capped buckets and unverified pairs
are printed.

Measured 2026-11-30 on the project's shared 2-core machine (load ~7), default
(200k posts, 30 % copies: 179,445 considered, 145,705 distinct texts, 316 clusters
holding 53,908 posts), ``--untimed 0 --before`` the tree before the build streamed
its posts (same clusters, same report):
  floor (datasketch LSH alone)   8,233 posts/s   24.3 s    959 MB
  build cold                       994 posts/s  201.2 s    319 MB (0.33x the floor)
  build warm                     5,488 posts/s   36.4 s    311 MB
  before: cold                     841 posts/s  237.9 s  1,385 MB (1.44x the floor)
  before: warm                   2,897 posts/s   69.0 s  1,289 MB
``--posts 1000000 --copies 0.9`` (908,056 considered, 363,216 distinct texts, 320
clusters holding 818,279 posts; 86M candidate pairs in datasketch's LSH; load ~5):
  floor (datasketch LSH alone)  15,739 posts/s   63.5 s  1,801 MB
  build cold                     3,398 posts/s  294.3 s    483 MB (0.27x the floor)
  build warm                    14,339 posts/s   69.7 s    478 MB
The floor is not one for memory: the build sorts each LSH band in numpy rather than
keep datasketch's dicts of bands (~3 KB a distinct text). A cold build is mostly
MinHash hashing (~1.1 ms a text, datasketch); a warm one, normalising every text
again (a post may have been edited since its signature was stored).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EN = ("the of and to in is for on that with as are at this be by from was have not they news "
      "city report people day time world today state new video attack police said government "
      "week group support join share read more brothers convoy friday travel must wait "
      "permission short market weather rain north south match league").split()
AR = ("في من على إلى عن مع هذا التي الذي كان قال اليوم الناس المدينة الحكومة الشرطة الأخبار "
      "العالم الجديد الأسبوع الجمعة السفر الإخوة القافلة انضموا الآن شاركوا اقرأ المزيد السوق "
      "الطقس المطر الشمال الجنوب المباراة الدوري").split()
RU = ("в и на с по что это как для не из от все братья колонна пятница сегодня город люди "
      "новости мир государство полиция правительство неделя группа поддержка вступайте сейчас "
      "делитесь читайте больше рынок погода дождь север юг матч лига").split()
TASHKEEL = "\u064e\u064f\u0650\u0651"


def _sentence(rng: random.Random, words: list[str], lo: int, hi: int) -> str:
    return " ".join(rng.choice(words) for _ in range(rng.randint(lo, hi)))


def _copy(rng: random.Random, template: str, words: list[str]) -> str:
    """One post of a campaign: the template as copied, reworded or decorated."""
    how = rng.random()
    if how < 0.35:
        return template
    if how < 0.55:
        return template + rng.choice([" https://t.me/joinus", " @someone", " 🔥🔥", " !!"])
    if how < 0.6:
        return template.upper()
    if how < 0.65 and words is AR:
        return "".join(ch + (rng.choice(TASHKEEL) if rng.random() < 0.2 else "")
                       for ch in template)
    w = template.split()
    for _ in range(rng.randint(1, 2)):
        w[rng.randrange(len(w))] = rng.choice(words)
    return " ".join(w)


HOSTILE_CORE = ("brothers the convoy leaves on friday everyone who can travel must join us now "
                "do not wait for permission the time is short")


def hostile_texts(k: int, extra: int, seed: int = 7) -> list[str]:
    """``k`` posts in one LSH bucket without being alike: a shared sentence, then
    ``extra`` characters of random words, each kept only if none of its 5-grams
    hashes below the sentence's in band 0's permutations (datasketch's hashes are
    public). 60: near misses (~0.53 estimated Jaccard); 600: alike in the band only."""
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    from rasd.detect.media.signals.minhash import NUM_PERM, SEED, SHINGLE, minhash_of

    rng = random.Random(seed)
    r = MinHashLSH(threshold=0.7, num_perm=NUM_PERM).r
    core = minhash_of(HOSTILE_CORE)
    m = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=core.permutations, scheme=core.scheme)
    # every post has the sentence's 5-grams and the one across its end
    m.update_batch([HOSTILE_CORE[i:i + SHINGLE].encode()
                    for i in range(len(HOSTILE_CORE) - SHINGLE + 1)]
                   + [(HOSTILE_CORE[-4:] + " ").encode()])
    band = np.asarray(m.hashvalues[:r]).copy()
    out = []
    for _ in range(k):
        text = HOSTILE_CORE
        while len(text) < len(HOSTILE_CORE) + extra:
            word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                           for _ in range(rng.randint(3, 9)))
            # the word's 5-grams, with the text before it and the space after it
            tail = (text + " " + word)[-(len(word) + SHINGLE):] + " "
            m.clear()
            m.update_batch([tail[i:i + SHINGLE].encode()
                            for i in range(len(tail) - SHINGLE + 1)])
            if np.all(np.asarray(m.hashvalues[:r]) >= band):
                text += " " + word
        out.append(text)
    return out


def generate(db: str, posts: int, copies: float, untimed: float, seed: int = 5,
             hostile: int = 0, hostile_extra: int = 60) -> dict:
    from datetime import UTC, datetime, timedelta

    from rasd.store import Store
    from rasd.store import schema as S

    rng = random.Random(seed)
    langs = (EN, AR, RU)
    campaigns = [(ws, _sentence(rng, ws, 15, 40)) for ws in (rng.choice(langs)
                                                              for _ in range(300))]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    st = Store.open(db)
    planted = 0
    with st.begin() as c:
        c.execute(S.accounts.insert(), [{"platform": "x", "platform_id": f"a{i}",
                                         "first_seen": base, "last_seen": base, "stub": False}
                                        for i in range(5000)])
        rows: list[dict[str, Any]] = []
        for i in range(posts):
            r = rng.random()
            kind = ("repost" if r < 0.05 else "forward" if r < 0.08 else
                    "service" if r < 0.09 else "post")
            if rng.random() < copies:
                ws, template = rng.choice(campaigns)
                text = _copy(rng, template, ws)
                planted += 1
            elif rng.random() < 0.02:
                text = _sentence(rng, rng.choice(langs), 1, 3)  # too short
            else:
                text = _sentence(rng, rng.choice(langs), 12, 40)
            rows.append({
                "platform": "x", "platform_id": str(i), "kind": kind, "text": text,
                "account_id": None if rng.random() < 0.01 else rng.randint(1, 5000),
                "created_at": (None if rng.random() < untimed else
                               base + timedelta(seconds=rng.randrange(365 * 86400))),
                "first_seen": base, "last_seen": base})
            if len(rows) == 20_000:
                c.execute(S.posts.insert(), rows)
                rows = []
        rows += [{"platform": "x", "platform_id": f"h{i}", "kind": "post", "text": text,
                  "account_id": rng.randint(1, 5000),
                  "created_at": base + timedelta(seconds=rng.randrange(365 * 86400)),
                  "first_seen": base, "last_seen": base}
                 for i, text in enumerate(hostile_texts(hostile, hostile_extra))]
        for s in range(0, len(rows), 20_000):
            c.execute(S.posts.insert(), rows[s:s + 20_000])
    st.close()
    return {"posts": posts + hostile, "planted_copies": planted}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_build(db: str) -> dict:
    from rasd.detect.media.textdup import build_clusters
    from rasd.store import Store

    st = Store.open(db)
    t = time.perf_counter()
    rep = build_clusters(st)
    seconds = time.perf_counter() - t
    st.close()
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "report": rep.__dict__}


def run_floor(db: str) -> dict:
    """datasketch's LSH over the distinct signatures a build stored, alone."""
    import numpy as np
    from datasketch import LeanMinHash, MinHashLSH

    from rasd.detect.media.signals.minhash import NUM_PERM, SEED
    from rasd.detect.media.textdup import _scheme

    con = sqlite3.connect(db)
    raw = [s for (s,) in con.execute(
        "SELECT min(signature) FROM post_minhash GROUP BY text_key")]
    con.close()
    sigs = np.frombuffer(b"".join(raw), dtype="<u4").reshape(-1, NUM_PERM)
    del raw
    t = time.perf_counter()
    lsh = MinHashLSH(threshold=0.7, num_perm=NUM_PERM)
    kw = {"scheme": _scheme()} if _scheme() else {}
    lean = [LeanMinHash(seed=SEED, hashvalues=s.astype(np.uint64), **kw) for s in sigs]
    for i, m in enumerate(lean):
        lsh.insert(i, m, check_duplication=False)
    pairs = sum(len(lsh.query(m)) - 1 for m in lean)
    return {"seconds": time.perf_counter() - t, "peak_rss_mb": _peak_rss_mb(),
            "distinct": len(sigs), "candidate_pairs": pairs // 2}


def clusters_of(db: str) -> list[Any]:
    """The stored clusters, all but their ids and creation time, with their members."""
    con = sqlite3.connect(db)
    out = []
    for cid, *row in con.execute(
            "SELECT id, size, n_accounts, representative_post_id, sample_text, first_at, "
            "last_at, params FROM text_clusters ORDER BY id"):
        out.append([row, con.execute("SELECT post_id, similarity FROM text_cluster_members "
                                     "WHERE cluster_id = ? ORDER BY post_id", (cid,)).fetchall()])
    con.close()
    return out


def child(kind: str, db: str, src: str | None = None, *args: str) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run([sys.executable, __file__, "--child", kind, db, *args], env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode:
        sys.exit(f"{kind} ({src or 'this tree'}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.splitlines()[-1])


def _row(name: str, n: int, r: dict) -> str:
    return (f"{name:34}{n / r['seconds']:>12,.0f}{r['seconds']:>10.1f}"
            f"{r['peak_rss_mb']:>14,.0f}")


def _same_report(before: dict, after: dict) -> bool:
    """The reports agree on what both have (an older tree's has fewer fields: no
    ``capped_buckets`` / ``unverified_pairs``), and this tree's capped nothing."""
    return (all(after.get(k) == v for k, v in before.items())
            and not after.get("capped_buckets", 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--posts", type=int, default=200_000)
    ap.add_argument("--copies", type=float, default=0.3,
                    help="share of the posts that are campaign copies (default 0.3)")
    ap.add_argument("--untimed", type=float, default=0.01,
                    help="share of the posts without a time (default 0.01; 0 for --before "
                         "code older than 2026-11-30, which failed on them on SQLite)")
    ap.add_argument("--hostile", type=int, default=0, metavar="K",
                    help="also K posts made to share one LSH bucket without being alike "
                         "(default 0)")
    ap.add_argument("--hostile-extra", type=int, default=60, metavar="CHARS",
                    help="characters of chosen words each hostile post adds to the shared "
                         "sentence: 60 near misses (default), 600 alike in the band only")
    ap.add_argument("--before", metavar="SRC",
                    help="also measure the build of this source tree (its src folder)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary files")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        kind, db, *rest = a.child
        res = (generate(db, int(rest[0]), float(rest[1]), float(rest[2]),
                        hostile=int(rest[3]), hostile_extra=int(rest[4])) if kind == "gen" else
               run_floor(db) if kind == "floor" else run_build(db))
        print(json.dumps(res, default=str))
        return
    tmp = Path(tempfile.mkdtemp(prefix="rasd-bench-clusters-"))
    gen = str(tmp / "gen.db")
    t0 = time.perf_counter()
    g = child("gen", gen, None, str(a.posts), str(a.copies), str(a.untimed), str(a.hostile),
              str(a.hostile_extra))
    print(f"generated {g['posts']:,} posts ({g['planted_copies']:,} campaign copies) in "
          f"{time.perf_counter() - t0:.1f}s: {gen}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    runs: dict[str, dict] = {}
    dumps: dict[str, list] = {}
    for name, src in (("rasd", None), ("before", a.before)):
        if name == "before" and not src:
            continue
        db = str(tmp / f"{name}.db")
        shutil.copy(gen, db)
        runs[f"{name} cold"] = child("build", db, src)
        runs[f"{name} warm"] = child("build", db, src)
        dumps[name] = clusters_of(db)
    floor = child("floor", str(tmp / "rasd.db"))
    rep = runs["rasd cold"]["report"]
    print(f"{rep['posts_considered']:,} posts considered, {rep['distinct_texts']:,} distinct "
          f"texts: {rep['clusters']:,} clusters holding {rep['clustered_posts']:,} posts; "
          f"LSH candidate pairs {floor['candidate_pairs']:,}")
    for name in ("rasd", "before"):
        r = runs.get(f"{name} cold", {}).get("report", {})
        if r.get("capped_buckets"):
            print(f"{name}: {r['clusters']:,} clusters holding {r['clustered_posts']:,} posts; "
                  f"{r['capped_buckets']:,} LSH bucket(s) capped, {r['unverified_pairs']:,} "
                  f"pair(s) left unverified")
    print(f"{'':34}{'posts/s':>12}{'seconds':>10}{'peak RSS MB':>14}")
    print(_row("datasketch LSH alone (floor)", g["posts"], floor))
    for name, r in runs.items():
        print(_row(f"{name} build", g["posts"], r))
    for name in ("rasd", "before"):
        if f"{name} cold" in runs:
            r = runs[f"{name} cold"]
            print(f"{name}: peak RSS {r['peak_rss_mb'] / floor['peak_rss_mb']:.2f}x the floor's "
                  f"(cold), {runs[f'{name} warm']['peak_rss_mb'] / floor['peak_rss_mb']:.2f}x "
                  f"(warm)")
    if "before" in dumps:
        same = dumps["before"] == dumps["rasd"]
        print(f"same clusters as --before: {'yes' if same else 'NO'}; cold "
              f"{runs['before cold']['seconds'] / runs['rasd cold']['seconds']:.2f}x as fast, "
              f"peak RSS {runs['rasd cold']['peak_rss_mb'] / runs['before cold']['peak_rss_mb']:.2f}"
              f"x; reports {'equal' if _same_report(runs['before cold']['report'], rep) else 'DIFFER'}")
    if a.keep:
        print(f"kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
