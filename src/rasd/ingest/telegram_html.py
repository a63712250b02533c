"""Telegram Desktop exports in HTML ("Export chat history", format HTML: the default).

An HTML export is a folder of ``messages.html``, ``messages2.html`` … (a thousand
messages each) beside ``photos/``, ``files/``, ``video_files/`` … Each message is a
``<div class="message default clearfix" id="message123">`` (``… joined`` when the
sender is the one of the message before, whose name is then not repeated) or a
``<div class="message service">`` (joins, pins, title changes; date separators have
negative ids and are skipped).

HTML carries no ids for chats or people, only names: the chat is keyed by its
name (``name:<chat name>``) unless the analyst gives its id (``--chat-id
channel123``: then its posts are the ones a JSON export or a Telethon collection of
the same chat gives), and senders by their name inside the chat. The JSON
export ("Machine-readable JSON") is the better source; this reader exists because
HTML is what many exports handed to analysts are.

The file is read message by message (split at each message's opening tag), so
memory stays bounded and each message's HTML is kept, byte for byte, as its raw
record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from rasd.ingest.archive import member_tail, split_member
from rasd.ingest.base import (
    MAX_LINE,
    Ahead,
    IngestError,
    MediaRoot,
    Parser,
    RawSink,
    clean_text,
    export_day,
    inner_suffix,
    kept_local,
    latest,
    make_contact,
    make_geo,
    make_poll,
    media_root,
    open_binary,
    register,
    reject,
    unless_rejected,
)
from rasd.ingest.jsonitems import chat_record
from rasd.model import Account, Event, Link, Media, Post, PostKind, RawRef, Record

PLATFORM = "telegram"
MARKER = b'<div class="message '
CHUNK = 1 << 20
HEADER_MAX = 1 << 20
TITLE = re.compile(rb'<div class="page_header">.*?<div class="text bold">\s*(.*?)\s*</div>',
                   re.DOTALL)
CHAT_ID = re.compile(r"^(channel|chat|user)\d{1,20}$")


def check_chat_id(cid: Any) -> str:
    """``cid`` if it is a chat id as Telegram names them, else IngestError."""
    if not CHAT_ID.match(str(cid)):
        raise IngestError(f"--chat-id {str(cid)[:40]!r}: expected a Telegram chat id such as "
                          "channel1234567890 (channel, chat or user + digits)")
    return str(cid)


MSG_ID = re.compile(r"^message(-?\d{1,18})$")
REPLY_ID = re.compile(r"go_to_message(\d{1,18})")
DATE = re.compile(r"^(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})"
                  r"(?: UTC([+-])(\d{2}):?(\d{2}))?")
HASHTAG = re.compile(r"(?<![\w&])#(\w{1,139})")
MENTION = re.compile(r"(?<![\w@])@(\w{4,32})")
MEDIA_KIND = (("photo", "photo"), ("video", "video"), ("voice", "voice"), ("audio", "audio"),
              ("sticker", "sticker"), ("animated", "animation"), ("media_file", "file"),
              ("media_location", "location"), ("media_contact", "contact"),
              ("media_poll", "poll"), ("media_game", "game"), ("media_invoice", "invoice"))
# what a media box's status says instead of a size when Desktop did not download the
# file, to the reason kept (Media.extra["not_downloaded"], as the JSON reader keeps it)
NOT_DOWNLOADED = (("Not included", "not included"),
                  ("Exceeds maximum size", "exceeds maximum size"),
                  ("Unavailable, please try again later", "unavailable"))


def not_downloaded(status: str) -> str | None:
    """The reason a media box's status text gives for a file not downloaded, or None."""
    return next((why for text, why in NOT_DOWNLOADED if text in status), None)


def _time(title: str | None) -> tuple[datetime | None, bool]:
    """``03.10.2025 12:34:18 UTC+03:00`` → an aware time; older exports give no
    zone (the exporting computer's local time): read as UTC, flagged."""
    if not title:
        return None, False
    m = DATE.match(title.strip())
    if not m:
        raise ValueError(f"field 'date': not a date/time: {title[:40]!r}")
    d, mo, y, h, mi, s = (int(x) for x in m.groups()[:6])
    tz: timezone = UTC
    if m.group(7):
        off = timedelta(hours=int(m.group(8)), minutes=int(m.group(9)))
        tz = timezone(off if m.group(7) == "+" else -off)
    try:
        return datetime(y, mo, d, h, mi, s, tzinfo=tz).astimezone(UTC), m.group(7) is None
    except ValueError:
        raise ValueError(f"field 'date': not a date/time: {title[:40]!r}") from None


