"""The parser interface, the format registry and format detection.

A ``Parser`` turns one input file into a stream of model records (``Account``,
``Post``, ``Event``, ``Compliance``) and ``Reject``s — one per bad record, naming
the file, line or JSON path, field and reason. A parser never raises on bad
content; it raises ``IngestError`` only when the file as a whole cannot be read
as its format (then nothing is written).
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar

import orjson
import zstandard

from rasd.model import Record, Reject
from rasd.store.db import sha256_hex

MAX_LINE = 32 * 1024 * 1024  # bytes; a longer line is rejected, not loaded
MAX_TEXT = 200_000  # characters in one post's text
SNIFF = 64 * 1024
BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark


class IngestError(Exception):
    """The file cannot be ingested at all (unknown format, unreadable)."""


# The raw (on-disk) file most recently opened by a parser in this context, so the
# runner can report progress as a byte position without parsers knowing about it.
CURRENT_RAW: ContextVar[IO[bytes] | None] = ContextVar("CURRENT_RAW", default=None)


COMPRESSED = (".gz", ".bz2", ".xz", ".zst")  # read transparently, by suffix


_DECOMPRESS_ERRORS = (zlib.error, lzma.LZMAError, zstandard.ZstdError)


class _Damaged(io.BufferedIOBase):
    """A decompressed stream whose errors are all OSError or EOFError (zlib, lzma
    and zstd raise their own), so that every parser treats damaged compressed data
    like a truncated file: what was read is kept, the rest is one reject."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except _DECOMPRESS_ERRORS as e:
            raise OSError(f"damaged compressed data: {e}") from e

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._call(self.inner.read, size)  # type: ignore[no-any-return]

    def read1(self, size: int = -1) -> bytes:
        return self._call(self.inner.read1, size)  # type: ignore[no-any-return]

    def readline(self, size: int | None = -1) -> bytes:
        return self._call(self.inner.readline, size)  # type: ignore[no-any-return]

    def peek(self, size: int = 0) -> bytes:
        return self._call(self.inner.peek, size)  # type: ignore[no-any-return]

    def tell(self) -> int:
        return int(self.inner.tell())

    def close(self) -> None:
        self.inner.close()
        super().close()


def _decompressing(path: Path, raw: IO[bytes]) -> Any:
    sfx = path.suffix.lower()
    if sfx == ".gz":
        inner: Any = gzip.GzipFile(fileobj=raw, mode="rb")
    elif sfx == ".bz2":
        inner = bz2.BZ2File(raw, "rb")
    elif sfx == ".xz":
        inner = lzma.LZMAFile(raw, "rb")
    elif sfx == ".zst":  # a plain stream: buffered here for readline and peek
        inner = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(  # type: ignore[arg-type]
            raw, read_across_frames=True), 1 << 16)
    else:
        return raw
    return _Damaged(inner)


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading, decompressing ``.gz``, ``.bz2``, ``.xz`` and
    ``.zst`` transparently."""
    raw = open(path, "rb")
    CURRENT_RAW.set(raw)
    f: Any = _decompressing(path, raw)
    try:  # a UTF-8 byte-order mark (Windows tools write one) is not part of the data
        if f.peek(3)[:3] == BOM:
            f.read(3)
    except (OSError, EOFError):
        pass  # unreadable: the first read says so
    return f  # type: ignore[no-any-return]


def inner_suffix(path: Path) -> str:
    """``.csv`` for ``x.csv.gz`` (or ``.bz2``, ``.xz``, ``.zst``); the suffix that
    tells the format."""
    sfx = path.suffixes
    if sfx and sfx[-1].lower() in COMPRESSED and len(sfx) > 1:
        return sfx[-2].lower()
    return path.suffix.lower()


def read_sample(path: Path, n: int = SNIFF) -> bytes:
    buf = bytearray()
    with open_binary(path) as f:
        try:
            while len(buf) < n:
                piece = f.read(min(4096, n - len(buf)))
                if not piece:
                    break
                buf += piece
        except EOFError as e:  # a truncated .gz: judge by what could be read
            if not buf:
                raise IngestError(f"{path}: the compressed file ends before any data "
                                  "(truncated?)") from e
        except OSError as e:
            if not buf:
                raise IngestError(f"{path}: cannot read: {e}") from e
    return bytes(buf)


def iter_lines(f: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Yield (1-based line number, line bytes) with bounded memory.

    A line over ``MAX_LINE`` bytes yields ``None`` (the caller rejects it) and is
    skipped without being held in memory.
    """
    n = 0
    while True:
        line = f.readline(MAX_LINE + 1)
        if not line:
            return
        n += 1
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while True:  # drain the rest of the oversized line
                more = f.readline(MAX_LINE)
                if not more or more.endswith(b"\n"):
                    break
            yield n, None
            continue
        yield n, line


