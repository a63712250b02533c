"""Tar archives cut short or damaged inside a member (issue 2, item 7: "a
truncated file ... every valid record in the same file is still stored"): a
compressed tar keeps every whole record before the cut, as the same cut of a
plain .tar does, and the cut record is one reject naming the member and line."""

from __future__ import annotations

import bz2
import gc
import io
import json
import lzma
import os
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from rasd.ingest import ingest_path
from rasd.ingest.archive import TarArchive, member_stream, members

DECOMPRESSORS = {"gz": lambda: zlib.decompressobj(31), "bz2": bz2.BZ2Decompressor,
                 "xz": lzma.LZMADecompressor}


def _lines(n: int, tag: str = "") -> list[bytes]:
    return [json.dumps({"data": {"id": f"{tag}{i}", "text": "t" * 80, "author_id": "2"}}
                       ).encode() + b"\n" for i in range(n)]


def _plain_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _ingest_members(store, archive: Path) -> list[tuple[str, int, list[int | None]]]:
    """(member, posts new, lines of its rejects) for every member, in order."""
    out = []
    for name in members(archive, lambda p: True):
        with member_stream(archive, name) as s:
            rep = ingest_path(store, s, keep_rejects=100)
        out.append((name, rep.counts["by_kind"]["posts"]["new"],
                    [r.get("line") for r in rep.rejects]))
    return out


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
def test_a_compressed_tar_cut_inside_a_member_keeps_what_a_plain_tar_keeps(
        store, second_store, tmp_path, kind):
    """A .tar.gz/.tar.bz2/.tar.xz cut inside a member lost the records of the
    last read before the cut (the decompressor raised EOFError from read(),
    dropping what it had decompressed in that call): here 4,377 records kept
    (.tar.gz) where the same cut of a plain .tar keeps 4,661. Now every whole
    record the decompressor can give before the cut is stored, as in the plain
    .tar cut at the same byte of the data, and the record the cut goes through
    is one reject."""
    lines = _lines(8_000)
    plain = _plain_tar({"a.jsonl": b"".join(_lines(300, "a")), "b.jsonl": b"".join(lines)})
    packed = {"gz": lambda d: __import__("gzip").compress(d), "bz2": lambda d: bz2.compress(d, 1),
              "xz": lzma.compress}[kind](plain)
    cut = packed[: int(len(packed) * 0.6)]
    there = DECOMPRESSORS[kind]().decompress(cut)  # what any reader can get back
    b_start = plain.index(lines[0])
    assert b_start < len(there) < b_start + len(b"".join(lines))  # cut inside b.jsonl
    whole = sum(1 for _ in io.BytesIO(there[b_start:])) - 1  # lines before the cut one
    archive = tmp_path / f"cut.tar.{kind}"
    archive.write_bytes(cut)
    same_cut = tmp_path / "cut.tar"
    same_cut.write_bytes(plain[: len(there)])

    got = _ingest_members(store, archive)
    assert got == _ingest_members(second_store, same_cut)
    assert got == [("a.jsonl", 300, []), ("b.jsonl", whole, [whole + 1])]
    with member_stream(archive, "b.jsonl") as s:  # again: the reject's words
        rep = ingest_path(store, s)
    (r,) = rep.rejects
    assert r["file"].endswith(f"cut.tar.{kind}!/b.jsonl") and r["line"] == whole + 1
    assert "damaged archive member" in r["reason"], r
    assert whole > 500
    assert store.stats()["posts"] == 300 + whole


