"""JSON objects from a file, whichever way the file holds them.

Collectors write JSON Lines (one object a line), but people and other tools also
save one pretty-printed document, several one after another (``jq .`` output), or a
JSON array (``json.dump(list_of_items, f)``, on one line or indented). ``json_items``
reads all of these as a stream of objects with where each came from, so a format
module only maps objects to records.

- JSON Lines: each line is parsed alone; a bad line is a reject and the next line
  is read. The raw record is the line as received.
- Documents and arrays: streamed with ijson (memory bounded by the largest item);
  the raw record is the item's compact JSON (there are no lines to keep). An item
  over ``MAX_LINE`` bytes is a reject and the items after it are still read
  (``capped_parse``). Broken JSON in an array (a trailing comma, a stray
  byte, a lost quote) is one reject naming the damaged item, and the items
  after it are read from a resume point checked first (``resync``, which says
  why no record is ever made up from text in a string or from the damaged
  item's nested objects), where the file can be read again (damage in the
  first item too: it is read as JSON Lines only where no resume point is
  taken). Several arrays one after another are read as one, their items
  numbered on (the fast pass reads one value: at the next, the C parser reads
  the rest with its events, values one after another). Several documents one
  after another are read on from the next document's start, a ``{`` at the
  start of a line (``resync.next_document``), past damage, nesting or a
  token too long alike. Else the items before it are kept and the rest is
  one reject naming the item where reading stopped; so it is after one JSON
  value over ``TOKEN_MAX`` bytes in an array (ijson hands over a string
  only whole). Bytes that are no UTF-8 text inside a string,
  and raw control characters there (a TAB or NUL byte unescaped), are no such
  damage: the item holding them is a reject and the items after it are read
  (``jsonlex.INVALID_UTF8``, ``jsonlex.CONTROL_IN_STRING``).
"""

from __future__ import annotations

import io
import itertools
import json
import math
import re
import secrets
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import ijson
import orjson

from rasd.ingest import jsonlex
from rasd.ingest.base import (
    _CR_PARTS_VALUES,
    CR_PEEK,
    MAX_LINE,
    REPLAY_LIMIT,
    Converted,
    DecompressionBomb,
    EndAtDamage,
    IngestError,
    RawSink,
    _cr_after_a_line,
    cr_lines,
    current_stream,
    ended,
    iter_lines,
    latest,
    loads,
    open_binary,
    peekable,
    read_sample,
    reject,
    strip_surrogates,
    whole_json,
)
from rasd.model import RawRef, Record, Reject


@dataclass(slots=True)
class Item:
    """One JSON object of a file and where it came from."""

    obj: dict[str, Any]
    sha: str  # its raw record
    line: int | None  # 1-based line, for JSON Lines
    where: str | None  # position in a JSON document: "[3]" (array), "doc[0]"


def json_layout(sample: bytes) -> str:
    """``lines`` (JSON Lines), ``array`` (one JSON array of items) or ``documents``
    (one pretty-printed JSON document, or several one after another).

    JSON Lines whose first line is broken must stay JSON Lines (every other line is
    still read), so a file counts as a document only when its first two lines are
    not JSON on their own, as in anything pretty-printed."""
    body = sample.lstrip()
    lines = [x for x in body.split(b"\n", 2) if x.strip()]
    if not lines or body[:1] not in (b"{", b"["):
        return "lines"
    array = body[:1] == b"["
    if len(lines) == 1 or b"\n" not in body.rstrip():  # one line, maybe over the sample
        return "array" if array else "lines"
    if whole_json(lines[0]) or whole_json(lines[1]):  # JSON Lines, maybe a broken first line
        return "lines"
    if _whole_then_more(lines[0]):  # a first line broken after a whole value, and a second
        return "lines"  # one longer than the sample: nothing pretty-printed starts so
    if _ESCAPES.sub(b"", lines[0]).count(b'"') & 1:  # it ends inside a string: an LF in
        return "lines"  # one (damage), never where a pretty-printer breaks a line
    return "array" if array else "documents"


def _whole_then_more(line: bytes) -> bool:
    """Whether ``line`` starts with a whole JSON value (bytes follow it: it is
    no whole value itself). A pretty-printed document's first line never
    does (``{``, ``[{"a": 1},``); a line of JSON Lines damaged at its end does
    (``{…}\\ud800``, ``{…}\\x00``). Taken for a document when the next line ran
    past the sample, such a file lost every line after the damage (found by
    the h10 fuzz campaign: a 12 KiB tweet with junk after it, then a 131 KiB
    one)."""
    try:
        _DECODER.raw_decode(line.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        return False
    return True


MAX_JSON_DEPTH = 1024  # levels of nesting: what orjson reads (loads), and first_keys follows


def first_keys(path: Path, limit: int = REPLAY_LIMIT - 2**18) -> set[str]:
    """The top-level keys of the first JSON object of ``path`` (a line of JSON
    Lines, a document, or an array's first item), read as a stream from its
    start for at most ``limit`` bytes: what a format is told by when its
    first record runs past the sample (X writes a tweet's keys in no fixed
    order; a long note may fill megabytes before them). A broken or cut
    object gives the keys before the break. Bounded: ``limit`` bytes read
    (standard input keeps 8 MiB to read again: the default leaves room for
    what buffers read ahead, so that the parser can still start over), values
    skipped by the pure-Python parser (``jsonlex``), which takes a string in time linear
    in its length (yajl, the C one, took 240 s for 30 MiB of \\u escapes),
    and numbers over ``NUMBER_CARRY_MAX`` made a marker first (``NumberGuard``);
    nesting followed here, not by ijson's prefixes (a string as long as the
    depth for each event: a first record of 300,000 "[" took over 7 GB and
    90 s, unfinished), and given up past ``MAX_JSON_DEPTH``."""
    keys: set[str] = set()
    try:
        with open_binary(path) as f:
            events = jsonlex.basic_parse(NumberGuard(_Capped(f, limit)), use_float=True,
                                         multiple_values=True)
            open_: list[str] = []  # the containers open: "start_map" or "start_array"
            for event, value in events:
                if event == "start_map" or event == "start_array":
                    open_.append(event)
                    if len(open_) > MAX_JSON_DEPTH:
                        break
                elif event == "end_map" or event == "end_array":
                    open_.pop()
                    if event == "end_map" and open_ in ([], ["start_array"]):
                        break  # the first object (or the array's first item) ended
                elif event == "map_key" and open_ in (["start_map"],
                                                      ["start_array", "start_map"]):
                    keys.add(value)
    except (IngestError, OSError, EOFError, ValueError, ijson.common.JSONError):
        pass  # unreadable there: the keys before it
    return keys


class _Capped:
    """A reader that ends after ``limit`` bytes."""

    def __init__(self, f: Any, limit: int) -> None:
        self.f, self.left = f, limit

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        data = self.f.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(data)
        return data


def doc_path(layout: str, i: int) -> str:
    return f"[{i}]" if layout == "array" else f"doc[{i}]"


def chat_record(raw: RawSink, fmt: str, src: str, cid: str, fields: dict[str, Any],
                last: datetime | None, day: datetime | None) -> tuple[RawRef, datetime | None]:
    """The raw record of a Telegram export's chat and when it was seen: the
    chat's own ``fields`` as read, with the time of its latest message or edit
    (``last``) and the day of the export (``day``, base.export_day) — the
    account is made from those, not from any one message, and two exports of a
    chat give two records unless name and times agree — and the later of the
    two times (an export records no time of its own)."""
    head = dict(fields)
    head["latest_message_at"] = last.isoformat() if last else None
    if day is not None:
        head["export_day"] = day.date().isoformat()
    sha = raw.put(dump_item(head)[1], fmt)
    return RawRef(sha256=sha, fmt=fmt, source_file=src, path=cid), latest(last, day)


def dump_item(obj: Any) -> tuple[Any, bytes]:
    """An object read from a JSON document, and its compact JSON (its raw
    record, where there are no lines to keep: items of arrays, Telegram
    messages). A lone surrogate escape in a string (``"\\ud800"``: valid JSON,
    not valid text) is replaced first, in the object as in its JSON: such a
    string stopped a whole ingest when the record was hashed or stored."""
    try:
        return obj, _checked(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        # orjson names only the first problem it meets: a lone surrogate, an
        # integer past 64 bits or nesting past its limit, maybe several of them
        try:
            obj = strip_surrogates(obj)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
    try:
        return obj, _checked(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS))
    except TypeError:
        pass
    try:  # integers beyond 64 bits, or nesting past orjson's limit
        data = json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode("utf-8", "replace")
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    return obj, _checked(data)


def _checked(data: bytes) -> bytes:
    if _UNREADABLE_JSON in data:  # NumberGuard put it where a number was
        raise ValueError(UNREADABLE_REASON)
    if jsonlex.INVALID_UTF8_JSON in data:  # a string of bytes that are no UTF-8 text
        raise ValueError(jsonlex.INVALID_UTF8_REASON)
    if jsonlex.NOT_A_NUMBER_JSON in data:  # NaN or Infinity where a value was
        raise ValueError(jsonlex.NOT_A_NUMBER_REASON)
    if jsonlex.CONTROL_IN_STRING_JSON in data:  # a raw TAB, NUL … in a string
        raise ValueError(jsonlex.CONTROL_IN_STRING_REASON)
    return data


# What NumberGuard puts where a number was that Python cannot read; an item
# holding it is rejected (dump_item), the items after it are read.
# a token of this process's own: a post cannot hold it to have itself rejected
UNREADABLE = f"\x00rasd:unreadable-number:{secrets.token_hex(8)}"
_UNREADABLE_JSON = orjson.dumps(UNREADABLE)
UNREADABLE_REASON = ("a number too large to read (an integer of over 4,300 digits, a float "
                     "past its range, or a number over 64 KiB long)")
# A number longer than this is taken as unreadable. No real one comes near: an
# integer past 4,300 digits is unreadable anyway, and a float's digits past the
# 17th change nothing. It bounds what the parsers spend on one number token: yajl
# (ijson's C backend) and ijson's Python lexer (read 64 bytes at a time in the
# careful passes) scan a number again for each piece of it read, so their time
# grows with its length squared: 37 s for a 1 MiB float in the Python lexer, 80 s
# for a 30 MiB number in yajl (2 s for the whole 60 MiB file with this bound).
NUMBER_CARRY_MAX = 64 * 1024
# in a string: up to its '"'. Possessive (*+): the same match, without the
# backtracking state sre keeps for each repeat of the group otherwise, 620 MB
# and 1.4 s for 30 MiB of \u00e9 escapes (70 MB and 0.3 s so)
_STRING_REST = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)
_NUMBER_BYTES = b"-+.0123456789eE"
_NUMBER_CHARS = re.compile(rb"[-+.0-9eE]*")
# for a first look at C speed: digits and "." as "1", e/E as "e", signs as "+"
_CLASSES = bytes(b"1"[0] if c in b".0123456789" else b"e"[0] if c in b"eE"
                 else b"+"[0] if c in b"+-" else b" "[0] for c in range(256))
