"""Expected failures as a user meets them: a store that cannot be written, one of
a newer rasd, one that cannot be reached. Each is one line naming the store, never
a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rasd.store import Store

DEMO = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo"

# commands that write to a store that is there, and what each needs first
WRITERS = [
    ["accounts", "mark", "@bbf_lion_media", "--role", "news"],
    ["bank", "create", "fp", "--negative"],
    ["lists", "import", str(DEMO / "lists" / "demo_un_format.xml")],
    ["clusters", "build"],
    ["scan", "--all", "-d", "finance"],
]


def _rasd(url: str, *args: str, prefix: list[str] | None = None,
          **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("RASD_DB", None)
    return subprocess.run([*(prefix or []), sys.executable, "-m", "rasd", "--db", url, *args],
                          capture_output=True, text=True, env=env, timeout=120, check=False,
                          **kw)


def _one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "sqlalche.me" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rasd: error: the store "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def _read_only_prefix(tmp_path: Path) -> list[str]:
    """Run as root, file modes bind no one: drop the capability that lets root
    write past them (setpriv); as anyone else, the modes suffice."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: a read-only file is writable")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def test_a_read_only_store_is_one_line_error_for_every_writing_command(store, tmp_path):
    from rasd.ingest import ingest_path

    ingest_path(store, DEMO / "x" / "demo_tweets.jsonl")
    if store.is_sqlite:
        db = store.path
        store.close()
        db.chmod(stat.S_IREAD)  # its folder stays writable: WAL's files are made there
        prefix = _read_only_prefix(tmp_path)
        url, state = str(db), "cannot be written"
    else:  # a session that may not write: a hot standby, a read-only role
        url = store.url.render_as_string(hide_password=False).replace(
            "options=-csearch_path", "options=-cdefault_transaction_read_only%3Don"
            "%20-csearch_path")
        prefix, state = [], "read-only"
    try:
        ok = _rasd(url, "stats", "--json", prefix=prefix)  # reading still works
        assert ok.returncode == 0 and '"posts": 29' in ok.stdout, ok.stderr
        for cmd in WRITERS:
            _one_line_error(_rasd(url, *cmd, prefix=prefix), state)
        # ingest says it in its own words: which file, and that nothing went in
        # (it said "the run is recorded as failed", where nothing could be recorded)
        r = _rasd(url, "ingest", str(DEMO / "telegram"), prefix=prefix)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1 and "writing to the store" in r.stderr, r.stderr
        if store.is_sqlite:
            assert "cannot be written: nothing was ingested" in r.stderr, r.stderr
            assert "recorded as failed" not in r.stderr, r.stderr
        else:
            assert "(a read-only transaction: " in r.stderr, r.stderr
        # (a read-only PostgreSQL session records no run either: it said there was one)
        assert "nothing was ingested" in r.stderr and "recorded as failed" not in r.stderr
        runs = _rasd(url, "runs", "--json", "-n", "0", prefix=prefix)
        assert runs.returncode == 0, runs.stderr
        assert [x["source"] for x in json.loads(runs.stdout)] == ["demo_tweets.jsonl"]
    finally:
        if store.is_sqlite:
            store.path.chmod(0o644)


@pytest.mark.parametrize("file_mode", [stat.S_IREAD, stat.S_IREAD | stat.S_IWRITE])
def test_a_rollback_journal_store_in_a_read_only_folder_is_read(tmp_path, file_mode):
    """A store in rollback-journal (DELETE) mode — one file, as a store is
    shipped or archived — in a folder that cannot be written: reading it needs
    no file made, yet every command failed to open it ("attempt to write a
    readonly database": the switch to WAL at each open). Commands that read now
    read it; one that writes is the usual one-line error; nothing is made or
    changed there. (SQLite only: a file and its folder.)"""
    from rasd.detect.media.index import store_id
    from rasd.ingest import ingest_path

    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "rasd.db"
    st = Store.open(str(db))
    ingest_path(st, DEMO / "x" / "demo_tweets.jsonl")
    store_id(st)  # as a media scan leaves it; its hash index not copied with it
    st.close()
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
    before = db.read_bytes()
    db.chmod(file_mode)
    folder.chmod(stat.S_IREAD | stat.S_IEXEC)
    try:
        prefix = _read_only_prefix(tmp_path)
        ok = _rasd(str(db), "stats", "--json", prefix=prefix)
        assert ok.returncode == 0 and '"posts": 29' in ok.stdout, ok.stderr
        ok = _rasd(str(db), "accounts", "list", "-n", "0", prefix=prefix)
        assert ok.returncode == 0 and "@bbf_lion_media" in ok.stdout, ok.stderr
        _one_line_error(_rasd(str(db), *WRITERS[0], prefix=prefix), "cannot be written")
        # nor can the hash index be made beside it: one line, not a traceback
        r = _rasd(str(db), "match", str(DEMO / "telegram" / "photos" /
                                        "photo_1@01-03-2024_10-00-00.jpg"), prefix=prefix)
        assert r.returncode == 1 and r.stderr == (
            f"rasd: error: permission denied: {folder / '.rasd-index'}\n"), r.stderr
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert [p.name for p in folder.iterdir()] == ["rasd.db"] and db.read_bytes() == before


