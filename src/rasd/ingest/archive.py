"""ZIP archives: ingest the files inside one without extracting it.

Analysts receive collections zipped: the Kaggle download of "How ISIS Uses
Twitter" is ``archive.zip`` holding ``tweets.csv``; Telegram exports and twarc
crawls are passed around as ZIP files. ``rasd ingest archive.zip`` reads every
ingestible member (the same names a folder's files are chosen by) straight
from the archive: nothing is written to disk, so member names cannot escape
anywhere ("../" means nothing here) and a zip bomb costs time, not space.

A member is read through a ``Stream`` named ``archive.zip!/path/in/zip`` (the
name rejects, reports and ``ingest_files`` carry), which a parser may open as
often as it likes (each time from the archive). Media a Telegram export in an
archive points to stay inside it: their local path names the member
(``/abs/archive.zip!/ChatExport/photos/p.jpg``), which ``rasd scan --media``
hashes from the archive (``member_file``).
"""

from __future__ import annotations

import io
import os
import posixpath
import struct
import tempfile
import weakref
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from rasd.ingest.base import ARCHIVE_SEP as SEP
from rasd.ingest.base import IngestError, MediaRoot, Stream, _Damaged

MAX_MEMBERS = 100_000
# what zipfile raises for an archive it cannot read: a damaged one (BadZipFile,
# EOFError, OSError), a newer format version or method (NotImplementedError)
UNREADABLE = (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError)


