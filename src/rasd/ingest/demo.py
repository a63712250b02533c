"""Demo step "10_ingest": ingest the bundled synthetic data (X, Telegram, CSV)."""

from __future__ import annotations

from typing import Any

from rasd.demo import DemoContext
from rasd.ingest.runner import ingest_path


def step(ctx: DemoContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rel, source in (("x/demo_tweets.jsonl", "demo-x"),
                        ("telegram", "demo-telegram"),
                        ("csv/demo_kaggle_format.csv", "demo-csv")):
        rep = ingest_path(ctx.store, ctx.data_dir / rel, source=source)
        c = rep.counts
        ctx.log(f"  ingest {rel} ({rep.fmt}): {c['new']} new, {c['updated']} updated, "
                f"{c['unchanged']} unchanged, {c['rejected']} rejected")
        out[source] = c
    stats = ctx.store.stats()
    ctx.log(f"  store: {stats['accounts']} accounts, {stats['posts']} posts, "
            f"{stats['media']} media, {stats['edges']} edges")
    out["stats"] = {k: stats[k] for k in ("accounts", "posts", "media", "edges")}
    return out
