"""Throughput of every ingest format, against a baseline that only reads the file.

For each format rasd reads, a synthetic file of N records is generated and timed
three ways, in this process:

- baseline: the cheapest full read of the same file with the standard tool for
  its syntax (``json.loads`` per line or ``json.load`` of the document,
  ``csv.reader``, ``html.parser`` fed the whole page) — no mapping, no store;
- parse: rasd's parser for the format (records out, nothing stored);
- ingest: ``ingest_path`` into a fresh SQLite store (one process).

    python benchmarks/formats.py              # 20,000 records per format
    python benchmarks/formats.py --records 5000 --only telegram-html,telethon

The figures are records per second (posts, plus the accounts and events the
format carries), best of ``--repeat`` runs; compare within one run: the shared
host's speed drifts.

2026-11-30 (the parsers other than X JSONL; "zeeschuimer", X web captures, added
here). Instructions per message (callgrind; a warm-up of 200, then 2,000
messages, less the warm-up alone; repeatable to ~0.1%), before -> after,
parse / ingest (SQLite, one process):
  csv (isis-kaggle)   342k -> 240k (-30%) / 959k -> 856k (-11%)
  zeeschuimer         449k -> 290k (-36%) / 1,083k -> 924k (-15%)
  telegram (JSON)     236k -> 202k (-15%) / 740k -> 703k (-5%)
  telegram-html       581k -> 530k (-9%)  / 1,077k -> 1,027k (-5%)
  telethon            120k -> 106k (-11%) / 640k -> 618k (-3%)
Messages per CPU-second (5,000 a format, old and new alternated three
times; the host was at load 7-9 all session, which made this script's wall
figures swing 2-3x between runs of the same code): parse csv 30-31k -> 51-55k,
zeeschuimer 26-27k -> 49-51k, telegram 53-55k -> 59-63k, telegram-html
19k -> 20-22k, telethon 111-113k -> 134-146k; ingest csv 11.8-13.2k ->
13.7-15.2k, zeeschuimer 11.4-11.8k -> 12.9-14.3k, the others within noise.
What did it: strptime out of the way (X v1.1 "... +0000 2018" times read by a
regular expression, ~14 us each; a CSV mapping's numeric time_formats read
with strptime's own expressions, and parse_time's certain failure no longer
tried first), UTC offsets "+00:00" read by fromisoformat alone, a CSV
mapping's fields as getters made once per file, user_v1/tweet_v1 taking plain
values without the checking helpers (kept for every other value), Telegram
messages built without ijson's ObjectBuilder, html.parser's line counting
skipped. Stored contents are unchanged (every table but ingest bookkeeping,
old and new, on these files and the real ones in shared data). What remains:
ingest is now 2-6x parse for every format (the writer, shared with X);
telegram is ijson's events in Python (26 a message; json.load reads the file
over 10x faster); telegram-html is html.parser itself (~60% of its parse).
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import random
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

WORDS = ("the of and to in is for on that with as are at this be by from was have not "
         "news city report people day time world today state video attack police said "
         "group says support join share read more").split()


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))


def gen_telegram(path: Path, n: int, rng: random.Random) -> Path:
    d = path / "tg"
    d.mkdir()
    msgs = [{"id": i, "type": "message", "date": f"2024-03-01T10:{i % 60:02d}:00",
             "date_unixtime": str(1709287200 + i), "from": "Bench Channel",
             "from_id": "channel1", "text": [_text(rng) + " ", {"type": "hashtag", "text": "#b"}],
             "text_entities": [], **({"forwarded_from": "Other"} if i % 5 == 0 else {})}
            for i in range(1, n + 1)]
    (d / "result.json").write_text(json.dumps({"name": "Bench Channel", "type": "public_channel",
                                               "id": 1, "messages": msgs}, indent=1))
    return d


def gen_telegram_html(path: Path, n: int, rng: random.Random) -> Path:
    d = path / "tghtml"
    d.mkdir()
    parts = ['<html><body><div class="page_wrap"><div class="page_header"><div class="content">'
             '<div class="text bold">\nBench Channel\n</div></div></div>'
             '<div class="page_body chat_page"><div class="history">\n']
    for i in range(1, n + 1):
        joined = " joined" if i % 3 else ""
        sender = "" if joined else '<div class="from_name">\nBench Channel\n</div>\n'
        parts.append(
            f'<div class="message default clearfix{joined}" id="message{i}">\n<div class="body">\n'
            f'<div class="pull_right date details" title="01.03.2024 10:{i % 60:02d}:00 '
            f'UTC+03:00">\n10:00\n</div>\n{sender}'
            f'<div class="text">\n{html.escape(_text(rng))} #b\n</div>\n</div>\n</div>\n')
    parts.append("</div></div></div></body></html>\n")
    (d / "messages.html").write_text("".join(parts))
    return d / "messages.html"


def gen_telethon(path: Path, n: int, rng: random.Random) -> Path:
    f = path / "telethon.jsonl"
    with f.open("w") as out:
        for i in range(1, n + 1):
            text = _text(rng) + " #b"
            out.write(json.dumps({
                "_": "Message", "id": i, "peer_id": {"_": "PeerChannel", "channel_id": 1},
                "date": f"2024-03-01 10:{i % 60:02d}:00+00:00", "message": text,
                "entities": [{"_": "MessageEntityHashtag", "offset": len(text) - 2, "length": 2}],
                "views": rng.randint(0, 999), "forwards": 0, "from_id": None,
                **({"fwd_from": {"_": "MessageFwdHeader", "from_id": {
                    "_": "PeerChannel", "channel_id": 2}, "channel_post": i}} if i % 5 == 0 else {}),
            }) + "\n")
    return f


def gen_csv(path: Path, n: int, rng: random.Random) -> Path:
    f = path / "kaggle.csv"
    with f.open("w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["name", "username", "description", "location", "followers",
                    "numberstatuses", "time", "tweets"])
        for i in range(n):
            u = rng.randint(1, 200)
            w.writerow([f"User {u}", f"user{u}", "bio", "", 10, 100,
                        f"{1 + i % 12}/{1 + i % 28}/2015 {i % 24}:{i % 60:02d}",
                        ("RT @user7: " if i % 4 == 0 else "") + _text(rng)])
    return f


def gen_zeeschuimer(path: Path, n: int, rng: random.Random) -> Path:
    """X web captures (Zeeschuimer: one GraphQL ``Tweet`` a line, its author
    in ``core.user_results``; every fifth a retweet with the original inside)."""
    def user(u: int) -> dict:
        return {"__typename": "User", "rest_id": str(1000 + u), "is_blue_verified": False,
                "legacy": {"screen_name": f"user{u}", "name": f"User {u}",
                           "description": "bio", "location": "", "followers_count": 10 * u,
                           "friends_count": u, "statuses_count": 100 + u, "verified": False,
                           "created_at": "Sat Mar 01 10:00:00 +0000 2014"}}

    def tweet(i: int, text: str) -> dict:
        u = rng.randint(1, 200)
        return {"__typename": "Tweet", "rest_id": str(1_700_000_000_000_000_000 + i),
                "core": {"user_results": {"result": user(u)}},
                "views": {"count": str(rng.randint(0, 9999)), "state": "EnabledWithCount"},
                "legacy": {"full_text": text, "lang": "en", "user_id_str": str(1000 + u),
                           "created_at": f"Fri Mar 01 10:{i % 60:02d}:00 +0000 2024",
                           "conversation_id_str": str(1_700_000_000_000_000_000 + i),
                           "favorite_count": rng.randint(0, 99), "retweet_count": 1,
                           "reply_count": 0, "quote_count": 0,
                           "entities": {"hashtags": [{"text": "b", "indices": [0, 2]}],
                                        "urls": [], "user_mentions": [], "symbols": []}}}

    f = path / "zeeschuimer.ndjson"
    with f.open("w") as out:
        for i in range(1, n + 1):
            t = tweet(i, _text(rng) + " #b")
            if i % 5 == 0:
                t["legacy"]["retweeted_status_result"] = {"result": tweet(n + i, _text(rng))}
            out.write(json.dumps({"nav_index": f"1:1:{i}", "item_id": t["rest_id"],
                                  "timestamp_collected": 1_727_000_000_000 + i,
                                  "source_platform": "x.com",
                                  "source_platform_url": "https://x.com/search?q=b",
                                  "source_url": "https://x.com/i/api/graphql/a/SearchTimeline",
                                  "user_agent": "Mozilla/5.0", "data": t}) + "\n")
    return f


GENERATORS = {"telegram": gen_telegram, "telegram-html": gen_telegram_html,
              "telethon": gen_telethon, "csv": gen_csv, "zeeschuimer": gen_zeeschuimer}


PARSER = {"zeeschuimer": "x"}  # the parser of a format, where its name differs


def baseline(fmt: str, path: Path) -> int:
    if fmt == "telegram":
        with open(path / "result.json", "rb") as f:
            return len(json.load(f)["messages"])
    if fmt in ("telethon", "zeeschuimer"):
        with open(path, "rb") as f:
            return sum(1 for line in f if json.loads(line))
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            return sum(1 for _ in csv.reader(f)) - 1
    p = HTMLParser()
    p.feed(path.read_text("utf-8"))
    return 0


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20_000, help="records per format")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    ap.add_argument("--only", default="", help="comma-separated formats")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from rasd.ingest import ingest_path
    from rasd.ingest.base import RawSink, get_parser
    from rasd.store import Store

    rng = random.Random(7)
    only = [x for x in args.only.split(",") if x] or list(GENERATORS)
    print(f"{'format':<15}{'records':>9}{'baseline/s':>13}{'parse/s':>11}{'ingest/s':>11}"
          f"{'parse:base':>12}   (messages per second)")
    with tempfile.TemporaryDirectory(prefix="rasd-formats-") as tmp:
        for k, fmt in enumerate(only):
            d = Path(tmp) / fmt
            d.mkdir()
            path = GENERATORS[fmt](d, args.records, rng)
            t_base = best(lambda p=path, f=fmt: baseline(f, p), args.repeat)
            n = 0

            def parse(p=path, f=fmt) -> None:
                nonlocal n
                n = sum(1 for _ in get_parser(PARSER.get(f, f)).parse(p, RawSink()))

            t_parse = best(parse, args.repeat)
            runs = []
            for r in range(args.repeat):
                db = Path(tmp) / f"{k}-{r}.db"
                store = Store.open(str(db))
                t = time.perf_counter()
                ingest_path(store, path, jobs=1)
                runs.append(time.perf_counter() - t)
                store.engine.dispose()
                for x in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
                    if x.exists():
                        os.remove(x)
            t_ingest = min(runs)
            m = args.records
            print(f"{fmt:<15}{n:>9,}{m / t_base:>13,.0f}{m / t_parse:>11,.0f}"
                  f"{m / t_ingest:>11,.0f}{t_base / t_parse:>11.2f}x")
    print("rates are messages (posts) per second; records: what rasd's parser yields for them "
          "(posts, accounts, events); baseline: the same file read by the standard tool for "
          "its syntax, nothing mapped or stored")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
