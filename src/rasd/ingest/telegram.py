"""Telegram Desktop exports ("Export chat history" / "Export Telegram data", JSON).

Two shapes, one streaming pass with bounded memory (ijson events; a message is
built only while it is read):
- one chat or channel: ``{"name", "type", "id", "messages": [...]}``
- a full account export: ``{"about", "personal_information", "chats": {"list":
  [{"name", "type", "id", "messages": [...]}, ...]}, "left_chats": {...}}``.
  The exporting user's personal information and contact list are never read
  (a contact card posted in a chat is content: ``posts.extra.contact``).

Messages: ``text`` as a string or a list of strings and entity objects;
``forwarded_from`` (+ ``forwarded_from_id`` in newer exports), ``reply_to_message_id``,
``edited``; photos and files by path relative to the export folder (resolved, and
refused if they point outside it), or a placeholder where the file was not
downloaded (``media_placeholder``), with the document's ``file_name`` and size;
service messages are stored as events.

A message broken as JSON (a stray byte, a comma too many, a lost quote) is one
reject, and the messages after it are read, in the same chat (``resync``: a
resume point is checked before anything after it is read, and text that
looks like messages never becomes one). In a full export, damage in a chat's
last message, in its own fields (name, type, id) or between chats is one
reject too, and reading goes on from the next chat, read as its own (never
as the damaged one's). Other damage outside the messages ends the file there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import ijson

from rasd.ingest import jsonlex, resync
from rasd.ingest.base import (
    MAX_LINE,
    Ahead,
    DecompressionBomb,
    EndAtDamage,
    IngestError,
    MediaRoot,
    Note,
    Parser,
    RawSink,
    clean_text,
    ended,
    export_day,
    inner_suffix,
    is_stream,
    kept_local,
    latest,
    make_contact,
    make_geo,
    make_poll,
    media_root,
    message_id,
    millis,
    open_binary,
    opt_int,
    opt_str,
    parse_time,
    plain_json,
    register,
    reject,
    req_id,
    strip_surrogates,
    unless_rejected,
)
from rasd.ingest.jsonitems import (
    READ_MAX,
    SKIPPED,
    TOKEN_MAX,
    TOO_BIG,
    ItemTooLarge,
    LongNumber,
    NestedTooDeep,
    NumberRuns,
    ReadGuard,
    StringReads,
    at_bomb,
    at_end,
    capped_parse,
    chat_record,
    dump_item,
    json_error_text,
    too_large,
)
from rasd.model import Account, Event, Link, Media, Post, PostKind, RawRef, Record, Reject

PLATFORM = "telegram"
# The chat types Telegram Desktop writes (export_output_json.cpp, TypeString), to
# the prefix of the chat's platform id. "replies" and "verification_codes" (the
# Replies and Verification Codes service chats) are user peers, keyed chat<id>
# as rasd has always keyed them (user<id> would split a store's data in two).
CHAT_PREFIX = {
    "public_channel": "channel", "private_channel": "channel",
    "public_supergroup": "channel", "private_supergroup": "channel",
    "private_group": "chat", "personal_chat": "user", "bot_chat": "user",
    "saved_messages": "user", "replies": "chat", "verification_codes": "chat",
}
# the chat prefix of a type not in CHAT_PREFIX: a string Desktop does not write (a
# newer export?), or null (what Desktop writes for a chat whose type it does not know)
OTHER_PREFIX = "chat"
UNKNOWN_TYPES_KEPT = 10  # distinct unknown types named in the note; the rest counted
CHAT_ITEM = ("messages.item", "chats.list.item.messages.item", "left_chats.list.item.messages.item")
CHAT_PREFIXES = ("", "chats.list.item", "left_chats.list.item")
_LISTS = ("chats.list", "left_chats.list")
# what Desktop writes in "photo" and "file" (and "thumbnail", not read) instead of a
# path when it did not download the file, to the reason kept (Media.extra["not_downloaded"])
PLACEHOLDERS = (("(File not included", "not included"),
                ("(File exceeds maximum size", "exceeds maximum size"),
                ("(File unavailable", "unavailable"))


def desktop_poll(p: Any) -> dict[str, Any] | None:
    """A Desktop export's ``poll``: ``{"question", "closed", "total_voters",
    "answers": [{"text", "voters", "chosen"}]}`` (question and answers as a
    string or, like ``text``, a list of entity parts)."""
    if not isinstance(p, dict):
        raise TypeError("field 'poll': expected an object")
    answers = p.get("answers") or []
    if not isinstance(answers, list):
        raise TypeError("field 'poll.answers': expected a list")
    return make_poll(_plain_text(p.get("question"), "poll.question")[0] or None,
                     [(_plain_text(a.get("text"), "poll.answers[].text")[0], a.get("voters"))
                      for a in answers if isinstance(a, dict)], "poll", closed=p.get("closed"),
                     total_voters=p.get("total_voters"))


def media_placeholder(value: Any) -> str | None:
    """Why an export names no file where a path would be: a placeholder such as
    ``(File exceeds maximum size. Change data exporting settings to download.)`` as
    a short reason ("not included", "exceeds maximum size", "unavailable"; another
    ``(File …)`` as its text, at most 200 characters); None for a path (or no string)."""
    if not isinstance(value, str) or not (value.startswith("(File ") and value.endswith(")")):
        return None
    for start, reason in PLACEHOLDERS:
        if value.startswith(start):
            return reason
    return opt_str(value, "placeholder", 200)


class _State:
    """Progress of one pass: messages read, index in the current chat; and,
    carried from a first pass to the careful second one, the chats' accounts.

    An export records no time of its own, so a chat's name is as of no known
    time: read before the chat's messages, an older export read after a newer
    one made its old name current. A chat's account is now given at the end
    of the chat (or of what could be read of it), collected no earlier than
    its latest message or edit (``latest``); until then it waits in
    ``pending``. The chat's messages name it as their author meanwhile (a
    placeholder that the account fills in where the batch does not hold it)."""

    def __init__(self, carried: _State | None = None) -> None:
        self.messages = 0
        self.idx = 0
        # the chat being read: its platform id once its id and type are read,
        # else its place in the file ("" for a result.json of one chat,
        # "chats.list[3]", "left_chats.list[0]"), what rejects name it by
        self.chat_id: str | None = None
        self.where = ""
        self.between = False  # after a chat of a list, before the next one
        self.listed: dict[str, int] = {}  # chats of each list so far
        # rejects of the chats' own fields (not of messages) given, and those
        # the pass before gave: the careful pass reads them again (``fresh``)
        self.said = 0
        self.said_before = carried.said if carried else 0
        self.chat_keys: set[str] = set()  # of name, type, id: those read so far
        # of type, id: those refused (invalid UTF-8, too long), to why: the
        # chat's messages are rejected saying so
        self.refused: dict[str, str] = {}
        # the path of the key whose value is being read outside the messages
        # (``chats.list[1].name``), None once another event came: what a
        # reject for a value too large to read (ItemTooLarge) names
        self.key_at: str | None = None
        # chat id → the chat's fields (name, type, id), its messages being read
        self.pending: dict[str, dict[str, Any]] = carried.pending if carried else {}
        self.latest: dict[str, datetime] = carried.latest if carried else {}
        self.done: set[str] = carried.done if carried else set()  # accounts given
        # the day the export was made, from its folder's name (base.export_day)
        self.day: datetime | None = carried.day if carried else None
        # chats of a type not in CHAT_PREFIX (read, keyed OTHER_PREFIX<id>), by
        # type (as ``repr`` shows it, cut short; at most UNKNOWN_TYPES_KEPT types,
        # the rest under ""): said once at the end (``unknown_note``)
        self.unknown: dict[str, int] = carried.unknown if carried else {}
        # the file as read, which knows why the data ended early (a compressed
        # export cut short or damaged: EndAtDamage)
        self.cut: EndAtDamage | None = None
        self.read: ReadGuard | None = None  # what the parser reads (at_bomb)

    def here(self) -> str:
        """Where the file ended or broke off: the message that would come
        next (``channel555.messages[2]``), or between two chats of a list the
        place of the next one (``chats.list[3]``: it was named as a message
        of the chat before)."""
        return self.where if self.between else self.at(f"messages[{self.idx}]")

    def at(self, sub: str) -> str:
        """The path of ``sub`` (``name``, ``messages[2]``) in the chat being
        read: ``channel555.messages[2]``, or by the chat's place in the file
        where its id is not known (yet): ``chats.list[3].name``, ``name``."""
        chat = self.chat_id or self.where
        return f"{chat}.{sub}" if chat else sub

    def key_path(self, prefix: str, key: str) -> str:
        """The path of the value of ``key`` in the map at ijson ``prefix``,
        outside the messages: a chat's field as ``at`` names it
        (``chats.list[1].name``, ``channel555.name``), else as in the file
        (``about``, ``personal_information.first_name``; an array's element
        as ``[]``)."""
        for p in CHAT_PREFIXES[1:]:
            if prefix == p or prefix.startswith(p + "."):
                rest = _ITEM.sub("[]", prefix[len(p) + 1:])
                return self.at(f"{rest}.{key}" if rest else key)
        if prefix == "" and not self.listed:  # (a result.json of one chat)
            return self.at(key)
        return f"{_ITEM.sub('[]', prefix)}.{key}" if prefix else key

    def fresh(self) -> bool:
        """Whether the reject of a chat's own field (its name, its messages that
        are no list …), or a chat of an unknown type counted, met now is not one
        the first pass gave already: the careful pass reads the file again from
        its start, and meets them in the same order (the messages the first
        pass gave, it skips)."""
        self.said += 1
        return self.said > self.said_before

    def unknown_type(self, value: str | None) -> None:
        """Count the chat being read as one of type ``value`` (None: null),
        not one Desktop writes."""
        if not self.fresh():
            return
        key = "null" if value is None else repr(value[:40] + ("…" if len(value) > 40 else ""))
        if key not in self.unknown and len(self.unknown) >= UNKNOWN_TYPES_KEPT:
            key = ""
        self.unknown[key] = self.unknown.get(key, 0) + 1

    def unknown_note(self) -> str | None:
        """What the run says once of the chats of unknown types (``Note``)."""
        if not self.unknown:
            return None
        n = sum(self.unknown.values())
        named = ", ".join(f"{k} ({v:,})" for k, v in self.unknown.items() if k)
        more = self.unknown.get("", 0)
        return (f"{n:,} chat(s) of a type Telegram Desktop does not write (null: its own "
                f"unknown type): {named}{f', {more:,} of other types' if more else ''}; read "
                f"(a newer export?) and keyed {OTHER_PREFIX}<id>: the type does not say "
                "whether the id is a channel's, a group's or a user's")

    @property
    def damage(self) -> Exception | None:
        return self.cut.damage if self.cut else None

    def seen(self, cid: str, *times: datetime | None) -> None:
        if len(times) == 1:  # (each message: its time, its edit's; without a list and max)
            t = times[0]
            if t is not None:
                cur = self.latest.get(cid)
                if cur is None or t > cur:
                    self.latest[cid] = t
            return
        t = latest(self.latest.get(cid), *times)
        if t is not None:
            self.latest[cid] = t


# characters of a chat's name (or type, or id) read: Telegram allows 128 for a
# name. A string outside the messages is passed over unread once it is longer
# than could be so many characters (12 bytes: a \ud83d\ude00 escape pair), so
# that a hostile export cannot make one of up to 64 MiB (TOKEN_MAX) be built:
# a name of 40 MB took 545 MiB, and one over 200,000 characters (clean_text)
# stopped the ingest with a ValueError.
CHAT_FIELD_MAX = 64 * 1024
_OUTSIDE_BYTES = 12 * CHAT_FIELD_MAX
_TOO_LONG = f"over {CHAT_FIELD_MAX:,} characters; not read"
# events that start a value (ijson)
_VALUE_STARTS = frozenset(("string", "number", "boolean", "null", "start_map", "start_array"))
REORDERED = ("the chat's id or type comes after its messages in this file (not the order "
             "Telegram Desktop writes: re-serialised with sorted keys?), or is missing; not "
             "stored under a guessed chat")
RESYNC_STEP = 64 * 1024  # bytes a read of the careful pass past a resume point (resync)
# ijson's ``item`` of a prefix: an array's element (``chats.list.item``)
_ITEM = re.compile(r"\.item(?=\.|$)")


_JSON_KINDS = {"number": "a number", "boolean": "true or false", "start_map": "an object",
               "start_array": "an array"}


def _not_a_type(event: str) -> str | None:
    """Why a chat's type that starts with ijson ``event`` is refused: Desktop
    writes a string, or null for a type it does not know; a number, true or
    false, an object or an array is no type (a broken or crafted file). Its
    chat's id could then only be guessed (``chat<id>``), as for a refused id:
    its messages are rejects."""
    kind = _JSON_KINDS.get(event)
    return None if kind is None else (f"expected a string such as 'public_channel', "
                                       f"not {kind}")


def _refused(refused: dict[str, str]) -> str:
    """Why a chat's messages are rejected when its type or id (``refused``:
    key to why) was refused: the chat is not known, and not guessed."""
    return "; ".join(f"the chat's {k} is refused ({refused[k]})" for k in ("type", "id")
                     if k in refused) + "; its messages are not stored under a guessed chat"


def _chat_id(chat: dict) -> str | None:
    """The chat's platform id, or None when its id is no id."""
    try:
        return chat_platform_id(chat.get("type") if isinstance(chat.get("type"), str)
                                else None, chat.get("id"))
    except (KeyError, TypeError, ValueError):
        return None


