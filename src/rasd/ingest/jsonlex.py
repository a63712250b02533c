"""ijson's pure-Python parser, with a lexer of rasd's own and closed when done.

The careful passes (``first_keys``, a damaged or odd JSON document read again,
a Telegram export's second pass) read with ijson's pure-Python parser: it
yields every event before a damaged byte and reads integers past 64 bits. Two
things of its pipeline did not hold up on hostile input, and are replaced
here; its parser proper (``parse_value``: the events, and their errors) and
its prefixes (``parse_basecoro``) are ijson's own.

- Its lexer finds a string's end quote by quote, in Python, counting the
  backslashes before each one: a string of millions of ``\\"`` took ~10 s for
  16 MiB (0.6 µs a quote). Here a string's end is found by one regular
  expression, at C speed, and a string or word cut by a read is kept in
  pieces, joined once (time linear in its length, however it is read).
- Its coroutines were left to the garbage collector when a reader stopped
  early (the first record read, a file over a limit): closed mid-string, the
  lexer raises from its ``close()``, which Python can only report as an
  "unraisable" exception (pytest's PytestUnraisableExceptionWarning). Here the
  lexer is no coroutine, and ``_events`` closes ijson's in a ``finally``.
- Its UTF-8 decoding stopped the parse for good at the first byte that is no
  UTF-8 text (``\\xed\\xa0\\x80``, an encoded surrogate, in one message
  of a Telegram export lost every message after it). Here such bytes are
  decoded as lone surrogates (``surrogateescape``, which valid UTF-8 never
  gives), and a string holding any is handed to the parser as the marker
  ``INVALID_UTF8``: the item holding it is rejected (``jsonitems.dump_item``)
  and the items after it are read. Such bytes outside a string still end the
  parse, as broken JSON does.
- A control character written raw in a string (a TAB or NUL byte unescaped:
  no JSON) stopped its parse for good. Here its string ends at its closing
  quote all the same (``json.loads(strict=False)`` reads it so: such a
  character changes no structure), and is handed to the parser as the marker
  ``CONTROL_IN_STRING``: the item holding it is rejected, the items after it
  are read.
- NaN, Infinity and -Infinity (no JSON, but what Python's ``json.dump``
  writes for such floats) are handed to the parser as the string
  ``NOT_A_NUMBER``: the item holding one is rejected, the items after it are
  read (a parse error there lost every item of a JSON array after it). So
  that a read cutting one keeps it whole, a word may hold capitals: junk
  such as ``True`` is the same error as in ijson, naming the word, not its
  first letter.

The tokens are ijson's (``_TOKEN`` is its lexeme expression), and so are the
offsets in its errors (characters from the start of the text).
"""

from __future__ import annotations

import codecs
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

from ijson import common
from ijson.backends import python as _py

# ijson's python lexer's lexemes: a word (number, true, false, null, or junk)
# or any one other non-space character; capitals in words too (ijson's own
# take none), so that NaN and -Infinity are words (``NOT_A_NUMBER``)
_TOKEN = re.compile(r"[A-Za-z0-9\.\+-]+|\S")
_WORD = re.compile(r"[A-Za-z0-9\.\+-]*")
_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-")
# a string's body, up to its closing quote or a lone backslash at the end
# (possessive: no backtracking state kept per repeat)
_STRING_REST = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+', re.DOTALL)
# the same, stopping at a control character too (U+0000 to U+001F, which JSON
# allows in a string only escaped): where it stops short of the end that
# _STRING_REST finds, the string holds one raw (CONTROL_IN_STRING)
_STRICT_REST = re.compile(r'[^"\\\x00-\x1f]*+(?:\\.[^"\\\x00-\x1f]*+)*+', re.DOTALL)


# what a string holding bytes that are no UTF-8 text is read as; an item holding
# it is rejected (jsonitems.dump_item). A token of this process's own: a post
# cannot hold it to have itself rejected.
INVALID_UTF8 = f"\x00rasd:invalid-utf-8:{secrets.token_hex(8)}"
INVALID_UTF8_JSON = json.dumps(INVALID_UTF8).encode()  # as orjson writes it, too
INVALID_UTF8_REASON = "invalid UTF-8 in a string (bytes that are no UTF-8 text)"
_INVALID_TOKEN = INVALID_UTF8_JSON.decode()
# what NaN, Infinity and -Infinity are read as: no JSON, but what Python's json
# module writes for such floats (json.dump's allow_nan); an item holding one is
# rejected (jsonitems.dump_item), the items after it are read — as a parse
# error, one lost every item of a JSON array after it (all of them, in its first)
NOT_A_NUMBER = f"\x00rasd:not-a-number:{secrets.token_hex(8)}"
NOT_A_NUMBER_JSON = json.dumps(NOT_A_NUMBER).encode()
NOT_A_NUMBER_REASON = ("NaN or Infinity, which JSON has no number for (Python's json module "
                       "writes them)")
