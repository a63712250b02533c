"""Raw bytes of items that give rejects alone are not kept in the store.

The store keeps the raw bytes of every record (``raw_records``), so that any
record can be re-parsed and shown as received. An item that gives no record,
only rejects, is named by nothing there (a reject names file, line or path and
reason; the quarantine keeps its excerpt): its bytes were dead weight that an
adversary could multiply (1 MB of distinct junk JSON lines: a 9 MB store).
Items that give nothing at all (X stream errors) keep theirs.
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from rasd.ingest import ingest_path
from rasd.ingest.base import RawSink, get_parser
from rasd.model import Reject
from rasd.store import schema as S
from rasd.store.db import sha256_hex


def _raws(store) -> set[str]:
    with store.connect() as c:
        return {r[0] for r in c.execute(select(S.raw_records.c.sha256))}


def _line(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"))


PAGE = {"data": [{"id": "1", "text": "hello", "author_id": "5",
                  "created_at": "2024-01-01T00:00:00.000Z"}],
        "includes": {"users": [{"id": "5", "username": "ann", "name": "Ann"}]}}
# a good tweet and a user that is rejected (no id): the page's bytes are named
MIXED = {"data": [{"id": "2", "text": "hi", "author_id": "5",
                   "created_at": "2024-01-02T00:00:00.000Z"}],
         "includes": {"users": [{"username": "noid"}]}}
STREAM_ERROR = {"errors": [{"title": "operational-disconnect", "type": "https://api.twitter.com"
                            "/2/problems/operational-disconnect"}]}


def test_x_lines_of_rejects_alone_keep_no_bytes(store, tmp_path):
    junk = [_line({"foo": i}) for i in range(300)] + [
        _line({"data": {"id": str(i)}}) for i in range(300)]  # a tweet with no text/author
    lines = [_line(PAGE), *junk, _line(STREAM_ERROR), _line(MIXED)]
    f = tmp_path / "x.jsonl"
    f.write_text("\n".join(lines) + "\n")
    rep = ingest_path(store, f)
    assert rep.rejected == 601  # 600 junk lines and MIXED's user
    assert store.stats()["posts"] == 2
    kept = {sha256_hex(x.encode()) for x in (lines[0], lines[-2], lines[-1])}
    assert _raws(store) == kept
    # read again: the same records unchanged, the same lines rejected, no bytes more
    again = ingest_path(store, f)
    assert again.rejected == 601 and again.counts["by_kind"]["posts"] == {"unchanged": 2}
    assert _raws(store) == kept


def test_the_same_junk_bytes_after_a_record_named_them_are_kept(tmp_path):
    """``RawSink.forget`` lets go only of bytes the item's own put added: bytes
    an earlier item put (and a record may name) stay."""
    sink = RawSink()
    a = sink.put(b"one", "x")
    b = sink.put(b"two", "x")
    sink.forget(a)  # not the last put
    assert set(sink.pending) == {a, b}
    again = sink.put(b"two", "x")  # already pending: not this put's
    sink.forget(again)
    assert set(sink.pending) == {a, b} and sink.size == 6
    c = sink.put(b"three", "x")
    sink.forget(c)
    assert set(sink.pending) == {a, b} and sink.size == 6


def test_telegram_messages_of_rejects_alone_keep_no_bytes(store, tmp_path):
    msgs = [{"id": 1, "type": "message", "date": "2024-01-01T10:00:00",
             "date_unixtime": "1704103200", "from": "Chan", "from_id": "channel77",
             "text": "kept"},
            {"id": 2, "type": "nonsense", "date": "2024-01-01T10:01:00",
             "date_unixtime": "1704103260", "text": "rejected: unknown type"},
            {"id": 3, "type": "message", "date": "not a date", "text": "rejected: date"},
            {"id": 4, "type": "service", "date": "2024-01-01T10:02:00",
             "date_unixtime": "1704103320", "actor": "Chan", "actor_id": "channel77",
             "action": "pin_message", "message_id": 1, "text": ""}]
    f = tmp_path / "result.json"
    f.write_text(json.dumps({"name": "Chan", "type": "public_channel", "id": 77,
                             "messages": msgs}))
    rep = ingest_path(store, f)
    assert rep.rejected == 2 and store.stats()["posts"] == 1
    parser = get_parser("telegram")
    sink = RawSink()
    recs = list(parser.parse(f, sink))
    named = {r.raw.sha256 for r in recs if not isinstance(r, Reject) and getattr(r, "raw", None)}
    assert len(named) == 3  # the chat's own record, message 1, service message 4
    assert set(sink.pending) == named
    assert named <= _raws(store)
    with store.connect() as c:
        stored = {r[0] for r in c.execute(select(S.raw_records.c.sha256).where(
            S.raw_records.c.fmt == "telegram"))}
    assert stored == named


def test_csv_rows_of_rejects_alone_keep_no_bytes(store, tmp_path):
    f = tmp_path / "fr.csv"
    rows = [f"100,C,{i},yesterday,bad date {i},1,False," for i in range(50)]
    f.write_text("channel_id,channel_name,msg_id,date,cleaned_message,views,is_forward,"
                 "forward_msg_from_peer_name\n100,C,1000,2024-03-01 10:00:00,kept,1,False,\n"
                 + "\n".join(rows) + "\n")
    rep = ingest_path(store, f, mapping="far-right-telegram")
    assert rep.rejected == 50 and store.stats()["posts"] == 1
    assert len(_raws(store)) == 1


def test_a_file_of_distinct_junk_lines_no_longer_grows_the_store(sqlite_store, tmp_path):
    f = tmp_path / "junk.jsonl"
    f.write_text(_line(PAGE) + "\n" + "".join(_line({"n": i, "pad": "x" * 100}) + "\n"
                                              for i in range(5000)))
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 5000
    with sqlite_store.connect() as c:
        n, size = c.execute(select(S.raw_records.c.sha256, S.raw_records.c.size)).all()[0]
        assert c.execute(select(S.raw_records.c.sha256)).all() == [(n,)]
    assert size == len(_line(PAGE))
    db = tmp_path / "rasd.db"  # (the sqlite_store fixture's file)
    sqlite_store.close()
    assert db.stat().st_size < 1_000_000  # was ~2.4 MB: ~480 bytes a line of 110


def test_telegram_html_messages_of_rejects_alone_keep_no_bytes(sqlite_store, tmp_path):
    from tests.test_ingest_telegram_html import html_export, message

    bad = [message(21 + i, f"bad date {i}", date="31.02.2024 10:00:00 UTC+03:00")
           for i in range(5)]
    d = html_export(tmp_path, [[message(20, "kept"), *bad]])
    rep = ingest_path(sqlite_store, d / "messages.html")
    assert rep.rejected == 5 and sqlite_store.stats()["posts"] == 1
    sink = RawSink()
    recs = list(get_parser("telegram-html").parse(d / "messages.html", sink))
    named = {r.raw.sha256 for r in recs if not isinstance(r, Reject) and getattr(r, "raw", None)}
    assert set(sink.pending) == named
    with sqlite_store.connect() as c:
        stored = {r[0] for r in c.execute(select(S.raw_records.c.sha256).where(
            S.raw_records.c.fmt == "telegram-html"))}
    assert stored == named, (stored, named)
    assert len(stored) == 2  # the chat's own record and message 20


def test_telethon_messages_of_rejects_alone_keep_no_bytes(sqlite_store, tmp_path):
    from tests.test_ingest_telethon import messages, write

    good = messages()
    bad = [{"_": "Message", "id": 900 + i, "peer_id": good[0]["peer_id"], "date": "never"}
           for i in range(5)]
    f = write(tmp_path, [*good, *bad])
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 5
    sink = RawSink()
    recs = list(get_parser("telethon").parse(f, sink))
    named = {r.raw.sha256 for r in recs if not isinstance(r, Reject) and getattr(r, "raw", None)}
    assert set(sink.pending) == named
    assert _raws(sqlite_store) == named and len(named) == len(good)


def test_items_of_no_record_keep_their_bytes_up_to_a_bound(sqlite_store, tmp_path, monkeypatch):
    """X stream errors give no record and keep their bytes (what the run
    received), but only so many a file: forged distinct error lines (40,000 in
    140 KB gzipped) grew the store by 11 MB. Past the bound, a note says so."""
    from rasd.ingest import base

    monkeypatch.setattr(base, "MAX_BARE_RAWS", 20)
    errors = [_line({"errors": [{"title": "operational-disconnect", "detail": f"d{i}"}]})
              for i in range(50)]
    f = tmp_path / "stream.jsonl"
    f.write_text("\n".join([_line(PAGE), *errors]) + "\n")
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 0 and sqlite_store.stats()["posts"] == 1
    kept = {sha256_hex(x.encode()) for x in [_line(PAGE), *errors[:20]]}
    assert _raws(sqlite_store) == kept
    assert [w for w in rep.warnings if "gave no record" in w] == [
        ("over 20 items of this file gave no record (X stream errors?): the raw "
         "bytes of those after them are not kept")]


def _referenced(c) -> set[str]:
    """Every raw_sha256 a row of the store names."""
    out: set[str] = set()
    for t in S.metadata.sorted_tables:
        if "raw_sha256" in t.c:
            out |= {r[0] for r in c.execute(select(t.c.raw_sha256).where(
                t.c.raw_sha256.is_not(None)))}
    return out


def _mix_line(kind: str, i: int) -> str:
    tid = str(100 + i)
    if kind == "page":
        return _line({"data": [{"id": tid, "text": f"t{i}", "author_id": "5",
                                "created_at": "2024-01-01T00:00:00.000Z"}],
                      "includes": {"users": [{"id": "5", "username": "ann"}]}})
    if kind == "junk":
        return _line({"junk": i})
    if kind == "no_author":
        return _line({"data": {"id": tid, "text": "no author"}})
    if kind == "stream_error":
        return _line({"errors": [{"title": "operational-disconnect", "detail": f"d{i}"}]})
    if kind == "mixed":
        return _line({**MIXED, "data": [{**MIXED["data"][0], "id": tid}]})
    if kind == "bad_json":
        return '{"data": [1,'
    return _line({"junk": "same"})


_KINDS = ("page", "junk", "no_author", "stream_error", "mixed", "bad_json", "same_junk")


@settings(max_examples=int(os.environ.get("RASD_FUZZ_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(_KINDS), min_size=1, max_size=30),
       batch=st.sampled_from([1, 3, 1000]))
def test_fuzz_every_named_raw_record_is_kept(tmp_path_factory, kinds, batch):
    """Whatever the mix of lines, and wherever batches end, every raw record a
    stored row names is in the store, and the store keeps no bytes but those
    and the lines that give no record at all."""
    from rasd.store import Store

    tmp = tmp_path_factory.mktemp("mix")
    lines, bare = [], set()
    for i, kind in enumerate(kinds):
        line = _mix_line(kind, i)
        lines.append(line)
        if kind == "stream_error":
            bare.add(sha256_hex(line.encode()))
    f = tmp / "mix.jsonl"
    f.write_text("\n".join(lines) + "\n")
    store = Store.open(str(tmp / "rasd.db"))
    try:
        ingest_path(store, f, fmt="x", batch_size=batch, jobs=1)
        with store.connect() as c:
            named = _referenced(c)
            stored = {r[0] for r in c.execute(select(S.raw_records.c.sha256))}
        assert named <= stored
        assert stored <= named | bare
    finally:
        store.close()
