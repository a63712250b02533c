"""Build rasd/data/finance/common_words.json: how common each word is in ordinary text.

Screening free text for listed names (``Screener.find_in_text``) must not take a
listed name made only of ordinary words ("OPERA", "MINISTRY OF INTERIOR", "NORTH
STAR", "THE CHESS PLAYER") for a mention of the listed entity. How common a word
is in ordinary writing is measured here on real, ordinary, Latin-script text of
../shared/data — never on held-out or test splits:

- tweeteval: English tweets, every task's train and val files (test is held out);
- news/bbc-en: BBC articles, the rows of bbc_news_all (research use; only word
  counts come out of them) but its terror-mention rows;
- germeval2018: German tweets, the training file;
- mlma: English and French tweets.

Documents that mention terrorism are left out of every corpus (the keyword
regexes of news/KEYWORDS.txt that made the news sets' terror-mention subsets):
writing about terrorism names the groups, and what is measured is how common a
word is in ordinary writing (this also keeps out any held-out terror-mention
row of the news sets). 10kGNAD is left out: what is staged of it is its official
test split.

For each corpus the share of its documents that contain a word is counted on the
words as the screener reads them (``to_latin``, lower case, split at anything not
a letter or digit); a word's figure is its highest share over the corpora, in
documents per million. Only words in at least ``--min-share`` of some corpus's
documents (default 1 in 1,000, the
screener's ``TEXT_COMMON``) are written, so the file stays small; a word that
is not there counts as rare. The table holds words and figures only, no text.

    python scripts/build_common_words.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rasd.detect.finance.names import to_latin

OUT = REPO / "src" / "rasd" / "data" / "finance" / "common_words.json"
_SPLIT = re.compile(r"[^0-9a-z]+")
_URL = re.compile(r"https?://\S+|@\w+")
csv.field_size_limit(10_000_000)


def words(text: str) -> set[str]:
    t = to_latin(_URL.sub(" ", text)).replace("'", "").replace("`", "")
    return {w for w in _SPLIT.split(t) if len(w) >= 2 and not w.isdigit()}


def terror_filter(data: Path) -> re.Pattern[str]:
    """The keyword regexes that made the news sets' terror-mention subsets
    (news/KEYWORDS.txt), for the languages of the corpora read here."""
    pats = []
    for ln in (data / "news" / "KEYWORDS.txt").read_text(encoding="utf-8").splitlines():
        lang, _, pat = ln.partition("\t")
        if lang in ("en", "de", "fr") and pat:
            pats.append(f"(?:{pat})")
    return re.compile("|".join(pats), re.IGNORECASE)


def corpora(data: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    tw = []
    for f in sorted((data / "tweeteval").glob("*_text.txt")):
        if "_test" in f.name:
            continue
        tw.extend(ln for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip())
    out["tweeteval (en)"] = tw
    bbc = data / "news" / "bbc-en"
    with open(bbc / "bbc_news_terror_mentions.csv", encoding="utf-8") as f:
        terr = {r["id"] for r in csv.DictReader(f)}
    with gzip.open(bbc / "bbc_news_all.csv.gz", "rt", encoding="utf-8") as f:
        out["bbc news (en)"] = [r["title"] + "\n" + r["text"] for r in csv.DictReader(f)
                                if r["id"] not in terr]
    with open(data / "germeval2018" / "germeval2018.training.txt", encoding="utf-8") as f:
        out["germeval2018 (de)"] = [ln.split("\t")[0] for ln in f if ln.strip()]
    for lang in ("en", "fr"):
        with open(data / "mlma" / f"{lang}_dataset.csv", encoding="utf-8") as f:
            out[f"mlma ({lang})"] = [r.get("tweet") or "" for r in csv.DictReader(f)]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--min-share", type=float, default=1 / 1000,
                    help="leave out rarer words (the screener's TEXT_COMMON: a word rarer than that "
                         "counts as not common)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"shared data not found at {args.data}", file=sys.stderr)
        return 1
    best: dict[str, float] = {}
    sizes = {}
    terror = terror_filter(args.data)
    for name, docs in corpora(args.data).items():
        docs = [d for d in docs if d.strip() and not terror.search(d)]
        sizes[name] = len(docs)
        df: Counter[str] = Counter()
        for d in docs:
            df.update(words(d))
        for w, k in df.items():
            share = k / len(docs)
            if k >= 3 and share >= args.min_share and share > best.get(w, 0.0):
                best[w] = share
    table = {w: round(s * 1e6) for w, s in sorted(best.items())}
    doc = {"about": "documents per million (highest over the corpora) containing each word, "
                    "in ordinary Latin-script text; built by scripts/build_common_words.py",
           "corpora": sizes, "min_share": args.min_share, "words": table}
    args.out.write_text(json.dumps(doc, ensure_ascii=True, separators=(",", ":"),
                                   sort_keys=False) + "\n", encoding="utf-8")
    print(f"{len(table)} words from {sum(sizes.values())} documents "
          f"({', '.join(f'{k} {v}' for k, v in sizes.items())}) -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
