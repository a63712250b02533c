"""CSV (and TSV), mapped to posts and accounts by a column-mapping file.

A mapping is a small JSON document (see ``rasd/data/mappings/*.json`` for the
built-in ones and ``docs/ingest.md`` for every key)::

    {"name": "my-export", "platform": "x",
     "detect_columns": ["user", "message"],
     "post": {"id": "{tweet_id}", "text": "message", "created_at": "ts",
              "account_id": "{user}"},
     "account": {"id": "{user}", "handle": "user"},
     "entities_from_text": true}

A value in ``{braces}`` is a template over columns (only plain column names are
substituted); a bare value names a column. ``post.id_from`` derives a stable id
by hashing columns where the export has no id. ``entities_from_text`` extracts
hashtags, @mentions, URLs and "RT @user:" reposts from the text. With
``is_forward`` / ``forward_from_name`` a forward becomes an edge.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections import Counter, deque
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from importlib.resources import files
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from rasd.ingest.base import (
    BOM,
    MAX_LINE,
    NUMBER,
    Ahead,
    IngestError,
    Parser,
    RawSink,
    check_platform,
    clean_text,
    cr_lines,
    ended,
    inner_suffix,
    open_binary,
    opt_int,
    opt_str,
    parse_time,
    peekable,
    register,
    reject,
    req_id,
    unless_rejected,
)
from rasd.ingest.x import REF_KIND
from rasd.model import Account, Link, Post, PostKind, RawRef, Record

TEMPLATE = re.compile(r"\{([^{}]{1,100})\}")
HASHTAG = re.compile(r"(?<![\w&])#(\w{1,139})")
MENTION = re.compile(r"(?<![\w@])@(\w{1,50})")
URL = re.compile(r"https?://[^\s<>\"']{1,2000}")
RT = re.compile(r"^RT @(\w{1,50}):")
TRUE = {"1", "true", "yes", "y", "t"}


def builtin_mappings() -> dict[str, dict]:
    out = {}
    for entry in (files("rasd") / "data" / "mappings").iterdir():
        if entry.name.endswith(".json"):
            m = orjson.loads(entry.read_bytes())
            out[m["name"]] = m
    return out


def load_mapping(spec: str | Path) -> dict:
    """A built-in mapping by name, or a mapping file by path (validated)."""
    builtins = builtin_mappings()
    if isinstance(spec, str) and spec in builtins:
        return builtins[spec]
    p = Path(spec)
    if not p.is_file():
        raise IngestError(f"mapping {spec!r}: no such built-in ({', '.join(sorted(builtins))}) "
                          "or file")
    with p.open("rb") as f:  # (a mapping is a page of JSON: read no more than that)
        data = f.read(MAX_MAPPING + 1)
    if len(data) > MAX_MAPPING:
        raise IngestError(f"{p}: a mapping file is at most {MAX_MAPPING >> 20} MiB; is it "
                          "the data rather than its mapping?")
    try:  # saved by Notepad or PowerShell 5: a byte-order mark first
        m = orjson.loads(data[3:] if data.startswith(BOM) else data)
    except orjson.JSONDecodeError as e:
        raise IngestError(f"{p}: invalid JSON mapping: {e}") from e
    validate_mapping(m, str(p))
    return m


MAX_MAPPING = 1 << 20
# What a mapping may say: a misspelt key is an error, not a column quietly unread.
MAPPING_KEYS = {"name", "description", "platform", "detect_columns", "post", "account",
                "metrics", "unescape_newlines", "entities_from_text", "delimiter",
                "encoding", "time_formats"}
SECTION_KEYS = {
    "post": {"id", "id_from", "text", "created_at", "account_id", "lang", "chat_id",
             "conversation_id", "observed_at", "referenced_tweets", "reply_to_account",
             "views", "url", "is_forward", "forward_from_name", "forward_from_id",
             "reply_to", "repost_of", "quote_of", "repost_of_account", "quote_of_account",
             "urls"},
    "account": {"id", "handle", "name", "bio", "location", "followers", "following",
                "post_count", "kind"},
}


def validate_mapping(m: Any, where: str) -> None:
    if not isinstance(m, dict) or not isinstance(m.get("post"), dict):
        raise IngestError(f"{where}: a mapping needs a 'post' object")
    unknown = sorted(set(m) - MAPPING_KEYS)
    if unknown:
        raise IngestError(f"{where}: unknown mapping key(s) {unknown[:5]} (known: "
                          f"{', '.join(sorted(MAPPING_KEYS))})")
    for section, known in SECTION_KEYS.items():
        part = m.get(section) or {}
        if not isinstance(part, dict):
            raise IngestError(f"{where}: '{section}' must be an object")
        bad = sorted(set(part) - known)
        if bad:
            raise IngestError(f"{where}: unknown {section} key(s) {bad[:5]} (known: "
                              f"{', '.join(sorted(known))})")
    if "platform" in m:
        check_platform(m["platform"], where)
    for key in ("name", "description"):
        if key in m and not isinstance(m[key], str):
            raise IngestError(f"{where}: '{key}' must be a string")
    post = m["post"]
    if "text" not in post or "account_id" not in post:
        raise IngestError(f"{where}: post.text and post.account_id are required")
    if "id" not in post and "id_from" not in post:
        raise IngestError(f"{where}: post.id or post.id_from is required")
    metrics = m.get("metrics", {})
    if not (isinstance(metrics, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metrics.items())):
        raise IngestError(f"{where}: metrics must map names to columns, e.g. "
                          "{\"like_count\": \"likes\"}")
    d = m.get("delimiter")
    if d is not None and not (isinstance(d, str) and len(d) == 1 and d not in "\"\r\n"):
        raise IngestError(f"{where}: delimiter must be one character, such as \";\" or \"\\t\"")
    enc = m.get("encoding")
    if enc is not None:
        try:  # a codec, and one of text: "base64", "zlib" or "rot13" passed
            # codecs.lookup, then stopped the ingest with a LookupError traceback
            codecs.lookup(enc)
            io.TextIOWrapper(io.BytesIO(), encoding=enc)
        except (LookupError, TypeError, ValueError):  # ValueError: a NUL in the name
            raise IngestError(f"{where}: unknown text encoding {str(enc)[:40]!r} (e.g. "
                              "utf-8, cp1252, latin-1, utf-16)") from None
    for key in ("unescape_newlines", "entities_from_text"):  # ("no" was read as true)
        if key in m and not isinstance(m[key], bool):
            raise IngestError(f"{where}: '{key}' must be true or false")
    dc = m.get("detect_columns", [])
    if not (isinstance(dc, list) and all(isinstance(c, str) for c in dc)):
        raise IngestError(f"{where}: detect_columns must be a list of column names")
    tf = m.get("time_formats", [])
    if not (isinstance(tf, list) and all(isinstance(f, str) and "%" in f for f in tf)):
        raise IngestError(f"{where}: time_formats must be a list of strptime formats "
                          "such as \"%d/%m/%Y %H:%M\"")
    for section in ("post", "account"):
        for k, v in (m.get(section) or {}).items():
            if k == "id_from":
                # (an empty list gave every row the same id: all but one lost)
                if not (isinstance(v, list) and v and all(isinstance(c, str) for c in v)):
                    raise IngestError(f"{where}: {section}.id_from must be a list of one or "
                                      "more columns")
            elif not isinstance(v, str):
                raise IngestError(f"{where}: {section}.{k} must be a string")


def columns_of(m: dict) -> set[str]:
    cols: set[str] = set(m.get("metrics", {}).values())
    for section in ("post", "account"):
        for k, v in (m.get(section) or {}).items():
            if k == "id_from":
                cols.update(v)
            elif "{" in v:
                cols.update(TEMPLATE.findall(v))
            else:
                cols.add(v)
    return cols


_ID_FIELDS = (("post", "id"), ("post", "account_id"), ("account", "id"), ("post", "reply_to"),
              ("post", "repost_of"), ("post", "forward_from_id"), ("post", "conversation_id"),
              ("post", "reply_to_account"), ("post", "quote_of"),
              ("post", "repost_of_account"), ("post", "quote_of_account"))
_INT_AS_FLOAT = re.compile(r"-?\d+\.0+")
# (with a point or a sign: a handle such as "1e100" is no number; a comma is the
# point of a European-locale spreadsheet: "1,23457E+18")
_FLOAT_NOTATION = re.compile(r"-?\d+[.,]\d+[eE][+-]?\d+|-?\d+[eE][+-]\d+")


def id_columns(m: dict) -> list[str]:
    """The columns a mapping takes identifiers from (templates included)."""
    cols: list[str] = []
    for section, key in _ID_FIELDS:
        spec = (m.get(section) or {}).get(key)
        if isinstance(spec, str):
            cols.extend(TEMPLATE.findall(spec) if "{" in spec else [spec])
    return list(dict.fromkeys(cols))


def clean_ids(row: dict[str, str], cols: list[str]) -> dict[str, str]:
    """``row`` with its identifier cells as a spreadsheet or pandas did not mean
    them: spaces around trimmed, ``2.0`` (an integer column that held a gap)
    read ``2``; an id in float notation (``1.2345678901234568e+18``: rounded,
    its digits lost) is a ValueError — the row is rejected, not stored under
    an id that names another post."""
    out = row
    for c in cols:
        v = row.get(c)
        if not v or v.isalnum():  # (no space, point, comma or sign: nothing to clean)
            continue
        w = v.strip()
        if _INT_AS_FLOAT.fullmatch(w):
            w = w.split(".", 1)[0]
        elif _FLOAT_NOTATION.fullmatch(w):
            raise ValueError(f"field {c!r}: {w!r} is an id in float notation (rounded by a "
                             "spreadsheet or pandas: its digits are lost); export ids as text")
        if w != v:
            if out is row:
                out = dict(row)
            out[c] = w
    return out


def _value(spec: str | None, row: dict[str, str]) -> str | None:
    if spec is None:
        return None
    if "{" in spec:
        missing = [c for c in TEMPLATE.findall(spec) if not row.get(c)]
        if missing:
            return None
        return TEMPLATE.sub(lambda mt: row[mt.group(1)], spec)
    v = row.get(spec)
    return v if v not in (None, "") else None


def _getter(spec: str | None) -> Any:
    """``_value`` for one spec, made once per file: a function of the row, or
    None where the mapping has no such field (``_value`` gives None then)."""
    if spec is None:
        return None
    if "{" not in spec:
        return lambda row: row.get(spec) or None  # (cells are strings)
    parts = TEMPLATE.split(spec)  # literal, column, literal, column …, literal
    if len(parts) == 3 and parts[0] == parts[2] == "":
        col = parts[1]
        return lambda row: row.get(col) or None
    lits, cols = parts[0::2], parts[1::2]

    def value(row: dict[str, str]) -> str | None:
        out = [lits[0]]
        for c, lit in zip(cols, lits[1:], strict=True):
            v = row.get(c)
            if not v:
                return None
            out.append(v)
            out.append(lit)
        return "".join(out)
    return value


class _Plan:
    """A mapping's fields as getters (``_getter``), made once per file."""

    POST = ("id", "text", "created_at", "account_id", "lang", "chat_id", "conversation_id",
            "observed_at", "referenced_tweets", "reply_to_account", "views", "url",
            "is_forward", "forward_from_name", "forward_from_id", "reply_to", "repost_of",
            "quote_of", "repost_of_account", "quote_of_account", "urls")
    ACCOUNT = ("handle", "name", "bio", "location", "followers", "following", "post_count")

    def __init__(self, m: dict) -> None:
        pm = m["post"]
        am = m.get("account") or {}
        self.post = {k: _getter(pm.get(k)) for k in self.POST}
        self.account = {k: _getter(am.get(k)) for k in self.ACCOUNT}
        self.has_account = bool(am)
        self.account_id = _getter(am.get("id", pm["account_id"]))
        self.metrics = [(name, _getter(col), col) for name, col in
                        (m.get("metrics") or {}).items()]
        self.time_formats = [_time_format(f) for f in m.get("time_formats") or []]