def _sparse_tar(segments: list[bytes], holes: list[int]) -> tuple[bytes, bytes]:
    """A tar archive of one GNU sparse member (PAX, format 0.1) whose data
    segments are ``segments`` with ``holes[i]`` NULs before segment i, and the
    member as it reads."""
    spec, content, at = [], b"", 0
    for hole, seg in zip(holes, segments, strict=True):
        at += hole
        spec += [str(at), str(len(seg))]
        content += b"\0" * hole + seg
        at += len(seg)
    stored = b"".join(segments)
    info = tarfile.TarInfo("s.jsonl")
    info.size = len(stored)
    info.pax_headers = {"GNU.sparse.map": ",".join(spec), "GNU.sparse.size": str(len(content))}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        t.addfile(info, io.BytesIO(stored))
        after = tarfile.TarInfo("z.jsonl")
        after.size = 10
        t.addfile(after, io.BytesIO(b"\n" * 10))
    return buf.getvalue(), content


def test_a_sparse_member_cut_between_its_segments_skips_nothing(tmp_path):
    """A GNU sparse member whose archive is cut inside its second segment:
    tarfile's reader moved past the first segment in the read that then failed,
    so the read retried after the cut began at the second segment, and the
    first one's bytes (all of them, in a read of 64 KiB) were never handed on.
    Now the member reads as tarfile reads it whole, up to the cut, then the
    cut is an OSError."""
    segments = [b"".join(_lines(100, "a")), b"".join(_lines(100, "b"))]
    data, content = _sparse_tar(segments, [0, 3000])
    whole = tmp_path / "whole.tar"
    whole.write_bytes(data)
    with tarfile.open(whole) as t:  # tarfile's own reading of the whole archive
        assert t.extractfile("s.jsonl").read() == content  # type: ignore[union-attr]
    arc = TarArchive(whole)
    with arc.open("s.jsonl") as f:
        assert f.read() == content  # the same, with its hole
    arc.close()
    cut = tmp_path / "cut.tar"
    stop = data.index(segments[1]) + len(segments[1]) // 2
    cut.write_bytes(data[:stop])
    arc = TarArchive(cut)
    got = bytearray()
    with arc.open("s.jsonl") as f, pytest.raises(OSError, match="unexpected end of data"):
        while piece := f.read1(1 << 16):
            got += piece
    arc.close()
    assert bytes(got) == content[:len(content) - (len(data[:data.index(segments[1])])
                                                  + len(segments[1]) - stop)]


def test_a_sparse_member_cut_between_its_segments_is_stored_up_to_the_cut(store, tmp_path):
    """The same through `ingest`: the records of the first segment and the
    whole ones of the second before the cut are stored (adjacent segments: the
    member is JSON Lines throughout)."""
    first, second = _lines(100, "a"), _lines(400, "b")
    data, content = _sparse_tar([b"".join(first), b"".join(second)], [0, 0])
    assert content == b"".join(first + second)
    keep = 250
    archive = tmp_path / "cut.tar"
    archive.write_bytes(data[: data.index(b"".join(second)) + len(b"".join(second[:keep])) + 7])
    ((name, new, rejected),) = _ingest_members(store, archive)
    assert (name, new, rejected) == ("s.jsonl", 100 + keep, [100 + keep + 1])


def _count_gzip_rewinds(monkeypatch) -> list[int]:
    """A one-item list counting, from now on, how often a gzip reader goes
    back to its first byte (each a decompression of the archive again)."""
    import gzip

    rewinds = [0]
    real = gzip._GzipReader._rewind

    def counting(self) -> None:
        rewinds[0] += 1
        real(self)

    monkeypatch.setattr(gzip._GzipReader, "_rewind", counting)
    return rewinds


