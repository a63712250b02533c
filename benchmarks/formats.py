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

Memory at whole-file scale (``--size-mb N``): each format is generated at N MB
(streamed to disk, never held in memory) and ingested by ``rasd ingest ... --json``
in a child process into a fresh SQLite store, with the default options (2
processes for a file of 16 MB or more; 1 for standard input and for the pages of
an HTML export, each under 16 MB). Printed: records (new + updated + unchanged +
rejected, as the CLI counts them) per second, CPU seconds of both processes, the
peak RSS (``ru_maxrss``) of the ingesting process and of its parsing child, and
the ingesting process's peak RSS so far at each quarter of its wall time (sampled from
/proc: flat quarters = bounded).

    python benchmarks/formats.py --size-mb 400
    python benchmarks/formats.py --size-mb 1024 --only telegram,csv-far-right
    python benchmarks/formats.py --size-mb 100 --only zip --ingest-args --jobs 1

Formats: ``telegram`` (a single-chat ``result.json``: one JSON document),
``telegram-account`` (a full account export, ``chats.list`` of 10 MB chats),
``telegram-html`` (an export folder, 1,000 messages a page), ``telethon`` (JSON
lines), ``telethon-array`` (one JSON array on one line), ``csv-isis-kaggle`` and
``csv-far-right`` (the built-in mappings), ``zeeschuimer`` (X web captures,
NDJSON), ``zip`` and ``tar-gz`` (an X v2 JSONL inside; N is the JSONL's size) and
``stdin-gz`` (an X v2 JSONL, gzip'd, fed through a pipe to ``rasd ingest -``).

Measured 2026-11-30 on the project's 2-core host, loaded 7-9 by other work
throughout (records/s are low and noisy; the RSS figures are not affected).
Peak RSS in MB, ingesting process + parsing process:

  format            size    records  records/s  peak RSS MB  (by quarter, where sampled)
  telegram          100 MB    184,167    10,403  214 + 115
                    400 MB    735,904     2,898  277 + 117
                    1 GB    1,881,571     7,058  322 + 118  (245/250/252/322)
  telegram-account  100 MB    164,762     6,890  206 + 116
                    400 MB    658,307     5,079  289 + 118
  telegram-html     100 MB    328,192     4,476  152        (328 pages)
                    400 MB  1,310,712     2,712  156        (1,310 pages)
  telethon          100 MB    263,951     5,458  231 + 81
                    400 MB  1,054,734     4,229  321 + 81
                    1 GB    2,694,770     6,123  363 + 81   (252/283/300/363)
  telethon-array    100 MB    263,289     5,344  230 + 89
                    400 MB  1,052,099     5,376  316 + 88
  csv-isis-kaggle   100 MB  1,426,000     5,610  336 + 91
                    200 MB  2,844,000     6,761  410 + 91   (273/331/334/410)
  csv-far-right     100 MB  1,124,000     6,797  288 + 97
                    200 MB  2,244,000     8,414  326 + 97   (227/253/271/326)
  zeeschuimer       100 MB    152,996     7,288  195 + 100
                    400 MB    611,658     7,951  252 + 101
  zip               100 MB    215,341    11,530  191 + 92   (15 MB packed)
                    400 MB    861,133    14,832  270 + 91   (59 MB packed)
  tar-gz            100 MB    215,341    10,811  191 + 92
                    400 MB    861,133    11,744  259 + 91
  stdin-gz          100 MB    215,341    11,843  226        (1 process)
                    400 MB    861,133     9,974  298

Reading: the parsing process is flat in every format (81-118 MB: one batch and
the reader's window). The writing process grows until the run's caches are full
and then stays: the account and post-author caches of ``Writer`` and the profiles
``Prep`` has sent are capped at ``CACHE_MAX`` (400,000 entries then, ~80 MB each at
the cap for these keys; 150,000 since, see docs/ingest.md) and cleared past it, and SQLite's page cache is 64 MB
per connection; the rise in the run's last quarter comes with the end of the run
(most likely the rebuilding of the indexes a big load deferred: SQLite's sorter
works in memory up to the cache size; not measured apart).
The CSV files reach the caps first (~7,000 rows a MB): between the 2nd and 3rd
quarter of the 200 MB kaggle run the writer went from 331 to 334 MB; the 1 GB
result.json held 245-252 MB from its first quarter to its third. Not explained:
the 1 GB Telethon file still rose in its middle (283 -> 300 MB, 2nd to 3rd
quarter), past the point where its 1.35M posts had filled the post-author cache
once and cleared it;
allocator fragmentation after the clears is a guess, not measured. Every file
stayed under the issue's 500 MB; CSV was not run at 1 GB (14M rows: ~40 min on
this host). An HTML export is one run per page (each page under 16 MB, one process), so it stays at
~155 MB whatever the folder's size. What the formats do not show: a file with
hundreds of thousands of distinct accounts fills the account caches too (not
generated here: these files draw on 2,000-20,000 accounts).
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
from collections.abc import Callable
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


def _html_message(i: int, rng: random.Random) -> str:
    """Message ``i`` of a Telegram HTML export (every third one a "joined" message,
    its sender the one before's)."""
    joined = " joined" if i % 3 else ""
    sender = "" if joined else '<div class="from_name">\nBench Channel\n</div>\n'
    return (f'<div class="message default clearfix{joined}" id="message{i}">\n'
            f'<div class="body">\n<div class="pull_right date details" title="01.03.2024'
            f' 10:{i % 60:02d}:00 UTC+03:00">\n10:00\n</div>\n{sender}'
            f'<div class="text">\n{html.escape(_text(rng))} #b\n</div>\n</div>\n</div>\n')


def gen_telegram_html(path: Path, n: int, rng: random.Random) -> Path:
    d = path / "tghtml"
    d.mkdir()
    parts = [('<html><body><div class="page_wrap"><div class="page_header"><div class="content">'
              '<div class="text bold">\nBench Channel\n</div></div></div>'
              '<div class="page_body chat_page"><div class="history">\n')]
    parts.extend(_html_message(i, rng) for i in range(1, n + 1))
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


# ---------------------------------------------------------------------------
# --size-mb N: peak RSS of a whole-file ingest, per format (streamed generation)
# ---------------------------------------------------------------------------


class _Out:
    """A text file written in pieces, counting its bytes (generation streams:
    nothing of the file is held beyond the piece being written)."""

    def __init__(self, f) -> None:
        self.f = f
        self.n = 0

    def write(self, s: str) -> None:
        b = s.encode("utf-8")
        self.f.write(b)
        self.n += len(b)


def _tg_message(i: int, rng: random.Random, chat: str = "Bench Channel") -> dict:
    m = {"id": i, "type": "message", "date": f"2024-03-01T10:{i % 60:02d}:00",
         "date_unixtime": str(1709287200 + i), "from": chat, "from_id": "channel1",
         "text": [_text(rng) + " ", {"type": "hashtag", "text": "#b"}],
         "text_entities": [{"type": "plain", "text": _text(rng) + " "},
                           {"type": "hashtag", "text": "#b"}]}
    if i % 5 == 0:
        m["forwarded_from"] = f"Other {i % 300}"
    if i % 7 == 0:
        m["reply_to_message_id"] = max(1, i - 3)
    if i % 50 == 0:
        m = {"id": i, "type": "service", "date": m["date"], "date_unixtime": m["date_unixtime"],
             "actor": chat, "actor_id": "channel1", "action": "pin_message",
             "message_id": i - 1, "text": "", "text_entities": []}
    return m


def _tg_chat(out: _Out, cid: int, name: str, until: int, rng: random.Random,
             indent: str) -> None:
    """One chat object, its messages until ``out`` holds ``until`` bytes."""
    out.write(f'{indent}{{\n{indent} "name": {json.dumps(name)},\n{indent} "type": '
              f'"public_channel",\n{indent} "id": {cid},\n{indent} "messages": [\n')
    i = 0
    while True:
        i += 1
        body = json.dumps(_tg_message(i, rng, name), indent=1, ensure_ascii=False)
        out.write(indent + "  " + body.replace("\n", "\n" + indent + "  "))
        if out.n >= until:
            break
        out.write(",\n")
    out.write(f"\n{indent} ]\n{indent}}}")


def big_telegram(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    """A single-chat ``result.json``: one JSON document of ``size`` bytes."""
    (d / "tg").mkdir()
    with open(d / "tg" / "result.json", "wb") as f:
        out = _Out(f)
        _tg_chat(out, 1, "Bench Channel", size, rng, "")
        out.write("\n")
    return d / "tg", []


def big_telegram_account(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    """A full account export (``chats.list``): chats of ~10 MB each, ``size`` in all."""
    (d / "account").mkdir()
    per_chat = 10 * 2**20
    with open(d / "account" / "result.json", "wb") as f:
        out = _Out(f)
        out.write('{\n "about": "Here is the data you requested.",\n'
                  ' "personal_information": {"user_id": 42, "first_name": "Me"},\n'
                  ' "chats": {\n  "about": "This page lists all chats from this export.",\n'
                  '  "list": [\n')
        k = 0
        while True:
            k += 1
            _tg_chat(out, 1_000_000 + k, f"Chat {k}", min(size, out.n + per_chat), rng, "   ")
            if out.n >= size:
                break
            out.write(",\n")
        out.write('\n  ]\n },\n "left_chats": {"about": "", "list": []}\n}\n')
    return d / "account", []


HTML_HEAD = ('<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8"/>\n<title>Exported Data'
             '</title>\n</head>\n<body>\n<div class="page_wrap">\n<div class="page_header">\n'
             '<div class="content">\n<div class="text bold">\nBench Channel\n</div>\n</div>\n'
             '</div>\n<div class="page_body chat_page">\n<div class="history">\n')


def big_telegram_html(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    """An HTML export folder: ``messages.html``, ``messages2.html`` … of 1,000
    messages a page, as Telegram Desktop writes them."""
    root = d / "ChatExport_2024-03-02"
    root.mkdir()
    total, page, i = 0, 0, 0
    while total < size:
        page += 1
        name = "messages.html" if page == 1 else f"messages{page}.html"
        with open(root / name, "wb") as f:
            out = _Out(f)
            out.write(HTML_HEAD)
            for _ in range(1000):
                i += 1
                out.write(_html_message(i, rng))
                if total + out.n >= size:
                    break
            out.write("</div>\n</div>\n</div>\n</body>\n</html>\n")
            total += out.n
    return root, []


def _telethon_msg(i: int, rng: random.Random) -> dict:
    text = _text(rng) + " #b"
    return {"_": "Message", "id": i, "peer_id": {"_": "PeerChannel", "channel_id": 1 + i % 50},
            "date": f"2024-03-01 10:{i % 60:02d}:00+00:00", "message": text,
            "entities": [{"_": "MessageEntityHashtag", "offset": len(text) - 2, "length": 2}],
            "views": rng.randint(0, 999), "forwards": 0,
            "from_id": {"_": "PeerUser", "user_id": 100 + i % 5000},
            **({"fwd_from": {"_": "MessageFwdHeader", "from_id": {
                "_": "PeerChannel", "channel_id": 2}, "channel_post": i}} if i % 5 == 0 else {})}


def _lines_until(f: Path, size: int, line: Callable[[int], str]) -> tuple[Path, list[str]]:
    """``f`` written a line at a time, ``line(1)``, ``line(2)`` … (each with
    its own line end), until it holds ``size`` bytes."""
    with open(f, "wb") as fh:
        out, i = _Out(fh), 0
        while out.n < size:
            i += 1
            out.write(line(i))
    return f, []


def big_telethon(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    return _lines_until(d / "telethon.jsonl", size,
                        lambda i: json.dumps(_telethon_msg(i, rng)) + "\n")


def big_telethon_array(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    """Telethon messages as one JSON array on one line (``json.dump(msgs, f)``)."""
    f = d / "telethon.json"
    with open(f, "wb") as fh:
        out, i = _Out(fh), 0
        out.write("[")
        while out.n < size:
            i += 1
            out.write(("" if i == 1 else ", ") + json.dumps(_telethon_msg(i, rng)))
        out.write("]\n")
    return f, []


def big_csv_kaggle(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    f = d / "tweets.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "username", "description", "location", "followers",
                    "numberstatuses", "time", "tweets"])
        i = 0
        while fh.tell() < size:
            for _ in range(1000):
                i += 1
                u = rng.randint(1, 2000)
                w.writerow([f"User {u}", f"user{u}", "bio", "", 10, 100,
                            f"{1 + i % 12}/{1 + i % 28}/2015 {i % 24}:{i % 60:02d}",
                            ("RT @user7: " if i % 4 == 0 else "") + _text(rng) + f" {i}"])
    return f, []


def big_csv_far_right(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    f = d / "far_right.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["channel_name", "channel_id", "msg_id", "date", "msg_link", "is_forward",
                    "forward_msg_from_peer_name", "views", "cleaned_message", "langid"])
        i = 0
        while fh.tell() < size:
            for _ in range(1000):
                i += 1
                c = rng.randint(1, 300)
                fwd = i % 4 == 0
                w.writerow([f"chan{c}", 1_400_000_000 + c, i,
                            f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 10:{i % 60:02d}:00+00:00",
                            f"https://t.me/chan{c}/{i}", int(fwd),
                            f"chan{rng.randint(1, 600)}" if fwd else "", rng.randint(0, 9999),
                            _text(rng) + " #b", "en"])
    return f, []


def _zee_line(i: int, rng: random.Random) -> str:
    u = rng.randint(1, 20_000)
    author = {"__typename": "User", "id": "VXNlcjo=", "rest_id": str(10_000 + u),
              "is_blue_verified": False,
              "legacy": {"screen_name": f"user_{u}", "name": f"User {u}",
                         "description": "bio " * 12, "followers_count": u,
                         "friends_count": 7, "statuses_count": 900,
                         "created_at": "Sat Mar 01 10:00:00 +0000 2014",
                         "location": "somewhere", "verified": False}}
    tid = str(1_700_000_000_000_000_000 + i)
    text = _text(rng) + " #b"
    legacy = {"id_str": tid, "full_text": text, "created_at": "Wed Oct 10 20:19:24 +0000 2024",
              "conversation_id_str": tid, "user_id_str": author["rest_id"], "lang": "en",
              "favorite_count": 3, "retweet_count": 1, "reply_count": 0, "quote_count": 0,
              "entities": {"hashtags": [{"text": "b", "indices": [len(text) - 2, len(text)]}],
                           "urls": [], "user_mentions": [], "symbols": []}}
    if i % 5 == 0:
        legacy["in_reply_to_status_id_str"] = str(1_700_000_000_000_000_000 + max(1, i - 9))
    data = {"__typename": "Tweet", "rest_id": tid, "core": {"user_results": {"result": author}},
            "views": {"count": "4521", "state": "EnabledWithCount"},
            "source": '<a href="https://mobile.twitter.com">Twitter Web App</a>',
            "legacy": legacy}
    return json.dumps({"nav_index": f"1:1:{i}", "item_id": tid,
                       "timestamp_collected": 1_727_000_000_000 + i, "source_platform": "x.com",
                       "source_platform_url": "https://x.com/search?q=x",
                       "source_url": "https://x.com/i/api/graphql/abc/SearchTimeline",
                       "user_agent": "Mozilla/5.0", "data": data}) + "\n"


def big_zeeschuimer(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    return _lines_until(d / "zeeschuimer.ndjson", size, lambda i: _zee_line(i, rng))


def _x_jsonl(d: Path, size: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ingest import generate  # benchmarks/ingest.py: X API v2 pages, streamed

    f = d / "tweets.jsonl"
    generate(f, size_bytes=size)
    return f


def big_zip(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    """A ZIP archive (deflate) holding an X v2 JSONL of ``size`` bytes."""
    import shutil
    import zipfile

    src = _x_jsonl(d, size)
    z = d / "crawl.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open("crawl/tweets.jsonl", "w", force_zip64=True) as dst, open(src, "rb") as s:
        shutil.copyfileobj(s, dst, 2**20)
    src.unlink()
    return z, []


def big_tar_gz(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    """A ``.tar.gz`` holding an X v2 JSONL of ``size`` bytes."""
    import tarfile

    src = _x_jsonl(d, size)
    t = d / "crawl.tar.gz"
    with tarfile.open(t, "w:gz", compresslevel=1) as tf:
        tf.add(src, arcname="crawl/tweets.jsonl")
    src.unlink()
    return t, []


def big_stdin_gz(d: Path, size: int, rng: random.Random) -> tuple[Path, list[str]]:
    """A gzip'd X v2 JSONL of ``size`` bytes (uncompressed), piped to ``rasd ingest -``."""
    import gzip
    import shutil

    src = _x_jsonl(d, size)
    g = d / "crawl.jsonl.gz"
    with open(src, "rb") as s, gzip.open(g, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(s, dst, 2**20)
    src.unlink()
    return g, ["-"]


BIG = {"telegram": big_telegram, "telegram-account": big_telegram_account,
       "telegram-html": big_telegram_html, "telethon": big_telethon,
       "telethon-array": big_telethon_array, "csv-isis-kaggle": big_csv_kaggle,
       "csv-far-right": big_csv_far_right, "zeeschuimer": big_zeeschuimer,
       "zip": big_zip, "tar-gz": big_tar_gz, "stdin-gz": big_stdin_gz}


def _cli_child(argv: list[str]) -> None:
    """Run ``rasd`` with ``argv`` in this process, then print one JSON line:
    this process's peak RSS and its children's (the parsing process of
    ``--jobs 2``), as the last line of standard output."""
    import resource

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from rasd.cli import main as cli_main

    sys.argv = ["rasd", *argv]
    code = 0
    try:
        cli_main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    sys.stdout.flush()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print("\n" + json.dumps({"code": code, "rss_mb": me.ru_maxrss / 1024,
                             "child_rss_mb": kids.ru_maxrss / 1024,
                             "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime
                             + kids.ru_stime}))


def _vm_rss_mb(pid: int) -> float:
    """A process's resident memory now (Linux; 0 elsewhere or once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _du(p: Path) -> int:
    return p.stat().st_size if p.is_file() else sum(
        x.stat().st_size for x in p.rglob("*") if x.is_file())


def rss_main(args: argparse.Namespace) -> None:
    """Generate each format at ``--size-mb`` and ingest it in a child process."""
    import shutil
    import subprocess

    only = [x for x in args.only.split(",") if x] or list(BIG)
    for x in only:
        if x not in BIG:
            raise SystemExit(f"unknown format {x!r}; known: {', '.join(BIG)}")
    size = int(args.size_mb * 2**20)
    base = Path(args.tmp) if args.tmp else Path(tempfile.gettempdir())
    print(f"{'format':<18}{'data MB':>9}{'records':>11}{'records/s':>11}{'CPU s':>8}"
          f"{'peak RSS MB':>16}   (writer + parser process)", flush=True)
    for fmt in only:
        tmp = Path(tempfile.mkdtemp(prefix=f"rasd-rss-{fmt}-", dir=base))
        try:
            t0 = time.perf_counter()
            path, extra = BIG[fmt](tmp, size, random.Random(7))
            gen_s = time.perf_counter() - t0
            db = tmp / "rasd.db"
            stdin = "-" in extra
            cmd = [sys.executable, str(Path(__file__).resolve()), "--cli-child", "--db", str(db),
                   "ingest", "-" if stdin else str(path), "--json", *args.ingest_args]
            t0 = time.perf_counter()
            with open(tmp / "out", "w+b") as fo, open(tmp / "err", "w+b") as fe:
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else
                                        subprocess.DEVNULL, stdout=fo, stderr=fe)
                if stdin:  # a pipe, fed as it is read: rasd sees no size
                    with open(path, "rb") as src:
                        try:
                            shutil.copyfileobj(src, proc.stdin, 2**16)
                        except BrokenPipeError:
                            pass
                    try:
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
                marks = []  # (seconds, the ingesting process's RSS MB), from /proc
                while proc.poll() is None:
                    rss = _vm_rss_mb(proc.pid)
                    if rss:
                        marks.append((time.perf_counter() - t0, rss))
                    time.sleep(0.5)
                wall = time.perf_counter() - t0
                fo.seek(0)
                fe.seek(0)
                out, err = fo.read(), fe.read()
            lines = out.decode("utf-8", "replace").strip().splitlines()
            res = json.loads(lines[-1])
            reports = json.loads("\n".join(lines[:-1]) or "[]") if res["code"] == 0 else []
            if res["code"] != 0 or not reports:
                print(f"{fmt:<18} FAILED (exit {res['code']}): "
                      f"{err.decode('utf-8', 'replace')[-2000:]}", flush=True)
                continue
            recs = sum(r["new"] + r["updated"] + r["unchanged"] + r["rejected"]
                       for r in reports)
            secs = sum(r["seconds"] for r in reports) or wall
            rej = sum(r["rejected"] for r in reports)
            mb = _du(path) / 2**20
            # the writer's RSS at each quarter of the run: flat = bounded; rising = not
            trend = "/".join(f"{max([r for t, r in marks if t <= wall * q / 4] or [0]):.0f}"
                             for q in (1, 2, 3, 4))
            packed = f", {mb:,.0f} MB packed" if fmt in ("zip", "tar-gz", "stdin-gz") else ""
            kid = f" + {res['child_rss_mb']:,.0f}" if res["child_rss_mb"] > 1 else ""
            print(f"{fmt:<18}{size / 2**20 if packed else mb:>9,.0f}{recs:>11,}{recs / secs:>11,.0f}{res['cpu_s']:>8.0f}"
                  f"{res['rss_mb']:>9,.0f}{kid:<7}"
                  f"   (by quarter {trend}; gen {gen_s:.0f}s, {len(reports)} report(s), {rej} "
                  f"rejected{packed})",
                  flush=True)
        finally:
            if args.keep:
                print(f"  kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20_000, help="records per format")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (best is kept)")
    ap.add_argument("--only", default="", help="comma-separated formats")
    ap.add_argument("--size-mb", type=float, default=0.0,
                    help="instead: generate each format at this size (MB) and print the peak "
                         "RSS and records/s of a whole-file ingest (`rasd ingest`, a child "
                         "process); formats: " + ", ".join(BIG))
    ap.add_argument("--tmp", default="", help="folder for the generated files (--size-mb)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files (--size-mb)")
    ap.add_argument("--ingest-args", nargs=argparse.REMAINDER, default=[],
                    help="more options for rasd ingest (--size-mb), e.g. --jobs 1")
    args = ap.parse_args()
    if args.size_mb:
        rss_main(args)
        return
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
    if sys.argv[1:2] == ["--cli-child"]:
        _cli_child(sys.argv[2:])
    else:
        main()