def _count(v: str | None, field: str) -> int | None:
    """``opt_int`` of a cell: plain digits (up to 18: within its bounds) read
    here, anything else by ``opt_int``."""
    if v is not None and len(v) <= 18 and v.isascii() and v.isdigit():
        return int(v)
    return opt_int(v, field)


def _value_or_literal(spec: str | None, row: dict[str, str]) -> str | None:
    """A column or template, like ``_value``; any other string is the value itself
    (``"kind": "channel"`` for every row)."""
    if spec and "{" not in spec and spec not in row:
        return spec
    return _value(spec, row)


def _decoded_lines(f: Any) -> Iterator[str]:
    """Decode line by line; bytes that are not UTF-8 become lone surrogates so the
    row they are in can be rejected (and only that row)."""
    dec = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    while True:
        chunk = f.readline(MAX_LINE)
        if not chunk:
            tail = dec.decode(b"", final=True)
            if tail:
                yield tail
            return
        yield dec.decode(chunk)


# strptime's own expressions for the directives of numeric times (Python 3.11-3.13,
# _strptime.TimeRE), to read a mapping's time_formats without its per-call work
_STRPTIME_RE = {"d": r"(?P<d>3[0-1]|[1-2]\d|0[1-9]|[1-9]| [1-9])", "H": r"(?P<H>2[0-3]|[0-1]\d|\d)",
                "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])", "M": r"(?P<M>[0-5]\d|\d)",
                "S": r"(?P<S>6[0-1]|[0-5]\d|\d)", "Y": r"(?P<Y>\d\d\d\d)"}