_ESCAPES = re.compile(rb"\\.", re.DOTALL)
# numbers worth a look: 300 characters and more (an integer of over 4,300
# digits, a float of 309 digits before its point), an exponent of 3 digits and
# more, or one after 16 characters and more (1000…0e60: 250 digits, then e60)
_SUSPECT = re.compile(
    rb"(?<![\w.+-])(?:-?[0-9][0-9.]{299,}(?:[eE][+-]?[0-9]+)?"
    rb"|-?[0-9][0-9.]{15,}[eE][+-]?[0-9]+"
    rb"|-?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]{3,})(?![\w.+-])")


def _readable(tok: bytes) -> bool:
    """Whether a JSON parser in Python reads number ``tok`` (ijson: an ``int``
    where there is no fraction or exponent, else a finite ``float``). One
    over ``NUMBER_CARRY_MAX`` never is, however it was read."""
    if len(tok) > NUMBER_CARRY_MAX:
        return False
    if not any(c in tok for c in b".eE"):
        limit = sys.get_int_max_str_digits()
        return not limit or len(tok.lstrip(b"-")) <= limit
    try:
        return math.isfinite(float(tok))
    except ValueError:
        return False


MAX_MARKS = 100_000  # long numbers replaced that NumberGuard keeps the places of (~12 MB)


class NumberGuard:
    """A JSON byte stream in which each number Python cannot read — an integer
    of over 4,300 digits (Python's limit on converting text to int), or one
    past a float's range (``1e400``) — is replaced by the string ``UNREADABLE``.
    A parser stops for good at such a number; valid JSON as it is, one of them
    in a Telegram export or a JSON array lost every record after it. Now the
    item that holds it is rejected (``dump_item``) and the rest is read.
    Strings are passed through untouched (their state is followed across
    reads); only numbers outside them are looked at. Read in the careful
    passes, after the fast C parser stopped."""

    def __init__(self, f: Any, block: int = 64 * 1024) -> None:
        self.f, self.block = f, block
        self.ready = bytearray()
        self.pending = b""  # an unfinished number, or a string's lone trailing backslash
        # bytes read less bytes handed, over the numbers replaced so far: what
        # is handed is that much shorter (at most) than what was read
        # (``resync`` tells a file offset from what the parser was handed)
        self.shrunk = 0
        # where each replacement ends in what is handed (bytes handed before
        # it, and the marker), and by how much it made that shorter: what
        # ``shrunk_before`` adds up (``resync``: exact offsets, ``shrunk``
        # counts numbers scanned ahead of what the parser was handed too).
        # Kept only where ``track`` is set (``resync.read_on``, which asks
        # after each item: a pass that never asks kept one a long number,
        # 22 MB for a 13 MB array of them), and at most ``MAX_MARKS``: past
        # them (one item of more long numbers) ``exact`` is False, and the
        # offsets ``shrunk_before`` gives are ``shrunk``'s (too far on)
        self._marks: deque[list[int]] = deque()
        self.track = False
        self.exact = True
        self._handed = 0  # bytes handed
        self._before = 0  # of the marks let go of (all before what was asked)
        self.in_string = self.swallow = self.eof = False

    def shrunk_before(self, pos: int) -> int:
        """Bytes read less bytes handed, over the replacements that end at or
        before byte ``pos`` of what was handed (``pos`` never less than
        asked before)."""
        if not self.exact:
            return self.shrunk
        marks = self._marks
        while marks and marks[0][0] <= pos:
            self._before += marks.popleft()[1]
        return self._before

    def _shrink(self, by: int, new: bool = True) -> None:
        """A replacement (``new``: its marker just added) made what is handed
        ``by`` bytes shorter than what was read (a swallowed number's rest:
        the last one's)."""
        self.shrunk += by
        if not by or not self.track:
            return
        if len(self._marks) >= MAX_MARKS:
            self.exact = False
            self._marks.clear()
            self.track = False
            return
        if new or not self._marks:
            self._marks.append([self._handed + len(self.ready), by])
        else:
            self._marks[-1][1] += by

    def read(self, size: int = -1) -> bytes:
        while not self.eof and (size < 0 or len(self.ready) < size):
            data = self.f.read(self.block)
            if not data:
                self.eof = True
            self._scan(data)
        n = len(self.ready) if size < 0 else min(size, len(self.ready))
        self._handed += n
        if n == len(self.ready):  # (one copy, not two: reads of a long string are large)
            out = bytes(self.ready)
            self.ready.clear()
            return out
        out = bytes(self.ready[:n])
        del self.ready[:n]
        return out

    def _scan(self, data: bytes) -> None:
        buf, self.pending = self.pending + data, b""
        if not self.swallow and not self.eof and self._plain(buf):
            return
        n, pos, out = len(buf), 0, self.ready
        if self.swallow:  # the rest of a number already replaced
            pos = _NUMBER_CHARS.match(buf).end()  # type: ignore[union-attr]
            self._shrink(pos, new=False)
            if pos == n and not self.eof:
                return
            self.swallow = False
        while pos < n:
            if self.in_string:
                end = _STRING_REST.match(buf, pos).end()  # type: ignore[union-attr]
                if end < n and buf[end] == 0x22:  # its closing quote
                    out += buf[pos:end + 1]
                    pos, self.in_string = end + 1, False
                    continue
                out += buf[pos:end]  # goes on in the next read (a lone '\' waits)
                if self.eof:
                    out += buf[end:]
                else:
                    self.pending = buf[end:]
                return
            q = buf.find(b'"', pos)
            if q >= 0:
                self._outside(buf, pos, q)
                out += b'"'
                pos, self.in_string = q + 1, True
                continue
            if self.eof:
                self._outside(buf, pos, n)
                return
            cut = max(pos, len(buf.rstrip(_NUMBER_BYTES)))
            self._outside(buf, pos, cut)
            if n - cut > NUMBER_CARRY_MAX:  # an endless number: unreadable
                out += _UNREADABLE_JSON
                self._shrink(max(n - cut - len(_UNREADABLE_JSON), 0))
                self.swallow = True
            else:
                self.pending = buf[cut:]
            return

    def _plain(self, buf: bytes) -> bool:
        """The common case, at C speed: nothing in ``buf`` looks like an
        unreadable number, in strings or out. Then only whether it ends in a
        string matters (the parity of its unescaped quotes), and a number it
        may end with is kept for the next read. False: ``_scan`` walks it."""
        if buf.endswith(b"\\"):
            return False
        kinds = buf.translate(_CLASSES)
        if b"1" * 300 in kinds or b"1" * 16 + b"e" in kinds or b"e111" in kinds \
                or b"e+111" in kinds:
            return False  # a long number or a long exponent, maybe: a closer look
        ends_in_string = self.in_string ^ bool(_ESCAPES.sub(b"", buf).count(b'"') & 1)
        cut = len(buf) if ends_in_string else len(buf.rstrip(_NUMBER_BYTES))
        if len(buf) - cut > NUMBER_CARRY_MAX:
            return False  # an endless run: _scan swallows it, it is not kept
        self.ready += buf[:cut]
        self.pending = buf[cut:]
        self.in_string = ends_in_string
        return True

    def _outside(self, buf: bytes, start: int, end: int) -> None:
        last = start
        for m in _SUSPECT.finditer(buf, start, end):
            if not _readable(m.group()):
                self.ready += buf[last:m.start()] + _UNREADABLE_JSON
                self._shrink(max(m.end() - m.start() - len(_UNREADABLE_JSON), 0))
                last = m.end()
        self.ready += buf[last:end]


