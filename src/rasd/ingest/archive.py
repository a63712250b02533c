"""Archives: ingest the files inside a ZIP or tar archive without extracting it.

Analysts receive collections packed: the Kaggle download of "How ISIS Uses
Twitter" is ``archive.zip`` holding ``tweets.csv``; Telegram exports and twarc
crawls are passed around as ZIP files, and data sets and server dumps as
``.tar.gz``. ``rasd ingest archive.zip`` (or ``crawl.tar.gz``) reads every
ingestible member (the same names a folder's files are chosen by) straight
from the archive: nothing is written to disk, so member names cannot escape
anywhere ("../" means nothing here), and a zip bomb costs no space; its time
is bounded too: an archive unpacks, every member and layer together, to at
most ``base.MAX_RATIO`` times its size (``Budget``; ``members`` refuses one
whose own layer passes that before anything is read).

A member is read through a ``Stream`` named ``archive.zip!/path/in/zip`` (the
name rejects, reports and ``ingest_files`` carry), which a parser may open as
often as it likes (each time from the archive). Media a Telegram export in an
archive points to stay inside it: their local path names the member
(``/abs/archive.zip!/ChatExport/photos/p.jpg``), which ``rasd scan --media``
hashes from the archive (``member_file``).

``Archive`` is the one noun: a kind of archive opened for reading, its members
listed, opened and sized. ``ZipArchive`` and ``TarArchive`` are the two kinds;
a tar archive is read as it is compressed (``.tar``, ``.tar.gz``/``.tgz``,
``.tar.bz2``, ``.tar.xz``): a member of a compressed one is reached by
decompressing the archive up to it, so an archive of a few large files reads
well, and the media scan reads the photos of a Telegram export in a ``.tar.gz``
in the archive's order (``reading_keys``): one pass over it for the scan,
whatever its number of photos, after the pass that lists it. (A member
read out of order, behind the last one, costs a pass over the archive's start:
a ZIP or a folder has no such cost.)
"""

from __future__ import annotations

import bisect
import io
import os
import posixpath
import struct
import tarfile
import tempfile
import weakref
import zipfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, ClassVar

from rasd.ingest.base import (
    _DECOMPRESS_ERRORS,
    TAR_SUFFIXES,
    Budget,
    DecompressionBomb,
    IngestError,
    MediaRoot,
    Stream,
    _Damaged,
)
from rasd.ingest.base import ARCHIVE_SEP as SEP

MAX_MEMBERS = 100_000
# reads of a decompressed stream larger than this are checked against its budget
# before they decompress (a reader asking for much at once)
AHEAD = 1 << 20
# tarfile reads a pax header (a member's or a global one) or a GNU long name or
# long link whole, whatever size its header declares: up to the budget (100 MiB)
# held at once in a compressed tar, the whole file in a plain one. Real ones hold
# a path, times, a few attributes: bytes to KiB. A header declaring more is
# refused before it is read (``TarHeaderTooLarge``).
MAX_TAR_HEADER = 1 << 20
_LONG_HEADERS = {tarfile.XHDTYPE: "pax", tarfile.XGLTYPE: "global pax",
                 tarfile.SOLARIS_XHDTYPE: "pax", tarfile.GNUTYPE_LONGNAME: "GNU long-name",
                 tarfile.GNUTYPE_LONGLINK: "GNU long-link"}
# A GNU sparse member's map (its data segments, each an (offset, size) pair) is
# read by tarfile into a list while the archive is listed: the old format's from
# extension blocks after the header (21 pairs a 512-byte block), format 1.0's
# from the member's data (a line per number, "0\n" two bytes), neither bounded by
# anything but the budget (100 MiB of map: ~25 million pairs, GBs as Python
# tuples), and each member's map is kept while the archive is open. A real map
# holds a pair per run of data between holes, and chat exports are never sparse
# (tar stores a file so only with --sparse). The maps of a whole archive may hold
# MAX_SPARSE_SEGMENTS pairs; one that would pass it refuses the archive before
# the rest of the map is read (``TarSparseMapTooLarge``).
MAX_SPARSE_SEGMENTS = 1 << 16
# the ends of the last few members of a compressed tar read to their end
# (TarArchive.kept_tail: what a Telegram HTML page reads of the page before)
TAIL_KEPT = 1 << 20
TAILS_KEPT = 4
# what zipfile and tarfile raise for an archive they cannot read: a damaged one
# (BadZipFile, ReadError, EOFError, OSError, a decompressor's own error), a newer
# format version or method (NotImplementedError)
UNREADABLE = (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, NotImplementedError,
              ValueError, *_DECOMPRESS_ERRORS)


