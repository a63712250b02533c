"""Ctrl-C in `rasd hash`, `rasd match`, `rasd bank import`, `rasd lists import` and
while a store is opened (migrated): one line saying what is kept, status 130, and
nothing half-written (each ended with a traceback, or with status 130 and no
word). The others' are tested beside their commands (grep KeyboardInterrupt)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from typer.testing import CliRunner

from rasd.detect.media import banks as B
from rasd.detect.media import schema as M


def _cli(store, *args):
    from rasd.cli import app, common

    common.STATE.store = None
    try:
        return CliRunner().invoke(app, ["--db", store.url.render_as_string(
            hide_password=False), *args])
    finally:
        common.STATE.store = None


# ---- rasd hash: a real Ctrl-C ---------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_in_rasd_hash_says_how_many_lines_are_written(tmp_path, workers):
    """A real SIGINT to the process group (what Ctrl-C sends: the hashing
    workers get it too), once the first lines are out and the rest are still to
    come (the test stops reading, so the pipe fills): one line on stderr, status
    130, and every line written is whole, one per file, in the order of the
    files, as many as it says are written (it said one fewer where the Ctrl-C
    came as a line was written). It ended with status 130 and no word; with
    workers, each printed a traceback too."""
    files = tmp_path / "files"
    files.mkdir()
    n = 3000  # some 500 bytes of output each: far more than a pipe holds
    for i in range(n):
        (files / f"{i:05}.txt").write_text(f"post number {i} of a folder to hash\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RASD_PROGRESS": "0"}
    p = subprocess.Popen([sys.executable, "-m", "rasd", "hash", "-r", str(files),
                          "--workers", str(workers)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True, bufsize=0)  # no read-ahead
    try:
        first = p.stdout.readline()
        assert first, p.stderr.read()
        time.sleep(1)  # the pipe fills: the writes are blocked, or the hashing goes on
        os.killpg(p.pid, signal.SIGINT)
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    lines = (first + rest).decode().splitlines()
    assert p.returncode == 130, err.decode()
    assert 0 < len(lines) < n
    done = [json.loads(line)["path"] for line in lines]
    assert done == [str(files / f"{i:05}.txt") for i in range(len(lines))]
    # the count said is of the lines written, exactly: one more was out when the
    # Ctrl-C came as a line was being written (a write blocked on the full pipe),
    # its line put out at exit but not counted
    assert err.decode() == (f"rasd: warning: interrupted: the lines of the first {len(lines)} "
                            f"of {n} file(s) are written (`rasd hash` writes nothing else); "
                            "hash the others again\n"), err.decode()


def test_a_second_ctrl_c_stops_a_rasd_hash_write_blocked_on_a_full_pipe(tmp_path):
    """The first Ctrl-C waits for the line being written (the pipe is full: no one
    reads it); a second one stops at once, and the line says that the next file's
    line may be out in part."""
    files = tmp_path / "files"
    files.mkdir()
    n = 3000
    for i in range(n):
        (files / f"{i:05}.txt").write_text(f"post number {i} of a folder to hash\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RASD_PROGRESS": "0"}
    p = subprocess.Popen([sys.executable, "-m", "rasd", "hash", "-r", str(files)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True, bufsize=0)
    try:
        first = p.stdout.readline()
        assert first, p.stderr.read()
        time.sleep(1)  # the pipe fills: the write is blocked
        os.killpg(p.pid, signal.SIGINT)
        time.sleep(0.5)
        assert p.poll() is None  # held back while the line is written
        os.killpg(p.pid, signal.SIGINT)
        rest, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, err.decode()
    text = (first + rest).decode()
    whole = text.split("\n")[:-1]  # the part of a line after the last LF: not whole
    done = [json.loads(line)["path"] for line in whole]
    assert done == [str(files / f"{i:05}.txt") for i in range(len(whole))]
    said = int(err.decode().split("the first ")[1].split(" ")[0])
    assert said in (len(whole), len(whole) - 1)
    assert err.decode() == (f"rasd: warning: interrupted: the lines of the first {said} of "
                            f"{n} file(s) are written (`rasd hash` writes nothing else), "
                            "and perhaps part of the next one's (a second Ctrl-C stopped "
                            "its write); hash the others again\n"), err.decode()


# ---- rasd match ------------------------------------------------------------------

def test_ctrl_c_in_rasd_match_says_which_results_are_written(store, tmp_path, monkeypatch):
    """Ctrl-C as `rasd match` hashes its third file: the first two files'
    results, one line and status 130 (it ended with no word)."""
    from rasd.detect.media import hasher

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.txt")
        paths[-1].write_text(f"a text to match, number {i}\n")
    real, calls = hasher.hash_path, []

    def hash_path(p, types=None, limits=None):
        calls.append(p)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(p, types, limits)

    monkeypatch.setattr(hasher, "hash_path", hash_path)
    r = _cli(store, "match", *map(str, paths))
    assert r.exit_code == 130, r.output
    assert r.stdout == f"{paths[0]}: no match\n{paths[1]}: no match\n"
    assert r.stderr == ("rasd: warning: interrupted: the results of the first 2 of 4 "
                        "file(s) are written in full (matching files stores nothing); "
                        "match the others again\n")


def test_ctrl_c_in_rasd_match_stored_says_what_is_kept(store, tmp_path, monkeypatch):
    """Ctrl-C in `rasd match --stored` as it stores a chunk's detections: that
    chunk's are as they were (its transaction rolled back), one line, status 130;
    the command again does the whole re-match."""
    import shutil

    from rasd.detect import scan as scan_mod
    from rasd.detect.media.detector import MediaDetector
    from rasd.store import schema as S
    from rasd.store.db import now

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    photos = Path(__file__).resolve().parents[1] / "src/rasd/data/demo/telegram/photos"
    demo_bank = photos.parents[1] / "banks" / "demo-known-content.csv"
    ts = now()
    with store.begin() as c:  # media rows as a Telegram ingest stores them
        acc = c.execute(S.accounts.insert().values(
            platform="telegram", platform_id="c1", handle="chan", first_seen=ts,
            last_seen=ts, stub=False)).inserted_primary_key[0]
        for i, src in enumerate(sorted(photos.glob("*.jpg"))):
            shutil.copy(src, tmp_path / src.name)
            pid = c.execute(S.posts.insert().values(
                platform="telegram", platform_id=f"p{i}", account_id=acc, kind="post",
                text=None, first_seen=ts, last_seen=ts)).inserted_primary_key[0]
            mid = c.execute(S.media.insert().values(
                platform="telegram", media_key=f"c1/{i}/photo", type="photo",
                local_path=str(tmp_path / src.name), first_seen=ts)).inserted_primary_key[0]
            c.execute(S.post_media.insert().values(post_id=pid, media_id=mid))
    B.create_bank(store, "demo")
    B.import_file(store, "demo", demo_bank)
    scan_mod.scan(store, [MediaDetector()])  # stores their signals and detections

    def detections():
        with store.connect() as c:
            return sorted(c.execute(select(S.detections.c.subject_id, S.detections.c.label))
                          .all())

    before = detections()
    assert before
    real, stored = scan_mod.store_detections, []

    def store_detections(store, det, chunk, dets):  # Ctrl-C inside its transaction
        stored.append(len(dets))
        with store.begin() as c:
            c.execute(S.detections.delete())
            raise KeyboardInterrupt

    monkeypatch.setattr(scan_mod, "store_detections", store_detections)
    r = _cli(store, "match", "--stored")
    assert r.exit_code == 130, r.output
    assert stored and stored[0] > 0  # the bank's signals matched: detections to store
    assert r.stderr == ("rasd: warning: interrupted: the media re-matched before it have "
                        "their new detections stored; `rasd match --stored` again "
                        "re-matches them all\n")
    assert detections() == before
    monkeypatch.setattr(scan_mod, "store_detections", real)
    r = _cli(store, "match", "--stored", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["detections"] == stored[0]


# ---- rasd bank import -------------------------------------------------------------

def test_ctrl_c_in_rasd_bank_import_keeps_the_batches_written(store, tmp_path, monkeypatch):
    """Ctrl-C as the third batch is written, batches being of two rows: the first
    four signals are in the bank, one line says so and how to go on, status
    130; the same import again adds the rest and counts the four duplicates."""
    B.create_bank(store, "tcap")
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(7)]
    f = tmp_path / "sha.txt"
    f.write_text("\n".join(keys) + "\n")
    monkeypatch.setattr(B, "IMPORT_BATCH", 2)
    real, batches = B._write_batch, []

    def write(*a, **k):
        batches.append(1)
        if len(batches) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(B, "_write_batch", write)
    r = _cli(store, "bank", "import", "tcap", str(f), "--type", "sha256")
    assert r.exit_code == 130, r.output
    assert r.stdout == ""
    assert r.stderr == ("rasd: warning: interrupted: bank tcap keeps the signals written "
                        "before it (2 to a transaction, each as the file says; the file's "
                        "tombstones of signals held before are applied only at the end); "
                        "import the file again to complete it (those added count as "
                        "duplicates)\n")
    with store.connect() as c:
        held = c.execute(select(M.bank_signals.c.signal)).scalars().all()
    assert sorted(held) == sorted(keys[:4])
    monkeypatch.setattr(B, "_write_batch", real)
    r = _cli(store, "bank", "import", "tcap", str(f), "--type", "sha256", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert (rep["read"], rep["added"], rep["duplicates"]) == (7, 3, 4)


# ---- rasd lists import ------------------------------------------------------------

def _ftm(path: Path, names: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": f"syn-{i}", "schema": "Person", "caption": n,
                                        "properties": {"name": [n]}}) + "\n"
                            for i, n in enumerate(names)), encoding="utf-8")
    return path


def test_ctrl_c_in_rasd_lists_import_leaves_the_lists_as_they_were(store, tmp_path,
                                                                   monkeypatch):
    """Ctrl-C while a re-import of a list writes its names, after it dropped the
    earlier import's rows in the same transaction: the earlier import is all
    there, one line says so, status 130."""
    from rasd.detect.finance import lists as L
    from rasd.detect.finance import schema as F

    first = _ftm(tmp_path / "a.ftm.json", ["Khalid Synthetic", "Omar Invented"])
    assert _cli(store, "lists", "import", str(first), "--name", "mine").exit_code == 0
    before = L.list_status(store)
    real, seen = L.dominant_script, []

    def dominant_script(name):  # called for each name as it is written
        seen.append(name)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(name)

    monkeypatch.setattr(L, "dominant_script", dominant_script)
    second = _ftm(tmp_path / "b.ftm.json", ["Anna Fictive", "Bora Madeup", "Cem Unreal",
                                            "Dara Notreal"])
    r = _cli(store, "lists", "import", str(second), "--name", "mine")
    assert r.exit_code == 130, r.output
    assert len(seen) == 3
    assert r.stderr == ("rasd: warning: interrupted: the store's lists are as they were "
                        "(an import replaces a list in one transaction, at its end); run "
                        "the import again\n")
    assert L.list_status(store) == before
    with store.connect() as c:
        assert sorted(c.execute(select(F.fin_names.c.name)).scalars()) == [
            "Khalid Synthetic", "Omar Invented"]


# ---- opening a store: migrations ----------------------------------------------------

def test_ctrl_c_while_a_store_migrates_leaves_it_at_its_old_schema(store, monkeypatch):
    """Ctrl-C half-way through a migration, as a command opens a store of an
    older rasd (a migration may take minutes on a big one): it printed a
    traceback. One line, status 130, and the store is at its old revision,
    without the half of the migration that ran (all migrations are one
    transaction); the next command migrates it."""
    from alembic import command, op

    from rasd.store.migrate import alembic_config, current, head

    names = ("ix_accounts_unkeyed_handle", "ix_accounts_unkeyed_name")  # 0021's
    with store.engine.connect() as c:  # the store as 0020 left it
        cfg = alembic_config(store.engine)
        cfg.attributes["connection"] = c
        command.downgrade(cfg, "0020")
        c.commit()
    real, made = op.create_index, []

    def create_index(name, *a, **kw):  # Ctrl-C after 0021's first index is made
        if made:
            raise KeyboardInterrupt
        made.append(name)
        return real(name, *a, **kw)

    monkeypatch.setattr(op, "create_index", create_index)
    r = _cli(store, "stats")
    assert r.exit_code == 130, r.output
    assert made == [names[0]] and r.stdout == ""
    assert r.stderr.startswith("rasd: warning: interrupted while opening the store ")
    assert r.stderr.endswith(": the command did nothing; its schema is the old one or the "
                             "new one, not one between (migrations are one transaction); "
                             "run the command again\n")
    assert r.stderr.count("\n") == 1
    assert current(store.engine) == "0020"
    have = {ix["name"] for ix in inspect(store.engine).get_indexes("accounts")}
    assert not have & set(names)
    monkeypatch.setattr(op, "create_index", real)
    assert _cli(store, "stats").exit_code == 0
    assert current(store.engine) == head()
    have = {ix["name"] for ix in inspect(store.engine).get_indexes("accounts")}
    assert set(names) <= have
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(M.bank_signals)).scalar() == 0


def test_an_interrupted_bank_batch_leaves_no_quarantined_signal_without_its_review(store,
                                                                                   monkeypatch):
    """A batch's signals, and the reviews its quarantined ones need (the one way
    they come back), were written in transactions of their own: a Ctrl-C between
    them left quarantined signals that no review lists. Now a batch is one
    transaction: all of it, or none."""
    B.create_bank(store, "q")
    entries = [B.Entry(i, "md5", f"{i:032x}", {}, status="quarantined") for i in range(3)]
    real = B._review_quarantined

    def review(c, bank_id, keys, where):  # Ctrl-C as the batch's reviews are opened
        raise KeyboardInterrupt

    monkeypatch.setattr(B, "_review_quarantined", review)
    with pytest.raises(KeyboardInterrupt):
        B.add_signals(store, "q", entries)
    with store.connect() as c:
        assert c.execute(select(func.count()).select_from(M.bank_signals)).scalar() == 0
    monkeypatch.setattr(B, "_review_quarantined", real)
    rep = B.add_signals(store, "q", entries)
    assert rep.added == 3 and len(B.open_reviews(store)) == 3


def _sigint_at_second_index(monkeypatch):
    """A real SIGINT, sent to this process as a migration makes its second
    index: Python's handler raises KeyboardInterrupt at the next step, as it
    does for a Ctrl-C. Returns the names of the indexes begun."""
    from alembic import op

    real, made = op.create_index, []

    def create_index(name, *a, **kw):
        made.append(name)
        if len(made) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(name, *a, **kw)

    monkeypatch.setattr(op, "create_index", create_index)
    return made


def test_ctrl_c_while_a_new_store_is_made_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C while a command that makes a store (`rasd bank create`) makes a
    new SQLite one: the store file appeared, empty or half-made (a later
    command took it for a store), with its -wal and -shm. Now nothing is left
    in the folder, one line says none is made, status 130; the command again
    makes it, whole."""
    from rasd.store import Store
    from rasd.store.migrate import current, head

    folder = tmp_path / "stores"
    db = folder / "new.db"
    made = _sigint_at_second_index(monkeypatch)
    from rasd.cli import app, common

    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", str(db), "bank", "create", "tcap"])
    common.STATE.store = None
    assert len(made) == 2  # the migrations were under way
    assert r.exit_code == 130, r.output
    assert r.stderr == (f"rasd: warning: interrupted while making the store {db}: none is "
                        "made (a new store appears only once its schema is complete); run "
                        "the command again\n")
    assert sorted(os.listdir(folder)) == []
    monkeypatch.undo()
    r = CliRunner().invoke(app, ["--db", str(db), "bank", "create", "tcap"])
    common.STATE.store = None
    assert r.exit_code == 0, r.output
    s = Store.open(str(db), migrate=False)
    try:
        assert current(s.engine) == head()
        assert [b.name for b in B.list_banks(s)] == ["tcap"]
    finally:
        s.close()
    assert not [f for f in os.listdir(folder) if f.startswith(".")]


