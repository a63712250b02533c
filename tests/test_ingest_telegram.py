"""Telegram Desktop exports: fixtures written here from the published format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.helpers import account, count, post

from rasd.ingest import IngestError, detect_format, ingest_path
from rasd.store import schema as S


def _msg(i: int, text, **kw) -> dict:
    m = {"id": i, "type": "message", "date": f"2024-05-0{1 + i % 9}T10:00:00",
         "date_unixtime": str(1714557600 + i * 60), "from": "Test Channel",
         "from_id": "channel555", "text": text,
         "text_entities": [{"type": "plain", "text": text}] if isinstance(text, str) else text}
    m.update(kw)
    return m


def channel_export(tmp: Path, messages: list[dict], name="Test Channel", cid=555) -> Path:
    d = tmp / "ChatExport_2024-05-10"
    (d / "photos").mkdir(parents=True, exist_ok=True)
    (d / "photos" / "photo_1.jpg").write_bytes(b"\xff\xd8\xff\xe0fakejpeg")
    doc = {"name": name, "type": "public_channel", "id": cid, "messages": messages}
    (d / "result.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), "utf-8")
    return d


MESSAGES = [
    {"id": 1, "type": "service", "date": "2024-05-01T09:00:00", "actor": "Test Channel",
     "actor_id": "channel555", "action": "create_channel", "title": "Test Channel",
     "text": "", "text_entities": []},
    _msg(2, ["Read this ", {"type": "hashtag", "text": "#Banner"}, " and ",
             {"type": "mention", "text": "@other_channel"}, " ",
             {"type": "text_link", "text": "here", "href": "https://example.org/x"}],
         photo="photos/photo_1.jpg", width=10, height=10),
    _msg(3, "forwarded text", forwarded_from="Other Channel"),
    _msg(4, "a reply", reply_to_message_id=2),
    _msg(5, "original text", edited="2024-05-06T10:05:00", edited_unixtime="1714990000"),
    _msg(6, "video", file="(File not included. Change data exporting settings to download.)",
         media_type="video_file", mime_type="video/mp4", duration_seconds=3),
]


def test_a_duration_past_the_store_s_column_is_no_duration(store, tmp_path):
    """``duration_seconds`` of 2**61 passed ``opt_int`` (62 bits) but not its
    x1000 into SQLite or PostgreSQL: the whole ingest stopped with
    OverflowError. Found by the h10 fuzz campaign; now the media record has no
    duration and the message and the next one are kept."""
    video = dict(MESSAGES[-1], duration_seconds=2**61)
    d = channel_export(tmp_path, [video, _msg(7, "next")])
    rep = ingest_path(store, d)
    assert rep.rejected == 0 and store.stats()["posts"] == 2
    with store.connect() as c:
        assert [r[0] for r in c.execute(select(S.media.c.duration_ms))] == [None]


def test_channel_export(store, tmp_path):
    d = channel_export(tmp_path, MESSAGES)
    assert detect_format(d) == "telegram"
    assert detect_format(d / "result.json") == "telegram"
    rep = ingest_path(store, d)
    assert rep.rejected == 0
    s = store.stats()
    assert s["posts"] == 5  # the service message is an event, not a post
    assert count(store, S.events) == 1
    ch = account(store, "telegram", "channel555")
    assert ch.name == "Test Channel" and ch.kind == "public_channel"
    p2 = post(store, "telegram", "channel555/2")
    assert p2.text == "Read this #Banner and @other_channel here"
    assert p2.chat_id == "channel555" and p2.created_at.year == 2024
    with store.connect() as c:
        tags = [r[0] for r in c.execute(select(S.hashtags.c.tag).where(
            S.hashtags.c.post_id == p2.id))]
        urls = [r[0] for r in c.execute(select(S.urls.c.url))]
        media = c.execute(select(S.media)).all()
        kinds = sorted(r[0] for r in c.execute(select(S.edges.c.kind)))
    assert tags == ["banner"] and urls == ["https://example.org/x"]
    photo = next(m for m in media if m.type == "photo")
    assert photo.local_path == str((d / "photos" / "photo_1.jpg").resolve())
    video = next(m for m in media if m.type == "video_file")
    assert video.local_path is None and video.duration_ms == 3000
    assert kinds == ["forward", "mention"]  # reply to own channel is not an edge
    assert post(store, "telegram", "channel555/3").kind == "forward"
    assert post(store, "telegram", "channel555/4").reply_to == "channel555/2"


def _edited() -> list[dict]:
    """MESSAGES with message 5 edited again, later."""
    edited = [dict(m) for m in MESSAGES]
    edited[4] = _msg(5, "corrected text", edited="2024-05-07T11:00:00",
                     edited_unixtime="1715079600")
    return edited


def _corrected(store, rep) -> tuple:
    """Message 5 as corrected, its text before kept as a version; one post
    counted updated."""
    assert rep.counts["by_kind"]["posts"] == {"unchanged": 4, "updated": 1}
    p = post(store, "telegram", "channel555/5")
    assert p.text == "corrected text"
    with store.connect() as c:
        old = c.execute(select(S.post_versions).where(S.post_versions.c.post_id == p.id)).all()
    assert [o.text for o in old] == ["original text"]
    return p, old


def test_edit_keeps_the_old_version(store, tmp_path):
    d = channel_export(tmp_path, MESSAGES)
    ingest_path(store, d)
    again = ingest_path(store, d)
    assert again.counts["by_kind"]["posts"] == {"unchanged": 5}
    channel_export(tmp_path, _edited())
    rep = ingest_path(store, d)
    _corrected(store, rep)
    assert store.stats()["posts"] == 5
    # the older export read again does not revert the edit
    channel_export(tmp_path, MESSAGES)
    rep = ingest_path(store, d)
    assert rep.counts["updated"] == 0
    assert post(store, "telegram", "channel555/5").text == "corrected text"


def test_an_export_from_before_an_edit_read_later_keeps_the_old_text(store, tmp_path):
    """The export made after the edit is read first, the one from before it
    later: the text before the edit was dropped as older, and the history
    never held it. It is now a version, superseded at the edit's time."""
    ingest_path(store, channel_export(tmp_path / "after", _edited()))
    rep = ingest_path(store, channel_export(tmp_path / "before", MESSAGES))
    p, old = _corrected(store, rep)
    assert old[0].edited_at < p.edited_at  # (edited once before)
    assert old[0].valid_until.replace(tzinfo=None) == p.edited_at.replace(tzinfo=None)
    rep = ingest_path(store, tmp_path / "before" / "ChatExport_2024-05-10")  # again: no more
    assert rep.counts["updated"] == 0


