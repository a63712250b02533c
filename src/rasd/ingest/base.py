"""The parser interface, the format registry and format detection.

A ``Parser`` turns one input file into a stream of model records (``Account``,
``Post``, ``Event``, ``Compliance``) and ``Reject``s — one per bad record, naming
the file, line or JSON path, field and reason. A parser never raises on bad
content; it raises ``IngestError`` only when the file as a whole cannot be read
as its format (then nothing is written).
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import io
import json
import lzma
import math
import os
import posixpath
import re
import sys
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, ClassVar, NamedTuple, Self

import orjson
import zstandard

from rasd.jsonread import JSONInputError, map_leaves, parse_json
from rasd.model import Record, Reject
from rasd.platforms import PLATFORM_NAME
from rasd.store.db import sha256_hex
from rasd.terminal import valid_text

MAX_LINE = 32 * 1024 * 1024  # bytes; a longer line is rejected, not loaded
MAX_TEXT = 200_000  # characters in one post's text
# items of a file that give no record at all (X stream errors) whose raw bytes
# are kept; past it, not (``unless_rejected``): 40,000 distinct such lines, 140 KB
# gzipped, grew the store by 11 MB
MAX_BARE_RAWS = 10_000
SNIFF = 64 * 1024
BOM = b"\xef\xbb\xbf"  # UTF-8 byte-order mark


class IngestError(Exception):
    """The file cannot be ingested at all (unknown format, unreadable)."""


# The raw (on-disk) file most recently opened by a parser in this context, so the
# runner can report progress as a byte position without parsers knowing about it.
CURRENT_RAW: ContextVar[IO[bytes] | None] = ContextVar("CURRENT_RAW", default=None)


COMPRESSED = (".gz", ".bz2", ".xz", ".zst")  # read transparently, by suffix
# tar archives read member by member (rasd.ingest.archive), as ZIP archives are
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")


_DECOMPRESS_ERRORS = (zlib.error, lzma.LZMAError, zstandard.ZstdError, zipfile.BadZipFile)

# Decompression bombs: what compressed input (a .gz/.bz2/.xz/.zst file, standard
# input, a ZIP or tar archive with every layer inside it) may unpack to, all told:
# MAX_RATIO times its size, and RATIO_FREE bytes whatever its size. Real data
# compresses far less (the shared samples' JSON Lines and CSV: 2-12x with gzip,
# bzip2, xz or zstd; photos ~1x); zeros or one line repeated compress ~300-1000x
# with gzip and more with bzip2 or xz: 1 MB of .tar.gz unpacked to 1 GB, all of
# it decompressed to be read (17-37 s), where it now stops at 100 MB. Time is then
# linear in the input's size, not in what it claims to hold.
MAX_RATIO = 100
RATIO_FREE = 100 * 2**20
CHARGE_STEP = 1 << 16  # bytes a reader hands on between two looks at its budget


class DecompressionBomb(OSError):
    """Compressed input that unpacks to more than its ``Budget`` allows. An
    OSError, as damaged compressed data is, so that a parser keeps what it
    read before it and rejects the rest saying so; listing an archive turns it
    into an ``IngestError`` (``rasd.ingest.archive.members``): nothing of that
    archive is read. ``limit`` and ``compressed``: the bytes it may unpack to,
    and its compressed size, where a budget raised it."""

    limit: int = 0
    compressed: int = 0


class Budget:
    """What one compressed input may unpack to: ``max(RATIO_FREE, MAX_RATIO *
    size)`` bytes, ``size`` its compressed size (a number, or a function giving
    the compressed bytes read so far: standard input, whose size is not known).

    Each decompressing reader of the input reports how far it has come with
    ``reach(key, pos)``; what counts is the furthest position of each key (a
    layer of the input: the tar stream, a ZIP member, a compressed member's
    contents), summed, so reading a member or the archive again costs nothing
    more while every member and layer counts (a ZIP of many members sharing one
    compressed stream, a .gz inside a .tar.gz). Past the limit ``reach``
    raises ``DecompressionBomb`` (kept in ``tripped``), before decompressing
    where the reader asks ahead (a seek, a read of a size)."""

    def __init__(self, name: str, size: Any) -> None:
        self.name = name  # the input, as messages name it
        self.size = size
        self.high: dict[Any, int] = {}
        self.used = 0
        self.tripped: DecompressionBomb | None = None

    def compressed(self) -> int:
        return int(self.size() if callable(self.size) else self.size)

    def limit(self) -> int:
        return max(RATIO_FREE, MAX_RATIO * self.compressed())

    def reach(self, key: Any, pos: int, member: str | None = None) -> None:
        """``key``'s reader has handed on its bytes up to ``pos``."""
        old = self.high.get(key, 0)
        if pos > old:
            self.used = self._within(self.used + pos - old, member)
            self.high[key] = pos

    def ahead(self, key: Any, pos: int, member: str | None = None) -> None:
        """Raise where ``key``'s reader going on to ``pos`` would pass the limit."""
        self._within(self.used + pos - self.high.get(key, 0), member)

    def declared(self, total: int, member: str) -> None:
        """Raise ``IngestError`` where the members of an archive up to ``member``
        say they unpack to ``total`` bytes, past the limit: nothing of it is read
        (``rasd.ingest.archive.members``)."""
        if total > RATIO_FREE and total > (limit := self.limit()):
            raise IngestError(
                f"{self.name}{ARCHIVE_SEP}{member}: refused as a decompression bomb: the "
                f"members to read up to it say they unpack to {total:,} bytes, more than "
                f"{limit:,}, over {MAX_RATIO} times the archive's {self.compressed():,} "
                f"bytes ({_LIMITS}); nothing of the archive is read")

    def _within(self, used: int, member: str | None) -> int:
        if used > RATIO_FREE and used > (limit := self.limit()):
            where = self.name if member is None else f"{self.name}{ARCHIVE_SEP}{member}"
            self.tripped = DecompressionBomb(
                f"{where}: refused as a decompression bomb: {self.name} unpacks to more "
                f"than {limit:,} bytes, over {MAX_RATIO} times its {self.compressed():,} "
                f"compressed bytes ({_LIMITS}); the rest is not read")
            # (for readers that say it their own way: rasd.detect.text.io)
            self.tripped.limit, self.tripped.compressed = limit, self.compressed()
            raise self.tripped
        return used


# A format check (``rasd.ingest.runner.check_format``) reads up to the first
# record. Of compressed input it reads no more than CHECK_HEAD decompressed bytes
# a reading: a bomb holding no record before its limit was read to the limit by
# the check, then again by the ingest (twice the limit in time). What the check
# does not reach is left to the ingest, which reads it once.
CHECK_HEAD = 8 * 2**20


class CheckHead:
    """What a format check may read of each decompressed reading (``head_only``),
    and whether one of them reached it."""

    __slots__ = ("limit", "reached")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reached = False


class HeadReached(OSError):
    """A format check's reading of compressed data got to ``CHECK_HEAD``: an
    OSError, an end the parser meets as it meets a cut; not a bomb, and not
    said (``check_format`` knows nothing past it)."""


_HEAD_ONLY: ContextVar[CheckHead | None] = ContextVar("_HEAD_ONLY", default=None)


@contextmanager
def head_only(limit: int | None = None) -> Iterator[CheckHead]:
    """Within it, each reading of compressed data (a file, standard input, a
    compressed member of an archive) stops with ``HeadReached`` past ``limit``
    (``CHECK_HEAD``) bytes: what a format check reads."""
    head = CheckHead(CHECK_HEAD if limit is None else limit)
    token = _HEAD_ONLY.set(head)
    try:
        yield head
    finally:
        _HEAD_ONLY.reset(token)