def test_ctrl_c_while_a_file_there_is_migrated_keeps_the_file(tmp_path, monkeypatch):
    """A file that was there before (here empty: `touch new.db`) is never
    removed, whatever stops its migration: it is migrated in place, as before."""
    from rasd.cli import app, common

    db = tmp_path / "empty.db"
    db.write_bytes(b"")
    _sigint_at_second_index(monkeypatch)
    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", str(db), "bank", "create", "tcap"])
    common.STATE.store = None
    assert r.exit_code == 130, r.output
    assert r.stderr.startswith("rasd: warning: interrupted while opening the store ")
    assert db.exists()


def test_ctrl_c_while_a_new_postgresql_schema_is_made_leaves_it_empty(monkeypatch):
    """The same on PostgreSQL, where a new store is an empty schema (made by its
    administrator, not by rasd): the migrations are one transaction, so the
    schema keeps no table of a half-made store; the command again makes it."""
    import uuid

    import sqlalchemy as sa
    from tests.conftest import PG_URL, _drop_pg

    from rasd.cli import app, common

    if not PG_URL:
        pytest.skip("PostgreSQL tests need RASD_TEST_PG_URL (CI sets it; e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test)")
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(url)
    with admin.begin() as c:
        c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    db = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    try:
        made = _sigint_at_second_index(monkeypatch)
        common.STATE.store = None
        r = CliRunner().invoke(app, ["--db", db, "bank", "create", "tcap"])
        common.STATE.store = None
        assert len(made) == 2 and r.exit_code == 130, r.output
        assert r.stderr.startswith("rasd: warning: interrupted while opening the store ")
        assert inspect(admin).get_table_names(schema=schema) == []
        monkeypatch.undo()
        r = CliRunner().invoke(app, ["--db", db, "bank", "create", "tcap"])
        common.STATE.store = None
        assert r.exit_code == 0, r.output
        assert "hash_banks" in inspect(admin).get_table_names(schema=schema)
    finally:
        admin.dispose()
        _drop_pg(schema)
