"""Commands of the known-content stage: ``rasd hash``, ``rasd match``, ``rasd bank …``,
``rasd clusters …``, ``rasd media fetch``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from rasd.cli.common import (
    INT_MAX,
    ForcedInterrupt,
    echo,
    echo_json,
    echo_row,
    fail,
    get_store,
    interrupts_held,
    jsonl_line,
    markup_escaped,
    more_shown,
    progress_enabled,
    stage_progress,
    stdout_is_terminal,
    warn,
    when_text,
)
from rasd.paths import not_a_file

MAX_FILES = 1_000_000


def _expand(paths: list[Path], recursive: bool, verb: str = "hash") -> list[Path]:
    """The files named, folders expanded to every file below them with ``recursive``.
    A folder without it is an error (exit 2) before anything is done: hashing
    nothing and exiting 0 would read like a folder without files."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            if not recursive:
                fail(f"{p}: is a folder; pass -r/--recursive to {verb} every file in it "
                     "and its subfolders (or name the files)")
            out.extend(sorted(x for x in p.rglob("*") if x.is_file()))
        else:
            out.append(p)
        if len(out) > MAX_FILES:
            fail(f"more than {MAX_FILES} files; split the job")
    return out


def _progress(total: int, label: str):
    if not progress_enabled() or total < 2:
        return None
    from rich.progress import Progress

    bar = Progress(transient=True)
    bar.start()
    task = bar.add_task(markup_escaped(label), total=total)
    return bar, task


def _labels(values: list[str] | None) -> dict[str, Any]:
    from rasd.detect.media.banks import BankError, parse_labels

    out: dict[str, Any] = {}
    for v in values or []:
        try:
            out.update(parse_labels(v))
        except BankError as e:
            fail(f"--label {v!r}: {e}")
    return out


def _limits_checked() -> None:
    """Read the ``RASD_MEDIA_*`` limits and ``RASD_VPDQ_SECONDS_PER_HASH``
    before any file is read: a value they cannot take is an ``EnvError``,
    which the CLI says in one line naming it (status 2), not a reject of
    every file."""
    from rasd.detect.media.files import Limits
    from rasd.detect.media.signals.vpdq import seconds_per_hash_default

    Limits.from_env()
    seconds_per_hash_default()


class _TermSafeOut:
    """A text stream that writes to ``out`` with ``term_safe``: for a CSV shown
    on a terminal. ``escaped``: whether anything was."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.escaped = False

    def write(self, text: str) -> int:
        from rasd.terminal import term_safe

        shown = term_safe(text)
        self.escaped |= shown != text
        return self.out.write(shown)


def _hash_worker_init() -> None:
    """Runs in each worker of `rasd hash --workers`: Ctrl-C is the parent's to
    handle (it stops the pool), where each worker printed a traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


# the longest `rasd media fetch --timeout` (seconds): past what a socket takes
MAX_FETCH_TIMEOUT = 3600

# the most clusters `rasd clusters list` lists, whatever its -n
CLUSTERS_LISTED_MAX = 10_000