def _fds_of(path: Path) -> int:
    """How many of this process's file descriptors are open on ``path``."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except OSError:  # (the listing's own descriptor, gone by now)
            pass
    return n


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_member_streams_first_reader_is_closed_when_done(store, tmp_path):
    """A member's ``Stream`` left its first reader to the garbage collector: the
    last file's stayed open (``CURRENT_RAW`` refers to it), and with it the
    ZIP archive's file descriptor after the archive was closed (``zipfile``
    keeps it for each open member). ``rasd ingest`` and ``with member_stream``
    now close it when the member is done."""
    from typer.testing import CliRunner

    from rasd.cli import app
    from rasd.ingest import archive as A

    archive = tmp_path / "one.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.jsonl", b"".join(_lines(10)))

    def closed_after(run) -> int:
        for arc in A._OPEN.values():
            arc.close()
        A._OPEN.clear()
        gc.disable()  # what is closed, is closed without it
        try:
            run()
            for arc in A._OPEN.values():  # the archive closed: its descriptor goes
                arc.close()  # unless a member is still open
            A._OPEN.clear()
            return _fds_of(archive)
        finally:
            gc.enable()

    db = str(tmp_path / "c.db")
    assert closed_after(lambda: CliRunner().invoke(
        app, ["--db", db, "ingest", str(archive), "--jobs", "1"])) == 0

    def library() -> None:
        with member_stream(archive, "a.jsonl") as s:
            assert ingest_path(store, s).counts["by_kind"]["posts"]["new"] == 10
        with pytest.raises(ValueError, match="closed"):
            s.open()

    assert closed_after(library) == 0


def test_html_pages_of_a_tar_gz_read_the_page_before_without_decompressing_again(
        store, second_store, tmp_path, monkeypatch):
    """A Telegram HTML page opening with "joined" messages takes their sender
    from the end of the page before (``member_tail``). In a .tar.gz reaching
    that page again meant decompressing the archive from its first byte, once
    a page (a quadratic pass over an export of many pages). The end of the page
    just read is kept: the archive is decompressed once to list it and once to
    read it, and the senders are those the same export in a plain .tar gives."""
    import gzip

    from tests.test_ingest_telegram_html import html_export, message

    pages = [[message(100 * p + i, f"page {p} message {i}", joined=i == 0 and p > 0,
                      sender=f"Sender {p}") for i in range(30)] for p in range(8)]
    d = html_export(tmp_path, pages)
    names = ["messages.html"] + [f"messages{k}.html" for k in range(2, 9)]
    files = {f"{d.name}/{n}": (d / n).read_bytes() for n in names}
    files[f"{d.name}/photos/photo_1.jpg"] = (d / "photos" / "photo_1.jpg").read_bytes()
    plain = tmp_path / "html.tar"
    plain.write_bytes(_plain_tar(files))
    packed = tmp_path / "html.tar.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    rewinds = _count_gzip_rewinds(monkeypatch)
    for s, archive in ((store, packed), (second_store, plain)):
        for name in members(archive, lambda p: p.suffix == ".html"):
            with member_stream(archive, name) as m:
                assert ingest_path(s, m, jobs=1).rejected == 0
    assert rewinds[0] <= 1  # the first member read after the listing
    q = "select p.platform_id, a.name from posts p join accounts a on a.id = p.account_id"
    from sqlalchemy import text

    got = []
    for s in (store, second_store):
        with s.connect() as c:
            got.append(sorted(tuple(r) for r in c.execute(text(q))))
    assert got[0] == got[1] and len(got[0]) == 240
    # the joined first message of each page has the sender of the page before
    assert {n for i, n in got[0] if i.endswith(("/200", "/700"))} == {"Sender 1", "Sender 6"}


def _export_files(n: int, shuffle: int | None = None, chat: int = 7000000009
                  ) -> dict[str, bytes]:
    """A Telegram JSON export of ``n`` distinct PNG photos, by member name: its
    photos stored in the reverse order of their messages (and so of their
    media ids), or shuffled with seed ``shuffle``."""
    import random

    from PIL import Image

    photos = {}
    for i in range(n):
        img = Image.new("RGB", (64, 48), (20 * i % 256, (255 - 20 * i) % 256, (7 * i) % 256))
        img.paste((255, 255, 255), (i * 4 % 56, 0, i * 4 % 56 + 8, 48))
        buf = io.BytesIO()
        img.save(buf, "PNG")
        photos[f"photos/p{i:02d}.png"] = buf.getvalue()
    export = {"name": "C", "type": "public_channel", "id": chat, "messages": [
        {"id": i + 1, "type": "message", "date": "2024-03-01T10:00:00",
         "date_unixtime": str(1709287200 + i), "from": "C", "from_id": f"channel{chat}",
         "photo": name, "text": f"photo {i}", "text_entities": []}
        for i, name in enumerate(photos)]}
    names = list(reversed(photos))
    if shuffle is not None:
        random.Random(shuffle).shuffle(names)
    files = {"Export/result.json": json.dumps(export).encode()}
    files.update({f"Export/{k}": photos[k] for k in names})
    return files


def _tar_gz_export(store, tmp_path: Path, n: int, shuffle: int | None = None,
                   chat: int = 7000000009) -> Path:
    """``_export_files`` packed in a .tar.gz, ingested into ``store``."""
    import gzip

    archive = tmp_path / "export.tar.gz"
    archive.write_bytes(gzip.compress(_plain_tar(_export_files(n, shuffle, chat))))
    with member_stream(archive, "Export/result.json") as s:
        assert ingest_path(store, s).counts["by_kind"]["posts"]["new"] == n
    return archive


def test_a_media_scan_reads_the_photos_of_a_tar_gz_in_its_order(store, tmp_path, monkeypatch):
    """The media scan takes photos in the order of their ids; in a .tar.gz each
    photo behind the last one read was reached by decompressing the archive
    again from its first byte (here 11 passes for 12 photos stored in the
    reverse order of their messages). A batch of photos is now read in the
    archive's order: one pass, the same photos hashed."""
    from rasd.detect.media.detector import MediaDetector
    from rasd.detect.scan import scan

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    n = 12
    _tar_gz_export(store, tmp_path, n)
    rewinds = _count_gzip_rewinds(monkeypatch)
    det = MediaDetector()
    scan(store, [det])
    assert det.stats["hashed"] == n and det.stats["errors"] == 0
    assert rewinds[0] <= 1