def _time_format(fmt: str) -> tuple[str, re.Pattern[str] | None]:
    """A ``time_formats`` entry and, where it holds only %Y %m %d %H %M %S (each at
    most once, year, month and day among them) and other characters, the
    expression strptime matches it with (built as ``_strptime.TimeRE.pattern``
    builds it); None otherwise (strptime reads it)."""
    directives = re.findall(r"%(.)", fmt)
    if (not set(directives) <= set(_STRPTIME_RE) or len(directives) != len(set(directives))
            or fmt.count("%") != len(directives)  # (a stray "%": strptime's error)
            or not {"Y", "m", "d"} <= set(directives)):
        return fmt, None
    f = re.sub(r"([\\.^$*+?\(\){}\[\]|])", r"\\\1", fmt)
    f = re.sub(r"\s+", r"\\s+", f)
    out = ""
    while "%" in f:
        i = f.index("%") + 1
        out += f[:i - 1] + _STRPTIME_RE[f[i]]
        f = f[i + 1:]
    return fmt, re.compile(out + f, re.IGNORECASE)


def _strptime_utc(value: str, fmt: tuple[str, re.Pattern[str] | None]) -> datetime:
    """``datetime.strptime(value, fmt)`` (a ValueError where it fails), as UTC."""
    rx = fmt[1]
    if rx is None:
        dt = datetime.strptime(value, fmt[0])
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
    m = rx.match(value)
    if m is None or m.end() != len(value):
        raise ValueError(f"time data {value!r} does not match format {fmt[0]!r}")
    g = m.groupdict()
    return datetime(int(g["Y"]), int(g["m"]), int(g["d"]), int(g.get("H") or 0),
                    int(g.get("M") or 0), int(g.get("S") or 0), tzinfo=UTC)