def test_a_wal_store_in_a_read_only_folder_says_what_to_do(tmp_path):
    """A store in WAL mode (as rasd keeps them) cannot be read in a folder that
    cannot be written (SQLite makes its -shm file there): `rasd stats` said
    only "attempt to write a readonly database". It says why and what to do;
    a store in rollback-journal mode is read there (the test above)."""
    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "rasd.db"
    Store.open(str(db)).close()
    folder.chmod(stat.S_IREAD | stat.S_IEXEC)
    try:
        r = _rasd(str(db), "stats", prefix=_read_only_prefix(tmp_path))
    finally:
        folder.chmod(0o755)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"rasd: error: cannot open the store {db}: "), r.stderr
    assert "a store in WAL mode" in r.stderr and "journal_mode=DELETE" in r.stderr, r.stderr


def test_a_store_of_a_newer_rasd_is_named_as_such(tmp_path):
    db = tmp_path / "rasd.db"
    Store.open(str(db)).close()
    with sqlite3.connect(db) as c:
        c.execute("UPDATE alembic_version SET version_num = '0999'")
    for cmd in (["stats"], ["ingest", str(DEMO / "x" / "demo_tweets.jsonl")],
                ["demo", "--workdir", str(tmp_path)]):
        r = _rasd(str(db), *cmd)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (cmd, r.stderr)
        assert "revision '0999'" in r.stderr and "newer rasd" in r.stderr, r.stderr
    with sqlite3.connect(db) as c:  # refused, not touched
        assert c.execute("SELECT version_num FROM alembic_version").fetchall() == [("0999",)]


def test_demo_into_a_store_that_cannot_be_reached_is_an_error(tmp_path):
    r = _rasd("postgresql://me:s3cret@127.0.0.1:1/x", "demo", "--workdir", str(tmp_path / "w"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("rasd: error: cannot open the store "), r.stderr
    assert "s3cret" not in r.stderr


# --- ingest: options that do not fit the file -------------------------------------------


def _ingest(tmp_path: Path, *args: str):
    from typer.testing import CliRunner

    from rasd.cli import app, common

    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "rasd.db"), "ingest", *args])
    if common.STATE.store is not None:
        common.STATE.store.close()
    common.STATE.store = None
    return r


def test_a_format_that_reads_not_even_the_first_record_is_refused(tmp_path):
    """``--format x`` on the Kaggle CSV rejected every line as invalid JSON, into
    the quarantine, and ended with status 0; ``--format telethon`` on X JSONL
    likewise. Both are refused before anything is written, naming the format the
    file is."""
    csv = tmp_path / "tweets.csv"
    shutil.copy(DEMO / "csv" / "demo_kaggle_format.csv", csv)
    tweets = DEMO / "x" / "demo_tweets.jsonl"
    for args, looks in (([str(csv), "--format", "x"], "csv"),
                        ([str(csv), "--format", "x", "--dry-run"], "csv"),
                        ([str(tweets), "--format", "telethon"], "x")):
        r = _ingest(tmp_path, *args)
        assert r.exit_code == 2, (args, r.output)
        assert f"read as --format {args[2]}, its first record is rejected (line 1: " in r.stderr
        assert f"it looks like {looks}: leave --format out, or give --format {looks}" in r.stderr
        assert not (tmp_path / "rasd.db").exists()
        assert not (tmp_path / "rasd.quarantine.jsonl").exists()
    r = _ingest(tmp_path, str(tweets), "--format", "x")  # the right one is read
    assert r.exit_code == 0 and "x: 43 new" in r.stdout, r.output


