"""``rasd quarantine``: what ingest rejected, and why."""

from __future__ import annotations

from collections import Counter

import orjson
import typer

from rasd.cli.common import echo, echo_json, get_store


def register(app: typer.Typer) -> None:
    @app.command("quarantine")
    def quarantine_cmd(
        file: str = typer.Option(None, "--file", "-f",
                                 help="Only rejects from files whose path contains this."),
        limit: int = typer.Option(20, "--limit", "-n", min=0, help="Rejects to list."),
        json_: bool = typer.Option(False, "--json", help="Print the rejects as JSON."),
    ) -> None:
        """List records that ingest rejected (file, line or JSON path, field, reason),
        with counts by reason. They live in <store>.quarantine.jsonl beside the store.

        Examples:

          rasd quarantine

          rasd quarantine --file tweets.jsonl --limit 100 --json
        """
        from rasd.ingest.runner import quarantine_path

        q = quarantine_path(get_store())
        rows = []
        if q.exists():
            with open(q, "rb") as f:
                for line in f:
                    try:
                        r = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue
                    if file and file not in str(r.get("file", "")):
                        continue
                    rows.append(r)
        if json_:
            echo_json(rows[-limit:] if limit else [])
            return
        if not rows:
            echo(f"no rejected records ({q})")
            return
        echo(f"{len(rows)} rejected record(s) in {q}")
        by_reason = Counter(r["reason"].split(":")[0] for r in rows)
        for reason, n in by_reason.most_common(10):
            echo(f"  {n:>7}  {reason}")
        for r in rows[-limit:] if limit else []:
            where = f"line {r['line']}" if r.get("line") else (r.get("path") or "?")
            echo(f"{r['file']}:{where}: {r['reason']}")
