"""The whole ingest job for one path: detect the format, parse, write in
batches, quarantine bad records, and report what happened."""

from __future__ import annotations

import gc
import hashlib
import os
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import Connection, func, select, update

from rasd.ingest.base import (
    COMPRESSED,
    MAGIC_BYTES,
    STREAM_PATH,
    IngestError,
    Note,
    RawSink,
    Stream,
    check_platform,
    compression,
    current_stream,
    detect_format,
    get_parser,
    head_only,
    is_stream,
    path_text,
    reading,
)
from rasd.ingest.pipeline import (
    _pos,
    default_jobs,
    kept,
    produce,
    produce_in_child,
    reject_entry,
    start_method,
)
from rasd.ingest.writer import Writer, link_marks, link_pending, merge_name_stubs
from rasd.model import QUARANTINE_LIMIT, Reject
from rasd.store import Store
from rasd.store import schema as S
from rasd.store.db import key_accounts, now, sha256_hex
from rasd.store.upsert import insert_ignore

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class IngestReport:
    path: str
    fmt: str
    source: str
    counts: dict[str, Any] = field(default_factory=dict)
    rejects: list[dict[str, Any]] = field(default_factory=list)  # first few, for display
    quarantine: str | None = None
    seconds: float = 0.0
    # what the file says once, no record rejected (``base.Note``): a Telegram
    # export's chat type that Desktop does not write, read as a newer export's
    warnings: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return int(self.counts.get("rejected", 0))

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.fmt, "source": self.source,
                **self.counts, "quarantine": self.quarantine,
                "seconds": round(self.seconds, 3), "warnings": self.warnings}


def quarantine_path(store: Store) -> Path:
    """The store's quarantine file: beside a SQLite store, named after it
    (``rasd.db`` → ``rasd.quarantine.jsonl``; ``x.sqlite`` →
    ``x.sqlite.quarantine.jsonl``, so that ``x.db`` beside it has its own); for
    a server store, in ``RASD_HOME`` (else the current folder), named after its
    database and schema (``rasd-test-myschema.quarantine.jsonl``): every server
    store wrote ``rasd.quarantine.jsonl`` there, and listed the others' rejects."""
    p = store.path
    if p is not None:
        name = p.stem if p.suffix.lower() == ".db" else p.name
    elif store.is_sqlite:  # in memory (a store not made yet, shown empty): as before
        name = "rasd"
    else:
        with store.connect() as c:
            db, schema = c.exec_driver_sql(
                "SELECT current_database(), current_schema()").one()
        name = f"rasd-{db}" + (f"-{schema}" if schema and schema != "public" else "")
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:150]
    return store.workspace_dir() / f"{name}.quarantine.jsonl"


def _legacy_quarantine(store: Store, current: Path) -> Path | None:
    """Where this store's rejects went before quarantine files were named for
    their store (``x.sqlite`` → ``x.quarantine.jsonl``, a server store →
    ``rasd.quarantine.jsonl``): still read, so that an upgrade loses none; its
    entries of other stores do not count (their runs are not this store's).
    ``current``: its quarantine file now (``quarantine_path``)."""
    p = store.path
    old = store.workspace_dir() / (f"{p.stem}.quarantine.jsonl" if p is not None
                                   else "rasd.quarantine.jsonl")
    return old if old != current and old.is_file() else None


@dataclass
class Quarantined:
    """What ``read_quarantine`` found: ``count`` rejects (by ``by_reason``, the
    reason up to its first colon), the ``last`` few of them in file order, and
    ``entries``, every line of the quarantine file that passed the filter —
    re-ingesting a file writes its rejects again."""
    path: Path
    count: int = 0
    entries: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    last: list[dict[str, Any]] = field(default_factory=list)


def reason_head(reason: Any) -> str:
    """A reject's reason up to its first colon: what rejects are counted by."""
    return str(reason if reason is not None else "?").split(":")[0]


def _write_omitted(qfile: IO[bytes], omitted: Counter[str], path: Path, fmt: str,
                   run_ref: dict[str, Any], limit: int | None) -> None:
    """The quarantine entry that counts a run's rejects past ``limit``."""
    n = sum(omitted.values())
    if not n or qfile.closed:
        return
    qfile.write(orjson.dumps({
        "time": now().isoformat(), "file": path_text(path), "line": None, "path": None,
        "field": None, "excerpt": None, "format": fmt,
        "reason": f"{n} more rejected record(s) of this run not written one by one "
                  f"(at most {limit} a run are: rasd ingest --quarantine-limit); "
                  "counted by reason",
        "omitted": n, "by_reason": dict(omitted.most_common(MAX_OMITTED_REASONS)),
        **run_ref}) + b"\n")
    qfile.flush()


MAX_OMITTED_REASONS = 100  # reasons named in an ``omitted`` entry (the others: "other")


def _lines_of(files: list[Path]) -> Iterator[bytes]:
    for path in files:
        with open(path, "rb") as fh:
            yield from fh


