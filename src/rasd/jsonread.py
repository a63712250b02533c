"""JSON from input, read with one set of failures.

``json.loads`` fails on hostile input in three ways, not one: a syntax error
(``JSONDecodeError``), nesting deep enough to exhaust the stack
(``RecursionError``), and an integer of more than 4,300 digits (a plain
``ValueError``: Python refuses to convert such a number). A reader that caught
the first two let the third escape as a traceback (``rasd classify`` and
``rasd eval`` on a line with a 5,000-digit id). ``parse_json`` turns all three
into ``JSONInputError`` with a message a user can act on; callers put the file
and line in front.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any


def map_leaves(value: Any, fn: Any) -> Any:
    """``value`` — a JSON-like value of dicts, lists and tuples — rebuilt with
    ``fn`` applied to every other value in it, dict keys included: the one walk
    behind making input's strings and numbers safe to hash, store and print
    (``strip_surrogates``, ``bounded_ints``, ``storable``, ``valid_json_value``).
    Containers keep their type. Nesting deeper than Python's recursion allows
    raises RecursionError (callers reject such input)."""
    if isinstance(value, dict):
        return {map_leaves(k, fn): map_leaves(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [map_leaves(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple([map_leaves(v, fn) for v in value])
    return fn(value)


class JSONInputError(ValueError):
    """Input that is not JSON rasd can read; the message says why (and where
    inside the text, for a syntax error)."""


def parse_json(text: str | bytes) -> Any:
    """``json.loads(text)``, raising ``JSONInputError`` for invalid JSON,
    nesting too deep or a number too long to read."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        where = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno}, column {e.colno}"
        raise JSONInputError(f"invalid JSON: {e.msg} ({where})") from None
    except RecursionError:
        raise JSONInputError("JSON nested too deeply") from None
    except ValueError as e:  # an integer of more than 4,300 digits
        raise JSONInputError(f"a number too long to read ({str(e)[:60]})") from None


class DuplicateKey(ValueError):
    """A JSON object that holds one key twice (``unique_keys``)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {json.dumps(key[:60], ensure_ascii=False)} comes twice "
                         "in one object")
        self.key = key


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses an object holding a key twice
    (``DuplicateKey``). ``json.loads`` keeps the last value silently, another
    reader may keep the first: in a file from elsewhere the two readings are two
    different files (a page of a hash list with ``results`` twice), so which
    one is meant is for its sender to say, not for rasd to guess."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateKey(k)
        out[k] = v
    return out


def raw_decode(text: str, i: int, path: str = "$") -> tuple[Any, int]:
    """The JSON value at offset ``i`` of ``text`` (at JSON path ``path``, for
    errors) and the offset after it (``json.JSONDecoder.raw_decode``), with all
    three failures as ``json.JSONDecodeError`` — a walker that caught only the
    first two let a 5,000-digit number end ``rasd bank import`` with a traceback
    — and an object holding a key twice as one more (``unique_keys``)."""
    try:
        return _RAW(text, i)
    except RecursionError:  # hostile: "[[[[…"
        raise json.JSONDecodeError("nested too deeply", text, i) from None
    except json.JSONDecodeError:
        raise
    except DuplicateKey as e:
        raise json.JSONDecodeError(f"{e} (in {path})", text, i) from None
    except ValueError:  # an integer of more than 4,300 digits
        raise json.JSONDecodeError("a number too long to read (over 4,300 digits)", text,
                                   i) from None


_RAW = json.JSONDecoder(object_pairs_hook=unique_keys).raw_decode
_WS = re.compile(r"[ \t\n\r]*")
STREAMED = object()  # the value ``members`` gives a list it walks member by member


def skip_ws(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]


def expect_end(text: str, end: int) -> None:
    """``json.JSONDecodeError`` unless only whitespace follows offset ``end`` (where
    a walked list or object ended): one JSON value is the whole text."""
    i = skip_ws(text, end)
    if i != len(text):
        raise json.JSONDecodeError("extra data after the JSON", text, i)


def with_end(gen: Iterator[tuple[int, Any, str, Any]]
             ) -> Iterator[tuple[int, Any, str, Any]]:
    """The members ``gen`` (``members``) yields; then, as a last item, the offset it
    returns (after the list or object) with key None, path ``""`` and value None."""
    while True:
        try:
            yield next(gen)
        except StopIteration as stop:
            yield stop.value, None, "", None
            return


def members(text: str, i: int, path: str = "$", stream: str | None = None
            ) -> Iterator[tuple[int, Any, str, Any]]:
    """(offset, key, JSON path, value) of each member of the JSON list or object at
    offset ``i`` (key: a list member's position, an object member's name), read
    member by member — a list of a million records is never decoded whole. The
    list under key ``stream`` of an object is walked too, member by member, after
    a member whose value is ``STREAMED``. Returns the offset after the list or
    object; ``json.JSONDecodeError`` for text that is not one (``raw_decode``),
    and for an object, here or inside a member, that holds a key twice — naming
    the key's path (``unique_keys``: a page with ``results`` twice would
    otherwise be read as both lists by this walker and as the last by
    ``json.loads``)."""
    t = text
    i = skip_ws(t, i)
    if i >= len(t) or t[i] not in "[{":
        raise json.JSONDecodeError("expected a JSON list or object", t, i)
    close = "]" if t[i] == "[" else "}"
    i = skip_ws(t, i + 1)
    if t.startswith(close, i):
        return i + 1
    n = 0
    keys: set[str] = set()
    while True:
        start = i
        if close == "]":
            value, i = raw_decode(t, i, f"{path}[{n}]")
            yield start, n, f"{path}[{n}]", value
        else:
            key, i = raw_decode(t, i, path)
            if not isinstance(key, str):
                raise json.JSONDecodeError("an object's key must be a string", t, start)
            i = skip_ws(t, i)
            if not t.startswith(":", i):
                raise json.JSONDecodeError("expected ':'", t, i)
            i = skip_ws(t, i + 1)
            sub = f"{path}.{key}" if re.fullmatch(r"[A-Za-z_]\w{0,60}", key) else (
                f"{path}[{json.dumps(key[:60])}]")
            if key in keys:
                raise json.JSONDecodeError(f"{DuplicateKey(key)} (at {sub})", t, start)
            keys.add(key)
            if key == stream and t.startswith("[", i):
                yield start, key, sub, STREAMED
                i = yield from members(t, i, sub)
            else:
                value, i = raw_decode(t, i, sub)
                yield start, key, sub, value
        n += 1
        i = skip_ws(t, i)
        if t.startswith(",", i):
            i = skip_ws(t, i + 1)
        elif t.startswith(close, i):
            return i + 1
        else:
            raise json.JSONDecodeError(f"expected ',' or '{close}'", t, i)