def test_a_format_that_reads_not_a_folder_file_is_refused_naming_it(tmp_path):
    """Found by a new user's walk-through: a forced --format was checked only
    against the files named, so in a folder the Kaggle CSV under ``--format x``
    was still read line by line into the quarantine, and the command ended
    with status 0. Each file found in a folder is checked as a named one is,
    before anything is written, and the error names it."""
    folder = tmp_path / "collected"
    folder.mkdir()
    shutil.copy(DEMO / "x" / "demo_tweets.jsonl", folder / "a_tweets.jsonl")
    shutil.copy(DEMO / "csv" / "demo_kaggle_format.csv", folder / "b_tweets.csv")
    r = _ingest(tmp_path, str(folder), "--format", "x")
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith(f"rasd: error: {folder / 'b_tweets.csv'}: read as --format x, "
                               "its first record is rejected (line 1: "), r.stderr
    assert "it looks like csv: leave --format out, or give --format csv" in r.stderr
    assert "nothing was ingested" in r.stderr
    assert not (tmp_path / "rasd.db").exists()
    assert not (tmp_path / "rasd.quarantine.jsonl").exists()
    (folder / "b_tweets.csv").unlink()
    r = _ingest(tmp_path, str(folder), "--format", "x")  # the right one is read
    assert r.exit_code == 0 and "x: 43 new" in r.stdout, r.output


def test_a_misspelt_mapping_is_an_error_whatever_the_files(tmp_path):
    """``--mapping isis-kagle`` was said to be unknown on a CSV, and on JSON
    Lines ignored without a word."""
    r = _ingest(tmp_path, str(DEMO / "x" / "demo_tweets.jsonl"), "--mapping", "isis-kagle")
    assert r.exit_code == 2 and "mapping 'isis-kagle': no such built-in" in r.stderr, r.output
    assert not (tmp_path / "rasd.db").exists()


def test_a_json_file_read_as_csv_is_named_in_a_bounded_line(tmp_path):
    """``--format csv`` on X JSONL printed its whole first line as the "header"."""
    r = _ingest(tmp_path, str(DEMO / "x" / "demo_tweets.jsonl"), "--format", "csv")
    assert r.exit_code == 2, r.output
    line = r.stderr.strip()
    assert "matches no built-in mapping" in line and "it reads as JSON, not CSV" in line
    assert len(line) < 900, len(line)


@pytest.mark.parametrize("url", ["mysql://me:s3cret@db/rasd", "http://example.com/rasd",
                                 "oracle://me@db/rasd"])
def test_a_store_url_of_a_database_rasd_does_not_keep_says_what_it_takes(url):
    """A MySQL or web URL said "No module named 'MySQLdb'" or "Can't load plugin:
    sqlalchemy.dialects:http"."""
    from typer.testing import CliRunner

    from rasd.cli import app, common

    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", url, "stats"])
    assert r.exit_code == 2 and "s3cret" not in r.stderr
    scheme = url.split(":")[0]
    assert r.stderr == (f"rasd: error: cannot open the store {url.replace('s3cret', '***')}: "
                        "rasd keeps its store in SQLite (a file path) or PostgreSQL "
                        f"(postgresql://user@host/db), not '{scheme}'\n"), r.stderr


def test_sqlite_errors_of_rasds_own_sql_keep_their_traceback():
    """SQLite says both a locked store and a bad statement as OperationalError:
    the first is the store's failure (one line), the second rasd's own fault,
    which keeps its traceback (store_failure gives no message for it)."""
    from sqlalchemy.exc import OperationalError

    from rasd.cli.common import store_failure

    def wrapped(msg: str) -> OperationalError:
        return OperationalError("SELECT 1", {}, sqlite3.OperationalError(msg))

    assert "database is locked" in store_failure(wrapped("database is locked"))
    assert "readonly" in store_failure(wrapped("attempt to write a readonly database"))
    for msg in ("no such column: posts.nope", 'near "SELEC": syntax error',
                "too many SQL variables", "table posts has no column named x"):
        assert store_failure(wrapped(msg)) is None, msg
        assert store_failure(sqlite3.OperationalError(msg)) is None, msg


