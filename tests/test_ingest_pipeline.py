"""Two-process ingest (parse in a child, write here) stores exactly what the
one-process ingest stores, reports the same counts, surfaces the child's
errors, and leaves no child behind."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.helpers import live_processes

from rasd.ingest import IngestError, ingest_path
from rasd.ingest.pipeline import default_jobs, produce, produce_in_child
from rasd.ingest.writer import ACCOUNT_COLS, POST_COLS
from rasd.store import Store
from rasd.store import schema as S

SKIP = {"first_seen", "last_seen", "valid_until", "started_at", "finished_at"}


def _fingerprint(store: Store) -> dict[str, tuple[int, str]]:
    """Every stored table, row by row, ids included (both runs number rows in
    the same order), timestamps of the run itself excluded."""
    out = {}
    with store.connect() as c:
        for t in S.load_all().sorted_tables:
            if t.name in ("alembic_version", "ingest_files", "sources"):
                continue
            cols = [col for col in t.c if col.name not in SKIP]
            rows = [tuple(r) for r in c.execute(select(*cols).order_by(*t.primary_key.columns))]
            out[t.name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


DEMO = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo"


def _inputs(shared: Path) -> list[tuple[Path, dict]]:
    d = shared / "formats" / "twitter-v2-twarc2"
    files = [(p, {}) for p in sorted(d.glob("*.jsonl"))]
    return files + [(shared / "isis-twitter" / "tweets.csv", {"mapping": "isis-kaggle"}),
                    (DEMO / "telegram", {})]  # an export folder, media by relative path


def test_two_processes_store_the_same_as_one(store, second_store, shared_data):
    runs = {}
    for jobs in (1, 2):
        s = store if jobs == 1 else second_store
        counts = [ingest_path(s, p, jobs=jobs, batch_size=700, **kw).counts
                  for p, kw in _inputs(shared_data)]
        runs[jobs] = (counts, _fingerprint(s))
    assert runs[1][0] == runs[2][0]
    assert runs[1][1] == runs[2][1]
    assert runs[1][1]["posts"][0] > 12_000


def _pages(path: Path, n_pages: int) -> None:
    with open(path, "w") as f:
        for page in range(n_pages):
            data = [{"id": str(page * 50 + i), "text": f"post {i} @u{i % 7}",
                     "author_id": str(1000 + i % 30),
                     "entities": {"mentions": [{"username": f"u{i % 7}"}]}}
                    for i in range(50)]
            users = [{"id": str(1000 + i), "username": f"u{i}", "name": f"U{i}"}
                     for i in range(30)]
            f.write(json.dumps({"data": data, "includes": {"users": users}}) + "\n")
            if page == 3:
                f.write("{not json\n")


def test_rejects_and_counts_match(tmp_path, start):
    f = tmp_path / "p.jsonl"
    _pages(f, 40)
    reps = {}
    for jobs in (1, 2):
        s = Store.open(str(tmp_path / f"{jobs}.db"))
        reps[jobs] = ingest_path(s, f, jobs=jobs, batch_size=300)
    assert reps[1].counts == reps[2].counts
    assert reps[2].rejected == 1 and reps[2].rejects[0]["line"] == 5
    assert reps[1].rejects[0]["reason"] == reps[2].rejects[0]["reason"]


def _our_children() -> list[int]:
    """Live child processes of this test process (forked or spawned)."""
    return [pid for pid, ppid, _ in live_processes() if ppid == os.getpid()]


@pytest.fixture(params=["fork", "spawn"])
def start(request, monkeypatch):
    """Both ways of starting the parsing process."""
    monkeypatch.setenv("RASD_INGEST_START", request.param)
    return request.param


def test_error_in_child_is_raised_here(tmp_path, start):
    f = tmp_path / "p.jsonl"
    _pages(f, 3)
    with pytest.raises(IngestError, match="no-such-format"):
        list(produce_in_child(f, "no-such-format", {}, None, 100))
    assert _our_children() == []


def test_child_killed_is_an_error_not_a_short_file(tmp_path, start):
    f = tmp_path / "p.jsonl"
    _pages(f, 400)
    gen = produce_in_child(f, "x", {}, None, 100)
    next(gen)
    (pid,) = _our_children()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(IngestError, match="ended unexpectedly"):
        for _ in gen:
            pass
    assert _our_children() == []


def test_failure_mid_file_keeps_whole_batches(tmp_path, monkeypatch):
    from rasd.ingest import runner

    real = runner.produce_in_child

    def fails_after_two(*a, **kw):
        gen = real(*a, **kw)
        try:
            yield next(gen)
            yield next(gen)
            raise IngestError("disk went away")
        finally:
            gen.close()

    monkeypatch.setattr(runner, "produce_in_child", fails_after_two)
    f = tmp_path / "p.jsonl"
    _pages(f, 200)
    s = Store.open(str(tmp_path / "r.db"))
    with pytest.raises(IngestError, match="disk went away"):
        ingest_path(s, f, jobs=2, batch_size=200)
    assert _our_children() == []
    from rasd.ingest.runner import unfinished_files

    assert unfinished_files(s) == [str(f.resolve())]
    with s.connect() as c:  # recorded at once, not when this process ends
        assert c.exec_driver_sql("SELECT status FROM ingest_files").scalar() == "failed"
    partial = s.stats()["posts"]
    assert 0 < partial < 200 * 50
    monkeypatch.setattr(runner, "produce_in_child", real)
    rep = ingest_path(s, f, jobs=2, batch_size=200)  # re-run completes the file
    assert rep.counts["by_kind"]["posts"]["new"] == 200 * 50 - partial
    assert unfinished_files(s) == []


def test_stopping_early_ends_the_child(tmp_path, start):
    f = tmp_path / "p.jsonl"
    _pages(f, 300)
    gen = produce_in_child(f, "x", {}, None, 100)
    first = next(gen)
    assert first.batch is not None and len(first.batch)
    assert len(_our_children()) == 1
    gen.close()  # the consumer stops: the child must not linger
    assert _our_children() == []


def test_same_chunks_in_and_out_of_process(tmp_path, start):
    f = tmp_path / "p.jsonl"
    _pages(f, 30)
    local = list(produce(f, "x", {}, None, 250))
    child = list(produce_in_child(f, "x", {}, None, 250))
    assert len(local) == len(child) > 3
    for a, b in zip(local, child, strict=True):
        assert a.pos == b.pos
        assert [r["reason"] for r in a.rejects] == [r["reason"] for r in b.rejects]
        assert _untimed(a.batch) == _untimed(b.batch)


def _untimed(b):
    """A batch without the times of its run (first_seen/last_seen)."""
    def row(r, cols=()):
        if isinstance(r, dict):
            return {k: v for k, v in r.items() if k not in SKIP}
        return tuple(v for k, v in zip(cols, r, strict=True) if k not in SKIP)

    return ([it._replace(row=row(it.row, POST_COLS), media=tuple(row(m) for m in it.media))
             for it in b.posts], [it._replace(row=row(it.row, ACCOUNT_COLS))
                                  for it in b.accounts],
            b.stubs, b.names, b.seen_accounts, b.raw)


def test_default_jobs(monkeypatch):
    monkeypatch.delenv("RASD_INGEST_JOBS", raising=False)
    assert default_jobs(1000) == 1
    big = default_jobs(10**9)
    assert big == (2 if len(os.sched_getaffinity(0)) >= 2 else 1)
    monkeypatch.setenv("RASD_INGEST_JOBS", "1")
    assert default_jobs(10**9) == 1
    monkeypatch.setenv("RASD_INGEST_JOBS", "two")
    with pytest.raises(IngestError, match="RASD_INGEST_JOBS"):
        default_jobs(10)


def test_cli_jobs_option(tmp_path):
    f = tmp_path / "p.jsonl"
    _pages(f, 20)
    outs = []
    for jobs in ("1", "2"):
        db = str(tmp_path / f"{jobs}.db")
        r = subprocess.run([sys.executable, "-m", "rasd.cli", "--db", db, "ingest", str(f),
                            "--jobs", jobs, "--json"], check=False, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)[0]
        rep.pop("seconds")
        rep.pop("quarantine")  # one per store
        outs.append(rep)
    assert outs[0] == outs[1] and outs[0]["by_kind"]["posts"]["new"] == 1000


def test_no_fork_while_other_threads_run(monkeypatch):
    import threading

    from rasd.ingest.pipeline import start_method

    monkeypatch.delenv("RASD_INGEST_START", raising=False)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert start_method() == "spawn"
    finally:
        stop.set()
        t.join()
    if threading.active_count() == 1:
        assert start_method() == "fork"


def test_bulk_load_stores_the_same(tmp_path, shared_data, monkeypatch):
    """Deferring the secondary indexes changes nothing stored or counted."""
    runs = {}
    for bulk in ("0", "1"):
        monkeypatch.setenv("RASD_INGEST_BULK", bulk)
        s = Store.open(str(tmp_path / f"bulk{bulk}.db"))
        counts = [ingest_path(s, p, batch_size=700, **kw).counts
                  for p, kw in _inputs(shared_data)]
        runs[bulk] = (counts, _fingerprint(s))
        with s.connect() as c:
            names = {r[0] for r in c.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"ix_posts_created", "ix_edges_src"} <= names
    assert runs["0"] == runs["1"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_raw_bytes_of_trailing_lines_without_records_are_kept(tmp_path, jobs):
    """A stream error line after the last full batch yields no record, but its
    raw bytes are evidence like any other line's."""
    from sqlalchemy import func

    f = tmp_path / "t.jsonl"
    good = {"data": [{"id": "1", "text": "hi", "author_id": "9"}]}
    err = {"errors": [{"title": "operational-disconnect", "detail": "stream reset"}]}
    f.write_text(json.dumps(good) + "\n" + json.dumps(err) + "\n")
    s = Store.open(str(tmp_path / "r.db"))
    ingest_path(s, f, batch_size=1, jobs=jobs)
    with s.connect() as c:
        assert c.execute(select(func.count()).select_from(S.raw_records)).scalar() == 2