def ended(e: BaseException) -> str:
    """The reason of the reject that ends a file's reading at ``e``: "file ends
    unexpectedly" for data cut short or damaged (a truncated .gz, an I/O error),
    and for a ``DecompressionBomb`` that the decompression limit was reached: a
    bomb is no truncated file, and its reject read "file ends unexpectedly"."""
    if isinstance(e, DecompressionBomb):
        return f"decompression limit reached: {e}"
    return f"file ends unexpectedly: {e}"


_LIMITS = ("real data compresses 2-20x; input that is no bomb can be unpacked first and "
           "the unpacked files ingested; limits: MAX_RATIO, RATIO_FREE in rasd.ingest.base")


def file_budget(name: str, raw: Any) -> Budget:
    """The budget of a file read through ``raw``: its size on disk, or where it
    has none (a pipe), the compressed bytes read from it so far."""
    try:
        st = os.fstat(raw.fileno())
    except (AttributeError, OSError, ValueError):
        st = None
    if st is not None and st.st_size:
        return Budget(name, st.st_size)
    return Budget(name, lambda: int(raw.tell()))


class _Damaged(io.BufferedIOBase):
    """A decompressed stream whose errors are all OSError or EOFError (zlib, lzma
    and zstd raise their own), so that every parser treats damaged compressed data
    like a truncated file: what was read is kept, the rest is one reject."""

    def __init__(self, inner: Any, budget: Budget | None = None, key: Any = "data",
                 member: str | None = None) -> None:
        self.inner = inner
        self.on_damage: Any = None  # told the error first (a Stream: Stream.damage)
        # what is handed on is counted against ``budget`` (decompression bombs):
        # every CHARGE_STEP bytes (a JSON Lines reader asks for a line at a time),
        # at the end and when closed
        self.budget, self.key, self.member = budget, key, member
        self.out = 0
        self.due = 0 if budget is not None else math.inf
        self.owned: Any = None  # closed with it: the file ``inner`` reads

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except _DECOMPRESS_ERRORS as e:
            err = OSError(f"damaged compressed data: {e}")
            if self.on_damage is not None:
                self.on_damage(err)
            raise err from e
        except EOFError as e:  # cut short
            if self.on_damage is not None:
                self.on_damage(e)
            raise

    def _out(self, data: bytes) -> bytes:
        self.out += len(data)
        if self.out >= self.due or not data:
            self._charge()
        return data

    def _charge(self, closing: bool = False) -> None:
        if self.budget is None:
            return
        self.due = self.out + CHARGE_STEP
        head = _HEAD_ONLY.get()
        if head is not None and self.out > head.limit and not closing:
            head.reached = True  # (a format check: no damage, no bomb; on_damage not told)
            raise HeadReached(f"{self.budget.name}: a format check reads no more than "
                              f"its first {head.limit:,} bytes")
        try:
            self.budget.reach(self.key, self.out, self.member)
        except DecompressionBomb as e:
            if self.on_damage is not None:
                self.on_damage(e)
            raise

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._out(self._call(self.inner.read, size))

    def read1(self, size: int = -1) -> bytes:
        return self._out(self._call(self.inner.read1, size))

    def readline(self, size: int | None = -1) -> bytes:
        data: bytes = self._call(self.inner.readline, size)
        self.out += len(data)  # (``_out`` inlined: called once a line)
        if self.out >= self.due or not data:
            self._charge()
        return data

    def peek(self, size: int = 0) -> bytes:
        return self._call(self.inner.peek, size)  # type: ignore[no-any-return]

    def tell(self) -> int:
        return int(self.inner.tell())

    def close(self) -> None:
        if not self.closed:
            with suppress(DecompressionBomb):  # (said by the read that passed it)
                self._charge(closing=True)
        self.inner.close()
        if self.owned is not None:  # the file under it (open_decompressed)
            self.owned.close()
        super().close()


class EndAtDamage:
    """A file whose read error (EOFError, OSError: compressed data cut short or
    damaged) is an end of data, kept in ``damage``: a JSON parser then meets a
    truncated document, as in a plain file cut short, and reads every item
    before the damage (a Telegram export's error escaped as a traceback; a JSON
    document's items in the read that met the end were lost: found by
    fuzzing). Reads with ``read1`` where it has one: ``read`` loses what it
    decompressed in the call that meets the end."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.damage: Exception | None = None

    def read(self, size: int = -1) -> bytes:
        if self.damage is not None:
            return b""
        try:
            return bytes(self.f.read1(size) if hasattr(self.f, "read1") else self.f.read(size))
        except (EOFError, OSError) as e:
            self.damage = e
            return b""


def compression(head: bytes) -> str:
    """The compression suffix (``.gz``…) that the first bytes of a file show, or "".

    bzip2's three-letter magic (``BZh``) could begin a text file, so its level
    digit and the block (or end-of-stream) magic after it are checked too."""
    for magic, sfx in MAGIC:
        if head.startswith(magic):
            if sfx == ".bz2" and not (head[3:4].isdigit() and head[3:4] != b"0"
                                      and head[4:10] in _BZ2_BLOCKS):
                continue
            return sfx
    return ""


def _decompressing(path: Path, raw: IO[bytes], budget: Budget | None = None,
                   key: Any = "data", member: str | None = None) -> Any:
    """``raw`` decompressed by its name's suffix or, where the name does not say
    (a ``.jsonl`` that is gzip inside: a download saved under the wrong name,
    ``gzip -c x.jsonl > y.jsonl``), by its first bytes. What it unpacks to is
    bounded by ``budget`` (by default the file's own: ``file_budget``)."""
    sfx = path.suffix.lower()
    if sfx not in COMPRESSED:
        peek = getattr(raw, "peek", None)
        try:
            sfx = compression(peek(MAGIC_BYTES)[:MAGIC_BYTES]) if peek is not None else ""
        except (OSError, ValueError, EOFError):  # (EOFError: a member of a cut .tar.gz)
            sfx = ""  # unreadable: the first read says so
    if sfx == ".gz":
        inner: Any = gzip.GzipFile(fileobj=raw, mode="rb")
    elif sfx == ".bz2":
        inner = bz2.BZ2File(raw, "rb")
    elif sfx == ".xz":
        inner = lzma.LZMAFile(raw, "rb")  # noqa: SIM115 - returned, the caller closes it
    elif sfx == ".zst":  # a plain stream: buffered here for readline and peek
        inner = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(  # type: ignore[arg-type]
            raw, read_across_frames=True), 1 << 16)
    else:
        return raw
    return _Damaged(inner, budget or file_budget(str(path), raw), key, member)


# Compressed input without a telling name (a pipe, a misnamed file) is told by
# its first bytes.
MAGIC = ((b"\x1f\x8b", ".gz"), (b"BZh", ".bz2"), (b"\xfd7zXZ\x00", ".xz"),
         (b"\x28\xb5\x2f\xfd", ".zst"))
