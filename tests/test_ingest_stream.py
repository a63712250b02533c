"""Input read once, front to back (standard input, a pipe): ``rasd.ingest.base.Stream``.

A stream must store exactly what the same bytes store as a file, whichever
format and compression, in one process or two; parsers that read the start
twice get it replayed; a pipe that goes quiet has its records written at once.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.test_ingest_pipeline import DEMO, _fingerprint

from rasd.ingest import IngestError, ingest_path
from rasd.ingest import base as B
from rasd.ingest.base import Stream
from rasd.store import Store
from rasd.store import schema as S


def _twarc_files(shared: Path) -> list[Path]:
    return sorted((shared / "formats" / "twitter-v2-twarc2").glob("*.jsonl"))


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_pipe_stores_what_the_file_stores(store, second_store, shared_data, jobs):
    """Every real twarc2 file, once as a file and once through a pipe (``cat``):
    the same counts and the same rows, table by table."""
    files = _twarc_files(shared_data)
    as_files = [ingest_path(store, p, source=p.name, jobs=1).counts for p in files]
    as_pipes = []
    for p in files:
        with subprocess.Popen(["cat", str(p)], stdout=subprocess.PIPE) as cat:
            assert cat.stdout is not None
            rep = ingest_path(second_store, Stream(cat.stdout.fileno()), source=p.name,
                              jobs=jobs)
        assert rep.path == "-" and rep.source == p.name
        as_pipes.append(rep.counts)
    assert as_pipes == as_files
    assert _fingerprint(second_store) == _fingerprint(store)


@pytest.mark.parametrize("compress", [None, "gz"])
def test_a_file_object_is_a_stream(sqlite_store, shared_data, tmp_path, compress):
    """The library takes a binary file object; compression is told by magic
    bytes; a CSV without a name is known by its header (a built-in mapping's)."""
    src = shared_data / "isis-twitter" / "tweets.csv"
    with src.open("rb") as f:
        head = b"".join(f.readline() for _ in range(300))
    data = gzip.compress(head) if compress else head
    rep = ingest_path(sqlite_store, io.BytesIO(data))
    assert rep.fmt == "csv" and rep.source == "stdin" and rep.counts["new"] > 150
    (tmp_path / "head.csv").write_bytes(head)
    as_file = ingest_path(Store.open(str(tmp_path / "f.db")), tmp_path / "head.csv",
                          mapping="isis-kaggle")
    assert as_file.counts == rep.counts
    again = ingest_path(sqlite_store, io.BytesIO(head), mapping="isis-kaggle")
    assert again.counts["new"] == again.counts["updated"] == 0
    # every record read again is unchanged (profiles a file repeats, too)
    assert again.counts["unchanged"] == sum(rep.counts[k] for k in ("new", "updated",
                                                                    "unchanged"))


def test_telegram_export_on_a_stream_has_no_local_media(sqlite_store, tmp_path):
    """Media paths are relative to an export's folder; a stream has none, so
    nothing is read from wherever rasd runs. The relative path is kept."""
    data = (DEMO / "telegram" / "result.json").read_bytes()
    ingest_path(sqlite_store, io.BytesIO(data))
    with sqlite_store.connect() as c:
        rows = c.execute(select(S.media.c.local_path, S.media.c.extra)).all()
    assert rows and all(r.local_path is None for r in rows)
    assert any((r.extra or {}).get("relative_path") for r in rows)
    folder = Store.open(str(tmp_path / "f.db"))
    ingest_path(folder, DEMO / "telegram")
    with folder.connect() as c:
        assert c.execute(select(func.count()).select_from(S.media)
                         .where(S.media.c.local_path.is_not(None))).scalar()


def test_reading_again_past_the_kept_start_is_refused(monkeypatch):
    """The first REPLAY_LIMIT bytes are kept for a parser that starts again;
    past them a second reading is an IngestError, never silently short."""
    monkeypatch.setattr(B, "REPLAY_LIMIT", 100_000)  # a reader buffers 64 KiB
    s = Stream(io.BytesIO(bytes(range(256)) * 1000))
    with s.open() as f:
        assert f.read(500) == bytes(range(256)) * 1 + bytes(range(244))
    with s.open() as f:  # still within the kept start: replayed
        assert f.read() == bytes(range(256)) * 1000
    with pytest.raises(IngestError, match="second time"):
        s.open()


def test_a_quiet_pipe_flushes_what_it_gave(tmp_path):
    """Records that arrived are written once the pipe has been quiet for
    IDLE_SECONDS, long before a full batch; the reader stops with the consumer."""
    import os

    r, w = os.pipe()
    store = Store.open(str(tmp_path / "q.db"))
    page = {"data": [{"id": "5", "text": "first", "author_id": "2"}]}
    os.write(w, json.dumps(page).encode() + b"\n")
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        with store.connect() as c:
            seen.append(c.execute(select(func.count()).select_from(S.posts)).scalar())

    def later() -> None:
        time.sleep(6 * B.IDLE_SECONDS + 1)  # sampling waits for quiet twice, then a flush
        os.write(w, json.dumps({"data": [{"id": "6", "text": "second", "author_id": "2"}]})
                 .encode() + b"\n")
        os.close(w)

    t = threading.Thread(target=later)
    t.start()
    rep = ingest_path(store, Stream(r), batch_size=5000, progress=progress)
    t.join()
    os.close(r)
    assert rep.counts["by_kind"]["posts"] == {"new": 2}
    assert 1 in seen  # the first post was stored while the pipe was quiet


def test_cli_names_standard_input_once(tmp_path):
    r = subprocess.run([sys.executable, "-m", "rasd.cli", "--db", str(tmp_path / "d.db"),
                        "ingest", "-", "-"], input=b"", capture_output=True, check=False)
    assert r.returncode == 2 and b"once" in r.stderr


def test_a_mapping_does_not_make_other_files_csv(tmp_path, shared_data):
    """--mapping implies CSV only where nothing else tells the format (a
    stream): in a folder, JSON files stay JSON."""
    d = tmp_path / "collected"
    d.mkdir()
    (d / "a.jsonl").write_text(json.dumps({"data": [{"id": "1", "text": "x",
                                                      "author_id": "2"}]}) + "\n")
    with (shared_data / "isis-twitter" / "tweets.csv").open("rb") as f:
        (d / "b.csv").write_bytes(b"".join(f.readline() for _ in range(20)))
    r = subprocess.run([sys.executable, "-m", "rasd.cli", "--db", str(tmp_path / "m.db"),
                        "ingest", str(d), "--mapping", "isis-kaggle", "--json"],
                       capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    assert [rep["format"] for rep in json.loads(r.stdout)] == ["x", "csv"]


def test_binary_junk_on_standard_input_is_no_known_format(tmp_path):
    import random

    junk = bytes(random.Random(3).randrange(256) for _ in range(5000))
    r = subprocess.run([sys.executable, "-m", "rasd.cli", "--db", str(tmp_path / "j.db"),
                        "ingest", "-"], input=junk, capture_output=True, check=False)
    assert r.returncode == 2 and b"standard input: not a known format" in r.stderr
    assert not (tmp_path / "j.db").exists()  # no store is made for it
    # a UTF-16 spreadsheet export on standard input is still a CSV
    text = "message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\r\n" \
           "1,2,u,,,hi,1577886230,\r\n"
    r = subprocess.run([sys.executable, "-m", "rasd.cli", "--db", str(tmp_path / "u.db"),
                        "ingest", "-", "--json"], input=text.encode("utf-16"),
                       capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["by_kind"]["posts"] == {"new": 1}


def test_a_file_redirected_to_standard_input_has_its_size(tmp_path, shared_data):
    """`rasd ingest - < file`: the size is known (progress, default --jobs) and
    the posts are the file's."""
    src = shared_data / "formats" / "twitter-v2-twarc2" / "withheld.jsonl"
    with open(src, "rb") as f:
        r = subprocess.run([sys.executable, "-m", "rasd.cli", "--db", str(tmp_path / "r.db"),
                            "ingest", "-", "--json", "--jobs", "2"], stdin=f,
                           capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    piped = json.loads(r.stdout)[0]
    direct = ingest_path(Store.open(str(tmp_path / "d.db")), src)
    assert piped["by_kind"] == direct.counts["by_kind"]


def test_every_format_is_known_on_a_stream(sqlite_store):
    """Without a file name the content decides: a Telegram HTML page, a Desktop
    JSON export, Telethon/4CAT lines and X pages are each told apart."""
    from tests.test_ingest_telegram_html import CHAT, HEAD, PAGE1, TAIL
    from tests.test_ingest_telethon import fourcat_messages

    html = (HEAD.format(title=CHAT) + "".join(PAGE1) + TAIL).encode()
    cases = {"telegram-html": html,
             "telegram": (DEMO / "telegram" / "result.json").read_bytes(),
             "telethon": "".join(json.dumps(m) + "\n" for m in fourcat_messages()).encode(),
             "x": json.dumps({"data": [{"id": "1", "text": "t", "author_id": "2"}]}).encode()}
    for fmt, data in cases.items():
        rep = ingest_path(sqlite_store, io.BytesIO(data))
        assert rep.fmt == fmt and rep.rejected == 0 and rep.counts["new"] > 0, fmt


def test_a_string_of_digits_past_the_kept_start_does_not_stop_the_input(store, monkeypatch):
    """Found by review: the fast pass stops at a run of over 64 KiB of number
    characters (yajl takes time squared over a long number) to read the file
    again with the guarded parser, and does not tell a string from a number.
    Standard input read past what it keeps cannot be read again: a post whose
    text was 70,000 digits there stopped the input, every post after it lost
    as "a number over 65536 bytes". There the run is passed on, as before."""
    monkeypatch.setattr(B, "REPLAY_LIMIT", 300_000)
    posts = [{"data": [{"id": str(100 + i), "text": "x" * 3000, "author_id": "7"}]}
             for i in range(200)]  # ~620 KB
    posts[150]["data"][0]["text"] = "1" * 70_000
    rep = ingest_path(store, Stream(io.BytesIO(json.dumps(posts).encode())))
    assert rep.rejected == 0
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(S.posts)).scalar() == 200


def test_a_csv_no_mapping_fits_on_standard_input_leaves_no_store(tmp_path):
    """The header of a CSV on standard input is checked before a store is made,
    as a file's is: `printf 'a,b\\n1,2\\n' | rasd ingest -` said no mapping fits
    after it had made an empty store."""
    r = subprocess.run([sys.executable, "-m", "rasd.cli", "--db", str(tmp_path / "c.db"),
                        "ingest", "-"], input=b"a,b\n1,2\n", capture_output=True, check=False)
    assert r.returncode == 2 and b"matches no built-in mapping" in r.stderr, r.stderr
    assert not (tmp_path / "c.db").exists()
    ok = b"message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n" \
         b"1,2,u,,,hi,1577886230,\n"  # one that fits is read whole
    r = subprocess.run([sys.executable, "-m", "rasd.cli", "--db", str(tmp_path / "c.db"),
                        "ingest", "-", "--json"], input=ok, capture_output=True, check=False)
    assert r.returncode == 0 and json.loads(r.stdout)[0]["new"] == 2, r.stderr


@pytest.mark.parametrize("layout", ["array", "document"])
def test_a_compressed_json_cut_in_its_first_item_past_the_kept_start_says_so(
        store, tmp_path, monkeypatch, layout):
    """A pretty-printed JSON array (or one API response) on standard input,
    compressed and cut before its first item's end, past what the stream keeps:
    it was tried again as JSON Lines, and the error named only that second
    reading ("cannot be read a second time"), not the cut. It names the cut now;
    the same bytes as a file give one reject, nothing stored either way."""
    import base64
    import random

    monkeypatch.setattr(B, "REPLAY_LIMIT", 200_000)
    rng = random.Random(3)  # (random text: compressed, still past the kept start)
    big = {"id": "1", "author_id": "2", "text": "t",
           "k": [base64.b64encode(rng.randbytes(600)).decode() for _ in range(1000)]}
    tweets = [big, {"id": "3", "author_id": "2", "text": "x"}]
    comp = gzip.compress(json.dumps(tweets if layout == "array" else {"data": tweets},
                                    indent=1).encode())
    cut = comp[: len(comp) * 9 // 10]
    assert len(cut) > 2 * B.REPLAY_LIMIT
    with pytest.raises(IngestError, match=r"standard input ends unexpectedly: its compressed "
                                          r"data is cut short or damaged after 0\.\d MB "
                                          r"\(Compressed file ended"):
        ingest_path(store, Stream(io.BytesIO(cut)))
    assert store.stats()["posts"] == 0
    f = tmp_path / "cut.json.gz"
    f.write_bytes(cut)
    rep = ingest_path(store, f)
    assert rep.rejected == 1 and rep.rejects[0]["reason"].startswith("file ends unexpectedly")
    assert store.stats()["posts"] == 0


def test_a_csv_on_a_pipe_is_checked_by_its_header_alone(tmp_path):
    """``check_format`` on a pipe reads a CSV's header, not its first row: it
    waited for that row (hours on a quiet `tail -f posts.csv | rasd ingest -`),
    and a first row past the kept 8 MB could not be read again by the ingest."""
    import os

    from rasd.ingest.runner import check_format

    r, w = os.pipe()
    os.write(w, b"message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n")
    later = threading.Timer(3.0, lambda: (os.write(w, b"1,2,u,,,hi,1577886230,\n"),
                                          os.close(w)))
    later.start()
    try:
        t0 = time.monotonic()
        s = Stream(r)
        assert check_format(s, first_record=False) == "csv"
        assert time.monotonic() - t0 < 2.0  # at the header: the row comes after 3 s
        store = Store.open(str(tmp_path / "p.db"))
        rep = ingest_path(store, s)  # the header read again, then the row
        assert rep.rejected == 0 and store.stats()["posts"] == 1
    finally:
        later.join()
        os.close(r)
    # a header no mapping fits is still refused at once, the pipe still open
    r, w = os.pipe()
    os.write(w, b"alpha,beta\n")
    try:
        with pytest.raises(IngestError, match="matches no built-in mapping"):
            check_format(Stream(r), first_record=False)
    finally:
        os.close(w)
        os.close(r)


def test_a_csv_whose_first_row_passes_the_kept_start_is_read_from_a_pipe(store, monkeypatch):
    """The check read a piped CSV up to its first row: a row longer than what
    the stream keeps (REPLAY_LIMIT) left the ingest unable to read it again
    ("cannot be read a second time", exit 2, nothing stored)."""
    from rasd.ingest.runner import check_format

    monkeypatch.setattr(B, "REPLAY_LIMIT", 100_000)  # a reader buffers 64 KiB
    data = (b"message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n"
            + b"1,2,u,,," + b"x" * 150_000 + b",1577886230,\n"
            + b"2,2,u,,,hi,1577886231,\n")
    s = Stream(io.BytesIO(data))
    assert check_format(s, first_record=False) == "csv"
    rep = ingest_path(store, s)
    assert rep.rejected == 0 and store.stats()["posts"] == 2


def _pipe_then_file(store, second_store, tmp_path, head: bytes, tail: bytes, jobs: int,
                    spy: list[str] | None = None) -> None:
    """``head`` on a real pipe, the pipe quiet (past the format's sampling and
    one IDLE_SECONDS more), then ``tail`` and its end, ingested from standard
    input into ``store``; the same bytes as a file into ``second_store``."""
    import os

    r, w = os.pipe()
    os.write(w, head)

    def later() -> None:
        time.sleep(6 * B.IDLE_SECONDS + 1)  # sampling waits for quiet twice, then QUIET
        os.write(w, tail)
        os.close(w)

    t = threading.Thread(target=later)
    t.start()
    try:
        ingest_path(store, Stream(r), source="stream", jobs=jobs)
    finally:
        t.join()
        os.close(r)
    f = tmp_path / "stream.jsonl"
    f.write_bytes(head + tail)
    ingest_path(second_store, f, source="stream", jobs=1)


def _watch_quiet(monkeypatch) -> list[str]:
    """What the pipe's reader gave, in order: "quiet" or "record" (a spy on
    the real ``_live_records``, in this process: --jobs 1)."""
    from rasd.ingest import pipeline

    seen: list[str] = []
    live = pipeline._live_records

    def watched(*args):
        for rec in live(*args):
            if rec is pipeline.QUIET:
                seen.append("quiet")
            elif not isinstance(rec, pipeline.Ahead) and seen[-1:] != ["record"]:
                seen.append("record")
            yield rec

    monkeypatch.setattr(pipeline, "_live_records", watched)
    return seen


@pytest.mark.parametrize("jobs", [1, 2])
def test_stream_errors_before_a_quiet_pipe_are_kept_as_from_a_file(store, second_store,
                                                                  tmp_path, monkeypatch,
                                                                  jobs):
    """`twarc2 stream | rasd ingest -` that starts with stream errors (lines
    that give no record, kept as raw records), then goes quiet, then gives
    pages: what was read before the quiet went out as a batch of raw bytes
    alone, which the runner dropped (a run starts at its first record), so
    those lines' raw records were lost — read from a file, the same lines go
    with the first record's batch. They now wait for it on a pipe too: the
    store is the file's, raw records and posts included."""
    from benchmarks.killpoints import diff, dump
    from tests.test_ingest_hold import _page, _stream_error

    since = datetime.now(UTC) - timedelta(seconds=1)
    seen = _watch_quiet(monkeypatch) if jobs == 1 else None
    head = "".join(_stream_error(k, 400) + "\n" for k in range(3)).encode()
    tail = (_page(0) + "\n" + _stream_error(3, 400) + "\n" + _page(1) + "\n").encode()
    _pipe_then_file(store, second_store, tmp_path, head, tail, jobs)
    if seen is not None:  # the pipe went quiet before its first record
        assert seen[:2] == ["quiet", "record"], seen
    piped, as_file = dump(store, since), dump(second_store, since)
    assert sum(as_file["raw_records"].values()) == 4 + 2  # the stream errors' too
    assert sum(as_file["posts"].values()) == 3
    assert diff(as_file, piped) == []


def test_a_quiet_pipe_of_stream_errors_alone_stores_what_a_file_stores(store, second_store,
                                                                      tmp_path, monkeypatch):
    """Stream errors, quiet, more stream errors, and the end with no record:
    as from a file, nothing is stored and no run recorded (a run starts at its
    first record; the lines wait in memory for it). Past RAW_BATCH_BYTES they
    go out as a batch of their own (as a file's do at that bound, Ahead), and
    are kept then: their memory stays bounded by the batch."""
    from benchmarks.killpoints import diff, dump
    from tests.test_ingest_hold import _stream_error

    from rasd.ingest import pipeline

    def runs(s: Store) -> int:
        with s.connect() as c:
            return c.execute(select(func.count()).select_from(S.ingest_files)).scalar()

    since = datetime.now(UTC) - timedelta(seconds=1)
    seen = _watch_quiet(monkeypatch)
    head = "".join(_stream_error(k, 400) + "\n" for k in range(3)).encode()
    tail = (_stream_error(3, 400) + "\n").encode()
    _pipe_then_file(store, second_store, tmp_path, head, tail, 1)
    assert seen == ["quiet"]
    assert runs(store) == runs(second_store) == 0
    assert store.stats()["posts"] == 0 and second_store.stats()["posts"] == 0

    # the same, with a bound below the lines' bytes: each store keeps them all
    monkeypatch.setattr(pipeline, "RAW_BATCH_BYTES", 2 * 400)
    since = datetime.now(UTC) - timedelta(seconds=1)
    head = "".join(_stream_error(10 + k, 400) + "\n" for k in range(3)).encode()
    tail = (_stream_error(13, 400) + "\n").encode()
    _pipe_then_file(store, second_store, tmp_path, head, tail, 1)
    assert seen == ["quiet", "quiet"]
    piped, as_file = dump(store, since), dump(second_store, since)
    assert sum(as_file["raw_records"].values()) == 4
    assert diff(as_file, piped) == []
