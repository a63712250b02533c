"""Reading on past broken JSON in an array of items (``rasd.ingest.resync``).

A JSON array of tweets and a Telegram export's messages lost every item
after one structurally broken item (a trailing comma, a stray byte, a quote
lost). Now the damaged item is one reject, the items after it are read, and
no record is ever invented from text inside a string or from the nested
objects of the damaged item."""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.helpers import account, post
from tests.test_ingest_telegram import _msg, channel_export
from typer.testing import CliRunner

from rasd.cli import app, common
from rasd.ingest import IngestError, ingest_path
from rasd.ingest.archive import member_stream
from rasd.ingest.base import RawSink, get_parser
from rasd.ingest.jsonitems import json_items
from rasd.ingest.resync import MAX_RESYNCS, trusted
from rasd.model import Account, Edge, Event, Post, Reject

WHEN = "2024-03-01T10:00:00.000Z"


def _tweet(i: int, **kw) -> dict:
    t = {"id": str(i), "text": f"tweet {i} " + "words " * 20, "author_id": "5",
         "created_at": WHEN}
    t.update(kw)
    return t


def _array(tmp: Path, tweets: list[dict], name: str = "tweets.json") -> tuple[Path, str]:
    f = tmp / name
    text = json.dumps(tweets, indent=1)
    f.write_text(text)
    return f, text


def _start(text: str, tid: int) -> int:
    """Where the item of tweet ``tid`` starts in ``text``."""
    return text.rindex("{", 0, text.index(f'"id": "{tid}"'))


def _ids(store, n: int) -> set[int]:
    return {i for i in range(1, n + 1) if post(store, "x", str(i)) is not None}


def _write(f: Path, text: str) -> Path:
    """``text`` written to ``f``, gzipped where ``f`` ends in ``.gz``."""
    f.write_bytes(gzip.compress(text.encode()) if f.suffix == ".gz" else text.encode())
    return f


def test_a_trailing_comma_between_items_is_read_past(sqlite_store, tmp_path):
    f, text = _array(tmp_path, [_tweet(i) for i in range(1, 31)])
    at = _start(text, 10)
    _write(f, text[:at] + "," + text[at:])  # "}, ,{": a comma too many
    rep = ingest_path(sqlite_store, f)
    assert [r["path"] for r in rep.rejects] == ["[9]"]
    assert rep.rejects[0]["reason"].startswith("damaged JSON: ")
    assert f"the file was read on from byte {at + 1:,}" in rep.rejects[0]["reason"]
    assert _ids(sqlite_store, 30) == set(range(1, 31))  # none lost


def test_a_stray_byte_between_items_is_read_past(sqlite_store, tmp_path):
    f, text = _array(tmp_path, [_tweet(i) for i in range(1, 31)])
    at = text.rindex("}", 0, _start(text, 10)) + 1
    _write(f, text[:at] + "@" + text[at:])  # "}@, {"
    rep = ingest_path(sqlite_store, f)
    assert [r["path"] for r in rep.rejects] == ["[9]"]
    assert _ids(sqlite_store, 30) == set(range(1, 31))


@pytest.mark.parametrize("damage", ["stray byte", "lost quote"])
def test_a_damaged_item_is_one_reject_and_the_items_after_it_are_read(sqlite_store, tmp_path,
                                                                       damage):
    f, text = _array(tmp_path, [_tweet(i) for i in range(1, 31)])
    at = text.index('"tweet 10 ')
    if damage == "stray byte":
        bad = text[:at] + "#" + text[at:]
    else:  # the text's closing quote lost: strings pair the other way round after it
        end = text.index('",', at + 1)
        bad = text[:end] + text[end + 1:]
    _write(f, bad)
    rep = ingest_path(sqlite_store, f)
    assert [r["path"] for r in rep.rejects] == ["[9]"], rep.rejects
    assert _ids(sqlite_store, 30) == set(range(1, 31)) - {10}


def test_two_damaged_places_far_apart(sqlite_store, tmp_path):
    f, text = _array(tmp_path, [_tweet(i) for i in range(1, 401)])
    a, b = text.index('"tweet 20 '), text.index('"tweet 350 ')
    _write(f, text[:a] + "x" + text[a:b] + "y" + text[b:])
    rep = ingest_path(sqlite_store, f)
    assert [r["path"] for r in rep.rejects] == ["[19]", "[349]"]
    assert _ids(sqlite_store, 400) == set(range(1, 401)) - {20, 350}
    # `rasd quarantine` counts them as one reason (its head, to the colon),
    # not one line each (each names its own offsets)
    from rasd.ingest.runner import read_quarantine

    assert read_quarantine(sqlite_store).by_reason == {"damaged JSON": 2}


def test_damage_in_the_last_item_ends_the_file_there(sqlite_store, tmp_path):
    """Nothing follows damage in the last item: it ends the file as before
    (the items between it and an earlier damaged place are read)."""
    f, text = _array(tmp_path, [_tweet(i) for i in range(1, 31)])
    a, b = text.index('"tweet 5 '), text.index('"tweet 30 ')
    _write(f, text[:a] + "x" + text[a:b] + "x" + text[b:])
    rep = ingest_path(sqlite_store, f)
    assert [r["path"] for r in rep.rejects] == ["[4]", "[29]"]
    assert "malformed or truncated JSON after item 29" in rep.rejects[1]["reason"]
    assert _ids(sqlite_store, 30) == set(range(1, 30)) - {5}


def test_a_gzip_file_is_read_again_through_its_decompression(sqlite_store, tmp_path):
    _, text = _array(tmp_path, [_tweet(i) for i in range(1, 2001)])
    at = text.index('"tweet 7 ')
    f = tmp_path / "tweets.json.gz"
    f.write_bytes(gzip.compress((text[:at] + "x" + text[at:]).encode()))
    rep = ingest_path(sqlite_store, f)
    assert [r["path"] for r in rep.rejects] == ["[6]"]
    assert _ids(sqlite_store, 2000) == set(range(1, 2001)) - {7}


def _damaged_gzip(tmp: Path, every: int = 200, n: int = 2000) -> Path:
    """A .json.gz array of ``n`` tweets with a stray byte in every ``every``th."""
    _, text = _array(tmp, [_tweet(i) for i in range(1, n + 1)])
    for tid in range(every, n, every):
        at = text.index(f'"tweet {tid} ')
        text = text[:at] + "x" + text[at:]
    f = tmp / "tweets.json.gz"
    f.write_bytes(gzip.compress(text.encode()))
    return f


def test_a_compressed_file_is_not_decompressed_again_for_each_resync(sqlite_store, tmp_path,
                                                                     monkeypatch):
    """Each resync opened a compressed file again from its start, twice (to
    look for a resume point, then to read on from it): a 35 MB .json.gz with
    100 damaged tweets decompressed 1.76 GB again. The last resync's reader,
    which still holds the bytes from the end of the last good item, is read
    on: the file is opened once."""
    from rasd.ingest import resync

    f = _damaged_gzip(tmp_path)
    opened: list[int] = []
    real = resync._open_at

    def counted(path, at, budget):
        opened.append(at)
        return real(path, at, budget)

    monkeypatch.setattr(resync, "_open_at", counted)
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 9 and _ids(sqlite_store, 2000) == set(range(1, 2001)) - set(
        range(200, 2000, 200))
    assert len(opened) == 1, opened


def test_what_a_file_is_decompressed_again_for_resyncs_is_bounded(sqlite_store, tmp_path,
                                                                  monkeypatch):
    """Where a resync must open a compressed file again (the reader let go of
    the bytes it needs), the bytes decompressed again are counted: past
    ``MAX_REREAD`` the rest is one reject saying so (a file damaged in many
    places far into it would cost resyncs times its size)."""
    from rasd.ingest import resync

    f = _damaged_gzip(tmp_path)
    monkeypatch.setattr(resync, "_KEEP", 1024)  # the reader keeps almost nothing
    monkeypatch.setattr(resync, "_BACK", 512)
    size = len(gzip.decompress(f.read_bytes()))
    monkeypatch.setattr(resync, "MAX_REREAD", size)
    rep = ingest_path(sqlite_store, f)
    assert "decompressed again to read on past damaged JSON already" in rep.rejects[-1]["reason"]
    assert 1 < rep.rejected < 9
    got = _ids(sqlite_store, 2000)
    assert set(range(1, 200)) <= got < set(range(1, 2001))
    monkeypatch.setattr(resync, "MAX_REREAD", 100 * size)  # within it: read on to the end
    rep = ingest_path(sqlite_store, f)
    assert _ids(sqlite_store, 2000) == set(range(1, 2001)) - set(range(200, 2000, 200))


def _read_tenth_damaged(store, tmp: Path, tenth: dict) -> list[dict]:
    """30 tweets, the 10th ``tenth`` with a stray byte before its text,
    ingested: only it is lost (one reject, ``[9]``). The tweets."""
    tweets = [_tweet(i) for i in range(1, 31)]
    tweets[9] = tenth
    f, text = _array(tmp, tweets)
    at = text.index('"tweet 10 ')
    _write(f, text[:at] + "x" + text[at:])
    rep = ingest_path(store, f)
    assert [r["path"] for r in rep.rejects] == ["[9]"], rep.rejects
    assert _ids(store, 30) == set(range(1, 31)) - {10}
    return tweets


def test_nested_objects_of_the_damaged_item_never_become_records(sqlite_store, tmp_path):
    """A resume point at a nested object of the damaged item (a list of
    tweet-shaped objects under a key X does not read) is refused: the items
    array closes early there. Taken, 900 and 901 were posts."""
    nested = [_tweet(900), _tweet(901), _tweet(902)]
    tweets = _read_tenth_damaged(sqlite_store, tmp_path, _tweet(10, archive=nested))
    assert not any(post(sqlite_store, "x", str(i)) for i in (900, 901, 902))
    intact = tmp_path / "intact.json"  # (X reads no such key: they are never posts)
    intact.write_text(json.dumps(tweets, indent=1))
    ingest_path(sqlite_store, intact)
    assert not any(post(sqlite_store, "x", str(i)) for i in (900, 901, 902))


def test_an_object_read_from_inside_a_string_is_never_mapped(sqlite_store, tmp_path):
    """A resume point inside a string (text of a tweet) pairs the quotes the
    other way round: every key of an object it completes is real structure
    between two strings, holding "," or ":". Such a resume point is refused
    (taken, the object was mapped: "not a tweet", or not trusted), and the
    file is read on from the next tweet."""
    # a list of strings after the damage: from the "{" in its first, the
    # parser reads '{", ": 1}' (its key the real ', ' between the strings)
    _read_tenth_damaged(sqlite_store, tmp_path, _tweet(10, tags=["a, {", ": 1}, x"]))


def test_keys_of_real_structure_are_not_trusted():
    """What a parse from inside a string makes keys of: the real structure
    between two strings, which always holds "," or ":"."""
    assert not trusted({", ": 1}) and not trusted({'", "': 1, ": ": 2}) and not trusted({})
    assert trusted({"id": 1, ", ": 2}) and trusted({"text": "a, b: c"})


def test_the_resyncs_of_a_file_are_bounded(sqlite_store, tmp_path):
    """Every other item damaged (a stray byte in it), more of them than the
    bound: each is read past up to the bound, then the rest is one reject."""
    n = 2 * (MAX_RESYNCS + 5) + 1
    items = [json.dumps({"id": str(i), "text": "t", "author_id": "5", "created_at": WHEN})
             for i in range(1, n + 1)]
    f = tmp_path / "many.json"
    f.write_text("[" + ",".join(t.replace('"t"', '"t"x') if i % 2 == 0 else t
                                for i, t in enumerate(items, 1)) + "]")
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == MAX_RESYNCS + 1
    last = [json.loads(x) for x in Path(rep.quarantine).read_text().splitlines()][-1]
    assert last["path"] == f"[{2 * MAX_RESYNCS + 1}]"
    assert f"{MAX_RESYNCS:,} damaged places read past already, the rest is not read" in \
        last["reason"]
    assert sqlite_store.stats()["posts"] == MAX_RESYNCS + 1  # the first, one after each


