"""Helpers shared by command modules: the store, errors, output."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import orjson
import typer

from rasd.store import Store
from rasd.terminal import json_safe, one_line, term_safe, valid_json_value


@dataclass
class State:
    db: str | None = None
    store: Store | None = None


STATE = State()


def store_exists() -> bool:
    """Whether the store named by --db / RASD_DB / ./rasd.db is there already:
    a SQLite file that exists (a server database is taken to be there)."""
    from sqlalchemy.exc import ArgumentError

    from rasd.store.db import resolve_url, sqlite_file

    try:
        path = sqlite_file(resolve_url(STATE.db))
    except (ArgumentError, ValueError):  # a URL that cannot be read: Store.open says so
        return True
    return path is None or path.exists()


def get_store(create: bool = False) -> Store:
    """Open (and migrate) the store named by --db / RASD_DB / ./rasd.db. A
    SQLite file that is not there is made only where ``create`` says (commands
    that bring data: ingest, a list or bank import); elsewhere a mistyped
    ``--db`` is warned about and an empty store in memory stands in (an empty
    ``rasd.db`` was left behind, and its zeros looked like data). A file
    that is no store, a server that cannot be reached, a store of a newer rasd:
    an error naming it, not a traceback."""
    if STATE.store is None:
        from alembic.util import CommandError
        from sqlalchemy.exc import SQLAlchemyError

        if not create and not store_exists():
            warn(f"no store at {STATE.db} yet (`rasd ingest FILE` or `rasd demo` makes one; "
                 "--db or RASD_DB names another): an empty one is shown, none is made")
            STATE.store = Store.open("sqlite://")  # in memory: nothing left behind
            return STATE.store
        backend = _backend()
        if backend not in (None, "sqlite", "postgresql"):
            # what rasd takes, not "No module named 'MySQLdb'" or "Can't load
            # plugin: sqlalchemy.dialects:http"
            fail(f"cannot open the store {shown_db()}: rasd keeps its store in SQLite "
                 "(a file path) or PostgreSQL (postgresql://user@host/db), not "
                 f"{backend!r}")
        new = not store_exists()
        try:
            STATE.store = Store.open(STATE.db)
        except KeyboardInterrupt:  # a migration may take minutes: a traceback, status 130
            if new and not store_exists():
                # a new SQLite store is made in a file of its own, linked in once
                # complete (``store.db._create_sqlite``): that file is removed
                warn(f"interrupted while making the store {shown_db()}: none is made (a "
                     "new store appears only once its schema is complete); run the "
                     "command again")
                raise typer.Exit(130) from None
            # the migrations run in one transaction (``store.migrate.upgrade``), the
            # indexes ``ensure_indexes`` builds again in one more: rolled back, or done
            warn(f"interrupted while opening the store {shown_db()}: the command did "
                 "nothing; its schema is the old one or the new one, not one between "
                 "(migrations are one transaction); run the command again")
            raise typer.Exit(130) from None
        except (SQLAlchemyError, CommandError, OSError, ValueError, ImportError) as e:
            why = _wal_in_read_only_folder(e)
            fail(f"cannot open the store {shown_db()}: {error_line(e)}"
                 + (f" ({why})" if why else ""))
    return STATE.store


def _wal_in_read_only_folder(e: BaseException) -> str | None:
    """What to do, where ``e`` says a SQLite store in WAL mode could not be
    opened because its folder cannot be written (SQLite makes the ``-shm`` file
    a WAL store needs even to be read there): "attempt to write a readonly
    database" said it of a command that only reads. A rollback-journal store
    is read there (``store.db._wal_or_as_it_is``). None for any other error."""
    from rasd.store.db import resolve_url, sqlite_file

    orig = getattr(e, "orig", None) or e
    if getattr(orig, "sqlite_errorname", None) != "SQLITE_READONLY_DIRECTORY":
        return None
    path = sqlite_file(resolve_url(STATE.db))
    if path is None:
        return None
    try:
        with open(path, "rb") as f:  # the header's write and read versions: 2 for WAL
            wal = f.read(20)[18:20] == b"\x02\x02"
    except OSError:
        return None
    if not wal:
        return None
    from rasd.terminal import shell_word

    return ("a store in WAL mode, as rasd keeps them, is read only where its folder can "
            "be written: copy it to one that can be, or, before its folder is made "
            "read-only, make it a one-file store that can be read there: sqlite3 "
            f"{shell_word(str(path))} 'PRAGMA journal_mode=DELETE'")


def _backend() -> str | None:
    """The database the store named is kept in (``sqlite``, ``postgresql`` …),
    None where its URL cannot be read (Store.open says why)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from rasd.store.db import resolve_url

    try:
        return make_url(resolve_url(STATE.db)).get_backend_name()
    except (ArgumentError, ValueError):
        return None