def test_batch_pickles_exactly(tmp_path):
    """What crosses the pipe comes back equal, with the same item types (the
    writer reads items by attribute) — Telegram events included."""
    import pickle

    from rasd.ingest.writer import AccountItem, EventItem, PostItem

    f = tmp_path / "p.jsonl"
    _pages(f, 5)
    batches = [c.batch for c in produce(f, "x", {}, None, 100) if c.batch is not None]
    batches += [c.batch for c in produce(DEMO / "telegram", "telegram", {}, None, 100)
                if c.batch is not None]
    follows = tmp_path / "following.jsonl"
    follows.write_text(json.dumps({
        "data": [{"id": "1", "username": "one"}, {"id": "2", "username": "two"}],
        "__twarc": {"url": "https://api.twitter.com/2/users/9/following?max_results=1000",
                    "retrieved_at": "2024-01-01T00:00:00+00:00"}}) + "\n")
    batches += [c.batch for c in produce(follows, "x", {}, None, 100) if c.batch is not None]
    assert any(b.events for b in batches) and any(b.stubs for b in batches)
    assert any(len(b.edges) == 2 for b in batches)
    for b in batches:
        back = pickle.loads(pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL))
        assert back == b
        for items, cls in ((back.posts, PostItem), (back.accounts, AccountItem),
                           (back.events, EventItem)):
            assert all(type(it) is cls for it in items)
        if back.posts:
            assert back.posts[0].hash == b.posts[0].hash and back.posts[0].text == b.posts[0].text


