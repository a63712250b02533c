"""Telegram Desktop HTML exports: fixtures written here from the published layout
(messages*.html: page header, history, default/joined/service message divs)."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.helpers import post

from rasd.cli.ingest import expand_paths
from rasd.ingest import IngestError, detect_format, ingest_path
from rasd.ingest.base import RawSink, get_parser
from rasd.model import Post
from rasd.store import schema as S

CHAT = "Northern & Front"
CID = f"name:{CHAT}"

HEAD = """<!DOCTYPE html>
<html>
 <head>
  <meta charset="utf-8"/>
<title>Exported Data</title>
  <link href="css/style.css" rel="stylesheet"/>
 </head>
 <body onload="CheckLocation();">
  <div class="page_wrap">
   <div class="page_header">
    <div class="content">
     <div class="text bold">
{title}
     </div>
    </div>
   </div>
   <div class="page_body chat_page">
    <div class="history">
"""
TAIL = """    </div>
   </div>
  </div>
 </body>
</html>
"""


def service(mid: int, text: str) -> str:
    return (f'     <div class="message service" id="message{mid}">\n'
            f'      <div class="body details">\n{html.escape(text)}\n      </div>\n     </div>\n')


def message(mid: int, text: str, *, sender: str | None = CHAT, joined: bool = False,
            date: str = "01.03.2024 10:00:05 UTC+03:00", forwarded: str | None = None,
            reply_to: int | None = None, photo: str | None = None,
            video_missing: bool = False, link: str | None = None) -> str:
    cls = "message default clearfix" + (" joined" if joined else "")
    body = (f'       <div class="pull_right date details" title="{date}">\n10:00\n'
            "       </div>\n")
    if sender and not joined:
        body += f'       <div class="from_name">\n{html.escape(sender)}\n       </div>\n'
    if reply_to:
        body += ('       <div class="reply_to details">\nIn reply to <a href="#go_to_message'
                 f'{reply_to}" onclick="return GoToMessage({reply_to})">this message</a>\n'
                 "       </div>\n")
    if photo:
        body += ('       <div class="media_wrap clearfix">\n'
                 f'        <a class="photo_wrap clearfix pull_left" href="{photo}">\n'
                 f'         <img class="photo" src="{photo}_thumb.jpg"/>\n        </a>\n'
                 "       </div>\n")
    if video_missing:
        body += ('       <div class="media_wrap clearfix">\n'
                 '        <div class="media clearfix pull_left media_video">\n'
                 '         <div class="fill pull_left"></div>\n         <div class="body">\n'
                 '          <div class="title bold">Video file</div>\n'
                 '          <div class="status details">Not included, change data exporting '
                 "settings to download.</div>\n         </div>\n        </div>\n       </div>\n")
    inner = html.escape(text).replace("\n", "<br>")
    if link:
        inner += f' <a href="{link}">{link}</a>'
    text_div = f'       <div class="text">\n{inner}\n       </div>\n'
    if forwarded:
        body += ('       <div class="forwarded body">\n'
                 f'        <div class="from_name">\n{html.escape(forwarded)}'
                 '<span class="date details" title="28.02.2024 09:00:00 UTC+03:00">'
                 " 28.02.2024 09:00:00</span>\n        </div>\n"
                 + text_div + "       </div>\n")
    else:
        body += text_div
    return (f'     <div class="{cls}" id="message{mid}">\n      <div class="body">\n{body}'
            "      </div>\n     </div>\n")


def html_export(tmp: Path, pages: list[list[str]], title: str = CHAT) -> Path:
    d = tmp / "ChatExport_2024-03-01"
    (d / "photos").mkdir(parents=True, exist_ok=True)
    (d / "photos" / "photo_1.jpg").write_bytes(b"\xff\xd8\xff\xe0fakejpeg")
    for i, msgs in enumerate(pages):
        name = "messages.html" if i == 0 else f"messages{i + 1}.html"
        (d / name).write_text(HEAD.format(title=html.escape(title)) + "".join(msgs) + TAIL,
                              "utf-8")
    return d


PAGE1 = [
    service(-1, "1 March 2024"),
    service(1, f'Channel "{CHAT}" created'),
    message(2, "Join us <b>now</b> #Front\nsecond line and @somebody1",
            photo="photos/photo_1.jpg", link="https://example.org/x"),
    message(3, "forwarded words", joined=True, forwarded="Other Channel"),
]
PAGE2 = [
    message(4, "still the channel", joined=True, date="01.03.2024 10:30:00 UTC+03:00"),
    message(5, "reply text", reply_to=2, video_missing=True,
            date="01.03.2024 11:00:00 UTC+03:00"),
]


def test_html_export_folder_is_read_page_by_page(store, tmp_path):
    d = html_export(tmp_path, [PAGE1, PAGE2])
    pages = expand_paths([d])
    assert [p.name for p in pages] == ["messages.html", "messages2.html"]
    assert detect_format(pages[0]) == "telegram-html"
    reps = [ingest_path(store, p) for p in pages]
    assert all(r.rejected == 0 and r.fmt == "telegram-html" for r in reps)
    assert store.stats()["posts"] == 4

    p2 = post(store, "telegram", f"{CID}/2")
    assert p2.text == "Join us <b>now</b> #Front\nsecond line and @somebody1 https://example.org/x"
    assert p2.created_at.replace(tzinfo=None).isoformat() == "2024-03-01T07:00:05"
    assert p2.kind == "post" and p2.chat_id == CID
    p3 = post(store, "telegram", f"{CID}/3")
    assert p3.kind == "forward" and p3.forward_of == "Other Channel" and p3.text == "forwarded words"
    # the original post's date inside the forward is not this message's date
    assert p3.created_at.replace(tzinfo=None).isoformat() == "2024-03-01T07:00:05"
    p5 = post(store, "telegram", f"{CID}/5")
    assert p5.kind == "reply" and p5.reply_to == f"{CID}/2"
    with store.connect() as c:
        chan = c.execute(select(S.accounts.c.id).where(
            S.accounts.c.platform_id == CID)).scalar_one()
        assert {p2.account_id, p3.account_id, p5.account_id} == {chan}
        tags = [r[0] for r in c.execute(select(S.hashtags.c.tag))]
        urls = [r[0] for r in c.execute(select(S.urls.c.url))]
        media = {r.media_key: r for r in c.execute(select(S.media))}
        kinds = sorted(r[0] for r in c.execute(select(S.edges.c.kind)))
        events = [r.extra for r in c.execute(select(S.events))]
    assert tags == ["front"] and urls == ["https://example.org/x"]
    photo = media[f"{CID}/2/0"]
    assert photo.type == "photo" and photo.local_path == str(d.resolve() / "photos" / "photo_1.jpg")
    video = media[f"{CID}/5/0"]
    assert video.type == "video" and video.local_path is None
    assert video.extra == {"not_included": True, "not_downloaded": "not included"}
    assert kinds == ["forward", "mention"]
    assert events == [{"text": f'Channel "{CHAT}" created'}]

    again = [ingest_path(store, p) for p in pages]
    assert all(r.counts["new"] == 0 and r.counts["updated"] == 0 for r in again)


def test_group_senders_are_keyed_by_name_within_the_chat(sqlite_store, tmp_path):
    d = html_export(tmp_path, [[
        message(10, "hello", sender="Ann"),
        message(11, "more from ann", joined=True),
        message(12, "hi ann", sender="Ben"),
    ]], title="Group chat")
    rep = ingest_path(sqlite_store, d / "messages.html")
    assert rep.rejected == 0
    with sqlite_store.connect() as c:
        rows = dict(c.execute(select(S.posts.c.platform_id, S.accounts.c.name).join(
            S.accounts, S.accounts.c.id == S.posts.c.account_id)).all())
    assert rows == {"name:Group chat/10": "Ann", "name:Group chat/11": "Ann",
                    "name:Group chat/12": "Ben"}


def test_bad_messages_are_rejected_one_by_one(sqlite_store, tmp_path):
    good = message(20, "kept")
    no_id = good.replace('id="message20"', 'id="oops"').replace("kept", "no id")
    bad_date = message(21, "bad date", date="31.02.2024 10:00:00 UTC+03:00")
    escape = message(22, "escape", photo="../../../etc/passwd")
    d = html_export(tmp_path, [[no_id, bad_date, escape, good]])
    rep = ingest_path(sqlite_store, d / "messages.html")
    reasons = sorted(r["reason"] for r in rep.rejects)
    assert rep.rejected == 2, reasons
    assert any("'id'" in r for r in reasons)
    assert any("not a date/time" in r for r in reasons)
    assert sqlite_store.stats()["posts"] == 2 and post(sqlite_store, "telegram", f"{CID}/20")
    # the message with a media path out of the export is kept, its path refused
    assert post(sqlite_store, "telegram", f"{CID}/22").text == "escape"
    with sqlite_store.connect() as c:
        m = c.execute(select(S.media).where(S.media.c.media_key.like(f"{CID}/22/%"))).one()
    assert m.local_path is None and m.extra["path_refused"] == "points outside the export folder"


def test_invalid_utf8_costs_only_its_message(sqlite_store, tmp_path):
    d = html_export(tmp_path, [[message(30, "broken"), message(31, "fine")]])
    f = d / "messages.html"
    f.write_bytes(f.read_bytes().replace(b"broken", b"bro\xffken"))
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 1 and "invalid UTF-8" in rep.rejects[0]["reason"]
    assert post(sqlite_store, "telegram", f"{CID}/31").text == "fine"


def test_pages_sort_by_number_and_other_html_is_not_taken(tmp_path):
    d = tmp_path / "export"
    d.mkdir()
    for name in ("messages.html", "messages2.html", "messages10.html", "index.html"):
        (d / name).write_text("x")
    assert [p.name for p in expand_paths([d])] == ["messages.html", "messages2.html",
                                                    "messages10.html"]


def test_an_html_page_that_is_not_an_export_is_refused(sqlite_store, tmp_path):
    f = tmp_path / "messages.html"
    f.write_text("<html><body><div class='x'>hello</div></body></html>")
    with pytest.raises(IngestError, match="not a known format"):
        ingest_path(sqlite_store, f)


def test_an_oversized_message_is_rejected_and_the_next_one_read(sqlite_store, tmp_path,
                                                                monkeypatch):
    import rasd.ingest.telegram_html as th

    monkeypatch.setattr(th, "MAX_LINE", 3000)
    monkeypatch.setattr(th, "CHUNK", 512)
    d = html_export(tmp_path, [[message(40, "small"), message(41, "x" * 10_000),
                                message(42, "after")]])
    rep = ingest_path(sqlite_store, d / "messages.html")
    assert rep.rejected == 1 and "over 3000 bytes" in rep.rejects[0]["reason"]
    assert post(sqlite_store, "telegram", f"{CID}/42").text == "after"
    assert post(sqlite_store, "telegram", f"{CID}/41") is None


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.text(max_size=60), where=st.integers(0, 10_000))
def test_fuzz_html_messages(tmp_path_factory, junk, where):
    """Junk (tags, quotes, entities, anything) inside one message never crashes the
    reader, and the intact message after it is still read."""
    d = html_export(tmp_path_factory.mktemp("h"), [[message(50, "first"),
                                                    message(51, "intact")]])
    f = d / "messages.html"
    text = f.read_text("utf-8")
    cut = text.rindex('<div class="message ', 0, text.index('id="message51"'))  # 50 only
    pos = text.index('id="message50"') + where % (cut - text.index('id="message50"'))
    f.write_text(text[:pos] + junk + text[pos:], "utf-8")
    recs = list(get_parser("telegram-html").parse(f, RawSink()))
    assert any(isinstance(r, Post) and r.text == "intact" for r in recs)


def test_a_message_nested_too_deeply_is_rejected(sqlite_store, tmp_path):
    deep = message(60, "deep").replace('<div class="text">',
                                       "<span>" * 300 + '<div class="text">')
    d = html_export(tmp_path, [[deep, message(61, "next")]])
    rep = ingest_path(sqlite_store, d / "messages.html")
    assert rep.rejected == 1 and "nested too deeply" in rep.rejects[0]["reason"]
    assert post(sqlite_store, "telegram", f"{CID}/61").text == "next"


def test_compact_html_reads_the_same(tmp_path):
    """Exports written without indentation (messages back to back on one line)."""
    import re

    def posts(f):
        return [(r.platform_id, r.text, r.kind, r.account_id, [m.type for m in r.media])
                for r in get_parser("telegram-html").parse(f, RawSink()) if isinstance(r, Post)]

    f = html_export(tmp_path, [PAGE1 + PAGE2]) / "messages.html"
    pretty = posts(f)
    f.write_text(re.sub(r">\s+<", "><", f.read_text("utf-8")), "utf-8")
    assert posts(f) == pretty and len(pretty) == 4


def test_the_analyst_can_give_the_chat_id(sqlite_store, tmp_path):
    """With --chat-id the HTML export's posts are those a JSON export of the same
    channel gives (channel555/2), not a second copy keyed by name."""
    d = html_export(tmp_path, [[message(2, "same post")]])
    (tmp_path / "json").mkdir()
    (tmp_path / "json" / "result.json").write_text(
        '{"name": "Northern & Front", "type": "public_channel", "id": 555, "messages": [{"id": 2,'
        ' "type": "message", "date": "2024-03-01T10:00:05", "from": "Northern & Front",'
        ' "from_id": "channel555", "text": "same post"}]}', "utf-8")
    ingest_path(sqlite_store, tmp_path / "json")
    rep = ingest_path(sqlite_store, d / "messages.html", chat_id="channel555")
    assert rep.counts["by_kind"]["posts"].get("new", 0) == 0
    assert sqlite_store.stats()["posts"] == 1
    with pytest.raises(IngestError, match="expected a Telegram chat id"):
        ingest_path(sqlite_store, d / "messages.html", chat_id="555; drop")
    with pytest.raises(IngestError, match="for Telegram HTML exports"):
        ingest_path(sqlite_store, tmp_path / "json", chat_id="channel555")


def test_a_page_that_opens_with_joined_messages_takes_the_sender_from_the_page_before(
        sqlite_store, tmp_path):
    d = html_export(tmp_path, [
        [message(1, "from ann", sender="Ann"), message(2, "ann again", joined=True)],
        [message(3, "still ann", joined=True), message(4, "ben now", sender="Ben")],
        [message(5, "ben again", joined=True)]], title="Group chat")
    (d / "messages4.html").write_text((d / "messages3.html").read_text().replace(
        'id="message5"', 'id="message6"'))
    (d / "messages3.html").unlink()  # page 4 has no page before it on disk
    for page in ("messages.html", "messages2.html", "messages4.html"):
        assert ingest_path(sqlite_store, d / page).rejected == 0
    with sqlite_store.connect() as c:
        rows = dict(c.execute(select(S.posts.c.platform_id, S.accounts.c.name).outerjoin(
            S.accounts, S.accounts.c.id == S.posts.c.account_id)).all())
    assert rows == {"name:Group chat/1": "Ann", "name:Group chat/2": "Ann",
                    "name:Group chat/3": "Ann", "name:Group chat/4": "Ben",
                    "name:Group chat/6": None}
    assert post(sqlite_store, "telegram", "name:Group chat/6").extra["sender"].startswith(
        "unknown")


@pytest.mark.parametrize("sep", ["/", "\\"])
def test_pages_in_an_archive_take_the_sender_from_the_page_before(sqlite_store, tmp_path, sep):
    """The same export zipped: page 2's opening "joined" message is Ann's, read
    from page 1 inside the archive (deflated: the member is read up to its end),
    also where a Windows tool wrote the member names with "\\"."""
    import zipfile

    from rasd.cli.ingest import expand_paths
    from rasd.ingest.archive import member_stream, split_member

    d = html_export(tmp_path, [
        [message(1, "from ann", sender="Ann"), message(2, "ann again", joined=True)],
        [message(3, "still ann", joined=True), message(4, "ben now", sender="Ben")],
        *[[message(10 + i, f"page {i + 3}", sender="Cy")] for i in range(8)]],
        title="Group chat")
    archive = tmp_path / "group.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(d.rglob("*")):
            z.write(p, sep.join([d.name, *p.relative_to(d).parts]))
    pages = expand_paths([archive])
    assert [str(p).rsplit(sep, 1)[-1] for p in pages] == [
        "messages.html", *(f"messages{i}.html" for i in range(2, 11))]  # in page order
    for page in pages:
        assert ingest_path(sqlite_store, member_stream(*split_member(page))).rejected == 0
    with sqlite_store.connect() as c:
        rows = dict(c.execute(select(S.posts.c.platform_id, S.accounts.c.name).outerjoin(
            S.accounts, S.accounts.c.id == S.posts.c.account_id)).all())
    assert {k: rows[k] for k in list(rows)[:4]} == {
        "name:Group chat/1": "Ann", "name:Group chat/2": "Ann",
        "name:Group chat/3": "Ann", "name:Group chat/4": "Ben"}
    assert len(rows) == 12


def test_options_reach_the_parsing_process(sqlite_store, tmp_path):
    """With two processes the parser runs in the child: --chat-id must get there."""
    d = html_export(tmp_path, [[message(7, "seven")]])
    rep = ingest_path(sqlite_store, d / "messages.html", chat_id="channel77", jobs=2)
    assert rep.rejected == 0 and post(sqlite_store, "telegram", "channel77/7").text == "seven"


def test_media_of_a_zipped_html_export_name_their_member(sqlite_store, tmp_path):
    """An HTML export shared as a ZIP file: a photo's local path names its member
    in the archive (the media stage hashes it from there); a link out of the
    export's folder is refused as it is on disk (its message kept)."""
    import zipfile

    from rasd.ingest.archive import member_stream

    d = html_export(tmp_path, [PAGE1])
    escape = message(9, "x", photo="../../etc/passwd")
    (d / "messages2.html").write_text(HEAD.format(title=CHAT) + escape + TAIL, "utf-8")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(d.rglob("*")):
            z.write(p, f"{d.name}/{p.relative_to(d)}")
    rep = ingest_path(sqlite_store, member_stream(archive, f"{d.name}/messages.html"))
    assert rep.rejected == 0
    with sqlite_store.connect() as c:
        paths = [r[0] for r in c.execute(select(S.media.c.local_path)) if r[0]]
    assert paths == [f"{archive.resolve()}!/{d.name}/photos/photo_1.jpg"]
    bad = ingest_path(sqlite_store, member_stream(archive, f"{d.name}/messages2.html"))
    assert bad.rejected == 0  # the message is kept, its media path refused
    with sqlite_store.connect() as c:
        m = c.execute(select(S.media).where(S.media.c.media_key.like("%/9/%"))).one()
    assert m.local_path is None and m.extra["path_refused"] == "points outside the export folder"


