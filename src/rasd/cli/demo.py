"""``rasd demo``: a workspace from the bundled synthetic data, every stage run."""

from __future__ import annotations

from pathlib import Path

import typer

from rasd.cli import common
from rasd.cli.common import echo, echo_json, warn


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        ctx: typer.Context,
        workdir: Path = typer.Option(Path("demo-workspace"), "--workdir", "-w",
                                     help="Folder for the demo workspace (created)."),
        json_: bool = typer.Option(False, "--json", help="Print every step's figures as JSON."),
    ) -> None:
        """Build a demo workspace from rasd's bundled SYNTHETIC data set and run every
        stage on it: ingest (X JSONL, a Telegram export with photos, a CSV), then
        each installed stage (text detection, hash matching, finance …).

        The store is WORKDIR/rasd.db unless --db or RASD_DB names another (a
        PostgreSQL store, say); with an exported RASD_DB and a --workdir, it says
        so. Safe to re-run: every stage is idempotent.

        Examples:

          rasd demo

          rasd demo --workdir /tmp/rasd-demo && rasd --db /tmp/rasd-demo/rasd.db stats
        """
        from rasd.demo import run_demo

        workdir.mkdir(parents=True, exist_ok=True)
        db = common.STATE.db or str(workdir / "rasd.db")
        db_from = ctx.find_root().get_parameter_source("db")
        workdir_from = ctx.get_parameter_source("workdir")
        if (common.STATE.db and getattr(db_from, "name", "") == "ENVIRONMENT"
                and getattr(workdir_from, "name", "DEFAULT") != "DEFAULT"
                and ("://" in common.STATE.db
                     or Path(common.STATE.db).resolve() != (workdir / "rasd.db").resolve())):
            # `export RASD_DB=demo-workspace/rasd.db` (as the README says to explore
            # the demo), then `rasd demo --workdir /tmp/rasd-demo`: RASD_DB names the
            # store as it does for every command; the folder given is not where it
            # goes (typer's click is its own copy: ParameterSource by name)
            warn(f"the store is RASD_DB's ({common.STATE.db}), not "
                 f"{workdir / 'rasd.db'}: unset RASD_DB, or pass --db, to choose")
        common.STATE.db = db  # opened as every command opens it: a store that
        store = common.get_store(create=True)  # cannot be, an error naming it
        # with --json, standard output is the JSON alone (`rasd demo --json | jq`):
        # the steps' lines go to standard error
        typer.echo(f"rasd demo: workspace {workdir}/ (store {db}) — synthetic data, "
                   "invented accounts and events", err=json_)
        # steps quote what they read (names, texts): escaped, lines kept
        results = run_demo(store, workdir,
                           log=lambda line: echo(line, err=json_, keep_lines=True))
        if json_:
            echo_json(results)
        failed = [k for k, v in results.items() if isinstance(v, dict) and "error" in v]
        if failed:
            typer.echo(f"rasd demo: {len(failed)} step(s) failed: {', '.join(failed)}", err=True)
            raise typer.Exit(1)
        typer.echo(f"done. Explore it: rasd --db {db} stats", err=json_)
