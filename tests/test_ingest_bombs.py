"""Decompression bombs: compressed input (a .gz file, standard input, a ZIP or
tar archive, every layer inside it) unpacks to at most ``MAX_RATIO`` times its
size (and ``RATIO_FREE`` bytes whatever its size). Memory was bounded already;
time was linear in what a bomb claims to hold (1 MB of .tar.gz holding 1 GB of
zeros: 6.5 s to list, 37 s to ingest under --format x). An archive whose outer
layer passes the limit is refused when listed, before anything is written
(exit 2, as an unreadable archive); a compressed file or member that passes
it is found while it is read, and is cut there as damaged data is: what came
before is kept, the rest is one reject saying so."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rasd.cli import app
from rasd.ingest import archive as A
from rasd.ingest import base as B
from rasd.ingest import ingest_path
from rasd.ingest.base import Stream
from rasd.model import Post, Reject

runner = CliRunner()
MB = 2**20


@pytest.fixture(autouse=True)
def _fresh_archives():
    """Archives are kept open by path, size and time: each test lists its own."""
    A._OPEN.clear()
    yield
    A._OPEN.clear()


def _tweet(i: int) -> bytes:
    """A realistic X API v2 page of one tweet: varied ids, text and counts, so
    it compresses as real crawls do (~5-10x with gzip), not as a bomb does."""
    return json.dumps({"data": [{
        "id": str(1_400_000_000_000_000_000 + i * 7919),
        "text": f"post {i} about topic {i % 97}: {'lorem ipsum dolor ' * (i % 5)}"
                f"https://t.co/{i * 31 % 100_000:05d} #tag{i % 13}",
        "author_id": str(10_000 + i % 500), "created_at":
            f"2024-0{1 + i % 9}-{10 + i % 18}T{i % 24:02d}:{i % 60:02d}:00.000Z",
        "lang": ["en", "ar", "fr", "de"][i % 4],
        "public_metrics": {"retweet_count": i % 101, "reply_count": i % 7,
                           "like_count": i * 13 % 1009, "quote_count": i % 3}}],
        "includes": {"users": [{"id": str(10_000 + i % 500), "username": f"user{i % 500}",
                                "name": f"User {i % 500}"}]}}).encode() + b"\n"


def _zeros(n: int, chunk: int = MB) -> io.BufferedReader:
    """``n`` NUL bytes as a file to read, never all in memory."""

    class Zeros(io.RawIOBase):
        left = n

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            k = min(len(b), self.left)
            b[:k] = bytes(k)
            self.left -= k
            return k

    return io.BufferedReader(Zeros(), chunk)


def _tar_gz(path: Path, members: dict[str, int | bytes], **kw) -> Path:
    """A .tar.gz of members given as bytes or as a count of NULs."""
    with tarfile.open(path, "w:gz", compresslevel=1, **kw) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, int):
                info.size = data
                t.addfile(info, _zeros(data))
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, members: dict[str, int | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in members.items():
            with z.open(name, "w", force_zip64=True) as f:
                if isinstance(data, int):
                    src = _zeros(data)
                    while chunk := src.read(MB):
                        f.write(chunk)
                else:
                    f.write(data)
    return path


def _posts(counts: dict) -> int:
    """Posts a report or its counts say were read and stored (new or not)."""
    return sum(counts["by_kind"]["posts"].values())


def _ingest(db: Path, *args: str):
    return runner.invoke(app, ["--db", str(db), "ingest", *args])


# -- the real limits: cheap bombs, just past RATIO_FREE --------------------------

def test_a_real_tar_gz_bomb_is_refused_when_listed_without_decompressing_it(tmp_path,
                                                                            gunzipped):
    """A .tar.gz of ~100 KB holding one member of 110 MB of zeros (over 1000x):
    refused, naming it, exit 2, no store made; before, listing it decompressed
    it whole and the ingest read it again. The listing seeks over the member's
    data: that seek is refused before it decompresses anything."""
    bomb = _tar_gz(tmp_path / "bomb.tar.gz", {"a.jsonl": _tweet(1), "z.jsonl": 110 * MB})
    assert bomb.stat().st_size < 600_000
    out = gunzipped
    db = tmp_path / "b.db"
    for fmt in ("auto", "x"):
        r = _ingest(db, str(bomb), "--format", fmt)
        assert r.exit_code == 2, r.output
        assert f"{bomb}: refused as a decompression bomb" in r.stderr
        assert "unpacks to more than 104,857,600 bytes, over 100 times" in r.stderr
        # and what a user with such a file that is no bomb can do
        assert "can be unpacked first and the unpacked files ingested" in r.stderr
        assert not db.exists()
    assert out[0] < 2 * MB  # the first member's header and data, twice


def test_a_real_zip_bomb_is_refused_by_its_declared_sizes(tmp_path):
    """A ZIP member declaring 110 MB of zeros in an archive of ~100 KB: zipfile
    hands on at most the declared size, so the declared sizes of the members
    to read bound what they unpack to; refused before any is read."""
    bomb = _zip(tmp_path / "bomb.zip", {"a.jsonl": _tweet(1), "z.jsonl": 110 * MB})
    db = tmp_path / "b.db"
    r = _ingest(db, str(bomb))
    assert r.exit_code == 2, r.output
    assert f"{bomb}!/z.jsonl: refused as a decompression bomb: the members to read up to " \
           "it say they unpack to" in r.stderr
    assert "nothing of the archive is read" in r.stderr and not db.exists()


def test_a_real_gz_bomb_is_cut_where_it_passes_the_limit(tmp_path):
    """A .jsonl.gz of one tweet then 110 MB of zeros (one endless line): read
    up to 100 MB, where it stops with one reject naming the bomb; the tweet is
    kept, as before a damaged .gz. Before, the whole line was read past."""
    path = tmp_path / "b.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_tweet(1))
        src = _zeros(110 * MB)
        while chunk := src.read(MB):
            f.write(chunk)
    db = tmp_path / "g.db"
    r = _ingest(db, str(path), "--strict")
    assert r.exit_code == 1, r.output
    assert "2 new, 0 updated, 0 unchanged, 1 rejected" in r.stdout  # (a post, its author)
    (entry,) = [json.loads(x) for x in (tmp_path / "g.quarantine.jsonl").read_text().splitlines()]
    assert f"{path}: refused as a decompression bomb" in entry["reason"]


# -- lowered limits: the layers and kinds -----------------------------------------

@pytest.fixture
def gunzipped(monkeypatch):
    """``[n]``: the bytes gzip's decompressing reader has handed on since the
    fixture was set up (what a reading of a .gz cost), counted for the test."""
    out = [0]
    real = gzip._GzipReader.read

    def counting(self, size=-1):
        data = real(self, size)
        out[0] += len(data)
        return data

    monkeypatch.setattr(gzip._GzipReader, "read", counting)
    return out


@pytest.fixture
def low(monkeypatch):
    """RATIO_FREE lowered to 2 MiB: what is checked past it is the ratio."""
    monkeypatch.setattr(B, "RATIO_FREE", 2 * MB, raising=False)
    return 2 * MB


def test_realistic_compressible_data_still_ingests(tmp_path, monkeypatch):
    """A few MB of realistic JSON lines, gzip'd (~6x), alone and as the member
    of a .tar.gz and a ZIP, and a .jsonl.gz inside a ZIP: far past a lowered
    RATIO_FREE, within the ratio: every record is stored, nothing rejected."""
    monkeypatch.setattr(B, "RATIO_FREE", MB, raising=False)
    data = b"".join(_tweet(i) for i in range(8_000))
    assert len(data) > 3 * MB
    gz = tmp_path / "crawl.jsonl.gz"
    gz.write_bytes(gzip.compress(data, 6))
    assert 3 < len(data) / gz.stat().st_size < 20
    tgz = _tar_gz(tmp_path / "crawl.tar.gz", {"crawl.jsonl": data})
    z = _zip(tmp_path / "crawl.zip", {"crawl.jsonl": data, "more.jsonl.gz": gz.read_bytes()})
    for given, reports in ((gz, 1), (tgz, 1), (z, 2)):
        r = _ingest(tmp_path / f"{given.name}.db", str(given), "--json", "--strict")
        assert r.exit_code == 0, r.output
        reps = json.loads(r.stdout)
        assert len(reps) == reports
        assert all(rep["rejected"] == 0 and _posts(rep) == 8_000 for rep in reps), reps


def test_a_zip_of_many_members_shares_one_budget(tmp_path, low):
    """Five members of 1 MiB of zeros each: each is under RATIO_FREE, together
    they pass it (a ZIP of many members, or of members sharing one compressed
    stream, each counted). Refused when listed; and read one by one (the
    library way, no listing) the member that passes the budget is cut there."""
    z = _zip(tmp_path / "many.zip", {f"m{i}.jsonl": MB for i in range(5)})
    r = _ingest(tmp_path / "m.db", str(z))
    assert r.exit_code == 2 and "many.zip!/m2.jsonl: refused as a decompression bomb" \
        in r.stderr, r.output
    A._OPEN.clear()
    seen = 0
    with pytest.raises(OSError, match=r"many.zip!/m2.jsonl: refused"):
        for i in range(5):
            with A.shared_archive(z).open(f"m{i}.jsonl") as f:
                while chunk := f.read1(64 * 1024):
                    seen += len(chunk)
    assert 2 * MB <= seen <= 3 * MB
    # read again, a member costs nothing more: what counts is how far each got
    with A.shared_archive(z).open("m0.jsonl") as f:
        assert len(f.read()) == MB


def test_a_compressed_member_unpacks_within_its_archives_budget(store, tmp_path, low):
    """A .jsonl.gz inside a plain .tar (the archive's own layer is no bomb): its
    contents count against the archive's budget, so the member is cut where
    they pass it, one reject naming archive!/member, the record before kept."""
    inner = io.BytesIO()
    with gzip.GzipFile(fileobj=inner, mode="wb", compresslevel=1) as g:
        g.write(_tweet(1) + bytes(3 * MB))
    arc = tmp_path / "in.tar"
    with tarfile.open(arc, "w") as t:
        info = tarfile.TarInfo("x.jsonl.gz")
        info.size = len(inner.getvalue())
        t.addfile(info, io.BytesIO(inner.getvalue()))
    with A.member_stream(arc, "x.jsonl.gz") as s:
        rep = ingest_path(store, s, fmt="x")
    assert _posts(rep.counts) == 1 and rep.counts["rejected"] == 1
    assert f"{arc}!/x.jsonl.gz: refused as a decompression bomb" in rep.rejects[0]["reason"]


def test_a_plain_gz_bomb_keeps_what_came_before(store, tmp_path, low):
    """A .jsonl.gz of 40 tweets then lines of one tweet repeated to 6 MiB
    (~300x): the file is read up to its budget, then cut with one reject; what
    came before is stored (both stores), as a damaged .gz keeps it."""
    path = tmp_path / "rep.jsonl.gz"
    line = _tweet(999)
    path.write_bytes(gzip.compress(b"".join(_tweet(i) for i in range(40))
                                   + line * (6 * MB // len(line)), 9))
    rep = ingest_path(store, path, fmt="x")
    assert rep.counts["by_kind"]["posts"]["new"] == 41 and rep.counts["rejected"] == 1
    assert f"{path}: refused as a decompression bomb" in rep.rejects[0]["reason"]


def test_standard_input_is_bounded_by_what_it_has_given(low):
    """Standard input has no size: the budget is MAX_RATIO times the compressed
    bytes read so far."""
    s = Stream(io.BytesIO(gzip.compress(bytes(8 * MB), 9)))
    with s.open() as f, pytest.raises(OSError, match="standard input: refused"):
        while f.read1(1 << 16):
            pass


def test_a_pax_header_past_the_budget_is_not_read(tmp_path, low, monkeypatch):
    """tarfile reads a pax header whole, whatever size it declares, while it
    opens the archive: a first header of 3 MiB is refused before it is read
    (not "not a gzip file", what tarfile says for any error there). (Such a
    header is refused by its size first, ``MAX_TAR_HEADER``, below: raised
    here, the budget is what refuses it.)"""
    monkeypatch.setattr(A, "MAX_TAR_HEADER", 8 * MB)
    bomb = _tar_gz(tmp_path / "pax.tar.gz", {"a.jsonl": _tweet(1)},
                   format=tarfile.PAX_FORMAT, pax_headers={"comment": "x" * (3 * MB)})
    r = _ingest(tmp_path / "p.db", str(bomb))
    assert r.exit_code == 2 and f"{bomb}: refused as a decompression bomb" in r.stderr, \
        r.output


def test_a_pax_header_over_a_mib_in_a_tar_gz_is_refused_unread(tmp_path, gunzipped):
    """A .tar.gz whose first pax header declares 50 MiB (a comment of one
    letter repeated, well within the budget of 100 MiB): tarfile read it whole
    into memory, and the archive was ingested. Now it is refused by the size
    its header declares, over ``MAX_TAR_HEADER``, before its data is
    decompressed: exit 2, naming it, no store."""
    bomb = _tar_gz(tmp_path / "pax.tar.gz", {"a.jsonl": _tweet(1)},
                   format=tarfile.PAX_FORMAT, pax_headers={"comment": "x" * (50 * MB)})
    assert bomb.stat().st_size < MB
    out = gunzipped
    db = tmp_path / "p.db"
    r = _ingest(db, str(bomb))
    assert r.exit_code == 2, r.output
    assert f"{bomb}: refused: a global pax header (at byte 0 of the tar stream) declares " \
           "52,428,8" in r.stderr and "more than 1,048,576" in r.stderr and not db.exists()
    assert out[0] < 2 * MB


def test_a_bomb_in_a_folder_is_skipped_and_the_rest_ingested(tmp_path, low):
    """Found in a folder (not named), a bomb archive is passed over with a
    warning, as an unreadable one is; the other files are stored; --strict
    exits 1."""
    folder = tmp_path / "in"
    folder.mkdir()
    _tar_gz(folder / "bomb.tar.gz", {"z.jsonl": 4 * MB})
    (folder / "ok.jsonl").write_bytes(_tweet(1))
    for strict, code in ((False, 0), (True, 1)):
        r = _ingest(tmp_path / f"{strict}.db", str(folder), "--json",
                    *(["--strict"] if strict else []))
        assert r.exit_code == code, r.output
        assert "skipped" in r.stderr and "bomb.tar.gz: refused as a decompression bomb" \
            in r.stderr
        assert [_posts(rep) for rep in json.loads(r.stdout)] == [1]


def test_a_media_file_in_an_archive_is_bounded_too(tmp_path, low):
    """``rasd scan --media`` copies a member out for the decoders: a member of
    zeros past the archive's budget is an OSError there (a file that could not
    be hashed), not 1 GiB (RASD_MEDIA_MAX_FILE_BYTES) of zeros written out."""
    z = _zip(tmp_path / "export.zip", {"photos/p.jpg": 4 * MB})
    with pytest.raises(OSError, match="export.zip!/photos/p.jpg: refused as a "
                                      "decompression bomb"), \
            A.member_file(z, "photos/p.jpg", 2**30):
        pass


@pytest.mark.parametrize("sfx", [".gz", ".bz2", ".xz", ".zst"])
def test_each_compression_is_bounded(tmp_path, low, sfx):
    """gzip, bzip2, xz and zstd files alike (bzip2 and xz pack zeros far
    tighter than gzip): a tweet, then 4 MiB of zeros, is cut past 2 MiB."""
    import bz2
    import lzma

    import zstandard

    data = _tweet(1) + bytes(4 * MB)
    packed = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress,
              ".zst": zstandard.ZstdCompressor().compress}[sfx](data)
    path = tmp_path / f"z.jsonl{sfx}"
    path.write_bytes(packed)
    r = _ingest(tmp_path / "c.db", str(path), "--format", "x", "--strict")
    assert r.exit_code == 1 and "2 new, 0 updated, 0 unchanged, 1 rejected" in r.stdout, \
        r.output
    (entry,) = [json.loads(x) for x in (tmp_path / "c.quarantine.jsonl").read_text()
                .splitlines()]
    assert f"{path}: refused as a decompression bomb" in entry["reason"]


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_each_compressed_tar_is_bounded(tmp_path, low, mode):
    """A .tar.gz, .tar.bz2 or .tar.xz of a tweet and 4 MiB of zeros: refused
    when listed, nothing written."""
    bomb = tmp_path / f"b.tar.{mode[2:]}"
    with tarfile.open(bomb, mode) as t:
        for name, data in (("a.jsonl", _tweet(1)), ("z.jsonl", bytes(4 * MB))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    r = _ingest(tmp_path / "t.db", str(bomb))
    assert r.exit_code == 2 and f"{bomb}: refused as a decompression bomb" in r.stderr, \
        r.output
    assert not (tmp_path / "t.db").exists()


# -- a bomb's reject says the limit was reached, not that the file ends ------------

def _bomb_of(head: bytes, unit: bytes, tail: bytes = b"", size: int = 6 * MB) -> bytes:
    """``head``, ``unit`` repeated to ``size`` and ``tail``, gzip'd: ~300x or more."""
    return gzip.compress(head + unit * (size // len(unit)) + tail, 9)


def _telegram_message(i: int) -> dict:
    return {"id": i, "type": "message", "date": "2024-05-01T10:00:00",
            "date_unixtime": "1714557600", "from": "Test Channel", "from_id": "channel555",
            "text": "the same words", "text_entities": [{"type": "plain",
                                                          "text": "the same words"}]}


def _kaggle_row() -> bytes:
    return b"Abu A,abu_a,bio,,10,5,1/6/2015 21:07,the same words #tag\n"


BOMBS = {
    "x JSON Lines": ("b.jsonl.gz", lambda: _bomb_of(_tweet(1), _tweet(2))),
    "x JSON document": ("b.json.gz", lambda: _bomb_of(b'[' + _tweet(1) + b',', _tweet(2) + b',')),
    "csv": ("b.csv.gz", lambda: _bomb_of(
        b"name,username,description,location,followers,numberstatuses,time,tweets\n",
        _kaggle_row())),
    "telegram": ("result.json.gz", lambda: _bomb_of(
        b'{"name": "Test Channel", "type": "public_channel", "id": 555, "messages": ['
        + json.dumps(_telegram_message(1)).encode() + b",",
        json.dumps(_telegram_message(2)).encode() + b",")),
}


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_a_bombs_reject_says_the_decompression_limit_was_reached(sqlite_store, tmp_path,
                                                                  low, kind):
    """The reject that ends a bomb's reading (JSON Lines, a JSON document, CSV,
    a Telegram export) read "file ends unexpectedly: …": a bomb is no cut file.
    It now says the decompression limit was reached; what came before is kept.
    (A file really cut short still says "file ends unexpectedly": the tests of
    cut files, test_ingest_x, test_ingest_telegram, test_ingest_stream.)"""
    name, make = BOMBS[kind]
    path = tmp_path / name
    path.write_bytes(make())
    assert path.stat().st_size * 100 < 6 * MB
    rep = ingest_path(sqlite_store, path)
    reason = rep.rejects[-1]["reason"]
    assert reason.startswith(f"decompression limit reached: {path}: refused as a "
                             "decompression bomb"), rep.rejects[-3:]
    assert "ends unexpectedly" not in reason and "malformed" not in reason
    assert rep.counts["by_kind"]["posts"]["new"] >= 1


def test_a_bomb_read_again_from_standard_input_says_the_limit(low, monkeypatch):
    """A stream read past what it keeps cannot be read again; where its first
    reading stopped at the decompression limit, the error said its data was
    "cut short or damaged"."""
    monkeypatch.setattr(B, "REPLAY_LIMIT", 1024)
    s = Stream(io.BytesIO(gzip.compress(_tweet(1) * (4 * MB // len(_tweet(1))), 9)))
    with s.open() as f, pytest.raises(OSError, match="refused as a decompression bomb"):
        while f.read1(1 << 16):
            pass
    with pytest.raises(B.IngestError, match=r"^standard input: decompression limit reached in "
                                            r"its first reading.*refused as a decompression"):
        s.open()


# -- the format check reads a bomb's head only -------------------------------------

def test_the_format_check_reads_only_the_head_of_a_bomb(tmp_path, gunzipped, low, monkeypatch):
    """A .jsonl.gz of one line that holds no record (an X API page with no
    tweets) repeated to 6 MiB (~250x): the check of its first record read it
    to its limit, finding none, then the ingest read it to the limit again
    (twice the limit in time; 104.9 MB then 104.9 MB for 650 KB holding
    160 MiB). The check reads no more than CHECK_HEAD of it now; the ingest
    reads it once, with the one reject, under --format auto and x alike. A
    real file whose first record lies past the check's head is read whole."""
    monkeypatch.setattr(B, "CHECK_HEAD", 256 * 1024, raising=False)
    line = json.dumps({"data": [], "meta": {"result_count": 0, "next_token": "b26v89c19zqg8o3f"
                                                                          "pzbkk7m3ax4kq9bg"}})
    path = tmp_path / "empty.jsonl.gz"
    path.write_bytes(gzip.compress(((line + "\n") * (6 * MB // (len(line) + 1))).encode(), 9))
    limit = max(low, 100 * path.stat().st_size)
    assert limit < 3 * MB
    out = gunzipped
    for fmt in ("auto", "x"):
        out[0] = 0
        db = tmp_path / f"{fmt}.db"
        r = _ingest(db, str(path), "--format", fmt, "--jobs", "1", "--json")
        assert r.exit_code == 0, r.output
        (rep,) = json.loads(r.stdout)
        assert rep["rejected"] == 1
        (entry,) = [json.loads(x) for x in (tmp_path / f"{fmt}.quarantine.jsonl").read_text()
                    .splitlines()]
        assert entry["reason"].startswith(f"decompression limit reached: {path}: refused")
        assert limit < out[0] < limit + 1 * MB, (out[0], limit)
    # a first record past the check's head: the check says nothing, the ingest finds it
    late = tmp_path / "late.jsonl.gz"
    late.write_bytes(gzip.compress(((line + "\n") * (MB // (len(line) + 1))).encode()
                                   + _tweet(1), 9))
    r = _ingest(tmp_path / "late.db", str(late), "--format", "x", "--json", "--strict")
    assert r.exit_code == 0, r.output
    (rep,) = json.loads(r.stdout)
    assert _posts(rep) == 1 and rep["rejected"] == 0


# -- a bomb is read once: not again by the pass meant for damaged data --------------

def _telegram_bomb(n_size: int) -> tuple[bytes, list[int]]:
    """A result.json of one channel whose messages (ids 1, 2, … each ~2 KB of
    the same words) repeat to ``n_size`` bytes, gzip'd (~200x), and where each
    message's bytes end in it."""
    words = "the same words " * 130
    data = bytearray(b'{"name": "Test Channel", "type": "public_channel", "id": 555, '
                     b'"messages": [')
    ends, i = [], 0
    while len(data) < n_size:
        i += 1
        m = dict(_telegram_message(i), text=words, text_entities=[{"type": "plain",
                                                                   "text": words}])
        data += json.dumps(m).encode()
        ends.append(len(data))
        data += b","
    return gzip.compress(bytes(data[:-1]) + b"]}", 9), ends


@pytest.mark.parametrize("fmt", ["telegram", "x"])
def test_a_json_document_bomb_is_read_once_keeping_every_whole_item(tmp_path, low,
                                                                   gunzipped, fmt):
    """A Telegram result.json.gz whose messages repeat past the limit (~200x),
    and an X API array of one tweet repeated: the C parser meets the limit as
    the end of the data (every whole item before it handed over) and its
    error sent the file to the careful pass, which read it again from the
    start in the pure-Python parser, up to the limit again: twice the limit
    decompressed, and for 1.3 MB holding 132 MB, 46 s CPU against 12 s. A
    bomb is read once now: within the limit and a read; each message (item)
    that ends before the cut is kept, the reject says the limit was reached."""
    out = gunzipped
    if fmt == "telegram":
        blob, ends = _telegram_bomb(6 * MB)
        path = tmp_path / "result.json.gz"
    else:
        unit = _tweet(2).rstrip(b"\n")
        blob = _bomb_of(b"[" + _tweet(1).rstrip(b"\n") + b",", unit + b",", unit + b"]")
        path = tmp_path / "b.json.gz"
    path.write_bytes(blob)
    limit = max(low, 100 * len(blob))
    assert limit < 4 * MB
    recs = list(B.get_parser(fmt).parse(path, B.RawSink()))
    rejects = [r for r in recs if isinstance(r, Reject)]
    assert len(rejects) == 1
    assert rejects[0].reason.startswith(f"decompression limit reached: {path}: refused as "
                                        "a decompression bomb"), rejects
    assert limit < out[0] < limit + 1 * MB, (out[0], limit)  # before: over 2 x limit
    posts = [r for r in recs if isinstance(r, Post)]
    if fmt == "telegram":
        ids = [int(p.platform_id.rpartition("/")[2]) for p in posts]
        assert ids == list(range(1, len(ids) + 1))  # none lost on the way
        # every message that ended in what was handed before the cut (the
        # budget is looked at every CHARGE_STEP bytes) is stored
        assert len(ids) >= sum(e <= limit - B.CHARGE_STEP for e in ends) > 400
    else:
        assert len(posts) >= (limit - B.CHARGE_STEP) // (len(_tweet(2)) + 1) - 1


def test_a_bomb_past_an_item_too_large_is_read_to_its_limit_once(tmp_path, gunzipped, low,
                                                                     monkeypatch):
    """A JSON array whose second item is over MAX_LINE (read again item by
    item, the C parser passing it over), then one tweet repeated past the
    limit: that second reading met the limit as its end, and its error sent
    the file to a third, the pure-Python parser's, from the start. It stops
    at the limit now, the tweets before it kept, the one reject saying so."""
    monkeypatch.setattr(B, "MAX_LINE", 512 * 1024)
    import rasd.ingest.jsonitems as J
    monkeypatch.setattr(J, "MAX_LINE", 512 * 1024)
    out = gunzipped
    unit = _tweet(2).rstrip(b"\n")
    big = json.dumps({"id": "9", "text": "a" * (600 * 1024)}).encode()
    path = tmp_path / "b.json.gz"
    path.write_bytes(_bomb_of(b"[" + _tweet(1).rstrip(b"\n") + b"," + big + b",",
                              unit + b",", unit + b"]"))
    limit = max(low, 100 * path.stat().st_size)
    recs = list(B.get_parser("x").parse(path, B.RawSink()))
    reasons = [r.reason for r in recs if isinstance(r, Reject)]
    assert len(reasons) == 2 and "item 2 is over" in reasons[0], reasons
    assert reasons[1].startswith("decompression limit reached"), reasons
    # the first reading up to the big item (~0.6 MB), the second to the limit;
    # before, a third to the limit again (6.4 MB for a limit of 2.9 MB)
    assert limit < out[0] < limit + 2 * MB, (out[0], limit)
    assert sum(isinstance(r, Post) for r in recs) >= (limit - 1 * MB) // (len(unit) + 1)


# -- GNU sparse maps: read by tarfile into memory while listing --------------------

def _sparse_10(path: Path, segments: list[tuple[int, bytes]], realsize: int,
               fields: int | None = None, numbers: bytes | None = None) -> Path:
    """A .tar.gz of one GNU sparse member in format 1.0 (``s.jsonl``: its map,
    a line per number, then its data segments, in the member's data) then a
    plain member ``z.jsonl``. ``fields``/``numbers`` replace the map's count
    and numbers (a crafted map)."""
    if numbers is None:
        numbers = b"".join(b"%d\n%d\n" % (at, len(seg)) for at, seg in segments)
    head = b"%d\n" % (len(segments) if fields is None else fields) + numbers
    head += b"\0" * (-len(head) % 512)
    stored = head + b"".join(seg for _, seg in segments)
    info = tarfile.TarInfo("GNUSparseFile.0/s.jsonl")
    info.size = len(stored)
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                        "GNU.sparse.name": "s.jsonl", "GNU.sparse.realsize": str(realsize)}
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as t:
        t.addfile(info, io.BytesIO(stored))
        after = tarfile.TarInfo("z.jsonl")
        after.size = 3
        t.addfile(after, io.BytesIO(b"\n\n\n"))
    return path


def _sparse_old(path: Path, pairs: list[tuple[int, int]], data: bytes, realsize: int) -> Path:
    """A .tar.gz of one member in the old GNU sparse format (type "S"): 4 pairs
    of its map in its header, the rest in extension blocks of 21 after it."""
    info = tarfile.TarInfo("s.jsonl")
    info.size = len(data)
    block = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    block[156:157] = tarfile.GNUTYPE_SPARSE

    def entries(buf: bytearray, at: int, chunk: list[tuple[int, int]]) -> None:
        for i, (off, n) in enumerate(chunk):
            buf[at + 24 * i:at + 24 * i + 24] = tarfile.itn(off, 12, tarfile.GNU_FORMAT) \
                + tarfile.itn(n, 12, tarfile.GNU_FORMAT)

    entries(block, 386, pairs[:4])
    block[482] = len(pairs) > 4
    block[483:495] = tarfile.itn(realsize, 12, tarfile.GNU_FORMAT)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % (sum(block[:512]))
    out = [bytes(block[:512])]
    for i in range(4, len(pairs), 21):
        ext = bytearray(512)
        entries(ext, 0, pairs[i:i + 21])
        ext[504] = i + 21 < len(pairs)
        out.append(bytes(ext))
    out.append(data + b"\0" * (-len(data) % 512) + b"\0" * 1024)
    path.write_bytes(gzip.compress(b"".join(out)))
    return path


def test_a_sparse_member_small_map_is_read_in_both_gnu_formats(tmp_path):
    """tarfile's readers of a map in the member's data (1.0) and in extension
    blocks (old GNU) are replaced by bounded ones: a real map reads as before,
    each segment where it lies, NULs in the holes."""
    segs = [(0, b'{"a": 1}\n'), (600, b'{"b": 2}\n'), (4000, b'{"c": 3}\n')]
    want = bytearray(4009)
    for at, seg in segs:
        want[at:at + len(seg)] = seg
    p10 = _sparse_10(tmp_path / "s10.tar.gz", segs, 4009)
    pold = _sparse_old(tmp_path / "sold.tar.gz",
                       [(i * 8, 8) for i in range(30)], bytes(range(65, 65 + 30)) * 8, 240)
    assert A.members(p10, lambda p: True) == ["s.jsonl", "z.jsonl"]
    with A.shared_archive(p10).open("s.jsonl") as f:
        assert f.read() == bytes(want)
    assert A.members(pold, lambda p: True) == ["s.jsonl"]
    with A.shared_archive(pold).open("s.jsonl") as f:
        assert f.read() == bytes(range(65, 65 + 30)) * 8


@pytest.mark.parametrize("kind", ["1.0", "old", "0.1"])
def test_a_tar_whose_sparse_map_is_huge_is_refused_unread(tmp_path, gunzipped, kind):
    """A crafted sparse map of 200,000 segments (format 1.0: 1.2 MB of lines in
    the member's data; old GNU: 9,500 extension blocks), gzip'd to a few KB,
    within the budget: tarfile read it whole into a list (and the archive kept
    it), ~25 million pairs for a map of 100 MiB; and maps of pax headers, each
    within MAX_TAR_HEADER, counted together. Refused now, as an oversized
    pax header is, before the map is read past MAX_SPARSE_SEGMENTS (the count
    of 1.0 before any of it), naming the member; exit 2 when named."""
    if kind == "1.0":
        n = 200_000
        path = _sparse_10(tmp_path / "huge.tar.gz", [], 10, fields=n,
                          numbers=b"0\n1\n" * n)
        read_to = None
    elif kind == "0.1":  # maps in pax headers (each within MAX_TAR_HEADER), 3 of 25,000
        path = tmp_path / "huge.tar.gz"
        spec = ",".join(f"{2 * i},1" for i in range(25_000))
        with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as t:
            for k in range(3):
                info = tarfile.TarInfo(f"s{k}.jsonl")
                info.size = 1
                info.pax_headers = {"GNU.sparse.map": spec, "GNU.sparse.size": "50000"}
                t.addfile(info, io.BytesIO(b"x"))
        read_to = None
    else:
        n = 200_000
        path = _sparse_old(tmp_path / "huge.tar.gz", [(i + 1, 1) for i in range(n)], b"x",
                           n + 1)
        read_to = ((1 << 16) // 21 + 2) * 512 + 512  # (MAX_SPARSE_SEGMENTS)
    reads = gunzipped
    with pytest.raises(B.IngestError, match=r"huge.tar.gz: refused: GNU sparse member "
                                            r"'s2?.jsonl'.*over 65,536 data segments"):
        A.members(path, lambda p: True)
    if read_to is not None:  # the extension blocks past the limit are not read
        assert reads[0] < read_to + 256 * 1024, reads[0]
    A._OPEN.clear()
    r = _ingest(tmp_path / "h.db", str(path))
    assert r.exit_code == 2 and "refused: GNU sparse member" in r.stderr, r.output