def read_quarantine(store: Store, *, file: str | None = None, every_run: bool = False,
                    keep: int = 20) -> Quarantined:
    """The rejects in the store's quarantine file: by default those of the
    latest run of each file that completed it, else of its latest run (a file
    read again — after a crash, or a new copy — has its rejects written again;
    an earlier run's are history), with ``every_run`` every entry. ``file``:
    only files whose path contains it. Streamed: memory holds the counts and
    the ``keep`` last rejects, whatever the file's size. Standard input's runs
    (a new input each time) all count; so do entries that name no run
    (written before runs were named). An entry that names a run this store
    does not hold (its id, and when it began: ``run``, ``run_at``) is another
    store's — one sharing the file, or a deleted one — and does not count."""
    q = Quarantined(quarantine_path(store))
    files = [x for x in (_legacy_quarantine(store, q.path), q.path) if x is not None and x.exists()]
    if not files:
        return q
    f = S.ingest_files
    latest: dict[str, int] = {}  # each path's latest complete run, else its latest
    path_of: dict[int, tuple[str, str]] = {}
    done: dict[str, int] = {}
    with store.connect() as c:
        for rid, p, st, at in c.execute(select(f.c.id, f.c.path, f.c.status,
                                               f.c.started_at).order_by(f.c.id)):
            path_of[rid] = (p, _aware(at).isoformat() if at else "")
            latest[p] = rid
            if st == "done":
                done[p] = rid
    latest.update(done)
    tail: deque[dict[str, Any]] = deque(maxlen=max(keep, 0) or None)
    for line in _lines_of(files):
        try:
            r = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(r, dict):
            continue
        if file and file not in str(r.get("file", "")):
            continue
        run = r.get("run")
        known = path_of.get(run) if isinstance(run, int) else None
        if run is not None and (known is None or known[1] != r.get("run_at")):
            continue  # another store's run (sharing the file, or deleted)
        omitted = r.get("omitted")  # an entry counting rejects past a run's limit
        summary = type(omitted) is int and omitted > 0
        n = omitted if summary else 1
        q.entries += n
        if not every_run and known is not None and known[0] != "-" \
                and latest[known[0]] != run:
            continue  # a later run of that file wrote its rejects again
        q.count += n
        reasons = r.get("by_reason") if summary else None
        if isinstance(reasons, dict):
            counted = 0
            for reason, k in reasons.items():
                if type(k) is int and 0 < k <= n - counted:
                    q.by_reason[reason_head(reason)] += k
                    counted += k
            if counted < n:
                q.by_reason["other"] += n - counted
        else:
            q.by_reason[reason_head(r.get("reason", "?"))] += 1
        if keep:
            tail.append(r)
    q.last = list(tail)
    return q