class StringReads:
    """A file reader for the JSON parsers whose reads grow with the string
    being read: ``step`` bytes a read (what the parser would have asked
    for), but inside a string already longer than that, as much again as was
    read of it (up to the size asked, which callers set large: ``READ_MAX``)
    and never past its closing quote.

    Both of ijson's parsers go back over a token from its start at each read
    that ends inside it: yajl (the C one) lexes it again, the pure-Python one
    searches it again for its closing quote, so a string of length L read
    ``step`` bytes at a time cost L²/step. Measured with 64 KiB reads, an
    item's text of 8 MiB: 0.2 s plain ASCII, 4 s ``\\u00e9`` escapes, 8 s of
    two-byte UTF-8 (é; any Cyrillic or Arabic post); 30 MiB of escapes: 238 s.
    The Python parser read 64 bytes at a time (Telegram's careful pass): 9 s
    for 8 MiB of plain text. Reads that double while in a string make that
    linear (the same 30 MiB: 0.8 s in yajl, 4 s for its whole array read by
    ``json_items``), and the parsers see the same bytes. The read that meets
    the string's closing quote stops there: Telegram's careful pass loses
    the events of a read that ends in a broken byte, so reads stay small
    around the messages after the string.

    The state (in a string or not, a lone backslash at the end of the last
    read, how long the string is so far) is followed by counting quotes at C
    speed; escapes (``\\"``) are taken out first where a read holds a
    backslash. It is only a guess at where strings are: a wrong one changes
    the sizes of reads, never what is read."""

    def __init__(self, f: Any, step: int) -> None:
        self.f, self.step = f, step
        self.held = b""  # read from f, after the closing quote a read stopped at
        self.in_string = self.esc = False  # esc: the next byte is escaped
        self.run = 0  # bytes of the string being read handed over (at least)
        # set by ReadGuard before each read: bytes the item being read may
        # still take (outside an item: ReadGuard.outside, None for no bound),
        # and bytes before ItemTooLarge
        self.room: int | None = None
        self.left = TOKEN_MAX
        self.skipped = 0  # bytes of a string passed over, not handed (ReadGuard counts them)
        self.tail = b""  # the last bytes handed
        # the nesting of what was handed, outside strings (as the quotes
        # tell them); ``NestedTooDeep`` rather than a read past MAX_READ_DEPTH
        self.depth = 0
        self.deep = False  # the last read stopped where MAX_READ_DEPTH was passed

    def read(self, size: int = -1) -> bytes:
        if self.deep:
            raise NestedTooDeep
        data = self._read(size)
        if data:
            self.tail = (self.tail + data[-3:])[-3:]
        return data

    def _read(self, size: int) -> bytes:
        long = self.in_string and self.run > self.step
        if long and self.room is not None:
            return self._bounded()
        want = self.step if size < 0 else min(size, max(self.step, self.run if long else 0))
        if len(self.held) >= want:
            data, self.held = self.held[:want], self.held[want:]
        else:
            data = self.held + self.f.read(want - len(self.held))
            self.held = b""
        if long and data:
            end = _STRING_REST.match(data, 1 if self.esc else 0).end()  # type: ignore[union-attr]
            if end < len(data) and data[end] == 0x22:  # its closing quote: stop after it
                self.held = data[end + 1:] + self.held
                self.in_string = self.esc = False
                self.run = 0
                return data[:end + 1]
            self.esc = end < len(data)  # a lone backslash at the end
            self.run += len(data)
            return data
        cut = self._follow(data)
        if cut is not None:  # (handed up to the level past the bound; the next read raises)
            self.held, data, self.deep = data[cut:] + self.held, data[:cut], True
            if not data:  # (an empty read is the end of the file to a parser)
                raise NestedTooDeep
            self._follow(data)
        return data

    def _bounded(self) -> bytes:
        """The rest of a long string inside an item: handed whole once its
        closing quote is read, if the item has room for it (``room``); else
        passed over, up to its quote, unseen by the parser (``skipped``; or
        ``ItemTooLarge`` past ``left``), and ended there for the parser: a
        string longer than ``room`` makes its item too big, and the item is
        dropped. Read ahead ``_AHEAD`` bytes at a time, so at most ``room``
        bytes are held, and the parser never holds nor decodes such a string: it
        was read, held and decoded whole, up to ``TOKEN_MAX``; an array item
        of a 40 MiB string took 138 MiB more than the reader's own."""
        room = max(self.room or 0, 0)
        esc0 = self.esc  # the parser's last byte is a lone backslash
        parts: list[bytes] = []  # read of the string, not handed yet
        data, self.held = self.held, b""
        have = 0  # bytes in parts
        esc = esc0  # the next byte read is escaped
        while True:  # read ahead, _AHEAD bytes at a time, to its quote or past room
            if data:
                at = _STRING_REST.match(data, 1 if esc else 0).end()  # type: ignore[union-attr]
                if at < len(data) and data[at] == 0x22:  # its closing quote
                    if have + at < room:
                        self.held = data[at + 1:]
                        self.in_string = self.esc = False
                        self.run = 0
                        parts.append(data[:at + 1])
                        return b"".join(parts)
                    skipped = have + at + 1
                    self.held = data[at + 1:]
                    break
                esc = at < len(data)  # a lone backslash ends it
                parts.append(data)
                have += len(data)
                if have > room:
                    del parts
                    skipped = self._pass_over(have, esc)
                    if skipped is None:  # cut inside the string
                        return b""
                    break
            data = self.f.read(min(_AHEAD, room + 1 - have))
            if not data:  # cut inside the string: the parser meets the end
                self.run += have
                return b"".join(parts)
        self.skipped = skipped
        self.in_string = self.esc = False
        self.run = 0
        return _string_end(self.tail, esc0)

    def _pass_over(self, skipped: int, esc: bool) -> int | None:
        """Read on to the closing quote of a string ``skipped`` bytes of which
        were read (``esc``: the next byte is escaped); the bytes of it read in
        all, and what follows it held; None (the bytes in ``skipped``) where the
        file ends first. ``ItemTooLarge`` once over ``left``."""
        while True:
            if skipped > self.left:
                raise ItemTooLarge
            data = self.f.read(_AHEAD)
            if not data:
                self.skipped = skipped
                return None
            at = _STRING_REST.match(data, 1 if esc else 0).end()  # type: ignore[union-attr]
            if at < len(data) and data[at] == 0x22:
                self.held = data[at + 1:]
                return skipped + at + 1
            esc = at < len(data)
            skipped += len(data)

    def _follow(self, data: bytes) -> int | None:
        """Move the state past ``data`` (a read of ``step`` bytes or fewer);
        where it nests past ``MAX_READ_DEPTH``, leave the state as it is and
        say where in ``data`` (``_nest``)."""
        if not data:
            return None
        esc = False  # (a lone backslash at the end of this read)
        if self.esc or b"\\" in data:
            # escapes out first (outside strings there are none in JSON); a
            # lone backslash left at the end escapes the next read's first byte
            body = _ESCAPES.sub(b"", data[1:] if self.esc and self.in_string else data)
            esc = body.endswith(b"\\")
        else:
            body = data
        quotes = body.count(b'"')
        if quotes or not self.in_string:  # (between quotes, every other part is outside)
            outside = b"".join(body.split(b'"')[1 if self.in_string else 0::2]) if quotes else body
            if not self._nest(outside):  # (the state left as it was: handed up to the cut)
                return _depth_cut(data, self.in_string, self.esc, self.depth)
        in_string = self.in_string ^ bool(quotes & 1)
        if in_string:  # how much of the string ends this read: at least
            self.run = self.run + len(data) if not quotes else len(body) - body.rfind(b'"') - 1
        else:
            self.run, esc = 0, False
        self.in_string, self.esc = in_string, esc
        return None

    def _nest(self, outside: bytes) -> bool:
        """Move ``depth`` past ``outside`` (the bytes of a read outside
        strings); False, and ``depth`` as it was, where it goes past
        ``MAX_READ_DEPTH`` (the read is handed on up to there, and the next
        one raises ``NestedTooDeep``). ijson keeps the prefix of every open
        level ("item.item.…"): memory grows with the square of the depth,
        1 GB at 20,000 levels, 23 GB (the machine's) for a line of 3 million
        "[" in a 3 MB file. Counted at C speed; the deepest point within the
        read is looked for only where it could pass the bound."""
        opens = outside.count(b"[") + outside.count(b"{")
        if opens and self.depth + opens > MAX_READ_DEPTH and (
                _deepest(outside, self.depth) > MAX_READ_DEPTH):
            return False
        self.depth = max(self.depth + opens - outside.count(b"]") - outside.count(b"}"), 0)
        return True


def _depth_cut(data: bytes, in_string: bool, esc: bool, depth: int) -> int:
    """Where in ``data`` (a read that ``StringReads`` began in the state
    given) the nesting passes ``MAX_READ_DEPTH``: the offset of the
    bracket that opens one level too many. Byte by byte, only for a read
    that does (``_deepest``)."""
    for i, c in structural(data, [in_string, esc]):
        if c == 0x5B or c == 0x7B:
            depth += 1
            if depth > MAX_READ_DEPTH:
                return i
        elif c == 0x5D or c == 0x7D:
            depth = max(depth - 1, 0)
    return len(data)


def structural(data: bytes, state: list[bool]) -> Iterator[tuple[int, int]]:
    """(offset, byte) of each byte of ``data`` outside JSON strings (their
    quotes are strings'), byte by byte; ``state``: [in a string, the next
    byte escaped] as ``data`` begins, moved past it once it is read to its
    end (a caller that reads on carries it over)."""
    quoted, escaped = state
    for k, c in enumerate(data):
        if quoted:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                quoted = False
        elif c == 0x22:
            quoted = True
        else:
            yield k, c
    state[0], state[1] = quoted, escaped


def _deepest(outside: bytes, depth: int) -> int:
    """The greatest nesting reached within ``outside`` from ``depth``."""
    import numpy as np

    a = np.frombuffer(outside, dtype=np.uint8)
    step = ((a == 0x5B) | (a == 0x7B)).astype(np.int32) - ((a == 0x5D) | (a == 0x7D))
    return depth + max(int(np.cumsum(step).max()), 0)