class TarHeaderTooLarge(tarfile.TarError):
    """A tar archive with a pax or GNU long-name header declaring more than
    ``MAX_TAR_HEADER`` bytes: refused as a whole, as a decompression bomb is
    (``members``), not read as damaged after the members before it. A
    ``TarError`` that tarfile lets through (not a ``ReadError``, which
    ``tarfile.open`` takes for another compression to try)."""


class TarSparseMapTooLarge(TarHeaderTooLarge):
    """A tar archive whose GNU sparse maps hold more than
    ``MAX_SPARSE_SEGMENTS`` segments: refused as a whole, as an oversized
    header is, before tarfile reads the rest of the map into memory."""


class Archive(ABC):
    """An archive open for reading: the members it holds, each opened as a
    binary stream. Why a noun of its own: the ingest, the Telegram HTML
    reader (a page's predecessor) and the media stage (photos of an export)
    read members the same way whatever the archive's kind, and a new kind
    plugs in here (``_KINDS``) without touching them."""

    kind: ClassVar[str]  # "ZIP", "tar": what messages call it
    damage: str | None = None  # read only in part: why (a cut .tar.gz)
    # what the archive may unpack to, every member and layer together
    # (decompression bombs: base.MAX_RATIO times its size)
    budget: Budget

    @classmethod
    @abstractmethod
    def claims(cls, path: Path) -> bool:
        """Whether ``path``'s name says this kind of archive."""

    @abstractmethod
    def files(self) -> list[tuple[str, bool]]:
        """(name as stored, is a plain file) of every member, in archive order."""

    @abstractmethod
    def size(self, name: str) -> int:
        """Bytes of member ``name`` unpacked; KeyError where there is none."""

    @abstractmethod
    def open(self, name: str) -> IO[bytes]:
        """Member ``name`` from its first byte; KeyError where there is none."""

    def media_names(self) -> dict[str, str]:
        """The members by the names an export's files go by ("/" separators, no
        "./"), to the names as stored."""
        out = _NAMES.get(self)
        if out is None:
            out = _NAMES[self] = {}
            for n, plain in self.files():
                if plain:
                    out[n.replace("\\", "/")] = n
                    out.setdefault(normal_name(n.replace("\\", "/")), n)
        return out

    def stored(self, name: str) -> str:
        """The member name as stored for ``name`` as a path names it: member paths
        go through ``Path`` (``archive.zip!/member``), which drops a "./" and a
        leading "/" (``tar -C dir -cf x.tar .`` names every member "./…")."""
        table = _STORED.get(self)
        if table is None:
            table = _STORED[self] = {}
            for n, plain in self.files():
                if plain:
                    table[normal_name(n)] = n
            for n, plain in self.files():
                if plain:
                    table[n] = n
        return table.get(name, name)

    def kept_tail(self, name: str, n: int) -> bytes | None:
        """The last ``n`` bytes of member ``name`` where they are at hand without
        reading the archive again, else None."""
        return None

    @abstractmethod
    def close(self) -> None: ...


class ZipArchive(Archive):
    kind = "ZIP"

    def __init__(self, path: Path) -> None:
        _check_count(path)
        self.path = path
        self.zf = zipfile.ZipFile(path)
        self.budget = Budget(str(path), os.fstat(self.zf.fp.fileno()).st_size)

    @classmethod
    def claims(cls, path: Path) -> bool:
        return path.suffix.lower() == ".zip"

    def files(self) -> list[tuple[str, bool]]:
        infos = self.zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise zipfile.BadZipFile(f"{len(infos):,} members, more than {MAX_MEMBERS:,}")
        # a member named "" (crafted) is no file; zipfile's is_dir() raised IndexError on it
        out = [(i.filename, i.filename[-1:] not in ("", "/")) for i in infos]
        if self.damage is None and len(self.zf.NameToInfo) < len(infos):
            twice = [n for n, k in Counter(i.filename for i in infos).items() if k > 1]
            # zipfile reaches only the last member of a name (crafted, or appended)
            self.damage = (f"{self.path}: {len(twice):,} member name(s) appear more than "
                           f"once (e.g. {twice[0]!r}): only the last of each is read")
        return out

    def size(self, name: str) -> int:
        return self.zf.getinfo(self.stored(name)).file_size

    def open(self, name: str) -> IO[bytes]:
        """(zipfile hands on at most the member's declared size: ``members``
        checks those first; what is read is charged as well)"""
        stored = self.stored(name)
        return _Charged(self.zf.open(stored), self.budget, ("zip", stored), name)

    def media_names(self) -> dict[str, str]:
        """As ``Archive``'s, and a name written in UTF-8 without the archive
        saying so (zipfile then reads it as CP437: "Ð\x94…" for "Д…") is known
        by its UTF-8 reading too — a document named in Arabic or Russian is
        then found."""
        out = _NAMES.get(self)
        if out is not None:
            return out
        out = _NAMES[self] = {}
        for info in self.zf.infolist():
            n = info.filename
            out[n.replace("\\", "/")] = n
            out.setdefault(normal_name(n.replace("\\", "/")), n)
            if not info.flag_bits & 0x800 and not n.isascii():
                try:
                    utf8 = n.encode("cp437").decode("utf-8")
                except UnicodeError:
                    continue
                out.setdefault(utf8.replace("\\", "/"), n)
        return out

    def close(self) -> None:
        self.zf.close()


