"""rasd's numeric environment variables, read as user input.

Why: a few tuning knobs (``RASD_PDQ_MIN_QUALITY``, ``RASD_FLOOD_MAX`` …) were
read with a bare ``int(os.environ[...])`` when their module was imported, so
a typo (``RASD_FLOOD_MAX=5O``) was a ValueError traceback out of whichever
command first imported it, naming neither the variable nor what it takes.
``env_int`` reads one within its bounds or raises ``EnvError`` naming it;
the CLI prints that as one line, exit status 2."""

from __future__ import annotations

import os


class EnvError(ValueError):
    """An environment variable of rasd's holds a value it cannot take."""


def env_int(name: str, default: int, lo: int, hi: int) -> int:
    """The whole number in environment variable ``name`` (``default`` where
    it is unset or empty), from ``lo`` to ``hi``; else ``EnvError``.
    Underscores and surrounding blanks are read as ``int`` reads them
    (``1_000_000``); a float, even a whole one (``50.0``), is refused."""
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        v = int(raw)
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        raise EnvError(f"{name}={raw[:40]!r}: not a whole number from {lo:,} to {hi:,} "
                       f"(unset, it is {default:,})")
    return v