def test_full_account_export(store, tmp_path):
    doc = {"about": "Here is the data you requested.",
           "personal_information": {"user_id": 1, "first_name": "Analyst",
                                    "phone_number": "+44 0000"},
           "contacts": {"about": "", "list": [{"first_name": "Never", "phone_number": "1"}]},
           "chats": {"about": "", "list": [
               {"name": "Group A", "type": "private_supergroup", "id": 111, "messages": [
                   {"id": 1, "type": "message", "date": "2024-01-01T00:00:00",
                    "from": "Bob", "from_id": "user42", "text": "hi all"},
                   {"id": 2, "type": "message", "date": "2024-01-01T00:01:00",
                    "from": "Eve", "from_id": "user43", "text": "hello Bob",
                    "reply_to_message_id": 1}]},
               {"name": "Channel B", "type": "public_channel", "id": 222, "messages": [
                   {"id": 1, "type": "message", "date": "2024-01-02T00:00:00",
                    "from": "Channel B", "from_id": "channel222", "text": "news"}]}]},
           "left_chats": {"about": "", "list": []}}
    f = tmp_path / "result.json"
    f.write_text(json.dumps(doc))
    assert detect_format(f) == "telegram"
    rep = ingest_path(store, f)
    assert rep.rejected == 0
    assert post(store, "telegram", "channel111/2").reply_to == "channel111/1"
    assert post(store, "telegram", "channel222/1").text == "news"
    bob = account(store, "telegram", "user42")
    assert bob.name == "Bob"
    with store.connect() as c:
        edges = c.execute(select(S.edges.c.kind, S.edges.c.src_account_id,
                                 S.edges.c.dst_account_id)).all()
        names = [r[0] for r in c.execute(select(S.accounts.c.name))]
    assert ("reply", account(store, "telegram", "user43").id, bob.id) in [tuple(e) for e in edges]
    assert "Analyst" not in names and "Never" not in names  # personal data not read


def test_bad_messages_are_rejected_and_the_rest_kept(store, tmp_path):
    msgs = MESSAGES + [
        {"id": 7, "type": "message", "date": "not a date", "text": "x", "from_id": "user1"},
        {"type": "message", "date": "2024-05-01T10:00:00", "text": "no id"},
        {"id": 9, "type": "message", "date": "2024-05-01T10:00:00", "text": 12345},
        {"id": 10, "type": "message", "date": "2024-05-01T10:00:00", "text": "escape",
         "photo": "../../../../etc/passwd"},
        _msg(11, "fine"),
    ]
    d = channel_export(tmp_path, msgs)
    rep = ingest_path(store, d)
    assert rep.rejected == 3
    reasons = " | ".join(r["reason"] for r in rep.rejects)
    assert "not a date/time" in reasons and "missing required field 'id'" in reasons
    assert "'text'" in reasons
    assert all(r["path"] and r["path"].startswith("channel555.messages[") for r in rep.rejects)
    assert post(store, "telegram", "channel555/11").text == "fine"
    assert store.stats()["posts"] == 7
    # a media path out of the export is never looked at, but the message is evidence:
    # it is kept, and its media record says the path was refused
    assert post(store, "telegram", "channel555/10").text == "escape"
    with store.connect() as c:
        m = c.execute(select(S.media).where(S.media.c.media_key == "channel555/10/photo")).one()
    assert m.local_path is None and m.extra["path_refused"] == "points outside the export folder"
    assert m.extra["relative_path"] == "../../../../etc/passwd"