class TarArchive(Archive):
    """A tar archive, plain or compressed (gzip, bzip2, xz: told by tarfile from
    its first bytes). Only regular files are members here: a link, device or
    FIFO entry is passed over (nothing is extracted, and a link's target is not
    followed)."""

    kind = "tar"

    def __init__(self, path: Path) -> None:
        # the decompressed stream may be as long as the budget: listing reads it
        # all, and past the budget it stops, before the seek or read that would
        # decompress the rest (1 MB of .tar.gz holding 1 GB took 6.5 s to list)
        self.budget = Budget(str(path), os.stat(path).st_size)
        self.tf = _open_tar(path, self.budget)
        # compressed: a member behind the decompressor's position is reached by
        # decompressing the archive again from its first byte (a backward seek)
        self.compressed = not isinstance(self.tf.fileobj, io.BufferedReader)
        self.tails: dict[str, bytes] = {}  # the last members read to their end: their end
        self.members: dict[str, tarfile.TarInfo] = {}
        self.order: list[tuple[str, bool]] = []
        try:
            n = 0
            while True:
                try:
                    m = self.tf.next()
                except DecompressionBomb:
                    raise  # not a cut archive: nothing of it is read (``members``)
                except (*_DECOMPRESS_ERRORS, EOFError, OSError, tarfile.ReadError) as e:
                    if not n:
                        raise
                    # cut or damaged after some members (a download broken off):
                    # those are read, the last of them maybe only in part
                    self.damage = (f"{path}: damaged or cut short after member {n:,} "
                                   f"({self.order[-1][0]!r}): {e}; the members before are read")
                    # the decompressor is left broken: the members are read afresh
                    self.tf.close()
                    self.tf = _open_tar(path, self.budget)
                    break
                if m is None:
                    break
                n += 1
                if n > MAX_MEMBERS:  # counted while read: one object a member
                    raise tarfile.ReadError(f"more than {MAX_MEMBERS:,} members")
                plain = m.isreg()
                self.order.append((m.name, plain))
                if plain:
                    self.members[m.name] = m
            self.tf.members = []  # the index above is what is kept
        except BaseException:
            self.tf.close()
            raise
        # "./a.jsonl" and "a.jsonl" are one member path: only the last is read (a
        # name stored twice is tar's own way to update a member: not said)
        by_path: dict[str, set[str]] = {}
        for n in self.members:
            by_path.setdefault(normal_name(n), set()).add(n)
        clash = sorted(min(v) for v in by_path.values() if len(v) > 1)
        if clash and self.damage is None:
            self.damage = (f"{path}: {len(clash):,} member name(s) differ only by './' or a "
                           f"leading '/' (e.g. {clash[0]!r}): only one of each is read")

    @classmethod
    def claims(cls, path: Path) -> bool:
        return path.name.lower().endswith(TAR_SUFFIXES)

    def files(self) -> list[tuple[str, bool]]:
        return self.order

    def size(self, name: str) -> int:
        return self.members[self.stored(name)].size

    def open(self, name: str) -> IO[bytes]:
        info = self.members[self.stored(name)]
        return io.BufferedReader(_TarData(self.tf.fileobj, info,
                                          self._keep_tail if self.compressed else None),
                                 1 << 16)

    def _keep_tail(self, name: str, tail: bytes) -> None:
        self.tails.pop(name, None)
        self.tails[name] = tail
        while len(self.tails) > TAILS_KEPT:
            del self.tails[next(iter(self.tails))]

    def kept_tail(self, name: str, n: int) -> bytes | None:
        """The end of a member of a compressed tar read to its end lately (the
        last ``TAILS_KEPT``, their last ``TAIL_KEPT`` bytes): a Telegram HTML
        page's predecessor is read from its end (``member_tail``), and reaching
        it again decompressed the archive from its first byte, once a page: a
        quadratic pass over an export of many pages. The ingest read that page
        just before, to its end; its end is kept then."""
        info = self.members.get(self.stored(name))
        tail = self.tails.get(info.name) if info is not None else None
        if tail is None or (n > len(tail) and len(tail) < info.size):  # type: ignore[union-attr]
            return None
        return tail[max(0, len(tail) - n):]

    def close(self) -> None:
        self.tf.close()