def test_the_cli_adds_its_psycopg_null_handler_once():
    """Invoked many times in one process (tests, a notebook), rasd leaves one
    NullHandler on psycopg's logger, not one more each time."""
    import logging

    from typer.testing import CliRunner

    from rasd.cli import app

    log = logging.getLogger("psycopg")
    for _ in range(3):
        CliRunner().invoke(app, ["--help"])
        CliRunner().invoke(app, ["--db", ":memory:", "stats", "--json"])
    assert sum(isinstance(h, logging.NullHandler) for h in log.handlers) == 1


def test_ctrl_c_while_rasd_starts_is_one_line_not_a_traceback(tmp_path):
    """The command line's modules take a second or more to import, before any
    command handles a Ctrl-C: one then printed the traceback of whichever
    import it stopped (SQLAlchemy's, say). The `rasd` script's entry point
    (pyproject's) says it in one line, status 130. The Ctrl-C: a
    KeyboardInterrupt as SQLAlchemy is imported."""
    import tomllib

    project = Path(__file__).resolve().parents[1] / "pyproject.toml"
    target = tomllib.loads(project.read_text())["project"]["scripts"]["rasd"]
    module, func = target.split(":")
    code = ("import sys\n"
            "class CtrlC:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'sqlalchemy':\n"
            "            raise KeyboardInterrupt\n"
            "sys.meta_path.insert(0, CtrlC())\n"
            "sys.argv = ['rasd', '--db', sys.argv[1], 'stats']\n"
            f"from {module} import {func}\n"
            f"{func}()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "rasd.db")],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 130, (r.returncode, r.stderr)
    assert r.stderr == "rasd: warning: interrupted as it started: nothing was done\n"
    assert not (tmp_path / "rasd.db").exists()


@pytest.mark.parametrize("after", ["a file", "a batch"])
def test_a_store_that_becomes_read_only_says_what_it_kept(store, tmp_path, monkeypatch, after):
    """A store that could not be written said "nothing was ingested" also where
    it became read-only during the command (a file's mode changed, a server
    turned standby): after a first file was ingested, or after batches of the
    file went in. It says what it kept. Read-only from a point on: each
    transaction then begins read-only (SQLite's query_only, PostgreSQL's READ
    ONLY), and the store's own refusal is what the command meets."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from typer.testing import CliRunner

    from rasd.cli import app, common
    from rasd.ingest.writer import Writer

    frozen = [False]

    def begin(conn):
        if frozen[0]:
            conn.exec_driver_sql("PRAGMA query_only = ON" if conn.dialect.name == "sqlite"
                                 else "SET TRANSACTION READ ONLY")

    apply = Writer.apply

    def applied(self, b):
        apply(self, b)
        if after == "a batch":  # the first batch of the file committed
            frozen[0] = True

    tweets = DEMO / "x" / "demo_tweets.jsonl"
    second = tmp_path / "more.csv"
    shutil.copy(DEMO / "csv" / "demo_kaggle_format.csv", second)
    if after == "a file":
        import rasd.ingest

        ingest = rasd.ingest.ingest_path

        def one_file_then_frozen(*a, **kw):
            try:
                return ingest(*a, **kw)
            finally:
                frozen[0] = True

        monkeypatch.setattr(rasd.ingest, "ingest_path", one_file_then_frozen)
        args = [str(tweets), str(second)]
    else:
        monkeypatch.setattr(Writer, "apply", applied)
        args = [str(tweets), "--batch", "5"]
    url = str(store.path) if store.is_sqlite else store.url.render_as_string(
        hide_password=False)
    store.close()
    event.listen(Engine, "begin", begin)
    common.STATE.store = None
    try:
        r = CliRunner().invoke(app, ["--db", url, "ingest", *args])
    finally:
        event.remove(Engine, "begin", begin)
        if common.STATE.store is not None:
            common.STATE.store.close()
        common.STATE.store = None
    assert r.exit_code == 1, r.output
    assert "writing to the store" in r.stderr and "nothing was ingested" not in r.stderr, \
        r.stderr
    if after == "a file":
        assert "more.csv: writing to the store" in r.stderr, r.stderr
        assert "nothing of this file was ingested; the 1 file(s) before it were" in r.stderr
    else:
        assert "the 1 batch(es) of this file committed before stay" in r.stderr, r.stderr


def test_a_library_warning_is_said_as_the_cli_says_its_own(tmp_path, capsys):
    """A warning the library logs (logger ``rasd``, as the ingest writer does
    where the database role may not ANALYZE the store's tables) came out through
    Python's last-resort handler: bare, unescaped, unlike every other "rasd:
    warning:" line. Once a command has run, it is one escaped line of that form,
    and only one however many commands run in the process."""
    import logging

    from typer.testing import CliRunner

    from rasd.cli import app

    for _ in range(2):
        r = CliRunner().invoke(app, ["--db", str(tmp_path / "rasd.db"), "stats"])
        assert r.exit_code == 0, r.output
    capsys.readouterr()
    logging.getLogger("rasd.ingest").warning("tables %s\n\x1b[2Jno stats", "posts")
    logging.getLogger("rasd.ingest").info("not a warning")
    err = capsys.readouterr().err
    assert err == "rasd: warning: tables posts\\n\\x1b[2Jno stats\n", err


def test_an_argument_that_is_not_utf8_is_an_error_naming_it(tmp_path):
    """An argument holding bytes that are not UTF-8 (Python keeps them as lone
    surrogates: `rasd show x:$'\\xff'`) went into a query or a stored row, and
    the driver's UnicodeEncodeError was a traceback, from every command that
    looks up or stores text. It is one line naming the argument (exit 2)."""
    from typer.testing import CliRunner

    from rasd.cli import app, common

    db = str(tmp_path / "u.db")
    runner = CliRunner()
    assert runner.invoke(app, ["--db", db, "bank", "create", "b1"]).exit_code == 0
    for args in (["show", "x:\udcff"], ["accounts", "show", "x:\udcff"],
                 ["accounts", "list", "--platform", "\udcff"], ["links", "--platform", "\udcff"],
                 ["bank", "create", "b2", "--description", "a\udcff"],
                 ["bank", "create", "b3", "--label", "a\udcff"],
                 ["bank", "import", "\udcff", str(DEMO / "banks" / "demo-known-content.csv")]):
        common.STATE.store = None
        r = runner.invoke(app, ["--db", db, *args])
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith("rasd: error: the argument ") and "\\xff" in r.stderr, (
            args, r.stderr)
        assert r.stderr.count("\n") == 1, r.stderr
    common.STATE.store = None
    # a file named so is read as it is: the argument is the file's name
    r = runner.invoke(app, ["hash", str(tmp_path / "\udcff.jpg")])
    assert r.exit_code == 1 and "no such file" in r.stdout, r.output


@pytest.mark.parametrize("var, value", [
    ("RASD_PDQ_MIN_QUALITY", "abc"), ("RASD_PDQ_MIN_QUALITY", "101"),
    ("RASD_PDQ_MIH_THRESHOLD", "1e6"), ("RASD_PDQ_NFLIP", "99"), ("RASD_FLOOD_MAX", "0"),
    ("RASD_FLOOD_WINDOW_S", "-1"), ("RASD_MAX_LIST_BYTES", "1.5")])
def test_a_tuning_variable_set_to_what_it_cannot_take_is_one_line_naming_it(
        tmp_path, monkeypatch, var, value):
    """These were read by a bare int() when their module was imported: a
    ValueError traceback out of `rasd match`, `hash` or `lists import`,
    naming neither the variable nor what it takes (and 0, -1 or 101 taken)."""
    photo = next((DEMO / "telegram" / "photos").glob("*.jpg"))
    args = (["lists", "import", str(DEMO / "lists" / "demo_un_format.xml")]
            if var == "RASD_MAX_LIST_BYTES" else ["match", str(photo)])
    ok = _rasd(str(tmp_path / "x.db"), *args)  # (unset: the command runs)
    assert ok.returncode == 0, ok.stderr
    monkeypatch.setenv(var, value)
    r = _rasd(str(tmp_path / "x.db"), *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"rasd: error: {var}='{value}': not a whole number from ")