# the largest number an INTEGER column holds on either store (PostgreSQL's are
# 32-bit): bound for --limit options and ids typed in
INT_MAX = 2**31 - 1

# after a detection an older model or rules version made, kept as history
# since another version scanned the subject (``store.db.current_detection``)
HISTORY = " [history: an earlier version's result]"


def account_text(ref: str, handle: str | None, name: str | None) -> str:
    """An account as lines name it: its reference (``PLATFORM:ID``, quoted for
    a shell where it needs it: what `rasd accounts show` takes back), then its
    handle or name."""
    from rasd.accounts import quoted_ref

    shown = f"@{handle}" if handle else name
    return f"{quoted_ref(ref)} ({shown})" if shown else quoted_ref(ref)


def error_line(e: BaseException) -> str:
    """The first line of a database error (the driver's own, where SQLAlchemy
    wraps one), for a one-line message."""
    why = str(getattr(e, "orig", None) or e).strip().splitlines()
    return why[0] if why else type(e).__name__


# what a store's failure means to the one who runs the command, by the
# driver's words (SQLite) or the SQLSTATE (PostgreSQL)
_STORE_HINTS = (
    ("readonly database", "the file, or the folder it is in, cannot be written"),
    ("database is locked", ("another process held its write lock past the 30 s "
                            "wait: try again when it is done")),
    ("disk is full", "no space left where it is"),
    ("disk i/o error", "the disk or file system failed"),
    ("unable to open database file", ("the file, or the folder it is in, cannot be "
                                      "opened or written")),
)
_PG_STATES = {"25006": "a read-only transaction: a standby server, or a read-only role",
              "42501": "the role lacks a privilege it needs",
              "53100": "the server is out of disk space"}


def _operational(e: BaseException) -> bool:
    """Whether ``e`` is the database saying it could not do what was asked
    (SQLAlchemy's ``OperationalError``, or the driver's own where rasd writes
    through its cursor), not that what was asked was wrong."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    if isinstance(e, OperationalError | sqlite3.OperationalError):
        return True
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(e, psycopg.OperationalError)


def store_hint(e: BaseException) -> str | None:
    """What a database error that is not rasd's fault means to the one who runs
    the command (a read-only file, a lock held too long, a read-only session …),
    or None: ``_STORE_HINTS`` by the driver's words (SQLite), ``_PG_STATES`` by
    the SQLSTATE (PostgreSQL)."""
    orig = getattr(e, "orig", None) or e
    state = getattr(orig, "sqlstate", None)
    if state in _PG_STATES:
        return _PG_STATES[state]
    low = error_line(e).lower()
    return next((h for k, h in _STORE_HINTS if k in low), None)


def store_failure(e: BaseException) -> str | None:
    """A one-line message for a database error met while a command used the
    store (an operational error: locks, read-only files, lost connections; and a
    PostgreSQL privilege or read-only refusal), or None for errors that are
    rasd's own faults (constraints, SQL), which keep their traceback."""
    orig = getattr(e, "orig", None) or e
    if not _operational(e) and getattr(orig, "sqlstate", None) not in _PG_STATES:
        return None
    if _SQLITE_OWN_FAULT.match(str(orig)):  # SQLite says these as OperationalError too
        return None
    hint = store_hint(e)
    return (f"the store {shown_db() if STATE.db else 'rasd.db'} failed: {error_line(e)}"
            + (f" ({hint})" if hint else ""))


# what SQLite reports as an OperationalError although the SQL asked for it is at
# fault (rasd's own), not the store: these keep their traceback
_SQLITE_OWN_FAULT = re.compile(
    r"(no such column|near \"|syntax error|too many SQL variables|no such function|"
    r"wrong number of arguments|incomplete input|\d+ values for \d+ columns|"
    r"table \S+ has no column named|ambiguous column name)")


