"""The store: migrations, SQLite settings, history, the scan runner."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from sqlalchemy import select, text
from tests.helpers import count

from rasd.detect.base import Detector, StoredPost
from rasd.detect.scan import scan
from rasd.ingest.base import RawSink
from rasd.ingest.writer import Writer
from rasd.model import Account, Detection, Post
from rasd.store import Store, resolve_url
from rasd.store import schema as S
from rasd.store.migrate import current, head


def test_url_resolution(monkeypatch):
    monkeypatch.delenv("RASD_DB", raising=False)
    assert resolve_url(None) == "sqlite:///rasd.db"
    assert resolve_url("x/y.db") == "sqlite:///x/y.db"
    assert resolve_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    monkeypatch.setenv("RASD_DB", "/tmp/z.db")
    assert resolve_url(None) == "sqlite:////tmp/z.db"


def test_migrated_to_head_and_wal(sqlite_store):
    assert current(sqlite_store.engine) == head()
    with sqlite_store.connect() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
    for t in S.load_all().tables:
        with sqlite_store.connect() as c:
            c.execute(text(f'SELECT count(*) FROM "{t}"'))


def _write(store: Store, *recs: Any) -> Writer:
    from rasd.ingest.runner import _source_id

    w = Writer(store, _source_id(store, "t"))
    for r in recs:
        w.add(r)
    w.flush()
    return w


def test_profile_change_keeps_history(store):
    _write(store, Account("x", "1", handle="old_name", name="Old", bio="first bio"))
    w = _write(store, Account("x", "1", handle="new_name", name="New", bio="second bio"))
    assert w.counts.by_kind["accounts"]["updated"] == 1
    with store.connect() as c:
        cur = c.execute(select(S.accounts).where(S.accounts.c.platform_id == "1")).one()
        old = c.execute(select(S.account_versions)).all()
    assert cur.handle == "new_name"
    assert [(o.handle, o.bio) for o in old] == [("old_name", "first bio")]
    w = _write(store, Account("x", "1", handle="new_name", name="New", bio="second bio"))
    assert w.counts.by_kind["accounts"] == {"unchanged": 1}


def test_stub_never_overwrites_profile(store):
    _write(store, Account("x", "1", handle="real", name="Real", bio="bio"))
    _write(store, Post("x", "p1", "1", "hi", mentions=[("1", "real")]),
           Account("x", "1", handle=None, stub=True))
    with store.connect() as c:
        a = c.execute(select(S.accounts).where(S.accounts.c.platform_id == "1")).one()
    assert a.name == "Real" and not a.stub


def test_stub_then_profile_upgrades(store):
    _write(store, Post("x", "p1", "2", "hi @bob", mentions=[("3", "bob")]))
    with store.connect() as c:
        assert c.execute(select(S.accounts.c.stub).where(S.accounts.c.platform_id == "3")
                         ).scalar_one()
    _write(store, Account("x", "3", handle="bob", name="Bob"))
    with store.connect() as c:
        row = c.execute(select(S.accounts).where(S.accounts.c.platform_id == "3")).one()
    assert not row.stub and row.name == "Bob"
    assert count(store, S.edges, S.edges.c.kind == "mention") == 1


def test_name_stub_merges_into_real_account(sqlite_store):
    from rasd.ingest.writer import merge_name_stubs
    from rasd.model import Link

    _write(sqlite_store, Post("telegram", "c1/1", "c1", "fwd",
                              links=[Link("forward", None, None, "OtherChan")]))
    assert count(sqlite_store, S.accounts, S.accounts.c.platform_id == "@otherchan") == 1
    _write(sqlite_store, Account("telegram", "channel9", handle="OtherChan"))
    assert merge_name_stubs(sqlite_store) == 1
    with sqlite_store.connect() as c:
        e = c.execute(select(S.edges)).one()
        real = c.execute(select(S.accounts.c.id).where(
            S.accounts.c.platform_id == "channel9")).scalar_one()
    assert e.dst_account_id == real
    assert count(sqlite_store, S.accounts, S.accounts.c.platform_id == "@otherchan") == 0


class Shouty(Detector):
    """A test detector: flags posts written in capitals."""

    name = "shouty"
    calls = 0

    def __init__(self, version: str = "1"):
        self._v = version

    @property
    def version(self) -> str:
        return self._v

    def detect(self, subjects: Sequence[StoredPost]) -> list[Detection]:
        Shouty.calls += len(subjects)
        return [Detection("post", p.id, self.name, "shouting", 0.9, self.version,
                          ["all caps"]) for p in subjects if p.text and p.text.isupper()]


def test_scan_is_idempotent_and_versioned(store):
    _write(store, Post("x", "1", "a", "HELLO"), Post("x", "2", "a", "quiet"),
           Account("x", "a", handle="a", name="A"))
    Shouty.calls = 0
    r = scan(store, [Shouty()])
    assert r[0].scanned == 2 and r[0].detections == 1 and Shouty.calls == 2
    r = scan(store, [Shouty()])
    assert r[0].scanned == 0 and Shouty.calls == 2
    r = scan(store, [Shouty()], rescan=True)
    assert r[0].scanned == 2
    assert count(store, S.detections) == 1  # replaced, not duplicated
    scan(store, [Shouty("2")])
    assert count(store, S.detections) == 2  # a new model version keeps the old results
    st = store.stats()
    assert st["detections"] == 2 and st["detections_current"] == 1  # … as history
    with store.connect() as c:
        d = c.execute(select(S.detections).where(S.detections.c.model_version == "2")).one()
    assert d.label == "shouting" and d.explanation == ["all caps"]


def test_a_detector_written_for_order_is_planned_with_it(store, monkeypatch):
    """``Detector.order(ids)`` (a page in the order to scan it) became
    ``plan(pages)``: a plugin that still defines ``order`` has it called a page
    at a time, as before, with a DeprecationWarning once, when its class is
    defined; a class that defines ``plan`` too keeps its ``plan``."""
    import warnings

    from rasd.detect import scan as scan_mod

    monkeypatch.setattr(scan_mod, "PAGE", 3)
    _write(store, *(Post("x", str(i), "a", f"p{i}") for i in range(1, 8)),
           Account("x", "a", handle="a", name="A"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        class Backwards(Shouty):
            name = "backwards"
            batch_size = 2
            pages: ClassVar[list[list[int]]] = []
            seen: ClassVar[list[int]] = []

            def order(self, ids: list[int]) -> list[int]:
                Backwards.pages.append(list(ids))
                return ids[::-1]

            def detect(self, subjects: Sequence[StoredPost]) -> list[Detection]:
                Backwards.seen.extend(p.id for p in subjects)
                return []

        class Heir(Backwards):  # inherits order: planned with it, no second warning
            name = "heir"

        class Both(Backwards):  # defines plan: its plan is what counts
            name = "both"

            def plan(self, pages):
                for page in pages:
                    yield sorted(page, key=lambda i: i % 2)

    deprecated = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecated) == 1 and "Backwards" in str(deprecated[0].message)
    assert "plan" in str(deprecated[0].message)
    assert deprecated[0].filename == __file__  # points at the plugin's class
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none while scanning
        (r,) = scan(store, [Backwards()])
    with store.connect() as c:
        ids = [i for (i,) in c.execute(select(S.posts.c.id).order_by(S.posts.c.id))]
    assert r.scanned == 7
    assert Backwards.pages == [ids[0:3], ids[3:6], ids[6:7]]
    assert Backwards.seen == ids[2::-1] + ids[5:2:-1] + ids[6:]
    Backwards.pages.clear()
    Backwards.seen.clear()
    scan(store, [Heir()])
    assert Backwards.seen == ids[2::-1] + ids[5:2:-1] + ids[6:]
    Backwards.pages.clear()
    Backwards.seen.clear()
    scan(store, [Both()])
    assert Backwards.pages == []
    assert Backwards.seen == [i for p in (ids[0:3], ids[3:6], ids[6:])
                              for i in sorted(p, key=lambda i: i % 2)]


def test_raw_bytes_round_trip(sqlite_store):
    sink = RawSink()
    h = sink.put(b'{"id": "1", "text": "\xd8\xb1\xd8\xb5\xd8\xaf"}', "x")
    w = Writer(sqlite_store, 1)
    from rasd.ingest.runner import _source_id
    w.source_id = _source_id(sqlite_store, "raw")
    w.add_raw(sink.drain())
    w.flush()
    assert sqlite_store.raw(h) == b'{"id": "1", "text": "\xd8\xb1\xd8\xb5\xd8\xaf"}'


def test_background_checkpoints_copy_the_wal_and_stop(tmp_path):
    import threading
    import time
    from datetime import UTC, datetime

    from sqlalchemy import func, insert

    s = Store.open(str(tmp_path / "c.db"))
    db = tmp_path / "c.db"
    names = {t.name for t in threading.enumerate()}
    with s.background_checkpoints(interval=0.01):
        assert "rasd-wal-checkpoint" in {t.name for t in threading.enumerate()} - names
        before = db.stat().st_size
        with s.write() as c:  # far below the writer's own autocheckpoint
            c.execute(insert(S.sources), [{"name": f"source {i} " + "x" * 200,
                                           "created_at": datetime.now(UTC)}
                                          for i in range(2000)])
        deadline = time.time() + 10
        while db.stat().st_size <= before + 2000 * 200 and time.time() < deadline:
            time.sleep(0.02)
        # only a checkpoint moves committed pages from the WAL into the file
        assert db.stat().st_size > before + 2000 * 200
    assert "rasd-wal-checkpoint" not in {t.name for t in threading.enumerate()}
    with s.connect() as c:
        assert c.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert c.execute(select(func.count()).select_from(S.sources)).scalar() == 2000
    mem = Store.open("sqlite://")
    with mem.background_checkpoints():
        assert "rasd-wal-checkpoint" not in {t.name for t in threading.enumerate()}


def test_commits_do_not_checkpoint_while_the_thread_does(tmp_path):
    """The writer's own (per-connection) autocheckpoint is off while the
    checkpoint thread runs, and on again after, for every pooled connection."""
    s = Store.open(str(tmp_path / "a.db"))

    def setting() -> int:
        with s.write() as c:
            return int(c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())

    assert setting() == 10000
    with s.background_checkpoints(interval=0.05):
        assert setting() == 0
        with s.begin() as c:  # plain transactions too
            assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    assert setting() == 10000
    with s.begin() as c:
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10000


def _indexes(store) -> set[str]:
    with store.connect() as c:
        return {r[0] for r in c.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}


def test_bulk_load_defers_secondary_indexes_and_builds_them_again(tmp_path):
    import pytest

    from rasd.store.db import DEFERRABLE_INDEXES

    s = Store.open(str(tmp_path / "b.db"))
    assert set(DEFERRABLE_INDEXES) <= _indexes(s)
    with s.bulk_load():
        left = _indexes(s)
        assert not set(DEFERRABLE_INDEXES) & left
        assert any("posts" in n for n in left)  # the unique key the writer relies on
    assert set(DEFERRABLE_INDEXES) <= _indexes(s)
    with pytest.raises(RuntimeError), s.bulk_load():
        raise RuntimeError("boom")
    assert set(DEFERRABLE_INDEXES) <= _indexes(s)


def test_indexes_come_back_after_a_kill_during_bulk_load(tmp_path):
    from rasd.store.db import DEFERRABLE_INDEXES

    s = Store.open(str(tmp_path / "k.db"))
    with s.begin() as c:  # what a killed bulk load leaves behind
        for name in DEFERRABLE_INDEXES:
            c.exec_driver_sql(f'DROP INDEX "{name}"')
    s.close()
    again = Store.open(str(tmp_path / "k.db"))
    assert set(DEFERRABLE_INDEXES) <= _indexes(again)
    assert again.ensure_indexes() == []


def test_name_stub_merge_prefers_a_full_profile_and_ignores_case(sqlite_store):
    from rasd.ingest.writer import merge_name_stubs
    from rasd.model import Link

    _write(sqlite_store, Post("telegram", "c1/1", "c1", "fwd",
                              links=[Link("forward", None, None, "MixedCase")]),
           Post("telegram", "c1/2", "c1", "fwd", links=[Link("forward", None, None, "nobody")]))
    # a stub known by id with that handle, then the full profile
    _write(sqlite_store, Account("telegram", "u5", handle="mixedcase", stub=True))
    _write(sqlite_store, Account("telegram", "channel9", handle="MIXEDCASE", name="Real"))
    assert merge_name_stubs(sqlite_store) == 1
    with sqlite_store.connect() as c:
        e = c.execute(select(S.edges)).all()
        real = c.execute(select(S.accounts.c.id).where(
            S.accounts.c.platform_id == "channel9")).scalar_one()
        left = {r[0] for r in c.execute(select(S.accounts.c.platform_id))}
    assert real in {x.dst_account_id for x in e}
    assert "@mixedcase" not in left and "@nobody" in left  # no real account yet: kept
    assert merge_name_stubs(sqlite_store) == 0


def test_postgresql_session_settings(pg_store):
    """rasd's own statements are planned for their values each time: the
    driver prepares none of them, however often they run (no generic plan
    chosen while the tables were empty: a sequential scan that an ingest's key
    lookups would then keep using). The server's own cached plans, the
    foreign-key checks among them, keep theirs: plan_cache_mode "auto" (with
    "force_custom_plan" each row an INSERT wrote planned its checks again,
    ~2x their cost). Times in UTC."""
    from rasd.store.upsert import fast_select_in

    a = S.accounts
    with pg_store.begin() as c:
        for i in range(8):
            fast_select_in(c, a, ("id",), ("platform", "x"), "platform_id", [f"u{i}", "v"])
            c.execute(select(a.c.id).where(a.c.platform == "x",
                                           a.c.platform_id.in_([f"u{i}", "v"]))).all()
        assert c.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar() == 0
        assert c.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
        assert c.exec_driver_sql("SHOW TIME ZONE").scalar() == "UTC"


def test_migrations_build_the_schema_the_code_declares(store):
    """Alembic's migrations and the tables the code declares agree: a table,
    column, index or constraint added to one and not the other fails here
    (SQLite keeps 0008's INTEGER columns: its integers are 64-bit already)."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import BigInteger

    from rasd.store import schema as S

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLite cannot reflect expression indexes
        with store.engine.connect() as c:
            diff = compare_metadata(MigrationContext.configure(c), S.load_all())
    flat = [d for group in diff for d in (group if isinstance(group, list) else [group])]
    if store.is_sqlite:
        flat = [d for d in flat if not (d[0] == "modify_type" and isinstance(d[-1], BigInteger))]
    assert flat == []


def test_short_waits_bound_how_long_a_write_waits_for_a_lock(store):
    """After an interrupt the interrupted transaction may still hold its lock:
    best-effort work then waits seconds, not SQLite's 30 s busy timeout (or for
    ever on PostgreSQL, which then hung Ctrl-C) — review."""
    import time

    import pytest
    from sqlalchemy import insert
    from sqlalchemy.exc import OperationalError

    from rasd.store.db import now

    def add(name):
        with store.write() as c:
            c.execute(insert(S.sources).values(name=name, created_at=now()))

    with store.write() as held:
        if not store.is_sqlite:  # SQLite's BEGIN IMMEDIATE holds the write lock already
            held.exec_driver_sql("LOCK TABLE sources IN ACCESS EXCLUSIVE MODE")
        t = time.monotonic()
        with store.short_waits(1), pytest.raises(OperationalError):
            add("waits")
        assert time.monotonic() - t < 10
    add("after")  # the usual waits again, and the lock gone: it works
    with store.connect() as c:
        assert c.execute(select(S.sources.c.name)).scalars().all() == ["after"]
        if store.is_sqlite:  # the pooled connection's busy timeout is back to 30 s
            assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_writers_take_turns_on_both_stores(store, second_store):
    """A write transaction holds the store's write lock from its start, on
    PostgreSQL too (an advisory lock per schema): a second writer waits for it,
    so what one looked up cannot change under it before it writes. A store in
    another schema of the same database is not held up."""
    import threading
    import time

    from sqlalchemy import insert

    from rasd.store.db import now

    order: list[str] = []

    def second() -> None:
        with store.write() as c:
            order.append("second in")
            c.execute(insert(S.sources).values(name="second", created_at=now()))

    with store.write() as c:
        c.execute(insert(S.sources).values(name="first", created_at=now()))
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.5)
        order.append("first out")
        with second_store.write() as other:  # another store: no wait
            other.execute(insert(S.sources).values(name="elsewhere", created_at=now()))
    t.join(30)
    assert order == ["first out", "second in"]
    with store.connect() as c:
        assert c.execute(select(S.sources.c.name).order_by(S.sources.c.id)).scalars().all() \
            == ["first", "second"]