def test_a_media_scan_reads_a_tar_gz_once_across_its_batches(store, tmp_path, monkeypatch):
    """Each batch of the media scan (64 photos) was read in the archive's order,
    but the batches were cut in the order of the media ids: each went back to
    the archive's start, a decompression of it a batch (a 1,000-photo export:
    ~16). The scan now cuts its batches from a page of ids put in the
    archive's order (``MediaDetector.plan``): the batches follow on, one pass
    for the scan. Here 5 batches of 4 photos: 5 passes before, now 1; and the
    photos hashed and their detections are those of batches cut by id."""
    from sqlalchemy import select

    from rasd.detect.media import schema as M
    from rasd.detect.media.detector import MediaDetector
    from rasd.detect.scan import scan
    from rasd.store import schema as S

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.setattr(MediaDetector, "batch_size", 4)
    n = 20
    _tar_gz_export(store, tmp_path, n)
    with store.connect() as c:
        ids = [r[0] for r in c.execute(select(S.media.c.id).order_by(S.media.c.id))]
    det = MediaDetector()
    det.bind(store)
    # the archive holds the photos newest message first: held back, then in its order
    assert list(det.plan([ids])) == [ids[::-1]]
    # (no such media: at once)
    assert list(det.plan([ids[:3] + [10**9]])) == [[10**9], ids[:3][::-1]]

    from rasd.ingest.archive import _OPEN
    while _OPEN:  # listed afresh by the scan, as in a new process
        _OPEN.popitem()[1].close()
    rewinds = _count_gzip_rewinds(monkeypatch)
    det = MediaDetector()
    res = scan(store, [det])
    assert res[0].scanned == n
    assert det.stats["hashed"] == n and det.stats["errors"] == 0 and det.stats["missing"] == 0
    assert rewinds[0] == 1  # the first photo read after the pass that lists the archive
    with store.connect() as c:
        hashed = {r[0] for r in c.execute(select(M.media_signals.c.media_id))}
        scanned = {r[0] for r in c.execute(select(S.scans.c.subject_id).where(
            S.scans.c.detector == "media"))}
    assert hashed == scanned == set(ids)