# Ingest allocates millions of short-lived, acyclic objects (parsed JSON, records,
# row dicts) while holding large long-lived caches. With CPython's default
# thresholds (700, 10, 10) the cyclic collector ran ~3,500 times on a 50k-post
# file and took ~2.5 s of ~9 s; these thresholds cut that to ~0.15 s with the
# same peak RSS (benchmarks/ingest.py). Reference counting still frees
# everything acyclic at once; cycles are still collected, only less often.
GC_THRESHOLDS = (100_000, 50, 100)


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Raise the cyclic GC thresholds for the duration of an ingest."""
    old = gc.get_threshold()
    gc.set_threshold(*(max(a, b) for a, b in zip(old, GC_THRESHOLDS, strict=True)))
    try:
        yield
    finally:
        gc.set_threshold(*old)


SOURCE_MAX = 200  # sources.name


def source_name(name: str) -> str:
    """``name`` as a source is stored: a name over ``SOURCE_MAX`` characters
    keeps its start and a digest of the whole, so that two long names (two
    --source values, two long file names) that share their first 200
    characters stay two sources (they were cut to one)."""
    if len(name) <= SOURCE_MAX:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{name[:SOURCE_MAX - 14]}…{digest}"


def _source_id(store: Store, name: str) -> int:
    name = source_name(name)
    with store.begin() as c:
        c.execute(insert_ignore(c, S.sources), [{"name": name, "created_at": now()}])
        return int(c.execute(select(S.sources.c.id).where(S.sources.c.name == name))
                   .scalar_one())


def ingest_path(store: Store, path: str | Path | IO[bytes] | Stream, *, fmt: str = "auto",
                platform: str | None = None, source: str | None = None,
                mapping: str | None = None, batch_size: int = 5000,
                progress: Progress | None = None, keep_rejects: int = 20,
                jobs: int | None = None, chat_id: str | None = None,
                quarantine_limit: int | None = QUARANTINE_LIMIT) -> IngestReport:
    """Ingest one file (or Telegram export folder, or stream) into ``store``.

    ``path`` may also be a binary file object or a ``Stream`` (standard input:
    ``Stream(sys.stdin.fileno())``), read once, front to back: its report and
    rejects name it ``-`` and its source defaults to ``stdin``. A pipe that goes
    quiet has what it gave so far written at once (``Stream``).

    Raises ``IngestError`` when the file cannot be read as any known format;
    then nothing has been written. Bad records inside a readable file are
    rejected one by one (quarantine file) and everything valid is stored.

    ``chat_id``: for a Telegram HTML export, the chat's id as Telegram names it
    (``channel123``), which HTML does not carry (it is then keyed by name).

    ``jobs``: 1 parses and writes in this process; 2 parses in a second
    process while this one writes (same result, faster on two cores). Default:
    2 for files of 16 MB or more on a machine with two or more cores
    (``RASD_INGEST_JOBS`` overrides).

    ``quarantine_limit``: rejects of this run written to the quarantine file
    one by one (None: every one); the rest are counted, by reason, in one
    entry written when the run ends (``omitted``, ``by_reason``;
    ``read_quarantine`` counts them). The report counts them all.
    """
    if quarantine_limit is not None and quarantine_limit < 0:
        raise ValueError(f"quarantine_limit must be >= 0 or None, not {quarantine_limit}")
    with _opened(path) as (p, stream):
        if stream is not None:
            # only a forked child can go on reading the same pipe (or open the
            # same archive member: it inherits the stream)
            forkable = (stream.fd is not None or stream.reopen is not None) and \
                start_method() == "fork"
            if jobs is None:
                jobs = default_jobs(stream.size) if forkable else 1
            elif jobs == 2 and not forkable:
                jobs = 1
            source = source or stream.source
        return _ingest(store, p, fmt, platform, source, mapping, batch_size, progress,
                       keep_rejects, jobs, chat_id, quarantine_limit)


@contextmanager
def _opened(path: str | Path | IO[bytes] | Stream) -> Iterator[tuple[Path, Stream | None]]:
    """The path to parse, and the ``Stream`` behind it where it is one (read
    from while the context lasts); a path that is not there is an
    ``IngestError``."""
    stream = _stream_of(path)
    if stream is not None:
        with reading(stream) as p:
            yield p, stream
        return
    path = Path(path)  # type: ignore[arg-type]
    if not path.exists():
        raise IngestError(f"{path}: no such file or directory")
    yield path, None


def _stream_of(path: Any) -> Stream | None:
    """``path`` as a ``Stream`` when it is one or a binary file object."""
    if isinstance(path, Stream):
        return path
    return Stream(path) if hasattr(path, "read") else None


def check_format(path: str | Path | Stream, fmt: str = "auto", *, platform: str | None = None,
                 mapping: str | None = None, chat_id: str | None = None,
                 first_record: bool = True) -> str:
    """The format ``ingest_path`` would read ``path`` (a file, an export folder,
    or a ``Stream``) as, checked as it would check it; IngestError where it
    would fail before its first record (no known format, a bad mapping or
    option, a CSV header no mapping fits). Reads up to the first record (of
    compressed input, within its first ``CHECK_HEAD`` decompressed bytes: a
    decompression bomb is read to its limit once, by the ingest), or
    with ``first_record`` false only the first bytes that tell the format (a
    pipe, which can be read again only as far as it keeps, and whose first
    record may be hours away) and a CSV's header; touches no store."""
    with _opened(path) as (p, _):
        name, options = _format(p, fmt, mapping, platform, chat_id)
        if first_record:
            # of compressed input no more than its head (CHECK_HEAD): a bomb with no
            # record before its limit was read to it here, then again by the ingest
            with head_only() as head, \
                    closing(iter(get_parser(name, **options).parse(p, RawSink()))) as records:
                try:
                    first = next((r for r in records if not isinstance(r, Note)), None)
                except IngestError:  # (a parser that met the head's end as a cut)
                    if not head.reached:
                        raise
            if head.reached:  # no record in the head: nothing known, the ingest reads on
                first = None
            if fmt != "auto" and isinstance(first, Reject):
                _check_forced(p, name, first)
        elif name == "csv":
            # a CSV's header is checked on a pipe too: its mapping is picked from
            # the header, and `printf 'a,b\n1,2\n' | rasd ingest -` made an empty
            # store before saying no mapping fits; the header only (its first row
            # was waited for: hours on a quiet `tail -f`, and one past the kept
            # 8 MB could not be read again)
            from rasd.ingest.csvfmt import CSVParser

            parser = get_parser(name, **options)
            assert isinstance(parser, CSVParser)
            parser.check_header(p)
    return name


def _check_forced(path: Path | Stream, name: str, first: Reject) -> None:
    """A ``--format`` that reads not even the first record of a file that another
    format claims is a mistake, said before anything is written: ``--format x``
    on a CSV rejected its 18,605 lines one by one as invalid JSON into the
    quarantine, and ended with status 0. (Where no format claims the file, as for
    a first record too long to sniff, --format is what reads it: no error.)"""
    try:
        claimed = detect_format(path)  # type: ignore[arg-type]
    except IngestError:
        return
    if claimed != name:
        where = f"line {first.line}" if first.line else (first.path or "its start")
        raise IngestError(f"{path_text(path)}: read as --format {name}, its first record is "
                          f"rejected ({where}: {first.reason}); it looks like {claimed}: "
                          f"leave --format out, or give --format {claimed}")


