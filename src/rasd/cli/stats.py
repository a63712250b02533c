"""``rasd stats``: what is in the store."""

from __future__ import annotations

import typer

from rasd.cli import common
from rasd.cli.common import echo_json, echo_table, get_store, rich_text


def register(app: typer.Typer) -> None:
    @app.command("stats")
    def stats_cmd(json_: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
        """Count accounts, posts, media and edges, by platform and by source.

        Tables on a terminal; in a pipe or a file, the same tables tab-separated
        (a header line each, plain numbers, a blank line between).

        "Detections" counts every model version's results; the JSON's
        "detections_current" only those of the version that last scanned each
        subject (a new model or list version rescans; the old results stay as
        history).

        "Links waiting for their post": replies, reposts and quotes whose
        target post has not been ingested (yet), so no edge to its author is
        drawn; ingesting that post draws them.

        "By source" counts each account and post once, under the source
        (rasd ingest --source, default: the file name) whose copy is the
        current view: the one that stored it, or that last changed it.

        Examples:

          rasd stats

          rasd --db team.db stats --json
        """
        s = get_store().stats()
        if json_:
            echo_json(s)
            return
        if not common.stdout_is_terminal():
            _stats_rows(s)
            return
        from rich.console import Console
        from rich.table import Table

        con = Console()
        t = Table(title="rasd store")
        t.add_column("what")
        t.add_column("count", justify="right")
        for k in ("accounts", "posts", "media", "edges", "hashtags", "urls", "detections"):
            t.add_row(k, f"{s[k]:,}")
            if k == "edges" and s["links_waiting"]:
                t.add_row("  links waiting for their post", f"{s['links_waiting']:,}")
        if s["detections_current"] != s["detections"]:
            t.add_row("  of the versions that last scanned", f"{s['detections_current']:,}")
        con.print(t)
        for title, key in (("by platform", "by_platform"), ("by source", "by_source")):
            tt = Table(title=title)
            tt.add_column(title.split()[-1])
            cols = sorted({c for v in s[key].values() for c in v})
            for c in cols:
                tt.add_column(rich_text(c), justify="right")
            for name, v in sorted(s[key].items()):  # names are input: shown as text
                tt.add_row(rich_text(name), *[f"{v.get(c, 0):,}" for c in cols])
            con.print(tt)


def _stats_rows(s: dict) -> None:
    """The same three tables for a pipe or a file, as the other lists print
    there: tab-separated, a header line each, plain numbers (``awk`` can sum
    them), a blank line between tables (box-drawing characters went into
    files and pipes)."""
    rows = []
    for k in ("accounts", "posts", "media", "edges", "hashtags", "urls", "detections"):
        rows.append((k, str(s[k])))
        if k == "edges" and s["links_waiting"]:
            rows.append(("links waiting for their post", str(s["links_waiting"])))
    if s["detections_current"] != s["detections"]:
        rows.append(("detections of the versions that last scanned", str(s["detections_current"])))
    echo_table(rows, header=("what", "count"))
    for col, key in (("platform", "by_platform"), ("source", "by_source")):
        cols = sorted({c for v in s[key].values() for c in v})
        typer.echo("")
        echo_table([(name, *[str(v.get(c, 0)) for c in cols])
                    for name, v in sorted(s[key].items())], header=(col, *cols))
