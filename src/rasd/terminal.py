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


# In JSON, control characters of C0 are escaped by the encoder; DEL, C1 and the
# bidi overrides are valid unescaped, and as harmful on a terminal.
_JSON_UNSAFE = {c: f"\\u{c:04x}" for c in (*range(0x7f, 0xa0), *range(0x202a, 0x202f),
                                            *range(0x2066, 0x206a))}


def json_safe(text: str) -> str:
    """Serialised JSON with DEL, C1 controls and bidi overrides written as
    ``\\uXXXX`` escapes: the same JSON values, safe to print to a terminal
    (they can only occur inside strings, where an escape means the same)."""
    return text.translate(_JSON_UNSAFE)