def _string_end(tail: bytes, esc: bool) -> bytes:
    """What ends, as valid JSON, a string whose bytes handed so far end with
    ``tail`` (``esc``: with a lone backslash) — they may stop inside a UTF-8
    character or a ``\\u`` escape: the character's missing bytes, the escaped
    character, four ``0`` (the rest of a ``\\u`` escape, or plain text), the
    quote."""
    cont = b""
    for i in range(len(tail) - 1, -1, -1):
        c = tail[i]
        if c < 0x80:
            break
        if c >= 0xC0:  # a character's first byte: as many more as it takes
            missing = (2 if c < 0xE0 else 3 if c < 0xF0 else 4) - (len(tail) - i)
            if missing > 0:
                first = {0xE0: 0xA0, 0xF0: 0x90}.get(c, 0x80) if i == len(tail) - 1 else 0x80
                cont = bytes([first]) + b"\x80" * (missing - 1)
            break
    return cont + (b"\\" if esc else b"") + b'0000"'


# What StringReads reads at a time of a long string inside an item (the parser
# gets it whole)
_AHEAD = 1 << 20
# What StringReads is asked for: a read never goes past MAX_LINE bytes
READ_MAX = MAX_LINE


class ItemTooLarge(Exception):
    """One item of a JSON document is over ``MAX_LINE`` bytes (no real item is)."""


def too_large(e: ItemTooLarge, limit: int) -> str:
    """What a reject says of ``e``: a value over ``limit`` bytes, or nested
    too deep."""
    return str(e) if isinstance(e, NestedTooDeep) else f"a JSON value over {limit} bytes"


# levels of nesting handed to the JSON parsers at most (StringReads._nest):
# what orjson reads is 1,024, and an item deeper is a reject all the same
MAX_READ_DEPTH = 4096


class NestedTooDeep(ItemTooLarge, ValueError):
    """The JSON text nests past ``MAX_READ_DEPTH`` levels (no real one does):
    read on, the parser's memory would grow with the square of the depth.
    Damage, to the readers that read on past damaged JSON (``resync``: a
    ValueError), else an item too large to read (the rest is not read)."""

    def __str__(self) -> str:
        return f"JSON nested over {MAX_READ_DEPTH:,} levels"


TOKEN_MAX = 2 * MAX_LINE  # bytes read with fewer than 16 JSON events: one endless token
TOO_BIG = object()  # stands for an item dropped for its size
SKIPPED = object()  # stands for an item passed over unbuilt (``skip``)
_OPEN = {"start_map": "end_map", "start_array": "end_array"}


class ReadGuard:
    """A file reader that stops once the item being read is over ``limit`` bytes:
    ijson builds each item in memory, and an adversary's file could be one
    endless item. (``mark`` is moved on after each item.)

    ``outside``: the bytes a string outside the items may take (about: a read
    of it may come before), where such strings are read only for a few short
    fields (a Telegram chat's name); a longer one is passed over like an
    item's (``StringReads``), the parser given a stub of it, and ``cut`` says
    so until the next read. None: read whole, up to ``limit``."""

    def __init__(self, f: Any, limit: int, outside: int | None = None) -> None:
        self.f, self.limit, self.n, self.mark = f, limit, 0, 0
        # where the item being read passes its limit (None: not in an item):
        # a long string of it that runs past is passed over (StringReads)
        self.end: int | None = None
        self.outside = outside
        # the last read passed over the rest of a string: the parser's next
        # string (or key) is that string's stub, not the string
        self.cut = False
        # bytes of the file not handed (strings passed over) less bytes handed
        # that are not the file's (the ends given to them), so far: a place in
        # what was handed lies that much further on in the file (``resync``,
        # ``jsonlex.end_offset``)
        self.shift = 0
        # a read handed the parser the end of the data: an error it raises
        # then is the end it met (ijson reads again only once all it was
        # handed is parsed), not a fault in what came before (``at_bomb``)
        self.eof = False

    def read(self, size: int = -1) -> bytes:
        if self.n - self.mark > self.limit:
            raise ItemTooLarge
        f = self.f
        if isinstance(f, StringReads):
            f.room = self.outside if self.end is None else self.end - self.n
            f.left = self.limit - (self.n - self.mark)
            data = f.read(size)
            self.n += len(data) + f.skipped  # a string passed over counts as read
            if f.skipped:  # (what ends it for the parser is not the file's)
                self.shift += f.skipped - len(data)
            self.cut = f.skipped > 0
            f.skipped = 0
        else:
            data = f.read(size)
            self.n += len(data)
        if not data and size:
            self.eof = True
        return data


def at_bomb(guard: ReadGuard, cut: EndAtDamage) -> DecompressionBomb | None:
    """The decompression bomb that ended the data, where the parser's error
    is that end: no re-read (the careful pass) could find more items before
    it, each whole one was handed over, and reading again would cost the
    budget's bytes a second time in the pure-Python parser (a Telegram
    result.json.gz bomb: 46 s CPU, twice the limit decompressed). Damage
    that is no bomb (a cut or corrupt file) is told by ``at_end``."""
    damage = cut.damage
    return damage if guard.eof and isinstance(damage, DecompressionBomb) else None


def at_end(guard: ReadGuard | None) -> bool:
    """Whether the parser's error is the end of the data (``guard.eof``): a
    file cut short (a copy or a download stopped, a cut or corrupt ``.gz``:
    ``EndAtDamage``). ijson reads again only once all it was handed is
    parsed, so everything before that end was valid JSON, and every whole item
    in it was handed over: the careful pass could find no more (resync does
    not read on from the end either), and read the whole file again in the
    pure-Python parser to say so (a 30 MB Telegram export cut at its end:
    12.3 s against 4.9 s whole)."""
    return guard is not None and guard.eof


class LongNumber(Exception):
    """A run of over ``NUMBER_CARRY_MAX`` characters that may be a number, met
    on the fast pass (``NumberRuns``)."""


class NumberRuns:
    """A file reader for the fast pass of the C parser that stops
    (``LongNumber``) at a run of over ``NUMBER_CARRY_MAX`` characters that may
    be a number (digits, signs, ".", "e") before yajl gets it: yajl scans a
    number again for each piece of it read (80 s for one of 30 MiB, and
    endless ones up to ``TOKEN_MAX``). The file is then read again through
    ``NumberGuard``, which makes such a number the marker (its item or message
    is rejected) and leaves such a run inside a string as it is. Strings are
    not followed here, which would cost every read a pass over its bytes in
    Python: a string of 64 KiB of digits only sends its file to the careful
    pass, read right. Only where the file can be read again (``path``: not
    standard input read past what it keeps): else the run is passed on as
    before (a string of digits there stopped the input, the rest lost)."""

    def __init__(self, f: Any, path: Path | None = None) -> None:
        self.f, self.run = f, 0  # run: number characters at the end of what was read
        self.path, self.off = path, False

    def _again(self) -> bool:
        s = current_stream()
        if (self.path is not None and s is not None and self.path == s.path
                and s.reopen is None and s.spilled):
            self.off = True  # (it stays spilled)
        return not self.off

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        if not data or self.off:
            return data
        limit = NUMBER_CARRY_MAX
        tail = len(data) - len(data.rstrip(_NUMBER_BYTES))
        if tail == len(data):
            self.run += tail
        else:
            head = len(data) - len(data.lstrip(_NUMBER_BYTES))
            if (self.run + head > limit or (len(data) > limit and re.search(
                    b"[-+.0-9eE]{%d}" % (limit + 1), data))) and self._again():
                raise LongNumber
            self.run = tail
        if self.run > limit and self._again():
            raise LongNumber
        return data


def capped_parse(f: ReadGuard, items: tuple[str, ...], limit: int, *, skip: int = 0,
                 backend: Any = ijson, **kw: Any) -> Iterator[tuple[str, str, Any]]:
    """The ijson events of ``f``, with every value at one of the ``items``
    prefixes built and handed over whole as one event ``(prefix, "item",
    value)``; other events pass through as ijson gives them.

    Memory stays bounded on hostile input: an item whose bytes pass ``limit``
    comes as ``TOO_BIG`` (the rest of its events are skipped, not built), and
    ``f`` (a ``ReadGuard``, its mark moved every 16 events) raises
    ``ItemTooLarge`` once ``f.limit`` bytes pass without 16 events: one endless
    string or number. The first ``skip`` items come as ``SKIPPED``, unbuilt (a
    second pass over a file skips what the first one yielded). ``kw`` goes to
    ``backend.parse`` (``buf_size``, ``multiple_values``)."""
    builder: Any = None  # BUILDING, TOO_BIG or SKIPPED while in an item
    item_prefix, end = "", ""
    start = events = n = 0
    # the item being built, as ijson's ObjectBuilder builds it (a map's value
    # set under the last key read), without a method and a closure per event
    root: Any = None
    stack: list[Any] = []  # its open maps and arrays, innermost last
    key: Any = None
    for prefix, event, value in backend.parse(f, use_float=True, **kw):
        events += 1
        if not events & 15:
            f.mark = f.n
        if builder is not None:
            if prefix == item_prefix and event == end:
                f.end = None
                yield prefix, "item", root if builder is BUILDING else builder
                builder = root = None
                stack = []
            elif builder is BUILDING:
                if event == "map_key":
                    key = value
                elif event == "end_map" or event == "end_array":
                    stack.pop()
                else:
                    if event == "start_map":
                        value = {}
                    elif event == "start_array":
                        value = []
                    top = stack[-1]
                    if type(top) is dict:
                        top[key] = value
                    else:
                        top.append(value)
                    if event == "start_map" or event == "start_array":
                        stack.append(value)
                if f.n - start > limit:  # bytes read, so within a buffer of the item's size
                    builder = TOO_BIG
                    root = None
                    stack = []
                    f.end = f.n  # its long strings need not be read
            continue
        if prefix not in items or event in ("end_map", "end_array", "map_key"):
            yield prefix, event, value
            continue
        n += 1
        if event not in _OPEN:  # a scalar item
            yield prefix, "item", SKIPPED if n <= skip else value
            continue
        item_prefix, end, start = prefix, _OPEN[event], f.n
        f.end = start + limit
        if n <= skip:
            builder = SKIPPED
            f.end = start  # unbuilt: its long strings need not be read
        else:
            builder = BUILDING
            root = {} if event == "start_map" else []
            stack = [root]