def _format(path: Path, fmt: str, mapping: str | None, platform: str | None,
            chat_id: str | None) -> tuple[str, dict[str, Any]]:
    """The format name and parser options, checked (a bad format name, mapping
    or --chat-id fails here, before any work)."""
    if fmt == "auto" and mapping and path == STREAM_PATH:
        fmt = "csv"  # no name to tell by, and a column mapping is for CSV only
    name = detect_format(path) if fmt == "auto" else fmt
    options: dict[str, Any] = {}
    if mapping:
        options["mapping"] = mapping
    if platform:
        options["platform"] = check_platform(platform, "--platform")
    if chat_id:
        if name != "telegram-html":
            raise IngestError(f"{path}: --chat-id is for Telegram HTML exports (this is {name}: "
                              "its chats carry their ids)")
        options["chat_id"] = chat_id
    get_parser(name, **options)
    return name, options


def _source_name(path: Path, source: str | None) -> str:
    return path_text(source or (path.name if path.is_file() else path.resolve().name))


def _ingest(store: Store, path: Path, fmt: str, platform: str | None, source: str | None,
            mapping: str | None, batch_size: int, progress: Progress | None,
            keep_rejects: int, jobs: int | None, chat_id: str | None,
            quarantine_limit: int | None = QUARANTINE_LIMIT) -> IngestReport:
    name, options = _format(path, fmt, mapping, platform, chat_id)
    report = IngestReport(path=path_text(path), fmt=name, source=_source_name(path, source))
    total = file_size(path)
    if jobs is None:
        jobs = default_jobs(data_size(path, total))
    if jobs not in (1, 2):
        raise IngestError(f"jobs must be 1 or 2, not {jobs}")
    # the run's start: when reading began, as the seconds the command prints count
    # from (the run is recorded at its first record, a batch in, and `rasd runs`
    # gave 1.0s for a file ingest had said took 1.3s)
    t0, started = time.perf_counter(), now()
    writer: Writer | None = None
    file_id: int | None = None
    sid = 0
    marks = (0, 0)
    run_ref: dict[str, Any] = {}
    qfile: IO[bytes] | None = None
    qpath = quarantine_path(store)
    rejected = 0
    omitted: Counter[str] = Counter()  # rejects past quarantine_limit, by reason
    # profiles read again unchanged within this run (a channel's profile on every
    # row of a CSV): counted unchanged by the writer, told apart for the report
    repeats = 0
    run = produce_in_child if jobs == 2 else produce
    chunks = run(path, name, options, platform, batch_size)
    guard = ExitStack()  # relaxed GC, the quarantine file, the chunk source
    bulk = ExitStack()  # deferred indexes, built again before the name merge
    try:
        guard.enter_context(relaxed_gc())
        guard.callback(getattr(chunks, "close", lambda: None))
        guard.enter_context(bulk)
        for chunk in chunks:
            report.warnings.extend(chunk.notes)
            b = chunk.batch
            # a batch of raw bytes only (lines that yield no record) is kept once
            # the file has records, or where it went out by size (``kept``)
            good = kept(b, chunk.by_size, writer is not None)
            if file_id is None and (good or chunk.rejects):
                # the first record or reject: only now touch the store and record
                # the run (its rejects name it in the quarantine)
                sid = _source_id(store, report.source)
                # what link_pending need look at: from here (recorded: a run
                # killed before drawing keeps later runs drawing from there)
                marks = link_marks(store)
                file_id = _start_file(store, sid, path, name, total, marks, started)
                run_ref = {"run": file_id, "run_at": _run_at(store, file_id)}
                # a thread from here on: a parsing process is forked by now
                guard.enter_context(store.background_checkpoints())
                guard.enter_context(_heartbeat(store, file_id))
            for entry in chunk.rejects:
                rejected += 1
                if qfile is None:
                    qpath.parent.mkdir(parents=True, exist_ok=True)
                    qfile = guard.enter_context(open(qpath, "ab"))  # noqa: SIM115
                    # last on closing (callbacks run in reverse): the count of
                    # the rejects not written, also when the run fails
                    guard.callback(_write_omitted, qfile, omitted, path, name, run_ref,
                                   quarantine_limit)
                if quarantine_limit is None or rejected <= quarantine_limit:
                    qfile.write(orjson.dumps({**entry, **run_ref}) + b"\n")
                else:
                    omitted[reason_head(entry.get("reason"))] += 1
                if len(report.rejects) < keep_rejects:
                    report.rejects.append(entry)
            if chunk.rejects and qfile is not None:
                # on disk before the batch commits: a run killed hard kept none of them
                qfile.flush()
            if good:
                if writer is None:
                    # accounts stored without a handle_key (by SQL, or an older
                    # rasd) keyed before the first write: a mention of one's
                    # handle then finds it, not an "@name" placeholder counted
                    # in this run and merged away at its end, one too many in
                    # its counts (where there are none: a probe of a partial
                    # index, ~0.3 ms SQLite, 1-5 ms PostgreSQL, 200k accounts);
                    # once a run: the merge at its end does not key again
                    key_accounts(store)
                    writer = Writer(store, sid, batch_size=batch_size)
                    writer.on_commit = partial(  # the rejects counted by each commit
                        _record_counts, writer, file_id, lambda: rejected,  # noqa: B023
                        lambda: repeats)  # noqa: B023
                    if bulk_load_pays(store, total):
                        bulk.enter_context(store.bulk_load())
                repeats += b.seen_accounts
                writer.apply(b)
            if progress:
                progress(chunk.pos, total)
        bulk.close()  # indexes back before the merge, which uses them
        if writer is not None:  # (accounts keyed before its first write: key_accounts)
            merge_name_stubs(store, keyed=True)
        if file_id is not None:  # (a run of rejects only draws for dead runs)
            _draw_links(store, writer, file_id, marks)
    except BaseException as e:
        # what the store kept of this file, for the caller's words: nothing where
        # it could not be written from the start, the batches before where it
        # became read-only (or full) during the run (rasd.cli.ingest)
        with suppress(Exception):
            e.rasd_committed = 0 if writer is None else writer.committed  # type: ignore[attr-defined]
        # stopped (Ctrl-C: how `twarc2 stream | rasd ingest -` ends) or failed (a
        # file that breaks off, a full disk): what was committed still gets its
        # edges, and the run is recorded as interrupted or failed — at once, not
        # when the process ends (a caller may go on to other files). Best effort,
        # a few seconds at most: an interrupt that came inside a commit can leave
        # that transaction holding its lock; the run then stays recorded as
        # running, and later runs find it dead once this process has ended
        if file_id is not None:
            status = "interrupted" if isinstance(e, KeyboardInterrupt | SystemExit) else "failed"
            with store.short_waits(), suppress(Exception):
                _draw_links(store, writer, file_id, marks)
                with store.begin() as c:  # with what it committed (rasd runs)
                    c.execute(update(S.ingest_files).where(S.ingest_files.c.id == file_id)
                              .values(finished_at=now(), status=status,
                                      counts=_run_counts(writer, rejected, repeats)))
        raise
    finally:
        guard.close()  # closes the quarantine file and stops a parsing process
    report.seconds = time.perf_counter() - t0
    finished = started + timedelta(seconds=report.seconds)  # the same span as printed
    report.counts = _run_counts(writer, rejected, repeats)
    if rejected:
        report.quarantine = str(qpath)
    if file_id is not None:
        f = S.ingest_files
        with store.begin() as c:
            c.execute(update(f).where(f.c.id == file_id).values(
                finished_at=finished, status="done",
                counts=_with_warnings(report.counts, report.warnings)))
            # earlier runs of this file that did not finish: completed by this one
            # (standard input, recorded as "-", is a different input each time)
            # — not one still going in another process (it draws for itself)
            recorded = _recorded(path)
            if recorded != "-":
                completed = [r.id for r in c.execute(select(f.c.id, f.c.status, *_LIVENESS).where(
                    f.c.path == recorded, f.c.id < file_id,
                    f.c.status.not_in(("done", "superseded"))))
                    if r.status != "running" or not _row_alive(r)]
                if completed:  # (a file's unfinished runs: a handful)
                    c.execute(update(f).where(f.c.id.in_(completed)).values(status="superseded"))
    if progress:
        progress(total, total)
    return report