def is_archive(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and path.is_file()


def member_path(archive: Path, name: str) -> Path:
    return Path(f"{archive}{SEP}{name}")


# Archives kept open, their directories read once: an export of a hundred pages
# and 20,000 photos opened its archive a few times a page, ~80 ms each (a zipped
# export took 12x as long as the folder). Keyed by path, size and time, so an
# archive changed since is read afresh; a forked parsing process opens its own
# (the descriptor's offset is shared across a fork).
_OPEN: dict[tuple[str, int, int], zipfile.ZipFile] = {}
_OPEN_MAX = 2


def shared_archive(archive: Path) -> zipfile.ZipFile:
    """The archive, open for reading (kept open for the next call; do not close
    it). Raises what ``zipfile`` raises for an unreadable one (``UNREADABLE``)."""
    st = os.stat(archive)
    key = (os.path.realpath(archive), st.st_mtime_ns, st.st_size)
    zf = _OPEN.get(key)
    if zf is None:
        _check_count(archive)
        zf = zipfile.ZipFile(archive)
        while len(_OPEN) >= _OPEN_MAX:  # members still open keep their own reference
            _OPEN.pop(next(iter(_OPEN))).close()
        _OPEN[key] = zf
    return zf


def _check_count(archive: Path) -> None:
    """Refuse an archive whose directory declares more than ``MAX_MEMBERS``
    entries before reading it: zipfile builds an object per entry (~500
    bytes), so a crafted archive of tens of millions of empty entries would
    fill memory before any count could be checked."""
    find = getattr(zipfile, "_EndRecData", None)  # zipfile's own reader of the end record
    if find is None:
        return
    try:
        with open(archive, "rb") as f:
            end = find(f)
    except (OSError, ValueError, struct.error):  # zipfile judges such a file itself
        return
    total = end[getattr(zipfile, "_ECD_ENTRIES_TOTAL", 4)] if end else 0
    if isinstance(total, int) and total > MAX_MEMBERS:
        raise zipfile.BadZipFile(f"{total:,} members, more than {MAX_MEMBERS:,}")


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere nothing forks
    os.register_at_fork(after_in_child=_OPEN.clear)


def members(archive: Path, wanted: Any) -> list[str]:
    """Names of the members ``wanted(PurePath)`` accepts, in archive order.
    Raises ``IngestError`` for a file that is not a readable ZIP archive."""
    try:
        infos = shared_archive(archive).infolist()
    except UNREADABLE as e:
        raise IngestError(f"{archive}: not a readable ZIP archive: {e}") from None
    if len(infos) > MAX_MEMBERS:
        raise IngestError(f"{archive}: {len(infos):,} members, more than {MAX_MEMBERS:,}")
    out = []
    for info in infos:
        posix = Path(info.filename.replace("\\", "/"))  # "\\": zipped by a Windows tool
        parts = posix.parts
        # hidden files and macOS resource forks are not data; "../" is only a
        # name here (nothing is extracted), so such a member is read like any
        if info.is_dir() or not parts or any(
                (p.startswith(".") and p != "..") or p == "__MACOSX" for p in parts):
            continue
        if wanted(posix):
            out.append(info.filename)
    return out


class _Member(io.RawIOBase):
    """One member, read through the archive kept open (``shared_archive``);
    damage inside the archive (a bad CRC, a broken deflate stream) is an
    OSError, as in a damaged .gz, so parsers keep what came before."""

    def __init__(self, archive: Path, name: str) -> None:
        try:
            self.zf = shared_archive(archive)
        except UNREADABLE as e:
            raise IngestError(f"{archive}{SEP}{name}: not readable in the archive: {e}") \
                from None
        try:
            self.size = self.zf.getinfo(name).file_size
            self.f: IO[bytes] = _Damaged(self.zf.open(name))
        except (RuntimeError, NotImplementedError) as e:  # encrypted; a method zipfile lacks
            raise IngestError(f"{archive}{SEP}{name}: cannot be read: {e}") from None
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
            raise IngestError(f"{archive}{SEP}{name}: not readable in the archive: {e}") \
                from None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.f.read(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.f.close()  # the archive stays open for the next member (shared_archive)
        super().close()


def member_stream(archive: Path, name: str) -> Stream:
    """A member as a ``Stream`` parsers may open again and again."""
    def reopen() -> IO[bytes]:
        return io.BufferedReader(_Member(archive, name), 1 << 16)

    first = reopen()  # fails here, before any work, when the member is unreadable
    names = _media_names(first.raw.zf)  # for the media the member names
    where = archive.resolve()
    try:  # the first bytes are read at once (compression is told by them)
        s = Stream(first, name=f"{archive}{SEP}{name}", path=member_path(archive, name),
                   reopen=reopen, size=first.raw.size, origin=f"{where}{SEP}{name}",
                   source_name=archive.name)
    except OSError as e:  # damaged where it starts: a small member is checked whole
        first.close()
        raise IngestError(f"{archive}{SEP}{name}: not readable in the archive: {e}") \
            from None
    s.media_root = MediaRoot(archive=str(where),
                             inner=posixpath.dirname(name.replace("\\", "/")), names=names)
    return s


_NAMES: weakref.WeakKeyDictionary[zipfile.ZipFile, dict[str, str]] = \
    weakref.WeakKeyDictionary()  # _media_names of each open archive, made once


def _media_names(zf: zipfile.ZipFile) -> dict[str, str]:
    """The members by the names an export's files go by, to the names as stored:
    "\\" as some Windows tools write it is "/", and a name written in UTF-8
    without the archive saying so (zipfile then reads it as CP437: "Ð\x94…" for
    "Д…") is known by its UTF-8 reading too — a document named in Arabic or
    Russian is then found. Made once per open archive, not per member read (a
    hundred pages of an archive of 20,000 photos)."""
    out = _NAMES.get(zf)
    if out is not None:
        return out
    out = _NAMES[zf] = {}
    for info in zf.infolist():
        n = info.filename
        out[n.replace("\\", "/")] = n
        if not info.flag_bits & 0x800 and not n.isascii():
            try:
                utf8 = n.encode("cp437").decode("utf-8")
            except UnicodeError:
                continue
            out.setdefault(utf8.replace("\\", "/"), n)
    return out


def split_member(path: str | Path) -> tuple[Path, str] | None:
    """``(archive, member)`` for a path that names a member of a ZIP archive
    (``archive.zip!/dir/file``), else None. A folder may itself end in "!"
    (``a!/b.zip!/c``): the first prefix that is an archive file counts."""
    text = str(path)
    i = text.find(SEP)
    while i >= 0:
        archive = Path(text[:i])
        if is_archive(archive):
            return archive, text[i + len(SEP):]
        i = text.find(SEP, i + 1)
    return None


def member_tail(archive: Path, name: str, n: int) -> bytes:
    """The last ``n`` bytes of a member (OSError where it cannot be read)."""
    try:
        zf = shared_archive(archive)
        size = zf.getinfo(name).file_size
        with zf.open(name) as f:
            f.seek(max(0, size - n))
            return f.read(n)
    except (*UNREADABLE, KeyError, RuntimeError, zlib.error) as e:
        raise OSError(f"{archive}{SEP}{name}: {e}") from None


@contextmanager
def member_file(archive: Path, name: str, max_bytes: int) -> Iterator[Path]:
    """A member copied to a temporary file (kept until the block ends), for
    readers that need a real file (image and video decoders). A member larger
    than ``max_bytes`` (as its header says, or as it turns out) is an OSError;
    so is one that is missing or damaged, or an archive that cannot be read.
    The archive stays open for the next member (``shared_archive``: a media
    scan of 20,000 zipped photos read its directory once, not 20,000 times)."""
    # the decoders may go by the extension; a name is input: only a plain one is kept
    suffix = Path(name).suffix
    suffix = suffix if len(suffix) <= 16 and suffix[1:].isalnum() and suffix.isascii() else ""
    try:
        zf = shared_archive(archive)
    except UNREADABLE as e:
        raise OSError(f"{archive}: not a readable ZIP archive: {e}") from None
    with tempfile.TemporaryDirectory(prefix="rasd-member-") as tmp:
        try:
            info = zf.getinfo(name)
        except KeyError:
            raise FileNotFoundError(f"{archive}{SEP}{name}: no such member") from None
        if info.file_size > max_bytes:
            raise OSError(f"{archive}{SEP}{name}: {info.file_size:,} bytes, more than "
                          f"{max_bytes:,}")
        out = Path(tmp) / ("member" + suffix)
        try:
            with zf.open(info) as src, open(out, "wb") as dst:
                left = max_bytes + 1
                while chunk := src.read(min(1 << 20, left)):
                    dst.write(chunk)
                    left -= len(chunk)
                    if left <= 0:
                        raise OSError(f"{archive}{SEP}{name}: more than {max_bytes:,} bytes")
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, ValueError,
                zlib.error) as e:
            raise OSError(f"{archive}{SEP}{name}: not readable in the archive: {e}") from None
        yield out