def chat_platform_id(ctype: str | None, cid: Any) -> str:
    """``channel123`` for a channel's id 123 (the prefix by chat type); an id that
    is no id (over 190 characters, a NUL, an object) raises, as any id would."""
    return f"{CHAT_PREFIX.get(ctype or '', OTHER_PREFIX)}{req_id(cid, 'id')}"


def _plain_text(text: Any, field: str = "text") -> tuple[str, list[dict]]:
    """Telegram text: a string, or a list of strings and {type, text, …} entities."""
    if text is None:
        return "", []
    if isinstance(text, str):
        return text, []
    if not isinstance(text, list):
        raise TypeError(f"field {field!r}: expected a string or a list")
    parts: list[str] = []
    ents: list[dict] = []
    for part in text:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            t = part.get("text")
            if not isinstance(t, str):
                raise TypeError(f"field {field + '[].text'!r}: expected a string")
            parts.append(t)
            ents.append(part)
        else:
            raise TypeError(f"field {field!r}: unexpected item {type(part).__name__}")
    return "".join(parts), ents


MAX_BUTTONS = 50


def button_links(rows: Any, field: str) -> list[dict[str, str]]:
    """Link buttons of a Telegram Desktop message (``inline_bot_buttons``: rows of
    ``{"type": "url", "text", "data"}``) as ``{"text", "url"}``."""
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise TypeError(f"field {field!r}: expected a list of button rows")
    out = []
    for row in rows:
        for b in row if isinstance(row, list) else []:
            if isinstance(b, dict) and b.get("type") == "url" and isinstance(b.get("data"), str):
                out.append({"text": str(b.get("text") or "")[:200], "url": b["data"][:2000]})
    return out[:MAX_BUTTONS]


