"""``rasd links``: the posts that replies, reposts and quotes wait for."""

from __future__ import annotations

import typer

from rasd.cli.common import INT_MAX, echo, echo_json, get_store, more_shown


def register(app: typer.Typer) -> None:
    @app.command("links")
    def links_cmd(
        platform: str = typer.Option(None, "--platform", "-p",
                                     help="Only targets on this platform (x, telegram …)."),
        limit: int = typer.Option(50, "--limit", "-n", min=0, max=INT_MAX,
                                  help="Targets to list, most awaited first (0: all)."),
        ids: bool = typer.Option(False, "--ids",
                                 help="Print only the missing posts' ids, one a line "
                                      "(for twarc2 hydrate)."),
        json_: bool = typer.Option(False, "--json", help="Print JSON."),
        draw: bool = typer.Option(False, "--draw",
                                  help="Look at every waiting link and draw the edges whose "
                                       "target post and its author are stored (each "
                                       "ingest does this for what it wrote)."),
    ) -> None:
        """List the posts that links wait for: replies, reposts and quotes whose
        target post has not been ingested, so no edge to its author is drawn
        yet. Collect those posts and ingest them, and the edges are drawn (in
        any order: ingest draws every waiting link whose target has come).

        Examples:

          rasd links                         # most awaited first

          rasd links --platform x --ids -n 0 > ids.txt

          twarc2 hydrate ids.txt parents.jsonl && rasd ingest parents.jsonl

          rasd links --draw                  # a full pass (after a store repair)
        """
        from rasd.ingest.writer import waiting_links

        if draw:
            from rasd.ingest.writer import link_pending

            echo(f"{link_pending(get_store())} edge(s) drawn")
            return
        rows = waiting_links(get_store(), platform=platform, limit=limit + 1 if limit else None,
                             kinds=not ids or json_)  # one more: to tell whether there are
        if json_:
            echo_json(list(rows)[:limit] if limit else list(rows))
            return
        any_ = more = False
        for i, r in enumerate(rows):  # streamed: -n 0 --ids lists millions in little memory
            if limit and i == limit:
                more = True  # (--ids for twarc2 hydrate: the rest would go unfetched)
                break
            any_ = True
            if ids:
                echo(r["post_id"])
            else:
                kinds = ", ".join(f"{k} {n}" for k, n in sorted(r["kinds"].items()))
                echo(f"{r['platform']}:{r['post_id']}  {r['links']} link(s): {kinds}")
        if not any_ and not ids:
            echo("no links wait for a post" + (f" on {platform}" if platform else ""))
        if more:
            more_shown(limit, "posts waited for")