class _TarData(io.RawIOBase):
    """A tar member's data, read straight from the archive (``tf.fileobj``: the
    file, or its decompressor), each read giving what is there up to where the
    archive is cut or damaged; the read after it is the cut, an OSError, as in
    a cut .gz (``base._Damaged``).

    Why not tarfile's own reader (``extractfile``): it reads a whole request
    with ``read()`` and raises ``ReadError("unexpected end of data")`` on a
    short one, dropping what it got. Retried in halves, a plain .tar gave back
    the lines before the cut; a compressed one did not: gzip, bzip2 and xz raise
    EOFError themselves from ``read()``, losing what they decompressed in that
    call (a .tar.gz cut inside a member kept 11,273 of the 11,454 records the
    same cut of a plain .tar keeps), and a retry is a backward seek, which in
    a compressed archive decompresses it again from its first byte. Here each
    read asks the archive for at most one ``read1``'s worth within one data
    segment: what the decompressor had before the cut is handed on (every whole
    record before it is stored), and the cut is found by the read after, with
    no retry and no seek back. Memory: one read (64 KiB) at a time.

    A GNU sparse member is its data segments laid out in order with NULs in
    the holes between them; tarfile's reader advanced its position past a
    segment whose read then failed in the same call, so a retry skipped those
    bytes. One segment a read, the position moving only by what was handed
    on, nothing is skipped. A crafted map (segments overlapping, out of order,
    past the member's end) is read as far as it makes sense: each byte of the
    member from the first segment holding it, NULs elsewhere."""

    def __init__(self, fileobj: Any, info: tarfile.TarInfo, keep_tail: Any = None) -> None:
        self.fileobj = fileobj
        self.name = info.name
        # keep_tail(name, bytes): given the member's last TAIL_KEPT bytes when this
        # reader hands them on in order, up to its end (TarArchive.kept_tail)
        self.keep_tail = keep_tail
        self.tail = bytearray()
        self.tail_at = -1  # where the bytes in ``tail`` end in the member; -1: none
        self.read1_ = getattr(fileobj, "read1", None) or fileobj.read
        self.size = info.size
        self.pos = 0
        self.damage: OSError | None = None  # once met, every later read raises it
        # data segments (start, stop, offset in the archive), sorted, not overlapping
        segs: list[tuple[int, int, int]] = []
        at = info.offset_data
        for start, n in info.sparse if info.sparse is not None else [(0, info.size)]:
            if start >= 0 and n > 0:
                segs.append((start, start + n, at))
            at += max(n, 0)
        segs.sort()
        self.segs: list[tuple[int, int, int]] = []
        for start, stop, where in segs:
            end = self.segs[-1][1] if self.segs else 0
            if stop <= end or start >= self.size:
                continue
            if start < end:  # overlaps the segment before: its rest only
                start, where = end, where + (end - start)
            self.segs.append((start, min(stop, self.size), where))
        self.starts = [s[0] for s in self.segs]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self.fileobj.seekable())

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = min(max(base + pos, 0), self.size)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, b: Any) -> int:
        if self.damage is not None:
            raise self.damage
        want = min(len(b), self.size - self.pos)
        if want <= 0:
            return 0
        i = bisect.bisect_right(self.starts, self.pos) - 1
        if i >= 0 and self.pos < self.segs[i][1]:
            start, stop, where = self.segs[i]
            want = min(want, stop - self.pos)
            try:
                at = where + self.pos - start
                if self.fileobj.tell() != at:  # another member read in between
                    self.fileobj.seek(at)
                data = self.read1_(want)
            except DecompressionBomb as e:  # said as it is
                self.damage = e
                raise
            except (*_DECOMPRESS_ERRORS, EOFError, OSError, tarfile.TarError) as e:
                self.damage = OSError(f"damaged archive member: {e}")
                raise self.damage from None
            if not data:  # the archive ends here: cut inside the member
                self.damage = OSError("damaged archive member: unexpected end of data "
                                      f"({self.size - self.pos:,} of its {self.size:,} "
                                      "bytes missing)")
                raise self.damage
            data = data[:want]
        else:  # a hole of a sparse member, up to its next segment
            nxt = self.starts[i + 1] if i + 1 < len(self.starts) else self.size
            data = bytes(min(want, nxt - self.pos))
        b[:len(data)] = data
        if self.keep_tail is not None:
            self._tail(data)
        self.pos += len(data)
        return len(data)

    def _tail(self, data: bytes) -> None:
        lo, end = max(0, self.size - TAIL_KEPT), self.pos + len(data)
        if end <= lo:
            return
        if self.pos <= lo:
            self.tail = bytearray(data[lo - self.pos:])
        elif self.tail_at == self.pos:
            self.tail += data
        else:  # read out of order (a seek): not a whole tail
            self.tail, self.tail_at = bytearray(), -1
            return
        self.tail_at = end
        if end == self.size:
            self.keep_tail(self.name, bytes(self.tail))
            self.tail, self.tail_at = bytearray(), -1


