"""Reading on past broken JSON in an array of items (resynchronisation).

Why: a JSON array of items (``jsonitems``) and a Telegram export's messages
(``telegram``) are read as one JSON text. A structurally broken item — a
trailing comma, a stray byte between items or inside one, a quote lost — stops
any JSON parser for good, and every item after it was lost (one reject for
the rest of the file). Here, once the careful pure-Python pass has failed with
a syntax error after or inside an item of such an array, the damaged item is
one reject naming its path and the byte the file was read on from, and the
items after it are read.

Where: only where the file can be read again (a path, an archive member that
can be opened again, standard input kept whole: ``rereadable``), and only for
a syntax error: not at the end of a file cut short (nothing follows it), not
at a decompression bomb or damaged compressed data (``EndAtDamage``), not for
a value too large to read (``ItemTooLarge``). At most ``MAX_RESYNCS`` times a
file, and at most ``MAX_TRIES`` resume points checked; past that the rest is
one reject saying so.

How: a resume point is the offset ``p`` of a ``{`` whose previous
non-whitespace byte is a ``,`` (or up to ``_STRAY`` stray bytes after one:
``},x{``) and whose next one a ``"`` (a key), after the end of the last item
read (for a top-level array, also the first item of a next one: ``]`` and
``[`` before its ``{``, where several arrays follow one another; and the first
item of an array after up to ``_STRAY`` stray bytes that follow its ``[``:
``[x{``, ``"messages": [x{``). Before
anything after it is handed on, ``p`` is validated: the text
``SYNTHETIC + file[p:]`` is parsed, where ``SYNTHETIC`` opens again the
containers of the items array (``synthetic_prefix``: ``[`` for a JSON array,
``{"chats":{"list":[{"messages":[`` for a full Telegram export). ``p`` is
taken when the parse reaches the end with no error, or errors later with the
items array still open and at least one whole item read before the error (a
further resync starts from there). A top-level array is parsed with values one
after another (several arrays): where it closed and another began, an error in
that one, after a key of real structure of its first item (an object), is
taken too. Otherwise the next candidate is tried,
none before the error of the last try (total work stays linear). The C parser
(yajl) validates first; where it errors, the pure-Python one (``jsonlex``,
which reads what yajl refuses: integers past 64 bits, raw control characters
in strings …) decides, as it is what reads the items. The items after ``p``
are then read by the caller's own careful machinery (``capped_parse``, its
guards) over the same text, the synthetic events dropped.

No record is ever invented. A wrong resume point is one of two kinds:

(i) Wrong parity: ``p`` lies inside a string (text an attacker wrote; the
exporter escapes every quote in it, so it holds no raw quote). Parsed from
there, strings pair the quotes the other way round: each string the parser
sees is a stretch of real structure between two real strings, and between two
strings valid JSON always has a ``,`` or a ``:``. Parity never flips back
without an error (a ``\\"`` in real text is a backslash outside a string to
such a parse). So every key of every object such a parse completes holds a
``,`` or a ``:`` (or the object has no key: ``{}``). The rule: a resume point whose first item
has no top-level key free of both is refused (``_validate``), and so, as a
backstop, is any item read after a resync (``UNTRUSTED``, never mapped).
Most such points are never tried: a resume point's ``{`` must be followed by
a ``"``, and text in a string, holding no raw quote, gives at most one, at
its end.

(ii) Wrong depth: ``p`` is a nested object of the damaged item (a Telegram
text entity, an X tweet's ``referenced_tweets``). Parsed from there, the
nested array ends where the validator expects the items array to go on: the
items array closes early, and the parse fails later (the text closes more
containers than the synthetic prefix opened, so it can never reach the end
cleanly). Both are refused above. What this check cannot tell is a second
damaged place inside the same nested array, before its end: the parse then
errors with the items array still open (an item read), as from a right
resume point; two damaged places within one item's nested array.

(iii) Another chat: in a full export, a message of the next chat passes
both checks (its depth and the tail are a message's), and would be read on as
the damaged chat's. A resume point is never taken past the next
``"messages":`` or ``"name":`` key after the damage (``_boundary``), looked
for from the end of the last item read, an exact offset (``_after``), or,
where none of the chat's was read, from its own ``"messages": [``
(``_items_start``): an offset past the next chat's keys found the key after
them, and a message of the chat after was read on as the damaged one's. As
those keys can all be damaged too, a resume point is also refused where its
first message has a chat's keys (the next chat itself), and where the bytes
between the last message read and it, read backwards, open what it lies in,
hold a key at its level, or close more than one container (``_same_array``).
A resume point whose check closes the chat's messages and then meets a
damaged place in a later chat, every object of the list on the way a chat
(its keys), is taken: the damaged chat's messages after its damage are read.

(iv) The next chat. In a full export, where no resume point is taken in the
damaged chat (damage in its last message, or anywhere after which the only
ones lie in the next chat), or the damage lies in the chat's own fields
(``"name"``, ``"type"``, ``"id"``) or between chats, reading resumes at a
chat: a resume point ``p`` as above, from the start of the damaged chat
(never that chat's own ``{``: read again, it meets the same damage), checked
with ``{"chats":{"list":[`` before it (``_holders``, ``synthetic_prefix``
of ``chats.list.item``), or the first chat of a list (after the ``[`` of a
``"list"`` key: ``_first_of``), read under its own list's prefix. ``p`` is taken where the first object parsed from
it has, at its top level, the keys ``"messages"`` (an array), ``"type"`` and
``"id"`` (``HOLDER_KEYS``), and the parse reaches the end or an error after
them. Its messages are then read as that chat's, under its own id and
type, as a chat is read; the damaged chat's end is never read, and a
message is stored only in a chat whose ``"type"`` and ``"id"`` were read
(``telegram``). Why nothing is made up or moved:
- wrong parity: every key of such a parse holds a ``,`` or a ``:``, as in
  (i); ``"messages"``, ``"type"`` and ``"id"`` hold none, so all three must
  be real keys (unless the damage itself wrote them). Text an attacker
  writes (a name, a message) that looks like a chat, ``{\"name\": …,
  \"messages\": [...]}``, holds escaped quotes: ``{\"`` is no resume point,
  and read from the quote before it, its keys are stretches between strings.
- wrong depth: a ``{`` that is not a chat's is a message, or an object in
  one (an entity, a reaction); none of them has a ``"messages"`` key. This
  is why the check need not see the list still open nor a whole chat: the
  keys tell a chat from any other object of an export, and a damaged chat
  after ``p`` is read as far as it goes (its messages resynced in turn), not
  lost whole. A first object without them refuses ``p``; the parse then
  goes on to where the list closes (for a message: the end of its chat,
  passed over in one parse, not a try a message) or to the next object that
  has them (tried next).
- another chat: ``p`` is a real chat's start, so what follows is read as
  that chat's, under its own id; the damaged chat is left at the damage.
A chat-level resume point counts as a resync (``MAX_RESYNCS``) and each
candidate as a try (``MAX_TRIES``); the parse of a check that fails counts
against ``MAX_CHECKED``, and the rereading of a compressed file against
``MAX_REREAD``. The damage is one reject: the damaged message's where it
lay in the messages (``channel5.messages[9]``), else the chat's
(``chats.list[1]``), saying "… read on from byte N, at the next chat".
Damage can also close the list early (a quote put in a chat's name whose text
is the end of a chat and of the list, ``"}]}, {…`` escaped by the exporter):
the parser then errors after the list, at the top level, and reading resumes
at the next chat all the same (the reject names the place of the chat after
the damaged one, as for damage between two chats: to the parser the damaged
one ended; the byte offset is exact).

(v) Documents one after another: see ``next_document`` (a document's start is
a ``{`` at the start of a line; ``jsonitems._careful`` reads on from it).

The offsets are bytes of the file as ``open_binary`` reads it (decompressed,
without a byte-order mark).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import ijson

from rasd.ingest import jsonlex
from rasd.ingest.base import EndAtDamage, IngestError, current_stream, open_binary
from rasd.ingest.jsonitems import (
    TOKEN_MAX,
    ItemTooLarge,
    NumberGuard,
    ReadGuard,
    StringReads,
    json_error_text,
    structural,
)

MAX_RESYNCS = 1000  # damaged places read past in one file; then the rest is one reject
UNTRUSTED = ("read after damaged JSON, and no top-level key of it is free of ',' and ':': "
             "it may be text of a string taken for structure (see rasd.ingest.resync); "
             "not stored")
_STEP = 64 * 1024  # bytes a read of a tape
# bytes a read of the validating parse: small, as most candidates are refused
# within bytes (each read is parsed whole before its events are seen)
_CHECK_STEP = 4096
_KEEP = 4 << 20  # bytes of the file a _Tape holds at most; then only the last _BACK
_BACK = 1 << 20
_COMMA_BACK = 4096  # whitespace between a candidate's "," and its "{" looked back over
# a "{" after a ",", and before a key's quote: an object of keys (an empty
# one is none a format reads). Text in a string holds no raw quote, so a
# string gives at most one (its closing quote read as a key's opening one).
# Between the "," and the "{", up to ``_STRAY`` stray bytes (no "{", "[" or
# quote): damage between two items (``},x{``: the item after it was lost
# with it, no "," just before its "{"). No valid JSON holds a "," so
# followed; in a string, the check refuses it as any other (see (i)).
_STRAY = 8
_STRAYS = rb'[^ \t\r\n{\["]{1,%d}[ \t\r\n]*' % _STRAY
_JUNK = rb"(?:" + _STRAYS + rb")?"
_COMMA = rb",[ \t\r\n]*" + _JUNK
_CANDIDATE = re.compile(_COMMA + rb"\{[ \t\r\n]*\"")
_OPEN_TAIL = re.compile(_COMMA + rb"(?:\{[ \t\r\n]*)?\Z")
# of top-level items (several arrays one after another), the first item of
# the next array too: a "{" after "]", "[" (stray bytes between them, as
# after a ","), never so in valid JSON but between two top-level arrays.
# Damage in the last item of an array, or between two, lost the first item
# of the next (no "," before it). And the first item of any array after
# stray bytes that follow its "[" (``[x{``: that item was lost with them);
# never so in valid JSON either (a nested array's: refused by the check, as
# any object at the wrong depth: (ii)).
_NEXT_ARRAY = re.compile(_COMMA + rb"\{[ \t\r\n]*\"|\][ \t\r\n]*" + _JUNK
                         + rb"\[[ \t\r\n]*\{[ \t\r\n]*\"|\[[ \t\r\n]*"
                         + _STRAYS + rb"\{[ \t\r\n]*\"")
# the first item of an items array after stray bytes that follow its "["
# (``"messages": [x{``), matched at the offset just after that "[" (where it
# is known: _items_start)
_LEAD = re.compile(rb"[ \t\r\n]*" + _STRAYS + rb"\{[ \t\r\n]*\"")


def _first_of(key: str) -> re.Pattern[bytes]:
    """Where a resume point is an object of a list (a chat: ``need``), the
    first of the list too: a ``{`` after the ``[`` of the list's key (a real
    key: in a string its quotes are escaped), as the first chat of
    "left_chats" is, after damage in the last chat of "chats" (it was lost).
    Its check (the chat's keys, of real structure only) is the same. (Not
    after any "[": each message's "text_entities" would be a try.)"""
    return re.compile(_COMMA + rb"\{[ \t\r\n]*\"|(?P<list>\"" + re.escape(key.encode())
                      + rb"\"[ \t\r\n]*:[ \t\r\n]*\[[ \t\r\n]*\{[ \t\r\n]*\")")


def _key(names: Iterable[str]) -> bytes:
    """The pattern of a real key among ``names`` and its colon (group 1: the
    key; text in a string holds no raw quote)."""
    return rb'"(' + b"|".join(re.escape(n.encode()) for n in names) + rb')"[ \t\r\n]*:'


def _typed(types: Iterable[str]) -> bytes:
    """The pattern of a ``"type"`` key whose value is one of ``types``."""
    return (rb'"type"[ \t\r\n]*:[ \t\r\n]*"(?:' + b"|".join(re.escape(t.encode()) for t in types)
            + rb')"')


def _keys_of(names: list[str]) -> re.Pattern[bytes]:
    """A real key among ``names``, followed by an object (``"left_chats": {``)."""
    return re.compile(_key(names) + rb'[ \t\r\n]*\{')
MAX_TRIES = 20_000  # resume points checked in one file (each costs a parse to its error)
# bytes of a file that cannot seek (a compressed one) decompressed again to reach
# resume points, in one file: each resync opens it again from its start (twice:
# to look for a resume point, then to read on from it), so a .json.gz damaged in
# many places far into it cost resyncs times its size (past this, the rest is
# one reject, as before resync)
MAX_REREAD = 2 << 30


class RereadLimit(Exception):
    """More than ``MAX_REREAD`` bytes would be decompressed again."""


# bytes parsed to check resume points, in one file: a check that fails runs to
# the parse's error, which can lie far on (a nested array of the damaged item
# of a full export read as the rest of its chat); a damaged item with many
# nested objects would cost each of them that much
MAX_CHECKED = 4 << 30


class CheckLimit(Exception):
    """More than ``MAX_CHECKED`` bytes would be parsed to check resume points."""
_AT = re.compile(r" at (?:character )?\d+$")  # jsonlex's offset, at the end of its error
_STARTS = frozenset(("start_map", "start_array"))
_ENDS = frozenset(("end_map", "end_array"))


def synthetic_prefix(item: str) -> bytes:
    """The text that opens the containers of the items at ijson prefix
    ``item``: ``[`` for ``item``, ``{"messages":[`` for ``messages.item``,
    ``{"chats":{"list":[{"messages":[`` for ``chats.list.item.messages.item``."""
    return "".join("[" if part == "item" else f'{{"{part}":'
                   for part in item.split(".")).encode()


def _synthetic_events(item: str) -> int:
    """How many ijson events ``synthetic_prefix(item)`` gives."""
    return sum(1 if part == "item" else 2 for part in item.split("."))


def trusted(obj: Any) -> bool:
    """Whether an item read after a resync may be mapped (see (i) above)."""
    return not isinstance(obj, dict) or any(
        isinstance(k, str) and "," not in k and ":" not in k for k in obj)


def rereadable(path: Path) -> bool:
    """Whether ``path`` can be opened again, several readers at once, each
    from its start: a file, or a stream (``Stream``: standard input, an
    archive member) read whole within what it keeps, or past that where it
    can be opened again (a member, from its archive). A stream read neither
    is read on first, to its end or past what it keeps (readers that replay
    what it keeps fail once another reads past it)."""
    s = current_stream()
    if s is None or path != s.path:
        return True
    if not (s.eof or s.spilled):
        try:
            with s.open() as f:
                while not (s.eof or s.spilled) and f.read(_STEP):
                    pass
        except (IngestError, OSError, EOFError):
            return False
    return (s.reopen is not None and s.spilled) or (s.eof and not s.spilled)


def _open_at(path: Path, at: int, budget: list[int]) -> IO[bytes]:
    """``path`` opened at byte ``at``: sought, or read up to it, the bytes
    read counted down from ``budget[0]`` (``RereadLimit`` past it)."""
    f = open_binary(path)
    try:
        if at and f.seekable():
            f.seek(at, 1)  # (after a byte-order mark open_binary passed over)
            return f
        budget[0] -= at
        if budget[0] < 0:
            raise RereadLimit
        left = at
        while left > 0:
            got = len(f.read(min(left, 1 << 20)))
            if not got:
                break
            left -= got
    except BaseException:
        f.close()
        raise
    return f


class _Tape:
    """``path`` read forward once from an offset, the bytes from ``lo`` on
    held (the last ``_BACK`` of them once over ``_KEEP``), so that the
    readers of candidates after one another read each byte once; a reader
    before ``lo`` opens the file again."""

    def __init__(self, path: Path, at: int, budget: list[int]) -> None:
        self.path, self.budget = path, budget
        self.f = _open_at(path, at, budget)
        self.lo = self.hi = at
        self.buf = bytearray()
        # bytes from here on are kept when a reader starts after them (within
        # _KEEP): the gap before a resume point (``_same_array``)
        self.pin: int | None = None

    def close(self) -> None:
        self.f.close()

    def reader(self, at: int) -> _TapeReader:
        if at < self.lo:
            self.f.close()
            self.f = _open_at(self.path, at, self.budget)
            self.lo = self.hi = at
            self.buf = bytearray()
        while self.hi < at:
            if not self._more(at - self.hi):
                break
        keep = at if self.pin is None else min(at, max(self.pin, self.lo))
        del self.buf[:max(keep - self.lo, 0)]
        self.lo = max(self.lo, min(keep, self.hi))
        return _TapeReader(self, at)

    def _more(self, size: int) -> bytes:
        read = getattr(self.f, "read1", None) or self.f.read
        data = bytes(read(min(size, _STEP)))
        self.buf += data
        self.hi += len(data)
        if len(self.buf) > _KEEP:
            del self.buf[:len(self.buf) - _BACK]
            self.lo = self.hi - len(self.buf)
        return data

    def fetch(self, at: int, size: int) -> bytes:
        if at < self.lo:
            raise OSError("read back past what the resync keeps")  # (one reader at a time)
        if at < self.hi:
            return bytes(self.buf[at - self.lo:at - self.lo + size])
        return self._more(size)


class _TapeReader:
    def __init__(self, tape: _Tape, at: int) -> None:
        self.tape, self.at = tape, at

    def read(self, size: int = -1) -> bytes:
        data = self.tape.fetch(self.at, size if size > 0 else _STEP)
        self.at += len(data)
        return data


class _Prefixed:
    """``head``, then what ``f`` reads."""

    def __init__(self, head: bytes, f: Any) -> None:
        self.head, self.f = head, f

    def read(self, size: int = -1) -> bytes:
        if self.head:
            n = len(self.head) if size < 0 else size
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.f.read(size)  # type: ignore[no-any-return]


class _Counted(ReadGuard):
    """A ``ReadGuard`` that knows what it had handed before its last read
    (an error of the parser lies after it)."""

    before = 0

    def read(self, size: int = -1) -> bytes:
        self.before = self.n
        return super().read(size)


def _candidate(tape: _Tape, start: int, after: int,
               first: re.Pattern[bytes] | None = None,
               lists: tuple[re.Pattern[bytes], list[Any]] | None = None,
               opened: bool = False) -> int | None:
    """The first resume point at or after ``after`` (its ``,`` at or after
    ``start``, and after what the tape let go of: the last candidate tried,
    whose "{" comes before any later one's ",", is held); ``first``: the
    first object of a list too (``_first_of``). ``lists``: where that first
    object is one, the last key of its list's holder before it (``_keys_of``:
    ``"left_chats": {``, within ``_COMMA_BACK`` bytes) is put in its list
    (the list of ``chats.list.item``'s name: "chats"), else None.
    ``opened``: ``start`` lies just after the items array's "[", and its
    first item after stray bytes there is one too (``_LEAD``)."""
    candidates = first or _CANDIDATE
    # (where the tape let go of bytes after ``after`` — a check read on past
    # what it keeps — it is opened again there: candidates past ``after``
    # were passed over, their items lost)
    at = max(after - _COMMA_BACK, start, min(tape.lo, after))
    r = tape.reader(at)
    buf = b""
    while True:
        data = r.read(_STEP)
        if not data:
            return None
        buf += data
        lead = _LEAD.match(buf) if opened and at == start else None
        if lead is not None:  # (its "{": the first in buf, none among the strays)
            brace = at + buf.index(b"{")
            if brace >= after:
                return brace
        for m in candidates.finditer(buf):
            brace = at + buf.index(b"{", m.start())
            if brace >= after:
                if lists is not None:
                    lists[1][0] = None
                    if m.lastgroup == "list":
                        for k in lists[0].finditer(
                                buf, max(m.start() - _COMMA_BACK, 0), m.start()):
                            lists[1][0] = k.group(1).decode()
                return brace
        tail = _OPEN_TAIL.search(buf, max(len(buf) - _COMMA_BACK, 0))
        keep = len(buf) - tail.start() if tail else 0
        if first is not None:  # (a key, a "[" and spaces: what a read may cut)
            keep = max(keep, min(len(buf), 256))
        at += len(buf) - keep
        buf = buf[len(buf) - keep:]


def _validate(tape: _Tape, p: int, head: bytes, checked: list[int],
              need: tuple[str, ...] | None = None,
              owner: tuple[frozenset[str], frozenset[str], tuple[str, ...]] | None = None
              ) -> tuple[bool, int, bool] | None:
    """Whether resume point ``p`` is taken (see the module docstring), the
    least offset worth a try after it where not, and whether the C parser
    read from ``p`` to the end of the file without an error (where it did,
    the rest is read with it: ``read_on``). The offset: the error's (none
    before it is), or where the items array closed, where it did (a nested
    array of the damaged item: the parse can go on far past that, through
    real items — the rest of a chat of a full export, read as chats — and
    real resume points lie after the damaged item's end); None: a value too
    large to read on the way (not validated). A first item none of whose
    top-level keys is ``trusted`` refuses ``p`` at once: read from inside a
    string (so are all items after it, up to an error), it would only give
    rejects (text of ``, {}`` repeated: one each). The bytes parsed are
    counted down from ``checked[0]`` (``CheckLimit`` past it).

    ``need`` (a resume point between the objects that hold items arrays, the
    chats of a full export: ``_holders``): the items array's key, then the
    other keys the first object read must have at its top level, the items
    array's value an array (``_Keys``); ``p`` is taken where it does, up to
    the end or an error (see (iv)). Where it does not, the parse goes on to
    the first later object that does (tried next), or where the list closed
    (a message read as a chat: the rest of its chat is passed over in one
    parse, not a try a message).

    ``owner`` (the messages of a chat of a full export: ``_owner``): the keys
    and the values of ``"type"`` only the object holding the items array has;
    a first item that has one of them is such an object (the next chat, read
    as a message of the damaged one: its messages nested in it, and every
    resume point after it lies in it or later chats): the offset returned is
    then -1 (no resume point after ``p`` is tried). With ``owner``, ``p`` is
    taken too where the items array closes (the damaged chat's end) and the
    parse errors later, in the next damaged place, with the list of chats
    still open and every object of it read since (a chat) holding the keys a
    chat has (``owner[2]``: its items array, its type, its id): the damaged
    chat's messages after its damage were all lost where the chat after it
    was damaged too (two damaged places in two chats). A nested object of
    the damaged message is refused still: its array closed, the message's
    own end closes what the check takes for the chat, and the messages
    after it are objects of the list without a chat's keys (or close the
    list)."""
    depth = head.count(b"[") + head.count(b"{")  # the items array's, its items one deeper
    # a top-level array: others may follow it (read so: ``jsonitems._careful``).
    # A nested object of a damaged item closes it early all the same, and
    # what follows it there (a ",", "}" or "]") is no value: an error after it
    several = head == b"["
    for backend in (ijson, jsonlex):
        cut = EndAtDamage(_Prefixed(head, tape.reader(p)))
        guard = _Counted(StringReads(NumberGuard(cut), _CHECK_STEP), TOKEN_MAX)
        level = items = 0
        closed = plain = False
        # (several) another top-level array begun after the items array
        # closed, and its first item an object (then: a key of it read, one
        # ``trusted``). An error after that key is a later damaged place, as
        # in the same array (damage in the first array and in the second
        # lost all of the first after it). A nested array of the damaged
        # item closes where the next byte is a ",", "}" or "]": an error at
        # once; one byte of damage there, a "[", and the error is right
        # after it, before any object: ``p`` is refused still
        again: str | None = None  # None, "array", "map" (its first item), "key"
        closed_at = p + 1
        keys = _Keys(need) if need is not None else None
        first = False  # (need) the first object has its keys
        kind = False  # (owner) the last event was the first item's "type" key
        # (owner) past the items array's end: the keys of the object of the
        # list being read (a chat), and whether every one read has them
        chat: _Keys | None = None
        chats = owner is not None and len(owner[2]) > 1
        try:
            for k, (event, value) in enumerate(backend.basic_parse(
                    guard, buf_size=_CHECK_STEP, use_float=True, multiple_values=several)):
                if not k & 15:
                    guard.mark = guard.n
                if keys is not None:
                    if level == depth and event in _STARTS:  # an object of the list
                        keys.start(max(p + 1, p + guard.before - len(head)))
                    elif level == depth + 1:
                        keys.see(event, value)
                    if keys.has and items == 0:
                        first = True
                    elif keys.has and items > 0 and not first:  # (tried next)
                        _count(checked, guard.n)
                        return False, keys.at, False
                if closed and chats:
                    if level == depth - 2 and event in _STARTS:  # an object of the list
                        chat = _Keys(owner[2])  # type: ignore[index]
                    elif level == depth - 1 and chat is not None:
                        chat.see(event, value)
                if again == "array" and level == depth:  # (its first item)
                    again = "map" if event == "start_map" else "other"
                if event in _STARTS:
                    if several and closed and again is None and level == 0:
                        again = "array"
                    level += 1
                elif event in _ENDS:
                    level -= 1
                    if closed and chats and level < depth - 2:
                        chats = False  # (the list closed: an error after it refuses p)
                    elif (closed and chats and level == depth - 2 and chat is not None
                          and not chat.has):  # (an object of the list that is no chat)
                        _count(checked, guard.n)
                        return False, closed_at, False
                    if level == depth:
                        items += 1
                        if keys is None and items == 1 and not plain:  # (no key, or none trusted)
                            return False, max(p + 1, p + guard.before - len(head)), False
                    elif level < depth and not closed:
                        closed = True
                        closed_at = max(p + 1, p + guard.before - len(head))
                        if keys is not None and not first:
                            _count(checked, guard.n)
                            return False, closed_at, False
                elif (event == "map_key" and again == "map" and level == depth + 1
                      and trusted({value: None})):
                    again = "key"
                elif event == "map_key" and items == 0 and level == depth + 1:
                    plain = plain or trusted({value: None})
                    if owner is not None and value in owner[0]:
                        _count(checked, guard.n)
                        return False, -1, False
                    kind = value == "type"
                    continue
                if (owner is not None and kind and items == 0 and level == depth + 1
                        and event == "string" and value in owner[1]):
                    _count(checked, guard.n)
                    return False, -1, False
                kind = False
            if keys is not None and not first:
                _count(checked, guard.n)
            taken = keys is None or first
            return taken, p, taken and backend is ijson
        except (ijson.common.JSONError, ValueError, UnicodeDecodeError):
            # (nested too deep too, jsonitems.NestedTooDeep: damage there, as
            # an error; a value too large to read is none, below)
            _count(checked, guard.n)
            if keys is not None:
                if backend is ijson:
                    continue  # (jsonlex decides: yajl refuses more)
                return first, max(p + 1, p + guard.before - len(head)), False
            if closed and again != "key" and not (chats and items > 0 and chat is not None
                                             and chat.has):
                return False, closed_at, False  # (jsonlex would close it there too)
            if backend is ijson:
                continue  # yajl refuses more than jsonlex: jsonlex decides
            if closed:  # (a damaged place in a chat or a top-level array after: see above)
                return True, max(p + 1, p + guard.before - len(head)), False
            return (not closed and items > 0), max(p + 1, p + guard.before - len(head)), False
        except ItemTooLarge:
            return None
    raise AssertionError  # (unreachable)


def _count(checked: list[int], n: int) -> None:
    """``n`` bytes parsed to check a resume point, counted down from
    ``checked[0]`` (``CheckLimit`` past it)."""
    checked[0] -= n
    if checked[0] < 0:
        raise CheckLimit


class _Keys:
    """The top-level keys of an object of a list being parsed (``_validate``):
    ``has`` once it holds every key of ``need`` (``need[0]``, the items
    array's key, with an array as its value), ``at`` where it started (at
    most)."""

    def __init__(self, need: tuple[str, ...]) -> None:
        self.need = need
        self.start(0)

    def start(self, at: int) -> None:
        self.at, self.seen, self.key = at, set[str](), None
        self.has = False

    def see(self, event: str, value: Any) -> None:
        """An event of the object's own level: a key, or a value's first."""
        if event == "map_key":
            self.key = value
            return
        # (the keys needed alone: an object of millions of keys held them all)
        if self.key in self.need and (self.key != self.need[0] or event == "start_array"):
            self.seen.add(self.key)
            self.has = self.has or self.seen.issuperset(self.need)
        self.key = None


# keys of the object that holds an array of items, which the items never
# have: one of them after a damaged place is the next such object (_boundary)
OWNER_KEYS = {"messages": ("name",)}
# values of a "type" key that only the object holding the items array has (the
# chat types Telegram Desktop writes, ``telegram.CHAT_PREFIX``; a message's type is
# "message" or "service", an entity's "plain", "bold" …): a chat whose "name" and
# "messages" keys were both damaged still stops reading on at its "type" (three
# damaged places: the last message of chat 8 and both keys of chat 9 — chat 9's
# messages were read on as chat 8's)
OWNER_TYPES = {"messages": ("public_channel", "private_channel", "public_supergroup",
                            "private_supergroup", "private_group", "personal_chat",
                            "bot_chat", "saved_messages", "replies", "verification_codes")}


# of an items array's key, the other keys the object holding it always has
# where such objects are the items of a list (a chat of a full export's
# "chats.list": its "type" and "id", which name the chat its messages are
# stored under): a resume point between them is the first of them that has
# these and its items array (``_validate``; see (iv))
HOLDER_KEYS = {"messages": ("type", "id")}


def _holders(items: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Of the ``items`` prefixes, the lists of objects that hold them
    (``chats.list.item`` of ``chats.list.item.messages.item``), each to what
    the first of them read from a resume point must have (``need`` of
    ``_validate``): the items array's key, then its ``HOLDER_KEYS``."""
    out = {}
    for item in items:
        parts = item.split(".")
        if len(parts) >= 4 and parts[-1] == parts[-3] == "item" and parts[-2] in HOLDER_KEYS:
            out[".".join(parts[:-2])] = (parts[-2], *HOLDER_KEYS[parts[-2]])
    return out


def _owner(item: str) -> tuple[frozenset[str], frozenset[str], tuple[str, ...]] | None:
    """Of the items at ``item``, the keys and the values of ``"type"`` that
    only the object holding their array has (``OWNER_KEYS``, ``OWNER_TYPES``:
    a chat of a full export, for ``chats.list.item.messages.item``); None
    where the array is held by no object of a list (no other such array to
    read on into)."""
    parts = item.split(".")
    if len(parts) < 4 or parts[-2] not in OWNER_KEYS or "item" not in parts[:-2]:
        return None
    return (frozenset((parts[-2], *OWNER_KEYS[parts[-2]])),
            frozenset(OWNER_TYPES.get(parts[-2], ())),
            (parts[-2], *HOLDER_KEYS.get(parts[-2], ())))


# bytes between the end of the last item read and a resume point looked over
# for where they could hold the end of the items' array (``_same_array``);
# a longer gap refuses the resume point (what a tape is sure to hold)
MAX_GAP = _BACK


def _gap(tape: _Tape, start: int, p: int, gap: bytearray) -> bool:
    """``gap`` made the bytes from ``start`` to resume point ``p``, read from
    what ``tape`` holds (kept from ``start`` on: ``pin``) before ``p`` is
    checked (the check can read on far past what the tape keeps: the gap of a
    resume point taken was gone); False where they are over ``MAX_GAP``
    bytes or the tape no longer holds them. (Each resume point after the
    last: ``gap`` grows by what lies between, read once.)"""
    if p - start > MAX_GAP:
        return False
    have = start + len(gap)
    if have < p:
        if have < tape.lo or p > tape.hi:
            return False
        gap += tape.buf[have - tape.lo:p - tape.lo]
    return len(gap) >= p - start


def _same_array(gap: bytes, checked: list[int]) -> bool:
    """Whether a resume point ``p`` taken by ``_validate`` may lie in the same
    array of items as the last item read, ``gap`` the bytes between the end
    of that item and ``p`` (``_gap``): read backwards from ``p``, strings
    told by their quotes (a
    quote preceded by an odd number of backslashes is in a string; from
    ``p``, outside any string, that holds up to the damage). Read so, from
    ``p`` back to the damage they are the items before ``p``, its siblings:
    objects ``{…}`` and commas between them. Refused: an ``{`` or ``[`` that
    opens what ``p`` lies in (the next chat's ``"messages": [``, or the chat
    itself), a key at ``p``'s level (a string followed by ``:``: the next
    chat's keys, ``"id": 9``, where its ``{`` and ``[`` were damaged), and
    more than one container left open at ``start`` (the damaged chat's
    ``]}``, closing its messages and itself, where the next chat's ``{`` and
    ``[`` were damaged too). Text read as structure (a quote lost: strings
    pair the other way round before it) only refuses more. So a resume point
    in the next chat is refused unless the damage also took its ``{``, its
    ``[``, the colons of its keys and the damaged chat's closing brackets
    (and its keys for ``_boundary``): its messages are never read on as the
    damaged chat's (found by fuzzing full exports damaged in 1-6 bytes: with
    the next chat's "name", "type" and "messages" keys damaged, they were)."""
    _count(checked, len(gap))
    level = 0
    key = False  # (at level 0) a ":" after the last token read (the next is a key)
    i = len(gap) - 1
    while i >= 0:
        c = gap[i]
        if c == 0x22:  # '"': a string's end; its start is the previous quote not escaped
            j = i - 1
            while j >= 0:
                if gap[j] == 0x22:
                    k = j - 1
                    while k >= 0 and gap[k] == 0x5C:
                        k -= 1
                    if (j - k) % 2:  # (an even number of backslashes before it)
                        break
                j -= 1
            if level == 0 and key:
                return False  # a key at p's level
            key = False
            i = j - 1
            continue
        if c in b"}]":
            level += 1
        elif c in b"{[":
            level -= 1
            if level < 0:
                return False  # what p lies in opens after the last item read
        if level == 0:
            if c == 0x3A:  # ':'
                key = True
            elif c not in b" \t\r\n":
                key = False
        i -= 1
    return level <= 1


def _boundary(path: Path, start: int, item: str, budget: list[int],
              checked: list[int]) -> int | None:
    """Where the array of items at ``item`` may end and another of its kind
    begin, after ``start``: the first ``"messages":`` or ``"name":`` key
    after it (``OWNER_KEYS``), or ``"type": "public_channel"`` or another
    chat's type (``OWNER_TYPES``), for the messages of a chat of a full export
    (``chats.list.item.messages.item``);
    None for an array in no other (no such place). A resume point past it
    is in another chat, whose messages, read on as the damaged chat's, were
    stored under its id (``channel5/2`` given chat 6's message 2, a false
    edit of chat 5's). (Text in a string holds no raw quote: what is found
    is a real key, or damage, which only stops reading on sooner.)"""
    parts = item.split(".")
    if "item" not in parts[:-1]:
        return None
    # the array's own key, and keys its container has and its items have not
    # (a Telegram chat's "name": so that damage to one of them still stops it)
    names = (parts[-2], *OWNER_KEYS.get(parts[-2], ()))
    pattern = _key(names)
    types = OWNER_TYPES.get(parts[-2])
    if types:  # (or its "type" where that is one only the holder has)
        pattern += b"|" + _typed(types)
    key = re.compile(pattern)
    found = _scan(path, start, key, budget, checked)
    return found[0] if isinstance(found, tuple) else found + 1  # (none: past the end)


def _items_start(path: Path, start: int, item: str, budget: list[int],
                 checked: list[int]) -> int | None:
    """Where the array of items at ``item`` (``chats.list.item.messages.item``)
    of the object that begins after ``start`` (a chat) begins: just after the
    ``[`` of the first ``"messages": [`` after it (a real key, as in
    ``_boundary``; what a chat could hold before its messages, a name, a type,
    an id, has none); None where there is none."""
    key = re.compile(rb'"' + re.escape(item.split(".")[-2].encode())
                     + rb'"[ \t\r\n]*:[ \t\r\n]*\[')
    found = _scan(path, start, key, budget, checked)
    return found[1] if isinstance(found, tuple) else None


def _scan(path: Path, start: int, pattern: re.Pattern[bytes], budget: list[int],
          checked: list[int]) -> tuple[int, int] | int:
    """The file offsets of the first match of ``pattern`` (of at most 64
    bytes) after ``start``, or where the file ends; the bytes read counted
    down from ``checked[0]`` (``CheckLimit`` past it)."""
    f = _open_at(path, start, budget)
    try:
        at, tail = start, b""
        while True:
            data = f.read(_STEP)
            if not data:
                return at + len(tail)
            _count(checked, len(data))
            buf = tail + data
            m = pattern.search(buf)
            if m is not None:
                return at + m.start(), at + m.end()
            keep = min(len(buf), 64)
            at += len(buf) - keep
            tail = buf[len(buf) - keep:]
    finally:
        f.close()


def _resume(path: Path, start: int, item: str, tries: list[int], budget: list[int],
            checked: list[int], tape: _Tape | None = None,
            bound: list[int | None] | None = None, need: tuple[str, ...] | None = None,
            own: int = 0, damaged: list[int] | None = None,
            lists: tuple[re.Pattern[bytes], list[Any]] | None = None,
            opened: bool = False) -> tuple[int, _Tape, bool] | None:
    """The first resume point after ``start`` taken (see the module
    docstring), the tape it is read from (``tape``, the last resync's,
    where it still holds ``start``: a compressed file is not decompressed
    again from its start), and whether its check read the rest of the file
    with the C parser without an error (``_validate``); None where there is none, or none within
    ``tries[0]`` checks (counted down), or none before the end of the items'
    array (``_boundary``, kept in ``bound[0]`` for the resyncs after this
    one, with the start it was found from in ``bound[1]``: it is the first
    after their start too, where that lies between them). ``RereadLimit`` past
    ``budget``, ``CheckLimit`` past ``checked``.

    With ``need``, ``item`` is a list of objects that hold items arrays (the
    chats of a full export: ``_holders``), and a resume point is one of
    them (``_validate``), anywhere after ``start`` (no ``_boundary``: each is
    read as its own); ``own``: the object being read when the damage was met
    begins at the first ``{`` at or after ``start``, and is never one (read
    again, it would meet the same damage); ``damaged``: set to how many
    objects of the list (chats) were passed over before the one taken
    (``_passed``); ``lists``, ``opened``: see ``_candidate`` (of the resume
    point taken)."""
    head = synthetic_prefix(item)
    end: int | None = None
    if need is None:
        if bound is None:
            bound = [None, None]
        # (the one found after an earlier start is the first after this one
        # too, where it lies after it: not where this one is before that)
        if bound[0] is None or bound[1] is None or not bound[1] <= start < bound[0]:
            try:
                bound[0], bound[1] = _boundary(path, start, item, budget, checked), start
            except (IngestError, OSError, EOFError):
                return None
        end = bound[0]
    if tape is None or tape.f.closed or start < tape.lo:
        try:
            tape = _Tape(path, start, budget)
        except (IngestError, OSError, EOFError):
            return None
    after = start
    try:
        if own:
            brace = _brace(tape, start, checked, own)
            if brace is None:
                tape.close()
                return None
            after = brace + 1
        begun = after  # (past the damaged object's own "{")
        owner = _owner(item) if need is None else None
        first = (_first_of(item.split(".")[-2]) if need is not None
                 else _NEXT_ARRAY if item == "item" else None)
        # (kept from there: the gap before a resume point, what _passed reads)
        tape.pin = start if owner is not None else begun if need is not None else None
        gap = bytearray()  # (owner) the bytes from start on, up to the last resume point
        while True:
            p = _candidate(tape, start, after, first, lists, opened)
            if p is None or tries[0] <= 0 or (end is not None and p >= end):
                break
            tries[0] -= 1
            # (the bytes before it, while the tape holds them)
            held_gap = owner is not None and _gap(tape, start, p, gap)
            verdict = _validate(tape, p, head, checked, need, owner)
            if verdict is None:
                break
            taken, err, clean = verdict
            if err < 0:  # (a chat read as a message: past the end of the items' array)
                break
            if taken:
                if owner is not None and not (held_gap and _same_array(
                        bytes(gap[:p - start]), checked)):
                    break  # (every later resume point lies past the same gap)
                tape.pin = None
                if damaged is not None:
                    damaged[0] = _passed(path, begun, p, need, own > 0, budget, checked,
                                         tape)
                return p, tape, clean
            after = max(p + 1, err)
    except (IngestError, OSError, EOFError):
        pass
    except (RereadLimit, CheckLimit):
        tape.close()
        raise
    tape.close()
    return None


def _passed(path: Path, start: int, p: int, need: tuple[str, ...] | None, own: bool,
            budget: list[int], checked: list[int], tape: _Tape | None = None) -> int:
    """How many objects of a list (chats: ``need``, as for ``_validate``) lie
    between ``start`` and ``p``, the next one taken, all damaged (refused):
    of the keys of such an object (its items array's, ``OWNER_KEYS``,
    ``OWNER_TYPES``),
    the most of one kind found there (each of them real: text holds no raw
    quote), less one where ``start`` is just inside the damaged object
    (``own``: its keys lie there too). A chat damaged in all of them is not
    counted. (They were not counted at all: the chats after a chat passed
    over were named by a place one too early, ``chats.list[2]`` for the
    fourth.) Read from ``tape`` where it still holds them, else from the
    file again."""
    key = need[0] if need else None
    if key is None or key not in OWNER_KEYS or p <= start:
        return 0
    names = [key, *OWNER_KEYS[key]]
    kinds = [re.compile(_key((n,))) for n in names]
    types = OWNER_TYPES.get(key)
    if types:
        kinds.append(re.compile(_typed(types)))
    counts = [0] * len(kinds)
    if tape is not None and tape.lo <= start and p <= tape.hi:  # (held: not read again)
        buf = bytes(tape.buf[start - tape.lo:p - tape.lo])
        _count(checked, len(buf))
        return max(max(len(kind.findall(buf)) for kind in kinds) - own, 0)
    f = _open_at(path, start, budget)
    try:
        at, tail = start, b""
        while at + len(tail) < p:
            data = f.read(min(_STEP, p - at - len(tail)))
            if not data:
                break
            _count(checked, len(data))
            buf = tail + data
            keep = min(len(buf), 64)
            for k, kind in enumerate(kinds):  # (a match is counted in the read it ends in)
                counts[k] += sum(1 for m in kind.finditer(buf) if m.end() > len(tail))
            at += len(buf) - keep
            tail = buf[len(buf) - keep:]
    finally:
        f.close()
    return max(max(counts) - own, 0)


def _brace(tape: _Tape, at: int, checked: list[int], n: int = 1) -> int | None:
    """The offset of the ``n``-th ``{`` outside strings at or after ``at``,
    which is outside any string (None: none), the bytes read on the way
    counted down from ``checked[0]``. (The first ``{`` was taken: after a
    string in the list before a chat, ``["a{", {…}]``, it lay in it, and
    where nothing had ended before the chat, ``{"chats": {"list": [3,
    {…}]}}``, it was the file's own: the chat was read again, a second
    reject and the same records.)"""
    r = tape.reader(at)
    state = [False, False]  # (in a string, the next byte escaped)
    while True:
        data = r.read(_STEP)
        if not data:
            return None
        _count(checked, len(data))
        if not any(state):  # (most reads: no string to pass over first)
            k = data.find(b"{")
            q = data.find(b'"')
            if k >= 0 and (q < 0 or k < q) and n == 1:
                return at + k
        for k, c in structural(data, state):
            if c == 0x7B:
                n -= 1
                if n <= 0:
                    return at + k
        at += len(data)


def _after(layers: Layers, base: int) -> int:
    """The file offset of the end of the item (or map, or array) just read:
    where its closing bracket lies in what the parser was handed, plus the
    bytes of strings passed over less the ends the parser was handed for
    them (``ReadGuard.shift``, as of the read that held the bracket:
    ``jsonlex.end_offset``), plus the bytes of numbers made shorter before
    it (``NumberGuard.shrunk_before``). Exact: a string is passed over in a
    read of its own, before any bracket after it is read. (It was told from
    all of them up to the last read, each end handed counted as read, and
    numbers made shorter ahead of what the parser was handed: past a long
    chat read on, it lay past the next chat's keys, and a message of the
    chat after was read on as the damaged one's.) Where no bracket was read
    yet: at or after the end of what was handed."""
    guard = layers.guard
    end = jsonlex.end_offset(guard)
    if end is None:  # (not an item that ends in a bracket)
        return base + guard.n + layers.numbers.shrunk
    at, shift = end
    read = at + shift  # in what NumberGuard handed
    return base + read + layers.numbers.shrunk_before(read)


@dataclass(slots=True)
class Layers:
    """The readers a careful pass stacks over its text (``build``)."""

    cut: EndAtDamage
    numbers: NumberGuard
    guard: ReadGuard

    @classmethod
    def over(cls, stream: Any, step: int, limit: int, outside: int | None = None) -> Layers:
        """The careful pass's readers over ``stream``: the end of damaged
        compressed data told (``EndAtDamage``), numbers Python cannot read made
        a marker (``NumberGuard``), reads of ``step`` bytes growing within a
        long string (``StringReads``), values bounded to ``limit`` bytes
        (``ReadGuard``; ``outside``: its bound on strings outside the items).
        (``limit`` is the caller's: its module's bound, which tests lower.)"""
        cut = EndAtDamage(stream)
        numbers = NumberGuard(cut)
        return cls(cut, numbers, ReadGuard(StringReads(numbers, step), limit, outside=outside))


def read_on(path: Path, first: Any, build: Callable[[Any], Layers],
            parse: Callable[[ReadGuard, int, Any], Iterator[tuple[str, str, Any]]],
            items: tuple[str, ...], skip: int,
            now: Callable[[Layers], None]) -> Iterator[tuple[str, str, Any]]:
    """The events of ``parse`` (``capped_parse``) over ``first`` stacked by
    ``build`` (``skip`` items passed over), and where it fails with a syntax
    error after or inside an item at one of the ``items`` prefixes, the
    event ``(item prefix, "reject", reason)`` for the damaged item, then the
    events of the items after the resume point (each item not ``trusted``
    such a reject too), and so on. Where no item after it can be (the items
    array is one of a chat of a full export, and the damage lies in its
    last item or in the chat's own fields, or between chats), the event
    ``(item prefix or the chat's prefix, "reject", reason)``, then the
    events of the next chat taken (``_holders``) and of all after it.
    ``now`` is told each new stack of readers (what a caller's error
    handling looks at). An error where no resume point is taken is raised
    as it came.

    ``parse(guard, skip, backend)``: ``backend`` None, the caller's parser
    (the pure-Python one, which tells where each item ends: what a resync
    needs); else ijson's C parser, for the rest of the file past a resume
    point whose check read all of it with the C parser without an error (the
    last damage: no resync is to come, and the pure-Python parser read the
    rest at ~1 MB/s — an 18 MB export damaged near its start took 18 s). An
    error the C parser meets there all the same is raised as it came."""
    layers = build(first)
    layers.guard.track_ends = True  # type: ignore[attr-defined]
    layers.numbers.track = True  # (exact offsets: _after)
    now(layers)
    events = parse(layers.guard, skip, None)
    fast = False  # the C parser reads the rest (no error to come)
    base = 0  # the file offset of what the parser reads first, less the synthetic text
    origin = 0  # the file offset of the first byte of the file the parser reads
    drop = 0  # synthetic events still to drop
    at_items: str | None = None  # the items array the parser is in, between its items
    last = 0  # the file offset after which the next item starts (at most)
    holders = _holders(items)
    # the holders' lists by the key of what holds them ("left_chats": its
    # "left_chats.list.item"), and that key looked for before the first object
    # of a list read on at (_candidate)
    lists = {h.split(".")[-3]: h for h in holders if len(h.split(".")) >= 3}
    list_keys = ((_keys_of(list(lists)), [None]) if lists else None)
    holder: str | None = None  # the list of holders (chats) the parser is in
    # the last such list closed: damage in a chat's name whose text is the end
    # of a chat and of the list (``"}]}, {\"name\": …``, a quote of it made
    # raw) closes the list early, and the parser errors after it; reading
    # resumes at the next chat all the same (the keys tell a chat: (iv))
    closed_list: str | None = None
    # where the next holder starts (at or after), and where the one being read
    # starts: at the own-th "{" outside strings at or after it (_resume's own;
    # 0: none being read)
    held, own = 0, 0
    # the "{" of the file read since the last end of a map or an array (or
    # since the parser's first byte: _before's point), each a "start_map"
    maps = 0
    fresh = False  # no item of the items array read yet (at_items from its "[")
    # the end of the last map or array read as of the last item or items
    # array begun (jsonlex.end_offset): an item that leaves it as it was ends
    # no bracket (a string, a number …), and tells nothing of where it ends
    seen: tuple[int, int] | None = None
    resyncs = 0
    tries = [MAX_TRIES]
    # where the items' array may end (_boundary), and after where it was found
    bound: list[int | None] = [None, None]
    budget = [MAX_REREAD]
    checked = [MAX_CHECKED]
    tape: _Tape | None = None
    try:
        while True:
            try:
                for prefix, event, value in events:
                    if holders:
                        if drop:
                            pass
                        elif event == "start_map":
                            maps += 1
                        elif event in _ENDS or event == "item":
                            maps = 0
                        if prefix in holders:
                            if event == "start_map":  # (one the synthetic text opened:
                                # the damaged one's items read on, its own start passed)
                                held, own = ((origin, 0) if drop else
                                             (_before(layers, base, origin), maps))
                            elif event == "end_map":
                                held, own = _after(layers, base), 0
                        elif prefix + ".item" in holders:
                            if event == "start_array":
                                holder = prefix + ".item"
                                held, own = _before(layers, base, origin), 0
                            elif event == "end_array":
                                closed_list, holder = holder, None
                    if drop:
                        drop -= 1
                        continue
                    if event == "item":
                        at_items = prefix
                        ended = jsonlex.end_offset(layers.guard)
                        if ended != seen:  # (an object or array: a bracket ended)
                            seen = ended
                            last = _after(layers, base)
                            held, own, fresh = last, 0, False
                        # (else a string, a number …: _after would be the end of
                        # the last object before it, in a chat before its own
                        # start, where the chat read on at was itself again)
                        if resyncs and not trusted(value):
                            yield prefix, "reject", UNTRUSTED
                            continue
                    elif event == "start_array" and _item_of(prefix) in items:
                        at_items = _item_of(prefix)
                        if prefix:
                            # (at or after its "[": what was read, past it; where
                            # the array is a chat's, _items_start finds it)
                            last = base + layers.guard.n + layers.numbers.shrunk
                        else:
                            # a top-level array (of several one after another, the
                            # next): before its "[", after the last one's "]" (what
                            # was read lies past its first items: damage in its
                            # first item lost them)
                            last = _before(layers, base, origin)
                        fresh = True
                        seen = jsonlex.end_offset(layers.guard)
                    elif event == "end_array" and not prefix and "item" in items:
                        # a top-level array closed: damage after it, before
                        # the next one, is read past as between two items
                        at_items = "item"
                    else:
                        at_items = None
                    yield prefix, event, value
                return
            except (ijson.common.JSONError, ValueError) as e:
                chats = holder or closed_list
                if (fast or (at_items is None and chats is None)
                        or layers.cut.damage is not None or layers.guard.eof
                        or not layers.numbers.exact or not rereadable(path)):
                    # (offsets not exact: past MAX_MARKS long numbers in an
                    # item, a resume point could lie in the next chat)
                    raise
                if resyncs >= MAX_RESYNCS:
                    raise ijson.common.JSONError(
                        f"{MAX_RESYNCS:,} damaged places read past already, the rest is not "
                        f"read: {json_error_text(e)}") from e
                at = at_items
                try:
                    found = None
                    skipped = [0]  # (objects of the list passed over, damaged)
                    start: int | None = last
                    opened = False  # (start just after the items array's "[")
                    if at_items is not None and fresh and (chats is not None
                                                           or at_items != "item"):
                        # none of its items read yet: ``last`` may lie past the
                        # next chat's keys (where _boundary would be looked
                        # for), or past the first item's "{" (``[x{``: lost)
                        try:
                            start = _items_start(path, held, at_items, budget, checked)
                        except (IngestError, OSError, EOFError):
                            start = None
                        opened = start is not None
                    if at_items is not None and start is not None:
                        found = _resume(path, start, at_items, tries, budget, checked, tape,
                                        bound, opened=opened)
                    if found is None and chats is not None and tries[0] > 0:
                        # none in the same chat: the next chat, read as its own
                        at = chats
                        found = _resume(path, held, chats, tries, budget, checked, tape,
                                        need=holders[chats], own=own, damaged=skipped,
                                        lists=list_keys)
                    if found is not None:
                        try:  # (opened again at it here, if need be)
                            found[1].reader(found[0])
                        except (IngestError, OSError, EOFError):  # (a member gone)
                            if found[1] is not tape:
                                found[1].close()
                            found = None
                except RereadLimit:
                    raise ijson.common.JSONError(
                        f"{MAX_REREAD:,} bytes of the file decompressed again to read on "
                        f"past damaged JSON already, the rest is not read: "
                        f"{json_error_text(e)}") from e
                except CheckLimit:
                    raise ijson.common.JSONError(
                        f"{MAX_CHECKED:,} bytes parsed to check where to read on past "
                        f"damaged JSON already, the rest is not read: "
                        f"{json_error_text(e)}") from e
                if found is None and tries[0] <= 0:
                    raise ijson.common.JSONError(
                        f"{MAX_TRIES:,} resume points checked already, the rest is not read: "
                        f"{json_error_text(e)}") from e
                if found is None or at is None:
                    raise
                p, new, fast = found
                if tape is not None and tape is not new:
                    tape.close()
                tape = new
                resyncs += 1
                why = json_error_text(e)[:200]
                if resyncs > 1:  # (its offset counts from the last resume point, not the start)
                    why = _AT.sub("", why)
                # (the reason's head, to its colon, is what `rasd quarantine`
                # counts by: one line for all such rejects, not one each)
                yield at_items or at, "reject", (
                    f"damaged JSON: {why}; the file was read on from byte {p:,}"
                    + (", at the next chat" if at == chats else ""))
                if at == chats and list_keys is not None:
                    # the first chat of a list: of that list (its events
                    # under its prefix, "left_chats.list.item"), no chat of it
                    # passed over; else objects passed over for damage, of the
                    # same list (what names the chats after: their places)
                    other = lists.get(list_keys[1][0] or "")
                    if other is not None and other != chats:
                        at = other
                    elif skipped[0]:
                        yield chats, "skipped", skipped[0]
                head = synthetic_prefix(at)
                layers = build(_Prefixed(head, tape.reader(p)))
                layers.guard.track_ends = True  # type: ignore[attr-defined]
                layers.numbers.track = not fast  # (no resync after: no offsets)
                now(layers)
                events = parse(layers.guard, 0, ijson if fast else None)
                base = p - len(head)
                origin = p
                drop = _synthetic_events(at)
                last = p + 1  # (never p again)
                held, own, fresh = p, 1, False
                seen = None
                maps = 0
                at_items = None
    finally:
        if tape is not None:
            tape.close()


def _item_of(prefix: str) -> str:
    """The ijson prefix of the items of the array at ``prefix`` (``item`` for
    a top-level one: ``prefix + ".item"`` named none, and damage in the first
    item of a JSON array of tweets was never read past: the file was read as
    JSON Lines, a reject a line)."""
    return f"{prefix}.item" if prefix else "item"


def _before(layers: Layers, base: int, origin: int) -> int:
    """A file offset at or before the start of the map just begun, and at or
    after the end of what was read before it: after the last map or array
    that ended (``_after``), else where the parser began (``origin``)."""
    if jsonlex.end_offset(layers.guard) is None:
        return origin
    return _after(layers, base)


# (v) Documents one after another (``jq .`` of a JSON Lines file, pages a
# collector appended pretty-printed, one cut short by a crash before the next
# run's): damage in one, or nesting or a token past the bounds, stopped the
# file there, every document after it lost. A document's start is a "{" at
# the start of a line: a pretty-printer indents every nested value, and no
# JSON string holds a raw line break (an exporter escapes it), so such a "{"
# is never text nor a nested object of a pretty-printed document. A resume
# point is the first such "{" after the start of the damaged document
# (never that one: read again, it meets the same damage) whose text up to
# the next such "{" (or the end of the file) is one whole JSON object with a
# key free of "," and ":" (as (i)); a nested object at the start of a line
# (``indent=0``) is refused, as its text runs on past it (",", "]").
_DOC_START = re.compile(rb"\n\{")
_NOT_BLANK = re.compile(rb"[^ \t\r\n]")
_LINE_BEFORE = re.compile(rb"\n[ \t]*\}[ \t\r]*\Z")  # (a "}" alone, up to the candidate's "\n")
_DOC_DECODER = json.JSONDecoder(parse_constant=lambda name: _no_json(name))


def _no_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def next_document(path: Path, after: int, limit: int, budget: list[int],
                  tries: list[int]) -> tuple[int, int] | None:
    """The file offset of the first document taken after the damaged one,
    which begins at the first byte after ``after`` that is not blank (the
    end of the last document read), and how many documents were passed
    over between them (refused, each after a line that is a "}" alone: the
    end of the one before, so a document's start for certain, damaged in
    turn); or None: see (v) above. A document checked is at most ``limit``
    bytes (one longer is refused); each candidate counts down ``tries[0]``
    (none past 0), and bytes decompressed again to reach ``after`` count
    down ``budget[0]`` (``RereadLimit``). At most ``limit`` and a read of
    the file are held at once."""
    f = _open_at(path, after, budget)
    buf = bytearray()  # the file from offset ``at`` on, as far as read
    at = after

    def more() -> bool:
        data = f.read(_STEP)
        buf.extend(data)
        return bool(data)

    try:
        while (m := _NOT_BLANK.search(buf)) is None:  # (the damaged document's start)
            at += len(buf)
            buf.clear()
            if not more():
                return None
        look = m.start()  # (a candidate's "\n" at or after it: its "{" past the start)
        passed = 0
        while True:
            m = _DOC_START.search(buf, look)
            if m is None:
                # (kept: a "\n" at the end, its "{" still to come, and the
                # line before it, to tell whether it is a "}" alone)
                keep = min(len(buf), 64)
                at += len(buf) - keep
                del buf[:len(buf) - keep]
                look = max(keep - 1, 0)
                if not more():
                    return None
                continue
            after_end = _LINE_BEFORE.search(buf, 0, m.start()) is not None
            at += m.start() + 1  # (the candidate's "{" first)
            del buf[:m.start() + 1]
            while (nxt := _DOC_START.search(buf)) is None and len(buf) <= limit and more():
                pass
            if tries[0] <= 0:
                return None
            tries[0] -= 1
            end = nxt.start() + 1 if nxt is not None else len(buf)
            if end <= limit and _whole_document(bytes(buf[:end])):
                return at, passed
            passed += after_end
            look = 1  # (the next candidate after this one)
    finally:
        f.close()


def _whole_document(text: bytes) -> bool:
    """Whether ``text`` (blanks after it allowed) is one JSON object with a
    key free of "," and ":"."""
    try:
        obj = _DOC_DECODER.decode(text.decode("utf-8"))
    except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
        return False
    return isinstance(obj, dict) and trusted(obj) and bool(obj)