BUILDING = object()  # (capped_parse: an item being built)


def json_items(path: Path, raw: RawSink, fmt: str) -> Iterator[Item | Reject]:
    """Every JSON object of ``path`` (see the module docstring), or a reject."""
    sample = read_sample(path)
    layout = json_layout(sample)
    if layout != "lines":
        done = [0]
        try:
            yield from _documents(path, raw, fmt, layout, done)
            return
        except (ItemTooLarge, LongNumber) as e:
            # read again, item by item, passing the big ones over, numbers guarded
            again = _reopen(path)
            if again is None:  # standard input, read past what it keeps
                what = (f"a number over {NUMBER_CARRY_MAX} bytes in item {done[0] + 1}"
                        if isinstance(e, LongNumber)
                        else f"{e} in item {done[0] + 1}" if isinstance(e, NestedTooDeep)
                        else f"item {done[0] + 1} is over {MAX_LINE} bytes")
                yield reject(str(path), f"{what}; the rest of the input is not read",
                             path=doc_path(layout, done[0]))
                return
            if isinstance(e, NestedTooDeep):  # read past as damage, below
                again.close()
                err: Exception = e
            else:
                try:
                    yield from _careful(again, str(path), raw, fmt, layout, done, strict=True)
                    return
                except (ijson.common.JSONError, UnicodeDecodeError) as e2:
                    err = e2  # the C parser stopped again: as below, from there
        except (ijson.common.JSONError, UnicodeDecodeError) as e:
            err = e
            if layout == "array" and done[0] and _more_values(e):
                # another array after the first (the fast pass reads one): the
                # rest read with the C parser, values one after another
                again = _reopen(path)
                if again is not None:
                    try:
                        yield from _careful(again, str(path), raw, fmt, layout, done,
                                            strict=True)
                        return
                    except (ijson.common.JSONError, UnicodeDecodeError) as e2:
                        err = e2  # damaged after all: as below, from there
        # the C parser also refuses integers past 64 bits, which are valid JSON:
        # read again with the pure-Python one from the item where it stopped
        # (a damaged file stops it at the same place, and is reported there)
        again = _reopen(path)
        if again is not None:
            resume: list[int] = []
            try:
                yield from _careful(again, str(path), raw, fmt, layout, done, backend=jsonlex,
                                    resume=resume)
            except _NotDocument as e:
                if not _bracket_alone(sample):  # not one JSON document after all (a broken
                    yield from _lines(path, raw, fmt)  # first line of JSON Lines)
                    return
                # pretty-printed, broken in its first item: one reject (as JSON
                # Lines, a reject for each of its lines, a nested object on
                # one of its own read as a record); documents after it are read
                found = _first_taken(path, layout)
                why = json_error_text(e.__cause__ or err)[:200]
                yield reject(str(path), f"damaged JSON: {why}; the file was read on from byte "
                             f"{found[0]:,}" if found else
                             f"malformed or truncated JSON in the first item: {why}",
                             path=doc_path(layout, 0))
                if found:
                    yield from _passed_over(str(path), layout, 1, found)
                    resume[:] = [found[0], 1 + found[1]]
            yield from _read_on(path, raw, fmt, layout, done, resume)
            return
        elif done[0]:
            yield reject(str(path), f"malformed or truncated JSON after item "
                         f"{done[0]}: {json_error_text(err)[:200]}",
                         path=doc_path(layout, done[0]))
            return
        # not one JSON document after all (a broken first line of JSON Lines)
    yield from _lines(path, raw, fmt)


def _first_taken(path: Path, layout: str) -> tuple[int, int] | None:
    """(documents) The document taken after the first, damaged one
    (``resync.next_document``: its offset, and the damaged ones passed
    over before it), or None."""
    from rasd.ingest import resync

    if layout != "documents" or not resync.rereadable(path):
        return None
    try:
        return resync.next_document(path, 0, MAX_LINE, [resync.MAX_REREAD],
                                    [resync.MAX_TRIES])
    except (resync.RereadLimit, IngestError, OSError, EOFError):
        return None


def _passed_over(src: str, layout: str, first: int, found: tuple[int, int]) -> list[Reject]:
    """A reject for each damaged document passed over (``found[1]`` of them,
    the first of them document ``first``) on the way to the one read on
    from (at byte ``found[0]``)."""
    return [reject(src, "damaged JSON: not one whole JSON document, passed over; the file "
                   f"was read on from byte {found[0]:,}", path=doc_path(layout, k))
            for k in range(first, first + found[1])]


def _read_on(path: Path, raw: RawSink, fmt: str, layout: str, done: list[int],
             resume: list[int]) -> Iterator[Item | Reject]:
    """(documents) The documents from each resume point on, while one is set:
    ``resume`` is ``[offset, index]`` (``_careful``)."""
    from rasd.ingest import resync

    budget = [resync.MAX_REREAD]
    resyncs = 0
    while resume:
        p, first = resume
        done[0] = first
        resume.clear()
        resyncs += 1
        if resyncs > resync.MAX_RESYNCS:
            yield reject(str(path), f"{resync.MAX_RESYNCS:,} damaged places read past already, "
                         "the rest is not read", path=doc_path(layout, first))
            return
        try:  # the C parser first (the pure-Python one reads ~1 MB/s), to the end or
            # to the next damage, where the careful pass goes on from the last read
            yield from _documents(path, raw, fmt, layout, done,
                                  opened=resync._open_at(path, p, budget))
            return
        except (ItemTooLarge, LongNumber, ijson.common.JSONError, UnicodeDecodeError):
            pass
        except (resync.RereadLimit, IngestError, OSError, EOFError) as e:
            yield _unread(str(path), layout, done[0], p, e)
            return
        try:
            f = resync._open_at(path, p, budget)
        except (resync.RereadLimit, IngestError, OSError, EOFError) as e:
            yield _unread(str(path), layout, done[0], p, e)
            return
        yield from _careful(f, str(path), raw, fmt, layout, done, backend=jsonlex, base=p,
                            first=first, resume=resume)


def _unread(src: str, layout: str, k: int, p: int, e: Exception) -> Reject:
    """The reject for the rest of a file not read on from byte ``p``."""
    from rasd.ingest import resync

    why = (f"{resync.MAX_REREAD:,} bytes of the file decompressed again to read on past "
           "damaged JSON already" if isinstance(e, resync.RereadLimit) else str(e))
    return reject(src, f"{why}; the rest, from byte {p:,}, is not read",
                  path=doc_path(layout, k))


def _bracket_alone(sample: bytes) -> bool:
    """Whether the first line of ``sample`` that is not blank is a ``[`` or a
    ``{`` alone: a pretty-printed JSON text, never a line of JSON Lines."""
    for line in sample.split(b"\n", 64)[:64]:
        if line.strip():
            return line.strip() in (b"[", b"{")
    return False


def _more_values(e: Exception) -> bool:
    """Whether the C parser's error ``e`` is a value after the first whole
    one (what it says where it reads one value only)."""
    return "trailing garbage" in json_error_text(e)


class _NotDocument(Exception):
    """Reading failed before a first item: not JSON documents after all."""


def _reopen(path: Path) -> IO[bytes] | None:
    """``path`` opened again from its start; None for standard input read past
    what it keeps."""
    try:
        return open_binary(path)
    except IngestError:
        return None


class _LoneCR(Converted):
    """A binary file with each lone CR (one not followed by LF) read as LF, so
    that a file of classic Mac OS lines is read line by line (``readline``
    ends lines at LF only), in bounded memory: read whole, such a file was one
    line, and all lost past ``MAX_LINE``. JSON holds no raw CR but as
    whitespace between values, and a record's raw bytes never include its
    line break, so nothing kept changes; CRLF stays as it is."""

    def __init__(self, f: Any, head: bytes = b"") -> None:
        super().__init__(f)
        # a CR that ended the last read (an LF may begin the next one); at
        # first, bytes read from ``f`` already, handed out before the rest
        self.held = head

    def convert(self, chunk: bytes) -> bytes:
        data, self.held = self.held + chunk, b""
        if chunk and data.endswith(b"\r"):
            data, self.held = data[:-1], b"\r"
        return _LONE_CR.sub(b"\n", data)


_LONE_CR = re.compile(rb"\r(?!\n)")