class _Charged(io.BufferedIOBase):
    """A decompressed stream (a ZIP member; a compressed tar archive's contents,
    which tarfile reads) whose furthest position is charged to a ``Budget``
    under ``key``. A seek, or a read of more than ``AHEAD`` bytes, that would
    take it past the budget raises ``DecompressionBomb`` before it decompresses
    anything: listing a .tar.gz seeks over each member's data. (tarfile reads
    a pax or long-name header whole: one declaring over ``MAX_TAR_HEADER``
    is refused before that, ``_open_tar``.)"""

    def __init__(self, inner: Any, budget: Budget, key: Any, member: str | None = None) -> None:
        self.inner, self.budget, self.key, self.member = inner, budget, key, member

    def _ahead(self, pos: int) -> None:
        if pos > self.budget.high.get(self.key, 0):
            self.budget.ahead(self.key, pos, self.member)

    def _reached(self, data: Any) -> Any:
        if data:
            self.budget.reach(self.key, self.inner.tell(), self.member)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self.inner.seekable())

    def tell(self) -> int:
        return int(self.inner.tell())

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence in (io.SEEK_SET, io.SEEK_CUR):
            self._ahead(pos + (self.inner.tell() if whence == io.SEEK_CUR else 0))
        at = int(self.inner.seek(pos, whence))
        self.budget.reach(self.key, at, self.member)
        return at

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size > AHEAD:
            self._ahead(self.inner.tell() + size)
        return self._reached(self.inner.read(size))  # type: ignore[no-any-return]

    def read1(self, size: int = -1) -> bytes:
        if size > AHEAD:
            self._ahead(self.inner.tell() + size)
        return self._reached(self.inner.read1(size))  # type: ignore[no-any-return]

    def readline(self, size: int | None = -1) -> bytes:
        return self._reached(self.inner.readline(size))  # type: ignore[no-any-return]

    def peek(self, size: int = 0) -> bytes:
        return self.inner.peek(size)  # type: ignore[no-any-return]

    def close(self) -> None:
        if not self.closed:
            self.inner.close()
        super().close()


