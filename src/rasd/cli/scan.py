"""``rasd scan``: run the registered detectors over stored content."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer
from typer.core import TyperCommand

from rasd.cli.common import echo_json, fail, get_store, progress_enabled, stage_progress, warn

_SUBJECTS = {"post": "posts", "account": "accounts", "media": "media files, with --media"}


def installed_detectors() -> list[tuple[str, str, str]]:
    """(name, what it scans, what it is) of every detector installed (the
    ``rasd.detectors`` entry points, rasd's own and any plugin's), by name."""
    from rasd.detect.base import Detector
    from rasd.detect.scan import available_detectors

    out = []
    for name, cls in sorted(available_detectors().items()):
        doc = next((ln.strip() for ln in (cls.__doc__ or "").splitlines() if ln.strip()), "")
        if doc == (Detector.__doc__ or "").strip().splitlines()[0]:
            doc = ""  # the base class's, inherited
        st = getattr(cls, "subject_type", "post")
        out.append((name, _SUBJECTS.get(st, st), doc))
    return out


class _ScanCommand(TyperCommand):
    """`rasd scan`, whose help lists the detectors installed now (read when
    help is asked for: the command line does not import them to start)."""

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Installed detectors (--detector NAME)"):
            formatter.write_dl([(name, f"{what}{': ' + doc if doc else ''}")
                                for name, what, doc in installed_detectors()]
                               or [("(none)", "no detector is installed")])
        super().format_epilog(ctx, formatter)


def register(app: typer.Typer) -> None:
    @app.command("scan", cls=_ScanCommand)
    def scan_cmd(
        all_: bool = typer.Option(False, "--all", help="Rescan everything, even subjects "
                                  "already scanned by the same model version."),
        since: str = typer.Option(None, "--since", metavar="ISO-TIME",
                                  help="Only posts created at or after this time."),
        media: bool = typer.Option(False, "--media", help="Also run media detectors "
                                   "(hash ingested media whose files are present)."),
        detector: list[str] = typer.Option(None, "--detector", "-d",
                                           help="Run only these detectors (repeatable; the installed ones are listed below)."),
        limit: int = typer.Option(None, "--limit", min=1,
                                  help="At most this many subjects each."),
        json_: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Run every installed detector of posts and accounts (and with --media,
        of media files) over stored subjects not yet scanned, and store the
        detections. The detectors installed are listed below: rasd's own are
        text, finance and finance_account (posts and accounts) and media; plugins
        add theirs (entry-point group rasd.detectors).

        Re-running is idempotent; a new model version scans again; --all rescans.
        With --media, media hashed earlier are matched again (from their stored
        hashes, without the files) whenever the hash banks changed since.

        Examples:

          rasd scan

          rasd scan --since 2024-01-01 --detector text

          rasd scan -d finance -d finance_account

          rasd scan --media
        """
        from rasd.detect.scan import available_detectors, scan

        since_dt = None
        if since:
            try:
                since_dt = datetime.fromisoformat(since)
            except ValueError:
                fail(f"--since: not an ISO date/time: {since!r}")
        avail = available_detectors()
        if detector:
            unknown = [d for d in detector if d not in avail]
            if unknown:
                fail(f"unknown detector(s) {unknown}; available: {sorted(avail)}")
            names = list(detector)
        else:
            names = [n for n, cls in avail.items()
                     if cls.subject_type != "media" or media]
        dets = [avail[n]() for n in names]
        if not dets:
            fail("no detectors are installed")
        for det in dets:  # set up (models, policies, lexicons load) before any scanning
            try:
                det.version  # noqa: B018
            except (RuntimeError, ValueError, OSError) as e:  # ModelError, LexiconError …
                fail(f"detector {det.name} cannot be set up: {e}")
        store = get_store()
        try:
            with stage_progress(progress_enabled() and not json_, "scan ") as prog:
                results = scan(store, dets, rescan=all_, since=since_dt, limit=limit,
                               progress=prog)
        except KeyboardInterrupt:  # Ctrl-C ended the scan without a word, status 130
            # each batch's detections are committed with the batch (store_detections)
            warn("interrupted: the subjects scanned before it are stored with their "
                 "detections; `rasd scan` again scans the rest")
            raise typer.Exit(130) from None
        out = [r.__dict__ for r in results]
        if json_:
            echo_json(out)
        else:
            for r in results:
                if r.caught_up:
                    typer.echo(f"{r.detector} {r.version}: banks changed since the last match: "
                               f"{r.caught_up['media']} media matched again from stored "
                               f"signals, detections {r.caught_up['detections']}")
                labels = ", ".join(f"{k}={v}" for k, v in sorted(r.by_label.items())) or "-"
                typer.echo(f"{r.detector} {r.version}: scanned {r.scanned}, "
                           f"detections {r.detections} ({labels})")
