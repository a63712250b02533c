"""rasd's numeric environment variables, read as user input.

Why: a few tuning knobs (``RASD_PDQ_MIN_QUALITY``, ``RASD_FLOOD_MAX`` …) were
read with a bare ``int(os.environ[...])`` when their module was imported, so
a typo (``RASD_FLOOD_MAX=5O``) was a ValueError traceback out of whichever
command first imported it, naming neither the variable nor what it takes.
``env_number`` (``env_int``) reads one within its bounds or raises
``EnvError`` naming it (so do ``Limits.from_env`` and vPDQ's interval, through
it); the CLI prints that as one line, exit status 2."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)


class EnvError(ValueError):
    """An environment variable of rasd's holds a value it cannot take."""


def env_number(name: str, default: N, kind: type[N], ok: Callable[[N], bool], what: str) -> N:
    """The number in environment variable ``name``, read by ``kind`` (``int``
    or ``float``): ``default`` where it is unset or empty; else ``EnvError``
    ``NAME='value': what`` where ``kind`` cannot read it or ``ok`` refuses it
    (a float's nan and inf are refused by any bounds ``ok`` checks)."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        v = kind(raw)
    except ValueError:
        raise EnvError(f"{name}={raw[:40]!r}: {what}") from None
    if not ok(v):
        raise EnvError(f"{name}={raw[:40]!r}: {what}")
    return v


def env_int(name: str, default: int, lo: int, hi: int) -> int:
    """The whole number in environment variable ``name`` (``default`` where
    it is unset or empty), from ``lo`` to ``hi``; else ``EnvError``.
    Underscores and surrounding blanks are read as ``int`` reads them
    (``1_000_000``); a float, even a whole one (``50.0``), is refused."""
    return env_number(name, default, int, lambda v: lo <= v <= hi,
                      f"not a whole number from {lo:,} to {hi:,} (unset, it is {default:,})")