def check_path(path: str | Path | IO[bytes] | Stream, *, fmt: str = "auto",
               platform: str | None = None, mapping: str | None = None,
               chat_id: str | None = None, keep_rejects: int = 20,
               progress: Progress | None = None) -> IngestReport:
    """Read ``path`` as ``ingest_path`` would, and write nothing (``rasd ingest
    --dry-run``): no store is opened, no quarantine written. ``counts`` say what
    the file holds — ``{"records": {"posts": n, "accounts": n, "posts_referenced":
    n, "edges": n, "events": n, "compliance": n}, "rejected": n}`` — and
    ``rejects`` the first ``keep_rejects`` rejects, for checking a mapping or a
    file before loading it. Raises ``IngestError`` where ingest would."""
    with _opened(path) as (p, stream):
        return _check(p, fmt, platform, stream.source if stream else None, mapping, chat_id,
                      keep_rejects, progress)


class _NoBytesKept(RawSink):
    """The raw sink of a dry run: nothing is written, so no raw bytes are kept
    (each is still hashed, as a parser's records name their raw record by it).
    A dry run kept them until every 5,000th record: 5,000 records' lines (up to
    32 MiB each), and lines that give no record until a record came."""

    def put(self, data: bytes, fmt: str) -> str:
        return sha256_hex(data)


_RECORD_KEYS = {"account": "accounts", "post": "posts", "edge": "edges", "event": "events"}


def _check(path: Path, fmt: str, platform: str | None, source: str | None,
           mapping: str | None, chat_id: str | None, keep_rejects: int,
           progress: Progress | None) -> IngestReport:
    from rasd.model import Post, Reject

    name, options = _format(path, fmt, mapping, platform, chat_id)
    parser = get_parser(name, **options)
    report = IngestReport(path=path_text(path), fmt=name, source=_source_name(path, source))
    total = file_size(path)
    records: dict[str, int] = {}
    rejected = 0
    sink = _NoBytesKept()
    t0 = time.perf_counter()
    with relaxed_gc():
        for i, rec in enumerate(parser.parse(path, sink)):
            if isinstance(rec, Note):
                report.warnings.append(rec.text)
                continue
            if isinstance(rec, Reject):
                rejected += 1
                if len(report.rejects) < keep_rejects:
                    report.rejects.append(reject_entry(rec, name))
                continue
            kind = type(rec).__name__.lower()
            key = _RECORD_KEYS.get(kind, kind)
            if isinstance(rec, Post) and rec.reference:
                key = "posts_referenced"
            records[key] = records.get(key, 0) + 1
            if progress and not i % 5000:
                progress(_pos(), total)
    report.seconds = time.perf_counter() - t0
    report.counts = {"records": dict(sorted(records.items())), "rejected": rejected}
    if progress:
        progress(total, total)
    return report