def shown_db() -> str:
    """The store's name as messages show it: a server URL without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    db = STATE.db
    try:
        url = make_url(db)
    except (ArgumentError, ValueError):  # a file path, or a URL that cannot be read
        if "://" not in db:
            return db
        return _QUERY_PASSWORD.sub(r"\1***", _USER_PASSWORD.sub(r"\1***@", db))
    # libpq also takes the password as a parameter (?password=, ?sslpassword=)
    hidden = {k: "***" for k in url.query if k.lower() in ("password", "sslpassword")}
    if hidden:
        url = url.update_query_dict(hidden)
    return url.render_as_string(hide_password=True) if url.password or hidden else db


# user:password@ up to the last "@" before the query (a password may hold "@" or "/");
# password= and sslpassword= parameters
_USER_PASSWORD = re.compile(r"(://[^/@:?#]*:)[^?#]*@")
_QUERY_PASSWORD = re.compile(r"(?i)((?:[?&;]|^)(?:ssl)?password=)[^&;]*")


def echo(text: str, err: bool = False, keep_lines: bool = False) -> None:
    """Print a line that may quote input (names, handles, values, paths) with
    control characters and bidi overrides escaped, and as one line: a line
    break in a name or bio is written ``\n`` (a profile named "N\nFAKE LINE"
    forged a line of `rasd accounts show`). ``keep_lines``: text meant to span
    lines (a raw record shown on a terminal)."""
    typer.echo(term_safe(text if keep_lines else one_line(text)), err=err)


def echo_row(*fields: str) -> None:
    """Print fields separated by tabs: ``echo`` would write the separating tabs as
    ``\t`` too, so each field is made one line and escaped by itself (a tab inside a
    label cannot forge a column)."""
    typer.echo("\t".join(term_safe(one_line(f)) for f in fields))


# a column of a table on a terminal is at most this wide; a longer field (a
# name of thousands of characters) is cut, with "…", but the first (the account
# reference, to be copied whole), which only pushes its row's later fields on
TABLE_CELL_MAX = 40


def echo_table(rows: Iterable[Sequence[str]], header: Sequence[str] | None = None) -> None:
    """Print a table (after its ``header`` line, if any), one row a line, each
    field one line with control characters escaped (``echo_row``):
    tab-separated where the output goes to
    a pipe or a file (``cut -f1``), and on a terminal in columns aligned by the
    width each field takes there (tabs stopped at every 8th column: an Arabic
    handle or a quoted reference pushed the later fields of its line out of
    their columns)."""
    rows = [header, *rows] if header else list(rows)
    if not stdout_is_terminal():
        for r in rows:
            echo_row(*r)
        return
    if not rows:
        return
    from rasd.terminal import cut_to_width, display_width

    def cell(i: int, f: str) -> str:
        f = term_safe(one_line(f))
        return cut_to_width(f, TABLE_CELL_MAX) if i else f

    table = [[cell(i, f) for i, f in enumerate(r)] for r in rows]
    widths = [min(TABLE_CELL_MAX, max(display_width(r[i]) for r in table if i < len(r)))
              for i in range(max(map(len, table)))]
    for r in table:
        line = "".join(f + " " * max(1, widths[i] + 2 - display_width(f))
                       for i, f in enumerate(r[:-1])) + r[-1]
        typer.echo(line)


def stdout_is_terminal() -> bool:
    """Whether what is printed goes to a terminal (tables are aligned there)."""
    return sys.stdout.isatty()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error to stderr and exit with ``code`` (2: bad usage/input).
    Messages name files and quote input: control characters are escaped."""
    typer.echo(term_safe(one_line(f"rasd: error: {message}")), err=True)
    raise typer.Exit(code)


def markup_escaped(text: str) -> str:
    """``text`` as Rich markup that shows it as it is (progress descriptions are
    markup strings), one line, control characters escaped."""
    from rich.markup import escape

    return escape(term_safe(one_line(text)))


def rich_text(text: str) -> Any:
    """``text`` for a Rich table or progress line: one line, control characters
    escaped, and no markup read in it (a source named "[link=…]x.jsonl" made a
    hyperlink on the terminal, "op[/]x" stopped ``rasd stats`` with a
    traceback)."""
    from rich.text import Text

    return Text(term_safe(one_line(text)))


