"""Telethon message objects (Message.to_dict() saved as JSON): fixtures written here
in the shape Telethon gives, serialised the two ways scrapers do it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.helpers import account, post

from rasd.ingest import detect_format, ingest_path
from rasd.ingest.base import RawSink, get_parser
from rasd.model import Post
from rasd.store import schema as S

CHAN = {"_": "PeerChannel", "channel_id": 555}


def messages() -> list[dict]:
    text = "Join 🔥 #Banner now @other_chan https://t.me/x"
    return [
        {"_": "Message", "id": 45, "peer_id": CHAN, "out": False, "from_id": None,
         "date": datetime(2024, 5, 1, 10, 0, tzinfo=UTC), "message": text,
         "entities": [
             {"_": "MessageEntityHashtag", "offset": 8, "length": 7},  # after a 2-unit emoji
             {"_": "MessageEntityMention", "offset": 20, "length": 11},
             {"_": "MessageEntityUrl", "offset": 32, "length": 14},
             {"_": "MessageEntityTextUrl", "offset": 0, "length": 4,
              "url": "https://example.org/join"},
             {"_": "MessageEntityMentionName", "offset": 0, "length": 4, "user_id": 99}],
         "views": 1337, "forwards": 3, "edit_date": None, "post_author": "Admin",
         "media": {"_": "MessageMediaPhoto", "photo": {
             "_": "Photo", "id": 5555555555555555555, "file_reference": b"\x02\x9a",
             "date": datetime(2024, 5, 1, 9, 59, tzinfo=UTC)}},
         "reactions": {"_": "MessageReactions", "results": [
             {"_": "ReactionCount", "reaction": {"_": "ReactionEmoji", "emoticon": "👍"},
              "count": 7}]}},
        {"_": "Message", "id": 46, "peer_id": CHAN, "date": 1714557700, "message": "fwd",
         "fwd_from": {"_": "MessageFwdHeader", "date": datetime(2024, 4, 30, tzinfo=UTC),
                      "from_id": {"_": "PeerChannel", "channel_id": 777},
                      "channel_post": 12}},
        {"_": "Message", "id": 47, "peer_id": CHAN, "date": "2024-05-01T10:05:00+00:00",
         "message": "reply", "reply_to": {"_": "MessageReplyHeader", "reply_to_msg_id": 45},
         "from_id": {"_": "PeerUser", "user_id": 42},
         "media": {"_": "MessageMediaDocument", "document": {
             "_": "Document", "id": 9, "mime_type": "video/mp4", "attributes": [
                 {"_": "DocumentAttributeVideo", "duration": 12.5, "w": 640, "h": 360}]}}},
        {"_": "MessageService", "id": 48, "peer_id": CHAN, "date": 1714557800,
         "action": {"_": "MessageActionPinMessage"}},
    ]


def write(tmp: Path, msgs: list[dict], layout: str = "lines") -> Path:
    f = tmp / ("msgs.jsonl" if layout.endswith("lines") else "msgs.json")
    if layout == "lines":
        f.write_text("".join(json.dumps(m, default=str, ensure_ascii=False) + "\n"
                             for m in msgs), "utf-8")
    elif layout == "array lines":  # (compact arrays one a line: two messages a line)
        f.write_text("".join(json.dumps(msgs[k:k + 2], default=str, ensure_ascii=False) + "\n"
                             for k in range(0, len(msgs), 2)), "utf-8")
    else:
        f.write_text(json.dumps(msgs, default=str, indent=1), "utf-8")
    return f


@pytest.mark.parametrize("layout", ["lines", "array", "array lines"])
def test_telethon_messages(store, tmp_path, layout):
    f = write(tmp_path, messages(), layout)
    assert detect_format(f) == "telethon"
    rep = ingest_path(store, f)
    assert rep.rejected == 0 and rep.fmt == "telethon"
    assert store.stats()["posts"] == 3
    p = post(store, "telegram", "channel555/45")
    assert p.text.startswith("Join 🔥") and p.created_at.replace(tzinfo=None) == datetime(
        2024, 5, 1, 10, 0)
    assert p.metrics == {"views": 1337, "forwards": 3, "reactions": 7}
    assert p.extra == {"signature": "Admin"}
    fwd = post(store, "telegram", "channel555/46")
    assert fwd.kind == "forward" and fwd.forward_of == "channel777/12"
    rep_ = post(store, "telegram", "channel555/47")
    assert rep_.kind == "reply" and rep_.reply_to == "channel555/45"
    with store.connect() as c:
        tags = [r[0] for r in c.execute(select(S.hashtags.c.tag))]
        urls = sorted(r[0] for r in c.execute(select(S.urls.c.url)))
        media = {r.media_key: r for r in c.execute(select(S.media))}
        kinds = sorted(r[0] for r in c.execute(select(S.edges.c.kind)))
        actions = [r[0] for r in c.execute(select(S.events.c.action))]
        users = {r[0] for r in c.execute(select(S.accounts.c.platform_id))}
    assert tags == ["banner"]
    assert urls == ["https://example.org/join", "https://t.me/x"]
    assert media["channel555/45/photo"].type == "photo"
    video = media["channel555/47/document"]
    assert (video.type, video.mime_type, video.width, video.duration_ms) == (
        "video", "video/mp4", 640, 12500)
    assert kinds == ["forward", "mention", "mention", "reply"]
    assert actions == ["pinmessage"]
    assert {"channel555", "channel777", "user42", "user99"} <= users
    again = ingest_path(store, f)
    assert again.counts["new"] == 0 and again.counts["updated"] == 0


def test_a_desktop_export_of_the_same_channel_names_the_same_posts(sqlite_store, tmp_path):
    ingest_path(sqlite_store, write(tmp_path, messages()))
    d = tmp_path / "export"
    d.mkdir()
    (d / "result.json").write_text(json.dumps({
        "name": "Chan", "type": "public_channel", "id": 555, "messages": [
            {"id": 45, "type": "message", "date": "2024-05-01T10:00:00",
             "date_unixtime": "1714557600", "from": "Chan", "from_id": "channel555",
             "text": "Join 🔥 #Banner now @other_chan https://t.me/x"}]}))
    rep = ingest_path(sqlite_store, d)
    assert rep.counts["by_kind"]["posts"].get("new", 0) == 0
    assert sqlite_store.stats()["posts"] == 3


def test_older_telethon_and_bad_messages(sqlite_store, tmp_path):
    msgs = [
        {"_": "Message", "id": 1, "to_id": {"_": "PeerChat", "chat_id": 8}, "from_id": 31,
         "date": "2019-02-03 04:05:06+00:00", "message": "old style"},
        {"_": "Message", "id": 2, "date": 1, "message": "no peer"},
        {"_": "Message", "id": 3, "peer_id": CHAN, "date": "yesterday", "message": "bad date"},
        {"_": "Channel", "id": 555, "title": "not a message"},
        {"_": "Message", "id": 4, "peer_id": CHAN, "date": 1714557900, "message": "kept",
         "fwd_from": "oops"},
        {"_": "Message", "id": 5, "peer_id": CHAN, "date": 1714557900, "message": "fine"},
    ]
    rep = ingest_path(sqlite_store, write(tmp_path, msgs))
    assert sorted(r["line"] for r in rep.rejects) == [2, 3, 4, 5]
    reasons = " | ".join(r["reason"] for r in rep.rejects)
    assert "peer_id" in reasons and "not a date/time" in reasons
    assert "not a Telethon message" in reasons and "fwd_from" in reasons
    old = post(sqlite_store, "telegram", "chat8/1")
    assert old.text == "old style" and old.created_at.year == 2019
    with sqlite_store.connect() as c:
        author = c.execute(select(S.accounts.c.platform_id).where(
            S.accounts.c.id == old.account_id)).scalar_one()
    assert author == "user31"
    assert post(sqlite_store, "telegram", "channel555/5").text == "fine"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda ch: st.lists(ch, max_size=4) | st.dictionaries(
                        st.sampled_from(["_", "id", "peer_id", "channel_id", "user_id",
                                         "date", "message", "from_id", "fwd_from",
                                         "reply_to", "reply_to_msg_id", "entities",
                                         "offset", "length", "media", "document",
                                         "attributes", "reactions", "results", "count"]),
                        ch, max_size=6),
                    max_leaves=25))
def test_fuzz_telethon_messages(tmp_path_factory, junk):
    """Any shape of junk beside a good message: no crash, the good one is read."""
    good = {"_": "Message", "id": 1, "peer_id": CHAN, "date": 1714557600, "message": "kept"}
    bad = {"_": "Message", "id": 2, "peer_id": CHAN, "date": 1714557600,
           **(junk if isinstance(junk, dict) else {"media": junk})}
    f = write(tmp_path_factory.mktemp("tl"), [bad, junk if isinstance(junk, dict) else {},
                                               good])
    recs = list(get_parser("telethon").parse(f, RawSink()))
    assert any(isinstance(r, Post) and r.text == "kept" for r in recs)


@pytest.mark.parametrize("duration", [1e308, 2**70, float("nan")])
def test_a_video_duration_past_any_column_is_no_duration(store, tmp_path, duration):
    """A video's ``duration`` of 1e308 seconds raised OverflowError (int of
    infinite milliseconds) out of the parser, and 2**70 overflowed the store's
    64-bit column: either stopped the ingest. Found by the h10 fuzz campaign
    (each value of a real message swapped for another type or size); now the
    duration is left out and the message kept."""
    msgs = messages()
    msgs[2]["media"]["document"]["attributes"][0]["duration"] = duration
    f = tmp_path / "m.jsonl"
    f.write_text("".join(json.dumps(m, default=str) + "\n" for m in msgs), "utf-8")
    rep = ingest_path(store, f)
    assert rep.rejected == 0 and post(store, "telegram", "channel555/47").text == "reply"
    with store.connect() as c:
        assert c.execute(select(S.media.c.duration_ms).where(
            S.media.c.media_key == "channel555/47/document")).scalar_one() is None


def test_link_buttons_under_a_post_are_kept(sqlite_store, tmp_path):
    markup = {"_": "ReplyInlineMarkup", "rows": [
        {"_": "KeyboardButtonRow", "buttons": [
            {"_": "KeyboardButtonUrl", "text": "Donate", "url": "https://pay.example/x"},
            {"_": "KeyboardButtonCallback", "text": "Vote", "data": "AQID"}]}]}
    msg = {"_": "Message", "id": 70, "peer_id": CHAN, "date": 1714557600,
           "message": "support us", "reply_markup": markup}
    ingest_path(sqlite_store, write(tmp_path, [msg]))
    p = post(sqlite_store, "telegram", "channel555/70")
    assert p.extra["buttons"] == [{"text": "Donate", "url": "https://pay.example/x"}]


def fourcat_messages() -> list[dict]:
    """Messages as 4CAT's Telegram datasource stores them (its ``serialize_obj``:
    ``_type`` for the type, unix-second dates, bytes as hex, the chat and sender
    entities under ``_chat`` / ``_sender``), written from its published code."""
    chan = {"id": 555, "title": "Banner Channel", "username": "banner_chan",
            "broadcast": True, "megagroup": False, "verified": False, "scam": True,
            "_type": "Channel"}
    group = {"id": 777, "title": "Talk", "username": None, "megagroup": True,
             "_type": "Channel"}
    return [
        {"_type": "Message", "id": 45, "date": 1714557600.0, "message": "Join #Banner",
         "peer_id": {"channel_id": 555, "_type": "PeerChannel"}, "from_id": None,
         "entities": [{"offset": 5, "length": 7, "_type": "MessageEntityHashtag"}],
         "media": {"photo": {"id": 5, "file_reference": "029a", "_type": "Photo"},
                   "_type": "MessageMediaPhoto"},
         "views": 10, "edit_date": None, "_chat": chan, "_sender": chan,
         "message_markdown": "Join #Banner"},
        {"_type": "Message", "id": 9, "date": 1714557700.0, "message": "hello",
         "peer_id": {"channel_id": 777, "_type": "PeerChannel"},
         "from_id": {"user_id": 42, "_type": "PeerUser"},
         "reply_to": {"reply_to_msg_id": 8, "_type": "MessageReplyHeader"},
         "_chat": group, "_sender": {"id": 42, "first_name": "Abu", "last_name": "X",
                                     "username": "abux", "bot": False, "_type": "User"}},
        {"_type": "Message", "id": 10, "date": 1714557800.0, "message": "again",
         "peer_id": {"channel_id": 777, "_type": "PeerChannel"},
         "from_id": {"user_id": 43, "_type": "PeerUser"}, "_chat": group,
         "_sender": {"id": 999, "username": "someone_else", "_type": "User"}},  # not 43
        {"_type": "MessageService", "id": 11, "date": 1714557900.0,
         "peer_id": {"channel_id": 777, "_type": "PeerChannel"},
         "action": {"_type": "MessageActionPinMessage"}, "_chat": group},
    ]


def test_4cat_telegram_items(store, tmp_path):
    f = tmp_path / "4cat-telegram.ndjson"
    f.write_text("".join(json.dumps(m) + "\n" for m in fourcat_messages()))
    assert detect_format(f) == "telethon"
    rep = ingest_path(store, f)
    assert rep.rejected == 0 and store.stats()["posts"] == 3
    p = post(store, "telegram", "channel555/45")
    assert p.text == "Join #Banner" and p.created_at.year == 2024
    chan = account(store, "telegram", "channel555")
    assert (chan.handle, chan.name, chan.kind, chan.stub) == (
        "banner_chan", "Banner Channel", "public_channel", False)
    assert chan.extra == {"scam": True}
    assert account(store, "telegram", "channel777").kind == "private_supergroup"
    u = account(store, "telegram", "user42")
    assert (u.handle, u.name, u.kind) == ("abux", "Abu X", "user")
    other = account(store, "telegram", "user43")  # the sender entity named someone else
    assert other.handle is None and other.stub
    with store.connect() as c:
        assert c.execute(select(S.events.c.action)).scalar() == "pinmessage"
        tags = {r[0] for r in c.execute(select(S.hashtags.c.tag))}
    assert tags == {"banner"}
    again = ingest_path(store, f)
    assert again.counts["new"] == 0 and again.counts["updated"] == 0


@pytest.mark.parametrize("order", ["newer first", "older first"])
def test_an_older_crawl_read_later_keeps_the_newer_chat_name(store, tmp_path, order):
    """A 4CAT crawl records no time of its own: the chat's title and handle
    were those of whichever crawl was read last, so an older crawl read after
    a newer one made the channel's old name current again. The entities a
    message carries are now seen no earlier than the message (its last edit).
    Found by exploratory testing."""
    def line(mid: int, when: float, title: str, handle: str) -> str:
        return json.dumps({"_type": "Message", "id": mid, "date": when, "message": f"m{mid}",
                           "peer_id": {"channel_id": 555, "_type": "PeerChannel"},
                           "from_id": None,
                           "_chat": {"id": 555, "title": title, "username": handle,
                                     "broadcast": True, "_type": "Channel"}}) + "\n"
    old = tmp_path / "old.ndjson"
    old.write_text(line(1, 1704067200.0, "Old Title", "oldhandle"))  # 2024-01-01
    new = tmp_path / "new.ndjson"
    new.write_text(line(1, 1704067200.0, "New Title", "newhandle")
                   + line(2, 1709251200.0, "New Title", "newhandle"))  # 2024-03-01
    for f in ([new, old] if order == "newer first" else [old, new]):
        ingest_path(store, f, fmt="telethon")
    acc = account(store, "telegram", "channel555")
    assert (acc.name, acc.handle) == ("New Title", "newhandle")
    with store.connect() as c:
        kept = c.execute(select(S.account_versions.c.handle)).scalars().all()
    assert kept == ["oldhandle"]  # whichever crawl was read first