_NOT_NUMBERS = dict.fromkeys(("NaN", "Infinity", "-Infinity"), NOT_A_NUMBER_JSON.decode())
# what surrogateescape makes of a byte that is no UTF-8 text
_ESCAPED = re.compile("[\udc80-\udcff]")
# what a string holding a raw control character (U+0000 to U+001F, unescaped:
# a TAB or NUL byte written as it is) is read as: an item holding it is
# rejected (jsonitems.dump_item), the items after it are read. The string's end
# is its closing quote all the same (as json.loads(strict=False) reads it):
# such a character changes no structure. ijson's parser stopped there, and
# every item of a JSON array (every message of a Telegram chat) after it was lost.
CONTROL_IN_STRING = f"\x00rasd:control-in-string:{secrets.token_hex(8)}"
CONTROL_IN_STRING_JSON = json.dumps(CONTROL_IN_STRING).encode()
CONTROL_IN_STRING_REASON = ("a control character unescaped in a string (a raw TAB, NUL or "
                            "line break, which JSON allows only escaped)")
_CONTROL_TOKEN = CONTROL_IN_STRING_JSON.decode()


class InvalidUTF8Outside(common.IncompleteJSONError):
    """Bytes that are no UTF-8 text outside a string: no JSON text holds them
    there (broken JSON, not a value cut short; ``base._json_start``)."""


class _Sink(list):  # type: ignore[type-arg]
    """Where the events go: a list that takes ``send`` (ijson's sendable_list)."""

    send = list.append


class _Lexer:
    """The lexemes of a JSON text fed in pieces, sent as ``(offset, lexeme)``
    to ``target`` (ijson's ``parse_value``), then ijson's EOF at ``end()``."""

    def __init__(self, target: Any) -> None:
        self.send = target.send
        self.kind = ""  # '"': in a string cut by a read; "w": in a word; "": neither
        self.parts: list[str] = []  # the cut token so far
        self.at = 0  # its offset
        self.esc = False  # (in a string) the next character is escaped
        self.base = 0  # offset of the text being fed
        self.bad = False  # (in a string) a piece of it holds bytes that are no UTF-8
        self.ctl = False  # (in a string) it holds a raw control character
        # where not None: the offset of each "}" and "]" sent (``track_ends``)
        self.closes: list[int] | None = None

    def feed(self, text: str, bad: bool = False) -> None:
        """Lexemes of ``text``; ``bad``: it holds bytes that are no UTF-8 text
        (decoded as lone surrogates: ``_ESCAPED``)."""
        i, n = 0, len(text)
        if self.kind == '"':
            self.bad = self.bad or bad
            j = 1 if self.esc else 0
            e = _STRICT_REST.match(text, j).end()  # type: ignore[union-attr]
            if e < n and text[e] < " ":  # a raw control character: read on past it
                self.ctl = True
                e = _STRING_REST.match(text, e).end()  # type: ignore[union-attr]
            if e == n or text[e] != '"':  # goes on in the next piece
                self.parts.append(text)
                self.esc = e < n  # a lone backslash at the end
                self.base += n
                return
            self.parts.append(text[:e + 1])
            i = e + 1
            self._flush()
        elif self.kind == "w":
            e = _WORD.match(text).end()  # type: ignore[union-attr]
            self.parts.append(text[:e])
            if e == n:
                self.base += n
                return
            i = e
            self._flush()
        search, send, base, closes = _TOKEN.search, self.send, self.base, self.closes
        while True:
            m = search(text, i)
            if m is None:
                break
            start, tok = m.start(), m.group()
            if tok == '"':
                e = _STRICT_REST.match(text, start + 1).end()  # type: ignore[union-attr]
                ctl = e < n and text[e] < " "
                if ctl:  # a raw control character: read on past it
                    e = _STRING_REST.match(text, e).end()  # type: ignore[union-attr]
                if e < n and text[e] == '"':
                    if bad and _ESCAPED.search(text, start, e):
                        send((base + start, _INVALID_TOKEN))
                    elif ctl:
                        send((base + start, _CONTROL_TOKEN))
                    else:
                        send((base + start, text[start:e + 1]))
                    i = e + 1
                    continue
                self.kind, self.parts, self.at, self.esc = '"', [text[start:]], base + start, e < n
                self.bad = bad
                self.ctl = ctl
                break
            if m.end() == n and tok[0] in _WORD_START:
                self.kind, self.parts, self.at = "w", [tok], base + start  # may go on
                break
            if bad and _ESCAPED.match(tok):
                raise InvalidUTF8Outside(
                    f"invalid UTF-8 outside a string at character {base + start}")
            if closes is not None and (tok == "}" or tok == "]"):
                closes.append(base + start)
            send((base + start, _NOT_NUMBERS.get(tok, tok)))
            i = m.end()
        self.base += n

    def _flush(self) -> None:
        tok = "".join(self.parts)
        if self.kind == '"' and self.bad and _ESCAPED.search(tok):
            tok = _INVALID_TOKEN
        elif self.kind == '"' and self.ctl:
            tok = _CONTROL_TOKEN
        self.kind, self.parts, self.bad, self.ctl = "", [], False, False
        self.send((self.at, _NOT_NUMBERS.get(tok, tok)))

    def end(self) -> None:
        if self.kind == '"':
            raise common.IncompleteJSONError("Incomplete string lexeme")
        if self.kind == "w":
            self._flush()
        try:
            self.send(_py.EOF)
        except StopIteration:
            pass


