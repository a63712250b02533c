"""JSON objects from a file, whichever way the file holds them.

Collectors write JSON Lines (one object a line), but people and other tools also
save one pretty-printed document, several one after another (``jq .`` output), or a
JSON array (``json.dump(list_of_items, f)``, on one line or indented). ``json_items``
reads all of these as a stream of objects with where each came from, so a format
module only maps objects to records.

- JSON Lines: each line is parsed alone; a bad line is a reject and the next line
  is read. The raw record is the line as received.
- Documents and arrays: streamed with ijson (memory bounded by the largest item);
  the raw record is the item's compact JSON (there are no lines to keep). After a
  damaged byte nothing can be trusted: the items before it are kept and the rest
  is one reject naming the item where reading stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ijson
import orjson

from rasd.ingest.base import (
    MAX_LINE,
    RawSink,
    iter_lines,
    loads,
    open_binary,
    read_sample,
    reject,
)
from rasd.model import Record, Reject


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
    if _is_json(lines[0]) or _is_json(lines[1]):  # JSON Lines, maybe a broken first line
        return "lines"
    return "array" if array else "documents"


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def doc_path(layout: str, i: int) -> str:
    return f"[{i}]" if layout == "array" else f"doc[{i}]"


def dump_item(obj: Any) -> bytes:
    """Compact JSON of an object read from a JSON document (its raw record, where
    there are no lines to keep: items of arrays, Telegram messages)."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # integers beyond 64 bits, or nesting past orjson's limit
        try:
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                              default=str).encode("utf-8", "replace")
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


class ItemTooLarge(Exception):
    """One item of a JSON document is over ``MAX_LINE`` bytes (no real item is)."""


class ReadGuard:
    """A file reader that stops once the item being read is over ``limit`` bytes:
    ijson builds each item in memory, and an adversary's file could be one
    endless item. (``mark`` is moved on after each item.)"""

    def __init__(self, f: Any, limit: int) -> None:
        self.f, self.limit, self.n, self.mark = f, limit, 0, 0

    def read(self, size: int = -1) -> bytes:
        if self.n - self.mark > self.limit:
            raise ItemTooLarge
        data = self.f.read(size)
        self.n += len(data)
        return data


def json_items(path: Path, raw: RawSink, fmt: str) -> Iterator[Item | Reject]:
    """Every JSON object of ``path`` (see the module docstring), or a reject."""
    layout = json_layout(read_sample(path))
    if layout != "lines":
        done = [0]
        try:
            yield from _documents(path, raw, fmt, layout, done)
            return
        except ItemTooLarge:
            yield reject(str(path), f"item {done[0] + 1} is over {MAX_LINE} bytes; the rest "
                         "of the file is not read", path=doc_path(layout, done[0]))
            return
        except (ijson.common.JSONError, UnicodeDecodeError) as e:
            if done[0]:
                msg = e.args[0] if e.args else e  # yajl gives bytes for UTF-8 errors
                msg = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
                first = (msg.strip().splitlines() or ["?"])[0]
                yield reject(str(path), f"malformed or truncated JSON after item "
                             f"{done[0]}: {first[:200]}", path=doc_path(layout, done[0]))
                return
            # not one JSON document after all (a broken first line of JSON Lines)
    yield from _lines(path, raw, fmt)


def _lines(path: Path, raw: RawSink, fmt: str) -> Iterator[Item | Reject]:
    src = str(path)
    with open_binary(path) as f:
        try:
            for lineno, line in iter_lines(f):
                if line is None:
                    yield reject(src, "line longer than the limit", line=lineno)
                    continue
                if not line.strip():
                    continue
                try:
                    obj = loads(line)
                except ValueError as e:
                    yield reject(src, e, line=lineno, excerpt=line)
                    continue
                if not isinstance(obj, dict):
                    yield reject(src, "expected a JSON object", line=lineno, excerpt=line)
                    continue
                yield Item(obj, raw.put(line.rstrip(b"\r\n"), fmt), lineno, None)
        except (EOFError, OSError) as e:  # truncated gzip, I/O error
            yield reject(src, f"file ends unexpectedly: {e}")


def _documents(path: Path, raw: RawSink, fmt: str, layout: str,
               done: list[int]) -> Iterator[Item | Reject]:
    src = str(path)
    with open_binary(path) as f:
        guard = ReadGuard(f, MAX_LINE)
        items = ijson.items(guard, "item" if layout == "array" else "", use_float=True,
                            multiple_values=layout != "array")
        try:
            for i, obj in enumerate(items):
                done[0] = i + 1
                guard.mark = guard.n
                where = doc_path(layout, i)
                if not isinstance(obj, dict):
                    yield reject(src, "expected a JSON object", path=where)
                    continue
                try:
                    data = dump_item(obj)
                except ValueError as e:
                    yield reject(src, e, path=where)
                    continue
                yield Item(obj, raw.put(data, fmt), None, where)
        except (EOFError, OSError) as e:  # truncated gzip, I/O error
            yield reject(src, f"file ends unexpectedly: {e}", path=doc_path(layout, done[0]))


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