def row_time(value: str | None, formats: list[str], field: str,
             compiled: list[tuple[str, re.Pattern[str] | None]] | None = None,
             ) -> tuple[datetime | None, str | None]:
    """The time of a cell, and its canonical text when the mapping's
    ``time_formats`` were needed to read it (``None`` otherwise).

    ISO 8601, X v1.1 times and unix seconds are read as everywhere; a mapping may add
    strptime formats for exports that write times their own way (the Kaggle ISIS CSV
    as downloaded: ``1/6/2015 21:07``, month first). Times without a zone are UTC.
    The canonical text (``2015-01-06 21:07:00``) stands in for the cell wherever the
    mapping derives an id from it, so one tweet gets one id whichever way its file
    writes the time.
    """
    if not (formats and value and type(value) is str and _not_general(value.strip())):
        try:
            return parse_time(value, field), None
        except ValueError:
            if not value or not formats:
                raise
    for fmt in compiled if compiled is not None else [(f, None) for f in formats]:
        try:
            dt = _strptime_utc(value.strip(), fmt)
        except ValueError:
            continue
        return dt, (f"{dt.year}-{dt.month:02d}-{dt.day:02d} {dt.hour:02d}:"
                    f"{dt.minute:02d}:{dt.second:02d}" if dt.year >= 1000
                    else dt.strftime("%Y-%m-%d %H:%M:%S"))
    return parse_time(value, field), None  # (its error: no form reads the cell)


def _not_general(v: str) -> bool:
    """Whether ``parse_time`` fails on ``v`` (stripped) for sure: not four digits
    first (every ISO 8601 date's year), not X v1.1's shape, not unix seconds.
    A mapping's own ``time_formats`` (``1/6/2015 21:07``) are then tried without
    that failure first (its exception was a fifth of a row's reading)."""
    return not (v[:4].isdigit() or NUMBER.match(v) or (len(v) >= 26 and v[3] == " "
                                                       and v[-5] == " "))


def _linked(post: Post, kind: PostKind, target: str) -> bool:
    """Whether ``post`` links to post ``target`` as ``kind`` already (a row may
    say so twice: the JSON column and a column of its own)."""
    return any(lk.kind == kind and lk.target_post_id == target for lk in post.links)


def _is_row(m: dict, row: dict[str, str], ref: dict[str, str] | None = None) -> bool | None:
    """Whether ``row`` reads as a row of mapping ``m``: True when its time column
    reads as a time and its author is there, False when either fails, None when
    the mapping has no time column to tell by. Without one, a row whose id is not
    of the shape of ``ref``'s (the record being judged: all digits, or not) is
    False too: the line of a post listing "knives, rope, tape" is text."""
    pm = m["post"]
    if not _value(pm["account_id"], row):
        return False
    if not pm.get("created_at"):
        spec = pm.get("id")
        if ref is not None and spec:
            mine, theirs = _value(spec, row), _value(spec, ref)
            if mine is not None and theirs is not None and mine.isdigit() != theirs.isdigit():
                return False
        return None
    try:
        return row_time(_value(pm["created_at"], row), m.get("time_formats") or [],
                        "created_at")[0] is not None
    except ValueError:
        return False


class _Lines:
    """Physical lines for ``csv.reader``, numbered, with the ones a record took
    (``taken``), a way to hand lines back to be read again, and whether the
    reader asked for a line past the last (``ended``)."""

    def __init__(self, it: Iterator[str], start: int = 0) -> None:
        self.it = it
        self.n = start  # lines read before (Excel's "sep=" line)
        self.back: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []
        self.ended = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.back:
            item = self.back.popleft()
        else:
            try:
                line = next(self.it)
            except StopIteration:
                self.ended = True
                raise
            self.n += 1
            item = (self.n, line)
        self.taken.append(item)
        return item[1]

    def first(self) -> int:
        """The line number where the last record started."""
        return self.taken[0][0] if self.taken else self.n + 1

    def push_back(self, items: list[tuple[int, str]]) -> None:
        self.back.extendleft(reversed(items))


def _swallowed(taken: list[tuple[int, str]], header: list[str], delim: str,
               cells: list[str], is_row: Any) -> bool:
    """Whether a record that spans several lines is an unbalanced quote eating the
    rows after it rather than a field with line breaks (a post over several lines).

    A continuation line counts as a row of its own when it has the header's number
    of fields and ``is_row`` accepts it (the mapping's time column reads as a time,
    its author is there). One such line is enough when the mapping can check a
    time; otherwise two are needed (of the record's id shape), or one and a record
    that does not fit the header or whose quoting is broken (a quote that never
    closes, or closes inside a word). (A tweet line listing seven names has eight
    fields too: the Kaggle ISIS file has one, and its "time" is a name; a well
    quoted field over three lines of "a, b, c" is text.)"""
    width = len(header)
    ref = dict(zip(header, cells, strict=True)) if len(cells) == width else None
    whole = 0
    broken: bool | None = None
    for _, line in taken[1:]:
        try:
            row = next(csv.reader([line], delimiter=delim), [])
        except csv.Error:
            continue
        if len(row) != width or not any(row):
            continue
        verdict = is_row(dict(zip(header, row, strict=True)), ref)
        if verdict is False:
            continue
        whole += 1
        if verdict is True or whole >= 2 or len(cells) != width:
            return True
        if broken is None:
            broken = _badly_quoted(taken, delim)
        if broken:
            return True
    return False


