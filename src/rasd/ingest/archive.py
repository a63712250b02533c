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
archive points to stay inside it: they are recorded by relative path, without
a local file (extract the archive to hash them).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import IO, Any

from rasd.ingest.base import IngestError, Stream, _Damaged

SEP = "!/"  # archive path + SEP + member name, as Java and GDAL name members
MAX_MEMBERS = 100_000


def is_archive(path: Path) -> bool:
    return path.suffix.lower() == ".zip" and path.is_file()


def member_path(archive: Path, name: str) -> Path:
    return Path(f"{archive}{SEP}{name}")


def members(archive: Path, wanted: Any) -> list[str]:
    """Names of the members ``wanted(PurePath)`` accepts, in archive order.
    Raises ``IngestError`` for a file that is not a readable ZIP archive."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise IngestError(f"{archive}: not a readable ZIP archive: {e}") from None
    if len(infos) > MAX_MEMBERS:
        raise IngestError(f"{archive}: {len(infos):,} members, more than {MAX_MEMBERS:,}")
    out = []
    for info in infos:
        name = info.filename
        parts = Path(name).parts
        # hidden files and macOS resource forks are not data; "../" is only a
        # name here (nothing is extracted), so such a member is read like any
        if info.is_dir() or not parts or any(
                (p.startswith(".") and p != "..") or p == "__MACOSX" for p in parts):
            continue
        if wanted(Path(name)):
            out.append(name)
    return out


class _Member(io.RawIOBase):
    """One member, read from its own handle on the archive (closed with it);
    damage inside the archive (a bad CRC, a broken deflate stream) is an
    OSError, as in a damaged .gz, so parsers keep what came before."""

    def __init__(self, archive: Path, name: str) -> None:
        try:
            self.zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError) as e:
            raise IngestError(f"{archive}{SEP}{name}: not readable in the archive: {e}") \
                from None
        try:
            self.size = self.zf.getinfo(name).file_size
            self.f: IO[bytes] = _Damaged(self.zf.open(name))
        except (RuntimeError, NotImplementedError) as e:  # encrypted; a method zipfile lacks
            self.zf.close()
            raise IngestError(f"{archive}{SEP}{name}: cannot be read: {e}") from None
        except (zipfile.BadZipFile, KeyError, OSError) as e:
            self.zf.close()
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
            self.f.close()
            self.zf.close()
        super().close()


def member_stream(archive: Path, name: str) -> Stream:
    """A member as a ``Stream`` parsers may open again and again."""
    def reopen() -> IO[bytes]:
        return io.BufferedReader(_Member(archive, name), 1 << 16)

    first = reopen()  # fails here, before any work, when the member is unreadable
    return Stream(first, name=f"{archive}{SEP}{name}", path=member_path(archive, name),
                  reopen=reopen, size=first.raw.size, origin=f"{archive.resolve()}{SEP}{name}",
                  source_name=archive.name)