def test_through_the_cli(tmp_path):
    f, text = _array(tmp_path, [_tweet(i) for i in range(1, 31)])
    at = text.index('"tweet 10 ')
    _write(f, text[:at] + "x" + text[at:])
    db = tmp_path / "s.db"
    common.STATE.db = common.STATE.store = None
    try:
        r = CliRunner().invoke(app, ["--db", str(db), "ingest", str(f)])
        assert r.exit_code == 0, r.output
        r = CliRunner().invoke(app, ["--db", str(db), "stats", "--json"])
        assert json.loads(r.stdout)["posts"] == 29
    finally:
        if common.STATE.store is not None:
            common.STATE.store.close()
        common.STATE.db = common.STATE.store = None


# Telegram Desktop exports

def _damaged(d: Path, marker: str, junk: str = "x", *, before: bool = False) -> None:
    """The message whose text is ``marker`` damaged: ``junk`` before its text,
    or (``before``) before the message's "{", after the comma ahead of it."""
    f = d / "result.json"
    data = f.read_text()
    at = data.index(f'"text": "{marker}"')
    if before:
        at = data.rindex("{", 0, at)
    f.write_text(data[:at] + junk + data[at:])


@pytest.mark.parametrize("damaged", [7, 2])  # (2: the first message, read past too)
def test_a_chat_is_read_on_after_a_damaged_message(store, tmp_path, damaged):
    msgs = [_msg(i, f"m{i}") for i in range(2, 22)]
    d = channel_export(tmp_path, msgs)
    _damaged(d, f"m{damaged}")
    rep = ingest_path(store, d)
    assert [r["path"] for r in rep.rejects] == [f"channel555.messages[{damaged - 2}]"]
    assert rep.rejects[0]["reason"].startswith("damaged JSON: ")
    kept = {i for i in range(2, 22) if post(store, "telegram", f"channel555/{i}")}
    assert kept == set(range(2, 22)) - {damaged}


def _full_export(tmp: Path) -> Path:
    """A full-account export of two channels, 1 and 2, each of messages 2-11
    whose texts are ``c<chat>m<id>``."""
    def chat(cid: int) -> dict:
        return {"name": f"C{cid}", "type": "public_channel", "id": cid,
                "messages": [_msg(i, f"c{cid}m{i}") for i in range(2, 12)]}

    d = tmp / "DataExport_2024-05-10"
    d.mkdir()
    (d / "result.json").write_text(json.dumps(
        {"about": "x", "chats": {"about": "y", "list": [chat(1), chat(2)]}}, indent=1))
    return d


def test_a_full_export_is_read_on_in_the_same_chat_and_the_next(sqlite_store, tmp_path):
    d = _full_export(tmp_path)
    _damaged(d, "c1m4", ",")  # a comma too many
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["channel1.messages[2]"]
    kept = {(c, i) for c in (1, 2) for i in range(2, 12)
            if post(sqlite_store, "telegram", f"channel{c}/{i}")}
    assert kept == {(c, i) for c in (1, 2) for i in range(2, 12)} - {(1, 4)}
    assert sqlite_store.stats()["accounts"] >= 2


FORGED = ('x"}, {"id": 99, "type": "message", "date": "2020-01-01T00:00:00", '
          '"text": "forged')


def test_text_that_looks_like_messages_is_never_a_message(sqlite_store, tmp_path):
    """A message's text (written twice: ``text`` and ``text_entities``) that
    looks like further messages, after a damaged place in the same message
    and in the next: message 99 is never stored, the real ones are."""
    texts = [FORGED, "{}", ", {}, {} b", ', {"id": 98}', ": 1}, {", "a, {"]
    msgs = [_msg(2, "m2"), _msg(3, "DAMAGED " + FORGED),
            *[_msg(4 + k, t) for k, t in enumerate(texts)], _msg(20, "m20")]
    d = channel_export(tmp_path, msgs)
    f = d / "result.json"
    data = f.read_text()
    at = data.index('"text": "DAMAGED')
    f.write_text(data[:at] + "#" + data[at:])
    rep = ingest_path(sqlite_store, d)
    assert post(sqlite_store, "telegram", "channel555/99") is None
    assert post(sqlite_store, "telegram", "channel555/98") is None
    kept = {i for i in range(2, 21) if post(sqlite_store, "telegram", f"channel555/{i}")}
    assert kept == {2, *range(4, 4 + len(texts)), 20}
    assert [r["path"] for r in rep.rejects] == ["channel555.messages[1]"]


def test_text_entities_of_the_damaged_message_are_never_messages(sqlite_store, tmp_path):
    """Damage before a list of entity objects in the same message: the resume
    points at the entities are refused (the items array would close early);
    taken, each was a message, rejected for its missing id."""
    ents = [{"type": "bold", "text": f"b{k}"} for k in range(5)]
    msgs = [_msg(i, f"m{i}") for i in range(2, 12)]
    msgs[3] = _msg(5, ["start", *ents, "end"])
    d = channel_export(tmp_path, msgs)
    f = d / "result.json"
    data = f.read_text()
    at = data.rindex('"text": [', 0, data.index('"start"'))
    f.write_text(data[:at] + "x" + data[at:])
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["channel555.messages[3]"], rep.rejects
    kept = {i for i in range(2, 12) if post(sqlite_store, "telegram", f"channel555/{i}")}
    assert kept == set(range(2, 12)) - {5}


def test_entities_of_a_damaged_message_of_a_full_export_lose_no_later_message(sqlite_store,
                                                                            tmp_path):
    """In a full export, a resume point at an entity of the damaged message
    is parsed on far before it fails: its nested array closes, then the
    message's keys read as a chat's, the later messages as chats, up to the
    end of the chat. The next try started after that failure: every later
    message of the chat was lost (kept: 2, 3, 4 and the next chat's). It
    starts where the items array closed."""
    ents = [{"type": "bold", "text": f"b{k}"} for k in range(3)]

    def chat(cid: int) -> dict:
        msgs = [_msg(i, f"c{cid}m{i}") for i in range(2, 40)]
        if cid == 1:
            msgs[3] = _msg(5, ["start", *ents, "end"])
        return {"name": f"C{cid}", "type": "public_channel", "id": cid, "messages": msgs}

    d = tmp_path / "DataExport_2024-05-10"
    d.mkdir()
    f = d / "result.json"
    data = json.dumps({"about": "x", "chats": {"about": "y", "list": [chat(1), chat(2)]}},
                      indent=1)
    at = data.rindex('"text": [', 0, data.index('"start"'))
    f.write_text(data[:at] + "x" + data[at:])
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["channel1.messages[3]"], rep.rejects
    kept = {(c, i) for c in (1, 2) for i in range(2, 40)
            if post(sqlite_store, "telegram", f"channel{c}/{i}")}
    assert kept == {(c, i) for c in (1, 2) for i in range(2, 40)} - {(1, 5)}


def test_a_resync_never_reads_the_next_chat_as_the_damaged_one(sqlite_store, tmp_path):
    """Damage in the last message of a chat of a full export: the next chat's
    second message followed by the rest of the file passes every check of a
    resume point, and was read on as the damaged chat's — chat 2's messages
    stored as channel1/3 …, versions of chat 1's own (found by a fuzz of full
    exports). A resume point past the next "messages" key is not taken as
    one of the damaged chat's messages; reading resumes at the next chat,
    read as its own."""
    d = _full_export(tmp_path)
    _damaged(d, "c1m11", ",")
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["channel1.messages[9]"], rep.rejects
    for c in (1, 2):
        for i in range(2, 12):
            p = post(sqlite_store, "telegram", f"channel{c}/{i}")
            assert p is None or p.text == f"c{c}m{i}", (c, i, p.text)
    assert all(post(sqlite_store, "telegram", f"channel1/{i}") for i in range(2, 11))
    assert all(post(sqlite_store, "telegram", f"channel2/{i}") for i in range(2, 12))


def test_a_resync_never_reads_the_next_chat_as_the_damaged_one_its_key_damaged_too(
        sqlite_store, tmp_path):
    """The same with the next chat's "messages" key damaged as well (two
    damaged places, found by the same fuzz): its "name" key stops it."""
    d = _full_export(tmp_path)
    f = d / "result.json"
    text = f.read_text()
    second = text.index('"messages"', text.index('"C2"'))
    f.write_text(text[:second] + '"mess,ages"' + text[second + len('"messages"'):])
    _damaged(d, "c1m11", ",")
    ingest_path(sqlite_store, d)
    for i in range(2, 12):
        p = post(sqlite_store, "telegram", f"channel1/{i}")
        assert p is None or p.text == f"c1m{i}", (i, p.text)


def test_a_long_chat_damaged_at_its_end_never_gives_its_messages_the_next_chats(
        sqlite_store, tmp_path):
    """The careful pass passes over the long strings of the messages the
    first pass gave already, and handed the parser a quote for each, which
    the offset after the last message read counted as read too: 3,000
    messages on, that offset lay past the next chat's keys, where no
    boundary was seen, and chat 3's messages were stored as chat 1's (181
    false edits). Offsets are exact now."""
    def msg(c: int, i: int) -> dict:
        t = f"c{c}m{i}" + (" long text" * 20 if c == 1 else "")
        return {"id": i, "type": "message", "date": "2020-01-01T00:00:00", "text": t,
                "text_entities": [{"type": "plain", "text": t}]}

    chats = [{"name": f"C{c}", "type": "public_channel", "id": c,
              "messages": [msg(c, i) for i in range(1, 3001 if c == 1 else 200)]}
             for c in (1, 2, 3)]
    d = tmp_path / "DataExport_2024-05-10"
    d.mkdir()
    text = json.dumps({"chats": {"list": chats}})
    at = text.index('"text": "c1m3000 ')
    (d / "result.json").write_text(text[:at] + "x" + text[at:])
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["channel1.messages[2999]"], rep.rejects
    for i in range(1, 200):
        p = post(sqlite_store, "telegram", f"channel1/{i}")
        assert p is not None and p.text.startswith(f"c1m{i} "), (i, p and p.text)


# reading on at the next chat of a full export (resync (iv))

def _chats(n: int, per: int = 10, *, first: int = 1) -> list[dict]:
    """Channels ``first``..``first + n - 1``, each of messages 2..``per + 1``
    whose texts are ``c<chat>m<id>``."""
    return [{"name": f"C{c}", "type": "public_channel", "id": c,
             "messages": [_msg(i, f"c{c}m{i}") for i in range(2, per + 2)]}
            for c in range(first, first + n)]


def _export(tmp: Path, doc: dict, indent: int | None = 1) -> tuple[Path, str]:
    d = tmp / "DataExport_2024-05-10"
    d.mkdir(exist_ok=True)
    text = json.dumps(doc, indent=indent)
    (d / "result.json").write_text(text)
    return d, text


def _kept(store, chats: range, per: int = 10) -> set[tuple[int, int]]:
    """The (chat, message) posts stored, each checked to hold its own text."""
    kept = set()
    for c in chats:
        for i in range(2, per + 2):
            p = post(store, "telegram", f"channel{c}/{i}")
            if p is not None:
                assert p.text == f"c{c}m{i}", (c, i, p.text)
                kept.add((c, i))
    return kept


