"""Plugin discovery through Python entry points (the datasette / pluggy spirit).

Groups:
- ``rasd.detectors``: ``Detector`` subclasses that ``rasd scan`` runs.
- ``rasd.demo_steps``: functions ``step(ctx: DemoContext) -> dict`` that ``rasd demo``
  runs in the sorted order of their entry-point names ("10_ingest", "20_text", …).

Any installed package can add to these groups; rasd's own stages use them too, so
a new stage plugs in without touching the core.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points
from typing import Any


def load_group(group: str) -> list[tuple[str, Any]]:
    """Load every entry point of ``group``, sorted by name.

    A plugin that fails to import is reported on stderr and skipped, so that one
    broken plugin does not take the whole CLI down — but never silently.
    """
    out: list[tuple[str, Any]] = []
    eps: list[EntryPoint] = sorted(entry_points(group=group), key=lambda e: e.name)
    seen: set[str] = set()
    for ep in eps:
        if ep.name in seen:
            continue
        seen.add(ep.name)
        try:
            out.append((ep.name, ep.load()))
        except Exception as exc:  # noqa: BLE001 - reported, not swallowed
            print(f"rasd: plugin {group}:{ep.name} ({ep.value}) failed to load: {exc}",
                  file=sys.stderr)
    return out