def _events(f: Any, buf_size: int, prefixed: bool, multiple_values: bool,
            use_float: bool) -> Iterator[Any]:
    out = _Sink()
    coros: list[Any] = []
    try:
        target: Any = out
        if prefixed:
            target = common.parse_basecoro(out)
            coros.append(target)
        value = _py.parse_value(target, multiple_values, use_float)
        coros.append(value)
        lexer = _Lexer(value)
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        decode = decoder.decode
        track = getattr(f, "track_ends", False)
        if track:
            lexer.closes = []
        read = 0  # bytes read
        text = ""
        while True:
            data = f.read(buf_size)
            if track:  # where this text starts: bytes read, less those held undecoded
                at = (lexer.base, read - len(decoder.getstate()[0]))
                read += len(data)
                # (where f tells it: bytes of the file not handed less bytes
                # handed not the file's, as of this read: ReadGuard.shift)
                shift = getattr(f, "shift", 0)
            try:
                if data:
                    text = decode(data)
                    if text:
                        lexer.feed(text, _ESCAPED.search(text) is not None)
                else:
                    lexer.end()  # (a UTF-8 sequence cut at the end is dropped, as by ijson)
            except Exception:
                if track:
                    yield from _ends_told(f, out, lexer.closes, at, text, shift)
                else:
                    yield from out  # the events before the error, then the error
                raise
            if track:
                yield from _ends_told(f, out, lexer.closes, at, text, shift)
                lexer.closes = []
            else:
                yield from out
            del out[:]
            if not data:
                return
    finally:
        for c in coros:  # not left to the garbage collector (see the module docstring)
            with suppress(Exception):  # one cut mid-value may complain
                c.close()


def _ends_told(f: Any, out: list[Any], closes: list[int], at: tuple[int, int], text: str,
               shift: int) -> Iterator[Any]:
    """``out``'s events, ``f.end_at`` set before each end of a map or an
    array to what ``end_offset`` makes the byte offset after its bracket of."""
    k = 0
    for ev in out:
        if (ev[-2] == "end_map" or ev[-2] == "end_array") and k < len(closes):
            f.end_at = (closes[k], at, text, shift)
            k += 1
        yield ev


def end_offset(f: Any) -> tuple[int, int] | None:
    """Where the last end of a map or an array that ``parse`` or
    ``basic_parse`` gave lies in what they read from ``f`` (a reader with
    ``track_ends`` set): the offset just after its bracket (in bytes as read
    from ``f``), and ``f.shift`` as of the read that held it (0 where ``f``
    has none); None before any.
    (Its event can come after ``f`` was read again: a map's start after a
    bracket, read apart.)"""
    end = getattr(f, "end_at", None)
    if end is None:
        return None
    pos, (char_base, byte_base), text, shift = end
    return (byte_base + len(text[:pos - char_base].encode("utf-8", "surrogateescape")) + 1,
            shift)


def parse(f: Any, *, buf_size: int = 64 * 1024, multiple_values: bool = False,
          use_float: bool = False) -> Iterator[tuple[str, str, Any]]:
    """``ijson.get_backend("python").parse``: (prefix, event, value) of ``f``."""
    return _events(f, buf_size, True, multiple_values, use_float)


def basic_parse(f: Any, *, buf_size: int = 64 * 1024, multiple_values: bool = False,
                use_float: bool = False) -> Iterator[tuple[str, Any]]:
    """``ijson.get_backend("python").basic_parse``: (event, value) of ``f``."""
    return _events(f, buf_size, False, multiple_values, use_float)