def _chat_starts(text: str) -> list[int]:
    return [m.start() for m in re.finditer(r'\{\s*"name"', text)]


def test_damage_in_a_chats_last_message_reads_on_from_the_next_chat(sqlite_store, tmp_path):
    """Damage in chat 1's last message: no resume point lies in chat 1 after
    it, and one in chat 2 would be read as chat 1's; the file ended there,
    chats 2-4 lost. Now the damaged message is one reject naming the byte
    the file was read on from, chat 2's start, and chats 2-4 are read as
    their own (their ids, names, accounts)."""
    d, text = _export(tmp_path, {"about": "x", "chats": {"about": "y", "list": _chats(4)}})
    _damaged(d, "c1m11", ",")
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["channel1.messages[9]"], rep.rejects
    assert rep.rejects[0]["reason"].startswith("damaged JSON: ")
    # (one byte inserted before it: chat 2 starts one byte further on)
    assert rep.rejects[0]["reason"].endswith(
        f"read on from byte {_chat_starts(text)[1] + 1:,}, at the next chat")
    everything = {(c, i) for c in range(1, 5) for i in range(2, 12)}
    assert _kept(sqlite_store, range(1, 5)) == everything - {(1, 11)}
    for c in (1, 2, 3, 4):
        assert account(sqlite_store, "telegram", f"channel{c}").name == f"C{c}"


@pytest.mark.parametrize("field", ["name", "type", "id"])
def test_damage_in_a_chats_own_fields_reads_on_from_the_next_chat(sqlite_store, tmp_path,
                                                                  field):
    """Damage in chat 2's name, type or id (before its messages): the file
    ended there. Now it is one reject naming the chat, chat 2 (whose id is
    not known, or not sure) is not read, and chats 3 and 4 are, as their
    own; chat 1 is kept whole."""
    d, text = _export(tmp_path, {"about": "x", "chats": {"about": "y", "list": _chats(4)}})
    at = text.index(f'"{field}"', _chat_starts(text)[1])
    (d / "result.json").write_text(text[:at] + "x" + text[at:])
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["chats.list[1]"], rep.rejects
    assert "at the next chat" in rep.rejects[0]["reason"]
    everything = {(c, i) for c in range(1, 5) for i in range(2, 12)}
    assert _kept(sqlite_store, range(1, 5)) == everything - {(2, i) for i in range(2, 12)}
    assert account(sqlite_store, "telegram", "channel3").name == "C3"


def test_damage_between_chats_reads_on_from_the_next_chat(sqlite_store, tmp_path):
    d, text = _export(tmp_path, {"chats": {"list": _chats(3)}}, indent=None)
    at = _chat_starts(text)[1] - 2  # '}x, {"name"'
    (d / "result.json").write_text(text[:at] + "x" + text[at:])
    rep = ingest_path(sqlite_store, d)
    assert len(rep.rejects) == 1 and "at the next chat" in rep.rejects[0]["reason"]
    assert _kept(sqlite_store, range(1, 4)) == {(c, i) for c in range(1, 4)
                                                for i in range(2, 12)}


def test_damage_in_the_last_chat_reads_on_in_the_left_chats(sqlite_store, tmp_path):
    """The chats after the damage that lie in another list ("left_chats")
    are read as their own too, the first of that list with them: it follows
    a "[", not a ",", and was no resume point (lost with the damaged one).
    A "{" after the "[" of a "list" key is one where a chat is looked for."""
    left = _chats(3, first=7)
    for ch in left:
        ch["type"] = "private_supergroup"
    d, _ = _export(tmp_path, {"chats": {"list": _chats(2)}, "left_chats": {"list": left}})
    _damaged(d, "c2m11", ",")
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["channel2.messages[9]"], rep.rejects
    assert _kept(sqlite_store, range(1, 10)) == {
        (c, i) for c in (1, 2, 7, 8, 9) for i in range(2, 12)} - {(2, 11)}


@pytest.mark.parametrize("where", ["name", "last message"])
def test_the_first_of_left_chats_read_on_at_is_never_text(sqlite_store, tmp_path, where):
    """The first chat of "left_chats" is a resume point, with the same checks:
    a name or a message that writes ``"list": [{"name": …}]`` (its quotes
    escaped) is never a chat."""
    forged = '"list": [{"name": "F", "type": "public_channel", "id": 77, "messages": [' + _MSG99
    chats = _chats(2)
    chats[1]["name"] = forged
    chats[1]["messages"][-1]["text"] = "c2m11" + forged
    left = _chats(2, first=7)
    d, text = _export(tmp_path, {"chats": {"list": chats}, "left_chats": {"list": left}})
    at = (text.index('"name"', _chat_starts(text)[1]) if where == "name"
          else text.index('"text": "c2m11'))
    (d / "result.json").write_text(text[:at] + "x" + text[at:])
    ingest_path(sqlite_store, d)
    assert account(sqlite_store, "telegram", "channel77") is None
    assert not any(post(sqlite_store, "telegram", f"channel{c}/99") for c in (1, 2, 7, 8, 77))
    assert {(7, i) for i in range(2, 12)} <= _kept(sqlite_store, range(1, 9))


@pytest.mark.parametrize("junk", ['"a{b"', "3"])
@pytest.mark.parametrize("damage", ["message", "before it"])
def test_a_chat_after_a_list_element_that_is_no_object_is_read_once(sqlite_store, tmp_path,
                                                                    junk, damage):
    """A chat after a string or a number in the list, damaged in its own
    fields or before its first message (a number there, then the damage):
    the next chat was looked for after the first "{" at or after the end of
    the last object read — in the string, or the file's own "{" where no
    object had ended yet — and the damaged chat itself was read again (a
    second reject, the same records), or its first message taken for
    another. Its own "{" is counted now, outside strings; a number read as
    a message moves no offset."""
    chats = _chats(3)
    del chats[0]["messages"][1:]  # (no resume point in it after its damage)
    d, text = _export(tmp_path, {"chats": {"list": ["JUNK", *chats]}}, indent=None)
    text = text.replace('"JUNK"', junk)
    at = text.index('"text": "c1m2"' if damage == "message" else '{"id": 2,')
    (d / "result.json").write_text(text[:at] + ("x" if damage == "message" else "0 ")
                                   + text[at:])
    rep = ingest_path(sqlite_store, d)
    damaged = [r["path"] for r in rep.rejects if "damaged JSON" in r["reason"]]
    assert len(damaged) == 1, rep.rejects
    # (before it: chat 1's one message follows "[0 ", stray bytes read past)
    kept = {(1, 2)} if damage == "before it" else set()
    assert _kept(sqlite_store, range(1, 4)) == kept | {
        (c, i) for c in (2, 3) for i in range(2, 12)}


# a chat written as text (a message's, a chat's name): never a chat
_MSG99 = '{"id": 99, "type": "message", "date": "2020-01-01T00:00:00", "text": "forged"}'
_FORGED_CHATS = (
    f'{{"name": "F", "type": "public_channel", "id": 77, "messages": [{_MSG99}]}}',
    f'"}}]}}, {{"name": "F", "type": "public_channel", "id": 78, "messages": [{_MSG99[:-10]}',
    f'}}]}}, {{"type": "public_channel", "id": 79, "messages": [{_MSG99[:-9]}x',
    ', {"name": "F", "type": "public_channel", "id": 76, "messages": [], "x": "')


@pytest.mark.parametrize("where", ["last message", "name", "first message", "in name"])
def test_text_that_looks_like_chats_is_never_a_chat(sqlite_store, tmp_path, where):
    """Names and messages whose text is a chat (escaped by the exporter),
    around damage that makes reading resume at a chat: no chat 76-79 and no
    message 99 is stored; every real message is kept under its own chat,
    but for those of the damaged place's chat after it. ("in name": a quote
    put in chat 2's name after its first escaped quote, ``"\\""}]}, {…``:
    the name ends there, and its text after ends the chat and the list; the
    parser errors after it, and reading resumes at chat 3 all the same —
    chats 3 and 4 were lost.)"""
    chats = _chats(4)
    for k, ch in enumerate(chats):
        ch["name"] = _FORGED_CHATS[k]
        for m in ch["messages"][::2]:
            m["text"] = f'{m["text"]}{_FORGED_CHATS[(k + m["id"]) % 4]}'
            m["text_entities"] = [{"type": "plain", "text": m["text"]},
                                  {"type": "bold", "text": _FORGED_CHATS[m["id"] % 4]}]
    d, text = _export(tmp_path, {"chats": {"list": chats}}, indent=None)
    starts = _chat_starts(text)
    if where == "last message":
        at = text.index('"text": "c2m11')
    elif where == "name":
        at = text.index('"name"', starts[1])
    elif where == "in name":
        at = text.index('"name": "', starts[1]) + len('"name": "') + 2
        assert text[at - 2:at + 3] == '\\"}]}'  # (the text as the exporter wrote it)
    else:
        at = text.index('"text": "c2m2')
    junk = '"' if where == "in name" else "x"
    (d / "result.json").write_text(text[:at] + junk + text[at:])
    rep = ingest_path(sqlite_store, d)
    assert len(rep.rejects) == 1, rep.rejects
    for c in (76, 77, 78, 79):
        assert account(sqlite_store, "telegram", f"channel{c}") is None
        assert not any(post(sqlite_store, "telegram", f"channel{c}/{i}") for i in (2, 99))
    for c in range(1, 5):
        assert post(sqlite_store, "telegram", f"channel{c}/99") is None
    kept = set()
    for c in range(1, 5):
        for i in range(2, 12):
            p = post(sqlite_store, "telegram", f"channel{c}/{i}")
            if p is not None:
                assert p.text.startswith(f"c{c}m{i}"), (c, i, p.text)
                kept.add((c, i))
    lost = {"last message": {(2, 11)}, "name": {(2, i) for i in range(2, 12)},
            "in name": {(2, i) for i in range(2, 12)}, "first message": {(2, 2)}}[where]
    assert kept == {(c, i) for c in range(1, 5) for i in range(2, 12)} - lost


def test_a_chat_read_on_whose_first_message_is_damaged_keeps_its_messages_its_own(
        sqlite_store, tmp_path):
    """After reading on at chat 2, its first message damaged too: no message
    of it was read, and the place to look for its end from was what the
    parser had read (64 KiB past a resume point), past the keys of chats
    after it: a message of chat 4 was read on as chat 2's. It is looked for
    from chat 2's own "messages": [ now."""
    d, text = _export(tmp_path, {"chats": {"list": _chats(6, per=150)}}, indent=None)
    starts = _chat_starts(text)
    last = text.index('"text": "c1m151')
    first = text.index('{"id": 2,', starts[1]) + len('{"id": 2,')  # (in it: lost)
    (d / "result.json").write_text(text[:last] + "," + text[last:first] + "x" + text[first:])
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["channel1.messages[149]",
                                                "channel2.messages[0]"], rep.rejects
    everything = {(c, i) for c in range(1, 7) for i in range(2, 152)}
    assert _kept(sqlite_store, range(1, 7), per=150) == everything - {(1, 151), (2, 2)}


def test_a_damaged_chats_messages_are_passed_over_in_one_try(sqlite_store, tmp_path,
                                                            monkeypatch):
    """Damage in chat 2's name: every message of chat 2 is a resume point
    to check (and refuse: no "messages" key). A check of one runs on to the
    end of chat 2's messages, and the next try starts there: a few tries,
    not one a message (past MAX_TRIES the rest was lost)."""
    from rasd.ingest import resync

    monkeypatch.setattr(resync, "MAX_TRIES", 10)
    d, text = _export(tmp_path, {"chats": {"list": _chats(3, per=200)}})
    at = text.index('"name"', _chat_starts(text)[1])
    (d / "result.json").write_text(text[:at] + "x" + text[at:])
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["chats.list[1]"], rep.rejects
    assert _kept(sqlite_store, range(1, 4), per=200) == {
        (c, i) for c in (1, 3) for i in range(2, 202)}


