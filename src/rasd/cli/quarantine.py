"""``rasd quarantine``: what ingest rejected, and why."""

from __future__ import annotations

import typer

from rasd.cli.common import INT_MAX, echo, echo_json, get_store
from rasd.terminal import one_line


def register(app: typer.Typer) -> None:
    @app.command("quarantine")
    def quarantine_cmd(
        file: str = typer.Option(None, "--file", "-f",
                                 help="Only rejects from files whose path contains this."),
        limit: int = typer.Option(20, "--limit", "-n", min=0, max=INT_MAX, help="Rejects to list."),
        every_run: bool = typer.Option(
            False, "--all",
            help="Every entry, also those of earlier runs of a file read again (each "
                 "run writes its rejects; by default only each file's latest run counts)."),
        json_: bool = typer.Option(False, "--json", help="Print the rejects as JSON."),
    ) -> None:
        """List records that ingest rejected (file, line or JSON path, field, reason),
        with counts by reason: those of the latest run of each file (rasd runs),
        or with --all every run's. They live in rasd.quarantine.jsonl beside
        rasd.db (a PostgreSQL store's in RASD_HOME, named after its database and
        schema), one JSON line each, naming the run that wrote it.

        Examples:

          rasd quarantine

          rasd quarantine --file tweets.jsonl --limit 100 --json
        """
        from rasd.ingest.runner import read_quarantine

        q = read_quarantine(get_store(), file=file, every_run=every_run, keep=limit)
        if json_:
            echo_json(q.last)
            return
        if not q.count:
            echo(f"no rejected records ({q.path})")
            return
        again = q.entries - q.count
        echo(one_line(f"{q.count} rejected record(s) in {q.path}") + (
            f" (the latest run of each file; {again} more from earlier runs: --all)"
            if again else ""))
        for reason, n in q.by_reason.most_common(10):
            echo(f"  {n:>7}  {reason}")
        for r in q.last:
            where = f"line {r.get('line')}" if r.get("line") else (r.get("path") or "?")
            echo(one_line(f"{r.get('file', '?')}:{where}: {r.get('reason', '?')}"))