def _open_tar(path: Path, budget: Budget) -> tarfile.TarFile:
    """``path`` opened by tarfile (plain, gzip, bzip2 or xz, told by its first
    bytes), its decompressed stream charged to ``budget`` (``_Charged``): from
    the first header on, as tarfile reads the first one while opening. A pax
    or long-name header declaring more than ``MAX_TAR_HEADER`` bytes raises
    ``TarHeaderTooLarge`` before it is read, in a plain tar too."""

    class Info(tarfile.TarInfo):
        def _proc_member(self, tf: tarfile.TarFile) -> Any:
            # the header block is read; what it declares is not yet
            kind = _LONG_HEADERS.get(self.type)
            if kind is not None and self.size > MAX_TAR_HEADER:
                raise TarHeaderTooLarge(
                    f"{path}: refused: a {kind} header (at byte {self.offset:,} of the tar "
                    f"stream) declares {self.size:,} bytes, more than {MAX_TAR_HEADER:,} "
                    "(real ones hold a path and a few attributes: bytes to KiB; tarfile "
                    "would read it whole into memory); nothing of the archive is read")
            member = super()._proc_member(tf)
            sparse = getattr(member, "sparse", None)
            if sparse is not None and not getattr(member, "_rasd_counted", False):
                member._rasd_counted = True  # (a pax header returns the member it read)
                # the pax formats 0.0 and 0.1 hold their map in the pax header
                # (MAX_TAR_HEADER): counted once read, as the others are
                _sparse_room(tf, len(sparse), 0, member.name)
                tf._rasd_sparse = getattr(tf, "_rasd_sparse", 0) + len(sparse)
            return member

        def _proc_sparse(self, tf: tarfile.TarFile) -> Any:
            # tarfile's, the map's extension blocks read within MAX_SPARSE_SEGMENTS
            structs, extended, origsize = self._sparse_structs
            del self._sparse_structs
            while extended:
                _sparse_room(tf, len(structs), 21, self.name)
                buf = tf.fileobj.read(tarfile.BLOCKSIZE)
                if len(buf) < tarfile.BLOCKSIZE:
                    raise tarfile.ReadError("unexpected end of data in a sparse map")
                for pos in range(0, 21 * 24, 24):
                    try:
                        offset = tarfile.nti(buf[pos:pos + 12])
                        numbytes = tarfile.nti(buf[pos + 12:pos + 24])
                    except ValueError:
                        break
                    if offset and numbytes:
                        structs.append((offset, numbytes))
                extended = bool(buf[504])
            self.sparse = structs
            self.offset_data = tf.fileobj.tell()
            tf.offset = self.offset_data + self._block(self.size)
            self.size = origsize
            return self

        def _proc_gnusparse_10(self, next: Any, pax_headers: dict, tf: tarfile.TarFile
                               ) -> None:
            # tarfile's, the map's count checked before the map is read, each
            # number's line within 64 bytes (a line without end was read on,
            # 512 bytes at a time, to the end of the archive)
            name = pax_headers.get("GNU.sparse.name") or pax_headers.get("path") or next.name
            buf = tf.fileobj.read(tarfile.BLOCKSIZE)
            count, nl, buf = buf.partition(b"\n")
            if not nl or not count.strip().isdigit():
                raise tarfile.ReadError(f"{name!r}: no count of a GNU sparse map")
            fields = int(count)
            _sparse_room(tf, 0, fields, name)
            numbers: list[int] = []
            while len(numbers) < fields * 2:
                if b"\n" not in buf:
                    more = tf.fileobj.read(tarfile.BLOCKSIZE)
                    if not more or len(buf) > 64:
                        raise tarfile.ReadError(f"{name!r}: a GNU sparse map cut short "
                                                "or malformed")
                    buf += more
                number, buf = buf.split(b"\n", 1)
                if not number.strip().isdigit():
                    raise tarfile.ReadError(f"{name!r}: a GNU sparse map malformed")
                numbers.append(int(number))
            next.offset_data = tf.fileobj.tell()
            next.sparse = list(zip(numbers[::2], numbers[1::2]))

    def _sparse_room(tf: tarfile.TarFile, have: int, more: int, name: str) -> None:
        """Refuse the archive where its sparse maps would pass MAX_SPARSE_SEGMENTS
        with ``more`` segments than the ``have`` read of this one's so far."""
        total = getattr(tf, "_rasd_sparse", 0) + have + more
        if total > MAX_SPARSE_SEGMENTS:
            raise TarSparseMapTooLarge(
                f"{path}: refused: GNU sparse member {name!r} (with the maps before it) "
                f"declares over {MAX_SPARSE_SEGMENTS:,} data segments ({total:,}; a real "
                "map holds one per run of data between holes, and chat exports are "
                "never sparse; tarfile would read the map whole into memory); nothing "
                "of the archive is read")

    class Bounded(tarfile.TarFile):
        tarinfo = Info

        @classmethod
        def taropen(cls, name: Any, mode: str = "r", fileobj: Any = None,
                    **kwargs: Any) -> tarfile.TarFile:
            if fileobj is not None:  # (a decompressor: gzopen, bz2open and xzopen pass it)
                fileobj = _Charged(fileobj, budget, "tar")
            return super().taropen(name, mode, fileobj, **kwargs)

    try:
        return Bounded.open(path, "r:*")
    except tarfile.ReadError:
        if budget.tripped is not None:  # (gzopen says "not a gzip file" for any OSError)
            raise budget.tripped from None
        raise


_KINDS: tuple[type[Archive], ...] = (ZipArchive, TarArchive)


def archive_kind(path: Path) -> type[Archive] | None:
    """The kind of archive ``path``'s name says, if any."""
    return next((k for k in _KINDS if k.claims(path)), None)


def is_archive(path: Path) -> bool:
    return archive_kind(path) is not None and path.is_file()


def damage(archive: Path) -> str | None:
    """Why only part of ``archive`` could be listed (a ``.tar.gz`` cut short:
    the members before the cut are read), or None."""
    try:
        return shared_archive(archive).damage
    except UNREADABLE:
        return None


def member_path(archive: Path, name: str) -> Path:
    return Path(f"{archive}{SEP}{name}")


# Archives kept open, their directories read once: an export of a hundred pages
# and 20,000 photos opened its archive a few times a page, ~80 ms each (a zipped
# export took 12x as long as the folder). Keyed by path, size and time, so an
# archive changed since is read afresh; a forked parsing process opens its own
# (the descriptor's offset is shared across a fork).
_OPEN: dict[tuple[str, int, int], Archive] = {}
_OPEN_MAX = 2


