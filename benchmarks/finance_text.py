"""Names found in real texts by Screener.find_in_text. Prints figures; asserts nothing.

The UN 2018 consolidated list and the OFAC SDN 2024 CSV (``sanctions/`` of the
shared data, ``RASD_SHARED_DATA`` or ``--shared-data``; those present) are
imported into a temporary store, and every document of these sets is
screened, as the ``finance`` detector screens a post:

- ``snn_random``: SaudiNewsNet's random 4,000 Arabic articles (title + text);
- ``snn_terror``: SaudiNewsNet's articles that mention terrorism;
- ``isis``: the isis-twitter tweets;
- ``farright``: the far-right Telegram sample (``cleaned_message``);
- ``bbc``: BBC news, the ``all`` file (title + text).

A set whose file is absent is skipped (and said so). Per set: documents, their
mean length, names found (documents with one, short forms), and CPU time per
document. ``--json`` writes every hit (set, document number, list reference,
score, short form or not, matched name), so that two runs — before and after a
change — can be compared hit by hit; ``--compare OLD.json`` does that against
an earlier run's file and prints what was gained and lost.

    RASD_SHARED_DATA=../shared/data python benchmarks/finance_text.py
    python benchmarks/finance_text.py --json after.json --compare before.json
    python benchmarks/finance_text.py --limit 2000     # first 2,000 of each set
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LISTS = ("sanctions/un_sc_consolidated_2018-10-29.xml", "sanctions/ofac_sdn_2024-05-03.csv")


def _jsonl(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            yield (d.get("title") or "") + "\n" + (d.get("content") or "")


def _csv(path: Path, cols: tuple[str, ...]) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            yield "\n".join(r.get(c) or "" for c in cols)


SETS = {
    "snn_random": ("news/saudinewsnet-ar/saudinewsnet_random4000.jsonl.gz", _jsonl),
    "snn_terror": ("news/saudinewsnet-ar/saudinewsnet_terror_mentions.jsonl", _jsonl),
    "isis": ("isis-twitter/tweets.csv", lambda p: _csv(p, ("tweets",))),
    "farright": ("far-right-telegram/far_right_telegram_sample.csv.gz",
                 lambda p: _csv(p, ("cleaned_message",))),
    "bbc": ("news/bbc-en/bbc_news_all.csv.gz", lambda p: _csv(p, ("title", "text"))),
}


def run(data: Path, limit: int | None) -> dict:
    from rasd.detect.finance.lists import import_list
    from rasd.detect.finance.screen import Screener
    from rasd.store import Store

    csv.field_size_limit(10**8)
    present = [x for x in LISTS if (data / x).exists()]
    for x in LISTS:
        if x not in present:
            print(f"list {x} absent under {data}, skipped")
    if not present:
        print("no list to screen against")
        return {}
    tmp = tempfile.mkdtemp(prefix="rasd-fintext-")
    store = Store.open(f"{tmp}/rasd.db")
    for x in present:
        import_list(store, data / x)
    scr = Screener.load(store)
    out: dict = {"sets": {}, "hits": []}
    for name, (rel, reader) in SETS.items():
        path = data / rel
        if not path.exists():
            print(f"{name}: {rel} absent, skipped")
            continue
        n = chars = 0
        cpu = 0.0
        for i, text in enumerate(reader(path)):
            if limit is not None and i >= limit:
                break
            n += 1
            chars += len(text)
            t0 = time.process_time()
            found = scr.find_in_text(text)
            cpu += time.process_time() - t0
            for m in found:
                out["hits"].append([name, i, m.list_ref, round(m.score, 4),
                                    m.explanation[0].startswith("first and last"),
                                    m.matched_name])
        hits = [h for h in out["hits"] if h[0] == name]
        out["sets"][name] = {"docs": n, "mean_chars": round(chars / max(n, 1)),
                             "names": len(hits), "docs_with_name": len({h[1] for h in hits}),
                             "short_forms": sum(h[4] for h in hits),
                             "cpu_ms_per_doc": round(1000 * cpu / max(n, 1), 3)}
        s = out["sets"][name]
        print(f"{name}: {s['docs']} documents ({s['mean_chars']} characters on average), "
              f"{s['names']} names in {s['docs_with_name']} ({s['short_forms']} short forms), "
              f"{s['cpu_ms_per_doc']} ms CPU per document", flush=True)
    store.close()
    return out


def compare(old: dict, new: dict) -> None:
    key = lambda h: (h[0], h[1], h[2])
    # the documents both runs screened (a set absent or --limit in one of them)
    docs = {k: min(v["docs"], new["sets"][k]["docs"])
            for k, v in old.get("sets", {}).items() if k in new.get("sets", {})}
    a = {key(h): h for h in old.get("hits", []) if h[1] < docs.get(h[0], 0)}
    b = {key(h): h for h in new.get("hits", []) if h[1] < docs.get(h[0], 0)}
    for label, ks, src in (("lost", a.keys() - b.keys(), a), ("gained", b.keys() - a.keys(), b)):
        per = Counter(k[0] for k in ks)
        print(f"{label}: {len(ks)} {dict(per)}")
        for k in sorted(ks):
            h = src[k]
            print(f"  {h[0]} #{h[1]} {h[2]} {h[3]}{' short' if h[4] else ''} {h[5]!r}")
    moved = [(a[k], b[k][3]) for k in a.keys() & b.keys() if a[k][3] != b[k][3]]
    print(f"score changed: {len(moved)}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared-data", default=os.environ.get("RASD_SHARED_DATA",
                                                            str(REPO.parent / "shared" / "data")))
    ap.add_argument("--limit", type=int, help="documents of each set at most")
    ap.add_argument("--json", help="write the figures and every hit here")
    ap.add_argument("--compare", help="an earlier --json file: print what was gained and lost")
    args = ap.parse_args(argv)
    out = run(Path(args.shared_data), args.limit)
    if not out:
        return 0
    if args.json:
        Path(args.json).write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    if args.compare:
        compare(json.loads(Path(args.compare).read_text(encoding="utf-8")), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
