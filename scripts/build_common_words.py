"""Build rasd/data/finance/common_words.json: how common each word is in ordinary text.

Screening free text for listed names (``Screener.find_in_text``) must not take a
listed name made only of ordinary words ("OPERA", "MINISTRY OF INTERIOR", "NORTH
STAR", "THE CHESS PLAYER", "وزارة الداخلية") for a mention of the listed entity.
How common a word is in ordinary writing is measured here, for each script a
listed name may be written in, on real, ordinary text of ../shared/data — never
on held-out or test splits:

Latin script (``words``):

- tweeteval: English tweets, every task's train and val files (test is held out);
- news/bbc-en: BBC articles, the rows of bbc_news_all (research use; only word
  counts come out of them) but its terror-mention rows;
- germeval2018: German tweets, the training file;
- mlma: English and French tweets.

Arabic and Cyrillic script (``scripts``), from the sets whose licences let a
table derived from them ship in the Apache-2.0 package:

- mlma: Arabic tweets (MIT);
- news/ru-telegram-news: posts of Russian news Telegram channels, the ``all``
  file (CC BY 4.0, NKTKLN/telegram-news-classifier; attribution in the table).

SaudiNewsNet (news/saudinewsnet-ar) is left out: CC BY-NC-SA 4.0, for open
scientific research only. So are the extremist sets (isis-twitter, stormfront,
far-right-telegram), which are not ordinary writing.

Documents that mention terrorism are left out of every corpus (the keyword
regexes of news/KEYWORDS.txt, per language, that made the news sets'
terror-mention subsets): writing about terrorism names the groups, and what is
measured is how common a word is in ordinary writing (this also keeps out any
held-out terror-mention row of the news sets). 10kGNAD is left out: what is
staged of it is its official test split.

For each corpus the share of its documents that contain a word is counted on the
words as the screener reads them (``to_latin``, lower case, split at anything not
a letter or digit); a word's figure is its highest share over the corpora of
its script, in documents per million. A Latin-script corpus counts every word
(as the table was first built); an Arabic or Cyrillic one only the words written
in its script (its Latin brand names and code say nothing of Arabic or Russian
writing). An Arabic word is counted twice: as the word (with the article ال
or without) and, where it is written with the article, as "al " + the word —
an everyday word may be common in one form only (قاعده, "sitting" in dialect,
not القاعده, "the base"), and the screener looks a part written with the article
up in that form. The screener looks a listed name's parts up in the table of the
script the name is written in, so that a transliterated Arabic word ("ala",
على) cannot make a Latin name part common, nor an English word an Arabic one.
Only words in at least ``--min-share`` of some corpus's documents (default 1 in
1,000, the screener's ``TEXT_COMMON``) are written, so the file stays small; a
word that is not there counts as rare. The table holds words and figures only,
no text.

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

from rasd.detect.finance.names import arabic_words, dominant_script, to_latin
from rasd.detect.finance.screen import ARTICLE_KEY

OUT = REPO / "src" / "rasd" / "data" / "finance" / "common_words.json"
_SPLIT = re.compile(r"[^0-9a-z]+")
_URL = re.compile(r"https?://\S+|@\w+")
_WORD = re.compile(r"\w+")
csv.field_size_limit(10_000_000)

LATIN = "Latin"
# corpus → the script whose words it measures, and the languages of
# news/KEYWORDS.txt whose terror-mention regexes it is filtered with: English,
# German and French for every corpus (as the Latin table was first built), and
# its own language
TERROR_LANGS = ("en", "de", "fr")
SCRIPTS = {"tweeteval (en)": (LATIN, TERROR_LANGS), "bbc news (en)": (LATIN, TERROR_LANGS),
           "germeval2018 (de)": (LATIN, TERROR_LANGS), "mlma (en)": (LATIN, TERROR_LANGS),
           "mlma (fr)": (LATIN, TERROR_LANGS), "mlma (ar)": ("Arabic", (*TERROR_LANGS, "ar")),
           "ru telegram news (ru)": ("Cyrillic", (*TERROR_LANGS, "ru"))}
# where each non-Latin corpus comes from, and its licence (CC BY asks attribution)
SOURCES = {"mlma (ar)": "MLMA hate speech (Ousidhoum et al. 2019), "
                        "github.com/HKUST-KnowComp/MLMA_hate_speech, MIT",
           "ru telegram news (ru)": "Dataset of Telegram News Posts, "
                                    "github.com/NKTKLN/telegram-news-classifier, CC BY 4.0"}


def words(text: str, script: str = LATIN) -> set[str]:
    """The words of ``text`` as the screener reads them; for a script other
    than Latin, only the words written in it."""
    text = _URL.sub(" ", text)
    if script != LATIN:
        text = " ".join(w for w in _WORD.findall(text) if dominant_script(w) == script)
    t = to_latin(text).replace("'", "").replace("`", "")
    out = {w for w in _SPLIT.split(t) if len(w) >= 2 and not w.isdigit()}
    if script == "Arabic":  # and each word as written with the article: "al " + word
        out.update(ARTICLE_KEY + p for w in arabic_words(text) if w.article for p in w.parts
                   if len(p) >= 2 and not p.isdigit())
    return out


def terror_filter(data: Path, langs: tuple[str, ...]) -> re.Pattern[str]:
    """The keyword regexes that made the news sets' terror-mention subsets
    (news/KEYWORDS.txt), for the languages ``langs``."""
    pats = []
    for ln in (data / "news" / "KEYWORDS.txt").read_text(encoding="utf-8").splitlines():
        lang, _, pat = ln.partition("\t")
        if lang in langs and pat:
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
    for lang in ("en", "fr", "ar"):
        with open(data / "mlma" / f"{lang}_dataset.csv", encoding="utf-8") as f:
            out[f"mlma ({lang})"] = [r.get("tweet") or "" for r in csv.DictReader(f)]
    ru = data / "news" / "ru-telegram-news" / "ru_telegram_news_all.jsonl.gz"
    with gzip.open(ru, "rt", encoding="utf-8") as f:
        out["ru telegram news (ru)"] = [json.loads(ln).get("text") or "" for ln in f
                                        if ln.strip()]
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
    best: dict[str, dict[str, float]] = {}
    sizes: dict[str, dict[str, int]] = {}
    for name, docs in corpora(args.data).items():
        script, langs = SCRIPTS[name]
        terror = terror_filter(args.data, langs)
        docs = [d for d in docs if d.strip() and not terror.search(d)]
        sizes.setdefault(script, {})[name] = len(docs)
        df: Counter[str] = Counter()
        for d in docs:
            df.update(words(d, script))
        top = best.setdefault(script, {})
        for w, k in df.items():
            share = k / len(docs)
            if k >= 3 and share >= args.min_share and share > top.get(w, 0.0):
                top[w] = share

    def table(script: str) -> dict[str, int]:
        return {w: round(s * 1e6) for w, s in sorted(best[script].items())}

    doc = {"about": "documents per million (highest over the corpora of a script) containing "
                    "each word, in ordinary text: words, Latin script; scripts, words written "
                    "in Arabic and Cyrillic script (Arabic also as written with the article, "
                    "'al ' + word); built by scripts/build_common_words.py",
           "corpora": sizes[LATIN], "min_share": args.min_share, "words": table(LATIN),
           "scripts": {sc: {"corpora": sizes[sc], "sources": {c: SOURCES[c] for c in sizes[sc]},
                            "words": table(sc)}
                       for sc in sorted(best) if sc != LATIN}}
    args.out.write_text(json.dumps(doc, ensure_ascii=True, separators=(",", ":"),
                                   sort_keys=False) + "\n", encoding="utf-8")
    for sc in sorted(best):
        print(f"{sc}: {len(best[sc])} words from {sum(sizes[sc].values())} documents "
              f"({', '.join(f'{k} {v}' for k, v in sizes[sc].items())})")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