def test_truncated_export_keeps_what_was_read(sqlite_store, tmp_path):
    d = channel_export(tmp_path, MESSAGES)
    data = (d / "result.json").read_bytes()
    cut = data.index(b'"id": 5,')
    (d / "result.json").write_bytes(data[:cut])
    rep = ingest_path(sqlite_store, d)
    assert rep.rejected == 1 and "ends unexpectedly" in rep.rejects[0]["reason"]
    assert sqlite_store.stats()["posts"] == 3


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
def test_a_compressed_export_cut_short_keeps_what_was_read(sqlite_store, tmp_path, kind):
    """Fuzzing (benchmarks/fuzz_parsers.py): a result.json.gz (.bz2, .xz) cut
    short raised the decompressor's EOFError out of the parser, a traceback and
    nothing kept. Now it reads as the same export cut short uncompressed: every
    whole message before the cut, and one reject."""
    import bz2
    import gzip
    import lzma

    msgs = [_msg(i, f"message number {i} " + "words " * (i % 7)) for i in range(1, 3001)]
    d = channel_export(tmp_path, msgs)
    data = (d / "result.json").read_bytes()
    comp = {"gz": gzip.compress, "bz2": lambda b: bz2.compress(b, 1),
            "xz": lzma.compress}[kind](data)
    cut = comp[: len(comp) * 2 // 3]
    dec = {"gz": lambda: __import__("zlib").decompressobj(31), "bz2": bz2.BZ2Decompressor,
           "xz": lzma.LZMADecompressor}[kind]()
    readable = dec.decompress(cut)  # what any reader can get out of the cut file
    assert 0 < len(readable) < len(data)
    (d / "result.json").unlink()
    (d / f"result.json.{kind}").write_bytes(cut)
    plain = tmp_path / "plain" / "ChatExport_2024-05-10"
    plain.mkdir(parents=True)
    (plain / "result.json").write_bytes(readable)
    rep = ingest_path(sqlite_store, d / f"result.json.{kind}")
    assert rep.rejected == 1 and "file ends unexpectedly" in rep.rejects[0]["reason"]
    got = sqlite_store.stats()["posts"]
    assert got > 100
    from rasd.ingest.base import RawSink, get_parser
    from rasd.model import Post
    want = sum(isinstance(r, Post) for r in get_parser("telegram").parse(plain, RawSink()))
    assert got == want


def test_a_message_that_is_no_object_is_a_reject_at_its_index(sqlite_store, tmp_path):
    """A string among the messages is one reject, at its own index; the
    messages around it are kept, and the paths after it stay the array's."""
    d = channel_export(tmp_path, [_msg(2, "before"), "oops", _msg(4, "after")])
    rep = ingest_path(sqlite_store, d)
    assert rep.rejected == 1 and "expected an object" in rep.rejects[0]["reason"]
    assert rep.rejects[0]["path"] == "channel555.messages[1]"
    assert post(sqlite_store, "telegram", "channel555/2").text == "before"
    after = post(sqlite_store, "telegram", "channel555/4")
    assert after.text == "after" and after.raw_path == "channel555.messages[2]"


def test_not_an_export(sqlite_store, tmp_path):
    f = tmp_path / "result.json"
    f.write_text('{"hello": "world"}')
    with pytest.raises(IngestError):
        ingest_path(sqlite_store, f)
    assert sqlite_store.stats()["posts"] == 0


def test_link_buttons_under_a_post_are_kept(sqlite_store, tmp_path):
    """Channels put join links and donation pages in buttons under a post."""
    buttons = [[{"type": "url", "text": "Donate", "data": "https://pay.example/x"},
                {"type": "callback", "text": "Vote", "data": "AQID"}],
               [{"type": "url", "text": "Join", "data": "https://t.me/joinchat/abc"}]]
    d = channel_export(tmp_path, [_msg(2, "support us", inline_bot_buttons=buttons),
                                  _msg(3, "bad buttons", inline_bot_buttons="nope")])
    rep = ingest_path(sqlite_store, d)
    assert rep.rejected == 1 and "inline_bot_buttons" in rep.rejects[0]["reason"]
    p = post(sqlite_store, "telegram", "channel555/2")
    assert p.extra["buttons"] == [{"text": "Donate", "url": "https://pay.example/x"},
                                  {"text": "Join", "url": "https://t.me/joinchat/abc"}]
    with sqlite_store.connect() as c:
        urls = sorted(r[0] for r in c.execute(select(S.urls.c.url).where(
            S.urls.c.post_id == p.id)))
    assert urls == ["https://pay.example/x", "https://t.me/joinchat/abc"]


def test_a_message_over_the_size_limit_is_dropped_not_built(sqlite_store, tmp_path,
                                                            monkeypatch):
    import rasd.ingest.telegram as tg

    monkeypatch.setattr(tg, "MAX_LINE", 100_000)
    huge = _msg(3, "huge", reactions=[{"type": "emoji", "count": 1, "emoji": "x" * 50}
                                      for _ in range(20_000)])
    d = channel_export(tmp_path, [_msg(2, "before"), huge, _msg(4, "after")])
    rep = ingest_path(sqlite_store, d)
    assert rep.rejected == 1 and "message over 100000 bytes" in rep.rejects[0]["reason"]
    assert rep.rejects[0]["path"] == "channel555.messages[1]"
    assert post(sqlite_store, "telegram", "channel555/4").text == "after"
    assert post(sqlite_store, "telegram", "channel555/3") is None


def test_one_endless_string_is_not_held_in_memory(sqlite_store, tmp_path, monkeypatch):
    """ijson hands over a string only whole: a message whose text is one endless
    string stops the file there (a reject), after the messages before it, instead
    of growing in memory; a text under the bound is read as ever."""
    import resource

    import rasd.ingest.telegram as tg

    monkeypatch.setattr(tg, "TOKEN_MAX", 1_000_000)
    d = channel_export(tmp_path, [_msg(2, "before"), _msg(3, "x" * 150_000),
                                  _msg(4, "PLACEHOLDER"), _msg(5, "after")])
    f = d / "result.json"
    data = f.read_bytes().replace(b"PLACEHOLDER", b"y" * 40_000_000)  # 40 MB, one token
    f.write_bytes(data)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rep = ingest_path(sqlite_store, d)
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert rep.rejected == 1 and "JSON value over 1000000 bytes" in rep.rejects[0]["reason"]
    assert rep.rejects[0]["path"] == "channel555.messages[2]"
    assert post(sqlite_store, "telegram", "channel555/2").text == "before"
    assert len(post(sqlite_store, "telegram", "channel555/3").text) == 150_000
    assert post(sqlite_store, "telegram", "channel555/5") is None  # not read: said so
    assert grew_mb < 30, grew_mb  # the 40 MB string was never built


def test_older_exports_with_numeric_sender_ids(sqlite_store, tmp_path):
    """Exports before 2020 wrote ``from_id`` as a bare number: the same people get
    the ids newer exports give them (user42), and the channel's own posts are its."""
    old = [{"id": 1, "type": "message", "date": "2019-05-01T10:00:00", "from": "Test Channel",
            "from_id": 555, "text": "by the channel"},
           {"id": 2, "type": "message", "date": "2019-05-01T10:01:00", "from": "Ann",
            "from_id": 42, "text": "by ann"}]
    ingest_path(sqlite_store, channel_export(tmp_path, old))
    with sqlite_store.connect() as c:
        rows = dict(c.execute(select(S.posts.c.platform_id, S.accounts.c.platform_id).join(
            S.accounts, S.accounts.c.id == S.posts.c.account_id)).all())
    assert rows == {"channel555/1": "channel555", "channel555/2": "user42"}


def test_media_follow_the_export_when_it_moves(store, tmp_path):
    """An export read again from where it is now — moved, or zipped — is
    unchanged, and its media's files are found there; a copy without its media
    folders changes nothing (only files that are there are named)."""
    import shutil
    import zipfile

    from rasd.ingest.archive import member_stream

    demo = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/telegram"

    def paths():
        with store.connect() as c:
            return sorted(r[0] for r in c.execute(select(S.media.c.local_path)) if r[0])

    a = tmp_path / "a" / "ChatExport"
    shutil.copytree(demo, a)
    ingest_path(store, a)
    first = paths()
    assert len(first) == 3 and all(p.startswith(str(a.resolve())) for p in first)
    b = tmp_path / "b" / "ChatExport"
    shutil.move(a, b)
    again = ingest_path(store, b)
    assert again.counts["new"] == 0 and again.counts["updated"] == 0
    assert paths() == sorted(p.replace(str(a.resolve()), str(b.resolve())) for p in first)
    bare = tmp_path / "c" / "ChatExport"
    bare.mkdir(parents=True)
    shutil.copy(b / "result.json", bare / "result.json")
    ingest_path(store, bare)
    assert all(p.startswith(str(b.resolve())) for p in paths())
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(b.rglob("*")):
            z.write(p, f"ChatExport/{p.relative_to(b)}")
    ingest_path(store, member_stream(archive, "ChatExport/result.json"))
    assert all(p.startswith(f"{archive.resolve()}!/ChatExport/photos/") for p in paths())


def _views_written(tmp_path, odd: str, text: str, views: str) -> Path:
    """A channel export of messages 2-5 ("before", ``odd``, ``text``, "after")
    whose message 3's views are written as ``views``, as it is (no JSON
    value, maybe)."""
    msgs = [_msg(2, "before"), _msg(3, odd, views=0), _msg(4, text), _msg(5, "after")]
    d = channel_export(tmp_path, msgs)
    f = d / "result.json"
    f.write_bytes(f.read_bytes().replace(b'"views": 0', b'"views": ' + views.encode()))
    return d


@pytest.mark.parametrize("number", ["9" * 5000, "-" + "9" * 4301, "1e400", "-2.5E+999",
                                    "9" * 400 + ".5"])
def test_a_number_python_cannot_read_rejects_its_message_only(store, tmp_path, number):
    """An integer of over 4,300 digits (Python will not convert it) or a number
    past a float's range is valid JSON; the parser stopped there and every
    later message was lost. Now its message is one reject, the rest is read,
    and text holding the same characters is left as it is."""
    text = f'see {number} and "{number}" \\ {number}'
    rep = ingest_path(store, _views_written(tmp_path, "big", text, number))
    assert rep.rejected == 1, rep.rejects
    assert "number too large to read" in rep.rejects[0]["reason"]
    assert rep.rejects[0]["path"] == "channel555.messages[1]"
    assert post(store, "telegram", "channel555/5").text == "after"
    assert post(store, "telegram", "channel555/4").text == text
    assert store.stats()["posts"] == 3


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_or_infinity_rejects_its_message_only(store, tmp_path, token):
    """An export rewritten by a Python script (``json.dump`` writes a float
    NaN or infinity as ``NaN``, ``Infinity``, ``-Infinity``: no JSON): the
    parser stopped there and every later message was lost in one reject.
    Now its message is one reject and the rest is read; text holding the
    same word is left as it is."""
    rep = ingest_path(store, _views_written(tmp_path, "odd", f"{token} and more", token))
    assert rep.rejected == 1, rep.rejects
    assert "NaN or Infinity" in rep.rejects[0]["reason"]
    assert rep.rejects[0]["path"] == "channel555.messages[1]"
    assert post(store, "telegram", "channel555/4").text == f"{token} and more"
    assert post(store, "telegram", "channel555/5").text == "after"
    assert store.stats()["posts"] == 3


@pytest.mark.parametrize("order", ["messages first", "sorted keys"])
def test_a_chat_whose_id_or_type_follows_its_messages_is_not_guessed(sqlite_store, tmp_path,
                                                                     order):
    """Exploratory testing: with its messages before the chat's id, a channel's
    posts were stored as chat?/1 (and a second such channel's post 1 became an
    edit of the first's); with sorted keys (type after messages) channel123 was
    chat123. Such messages are now rejected, saying why, not keyed by a guess."""
    d = tmp_path / "exp"
    d.mkdir()
    msgs = [_msg(1, "hi"), _msg(2, "there")]
    if order == "messages first":
        doc = ('{"messages": ' + json.dumps(msgs)
               + ', "name": "C", "type": "public_channel", "id": 123}')
    else:
        doc = json.dumps({"name": "C", "type": "public_channel", "id": 123, "messages": msgs},
                         sort_keys=True)
    (d / "result.json").write_text(doc)
    rep = ingest_path(sqlite_store, d)
    assert rep.rejected == 2 and "comes after its messages" in rep.rejects[0]["reason"]
    assert sqlite_store.stats()["posts"] == 0


@pytest.mark.parametrize("cid", ["null", "true", "{}", "[555]", '"5\\u00005"'])
def test_a_chat_whose_id_is_no_id_has_its_messages_rejected_not_stored_as_chat_q(
        store, tmp_path, cid):
    """A chat's id of null, true, an object or a list stored its messages under
    the chat "chat?" (chat?/2: every such chat's message 2 the same post); they
    are rejects now, as for an id with a NUL byte, named by the chat's place."""
    d = channel_export(tmp_path, [_msg(2, "a"), _msg(3, "b")])
    f = d / "result.json"
    data = f.read_bytes()
    assert b'"id": 555,' in data
    f.write_bytes(data.replace(b'"id": 555,', f'"id": {cid},'.encode(), 1))
    rep = ingest_path(store, d)
    assert [r["path"] for r in rep.rejects] == ["messages[0]", "messages[1]"]
    assert all("field 'id' of the chat: not a valid id" in r["reason"] for r in rep.rejects)
    assert store.stats()["posts"] == 0


def test_messages_or_chats_of_the_wrong_kind_are_rejects_not_silence(sqlite_store, tmp_path):
    """Exploratory testing: "messages" that is no array, or a chat of a full
    export's list that is no object, was passed over without a word."""
    d = tmp_path / "one"
    d.mkdir()
    (d / "result.json").write_text(json.dumps(
        {"name": "C", "type": "public_channel", "id": 5, "messages": {"a": 1}}))
    rep = ingest_path(sqlite_store, d)
    assert rep.rejected == 1 and "'messages' of the chat: expected an array" in \
        rep.rejects[0]["reason"]
    full = tmp_path / "full"
    full.mkdir()
    (full / "result.json").write_text(json.dumps({"chats": {"list": [
        "oops", {"name": "C", "type": "public_channel", "id": 6, "messages": [_msg(1, "ok")]}]}}))
    rep = ingest_path(sqlite_store, full)
    assert rep.rejected == 1 and "expected an object" in rep.rejects[0]["reason"]
    assert rep.rejects[0]["path"] == "chats.list[0]"
    assert post(sqlite_store, "telegram", "channel6/1").text == "ok"


def test_a_chats_own_rejects_are_given_once_when_the_file_is_read_again(store, tmp_path):
    """A damaged message sends the file to the careful pass, which reads it
    again from its start: the rejects of the chats' own fields before the
    damage (messages that are no list, a chat that is no object, a name too
    long) were given twice, once by each pass. Once now."""
    doc = {"name": "C", "type": "public_channel", "id": 1, "messages": [_msg(2, "a")]}
    chats = [dict(doc, messages={}), "oops", dict(doc, id=2, name="LONG"),
             dict(doc, id=3, messages=[_msg(2, "a"), _msg(3, "DAMAGE"), _msg(4, "c")])]
    d = tmp_path / "ChatExport_2024-05-10"
    d.mkdir()
    (d / "result.json").write_bytes(json.dumps({"chats": {"list": chats}}, indent=1).encode()
                                    .replace(b'"LONG"', b'"' + b"n" * 100_000 + b'"')
                                    .replace(b'"DAMAGE"', b'"x",'))  # a double comma
    rep = ingest_path(store, d)
    assert [r["path"] for r in rep.rejects] == [
        "channel1.messages", "chats.list[1]", "chats.list[2].name", "channel3.messages[1]"]
    assert rep.rejects[3]["reason"].startswith("damaged JSON: ")  # read on past it (resync)
    assert store.stats()["posts"] == 3  # channel2/2, channel3/2, channel3/4


@pytest.mark.parametrize("order", ["newer first", "older first"])
@pytest.mark.parametrize("batch", [1, 2000])
def test_a_renamed_channel_keeps_its_newer_name_whichever_export_is_read_last(
        store, tmp_path, order, batch):
    """A Desktop export records no time of its own: the channel's name was the
    one of the export read last, so an export from before a rename, read after
    a newer one, made the old name current again. A chat's account is now
    given at the chat's end, collected no earlier than its latest message: the
    newer name stays current and the older one is kept as a version, in both
    orders, counted once per export."""
    old_msgs = MESSAGES[1:3]
    new_msgs = MESSAGES[1:] + [_msg(9, "after the rename", date="2024-06-01T10:00:00",
                                    date_unixtime="1717236000")]
    old = channel_export(tmp_path / "jan", old_msgs, name="Old Name")
    new = channel_export(tmp_path / "jun", new_msgs, name="New Name")
    reps = [ingest_path(store, d, batch_size=batch)
            for d in ([new, old] if order == "newer first" else [old, new])]
    acc = account(store, "telegram", "channel555")
    assert acc.name == "New Name" and not acc.stub
    assert acc.observed_at.replace(tzinfo=None).isoformat() == "2024-06-01T10:00:00"
    from rasd.accounts import account_history
    assert [h["name"] for h in account_history(store, acc.id)] == ["Old Name", "New Name"]
    for rep in reps:  # the channel counted once an export, as a profile
        by = rep.counts["by_kind"]["accounts"]
        assert sum(by.values()) == 1, by
    again = ingest_path(store, old, batch_size=batch)
    assert again.counts["new"] == again.counts["updated"] == 0
    assert account(store, "telegram", "channel555").name == "New Name"


def test_a_cut_export_still_gives_its_chat(store, tmp_path):
    """A file that breaks off inside the messages: the chat's account comes
    from what was read, at the time of its last complete message."""
    d = channel_export(tmp_path, MESSAGES, name="Cut Channel")
    f = d / "result.json"
    data = f.read_bytes()
    f.write_bytes(data[:data.rindex(b'"id": 5')])  # inside the last message
    rep = ingest_path(store, d)
    assert rep.rejected == 1
    acc = account(store, "telegram", "channel555")
    assert acc.name == "Cut Channel" and not acc.stub
    assert acc.observed_at is not None


@pytest.mark.parametrize("order", ["in order", "newer first"])
def test_the_export_folders_day_dates_an_export(store, tmp_path, order):
    """Found by exploratory testing: an export made after a rename, whose
    latest message was deleted since (or a date-range export), looked older
    than the export before it: the old name stayed current. Desktop names the
    folder after the day it exported (ChatExport_YYYY-MM-DD): a chat and its
    messages are collected no earlier than that day. Messages read from an
    older export after a newer one no longer revert their views either."""
    from tests.helpers import account

    old = channel_export(tmp_path / "a", MESSAGES[1:4], name="Chan Old")
    new = tmp_path / "b" / "ChatExport_2024-06-01"
    new.parent.mkdir()
    renamed = channel_export(tmp_path / "tmp", MESSAGES[1:3] + [
        dict(MESSAGES[3], views=900)], name="Chan Renamed")
    renamed.rename(new)
    for d in ([old, new] if order == "in order" else [new, old]):
        ingest_path(store, d)
    acc = account(store, "telegram", "channel555")
    assert acc.name == "Chan Renamed"
    assert acc.observed_at.replace(tzinfo=None).isoformat() == "2024-06-01T00:00:00"
    from rasd.accounts import account_history
    assert [h["name"] for h in account_history(store, acc.id)] == ["Chan Old", "Chan Renamed"]
    assert post(store, "telegram", f"channel555/{MESSAGES[3]['id']}").metrics["views"] == 900


def test_a_long_number_rejects_its_message_and_costs_no_squared_time(store, tmp_path):
    """A number over NUMBER_CARRY_MAX (64 KiB) in a message: yajl accepted a
    long float, in time squared over its length (80 s for 30 MiB); it never
    gets one now, and the message is rejected, the rest read."""
    msgs = [_msg(2, "before"), _msg(3, "long", views=0), _msg(4, "after")]
    d = channel_export(tmp_path, msgs)
    f = d / "result.json"
    f.write_bytes(f.read_bytes().replace(b'"views": 0', b'"views": 0.' + b"7" * 2**21))
    rep = ingest_path(store, d)
    assert [r["path"] for r in rep.rejects] == ["channel555.messages[1]"]
    assert "a number too large to read" in rep.rejects[0]["reason"]
    assert post(store, "telegram", "channel555/4").text == "after"
    assert post(store, "telegram", "channel555/3") is None


@pytest.mark.parametrize("where", ["text", "key", "entity", "cut"])
@pytest.mark.parametrize("gz", [False, True])
def test_invalid_utf8_in_a_message_rejects_it_alone(store, tmp_path, where, gz):
    """Fuzzing (benchmarks/fuzz_parsers.py): bytes that are no UTF-8 text
    (``\\xed\\xa0\\x80``, an encoded surrogate) in one message's text stopped
    the careful pass there: every later message was lost. Now that message is
    one reject, with its path and why, and every other one is stored; in a
    key, an entity's text, or a sequence cut by the string's end alike."""
    msgs = [_msg(2, "before"), _msg(3, ["x ", {"type": "hashtag", "text": "#BAD"}], KEYBAD=1),
            _msg(4, "BADTEXT"), _msg(5, "after")]
    d = channel_export(tmp_path, msgs)
    f = d / "result.json"
    bad = {"text": (b'"BADTEXT"', b'"bad \xed\xa0\x80 text"'),
           "key": (b'"KEYBAD"', b'"K\xffEY"'),
           "entity": (b'"#BAD"', b'"#\xed\xa0\x80"'),
           "cut": (b'"BADTEXT"', b'"ab\xe2\x82"')}[where]
    data = f.read_bytes()
    assert bad[0] in data  # (text is written twice: in text_entities too)
    data = data.replace(*bad)
    if gz:
        import gzip

        f.unlink()
        f = d / "result.json.gz"
        f.write_bytes(gzip.compress(data))
    else:
        f.write_bytes(data)
    rep = ingest_path(store, f)
    at = 2 if where in ("text", "cut") else 1
    assert [(r["path"], r["reason"]) for r in rep.rejects] == [
        (f"channel555.messages[{at}]",
         "message: invalid UTF-8 in a string (bytes that are no UTF-8 text)")]
    assert store.stats()["posts"] == 3
    assert post(store, "telegram", "channel555/5").text == "after"
    assert post(store, "telegram", f"channel555/{at + 2}") is None
    assert account(store, "telegram", "channel555").name == "Test Channel"


def test_invalid_utf8_outside_a_string_rejects_its_message_saying_so(store, tmp_path):
    """Bytes that are no UTF-8 text outside any string are broken JSON: the
    message holding them is one reject saying where and why (the careful
    pass's own error; the reason Telegram's parser kept for a
    UnicodeDecodeError there was never given: jsonlex raises none), and the
    file is read on after it (``resync``: they ended the file)."""
    d = channel_export(tmp_path, [_msg(2, "a"), _msg(3, "MARK"), _msg(4, "c")])
    f = d / "result.json"
    data = f.read_bytes()
    at = data.index(b"\n", data.index(b'"MARK"')) + 1  # the line after message 3's text
    f.write_bytes(data[:at] + b"\xff" + data[at:])
    rep = ingest_path(store, d)
    assert [r["path"] for r in rep.rejects] == ["channel555.messages[1]"]
    assert re.fullmatch(r"damaged JSON: invalid UTF-8 outside a string at character \d+; "
                        r"the file was read on from byte [\d,]+", rep.rejects[0]["reason"]), \
        rep.rejects
    assert store.stats()["posts"] == 2  # message 3 holds the damage: not read whole
    assert post(store, "telegram", "channel555/4").text == "c"
    assert post(store, "telegram", "channel555/2").text == "a"


def test_invalid_utf8_in_the_chats_name_keeps_its_account_and_messages(store, tmp_path):
    """A chat name of bytes that are no UTF-8 text is one reject; the chat's
    account is still given (unnamed) and its messages stored (the account's
    raw record refused the name, and the parse stopped there)."""
    d = channel_export(tmp_path, [_msg(2, "a"), _msg(3, "b")], name="NAME")
    f = d / "result.json"
    f.write_bytes(f.read_bytes().replace(b'"NAME"', b'"N\xc3"'))
    rep = ingest_path(store, d)
    assert [(r["path"], r["reason"]) for r in rep.rejects] == [
        ("name",  # (it was chat?.name: the chat's id comes after its name)
         "field 'name' of the chat: invalid UTF-8 in a string (bytes that are no UTF-8 text)")]
    assert store.stats()["posts"] == 2
    acc = account(store, "telegram", "channel555")
    assert acc is not None and acc.name is None


@pytest.mark.parametrize("where", ["chats", "left_chats"])
def test_invalid_utf8_in_a_listed_chats_name_names_that_chat(store, tmp_path, where):
    """In a full account export, a chat name of bytes that are no UTF-8 text
    comes before the chat's id: its reject named the chat before it
    (channel554.name), or chat?.name for the first. It names the chat by its
    place in the list now; that chat's messages and account (unnamed) are
    stored, and so are the chats around it."""
    d = channel_export(tmp_path, [_msg(2, "a"), _msg(3, "b")])
    f = d / "result.json"
    doc = json.loads(f.read_text("utf-8"))
    chats = [dict(doc, id=554), dict(doc, id=555, name="BADNAME"), dict(doc, id=556)]
    full = {"about": "x", "chats": {"list": []}, "left_chats": {"list": []}}
    full[where]["list"] = chats
    f.write_bytes(json.dumps(full, indent=1).encode().replace(b'"BADNAME"', b'"B\xffD"'))
    rep = ingest_path(store, d)
    assert [(r["path"], r["reason"]) for r in rep.rejects] == [
        (f"{where}.list[1].name",
         "field 'name' of the chat: invalid UTF-8 in a string (bytes that are no UTF-8 text)")]
    assert store.stats()["posts"] == 6
    assert post(store, "telegram", "channel555/3").text == "b"
    assert account(store, "telegram", "channel555").name is None
    assert account(store, "telegram", "channel556").name == "Test Channel"


def _export_with_a_long(tmp_path, where: str):
    """A Telegram export (folder, result.json, its bytes) whose one-chat name,
    a listed chat's name, or the export's "about" is the string "LONG", for a
    test to put a long string in its place."""
    d = channel_export(tmp_path, [_msg(2, "a"), _msg(3, "b")])
    f = d / "result.json"
    doc = json.loads(f.read_text("utf-8"))
    if where == "name":
        return d, f, json.dumps(dict(doc, name="LONG"), indent=1).encode()
    chats = [dict(doc, id=554), dict(doc, name="LONG" if "name" in where else "C"),
             dict(doc, id=556)]
    return d, f, json.dumps({"about": "LONG" if where == "about" else "x",
                             "chats": {"list": chats}}, indent=1).encode()


def _ingest_traced(store, d):
    """The ingest report of ``d`` and the peak of memory traced meanwhile."""
    import tracemalloc

    tracemalloc.start()
    try:
        rep = ingest_path(store, d, jobs=1)
        return rep, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("where,length", [
    ("name", 65_536), ("name", 65_537), ("name", 40_000_000),
    ("chats.list[1].name", 40_000_000), ("about", 40_000_000)])
def test_a_long_string_outside_the_messages_is_not_built(store, tmp_path, where, length):
    """A string outside the messages (a chat's name; "about" and the like of a
    full export, never read) was read whole, up to 64 MiB: a chat name of 40 MB
    peaked at 545 MiB (tracemalloc) and, like any over 200,000 characters,
    stopped the ingest with a ValueError, nothing of the chat's account kept;
    an "about" of 40 MB peaked at 42 MiB. A name over CHAT_FIELD_MAX
    characters is now a reject naming the chat, its messages and account
    (unnamed) kept; a string far past it is passed over, never built (peak
    2.8 MiB); one at the limit is read as ever."""

    from rasd.ingest.telegram import CHAT_FIELD_MAX

    assert CHAT_FIELD_MAX == 65_536
    d, f, data = _export_with_a_long(tmp_path, where)
    f.write_bytes(data.replace(b'"LONG"', b'"' + b"n" * length + b'"'))
    rep, peak = _ingest_traced(store, d)
    refused = "name" in where and length > CHAT_FIELD_MAX
    assert [(r["path"], r["reason"]) for r in rep.rejects] == ([(
        where, "field 'name' of the chat: over 65,536 characters; not read")]
        if refused else [])
    assert store.stats()["posts"] == (2 if where == "name" else 6)
    name = account(store, "telegram", "channel555").name
    assert name == (None if refused else "n" * length if where == "name" else "C")
    if length > 1_000_000:
        assert peak < 16 * 2**20, peak / 2**20  # (the string alone: 40 MB)


def test_invalid_utf8_in_the_chats_type_rejects_its_messages_not_the_file(store, tmp_path):
    """Fuzzing: a chat type of bytes that are no UTF-8 text (``public\xf4\x90\x80\x80
    _channel``) raised out of the parser when the chat's account was made. The
    type is one reject and, the chat's id unknown without it, each message is
    a reject, not stored under a guessed chat; a later chat is read."""
    d = channel_export(tmp_path, [_msg(2, "a"), _msg(3, "b")])
    f = d / "result.json"
    doc = json.loads(f.read_text("utf-8"))
    full = {"about": "x", "chats": {"list": [doc, dict(doc, id=556, type="TYPE2")]}}
    data = json.dumps(full, indent=1).encode()
    data = data.replace(b'"public_channel"', b'"public\xf4\x90\x80\x80_channel"', 1)
    f.write_bytes(data.replace(b'"TYPE2"', b'"public_channel"'))
    rep = ingest_path(store, d)
    reasons = [r["reason"][:40] for r in rep.rejects]
    assert reasons == ["field 'type' of the chat: invalid UTF-8 "] + [
        "the chat's type is refused (invalid UTF-"] * 2, rep.rejects
    # named by their place: the chat's id without its type is no chat's (it was chat555)
    assert [r["path"] for r in rep.rejects] == [
        "chats.list[0].type", "chats.list[0].messages[0]", "chats.list[0].messages[1]"]
    assert store.stats()["posts"] == 2
    assert post(store, "telegram", "channel556/3").text == "b"
    assert post(store, "telegram", "channel555/3") is None  # (nor under chat555)
    assert account(store, "telegram", "channel556") is not None


@pytest.mark.parametrize("key", ["type", "id"])
@pytest.mark.parametrize("bad", ["utf8", "long"])
def test_a_chats_refused_type_or_id_is_the_reason_its_messages_are_rejected(
        store, tmp_path, key, bad):
    """Review: a chat's type or id refused (invalid UTF-8, over CHAT_FIELD_MAX
    characters) rejected each of its messages saying the chat's id or type
    "comes after its messages … or is missing", which it did not. The reason
    is now that the chat's type (id) was refused, and why; the messages are
    still not stored under a guessed chat, and the chats around it are read."""
    d = channel_export(tmp_path, [_msg(2, "a"), _msg(3, "b")])
    f = d / "result.json"
    doc = json.loads(f.read_text("utf-8"))
    chats = [dict(doc, id=554), dict(doc, **{key: "BAD"}), dict(doc, id=556)]
    data = json.dumps({"about": "x", "chats": {"list": chats}}, indent=1).encode()
    assert data.count(b'"BAD"') == 1
    f.write_bytes(data.replace(b'"BAD"', b'"5\xff5"' if bad == "utf8"
                               else b'"' + b"5" * 70_000 + b'"'))
    rep = ingest_path(store, d)
    why = ("invalid UTF-8 in a string (bytes that are no UTF-8 text)" if bad == "utf8"
           else "over 65,536 characters; not read")
    assert [(r["path"], r["reason"]) for r in rep.rejects] == [
        (f"chats.list[1].{key}", f"field {key!r} of the chat: {why}")] + [
        (f"chats.list[1].messages[{i}]",
         (f"the chat's {key} is refused ({why}); its messages are not stored under a "
          "guessed chat")) for i in (0, 1)]
    assert store.stats()["posts"] == 4
    assert post(store, "telegram", "channel554/3").text == "b"
    assert post(store, "telegram", "channel556/3").text == "b"


def test_a_chats_type_read_again_after_a_refused_one_is_not_the_reason(sqlite_store,
                                                                        tmp_path):
    """A refused type followed by another "type" (a duplicate key, the last
    read as ever) is not what rejects the messages when the id comes after
    them: the id's place is."""
    d = tmp_path / "exp"
    d.mkdir()
    msgs = json.dumps([_msg(2, "a")])
    (d / "result.json").write_bytes(
        b'{"name": "C", "type": "x\xffy", "type": "public_channel", "messages": '
        + msgs.encode() + b', "id": 555}')
    rep = ingest_path(sqlite_store, d)
    assert [(r["path"], r["reason"][:40]) for r in rep.rejects] == [
        ("type", "field 'type' of the chat: invalid UTF-8 "),
        ("messages[0]", "the chat's id or type comes after its me")]
    assert sqlite_store.stats()["posts"] == 0


@pytest.mark.parametrize("where", ["name", "chats.list[1].name", "about"])
def test_a_value_outside_the_messages_over_64_mib_names_its_field(store, tmp_path, where):
    """Review: a string outside the messages over TOKEN_MAX (64 MiB) ends the
    file (one endless token), but its reject named the message that would
    come next (``chats.list[1].messages[0]``, ``messages[0]``) rather than the
    string's field. It names the field now; the rest is as before: the
    messages before it are kept, the rest of the file is not read, and the
    string is passed over, never built."""

    from rasd.ingest.jsonitems import TOKEN_MAX

    d, f, data = _export_with_a_long(tmp_path, where)
    with open(f, "wb") as out:
        head, tail = data.split(b'"LONG"')
        out.write(head + b'"')
        block = b"n" * 2**20
        for _ in range(TOKEN_MAX // len(block) + 2):
            out.write(block)
        out.write(b'"' + tail)
    rep, peak = _ingest_traced(store, d)
    assert [(r["path"], r["reason"]) for r in rep.rejects] == [
        (where, f"a JSON value over {TOKEN_MAX} bytes; the rest of the file is not read")]
    assert store.stats()["posts"] == (2 if where == "chats.list[1].name" else 0)
    if where == "chats.list[1].name":
        assert post(store, "telegram", "channel554/3").text == "b"
    assert peak < 16 * 2**20, peak / 2**20


def _typed_export(tmp_path: Path, types: list, form: str) -> Path:
    """An export of one chat per type in ``types`` (a JSON value each), ids 554,
    555, …, two messages each: a chat's ``result.json`` (one type) or a full
    account export (``chats.list``, or ``left_chats.list``)."""
    d = tmp_path / "ChatExport_2024-05-10"
    d.mkdir()
    chats = [{"name": f"C{i}", "type": t, "id": 554 + i, "messages": [_msg(2, "a"),
                                                                      _msg(3, "b")]}
             for i, t in enumerate(types)]
    if form == "one chat":
        (doc,) = chats
    else:
        doc = {"about": "x", "chats": {"about": "", "list": []},
               "left_chats": {"about": "", "list": []}}
        doc[form.split(".")[0]]["list"] = chats
    (d / "result.json").write_text(json.dumps(doc, indent=1))
    return d


FORMS = ["one chat", "chats.list", "left_chats.list"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("bad", [7, 7.5, True, {"type": "public_channel"}, ["public_channel"]])
def test_a_chat_type_that_is_no_string_rejects_its_messages_as_a_refused_type(
        store, tmp_path, form, bad):
    """A chat's type of a number, true, an object or an array (Desktop writes a
    string, or null) keyed the chat ``chat<id>``, its messages stored there: a
    broken or crafted file's chat under a guessed id. Refused now as a type of
    invalid UTF-8 is: one reject naming the field, then each message a reject
    saying why, by the chat's place; the chats around it are read."""
    types = [bad] if form == "one chat" else ["public_channel", bad, "public_channel"]
    rep = ingest_path(store, _typed_export(tmp_path, types, form))
    at = "" if form == "one chat" else f"{form}[1]."
    kind = {int: "a number", float: "a number", bool: "true or false", dict: "an object",
            list: "an array"}[type(bad)]
    why = f"expected a string such as 'public_channel', not {kind}"
    each = f"the chat's type is refused ({why}); its messages are not stored under a guessed chat"
    assert [(r["path"], r["reason"]) for r in rep.rejects] == [
        (f"{at}type", f"field 'type' of the chat: {why}")] + [
        (f"{at}messages[{i}]", each) for i in (0, 1)]
    assert rep.warnings == []
    assert post(store, "telegram", "chat555/2") is None
    assert account(store, "telegram", "chat555") is None
    if form != "one chat":
        assert store.stats()["posts"] == 4
        assert post(store, "telegram", "channel556/3").text == "b"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_chat_type_desktop_does_not_write_is_read_and_said_once(store, tmp_path, form, jobs):
    """A string type Desktop does not write (a newer export's?) and null (what
    Desktop writes for a type it does not know) were read under the ``chat``
    prefix without a word. They still are — their messages are no worse for
    it — and the run says so once, in its warnings (not a reject a message):
    which types, how many chats of each."""
    types = (["forum_topic"] if form == "one chat" else
             ["forum_topic", "public_channel", None, "forum_topic", "replies"])
    rep = ingest_path(store, _typed_export(tmp_path, types, form), jobs=jobs)
    assert rep.rejects == []
    named = "'forum_topic' (1)" if form == "one chat" else "'forum_topic' (2), null (1)"
    (note,) = rep.warnings
    assert note.startswith(f"{1 if form == 'one chat' else 3} chat(s) of a type Telegram "
                           f"Desktop does not write (null: its own unknown type): {named}; "
                           "read (a newer export?) and keyed chat<id>")
    assert rep.as_dict()["warnings"] == [note]
    assert post(store, "telegram", "chat554/3").text == "b"
    acc = account(store, "telegram", "chat554")
    assert acc is not None and acc.kind == "forum_topic"
    if form != "one chat":
        assert post(store, "telegram", "channel555/3").text == "b"
        assert post(store, "telegram", "chat556/3").text == "b"  # null
        assert post(store, "telegram", "chat558/3").text == "b"  # replies: known, no note


def test_known_chat_types_say_nothing(store, tmp_path):
    """Every type Telegram Desktop writes (export_output_json.cpp) is known:
    no warning for a whole account's export."""
    from rasd.ingest.telegram import CHAT_PREFIX

    rep = ingest_path(store, _typed_export(tmp_path, list(CHAT_PREFIX), "chats.list"))
    assert rep.rejects == [] and rep.warnings == []
    assert store.stats()["posts"] == 2 * len(CHAT_PREFIX)


def test_unknown_chat_types_are_counted_once_when_the_file_is_read_again(store, tmp_path):
    """A damaged message sends the file to the careful pass, which reads it
    from its start again: the chats of an unknown type that the first pass
    met (it reads 64 KiB ahead: a long text puts the damage past that) are
    counted once, not once a pass; the distinct types named are bounded."""
    from rasd.ingest.telegram import UNKNOWN_TYPES_KEPT

    types = [f"t{i}" for i in range(UNKNOWN_TYPES_KEPT + 3)] + ["t0"]
    d = _typed_export(tmp_path, types, "chats.list")
    f = d / "result.json"
    doc = json.loads(f.read_text())
    chats = doc["chats"]["list"]
    chats[0]["messages"][0]["text"] = "a" * 200_000
    chats[-1]["messages"][1]["text"] = "DAMAGE"
    f.write_bytes(json.dumps(doc, indent=1).encode().replace(b'"DAMAGE"', b'"x",'))
    rep = ingest_path(store, d)
    assert rep.rejects[-1]["reason"].startswith("file ends unexpectedly or is malformed")
    (note,) = rep.warnings
    assert note.startswith(f"{len(types)} chat(s) of a type"), note
    assert "'t0' (2), 't1' (1)" in note and f"'t{UNKNOWN_TYPES_KEPT - 1}' (1), 3 of other " \
        "types; read" in note
    assert store.stats()["posts"] == 2 * len(types) - 1


def test_the_cli_says_an_unknown_chat_type_once_and_strict_is_not_failed(tmp_path):
    """``rasd ingest`` prints the note once for the file, as a warning (with
    --json too, where it is the report's "warnings"); no record was rejected,
    so --strict exits 0."""
    from typer.testing import CliRunner

    from rasd.cli import app

    d = _typed_export(tmp_path, ["forum_topic", "forum_topic"], "chats.list")
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "c.db"), "ingest", str(d), "--strict",
                                 "--json"])
    assert r.exit_code == 0, r.output
    assert r.stderr.count("2 chat(s) of a type Telegram Desktop does not write") == 1
    (rep,) = json.loads(r.stdout)
    assert len(rep["warnings"]) == 1 and "'forum_topic' (2)" in rep["warnings"][0]
    # and the run's record keeps it: `rasd runs` says there was one, --json what
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "c.db"), "runs"])
    assert r.exit_code == 0 and "rejected 0, 1 warning  " in r.stdout, r.stdout
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "c.db"), "runs", "--json"])
    (run,) = json.loads(r.stdout)
    assert run["counts"]["warnings"] == rep["warnings"]