def _lines(path: Path, raw: RawSink, fmt: str) -> Iterator[Item | Reject]:
    src = str(path)
    with open_binary(path) as opened:
        f = peekable(opened)
        first: Iterable[tuple[int, bytes | None]] = ()  # lines read to tell the line ends
        lineno = 0
        try:
            if cr_lines(f):
                f = io.BufferedReader(_LoneCR(f), 1 << 16)  # type: ignore[assignment]
            elif not _lf_peeked(f):
                f, first, lineno = _first_lines(f)
            lines = iter_lines(f, MAX_LINE, start=lineno)
            for lineno, line in itertools.chain(first, lines) if first else lines:
                if line is None:
                    yield reject(src, "line longer than the limit", line=lineno)
                    continue
                if not line.strip():
                    continue
                try:
                    obj = loads(line)
                except ValueError as e:
                    parts = cr_parted(line)
                    if parts is None:
                        if line.lstrip()[:1] == b"[":
                            yield from _damaged_array_line(line, e, src, raw, fmt, lineno)
                        else:
                            yield reject(src, e, line=lineno, excerpt=line)
                        continue
                    yield from _run_on_items(parts, src, raw, fmt, lineno)
                    continue
                if isinstance(obj, list):  # a compact array a line: its items
                    yield from _array_line(obj, src, raw, fmt, lineno)
                    continue
                if not isinstance(obj, dict):
                    yield reject(src, "expected a JSON object", line=lineno, excerpt=line)
                    continue
                yield Item(obj, raw.put(line.rstrip(b"\r\n"), fmt), lineno, None)
        except (EOFError, OSError) as e:  # truncated gzip, I/O error: in the next line
            yield reject(src, ended(e), line=lineno + 1)


def _lf_peeked(f: Any) -> bool:
    """Whether what ``cr_lines`` peeked at holds an LF (or nothing, or cannot
    be peeked): the line ends are told there. Otherwise the first line runs
    past the peek (X API v2 pages: ~100 KB a line), or the file is one line:
    ``_first_lines``."""
    try:
        head = f.peek(CR_PEEK)
    except (OSError, EOFError, AttributeError, ValueError):
        return True
    return not head or b"\n" in head


_CR_SEARCH_BACK = 4096  # bytes before a read searched again for a CR parting two values


def _first_lines(f: Any) -> tuple[Any, Iterable[tuple[int, bytes | None]], int]:
    """The first lines of a file whose peeked start held no LF (``_lf_peeked``)
    and no lone CR that told its lines end with one (``cr_lines``), read up to
    what tells its line ends past the peek, in bounded memory: the file to
    read the rest from, those lines (1-based number, bytes; None for one over
    ``MAX_LINE``) and the number of the last of them. Told by what comes first:

    - an LF: JSON Lines whose first line is longer than the peek (X API v2
      pages: ~100 KB); a lone CR in it is JSON whitespace. The rest is read
      as it is, with no more work.
    - a lone CR that parts two JSON values (``_CR_PARTS_VALUES``: ``}`` CR ``{``,
      never inside one valid JSON text), then another lone CR (or the end):
      lines ended by a lone CR, the first longer than the peek (X API v2 pages
      saved with classic Mac line ends). The rest is read through
      ``_LoneCR``, each lone CR ending a line. What came before that first CR
      is one line where it is one JSON value (a lone CR in it whitespace);
      where it is not, each lone CR in it ends a line too, as after it (a
      damaged first record, junk between two records: read as one line with
      all after it, such a file lost every record after the damage; a first
      record that holds a lone CR and is not the first line is then split).
      An LF after the two values instead: one line of objects run together
      (``run_on``) in a file of LF-ended lines, as where the peek shows an LF.
    - neither, to the end: one line, which where it is no JSON value is split
      at its lone CRs as a peek of it all would (``_cr_after_a_line``).

    Lines are numbered by every lone CR that ends one, as ``tr '\\r' '\\n'``
    would number them (a first record kept whole counts the CRs in it)."""
    buf = bytearray()
    over = False  # the first line is over MAX_LINE: passed over, not held
    passed = 0  # lone CRs in what was passed over of it
    cr = -1  # where in buf the first lone CR that parts two values is, once met
    while True:
        piece = f.readline(CR_PEEK)
        if not piece:
            break
        old = len(buf)
        buf += piece
        # (the regex reads ~10 MB/s: only from a CR on, where one is; the value's
        # end before it and the CR may lie in the last read)
        if cr < 0 and (k := buf.find(b"\r", max(old - _CR_SEARCH_BACK, 0))) >= 0 and (
                m := _CR_PARTS_VALUES.search(buf, max(k - _CR_SEARCH_BACK, 0))) is not None:
            cr = m.start() + m.group().index(b"\r")  # (before any LF: only at a read's end)
        if cr >= 0:  # the next line end: a lone CR, not one that may be a CR LF's
            nxt = _LONE_CR.search(buf, max(cr + 1, old - 1))
            if (nxt is not None and nxt.start() < len(buf) - 1) or len(buf) - cr > MAX_LINE + 1:
                break
        if piece.endswith(b"\n"):  # the first line end past the peek is an LF
            return f, [(1, None if over or len(buf) > MAX_LINE + 1 else bytes(buf))], 1
        if cr < 0 and len(buf) > MAX_LINE:  # (no LF in buf: only at a read's end)
            over = True
            cut = len(buf) - _CR_SEARCH_BACK
            passed += buf.count(b"\r", 0, cut)
            del buf[:cut]
    if cr >= 0:  # lone-CR lines
        line = bytes(buf[:cr])
        rest = io.BufferedReader(_LoneCR(f, bytes(buf[cr + 1:])), 1 << 16)
        n = 1 + passed + line.count(b"\r")
        if over:
            return rest, [(1, None)], n
        if _one_value(line):  # numbered after the empty lines before it
            return rest, [(1 + line.count(b"\r", 0, len(line) - len(line.lstrip())), line)], n
        return rest, _cr_parts(line), n
    line = bytes(buf)
    if over:
        return f, [(1, None)], 1
    if line and not _one_value(line) and _cr_after_a_line(line + b"\r"):
        return f, _cr_parts(line), 1 + line.count(b"\r")
    return f, [(1, line)] if line else [], 1


_NOT_CR = re.compile(rb"[^\r]+")


def _cr_parts(line: bytes) -> Iterator[tuple[int, bytes | None]]:
    """The lines of ``line`` (no LF: each CR ends one) that are not empty,
    numbered, one at a time (a run of CRs is passed over at once: no list of
    millions of empty lines)."""
    n, at = 1, 0
    for m in _NOT_CR.finditer(line):
        n += line.count(b"\r", at, m.start())
        at = m.start()
        yield n, m.group()


def _one_value(line: bytes) -> bool:
    try:
        loads(line)
    except ValueError:
        return False
    return True


# asked only where a value ends: integers are not converted (int() refuses one of
# over 4,300 digits, valid JSON; such lines were then "no JSON")
_DECODER = json.JSONDecoder(parse_int=len)
_GAP = re.compile(r"[ \t\r\n]*")


def run_on(line: bytes) -> list[bytes] | None:
    """The objects of a line that holds several, one after another (``{…}{…}``):
    files joined with ``cat`` where one lacked its last line break, a tool
    writing objects back to back, lines parted by a lone CR (classic Mac).
    Each object's bytes, then what could not be read as one, if anything; None
    where the line does not begin with a whole object and another's start (a
    plain bad line)."""
    if line.count(b"{") < 2:  # cheap: most bad lines are not run-on ones
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    parts: list[bytes] = []
    at = _GAP.match(text, 0).end()  # type: ignore[union-attr]
    end = len(text.rstrip(" \t\r\n"))
    while at < end:
        if text[at] != "{":
            break
        try:
            _, stop = _DECODER.raw_decode(text, at)
        except (ValueError, RecursionError):
            break
        parts.append(text[at:stop].encode("utf-8", "surrogatepass"))
        at = _GAP.match(text, stop).end()  # type: ignore[union-attr]
    if not parts or (len(parts) == 1 and not text.startswith("{", at)):
        return None  # one object and junk after it: a bad line, not several objects
    if at < end:  # a broken object after whole ones: rejected alone
        parts.append(text[at:end].encode("utf-8", "surrogatepass"))
    return parts


def cr_parted(line: bytes) -> list[bytes] | None:
    """The records of a line that is no JSON value: objects run together
    (``run_on``), and lines parted by a lone CR that parts two values
    (``_CR_PARTS_VALUES``: ``}`` CR ``{``, never inside one valid JSON text)
    where no whole object begins the line, or in what follows the whole ones.
    A file of lone-CR lines is read as LF-ended lines where the peek shows an
    LF; a damaged record holding one made its tail and every record after it
    up to the next LF one line, lost in one reject. Each part a record; None
    where the line is one bad record."""
    parts = run_on(line)
    if parts is None:
        return _at_parting_crs(line)
    if not _one_value(parts[-1]):  # a broken one after whole ones
        parts[-1:] = _at_parting_crs(parts[-1]) or parts[-1:]
    return parts


def _at_parting_crs(data: bytes) -> list[bytes] | None:
    """``data`` cut at each lone CR that parts two values, each part a whole
    value, objects run together (``run_on``) or a bad record; None where no
    CR parts it."""
    cuts = [m.start() + m.group().index(b"\r") for m in _CR_PARTS_VALUES.finditer(data)]
    if not cuts:
        return None
    parts: list[bytes] = []
    for a, b in zip([-1, *cuts], [*cuts, len(data)], strict=True):
        part = data[a + 1:b].strip(b" \t\r\n")
        if part:
            parts.extend((None if _one_value(part) else run_on(part)) or [part])
    return parts


def _array_line(items: list[Any], src: str, raw: RawSink, fmt: str,
                lineno: int, first: int = 0) -> Iterator[Item | Reject]:
    """Items of a line that is a JSON array (``jq -c .data``, ``json.dumps``
    of a page's tweets a line: every line was one reject, "expected a JSON
    object", and nothing of the file was stored). Each is placed by its index
    on the line (line 4, path ``[1]``) and kept as its own raw record, as an
    item of a JSON array file is; an item that is no object is a reject.
    ``first``: the index on the line of the first of ``items``."""
    for k, obj in enumerate(items, first):
        where = f"[{k}]"
        if not isinstance(obj, dict):
            yield reject(src, "expected a JSON object", line=lineno, path=where)
            continue
        try:
            obj, data = dump_item(obj)
        except ValueError as e:
            yield reject(src, e, line=lineno, path=where)
            continue
        yield Item(obj, raw.put(data, fmt), lineno, where)


