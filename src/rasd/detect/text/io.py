"""Reading labelled and unlabelled text files for train / eval / classify.

Formats: JSONL (one object per line), CSV/TSV with a header, or plain text (one
post per line, classify only). Every error names the file, the line and the field.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from rasd.jsonread import JSONInputError, parse_json
from rasd.paths import not_a_file
from rasd.store.db import storable

MAX_LINE_BYTES = 1_000_000
MAX_TEXT_CHARS = 100_000


class InputError(ValueError):
    pass


def _open(path: str) -> TextIO:
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
    p = Path(path)
    why = not_a_file(p)
    if why is not None:
        raise InputError(f"{path}: {why}")
    if p.suffix == ".gz":
        from rasd.ingest.base import open_decompressed

        # decompressed within the budget the ingest gives a compressed file (a
        # decompression bomb: ``_lines`` says so), lines untranslated, as a plain
        # file's: a line's end is seen as it is (``LineEnds``), and CSV reads its
        # quoted line breaks as written
        return io.TextIOWrapper(open_decompressed(p), encoding="utf-8",  # type: ignore[type-var]
                                errors="replace", newline="")
    return p.open(encoding="utf-8", errors="replace", newline="")


class LineEnds:
    """The ends of the lines read so far through ``reading(f)``, by kind: a line
    ends at LF, at CR LF or, for rasd as for Python, at a lone CR (classic Mac
    OS, some spreadsheet exports). ``tail -n`` counts LFs only, so on a file with
    lone CRs the line numbers rasd gives are not the ones ``tail`` goes by: an
    interrupted ``rasd classify`` printed a ``tail -n +K`` that went on from the
    wrong place (``resume_lines``)."""

    __slots__ = ("_f", "crlf", "lf", "lone_cr")

    def __init__(self) -> None:
        self._f: Any = None
        self.lf = self.crlf = self.lone_cr = 0  # LF (CR LF among them), lone CR

    def reading(self, f: TextIO) -> LineEnds:
        """``self`` as a file to read lines from: ``f``'s, tallied as they are read.
        ``f`` must not translate line ends (``newline=""``)."""
        self._f = f
        return self

    def readline(self, size: int = -1) -> str:
        line = self._f.readline(size)
        if line.endswith("\n"):
            self.lf += 1
            self.crlf += line.endswith("\r\n")
        elif line.endswith("\r"):
            self.lone_cr += 1
        return line

    def mark(self) -> tuple[int, int, int]:
        """Where reading is: what ``resume_lines`` takes."""
        return self.lf, self.crlf, self.lone_cr


def resume_lines(mark: tuple[int, int, int]) -> tuple[int, bool]:
    """(K, through_tr): the input after ``mark`` (``LineEnds.mark``) is what
    ``tail -n +K`` gives — or, where a lone CR ended a line before it
    (``through_tr``), ``tr '\\r' '\\n' | tail -n +K``: with every CR made an LF,
    each line ends where rasd ended it (a CR LF then ends two, the second empty,
    which classify passes over)."""
    lf, crlf, lone_cr = mark
    if not lone_cr:
        return lf + 1, False
    return lf + crlf + lone_cr + 1, True


def _lines(f: TextIO | LineEnds, path: str = "-") -> Iterator[tuple[int, str | None]]:
    """(1-based line number, line) with bounded memory: a line longer than
    ``MAX_LINE_BYTES`` characters is None, passed over without being held whole
    (a file or pipe with no newline for gigabytes would otherwise be read into
    memory before its length was checked).

    A ``.gz`` file that unpacks past its budget (``rasd.ingest.base.Budget``:
    100 times its size, and 100 MiB whatever its size), a decompression bomb,
    ends the reading with an ``InputError`` naming it and saying to unpack it
    first; so does compressed data that is damaged or cut short (a traceback
    before)."""
    from rasd.ingest import base
    from rasd.ingest.base import DecompressionBomb, iter_lines
    from rasd.terminal import shell_word

    try:
        yield from iter_lines(f, MAX_LINE_BYTES, ("\n", "\r"))
    except DecompressionBomb as e:
        raise InputError(
            f"{path}: refused as a decompression bomb: it unpacks to more than "
            f"{e.limit:,} bytes from {e.compressed:,} compressed bytes (the limit: "
            f"{base.MAX_RATIO} times its size, and {base.RATIO_FREE:,} bytes whatever its "
            "size; real data compresses 2-20x); if it is no bomb, unpack it first "
            f"(gzip -dk {shell_word(path)}) and give the unpacked file") from None
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot be read: {e}") from None


def _bounded(f: TextIO, path: str) -> Iterator[str]:
    """The lines of a CSV file for the csv module, each bounded (InputError past it)."""
    for n, line in _lines(f, path):
        if line is None:
            raise InputError(f"{path}: line {n}: longer than {MAX_LINE_BYTES} bytes")
        yield line


def _fmt(path: str) -> str:
    name = path.removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".tsv"):
        return "tsv"
    return "jsonl"


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() in ("1", "true", "yes", "y", "t")


def read_labelled(path: str, *, require_label: bool = True) -> list[dict[str, Any]]:
    """Rows with text, label and optional lang, split, journalism, weight, role, id."""
    out = []
    fmt = _fmt(path)
    with _open(path) as f:
        if fmt in ("csv", "tsv"):
            csv.field_size_limit(MAX_LINE_BYTES)
            reader = csv.DictReader(_bounded(f, path), delimiter="," if fmt == "csv" else "\t")
            if not reader.fieldnames or "text" not in reader.fieldnames:
                raise InputError(f"{path}: line 1: header needs a 'text' column "
                                 f"(has {reader.fieldnames})")
            try:
                for rec in reader:
                    out.append(_row(path, reader.line_num, rec, require_label))
            except csv.Error as e:
                raise InputError(f"{path}: line {reader.line_num}: {e}") from None
        else:
            for n, line in _lines(f, path):
                if line is None:
                    raise InputError(f"{path}: line {n}: longer than {MAX_LINE_BYTES} bytes")
                if not line.strip():
                    continue
                try:
                    rec = parse_json(line)
                except JSONInputError as e:
                    raise InputError(f"{path}: line {n}: {e}") from None
                if not isinstance(rec, dict):
                    raise InputError(f"{path}: line {n}: expected a JSON object")
                out.append(_row(path, n, rec, require_label))
    return out


def _row(path: str, n: int, rec: dict[str, Any], require_label: bool) -> dict[str, Any]:
    try:
        rec = storable(rec)
    except RecursionError:  # nesting json.loads reads but the walk of storable does not
        raise InputError(f"{path}: line {n}: JSON nested too deeply") from None
    text = rec.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{path}: line {n}: field 'text': missing or empty")
    label = rec.get("label")
    if require_label and (not isinstance(label, str) or not label.strip()):
        raise InputError(f"{path}: line {n}: field 'label': missing or empty")
    row: dict[str, Any] = {"text": text[:MAX_TEXT_CHARS], "label": (label or "").strip() or None,
                           "line": n, "file": path}
    for k in ("lang", "split", "role", "id", "source"):
        if rec.get(k) not in (None, ""):
            row[k] = str(rec[k]).strip()
    if row.get("split") and row["split"] not in ("train", "calib", "test"):
        raise InputError(f"{path}: line {n}: field 'split': must be train, calib or test")
    if rec.get("journalism") not in (None, ""):
        row["journalism"] = _bool(rec["journalism"])
    if rec.get("weight") not in (None, ""):
        try:
            row["weight"] = float(rec["weight"])
        except (TypeError, ValueError):
            raise InputError(f"{path}: line {n}: field 'weight': not a number") from None
        if not 0 < row["weight"] <= 100:
            raise InputError(f"{path}: line {n}: field 'weight': must be in (0, 100]")
    return row


_JSON_SCALAR = re.compile(r"\s*(?:null|true|false|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*")


def _non_object_json(s: str) -> str | None:
    """What JSON value other than an object the line ``s`` is ("null", "number",
    "boolean", "array"), or None: for an object, a quoted string (a quoted
    sentence is plain text) and text that is not JSON. ``rasd classify`` took
    ``null``, ``42`` and ``[1, 2]`` for posts and classified their literal text."""
    t = s.strip()
    if t.startswith("["):
        try:
            v = parse_json(t)
        except JSONInputError:
            return None  # "[BREAKING] ..." is a plain text line
        return "array" if isinstance(v, list) else None
    if _JSON_SCALAR.fullmatch(t):
        return ("null" if t == "null" else "boolean" if t in ("true", "false")
                else "number")
    return None


def iter_posts(path: str, ends: LineEnds | None = None
               ) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Yield (line number, {"id", "text", "lang"?, "role"?} or None, error or None) for
    ``rasd classify``: JSONL objects, or plain text lines. A line that is a JSON
    value other than an object or a string (``null``, ``true``, ``42``, ``[1, 2]``)
    is an error, not a post: it is no text, and reading it as one (as before)
    classified the literal ``null``.

    Strings are cleaned as ingest cleans what it stores (``storable``): JSON may
    escape a lone surrogate (``"\\ud800"``), which is no character and cannot be
    encoded — one such post stopped ``rasd classify`` and lost its whole batch.

    ``ends``, if given, tallies the line ends read (``LineEnds``): as each post is
    yielded, through the end of its line."""
    with _open(path) as f:
        for n, line in _lines(ends.reading(f) if ends is not None else f, path):
            if line is None:
                yield n, None, f"line longer than {MAX_LINE_BYTES} bytes"
                continue
            s = line.rstrip("\r\n")
            if not s.strip():
                continue
            kind = _non_object_json(s)
            if kind:
                yield n, None, f"a JSON {kind}, not an object {{\"id\", \"text\"}}"
                continue
            if s.lstrip().startswith("{"):
                try:
                    rec = parse_json(s)
                except JSONInputError as e:
                    yield n, None, str(e)
                    continue
                text = rec.get("text") if isinstance(rec, dict) else None
                if not isinstance(text, str):
                    yield n, None, "field 'text': missing or not a string"
                    continue
                if isinstance(rec.get("id"), (list, dict)):  # printed as given
                    yield n, None, "field 'id': must be a string or number"
                    continue
                item = storable({"id": rec.get("id", n), "text": text[:MAX_TEXT_CHARS]})
                if isinstance(rec.get("lang"), str) and rec["lang"]:
                    item["lang"] = storable(rec["lang"])
                if isinstance(rec.get("role"), str) and rec["role"]:
                    item["role"] = storable(rec["role"])
                yield n, item, None
            else:
                yield n, {"id": n, "text": s[:MAX_TEXT_CHARS]}, None