def test_what_is_parsed_to_check_resume_points_is_bounded(sqlite_store, tmp_path,
                                                          monkeypatch):
    """Each check that fails costs a parse up to its error: past
    ``MAX_CHECKED`` bytes the rest is one reject saying so."""
    from rasd.ingest import resync

    monkeypatch.setattr(resync, "MAX_CHECKED", 1)
    _, text = _array(tmp_path, [_tweet(i) for i in range(1, 51)])
    at = _start(text, 20)
    f = tmp_path / "t.json"
    _write(f, text[:at] + '{"k": ], ' + text[at:])  # a resume point refused by its error
    rep = ingest_path(sqlite_store, f)
    assert "parsed to check where to read on" in rep.rejects[-1]["reason"], rep.rejects
    assert _ids(sqlite_store, 50) == set(range(1, 20))
    monkeypatch.setattr(resync, "MAX_CHECKED", 1 << 20)  # within it: read on past it
    rep = ingest_path(sqlite_store, f)
    assert _ids(sqlite_store, 50) == set(range(1, 51))


def test_a_member_of_a_zip_archive_is_read_on(sqlite_store, tmp_path):
    """An export zipped (its result.json a member, read as a stream that
    keeps its first 8 MiB): read again from there as a file is."""
    import zipfile

    msgs = [_msg(i, f"m{i} " + "long text " * 100) for i in range(2, 1602)]
    d = channel_export(tmp_path, msgs)
    _damaged(d, "m7 " + "long text " * 100)
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(d / "result.json", "ChatExport_2024-05-10/result.json")
    with member_stream(z, "ChatExport_2024-05-10/result.json") as member:
        rep = ingest_path(sqlite_store, member)
    assert [r["path"] for r in rep.rejects] == ["channel555.messages[5]"], rep.rejects
    kept = {i for i in range(2, 1602) if post(sqlite_store, "telegram", f"channel555/{i}")}
    assert kept == set(range(2, 1602)) - {7}


def test_standard_input_is_read_on_within_what_it_keeps(sqlite_store, tmp_path):
    """Standard input keeps its first 8 MiB to be read again: within them the
    file is read on past damage; past them it ends there, as before (it
    cannot be read again)."""
    import io

    from rasd.ingest.base import REPLAY_LIMIT, Stream

    _, text = _array(tmp_path, [_tweet(i) for i in range(1, 101)])
    at = text.index('"tweet 10 ')
    rep = ingest_path(sqlite_store, Stream(io.BytesIO((text[:at] + "x" + text[at:]).encode())))
    assert [r["path"] for r in rep.rejects] == ["[9]"]
    assert _ids(sqlite_store, 100) == set(range(1, 101)) - {10}
    n = REPLAY_LIMIT // 150
    _, text = _array(tmp_path, [_tweet(i) for i in range(1001, 1001 + n)], "big.json")
    at = text.index('"tweet 1010 ')
    rep = ingest_path(sqlite_store, Stream(io.BytesIO((text[:at] + "x" + text[at:]).encode())))
    assert [r["path"] for r in rep.rejects] == ["[9]"]
    assert "malformed or truncated JSON after item 9" in rep.rejects[0]["reason"]
    assert post(sqlite_store, "x", "1009") and not post(sqlite_store, "x", "1011")


def test_the_resume_points_checked_in_a_file_are_bounded(sqlite_store, tmp_path):
    """Each string ending in ", {" after damage is a resume point to check
    (and refuse: read from inside a string). Past MAX_TRIES of them the rest
    is one reject saying so: each costs a parse to its error."""
    from rasd.ingest.resync import MAX_TRIES

    tweets = [_tweet(i) for i in range(1, 31)]
    tweets[9] = _tweet(10, tags=[f"{k}, {{" for k in range(MAX_TRIES + 5)])
    f, text = _array(tmp_path, tweets)
    at = text.index('"tweet 10 ')
    _write(f, text[:at] + "x" + text[at:])
    rep = ingest_path(sqlite_store, f)
    assert [r["path"] for r in rep.rejects] == ["[9]"]
    assert f"{MAX_TRIES:,} resume points checked already, the rest is not read" in \
        rep.rejects[0]["reason"]
    assert _ids(sqlite_store, 30) == set(range(1, 10))
    fewer = tmp_path / "fewer.json"  # (within the bound: read on)
    tweets[9] = _tweet(10, tags=[f"{k}, {{" for k in range(100)])
    text = json.dumps(tweets, indent=1)
    at = text.index('"tweet 10 ')
    _write(fewer, text[:at] + "x" + text[at:])
    rep = ingest_path(sqlite_store, fewer)
    assert [r["path"] for r in rep.rejects] == ["[9]"] and "read on from" in \
        rep.rejects[0]["reason"]
    assert _ids(sqlite_store, 30) == set(range(1, 31)) - {10}


# text an adversary writes in a message or a tweet: JSON structure, and items
# that would be records if read as structure (ids 90-99, "555"): never stored
_TEXTS = ("{", "}", "[", "]", ",", ":", '"', "\\", "{}", ", {", '"id"', " 77 ", "null",
          "ok text", "مرحبا", "\n", "\t", "#tag", "@user",
          '{"id": 99, "type": "message", "date": "2020-01-01T00:00:00", "text": "forged"}',
          '}, {"id": 98, "type": "message", "date": "2020-01-01T00:00:00", "text": "x',
          '{"id": "555", "text": "forged tweet", "author_id": "1"}',
          '}, {"id": "556", "text": "f", "author_id": "1')
_FORGED = {"99", "98", "97", "555", "556"}
_JUNK = b',{}[]":x \\0'

def _broken(data: Any, raw: bytes, damages: int, places: re.Pattern[bytes], odds: int,
             around: tuple[int, int]) -> tuple[bytes, int | None]:
    """``raw`` with ``damages`` bytes inserted, deleted or replaced (drawn from
    ``data``), all but one in ``odds + 1`` within ``around`` of a match of
    ``places``; and where the first of them lies."""
    first_at = None
    for _ in range(damages):
        near = [m.start() for m in places.finditer(raw)]
        if near and data.draw(st.integers(0, odds)):
            at = min(max(data.draw(st.sampled_from(near)) + data.draw(st.integers(*around)),
                         0), len(raw) - 1)
        else:
            at = data.draw(st.integers(0, len(raw) - 1))
        junk = bytes([data.draw(st.sampled_from(_JUNK))])
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        raw = raw[:at] + (b"" if op == "delete" else junk) + raw[at + (op != "insert"):]
        first_at = at if first_at is None else first_at
    return raw, first_at



@settings(max_examples=int(os.environ.get("RASD_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_no_record_is_made_up_or_moved_by_reading_on(tmp_path_factory, data):
    """Exports and arrays whose texts are adversarial JSON, damaged in 1-3
    random bytes (inserted, deleted, replaced), parsed: every post is a real
    one, under its own chat, and with its real text, but for at most one
    post per damaged byte (its own text damaged). The fuzz that found a
    full export's next chat read as the damaged one (24,000 files clean
    since, 1-3 damages each)."""
    kind = data.draw(st.sampled_from(["telegram", "full export", "x", "x arrays", "x pages"]))
    text = st.lists(st.sampled_from(_TEXTS), max_size=5).map("".join)
    n = data.draw(st.integers(3, 8))
    real: dict[str, str] = {}
    if kind.startswith("x"):
        items = []
        for i in range(1, n + 1):
            t = data.draw(text) or "x"
            items.append({"id": str(1000 + i), "text": t, "author_id": "7",
                          "referenced_tweets": [{"type": "quoted", "id": str(5000 + i)}]})
            real[str(1000 + i)] = t
        doc: Any = items
        name, fmt = "tweets.json", "x"
    else:
        chats = []
        for cid in ((5,) if kind == "telegram" else (5, 6)):
            msgs = []
            for i in range(1, n + 1):
                t = data.draw(text)
                msgs.append({"id": i, "type": "message", "date": "2020-01-01T00:00:00",
                             "from": "C", "from_id": f"channel{cid}", "text": t,
                             "text_entities": [{"type": "plain", "text": t},
                                               {"type": "bold", "text": data.draw(text)}]})
                real[f"channel{cid}/{i}"] = t
            chats.append({"name": f"C{cid}", "type": "public_channel", "id": cid,
                          "messages": msgs})
        doc = chats[0] if kind == "telegram" else {"chats": {"list": chats}}
        name, fmt = "result.json", "telegram"
    ascii_, indent = data.draw(st.booleans()), data.draw(st.sampled_from([None, 1]))
    if kind == "x arrays":  # several arrays one after another
        cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=2)))
        raw = ("\n" if indent else "").join(
            json.dumps(doc[a:b], ensure_ascii=ascii_, indent=indent)
            for a, b in zip([0, *cuts], [*cuts, n], strict=True)).encode()
    elif kind == "x pages":  # pages pretty-printed one after another (documents)
        cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=3)))
        raw = "\n".join(
            json.dumps({"data": doc[a:b], "includes": {"users": [{"id": "7", "username": "u"}]}},
                       ensure_ascii=ascii_, indent=indent or 2)
            for a, b in zip([0, *cuts], [*cuts, n], strict=True)).encode()
    else:
        raw = json.dumps(doc, ensure_ascii=ascii_, indent=indent).encode()
    damages = data.draw(st.integers(1, 3))
    for _ in range(damages):
        at = data.draw(st.integers(0, len(raw) - 1))
        junk = bytes([data.draw(st.sampled_from(_JUNK))])
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        raw = raw[:at] + (b"" if op == "delete" else junk) + raw[at + (op != "insert"):]
    f = tmp_path_factory.mktemp("rs") / name
    f.write_bytes(raw)
    got: dict[str, str | None] = {}
    try:
        for r in get_parser(fmt).parse(f, RawSink()):
            if isinstance(r, Post):
                got[r.platform_id] = r.text
    except IngestError:
        pass  # (damage before anything readable: refused whole)
    assert not {k for k in got if k.rsplit("/", 1)[-1] in _FORGED}, got
    if kind.startswith("x"):  # (nor a referenced tweet of a damaged one)
        assert not {k for k in got if k.startswith("5")}, got
    changed = [k for k, t in got.items() if k in real and (t or "") != real[k]]
    assert len(changed) <= damages, (changed, got, real)


# where damage makes reading resume at a chat: a chat's own keys, its last
# message (before its end), the comma between chats
_CHAT_PLACES = re.compile(rb'"name"|"type": "public_channel"|"id": [5-8],|"messages"'
                          rb'|\}\s*\]\s*\}\s*(?:,|\]\s*\})')


