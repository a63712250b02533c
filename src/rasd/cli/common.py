"""Helpers shared by command modules: the store, errors, output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson
import typer

from rasd.store import Store
from rasd.terminal import json_safe, term_safe


@dataclass
class State:
    db: str | None = None
    store: Store | None = None


STATE = State()


def get_store() -> Store:
    """Open (and migrate) the store named by --db / RASD_DB / ./rasd.db."""
    if STATE.store is None:
        STATE.store = Store.open(STATE.db)
    return STATE.store


def echo(text: str, err: bool = False) -> None:
    """Print a line that may quote input (names, handles, values, paths) with
    control characters and bidi overrides escaped."""
    typer.echo(term_safe(text), err=err)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear error to stderr and exit with ``code`` (2: bad usage/input).
    Messages name files and quote input: control characters are escaped."""
    typer.echo(term_safe(f"rasd: error: {message}"), err=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    typer.echo(term_safe(f"rasd: warning: {message}"), err=True)


def echo_json(obj: Any, *, indent: bool = True) -> None:
    opt = orjson.OPT_INDENT_2 if indent else 0
    sys.stdout.write(json_safe(orjson.dumps(obj, option=opt | orjson.OPT_NON_STR_KEYS,
                                            default=str).decode()) + "\n")


def jsonl_line(obj: Any) -> str:
    return json_safe(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS, default=str).decode())


def progress_enabled() -> bool:
    return sys.stderr.isatty()


@contextmanager
def stage_progress(enabled: bool, prefix: str = "") -> Iterator[
        Callable[[str, int, int], None] | None]:
    """A progress display for work in named stages; yields ``prog(stage, done,
    total)`` or None when disabled (not a terminal, or JSON output)."""
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    bar = Progress(transient=True)
    tasks: dict[str, Any] = {}

    def prog(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(f"{prefix}{stage}", total=total)
        bar.update(tasks[stage], completed=done)

    bar.start()
    try:
        yield prog
    finally:
        bar.stop()
