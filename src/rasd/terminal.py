"""Text written by adversaries, made safe to print to a terminal.

Posts, names and file names inside exports are input: a control character or
a bidirectional override in them can rewrite a terminal's title, move its
cursor or reorder what it shows. Everything rasd prints from input — the CLI's
messages and the library's warnings on stderr — goes through ``term_safe``.
"""

from __future__ import annotations

# Control characters (C0 but tab and newline, DEL, C1) and bidirectional overrides.
_TERM_UNSAFE = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0))}
_TERM_UNSAFE.update({c: f"\\u{c:04x}" for c in (*range(0x202a, 0x202f), *range(0x2066, 0x206a))})


def term_safe(text: str) -> str:
    """``text`` with control characters and bidi overrides shown as escapes, for
    printing content (names, raw records) to a terminal."""
    return text.translate(_TERM_UNSAFE)
