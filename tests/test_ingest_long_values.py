"""Every string an input carries, made 5,000 characters long (and every number
made huge), one at a time: the ingest goes on — the record stored with the
value bounded, or rejected — on SQLite and on PostgreSQL, whose VARCHAR limits
SQLite does not enforce (a Telegram chat id of 5,000 characters stopped a
PostgreSQL ingest with StringDataRightTruncation before this test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.test_ingest_hostile import _paths, _replace
from tests.test_ingest_telethon import fourcat_messages
from tests.test_ingest_telethon import messages as telethon_messages
from tests.test_ingest_x_web import tweet, user, zee

from rasd.ingest import ingest_path

LONG = "y" * 5000
HUGE = 10**30
DEMO = Path(__file__).resolve().parents[1] / "src/rasd/data/demo"


def _leaves(obj):
    for path in _paths(obj):
        v = obj
        for k in path:
            v = v[k]
        if path and isinstance(v, (str, int)) and not isinstance(v, bool):
            yield path, (LONG if isinstance(v, str) else HUGE)
            if isinstance(v, str):  # PostgreSQL refuses NUL in text and in JSON
                yield path, "a\x00b"
            else:  # past PostgreSQL's 4-byte INTEGER, within 64 bits
                yield path, 10**12


def _run(store, tmp_path, fmt, objs, write):
    """Each leaf of each object replaced, one file per variant; all ingested."""
    n = 0
    for i, obj in enumerate(objs):
        for path, value in _leaves(obj):
            f = write(tmp_path / f"{fmt}-{i}-{n}", _replace(obj, path, value))
            try:
                ingest_path(store, f, fmt=fmt, jobs=1)
            except Exception as e:  # named with the value that broke it
                raise AssertionError(f"{fmt} object {i}, {path}: {type(e).__name__}: "
                                     f"{str(e)[:200]}") from e
            n += 1
    assert n > 20


def _jsonl(p: Path, obj) -> Path:
    p = p.with_suffix(".jsonl")
    p.write_text(json.dumps(obj, default=str) + "\n")
    return p


def _export(p: Path, msg) -> Path:
    p.mkdir()
    (p / "result.json").write_text(json.dumps(
        {"name": "C", "type": "public_channel", "id": 5, "messages": [msg]}, default=str))
    return p


def test_x_values(store, tmp_path, shared_data):
    d = shared_data / "formats/twitter-v2-twarc2"
    lines = [(d / name).read_text().splitlines()[0] for name in ("two_tweets.jsonl",
                                                                  "edited.jsonl")]
    a = user("1", "a", "A")
    objs = [*(json.loads(x) for x in lines), zee(tweet("10", "t", a, retweeted_status_result={
        "result": tweet("9", "o", user("2", "b", "B", layout2025=True))}))]
    _run(store, tmp_path, "x", objs, _jsonl)


def test_telegram_values(store, tmp_path):
    doc = json.loads((DEMO / "telegram/result.json").read_text("utf-8"))
    counted = {"id": 9, "type": "message", "date": "2024-03-01T10:00:00", "from": "C",
               "from_id": "channel5", "text": "x", "views": 7, "forwards": 1,
               "reactions": [{"type": "emoji", "count": 3, "emoji": "x"},
                             {"type": "emoji", "count": 2, "emoji": "y"}],
               "file": "files/a.pdf", "file_name": "a.pdf", "file_size": 10,
               "duration_seconds": 4, "width": 5, "height": 6}
    # a number past 64 bits (10**30) in views or a reaction's count stopped the whole
    # ingest when the post was hashed: it is dropped now, the post kept
    _run(store, tmp_path, "telegram", [*doc["messages"][:6], counted], _export)
    chat = tmp_path / "chat"
    chat.mkdir()
    for i, (key, value) in enumerate((("id", LONG), ("type", LONG), ("name", LONG),
                                      ("id", HUGE), ("id", "9" * 190), ("name", "C\ud800"),
                                      ("type", "x\udc00"), ("id", "5\udfff"))):
        d = chat / str(i)
        d.mkdir()
        (d / "result.json").write_text(json.dumps(
            {"name": "C", "type": "public_channel", "id": 5, key: value,
             "messages": [{"id": 1, "type": "message", "date": "2024-03-01T10:00:00",
                           "from": "C", "from_id": "channel5", "text": "x"}]}))
        ingest_path(store, d, fmt="telegram")
    # each id valid alone, too long together: the message is rejected, not the ingest
    d = chat / "both"
    d.mkdir()
    (d / "result.json").write_text(json.dumps(
        {"name": "C", "type": "public_channel", "id": "9" * 150,
         "messages": [{"id": "8" * 100, "type": "message", "date": "2024-03-01T10:00:00",
                       "from": "C", "from_id": "user1", "text": "x",
                       "reply_to_message_id": "7" * 150, "reply_to_peer_id": LONG}]}))
    rep = ingest_path(store, d, fmt="telegram")
    assert rep.rejected == 1 and "over 200 characters" in rep.rejects[0]["reason"]


def test_telegram_values_in_an_archive(store, tmp_path):
    """The same, the export read from a ZIP archive: media paths then name
    members, which no folder's resolve() checks (a NUL in one reached
    media.local_path and stopped a PostgreSQL ingest)."""
    import zipfile

    from rasd.ingest.archive import member_stream

    chats = iter(range(1000, 10**6))

    def zipped(p: Path, msg):
        # a chat of its own each time: the variant is a new post, its media written
        # (a post seen before with the same content is not written again)
        with zipfile.ZipFile(p.with_suffix(".zip"), "w") as z:
            z.writestr("Chat/result.json", json.dumps(
                {"name": "C", "type": "public_channel", "id": next(chats), "messages": [msg]},
                default=str))
        return member_stream(p.with_suffix(".zip"), "Chat/result.json")

    doc = json.loads((DEMO / "telegram/result.json").read_text("utf-8"))
    _run(store, tmp_path, "telegram", [m for m in doc["messages"] if m.get("photo")][:2],
         zipped)


def test_telethon_and_4cat_values(store, tmp_path):
    _run(store, tmp_path, "telethon", [*telethon_messages()[:3], *fourcat_messages()[:2]],
         _jsonl)


def test_csv_values(store, tmp_path):
    """Every column of a CSV row made overlong, given a NUL, a number past any
    range ("1e400" raised OverflowError), not a number or date, or emptied, one
    at a time, through a mapping that uses every kind of key."""
    import csv

    cols = ["msg", "user", "body", "ts", "chan", "fwd", "fwd_id", "parent", "rt", "lnk",
            "handle", "kind", "views"]
    row = ["1", "u1", "hello #tag @men https://x.org", "2024-03-01 10:00:00", "c1", "Other",
           "5", "0", "", "https://a.org https://b.org", "h1", "user", "7"]
    mapping = {"name": "all", "platform": "forum",
               "post": {"id": "{chan}/{msg}", "text": "body", "created_at": "ts",
                        "account_id": "{user}", "chat_id": "chan", "forward_from_name": "fwd",
                        "forward_from_id": "fwd_id", "reply_to": "parent", "repost_of": "rt",
                        "urls": "lnk", "views": "views"},
               "account": {"id": "{user}", "handle": "handle", "kind": "kind"}}
    m = tmp_path / "m.json"
    m.write_text(json.dumps(mapping))
    n = 0
    for i in range(len(cols)):
        for value in (LONG, "a\x00b", "1e400", "9" * 30, "-inf", "nan", "١٢٣",
                      "2024-13-45 99:99:99", ""):
            f = tmp_path / f"c{n}.csv"
            with open(f, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(cols)
                w.writerow([value if j == i else v for j, v in enumerate(row)])
            try:
                ingest_path(store, f, mapping=str(m), jobs=1)
            except Exception as e:  # named with the value that broke it
                raise AssertionError(f"column {cols[i]} = {value[:8]!r}…: "
                                     f"{type(e).__name__}: {str(e)[:200]}") from e
            n += 1


def test_telegram_html_values(store, tmp_path):
    from tests.test_ingest_telegram_html import HEAD, TAIL, message

    for i, (title, sender, text, link) in enumerate((
            (LONG, LONG, LONG, "https://x.org/" + LONG),
            ("a\x00b", "s\x00t", "t\x00 #ta\x00g @men\x00tion", "https://x.org/\x00"))):
        d = tmp_path / f"h{i}"
        d.mkdir()
        (d / "messages.html").write_text(
            HEAD.format(title=title) + message(1, text, sender=sender, link=link,
                                                photo="photos/\x00x.jpg") + TAIL, "utf-8")
        ingest_path(store, d / "messages.html")


def test_a_file_of_more_than_2_gb_can_be_recorded(store, tmp_path):
    """ingest_files.size was a 4-byte INTEGER on PostgreSQL: a file of 2 GB or
    more stopped its ingest before it began (migration 0008)."""
    from sqlalchemy import select

    from rasd.ingest.runner import _source_id, _start_file
    from rasd.store import schema as S

    f = tmp_path / "big.jsonl"
    f.write_text("{}\n")
    fid = _start_file(store, _source_id(store, "big"), f, "x", 3 * 10**9, (0, 0))
    with store.connect() as c:
        assert c.execute(select(S.ingest_files.c.size).where(
            S.ingest_files.c.id == fid)).scalar() == 3 * 10**9


def test_counters_of_any_size_are_bounded():
    from rasd.ingest.base import clean_metrics, opt_int, plain_json

    assert [opt_int(v, "n") for v in ("12", "1,234", "1.5e3", " 7 ", "1e400", "9" * 30,
                                      "9" * 5000, "nan", 10**30, -(10**30), 2.5)] == [
        12, 1234, 1500, 7, None, None, None, None, None, None, 2]
    for bad in ("x", "1e", "0x10"):
        with pytest.raises(TypeError, match="not a number"):
            opt_int(bad, "n")
    assert clean_metrics({"views": 5, "likes": 10**30, "r": 2**62, "f": 1.5}) == {"views": 5}
    with pytest.raises(ValueError, match="beyond 64 bits"):
        plain_json({"a": [1, 2**64]}, "withheld")
    assert plain_json({"a": [1, 2**63 - 1]}, "withheld") == {"a": [1, 2**63 - 1]}