def more_shown(limit: int, what: str, how: str = "-n 0 lists all") -> None:
    """Say, on standard error, that a list was cut at its ``--limit``: `rasd
    accounts list` printed the 50 of 7,136 accounts its default allows, and
    nothing told that more were there."""
    typer.echo(f"rasd: more {what} than the {limit:,} shown ({how})", err=True)


def warn(message: str) -> None:
    typer.echo(term_safe(one_line(f"rasd: warning: {message}")), err=True)


class _WarnHandler(logging.Handler):
    """Library warnings (``logging.getLogger("rasd....")``: the ingest writer's
    "this role may not ANALYZE") said as the CLI says its own, one escaped
    line "rasd: warning: …": they came through Python's last-resort handler,
    bare and unescaped (table names are the store's)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            warn(record.getMessage())
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def route_warnings() -> None:
    """Send the library's warnings (logger ``rasd``) to ``_WarnHandler``, once
    a process (a long-lived process, tests or a notebook, invokes rasd many
    times)."""
    log = logging.getLogger("rasd")
    if not any(isinstance(h, _WarnHandler) for h in log.handlers):
        h = _WarnHandler(logging.WARNING)
        log.addHandler(h)


def _dumps(obj: Any, opt: int) -> str:
    """JSON text of ``obj``, safe to print; a string that is not valid Unicode
    (a file named in bytes that are not UTF-8) is written with ``valid_text``.
    Times are UTC with their offset on every store: SQLite gives them without
    one (stored as UTC), PostgreSQL with it, and the same query printed
    differently on the two."""
    opt |= orjson.OPT_NAIVE_UTC
    try:
        data = orjson.dumps(obj, option=opt | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError as e:
        if "surrogates" not in str(e):
            raise
        data = orjson.dumps(valid_json_value(obj), option=opt | orjson.OPT_NON_STR_KEYS,
                            default=str)
    return json_safe(data.decode())


def when_text(t: Any) -> str:
    """A stored time as every text line shows it: UTC, to the second, marked
    ("2024-03-01 13:35:00 UTC"), the same on SQLite and PostgreSQL (SQLite gives
    times without an offset, stored as UTC; PostgreSQL with one, in the
    session's time zone: text lines printed "+00:00" and microseconds on one
    store and not the other). An ISO string is read as such; ``-`` for none."""
    if t is None or t == "":
        return "-"
    if isinstance(t, str):
        try:
            t = datetime.fromisoformat(t)
        except ValueError:
            return t
    if not isinstance(t, datetime):
        return str(t)
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def echo_json(obj: Any, *, indent: bool = True) -> None:
    sys.stdout.write(_dumps(obj, orjson.OPT_INDENT_2 if indent else 0) + "\n")


def jsonl_line(obj: Any) -> str:
    return _dumps(obj, 0)


def progress_enabled() -> bool:
    return sys.stderr.isatty()


@contextmanager
def stage_progress(enabled: bool, prefix: str = "") -> Iterator[
        Callable[[str, int, int], None] | None]:
    """A progress display for work in named stages; yields ``prog(stage, done,
    total)`` or None when disabled (not a terminal, or JSON output)."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    bar = Progress(transient=True)
    tasks: dict[str, Any] = {}

    def prog(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(markup_escaped(f"{prefix}{stage}"), total=total)
        bar.update(tasks[stage], completed=done)

    bar.start()
    try:
        yield prog
    finally:
        bar.stop()


class ForcedInterrupt(KeyboardInterrupt):
    """A second Ctrl-C while one is held back (``interrupts_held``): raised at
    once, inside the block, which is then done in part."""


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) back until the block is done, then raise
    KeyboardInterrupt: for a step that a command's count of what it did must
    take whole or not at all (a line written and counted). A second Ctrl-C
    meanwhile raises ``ForcedInterrupt`` in the block at once (a write blocked
    on a pipe that no one reads would hold the first for as long). Off the
    main thread, or where SIGINT has a handler other than Python's own, the
    block runs as it is."""
    import signal
    import threading

    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    held: list[int] = []

    def hold(signum: int, _frame: Any) -> None:
        if held:
            raise ForcedInterrupt
        held.append(signum)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held:
        raise KeyboardInterrupt