def shared_archive(archive: Path) -> Archive:
    """The archive, open for reading (kept open for the next call; do not close
    it). Raises what ``zipfile`` or ``tarfile`` raise for an unreadable one
    (``UNREADABLE``)."""
    st = os.stat(archive)
    key = (os.path.realpath(archive), st.st_mtime_ns, st.st_size)
    arc = _OPEN.get(key)
    if arc is None:
        kind = archive_kind(archive) or ZipArchive
        arc = kind(archive)
        while len(_OPEN) >= _OPEN_MAX:  # members still open keep their own reference
            _OPEN.pop(next(iter(_OPEN))).close()
        _OPEN[key] = arc
    return arc


def _kind_name(archive: Path) -> str:
    return (archive_kind(archive) or ZipArchive).kind


def _check_count(archive: Path) -> None:
    """Refuse a ZIP archive whose directory declares more than ``MAX_MEMBERS``
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


def members(archive: Path, wanted: Any, *, bounded: bool = True) -> list[str]:
    """Names of the members ``wanted(PurePath)`` accepts, in archive order.
    Raises ``IngestError`` for a file that is not a readable archive, and for
    a decompression bomb: a compressed tar whose stream unpacks past its budget
    (``Budget``: listing it decompresses it), or members accepted whose sizes
    together pass it (``bounded``: a ZIP member's declared size is the most
    zipfile hands on; a tar member's size is what is read of it, its holes
    too where it is sparse). Nothing of such an archive is read."""
    try:
        arc = shared_archive(archive)
        files = arc.files()
    except (DecompressionBomb, TarHeaderTooLarge) as e:  # (each names the archive;
        # TarSparseMapTooLarge too)
        raise IngestError(str(e)) from None
    except UNREADABLE as e:
        raise IngestError(f"{archive}: not a readable {_kind_name(archive)} archive: "
                          f"{e}") from None
    if len(files) > MAX_MEMBERS:
        raise IngestError(f"{archive}: {len(files):,} members, more than {MAX_MEMBERS:,}")
    out = []
    for name, plain in files:
        posix = Path(name.replace("\\", "/"))  # "\\": zipped by a Windows tool
        parts = posix.parts
        # hidden files and macOS resource forks are not data; "../" is only a
        # name here (nothing is extracted), so such a member is read like any
        if not plain or not parts or any(
                (p.startswith(".") and p != "..") or p == "__MACOSX" for p in parts):
            continue
        if wanted(posix):
            out.append(name)
    if bounded:
        _check_sizes(arc, out)
    return out


def _check_sizes(arc: Archive, names: list[str]) -> None:
    total = 0
    for name in names:
        total += arc.size(name)
        arc.budget.declared(total, name)


class _Member(io.RawIOBase):
    """One member, read through the archive kept open (``shared_archive``);
    damage inside the archive (a bad CRC, a broken deflate stream) is an
    OSError, as in a damaged .gz, so parsers keep what came before."""

    def __init__(self, archive: Path, name: str) -> None:
        try:
            self.arc = shared_archive(archive)
        except UNREADABLE as e:
            raise IngestError(f"{archive}{SEP}{name}: not readable in the archive: {e}") \
                from None
        try:
            self.size = self.arc.size(name)
            self.f: IO[bytes] = _Damaged(self.arc.open(name))
        except (RuntimeError, NotImplementedError) as e:  # encrypted; a method zipfile lacks
            raise IngestError(f"{archive}{SEP}{name}: cannot be read: {e}") from None
        except (*UNREADABLE, KeyError) as e:
            raise IngestError(f"{archive}{SEP}{name}: not readable in the archive: {e}") \
                from None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.f.read1(len(b))  # read(): a cut after part of it lost that part
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.f.close()  # the archive stays open for the next member (shared_archive)
        super().close()


def member_stream(archive: Path, name: str) -> Stream:
    """A member as a ``Stream`` parsers may open again and again; close it when
    done (``with member_stream(a, n) as s``: its first reader is closed then)."""
    def reopen() -> IO[bytes]:
        return io.BufferedReader(_Member(archive, name), 1 << 16)

    first = reopen()  # fails here, before any work, when the member is unreadable
    names = first.raw.arc.media_names()  # for the media the member names
    where = archive.resolve()
    try:  # the first bytes are read at once (compression is told by them)
        s = Stream(first, name=f"{archive}{SEP}{name}", path=member_path(archive, name),
                   reopen=reopen, size=first.raw.size, origin=f"{where}{SEP}{name}",
                   source_name=archive.name, owns_source=True)
    except (OSError, EOFError) as e:  # damaged or cut where it starts: a small member
        # is checked whole
        first.close()
        raise IngestError(f"{archive}{SEP}{name}: not readable in the archive: {e}") \
            from None
    s.media_root = MediaRoot(archive=str(where),
                             inner=posixpath.dirname(name.replace("\\", "/")), names=names)
    # a compressed member (a .jsonl.gz in the archive) unpacks within the archive's
    # budget: all its members and layers together, not each its own
    s.budget, s.budget_key, s.budget_member = first.raw.arc.budget, ("inner", name), name
    return s


_NAMES: weakref.WeakKeyDictionary[Archive, dict[str, str]] = \
    weakref.WeakKeyDictionary()  # media_names of each open archive, made once (not per
# member read: a hundred pages of an archive of 20,000 photos)
_STORED: weakref.WeakKeyDictionary[Archive, dict[str, str]] = weakref.WeakKeyDictionary()


def normal_name(name: str) -> str:
    """A member name as a member path (``archive.zip!/name``) gives it back:
    ``./a/b`` and ``/a/b`` are ``a/b`` (``Path`` drops "." parts and repeated
    or trailing "/")."""
    return str(Path("_!/" + name))[3:]


def split_member(path: str | Path) -> tuple[Path, str] | None:
    """``(archive, member)`` for a path that names a member of an archive
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