def _damaged_array_line(line: bytes, error: ValueError, src: str, raw: RawSink, fmt: str,
                        lineno: int) -> Iterator[Item | Reject]:
    """A line that is a damaged JSON array (``_array_line``'s, a byte lost
    or cut, a stray byte, bad UTF-8): its items before the damage, each read
    whole by the stdlib's decoder as ``loads`` reads a line (nesting bounded
    by the recursion limit: ijson's item builder took 23 GB for a line of 2
    million "["); a reject placed at the item the damage is in (line 4,
    ``[2]``), saying ``error`` (what the first parse said: where); and the
    items after the damage, read on from the line's resume point
    (``_line_resume``: the file resync's rule, on one line), each placed by
    its index counted on from the damaged item's (from its own where the
    damage held no item: stray bytes between two). A second damage on the
    line is a reject of its own, read past the same way. Where no resume
    point passes, the rest of the line is lost with the damaged item (it
    was, always, as a damaged line of JSON Lines is). A line read whole
    after all is that one reject."""
    text = line.decode("utf-8", "surrogateescape")  # a bad byte: one lone surrogate
    at = _ARRAY_OPEN.match(text)
    objs, _, pos, how, _ = _line_chain(text, at.end() if at else len(text))
    yield from _array_line(objs, src, raw, fmt, lineno)
    if how in ("closed", "end"):  # (every item read: the damage follows the array)
        yield reject(src, f"{error} (after the line's array)", line=lineno, excerpt=line)
        return
    k, why, budget = len(objs), str(error), [8 * len(text) + 2**20]
    known: dict[int, tuple[int, str]] = {}
    while True:
        found = _line_resume(text, pos, known, budget)
        if found is None:
            yield reject(src, f"{why} (in item {k + 1} of the line's array; the rest of the "
                         "line is not read)" if k else why, line=lineno,
                         path=f"[{k}]" if k else None, excerpt=line)
            return
        start, objs, end, how = found
        byte = len(text[:start].encode("utf-8", "surrogateescape"))
        item = _HOLDS_ITEM.search(text, pos, start) is not None
        yield reject(src, f"{why} ({'in' if item else 'before'} item {k + 1} of the line's "
                     f"array; the line was read on from byte {byte:,})", line=lineno,
                     path=f"[{k}]", excerpt=line)
        k += item
        yield from _array_line(objs, src, raw, fmt, lineno, first=k)
        if how == "end":
            return
        k, pos = k + len(objs), end
        why = _line_damage(text, pos)


def _line_chain(text: str, pos: int, known: dict[int, tuple[int, str]] | None = None,
                budget: list[int] | None = None,
                keep: bool = True) -> tuple[list[Any], list[int], int, str, bool]:
    """The items of a JSON array read from ``pos`` of ``text`` (a line
    decoded with surrogateescape), one after another, where each starts, and
    where and how the reading stopped: ``"end"`` (the array's ``]`` ends the
    line), ``"closed"`` (its ``]``, something after it), ``"damaged"`` (at
    the item there: one the decoder cannot read, or one holding a byte that
    is no UTF-8) or ``"sep"`` (after an item, neither ``,`` nor ``]``). At
    an item start in ``known`` (an earlier reading went past it), where and
    how that reading stopped (and True last: the items are not all read).
    Each item read is counted down from
    ``budget[0]`` (its length); past 0, ``"damaged"`` is said where it ran
    out. Not ``keep``: of the items, only the first is kept (a check's
    reading; memory as for their starts)."""
    objs: list[Any] = []
    starts: list[int] = []
    while True:
        if known is not None and pos in known:
            return objs, starts, *known[pos], True
        try:
            obj, end = _ITEM_DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError):
            return objs, starts, pos, "damaged", False
        if budget is not None:
            budget[0] -= end - pos
            if budget[0] < 0:
                return objs, starts, pos, "damaged", False
        if _BAD_BYTE.search(text, pos, end):
            return objs, starts, pos, "damaged", False
        if keep or not objs:
            objs.append(obj)
        starts.append(pos)
        sep = _ITEM_SEP.match(text, end)
        if sep is None:
            close = _ARRAY_CLOSE.match(text, end)
            if close is None:
                return objs, starts, end, "sep", False
            return (objs, starts, close.end(), "closed" if text[close.end():].strip() else "end",
                    False)
        pos = sep.end()


def _line_resume(text: str, after: int, known: dict[int, tuple[int, str]],
                 budget: list[int]) -> tuple[int, list[Any], int, str] | None:
    """Where a damaged array line (``_damaged_array_line``) is read on after
    the damage at ``after``, the items read from there, and where and how
    they stop (``_line_chain``: "end", or "damaged" at the next damage) —
    or None. A resume point is a ``{"`` after ``after`` that follows a
    ``,`` (up to 8 stray characters between them, as in a file's resync),
    taken where the items read from it reach the end of the line, or the
    next damage with a whole item read before it, and the first of them is
    an object with a key free of ``,`` and ``:``. A nested object of the
    damaged item fails (the array it is in closes before the line ends, or
    the object it is in goes on: neither a ``,`` nor a ``]``), as does a
    point in a string (its keys are text around a string's quotes). Where
    and how a reading stopped is kept in ``known`` for each item start it
    went past: a later point whose items reach one stops there without
    reading on (each item read once; the items of the point taken are read
    again). What the checks read is bounded by ``budget``."""
    from rasd.ingest import resync

    for m in _RESUME.finditer(text, after + 1):
        start = m.start()
        if budget[0] < 0:
            return None
        if "," not in text[max(0, start - 9):start]:
            continue
        objs, starts, end, how, _ = _line_chain(text, start, known, budget, keep=False)
        stop = (end, how)
        for s in starts:
            known[s] = stop
        if budget[0] < 0 or not (how == "end" or (how == "damaged" and end != start)):
            continue
        first = objs[0] if objs else _ITEM_DECODER.raw_decode(text, start)[0]
        if isinstance(first, dict) and resync.trusted(first):  # (the file resync's (i))
            objs, _, end, how, _ = _line_chain(text, start)  # (read again, each item kept)
            return start, objs, end, how
    return None


def _line_damage(text: str, pos: int) -> str:
    """What is wrong with the item at ``pos`` of an array line (a second
    damage on it: ``_line_chain`` stopped there), said with its byte."""
    byte = len(text[:pos].encode("utf-8", "surrogateescape"))
    try:
        _, end = _ITEM_DECODER.raw_decode(text, pos)
    except RecursionError:
        return f"invalid JSON: nested too deeply, in the item at byte {byte:,} of the line"
    except ValueError as e:
        if isinstance(e, json.JSONDecodeError):
            byte += len(text[pos:e.pos].encode("utf-8", "surrogateescape"))
            return f"invalid JSON: {e.msg} at byte {byte:,} of the line"
        return f"invalid JSON: {e}, in the item at byte {byte:,} of the line"
    bad = _BAD_BYTE.search(text, pos, end)
    if bad is not None:
        byte += len(text[pos:bad.start()].encode("utf-8", "surrogateescape"))
        return f"invalid UTF-8 at byte {byte:,} of the line"
    return f"invalid JSON: the item at byte {byte:,} of the line was not read"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


_ARRAY_OPEN = re.compile(r"\s*\[\s*")
_ITEM_SEP = re.compile(r"\s*,\s*")
_ARRAY_CLOSE = re.compile(r"\s*\]")
_RESUME = re.compile(r'\{(?=\s*")')
_HOLDS_ITEM = re.compile(r'[{\["]')  # (damage without one of these: stray bytes between items)
_BAD_BYTE = re.compile("[\udc80-\udcff]")  # (what surrogateescape makes of a byte that is no UTF-8)
_ITEM_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # (NaN is no JSON: orjson's rule)


def _run_on_items(parts: list[bytes], src: str, raw: RawSink, fmt: str,
                  lineno: int) -> Iterator[Item | Reject]:
    """Items of a line holding several objects (``run_on``); each is placed by
    its index on the line (line 4, path ``[1]``: the line's second object)."""
    for k, part in enumerate(parts):
        where = f"[{k}]"
        try:
            obj = loads(part)
        except ValueError as e:
            yield reject(src, f"{e} (object {k + 1} on a line of several)",
                         line=lineno, path=where, excerpt=part)
            continue
        if not isinstance(obj, dict):
            yield reject(src, "expected a JSON object", line=lineno, path=where, excerpt=part)
            continue
        yield Item(obj, raw.put(part, fmt), lineno, where)