BULK_MIN_BYTES = 32 * 2**20


def bulk_load_pays(store: Store, size: int) -> bool:
    """Whether to defer secondary indexes (``Store.bulk_load``) for a file of
    ``size`` bytes: SQLite, 32 MB or more, and at least half as many posts
    again as the store holds (at ~1 KB a post), since building the indexes
    again costs in proportion to what is already stored.
    ``RASD_INGEST_BULK=0|1`` overrides."""
    env = os.environ.get("RASD_INGEST_BULK")
    if env in ("0", "1"):
        return env == "1" and store.is_sqlite
    if not store.is_sqlite or size < BULK_MIN_BYTES:
        return False
    with store.connect() as c:
        stored = c.execute(select(func.max(S.posts.c.id))).scalar() or 0
    return size / 1000 >= stored / 2


def file_size(path: Path) -> int:
    """Bytes on disk of a file (or of a Telegram export's result.json)."""
    if is_stream(path):
        s = current_stream()
        return s.size if s is not None else 0  # a pipe's is unknown until it ends
    if path.is_dir():
        path = path / "result.json"
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def data_size(path: Path, size: int) -> int:
    """About how many bytes there are to parse in a file of ``size`` bytes on
    disk: a compressed file holds several times its size (JSON compresses
    5–12×), so a 6 MB ``.jsonl.gz`` of 46 MB is worth a second process as its
    46 MB plain copy is. A gzip file says its size in its last four bytes
    (modulo 4 GiB); other kinds are taken as 8×."""
    if is_stream(path) or path.is_dir():
        return size
    sfx = path.suffix.lower()
    if sfx not in COMPRESSED:
        try:  # compressed under another name (read by its first bytes)
            with open(path, "rb") as f:
                sfx = compression(f.read(MAGIC_BYTES))
        except OSError:
            return size
        if not sfx:
            return size
    if sfx == ".gz" and size >= 18:
        try:
            with open(path, "rb") as f:
                f.seek(-4, os.SEEK_END)
                isize = int.from_bytes(f.read(4), "little")
        except OSError:
            isize = 0
        return max(size, isize)
    return size * 8


def _run_at(store: Store, file_id: int) -> str:
    """When run ``file_id`` began, as its quarantine entries say it (read back,
    so that it compares equal to what ``read_quarantine`` reads)."""
    f = S.ingest_files
    with store.connect() as c:
        at = c.execute(select(f.c.started_at).where(f.c.id == file_id)).scalar_one()
    return _aware(at).isoformat()


def _start_file(store: Store, sid: int, path: Path, fmt: str, size: int,
                marks: tuple[int, int], started: datetime | None = None) -> int:
    """Record a run (``started``: when its reading began; default now)."""
    with store.begin() as c:
        r = c.execute(S.ingest_files.insert().values(
            source_id=sid, path=_recorded(path), fmt=fmt, size=size, started_at=started or now(),
            status="running", link_marks=list(marks), pid=os.getpid(), host=this_host(),
            seen_at=now()))
        return int(r.inserted_primary_key[0])


HEARTBEAT_SECONDS = 30.0
BEAT_WAIT = 1.0  # seconds a beat waits for the store's write lock
STALE_AFTER = timedelta(hours=1)  # a run on another host not seen for this long is dead
STALE_REUSED = timedelta(days=1)  # nor one on this host whose process id is taken


@contextmanager
def _heartbeat(store: Store, file_id: int) -> Iterator[None]:
    """While a run goes on, record every ``HEARTBEAT_SECONDS`` that it is alive
    (``ingest_files.seen_at``), from a thread of its own: a stream that is quiet
    for hours (``twarc2 stream | rasd ingest -``) still beats. How a run on
    another host, which cannot look for the process, tells a run killed hard
    from one going on. A beat that finds the store locked by a long write
    gives up after ``BEAT_WAIT`` seconds: the next one comes."""
    stop = threading.Event()
    f = S.ingest_files

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            # a run taken for dead (a host paused for an hour) is running again
            with suppress(Exception), store.begin(wait=BEAT_WAIT) as c:
                c.execute(update(f).where(f.c.id == file_id,
                                          f.c.status.in_(("running", "killed")))
                          .values(seen_at=now(), status="running"))

    t = threading.Thread(target=beat, name="rasd-heartbeat", daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=BEAT_WAIT + 1.0)


def this_host() -> str:
    """This machine as runs record it: its name and, on Linux, its process-id
    namespace (containers that share a host name do not share process ids)."""
    try:
        ns = " " + os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        ns = ""
    return (socket.gethostname() + ns)[:255]


