"""Where records are parsed and prepared: in this process, or in a second one.

An ingest is two halves (``rasd.ingest.writer``): parsing plus ``Prep``, which
need no database, and ``Writer.apply``, which writes. ``produce`` runs the
first half and yields ``Chunk``s in file order; ``produce_in_child`` runs the
same generator in a child process and hands its chunks over a pipe, so that on
a machine with two or more cores one core parses while the other writes. The
writes, their order and the counts are the same either way: the child only
moves work that does not depend on the store, and batches arrive in file order.

The child is a fork of this process when that is safe (one thread), else a
fresh interpreter (``start_method``). It never touches the store's
connections; it stops when the pipe breaks because the parent ended or was
killed, and the parent kills it when it stops reading early. What crosses the
pipe is length-prefixed pickles made by the child from records it parsed
itself (plain tuples, dicts, strings and datetimes), never bytes taken from
the input as a pickle.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

from rasd.ingest.base import (
    CURRENT_RAW,
    Ahead,
    IngestError,
    Note,
    RawSink,
    Stream,
    current_stream,
    get_parser,
    is_stream,
)
from rasd.ingest.writer import Batch, Prep
from rasd.model import Reject
from rasd.store.db import now

# Below this size a second process costs more (start-up, ~0.3 s) than it saves.
PARALLEL_MIN_BYTES = 16 * 2**20
MAX_REJECTS_PER_CHUNK = 1000  # a file of nothing but bad lines still streams
# raw input bytes (uncompressed) a batch collects before it goes out at the next
# record, whatever its number of records: lines that give no record (stream
# errors, service messages) made a batch, held in memory, of any size. Where no
# record comes, at the next raw record (``Ahead``: a file's parser gives one
# once its sink holds this much, RawSink.ahead_at; standard input's reading
# thread, every LIVE_RAW_BYTES)
RAW_BATCH_BYTES = 32 * 2**20


class Chunk(NamedTuple):
    batch: Batch | None  # None when only rejects or progress are reported
    rejects: list[dict[str, Any]]  # quarantine entries, in file order
    pos: int  # bytes of the input read so far
    # the batch went out by its raw bytes (at ``Ahead``, or a quiet pipe's past
    # RAW_BATCH_BYTES), input still to come: it may hold raw bytes only (lines
    # that give no record) before the first record, and is kept all the same
    # (``ingest_path``)
    by_size: bool = False
    notes: tuple[str, ...] = ()  # what the file says once (``Note``), for the report


def kept(batch: Batch | None, by_size: bool, started: bool) -> bool:
    """Whether ``ingest_path`` writes ``batch`` (and starts the run there): one
    of records; or of raw bytes alone (lines that give no record) once the run
    has started, or where it went out by size (``Chunk.by_size``: records may
    follow, and its bytes, no longer held until they do, would be lost). Raw
    bytes alone at the end of a file that gave no record are not kept."""
    return batch is not None and bool(len(batch) or (batch.raw and (started or by_size)))


def reject_entry(rec: Reject, fmt: str) -> dict[str, Any]:
    return {"time": now().isoformat(), "file": rec.source_file, "line": rec.line,
            "path": rec.path, "field": rec.field, "reason": rec.reason,
            "excerpt": rec.excerpt, "format": fmt}


def _pos() -> int:
    f = CURRENT_RAW.get()
    try:
        return f.tell() if f is not None and not f.closed else 0
    except (OSError, ValueError):
        return 0


def produce(path: str | Path, fmt: str, options: dict[str, Any], platform: str | None,
            batch_size: int) -> Iterator[Chunk]:
    """Parse ``path`` and yield prepared batches (and rejects) in file order."""
    from rasd.ingest.runner import relaxed_gc

    parser = get_parser(fmt, **options)
    path = Path(path)
    stream = current_stream() if is_stream(path) else None
    records: Iterator[Any]
    pos: Callable[[], int]
    if stream is not None and stream.fd is not None:
        sink = RawSink()  # (the reading thread's own sink gives Ahead: _HandingSink)
        records, pos = _live_records(parser, path, stream, sink), lambda: stream.consumed
    else:
        # a run of lines that give no record was held in the sink until the next
        # record, whatever its size (a 40 MB stretch of stream errors, 40 MB in
        # memory): the parser gives Ahead once the sink holds a batch's bytes
        sink = RawSink(ahead_at=RAW_BATCH_BYTES)
        records, pos = parser.parse(path, sink), _pos
    prep = Prep(batch_size, ordered=True)
    rejects: list[dict[str, Any]] = []
    # a full batch goes out at the next record, or at the end: its raw records
    # are written with it only where none of their records is still to come
    # (Prep.take: a run killed after the batch took such records for applied).
    # Full: of records, or of raw bytes (RAW_BATCH_BYTES: lines that give no
    # record are bytes of the batch, and were held in memory whatever their size)
    full = False
    # a batch the runner keeps has gone out (``kept``: ``ingest_path`` starts the
    # run there); before it, a batch of raw bytes alone would be dropped
    started = False
    with relaxed_gc(), contextlib.closing(records):
        for rec in records:
            if rec is QUIET:  # a pipe gone quiet: what it gave goes out now
                prep.add_raw(sink.drain())
                # … but raw bytes alone (lines that give no record: twarc2's
                # stream errors, then quiet) before any batch kept stay here, to
                # go with the first record's batch as the same bytes do from a
                # file — or at RAW_BATCH_BYTES, as a batch of their own (by_size)
                alone = not len(prep) and not started
                big = alone and prep.raw_size >= RAW_BATCH_BYTES
                send = bool(len(prep) or prep.raw) and (not alone or big)
                if send or rejects:
                    batch = prep.take() if send else None
                    started = started or kept(batch, big, started)
                    yield Chunk(batch, rejects, pos(), big)
                    rejects = []
                    full = False
                continue
            if isinstance(rec, Ahead):  # raw bytes read ahead of any record (of rec's on)
                if prep.raw_size + sink.size >= RAW_BATCH_BYTES:
                    prep.add_raw(sink.drain())
                    batch = prep.take(hold=True, ahead=rec.sha256)
                    started = started or kept(batch, True, started)
                    yield Chunk(batch, rejects, pos(), True)
                    rejects = []
                    full = False
                continue
            if isinstance(rec, Note):  # (rare: once a file at most, so far)
                yield Chunk(None, rejects, pos(), notes=(rec.text,))
                rejects = []
                continue
            if isinstance(rec, Reject):
                rejects.append(reject_entry(rec, fmt))
                if len(rejects) >= MAX_REJECTS_PER_CHUNK:
                    yield Chunk(None, rejects, pos())
                    rejects = []
                continue
            if platform and hasattr(rec, "platform") and rec.platform != platform:
                rec.platform = platform
            if full:
                prep.add_raw(sink.drain())
                raw = getattr(rec, "raw", None)
                batch = prep.take(hold=True, ahead=raw.sha256 if raw is not None else None)
                started = started or kept(batch, False, started)
                yield Chunk(batch, rejects, pos())
                rejects = []
                full = False
            prep.add(rec)
            full = prep.full() or prep.raw_size + sink.size >= RAW_BATCH_BYTES
        prep.add_raw(sink.drain())
        last = prep.take() if len(prep) or prep.raw else None
        if last is not None or rejects:
            yield Chunk(last, rejects, pos())


LIVE_GROUP = 256  # records handed from the reading thread at a time
# … or fewer, once the raw bytes read since the last hand-over reach this: lines
# that give no record piled up in the reading thread until 256 records came
LIVE_RAW_BYTES = 2**20  # (up to 64 hand-overs wait in the queue)
QUIET = object()  # stands, among records, for "the pipe has gone quiet"


class _HandingSink(RawSink):
    """The reading thread's sink: calls ``over`` with the raw record just put
    once the bytes pending reach ``LIVE_RAW_BYTES``. A parser puts a raw record
    before its records and after those of the one before (``Prep.ordered``):
    the others pending are whole."""

    def __init__(self, over: Callable[[str], None]):
        super().__init__()
        self.over = over

    def put(self, data: bytes, fmt: str) -> str:
        h = super().put(data, fmt)
        if self.size >= LIVE_RAW_BYTES:
            self.over(h)
        return h


class _Stopped(Exception):
    """The consumer of a live stream stopped reading."""


def _live_records(parser: Any, path: Path, stream: Stream, sink: RawSink) -> Iterator[Any]:
    """``parser.parse`` for a pipe that may go quiet for minutes (``twarc2
    stream``): the parser runs in a thread, and ``QUIET`` comes among the
    records whenever the pipe has been quiet for ``IDLE_SECONDS``, so that
    ``produce`` sends what was read so far as a batch of its own — in the store
    (and visible to other commands) without waiting for a full batch (raw bytes
    alone before the first record wait for it, as a file's do). The same
    records in the same order as a file gives; their raw bytes reach ``sink``
    before they do."""
    hand: queue.Queue[tuple[str, Any, Any]] = queue.Queue(maxsize=64)  # bounded memory
    # the reading thread's; handed over with the records, or alone by size
    own = _HandingSink(lambda h: pass_on("ahead", h))
    group: list[Any] = []
    stopped = threading.Event()  # the consumer has gone: the reader stops too

    def put(item: tuple[str, Any, Any]) -> None:
        while True:
            if stopped.is_set():
                raise _Stopped
            try:
                hand.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def pass_on(kind: str = "records", ahead: str | None = None) -> None:
        nonlocal group
        if group or own.pending:
            put(("records", group, own.drain()))
            group = []
        if kind in ("quiet", "ahead"):
            put((kind, ahead, None))

    def work() -> None:
        try:
            stream.on_idle = lambda: pass_on("quiet")
            for rec in parser.parse(path, own):
                group.append(rec)
                if len(group) >= LIVE_GROUP:
                    pass_on()
            pass_on()
            put(("end", None, None))
        except _Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - raised again by the consumer
            with contextlib.suppress(_Stopped):
                put(("error", e, None))
        finally:
            stream.on_idle = None

    threading.Thread(target=work, name="rasd-stream-reader", daemon=True).start()
    try:
        while True:
            kind, recs, raws = hand.get()
            if kind == "error":
                raise recs
            if kind == "end":
                return
            if kind == "quiet":
                yield QUIET
                continue
            if kind == "ahead":
                yield Ahead(recs)
                continue
            sink.extend(raws)  # before the records: a batch never lacks its raw bytes
            yield from recs
    finally:
        stopped.set()


_LEN = struct.Struct("<Q")


def _send(out: IO[bytes], msg: tuple[str, Any]) -> None:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LEN.pack(len(data)))
    out.write(data)


def _serve(out: IO[bytes], args: dict[str, Any]) -> int:
    """The parsing process's work: every chunk to ``out``, then "done" (or
    the error that stopped parsing). Returns the exit status."""
    try:
        for chunk in produce(args["path"], args["fmt"], args["options"], args["platform"],
                             args["batch_size"]):
            _send(out, ("chunk", chunk))
        _send(out, ("done", None))
        out.flush()
    except (BrokenPipeError, ConnectionResetError):
        return 1  # the parent is gone: nothing to report to
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        try:
            msg: tuple[str, Any] = ("error", e)
            pickle.dumps(msg)
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            msg = ("error", IngestError(f"{type(e).__name__}: {e}"))
        try:
            _send(out, msg)
            out.flush()
        except OSError:
            return 1
    return 0


def _child_main(argv: list[str]) -> int:
    """Entry point of a spawned parsing process (``python -m
    rasd.ingest._parse_child JSON``): frames go to stdout."""
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames goes to the pipe
    return _serve(out, json.loads(argv[0]))


def _read_exact(f: IO[bytes], n: int) -> bytes:
    buf = f.read(n)
    if buf is None or len(buf) < n:
        raise EOFError
    return buf


class _Child:
    """A running parsing process: its output pipe, and how to wait for or
    stop it, whichever way it was started."""

    def __init__(self, args: dict[str, Any], how: str):
        self.how = how
        if how == "fork":
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: never returns into the caller's code
                code = 1
                try:
                    # what the parent left for the collector stays uncollected
                    # here: no finalizer of a parent's object (a database
                    # connection, say) may run in the child
                    gc.freeze()
                    os.close(r)
                    with os.fdopen(w, "wb", buffering=1 << 20) as out:
                        code = _serve(out, args)
                finally:
                    os._exit(code)
            os.close(w)
            self.pid = pid
            self.stdout: IO[bytes] = os.fdopen(r, "rb", buffering=1 << 20)
            self._code: int | None = None
            return
        import rasd

        env = dict(os.environ)
        pkg_root = str(Path(rasd.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(x for x in (pkg_root, env.get("PYTHONPATH")) if x)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rasd.ingest._parse_child", json.dumps(args)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env, bufsize=1 << 20)
        assert self.proc.stdout is not None
        self.pid = self.proc.pid
        self.stdout = self.proc.stdout

    def wait(self, timeout: float | None = None) -> int:
        if self.how != "fork":
            return self.proc.wait(timeout)
        if self._code is None:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                pid, status = os.waitpid(self.pid, os.WNOHANG if deadline else 0)
                if pid:
                    self._code = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(["rasd-parse"], timeout or 0)
                time.sleep(0.01)
        return self._code

    def kill(self) -> None:
        if self.how != "fork":
            self.proc.kill()
        elif self._code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def start_method() -> str:
    """"fork" where that is safe (POSIX, and this process runs one thread: a
    fork copies only the calling thread, so another thread's locks would stay
    held in the child), else "spawn": a fresh ``python -m`` process, which
    costs ~0.3 s of start-up (imports) but is safe anywhere.
    ``RASD_INGEST_START`` (fork/spawn) overrides."""
    env = os.environ.get("RASD_INGEST_START")
    if env in ("fork", "spawn"):
        return env if env == "spawn" or hasattr(os, "fork") else "spawn"
    return "fork" if hasattr(os, "fork") and threading.active_count() == 1 else "spawn"


def produce_in_child(path: str | Path, fmt: str, options: dict[str, Any],
                     platform: str | None, batch_size: int) -> Iterator[Chunk]:
    """``produce`` in a second process; the same chunks, in the same order.

    Not ``multiprocessing``: nothing of the caller's main module is re-run in
    the child, so this works from any script, notebook or ``python -``. How
    the child starts: ``start_method()``.
    """
    args = {"path": str(path), "fmt": fmt, "options": options, "platform": platform,
            "batch_size": batch_size}
    child = _Child(args, start_method())
    try:
        while True:
            try:
                (n,) = _LEN.unpack(_read_exact(child.stdout, _LEN.size))
                kind, payload = pickle.loads(_read_exact(child.stdout, n))  # our child's frames
            except EOFError:
                code = child.wait()
                raise IngestError(f"{path}: the parsing process ended unexpectedly "
                                  f"(exit code {code})") from None
            if kind == "chunk":
                yield payload
            elif kind == "done":
                return
            else:
                raise payload
    finally:
        child.stdout.close()  # a child still writing gets EPIPE and exits
        try:
            child.wait(timeout=2)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def default_jobs(size: int) -> int:
    """2 (parse in a second process) for big inputs on a machine with two or
    more cores, else 1. ``RASD_INGEST_JOBS`` overrides."""
    env = os.environ.get("RASD_INGEST_JOBS")
    if env:
        try:
            return max(1, min(2, int(env)))
        except ValueError:
            raise IngestError(f"RASD_INGEST_JOBS must be 1 or 2, not {env!r}") from None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return 2 if cores >= 2 and size >= PARALLEL_MIN_BYTES else 1