def test_a_run_record_keeps_its_warnings_bounded(store, tmp_path, monkeypatch):
    """The warnings a run keeps quote input (chat types are anyone's): at most
    RUN_WARNINGS_KEPT of them, each cut at RUN_WARNING_CHARS characters (the
    Telegram note cuts the types it names itself: the bound lowered here)."""
    from rasd.ingest import runner
    from rasd.ingest.runner import ingest_runs

    monkeypatch.setattr(runner, "RUN_WARNING_CHARS", 100)
    rep = ingest_path(store, _typed_export(tmp_path, ["t" * 500], "chats.list"))
    (note,) = rep.warnings
    assert len(note) > 100
    (kept,) = ingest_runs(store, limit=1)[0]["counts"]["warnings"]
    assert len(kept) == 100 and kept == note[:99] + "…"


@pytest.mark.parametrize("ch", [b"\t", b"\x00", b"\n", b"\x1f"])
def test_a_raw_control_character_in_a_message_rejects_that_message_only(store, tmp_path, ch):
    """A control character unescaped in a string (a raw TAB or NUL byte: a
    writer or an edit that escaped quotes and backslashes only) is no JSON:
    the C parser and then the careful one stopped there, and every message of
    the chat after it was lost in one reject. Its string still ends at its
    closing quote, so the careful pass rejects just that message, with its
    path, and reads on. Text in it that looks like the next message (a fake
    item boundary, ``}, {"id": 99 …``) is no message: nothing is taken from
    inside a string."""
    fake = _msg(99, "FAKE")
    msgs = [_msg(2, "before"), _msg(3, "BADTEXT"), _msg(4, "after"), _msg(5, "last",
                                                                       KEYBAD="k")]
    d = channel_export(tmp_path, msgs)
    f = d / "result.json"
    data = f.read_bytes()
    inner = json.dumps(fake).encode()
    bad = b'"bad' + ch + b' text }, ' + inner.replace(b'"', b'\\"') + b'"'
    assert b'"BADTEXT"' in data and b'"KEYBAD"' in data
    f.write_bytes(data.replace(b'"BADTEXT"', bad, 1).replace(b'"KEYBAD"', b'"K' + ch + b'"'))
    rep = ingest_path(store, f)
    why = ("message: a control character unescaped in a string (a raw TAB, NUL or line "
           "break, which JSON allows only escaped)")
    assert [(r["path"], r["reason"]) for r in rep.rejects] == [
        ("channel555.messages[1]", why), ("channel555.messages[3]", why)]
    assert store.stats()["posts"] == 2
    assert post(store, "telegram", "channel555/2").text == "before"
    assert post(store, "telegram", "channel555/4").text == "after"
    assert post(store, "telegram", "channel555/3") is None
    assert post(store, "telegram", "channel555/99") is None


def test_a_raw_control_character_in_the_chats_name_keeps_its_account_and_messages(
        store, tmp_path):
    """A chat name holding a raw TAB (no JSON) is one reject, as a name of
    bytes that are no UTF-8 text is: the account is given unnamed and the
    messages are stored (the parse stopped there: every message was lost)."""
    d = channel_export(tmp_path, [_msg(2, "a"), _msg(3, "b")], name="NAME")
    f = d / "result.json"
    f.write_bytes(f.read_bytes().replace(b'"NAME"', b'"N\tAME"'))
    rep = ingest_path(store, d)
    assert [(r["path"], r["reason"]) for r in rep.rejects] == [
        ("name", ("field 'name' of the chat: a control character unescaped in a string (a "
                  "raw TAB, NUL or line break, which JSON allows only escaped)"))]
    assert store.stats()["posts"] == 2
    acc = account(store, "telegram", "channel555")
    assert acc is not None and acc.name is None
