"""``rasd runs``: the ingest runs recorded — what was read, when, and what it gave."""

from __future__ import annotations

from typing import Any

import typer

from rasd.cli.common import INT_MAX, echo, echo_json, fail, get_store, more_shown, when_text
from rasd.terminal import one_line


def register(app: typer.Typer) -> None:
    @app.command("runs")
    def runs_cmd(
        limit: int = typer.Option(20, "--limit", "-n", min=0, max=INT_MAX,
                                  help="Runs to list, newest first (0: all)."),
        status: str = typer.Option(
            None, "--status",
            help="Only runs in this state: running, done, interrupted (Ctrl-C), failed "
                 "(an error), killed (found dead by a later run), superseded (a later "
                 "run completed the file), dead (recorded running, its process gone)."),
        source: str = typer.Option(None, "--source", help="Only runs into this source."),
        json_: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List the ingest runs recorded in the store, newest first: the file
        (or standard input, "-"), its format and source, when it ran, how it
        ended and what it gave (new, updated, unchanged, rejected; the number
        of warnings the run printed, which --json gives in full). The
        provenance of every count the store gives; a run that did not finish
        is re-run with the same `rasd ingest` to complete its file.

        Examples:

          rasd runs

          rasd runs --status failed --json

          rasd --db team.db runs --source op-banner -n 0
        """
        from rasd.ingest.runner import ingest_runs

        try:
            runs = ingest_runs(get_store(), limit=limit + 1 if limit else None, status=status,
                               source=source)  # one more: to tell whether there are
        except ValueError as e:
            fail(str(e))
        more = bool(limit) and len(runs) > limit
        runs = runs[:limit] if limit else runs
        if json_:
            echo_json(runs)
            return
        if not runs:
            # what was asked for, not "no ingest runs recorded" where runs are
            # there but none matches the --status/--source given
            asked = " and ".join(([f"status {status}"] if status else [])
                                 + ([f"source {source!r}"] if source else []))
            echo("no ingest runs recorded" + (f" with {asked}" if asked else ""))
            return
        for r in runs:
            echo(_line(r))
        if more:
            more_shown(limit, "runs")


def _line(r: dict[str, Any]) -> str:
    when = when_text(r["started_at"])
    took = f"  {r['seconds']:.1f}s" if r["seconds"] is not None else ""
    c = r["counts"] or {}
    counts = ", ".join(f"{k} {c[k]}" for k in ("new", "updated", "unchanged", "rejected")
                       if isinstance(c.get(k), int)) if r["state"] != "running" else ""
    if isinstance(c.get("warnings"), list) and c["warnings"]:  # (--json gives them)
        n = len(c["warnings"])
        counts += f"{', ' if counts else ''}{n} warning{'s' if n > 1 else ''}"
    return (f"#{r['id']}  {when}  {r['state']:<11} {r['format']:<13} {one_line(r['path'])}"
            f"  [{one_line(r['source'])}]" + (f"  {counts}" if counts else "") + took)