_BZ2_BLOCKS = (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")  # pi, sqrt(pi)
MAGIC_BYTES = 10  # enough of a file's start for ``compression``
STREAM_PATH = Path("-")  # how parsers and reports name standard input
REPLAY_LIMIT = 8 * 2**20  # bytes of a stream's start kept for a parser to read again
IDLE_SECONDS = 0.5  # a pipe quiet this long: what has arrived is written (Stream.on_idle)


class Stream:
    """Input that can be read only once, front to back: standard input, a pipe
    (``twarc2 stream | rasd ingest -``). Parsers see it as the path ``-``.

    Formats are told from the first bytes, and some parsers read a file twice
    (a sample, then the whole): the first ``REPLAY_LIMIT`` bytes are kept, so
    a parser may start again as long as nothing beyond them has been read;
    later, a second read is an ``IngestError``. Compression is told by magic
    bytes. Where the source is a pipe (it has a file descriptor), a read that
    would wait calls ``on_idle`` once no data has come for ``IDLE_SECONDS``,
    so that the records read so far can be written while the pipe is quiet
    (``rasd.ingest.pipeline``) instead of waiting for a full batch that may
    take hours to arrive.
    """

    def __init__(self, source: IO[bytes] | int, name: str = "standard input",
                 path: Path = STREAM_PATH, reopen: Any = None, size: int = 0,
                 origin: str = "-", source_name: str = "stdin",
                 owns_source: bool = False) -> None:
        self.name = name
        self.path = path  # what parsers, reports and rejects call it
        self.size = size  # bytes, where known (progress)
        self.origin = origin  # what ingest_files records ("-" is never run again)
        self.source = source_name  # the default source (collection) name
        self.media_root: MediaRoot | None = None  # where media it names lie (archive members)
        # reopen: a function giving a fresh reader from the first byte (a member of
        # an archive). Openings replay what is kept and go on reading the first
        # reader, as for a pipe (a member of a compressed tar archive is reached by
        # decompressing the archive up to it: each opening cost that again, four
        # or five a member); reopen serves an opening that the kept bytes cannot
        # (a second pass past them), one after the first reader raised, and a
        # forked parsing process (the first reader's file offset is shared with
        # its parent)
        self.reopen = reopen
        # owns_source: ``close`` closes the source reader (an archive member's first
        # reader, made for this stream); standard input and a pipe are the caller's
        self.owns_source = owns_source
        self.closed = False
        self.pid = os.getpid()
        self.failed = False  # reading the source raised
        self.fd: int | None = source if isinstance(source, int) else None
        # the file object read from (None where the source is a file descriptor)
        self.reader = None if isinstance(source, int) else source
        self.kept = bytearray()  # the first bytes read, for readers that start again
        self.spilled = False  # more than REPLAY_LIMIT has been read
        self.consumed = 0  # bytes read from the source
        self.eof = False
        self.on_idle: Any = None  # called (no arguments) when a pipe has been quiet
        # what a reading's decompressor met: compressed data cut short or damaged
        # (said where a parser must start again past what is kept)
        self.damage: Exception | None = None
        self.suffix = ""
        # what its decompressed readings may unpack to, together (decompression
        # bombs): its size where known, else what has been read of it so far; an
        # archive member shares its archive's (``member_stream``)
        self.budget = Budget(name, lambda: max(self.size, self.consumed))
        self.budget_key: Any = "data"
        self.budget_member: str | None = None
        head = bytearray()
        while len(head) < MAGIC_BYTES and not self.eof:
            piece = self._read_source(MAGIC_BYTES - len(head))
            head += piece
        self.suffix = compression(bytes(head))

    def _read_source(self, n: int) -> bytes:
        if self.eof:
            return b""
        if self.fd is not None:
            import select

            if self.on_idle is not None and not select.select([self.fd], [], [], 0)[0] \
                    and not select.select([self.fd], [], [], IDLE_SECONDS)[0]:
                self.on_idle()
            data = os.read(self.fd, n)
        else:
            reader = getattr(self.reader, "read1", None) or self.reader.read  # type: ignore[union-attr]
            try:
                data = reader(n)
            except (OSError, EOFError):
                # a damaged member: a reader after it may get only its end, not
                # the error again; later openings start afresh, and meet it
                self.failed = True
                raise
        if not data:
            self.eof = True
            return b""
        self.consumed += len(data)
        if not self.spilled:
            if len(self.kept) + len(data) <= REPLAY_LIMIT:
                self.kept += data
            else:
                self.spilled = True
                self.kept = bytearray()
        return bytes(data)

    def close(self) -> None:
        """Done with the stream: its kept first bytes are let go and, where it
        owns its source (``member_stream``), the source reader is closed now.
        Left to the garbage collector, an archive member's first reader stayed
        open as long as anything still referred to the stream (the last file's
        reader stays in ``CURRENT_RAW`` until the next one), and with it, in a
        ZIP archive, the archive's file descriptor, even once the archive itself
        was closed (``zipfile`` counts its open members), and up to
        ``REPLAY_LIMIT`` bytes of its start."""
        if self.closed:
            return
        self.closed = True
        self.kept = bytearray()
        if self.owns_source and self.reader is not None:
            self.reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> IO[bytes]:
        """A reader from the first byte (decompressed where the stream is)."""
        if self.closed:
            raise ValueError(f"{self.name}: the stream is closed")
        if self.reopen is not None and (self.spilled or self.failed
                                        or os.getpid() != self.pid):
            fresh = self.reopen()
            CURRENT_RAW.set(fresh)
            return _decompressing(Path("-" + self.suffix), fresh,  # type: ignore[no-any-return]
                                  self.budget, self.budget_key, self.budget_member)
        if self.spilled:
            if isinstance(self.damage, DecompressionBomb):  # no cut data: said as it is
                raise IngestError(
                    f"{self.name}: decompression limit reached in its first reading, "
                    f"which a second one would reach again: {self.damage}")
            if self.damage is not None:
                # a parser starting again after a reading met the cut (a JSON
                # document cut in its first item, tried again as JSON Lines; a
                # Telegram export's careful pass): the error named only the second
                # reading, which hid that the data is cut; the same file gives
                # every whole record before the cut and one reject
                raise IngestError(
                    f"{self.name} ends unexpectedly: its compressed data is cut short or "
                    f"damaged after {self.consumed / 2**20:.1f} MB ({self.damage}); finding "
                    "what it holds whole needs a second reading, which a stream cannot "
                    f"have past its first {REPLAY_LIMIT / 2**20:g} MB: save it to a file "
                    "and ingest that to keep every whole record before the cut")
            raise IngestError(f"{self.name} cannot be read a second time past its first "
                              f"{REPLAY_LIMIT / 2**20:g} MB; save it to a file and ingest that")
        raw = io.BufferedReader(_Replay(self), 1 << 16)
        CURRENT_RAW.set(raw)
        opened = _decompressing(Path("-" + self.suffix), raw, self.budget, self.budget_key,
                                self.budget_member)
        if isinstance(opened, _Damaged):
            opened.on_damage = self._damaged
        return opened  # type: ignore[no-any-return]

    def _damaged(self, e: Exception) -> None:
        self.damage = e


class _Replay(io.RawIOBase):
    """One reading of a ``Stream``: its kept first bytes, then the source."""

    def __init__(self, stream: Stream) -> None:
        self.stream, self.pos = stream, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        s = self.stream
        if self.pos < s.consumed:
            if s.spilled:
                raise OSError(f"{s.name} was read past this reader by another one")
            data = bytes(s.kept[self.pos:self.pos + len(b)])
        else:
            data = s._read_source(len(b))
        b[:len(data)] = data
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos


_current_stream: list[Stream | None] = [None]  # seen by threads and forked children too


def current_stream() -> Stream | None:
    """The stream that ``-`` names now (``reading``), if any."""
    return _current_stream[0]


@contextmanager
def reading(stream: Stream) -> Iterator[Path]:
    """Let parsers read ``stream`` as its path (``-``) for the duration."""
    old = _current_stream[0]
    _current_stream[0] = stream
    try:
        yield stream.path
    finally:
        _current_stream[0] = old


def is_stream(path: Path) -> bool:
    """Whether ``path`` names the stream being ingested (``-``, or a member of
    an archive: ``rasd.ingest.archive``)."""
    s = _current_stream[0]
    return s is not None and path == s.path


ARCHIVE_SEP = "!/"  # archive path + ARCHIVE_SEP + member name, as Java and GDAL name members


class OutsideExport(ValueError):
    """A media path of an export that points outside the export's folder
    (``../../etc/passwd``): never looked at. The message is kept; its media
    record says the path was refused."""


class MediaRoot(NamedTuple):
    """Where the media files a chat export names lie: the export's folder on
    disk, or its folder inside a ZIP archive (then a file's local path is
    ``/abs/archive.zip!/ChatExport/photos/p.jpg``, which the media stage reads
    from the archive: nothing is extracted at ingest)."""

    folder: Path | None = None
    archive: str | None = None  # an archive's absolute path, and
    inner: str = ""  # the export's folder inside it ("" at its top)
    # the archive's members by their name with "/" separators (Windows tools such
    # as PowerShell's Compress-Archive write "\\"), to the name as stored; None: not checked
    names: dict[str, str] | None = None

    def local(self, rel: str, field: str) -> str | None:
        """The local path of ``rel`` (as the export names a file); None where
        no such file is there (an export copied without its media folders). A
        path outside the export's folder is ``OutsideExport`` naming ``field``."""
        outside = OutsideExport(f"field {field!r}: path points outside the export folder")
        if "\x00" in rel:  # no file name holds one (and PostgreSQL stores none)
            raise ValueError(f"field {field!r}: a NUL byte in a file path")
        if self.archive is None:
            assert self.folder is not None
            p = (self.folder / rel).resolve()
            if not p.is_relative_to(self.folder):
                raise outside
            try:
                # a folder named in bytes that are not UTF-8 is written \xNN (it can
                # be stored; the media detectors turn it back: resolve_local)
                return path_text(p) if p.is_file() else None
            except OSError:  # a name too long for the file system: no such file
                return None
        name = posixpath.normpath(posixpath.join(self.inner, rel))
        if name.startswith(("/", "../")) or name == ".." or (
                self.inner and not name.startswith(self.inner + "/")):
            raise outside
        if self.names is not None:
            stored = self.names.get(name)
            if stored is None:
                return None
            name = stored
        return path_text(f"{self.archive}{ARCHIVE_SEP}{name}")


def kept_local(base: MediaRoot, rel: str, field: str, extra: dict[str, Any]) -> str | None:
    """``base.local(rel, field)``, where a path leading out of the export is
    never looked at and its message kept: ``extra`` then says the path was
    refused (the message is evidence; it was rejected whole)."""
    try:
        return base.local(rel, field)
    except OutsideExport:
        extra["path_refused"] = "points outside the export folder"
        return None


def media_root(path: Path) -> MediaRoot | None:
    """Where the media of the export read from ``path`` lie; None for a pipe
    (nothing beside it)."""
    if is_stream(path):
        return _current_stream[0].media_root  # type: ignore[union-attr]
    return MediaRoot(folder=path.parent.resolve())


def open_binary(path: Path, *, transcode: bool = True) -> IO[bytes]:
    """Open a file for reading, decompressing ``.gz``, ``.bz2``, ``.xz`` and
    ``.zst`` transparently; ``-`` is the stream being ingested (``Stream``).

    What is read is UTF-8 without a byte-order mark: UTF-16 (what Windows
    PowerShell 5 writes with ``>``, and Notepad's "Unicode") is transcoded
    (``utf16_order``), unless ``transcode`` is false (a reader that decodes
    text itself, CSV)."""
    stream = _current_stream[0]
    if stream is not None and path == stream.path:
        f: Any = stream.open()
    else:
        # (a buffer of CR_PEEK: cr_lines sees that much of a plain file unwrapped)
        raw = open(path, "rb", buffering=CR_PEEK)  # noqa: SIM115 - closed with the stream
        CURRENT_RAW.set(raw)
        f = _decompressing(path, raw)
    try:  # a UTF-8 byte-order mark (Windows tools write one) is not part of the data
        head = f.peek(UTF16_HEAD)[:UTF16_HEAD]
        if head[:3] == BOM:
            f.read(3)
        elif transcode and (order := utf16_order(head)):
            if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
                f.read(2)
            return io.BufferedReader(_FromUTF16(f, order), 1 << 16)  # type: ignore[arg-type]
    except (OSError, EOFError):
        pass  # unreadable: the first read says so
    return f  # type: ignore[no-any-return]


def open_decompressed(path: Path) -> IO[bytes]:
    """The file ``path`` decompressed as ``open_binary`` decompresses it (by
    its suffix, ``.gz``, ``.bz2``, ``.xz``, ``.zst``, or its first bytes),
    bounded as it bounds it (``file_budget``: past its budget a read raises
    ``DecompressionBomb``), without its byte-order-mark and UTF-16 handling:
    for readers of user-supplied files outside the ingest (the text corpora of
    ``rasd train``/``eval``/``classify``, ``rasd.detect.text.io``). Closing it
    closes the file."""
    raw = open(path, "rb")  # noqa: SIM115 - closed with what is returned
    try:
        f = _decompressing(path, raw)
    except BaseException:
        raw.close()
        raise
    if isinstance(f, _Damaged):
        f.owned = raw
    return f  # type: ignore[no-any-return]


UTF16_HEAD = 32  # bytes looked at for UTF-16 without a byte-order mark

# Telegram Desktop names an export's folder after the day it was made
# (ChatExport_2024-05-10, DataExport_2024-05-10, " (2)" for a second that day)
EXPORT_FOLDER = re.compile(r"(?:ChatExport|DataExport)_(\d{4})-(\d{2})-(\d{2})(?: \(\d+\))?"
                           r"(?=$|[/\\!.])")


def export_day(path: Path | str) -> datetime | None:
    """The day a Telegram Desktop export was made, read from the name of its
    folder (or of the archive it travels in): the only time an export records
    of itself. None where no folder is so named (renamed, or standard input).
    A copy from an export is collected no earlier than that day's start."""
    found = list(EXPORT_FOLDER.finditer(str(path)))
    if not found:
        return None
    y, m, d = (int(x) for x in found[-1].groups())
    try:
        return datetime(y, m, d, tzinfo=UTC)
    except ValueError:
        return None


def latest(*times: datetime | None) -> datetime | None:
    """The latest of ``times`` (UTC-aware), None where none is known."""
    known = [t for t in times if t is not None]
    return max(known) if known else None


def utf16_order(head: bytes) -> str | None:
    """``utf-16-le`` or ``utf-16-be`` where a file's first bytes show UTF-16:
    a byte-order mark, or JSON without one: ``{`` or ``[`` with a NUL byte
    beside it and beside the next character, and at least half the characters
    of the first ``UTF16_HEAD`` bytes so (JSON starts with ASCII: brackets,
    quotes, keys). A UTF-8 file whose first line is damaged to ``{\0"\0`` is
    not taken for UTF-16 (its other lines were lost); None otherwise (a
    UTF-32 mark too)."""
    if head[:2] == b"\xfe\xff":
        return "utf-16-be"
    if head[:2] == b"\xff\xfe":
        return None if head[2:4] == b"\x00\x00" else "utf-16-le"
    if len(head) < 4:
        return None
    units = len(head) // 2
    for order, hi, lo in (("utf-16-le", 1, 0), ("utf-16-be", 0, 1)):
        if head[hi] == 0 == head[hi + 2] and head[lo:lo + 1] in (b"{", b"[") and head[lo + 2]:
            ascii_units = sum(1 for i in range(units) if head[2 * i + hi] == 0
                              and head[2 * i + lo])
            if 2 * ascii_units >= units:
                return order
    return None


class Converted(io.RawIOBase):
    """A binary file read through a conversion of its bytes, a read at a time
    (``convert``: one read's bytes, ``b""`` at the end, to what is handed out), in
    bounded memory; closing it closes the file under it. For parsers that read
    bytes, where the file's own bytes are not what they should read."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.read1_ = getattr(f, "read1", None) or f.read
        self.out = b""
        self.done = False

    def convert(self, chunk: bytes) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.out and not self.done:
            chunk = self.read1_(1 << 16)
            self.done = not chunk
            self.out = self.convert(chunk)
        n = min(len(b), len(self.out))
        b[:n] = self.out[:n]
        self.out = self.out[n:]
        return n

    def close(self) -> None:
        self.f.close()
        super().close()


class _FromUTF16(Converted):
    """UTF-16 read as UTF-8, for parsers that read bytes. Line numbers stay the
    same; the raw records kept are this UTF-8. A lone surrogate becomes bytes
    that are not UTF-8 (the record holding it is rejected as invalid UTF-8, as
    a damaged byte of a UTF-8 file is), and so does an odd last byte."""

    def __init__(self, f: Any, order: str) -> None:
        super().__init__(f)
        self.decoder = codecs.getincrementaldecoder(order)("surrogatepass")

    def convert(self, chunk: bytes) -> bytes:
        try:
            return self.decoder.decode(chunk, final=not chunk).encode("utf-8", "surrogatepass")
        except UnicodeDecodeError:  # an odd byte at the end: a truncated file
            self.done = True
            return b"\xff"


CR_PEEK = 1 << 16  # bytes of a file's start ``cr_lines`` looks at


def peekable(f: Any, n: int = CR_PEEK) -> Any:
    """``f``, or ``f`` read through a buffer that can show its first ``n``
    bytes (``cr_lines``), where ``f.peek`` shows fewer and no line break yet.
    ``peek`` gives at most one buffer: 4 KiB of a plain file (its block size),
    8 KiB of a decompressed one. A file of CR-ended lines whose first line was
    longer was read as one line, and a damaged first record lost every record
    after it (found by fuzzing: a NUL byte in the first of three 10 KiB
    tweets). Files whose head shows an LF are returned as they are."""
    try:
        head = f.peek(n)
    except (OSError, EOFError, AttributeError, ValueError):
        return f
    if len(head) >= n or b"\n" in head or not head:
        return f
    return io.BufferedReader(f, n)


def cr_lines(f: Any, *, lf_in_records: bool = False) -> bool:
    """Whether a file's lines end with a lone CR (classic Mac OS, and Excel for
    Mac's "CSV" until 2016): in what can be peeked, the first line break is a
    CR not followed by LF — or, where a record never holds a raw LF but may hold
    a lone CR (JSON takes it as whitespace), a lone CR and no LF at all
    (``lf_in_records=False``: a record of LF-ended JSON lines with a CR inside
    was split there, and lost, when that CR came before the first LF), and
    one that parts two JSON values (``}`` CR ``{``, ``1`` CR ``2``: a record
    longer than the peek may hold a lone CR and no LF, as whitespace, but
    never between two values) or follows a first line
    that cannot be the start of such a record (``_cr_after_a_line``: a file
    whose first lines are scalars or broken was one line). CSV
    passes ``lf_in_records=True``: a quoted field may hold an LF in a file of
    CR-ended rows. Such a file is one long line to a reader that ends lines at
    LF only (JSON Lines reads it through a CR→LF filter, CSV as text, which
    ends lines at CR too). ``f`` shows what it can peek: pass it through
    ``peekable`` first. Where the peek shows no LF and says no (a first line
    longer than the peek), JSON Lines tells the line ends further on, as it
    reads (``jsonitems._first_lines``)."""
    try:
        head = f.peek(CR_PEEK)
    except (OSError, EOFError, AttributeError):
        return False
    cr, lf = head.find(b"\r"), head.find(b"\n")
    if cr < 0 or head[cr + 1:cr + 2] == b"\n":
        return False
    if lf_in_records:
        return lf < 0 or cr < lf
    # JSON: a CR ends a line only where it parts two values (a record longer
    # than the peek may hold a lone CR as whitespace and no LF yet)
    if lf >= 0:
        return False
    return _CR_PARTS_VALUES.search(head) is not None or _cr_after_a_line(head)


# the end of a value (``}``, ``]``, a string's quote, a number's digit, the
# ``e`` or ``l`` of true, false, null), a lone CR, then the start of one (``{``,
# ``[``, a quote, a digit or minus, the ``t``, ``f`` or ``n`` of true, false,
# null): never inside one valid JSON text (a comma or colon parts two values
# there; a string holds no raw CR). Scalars too: a JSON start followed by
# lines of scalars only was one line (``{"a": [`` CR ``1`` CR ``2``)
_CR_PARTS_VALUES = re.compile(rb'[}\]"0-9el][ \t]*\r(?!\n)[ \t\r]*[{\["0-9tfn-]')
_LONE_CR = re.compile(rb"\r(?!\n)")


def _cr_after_a_line(head: bytes) -> bool:
    """Whether the lone CRs of ``head`` (JSON with no LF) end lines, told by
    the text before them where no CR parts two values (``_CR_PARTS_VALUES``;
    a line of a scalar, or broken ones): the first line is a whole JSON value;
    or it is not even the start of one (broken) and a later whole line is. A
    first line that may be the start of a record longer than the peek, a lone
    CR inside it as whitespace, says nothing: a part of such a record between
    two CRs may be a whole value (``{"a":\\r1\\r}``), its start never is.
    A first line is judged a start by its first ``CR_PEEK`` bytes (the careful
    lexer reads ~0.1-1 MB/s; of a whole file read to its end, it may be longer):
    where they are one, it may be — unless the whole line is a value with more
    than whitespace after it (``_value_then_more``: junk after a record's end)."""
    first = True
    for m in _LINE.finditer(head):  # (one at a time: the head may be a whole file)
        if m.end() == len(head):  # the last: cut
            break
        x = m.group()
        if not x.strip(b" \t\r"):
            continue
        if whole_json(x):
            return True
        if first and _json_start(x[:CR_PEEK]) and not (len(x) > CR_PEEK and _value_then_more(x)):
            return False
        first = False
    return False


# asked only where a value ends: integers are not converted (int() refuses one of
# over 4,300 digits, valid JSON; such lines were then "no JSON")
_DECODER = json.JSONDecoder(parse_int=len)


def _value_then_more(data: bytes) -> bool:
    """Whether ``data`` is a whole JSON value with more than whitespace after
    it: no start of one, however long (told by the C scanner, at its speed,
    where ``_json_start`` reads only the first ``CR_PEEK`` bytes). A first
    line over the peek, whole but for junk after its end (a BOM, a NUL),
    counted as a record cut short: the lone-CR lines after it were one line,
    lost with it."""
    text = data.decode("utf-8", "surrogateescape")
    try:
        _, end = _DECODER.raw_decode(text, len(text) - len(text.lstrip(" \t\r\n")))
    except (ValueError, RecursionError):
        return False
    return bool(text[end:].strip(" \t\r\n"))


_LINE = re.compile(rb"(?:[^\r]+|\r\n)+")  # a line that a lone CR ends (or the end)


def whole_json(data: bytes) -> bool:
    """Whether ``data`` is one whole JSON value (a line of JSON Lines)."""
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def _json_start(data: bytes) -> bool:
    """Whether ``data`` is the start of a JSON value, cut short. Bytes that
    are no UTF-8 text inside a string do not say otherwise (the value is
    still one, rejected when read whole); outside a string they do (no JSON
    text holds them there: broken)."""
    from ijson.common import IncompleteJSONError, JSONError

    from rasd.ingest import jsonlex

    try:
        for _ in jsonlex.basic_parse(io.BytesIO(data)):
            pass
    except jsonlex.InvalidUTF8Outside:
        # (ijson's own decoder raised IncompleteJSONError of a UnicodeDecodeError
        # for such bytes, anywhere, which this told apart; the careful lexer
        # decodes with surrogateescape, never raising that)
        return False
    except IncompleteJSONError:
        return True
    except (JSONError, ValueError, RecursionError):
        return False
    return False


def inner_suffix(path: Path) -> str:
    """``.csv`` for ``x.csv.gz`` (or ``.bz2``, ``.xz``, ``.zst``); the suffix that
    tells the format."""
    sfx = path.suffixes
    if sfx and sfx[-1].lower() in COMPRESSED and len(sfx) > 1:
        return sfx[-2].lower()
    return path.suffix.lower()


class _Enough(Exception):
    pass


def read_sample(path: Path, n: int = SNIFF) -> bytes:
    """The first ``n`` bytes (decompressed); of a stream, fewer once it has
    given at least one whole line and then gone quiet (a slow pipe)."""
    return _read_head(path, n)[0]


def _read_head(path: Path, n: int = SNIFF) -> tuple[bytes, bool]:
    """``read_sample``, and whether the data ended early: compressed data cut
    short (a truncated .gz), or a read error after some bytes."""
    buf = bytearray()
    cut = False
    stream = current_stream() if is_stream(path) else None
    if stream is not None:
        def enough() -> None:
            if b"\n" in buf:
                raise _Enough
        old, stream.on_idle = stream.on_idle, enough
    try:
        f = open_binary(path)
    except BaseException:
        if stream is not None:
            stream.on_idle = old
        raise
    with f:
        try:
            # read1: what a cut .gz gave before its end is kept (read() loses
            # a call's part when the end comes in the middle of it)
            while len(buf) < n:
                piece = f.read1(min(4096, n - len(buf)))
                if not piece:
                    break
                buf += piece
        except _Enough:
            pass
        except EOFError as e:  # a truncated .gz: judge by what could be read
            if not buf:
                raise IngestError(f"{path}: the compressed file ends before any data "
                                  "(truncated?)") from e
            cut = True
        except OSError as e:
            if not buf:
                raise IngestError(f"{path}: cannot read: {e}") from e
            cut = True
        finally:
            if stream is not None:
                stream.on_idle = old
    return bytes(buf), cut


def iter_lines(f: Any, limit: int = MAX_LINE,
               ends: tuple[Any, ...] = (b"\n",), start: int = 0) -> Iterator[tuple[int, Any]]:
    """Yield (1-based line number, line) with bounded memory, from a binary file
    (or a text one, with ``ends=("\\n", "\\r")``); the first line read is
    number ``start + 1`` (``start`` lines were read before).

    A line over ``limit`` bytes (characters) yields ``None`` (the caller rejects
    it) and is passed over without being held in memory.
    """
    n = start
    while True:
        line = f.readline(limit + 1)
        if not line:
            return
        n += 1
        if len(line) > limit and not line.endswith(ends):
            while True:  # drain the rest of the oversized line
                more = f.readline(limit)
                if not more or more.endswith(ends):
                    break
            yield n, None
            continue
        yield n, line


def strip_surrogates(obj: Any) -> Any:
    """``obj`` with every lone surrogate in its strings (keys too) made "?"."""
    return map_leaves(obj, lambda v: _safe(v) if isinstance(v, str) else v)


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
            obj = parse_json(text)
        except JSONInputError as je:  # orjson's message for syntax, the stdlib's for the rest
            raise ValueError(f"invalid JSON: {e}" if str(je).startswith("invalid JSON")
                             else str(je)) from None
        try:
            return strip_surrogates(obj)
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
    if isinstance(value, float):  # what orjson makes of an integer past 64 bits, too
        raise TypeError(f"field {field!r}: expected an id, got the number {value!r}" + (
            " (an integer past 64 bits, which is read rounded: an id that long must be "
            "a string)" if math.isfinite(value) and abs(value) >= 2**63 else ""))
    if not isinstance(value, str):
        raise TypeError(f"field {field!r}: expected an id, got {type(value).__name__}")
    # which of the two it is: "over 190 characters, or a control character" left
    # the analyst to find out, in a CSV line of a 304-character "username"
    if len(value) > 190:
        raise ValueError(f"field {field!r}: not a valid id ({len(value):,} characters; "
                         "an id has at most 190)")
    if bad := CONTROL.search(value):
        raise ValueError(f"field {field!r}: not a valid id (a control character, "
                         f"U+{ord(bad.group()[0]):04X}, at character {bad.start() + 1})")
    return value


# A count written with thousands grouped as European locales write them: a count
# is a whole number, so "1.234" is 1234, not 1 (a dot, a space, a no-break space,
# a narrow no-break space or an apostrophe between groups of three digits).
THOUSANDS = re.compile("\\d{1,3}(?:[. \u00a0\u202f']\\d{3})+")
# C0 and C1 control characters and DEL: in no platform's ids (an id "9\x1b]0;…" went
# into waiting links and out of `rasd links --ids` to twarc2 hydrate)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain_json(value: Any, field: str, *, depth: int = 6, items: int = 2000) -> Any:
    """``value`` (taken from input to be stored as it is: X's ``withheld``, a
    profile's flags, a service message's members) if it nests at most ``depth``
    levels, holds at most ``items`` values and no integer beyond 64 bits (JSON
    stores and hashing refuse those); else ValueError, so that the record is
    rejected. Hashing and storing JSON stop at 254 levels (orjson):
    a field nested deeper stopped an ingest with "Recursion limit reached"."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        count += 1
        if d > depth or count > items:
            raise ValueError(f"field {field!r}: nested too deeply or too large to keep")
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
        elif isinstance(v, str) and "\x00" in v:
            raise ValueError(f"field {field!r}: a NUL byte")
        elif type(v) is int and not -(2**63) <= v < 2**63:
            raise ValueError(f"field {field!r}: an integer beyond 64 bits")
    return value


def message_id(chat: str, mid: str) -> str:
    """A Telegram post's id, ``<chat>/<message>``; both parts are ids already,
    but together they must still fit the store's 200 characters."""
    pid = f"{chat}/{mid}"
    if len(pid) > 200:
        raise ValueError("field 'id': the message's id with its chat's is over 200 characters")
    return pid


def opt_int(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError(f"field {field!r}: expected an integer, got bool")
    if isinstance(value, int):
        return value if -(2**62) < value < 2**62 else None
    if isinstance(value, float):
        return int(value) if abs(value) < 2**62 else None  # NaN, inf: False
    if isinstance(value, str):
        text = value.replace(",", "").strip()
        if THOUSANDS.fullmatch(text):  # "1.234", "1 234", "1'234": a count, grouped
            text = re.sub(r"\D", "", text)
        try:
            n = int(text)  # exact, and bounded: Python refuses over 4,300 digits
        except ValueError:
            try:
                return opt_int(float(text), field)  # "1.5e3"; "1e400" is inf: None
            except ValueError:
                raise TypeError(f"field {field!r}: not a number: {value[:40]!r}") from None
        return n if -(2**62) < n < 2**62 else None
    raise TypeError(f"field {field!r}: expected an integer, got {type(value).__name__}")


def millis(seconds: float | None, field: str) -> int | None:
    """A duration in ``seconds`` as milliseconds, None where there is none or
    it does not fit the store's 64-bit column (``opt_int``'s 62 bits). Found by
    the h10 fuzz campaign: a Telethon video's ``duration`` of 1e308 raised
    OverflowError (``int(inf)``) out of the parser, and a Desktop export's
    ``duration_seconds`` of 2**61 passed ``opt_int`` but not its x1000 into
    SQLite or PostgreSQL: either stopped the whole ingest."""
    if seconds is None:
        return None
    return opt_int(seconds * 1000, field)


def bounded_ints(value: Any) -> Any:
    """``value`` with every integer past 62 bits inside it made None: the
    writer's last guard for what a parser copied from input into a record's
    JSON fields (JSON stores and hashing refuse integers past 64 bits)."""
    return map_leaves(value, lambda v: v if type(v) is not int or -(2**62) < v < 2**62
                      else None)


def clean_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """A record's counters (views, likes …) as the store keeps them: integers
    within 62 bits. Parsers copy counters from input, where an adversary may
    write any number (the stdlib JSON parser, ijson's careful pass and sums of
    reactions give integers of any size, which stopped a whole ingest when the
    record was hashed); one out of range is dropped, as ``opt_int`` drops it.
    Called where hashing a record failed on such a number (``writer._hashed``)."""
    return {k: v for k, v in metrics.items() if type(v) is int and -(2**62) < v < 2**62}


NUMBER = re.compile(r"^\d{1,12}\.\d{1,9}$")


def _degrees(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def make_contact(first: Any, last: Any, phone: Any, user_id: str | None = None
                 ) -> dict[str, Any] | None:
    """A contact card a post shares, as every format stores it in
    ``posts.extra["contact"]``: ``{"name", "phone", "user_id"}``. A number
    posted for "brothers who want to help" is as much the post's as one in its
    text (detectors read it after the text: ``rasd.model.attached_text``)."""
    name = " ".join(x.strip() for x in (first, last) if isinstance(x, str) and x.strip())
    out = {k: v for k, v in (("name", name[:300]), ("phone", opt_str(phone, "phone", 64)),
                             ("user_id", user_id)) if v}
    return out if ("name" in out or "phone" in out) else None


def make_geo(lat: Any, lon: Any, *, name: Any = None, address: Any = None,
             live_seconds: Any = None) -> dict[str, Any] | None:
    """A shared location as every format stores it in ``posts.extra["geo"]``
    (X's shape): ``{"coordinates": [longitude, latitude], "place": {"full_name",
    "address"}, "live_seconds"}``. A channel posting coordinates or a venue is
    evidence (a target, a meeting point). None when the point is not a point
    on Earth and there is no place name either."""
    la, lo = _degrees(lat), _degrees(lon)
    geo: dict[str, Any] = {}
    if la is not None and lo is not None and -90 <= la <= 90 and -180 <= lo <= 180:
        geo["coordinates"] = [lo, la]
    place = {k: v[:300] for k, v in (("full_name", name), ("address", address))
             if isinstance(v, str) and v.strip()}
    if place:
        geo["place"] = place
    if not geo:
        return None
    if type(live_seconds) is int and 0 < live_seconds < 2**62:
        geo["live_seconds"] = live_seconds
    return geo


def check_platform(name: Any, where: str) -> str:
    """A platform name (``x``, ``telegram``, ``forum-a``): lower case, at most
    32 characters, what the store's platform columns hold."""
    if not isinstance(name, str) or not PLATFORM_NAME.match(name):
        raise IngestError(f"{where}: platform must be a short lower-case name such as "
                          f"'x', 'telegram' or 'forum-a', not {str(name)[:40]!r}")
    return name


MAX_POLL_OPTIONS = 20  # X allows 4, Telegram 12


def make_poll(question: Any, options: Any, field: str, *, closed: Any = None,
              total_voters: Any = None) -> dict[str, Any] | None:
    """A poll as every format stores it in ``posts.extra["poll"]``:
    ``{"question", "options": [{"text", "votes"}], "closed", "total_voters"}``.
    Polls are content ("which target next?"): their words are the post's as much
    as its text. ``options`` is a list of (text, votes) pairs; strings are
    bounded, at most ``MAX_POLL_OPTIONS`` options are kept. None when there is
    neither a question nor an option."""
    q = opt_str(question, f"{field}.question", 1000)
    opts = []
    for i, (text, votes) in enumerate(options[:MAX_POLL_OPTIONS]):
        t = opt_str(text, f"{field}.options[{i}].text", 500)
        if t is not None:
            opts.append({"text": t, "votes": opt_int(votes, f"{field}.options[{i}].votes")})
    if q is None and not opts:
        return None
    return {"question": q, "options": opts,
            "closed": closed if isinstance(closed, bool) else None,
            "total_voters": opt_int(total_voters, f"{field}.total_voters")}


def parse_time(value: Any, field: str) -> datetime | None:
    """ISO 8601 (X v2, Telegram, CSV), X v1.1 ``Wed Oct 10 20:19:24 +0000 2018``,
    or a unix timestamp. Naive times are taken as UTC."""
    if type(value) is str and (value[-1:] == "Z" or (
            value[-6:] == "+00:00" and "Z" not in value)):
        # X's own form ("2024-03-11T12:34:00.000Z"), or UTC written as an
        # offset (Telethon's "2024-03-01 10:00:00+00:00"), read whole by
        # fromisoformat (Python 3.11+): what ``_any_time`` gives for it, in a
        # third of the work; anything else goes that way (a "Z" in an offset
        # form: fromisoformat reads one as the date's separator, that way does
        # not; where the form ends in "Z" too, as before: "2024-01-01Z10:00Z"
        # is read, though the general way refuses it)
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if dt.tzinfo is UTC:
                return dt
    elif type(value) is str and len(value) == 30 and value[19:26] == " +0000 ":
        # X v1.1's own form in UTC ("Wed Oct 10 20:19:24 +0000 2018": X's web
        # app, v1.1, Zeeschuimer), read by a regular expression: what strptime
        # gives for it, in a tenth of the work; anything else (another zone,
        # one-digit fields, a day the month lacks) goes the general way
        m = _V1_UTC.fullmatch(value)
        if m is not None:
            try:
                return datetime(int(m[6]), _V1_MONTHS[m[1]], int(m[2]), int(m[3]), int(m[4]),
                                int(m[5]), tzinfo=UTC)
            except ValueError:
                pass
    return _any_time(value, field)


_V1_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                           "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# (the C locale's names, as strptime reads them: rasd sets no locale)
_V1_UTC = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (" + "|".join(_V1_MONTHS)
                     + r") ([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) \+0000 ([0-9]{4})")


def _any_time(value: Any, field: str) -> datetime | None:
    """``parse_time`` for any form."""
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
            try:
                dt = datetime.fromisoformat(v)  # "...Z" too (Python 3.11+)
            except ValueError:
                if NUMBER.match(v):  # unix seconds with a fraction ("1577886276.25")
                    return datetime.fromtimestamp(float(v), UTC)
                raise
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
    if msg.startswith(("field '", "missing required field '")):
        field = msg.split("'")[1]
    if isinstance(excerpt, bytes):
        excerpt = excerpt[:200].decode("utf-8", "replace")
    elif isinstance(excerpt, str):
        excerpt = _safe(excerpt[:200])
    return Reject(source_file=path_text(source), reason=_safe(msg), line=line, path=path,
                  field=_safe(field) if field else None, excerpt=excerpt)


def _safe(text: str) -> str:
    """Undecodable bytes (kept as lone surrogates while reading) become "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")


def path_text(path: Any) -> str:
    """A file's path as text that can be stored, written as JSON and printed:
    bytes of its name that are not UTF-8 (Python keeps them as lone
    surrogates; a name from a Windows or legacy archive) are written ``\\xNN``
    (a quarantine entry for such a file stopped an ingest)."""
    return valid_text(str(path))


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
        """Yield records; store each record's raw bytes through ``raw``, before
        the record. Right after storing a raw record, where ``raw.size`` has
        reached ``raw.ahead_at``, yield ``Ahead`` of it first (``RawSink``)."""


class Ahead(NamedTuple):
    """Stands, among records, for "the raw records read so far are whole but
    ``sha256``, read last": handed over by size, not at a record, so that
    ``rasd.ingest.pipeline.produce`` may write them without waiting for the
    next record (``Prep.take``'s ``ahead``). Given by the reading thread of
    standard input (``pipeline.LIVE_RAW_BYTES``), and by a parser whose sink
    asks for it (``RawSink.ahead_at``)."""

    sha256: str


class Note(NamedTuple):
    """Stands, among records, for what the reader of a run should know of the
    file as a whole though no record is rejected: said once, in the run's
    ``warnings`` (``IngestReport``), not once a record. A Telegram export whose
    chats are of a type Telegram Desktop does not write (a newer export?) is
    read, and says so once; it said nothing, and a reject a message would have
    buried the messages themselves."""

    text: str


class RawSink:
    """Collects raw records (bytes as received) for the writer to store.

    ``put`` returns the sha256 under which the bytes are kept; identical bytes are
    kept once.

    ``ahead_at``: once the bytes pending reach it, a parser that has just put a
    raw record gives ``Ahead`` (of that record) before the record's own
    records: lines that give no record (X stream errors, messages rejected
    after their bytes were kept), read one after another, were otherwise held
    here until the next record came, whatever their size. None (the default):
    never, for a consumer that expects records and rejects only.
    """

    def __init__(self, ahead_at: int | None = None) -> None:
        self.pending: dict[str, tuple[str, bytes]] = {}
        self.size = 0  # bytes pending: a batch goes out past a bound (pipeline.produce)
        # (a plain int compared per raw record: sys.maxsize where no marker is wanted)
        self.ahead_at = sys.maxsize if ahead_at is None else ahead_at
        self._fresh: str | None = None  # the last put, where it added its bytes (forget)
        self.bare = 0  # items that gave no record at all (unless_rejected)

    def put(self, data: bytes, fmt: str) -> str:
        h = sha256_hex(data)
        if h not in self.pending:
            self.pending[h] = (fmt, data)
            self.size += len(data)
            self._fresh = h
        else:
            self._fresh = None
        return h

    def forget(self, h: str | None) -> None:
        """Let go of the bytes of the last ``put``, where that put added them and
        they are still pending (not handed over): the item gave rejects alone
        (``unless_rejected``). Otherwise nothing: bytes kept once too often are
        harmless, bytes lost that a record names are not."""
        if h is not None and h == self._fresh and h in self.pending:
            self.size -= len(self.pending.pop(h)[1])
        self._fresh = None

    def drain(self) -> dict[str, tuple[str, bytes]]:
        out, self.pending = self.pending, {}
        self.size = 0
        return out

    def extend(self, items: dict[str, tuple[str, bytes]]) -> None:
        """Keep ``items`` too (another sink's ``drain``), in their order."""
        self.size += add_raw(self.pending, items)


def unless_rejected(recs: Iterable[Record], raw: RawSink,
                    sha: str | None = None) -> Iterator[Record]:
    """``recs``, the records of one item; where they are rejects alone, the
    item's raw bytes are not kept (``RawSink.forget``). The bytes: those put
    under ``sha`` just before ``recs`` began, or, without ``sha``, the last
    bytes ``recs`` put itself. Nothing names them (a reject names file, line
    or path and reason, and the quarantine keeps its excerpt), and a file of
    distinct junk lines grew the store by ~200 bytes a line (a 1 MB file of
    40,000 JSON lines that are no record: a 9 MB store). An item that gives
    nothing at all (an X stream error) keeps its bytes: they are what the run
    received — up to ``MAX_BARE_RAWS`` such items a file, said once in a note
    past it (distinct stream-error lines are as cheap to forge as junk)."""
    if sha is None:
        raw._fresh = None  # (no bytes are this item's until ``recs`` puts some)
    rejected = False
    it = iter(recs)
    for rec in it:
        yield rec
        if isinstance(rec, Reject):
            rejected = True
        elif not isinstance(rec, (Ahead, Note)):  # a record names the bytes: keep them
            yield from it
            return
    if not rejected:
        raw.bare += 1
        if raw.bare <= MAX_BARE_RAWS:
            return
        if raw.bare == MAX_BARE_RAWS + 1:
            yield Note(f"over {MAX_BARE_RAWS:,} items of this file gave no record (X stream "
                       "errors?): the raw bytes of those after them are not kept")
    raw.forget(raw._fresh if sha is None else sha)


def add_raw(pending: dict[str, tuple[str, bytes]], items: dict[str, tuple[str, bytes]]) -> int:
    """Put the raw records of ``items`` (sha256 → (format, bytes)) that
    ``pending`` lacks into it, in their order; the number of bytes added (what
    a sink, or a batch being prepared, counts to bound its memory)."""
    added = 0
    for h, v in items.items():
        if h not in pending:
            pending[h] = v
            added += len(v[1])
    return added


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
    if not is_stream(path) and path.is_dir():
        if (path / "result.json").is_file():
            return "telegram"
        raise IngestError(f"{path}: a directory without result.json (not a Telegram export)")
    if not is_stream(path) and (path.suffix.lower() == ".zip"
                                or path.name.lower().endswith(TAR_SUFFIXES)):
        kind = "a ZIP" if path.suffix.lower() == ".zip" else "a tar"
        raise IngestError(f"{path}: {kind} archive: ingest it with `rasd ingest {path.name}` "
                          "(every ingestible member), or its members one by one "
                          "(rasd.ingest.archive.member_stream)")
    sample, cut = _read_head(path)
    if not sample.strip():
        raise IngestError(f"{path}: file is empty")
    scores = sorted(((cls.sniff(path, sample), name) for name, cls in PARSERS.items()),
                    reverse=True)
    best, name = scores[0]
    if best <= 0:
        kind = _archive_kind(sample)
        ext = {"ZIP": ".zip", "tar": ".tar"}.get(kind or "")
        if ext and is_stream(path):  # read in place, an archive needs a file
            raise IngestError(f"{path}: a {kind} archive: save it to a file (archive{ext}) "
                              "and ingest that")
        sfx = path.suffix.lower()
        if ext and sfx == ".zst":  # tarfile reads no zstd
            raise IngestError(f"{path}: a tar archive compressed with zstd; rasd reads tar "
                              "archives plain or compressed with gzip, bzip2 or xz: extract "
                              "it and ingest the folder, or repack it (zstd -dc | gzip)")
        if ext:  # e.g. a download saved without its extension
            name = (path.stem + ".tar" + sfx if kind == "tar" and sfx in COMPRESSED
                    else path.name + ext)
            raise IngestError(f"{path}: a {kind} archive without a {ext} name: rename it "
                              f"({name}) and ingest that")
        if kind:  # an archive rasd does not open: say so, not "no known format"
            raise IngestError(f"{path}: a {kind} archive; rasd reads ZIP and tar archives "
                              "and folders: extract it and ingest the folder, or zip it")
        if cut:  # a few bytes of a cut .gz: too few to tell, and the reason is the cut
            raise IngestError(f"{path}: the data ends after {len(sample):,} bytes (a "
                              "compressed file cut short?): too few to tell its format")
        raise IngestError(
            f"{path}: not a known format (tried {', '.join(sorted(PARSERS))}); "
            "name one with --format, or give a CSV --mapping")
    return name


def _archive_kind(sample: bytes) -> str | None:
    """The kind of archive the first bytes (decompressed) are, if any."""
    if sample[257:262] == b"ustar":
        return "tar"
    if sample.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7-Zip"
    if sample.startswith(b"Rar!\x1a\x07"):
        return "RAR"
    if sample.startswith(b"PK\x03\x04"):
        return "ZIP"
    return None


def first_json_line(sample: bytes) -> Any:
    for line in io.BytesIO(sample):
        if line.strip():
            try:
                return orjson.loads(line)
            except orjson.JSONDecodeError:
                return None
    return None
