"""Crash consistency of ``rasd ingest``: kill it mid-file, run it again, compare.

For each input rasd reads (X v2 pages, twarc2 flattened, Telegram Desktop JSON —
one chat and a full account export —, Telegram HTML, Telethon, CSV with a
built-in mapping, a ZIP and a tar.gz archive, gzip'd JSON Lines, standard
input), a file of several batches is generated (seeded) and:

1. ingested once, uninterrupted, into a fresh store (the reference);
2. for each kill point, ingested into another fresh store by ``rasd ingest`` in a
   subprocess that is SIGKILLed there, then the same command run again to its
   end: the store must hold the same rows as the reference, every table
   (accounts, versions, posts, versions, media, edges, waiting links, hashtags,
   URLs, events, compliance notices, raw records) compared by natural keys, with
   surrogate ids translated and times the ingest took from its own clock (first
   and last seen, a version's end where no copy says when) left out; run
   bookkeeping (``ingest_files``) is not compared, but the posts and accounts
   its runs counted ``new`` must add up to the reference's (each row new once);
3. the command run a third time must report nothing new or updated, and leave
   the store as it was.

Kill points: ``commit:N`` (inside the N-th batch's transaction, before it
commits), ``after:N`` (just after the N-th batch committed), ``merge`` (after the
last batch, entering the "@name" merge), ``draw`` (after the waiting links were
drawn, before the run is recorded done), ``done`` (inside the transaction that
records it done), and ``time:S`` (a SIGKILL from outside after S seconds:
random moments, drawn from ``--seed``). Deterministic points are reached by
running ``rasd`` through this script (``--child``), which patches the named
step to kill its own process there.

    python benchmarks/killpoints.py                      # SQLite, every format
    python benchmarks/killpoints.py --db postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/killpoints.py --only x-v2,csv --random 4 --seed 3

With ``--db`` a PostgreSQL URL each store is a fresh schema of that database
(dropped afterwards). Exit status 1 when any kill left a different store.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import html
import io
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- generators
# Each writes its input under ``d`` and returns the arguments of `rasd ingest`
# (paths, options) and, for standard input, the file to feed it.

WORDS = ["the", "of", "and", "to", "in", "is", "for", "on", "that", "with", "as", "are", "at", "this", "be", "by", "from", "was", "have", "not", "news", "city", "report", "people", "day", "time", "world", "today", "state", "video", "attack", "police", "said", "group", "says", "support", "join", "share", "read", "more"]


def _text(rng: random.Random, lo: int = 6, hi: int = 20) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _x_user(u: int, version: int) -> dict[str, Any]:
    return {"id": str(1000 + u), "username": f"user{u}", "name": f"User {u}",
            "description": f"bio {u} version {version}", "created_at": "2020-01-01T00:00:00.000Z",
            "public_metrics": {"followers_count": 10 + u, "following_count": 5,
                               "tweet_count": 100 + version, "listed_count": 0}}


def _x_tweets(n: int, rng: random.Random) -> list[tuple[int, dict[str, Any]]]:
    """(page, tweet) for ``n`` tweets: mentions, hashtags, URLs, media, replies and
    quotes of earlier and of later tweets (their link waits), edits (a tweet
    again, later, with another text)."""
    out = []
    for i in range(n):
        tid = 10_000 + i
        t: dict[str, Any] = {
            "id": str(tid), "author_id": str(1000 + rng.randrange(40)),
            "created_at": (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=i))
            .strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "text": f"@user{i % 40} {_text(rng)} #tag{i % 7} https://t.co/{i}",
            "lang": "en", "conversation_id": str(tid),
            "edit_history_tweet_ids": [str(tid)],
            "public_metrics": {"like_count": i % 13, "retweet_count": i % 5,
                               "reply_count": 0, "quote_count": 0},
            "entities": {
                "mentions": [{"start": 0, "end": 6, "username": f"user{i % 40}",
                              "id": str(1000 + i % 40)}],
                "hashtags": [{"start": 0, "end": 4, "tag": f"tag{i % 7}"}],
                "urls": [{"start": 0, "end": 5, "url": f"https://t.co/{i}",
                          "expanded_url": f"https://example.org/{i % 50}"}]}}
        r = rng.random()
        if r < 0.25 and i > 3:  # a reply, to an earlier or a later tweet
            target = 10_000 + (rng.randrange(i) if rng.random() < 0.6
                               else min(n - 1, i + rng.randint(1, 400)))
            t["referenced_tweets"] = [{"type": "replied_to", "id": str(target)}]
        elif r < 0.35 and i > 3:
            t["referenced_tweets"] = [{"type": "quoted", "id": str(10_000 + rng.randrange(n))}]
        if i % 9 == 0:
            t["attachments"] = {"media_keys": [f"3_{i % 30}"]}
        out.append((i, t))
    for i in range(0, n, 37):  # edits, seen later
        t = json.loads(json.dumps(out[i][1]))
        new = str(900_000 + i)
        t.update(id=new, text=t["text"] + " (edited)", edit_history_tweet_ids=[t["id"], new])
        out.append((min(n - 1, i + 150), t))
    out.sort(key=lambda x: x[0])
    return out


def _x_pages(n: int, rng: random.Random, per_page: int = 25,
             shuffled: bool = False) -> list[dict[str, Any]]:
    """Pages of 25 tweets, their authors' profiles (changing every 8 pages) and
    media; ``shuffled``: collected in no order (pages retrieved at times out of
    file order, profiles going back and forth), as several crawls put together."""
    tweets = _x_tweets(n, rng)
    pages = []
    # distinct times: two different profiles collected at the same instant have
    # no order to keep (a re-run after a kill may then keep one more version)
    minutes = rng.sample(range(len(tweets)), -(-len(tweets) // per_page))
    for p in range(0, len(tweets), per_page):
        chunk = [t for _, t in tweets[p:p + per_page]]
        users = sorted({t["author_id"] for t in chunk})
        version = p // (per_page * 8)  # profiles change now and then
        minute = p
        if shuffled:
            version = rng.randrange(3)
            minute = minutes[p // per_page]
        media = sorted({k for t in chunk for k in t.get("attachments", {}).get("media_keys", [])})
        pages.append({
            "data": chunk,
            "includes": {"users": [_x_user(int(u) - 1000, version) for u in users],
                         "media": [{"media_key": k, "type": "photo",
                                    "url": f"https://pbs.twimg.com/{k}.jpg"} for k in media]},
            "__twarc": {"url": "https://api.twitter.com/2/tweets/search/all",
                        "version": "2.14.0",
                        "retrieved_at": (datetime(2024, 6, 1, tzinfo=UTC)
                                         + timedelta(minutes=minute)).isoformat()}})
    return pages


def _x_lines(n: int, rng: random.Random, shuffled: bool = False) -> bytes:
    out = []
    for k, page in enumerate(_x_pages(n, rng, shuffled=shuffled)):
        out.append(json.dumps(page))
        if k % 11 == 5:
            out.append('{"data": [{"id": "broken')  # a reject now and then
    return ("\n".join(out) + "\n").encode()


def gen_x(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    f = d / "pages.jsonl"
    f.write_bytes(_x_lines(n, rng))
    return [str(f)], None


def gen_x_shuffled(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    f = d / "crawls.jsonl"
    f.write_bytes(_x_lines(n, rng, shuffled=True))
    return [str(f)], None


def gen_x_gz(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    f = d / "pages.jsonl.gz"
    f.write_bytes(gzip.compress(_x_lines(n, rng), mtime=0))
    return [str(f)], None


def gen_stdin(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    return ["-"], _x_lines(n, rng)


def gen_twarc2(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    f = d / "flat.jsonl"
    with f.open("w") as out:
        for page in _x_pages(n, rng):
            users = {u["id"]: u for u in page["includes"]["users"]}
            for t in page["data"]:
                t = {**t, "author": users[t["author_id"]], "__twarc": page["__twarc"]}
                out.write(json.dumps(t) + "\n")
    return [str(f)], None


def _tg_messages(n: int, rng: random.Random, chat: int, group: bool,
                 photos: bool = True) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        base = datetime(2024, 5, 1, tzinfo=UTC) + timedelta(minutes=i)
        if i % 40 == 1:
            msgs.append({"id": i, "type": "service", "date": base.strftime("%Y-%m-%dT%H:%M:%S"),
                         "date_unixtime": str(int(base.timestamp())), "actor": "Admin",
                         "actor_id": f"user{chat}0", "action": "pin_message",
                         "message_id": max(1, i - 1), "text": "", "text_entities": []})
            continue
        sender = (f"Member {i % 12}", f"user{chat}{i % 12}") if group else \
            (f"Channel {chat}", f"channel{chat}")
        text = [_text(rng) + " ", {"type": "hashtag", "text": f"#t{i % 6}"}, " ",
                {"type": "mention", "text": f"@handle{i % 9}"}, " ",
                {"type": "link", "text": f"https://example.org/{i % 30}"}]
        m: dict[str, Any] = {"id": i, "type": "message",
                             "date": base.strftime("%Y-%m-%dT%H:%M:%S"),
                             "date_unixtime": str(int(base.timestamp())),
                             "from": sender[0], "from_id": sender[1], "text": text,
                             "text_entities": [p if isinstance(p, dict) else
                                               {"type": "plain", "text": p} for p in text]}
        r = rng.random()
        if r < 0.2 and i > 2:
            m["reply_to_message_id"] = (rng.randrange(1, i) if rng.random() < 0.6
                                        else min(n, i + rng.randint(1, 200)))
        elif r < 0.3:
            m["forwarded_from"] = f"Source {i % 5}"
        if i % 17 == 0:
            ed = base + timedelta(hours=3)
            m["edited"] = ed.strftime("%Y-%m-%dT%H:%M:%S")
            m["edited_unixtime"] = str(int(ed.timestamp()))
        if photos and i % 23 == 0:
            m.update(photo=f"photos/photo_{i % 3}.jpg", width=10, height=10)
        msgs.append(m)
    return msgs


def _photos(d: Path) -> None:
    (d / "photos").mkdir(parents=True, exist_ok=True)
    for k in range(3):
        (d / "photos" / f"photo_{k}.jpg").write_bytes(b"\xff\xd8\xff\xe0fake" + bytes([k]))


def _tg_chat_dir(d: Path, n: int, rng: random.Random) -> Path:
    e = d / "ChatExport_2024-05-10"
    _photos(e)
    doc = {"name": "Channel 5", "type": "public_channel", "id": 5,
           "messages": _tg_messages(n, rng, 5, group=False)}
    (e / "result.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), "utf-8")
    return e


def gen_telegram(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    return [str(_tg_chat_dir(d, n, rng))], None


def gen_telegram_account(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    e = d / "DataExport_2024-05-12"
    _photos(e)
    k = n // 3
    chats = [{"name": "Group 7", "type": "private_supergroup", "id": 7,
              "messages": _tg_messages(k, rng, 7, group=True)},
             # named as the forwards of the others name their source: merged
             {"name": "Source 1", "type": "public_channel", "id": 8,
              "messages": _tg_messages(k, rng, 8, group=False)},
             {"name": "Channel 9", "type": "public_channel", "id": 9,
              "messages": _tg_messages(k, rng, 9, group=False)}]
    doc = {"about": "Here is the data you requested.",
           "personal_information": {"user_id": 1, "first_name": "Analyst"},
           "chats": {"about": "", "list": chats[:2]},
           "left_chats": {"about": "", "list": chats[2:]}}
    (e / "result.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), "utf-8")
    return [str(e)], None


HTML_HEAD = ('<!DOCTYPE html>\n<html>\n <head>\n  <meta charset="utf-8"/>\n'
             '<title>Exported Data</title>\n </head>\n <body>\n  <div class="page_wrap">\n'
             '   <div class="page_header">\n    <div class="content">\n'
             '     <div class="text bold">\n{title}\n     </div>\n    </div>\n   </div>\n'
             '   <div class="page_body chat_page">\n    <div class="history">\n')
HTML_TAIL = "    </div>\n   </div>\n  </div>\n </body>\n</html>\n"


def _html_message(i: int, rng: random.Random, n: int, sender: str | None) -> str:
    t = datetime(2024, 3, 1, 10, 0) + timedelta(minutes=i)
    cls = "message default clearfix" + ("" if sender else " joined")
    body = (f'       <div class="pull_right date details" '
            f'title="{t:%d.%m.%Y %H:%M:%S} UTC+03:00">\n{t:%H:%M}\n       </div>\n')
    if sender:
        body += f'       <div class="from_name">\n{html.escape(sender)}\n       </div>\n'
    r = rng.random()
    if r < 0.2 and i > 2:
        to = rng.randrange(1, i) if rng.random() < 0.6 else min(n, i + rng.randint(1, 150))
        body += ('       <div class="reply_to details">\nIn reply to <a href="#go_to_message'
                 f'{to}" onclick="return GoToMessage({to})">this message</a>\n       </div>\n')
    if i % 19 == 0:
        body += ('       <div class="media_wrap clearfix">\n'
                 f'        <a class="photo_wrap clearfix pull_left" href="photos/photo_{i % 3}.jpg">\n'
                 f'         <img class="photo" src="photos/photo_{i % 3}.jpg_thumb.jpg"/>\n'
                 "        </a>\n       </div>\n")
    inner = (html.escape(_text(rng)) + f" #h{i % 5} @nick{i % 7}<br>"
             f'<a href="https://example.org/{i % 20}">https://example.org/{i % 20}</a>')
    text_div = f'       <div class="text">\n{inner}\n       </div>\n'
    if 0.2 <= r < 0.3:
        body += ('       <div class="forwarded body">\n'
                 f'        <div class="from_name">\nOrigin {i % 4}'
                 '<span class="date details" title="28.02.2024 09:00:00 UTC+03:00">'
                 " 28.02.2024 09:00:00</span>\n        </div>\n" + text_div + "       </div>\n")
    else:
        body += text_div
    return (f'     <div class="{cls}" id="message{i}">\n      <div class="body">\n{body}'
            "      </div>\n     </div>\n")


def gen_telegram_html(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    e = d / "ChatExport_2024-03-02"
    _photos(e)
    pages = 3
    per = -(-n // pages)
    for p in range(pages):
        parts = [HTML_HEAD.format(title="Group &amp; Co")]
        for i in range(p * per + 1, min(n, (p + 1) * per) + 1):
            if i % 50 == 1:
                parts.append(f'     <div class="message service" id="message{i}">\n'
                             f'      <div class="body details">\nAdmin pinned a message\n'
                             "      </div>\n     </div>\n")
                continue
            # a run of messages from one sender, the later ones "joined"
            sender = f"Member {(i // 3) % 8}" if i % 3 == 0 or i % 50 == 2 else None
            if i == p * per + 1:
                sender = None  # continues the page before's last sender
            parts.append(_html_message(i, rng, n, sender))
        parts.append(HTML_TAIL)
        name = "messages.html" if p == 0 else f"messages{p + 1}.html"
        (e / name).write_text("".join(parts), "utf-8")
    return [str(e)], None


def _telethon_lines(n: int, rng: random.Random) -> bytes:
    out = []
    for i in range(1, n + 1):
        when = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=i)
        if i % 45 == 0:
            out.append(json.dumps({"_": "MessageService", "id": i,
                                   "peer_id": {"_": "PeerChannel", "channel_id": 42},
                                   "date": when.isoformat(), "from_id": None,
                                   "action": {"_": "MessageActionPinMessage"}}))
            continue
        text = _text(rng) + " #b"
        m: dict[str, Any] = {
            "_": "Message", "id": i, "peer_id": {"_": "PeerChannel", "channel_id": 42},
            "date": when.isoformat(), "message": text,
            "from_id": {"_": "PeerUser", "user_id": 500 + i % 15},
            "entities": [{"_": "MessageEntityHashtag", "offset": len(text) - 2, "length": 2}],
            "views": rng.randint(0, 999), "forwards": 0}
        r = rng.random()
        if r < 0.15:
            m["fwd_from"] = {"_": "MessageFwdHeader", "date": when.isoformat(),
                             "from_id": {"_": "PeerChannel", "channel_id": 77},
                             "channel_post": i % 60 + 1}
        elif r < 0.35 and i > 2:
            to = rng.randrange(1, i) if rng.random() < 0.6 else min(n, i + rng.randint(1, 200))
            m["reply_to"] = {"_": "MessageReplyHeader", "reply_to_msg_id": to}
        if i % 21 == 0:
            m["edit_date"] = (when + timedelta(hours=2)).isoformat()
        out.append(json.dumps(m))
    return ("\n".join(out) + "\n").encode()


def gen_telethon(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    f = d / "telethon.jsonl"
    f.write_bytes(_telethon_lines(n, rng))
    return [str(f)], None


def _kaggle_csv(n: int, rng: random.Random) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["name", "username", "description", "location", "followers",
                "numberstatuses", "time", "tweets"])
    for i in range(n):
        u = rng.randint(1, 60)
        w.writerow([f"User {u}", f"user{u}", f"bio of {u}" + (" (new)" if i > n // 2 else ""),
                    "", 10 + i // 100, 100 + i,
                    f"{1 + i // 1000 % 12}/{1 + i // 40 % 28}/2015 {i // 60 % 24}:{i % 60:02d}",
                    ("RT @user7: " if i % 4 == 0 else "") + _text(rng)
                    + f" @user{(i * 7) % 60 + 1} #k{i % 5} https://example.org/{i % 40}"])
    return buf.getvalue().encode()


def gen_csv(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    f = d / "kaggle.csv"
    f.write_bytes(_kaggle_csv(n, rng))
    return [str(f)], None


def gen_zip(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    f = d / "bundle.zip"
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("crawl/pages.jsonl", _x_lines(n // 2, rng))
        z.writestr("crawl/kaggle.csv", _kaggle_csv(n // 2, rng))
    return [str(f)], None


def gen_tar(d: Path, n: int, rng: random.Random) -> tuple[list[str], bytes | None]:
    src = d / "src"
    src.mkdir()
    _tg_chat_dir(src, n // 2, rng)
    (src / "telethon.jsonl").write_bytes(_telethon_lines(n // 2, rng))
    f = d / "bundle.tar.gz"
    with tarfile.open(f, "w:gz") as t:
        for p in sorted(src.rglob("*")):
            t.add(p, arcname=str(p.relative_to(src)), recursive=False)
    return [str(f)], None


# name: (generator, records, extra options, environment)
FORMATS: dict[str, tuple[Callable[..., tuple[list[str], bytes | None]], int,
                         list[str], dict[str, str]]] = {
    "x-v2": (gen_x, 1500, [], {}),
    "x-v2 unordered": (gen_x_shuffled, 1500, [], {}),
    "x-v2 jobs=2 bulk": (gen_x, 1500, [], {"RASD_INGEST_JOBS": "2", "RASD_INGEST_BULK": "1"}),
    "twarc2-flat": (gen_twarc2, 1200, [], {}),
    "telegram-chat": (gen_telegram, 1200, [], {}),
    "telegram-account": (gen_telegram_account, 1200, [], {}),
    "telegram-html": (gen_telegram_html, 900, [], {}),
    "telethon": (gen_telethon, 1500, [], {}),
    "csv-kaggle": (gen_csv, 1500, [], {}),
    "zip": (gen_zip, 1500, [], {}),
    "tar.gz": (gen_tar, 1200, [], {}),
    "jsonl.gz": (gen_x_gz, 1500, [], {}),
    "stdin": (gen_stdin, 1500, [], {}),
}

# ---------------------------------------------------------------- stores


@contextmanager
def fresh_db(base: str | None, tmp: Path, name: str) -> Iterator[str]:
    """A URL for a new, empty store: a SQLite file under ``tmp``, or a fresh
    schema of the PostgreSQL database ``base`` (dropped afterwards)."""
    if not base:
        yield str(tmp / f"{name}.db")
        return
    import sqlalchemy as sa

    url = base.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = "kp_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(url)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# ---------------------------------------------------------------- running


def child_main(point: str, argv: list[str]) -> None:
    """Run ``rasd`` with ``argv``, killing this process (SIGKILL) at ``point``."""
    from rasd.ingest import runner, writer

    def die() -> None:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    kind, _, arg = point.partition(":")
    calls = Counter[str]()
    if kind == "count":  # no kill: write how many batches were written to ARG
        import atexit

        apply0 = writer.Writer.apply

        def counting(self: Any, b: Any) -> Any:
            calls["apply"] += 1
            return apply0(self, b)

        writer.Writer.apply = counting  # type: ignore[method-assign]
        atexit.register(lambda: Path(arg).write_text(str(calls["apply"])))
    elif kind in ("commit", "after"):
        n = int(arg)
        apply = writer.Writer.apply

        def patched_apply(self: Any, b: Any) -> Any:
            calls["apply"] += 1
            if kind == "commit" and calls["apply"] == n:
                hook = self.on_commit

                def dying(c: Any) -> None:  # inside the transaction, before COMMIT
                    if hook is not None:
                        hook(c)
                    die()

                self.on_commit = dying
            out = apply(self, b)
            if kind == "after" and calls["apply"] == n:
                die()
            return out

        writer.Writer.apply = patched_apply  # type: ignore[method-assign]
    elif kind == "merge":
        runner.merge_name_stubs = lambda store: die()  # type: ignore[assignment]
    elif kind == "draw":
        link = runner.link_pending

        def drawn(*a: Any, **k: Any) -> int:
            link(*a, **k)
            die()
            return 0

        runner.link_pending = drawn  # type: ignore[assignment]
    elif kind == "done":
        runner._recorded = lambda path: die()  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown kill point {point!r}")
    sys.argv = ["rasd", *argv]
    from rasd.cli import main

    main()


@dataclass
class Run:
    rc: int
    seconds: float
    reports: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""


def run_ingest(db: str, args: list[str], stdin: bytes | None, env: dict[str, str],
               tmp: Path, point: str | None = None, kill_after: float | None = None,
               timeout: float = 300) -> Run:
    """``rasd --db DB ingest ARGS --json`` in a subprocess, killed at ``point``
    (a deterministic step, see ``child_main``) or after ``kill_after`` seconds."""
    cli = ["--db", db, "ingest", *args, "--json"]
    if point is not None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", point, "--", *cli]
    else:
        cmd = [sys.executable, "-m", "rasd.cli", *cli]
    e = {**os.environ, **env, "RASD_HOME": str(tmp),
         "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    inp = tmp / "stdin.bin"
    if stdin is not None:
        inp.write_bytes(stdin)
    t0 = time.perf_counter()
    with open(inp if stdin is not None else os.devnull, "rb") as fin:
        p = subprocess.Popen(cmd, stdin=fin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=e, cwd=tmp)
        try:
            out, err = p.communicate(timeout=kill_after if kill_after is not None else timeout)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            out, err = p.communicate()
    secs = time.perf_counter() - t0
    reports = []
    if p.returncode == 0 and out.strip():
        reports = json.loads(out)
    return Run(p.returncode, secs, reports, err.decode(errors="replace")[-2000:])


# ---------------------------------------------------------------- comparing


def dump(db: Any, since: datetime) -> dict[str, Counter[str]]:
    """Every row of the store (a URL, or a ``Store``), as comparable text: surrogate ids replaced by
    natural keys, times at or after ``since`` (the ingest's own clock) as
    ``<ingest time>``. Run bookkeeping (``ingest_files``, ``sources.created_at``,
    ``meta``) is left out."""
    import sqlalchemy as sa

    from rasd.store import Store
    from rasd.store import schema as S

    S.load_all()
    store = db if isinstance(db, Store) else Store.open(db, migrate=False)
    out: dict[str, Counter[str]] = {}
    try:
        with store.connect() as c:
            acc = {r.id: f"{r.platform}:{r.platform_id}"
                   for r in c.execute(sa.select(S.accounts.c.id, S.accounts.c.platform,
                                                S.accounts.c.platform_id))}
            pst = {r.id: f"{r.platform}:{r.platform_id}"
                   for r in c.execute(sa.select(S.posts.c.id, S.posts.c.platform,
                                                S.posts.c.platform_id))}
            med = {r.id: f"{r.platform}:{r.media_key}"
                   for r in c.execute(sa.select(S.media.c.id, S.media.c.platform,
                                                S.media.c.media_key))}
            src = dict(c.execute(sa.select(S.sources.c.id, S.sources.c.name)).all())
            refs = {"accounts": acc, "posts": pst, "media": med, "sources": src}
            cut = since.replace(tzinfo=None)

            def value(col: sa.Column, v: Any) -> Any:
                if v is None:
                    return None
                for fk in col.foreign_keys:
                    m = refs.get(fk.column.table.name)
                    if m is not None:
                        return m.get(v, f"<dangling {v}>")
                if isinstance(v, datetime):
                    naive = v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v
                    return "<ingest time>" if naive >= cut else naive.isoformat()
                if isinstance(v, bytes | memoryview):
                    return f"<{len(bytes(v))} bytes>"
                return v

            skip_tables = {"ingest_files", "meta", "alembic_version"}
            for t in S.metadata.sorted_tables:
                if t.name in skip_tables:
                    continue
                cols = [col for col in t.columns
                        if not (col.primary_key and col.name == "id")
                        and not (t.name == "sources" and col.name == "created_at")]
                rows: Counter[str] = Counter()
                for r in c.execute(sa.select(*cols)):
                    d = {col.name: value(col, v) for col, v in zip(cols, r, strict=True)}
                    if t.name == "edges":  # kind:src:dst:post, by surrogate ids
                        d["dedup_key"] = None
                    rows[json.dumps(d, sort_keys=True, default=str)] += 1
                out[t.name] = rows
            out["<stats>"] = Counter([json.dumps(
                {k: v for k, v in store.stats().items()}, sort_keys=True, default=str)])
    finally:
        if store is not db:
            store.close()
    return out


def new_counted(db: str) -> dict[str, int]:
    """Posts and accounts every run recorded counted ``new`` (``ingest_files``)."""
    import sqlalchemy as sa

    from rasd.store import Store
    from rasd.store import schema as S

    store = Store.open(db, migrate=False)
    tot = Counter[str]()
    try:
        with store.connect() as c:
            for (counts,) in c.execute(sa.select(S.ingest_files.c.counts)):
                for kind in ("posts", "accounts"):
                    tot[kind] += int(((counts or {}).get("by_kind", {}).get(kind) or {})
                                     .get("new", 0))
    finally:
        store.close()
    return dict(tot)


def diff(a: dict[str, Counter[str]], b: dict[str, Counter[str]], limit: int = 2) -> list[str]:
    out = []
    for t in sorted(set(a) | set(b)):
        x, y = a.get(t, Counter()), b.get(t, Counter())
        if x == y:
            continue
        missing, extra = x - y, y - x
        out.append(f"{t}: {sum(missing.values())} row(s) only in the reference, "
                   f"{sum(extra.values())} only after the kill")
        out += [f"    ref : {r[:400]}" for r in list(missing)[:limit]]
        out += [f"    kill: {r[:400]}" for r in list(extra)[:limit]]
    return out


# ---------------------------------------------------------------- the harness


@dataclass
class Outcome:
    point: str
    ok: bool
    note: str = ""
    details: list[str] = field(default_factory=list)


def check_format(name: str, db_base: str | None, tmp: Path, points: list[str],
                 n_random: int, rng: random.Random, batch: int,
                 scale: float = 1.0) -> list[Outcome]:
    gen, n, extra, env = FORMATS[name]
    d = tmp / "input"
    d.mkdir()
    args, stdin = gen(d, max(50, int(n * scale)), random.Random(name))
    args = [*args, *extra, "--batch", str(batch)]
    since = datetime.now(UTC) - timedelta(seconds=2)
    outcomes = []
    with fresh_db(db_base, tmp, "reference") as ref_db:
        nfile = tmp / "batches.txt"
        ref_run = run_ingest(ref_db, args, stdin, env, tmp, point=f"count:{nfile}")
        if ref_run.rc != 0:
            return [Outcome("reference", False, f"exit {ref_run.rc}", [ref_run.stderr])]
        ref = dump(ref_db, since)
        ref_new = new_counted(ref_db)
        batches = int(nfile.read_text())  # Writer.apply calls: each a transaction
        pts = [p.replace("LAST", str(batches)).replace("MID", str(max(1, batches // 2)))
               for p in points]
        pts += [f"time:{rng.uniform(0.05, 0.9) * ref_run.seconds:.2f}" for _ in range(n_random)]
        for k, point in enumerate(pts):
            with fresh_db(db_base, tmp, f"kill{k}") as db:
                o = Outcome(point, True)
                if point.startswith("time:"):
                    killed = run_ingest(db, args, stdin, env, tmp,
                                        kill_after=float(point[5:]))
                else:
                    killed = run_ingest(db, args, stdin, env, tmp, point=point)
                if killed.rc == 0:
                    o.note = "finished before the kill"
                elif killed.rc != -signal.SIGKILL:
                    o.ok, o.note = False, f"killed run exited {killed.rc}"
                    o.details.append(killed.stderr)
                again = run_ingest(db, args, stdin, env, tmp)
                if again.rc != 0:
                    o.ok = False
                    o.details.append(f"re-run exited {again.rc}: {again.stderr}")
                    outcomes.append(o)
                    continue
                got = dump(db, since)
                dd = diff(ref, got)
                if dd:
                    o.ok = False
                    o.details += ["store after kill + re-run differs:"] + dd
                counted = new_counted(db)
                if counted != ref_new:
                    o.ok = False
                    o.details.append(f"runs counted new {counted}, the reference {ref_new}")
                third = run_ingest(db, args, stdin, env, tmp)
                if third.rc != 0:
                    o.ok = False
                    o.details.append(f"second re-run exited {third.rc}: {third.stderr}")
                else:
                    changed = [(r["path"], r["new"], r["updated"]) for r in third.reports
                               if r["new"] or r["updated"]]
                    if changed:
                        o.ok = False
                        o.details.append(f"second re-run reported changes: {changed}")
                    dd = diff(got, dump(db, since))
                    if dd:
                        o.ok = False
                        o.details += ["second re-run changed the store:"] + dd
                outcomes.append(o)
    return outcomes


DEFAULT_POINTS = ["commit:1", "after:1", "commit:MID", "after:MID", "commit:LAST",
                  "merge", "draw", "done"]


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[4:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", help="a PostgreSQL URL (a fresh schema per store); "
                                 "default: SQLite files in a temporary folder")
    ap.add_argument("--only", default="", help="comma-separated formats: " + ", ".join(FORMATS))
    ap.add_argument("--points", default=",".join(DEFAULT_POINTS),
                    help="deterministic kill points (MID, LAST: the middle and last batch)")
    ap.add_argument("--random", type=int, default=3, help="random-time kills per format")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=200, help="--batch of every ingest")
    ap.add_argument("--scale", type=float, default=1.0, help="input size factor")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every difference")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    only = [x for x in args.only.split(",") if x] or list(FORMATS)
    points = [p for p in args.points.split(",") if p]
    rng = random.Random(args.seed)
    failed = 0
    print(f"{'format':<18}{'kills':>6}{'ok':>5}{'failed':>8}  failures")
    for name in only:
        with tempfile.TemporaryDirectory(prefix="rasd-kill-") as tmp:
            outs = check_format(name, args.db, Path(tmp), points, args.random, rng, args.batch,
                                args.scale)
        bad = [o for o in outs if not o.ok]
        failed += len(bad)
        early = sum(o.note == "finished before the kill" for o in outs)
        print(f"{name:<18}{len(outs):>6}{len(outs) - len(bad):>5}{len(bad):>8}  "
              + ", ".join(o.point for o in bad)
              + (f"  ({early} finished before the kill)" if early else ""), flush=True)
        for o in bad:
            print(f"  -- {o.point}: {o.note}")
            for line in (o.details if args.verbose else o.details[:8]):
                print("     " + line.rstrip()[:600])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
