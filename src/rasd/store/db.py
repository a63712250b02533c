"""Engine, URL resolution, SQLite pragmas, migrations and read-side queries."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import orjson
import zstandard
from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import make_url

from rasd.jsonread import map_leaves
from rasd.store import schema as S

T = TypeVar("T")
DEFAULT_DB = "rasd.db"
_ZC = zstandard.ZstdCompressor(level=3)
_ZD = zstandard.ZstdDecompressor()


def resolve_url(db: str | None = None) -> str:
    """Turn ``--db`` / ``RASD_DB`` / the default into a SQLAlchemy URL.

    A bare path means a SQLite file; anything containing ``://`` is used as is.
    ``postgresql://`` is mapped to the psycopg 3 driver.
    """
    value = db or os.environ.get("RASD_DB") or DEFAULT_DB
    if "://" not in value:
        return "sqlite:///" + str(Path(value).expanduser())
    if value.startswith(("postgresql://", "postgres://")):
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    return value


def sqlite_file(url: Any) -> Path | None:
    """The file a SQLite URL names (a ``URL`` or its text), or None for an
    in-memory SQLite or a server database."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        return Path(u.database)
    return None


def json_dumps(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def storable(value: Any) -> Any:
    """``value`` with every string in it (dict keys too) one that both stores
    take: NUL bytes (PostgreSQL refuses them in text and JSON) become U+FFFD,
    lone surrogates (not UTF-8) "?". For values taken from input outside the
    ingest parsers, which clean their own (designation lists). Containers keep
    their type (``map_leaves``)."""
    return map_leaves(value, _storable_text)


def _storable_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def current_detection(d: Any = None, at: Any = None) -> Any:
    """SQL condition on a detections row (``d``: the table or an alias): it is
    what its detector said at its latest scan of the subject, not the result of
    an older model or rules version, which is kept as history once another
    version has scanned the subject since. What counts a post as flagged (an
    account's flagged posts, what is shown as current) reads only these. On a
    scans row (``d``, with ``at`` its ``scanned_at``): no other version of its
    detector scanned the subject since (``scan``'s pending subjects)."""
    d = S.detections if d is None else d
    later = S.scans.alias("later_scan")
    return ~select(later.c.subject_id).where(
        later.c.subject_type == d.c.subject_type, later.c.subject_id == d.c.subject_id,
        later.c.detector == d.c.detector, later.c.model_version != d.c.model_version,
        later.c.scanned_at > (d.c.created_at if at is None else at)).exists()


KEY_BATCH = 5000


def key_accounts(store: Store) -> int:
    """Key the accounts that have a handle or a name but no ``handle_key`` or
    ``name_key``, which lookups read; returns how many were keyed. rasd's
    ingest keys every account it writes, and migrations 0015 and 0017 keyed
    those stored before; an account written by SQL, or by an older rasd on an
    upgraded store, has none, and neither its handle nor its name found it:
    nor the merge of the "@name" placeholders of its handle into it. Lookups
    (``rasd.accounts.lookup_accounts``), an ingest run before its first write
    (so that a mention of the handle finds the account, not a placeholder the
    run would count; the merge at its end, ``rasd.ingest.writer.merge_name_stubs``,
    relies on that and its writer's keys) and the merge called by itself key
    such accounts first.
    Finding that there are none is a probe of two partial indexes (0021); the
    write lock is taken only where there are some."""
    a = S.accounts
    keyed = 0
    for col, key_col, key, unkeyed in (
            (a.c.handle, a.c.handle_key, S.handle_key, S.HANDLE_UNKEYED),
            (a.c.name, a.c.name_key, S.name_key, S.NAME_UNKEYED)):
        last = 0
        while True:  # each account at most once (by id)
            with store.connect() as c:
                rows = c.execute(select(a.c.id, col).where(unkeyed, a.c.id > last)
                                 .order_by(a.c.id).limit(KEY_BATCH)).all()
            if not rows:
                break
            with store.begin() as c:
                # a key of '' is none too (``unkeyed``): one written so by SQL was
                # found again by every lookup and never keyed
                c.execute(update(a).where(a.c.id == bindparam("b_id"),
                                          or_(key_col.is_(None), key_col == ""))
                          .values({key_col.name: bindparam("key")}),
                          [{"b_id": i, "key": key(v)} for i, v in rows])
            keyed += len(rows)
            last = rows[-1].id
    return keyed


def chunks(seq: Sequence[T], n: int) -> Iterator[Sequence[T]]:
    """``seq`` in consecutive slices of at most ``n``: the ids an ``IN (…)`` of
    bound parameters takes at a time (ingest's writer: ``IN_CHUNK``; account
    listings: ``ID_CHUNK``)."""
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def now() -> datetime:
    return datetime.now(UTC)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress(data: bytes) -> bytes:
    """zstd of ``data``, in a bytes object of its own size: python-zstandard
    returns its output in a buffer the size of the bound it reserved (about
    the input's size) and shortens the object without giving the rest back,
    so a batch's compressed raw records held as much memory as their
    uncompressed bytes (1,000 pages of 20 KB: 20 MB traced for 70 KB of
    output). A copy costs less than the allocations it saves."""
    out = _ZC.compress(data)
    return bytes(memoryview(out)) if len(data) > 1024 else out


def decompress(data: bytes) -> bytes:
    return _ZD.decompress(data)


def _cheap_sqlite_binds() -> None:
    """Register identity adapters for None, bool and bytes with ``sqlite3``.

    CPython's sqlite3 binds only exact int/float/str/bytearray directly; any
    other value goes through its adapter lookup, which for an unregistered
    type raises and clears two AttributeErrors (``__adapt__``, ``__conform__``)
    before binding the value as is. A posts row carries a dozen NULLs, so that
    cost more than the insert itself (7.1 -> 3.3 us/row for a 27-column row).
    The adapters return the same value, so what is stored is unchanged: NULL,
    0/1 and BLOB. C callables, not lambdas: no Python frame per value.
    """
    import sqlite3

    sqlite3.register_adapter(type(None), {}.get)  # {}.get(None) -> None
    sqlite3.register_adapter(bool, int)
    sqlite3.register_adapter(bytes, bytes)  # bytes(b) is b for exact bytes


_cheap_sqlite_binds()


def _switch_to_wal(cur: Any, seconds: float = 30.0) -> None:
    """``PRAGMA journal_mode=WAL``, retried while the database is locked: SQLite
    answers "database is locked" at once, without its busy handler, where
    waiting could deadlock (a connection opening a new store while another
    creates its schema; seen in CI with four processes opening one new store)."""
    import sqlite3
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _wal_or_as_it_is(cur: Any) -> None:
    """Switch to WAL (``_switch_to_wal``), or, where the store cannot be written
    (a read-only file, or a read-only folder, where the switch's files cannot be
    made), leave its journal as it is: a store in rollback-journal (DELETE) mode
    is read there with no file made, where the failed switch made it an error to
    open it at all, for commands that only read. A write to it still fails (an
    error naming the store), and a store already in WAL mode in a read-only
    folder cannot be read (SQLite must make its ``-shm`` file; ``immutable``
    would read it, but wrongly if another process writes it meanwhile)."""
    import sqlite3

    try:
        _switch_to_wal(cur)
    except sqlite3.OperationalError as e:  # SQLITE_READONLY and its extended codes
        if getattr(e, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_READONLY:
            raise


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")  # first: switching to WAL may wait too
    _wal_or_as_it_is(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-65536")
    # checkpoint the WAL every ~40 MB instead of ~4 MB: bulk ingest spends
    # noticeably less time in checkpoints; readers are unaffected
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
    cur.close()
    _record.info["rasd_wal_autocheckpoint"] = WAL_AUTOCHECKPOINT


# The PostgreSQL lock every write transaction takes first (``Store.write``): one
# per schema (the tests, and sites, keep several stores in one database), in a
# key space of rasd's own (the first key, "rasd" in ASCII).
WRITE_LOCK_SQL = "SELECT pg_advisory_xact_lock(1918989156, hashtext(current_schema()))"
WAL_AUTOCHECKPOINT = 10000  # pages


def is_store_error(e: BaseException) -> bool:
    """Whether ``e`` is the database's (a full disk, a lost connection, a
    constraint): SQLAlchemy's, or the driver's own where rasd writes through
    the driver's cursor (``upsert``)."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(e, SQLAlchemyError | sqlite3.Error) or type(e).__module__.split(
        ".")[0] in ("psycopg", "psycopg2")


def _pg_session(dbapi_conn: Any, _record: Any) -> None:
    """Session settings for every PostgreSQL connection.

    - UTC: a time without a zone is taken as UTC (as rasd's parsers do), and
      times come back in UTC, whatever the server's own time zone, whether a
      row arrives by COPY (text) or as a statement parameter.
    - rasd's statements are planned for their parameters, each time: psycopg
      prepares none (it prepared a statement run five times, and PostgreSQL
      then switched to a generic plan if that looked no worse, judged while a
      fresh store's tables were still empty: a sequential scan, kept for the
      connection's life; an ingest's key lookups (``platform_id IN (...)``)
      became scans of ever bigger tables: 50k posts took 64 s, not 16 s).
    - The server's own cached plans keep their generic plan: plan_cache_mode
      "auto". "force_custom_plan", which rasd set before to the same end,
      applies to them too: the foreign-key checks (an edge has three, a post
      two) planned their ``SELECT 1 FROM accounts WHERE id = $1 FOR KEY
      SHARE`` again for each row an INSERT wrote, which doubled their cost
      (20k posts: the server's CPU 5.0 -> 2.1 s).
    The executemany of ``upsert`` (values, an UPDATE by id) is prepared."""
    if hasattr(dbapi_conn, "prepare_threshold"):  # psycopg 3 (psycopg2 prepares nothing)
        dbapi_conn.prepare_threshold = None
    with dbapi_conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        if getattr(getattr(dbapi_conn, "info", None), "server_version", 0) >= 120000:
            cur.execute("SET plan_cache_mode = auto")
    dbapi_conn.commit()


# Tables the ingest writer reads by their keys in every batch, or often (the
# accounts and posts of a batch, raw records by hash, follows and notices by
# their dedup keys, media and events by key, the history of changed rows): what
# ``Store.analyze_new`` looks at.
LOOKUP_TABLES = ("accounts", "posts", "raw_records", "edges", "media", "events",
                 "compliance_events", "account_versions", "post_versions", "pending_links")

# Which of the tables (names, resolved by the search path) hold pages, which
# have statistics, and which this role may ANALYZE. Statistics: ``reltuples``
# is -1 (0 before PostgreSQL 14) until a table is first analyzed or vacuumed,
# and stays 0 where ANALYZE found no rows (then it stores no statistics
# either); a VACUUM sets it too, without statistics (a table only vacuumed
# was taken for analyzed), so the table must also have been analyzed, by
# anyone, as the server counts it (pg_stat_get_*analyze_count, the
# pg_stat_user_tables columns without the view). Where the server counts
# nothing (track_counts off) reltuples alone decides, as before; where its
# counts were lost (a crash, pg_stat_reset, pg_upgrade) a table is analyzed
# once more. May analyze (``_MAY_ANALYZE``): else ANALYZE skips the table with
# a warning of the server's that no client shows. A catalog lookup (~0.5 ms):
# the pg_stats view, which would tell columns that have statistics, takes ~5 ms
# to plan (every batch), and pg_statistic is the superuser's.
_NO_STATS_SQL = """
SELECT t.name, pg_relation_size(c.oid) > 0 AS has_pages,
       c.reltuples > 0 AND (pg_stat_get_analyze_count(c.oid)
                            + pg_stat_get_autoanalyze_count(c.oid) > 0
                            OR NOT current_setting('track_counts')::boolean) AS has_stats,
       {may} AS may_analyze
FROM unnest(%s::text[]) AS t(name)
JOIN pg_class c ON c.oid = to_regclass(t.name)
"""
# Who may ANALYZE a table: the owner of the database, and the table's owner
# (a member of its owning role, a superuser), or from PostgreSQL 17 whoever
# holds the MAINTAIN privilege on it (its owner, pg_maintain's members).
_MAY_ANALYZE = ("(pg_has_role((SELECT datdba FROM pg_database "
                "WHERE datname = current_database()), 'USAGE') OR {table})")
_MAY_ANALYZE_OWNER = "pg_has_role(c.relowner, 'USAGE')"
_MAY_ANALYZE_17 = "has_table_privilege(c.oid, 'MAINTAIN')"


class Analyzed(NamedTuple):
    """What ``Store.analyze_new`` did with the tables it was given."""

    done: list[str]  # analyzed now
    empty: list[str]  # no rows yet (nothing to learn): worth a look next time
    denied: list[str]  # without statistics, and this role may not analyze them


def _sqlite_begin(conn: Connection) -> None:
    """BEGIN IMMEDIATE for writers that asked for it (``Store.write()``): the
    write lock is taken up front, so a batch can number its own rows."""
    # while a checkpoint thread runs (Store.background_checkpoints) commits do
    # not checkpoint themselves: the pragma is per connection, set here as needed
    want = getattr(conn.engine, "rasd_wal_autocheckpoint", WAL_AUTOCHECKPOINT)
    if conn.info.get("rasd_wal_autocheckpoint") != want:
        conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={int(want)}")
        conn.info["rasd_wal_autocheckpoint"] = want
    if conn.info.pop("rasd_immediate", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


# Secondary indexes an ingest may drop for its duration (``Store.bulk_load``):
# none that the writer's own lookups or uniqueness depend on.
DEFERRABLE_INDEXES = ("ix_posts_created", "ix_posts_account", "ix_edges_src", "ix_edges_dst",
                      "ix_edges_post", "ix_hashtags_tag")


def _deferrable_indexes() -> list[Any]:
    md = S.load_all()
    found = {ix.name: ix for t in md.tables.values() for ix in t.indexes}
    return [found[n] for n in DEFERRABLE_INDEXES if n in found]


def _plain_sqlite_file(u: Any) -> Path | None:
    """The SQLite file ``u`` names where it is a plain one (no URL parameters:
    ``mode=``, ``uri=`` would change what the name means), else None."""
    path = sqlite_file(u)
    return path if path is not None and not u.query else None


SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

# How long the hidden file of a store's creation (and its side files) must have
# been left unchanged, its process gone, before a later creation of that store
# removes it (``_remove_stale_creations``). A creation takes well under a second;
# the wait is there for the one whose process cannot be seen from here: made on
# another host through a shared (NFS) folder, or in another PID namespace (a
# container), where the PID in its name may be free here, or taken by another
# process, while it still runs, slowly, there.
STALE_CREATION_AGE = 600.0  # seconds


def _creation_name(path: Path) -> str:
    """The part of a creation's hidden file name (``_create_sqlite``) before its
    PID: one for every creation of the store ``path``."""
    # (a name near the file system's longest, 255 bytes, cut: the hidden one is longer)
    return f".{path.name[:200]}.new-"


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (or may: any answer but "no such
    process", a process of another user included, counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # EPERM: another user's; a PID out of range
        return True
    return True


def _remove_stale_creations(path: Path, *, warn: bool = True) -> list[Path]:
    """Remove what creations of the store ``path`` left when killed outright
    (``kill -9``, a power cut: no ``finally`` ran), which nothing else would
    ever remove: hidden files named ``.NAME.new-PID-RANDOM`` (and their
    ``-wal``, ``-shm``, ``-journal``) whose process is gone from this host and
    which have not changed for ``STALE_CREATION_AGE`` (the newest of a
    creation's files counts: its schema goes to the ``-wal`` first). Only
    regular files of exactly that name are removed: a creation with a symbolic
    link or a folder of such a name is left whole (a link is never followed),
    as are the files of other stores. Never raises: the files are not needed,
    so an error (a folder that cannot be read, a file that cannot be removed)
    is a warning (with ``warn``; else passed over) and the creation goes on.
    The files removed."""
    import re
    import time

    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return []
    pattern = re.compile(re.escape(_creation_name(path))
                         + r"([1-9][0-9]{0,9})-[0-9a-f]{8}(-wal|-shm|-journal)?")
    changed_since = time.time() - STALE_CREATION_AGE  # a creation changed since: kept
    try:
        creations = _creation_files(path.parent, pattern)
    except OSError as e:
        if warn:
            _cleanup_warning(path, e)
        return []
    removed: list[Path] = []
    for base, files in creations.items():
        pid = int(base.rsplit("-", 2)[-2])
        if (not files or max(t for _, t in files) > changed_since
                or _pid_alive(pid)):
            continue
        for f, _ in files:
            try:
                f.unlink()
            except FileNotFoundError:  # another creation removed it meanwhile
                continue
            except OSError as e:
                if warn:
                    _cleanup_warning(path, e)
                continue
            removed.append(f)
    return removed


def _creation_files(folder: Path, pattern: Any) -> dict[str, list[tuple[Path, float]]]:
    """The files in ``folder`` whose names ``pattern`` matches whole, by the
    hidden file's name of the creation they belong to, with their times of last
    change; a creation that has anything but regular files (a symbolic link, a
    folder) under such a name has none listed: it is not one rasd left."""
    import stat

    found: dict[str, list[tuple[Path, float]]] = {}
    odd: set[str] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            m = pattern.fullmatch(entry.name)
            if m is None:
                continue
            base = entry.name[:m.start(2)] if m.group(2) else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed meanwhile
                continue
            if stat.S_ISREG(st.st_mode):
                found.setdefault(base, []).append((folder / entry.name, st.st_mtime))
            else:
                odd.add(base)
    return {base: ([] if base in odd else files) for base, files in found.items()}


def _cleanup_warning(path: Path, e: OSError) -> None:
    """One line on stderr (names escaped: a store's name is input) for what
    ``_remove_stale_creations`` could not do; the creation goes on."""
    import sys

    from rasd.terminal import one_line, term_safe

    print(term_safe(one_line(f"rasd: warning: could not remove what an earlier creation "
                             f"of the store {path} left: {e}")), file=sys.stderr)


def _create_sqlite(u: Any) -> bool:
    """Make the new SQLite store ``u`` names whole or not at all: its schema is
    made in a hidden file beside it (``.NAME.new-PID-RANDOM``), which, once
    complete and closed (its WAL copied in and gone), is linked in under the
    store's name, never over a file there (``os.link`` fails where one is: a
    store another process made meanwhile, which is then opened as it is). A
    creation interrupted (Ctrl-C) or failed (a full disk) removes its hidden
    file and leaves no store: a command that failed made a file the next one
    took for a store, empty or half-made. One killed outright (``kill -9``)
    leaves its hidden file: the next creation of the store removes it once its
    process is gone and it is ``STALE_CREATION_AGE`` old
    (``_remove_stale_creations``). Where the file system has no hard links the
    store is made in place, as before. A store that is there is never touched.
    True where this call made it (linked its file in)."""
    import secrets

    path = Path(u.database)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_creations(path)
    tmp = path.with_name(f"{_creation_name(path)}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        Store._open(u.set(database=str(tmp)), migrate=True).close()
        _wal_into_file(tmp)  # the one file complete, to be linked in alone
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False  # made by another process meanwhile: opened as it is
        except OSError as e:
            import errno

            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV,
                               errno.EMLINK):
                raise
            return False  # no hard links here (FAT, some network file systems): in place
        return True
    finally:
        for f in (tmp, *(Path(f"{tmp}{x}") for x in SQLITE_SIDE_FILES)):
            try:
                f.unlink()
            except FileNotFoundError:
                pass


def _wal_into_file(path: Path) -> None:
    """Copy the WAL of the SQLite file ``path`` (no other connection open to it)
    into it, whole, and empty it: the file then holds everything by itself, and
    stays in WAL mode (its header says so), as a store made in place is. An
    error where SQLite could not."""
    import sqlite3

    con = sqlite3.connect(str(path), isolation_level=None)
    try:
        busy, _log, _done = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        con.close()  # the last connection: SQLite removes the -wal and -shm files
    wal = Path(f"{path}-wal")
    if busy or (wal.exists() and wal.stat().st_size):
        raise sqlite3.OperationalError(f"{path}: its WAL could not be copied into it")


class Store:
    """A migrated database. Cheap to open; one per process is plenty."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.url = engine.url
        # seconds a write waits for a lock, where not the usual 30 (short_waits)
        self.lock_wait: float | None = None

    @classmethod
    def open(cls, db: str | None = None, *, migrate: bool = True) -> Store:
        """Open (and with ``migrate``, migrate) the store ``db`` names (``resolve_url``).
        A SQLite file that is not there yet is made whole or not at all
        (``_create_sqlite``): a creation interrupted or failed leaves no file;
        one killed outright leaves a hidden file that this removes, once stale,
        from the store's later creations and opens (``_remove_stale_creations``)."""
        url = resolve_url(db)
        u = make_url(url)
        path = _plain_sqlite_file(u) if migrate else None
        if path is not None and not path.exists():
            # made here, it is at the head revision with every index: nothing to check
            migrate = not _create_sqlite(u)
        elif path is not None:
            # a store made after one creation of it was killed outright (the
            # command run again at once, its leftovers still young) is never
            # made again: its opens remove them once they are stale, quietly (a
            # folder only read: the files stay, and no command warns of them)
            _remove_stale_creations(path, warn=False)
        return cls._open(u, migrate)

    @classmethod
    def _open(cls, u: Any, migrate: bool) -> Store:
        url = u.render_as_string(hide_password=False)
        kwargs: dict[str, Any] = {"json_serializer": json_dumps,
                                  "json_deserializer": orjson.loads}
        if u.get_backend_name() == "sqlite":
            if u.database and u.database != ":memory:":
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, **kwargs)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, pool_pre_ping=True, **kwargs)
            if u.get_backend_name() == "postgresql":
                event.listen(engine, "connect", _pg_session)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a server database."""
        return sqlite_file(self.url)

    def workspace_dir(self) -> Path:
        """Where files that belong beside the store live (quarantine, indexes)."""
        p = self.path
        if p is not None:
            return p.parent
        return Path(os.environ.get("RASD_HOME", ".")).resolve()

    def migrate(self) -> None:
        from rasd.store.migrate import upgrade

        upgrade(self.engine)
        self.ensure_indexes()

    def ensure_indexes(self) -> list[str]:
        """Build the deferrable indexes (``bulk_load``) a SQLite store lacks:
        an ingest killed while it had them dropped. Runs on every migrating
        open; a look at ``sqlite_master`` when nothing is missing."""
        if not self.is_sqlite:
            return []
        wanted = _deferrable_indexes()
        with self.engine.connect() as c:
            have = {r[0] for r in c.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index'")}
        missing = [ix for ix in wanted if ix.name not in have]
        if missing:
            with self.write() as c:
                for ix in missing:
                    ix.create(c, checkfirst=True)
        return [str(ix.name) for ix in missing]

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Drop the secondary indexes that a big load into SQLite would
        otherwise update row by row at random places (post times and authors,
        edge ends, hashtags), and build them again, sorted, at the end: an
        ingest of 200,000 posts spends ~30% less time in SQLite. Readers see
        the same data meanwhile, only slower to query. The unique indexes
        that writes rely on stay. Killed midway, the store gets them back on
        its next open (``ensure_indexes``). No-op on other databases."""
        if not self.is_sqlite:
            yield
            return
        with self.write() as c:
            for ix in _deferrable_indexes():
                c.exec_driver_sql(f'DROP INDEX IF EXISTS "{ix.name}"')
        try:
            yield
        finally:
            self.ensure_indexes()

    @contextmanager
    def begin(self, wait: float | None = None) -> Iterator[Connection]:
        """A transaction that writes. On SQLite it takes the write lock at its
        start (BEGIN IMMEDIATE), waiting up to the busy timeout for another
        writer: a transaction that read first and then wrote would fail at once
        with "database is locked" had another connection written in between (a
        second ``rasd ingest`` or ``rasd scan`` on the same store). ``wait``:
        seconds to wait for a lock, for this transaction only (see ``write``)."""
        with self.write(wait) as conn:
            yield conn

    @contextmanager
    def write(self, wait: float | None = None) -> Iterator[Connection]:
        """A write transaction that holds the write lock from its start, so that
        no other writer can interleave: SQLite's BEGIN IMMEDIATE; on PostgreSQL a
        transaction-level advisory lock of the store (its schema), taken first.
        Without it two ingests on PostgreSQL could both look a new account up,
        find it missing and count it new (one insert won, the other did
        nothing), and a profile version sent by the loser was dropped unseen.
        ``exclusive`` tells callers whether they may number new rows themselves."""
        with self.engine.connect() as conn:
            if wait is None:  # this transaction's own, else this store's (short_waits)
                wait = self.lock_wait
            if self.is_sqlite:
                conn.info["rasd_immediate"] = True
                if wait is not None:  # on the driver's connection: no transaction begun
                    conn.connection.driver_connection.execute(
                        f"PRAGMA busy_timeout={int(wait * 1000)}")
            try:
                with conn.begin():
                    if not self.is_sqlite:
                        if wait is not None:
                            conn.exec_driver_sql(
                                f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")
                        conn.exec_driver_sql(WRITE_LOCK_SQL)
                    yield conn
            finally:
                if wait is not None and self.is_sqlite:
                    conn.connection.driver_connection.execute("PRAGMA busy_timeout=30000")

    def analyze_new(self, c: Connection, tables: Iterable[str] = LOOKUP_TABLES) -> Analyzed:
        """PostgreSQL: ANALYZE those of ``tables`` that hold rows but were never
        analyzed (``_NO_STATS_SQL``); returns the tables analyzed, those still
        empty, and those this role may not analyze (not their owner: they are
        left as they are, their lookups planned without statistics; ANALYZE
        would skip each with a warning no client shows, at every call). ``c``:
        the caller's write transaction (``write``), whose
        lock keeps two ingests from analyzing the same tables at once; the
        statistics commit with it. A table that another process is vacuuming
        or analyzing is skipped (SKIP_LOCKED: it is getting statistics).
        Nothing (empty lists) on SQLite, which plans its key lookups by
        the unique indexes with or without statistics.

        Why: a table never analyzed (a fresh store, until autovacuum analyzes
        it about a minute in, or never, where autovacuum is off) has no
        statistics, and the planner then takes a lookup by key, ``platform =
        'x' AND platform_id = ANY(...)``, for a few rows of any index on
        ``platform`` alone (the accounts' handle index as well as the unique
        one), and reads every row of the platform: a scan of the table for
        each lookup, growing with it. ANALYZE of a table of one batch's rows
        takes a few ms (10-100 ms on a loaded machine); of a big store never
        analyzed, a sample of 30,000 rows, once. The planner scales what it
        learns to a table's size as it grows, so once is enough for the
        lookups (``fast_select_in``), which then probe the unique index."""
        names = list(tables)
        if not all(t.isidentifier() and t.isascii() for t in names):
            raise ValueError(f"not table names: {names!r}")
        if self.is_sqlite:
            return Analyzed([], [], [])
        dconn = c.connection.driver_connection
        version = getattr(getattr(dconn, "info", None), "server_version", 0)
        skip = "(SKIP_LOCKED) " if version >= 120000 else ""
        may = _MAY_ANALYZE.format(
            table=_MAY_ANALYZE_17 if version >= 170000 else _MAY_ANALYZE_OWNER)
        cur = dconn.cursor()
        try:
            cur.execute(_NO_STATS_SQL.format(may=may), (names,))
            found = {name: row for name, *row in cur.fetchall()}
            need = [t for t in names if t in found and found[t][0] and not found[t][1]]
            todo = [t for t in need if found[t][2]]
            for t in todo:  # rasd's own tables (plain names, checked above)
                cur.execute(f'ANALYZE {skip}"{t}"')
        finally:
            cur.close()
        return Analyzed(todo, [t for t in names if t in found and not found[t][0]],
                        [t for t in need if not found[t][2]])

    @contextmanager
    def short_waits(self, seconds: float = 3.0) -> Iterator[None]:
        """Writes in this context wait at most ``seconds`` for a lock, then fail
        (``OperationalError``): for best-effort work after an interrupt, when the
        interrupted transaction may still hold its lock."""
        self.lock_wait = seconds
        try:
            yield
        finally:
            self.lock_wait = None

    @property
    def exclusive_writes(self) -> bool:
        return self.is_sqlite

    @contextmanager
    def background_checkpoints(self, interval: float = 0.25) -> Iterator[None]:
        """During a bulk write (an ingest), copy the SQLite WAL into the
        database from a thread of its own, so that the writer's commits do
        not stop for checkpoints and their fsyncs (~15% of an ingest's
        writing time; on a store of a million posts, whose commits dirty
        pages all over its indexes, another ~13%). A PASSIVE checkpoint never
        blocks the writer; the writer's own autocheckpoint (also PASSIVE) is
        off meanwhile and back on after. Nothing to do for other databases or
        in-memory SQLite."""
        path = self.path
        if not self.is_sqlite or path is None:
            yield
            return
        import sqlite3
        import threading

        stop = threading.Event()

        def run() -> None:
            con = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                                  check_same_thread=False)
            try:
                while not stop.wait(interval):
                    try:
                        con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    except sqlite3.Error:
                        pass  # e.g. locked for a moment: the next round catches up
            finally:
                con.close()

        t = threading.Thread(target=run, name="rasd-wal-checkpoint", daemon=True)
        t.start()
        eng = self.engine
        before = getattr(eng, "rasd_wal_autocheckpoint", WAL_AUTOCHECKPOINT)
        eng.rasd_wal_autocheckpoint = 0  # type: ignore[attr-defined]
        try:
            yield
        finally:
            eng.rasd_wal_autocheckpoint = before  # type: ignore[attr-defined]
            stop.set()
            t.join()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    # ---- raw records -------------------------------------------------------
    def raw(self, sha256: str) -> bytes | None:
        """The bytes of a record exactly as received, or None."""
        with self.connect() as c:
            row = c.execute(
                select(S.raw_records.c.data).where(S.raw_records.c.sha256 == sha256)
            ).first()
        return decompress(row[0]) if row else None

    # ---- read side ---------------------------------------------------------
    @staticmethod
    def _current_detections(c: Connection) -> int:
        """Detections of the model version that last scanned their subject
        (older versions' results are kept as history: ``detections`` counts
        them too)."""
        q = select(func.count()).select_from(S.detections).where(current_detection())
        return int(c.execute(q).scalar_one())

    def stats(self) -> dict[str, Any]:
        """Counts for ``rasd stats``: totals, by platform and by source."""
        with self.connect() as c:
            def count(t: Any) -> int:
                return int(c.execute(select(func.count()).select_from(t)).scalar_one())

            out: dict[str, Any] = {
                "accounts": count(S.accounts),
                "posts": count(S.posts),
                "media": count(S.media),
                "edges": count(S.edges),
                # links to posts not ingested (yet): edges the network may lack
                "links_waiting": count(S.pending_links),
                "hashtags": count(S.hashtags),
                "urls": count(S.urls),
                "detections": count(S.detections),
                "detections_current": self._current_detections(c),
            }
            by_platform: dict[str, dict[str, int]] = {}
            for name, t in (("accounts", S.accounts), ("posts", S.posts),
                            ("media", S.media), ("edges", S.edges)):
                for plat, n in c.execute(
                    select(t.c.platform, func.count()).group_by(t.c.platform)
                ):
                    by_platform.setdefault(plat, {})[name] = int(n)
            by_source: dict[str, dict[str, int]] = {}
            for name, t in (("accounts", S.accounts), ("posts", S.posts)):
                q = (
                    select(S.sources.c.name, func.count())
                    .select_from(t.join(S.sources, t.c.source_id == S.sources.c.id))
                    .group_by(S.sources.c.name)
                )
                for src, n in c.execute(q):
                    by_source.setdefault(src, {})[name] = int(n)
            by_kind: dict[str, int] = {
                k: int(n)
                for k, n in c.execute(
                    select(S.edges.c.kind, func.count()).group_by(S.edges.c.kind)
                )
            }
        out["by_platform"] = by_platform
        out["by_source"] = by_source
        out["edges_by_kind"] = by_kind
        return out