@register
class TelegramParser(Parser):
    """Telegram Desktop JSON exports: a chat's ``result.json`` or a full account
    export; a folder holding ``result.json`` works too."""

    name = "telegram"
    platform = PLATFORM
    description = "Telegram Desktop export: result.json of a chat/channel or of a whole account"

    @classmethod
    def sniff(cls, path: Path, sample: bytes) -> float:
        if inner_suffix(path) not in (".json", ""):
            return 0.0
        head = sample[:8192]
        if b'"messages"' in sample or (b'"chats"' in head and b'"list"' in sample):
            return 0.9
        if b'"personal_information"' in head or b'"type": "public_channel"' in head:
            return 0.8
        return 0.0

    def parse(self, path: Path, raw: RawSink) -> Iterator[Record]:
        if not is_stream(path) and path.is_dir():
            path = path / "result.json"
        src = str(path)
        state = _State()
        state.day = export_day(path)  # (standard input: none)
        yield from self._parse_all(path, raw, state, src)
        for cid in list(state.pending):  # chats cut short: as far as they were read
            yield from self._chat_done(cid, state, raw, src)
        note = state.unknown_note()  # (the careful pass adds to the same counts)
        if note is not None:
            yield Note(note)

    def _parse_all(self, path: Path, raw: RawSink, state: _State, src: str
                   ) -> Iterator[Record]:
        try:
            yield from self._parse(path, raw, state, buf_size=64 * 1024, skip=0)
            return
        except ijson.common.JSONError as e:
            # the end of a bomb: every message before it was handed over, and
            # the careful pass would read the budget's bytes again (its
            # pure-Python parser: 46 s CPU for 1.3 MB holding 132 MB, 5x the
            # first pass). Else read again carefully, below.
            bomb = (at_bomb(state.read, state.cut) if state.read and state.cut
                    else None)
            if bomb is not None:
                yield from self._bomb_end(bomb, src, state)
                return
            if state.messages and at_end(state.read):
                # a file cut short (a copy or download stopped, a cut .gz):
                # all it holds is valid JSON, so every whole message was handed
                # over; the careful pass would read it all again only to end
                # at the same place (30 MB: 4.9 s whole, 12.3 s cut)
                yield self._ends(src, state, e, cut_short=True)
                return
        except (UnicodeDecodeError, LongNumber, NestedTooDeep):
            pass  # read again carefully, below (nested too deep: read past as damage)
        except ItemTooLarge as e:
            yield self._too_large(e, src, state)
            return
        # The C parser reads ahead in 64 KiB chunks and reports a broken or truncated
        # file before yielding what it buffered, refuses integers beyond 64 bits
        # that are valid JSON, and is not given a number over NUMBER_CARRY_MAX
        # (NumberRuns: it takes time squared over one): read again with the
        # pure-Python parser in tiny chunks, skip the messages already yielded,
        # and salvage every complete one.
        done = state.messages
        state = _State(carried=state)
        try:
            yield from self._parse(path, raw, state, buf_size=64, skip=done,
                                   backend=jsonlex)
            return  # the careful pass read the whole file: the first error was the C parser's
        except (ijson.common.JSONError, ValueError) as e:  # the Python parser raises
            # JSONDecodeError for a raw control character in a string, ValueError …;
            # never UnicodeDecodeError (jsonlex: a string of bytes that are no UTF-8
            # text rejects its message, such bytes outside one are its JSONError)
            err: Exception = e
        except ItemTooLarge as e:
            yield self._too_large(e, src, state)
            return
        if state.damage is not None:  # the parser's error is the end it met there
            err = state.damage
        if isinstance(err, DecompressionBomb):  # no cut file: said whole, as it is
            yield from self._bomb_end(err, src, state)
            return
        if not state.messages:
            raise IngestError(f"{src}: not a readable Telegram export: {err}") from err
        yield self._ends(src, state, err)

    @staticmethod
    def _ends(src: str, state: _State, err: Exception, cut_short: bool = False) -> Reject:
        """The reject where reading ended at the parser's error ``err``: the
        damage of compressed data cut short where there is one, else ``err``
        (``cut_short``: met at the end of the data, ``at_end``)."""
        if state.damage is not None:
            why = f"file ends unexpectedly: {json_error_text(state.damage)[:200]}"
        elif cut_short:
            why = f"file ends unexpectedly: {json_error_text(err)[:200]} (the file is cut short)"
        else:
            why = f"file ends unexpectedly or is malformed: {json_error_text(err)[:200]}"
        return reject(src, why, path=state.here())

    @staticmethod
    def _bomb_end(bomb: DecompressionBomb, src: str, state: _State) -> Iterator[Record]:
        if not state.messages:
            raise IngestError(str(bomb)) from None
        yield reject(src, ended(bomb), path=state.here())

    @staticmethod
    def _too_large(e: ItemTooLarge, src: str, state: _State) -> Reject:
        # a value outside the messages (a chat's name) is named by its key: it
        # was named as the message that would come next
        return reject(src, f"{too_large(e, TOKEN_MAX)}; the rest of the file is not read",
                      path=state.key_at or state.here())

    def _parse(self, path: Path, raw: RawSink, state: _State, *, buf_size: int,
               skip: int, backend: Any = ijson) -> Iterator[Record]:
        # media paths are relative to the export's folder (on disk or in an
        # archive); a pipe has none
        base = media_root(path)
        src = str(path)
        chat: dict[str, Any] = {}
        with open_binary(path) as opened:
            # ijson hands over a JSON string only whole: a file that is one endless
            # string would be held in memory. The guard stops reading once
            # TOKEN_MAX bytes have passed without 16 events; a message that grows
            # past MAX_LINE comes as TOO_BIG, its remaining events skipped.
            # the careful pass reads on past numbers Python cannot read
            # reads of buf_size bytes, growing within a long string (StringReads:
            # both parsers take time squared over a string read in fixed pieces)
            # A string outside the messages (a chat's name) longer than
            # _OUTSIDE_BYTES is passed over, not built (state.read.cut).
            def build(stream: Any) -> resync.Layers:
                # (past a resume point, validated already, in larger reads: 64
                # bytes a read took ~1 s a MB)
                step = buf_size if stream is opened else RESYNC_STEP
                return resync.Layers.over(stream, step, TOKEN_MAX, outside=_OUTSIDE_BYTES)

            def parse(f: ReadGuard, skip: int, fast: Any = None
                      ) -> Iterator[tuple[str, str, Any]]:
                return capped_parse(f, CHAT_ITEM, MAX_LINE, skip=skip, backend=fast or backend,
                                    buf_size=READ_MAX)

            def now(layers: resync.Layers) -> None:
                state.cut, state.read = layers.cut, layers.guard

            if backend is ijson:  # the first pass
                state.cut = raw_f = EndAtDamage(opened)
                state.read = ReadGuard(StringReads(NumberRuns(raw_f, path), buf_size),
                                       TOKEN_MAX, outside=_OUTSIDE_BYTES)
                events = parse(state.read, skip)
            else:  # the careful pass: read on past damaged JSON in the messages (resync)
                events = resync.read_on(path, opened, build, parse, CHAT_ITEM, skip, now)
            for prefix, event, value in events:
                if event == "map_key":  # (only outside the messages: theirs are built)
                    state.key_at = state.key_path(prefix, value)
                    continue
                state.key_at = None
                if event == "item":  # one message, built whole (or TOO_BIG, SKIPPED)
                    state.messages += 1
                    if value is TOO_BIG:
                        yield reject(src, f"message over {MAX_LINE} bytes",
                                     path=state.at(f"messages[{state.idx}]"))
                    elif value is not SKIPPED:
                        if {"id", "type"} <= state.chat_keys:
                            yield from unless_rejected(self._message(
                                value, chat, base, src, state.idx, raw, state), raw)
                        else:
                            yield reject(src, _refused(state.refused) if state.refused
                                         else REORDERED, path=state.at(f"messages[{state.idx}]"))
                    state.idx += 1
                elif event == "reject" and prefix in CHAT_PREFIXES[1:]:
                    # damage in a chat's own fields or between chats: read on
                    # from the next chat (resync), the rest of this one lost
                    yield reject(src, value, path=state.chat_id or state.where)
                elif event == "skipped":  # objects of the list passed over (resync):
                    # damaged chats, each a place of the list (the chats after
                    # them were named one place too early)
                    state.listed[prefix] = state.listed.get(prefix, 0) + value
                elif event == "reject":  # a damaged message, or one not trusted after it
                    state.messages += 1
                    yield reject(src, value, path=state.at(f"messages[{state.idx}]"))
                    state.idx += 1
                elif prefix in CHAT_PREFIXES[1:] and event in _VALUE_STARTS:  # a chat of a list
                    k = state.listed.get(prefix, 0)
                    state.listed[prefix] = k + 1
                    state.where = f"{prefix[:-5]}[{k}]"  # chats.list.item: chats.list[k]
                    state.chat_id = None
                    state.between = False
                    if event == "start_map":
                        chat = {}
                        state.idx = 0
                        state.chat_keys = set()
                        state.refused = {}
                    elif state.fresh():
                        yield reject(src, "a chat of the list: expected an object",
                                     path=state.where)
                elif event == "start_array" and prefix in _LISTS:
                    state.listed[prefix + ".item"] = 0
                    state.chat_id, state.where, state.between = None, f"{prefix}[0]", True
                elif event == "end_map" and prefix in CHAT_PREFIXES:
                    if chat.get("id") is not None:  # the chat read whole: its account
                        cid = _chat_id(chat)
                        if cid is not None:
                            yield from self._chat_done(cid, state, raw, src)
                    if prefix:  # (a chat of a list) damage after it, before the next
                        # one, is at the next place, not in this chat (it was
                        # named by this chat's id)
                        state.chat_id = None
                        state.where = f"{prefix[:-5]}[{state.listed.get(prefix, 0)}]"
                        state.between = True
                elif event in _VALUE_STARTS:
                    parent, _, key = prefix.rpartition(".")
                    if parent not in CHAT_PREFIXES:
                        continue
                    if key in ("name", "type", "id"):
                        why = (jsonlex.INVALID_UTF8_REASON if value == jsonlex.INVALID_UTF8
                               else jsonlex.CONTROL_IN_STRING_REASON
                               if value == jsonlex.CONTROL_IN_STRING
                               else _TOO_LONG if event == "string" and (
                                   state.read.cut or len(value) > CHAT_FIELD_MAX)
                               else _not_a_type(event) if key == "type"
                               else None)
                        if why is not None:
                            # not kept (chat_record refused it: the chat's messages
                            # and account were lost): without a name the account is
                            # still given; without a type or id the messages are
                            # rejected (saying it was refused), not stored under a
                            # guessed chat
                            if state.fresh():
                                yield reject(src, f"field {key!r} of the chat: {why}",
                                             path=state.at(key))
                            if key == "name":
                                state.chat_keys.add(key)
                            else:
                                state.refused[key] = why
                            continue
                        state.chat_keys.add(key)
                        state.refused.pop(key, None)  # (read again, not refused)
                        if key == "type" and (event == "null" or value not in CHAT_PREFIX):
                            state.unknown_type(value)
                        if event in ("string", "number"):
                            # a lone "\\ud800" is valid JSON, not text
                            chat[key] = strip_surrogates(value)
                        if {"id", "type"} <= state.chat_keys and "id" in chat:
                            state.chat_id = _chat_id(chat)  # (None: no valid id)
                    elif key == "messages" and event != "start_array" and state.fresh():
                        yield reject(src, "field 'messages' of the chat: expected an "
                                     "array of messages", path=state.at("messages"))
        if not state.messages and not chat:
            raise IngestError(f"{src}: no chats or messages found (not a Telegram export?)")

    @staticmethod
    def _chat_account(chat: dict, raw: RawRef,
                      observed_at: datetime | None = None) -> Account | None:
        if chat.get("id") is None:
            return None
        ctype = chat.get("type") if isinstance(chat.get("type"), str) else None
        return Account(platform=PLATFORM, platform_id=chat_platform_id(ctype, chat["id"]),
                       name=clean_text(chat.get("name"), "name") if isinstance(
                           chat.get("name"), str) else None,
                       kind=opt_str(ctype, "type", 32), raw=raw, observed_at=observed_at)

    @classmethod
    def _chat_done(cls, cid: str, state: _State, raw: RawSink, src: str) -> Iterator[Record]:
        """The account of chat ``cid``, once its messages are read (``_State``),
        with the raw record ``chat_record`` makes of its fields (name, type, id):
        a message's bytes, repeated in a later export, made the later export's
        chat count as read before."""
        chat = state.pending.pop(cid, None)
        if chat is None or cid in state.done:
            return
        state.done.add(cid)
        ref, seen = chat_record(raw, "telegram", src, cid,
                                {k: chat[k] for k in ("id", "type", "name") if k in chat},
                                state.latest.get(cid), state.day)
        acc = cls._chat_account(chat, ref, seen)
        if acc is not None:
            yield acc

    def _message(self, m: Any, chat: dict, base: MediaRoot | None, src: str, idx: int, raw: RawSink,
                 state: _State) -> Iterator[Record]:
        # (an id of null, true, an object or a list is read, but not kept in chat)
        cid = _chat_id(chat) if chat.get("id") is not None else None
        if cid is None:
            yield reject(src, "field 'id' of the chat: not a valid id (over 190 characters, "
                         "a NUL byte or not a string or number)",
                         path=state.at(f"messages[{idx}]"))
            return
        path = f"{cid}.messages[{idx}]"
        if not isinstance(m, dict):
            yield reject(src, "message: expected an object", path=path)
            return
        try:
            m, data = dump_item(m)
        except ValueError as e:  # nested hundreds of levels deep, a number too large
            yield reject(src, f"message: {e}", path=path)
            return
        sha = raw.put(data, "telegram")
        if raw.size >= raw.ahead_at:  # messages of no record piled up (RawSink.ahead_at)
            yield Ahead(sha)
        ref = RawRef(sha256=sha, fmt="telegram", source_file=src, path=path)
        if cid not in state.done and cid not in state.pending:
            state.pending[cid] = dict(chat)
        try:
            mid = req_id(m.get("id"), "id")
            pid = message_id(cid, mid)
            when = parse_time(m.get("date_unixtime") or m.get("date"), "date")
            state.seen(cid, when)
            mtype = m.get("type", "message")
            raw_from = m.get("from_id") or m.get("actor_id")
            if isinstance(raw_from, int) and not isinstance(raw_from, bool):
                # exports before 2020 wrote a bare number: the chat's own id for its
                # posts, a user's otherwise; named as newer exports name them
                raw_from = cid if str(raw_from) == str(chat.get("id")) else f"user{raw_from}"
            from_id = opt_str(raw_from, "from_id", 190)
            from_name = m.get("from") if m.get("type") != "service" else m.get("actor")
            from_name = clean_text(from_name, "from") if isinstance(from_name, str) else None
            if from_id and from_id != cid:
                yield Account(platform=PLATFORM, platform_id=from_id, name=from_name,
                              kind="user" if from_id.startswith("user") else None,
                              stub=True, raw=ref)
            if mtype == "service":
                yield Event(platform=PLATFORM, platform_id=pid,
                            action=opt_str(m.get("action"), "action", 64) or "service",
                            chat_id=cid, actor_id=from_id, actor_name=from_name, at=when,
                            extra={k: plain_json(m[k], k) for k in (
                                "title", "members", "message_id", "duration_seconds")
                                if k in m},
                            raw=ref)
                return
            if mtype != "message":
                yield reject(src, f"field 'type': unknown message type {str(mtype)[:30]!r}",
                             path=path)
                return
            text, ents = _plain_text(m.get("text"))
            post = Post(platform=PLATFORM, platform_id=pid, account_id=from_id or cid,
                        text=clean_text(text, "text"), created_at=when, chat_id=cid,
                        edited_at=parse_time(m.get("edited_unixtime") or m.get("edited"),
                                             "edited"),
                        raw=ref)
            state.seen(cid, post.edited_at)
            if state.day is not None:  # collected that day, and not before the message
                post.observed_at = latest(state.day, when, post.edited_at)
            if m.get("author"):
                post.extra["signature"] = opt_str(m.get("author"), "author", 200)
            if m.get("via_bot"):
                post.extra["via_bot"] = opt_str(m.get("via_bot"), "via_bot", 200)
            fwd = m.get("forwarded_from")
            fwd_id = m.get("forwarded_from_id") or m.get("saved_from_id")
            if fwd is not None or fwd_id is not None:
                post.kind = PostKind.FORWARD
                post.links.append(Link(PostKind.FORWARD, None,
                                       opt_str(fwd_id, "forwarded_from_id", 190),
                                       opt_str(fwd, "forwarded_from", 200)))
            rto = m.get("reply_to_message_id")
            if rto is not None:
                rid = req_id(rto, "reply_to_message_id")
                rchat = m.get("reply_to_peer_id")
                target = f"{rchat}/{rid}" if isinstance(rchat, str) else f"{cid}/{rid}"
                post.links.append(Link(PostKind.REPLY, target))
                if post.kind == PostKind.POST:
                    post.kind = PostKind.REPLY
            for e in ents:
                et = e.get("type")
                if et == "hashtag":
                    post.hashtags.append(e["text"].lstrip("#"))
                elif et == "mention":
                    post.mentions.append((None, e["text"].lstrip("@")))
                elif et == "mention_name" and e.get("user_id") is not None:
                    post.mentions.append((f"user{e['user_id']}", None))
                elif et == "link":
                    post.urls.append(e["text"][:2000])
                elif et == "text_link" and isinstance(e.get("href"), str):
                    post.urls.append(e["href"][:2000])
            buttons = button_links(m.get("inline_bot_buttons"), "inline_bot_buttons")
            if buttons:  # link buttons under a post: join links, donation pages …
                post.extra["buttons"] = buttons
                post.urls.extend(b["url"] for b in buttons)
            if m.get("poll") is not None:
                post.extra["poll"] = desktop_poll(m["poll"])
            ci = m.get("contact_information")
            if isinstance(ci, dict):
                contact = make_contact(ci.get("first_name"), ci.get("last_name"),
                                       ci.get("phone_number"))
                if contact:
                    post.extra["contact"] = contact
            if m.get("location_information") is not None or m.get("place_name"):
                loc = m.get("location_information")
                loc = loc if isinstance(loc, dict) else {}
                geo = make_geo(loc.get("latitude"), loc.get("longitude"),
                               name=m.get("place_name"), address=m.get("address"),
                               live_seconds=m.get("live_location_period_seconds"))
                if geo:
                    post.extra["geo"] = geo
            post.media.extend(self._media(m, cid, mid, base, src, path))
            if isinstance(m.get("reactions"), list):
                post.metrics["reactions"] = sum(
                    r.get("count", 0) for r in m["reactions"]
                    if isinstance(r, dict) and isinstance(r.get("count"), int))
            if isinstance(m.get("views"), int):
                post.metrics["views"] = m["views"]
            yield post
        except (KeyError, TypeError, ValueError) as e:
            yield reject(src, e, path=path)

    def _media(self, m: dict, cid: str, mid: str, base: MediaRoot | None, src: str,
               path: str) -> Iterator[Media]:
        for key, mtype, size_key in (("photo", "photo", "photo_file_size"),
                                     ("file", None, "file_size")):
            rel = m.get(key)
            if rel is None:
                continue
            if not isinstance(rel, str):
                raise TypeError(f"field {key!r}: expected a path string")
            extra: dict[str, Any] = {}
            local = None
            missing = media_placeholder(rel)
            if missing is not None:  # not downloaded: no path to look for
                extra["not_downloaded"] = missing
            else:
                if rel and base is not None:
                    local = kept_local(base, rel, key, extra)
                extra["relative_path"] = rel[:500]
            if key == "file":  # a document's own name, kept where its file is not
                name = opt_str(m.get("file_name"), "file_name", 300)
                if name is not None:
                    extra["file_name"] = name
            size = opt_int(m.get(size_key), size_key)
            if size is not None:
                extra["file_size"] = size
            yield Media(
                platform=PLATFORM, media_key=f"{cid}/{mid}/{key}",
                type=mtype or opt_str(m.get("media_type"), "media_type", 32) or "file",
                local_path=local, mime_type=opt_str(m.get("mime_type"), "mime_type", 100),
                width=opt_int(m.get("width"), "width"), height=opt_int(m.get("height"), "height"),
                duration_ms=millis(opt_int(m.get("duration_seconds"), "duration_seconds"),
                                   "duration_seconds") or None,
                extra=extra)