@settings(max_examples=int(os.environ.get("RASD_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_no_chat_is_made_up_and_no_message_moved_by_reading_on_at_a_chat(
        tmp_path_factory, data):
    """Full exports of 2-4 chats whose names and messages are adversarial
    JSON, chats written as text among them, damaged in 1-3 bytes, most near
    a chat's own keys or between chats (where reading resumes at the next
    chat): no chat or message written as text is stored, and every post is a
    real one, under its own chat, with its real text, but for at most one
    post per damaged byte (its text, or its chat's id, damaged). The
    standalone version of this fuzz: 23,000 files of 2-5 chats clean (1-3 damages each)."""
    texts = st.lists(st.sampled_from(_TEXTS + _FORGED_CHATS), max_size=4).map("".join)
    real: dict[tuple[str, str], str] = {}
    chats = []
    for cid in range(5, 5 + data.draw(st.integers(2, 4))):
        msgs = []
        for i in range(1, data.draw(st.integers(1, 4)) + 1):
            t = data.draw(texts)
            msgs.append({"id": i, "type": "message", "date": "2020-01-01T00:00:00",
                         "from": "C", "from_id": f"channel{cid}", "text": t,
                         "text_entities": [{"type": "plain", "text": t},
                                           {"type": "bold", "text": data.draw(texts)}]})
            real[str(cid), str(i)] = t
        chats.append({"name": data.draw(texts), "type": "public_channel", "id": cid,
                      "messages": msgs})
    ascii_, indent = data.draw(st.booleans()), data.draw(st.sampled_from([None, 1]))
    raw = json.dumps({"about": "x", "chats": {"about": "y", "list": chats}},
                     ensure_ascii=ascii_, indent=indent).encode()
    # where each chat lies in it (its "{" to its "}"): its own text, indented
    spans, at = [], 0
    for ch in chats:
        own = json.dumps(ch, ensure_ascii=ascii_, indent=indent)
        own = (own if indent is None else own.replace("\n", "\n   ")).encode()
        at = raw.index(own, at)
        spans.append((at, at + len(own) - 1))
    damages = data.draw(st.sampled_from([1, 1, 2, 3]))
    # (first_at: the place of the first damage, in the text as written)
    raw, first_at = _broken(data, raw, damages, _CHAT_PLACES, 3, (-40, 12))
    f = tmp_path_factory.mktemp("rs") / "result.json"
    f.write_bytes(raw)
    got: dict[tuple[str, str], str] = {}
    accounts = set()
    try:
        for r in get_parser("telegram").parse(f, RawSink()):
            if isinstance(r, Post):
                chat, _, mid = r.platform_id.partition("/")
                got[re.sub(r"^[a-z]+", "", chat), mid] = r.text or ""
            elif type(r).__name__ == "Account" and not r.stub:
                accounts.add(re.sub(r"^[a-z]+", "", r.platform_id))
    except IngestError:
        pass  # (damage before anything readable: refused whole)
    assert not {k for k in got if k[1] in _FORGED or k[0] in {"76", "77", "78", "79"}}, got
    assert not accounts & {"76", "77", "78", "79"}, accounts
    ids = {c for c, _ in real}
    changed = [k for k, t in got.items() if k[0] in ids and real.get(k) != t]
    for c in {c for c, _ in got} - ids:  # a chat whose id was damaged (a byte of it)
        mine = {m: t for (cc, m), t in got.items() if cc == c}
        changed += [c] * (1 + min(sum(real.get((r, m)) != t for m, t in mine.items())
                                  for r in ids))
    assert len(changed) <= damages, (changed, got, real)
    # one damaged byte inside a chat (not the last): every later chat is read
    # whole, as its own (the file ended there, where it was in the chat's
    # last message or its own fields)
    inside = [k for k, (a, b) in enumerate(spans) if a < first_at < b]
    if damages == 1 and inside and inside[0] < len(chats) - 1:
        later = {k: t for k, t in real.items() if int(k[0]) > 5 + inside[0]}
        assert {k: got.get(k) for k in later} == later, (inside, got, real)


_OTHERS = (Account, Edge, Event)


def _pure_python_events(monkeypatch) -> list[int]:
    """A count, kept up to date, of the events the pure-Python parser gives."""
    from rasd.ingest import jsonlex

    seen = [0]
    real = jsonlex.parse

    def counted(*a: Any, **kw: Any) -> Any:
        for ev in real(*a, **kw):
            seen[0] += 1
            yield ev

    monkeypatch.setattr(jsonlex, "parse", counted)
    return seen


@pytest.mark.parametrize("kind", ["x-array", "chat", "next-chat"])
def test_past_the_last_damage_the_c_parser_reads_the_rest(tmp_path, monkeypatch, kind):
    """Past a resume point whose check read the rest of the file with the C
    parser without an error (the last damage), the rest is read with it: the
    pure-Python parser, ~1 MB/s, read it all (an 18 MB export damaged near
    its start: 18-23 s, now what an undamaged one takes). The same records."""
    n = 1500
    if kind == "x-array":
        f, text = _array(tmp_path, [_tweet(i) for i in range(1, n + 1)])
        at = _start(text, 5)
        _write(f, text[:at] + "x" + text[at:])  # ", x{": tweet 5 read all the same
        fmt, want = "x", n
    else:
        def chat(cid: int, count: int) -> dict:
            return {"name": f"C{cid}", "type": "public_channel", "id": cid,
                    "messages": [_msg(i, f"c{cid}m{i}") for i in range(2, 2 + count)]}

        chats = [chat(1, 30 if kind == "next-chat" else n), chat(2, n)]
        text = json.dumps({"about": "x", "chats": {"about": "y", "list": chats}}, indent=1)
        marker = '"text": "c1m31"' if kind == "next-chat" else '"text": "c1m5"'
        at = text.index(marker)
        f = tmp_path / "result.json"
        f.write_text(text[:at] + "x" + text[at:])
        fmt, want = "telegram", (29 if kind == "next-chat" else n - 1) + n
    seen = _pure_python_events(monkeypatch)
    recs = list(get_parser(fmt).parse(f, RawSink()))
    rejects = [r for r in recs if not isinstance(r, (Post, *_OTHERS))]
    assert len(rejects) == 1 and rejects[0].reason.startswith("damaged JSON: "), rejects
    assert sum(isinstance(r, Post) for r in recs) == want
    # what the pure-Python parser gave: the file's start to the damage (the
    # careful pass reads again from there), not the items after the resume
    # point (~25 events a message, ~10 a tweet)
    assert seen[0] < 1500, seen[0]  # (before: 15,000-75,000)


@pytest.mark.parametrize("marks", [None, 3])
def test_no_reading_on_where_offsets_are_not_exact(tmp_path, monkeypatch, marks):
    """Past ``MAX_MARKS`` long numbers replaced in one item the offsets are
    not exact (``NumberGuard.exact``), and a resume point could lie in the
    next chat: the damage ends the file there, as before resync; below
    them, read on."""
    from rasd.ingest import jsonitems

    if marks is not None:
        monkeypatch.setattr(jsonitems, "MAX_MARKS", marks)
    num = "1." + "0" * 60 + "e999"
    msgs = [_msg(i, f"m{i}", **({"extra": ["NUMS"]} if i == 5 else {})) for i in range(2, 12)]
    text = json.dumps({"name": "C", "type": "public_channel", "id": 555, "messages": msgs},
                      indent=1)
    text = text.replace('"NUMS"', ", ".join([num] * 5) + "x")  # damaged after them
    f = tmp_path / "result.json"
    f.write_text(text)
    recs = list(get_parser("telegram").parse(f, RawSink()))
    posts = sorted(int(r.platform_id.split("/")[1]) for r in recs if isinstance(r, Post))
    rejects = [r for r in recs if not isinstance(r, (Post, *_OTHERS))]
    assert len(rejects) == 1
    assert posts == ([2, 3, 4] if marks else [2, 3, 4, *range(6, 12)])


def test_a_chat_checked_holds_only_the_keys_it_needs():
    """``_Keys`` held every top-level key of the object being checked: a
    chat-like object of millions of keys held them all in memory."""
    from rasd.ingest.resync import _Keys

    k = _Keys(("messages", "type", "id"))
    for i in range(1000):
        k.see("map_key", f"k{i}")
        k.see("number", i)
    assert not k.seen and not k.has
    for key, ev in (("type", "string"), ("id", "number"), ("messages", "start_array")):
        k.see("map_key", key)
        k.see(ev, None)
    assert k.seen == {"messages", "type", "id"} and k.has


def _chat_1_ends_damaged(tmp_path: Path) -> tuple[Path, Path, str, str]:
    """A full export (``_full_export``) whose chat 1 is damaged in its last
    message: its folder, its file, and its text cut where chat 2's "name"
    key begins (the text written back is the caller's)."""
    d = _full_export(tmp_path)
    f = d / "result.json"
    text = f.read_text()
    at = text.index('"text": "c1m11"')
    text = text[:at] + "x" + text[at:]  # chat 1's last message
    two = text.index('"name": "C2"')
    return d, f, text[:two], text[two:]


def test_a_chat_whose_name_and_messages_keys_are_damaged_still_bounds_the_one_before(
        sqlite_store, tmp_path):
    """Three damaged places — chat 1's last message, chat 2's "name" and
    "messages" keys — left nothing that told where chat 1 ended (a fuzz
    found it): chat 2's messages were read on as chat 1's, false edits of
    them. Chat 2's "type": "public_channel" stops reading on in chat 1 too."""
    d, f, head, rest = _chat_1_ends_damaged(tmp_path)
    f.write_text(head + rest.replace('"name"', '"n me"', 1).replace(
        '"messages"', '"messag s"', 1))
    ingest_path(sqlite_store, d)
    for i in range(2, 11):
        assert post(sqlite_store, "telegram", f"channel1/{i}").text == f"c1m{i}"
    assert sqlite_store.stats()["posts"] == 9  # chat 2's are lost with its keys, never moved


def test_the_chat_types_that_bound_reading_on_are_telegram_desktops():
    from rasd.ingest.resync import OWNER_TYPES
    from rasd.ingest.telegram import CHAT_PREFIX

    assert set(OWNER_TYPES["messages"]) == set(CHAT_PREFIX)


@pytest.mark.parametrize("colons", [False, True])
def test_a_chat_whose_keys_are_all_damaged_never_gives_its_messages_the_one_before(
        sqlite_store, tmp_path, colons):
    """Four damaged places — chat 1's last message and chat 2's "name",
    "type" and "messages" keys — left nothing ``_boundary`` could see: chat
    2's messages were read on as chat 1's (false edits of chat 1's, whose
    ids they share). What lies between the last message read and a resume
    point is read backwards from it (``_same_array``): chat 2's
    ``"messages": [`` opens the array the resume point lies in; with the
    ``[`` and the chat's ``{`` damaged too, its keys lie at the resume
    point's level."""
    d, f, head, rest = _chat_1_ends_damaged(tmp_path)
    rest = rest.replace('"name"', '"n me"', 1).replace('"messages"', '"messag s"', 1).replace(
        '"public_channel"', '"public_chann l"', 1)
    if colons:  # its "{" and "[" too: its keys at the level of its messages
        head = head[:head.rindex("{")] + " " + head[head.rindex("{") + 1:]
        k = rest.index("[")
        rest = rest[:k] + " " + rest[k + 1:]
    f.write_text(head + rest)
    ingest_path(sqlite_store, d)
    for i in range(2, 12):
        p = post(sqlite_store, "telegram", f"channel1/{i}")
        assert (p is None) if i == 11 else (p.text == f"c1m{i}"), (i, p and p.text)
    assert sqlite_store.stats()["posts"] == 9  # chat 2's are lost with its keys, never moved


def test_the_next_chat_read_as_a_message_is_no_resume_point(sqlite_store, tmp_path):
    """Damage in chat 2's last message, and in chat 3's first message, whose
    text looks like the end of a chat (a quote in it no longer escaped): the
    first resume point that passed its check was chat 3's own "{", read as a
    message of chat 2 (its messages nested in it) up to the damage in chat
    3; the resync there found no boundary ahead, and chat 3's next messages
    were stored as chat 2's (found by fuzzing). A first item with a chat's
    keys ("name", "messages", a chat's type) is none: reading resumes at the
    next chat."""
    chats = _chats(3, per=3)
    chats[2]["messages"][0]["text"] = 'c3m2"}]}, {"z'
    d, text = _export(tmp_path, {"chats": {"list": chats}})
    a = text.index('"text": "c2m4"')
    b = text.index('\\"}]}')
    text = text[:a] + ":" + text[a:b] + "0" + text[b + 1:]
    (d / "result.json").write_text(text)
    ingest_path(sqlite_store, d)
    kept = set()
    for c in range(1, 4):
        for i in range(2, 5):
            p = post(sqlite_store, "telegram", f"channel{c}/{i}")
            if p is not None:  # (chat 3's first message: its text damaged, its own)
                assert p.text.startswith(f"c{c}m{i}"), (c, i, p.text)
                kept.add((c, i))
    assert kept >= {(1, 2), (1, 3), (1, 4), (2, 2), (2, 3)}


def _refused_id(ch: dict) -> None:
    ch["id"] = True  # (its messages rejected, named by the chat's place in the file)


@pytest.mark.parametrize("damage", ["between", "passed over", "own fields"])
def test_rejects_after_reading_on_at_a_chat_name_the_right_place(sqlite_store, tmp_path,
                                                                 damage):
    """Damage between chats 1 and 2 was named by chat 1 (``channel1``), as
    if in it; a chat passed over for its own damage (chat 2, its "name"
    damaged after damage in chat 1's last message) was not counted, and the
    chats after it were named one place too early (chat 4, whose id is
    refused, as ``chats.list[2]``)."""
    chats = _chats(5, per=2)
    _refused_id(chats[3])
    d, text = _export(tmp_path, {"chats": {"list": chats}}, indent=None)
    if damage == "between":
        at = _chat_starts(text)[1] - 2  # '}x, {"name"'
        text = text[:at] + "x" + text[at:]
    elif damage == "passed over":
        a, b = text.index('"text": "c1m3"'), text.index('"name": "C2"')
        text = text[:a] + "x" + text[a:b] + "x" + text[b:]
    else:
        at = text.index('"name": "C2"')
        text = text[:at] + "x" + text[at:]
    (d / "result.json").write_text(text)
    rep = ingest_path(sqlite_store, d)
    paths = [r["path"] for r in rep.rejects]
    first = {"between": "chats.list[1]", "passed over": "channel1.messages[1]",
             "own fields": "chats.list[1]"}[damage]
    assert paths == [first, "chats.list[3].messages[0]", "chats.list[3].messages[1]"], paths


def test_the_chats_of_left_chats_read_on_at_are_named_in_their_list(sqlite_store, tmp_path):
    """Read on at the first chat of "left_chats" (damage in the last chat of
    "chats"), its chats are named as in that list, not as more of "chats"."""
    left = _chats(2, first=7)
    _refused_id(left[1])
    d, _ = _export(tmp_path, {"chats": {"list": _chats(2)}, "left_chats": {"list": left}})
    _damaged(d, "c2m11", ",")
    rep = ingest_path(sqlite_store, d)
    paths = [r["path"] for r in rep.rejects]
    assert paths == ["channel2.messages[9]", *(f"left_chats.list[1].messages[{i}]"
                                               for i in range(10))], paths


@pytest.mark.parametrize("second", ["c2m5", "c3m5"])
def test_two_damaged_chats_keep_the_first_ones_messages_after_its_damage(sqlite_store,
                                                                         tmp_path, second):
    """Damage in chat 1 and again in a later chat: a resume point in chat 1
    after its damage was checked by a parse that closed chat 1's messages
    before it met the second damage, and refused; chat 1's messages after
    its damage were all lost (read on at the next chat). It is taken where
    the objects of the list read on the way are chats (their keys)."""
    d, text = _export(tmp_path, {"chats": {"list": _chats(3)}})
    for m in ("c1m5", second):
        at = text.index(f'"text": "{m}"')
        text = text[:at] + "x" + text[at:]
    (d / "result.json").write_text(text)
    rep = ingest_path(sqlite_store, d)
    c = int(second[1])
    assert [r["path"] for r in rep.rejects] == ["channel1.messages[3]",
                                                f"channel{c}.messages[3]"], rep.rejects
    everything = {(k, i) for k in range(1, 4) for i in range(2, 12)}
    assert _kept(sqlite_store, range(1, 4)) == everything - {(1, 5), (c, 5)}


def test_entities_of_a_damaged_message_are_no_messages_with_a_later_chat_damaged(
        sqlite_store, tmp_path):
    """The same with the damage before a message's entities: a resume point
    at an entity closes its array where the check expects the messages',
    and the message's end its chat's; the messages after it, read as chats,
    have no chat's keys: refused, as before (no entity is a message, no
    message a chat)."""
    chats = _chats(3)
    ents = [{"type": "bold", "text": f"b{k}"} for k in range(4)]
    chats[0]["messages"][3] = _msg(5, ["start", *ents, "end"])
    d, text = _export(tmp_path, {"chats": {"list": chats}})
    at = text.rindex('"text": [', 0, text.index('"start"'))
    b = text.index('"text": "c2m5"')
    text = text[:at] + "x" + text[at:b] + "x" + text[b:]
    (d / "result.json").write_text(text)
    recs = list(get_parser("telegram").parse(d / "result.json", RawSink()))
    chats_seen = {r.platform_id for r in recs if isinstance(r, Account) and not r.stub}
    assert chats_seen <= {"channel1", "channel2", "channel3"}, chats_seen
    posts = {r.platform_id: r.text for r in recs if isinstance(r, Post)}
    for pid, t in posts.items():
        c, i = pid.removeprefix("channel").split("/")
        assert t == f"c{c}m{i}", (pid, t)
    assert {f"channel1/{i}" for i in range(6, 12)} <= set(posts)


# a chat's keys, a message's edges, between chats: where damage makes reading
# on cross (or not) into another chat
_EDGES = re.compile(rb'"name"|"type": "[a-z_]+"|"id": 1[0-9],|"messages"|"id": [0-9]{4}'
                    rb'|\}\s*\]\s*\}\s*(?:,|\]\s*\})|\[\s*\{|\}\s*,\s*\{|"left_chats"')


@settings(max_examples=int(os.environ.get("RASD_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_no_message_is_stored_under_another_chat(tmp_path_factory, data):
    """Full exports of chats (in "chats" and "left_chats", an element that is
    no object among them now and then) whose messages have ids and texts of
    their own chat only (``c<chat>m<id>``, ids 1000*k+100+i: a digit lost
    gives no other chat's), damaged in 1-6 bytes, most at chats' keys and
    messages' edges: no message is stored under a chat other than its own,
    none is read twice, none is made up (but for one per damaged byte: an
    id damaged), no chat or message written as text is stored. (The
    standalone fuzz this was drawn from found the next chat's messages
    stored as the damaged one's, and a chat read twice: 30,000 files clean
    since.)"""
    texts = st.lists(st.sampled_from(_TEXTS + _FORGED_CHATS), max_size=3).map("".join)
    real: dict[str, tuple[str, str]] = {}
    doc: dict[str, Any] = {"about": "x"}
    cid = 10
    for key in ("chats", "left_chats")[:data.draw(st.integers(1, 2))]:
        chats: list[Any] = []
        for _ in range(data.draw(st.integers(1, 3))):
            cid += 1
            msgs = []
            for i in range(data.draw(st.integers(1, 4))):
                mid = 1000 * (cid - 10) + 100 + i
                t = f"c{cid}m{mid}" + data.draw(texts)
                msgs.append({"id": mid, "type": "message", "date": "2020-01-01T00:00:00",
                             "from": "C", "from_id": f"channel{cid}", "text": t,
                             "text_entities": [{"type": "plain", "text": t},
                                               {"type": "bold", "text": data.draw(texts)}]})
                real[str(mid)] = (str(cid), t)
            chats.append({"name": data.draw(texts), "type": data.draw(st.sampled_from(
                ["public_channel", "private_supergroup"])), "id": cid, "messages": msgs})
        if data.draw(st.integers(0, 7)) == 0:
            chats.insert(data.draw(st.integers(0, len(chats))),
                         data.draw(st.sampled_from([3, "s{", None])))
        doc[key] = {"about": "y", "list": chats}
    raw = json.dumps(doc, ensure_ascii=data.draw(st.booleans()),
                     indent=data.draw(st.sampled_from([None, 1]))).encode()
    damages = data.draw(st.integers(1, 6))
    raw, _ = _broken(data, raw, damages, _EDGES, 4, (-6, 14))
    f = tmp_path_factory.mktemp("rs") / "result.json"
    f.write_bytes(raw)
    got: list[tuple[str, str, str]] = []
    try:
        for r in get_parser("telegram").parse(f, RawSink()):
            if isinstance(r, Post):
                chat, _, mid = r.platform_id.partition("/")
                got.append((re.sub(r"^[a-z]+", "", chat), mid, r.text or ""))
    except IngestError:
        pass  # (damage before anything readable: refused whole)
    assert len(set(got)) == len(got), got  # (none read twice)
    ours = {c for c, _ in real.values()}
    owners: dict[str, set[str]] = {}
    made = 0
    for chat, mid, _ in got:
        assert mid not in _FORGED and chat not in {"76", "77", "78", "79"}, (chat, mid)
        if mid not in real:
            made += 1  # (its id damaged)
        elif chat in ours:
            assert chat == real[mid][0], (chat, mid, got)  # under its own chat
        else:  # a chat whose id was damaged: its messages one real chat's
            owners.setdefault(chat, set()).add(real[mid][0])
    assert made <= damages, got
    # (two chats whose ids were damaged to the same one share it: each then
    # has none of its messages under its own id)
    own = {real[mid][0] for chat, mid, _ in got if mid in real and chat == real[mid][0]}
    assert all(len(o) == 1 or not o & own for o in owners.values()), (owners, got)


@pytest.mark.parametrize("cut", ["between", "list start"])
def test_a_file_that_ends_between_chats_names_the_next_place(sqlite_store, tmp_path, cut):
    """A full export cut off after a chat (or just after a list's "["): the
    reject named the message that would have come next in the chat before
    (``channel2.messages[10]``), a chat read whole."""
    left = _chats(1, first=7)
    d, text = _export(tmp_path, {"chats": {"list": _chats(3)}, "left_chats": {"list": left}},
                      indent=None)
    at = (text.index('{"name": "C3"') - 2 if cut == "between"
          else text.index('[', text.index('"left_chats"')) + 1)
    (d / "result.json").write_text(text[:at])
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == [
        "chats.list[2]" if cut == "between" else "left_chats.list[0]"], rep.rejects


def test_a_chat_whose_first_message_lost_its_brace_is_read_once(sqlite_store, tmp_path):
    """Chat 2's first message without its "{" (``["id": 2, …``): the string
    "id" is read as a message (a reject), then the damage. Where to look for
    the next chat from was the end of the last object read — chat 1's, as a
    string ends none — and chat 2's own "{" was taken as the next chat: it
    was read again (a second reject each, the same records; a fuzz of full
    exports found it 23 times in 10,000 files of 4-6 damaged bytes). A
    string or number read as a message moves no offset now."""
    d, text = _export(tmp_path, {"chats": {"list": _chats(3)}}, indent=None)
    at = text.index('{"id": 2,', text.index('"name": "C2"'))
    (d / "result.json").write_text(text[:at] + text[at + 1:])
    rep = ingest_path(sqlite_store, d)
    paths = [r["path"] for r in rep.rejects]
    assert len(paths) == len(set(paths)), paths  # (each once)
    assert sum("damaged JSON" in r["reason"] for r in rep.rejects) == 1, rep.rejects
    kept = _kept(sqlite_store, range(1, 4))
    assert kept >= {(c, i) for c in (1, 3) for i in range(2, 12)}, kept


def _gap_check(gap: str) -> bool:
    """``_same_array`` of a resume point right after ``gap`` (the bytes
    after the last message read)."""
    from rasd.ingest.resync import _same_array

    return _same_array(gap.encode(), [1 << 30])


@pytest.mark.parametrize(("gap", "same"), [
    (', {"id": 4, "text": "a"}, ', True),  # a whole message (the damage in it)
    (', {"id": 4, x"text": "a [ {"}, ', True),  # text in a string: passed over
    (', {"id": 4, "text": "a \\" ] ["}, ', True),  # escaped quotes
    (', {"id": 4, "text": "lost quote}, ', True),  # (one left open: a quote lost)
    (', {"id": 4}]}, {"n me": "C2", "id": 2, "messag s": [{"id": 1}, ', False),  # its "["
    (', {"id": 4}]}, x"n me": "C2", "id": 2, "messag s": x{"id": 1}, ', False),  # a key
    (', {"id": 4}]} , x"n me" "C2" "id" 2 "messag s" x{"id": 1}, ', False),  # two closed
])
def test_what_lies_before_a_resume_point_tells_another_array(gap, same):
    """Read backwards from a resume point, the bytes after the last message
    read: messages (and the damage) only, or the next chat's start — what
    opens the array the point lies in, a key at its level, or the closing
    of the damaged chat's messages and of the chat itself (``]}``)."""
    assert _gap_check(gap) is same


def test_a_first_message_with_a_chats_keys_stops_reading_on_in_the_chat(tmp_path):
    """A resume point whose first message has a chat's key ("name",
    "messages") or a chat's type is the next chat read as a message: no
    resume point after it (-1)."""
    from rasd.ingest.resync import _owner, _Tape, _validate, synthetic_prefix

    item = "chats.list.item.messages.item"
    for first in ('{"name": "C", "type": "public_channel", "id": 3, "messages": [{"id": 1}]}',
                  '{"n me": "C", "type": "public_channel", "id": 3, "messag s": [{"id": 1}]}',
                  '{"id": 3, "messages": [{"id": 1}]}'):
        f = tmp_path / "v.json"
        f.write_text(first + ', {"id": 2}x')  # (an error after it, the array open)
        tape = _Tape(f, 0, [1 << 30])
        try:
            assert _validate(tape, 0, synthetic_prefix(item), [1 << 30], None,
                             _owner(item))[:2] == (False, -1), first
            assert _validate(tape, 0, synthetic_prefix(item), [1 << 30])[0], first  # (before)
        finally:
            tape.close()


def test_a_chat_longer_than_the_tape_keeps_is_read_on_in(sqlite_store, tmp_path,
                                                        monkeypatch):
    """The check of a resume point reads on to the end of the file (or the
    next damage), past what the tape keeps (4 MiB): the bytes before the
    resume point (``_same_array``) were gone by then, and it was refused —
    one damaged message lost the rest of its chat (here the tape keeps 256
    KiB). They are kept before the check now."""
    from rasd.ingest import resync

    monkeypatch.setattr(resync, "_KEEP", 256 << 10)
    monkeypatch.setattr(resync, "_BACK", 128 << 10)
    monkeypatch.setattr(resync, "MAX_GAP", 128 << 10)
    d, text = _export(tmp_path, {"chats": {"list": _chats(3, per=1000)}})
    assert len(text) > 3 * (256 << 10)
    for m in ("c1m5", "c2m900", "c3m5"):
        at = text.index(f'"text": "{m}"')
        text = text[:at] + "x" + text[at:]
    (d / "result.json").write_text(text)
    rep = ingest_path(sqlite_store, d)
    assert [r["path"] for r in rep.rejects] == ["channel1.messages[3]",
                                                "channel2.messages[898]",
                                                "channel3.messages[3]"], rep.rejects
    everything = {(c, i) for c in range(1, 4) for i in range(2, 1002)}
    assert _kept(sqlite_store, range(1, 4), per=1000) == everything - {(1, 5), (2, 900),
                                                                        (3, 5)}


# -- damage in the first item, a stray byte after the comma, several arrays --

def _x_records(f: Path) -> tuple[dict[str, str | None], list[Any]]:
    """The posts read from ``f`` (id: text) and its rejects."""
    posts: dict[str, str | None] = {}
    rejects = []
    for r in get_parser("x").parse(f, RawSink()):
        if isinstance(r, Post):
            posts[r.platform_id] = r.text
        elif not isinstance(r, _OTHERS):
            rejects.append(r)
    return posts, rejects


_TEN = [_tweet(i) for i in range(1, 11)]


@pytest.mark.parametrize("name", ["tweets.json", "tweets.json.gz"])
@pytest.mark.parametrize("indent", [1, None])
def test_damage_in_the_first_item_is_read_past(tmp_path, name, indent):
    """Damage in an array's first item (a quote lost) sent the file to be read
    as JSON Lines: a reject for each of its lines (32 for 5 tweets), none
    stored. Now, as for damage in any other item, it is one reject naming
    it, and the items after it are read."""
    text = json.dumps(_TEN, indent=indent).replace('"tweet 1 ', '"tweet 1 "', 1)
    posts, rejects = _x_records(_write(tmp_path / name, text))
    assert [r.path for r in rejects] == ["[0]"], rejects
    assert rejects[0].reason.startswith("damaged JSON: ")
    assert set(posts) == {str(i) for i in range(2, 11)}


@pytest.mark.parametrize("junk", ["x", "@@", "}", "]", "\x00", "x1234567"])
@pytest.mark.parametrize("indent", [1, None])
def test_a_stray_byte_after_the_comma_loses_no_item(tmp_path, junk, indent):
    """``},x{``: the item after the stray bytes was lost with them (no ","
    just before its "{"); up to 8 of them are read past now, one reject."""
    text = json.dumps(_TEN, indent=indent)
    at = _start(text, 6)
    posts, rejects = _x_records(_write(tmp_path / "t.json", text[:at] + junk + text[at:]))
    assert len(rejects) == 1 and rejects[0].reason.startswith("damaged JSON: "), rejects
    assert set(posts) == {str(i) for i in range(1, 11)}


@pytest.mark.parametrize("junk", ["x", "@@", "}", "\x00", "x1234567", "x \t "])
@pytest.mark.parametrize("name", ["tweets.json", "tweets.json.gz"])
@pytest.mark.parametrize(("indent", "arrays"), [(1, 1), (None, 1), (1, 2), (None, 2)])
def test_stray_bytes_before_the_first_item_lose_no_item(tmp_path, junk, name, indent,
                                                        arrays):
    """``[x{``: damage after an array's "[" and before its first item's "{"
    lost that item (no "," before it), in the file's first array and in a
    later one; up to 8 stray bytes are read past there too, one reject.
    (Compact arrays one a line are JSON Lines, a damaged line a reject: on
    one line here.)"""
    text = _arrays([_TEN[:4], _TEN[4:]] if arrays == 2 else [_TEN], indent,
                   "\n" if indent else " ")
    at = text.index("{", text.index("[", text.index("]")) if arrays == 2 else 0)
    posts, rejects = _x_records(_write(tmp_path / name, text[:at] + junk + text[at:]))
    assert len(rejects) == 1 and rejects[0].reason.startswith("damaged JSON: "), rejects
    assert set(posts) == {str(i) for i in range(1, 11)}


def test_a_stray_byte_after_the_comma_between_messages_loses_none(sqlite_store, tmp_path):
    msgs = [_msg(i, f"m{i}") for i in range(2, 22)]
    d = channel_export(tmp_path, msgs)
    _damaged(d, "m7", before=True)  # "},x {"
    rep = ingest_path(sqlite_store, d)
    assert len(rep.rejects) == 1 and rep.rejects[0]["reason"].startswith("damaged JSON: ")
    kept = {i for i in range(2, 22) if post(sqlite_store, "telegram", f"channel555/{i}")}
    assert kept == set(range(2, 22))


@pytest.mark.parametrize("junk", ["x", "x1234567", "} "])
@pytest.mark.parametrize("export", ["chat", "full"])
def test_stray_bytes_before_a_chats_first_message_lose_no_message(sqlite_store, tmp_path,
                                                                   junk, export):
    """``"messages": [x{``: the chat's first message was lost with the stray
    bytes (no "," before it); it is kept now, in a single chat's export and
    in a chat of a full one, one reject."""
    if export == "chat":
        d = channel_export(tmp_path, [_msg(i, f"c555m{i}") for i in range(2, 12)])
        f, chat = d / "result.json", 555
        text = f.read_text()
        at = text.index("{", text.index('"messages"'))
    else:
        d, text = _export(tmp_path, {"chats": {"list": _chats(3)}})
        f, chat = d / "result.json", 2
        at = text.index("{", text.index('"messages"', _chat_starts(text)[1]))
    f.write_text(text[:at] + junk + text[at:])
    rep = ingest_path(sqlite_store, d)
    assert len(rep.rejects) == 1 and rep.rejects[0]["reason"].startswith("damaged JSON: ")
    assert rep.rejects[0]["path"] == f"channel{chat}.messages[0]"
    chats = (chat,) if export == "chat" else (1, 2, 3)
    for c in chats:
        for i in range(2, 12):
            p = post(sqlite_store, "telegram", f"channel{c}/{i}")
            assert p is not None and p.text == f"c{c}m{i}", (c, i)


def _arrays(parts: list[list[dict]], indent: int | None, sep: str = "\n") -> str:
    return sep.join(json.dumps(p, indent=indent) for p in parts)


@pytest.mark.parametrize("name", ["tweets.json", "tweets.json.gz"])
@pytest.mark.parametrize(("indent", "sep"), [(1, "\n"), (2, ""), (None, ""), (None, " ")])
def test_several_arrays_one_after_another_are_all_read(tmp_path, name, indent, sep):
    """``json.dump`` run twice into one file: only the first array's items
    were stored, then "malformed or truncated JSON after item 2: Additional
    data found". Items are numbered on across the arrays."""
    text = _arrays([_TEN[:2], _TEN[2:3], _TEN[3:]], indent, sep)
    posts, rejects = _x_records(_write(tmp_path / name, text))
    assert rejects == []
    assert set(posts) == {str(i) for i in range(1, 11)}


@pytest.mark.parametrize("where", ["first of the first", "last of the first",
                                   "first of the second", "both firsts", "between"])
def test_damage_in_several_arrays_is_read_past(tmp_path, where):
    text = _arrays([_TEN[:5], _TEN[5:]], 1)
    lost = {"first of the first": {1}, "last of the first": {5}, "first of the second": {6},
            "both firsts": {1, 6}, "between": set()}[where]
    for i in sorted(lost):
        text = text.replace(f'"tweet {i} ', f'"tweet {i} "', 1)
    if where == "between":
        text = text.replace("]\n[", "]x\n[", 1)
    posts, rejects = _x_records(_write(tmp_path / "t.json", text))
    assert len(rejects) == max(len(lost), 1), rejects
    assert all(r.reason.startswith("damaged JSON: ") for r in rejects)
    assert set(posts) == {str(i) for i in range(1, 11)} - {str(i) for i in lost}


def test_a_value_after_the_arrays_that_is_no_array_gives_no_item(tmp_path):
    """Read with several values one after another, an object after the
    arrays would give the value of its key "item" as an item (ijson's
    prefix of an array's items): it ends reading, one reject, as before."""
    text = _arrays([_TEN[:2]], 1) + "\n" + json.dumps({"item": _tweet(77)}) + _arrays(
        [_TEN[2:]], 1)
    posts, rejects = _x_records(_write(tmp_path / "t.json", text))
    assert set(posts) == {"1", "2"}
    assert [r.path for r in rejects] == ["[2]"]
    assert "expected a JSON array" in rejects[0].reason


def test_a_nested_array_closed_then_a_stray_bracket_gives_no_nested_item(tmp_path):
    """A resume point in a nested array of the damaged item closes the items
    array early; a stray "[" after that close opens another top-level array
    to the check. Its first item must be an object with a key of real
    structure for the check to take the point: else a nested object (a
    referenced tweet) would be read as an item."""
    tweets = [_tweet(i, referenced_tweets=[{"type": "quoted", "id": str(9000 + i)},
                                           {"type": "replied_to", "id": str(9100 + i)}])
              for i in range(1, 11)]
    text = json.dumps(tweets, indent=1)
    text = text.replace('"tweet 4 ', '"tweet 4 "', 1)  # damage in tweet 4
    end = text.index("]", text.index(str(9104)))  # its nested array's "]"
    for stray in ("[", "[["):
        f = _write(tmp_path / "t.json", text[:end + 1] + stray + text[end + 1:])
        got = [r.obj for r in json_items(f, RawSink(), "x") if not isinstance(r, Reject)]
        assert all("text" in obj for obj in got), got  # (a referenced tweet has none)
        assert {obj["id"] for obj in got} <= {str(i) for i in range(1, 11)} - {"4"}


@settings(max_examples=int(os.environ.get("RASD_FUZZ_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_one_damaged_place_loses_only_its_item(tmp_path_factory, data):
    """Tweets in one or several arrays (pretty or compact), one damaged place
    — a quote lost in an item (the first included), or stray bytes after a
    comma or between two arrays: every item but the damaged one is stored,
    with its own text, and nothing else; one reject."""
    n = data.draw(st.integers(2, 9))
    tweets = [_tweet(i, referenced_tweets=[{"type": "quoted", "id": str(5000 + i)}])
              for i in range(1, n + 1)]
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=2)))
    parts = [tweets[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    indent = data.draw(st.sampled_from([None, 1, 2]))
    # (compact arrays one a line are JSON Lines: a line an array is no object)
    text = _arrays(parts, indent, data.draw(st.sampled_from(["", " "] if indent is None
                                                            else ["\n", "", " \n"])))
    kind = data.draw(st.sampled_from(["quote", "comma", "between"] if cuts else
                                     ["quote", "comma"]))
    lost: set[str] = set()
    if kind == "quote":
        i = data.draw(st.integers(1, n))
        text = text.replace(f'"tweet {i} ', f'"tweet {i} "', 1)
        lost = {str(i)}
    else:
        # (not a value: a number there is an item, "expected a JSON object")
        junk = data.draw(st.sampled_from("x@}]:,\x00")) + data.draw(
            st.text(st.sampled_from("x@}]:,\x007"), max_size=7))
        places = ([m.end() for m in re.finditer(r"\},\s*", text)] if kind == "comma" else
                  [m.start() + 1 for m in re.finditer(r"\]\s*\[", text)])
        if not places:
            return
        at = data.draw(st.sampled_from(places))
        text = text[:at] + junk + text[at:]
    name = data.draw(st.sampled_from(["t.json", "t.json.gz"]))
    f = _write(tmp_path_factory.mktemp("shapes") / name, text)
    posts, rejects = _x_records(f)
    want = {t["id"]: t["text"] for t in tweets if t["id"] not in lost}
    assert len(rejects) == 1, (rejects, text)
    assert posts == want, text


def _pages_text(n_pages: int, per: int = 5, indent: int | None = 2) -> tuple[str, list[int]]:
    """``n_pages`` X v2 pages pretty-printed one after another (``jq .`` of a
    JSON Lines file), and where each starts."""
    text, starts = "", []
    for k in range(n_pages):
        page = {"data": [_tweet(1 + k * per + j) for j in range(per)],
                "includes": {"users": [{"id": "5", "username": "u5", "name": "U"}]},
                "meta": {"result_count": per}}
        starts.append(len(text))
        text += json.dumps(page, indent=indent) + "\n"
    return text, starts


@pytest.mark.parametrize("damage", ["quote lost", "nested deep", "cut by a crash",
                                    "first page", "two pages"])
@pytest.mark.parametrize("name", ["pages.json", "pages.json.gz", "stdin"])
def test_documents_one_after_another_are_read_past_damage(sqlite_store, tmp_path, damage,
                                                          name):
    """Pages pretty-printed one after another: damage in one (a lost quote,
    nesting 100,000 deep, a page cut short by a crash with the next run's
    pages after it) lost every page after it ("the rest of the file is not
    read"). Now the damaged page is one reject naming the byte the file was
    read on from, the next page's start, and the pages after it are read —
    from a plain file, a .gz and standard input."""
    import io

    from rasd.ingest.base import Stream

    text, starts = _pages_text(4)
    at = starts[0 if damage == "first page" else 1]
    t = text.index('"text": "tweet', at)
    if damage == "nested deep":
        text = text[:t] + '"deep": ' + "[" * 100_000 + "1" + "]" * 100_000 + ", " + text[t:]
    elif damage == "cut by a crash":
        text = text[:t + 20] + "\n" + text[starts[2]:]
    else:
        text = text[:t + 3] + text[t + 3:].replace('"', "", 1)
        if damage == "two pages":
            t3 = text.index('"text": "tweet', text.index('"meta"', t) + 40)
            text = text[:t3 + 3] + text[t3 + 3:].replace('"', "", 1)
    data = text.encode()
    if name == "stdin":
        src: Any = Stream(io.BytesIO(data))
    else:
        src = _write(tmp_path / name, text)
    rep = ingest_path(sqlite_store, src)
    damaged = {"first page": {0}, "two pages": {1, 2}}.get(damage, {1})
    kept = set()
    for k in set(range(4)) - damaged:
        kept |= set(range(1 + 5 * k, 6 + 5 * k))
    assert _ids(sqlite_store, 20) == kept, rep.rejects
    assert [r["path"] for r in rep.rejects] == [f"doc[{k}]" for k in sorted(damaged)]
    first_id = 1 + 5 * (max(damaged) + 1)  # (of the page read on from)
    nxt = data.rindex(b'{\n  "data"', 0, data.index(b'"id": "%d"' % first_id))
    assert all(r["reason"].startswith("damaged JSON: ") for r in rep.rejects)
    assert all(r["reason"].endswith(f"the file was read on from byte {nxt:,}")
               for r in rep.rejects)
    assert account(sqlite_store, "x", "5").handle == "u5"


def test_a_nested_object_at_a_line_start_is_never_read_as_a_document(sqlite_store, tmp_path):
    """Pages written with indent=0 put every nested object at the start of a
    line: none is a document (its text runs on past it: "," or "]"), so none
    of the damaged page's tweets, nor its users, is read as a record of its
    own; the pages after it are lost with it, as before."""
    text, starts = _pages_text(3, indent=0)
    t = text.index('"text": "tweet', starts[1])
    text = text[:t + 3] + text[t + 3:].replace('"', "", 1)
    f = _write(tmp_path / "pages.json", text)
    assert text.count("\n{") > 10  # (nested objects at line starts)
    rep = ingest_path(sqlite_store, f)
    assert _ids(sqlite_store, 15) == set(range(1, 6))
    assert [r["path"] for r in rep.rejects] == ["doc[1]"]
    assert "the rest of the file is not read" in rep.rejects[0]["reason"] or (
        "malformed or truncated JSON after item 1" in rep.rejects[0]["reason"])
    assert sqlite_store.stats()["posts"] == 5


@pytest.mark.parametrize("name", ["pages.json", "pages.json.gz"])
def test_documents_damaged_twice_apart_are_each_read_past(sqlite_store, tmp_path, name):
    """Damage in pages 2 and 4 of 6: past the first, the C parser reads on
    (fast) and meets the second; the careful pass goes on from the page
    after the first damage, past the page it read, and reads on again."""
    text, starts = _pages_text(6)
    for k in (3, 1):  # (the later first: the earlier offsets stay)
        t = text.index('"text": "tweet', starts[k])
        text = text[:t + 3] + text[t + 3:].replace('"', "", 1)
    rep = ingest_path(sqlite_store, _write(tmp_path / name, text))
    assert [r["path"] for r in rep.rejects] == ["doc[1]", "doc[3]"]
    assert _ids(sqlite_store, 30) == set(range(1, 31)) - set(range(6, 11)) - set(range(16, 21))
    data = text.encode()
    for r, k in zip(rep.rejects, (2, 4), strict=True):
        nxt = data.rindex(b'{\n  "data"', 0, data.index(b'"id": "%d"' % (1 + 5 * k)))
        assert r["reason"].endswith(f"the file was read on from byte {nxt:,}")
    again = ingest_path(sqlite_store, _write(tmp_path / name, text))
    assert again.counts["new"] == 0 and again.rejected == 2


@settings(max_examples=int(os.environ.get("RASD_FUZZ_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_every_page_after_damaged_pages_is_read(tmp_path_factory, data):
    """Pages pretty-printed one after another, 1-3 random bytes inserted,
    deleted or replaced inside some of them (not on their own first or last
    line, a "{" or "}" alone): every page left whole is read, wherever the
    damage lies before it, and no tweet is read but the pages' own."""
    n_pages = data.draw(st.integers(2, 7))
    indent = data.draw(st.sampled_from([1, 2, 4]))
    texts, spans, at = [], [], 0
    for k in range(n_pages):
        page = {"data": [{"id": str(100 * k + j), "text": data.draw(
                    st.sampled_from(_TEXTS)) + " t", "author_id": "7"} for j in range(1, 4)],
                "includes": {"users": [{"id": "7", "username": "u"}]}}
        t = json.dumps(page, indent=indent) + "\n"
        texts.append(t)
        spans.append((at + 2, at + len(t) - 3))  # (inside: past "{\n", before "\n}\n")
        at += len(t)
    raw = "".join(texts).encode()
    hit: set[int] = set()
    damages = data.draw(st.integers(1, 3))
    for _ in range(damages):
        k = data.draw(st.integers(0, n_pages - 1))
        lo, hi = spans[k]
        pos = data.draw(st.integers(lo, hi))
        junk = bytes([data.draw(st.sampled_from(_JUNK))])
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        raw = raw[:pos] + (b"" if op == "delete" else junk) + raw[pos + (op != "insert"):]
        shift = {"insert": 1, "delete": -1, "replace": 0}[op]
        spans = [(a + shift, b + shift) if a > pos else (a, b + shift) if b >= pos else (a, b)
                 for a, b in spans]
        hit.add(k)
    f = tmp_path_factory.mktemp("pages") / "pages.json"
    f.write_bytes(raw)
    got = set()
    try:
        for r in get_parser("x").parse(f, RawSink()):
            if isinstance(r, Post):
                got.add(r.platform_id)
    except IngestError:
        pass  # (the first page damaged so that the file is no JSON: refused whole)
    whole = {str(100 * k + j) for k in range(n_pages) if k not in hit for j in range(1, 4)}
    every = {str(100 * k + j) for k in range(n_pages) for j in range(1, 4)}
    if 0 not in hit or got:  # (the first damaged: the file may be refused whole)
        assert whole <= got, (sorted(whole - got), raw[:3000])
    assert len(got - every) <= damages, sorted(got - every)  # (an id of a damaged page changed)