def reading_keys(paths: list[str | None]) -> list[tuple[str, int] | None]:
    """For each of ``paths`` (local paths of media), ``(archive, offset of the
    member in it)`` where it names a member of a compressed tar archive, else
    None: members read in the order of these keys are read in one pass over
    each archive (``reading_order``; the media scan's plan,
    ``MediaDetector.plan``). Each archive is opened once a call (an unreadable
    one gives None for its members, said when they are read)."""
    out: list[tuple[str, int] | None] = []
    tars: dict[Path, TarArchive | None] = {}
    for p in paths:
        member = split_member(p) if p and SEP in p else None
        key: tuple[str, int] | None = None
        if member is not None and TarArchive.claims(member[0]):
            if member[0] not in tars:
                try:
                    arc = shared_archive(member[0])
                except UNREADABLE:
                    arc = None
                tars[member[0]] = arc if isinstance(arc, TarArchive) and arc.compressed \
                    else None
            tar = tars[member[0]]
            info = tar.members.get(tar.stored(member[1])) if tar is not None else None
            if info is not None:
                key = (str(member[0]), info.offset)
        out.append(key)
    return out


def reading_order(paths: list[str | None]) -> list[int]:
    """The indices of ``paths`` (local paths of media) in the order to read
    them: the members of a compressed tar archive by archive, in the archive's
    order (``reading_keys``), after the rest (kept as they come). A member of a
    .tar.gz behind the last one read is reached by decompressing the archive
    again from its first byte: a media scan takes photos in the order of their
    ids, not the archive's, and did that for about every other photo (a pass
    over the archive each); in the archive's order they are one pass. (The
    media scan plans the whole scan so, ``MediaDetector.plan``: its batches
    follow on in the archive; this orders the photos of one batch.)"""
    keyed = [(k is not None, *(k or ("", 0)), i) for i, k in enumerate(reading_keys(paths))]
    return [k[-1] for k in sorted(keyed)]


def member_tail(archive: Path, name: str, n: int) -> bytes:
    """The last ``n`` bytes of a member (OSError where it cannot be read)."""
    try:
        arc = shared_archive(archive)
        kept = arc.kept_tail(name, n)
        if kept is not None:
            return kept
        size = arc.size(name)
        with arc.open(name) as f:
            f.seek(max(0, size - n))
            return f.read(n)
    except (*UNREADABLE, KeyError, RuntimeError) as e:
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
        arc = shared_archive(archive)
    except UNREADABLE as e:
        raise OSError(f"{archive}: not a readable {_kind_name(archive)} archive: {e}") \
            from None
    with tempfile.TemporaryDirectory(prefix="rasd-member-") as tmp:
        try:
            size = arc.size(name)
        except KeyError:
            raise FileNotFoundError(f"{archive}{SEP}{name}: no such member") from None
        if size > max_bytes:
            raise OSError(f"{archive}{SEP}{name}: {size:,} bytes, more than {max_bytes:,}")
        out = Path(tmp) / ("member" + suffix)
        try:
            with arc.open(name) as src, open(out, "wb") as dst:
                left = max_bytes + 1
                while chunk := src.read(min(1 << 20, left)):
                    dst.write(chunk)
                    left -= len(chunk)
                    if left <= 0:
                        raise OSError(f"{archive}{SEP}{name}: more than {max_bytes:,} bytes")
        except (zipfile.BadZipFile, tarfile.TarError, RuntimeError, NotImplementedError,
                EOFError, ValueError, *_DECOMPRESS_ERRORS) as e:
            raise OSError(f"{archive}{SEP}{name}: not readable in the archive: {e}") from None
        yield out