@pytest.mark.parametrize("order", ["newer first", "older first"])
def test_a_renamed_channel_keyed_by_its_id_keeps_the_newer_name(sqlite_store, tmp_path, order):
    """With --chat-id, two HTML exports of one channel from before and after a
    rename: the name of the export read last was current. The chat is now
    seen no earlier than the page's latest message: the newer name stays
    current and the older one is kept as a version, in both orders."""
    from tests.helpers import account

    from rasd.accounts import account_history

    old = html_export(tmp_path / "old", [[message(2, "before")]], title="Old Name")
    new = html_export(tmp_path / "new", [[message(2, "before"),
                                          message(3, "after", sender="New Name",
                                                  date="01.06.2024 10:00:05 UTC+03:00")]],
                      title="New Name")
    for d in ([new, old] if order == "newer first" else [old, new]):
        ingest_path(sqlite_store, d / "messages.html", chat_id="channel555")
    acc = account(sqlite_store, "telegram", "channel555")
    assert acc.name == "New Name" and not acc.stub
    assert [h["name"] for h in account_history(sqlite_store, acc.id)] == ["Old Name", "New Name"]
    rep = ingest_path(sqlite_store, old / "messages.html", chat_id="channel555")
    assert rep.counts["new"] == rep.counts["updated"] == 0


def test_an_older_html_export_read_later_does_not_revert_an_edit(sqlite_store, tmp_path):
    """Found by exploratory testing: HTML gives no edit time, so an older export
    read after a newer one made the text before the edit current again. The
    export folder's day dates its copies: the older text is kept as a version."""
    old = html_export(tmp_path / "a", [[message(2, "original")]])
    new = html_export(tmp_path / "b", [[message(2, "edited text")]])
    new = new.rename(new.parent / "ChatExport_2024-04-01")
    for d in (new, old):
        ingest_path(sqlite_store, d / "messages.html")
    p = post(sqlite_store, "telegram", f"{CID}/2")
    assert p.text == "edited text"
    with sqlite_store.connect() as c:
        assert c.execute(select(S.post_versions.c.text)).scalars().all() == ["original"]