def _documents(path: Path, raw: RawSink, fmt: str, layout: str,
               done: list[int], opened: IO[bytes] | None = None) -> Iterator[Item | Reject]:
    """The items of ``path`` read with the C parser (fast), ``done[0]``
    moved on as each is yielded; where it fails, raised for a careful pass.
    ``opened``: the file opened at a resume point of documents (``_read_on``),
    the first read there being document ``done[0]``."""
    src = str(path)
    first = done[0] if opened is not None else 0
    with opened if opened is not None else open_binary(path) as stream:
        f = EndAtDamage(stream)  # a cut .gz: a truncated document, read below as one
        guard = ReadGuard(StringReads(NumberRuns(f, path), 64 * 1024), MAX_LINE)
        guard.end = MAX_LINE  # the items end where their limit is passed (ItemTooLarge)
        items = ijson.items(guard, "item" if layout == "array" else "", use_float=True,
                            multiple_values=layout != "array", buf_size=READ_MAX)
        try:
            for i, obj in enumerate(items, first):
                done[0] = i + 1
                guard.mark = guard.n
                guard.end = guard.n + MAX_LINE
                yield _item(obj, src, raw, fmt, doc_path(layout, i))
        except (EOFError, OSError) as e:  # truncated gzip, I/O error
            yield reject(src, ended(e), path=doc_path(layout, done[0]))
            return
        except ijson.common.JSONError as e:
            bomb = at_bomb(guard, f)
            if bomb is not None:
                yield reject(src, ended(bomb), path=doc_path(layout, done[0]))
                return
            if not (done[0] > first and at_end(guard)):
                raise  # read again carefully (json_items)
            # cut short: as the careful pass would say it (cut before its first
            # item's end: one reject where pretty-printed, else read as JSON
            # Lines there: json_items)
            yield reject(src, ended(f.damage) if f.damage is not None else
                         f"truncated JSON after item {done[0]}: {json_error_text(e)[:200]}",
                         path=doc_path(layout, done[0]))
            return
        if f.damage is not None:  # cut between two documents: each read is whole
            yield reject(src, ended(f.damage),
                         path=doc_path(layout, done[0]))


def _item(obj: Any, src: str, raw: RawSink, fmt: str, where: str) -> Item | Reject:
    if not isinstance(obj, dict):
        return reject(src, "expected a JSON object", path=where)
    try:
        obj, data = dump_item(obj)
    except ValueError as e:
        return reject(src, e, path=where)
    return Item(obj, raw.put(data, fmt), None, where)


def _careful(f: IO[bytes], src: str, raw: RawSink, fmt: str, layout: str,
             done: list[int], backend: Any = ijson, strict: bool = False,
             base: int = 0, first: int = 0,
             resume: list[int] | None = None) -> Iterator[Item | Reject]:
    """The items of the JSON document ``f`` (opened again) after the first
    ``done[0]`` (yielded already; ``done[0]`` is moved on as items are read),
    read event by event (slower: only after an item over ``MAX_LINE`` or a
    long number, or with ``backend`` the pure-Python parser after the C one
    failed): an item over the limit is a reject, the items after it are
    still read. Malformed JSON before any item raises ``_NotDocument``; with
    ``strict`` (the C parser) any error of the parser is raised, for the
    pure-Python one to go on from ``done[0]``: yajl also stops at an integer
    past 64 bits, valid JSON, which lost every item after it here.

    Documents one after another (``resume`` given; the pure-Python parser):
    ``f`` is the file from offset ``base`` on, where ``base`` is not 0 the
    start of document ``first`` (a resume point). Where one is damaged, or
    holds nesting or a token past the bounds, and a document after it is
    taken (``resync.next_document``), it is one reject saying "damaged JSON:
    …; the file was read on from byte N", and ``resume`` is set to N and
    the index of the document there: the caller reads on from it."""
    from rasd.ingest import resync

    i = first
    skip = done[0] - first
    prefixes = ("item" if layout == "array" else "",)
    docs = resume is not None and layout == "documents" and backend is jsonlex
    last = base  # (documents) the file offset of the end of the last one read
    seen: tuple[int, int] | None = None

    def build(stream: Any) -> resync.Layers:
        layers = resync.Layers.over(stream, 64 * 1024, TOKEN_MAX)
        if docs:  # (exact offsets of each document's end: read on from after it)
            layers.guard.track_ends = True  # type: ignore[attr-defined]
            layers.numbers.track = True
        return layers

    def read_on(why: str) -> list[Reject]:
        """(documents) The reject for document ``i``, damaged, (and for each
        damaged one after it passed over), and ``resume`` set, where a
        document after it is taken; else none."""
        if not docs or layers.cut.damage is not None or not layers.numbers.exact or (
                not resync.rereadable(Path(src))):
            return []
        try:
            found = resync.next_document(Path(src), last, MAX_LINE, budget, tries)
        except (resync.RereadLimit, IngestError, OSError, EOFError):
            return []
        if found is None:
            return []
        assert resume is not None
        resume[:] = [found[0], i + 1 + found[1]]
        if base:  # (the parser's offset counts from the last resume point, not the start)
            why = resync._AT.sub("", why)
        return [reject(src, f"damaged JSON: {why[:200]}; the file was read on from byte "
                       f"{found[0]:,}", path=doc_path(layout, i)),
                *_passed_over(src, layout, i + 1, found)]

    def parse(guard: ReadGuard, skip: int, fast: Any = None) -> Iterator[tuple[str, str, Any]]:
        # (arrays too: several one after another, ``json.dump`` run twice
        # into one file — past the first, every item was lost)
        return capped_parse(guard, prefixes, MAX_LINE, skip=skip, backend=fast or backend,
                            multiple_values=True, buf_size=READ_MAX)

    def now(built: resync.Layers) -> None:
        nonlocal cut, guard, layers
        cut, guard, layers = built.cut, built.guard, built

    budget, tries = [resync.MAX_REREAD], [resync.MAX_TRIES]
    with f:
        cut: Any = None
        guard: Any = None
        layers: Any = None
        if backend is jsonlex and layout == "array":
            # an array's items read on past damaged JSON (where the file can be
            # read again: resync); the C parser's pass, and documents, as before
            events = resync.read_on(Path(src), f, build, parse, prefixes, skip, now)
        else:
            now(build(f))
            events = parse(guard, skip)
        try:
            for prefix, event, obj in events:
                if (not prefix and layout == "array"
                        and event != "start_array" and event != "end_array"):
                    # a top-level value after the arrays that is none: not
                    # read (under its key "item", an object would give items)
                    yield reject(src, f"expected a JSON array after item {i}; the rest of "
                                 "the file is not read", path=doc_path(layout, i))
                    return
                if event == "reject":  # a damaged item, or one not trusted after it
                    i += 1
                    done[0] = i
                    yield reject(src, obj, path=doc_path(layout, i - 1))
                    continue
                if event != "item":
                    continue
                if docs:
                    end_at = jsonlex.end_offset(guard)
                    if end_at != seen:  # (an object: its "}" ended; else a string …)
                        seen, last = end_at, resync._after(layers, base)
                i += 1
                if obj is SKIPPED:
                    continue
                done[0] = i
                where = doc_path(layout, i - 1)
                if obj is TOO_BIG:
                    yield reject(src, f"item {i} is over {MAX_LINE} bytes", path=where)
                else:
                    yield _item(obj, src, raw, fmt, where)
        except ItemTooLarge as e:
            yield from read_on(too_large(e, TOKEN_MAX)) or [reject(
                src, f"{too_large(e, TOKEN_MAX)} in item {i + 1}; the rest of the file is not "
                "read", path=doc_path(layout, i))]
        except (ijson.common.JSONError, ValueError) as e:  # the Python parser raises
            if strict and isinstance(e, (ijson.common.JSONError, UnicodeDecodeError)) and (
                    not isinstance(e, ijson.common.JSONError) or at_bomb(guard, cut) is None):
                raise
            if cut.damage is not None:  # the end the parser met: a cut compressed file
                # (before its first item's end too: read as JSON Lines, a cut
                # pretty-printed document gave a reject for each of its lines)
                yield reject(src, ended(cut.damage),
                             path=doc_path(layout, i))
                return
            if not i and not base:                          # JSONDecodeError, ValueError
                raise _NotDocument from e
            yield from read_on(json_error_text(e)) or [reject(
                src, f"malformed or truncated JSON after item {i}: "
                f"{json_error_text(e)[:200]}", path=doc_path(layout, i))]
        except (EOFError, OSError) as e:
            yield reject(src, ended(e), path=doc_path(layout, i))
            return
        if cut.damage is not None:  # cut between two documents: each read is whole
            yield reject(src, ended(cut.damage), path=doc_path(layout, i))


def json_error_text(e: Exception) -> str:
    """The first line of a JSON parser's error, as a reject's reason (a number
    Python cannot read never reaches the pure-Python parser: ``NumberGuard``).
    A token the pure-Python parser reads in place of an odd value
    (``jsonlex.INVALID_UTF8``…: a string with a raw TAB, met where no value may
    stand) is named by what it stands for, not shown as it is."""
    msg = e.args[0] if e.args else e  # yajl gives bytes for UTF-8 errors
    msg = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return _MARKER.sub(_marker_name, (msg.strip().splitlines() or ["?"])[0])


# a marker token of jsonlex as an error shows it: itself, as JSON, or the repr of
# that JSON (ijson's "Unexpected symbol %r"), its quotes with it
_MARKER = re.compile(r"""'?"?(?:\\+u0000|\x00)rasd:([a-z0-9-]+):[0-9a-f]{16}"?'?""")
_MARKER_NAMES = {"invalid-utf-8": "a string of bytes that are no UTF-8 text",
                 "control-in-string": "a string holding an unescaped control character",
                 "not-a-number": "NaN or Infinity"}


def _marker_name(m: re.Match[str]) -> str:
    return f"<{_MARKER_NAMES.get(m.group(1), 'an odd value')}>"


def located(records: Iterator[Record], item: Item) -> Iterator[Record]:
    """Records of one item, with the item's position put in front of the JSON
    path of each reject (``[3].data[1]``)."""
    if item.where is None:
        yield from records
        return
    for rec in records:
        if isinstance(rec, Reject):
            rec.path = item.where + ("." + rec.path if rec.path else "")
        yield rec