def _badly_quoted(taken: list[tuple[int, str]], delim: str) -> bool:
    """Whether the lines of a record are not well-formed CSV (strict reading):
    a quote that never closes, or one closed before more text in the field."""
    try:
        for _ in csv.reader(io.StringIO("".join(line for _, line in taken), newline=""),
                            delimiter=delim, strict=True):
            pass
    except csv.Error:
        return True
    return False


DELIMITERS = (",", ";", "\t", "|")


# The first line Excel reads as the delimiter to use ("sep=;"), not as a header.
EXCEL_SEP = re.compile(r"sep=([,;\t|])")


def sniff_delimiter(header: str, default: str) -> str:
    """The delimiter a header line uses: the one of ``DELIMITERS`` it holds most of
    (European spreadsheets write ``;``; "Unicode text" exports use tabs)."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == default))
    return best if counts[best] else default


def _undecodable(err: UnicodeError) -> tuple[str, int]:
    """Bytes that do not decode, as lone surrogates U+DC00 + byte (any byte:
    "surrogateescape" takes only bytes from 128 up, and a broken UTF-16 pair
    holds a NUL, so it raised and stopped the ingest): their row is rejected."""
    assert isinstance(err, UnicodeDecodeError)
    return "".join(chr(0xDC00 + b) for b in err.object[err.start:err.end]), err.end


codecs.register_error("rasd-undecodable", _undecodable)


def _text_lines(f: Any, encoding: str) -> Iterator[str]:
    """Lines of a file in another encoding than UTF-8 (UTF-16 from spreadsheets,
    a mapping's ``encoding``); bytes that do not decode become lone surrogates, so
    that only their row is rejected."""
    text = io.TextIOWrapper(f, encoding=encoding, errors="rasd-undecodable", newline="")
    while True:
        line = text.readline(MAX_LINE)
        if not line:
            return
        yield line


def _has_bad_bytes(row: dict[str, str]) -> str | None:
    """The first column holding bytes that did not decode (kept as lone
    surrogates by "surrogateescape"), found by the UTF-8 encoder in C: a loop
    over every character in Python cost a fifth of a CSV ingest; the whole row
    first, each cell only where the row holds such bytes."""
    whole = "".join(v for v in row.values() if isinstance(v, str))
    if whole.isascii():
        return None
    try:
        whole.encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    for k, v in row.items():
        if isinstance(v, str) and not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return k
    return None


def extract_entities(post: Post) -> None:
    text = post.text or ""
    post.hashtags.extend(HASHTAG.findall(text))
    post.urls.extend(u.rstrip(".,;:!?)…") for u in URL.findall(text))
    m = RT.match(text)
    for h in MENTION.findall(text):
        post.mentions.append((None, h))
    if m:
        post.kind = PostKind.REPOST
        post.links.append(Link(PostKind.REPOST, None, None, m.group(1)))


@register
class CSVParser(Parser):
    """CSV/TSV with a column mapping (``--mapping NAME_OR_FILE``); built-in
    mappings are picked automatically from the header."""

    name = "csv"
    platform = "csv"
    description = ("CSV/TSV with a column mapping (built in: isis-kaggle, twarc-csv, "
                   "far-right-telegram, qut-cnt)")

    @classmethod
    def sniff(cls, path: Path, sample: bytes) -> float:
        if inner_suffix(path) in (".csv", ".tsv"):
            return 0.8
        if inner_suffix(path) not in ("", ".txt"):
            return 0.0
        # no telling name (standard input): a header line of a built-in mapping
        enc = "utf-16" if sample[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8"
        cut = b"\n".join(sample.split(b"\n", 2)[:2]) if enc == "utf-8" else sample
        try:  # a header is text: binary junk is not a CSV without a mapping
            two = re.split(r"\r\n|\r|\n", cut.decode(
                enc, "strict" if enc == "utf-8" else "replace").lstrip("\ufeff"), maxsplit=2)
        except UnicodeDecodeError:
            return 0.0
        first = two[0].strip()  # (lines that end with CR only too)
        if EXCEL_SEP.fullmatch(two[0]) and len(two) > 1:  # Excel's "sep=;" line
            first = two[1].strip()
        if not first or first[0] in "{[<" or any(
                ord(ch) < 32 and ch not in "\t\r" for ch in first):
            return 0.0
        try:
            header = next(csv.reader([first], delimiter=sniff_delimiter(first, ",")))
        except (csv.Error, StopIteration):
            return 0.0
        hs = set(header)
        if any(set(m.get("detect_columns", [])) <= hs for m in builtin_mappings().values()):
            return 0.7
        return 0.05 if len(header) >= 2 else 0.0

    def _mapping_for(self, header: list[str], src: str, given: dict,
                     own: bool = False) -> dict:
        """The mapping named by the user (``given``, loaded once per file), else
        the built-in one whose columns the header has. A mapping of the user's
        own (``own``: a file, not a built-in) that names a column the header
        lacks is an error: a misspelt column ("postd_at") was left unread, the
        posts stored without it, and ``--dry-run`` did not tell."""
        if given:
            m = given
        else:
            hs = set(header)
            found = [m for m in builtin_mappings().values()
                     if set(m.get("detect_columns", [])) <= hs]
            if not found:
                # each name cut: a JSON line read as a header (--format csv on a
                # JSONL file) was printed whole, a screenful in one error line
                shown = [h if len(h) <= 40 else h[:39] + "…" for h in header[:12]]
                json_like = bool(header) and header[0].lstrip("\ufeff \t").startswith(("{", "["))
                raise IngestError(
                    f"{src}: CSV header {shown} matches no built-in mapping "
                    f"({', '.join(sorted(builtin_mappings()))}); pass --mapping FILE"
                    + ("; it reads as JSON, not CSV: leave --format out" if json_like
                       else ""))
            m = found[0]
        twice = sorted(c for c, n in Counter(header).items() if n > 1 and c in columns_of(m))
        if twice:  # a row's dict keeps the last of them: which one is meant is unknown
            raise IngestError(f"{src}: the CSV header names column(s) {twice[:5]} more than "
                              f"once, and mapping {m.get('name', '?')!r} reads them")
        missing = [c for c in columns_of(m) if c not in header]
        kind = (m.get("account") or {}).get("kind")  # a column, or a value for every row
        unread = [c for c in missing if not (c == kind and "{" not in c)]
        if own and unread:
            raise IngestError(
                f"{src}: mapping {m.get('name', '?')!r} names column(s) {unread[:8]} that "
                f"the header lacks (it has {header[:12]}); correct the mapping, or remove "
                "them if this file has no such columns")
        need = columns_of({"post": {k: v for k, v in m["post"].items()
                                    if k in ("id", "id_from", "text", "account_id")}})
        if any(c in need for c in missing):
            raise IngestError(f"{src}: mapping {m.get('name', '?')!r} needs column(s) "
                              f"{sorted(c for c in missing if c in need)} not in the header")
        return m

    def _head(self, f: Any, path: Path) -> tuple[_Lines, Any, str, list[str], dict]:
        """The header of the CSV ``f`` (opened from ``path``) and the mapping for
        it (the one given, checked against it, or the built-in one it fits): the
        physical lines, the reader at the first row and its delimiter;
        IngestError where no mapping reads the file."""
        src = str(path)
        spec = self.options.get("mapping")
        given = (spec if isinstance(spec, dict) else load_mapping(spec)) if spec else {}
        csv.field_size_limit(MAX_LINE)
        try:  # damaged compressed data before the header's end: nothing to read by
            # (it escaped as EOFError or OSError, a traceback: found by fuzzing)
            enc = given.get("encoding") or (
                "utf-16" if f.peek(2)[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8")
            f = peekable(f)
            physical = _decoded_lines(f) if enc == "utf-8" and not cr_lines(
                f, lf_in_records=True) else _text_lines(f, enc)
            first = next(physical, "")
            sep = EXCEL_SEP.fullmatch(first.rstrip("\r\n").lstrip("\ufeff"))  # ("sep=\t")
            if sep:  # Excel's "sep=;" line: the delimiter, then the header
                first = next(physical, "")
            delim = given.get("delimiter") or (sep.group(1) if sep else sniff_delimiter(
                first, "\t" if inner_suffix(path) == ".tsv" else ","))
            lines = _Lines(chain([first] if first else [], physical), start=1 if sep else 0)
            reader = csv.reader(lines, delimiter=delim)
            header = next(reader)
        except StopIteration:
            raise IngestError(f"{src}: empty CSV file") from None
        except csv.Error as e:
            raise IngestError(f"{src}: unreadable CSV header: {e}") from None
        except (EOFError, OSError) as e:
            raise IngestError(f"{src}: the data ends or is damaged before the CSV "
                              f"header's end: {e}") from None
        # a byte that does not decode in a column name: "?" (the names are the
        # raw record's keys; such a name stopped the ingest with a TypeError)
        header = [h.strip().lstrip("\ufeff").encode("utf-8", "replace").decode()
                  for h in header]
        m = self._mapping_for(header, src, given, own=bool(spec) and not (
            isinstance(spec, str) and spec in builtin_mappings()))
        return lines, reader, delim, header, m

    def check_header(self, path: Path) -> None:
        """What ``check_format`` reads of a stream: the header and the mapping
        for it, not the first row, which a live pipe (``tail -f … | rasd ingest
        -``) may hold back for hours; and one past the first 8 MB (``Stream``
        keeps that much for a second reading) left the ingest unable to start."""
        with open_binary(path, transcode=False) as f:
            self._head(f, path)

    def parse(self, path: Path, raw: RawSink) -> Iterator[Record]:
        """The rows of a CSV, each a post (and its account) or a reject.

        A file cut short keeps its whole rows; the cut row is rejected where the
        bytes show the cut: the file ends inside a quoted field (the reader asked
        for a line past the last to finish the row: ``_Lines.ended``), or the last
        row lacks fields and its line break. A last row that is whole but for its
        line break is kept (a file need not end with one); a cut in its last,
        unquoted field looks the same and cannot be told in a plain file. A
        compressed file's cut is told by the decompressor (EOFError: "file ends
        unexpectedly")."""
        src = str(path)
        with open_binary(path, transcode=False) as f:  # its own decoding
            lines, reader, delim, header, m = self._head(f, path)
            idcols = [c for c in id_columns(m) if c in header]
            platform = str(self.options.get("platform") or m.get("platform") or "csv")
            fmt = f"csv:{m.get('name', 'custom')}"
            plan = _Plan(m)
            while True:
                lines.taken.clear()
                lines.ended = False
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    yield reject(src, f"malformed CSV: {e}", line=lines.first())
                    continue
                except (EOFError, OSError) as e:
                    yield reject(src, ended(e), line=lines.first())
                    break
                start = lines.first()
                if len(lines.taken) > 1 and _swallowed(lines.taken, header, delim, cells,
                                                       partial(_is_row, m)):
                    # an unbalanced quote ran this row's field into the rows after it:
                    # reject its first line and read the others again, one by one
                    yield reject(src, "unbalanced quote: the row's quoted field ran into the "
                                 f"{len(lines.taken) - 1} line(s) after it, which are read "
                                 "again as rows", line=start,
                                 excerpt=lines.taken[0][1][:200])
                    lines.push_back(lines.taken[1:])
                    continue
                if lines.ended:
                    # the reader wanted a line past the last one to finish this row:
                    # the file ends inside a quoted field (the row cut short, or a
                    # quote never closed), and the row holds only what came before
                    yield reject(src, "the file ends inside this row's quoted field (cut "
                                 "short, or a quote that never closes)", line=start,
                                 excerpt=lines.taken[0][1][:200])
                    continue
                if not cells or all(not c for c in cells):
                    continue
                if len(cells) != len(header):
                    last = lines.taken[-1][1] if lines.taken else "\n"
                    yield reject(src, f"expected {len(header)} columns, found {len(cells)}"
                                 + ("; the file ends in this row without a line break (cut "
                                    "short?)" if not last.endswith(("\n", "\r"))
                                    and len(cells) < len(header) else ""),
                                 line=start, excerpt=",".join(cells)[:200])
                    continue
                row = dict(zip(header, cells, strict=True))
                bad = _has_bad_bytes(row)
                if bad:
                    yield reject(src, f"field {bad!r}: invalid UTF-8", line=start)
                    continue
                data = orjson.dumps(row)
                sha = raw.put(data, fmt)
                if raw.size >= raw.ahead_at:  # rows of no record piled up (RawSink.ahead_at)
                    yield Ahead(sha)
                ref = RawRef(sha256=sha, fmt=fmt, source_file=src, line=start)
                yield from unless_rejected(
                    self._row_or_reject(row, idcols, m, platform, ref, plan, src, start),
                    raw, sha)

    def _row_or_reject(self, row: dict[str, str], idcols: list[str], m: dict, platform: str,
                       ref: RawRef, plan: _Plan, src: str, line: int) -> Iterator[Record]:
        try:
            yield from self._row(clean_ids(row, idcols), m, platform, ref, plan)
        except (KeyError, TypeError, ValueError) as e:
            yield reject(src, e, line=line)

    @staticmethod
    def _referenced(post: Post, refs: str | None, reply_account: str | None) -> None:
        """X's ``referenced_tweets`` as twarc-csv writes it (a JSON list of
        ``{"type", "id"}``): replies, retweets and quotes by the target's id."""
        if not refs:
            return
        try:
            items = orjson.loads(refs)
        except orjson.JSONDecodeError:
            raise ValueError("field 'referenced_tweets': not a JSON list") from None
        if not isinstance(items, list):
            raise TypeError("field 'referenced_tweets': not a JSON list")
        for r in items:
            kind = REF_KIND.get(r.get("type")) if isinstance(r, dict) else None
            if kind is None:
                continue
            target = req_id(r.get("id"), "referenced_tweets.id")
            if _linked(post, kind, target):
                continue
            named = next((lk for lk in post.links if lk.kind == kind and lk.target_post_id is None),
                         None)
            if named is not None:  # "RT @user:" found in the text: now with its post
                named.target_post_id = target
            else:
                post.links.append(Link(kind, target, reply_account if kind == PostKind.REPLY
                                       else None))
            if post.kind == PostKind.POST or kind == PostKind.REPOST:
                post.kind = kind

    def _row(self, row: dict[str, str], m: dict, platform: str, ref: RawRef,
             plan: _Plan | None = None) -> Iterator[Record]:
        P = plan or _Plan(m)
        g = P.post
        pm = m["post"]
        v = g["account_id"]
        account_id = req_id(v(row) if v else None, pm["account_id"].strip("{}"))
        tcol = pm.get("created_at")
        v = g["created_at"]
        created, canon = row_time(v(row) if v else None, m.get("time_formats") or [],
                                  "created_at", P.time_formats)
        if canon is not None and tcol in row:
            row = {**row, tcol: canon}
        if "id" in pm:
            pid = req_id(g["id"](row) if g["id"] else None, "id")
        else:
            values = [row.get(c, "") for c in pm["id_from"]]
            if not any(v.strip() for v in values):  # (such rows were all one post)
                raise KeyError(f"missing required field 'id' (the columns of post.id_from, "
                               f"{pm['id_from'][:5]}, are empty)")
            key = "\x1f".join(values)
            pid = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]
        raw_text = g["text"](row) if g["text"] else None
        if raw_text and m.get("unescape_newlines"):
            raw_text = raw_text.replace("\\n", "\n")  # twarc-csv writes line breaks as \n
        text = clean_text(raw_text, pm["text"])
        v = g["observed_at"]
        seen = row_time(v(row), [], "observed_at")[0] if v else None
        if P.has_account:
            a = P.account
            v = (P.account_id(row) if P.account_id else None) or account_id
            yield Account(
                platform=platform, platform_id=v,
                handle=opt_str(a["handle"](row), "handle", 200) if a["handle"] else None,
                name=clean_text(a["name"](row), "name") if a["name"] else None,
                bio=clean_text(a["bio"](row), "bio") if a["bio"] else None,
                location=clean_text(a["location"](row), "location") if a["location"] else None,
                followers=_count(a["followers"](row), "followers") if a["followers"] else None,
                following=_count(a["following"](row), "following") if a["following"] else None,
                post_count=_count(a["post_count"](row), "post_count") if a["post_count"]
                else None,
                kind=opt_str(_value_or_literal((m.get("account") or {}).get("kind"), row),
                             "kind", 32),
                # the profile as of when it was collected, else as of this row's post
                raw=ref, observed_at=seen or created)
        v = g["lang"], g["chat_id"], g["conversation_id"]
        post = Post(platform=platform, platform_id=pid, account_id=account_id, text=text,
                    created_at=created,
                    lang=opt_str(v[0](row), "lang", 16) if v[0] else None,
                    chat_id=opt_str(v[1](row), "chat_id", 200) if v[1] else None,
                    conversation_id=opt_str(v[2](row), "conversation_id", 200) if v[2]
                    else None,
                    raw=ref, observed_at=seen)
        v = g["views"]
        views = _count(v(row), "views") if v else None
        if views is not None:
            post.metrics["views"] = views
        for name, get, col in P.metrics:
            v = _count(get(row), col)
            if v is not None:
                post.metrics[name] = v

        url = g["url"](row) if g["url"] else None
        if url:
            post.extra["url"] = url[:2000]
        if m.get("entities_from_text", True):
            extract_entities(post)
        if g["referenced_tweets"]:
            v = g["reply_to_account"]
            self._referenced(post, g["referenced_tweets"](row), v(row) if v else None)
        v = g["is_forward"]
        is_fwd = ((v(row) if v else None) or "").strip().lower() in TRUE
        fname = g["forward_from_name"](row) if g["forward_from_name"] else None
        fid = g["forward_from_id"](row) if g["forward_from_id"] else None
        if is_fwd or (fname and "is_forward" not in pm) or fid:
            post.kind = PostKind.FORWARD
            post.links.append(Link(PostKind.FORWARD, None, fid, fname))
        rto = g["reply_to"](row) if g["reply_to"] else None
        if rto and not _linked(post, PostKind.REPLY, rto):
            v = g["reply_to_account"]
            post.links.append(Link(PostKind.REPLY, rto, v(row) if v else None))
            if post.kind == PostKind.POST:
                post.kind = PostKind.REPLY
        rp = g["repost_of"](row) if g["repost_of"] else None
        if rp:  # a verbatim repost (retweet) of the post with this id
            target = req_id(rp, pm["repost_of"])
            v = g["repost_of_account"]
            by = v(row) if v else None  # its author, where the row says
            named = next((lk for lk in post.links if lk.kind == PostKind.REPOST), None)
            if named is not None:  # "RT @user:" found in the text: now with its post
                named.target_post_id = named.target_post_id or target
                named.target_account_id = named.target_account_id or by
            else:
                post.links.append(Link(PostKind.REPOST, target, by))
            post.kind = PostKind.REPOST
        qo = g["quote_of"](row) if g["quote_of"] else None
        if qo and not _linked(post, PostKind.QUOTE, qo):
            v = g["quote_of_account"]
            post.links.append(Link(PostKind.QUOTE, req_id(qo, pm["quote_of"]),
                                   v(row) if v else None))
            if post.kind == PostKind.POST:
                post.kind = PostKind.QUOTE
        links = g["urls"](row) if g["urls"] else None
        if links:  # a space-separated list (QUT's toolkit), beside those in the text
            post.urls.extend(u[:2000] for u in links.split()[:100] if u not in post.urls)
        yield post
