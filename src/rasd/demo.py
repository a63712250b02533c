"""``rasd demo``: build a workspace from the bundled synthetic data set and run every
stage on it. Stages add steps through the ``rasd.demo_steps`` entry-point group
(``step(ctx) -> dict``), run in the sorted order of their names.

The demo data is synthetic — written for rasd, depicting no real person — and is
marked as such in every file (see ``rasd/data/demo/README.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from rasd.plugins import load_group
from rasd.store import Store


@dataclass
class DemoContext:
    store: Store
    workdir: Path
    data_dir: Path
    log: Callable[[str], None] = print
    results: dict[str, Any] = field(default_factory=dict)


def demo_data_dir() -> Path:
    return Path(str(files("rasd") / "data" / "demo"))


def run_demo(store: Store, workdir: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every demo step; a failing step is reported and the rest still run.

    Returns {step name: figures}; failed steps map to {"error": message}.
    """
    ctx = DemoContext(store=store, workdir=workdir, data_dir=demo_data_dir(), log=log)
    for name, step in load_group("rasd.demo_steps"):
        log(f"[{name}]")
        try:
            ctx.results[name] = step(ctx)
        except Exception as exc:  # noqa: BLE001 - reported and counted as a failure
            # one line: the driver's own words where a database error wraps them
            # (SQLAlchemy's text adds the statement, its parameters and a link)
            why = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
            log(f"  FAILED: {type(exc).__name__}: {why}")
            ctx.results[name] = {"error": f"{type(exc).__name__}: {why}"}
    return ctx.results