def test_a_compressed_file_is_judged_by_what_it_holds(tmp_path, monkeypatch):
    """The choice of a second parsing process goes by the bytes to parse: a
    .jsonl.gz of 1/8 its size was parsed in one process where its plain copy
    got two (the .gz of a 50k-post crawl: 3.7 s against 2.4 s)."""
    import bz2
    import gzip

    from rasd.ingest import runner

    line = json.dumps({"data": [{"id": "1", "text": "t " * 200, "author_id": "2"}]}) + "\n"
    plain = tmp_path / "a.jsonl"
    plain.write_text(line * 2000)
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    bz = tmp_path / "a.jsonl.bz2"
    bz.write_bytes(bz2.compress(plain.read_bytes()))
    n = plain.stat().st_size
    assert runner.data_size(plain, n) == n
    assert runner.data_size(gz, gz.stat().st_size) == n  # gzip states it exactly
    assert runner.data_size(bz, bz.stat().st_size) == 8 * bz.stat().st_size
    seen = []
    monkeypatch.setattr(runner, "default_jobs", lambda size: seen.append(size) or 1)
    ingest_path(Store.open(str(tmp_path / "s.db")), gz)
    assert seen == [n]


def test_two_long_source_names_stay_two_sources(sqlite_store, tmp_path):
    """Exploratory testing: --source values (or file names) over 200
    characters were cut to 200, so two that shared their start became one
    source. The stored name keeps its start and a digest of the whole."""
    from rasd.ingest.runner import ingest_runs

    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"data": [{"id": "1", "text": "x", "author_id": "2"}]}) + "\n")
    a, b = "op-" + "x" * 250 + "-a", "op-" + "x" * 250 + "-b"
    ingest_path(sqlite_store, f, source=a)
    ingest_path(sqlite_store, f, source=b)
    with sqlite_store.connect() as c:
        names = c.execute(select(S.sources.c.name)).scalars().all()
    assert len(names) == 2 and all(len(n) <= 200 for n in names), names
    assert len(ingest_runs(sqlite_store, source=a)) == 1