def process_alive(pid: int, since: datetime | None = None) -> bool | None:
    """Whether process ``pid`` of this host still runs: not when it is gone, a
    zombie (killed, not yet reaped), or (Linux) started after ``since`` — its
    id taken by another process since, after a reboot too. None where this
    cannot be told (Windows, where signal 0 would end the process)."""
    # (this very process too: a container restarted after a crash can give the
    # new process the crashed one's id, and its namespace the same number)
    if pid <= 0:
        return False
    if os.name == "nt":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # another user's: /proc tells more
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
    except OSError:  # gone since (Linux), or no /proc at all (macOS): kill said it runs
        return not os.path.isdir("/proc/self")
    if fields[:1] == [b"Z"]:
        return False
    started = _process_start(fields)
    return not (since is not None and started is not None
                and started > _aware(since) + timedelta(seconds=5))


def _process_start(fields: list[bytes]) -> datetime | None:
    """When a process started, from the fields of its ``/proc/PID/stat`` after
    the command name (``starttime``, clock ticks after boot: field 22)."""
    try:
        with open("/proc/stat", "rb") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        ticks = int(fields[19])
        return datetime.fromtimestamp(btime + ticks / os.sysconf("SC_CLK_TCK"), UTC)
    except (OSError, ValueError, IndexError, StopIteration):
        return None


# what run_alive reads of a run, selected with it wherever runs are judged
_LIVENESS = (S.ingest_files.c.pid, S.ingest_files.c.host, S.ingest_files.c.seen_at,
             S.ingest_files.c.started_at)


def _row_alive(r: Any) -> bool:
    """``run_alive`` of a row that holds ``_LIVENESS``."""
    return run_alive(r.pid, r.host, r.seen_at, r.started_at)


def _record_counts(writer: Writer, file_id: int | None, rejected: Callable[[], int],
                   repeats: Callable[[], int], c: Connection) -> None:
    """Record a run's counts in the transaction of each batch it writes (one
    UPDATE a batch): a run killed hard (SIGKILL, a power cut) keeps what it had
    committed, for ``rasd runs``, where it kept nothing before. It is seen
    alive then too: a heartbeat that cannot get the write lock between long
    batches (it waits ``BEAT_WAIT``) is not needed while batches commit."""
    if file_id is not None:
        c.execute(update(S.ingest_files).where(S.ingest_files.c.id == file_id)
                  .values(counts=_run_counts(writer, rejected(), repeats()), seen_at=now()))


RUN_WARNINGS_KEPT = 20  # a run record's warnings, at most (each RUN_WARNING_CHARS at most)
RUN_WARNING_CHARS = 2000


def _with_warnings(counts: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """The counts a finished run's record keeps, with the run's warnings under
    ``"warnings"`` where it had any (a Telegram export's chat types Desktop does
    not write): printed once when the file was read, and lost after, where `rasd
    runs` is what tells later what each run gave. Bounded: the first
    ``RUN_WARNINGS_KEPT``, each cut at ``RUN_WARNING_CHARS`` (they quote input)."""
    if not warnings:
        return counts
    kept = [w if len(w) <= RUN_WARNING_CHARS else w[:RUN_WARNING_CHARS - 1] + "…"
            for w in warnings[:RUN_WARNINGS_KEPT]]
    return {**counts, "warnings": kept}


def _run_counts(writer: Writer | None, rejected: int, repeats: int = 0) -> dict[str, Any]:
    """A run's counts as its report and ``ingest_files`` keep them.
    ``repeated_profiles``: account records that repeated a profile already read
    in this run unchanged (``Batch.seen_accounts``), counted among the unchanged
    accounts."""
    counts = writer.counts.as_dict() if writer is not None else {
        "new": 0, "updated": 0, "unchanged": 0, "rejected": 0, "by_kind": {}}
    return {**counts, "rejected": rejected, "repeated_profiles": repeats}


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)  # SQLite gives UTC, naive


def run_alive(pid: int | None, host: str | None, seen: datetime | None,
              started: datetime | None, at: datetime | None = None) -> bool:
    """Whether a run recorded as running still is. On this host, by its
    process (``process_alive``: gone, a zombie, or its id taken since is dead;
    where that is only half known — no /proc — alive unless not seen for
    ``STALE_REUSED``, as a long write can hold up its heartbeat, not for a
    day). Elsewhere (PostgreSQL shared between hosts, another container), and
    where the process cannot be looked at, by its heartbeat: not seen for
    ``STALE_AFTER`` is dead. A run recorded before runs recorded this (0012)
    counts by its start."""
    last = seen or started
    age = (at or now()) - _aware(last) if last is not None else timedelta(0)
    if pid is not None and host == this_host():
        alive = process_alive(pid, started)
        if alive is not None:
            return alive and age <= STALE_REUSED
    return age <= STALE_AFTER


