"""Why a path a user named is not a file rasd can read.

Why: "no such file" was said of a directory and of a device or a pipe
(``/dev/null``, ``/dev/stdin``) by the commands that read one file whole
(`lists import`, `bank import`, `classify`), and the three places that
learnt to tell them apart wrote the same words each."""

from __future__ import annotations

from pathlib import Path


def not_a_file(path: Path, what: str = "file") -> str | None:
    """Why ``path`` is no regular file (a directory, "not a ``what``"; a
    device or a pipe; nothing there), or None where it is one."""
    if path.is_file():
        return None
    if path.is_dir():
        return f"a directory, not a {what}"
    if path.exists():
        return "not a regular file (a device, a pipe); save it to a file first"
    return "no such file"
