"""Text written by adversaries, made safe to print to a terminal.

Posts, names and file names inside exports are input: a control character or
a bidirectional override in them can rewrite a terminal's title, move its
cursor or reorder what it shows. Everything rasd prints from input — the CLI's
messages and the library's warnings on stderr — goes through ``term_safe``.
"""

from __future__ import annotations

from rasd.jsonread import map_leaves

# Control characters (C0 but tab and newline, DEL, C1) and bidirectional overrides.
_TERM_UNSAFE = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0))}
_TERM_UNSAFE.update({c: f"\\u{c:04x}" for c in (*range(0x202a, 0x202f), *range(0x2066, 0x206a))})


def term_safe(text: str) -> str:
    """``text`` with control characters and bidi overrides shown as escapes, for
    printing content (names, raw records) to a terminal."""
    return text.translate(_TERM_UNSAFE)


def one_line(text: str) -> str:
    """``text`` (a file name, a reason quoting input) kept to one line: line
    breaks and tabs written ``\\n``, ``\\r``, ``\\t``, so that a name cannot
    forge lines of a listing. Printed through ``term_safe`` as any text."""
    return text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


# In JSON, control characters of C0 are escaped by the encoder; DEL, C1 and the
# bidi overrides are valid unescaped, and as harmful on a terminal.
_JSON_UNSAFE = {c: f"\\u{c:04x}" for c in (*range(0x7f, 0xa0), *range(0x202a, 0x202f),
                                            *range(0x2066, 0x206a))}


def json_safe(text: str) -> str:
    """Serialised JSON with DEL, C1 controls and bidi overrides written as
    ``\\uXXXX`` escapes: the same JSON values, safe to print to a terminal
    (they can only occur inside strings, where an escape means the same)."""
    return text.translate(_JSON_UNSAFE)


def valid_text(text: str) -> str:
    """``text`` as valid Unicode: bytes of a file name that are not UTF-8 (which
    Python keeps as lone surrogates) written ``\\xNN``, any other lone surrogate
    ``\\udXXX``. Such strings cannot be encoded as UTF-8: printed, written as
    JSON or stored, they raised instead."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def valid_json_value(value: object) -> object:
    """``value`` with ``valid_text`` applied to every string in it (keys too)."""
    return map_leaves(value, lambda v: valid_text(v) if isinstance(v, str) else v)