def register(app: typer.Typer) -> None:
    @app.command("hash")
    def hash_cmd(
        files: list[Path] = typer.Argument(..., help="Files, or folders with -r (a folder "
                                           "without -r is an error)."),
        signal_type: list[str] = typer.Option(None, "--type", "-t",
                                              help="Only these signal types (repeatable): "
                                                   "md5, sha256, pdq, vpdq, tlsh, minhash."),
        recursive: bool = typer.Option(False, "--recursive", "-r",
                                       help="Hash every file inside the folders named, "
                                            "subfolders included."),
        workers: int = typer.Option(1, "--workers", "-w", min=1, max=64,
                                    help="Processes to hash with (PDQ scales with cores)."),
    ) -> None:
        """Print one JSON line per file with every signal that applies to it:
        path, size, content_type (sniffed from the bytes), md5, sha256, pdq and
        pdq_quality (images), vpdq (videos: frame,quality,pdq,seconds per sampled
        frame), tlsh (documents), minhash (text). A file that cannot be hashed gets an
        "error" field; the others go on. Exit status 1 if any file failed; 2 (and
        nothing hashed) if a folder is named without -r. Interrupted (Ctrl-C), it
        says how many files' lines are written (status 130): a line being written
        is finished and counted first (a second Ctrl-C stops a write that waits
        on a full pipe).

        Examples:

          rasd hash poster.jpg clip.mp4

          rasd hash -r ./export/photos --type pdq --workers 4 > hashes.jsonl
        """
        from rasd.detect.media.hasher import hash_path
        from rasd.detect.media.signals import registry

        _limits_checked()
        reg = registry()
        for t in signal_type or []:
            if t not in reg:
                fail(f"--type {t!r}: unknown signal type; known: {', '.join(sorted(reg))}")
        paths = _expand(files, recursive)
        bad = done = 0
        bar = _progress(len(paths), "hash")
        pool = None
        try:
            if workers > 1 and len(paths) > 1:
                from functools import partial
                from multiprocessing import Pool

                pool = Pool(workers, initializer=_hash_worker_init)
                results = pool.imap(partial(hash_path, types=signal_type or None), paths,
                                    chunksize=8)
            else:
                results = (hash_path(p, signal_type or None) for p in paths)
            try:
                for fh in results:
                    if fh.errors:
                        bad += 1
                    line = jsonl_line(fh.record()) + "\n"
                    # a line is written whole and counted, or neither: a Ctrl-C
                    # meanwhile (a write blocked on a full pipe) waits for both
                    with interrupts_held():
                        sys.stdout.write(line)
                        sys.stdout.flush()
                        done += 1
                    if bar:
                        bar[0].advance(bar[1])
            finally:
                if bar:
                    bar[0].stop()
                if pool is not None:
                    pool.terminate()  # the workers ignore Ctrl-C: stopped here, at once
                    pool.join()
        except KeyboardInterrupt as e:  # Ctrl-C ended it without a word, status 130
            # results come in the order of the files (imap): the first `done`, each
            # written in full before it is counted (interrupts_held)
            part = (", and perhaps part of the next one's (a second Ctrl-C stopped its "
                    "write)" if isinstance(e, ForcedInterrupt) else "")
            warn(f"interrupted: the lines of the first {done} of {len(paths)} file(s) "
                 f"are written (`rasd hash` writes nothing else){part}; hash the others "
                 "again")
            raise typer.Exit(130) from None
        if bad:
            warn(f"{bad} of {len(paths)} file(s) had errors (see the 'error' fields)")
            raise typer.Exit(1)

    @app.command("match")
    def match_cmd(
        files: list[Path] = typer.Argument(None, help="Files to match, or folders with -r "
                                           "(a folder without -r is an error)."),
        recursive: bool = typer.Option(False, "--recursive", "-r",
                                       help="Match every file inside the folders named, "
                                            "subfolders included."),
        stored: bool = typer.Option(False, "--stored", help="Instead of files: re-match the "
                                    "stored signals of ingested media against the current "
                                    "banks (after an import) and update their detections."),
        json_: bool = typer.Option(False, "--json", help="JSON lines instead of text."),
    ) -> None:
        """Match files against the enabled hash banks and print every match with
        bank, labels and what was measured: the distance (md5/sha256 0, PDQ bits of
        256…), or for a video (vPDQ) the share of its frames that matched the bank
        video's (query_match, ≥ 80 % needed) and of the bank video's frames that
        matched (compared_match). Negative banks suppress matches (shown as
        "suppressed"); quarantined signals are shown but not reported. A file that
        cannot be hashed is reported on stderr (with --json: an "error" field) and
        the exit status is 1; its line says "not checked", or, hashed in part, which
        signal was not checked and why, as it says which signal the quality gate
        held back ("pdq not matched: quality 0 below 50"); a file that matched says
        it of its other signals in a line after its matches ("FILE: other signals:
        pdq not matched: …"; --json: "skipped" and "error"). Interrupted (Ctrl-C),
        it says how many files' results are written (status 130).

        Examples:

          rasd match suspect.jpg

          rasd match -r ./downloads --json

          rasd match --stored          # retroactive: re-check ingested media
        """
        from rasd.detect.media.banks import format_labels
        from rasd.detect.media.hasher import hash_path
        from rasd.detect.media.matcher import Matcher, quality_gate

        store = get_store()
        if stored:
            from rasd.detect.media.detector import rematch_stored

            try:
                res = rematch_stored(store)
            except KeyboardInterrupt:  # Ctrl-C ended it without a word, status 130
                # each chunk's detections are replaced in a transaction of its own
                # (store_detections); the banks are recorded as matched at the end
                warn("interrupted: the media re-matched before it have their new "
                     "detections stored; `rasd match --stored` again re-matches them all")
                raise typer.Exit(130) from None
            if json_:
                echo_json(res)
            else:
                echo(f"re-matched {res['media']} media: {res['detections']} detection(s), "
                     f"{res['suppressed']} suppressed, {res['quarantined']} quarantined")
            return
        if not files:
            fail("give files to match, or --stored")
        _limits_checked()
        matcher = Matcher(store)
        paths = _expand(files, recursive, "match")
        n_match = bad = done = 0

        def _match_one(p: Path) -> None:
            nonlocal n_match, bad
            fh = hash_path(p)
            if fh.errors:
                bad += 1
                warn(f"{p}: {fh.error_text()}")
            values, skipped = quality_gate(fh.signals)
            hits = matcher.decide(matcher.lookup_all(values))
            n_match += any(h.outcome == "reported" for h in hits)
            if json_:
                rec: dict[str, Any] = {"path": str(p), "matches": [h.as_dict() for h in hits]}
                if skipped:
                    rec["skipped"] = skipped
                if fh.errors:  # else a failed file reads like a clean one without matches
                    rec["error"] = fh.error_text()
                sys.stdout.write(jsonl_line(rec) + "\n")
                return
            # each signal that was not looked up, and why: below the quality gate,
            # or not hashed at all (a truncated JPEG's pdq: its "no match" said
            # nothing of it on standard output)
            why = "; ".join([f"{k} not matched: {v}" for k, v in skipped.items()]
                            + [f"{k} not checked: {v}" for k, v in fh.errors.items()
                               if k != "file"])
            if not hits:
                if fh.errors and not values:
                    # nothing was hashed (no such file, unreadable): not a clean file
                    # without matches ("missing.jpg: no match" read like one)
                    echo(f"{p}: not checked: {fh.error_text()}" + (f" ({why})" if why else ""))
                else:
                    echo(f"{p}: no match" + (f" ({why})" if why else ""))
            for h in hits:
                labels = format_labels(h.labels) or "-"
                echo(f"{p}: {h.outcome.upper()} {h.signal_type} bank={h.bank} "
                     f"{h.measured()} labels={labels}")
            if hits and why:
                # a match by one signal said nothing of the others the gate held
                # back (a flat image's pdq), as "no match (…)" does: a line after
                echo(f"{p}: other signals: {why}")
        try:
            for p in paths:
                _match_one(p)
                done += 1
        except KeyboardInterrupt:  # Ctrl-C ended it without a word, status 130
            # matching files only reads the store: nothing of it is written there
            warn(f"interrupted: the results of the first {done} of {len(paths)} file(s) "
                 "are written in full (matching files stores nothing); match the others "
                 "again")
            raise typer.Exit(130) from None
        if not json_:
            echo(f"{n_match} of {len(paths)} file(s) matched"
                 + (f"; {bad} had errors" if bad else ""))
        if bad:
            raise typer.Exit(1)

    bank = typer.Typer(help="Hash banks: named, labelled lists of known signals.\n\n"
                       "Examples:\n\n"
                       "  rasd bank create tcap --label entity=isis --label policy=incitement\n\n"
                       "  rasd bank import tcap hashes.csv\n\n"
                       "  rasd bank create fp --negative\n\n"
                       "  rasd bank export tcap > tcap.csv",
                       no_args_is_help=True)
    app.add_typer(bank, name="bank")

    def _bank_errors(fn):
        from rasd.detect.media.banks import BankError

        try:
            return fn()
        except BankError as e:
            fail(str(e))

    @bank.command("create")
    def bank_create(
        name: str = typer.Argument(..., help="Bank name (letters, digits, _ - .)."),
        label: list[str] = typer.Option(None, "--label", "-l", help="Label for every signal: "
                                        "key=value (entity, content, severity, ideology) or "
                                        "a policy label (incitement, recruitment…). Repeatable."),
        negative: bool = typer.Option(False, "--negative", help="A bank of known false "
                                      "positives: its matches suppress positive matches."),
        pdq_threshold: int = typer.Option(None, "--pdq-threshold", help="PDQ match radius "
                                          "for this bank (default 31 of 256 bits)."),
        description: str = typer.Option(None, "--description", "-d"),
    ) -> None:
        """Create a bank.

        Examples:

          rasd bank create gifct --label entity=isis --label incitement

          rasd bank create logos-fp --negative --description "news logos"
        """
        from rasd.detect.media.banks import create_bank

        b = _bank_errors(lambda: create_bank(get_store(create=True), name, labels=_labels(label),
                                             negative=negative, description=description,
                                             pdq_threshold=pdq_threshold))
        echo(f"created bank {b.name}" + (" (negative)" if b.negative else ""))

    @bank.command("list")
    def bank_list(json_: bool = typer.Option(False, "--json")) -> None:
        """List banks, one a line, tab-separated: the name; positive or negative
        (known false positives); enabled or disabled; the PDQ match radius
        (pdq_threshold=N, "(default)" where `bank create --pdq-threshold` did not
        set one); signal counts by status; labels.

        Examples:

          rasd bank list

          rasd bank list --json
        """
        from rasd.detect.media import signals as sig
        from rasd.detect.media.banks import format_labels, list_banks

        banks = list_banks(get_store())
        if json_:
            echo_json([b.as_dict() for b in banks])
            return
        if not banks:
            typer.echo("no banks yet (rasd bank create NAME)")
        pdq_default = sig.get("pdq").default_threshold
        for b in banks:
            pdq = (f"pdq_threshold={b.pdq_threshold}" if b.pdq_threshold is not None
                   else f"pdq_threshold={pdq_default:g} (default)")
            counts = " ".join(f"{k}={v}" for k, v in sorted(b.counts.items())) or "none"
            labels = format_labels(b.labels) or "-"
            echo_row(b.name, "negative" if b.negative else "positive",
                     "enabled" if b.enabled else "disabled", pdq, f"signals: {counts}",
                     f"labels={labels}")

    @bank.command("import")
    def bank_import(
        name: str = typer.Argument(...),
        file: Path = typer.Argument(..., help="CSV (HMA/ThreatExchange or GIFCT/TCAP style), "
                                    "a plain list of hashes, a vPDQ hash file (Meta's "
                                    "frame lines or HMA's JSON list), TCAP's JSON hash "
                                    "list, or python-threatexchange's local file "
                                    "('pdq HEX' lines)."),
        fmt: str = typer.Option("auto", "--format", "-f", help="auto, csv, list, vpdq, "
                                "tcap (TCAP's JSON hash list), pytx (python-threatexchange's "
                                "'signal_type signal' lines)."),
        signal_type: str = typer.Option(None, "--type", "-t", help="Signal type of rows "
                                        "without one (needed for lists of 64-hex hashes: "
                                        "pdq or sha256)."),
        apply_tombstones: bool = typer.Option(False, "--apply-tombstones", help="Rows with "
                                              "status 'tombstoned' tombstone the signal if "
                                              "the bank holds it un-tombstoned (as a "
                                              "tombstone in an HMA exchange fetch deletes "
                                              "it). Without this they are counted and "
                                              "reported, and change nothing."),
        map_policy: list[str] = typer.Option(None, "--map-policy", metavar="NAME=LABEL",
                                             help="Read the file's policy value NAME as the "
                                             "policy label LABEL (repeatable): for GIFCT "
                                             "categories that span several labels "
                                             "('Radicalization, Recruitment, Instruction', "
                                             "'Graphic Violence Against Defenseless "
                                             "People'), which rasd does not guess, and a "
                                             "partner's own names (not the policy's own "
                                             "labels, which read as themselves)."),
        json_: bool = typer.Option(False, "--json"),
    ) -> None:
        """Import signals into a bank. Invalid rows are reported with file:line and
        skipped; duplicates (and tombstoned signals) are not added again. Where a file
        names one signal twice, its last row wins (TCAP: the record updated last). A
        file does not change signals the bank already holds, but for two kinds of
        news: a row marked tombstoned for a signal the bank holds active, disabled or
        quarantined is counted and reported (with the option that applies it,
        --apply-tombstones); a TCAP record newer (updated_on) than the held signal's
        sets its labels, and an older one changes nothing. Rows of
        python-threatexchange types rasd has no signal type for (url…) are passed
        over and counted. New signals take effect at the next match. The whole file
        is checked before anything is written: one that cannot be read to its end
        (malformed CSV, JSON that does not parse) imports nothing. Interrupted
        (Ctrl-C) or killed, the bank keeps the signals written before (2,000 to a
        transaction, each as the file says): importing the file again completes it
        to what one import makes (status 130).

        Examples:

          rasd bank import tcap tcap_hashes.csv

          rasd bank import tcap pdq_list.txt --type pdq

          rasd bank import videos known.vpdq.txt --format vpdq

          rasd bank import videos hma_signal.json

          rasd bank import tcap tcap_hash_list.json

          rasd bank import tcap pytx_signals.txt

          rasd bank import tcap tcap_export_all.csv --apply-tombstones

          rasd bank import gifct gifct.csv --map-policy "Radicalization, Recruitment, Instruction=recruitment"
        """
        from rasd.detect.media.banks import FORMATS, import_file, parse_policy_map

        if fmt not in FORMATS:
            fail(f"--format {fmt!r}: use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
        if file.is_dir():
            fail(f"{file}: is a folder, not a bank file (import its files one by one)")
        why = not_a_file(file)  # (a device or a pipe was said to be "no such file")
        if why is not None:
            fail(f"{file}: {why}")
        pmap = _bank_errors(lambda: parse_policy_map(map_policy or []))
        store = get_store(create=True)
        try:
            rep = _bank_errors(lambda: import_file(store, name, file, fmt=fmt,
                                                   signal_type=signal_type,
                                                   apply_tombstones=apply_tombstones,
                                                   policy_map=pmap))
        except KeyboardInterrupt:  # Ctrl-C ended it without a word, status 130
            # add_signals writes each IMPORT_BATCH signals in a transaction of their
            # own, and applies the file's tombstones of held signals once all are
            from rasd.detect.media.banks import IMPORT_BATCH

            warn(f"interrupted: bank {name} keeps the signals written before it "
                 f"({IMPORT_BATCH:,} to a transaction, each as the file says; the file's "
                 "tombstones of signals held before are applied only at the end); import "
                 "the file again to complete it (those added count as duplicates)")
            raise typer.Exit(130) from None
        if json_:
            echo_json(rep.__dict__)
        else:
            for e in rep.errors:
                warn(e)
            if not rep.read and not rep.invalid:  # nothing imported, and no error said why
                warn(f"{file}: no signals in the file (empty, or only comments)")
            types = ", ".join(f"{k}={v}" for k, v in sorted(rep.by_type.items())) or "-"
            kept = ", ".join(f"{k}={v}" for k, v in sorted(rep.by_status.items()))
            skipped = ", ".join(f"{k}={v}" for k, v in sorted(rep.skipped_types.items()))
            if skipped:
                warn(f"{file}: {sum(rep.skipped_types.values())} row(s) of signal types "
                     f"rasd has no signal type for passed over ({skipped}); the file's "
                     "other rows are imported")
            if rep.tombstones_not_applied:
                warn(f"{file}: {rep.tombstones_not_applied} tombstone row(s) name signals "
                     f"that bank {name} holds un-tombstoned; not applied (they still "
                     "match): pass --apply-tombstones to tombstone them")
            echo(f"{name}: read {rep.read}, added {rep.added}, duplicates "
                 f"{rep.duplicates}, invalid {rep.invalid} ({types})"
                 + (f"; not active, as the file says: {kept}" if kept else "")
                 + (f"; skipped, no rasd signal type: {skipped}" if skipped else "")
                 + (f"; held signals updated from newer records: {rep.updated}"
                    if rep.updated else "")
                 + (f"; records older than the bank's, not applied: {rep.outdated}"
                    if rep.outdated else "")
                 + (f"; tombstones applied to existing signals: {rep.tombstones_applied}"
                    if rep.tombstones_applied else "")
                 + (f"; tombstones not applied: {rep.tombstones_not_applied}"
                    if rep.tombstones_not_applied else ""))
        if rep.invalid and not rep.added and not rep.duplicates:
            raise typer.Exit(1)

    @bank.command("export")
    def bank_export(
        name: str = typer.Argument(...),
        out: Path = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
        all_: bool = typer.Option(False, "--all", help="Also disabled, tombstoned and "
                                  "quarantined signals, with a status column."),
    ) -> None:
        """Export a bank as HMA-style CSV (signal_type,signal,labels), which
        `rasd bank import` reads back.

        Example:

          rasd bank export tcap -o tcap.csv
        """
        from rasd.detect.media.banks import export_rows, get_bank, write_csv

        store = get_store()
        _bank_errors(lambda: get_bank(store, name))
        if out:
            if out.is_dir():  # (open's IsADirectoryError was a traceback)
                fail(f"{out}: is a folder; --out names the file to write")
            try:
                with open(out, "w", encoding="utf-8", newline="") as fh:
                    n = _bank_errors(lambda: write_csv(
                        export_rows(store, name, include_inactive=all_), fh, with_status=all_))
            except OSError as e:  # no such folder, a full disk: a traceback, not a line
                fail(f"{out}: cannot write: {e.strerror or e}", code=1)
            echo(f"wrote {n} signal(s) to {out}", err=True)
        elif stdout_is_terminal():
            # shown, not kept: a label is a partner's text (a TCAP ideology, a GIFCT
            # tag) and its escape sequences reached the terminal as they were; written
            # with control characters escaped (as `rasd show --raw` shows a record),
            # and stderr says so. Redirected, the CSV is written as it is
            shown = _TermSafeOut(sys.stdout)
            _bank_errors(lambda: write_csv(export_rows(store, name, include_inactive=all_),
                                           shown, with_status=all_))
            if shown.escaped:
                echo(f"rasd: note: shown with control characters escaped; for the file as "
                     f"it is: rasd bank export {name} -o FILE", err=True)
        else:
            _bank_errors(lambda: write_csv(export_rows(store, name, include_inactive=all_),
                                           sys.stdout, with_status=all_))

    def _toggle(name: str, enabled: bool) -> None:
        from rasd.detect.media.banks import set_bank_enabled

        b = _bank_errors(lambda: set_bank_enabled(get_store(), name, enabled))
        echo(f"bank {b.name} {'enabled' if b.enabled else 'disabled'}")

    @bank.command("enable")
    def bank_enable(name: str = typer.Argument(...)) -> None:
        """Enable a bank (its signals match again at once).

        Example:

          rasd bank enable tcap
        """
        _toggle(name, True)

    @bank.command("disable")
    def bank_disable(name: str = typer.Argument(...)) -> None:
        """Disable a bank: its signals stop matching at once; nothing is deleted.

        Example:

          rasd bank disable tcap
        """
        _toggle(name, False)

    def _set_status(name: str, signal: str, signal_type: str | None, status: str,
                    note: str | None) -> None:
        from rasd.detect.media.banks import find_signals, set_signal_status

        store = get_store()
        ids = _bank_errors(lambda: find_signals(store, name, signal, signal_type))
        if not ids:
            fail(f"bank {name!r} holds no signal {signal[:80]!r}")
        n = _bank_errors(lambda: set_signal_status(store, ids, status, note))
        echo(f"{n} signal(s) in {name} now {status}")

    @bank.command("tombstone")
    def bank_tombstone(
        name: str = typer.Argument(...),
        signal: str = typer.Argument(..., help="The signal value (`rasd bank export NAME` "
                                     "lists them), or its numeric id (`rasd bank reviews`)."),
        signal_type: str = typer.Option(None, "--type", "-t"),
        note: str = typer.Option(None, "--note", help="Why (kept with the signal)."),
    ) -> None:
        """Remove a signal for good: it stops matching at once and a re-import does not
        bring it back.

        Example (in the `rasd demo` workspace: its bank's PDQ of the demo poster):

          rasd bank tombstone demo-known-content b255502a69cd919344aaa26555ca09991a56366dedb7d99ab3ed62464db39da9 --note "stock photo"
        """
        _set_status(name, signal, signal_type, "tombstoned", note)

    @bank.command("signal")
    def bank_signal(
        name: str = typer.Argument(...),
        signal: str = typer.Argument(..., help="The signal value (`rasd bank export NAME` "
                                     "lists them), or its numeric id (`rasd bank reviews`)."),
        state: str = typer.Option(..., "--set", help="active or disabled."),
        signal_type: str = typer.Option(None, "--type", "-t"),
        note: str = typer.Option(None, "--note"),
    ) -> None:
        """Enable or disable one signal (also: restore a quarantined one; either
        closes its review). A tombstoned signal stays tombstoned: a tombstone is
        for good.

        Examples (in the `rasd demo` workspace: its bank's MD5 of the demo poster):

          rasd bank signal demo-known-content 0651aa689fe9855e7b701ddeef5c3c6b --set disabled

          rasd bank signal demo-known-content 0651aa689fe9855e7b701ddeef5c3c6b --set active --note "reviewed: specific enough"
        """
        if state not in ("active", "disabled"):
            fail("--set: active or disabled (use `rasd bank tombstone` to remove for good)")
        _set_status(name, signal, signal_type, state, note)

    @bank.command("reviews")
    def bank_reviews(json_: bool = typer.Option(False, "--json")) -> None:
        """Signals paused by flood quarantine (or imported quarantined), waiting
        for a decision (`rasd bank signal BANK ID --set active`, `--set disabled`
        or `rasd bank tombstone BANK ID`), which takes them off this list.

        Example:

          rasd bank reviews
        """
        from rasd.detect.media.banks import open_reviews

        rows = open_reviews(get_store())
        if json_:
            echo_json(rows)
            return
        if not rows:
            typer.echo("no signals waiting for review")
        for r in rows:
            echo(f"review {r['review']}: bank {r['bank']} signal #{r['signal_id']} "
                 f"({r['signal_type']}) — {r['reason']}")

    clusters = typer.Typer(help="Near-duplicate text (copypasta) clusters from MinHash LSH.\n\n"
                           "Examples:\n\n  rasd clusters build\n\n  rasd clusters list\n\n"
                           "  rasd clusters show 1", no_args_is_help=True)
    app.add_typer(clusters, name="clusters")

    @clusters.command("build")
    def clusters_build(
        threshold: float = typer.Option(0.7, "--threshold", help="Estimated Jaccard "
                                        "similarity of character 5-grams to join two posts."),
        # (--min-size 0 or 1 stored every lone post as a "cluster" of one, replacing the
        # clusters there were; -5 characters was taken as 0)
        min_chars: int = typer.Option(40, "--min-chars", min=0, max=INT_MAX,
                                      help="Ignore shorter texts."),
        min_size: int = typer.Option(2, "--min-size", min=2, max=INT_MAX,
                                     help="Smallest cluster kept."),
        since: str = typer.Option(None, "--since", metavar="ISO-TIME"),
        json_: bool = typer.Option(False, "--json"),
    ) -> None:
        """Cluster posts whose text is nearly the same and store the clusters
        (replacing the previous run). Reposts and forwards are left out.
        Interrupted (Ctrl-C), the previous run's clusters stay as they were; the
        text signatures it hashed are kept page by page as it reads the posts
        (2,000 at a time), so the next build hashes only the rest. An LSH bucket
        compares at most 1,000 pairs a text: one that stops there (posts made
        alike in one band only) is warned of and counted in --json
        (capped_buckets, unverified_pairs).

        Examples:

          rasd clusters build

          rasd clusters build --threshold 0.8 --since 2024-01-01
        """
        from datetime import datetime

        from rasd.detect.media.textdup import build_clusters

        since_dt = None
        if since:
            try:
                since_dt = datetime.fromisoformat(since)
            except ValueError:
                fail(f"--since: not an ISO date/time: {since!r}")
        if not 0.1 <= threshold <= 1.0:
            fail("--threshold must be between 0.1 and 1.0")
        try:
            with stage_progress(progress_enabled() and not json_) as prog:
                rep = build_clusters(get_store(), threshold=threshold, min_chars=min_chars,
                                     min_size=min_size, since=since_dt, progress=prog)
        except KeyboardInterrupt:  # Ctrl-C ended the build without a word, status 130
            # the clusters are replaced in one transaction at the end; the text
            # signatures, a page of posts to a transaction as they are hashed: a
            # build interrupted while it hashes keeps the pages it finished
            warn("interrupted: the clusters stored before are unchanged (a build replaces "
                 "them only when it ends); `rasd clusters build` again builds them, "
                 "reusing the text signatures already stored (a build stores those it "
                 "hashes as it goes, a page of posts at a time)")
            raise typer.Exit(130) from None
        if json_:
            echo_json(rep.__dict__)
            return
        echo(f"{rep.posts_considered} posts ({rep.distinct_texts} distinct texts, "
             f"{rep.hashed} newly hashed): {rep.clusters} clusters holding "
             f"{rep.clustered_posts} posts")
        if rep.largest:
            lg = rep.largest
            echo(f"largest: cluster {lg['cluster_id']}: {lg['size']} posts by "
                 f"{lg['accounts']} accounts: {lg['sample']!r}")

    @clusters.command("list")
    def clusters_list(
        limit: int = typer.Option(20, "--limit", "-n", min=1, max=INT_MAX),
        # (a number past SQLite's integers was an OverflowError traceback)
        min_accounts: int = typer.Option(1, "--min-accounts", min=1, max=INT_MAX),
        json_: bool = typer.Option(False, "--json"),
    ) -> None:
        """The largest clusters (most accounts first), at most 10,000.

        Example:

          rasd clusters list --min-accounts 5
        """
        from rasd.detect.media.textdup import list_clusters

        limit = max(1, min(limit, CLUSTERS_LISTED_MAX))
        rows = list_clusters(get_store(), limit=limit + 1,  # one more: to tell whether
                             min_accounts=min_accounts)     # there are
        more = len(rows) > limit
        rows = rows[:limit]
        if json_:
            echo_json(rows)
            return
        if not rows:
            typer.echo("no clusters to show (none found yet, or fewer accounts than "
                       "--min-accounts; `rasd clusters build` makes them)")
        for r in rows:
            echo(f"cluster {r['cluster']}: {r['size']} posts by {r['accounts']} accounts "
                 f"— {(r['sample'] or '')[:100]!r}")
        if more:  # -n is bound: past it, "-n N lists more" listed no more
            more_shown(limit, "clusters", "-n N lists more" if limit < CLUSTERS_LISTED_MAX else
                       f"at most {CLUSTERS_LISTED_MAX:,} are listed: --min-accounts N "
                       "narrows them")

    @clusters.command("show")
    def clusters_show(cluster: int = typer.Argument(..., min=1, max=INT_MAX),
                      json_: bool = typer.Option(False, "--json")) -> None:
        """The posts of one cluster with their accounts and similarity.

        Example:

          rasd clusters show 1
        """
        from rasd.detect.media.textdup import cluster_members

        rows = cluster_members(get_store(), cluster)
        if not rows:
            fail(f"no cluster {cluster}")
        if json_:
            echo_json(rows)
            return
        from rasd.accounts import quoted_ref

        for r in rows:
            # the author as rasd names accounts (typed back by `rasd accounts show`)
            shown = f"@{r['account']}" if r["account"] else r["account_name"]
            who = quoted_ref(r["account_ref"]) if r["account_ref"] else "-"
            who += f" ({shown})" if shown and r["account_ref"] else ""
            echo(f"{when_text(r['created_at'])} {who} sim={r['similarity']} "
                 f"{r['platform']}:{r['platform_id']}: {r['text'][:120]!r}")

    media = typer.Typer(help="Ingested media files.\n\nExample:\n\n"
                        "  rasd media fetch --max-bytes 20000000", no_args_is_help=True)
    app.add_typer(media, name="media")

    @media.command("fetch")
    def media_fetch(
        limit: int = typer.Option(100, "--limit", min=0, max=INT_MAX,
                                  help="At most this many downloads."),
        max_bytes: int = typer.Option(50 << 20, "--max-bytes", min=1,
                                      help="Largest file accepted."),
        timeout: float = typer.Option(20.0, "--timeout", help="Seconds per connection/read "
                                      f"(at most {MAX_FETCH_TIMEOUT:,})."),
        dest: Path = typer.Option(None, "--dest", help="Folder (default: media/ beside "
                                  "the store)."),
        allow_private: bool = typer.Option(False, "--allow-private", help="Allow private, "
                                           "loopback and link-local addresses (testing)."),
    ) -> None:
        """Opt-in downloader: fetch media that have a URL but no local file, with a
        size limit, timeouts, an image/video content-type check and no redirects to
        private addresses. Nothing is fetched unless you run this.

        Example:

          rasd media fetch --limit 20 && rasd scan --media
        """
        from rasd.detect.media.fetch import FetchPolicy, fetch_pending

        # a socket takes no negative, NaN or endless timeout: -1, nan or 1e308 was a
        # ValueError / OverflowError traceback at the first connection (NaN passes
        # a range check, so the comparison is written to fail on it)
        if not 0 < timeout <= MAX_FETCH_TIMEOUT:
            fail(f"--timeout {timeout}: seconds, more than 0 and at most "
                 f"{MAX_FETCH_TIMEOUT:,}")
        store = get_store()
        d = dest or (store.workspace_dir() / "media")
        pol = FetchPolicy(max_bytes=max_bytes, timeout=timeout, allow_private=allow_private)
        res = fetch_pending(store, d, policy=pol, limit=limit)
        for e in res["errors"][:20]:
            warn(e)
        echo(f"fetched {res['fetched']} of {res['tried']} (failed {res['failed']}) "
             f"into {d}")