def test_runs_gives_the_seconds_ingest_printed(store, tmp_path, monkeypatch):
    """README walkthrough: `rasd runs` said 1.0s for a run that ingest had said
    took 1.3s. The run was recorded as started at its first record (a batch
    parsed in), ingest counted from when reading began. Both now count the
    same span, on both stores."""
    import time

    from rasd.ingest import runner

    def slow_start(*a, **k):  # the first batch takes a while to come
        time.sleep(0.4)
        yield from produce(*a, **k)

    monkeypatch.setattr(runner, "produce", slow_start)
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"data": [{"id": "1", "text": "x", "author_id": "2"}]}) + "\n")
    rep = ingest_path(store, f, jobs=1)
    run = runner.ingest_runs(store)[0]
    assert rep.seconds >= 0.4
    assert abs(run["seconds"] - rep.seconds) < 0.002, (run["seconds"], rep.seconds)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_repeated_profiles_are_told_apart_in_the_per_kind_line(tmp_path, jobs):
    """README walkthrough: the far-right Telegram CSV (a channel's profile on
    every row) said "accounts: ... unchanged 39944" into an empty store, as if
    the store had held them. The per-kind line now says how many of the
    unchanged were the same profile read again in this run, across batches too,
    and the run's counts keep the figure."""
    from typer.testing import CliRunner

    from rasd.cli import app, common
    from rasd.ingest.runner import ingest_runs

    f = tmp_path / "t.jsonl"
    f.write_text("".join(json.dumps({
        "data": [{"id": str(i), "text": f"post {i}", "author_id": "7"}],
        "includes": {"users": [{"id": "7", "username": "chan", "name": "Channel"}]}}) + "\n"
        for i in range(12)))
    db = str(tmp_path / "r.db")
    common.STATE.store = None
    try:
        r = CliRunner().invoke(app, ["--db", db, "ingest", str(f), "--batch", "5",
                                     "--jobs", jobs])
    finally:
        if common.STATE.store is not None:
            common.STATE.store.close()
        common.STATE.store = None
    assert r.exit_code == 0, r.output
    assert ("    accounts: new 1, unchanged 11 (11 of them repeats of a profile read "
            "earlier in this run)\n") in r.stdout, r.stdout
    assert "    posts: new 12\n" in r.stdout
    st = Store.open(db)
    try:
        assert ingest_runs(st)[0]["counts"]["repeated_profiles"] == 11
    finally:
        st.close()
