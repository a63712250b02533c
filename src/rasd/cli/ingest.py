"""``rasd ingest``: read exports into the store."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import typer

from rasd.cli.common import (
    INT_MAX,
    echo,
    echo_json,
    error_line,
    fail,
    get_store,
    markup_escaped,
    progress_enabled,
    shown_db,
    store_exists,
    store_hint,
    warn,
)
from rasd.model import QUARANTINE_LIMIT
from rasd.store.db import is_store_error
from rasd.terminal import one_line

FORMATS_HELP = ("auto, x, telegram, telegram-html, telethon or csv (auto: decided from the "
                "name and first bytes)")


SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".tsv"}  # also inside ZIP and tar archives
HTML_PAGE = re.compile(r"^messages(\d*)\.html$")


def _order(f: Path) -> tuple:
    """Sorted order, except that a Telegram HTML export's pages go by number
    (messages.html, messages2.html, … messages10.html)."""
    m = HTML_PAGE.match(f.name)
    return (f.parent, 1, int(m.group(1) or 1), "") if m else (f.parent, 0, 0, f.name)


def _ingestible(f: Path) -> bool:
    from rasd.ingest.base import COMPRESSED

    sfx = f.suffix.lower()
    return bool(sfx in SUFFIXES or HTML_PAGE.match(f.name) or (
        sfx in COMPRESSED and f.with_suffix("").suffix.lower() in SUFFIXES))


def expand_paths(paths: list[Path], skipped: list[str] | None = None) -> list[Path]:
    """Files stay; a Telegram export folder (with result.json) stays; any other
    folder is replaced by the ingestible files under it (with a Telegram HTML
    export's messages*.html pages in page order); a ZIP or tar archive (given,
    or in a folder) by its ingestible members, named ``archive.zip!/member``
    (``rasd.ingest.archive``). What is passed over (an unreadable archive found
    in a folder, an archive inside an archive, a damaged archive's end) is
    warned about and added to ``skipped``: ``--strict`` then fails."""
    skipped = [] if skipped is None else skipped
    from rasd.ingest.archive import archive_kind, is_archive

    out: list[Path] = []
    for p in paths:
        if p != STDIN and p.is_dir() and not (p / "result.json").is_file():
            found = []
            for f in p.rglob("*"):
                if f.name.startswith(".") or not (_ingestible(f) or archive_kind(f)):
                    continue
                if f.is_file():
                    found.append(f)
                elif f.is_symlink() and not f.exists():  # said, not passed over
                    _skip(skipped, f"{f}: a symbolic link to nothing (its target is gone)")
            for f in sorted(found, key=_order):
                if is_archive(f):
                    out.extend(_members(f, skipped))
                else:
                    out.append(f.parent if f.name == "result.json" else f)
        elif p != STDIN and is_archive(p):
            out.extend(_members(p, skipped, named=True))
        else:
            out.append(p)
            if p != STDIN and p.is_dir():  # a Telegram export: its result.json is read
                others = _beside_export(p)
                if others:
                    _skip(skipped, f"{p}: a Telegram export folder (it has result.json): "
                          f"only result.json is read, not the {len(others):,} other data "
                          f"file(s) in it (e.g. {others[0].relative_to(p)}); name them, or "
                          "move the export into a folder of its own")
    return list(dict.fromkeys(out))


def _skip(skipped: list[str], what: str) -> None:
    """Warn that ``what`` is passed over, and note it (``--strict`` then fails)."""
    warn(f"skipped: {what}")
    skipped.append(what)


# Folders of a Telegram Desktop export: its media (a document posted in a chat may
# be a .json or .csv file: not data to ingest), and the HTML export's own files.
EXPORT_DIRS = {"photos", "files", "video_files", "voice_messages", "round_video_messages",
               "stickers", "animations", "contacts", "chats", "css", "js", "images",
               "profile_pictures", "stories", "lists"}


def _beside_export(folder: Path) -> list[Path]:
    """Ingestible files in a Telegram export folder besides its result.json and
    its media folders (a crawl copied in beside the export was passed over
    without a word; its ZIP was read whole)."""
    from rasd.ingest.archive import archive_kind

    found = []
    for f in folder.rglob("*"):
        rel = f.relative_to(folder)
        if rel.parts[0] in EXPORT_DIRS or f.name == "result.json" or f.name.startswith("."):
            continue
        if f.is_file() and (_ingestible(f) or archive_kind(f)):
            found.append(f)
            if len(found) >= 100:
                break
    return sorted(found)


def _members(archive: Path, skipped: list[str], named: bool = False) -> list[Path]:
    """An archive's ingestible members; an unreadable archive is an error when
    the user named it, a warning when it was found in a folder."""
    from rasd.ingest import IngestError
    from rasd.ingest.archive import damage, member_path, members
    from rasd.ingest.base import TAR_SUFFIXES

    try:
        names = members(archive, _ingestible)
        inner = members(archive, lambda p: p.suffix.lower() in (".zip", ".7z", ".rar")
                        or p.name.lower().endswith(TAR_SUFFIXES), bounded=False)  # not read
    except IngestError as e:
        if named:
            fail(str(e))
        _skip(skipped, str(e))
        return []
    hurt = damage(archive)
    if hurt:  # a cut .tar.gz: the members before the damage are read
        _skip(skipped, hurt)
    for n in inner[:5]:  # not read: said, not passed over in silence
        _skip(skipped, f"{member_path(archive, n)}: an archive inside an archive is not "
              "read; extract it and ingest the result")
    if len(inner) > 5:
        _skip(skipped, f"{len(inner) - 5} more archives inside {archive}")
    return [member_path(archive, n) for n in sorted(
        names, key=lambda n: _order(Path(n.replace("\\", "/"))))]  # "\\": Windows tools


STDIN = Path("-")


def _checkable(p: Path) -> bool:
    """Whether ``p`` can be checked before the ingest starts (``check_format``)
    without losing what the check reads: a file, a folder, or an archive member
    (opened again to be read); not a pipe or FIFO, read once."""
    from rasd.ingest.archive import split_member

    return split_member(p) is not None or p.is_file() or p.is_dir()


def _check_one(p: Path, fmt: str, platform: str | None, mapping: str | None,
               chat_id: str | None) -> None:
    """``check_format`` of a file, folder or archive member (``archive.zip!/m``:
    opened for the check, and again to be read). Why members too: under a
    ``--format`` a member that format does not read was read record by record
    into the quarantine with exit status 0, where the same file in a folder is
    refused, naming it, before anything is written. A member that cannot be
    opened at all is not refused here: the ingest skips it with a warning
    (``--strict`` exits 1), as without ``--format``."""
    from rasd.ingest import IngestError
    from rasd.ingest.archive import member_stream, split_member
    from rasd.ingest.runner import check_format

    member = split_member(p)
    if member is None:
        check_format(p, fmt, platform=platform, mapping=mapping, chat_id=chat_id)
        return
    try:
        stream = member_stream(*member)
    except IngestError:
        return  # said when it is read
    with stream:
        check_format(stream, fmt, platform=platform, mapping=mapping, chat_id=chat_id)


def pipe_stream(p: Path) -> Any:
    """A named pipe (a FIFO, ``<(zcat a.gz)``'s /dev/fd/63, a device) as a
    ``Stream``, as standard input is: read once as it arrives (opening it
    twice, to tell its format and then to read it, lost what the first
    reading took, or waited for ever for a writer gone)."""
    from rasd.ingest.base import Stream

    fd = os.open(p, os.O_RDONLY)
    try:
        return Stream(fd, name=str(p), path=p, source_name=p.name)
    except BaseException:
        os.close(fd)
        raise


def stdin_stream() -> Any:
    """Standard input as a ``Stream``: read as it arrives, never spooled."""
    from rasd.ingest.base import Stream

    if sys.stdin is None or sys.stdin.isatty():
        fail("'-' reads standard input, but it is a terminal: pipe data in, "
             "e.g. twarc2 search 'query' | rasd ingest -")
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a non-file (tests)
        return Stream(sys.stdin.buffer)
    import stat

    st = os.fstat(fd)  # a file redirected in (< big.jsonl) has a size: progress, --jobs
    return Stream(fd, size=st.st_size if stat.S_ISREG(st.st_mode) else 0)


def _interrupted(store: Any, p: Any) -> None:
    """Say what an interrupted run committed (it is recorded as interrupted,
    with those counts: rasd runs) and exit 130, as a shell does for Ctrl-C; it
    printed only "Aborted!", and a stream's run gave no summary at all."""
    from rasd.ingest.runner import ingest_runs

    what = "standard input" if p == STDIN else one_line(str(p))
    got = None
    if store is not None:
        try:
            runs = ingest_runs(store, limit=1)
            got = runs[0] if runs and runs[0]["status"] == "interrupted" else None
        except Exception as e:  # the store busy with the interrupted transaction
            if not is_store_error(e):
                raise
            got = None
    if got is not None and got.get("counts"):
        c = got["counts"]
        warn(f"interrupted: {what}: committed before the interrupt: {c['new']:,} new, "
             f"{c['updated']:,} updated, {c['unchanged']:,} unchanged, "
             f"{c['rejected']:,} rejected (run #{got['id']}, recorded as interrupted; "
             "ingest a file again to complete it)")
    else:
        warn(f"interrupted: {what} (rasd runs shows what was committed)")
    raise typer.Exit(130)


def _kept(batches: int, files: int) -> str:
    """What a store that could not be written kept of the command, as it
    happened: it said "nothing was ingested" also where it had become read-only
    (a file's permissions changed, a server turned standby) after files, or
    batches of this one, had gone in."""
    if batches:
        return (f"it became read-only during the ingest: the {batches:,} batch(es) of this "
                "file committed before stay; the run could not be recorded as failed; "
                "ingest the file again once the store can be written, to complete it")
    if files:
        return (f"nothing of this file was ingested; the {files:,} file(s) before it "
                "were, before the store became read-only")
    return "nothing was ingested"


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_cmd(
        paths: list[Path] = typer.Argument(..., metavar="PATH...",
                                           help="Files (.jsonl, .json, .csv, .html; .gz .bz2 .xz .zst), "
                                           "ZIP or tar(.gz) archives of them, Telegram export "
                                           "folders, or - for standard input."),
        fmt: str = typer.Option("auto", "--format", "-f", help=FORMATS_HELP),
        platform: str = typer.Option(None, "--platform", "-p",
                                     help="Override the platform recorded (e.g. for a CSV)."),
        source: str = typer.Option(None, "--source", "-s",
                                   help="Name this collection (default: the file name)."),
        mapping: str = typer.Option(None, "--mapping", "-m",
                                    help="CSV column mapping: a built-in name "
                                    "(isis-kaggle, twarc-csv, far-right-telegram, qut-cnt) or a JSON file."),
        strict: bool = typer.Option(False, "--strict",
                                    help="Exit 1 if any record was rejected."),
        json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
        batch: int = typer.Option(5000, "--batch", min=1, max=100_000,
                                  help="Records per transaction."),
        chat_id: str = typer.Option(None, "--chat-id",
                                    help="Telegram HTML exports only: the chat's id "
                                    "(channel123), which HTML does not carry; without it "
                                    "the chat is keyed by its name."),
        dry_run: bool = typer.Option(False, "--dry-run",
                                     help="Read and check, write nothing (no store is "
                                     "opened): what each file holds and every reject. "
                                     "For trying a mapping or vetting a file."),
        jobs: int = typer.Option(None, "--jobs", "-j", min=1, max=2,
                                 help="1: parse and write in this process. 2: parse in a "
                                 "second process while this one writes (same result, "
                                 "~1.3x faster on 2 cores). Default: 2 for files of "
                                 "16 MB or more on 2+ cores, else 1 (env RASD_INGEST_JOBS)."),
        quarantine_limit: int = typer.Option(
            QUARANTINE_LIMIT, "--quarantine-limit", min=0, max=INT_MAX,
            help="Rejects of a file written one by one to the quarantine; the rest are "
                 "counted by reason in one entry (a hostile file cannot fill the disk). "
                 "0: every one."),
    ) -> None:
        """Ingest X/Twitter JSON, Telegram exports (JSON, HTML, Telethon) and CSV files.

        Streams files of any size in bounded memory. Bad records are rejected
        one by one (file, line or JSON path, field and reason) into a quarantine
        file next to the store; every valid record is still stored. Re-ingesting
        a file changes nothing; a changed profile or edited message updates the
        current view and keeps the old version. Each run is recorded (rasd runs);
        one cut short (Ctrl-C, a crash) is completed by running it again.

        Examples:

          rasd ingest tweets.jsonl                   # X API v2 / twarc2 / v1.1

          rasd ingest ~/Downloads/ChatExport_2024-03-01/   # Telegram export folder

          rasd ingest ChatExport_html/      # HTML export (messages*.html)

          rasd ingest scraped.jsonl         # Telethon Message.to_dict() lines

          rasd ingest zeeschuimer.ndjson    # X web captures (Zeeschuimer, 4CAT)

          rasd ingest collected/            # every ingestible file under it

          rasd ingest tweets.csv --mapping isis-kaggle --source kaggle-isis

          twarc2 search 'query' | rasd ingest - --source my-search

          twarc2 stream | rasd ingest - --source live   # stored as it arrives

          rasd --db postgresql://me@db/rasd ingest a.jsonl b.jsonl --strict

          rasd ingest big-crawl.jsonl.gz --jobs 2     # parse and write on two cores

          rasd ingest archive.zip           # the files inside, not extracted

          rasd ingest dump.tar.gz           # also .tar, .tgz, .tar.bz2, .tar.xz

          rasd ingest a.csv -m my.json --dry-run   # check only
        """
        if paths.count(STDIN) > 1:
            fail("'-' (standard input) can be named once")
        ingest_files(paths, fmt, platform, source, mapping, strict, json_, batch, jobs,
                     chat_id, dry_run, quarantine_limit or None)

    def ingest_files(paths: list[Path], fmt: str, platform: str | None,
                     source: str | None, mapping: str | None, strict: bool, json_: bool,
                     batch: int, jobs: int | None, chat_id: str | None,
                     dry_run: bool = False,
                     quarantine_limit: int | None = QUARANTINE_LIMIT) -> None:
        from rasd.ingest import IngestError, check_path, ingest_path
        from rasd.ingest.archive import member_stream, split_member
        from rasd.ingest.runner import check_format, unfinished_files

        for p in paths:
            if p != STDIN and not p.exists():
                fail(f"{p}: no such file or directory")
        if mapping is not None:  # a misspelt mapping is an error whatever the files
            from rasd.ingest.csvfmt import load_mapping  # (it was ignored unless a CSV came)

            try:
                load_mapping(mapping)
            except IngestError as e:
                fail(str(e))
        explicit = set(paths)
        skipped: list[str] = []
        paths = expand_paths(paths, skipped)
        if not paths:
            fail("no ingestible files found (.jsonl, .json, .csv, .tsv, optionally .gz/.bz2/"
                 ".xz/.zst, a Telegram export's result.json / messages*.html, or ZIP or "
                 "tar archives of these)")
        html = {p for p in paths if p.suffix.lower() in (".html", ".htm")}
        if chat_id is not None:
            from rasd.ingest.telegram_html import check_chat_id

            try:
                check_chat_id(chat_id)
            except IngestError as e:  # checked up front: files of a folder only warn
                fail(str(e))
            if not html:
                fail("--chat-id is for Telegram HTML exports (messages*.html); other "
                     "formats carry their chats' ids")
        # a new store is created only once a file turns out readable: a file of no
        # known format leaves nothing behind, not even an empty store
        writing = not dry_run
        # (files and folders only: a pipe or FIFO, <(…), would lose what a check read)
        # a --format given is checked against every file, those found in a folder
        # or an archive too: there a mismatch was read record by record into
        # thousands of rejects, with exit status 0
        named = [p for p in paths if p != STDIN and (
            fmt != "auto" or (p in explicit and split_member(p) is None)) and _checkable(p)]
        checked = set(named) if writing and len(named) > 1 or fmt != "auto" else set()
        if checked:
            # each file named is checked before any is written: one that cannot be
            # read stopped the command after those before it were stored (and
            # --json printed nothing of them); and a --format given is checked
            # against each file's first record (check_format), a dry run's too
            for p in named:
                try:
                    _check_one(p, fmt, platform, mapping, chat_id if p in html else None)
                except IngestError as e:
                    fail(f"{e} (nothing was ingested: every file "
                         f"{'named' if fmt == 'auto' else 'to read'} is checked first)")
        store = get_store(create=True) if writing and store_exists() else None
        given = {str(x.resolve()) for x in paths if x != STDIN}
        pending = [] if store is None else [p for p in unfinished_files(store) if p not in given]
        if pending and not json_:
            warn(f"{len(pending)} earlier ingest(s) did not finish (e.g. {pending[0]}); "
                 "re-run them to complete (rasd runs lists them)")
        reports = []
        any_rejected = bool(skipped)  # --strict: not everything given was read
        for p in paths:
            bar = None
            prog = None
            member = split_member(p) if p != STDIN else None
            target: Any = p
            pipe = p != STDIN and member is None and p.exists() and not (
                p.is_file() or p.is_dir())  # a FIFO, <(zcat a.gz), a device: read once
            try:
                if p == STDIN:
                    target = stdin_stream()
                elif member is not None:
                    target = member_stream(*member)
                elif pipe:
                    target = pipe_stream(p)
            except IngestError as e:  # a member that cannot be read at all
                warn(f"skipped: {e}")
                any_rejected = True  # --strict: not everything given was read
                continue
            if progress_enabled() and not json_:
                from rich.progress import (
                    BarColumn,
                    DownloadColumn,
                    Progress,
                    TimeRemainingColumn,
                    TransferSpeedColumn,
                )

                # refreshed from the progress callback, not by a thread: ingest can
                # then fork its parsing process (rasd.ingest.pipeline.start_method)
                bar = Progress("[progress.description]{task.description}", BarColumn(),
                               DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                               transient=True, auto_refresh=False)
                bar.start()
                from rasd.ingest.runner import file_size

                size = target.size if target is not p else file_size(p)
                task = bar.add_task("standard input" if p == STDIN else
                                    markup_escaped(p.name[:40]), total=size or None)

                def prog(done: int, total: int, _bar=bar, _task=task) -> None:
                    _bar.update(_task, completed=done, total=total or None, refresh=True)
            try:
                if not writing:
                    rep = check_path(target, fmt=fmt, platform=platform, mapping=mapping,
                                     chat_id=chat_id if p in html else None, progress=prog)
                    if source:
                        rep.source = source
                else:
                    if store is None:  # (a pipe: only what tells its format)
                        if p not in checked:  # (checked already with the others)
                            check_format(target, fmt, platform=platform, mapping=mapping,
                                         chat_id=chat_id if p in html else None,
                                         first_record=p != STDIN and not pipe)
                        store = get_store(create=True)
                    rep = ingest_path(store, target, fmt=fmt,
                                      platform=platform, source=source, mapping=mapping,
                                      batch_size=batch, progress=prog, jobs=jobs,
                                      chat_id=chat_id if p in html else None,
                                      quarantine_limit=quarantine_limit)
            except IngestError as e:
                if bar is not None:
                    bar.stop()
                if p in explicit:
                    msg = str(e)
                    fail("standard input" + msg[1:] if p == STDIN and msg.startswith("-:")
                         else msg)
                warn(f"skipped: {e}")  # found inside a folder, not named by the user
                any_rejected = True  # --strict: not everything given was read
                continue
            except KeyboardInterrupt:  # Ctrl-C (how `twarc2 stream | rasd ingest -` ends)
                if bar is not None:
                    bar.stop()
                _interrupted(store, p)
            except Exception as e:
                if not is_store_error(e):
                    raise
                # a full disk, a lost connection, a server gone: said in one line
                hint = store_hint(e)
                # a read-only file, or a read-only PostgreSQL session (SQLSTATE 25006):
                # the run could not be recorded as failed. Said as it happened: the
                # store may have become read-only after files or batches went in
                read_only = getattr(getattr(e, "orig", None) or e, "sqlstate", None) == "25006"
                if hint and ("cannot be written" in hint or read_only):
                    fail(f"{one_line(str(p))}: writing to the store {shown_db()} failed: "
                         f"{error_line(e)} ({hint}: "
                         f"{_kept(getattr(e, 'rasd_committed', 0), len(reports))})", code=1)
                fail(f"{one_line(str(p))}: writing to the store {shown_db()} failed: "
                     f"{error_line(e)}{f' ({hint})' if hint else ''} (the run is recorded "
                     "as failed and keeps what it committed: ingest the file again to "
                     "complete it)", code=1)
            finally:
                if bar is not None:
                    bar.stop()
                if pipe and target is not p:  # the descriptor pipe_stream opened
                    os.close(target.fd)
                if member is not None and target is not p:  # its first reader, now
                    target.close()
            reports.append(rep)
            if rep.rejected:
                any_rejected = True
            if not json_ and not writing:
                c = rep.counts
                words = {"posts": "posts", "posts_referenced": "referenced posts",
                         "accounts": "account records", "edges": "edges",
                         "events": "events", "compliance": "compliance notices"}
                held = ", ".join(f"{v:,} {words.get(k, k)}" for k, v in
                                 c["records"].items()) or "no records"
                echo(f"{one_line(rep.path)}: {rep.fmt}: {held}; {c['rejected']} "
                     f"rejected (dry run, nothing written; "
                     f"{rep.seconds:.1f}s)")
                for r in rep.rejects[:20]:
                    where = f"line {r['line']}" if r["line"] else (r["path"] or "?")
                    # the field where the reason does not name it already
                    # ("field 'username': not a valid id" was "field username: field …")
                    named = r.get("field") and f"'{r['field']}'" not in (r["reason"] or "")
                    echo(one_line(f"    rejected {where}"
                                  + (f" field {r['field']}" if named else "")
                                  + f": {r['reason']}"), err=True)
                if rep.rejected > len(rep.rejects[:20]):
                    warn(f"{rep.rejected - 20} more rejected (ingest writes them all to the "
                         "quarantine file)")
            elif not json_:
                c = rep.counts
                done = c["new"] + c["updated"] + c["unchanged"] + c["rejected"]
                rate = f", {done / rep.seconds:,.0f} records/s" if rep.seconds > 0 else ""
                echo(f"{one_line(rep.path)}: {rep.fmt}: {c['new']} new, "
                     f"{c['updated']} updated, "
                     f"{c['unchanged']} unchanged, {c['rejected']} rejected "
                     f"({rep.seconds:.1f}s{rate})")
                for kind, cnt in c.get("by_kind", {}).items():
                    typer.echo(f"    {kind}: {_kind_counts(kind, cnt, c)}")
                for r in rep.rejects[:5]:
                    where = f"line {r['line']}" if r["line"] else (r["path"] or "?")
                    echo(one_line(f"    rejected {where}: {r['reason']}"), err=True)
                if rep.rejected:
                    warn(f"{rep.rejected} record(s) rejected; details in {rep.quarantine}")
            for note in rep.warnings:  # said once a file (with --json too: "warnings")
                warn(f"{rep.path}: {note}")
        if not json_ and writing and len(reports) > 1:
            tot = {k: sum(r.counts.get(k, 0) for r in reports)
                   for k in ("new", "updated", "unchanged", "rejected")}
            typer.echo(f"{len(reports)} files: {tot['new']} new, {tot['updated']} updated, "
                       f"{tot['unchanged']} unchanged, {tot['rejected']} rejected")
        if json_:
            echo_json([{**r.as_dict(), **({"rejects": r.rejects} if not writing else {})}
                       for r in reports])
        if strict and any_rejected:
            raise typer.Exit(1)


_OUTCOMES = ("new", "updated", "unchanged")


def _kind_counts(kind: str, cnt: dict[str, int], counts: dict[str, Any]) -> str:
    """One kind's counts as the per-kind line gives them: new, updated,
    unchanged first (as the file's line), then any other outcome (links drawn,
    waiting). Unchanged accounts say how many were the same profile read again
    in this run: a CSV repeats its channel's profile on every row, and "39944
    unchanged" for 449 accounts read as if the store had held them all."""
    parts = [f"{k} {cnt[k]}" for k in _OUTCOMES if k in cnt]
    parts += [f"{k} {v}" for k, v in sorted(cnt.items()) if k not in _OUTCOMES]
    text = ", ".join(parts)
    repeats = min(int(counts.get("repeated_profiles") or 0), cnt.get("unchanged", 0))
    if kind == "accounts" and repeats:
        text += f" ({repeats} of them repeats of a profile read earlier in this run)"
    return text