class _Message(HTMLParser):
    """Collects the parts of one message's HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str]] = []  # (tag, class)
        self.root_class = ""
        self.dom_id = ""
        self.date_title: str | None = None
        self.edited = False
        self.from_name: list[str] = []
        self.fwd_name: list[str] = []
        self.text: list[str] = []
        self.service: list[str] = []
        self.signature: list[str] = []
        self.reply_href: str | None = None
        self.links: list[str] = []
        self.media: list[dict[str, Any]] = []
        self.poll: dict[str, Any] | None = None  # question, answers [[parts, votes]], …
        self.geo: dict[str, Any] | None = None  # lat, lon from the map link; venue names
        self.contact: dict[str, list[str]] | None = None  # a shared contact card
        self.too_deep = False

    def updatepos(self, i: int, j: int) -> int:
        """Where parsing goes on (``j``), without the line and column kept for
        ``getpos``, which nothing here reads (a tenth of a message's parsing:
        html.parser counts the line breaks of every piece it passes)."""
        return j

    def _inside(self, token: str) -> bool:
        """Whether an open element has the class ``token``."""
        return any(token in c.split() for _, c in self.stack)

    def _innermost(self) -> str:
        """The class that decides where text goes, ignoring inline tags."""
        for tag, c in reversed(self.stack):
            if tag == "div" or (tag == "span" and "details" in c.split()):
                return c
        return ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        cls = a.get("class", "")
        if not self.stack and tag == "div":
            self.root_class, self.dom_id = cls, a.get("id", "")
        if tag == "br":
            if self._innermost() == "text":
                self.text.append("\n")
            return
        if tag in ("img", "input", "meta", "link", "hr", "source"):
            return
        if len(self.stack) > 200:  # no export nests so deep: the message is rejected
            self.too_deep = True
            return
        words = cls.split()
        if "date" in words and "details" in words and "title" in a:
            if self._inside("forwarded"):
                pass  # the original post's date, not this message's
            elif self.date_title is None:
                self.date_title = a["title"]
                # Desktop's HTML writer titles it with the send date only (no edit
                # time: tdesktop export_output_html.cpp); a marker other tools add
                self.edited = "Edited" in a["title"] or "edited" in a["title"]
        if tag == "a":
            href = a.get("href", "")
            if self._innermost() == "reply_to details":
                self.reply_href = href
            elif self._inside("media_wrap"):
                self._media(cls, href)
            elif self._innermost() == "text" and href.startswith(("http://", "https://")):
                self.links.append(href[:2000])
        elif tag == "div" and self._inside("media_wrap"):
            self._media(cls, None)
            if self.poll is not None and "answer" in words:
                self.poll["answers"].append([[], None])
        self.stack.append((tag, cls))

    def _media(self, cls: str, href: str | None) -> None:
        if href and any(k in cls for k in ("media_location", "media_live_location",
                                           "media_venue")):
            m = MAP_POINT.search(href)  # the writer links a map: …maps?q=<lat>,<lon>&…
            self.geo = {"lat": m.group(1) if m else None, "lon": m.group(2) if m else None,
                        "live": "media_live_location" in cls, "venue": "media_venue" in cls,
                        "name": [], "address": []}
        kind = next((k for key, k in MEDIA_KIND if key in cls), None)
        if kind is None:
            return
        if kind == "contact" and self.contact is None:
            self.contact = {"name": [], "phone": []}
        if kind == "poll":  # content, not a file (posts.extra["poll"])
            if self.poll is None:
                self.poll = {"question": [], "answers": [], "closed": None, "total": None}
            return
        if self.media and self.media[-1]["open"] and self.media[-1]["href"] is None:
            if href:  # the link inside the box just seen
                self.media[-1]["href"] = href
            return
        self.media.append({"type": kind, "href": href or None, "open": True})

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":
            return
        for i in range(len(self.stack) - 1, -1, -1):  # tolerate unclosed inline tags
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        if self.media and not self._inside("media_wrap"):
            self.media[-1]["open"] = False

    def handle_data(self, data: str) -> None:
        where = self._innermost()
        if where == "text":
            self.text.append(data)
        elif where == "from_name":
            (self.fwd_name if self._inside("forwarded") else self.from_name).append(data)
        elif where == "body details" and "service" in self.root_class.split():
            self.service.append(data)
        elif where == "signature details":
            self.signature.append(data)
        elif self.media and where.startswith("status details") and (
                why := not_downloaded(data)):
            self.media[-1]["not_downloaded"] = why
        elif self.poll is not None and self._inside("media_poll"):
            self._poll_data(where.split(), data)
        elif self.contact is not None and self._inside("media_contact"):
            if "title" in where.split():
                self.contact["name"].append(data)
            elif where.startswith("status details"):
                self.contact["phone"].append(data)
        elif self.geo is not None and self.geo["venue"] and self._inside("media_venue"):
            if "title" in where.split():
                self.geo["name"].append(data)
            elif where == "description":
                self.geo["address"].append(data)

    def _poll_data(self, where: list[str], data: str) -> None:
        """A poll box: question, "Final results"/"Anonymous poll", answers
        ("- text" then "N votes" in a details span), the total."""
        poll = self.poll
        assert poll is not None
        if "question" in where:
            poll["question"].append(data)
        elif poll["answers"] and self._inside("answer"):
            if where == ["details"]:
                poll["answers"][-1][1] = _votes(data)
            else:
                poll["answers"][-1][0].append(data)
        elif "total" in where:
            poll["total"] = _votes(data)
        elif where == ["details"]:
            if "Final results" in data:
                poll["closed"] = True
            elif "poll" in data.lower():
                poll["closed"] = False


MAP_POINT = re.compile(r"[?&]q=(-?\d{1,3}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?)")
VOTES = re.compile(r"(\d[\d,. \u00a0\u202f]*)\s*votes?\b")


def _votes(text: str) -> int | None:
    """``12 votes``, ``1 vote``, ``No votes``, ``3 votes, chosen vote``."""
    if "No votes" in text:
        return 0
    m = VOTES.search(text)
    return int(re.sub(r"\D", "", m.group(1))) if m else None


PAGE = re.compile(r"^messages(\d*)\.html$")
TAIL = 1 << 20


def previous_sender(path: Path) -> str | None:
    """The sender of the last message of the page before ``path`` (messages.html
    before messages2.html …): a page may open with "joined" messages that continue
    it. Read from that page's last MiB, newest message first."""
    member = split_member(path)  # a page of an export in a ZIP archive
    # a member's name may use "\\" (zipped by Windows tools): its last part is the page
    name = member[1].replace("\\", "/").rsplit("/", 1)[-1] if member else path.name
    m = PAGE.match(name)
    if m is None or not m.group(1) or int(m.group(1)) < 2:
        return None
    n = int(m.group(1)) - 1
    before = "messages.html" if n == 1 else f"messages{n}.html"
    prev = path.with_name(before)
    try:
        if member is not None:
            archive, inner = member
            tail = member_tail(archive, inner[:len(inner) - len(name)] + before, TAIL)
        else:
            with open(prev, "rb") as f:
                f.seek(max(0, prev.stat().st_size - TAIL))
                tail = f.read(TAIL)
    except OSError:
        return None
    for block in reversed(tail.split(MARKER)[1:]):
        p = _Message()
        try:
            p.feed((MARKER + block).decode("utf-8", "replace"))
        except (AssertionError, ValueError):
            continue
        classes = p.root_class.split()
        if "default" not in classes:
            continue
        name = _name(p.from_name)
        if name:
            return name
        if "joined" not in classes:
            return None
    return None