def _count_tar_passes(monkeypatch):
    """A function giving, from now on, the passes over a compressed tar:
    (archives opened by tarfile, ``archive._open_tar``, each listed, a pass;
    gzip readers gone back to their first byte: each a decompression of the
    archive again)."""
    from rasd.ingest import archive as A

    opened = [0]
    real = A._open_tar

    def counting(*args, **kwargs):
        opened[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(A, "_open_tar", counting)
    rewinds = _count_gzip_rewinds(monkeypatch)
    return lambda: (opened[0], rewinds[0])


def _media_results(store) -> tuple[list[tuple], list[tuple]]:
    """(media key, signal type, signal) of every stored signal and (media key,
    label, score) of every media detection."""
    from sqlalchemy import select

    from rasd.detect.media import schema as M
    from rasd.store import schema as S

    m, ms, d = S.media, M.media_signals, S.detections
    with store.connect() as c:
        sigs = c.execute(select(m.c.media_key, ms.c.signal_type, ms.c.signal)
                         .join(ms, ms.c.media_id == m.c.id)).all()
        dets = c.execute(select(m.c.media_key, d.c.label, d.c.score).join(
            d, (d.c.subject_id == m.c.id) & (d.c.subject_type == "media"))).all()
    return sorted(tuple(r) for r in sigs), sorted(tuple(r) for r in dets)


def _scan_pages_of(monkeypatch, page: int, batch: int) -> None:
    from rasd.detect import scan as scan_mod
    from rasd.detect.media.detector import MediaDetector
    from rasd.ingest.archive import _OPEN

    monkeypatch.setattr(scan_mod, "PAGE", page)
    monkeypatch.setattr(MediaDetector, "batch_size", batch)
    while _OPEN:  # listed afresh by the scan, as in a new process
        _OPEN.popitem()[1].close()


def test_a_media_scan_reads_a_tar_gz_once_across_its_pages(store, second_store, tmp_path,
                                                           monkeypatch):
    """The scan reads pending media a page at a time (``scan.PAGE``, 20,000),
    and the photos of a .tar.gz were put in the archive's order a page at a
    time: an export of more photos was decompressed again for each page (45,000
    photos: 3 passes after the listing). They are held back across pages
    now (``MediaDetector.plan``) and read last: here 30 photos shuffled in the
    archive, in pages of 7 and batches of 4, were 5 passes after the listing,
    now 1; what is stored is what the same export as a folder gives."""
    import gzip
    import hashlib

    from rasd.detect.media import banks as B
    from rasd.detect.media.detector import MediaDetector
    from rasd.detect.scan import scan

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    n = 30
    files = _export_files(n, shuffle=3)
    archive = tmp_path / "export.tar.gz"
    archive.write_bytes(gzip.compress(_plain_tar(files)))
    with member_stream(archive, "Export/result.json") as s:
        assert ingest_path(store, s).counts["by_kind"]["posts"]["new"] == n
    folder = tmp_path / "folder"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    assert ingest_path(second_store, folder / "Export" / "result.json"
                       ).counts["by_kind"]["posts"]["new"] == n
    bank = tmp_path / "bank.csv"
    bank.write_text("signal_type,signal,labels\n" + "".join(
        f"md5,{hashlib.md5(files[f'Export/photos/p{i:02d}.png']).hexdigest()},entity=t\n"
        for i in (4, 23)))
    for s in (store, second_store):
        B.create_bank(s, "t", labels={"entity": "t"})
        B.import_file(s, "t", bank)

    _scan_pages_of(monkeypatch, 7, 4)
    passes = _count_tar_passes(monkeypatch)
    det = MediaDetector()
    assert scan(store, [det])[0].scanned == n
    assert det.stats["hashed"] == n and det.stats["errors"] == det.stats["missing"] == 0
    # listed once, then read from the first photo after going back to its start
    assert passes() == (1, 1)
    assert scan(second_store, [MediaDetector()])[0].scanned == n
    got = _media_results(store)
    assert got == _media_results(second_store)
    assert len(got[0]) >= n and len(got[1]) == 2


def test_a_media_scan_of_a_tar_gz_interrupted_goes_on_where_it_stopped(store, second_store,
                                                                       tmp_path, monkeypatch):
    """Held back across pages, the photos of a .tar.gz keep what a Ctrl-C and
    ``--limit`` meant: the batches scanned before a Ctrl-C are stored, the next
    scan scans the rest (each photo once), a limit takes the lowest pending
    ids, and the end is what one scan gives."""
    from sqlalchemy import select

    from rasd.detect.media.detector import MediaDetector
    from rasd.detect.scan import scan
    from rasd.store import schema as S

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    n = 30
    for s, where in ((store, tmp_path / "a"), (second_store, tmp_path / "b")):
        where.mkdir()
        _tar_gz_export(s, where, n, shuffle=4)
    _scan_pages_of(monkeypatch, 7, 4)

    def scanned() -> list[int]:
        with store.connect() as c:
            return sorted(r[0] for r in c.execute(select(S.scans.c.subject_id).where(
                S.scans.c.detector == "media")))

    real = MediaDetector.detect
    batches: list[int] = []

    def interrupted(self, subjects):  # a Ctrl-C as the third batch is hashed
        if len(batches) == 2:
            raise KeyboardInterrupt
        batches.append(len(subjects))
        return real(self, subjects)

    monkeypatch.setattr(MediaDetector, "detect", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scan(store, [MediaDetector()])
    monkeypatch.setattr(MediaDetector, "detect", real)
    done = scanned()
    assert len(done) == sum(batches) == 8  # (whole batches: runs of batches held back)
    with store.connect() as c:
        ids = [r[0] for r in c.execute(select(S.media.c.id).order_by(S.media.c.id))]
    pending = [i for i in ids if i not in done]
    assert scan(store, [MediaDetector()], limit=10)[0].scanned == 10
    assert scanned() == sorted(done + pending[:10])
    passes = _count_tar_passes(monkeypatch)
    det = MediaDetector()
    assert scan(store, [det])[0].scanned == n - 18
    assert det.stats["hashed"] == n - 18 and passes()[1] <= 1
    assert scanned() == ids
    assert scan(second_store, [MediaDetector()])[0].scanned == n
    assert _media_results(store) == _media_results(second_store)


def test_a_scan_batch_is_not_put_in_the_archives_order_again(store, tmp_path, monkeypatch):
    """A scan's batches of media are cut from the runs of ``MediaDetector.plan``,
    in the order to read them already: ``detect`` does not key them again
    (``reading_order``, ~5-9 ms a batch of 64); it still does for a batch given
    to it directly, and after a scan stopped by an error (the plan is closed
    by ``scan``). Each way the .tar.gz is read in one pass."""
    from sqlalchemy import select

    from rasd.detect.media.detector import MediaDetector
    from rasd.detect.scan import load_subjects, scan
    from rasd.ingest import archive
    from rasd.store import schema as S

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    n = 16
    _tar_gz_export(store, tmp_path, n)  # photos stored newest message first
    _scan_pages_of(monkeypatch, 6, 4)
    ordered = [0]
    real_order = archive.reading_order

    def counted(paths):
        ordered[0] += 1
        return real_order(paths)

    monkeypatch.setattr(archive, "reading_order", counted)
    with store.connect() as c:
        ids = [r[0] for r in c.execute(select(S.media.c.id).order_by(S.media.c.id))]

    passes = _count_tar_passes(monkeypatch)
    det = MediaDetector()
    assert scan(store, [det])[0].scanned == n and det.stats["hashed"] == n
    assert ordered[0] == 0  # 4 before: one a batch
    assert passes() == (1, 1)  # listed, then read in one pass

    det.bind(store)
    subjects = load_subjects(store, "media", ids)  # in id order: the archive's reversed
    before = passes()
    det.detect(subjects)
    assert ordered[0] == 1 and det.stats["hashed"] == 2 * n
    assert passes()[1] - before[1] <= 1  # put in the archive's order: one pass

    real_detect = MediaDetector.detect
    calls = [0]

    def failing(self, batch):
        calls[0] += 1
        if calls[0] == 2:
            raise OSError("disk gone")
        return real_detect(self, batch)

    monkeypatch.setattr(MediaDetector, "detect", failing)
    det = MediaDetector()
    with pytest.raises(OSError, match="disk gone") as stopped:
        scan(store, [det], rescan=True)
    monkeypatch.setattr(MediaDetector, "detect", real_detect)
    ordered[0] = 0
    det.detect(subjects)  # directly again: ordered (the error, with its frames, still held)
    assert ordered[0] == 1 and stopped.value.__traceback__ is not None


def test_a_media_scan_lists_each_of_several_tar_gz_exports_once(store, tmp_path, monkeypatch):
    """The photos of a page were put in order by opening their archives, two
    of which are kept open (``archive._OPEN_MAX``): three .tar.gz exports in a
    page drove one another out, and were listed again (a pass over each) when
    their batches came. Each is now opened when its turn comes after the
    pages, listed once and read in one pass: here 3 exports of 12 photos in a
    page of 30 and one of 6, 6 archives opened and 4 passes back to their start
    before, now 3 and 3."""
    from rasd.detect.media.detector import MediaDetector
    from rasd.detect.scan import scan

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    n = 12
    for k in range(3):
        (tmp_path / str(k)).mkdir()
        _tar_gz_export(store, tmp_path / str(k), n, shuffle=k, chat=7000000010 + k)
    _scan_pages_of(monkeypatch, 30, 4)
    passes = _count_tar_passes(monkeypatch)
    det = MediaDetector()
    assert scan(store, [det])[0].scanned == 3 * n
    assert det.stats["hashed"] == 3 * n and det.stats["errors"] == det.stats["missing"] == 0
    assert passes() == (3, 3)


def test_a_media_scan_holds_back_at_most_plan_max_photos(store, tmp_path, monkeypatch):
    """Memory stays bounded: past ``PLAN_MAX`` photos held back, those are
    scanned (the archive read in its order for them) before the next pages
    are read; each photo is scanned once, and the archive is read again from
    its start once a flush, not once a batch."""
    from sqlalchemy import select

    from rasd.detect.media import detector as D
    from rasd.detect.scan import scan
    from rasd.store import schema as S

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    n = 30
    _tar_gz_export(store, tmp_path, n, shuffle=5)
    _scan_pages_of(monkeypatch, 7, 4)
    monkeypatch.setattr(D, "PLAN_MAX", 10)
    runs: list[list[int]] = []
    real = D.MediaDetector.plan

    def recorded(self, pages):
        for run in real(self, pages):
            runs.append(run)
            yield run

    monkeypatch.setattr(D.MediaDetector, "plan", recorded)
    passes = _count_tar_passes(monkeypatch)
    det = D.MediaDetector()
    assert scan(store, [det])[0].scanned == n and det.stats["hashed"] == n
    # held back: 14 after two pages, 14 after four, the last 2 at the end (in
    # runs of whole batches: 4, as a page of 7 holds one)
    assert [len(r) for r in runs] == [4, 4, 4, 2, 4, 4, 4, 2, 2]
    assert passes() == (1, 3)
    with store.connect() as c:
        scanned = [r[0] for r in c.execute(select(S.scans.c.subject_id))]
    assert sorted(scanned) == sorted({i for r in runs for i in r}) and len(scanned) == n