def _draw_links(store: Store, writer: Writer | None, file_id: int,
                marks: tuple[int, int]) -> None:
    """Draw the edges of waiting links whose target this run (or a run that did
    not finish) wrote: from this run's marks (``link_marks`` when it began to
    write) and those of every other run still recorded as running — killed
    hard, or running now. Where there is such a run, the posts it changed are
    not known here (one may have got its author): every waiting link is looked
    at then. A run that wrote nothing (``writer`` None: rejects only) draws
    only for such runs — before it supersedes a dead one of its file."""
    others = _unfinished_marks(store, besides=file_id)
    if writer is None and not others:
        return
    since = (min([marks[0], *(m[0] for _, m, _ in others)]),
             min([marks[1], *(m[1] for _, m, _ in others)]))
    drawn = link_pending(store, since=since,
                         updated=None if others or writer is None else writer.updated_all)
    if drawn and writer is not None:
        writer.counts.add("links", "drawn", drawn)
    dead = [i for i, _, alive in others if not alive]
    if dead:  # drawn for them now: later runs need not look at every link again
        f = S.ingest_files
        with store.begin() as c:
            c.execute(update(f).where(f.c.id.in_(dead), f.c.status == "running")
                      .values(status="killed"))


def _unfinished_marks(store: Store, besides: int) -> list[tuple[int, tuple[int, int], bool]]:
    """``(id, link_marks, alive)`` of the runs other than ``besides`` recorded
    as running: killed before they finished (a crash, a kill: ``alive`` is
    False where that can be told, see ``run_alive``), or running now."""
    f = S.ingest_files
    out = []
    with store.connect() as c:
        for r in c.execute(select(f.c.id, f.c.link_marks, *_LIVENESS).where(
                f.c.status == "running", f.c.id != besides, f.c.link_marks.is_not(None))):
            m = r.link_marks
            if isinstance(m, list) and len(m) == 2:
                out.append((int(r.id), (int(m[0]), int(m[1])), _row_alive(r)))
    return out


def _recorded(path: Path) -> str:
    """How ``ingest_files`` names an input: a file by its absolute path, standard
    input as ``-``, an archive member as ``/abs/archive.zip!/member``."""
    s = current_stream() if is_stream(path) else None
    return path_text(s.origin if s is not None else path.resolve())


def unfinished_files(store: Store) -> list[str]:
    """Files whose last ingest did not finish (killed or interrupted): re-run
    them to complete. A run still going in another process is not listed;
    standard input cannot be run again: not listed."""
    f = S.ingest_files
    last: dict[str, bool] = {}
    with store.connect() as c:
        for r in c.execute(select(f.c.path, f.c.status, *_LIVENESS).order_by(f.c.id)):
            last[r.path] = r.status in ("interrupted", "failed", "killed") or (
                r.status == "running" and not _row_alive(r))
    return sorted(p for p, unfinished in last.items() if unfinished and p != "-")


RUN_STATUSES = ("running", "done", "interrupted", "failed", "killed", "superseded")


def ingest_runs(store: Store, *, limit: int | None = 50, status: str | None = None,
                source: str | None = None) -> list[dict[str, Any]]:
    """The ingest runs recorded (``ingest_files``), newest first: what was read
    when, from where, into which source, and what it gave — the provenance of
    every count drawn from the store. Each is ``{"id", "source", "path",
    "format", "size", "started_at", "finished_at", "seconds", "status", "state",
    "counts", "pid", "host"}``; ``status`` is as recorded, ``state`` the same
    except ``"dead"`` for a run recorded as running whose process is gone (the
    next ingest records it ``killed`` and draws its waiting links); a finished
    run's ``counts`` hold its warnings, where it had any, as ``"warnings"``.
    ``status`` (one of ``RUN_STATUSES``, or ``"dead"``) and ``source`` filter;
    ``limit`` None lists all."""
    if status is not None and status not in (*RUN_STATUSES, "dead"):
        raise ValueError(f"status must be one of {', '.join((*RUN_STATUSES, 'dead'))}, "
                         f"not {status!r}")
    f, s = S.ingest_files, S.sources
    q = (select(f.c.id, s.c.name, f.c.path, f.c.fmt, f.c.size, f.c.finished_at, f.c.status,
                f.c.counts, *_LIVENESS)
         .join(s, s.c.id == f.c.source_id).order_by(f.c.id.desc()))
    if limit is not None and status not in ("running", "dead"):  # else: filtered below
        q = q.limit(limit)
    if status is not None:
        q = q.where(f.c.status == ("running" if status == "dead" else status))
    if source is not None:
        q = q.where(s.c.name == source_name(source))
    out: list[dict[str, Any]] = []
    with store.connect() as c:
        for r in c.execute(q):
            state = r.status
            if state == "running" and not _row_alive(r):
                state = "dead"
            if status is not None and state != status:
                continue
            started, finished = r.started_at, r.finished_at
            out.append({
                "id": r.id, "source": r.name, "path": r.path, "format": r.fmt, "size": r.size,
                "started_at": _aware(started).isoformat() if started else None,
                "finished_at": _aware(finished).isoformat() if finished else None,
                "seconds": round((_aware(finished) - _aware(started)).total_seconds(), 3)
                if started and finished else None,
                "status": r.status, "state": state,
                "counts": r.counts if isinstance(r.counts, dict) else None,
                "pid": r.pid, "host": r.host})
            if limit is not None and len(out) >= limit:
                break
    return out
