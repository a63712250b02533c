"""Raw records held back by a full batch (``Prep.take``): a raw record is
written with the batch that holds its last record, lines that give no record are
not held in memory across batches, and a parser that gives a raw record's
records apart fails loudly rather than leaving a store a killed run could
not complete."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.helpers import kill_then_rerun

from rasd.ingest import ingest_path, pipeline
from rasd.ingest.base import Stream, reading
from rasd.ingest.writer import Prep, RawOrderError
from rasd.model import Account, RawRef


def _stream_error(i: int, size: int) -> str:
    """A twarc2 stream error line: no resource named, so no record (a note)."""
    pad = f"{i:08d} " + "x" * max(0, size - 200)
    return json.dumps({"errors": [{"title": "operational-disconnect", "type": "about:blank",
                                   "detail": pad}]})


def _page(p: int) -> str:
    """An X page collected on day ``p``: its author's bio and post 100's text
    change from page to page (each a version), and a new post."""
    return json.dumps({
        "data": [{"id": "100", "text": f"text as of page {p}", "author_id": "7"},
                 {"id": str(1000 + p), "text": f"page {p}", "author_id": "7"}],
        "includes": {"users": [{"id": "7", "username": "seven", "name": "Seven",
                                "description": f"bio {p}"}]},
        "__twarc": {"retrieved_at": (datetime(2024, 6, 1, tzinfo=UTC)
                                     + timedelta(hours=p)).isoformat()}})


def _noisy(path: Path, pages: int, errors: int, size: int) -> Path:
    """``pages`` pages, ``errors`` stream error lines of ``size`` bytes after each."""
    lines = []
    for p in range(pages):
        lines.append(_page(p))
        lines += [_stream_error(p * errors + k, size) for k in range(errors)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _peak(path: Path, stdin: bool) -> tuple[int, int]:
    """Peak memory traced while ``produce`` reads ``path`` in batches of 2
    (each chunk dropped as it comes), and the raw records it hands over."""
    n = 0
    tracemalloc.start()
    try:
        if stdin:
            with open(path, "rb") as fh, reading(Stream(fh.fileno())) as p:
                for chunk in pipeline.produce(p, "x", {}, None, 2):
                    n += len(chunk.batch.raw) if chunk.batch is not None else 0
        else:
            for chunk in pipeline.produce(path, "x", {}, None, 2):
                n += len(chunk.batch.raw) if chunk.batch is not None else 0
        return tracemalloc.get_traced_memory()[1], n
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("stdin", [False, True], ids=["file", "stdin"])
def test_lines_that_give_no_record_are_not_held_in_memory(tmp_path, monkeypatch, stdin):
    """A full batch held back every raw record no record had named yet, up to
    1,024 of them whatever their size: lines that give no record (stream error
    lines here, 16 KB each) stayed in memory from batch to batch (~16 MB), and
    on standard input the reading thread kept all it read until 256 records
    had come (the whole 24 MB input). Now such lines go with the batch of the
    record after them, a batch goes out at a bound of raw bytes too, and the
    reading thread hands raw bytes over by size."""
    monkeypatch.setattr(pipeline, "RAW_BATCH_BYTES", 1 << 20)
    monkeypatch.setattr(pipeline, "LIVE_RAW_BYTES", 64 << 10)
    f = _noisy(tmp_path / "noisy.jsonl", pages=30, errors=50, size=16 << 10)
    peak, n = _peak(f, stdin)
    assert n == 30 + 30 * 50  # every line's raw record handed over, once
    # (before: 35 MB from a file, 31 MB from standard input; now ~3 MB and ~10
    # MB: the reading thread's queue holds up to 64 hand-overs of 64 KB)
    bound = 16 if stdin else 8
    assert peak < bound << 20, f"{peak / 2**20:.1f} MB traced for a 24 MB input"


def _quiet_then_page(path: Path, errors: int, size: int) -> Path:
    """``errors`` stream error lines of ``size`` bytes (no record), then one page."""
    with open(path, "w") as fh:
        fh.writelines(_stream_error(k, size) + "\n" for k in range(errors))
        fh.write(_page(0) + "\n")
    return path


@pytest.mark.parametrize("stdin", [False, True], ids=["file", "stdin"])
def test_a_long_run_of_lines_of_no_record_is_not_held_until_a_record(tmp_path, monkeypatch,
                                                                    stdin):
    """40 MB of lines that give no record (stream errors, 16 KB each) and one
    page at the end: read from a file, the parser gave nothing until the page,
    so every line's raw bytes waited in the sink for it (a 40 MB peak; standard
    input's reading thread already handed them over by size). The parser now
    gives ``Ahead`` once its sink holds a batch's bytes (RawSink.ahead_at), and
    ``produce`` writes what was read so far without waiting."""
    monkeypatch.setattr(pipeline, "RAW_BATCH_BYTES", 1 << 20)
    monkeypatch.setattr(pipeline, "LIVE_RAW_BYTES", 64 << 10)
    f = _quiet_then_page(tmp_path / "quiet.jsonl", errors=2700, size=16 << 10)
    assert f.stat().st_size > 40 << 20
    peak, n = _peak(f, stdin)
    assert n == 2700 + 1  # every line's raw record handed over, once
    bound = 16 if stdin else 8
    assert peak < bound << 20, f"{peak / 2**20:.1f} MB traced for a 40 MB input"


def test_kill_and_rerun_with_a_long_run_of_lines_of_no_record(store, second_store, tmp_path,
                                                             monkeypatch):
    """Batches of raw bytes alone (``Ahead`` at the sink's bound, no record
    read yet) keep a killed run consistent: the lines of no record before
    the marker go, the line it names and its records wait for a later batch.
    Killed after any batch and run again, the store is what one uninterrupted
    run makes; the first batch holds only lines of no record."""
    from benchmarks.killpoints import diff, dump
    from tests.conftest import _fresh_store

    monkeypatch.setattr(pipeline, "RAW_BATCH_BYTES", 24 << 10)  # a dozen lines
    since = datetime.now(UTC) - timedelta(seconds=1)
    f = tmp_path / "quiet.jsonl"
    lines = []
    for p in range(2):  # 30 lines of no record, then a page (3 records), twice
        lines += [_stream_error(p * 30 + k, 2000) for k in range(30)] + [_page(p)]
    f.write_text("\n".join(lines) + "\n")
    chunks = [c.batch for c in pipeline.produce(f, "x", {}, None, 2) if c.batch is not None]
    first = chunks[0]  # raw bytes of a dozen lines, no record
    assert (len(first), len(first.raw) >= 10) == (0, True), "no batch of raw bytes alone"
    ingest_path(second_store, f, batch_size=2, source="quiet")
    ref = dump(second_store, since)
    assert sum(ref["raw_records"].values()) == 2 * 31  # the first lines' too
    assert sum(ref["account_versions"].values()) == sum(ref["post_versions"].values()) == 1
    kind = "sqlite" if store.is_sqlite else "postgresql"
    for k in range(1, len(chunks) + 1):
        with _fresh_store(kind, tmp_path / f"k{k}.db") as s:
            kill_then_rerun(monkeypatch, lambda s=s: ingest_path(s, f, batch_size=2,
                                                                 source="quiet"), k)
            assert diff(ref, dump(s, since)) == [], f"killed after batch {k}"


def test_kill_and_rerun_with_many_lines_of_no_record(store, second_store, tmp_path,
                                                    monkeypatch):
    """Lines of no record are written with the batch of the record after them,
    not held: a run killed after any batch, run again, makes the store one
    uninterrupted run makes (each page's profile and text a version; every
    line's raw record stored once). Batches of 2 records, a page every 20 lines."""
    from benchmarks.killpoints import diff, dump
    from tests.conftest import _fresh_store

    monkeypatch.setattr(pipeline, "RAW_BATCH_BYTES", 24 << 10)  # a few lines
    since = datetime.now(UTC) - timedelta(seconds=1)
    f = _noisy(tmp_path / "noisy.jsonl", pages=6, errors=19, size=2000)
    ingest_path(second_store, f, batch_size=2, source="noisy")
    ref = dump(second_store, since)
    assert sum(ref["raw_records"].values()) == 6 * 20
    assert sum(ref["account_versions"].values()) == sum(ref["post_versions"].values()) == 5
    kind = "sqlite" if store.is_sqlite else "postgresql"
    for k in (1, 2, 4, 6):
        with _fresh_store(kind, tmp_path / f"k{k}.db") as s:
            kill_then_rerun(monkeypatch, lambda s=s: ingest_path(s, f, batch_size=2,
                                                                 source="noisy"), k)
            assert diff(ref, dump(s, since)) == [], f"killed after batch {k}"


def _acc(i: int, sha: str) -> Account:
    return Account(platform="x", platform_id=str(i), handle=f"a{i}",
                   raw=RawRef(sha256=sha, fmt="x", source_file="f", line=1))


def test_records_of_a_raw_record_given_apart_fail_loudly():
    """A batch wrote raw record A with the records of it it held; records of A
    that came after another raw record's (B) were in the next batch: a run
    killed between the two left A stored, and the next run took A's later
    records for applied. A parser that gives them so is a bug: the next batch
    raises rather than writes on."""
    prep = Prep(2, ordered=True)
    prep.add_raw({"a" * 64: ("x", b"A"), "b" * 64: ("x", b"B"), "c" * 64: ("x", b"C")})
    prep.add(_acc(1, "a" * 64))
    prep.add(_acc(2, "b" * 64))
    assert prep.full()
    b = prep.take(hold=True, ahead="c" * 64)  # the next record is of C
    assert [r[0] for r in b.raw] == ["a" * 64, "b" * 64]
    prep.add(_acc(3, "c" * 64))
    prep.add(_acc(4, "a" * 64))  # … then one of A again, whose bytes went with the first
    with pytest.raises(RawOrderError, match="went with an earlier batch"):
        prep.take()


def test_a_line_of_no_record_before_the_next_record_is_written_now():
    """Of the raw records no record of a full batch named, those read before
    the next record's are lines of no record: written with this batch. Those
    from the next record's on are held (read ahead: standard input)."""
    prep = Prep(1, ordered=True)
    prep.add_raw({"a" * 64: ("x", b"A"), "n" * 64: ("x", b"none"), "c" * 64: ("x", b"C"),
                  "d" * 64: ("x", b"D")})
    prep.add(_acc(1, "a" * 64))
    b = prep.take(hold=True, ahead="c" * 64)
    assert [r[0] for r in b.raw] == ["a" * 64, "n" * 64]
    assert list(prep.raw) == ["c" * 64, "d" * 64] and prep.raw_size == 2


def test_every_parser_gives_a_raw_records_records_together(tmp_path):
    """``produce`` checks, batch by batch, that no record names a raw record
    written with an earlier batch (``Prep.ordered``): every demo input read in
    batches of one record passes it."""
    demo = Path(__file__).resolve().parents[1] / "src/rasd/data/demo"
    cases = [(demo / "x" / "demo_tweets.jsonl", "x", {}),
             (demo / "csv" / "demo_kaggle_format.csv", "csv", {}),
             (demo / "telegram", "telegram", {})]
    for path, fmt, options in cases:
        n = sum(len(c.batch) for c in pipeline.produce(path, fmt, options, None, 1)
                if c.batch)
        assert n >= 8, path



def test_every_parser_gives_ahead_at_its_sinks_bound(tmp_path, monkeypatch):
    """Each parser, reading a file, gives ``Ahead`` after a raw record once its
    sink holds ``RAW_BATCH_BYTES`` (RawSink.ahead_at), so that a run of
    records that give no record is written without waiting for the next one.
    With a bound of one byte, every format's input goes out by size, batch by
    batch, and gives what it gives in one batch: the same records, each raw
    record written once, after every record of it (``Prep.ordered`` checks)."""
    from tests.test_ingest_telegram_html import PAGE1, html_export
    from tests.test_ingest_telethon import messages, write

    demo = Path(__file__).resolve().parents[1] / "src/rasd/data/demo"
    cases = [(demo / "x" / "demo_tweets.jsonl", "x"),
             (demo / "csv" / "demo_kaggle_format.csv", "csv"),
             (demo / "telegram", "telegram"),
             (write(tmp_path, messages()), "telethon"),
             (write(tmp_path, messages(), "array"), "telethon"),
             (html_export(tmp_path, [PAGE1]) / "messages.html", "telegram-html")]

    def run(path: Path, fmt: str) -> tuple[int, list[str], int]:
        chunks = [c for c in pipeline.produce(path, fmt, {}, None, 1000) if c.batch is not None]
        return (sum(len(c.batch) for c in chunks), sorted(r[0] for c in chunks
                                                          for r in c.batch.raw),
                sum(c.by_size for c in chunks))

    for path, fmt in cases:
        monkeypatch.setattr(pipeline, "RAW_BATCH_BYTES", 32 << 20)
        n, raws, by_size = run(path, fmt)
        assert n >= 4 and len(raws) == len(set(raws)) and by_size == 0, (fmt, n)
        monkeypatch.setattr(pipeline, "RAW_BATCH_BYTES", 1)
        assert run(path, fmt)[:2] == (n, raws), fmt
        assert run(path, fmt)[2] >= len(raws) - 1, f"{fmt}: no Ahead at the sink's bound"


def _profile_page(p: int, bio: str, day: int) -> str:
    return json.dumps({
        "data": [{"id": str(2000 + p), "text": f"page {p}", "author_id": "7"}],
        "includes": {"users": [{"id": "7", "username": "seven", "name": "Seven",
                                "description": bio}]},
        "__twarc": {"retrieved_at": f"2024-06-0{day}T00:00:00+00:00"}})


@pytest.mark.parametrize("spec", [
    [("A", 1), ("B", 2), ("B", 1)],
    [("C", 1), ("A", 1), ("A", 3), ("B", 2), ("B", 1)],
], ids=["ABB", "CAABB"])
def test_two_profiles_of_one_instant_converge_after_a_kill(store, second_store, tmp_path,
                                                          monkeypatch, spec):
    """Profiles A and B of one account collected at the same instant (the 1st),
    B again on the 2nd, read B of the 2nd first: B of the 1st is a version
    from the 1st until the 1st (A began then too). A run killed in the last
    batch had applied B of the 1st (its page's first record) without storing
    the page (its bytes go with the batch of its last record); the re-run
    applied it again, and the copy, now a sighting of that version, moved the
    current B's first sighting back to the 1st (or, as the version ended at
    that instant, added it again). A copy within a state's known sightings adds
    nothing: placed twice it gives what it gave once."""
    from benchmarks.killpoints import diff, dump
    from tests.conftest import _fresh_store

    since = datetime.now(UTC) - timedelta(seconds=1)
    f = tmp_path / "tie.jsonl"
    f.write_text("\n".join(_profile_page(i, bio, day) for i, (bio, day) in enumerate(spec))
                 + "\n")
    ingest_path(second_store, f, batch_size=1, source="tie")
    ref = dump(second_store, since)
    last = 2 * len(spec)  # a page is two records: batches of one
    kind = "sqlite" if store.is_sqlite else "postgresql"
    for k, inside in ((last, True), (last - 1, False)):
        with _fresh_store(kind, tmp_path / f"k{k}.db") as s:
            kill_then_rerun(monkeypatch, lambda s=s: ingest_path(s, f, batch_size=1,
                                                                 source="tie"), k,
                            before=inside)
            assert diff(ref, dump(s, since)) == [], (k, inside)


def test_a_dry_run_keeps_no_raw_bytes(tmp_path):
    """``rasd ingest --dry-run`` (check_path) writes nothing, yet kept the raw
    bytes of every line until its 5,000th record, and lines that give no
    record until a record came: here a 24 MB file of 16 KB stream-error lines
    (no record) and a page every 50 lines was all held. It keeps none."""
    from rasd.ingest import check_path

    f = _noisy(tmp_path / "noisy.jsonl", pages=30, errors=50, size=16 << 10)
    tracemalloc.start()
    try:
        report = check_path(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.counts["records"]["posts"] == 30 * 2 and report.counts["rejected"] == 0
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MB traced for a 24 MB input"