def test_several_processes_creating_one_new_store_at_once(tmp_path):
    """Exploratory testing: two `rasd ingest` started at once on a store that did
    not exist yet — one failed with "database is locked" while creating the
    schema. Migrations now take the write lock first and wait for it."""
    import subprocess
    import sys

    code = ("import sys; from rasd.store import Store; s = Store.open(sys.argv[1]); "
            "print(s.stats()['posts'])")
    for attempt in range(3):
        db = str(tmp_path / f"new{attempt}.db")
        procs = [subprocess.Popen([sys.executable, "-c", code, db], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [e[-400:] for _, e in outs]
        assert [o.strip() for o, _ in outs] == ["0"] * 4


def test_several_processes_creating_one_new_postgresql_schema_at_once():
    """Exploratory testing: on PostgreSQL, two ingests started at once on a new
    (empty) schema — one failed with a duplicate key in pg_type while both
    created the tables. Migrations there take the store's advisory lock first."""
    import subprocess
    import sys
    import uuid

    import sqlalchemy as sa
    from tests.conftest import PG_URL, _drop_pg

    if not PG_URL:
        pytest.skip("PostgreSQL tests need RASD_TEST_PG_URL (CI sets it; e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test)")
    code = ("import sys; from rasd.store import Store; s = Store.open(sys.argv[1]); "
            "print(s.stats()['posts'])")
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    for _ in range(2):
        schema = "t_" + uuid.uuid4().hex[:12]
        admin = sa.create_engine(url)
        with admin.begin() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        db = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
        try:
            procs = [subprocess.Popen([sys.executable, "-c", code, db], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for _ in range(4)]
            outs = [p.communicate(timeout=120) for p in procs]
            assert all(p.returncode == 0 for p in procs), [e[-400:] for _, e in outs]
            assert [o.strip() for o, _ in outs] == ["0"] * 4
        finally:
            _drop_pg(schema)


# ---- what a creation killed outright left (``store.db._remove_stale_creations``)

_OLD = 11 * 60  # seconds ago: past STALE_CREATION_AGE (10 minutes)


def _dead_pid() -> int:
    """A PID no process has on this host: that of a child that ended and was
    reaped (another one in the rare case the system gave it out again)."""
    import os
    import subprocess
    import sys

    for _ in range(20):
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        try:
            os.kill(child.pid, 0)
        except ProcessLookupError:
            return child.pid
    raise AssertionError("every PID tried was given out again")


def _age(*paths: Any, seconds: float = _OLD) -> None:
    import os
    import time

    t = time.time() - seconds
    for p in paths:
        os.utime(p, (t, t), follow_symlinks=False)


def _hidden(folder: Any, store_name: str, pid: int, rand: str = "0a1b2c3d") -> Any:
    """The name ``_create_sqlite`` gives the hidden file of a creation."""
    return folder / f".{store_name[:200]}.new-{pid}-{rand}"


def test_a_creation_killed_outright_is_cleaned_up_by_a_later_one(tmp_path):
    """A process killed with SIGKILL while it made a new store (here as a
    migration makes its second index, the schema half in its hidden file's
    -wal) left `.NAME.new-PID-RANDOM` and its -wal and -shm forever: the
    README said they could be deleted, and nobody would. A later creation of
    that store removes them, once they are 10 minutes old (the process is gone);
    before that they are kept, as another host's creation would be."""
    import os
    import signal
    import subprocess
    import sys

    db = tmp_path / "k.db"
    code = ("import sys, time\n"
            "from alembic import op\n"
            "from rasd.store import Store\n"
            "real, made = op.create_index, []\n"
            "def create_index(name, *a, **kw):\n"
            "    made.append(name)\n"
            "    if len(made) == 2:\n"
            "        print('made', flush=True)\n"
            "        time.sleep(300)\n"
            "    return real(name, *a, **kw)\n"
            "op.create_index = create_index\n"
            "Store.open(sys.argv[1])\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "made\n", child.stderr.read()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    left = sorted(os.listdir(tmp_path))
    hidden = f".k.db.new-{child.pid}-"
    assert [f[:len(hidden)] for f in left] == [hidden] * 3, left
    assert sorted(f[len(hidden) + 8:] for f in left) == ["", "-shm", "-wal"]

    Store.open(str(db)).close()  # young: kept (its process may run on another host)
    assert set(left) < set(os.listdir(tmp_path))
    for f in ("k.db", "k.db-wal", "k.db-shm"):
        (tmp_path / f).unlink(missing_ok=True)
    _age(*(tmp_path / f for f in left))
    s = Store.open(str(db))  # old, its process gone: removed
    try:
        assert current(s.engine) == head()
    finally:
        s.close()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_a_store_made_after_a_killed_creation_removes_its_leftovers(tmp_path):
    """The command run again at once after a creation killed outright made the
    store while the leftovers were young (kept); no creation of that store ever
    runs again, so they stayed for good. The store's later opens remove them
    once stale; a read-only open leaves them, and none warns."""
    import os

    db = tmp_path / "r.db"
    Store.open(str(db)).close()
    dead = _dead_pid()
    left = [_hidden(tmp_path, "r.db", dead), tmp_path / f".r.db.new-{dead}-0a1b2c3d-wal"]
    for p in left:
        p.write_bytes(b"x")
    Store.open(str(db)).close()  # young: kept
    assert all(p.exists() for p in left)
    _age(*left)
    Store.open(str(db), migrate=False).close()  # a read-only open: not its business
    assert all(p.exists() for p in left)
    Store.open(str(db)).close()
    assert not [p for p in left if os.path.lexists(p)]


def test_what_a_creation_keeps_of_earlier_ones(tmp_path):
    """Only regular files of the exact name of an earlier creation of the same
    store, its process gone and 10 minutes old, are removed: one whose process
    runs, one changed lately (its -wal counts), another store's, a symbolic
    link (not followed: its target stays too), a folder and names that only
    look alike are kept."""
    import os
    import subprocess
    import sys

    long_name = "s" * 230 + ".db"  # cut to 200 characters in the hidden name
    dead = _dead_pid()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        target = tmp_path / "elsewhere" / "target"
        target.parent.mkdir()
        target.write_bytes(b"keep")
        gone = [_hidden(tmp_path, "s.db", dead, "00000001"),
                tmp_path / f".s.db.new-{dead}-00000001-wal",
                tmp_path / f".s.db.new-{dead}-00000002-wal",  # its file already removed
                _hidden(tmp_path, long_name, dead, "00000003")]
        kept = [_hidden(tmp_path, "s.db", alive.pid, "00000004"),
                _hidden(tmp_path, "s.db", dead, "00000005"),  # its -wal is young
                _hidden(tmp_path, "other.db", dead, "00000006"),
                _hidden(tmp_path, "s.db", dead, "0000000A"),
                tmp_path / f".s.db.new-{dead}-00000007.bak",
                tmp_path / f".s.db.new-{dead}-00000008-wal2",
                tmp_path / f"s.db.new-{dead}-00000009"]
        young = tmp_path / f".s.db.new-{dead}-00000005-wal"
        link = _hidden(tmp_path, "s.db", dead, "0000000b")
        link_wal = tmp_path / f".s.db.new-{dead}-0000000b-wal"  # not removed without it
        folder = _hidden(tmp_path, "s.db", dead, "0000000c")
        for p in (*gone, *kept, young, link_wal):
            p.write_bytes(b"x")
        link.symlink_to(target)
        folder.mkdir()
        _age(*gone, *kept, link, link_wal, folder, target)
        for name in ("s.db", long_name):
            Store.open(str(tmp_path / name)).close()
            assert (tmp_path / name).exists()
        assert not [p for p in gone if os.path.lexists(p)]
        assert all(p.exists() for p in (*kept, young, link_wal, folder, target))
        assert link.is_symlink() and target.read_bytes() == b"keep"
    finally:
        alive.kill()
        alive.wait()


def test_a_cleanup_that_fails_is_a_warning(tmp_path, capsys):
    """Removing what earlier creations left is no part of the creation: a
    folder that cannot be read there (here gone since) is one line on stderr,
    never an error."""
    from rasd.store.db import _remove_stale_creations

    assert _remove_stale_creations(tmp_path / "gone" / "s.db") == []
    err = capsys.readouterr().err
    assert err.startswith("rasd: warning: could not remove what an earlier creation of "
                          f"the store {tmp_path}/gone/s.db left: ")
    assert err.count("\n") == 1


def test_an_account_is_found_by_a_handle_with_non_ascii_capitals(store):
    """Exploratory testing: on SQLite, whose lower() folds ASCII only,
    `accounts show @Ärger` found nothing, even typed as stored (PostgreSQL
    found it). Handles are matched by handle_key, folded by rasd."""
    from rasd.accounts import find_accounts

    _write(store, Account(platform="telegram", platform_id="channel5001", handle="Ärger"))
    for ref in ("@Ärger", "Ärger", "@ÄRGER", "ärger"):
        assert [r.platform_id for r in find_accounts(store, ref)] == ["channel5001"], ref


@pytest.mark.parametrize("order", ["channel first", "forward first"])
def test_a_forward_by_name_merges_whatever_the_case_on_both_stores(store, tmp_path, order):
    """Exploratory testing: the far-right CSV's channel "Ärger" and a forward
    from "ÄRGER": on PostgreSQL the forward's placeholder merged into the
    channel, on SQLite it stayed a placeholder (5 accounts against 4): the
    network depended on the store."""
    from rasd.ingest import ingest_path

    pages = [
        {"data": [{"id": "1", "text": "t", "author_id": "5001"}],
         "includes": {"users": [{"id": "5001", "username": "Ärger", "name": "A"}]}},
        {"data": [{"id": "2", "text": "RT @ÄRGER: t", "author_id": "5002",
                   "entities": {"mentions": [{"start": 3, "end": 9, "username": "ÄRGER"}]}}],
         "includes": {"users": [{"id": "5002", "username": "other", "name": "B"}]}},
    ]
    for i, page in enumerate(pages if order == "channel first" else pages[::-1]):
        f = tmp_path / f"{i}.jsonl"  # one file each: the store, not the batch, matches
        f.write_text(json.dumps(page) + "\n")
        ingest_path(store, f)
    with store.connect() as c:
        ids = sorted(c.execute(select(S.accounts.c.platform_id)).scalars())
        dst = c.execute(select(S.accounts.c.platform_id).join(
            S.edges, S.edges.c.dst_account_id == S.accounts.c.id)).scalars().all()
    assert ids == ["5001", "5002"] and dst == ["5001"]


def test_migration_0020_downgrade_keeps_versions_and_posts(store):
    """0020's downgrade dropped ``first_observed_at`` in Alembic's batch mode,
    which on SQLite copies each table and drops the old one: with foreign keys
    on (rasd's connections), dropping ``accounts`` deleted the account's kept
    versions (ON DELETE CASCADE) — found by review. The column now goes in
    place, and a round trip down and up keeps every row."""
    from alembic import command

    from rasd.store.migrate import alembic_config

    _write(store, Account("x", "1", handle="old_name", name="Old", bio="first bio"))
    _write(store, Account("x", "1", handle="new_name", name="New", bio="second bio"))
    _write(store, Post("x", "10", account_id="1", text="a post"))
    before = [count(store, t) for t in (S.accounts, S.account_versions, S.posts)]
    assert before == [1, 1, 1]
    with store.engine.connect() as c:
        cfg = alembic_config(store.engine)
        cfg.attributes["connection"] = c
        for to in ("0019", "0004"):  # (0005–0017 dropped their columns the same way)
            command.downgrade(cfg, to)
            c.commit()
            for t in ("accounts", "account_versions", "posts"):
                assert c.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one() == 1, (to, t)
        command.upgrade(cfg, "head")
        c.commit()
    assert [count(store, t) for t in (S.accounts, S.account_versions, S.posts)] == before


def test_compressed_raw_records_hold_only_their_own_size():
    """A compressed raw record is kept (a batch holds hundreds) in memory of its
    own size, not of the buffer zstd reserved for it (about the input's size)."""
    import os
    import tracemalloc

    from rasd.store.db import compress, decompress

    pages = [os.urandom(64) + b'{"text": "the same words again"}, ' * 600 for _ in range(300)]
    tracemalloc.start()
    try:
        kept = [compress(p) for p in pages]
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    size = sum(len(k) for k in kept)
    assert size < sum(map(len, pages)) / 20  # compressed, well
    assert held < 4 * size + 64 * 1024, (held, size)
    assert [decompress(k) for k in kept] == pages