def _squeeze(parts: list[str]) -> str:
    """Text parts joined, runs of white space (HTML line breaks, indents) as one;
    a NUL (which PostgreSQL refuses, and no name holds) as U+FFFD."""
    return " ".join("".join(parts).split()).replace("\x00", "\ufffd")


def _name(parts: list[str]) -> str | None:
    return _squeeze(parts)[:200] or None


@register
class TelegramHTMLParser(Parser):
    """Telegram Desktop HTML exports: ``messages.html``, ``messages2.html`` …"""

    name = "telegram-html"
    platform = PLATFORM
    description = "Telegram Desktop export in HTML (messages*.html); no ids, names only"

    @classmethod
    def sniff(cls, path: Path, sample: bytes) -> float:
        if inner_suffix(path) not in (".html", ".htm", ""):  # "": a stream has no name
            return 0.0
        if b'class="history"' in sample and (b'class="message ' in sample
                                             or b'class="page_header"' in sample):
            return 0.9
        return 0.0

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        if options.get("chat_id") is not None:
            check_chat_id(options["chat_id"])

    def parse(self, path: Path, raw: RawSink) -> Iterator[Record]:
        src = str(path)
        base = media_root(path)  # where media lie (a folder, or one inside an archive)
        chat: dict[str, Any] = {"name": None, "cid": None, "emitted": False,
                                "sender": previous_sender(path),
                                "day": export_day(path)}  # the day it was exported
        blocks = self._blocks(path)
        try:
            header = next(blocks)
        except StopIteration:
            raise IngestError(f"{src}: empty file") from None
        m = TITLE.search(header[:HEADER_MAX])
        if m is None or b'class="history"' not in header:
            raise IngestError(f"{src}: not a Telegram HTML export (no page header)")
        title = unescape(m.group(1).decode("utf-8", "replace"))
        chat["name"] = _squeeze([re.sub(r"<[^>]*>", "", title)])[:200] or "?"
        chat["cid"] = self.options.get("chat_id") or f"name:{chat['name']}"[:150]
        n = 0
        for block in blocks:
            n += 1
            if block is None:
                yield reject(src, f"message {n}: over {MAX_LINE} bytes", path=f"message #{n}")
                continue
            yield from unless_rejected(self._message(block, chat, base, src, raw, n), raw)
        if chat["emitted"]:
            yield self._chat_account(chat, raw, src)

    def _chat_account(self, chat: dict, raw: RawSink, src: str) -> Account:
        """The chat's account, given after the page's messages: an export records
        no time of its own, so the chat is seen no earlier than the page's
        latest message (an older export read after a newer one made its name
        current again, where the chat is keyed by --chat-id). Its raw record is
        the page header's name with that time (as the JSON parser's)."""
        ref, seen = chat_record(raw, "telegram-html", src, chat["cid"],
                                {"id": chat["cid"], "name": chat["name"]},
                                chat.get("latest"), chat["day"])
        return Account(platform=PLATFORM, platform_id=chat["cid"], name=chat["name"],
                       raw=ref, observed_at=seen,
                       extra={} if self.options.get("chat_id") else
                       {"keyed_by": "name (HTML export)"})

    def _blocks(self, path: Path) -> Iterator[bytes | None]:
        """The header, then each message's bytes (None for one over the limit)."""
        with open_binary(path) as f:
            buf = b""
            header_done = False
            skipping = False
            while True:
                chunk = f.read(CHUNK)
                buf += chunk
                pos = 0  # where the current message starts in buf (sliced once per chunk)
                while True:
                    start = buf.find(MARKER, pos + 1 if header_done else pos)
                    if start < 0:
                        break
                    if not header_done:
                        yield buf[pos:start]
                        header_done = True
                    elif skipping:
                        skipping = False
                    else:
                        yield buf[pos:start]
                    pos = start
                buf = buf[pos:]
                if not chunk:
                    break
                if len(buf) > MAX_LINE:
                    if header_done and not skipping:
                        yield None
                    skipping = True
                    buf = buf[-len(MARKER):]
            if not header_done or buf and not skipping:
                yield buf

    def _message(self, block: bytes, chat: dict, base: MediaRoot | None, src: str, raw: RawSink,
                 n: int) -> Iterator[Record]:
        cid = chat["cid"]
        where = f"message #{n}"
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as e:
            yield reject(src, f"invalid UTF-8 at byte {e.start} of the message", path=where)
            return
        p = _Message()
        try:
            p.feed(text)
            p.close()
        except (AssertionError, ValueError) as e:  # html.parser on broken markup
            yield reject(src, f"unreadable HTML: {e}", path=where)
            return
        if p.too_deep:
            yield reject(src, "message nested too deeply", path=where)
            return
        m = MSG_ID.match(p.dom_id)
        if m is None:
            yield reject(src, "missing required field 'id' (id=\"messageN\")", path=where,
                         excerpt=text[:200])
            return
        mid = m.group(1)
        if mid.startswith("-"):
            return  # a date separator
        where = f"{cid}.message{mid}"
        sha = raw.put(block, "telegram-html")
        if raw.size >= raw.ahead_at:  # messages of no record piled up (RawSink.ahead_at)
            yield Ahead(sha)
        ref = RawRef(sha256=sha, fmt="telegram-html", source_file=src, path=where)
        chat["emitted"] = True  # its account is given after the page (_chat_account)
        try:
            when, zoneless = _time(p.date_title)
            chat["latest"] = latest(chat.get("latest"), when)
            classes = p.root_class.split()
            if "service" in classes:
                yield Event(platform=PLATFORM, platform_id=f"{cid}/{mid}", action="service",
                            chat_id=cid, at=when,
                            extra={"text": clean_text(_name(p.service) or "", "text")},
                            raw=ref)
                return
            if "default" not in classes:
                yield reject(src, f"unknown message kind {p.root_class[:40]!r}", path=where)
                return
            sender = _name(p.from_name)
            if sender is None and "joined" in classes:
                sender = chat["sender"]  # same sender as the message before
            chat["sender"] = sender
            account_id: str | None
            if sender is None or sender == chat["name"]:
                account_id = cid if sender else None
            else:
                account_id = f"{cid}/name:{sender}"[:190]
                yield Account(platform=PLATFORM, platform_id=account_id, name=sender,
                              stub=True, raw=ref)
            post = Post(platform=PLATFORM, platform_id=f"{cid}/{mid}", account_id=account_id,
                        text=clean_text("".join(p.text).strip(), "text"), created_at=when,
                        chat_id=cid, raw=ref)
            if chat["day"] is not None:  # collected that day, not before the message
                post.observed_at = latest(chat["day"], when)
            if zoneless:
                post.extra["time_zone"] = "unknown (read as UTC)"
            if p.edited:
                post.extra["edited"] = True
            if p.signature:
                post.extra["signature"] = _name(p.signature)
            if sender is None:
                post.extra["sender"] = "unknown (continues a message in an earlier file)"
            fwd = _name(p.fwd_name)
            if fwd:
                post.kind = PostKind.FORWARD
                post.links.append(Link(PostKind.FORWARD, None, None, fwd))
            if p.reply_href:
                rm = REPLY_ID.search(p.reply_href)
                if rm:
                    post.links.append(Link(PostKind.REPLY, f"{cid}/{rm.group(1)}"))
                    if post.kind == PostKind.POST:
                        post.kind = PostKind.REPLY
            body = post.text or ""
            post.hashtags.extend(HASHTAG.findall(body))
            post.mentions.extend((None, h) for h in MENTION.findall(body))
            post.urls.extend(dict.fromkeys(p.links))
            for i, md in enumerate(p.media):
                post.media.append(self._media_item(md, cid, mid, i, base))
            if p.contact is not None:
                contact = make_contact(_squeeze(p.contact["name"]), None,
                                       _squeeze(p.contact["phone"]).removesuffix(" - vCard"))
                if contact:
                    post.extra["contact"] = contact
            if p.geo is not None:
                g = p.geo
                geo = make_geo(g["lat"], g["lon"], name=_squeeze(g["name"]) or None,
                               address=_squeeze(g["address"]) or None)
                if geo:
                    if g["live"]:
                        geo["live"] = True  # the HTML gives no period
                    post.extra["geo"] = geo
            if p.poll is not None:
                pl = p.poll
                post.extra["poll"] = make_poll(
                    _squeeze(pl["question"]),
                    [(_squeeze(parts).removeprefix("- "), votes)
                     for parts, votes in pl["answers"]], "poll", closed=pl["closed"],
                    total_voters=pl["total"])
            yield post
        except (KeyError, TypeError, ValueError) as e:
            yield reject(src, e, path=where)

    @staticmethod
    def _media_item(md: dict, cid: str, mid: str, i: int, base: MediaRoot | None) -> Media:
        href = md.get("href")
        local = None
        extra: dict[str, Any] = {}
        if href and base is not None and not href.startswith(
                ("http://", "https://", "#", "tg://")):
            local = kept_local(base, unescape(href), "href", extra)
        why = md.get("not_downloaded")  # "not included", "exceeds maximum size" …
        extra.update({"relative_path": href[:500]} if href else
                     {"not_included": why is not None})
        if why is not None:
            extra["not_downloaded"] = why
        return Media(platform=PLATFORM, media_key=f"{cid}/{mid}/{i}"[:300], type=md["type"],
                     local_path=local, extra=extra)