def _strip_surrogates(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj.encode("utf-8", "replace").decode("utf-8")
    if isinstance(obj, list):
        return [_strip_surrogates(x) for x in obj]
    if isinstance(obj, dict):
        return {_strip_surrogates(k): _strip_surrogates(v) for k, v in obj.items()}
    return obj


def loads(line: bytes) -> Any:
    """Parse one JSON document; raise ValueError with a clear reason.

    orjson first (fast, strict); on failure, a UTF-8 check that names the byte
    offset, then the stdlib parser, which accepts lone surrogate escapes (seen in
    real exports) — those are replaced, not allowed to poison the store.
    """
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        if "depth" in str(e):  # orjson stops at 1024 levels; nothing real nests so deep
            raise ValueError(f"JSON nested too deeply: {e}") from None
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as ue:
            raise ValueError(f"invalid UTF-8 at byte {ue.start}") from None
        try:
            return _strip_surrogates(json.loads(text))
        except json.JSONDecodeError:
            raise ValueError(f"invalid JSON: {e}") from None
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def clean_text(value: Any, field: str) -> str | None:
    """A text field: None stays None; NUL bytes become U+FFFD (PostgreSQL refuses
    them); non-strings are a type error; over-long text is a ValueError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"field {field!r}: expected a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"field {field!r}: {len(value)} characters, limit {MAX_TEXT}")
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value


def opt_str(value: Any, field: str, limit: int = 2000) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(f"field {field!r}: expected a string, got {type(value).__name__}")
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value[:limit]


def req_id(value: Any, field: str) -> str:
    """A required identifier: a non-empty string or integer."""
    if isinstance(value, bool) or value is None or value == "":
        raise KeyError(f"missing required field {field!r}")
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"field {field!r}: expected an id, got {type(value).__name__}")
    if len(value) > 190 or "\x00" in value:
        raise ValueError(f"field {field!r}: not a valid id (over 190 characters or a NUL byte)")
    return value


def opt_int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError(f"field {field!r}: expected an integer, got bool")
    if isinstance(value, int):
        return value if -(2**62) < value < 2**62 else None
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 2**62 else None
    if isinstance(value, str):
        try:
            return int(float(value.replace(",", "")))
        except ValueError:
            raise TypeError(f"field {field!r}: not a number: {value[:40]!r}") from None
    raise TypeError(f"field {field!r}: expected an integer, got {type(value).__name__}")


def parse_time(value: Any, field: str) -> datetime | None:
    """ISO 8601 (X v2, Telegram, CSV), X v1.1 ``Wed Oct 10 20:19:24 +0000 2018``,
    or a unix timestamp. Naive times are taken as UTC."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), UTC)
        if not isinstance(value, str):
            raise TypeError
        v = value.strip()
        if v.isdigit():
            return datetime.fromtimestamp(int(v), UTC)
        if len(v) >= 26 and v[3] == " " and v[-5] == " ":  # v1.1
            dt = datetime.strptime(v, "%a %b %d %H:%M:%S %z %Y")
        else:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise ValueError(f"field {field!r}: not a date/time: {str(value)[:40]!r}") from None


def reject(source: str, reason: str | Exception, *, line: int | None = None,
           path: str | None = None, excerpt: bytes | str | None = None) -> Reject:
    if isinstance(reason, KeyError):
        reason = str(reason.args[0]) if reason.args else "missing field"
    field = None
    msg = str(reason)
    if msg.startswith("field '") or msg.startswith("missing required field '"):
        field = msg.split("'")[1]
    if isinstance(excerpt, bytes):
        excerpt = excerpt[:200].decode("utf-8", "replace")
    elif isinstance(excerpt, str):
        excerpt = _safe(excerpt[:200])
    return Reject(source_file=source, reason=_safe(msg), line=line, path=path,
                  field=_safe(field) if field else None, excerpt=excerpt)


def _safe(text: str) -> str:
    """Undecodable bytes (kept as lone surrogates while reading) become U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8")


class Parser(ABC):
    """One input format.

    ``name`` is what ``--format`` takes; ``sniff`` scores how likely a file is
    this format from its name and first bytes (0 = no, 1 = certain) so that
    ``--format auto`` picks the best; ``parse`` yields records and rejects.
    """

    name: ClassVar[str]
    platform: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        self.options = options

    @classmethod
    @abstractmethod
    def sniff(cls, path: Path, sample: bytes) -> float:
        """Likelihood 0..1 that ``path`` (first bytes ``sample``) is this format."""

    @abstractmethod
    def parse(self, path: Path, raw: RawSink) -> Iterator[Record]:
        """Yield records; store each record's raw bytes through ``raw``."""


class RawSink:
    """Collects raw records (bytes as received) for the writer to store.

    ``put`` returns the sha256 under which the bytes are kept; identical bytes are
    kept once.
    """

    def __init__(self) -> None:
        self.pending: dict[str, tuple[str, bytes]] = {}

    def put(self, data: bytes, fmt: str) -> str:
        h = sha256_hex(data)
        if h not in self.pending:
            self.pending[h] = (fmt, data)
        return h

    def drain(self) -> dict[str, tuple[str, bytes]]:
        out, self.pending = self.pending, {}
        return out


PARSERS: dict[str, type[Parser]] = {}


def register(cls: type[Parser]) -> type[Parser]:
    PARSERS[cls.name] = cls
    return cls


def _ensure_loaded() -> None:
    from rasd.ingest import csvfmt, telegram, telegram_html, telethon, x  # noqa: F401


def get_parser(name: str, **options: Any) -> Parser:
    _ensure_loaded()
    if name not in PARSERS:
        raise IngestError(f"unknown format {name!r}; known: {', '.join(sorted(PARSERS))}")
    return PARSERS[name](**options)


def detect_format(path: Path) -> str:
    """Pick the parser that claims ``path`` most strongly, or raise IngestError."""
    _ensure_loaded()
    if path.is_dir():
        if (path / "result.json").is_file():
            return "telegram"
        raise IngestError(f"{path}: a directory without result.json (not a Telegram export)")
    sample = read_sample(path)
    if not sample.strip():
        raise IngestError(f"{path}: file is empty")
    scores = sorted(((cls.sniff(path, sample), name) for name, cls in PARSERS.items()),
                    reverse=True)
    best, name = scores[0]
    if best <= 0:
        raise IngestError(
            f"{path}: not a known format (tried {', '.join(sorted(PARSERS))}); "
            "name one with --format, or give a CSV --mapping")
    return name


def first_json_line(sample: bytes) -> Any:
    for line in io.BytesIO(sample):
        if line.strip():
            try:
                return orjson.loads(line)
            except orjson.JSONDecodeError:
                return None
    return None
