"""Text written by adversaries, made safe to print to a terminal.

Posts, names and file names inside exports are input: a control character or
a bidirectional override in them can rewrite a terminal's title, move its
cursor or reorder what it shows. Everything rasd prints from input — the CLI's
messages and the library's warnings on stderr — goes through ``term_safe``.
"""

from __future__ import annotations

import re
import shlex
import unicodedata

from rasd.jsonread import map_leaves

# Control characters (C0 but tab and newline, DEL, C1), bidirectional overrides,
# and LINE and PARAGRAPH SEPARATOR (U+2028, U+2029): line breaks to Unicode (and
# to str.splitlines), with which a name forged a row of a listing read so.
_TERM_UNSAFE = {c: f"\\x{c:02x}" for c in (*range(0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0))}
_TERM_UNSAFE.update({c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202a, 0x202f),
                                               *range(0x2066, 0x206a))})


def term_safe(text: str) -> str:
    """``text`` with control characters and bidi overrides shown as escapes, for
    printing content (names, raw records) to a terminal. A byte of a file name
    that is not UTF-8 (a lone surrogate) is written ``\\xNN`` (``valid_text``):
    printed, it went out as the byte itself on stdout — 0x9b is CSI, an escape
    sequence's start, to a terminal reading 8-bit controls — and as ``\\udc9b``
    on stderr."""
    return valid_text(text).translate(_TERM_UNSAFE)


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


# Characters a POSIX shell reads as part of a word, unquoted: letters and digits
# of any script (only ASCII punctuation is syntax) and this punctuation.
_SHELL_PLAIN = frozenset("@%+=:,./-_")
# Inside double quotes a shell still reads these (and bash's history "!").
_IN_DOUBLE_QUOTES = frozenset('"$`\\!')
_ANSI_C = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ANSI_C_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|.)",
                            re.DOTALL)
_ANSI_C_CHARS = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n",
                 "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def shell_word(text: str) -> str:
    """``text`` as one shell word that is also safe to print: as it is where a
    shell reads it so (``x:9000000001``, ``telegram:@Ärger`` — letters of any
    script need no quotes); else in single quotes (``'telegram:@lions media
    archive'``), or double quotes where it holds a single quote and nothing a
    shell reads inside those (``"telegram:@it's"``); and where it holds what
    ``term_safe`` escapes (control characters, line breaks, bidi overrides),
    in ANSI-C quotes with those written as escapes (``$'telegram:@a\\x1bb'``),
    which bash and zsh read back as the characters themselves — printed plain,
    the escape sequence took over the terminal, and escaped inside single
    quotes it was pasted back as backslashes. ``shell_unword`` reads each form
    back where no shell did."""
    if text and all(c.isalnum() or c in _SHELL_PLAIN for c in text):
        return text
    if term_safe(one_line(text)) != text:
        return "$'" + "".join(_ansi_c(c) for c in text) + "'"
    if "'" not in text:
        return f"'{text}'"
    if not any(c in _IN_DOUBLE_QUOTES for c in text):
        return f'"{text}"'
    return shlex.quote(text)


def _ansi_c(c: str) -> str:
    if c in _ANSI_C:
        return _ANSI_C[c]
    if term_safe(c) == c:
        return c
    # \xHH is a byte to bash: code points past ASCII (C1, bidi) as \uHHHH
    return f"\\x{ord(c):02x}" if ord(c) < 0x80 else f"\\u{ord(c):04x}"


def shell_unword(text: str) -> str | None:
    """The one word a shell reads from ``text`` as ``shell_word`` writes it
    (quoted, or ANSI-C quoted ``$'…'``); None where it is not one word."""
    if len(text) >= 3 and text.startswith("$'") and text.endswith("'"):
        body = text[2:-1]
        if re.search(r"(?<!\\)(?:\\\\)*'", body):  # a quote that ends the word early
            return None
        return _ANSI_C_ESCAPE.sub(_ansi_c_char, body)
    try:
        words = shlex.split(text)
    except ValueError:  # unbalanced quotes: no shell quoting
        return None
    return words[0] if len(words) == 1 else None


def _ansi_c_char(m: re.Match[str]) -> str:
    e = m.group(1)
    if e[0] in "xuU" and len(e) > 1:
        cp = int(e[1:], 16)
        # a surrogate (\ud800) is no character: as one, the lookup could not
        # encode it for the database (UnicodeEncodeError); kept as written
        return chr(cp) if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else m.group(0)
    return _ANSI_C_CHARS.get(e, m.group(0))


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: two for wide and full-width
    characters (CJK), none for combining marks and format characters."""
    return sum(map(_char_width, text))


def cut_to_width(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` columns (``display_width``), ending
    in "…" where it was cut."""
    if display_width(text) <= width:
        return text
    n = 0
    for i, c in enumerate(text):
        n += _char_width(c)
        if n > width - 1:
            return text[:i] + "…"
    return text


def _char_width(c: str) -> int:
    if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
