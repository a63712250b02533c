"""Telegram messages as Telethon serialises them (``Message.to_dict()`` /
``to_json()``): what research scrapers built on the Telegram API save — custom
Telethon scripts, telegram-tracker, 4CAT's Telegram source and the like — one
object a line, or a JSON array (see ``rasd.ingest.jsonitems``).

A message is ``{"_": "Message", "id", "peer_id": {"_": "PeerChannel",
"channel_id"}, "date", "message", "from_id", "fwd_from", "reply_to", "entities",
"media", "views", "forwards", "replies", "reactions", "edit_date", "post_author",
"grouped_id", "via_bot_id"}``; ``MessageService`` carries an ``action`` instead.
Older Telethon wrote ``to_id`` for ``peer_id`` and a bare user id in ``from_id``.
Dates may be ISO text (``to_json``, or ``json.dumps(default=str)``) or unix seconds.

4CAT's Telegram datasource writes the same objects its own way (``serialize_obj``):
the type under ``"_type"`` instead of ``"_"``, dates as unix seconds, bytes as hex,
and the message's chat and sender entities under ``"_chat"`` and ``"_sender"``
(``Channel``/``User``: username, title or names, bot); those become the chat's and
sender's profiles (handle, name, kind).

Peers get the ids a Telegram Desktop export gives them (``channel123``,
``chat123``, ``user123``), so posts collected both ways are one post
(``channel123/45``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rasd.ingest.base import (
    Ahead,
    Parser,
    RawSink,
    clean_text,
    first_json_line,
    inner_suffix,
    latest,
    make_contact,
    make_geo,
    make_poll,
    message_id,
    millis,
    opt_int,
    opt_str,
    parse_time,
    register,
    reject,
    req_id,
    unless_rejected,
)
from rasd.ingest.jsonitems import json_items, located
from rasd.ingest.telegram import MAX_BUTTONS
from rasd.model import Account, Event, Link, Media, Post, PostKind, RawRef, Record, Reject

PLATFORM = "telegram"
MESSAGE_TAG = re.compile(rb'"_(?:type)?"\s*:\s*"Message')
MESSAGE_TYPES = {"message", "messageservice"}
PEER_KEYS = (("channel_id", "channel"), ("chat_id", "chat"), ("user_id", "user"))
ENTITY_TEXT = {"messageentityhashtag": "hashtag", "messageentitymention": "mention",
               "messageentityurl": "url"}


def peer_id(peer: Any, field: str) -> str | None:
    """``{"_": "PeerChannel", "channel_id": 1}`` → ``channel1``; a bare number is
    a user (older Telethon's ``from_id``); None stays None."""
    if peer is None:
        return None
    if isinstance(peer, bool):
        raise TypeError(f"field {field!r}: expected a peer object")
    if isinstance(peer, int):
        return f"user{peer}"
    if not isinstance(peer, dict):
        raise TypeError(f"field {field!r}: expected a peer object")
    for key, prefix in PEER_KEYS:
        if peer.get(key) is not None:
            return f"{prefix}{req_id(peer[key], f'{field}.{key}')}"
    raise KeyError(f"missing required field '{field}.channel_id' (or chat_id, user_id)")


def _utf16_slice(text: str, offset: Any, length: Any) -> str | None:
    """Telegram entity offsets count UTF-16 code units."""
    if not (isinstance(offset, int) and isinstance(length, int)) or offset < 0 or length <= 0:
        return None
    if text.isascii():  # one UTF-16 unit a character: the slice itself
        return text[offset:offset + length] or None
    units = text.encode("utf-16-le", "surrogatepass")
    part = units[2 * offset: 2 * (offset + length)]
    return part.decode("utf-16-le", "replace") or None


def _words(value: Any, field: str) -> str | None:
    """A string, or a ``TextWithEntities`` (newer layers' poll texts)."""
    if isinstance(value, dict):
        value = value.get("text")
    return opt_str(value, field, 1000)


def telethon_poll(media: dict) -> dict[str, Any] | None:
    """``MessageMediaPoll``: ``poll`` (question, answers with their ``option``
    bytes, closed) and ``results`` (voters per option, total)."""
    poll = media.get("poll") if isinstance(media.get("poll"), dict) else {}
    results = media.get("results") if isinstance(media.get("results"), dict) else {}
    votes = {repr(r.get("option")): r.get("voters") for r in results.get("results") or []
             if isinstance(r, dict)}
    answers = [a for a in poll.get("answers") or [] if isinstance(a, dict)]
    return make_poll(_words(poll.get("question"), "media.poll.question"),
                     [(_words(a.get("text"), "media.poll.answers.text"),
                       votes.get(repr(a.get("option")))) for a in answers],
                     "media.poll", closed=poll.get("closed"),
                     total_voters=results.get("total_voters"))


def entity_account(e: Any, pid: str, ref: RawRef, field: str) -> Account | None:
    """A profile from a Telethon entity (4CAT's ``_chat``/``_sender``: ``User``,
    ``Channel``, ``Chat``), when it is the peer ``pid``; kinds as a Telegram
    Desktop export names chats (``public_channel``, ``private_supergroup`` …)."""
    if not isinstance(e, dict):
        return None
    kind = _kind(e)
    prefix = {"user": "user", "channel": "channel", "chat": "chat"}.get(kind)
    if prefix is None or e.get("id") is None or f"{prefix}{e['id']}" != pid:
        return None  # another peer, or not an entity: nothing to attribute
    handle = opt_str(e.get("username"), f"{field}.username", 200)
    if kind == "user":
        name = " ".join(x for x in (e.get("first_name"), e.get("last_name"))
                        if isinstance(x, str) and x)
        akind = "bot" if e.get("bot") is True else "user"
    else:
        name = e.get("title")
        scope = "public" if handle else "private"
        akind = ("private_group" if kind == "chat" else
                 f"{scope}_supergroup" if e.get("megagroup") is True else f"{scope}_channel")
    flags = {k: True for k in ("verified", "scam", "fake", "restricted") if e.get(k) is True}
    return Account(platform=PLATFORM, platform_id=pid, handle=handle,
                   name=clean_text(name or None, f"{field}.name"), kind=akind,
                   verified=flags.pop("verified", None), extra=flags, raw=ref)


def _seen(m: dict, when: Any) -> Any:
    """When the entities a message carries were seen, at the earliest: its last
    edit, else its date (a crawl records no time of its own)."""
    if not m.get("edit_date"):
        return when  # (what latest(None, when) gives)
    try:
        edited = parse_time(m.get("edit_date"), "edit_date") if m.get("edit_date") else None
    except ValueError:
        edited = None
    return latest(edited, when)


def _type_name(obj: dict) -> Any:
    """An object's type as written: under ``_`` (Telethon) or ``_type`` (4CAT)."""
    return obj.get("_", obj.get("_type"))


def _kind(obj: dict) -> str:
    t = _type_name(obj)
    return t.lower() if isinstance(t, str) else ""


@register
class TelethonParser(Parser):
    """Telethon message objects (JSON Lines or a JSON array)."""

    name = "telethon"
    platform = PLATFORM
    description = "Telegram API messages as Telethon writes them (to_dict/to_json), JSONL or array"

    @classmethod
    def sniff(cls, path: Path, sample: bytes) -> float:
        if inner_suffix(path) in (".csv", ".tsv", ".html", ".htm"):
            return 0.0
        o = first_json_line(sample)
        if isinstance(o, list) and o:
            o = o[0]
        if isinstance(o, dict):
            return 0.95 if _kind(o) in MESSAGE_TYPES and (
                "peer_id" in o or "to_id" in o) else 0.0
        head = sample.lstrip()[:4096]  # pretty-printed, or a first line over the sample
        if head[:1] in (b"{", b"[") and MESSAGE_TAG.search(head) \
                and (b'"peer_id"' in head or b'"to_id"' in head):
            return 0.9
        return 0.0

    def parse(self, path: Path, raw: RawSink) -> Iterator[Record]:
        src = str(path)
        chats: set[str] = set()
        for item in json_items(path, raw, "telethon"):
            if isinstance(item, Reject):
                yield item
                continue
            if raw.size >= raw.ahead_at:  # messages of no record piled up (RawSink.ahead_at)
                yield Ahead(item.sha)
            ref = RawRef(sha256=item.sha, fmt="telethon", source_file=src, line=item.line,
                         path=item.where)
            yield from unless_rejected(
                located(self._message(item.obj, ref, src, item.line, chats), item), raw, item.sha)

    def _message(self, m: dict, ref: RawRef, src: str, line: int | None,
                 chats: set[str]) -> Iterator[Record]:
        try:
            kind = _kind(m)
            if kind not in MESSAGE_TYPES:
                raise ValueError("field '_': not a Telethon message "
                                 f"({str(_type_name(m))[:40]!r})")
            cid = peer_id(m.get("peer_id", m.get("to_id")), "peer_id")
            if cid is None:
                raise KeyError("missing required field 'peer_id'")
            mid = req_id(m.get("id"), "id")
            pid = message_id(cid, mid)
            when = parse_time(m.get("date"), "date")
            sender = peer_id(m.get("from_id"), "from_id")
            # entities as they were when this message was collected: no earlier
            # than the message (an older crawl read later made a chat's old title
            # and handle current again)
            seen = _seen(m, when)
            chat = entity_account(m.get("_chat"), cid, ref, "_chat")  # 4CAT
            if chat is not None:
                chat.observed_at = seen
                chats.add(cid)
                yield chat
            elif cid not in chats:
                chats.add(cid)
                yield Account(platform=PLATFORM, platform_id=cid, stub=True, raw=ref,
                              kind="user" if cid.startswith("user") else None)
            if sender and sender != cid:
                who = entity_account(m.get("_sender"), sender, ref, "_sender")
                if who is not None:
                    who.observed_at = seen
                yield who or Account(
                    platform=PLATFORM, platform_id=sender, stub=True, raw=ref,
                    kind="user" if sender.startswith("user") else None)
            if kind == "messageservice":
                action = m.get("action")
                name = _kind(action) if isinstance(action, dict) else "service"
                yield Event(platform=PLATFORM, platform_id=pid,
                            action=name.removeprefix("messageaction")[:64] or "service",
                            chat_id=cid, actor_id=sender, at=when,
                            extra={"action": opt_str(_type_name(action), "action._", 64)}
                            if isinstance(action, dict) else {}, raw=ref)
                return
            text = m.get("message")
            post = Post(platform=PLATFORM, platform_id=pid, account_id=sender or cid,
                        text=clean_text(text if text is not None else "", "message"),
                        created_at=when, chat_id=cid,
                        edited_at=parse_time(m.get("edit_date"), "edit_date"), raw=ref)
            self._links(m, post, cid)
            self._entities(m, post)
            self._media(m, post, cid, mid)
            buttons = self._buttons(m.get("reply_markup"))
            if buttons:  # link buttons under a post: join links, donation pages …
                post.extra["buttons"] = buttons
                post.urls.extend(b["url"] for b in buttons)
            self._metrics(m, post)
            for key, out in (("post_author", "signature"), ("grouped_id", "album"),
                             ("via_bot_id", "via_bot")):
                if m.get(key) is not None:
                    post.extra[out] = opt_str(m[key], key, 200)
            yield post
        except (KeyError, TypeError, ValueError) as e:
            yield reject(src, e, line=line)

    @staticmethod
    def _links(m: dict, post: Post, cid: str) -> None:
        fwd = m.get("fwd_from")
        if fwd is not None:
            if not isinstance(fwd, dict):
                raise TypeError("field 'fwd_from': expected an object")
            src = peer_id(fwd.get("from_id") or fwd.get("saved_from_peer"), "fwd_from.from_id")
            cpost = fwd.get("channel_post") or fwd.get("saved_from_msg_id")
            target = f"{src}/{req_id(cpost, 'fwd_from.channel_post')}" if src and cpost else None
            post.kind = PostKind.FORWARD
            post.links.append(Link(PostKind.FORWARD, target, src,
                                   opt_str(fwd.get("from_name"), "fwd_from.from_name", 200)))
            if fwd.get("post_author") is not None:  # the original post's signature
                post.extra["forward_signature"] = opt_str(fwd["post_author"],
                                                          "fwd_from.post_author", 200)
        rep = m.get("reply_to")
        if rep is not None:
            if not isinstance(rep, dict):
                raise TypeError("field 'reply_to': expected an object")
            rid = rep.get("reply_to_msg_id")
            if rid is not None:
                peer = peer_id(rep.get("reply_to_peer_id"), "reply_to.reply_to_peer_id") or cid
                post.links.append(Link(PostKind.REPLY,
                                       f"{peer}/{req_id(rid, 'reply_to.reply_to_msg_id')}"))
                if post.kind == PostKind.POST:
                    post.kind = PostKind.REPLY

    @staticmethod
    def _entities(m: dict, post: Post) -> None:
        ents = m.get("entities") or []
        if not isinstance(ents, list):
            raise TypeError("field 'entities': expected a list")
        text = post.text or ""
        for e in ents:
            if not isinstance(e, dict):
                continue
            et = _kind(e)
            if et == "messageentitytexturl" and isinstance(e.get("url"), str):
                post.urls.append(e["url"][:2000])
            elif et == "messageentitymentionname" and e.get("user_id") is not None:
                post.mentions.append((f"user{req_id(e['user_id'], 'entities.user_id')}", None))
            elif et in ENTITY_TEXT:
                part = _utf16_slice(text, e.get("offset"), e.get("length"))
                if not part:
                    continue
                what = ENTITY_TEXT[et]
                if what == "hashtag":
                    post.hashtags.append(part.lstrip("#"))
                elif what == "mention":
                    post.mentions.append((None, part.lstrip("@")))
                else:
                    post.urls.append(part[:2000])

    @staticmethod
    def _media(m: dict, post: Post, cid: str, mid: str) -> None:
        media = m.get("media")
        if not isinstance(media, dict):
            return
        mt = _kind(media)
        if mt == "messagemediawebpage":
            page = media.get("webpage")
            if isinstance(page, dict) and isinstance(page.get("url"), str):
                post.urls.append(page["url"][:2000])
            return
        if mt == "messagemediaphoto":
            photo = media.get("photo") if isinstance(media.get("photo"), dict) else {}
            post.media.append(Media(platform=PLATFORM, media_key=f"{cid}/{mid}/photo",
                                    type="photo", extra={"telegram_id": str(photo.get("id"))}
                                    if photo.get("id") is not None else {}))
        elif mt == "messagemediadocument":
            doc = media.get("document") if isinstance(media.get("document"), dict) else {}
            mime = opt_str(doc.get("mime_type"), "media.document.mime_type", 100)
            width = height = duration = None
            for a in doc.get("attributes") or []:
                if isinstance(a, dict) and _kind(a) == "documentattributevideo":
                    width, height = opt_int(a.get("w"), "w"), opt_int(a.get("h"), "h")
                    d = a.get("duration")
                    duration = millis(d, "duration") if isinstance(d, (int, float)) and \
                        not isinstance(d, bool) else None
            kind = (mime or "").split("/")[0] if mime else ""
            post.media.append(Media(
                platform=PLATFORM, media_key=f"{cid}/{mid}/document",
                type={"video": "video", "audio": "audio", "image": "photo"}.get(kind, "file"),
                mime_type=mime, width=width, height=height, duration_ms=duration,
                extra={"telegram_id": str(doc.get("id"))} if doc.get("id") is not None else {}))
        elif mt == "messagemediapoll":  # content, not a file: like a Desktop export's poll
            post.extra["poll"] = telethon_poll(media)
        elif mt == "messagemediacontact":
            uid = media.get("user_id")
            contact = make_contact(media.get("first_name"), media.get("last_name"),
                                   media.get("phone_number"),
                                   f"user{uid}" if isinstance(uid, int) and uid > 0 else None)
            if contact:
                post.extra["contact"] = contact
        elif mt in ("messagemediageo", "messagemediageolive", "messagemediavenue"):
            point = media.get("geo") if isinstance(media.get("geo"), dict) else {}
            geo = make_geo(point.get("lat"), point.get("long"), name=media.get("title"),
                           address=media.get("address"), live_seconds=media.get("period"))
            if geo:
                post.extra["geo"] = geo
        elif mt:
            post.media.append(Media(platform=PLATFORM, media_key=f"{cid}/{mid}/media",
                                    type=mt.removeprefix("messagemedia")[:32] or "media"))

    @staticmethod
    def _buttons(markup: Any) -> list[dict[str, str]]:
        """``ReplyInlineMarkup`` rows of ``KeyboardButtonUrl`` as ``{"text", "url"}``."""
        if not isinstance(markup, dict) or not isinstance(markup.get("rows"), list):
            return []
        out = []
        for row in markup["rows"]:
            buttons = row.get("buttons") if isinstance(row, dict) else None
            for b in buttons if isinstance(buttons, list) else []:
                if isinstance(b, dict) and isinstance(b.get("url"), str):
                    out.append({"text": str(b.get("text") or "")[:200], "url": b["url"][:2000]})
        return out[:MAX_BUTTONS]

    @staticmethod
    def _metrics(m: dict, post: Post) -> None:
        for key in ("views", "forwards"):
            v = m.get(key)
            if isinstance(v, int) and not isinstance(v, bool):
                post.metrics[key] = v
        replies = m.get("replies")
        if isinstance(replies, dict) and isinstance(replies.get("replies"), int):
            post.metrics["replies"] = replies["replies"]
        reactions = m.get("reactions")
        if isinstance(reactions, dict) and isinstance(reactions.get("results"), list):
            post.metrics["reactions"] = sum(
                r.get("count", 0) for r in reactions["results"]
                if isinstance(r, dict) and isinstance(r.get("count"), int))
