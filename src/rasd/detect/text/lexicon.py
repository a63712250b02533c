"""Indicator lexicons: designated organisations and their aliases in every script,
their media outlets, slogans, hashtags and marker emoji — each entry with its source.

Matches are *features and explanations*, never verdicts (a news report names the
group too). Matching works on :func:`alias_key` forms (folded, punctuation-free
token sequences), by looking every token n-gram of a post up in a dict, so it costs
the same whatever the lexicon size.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from rasd.detect.text.normalize import fold
from rasd.jsonread import JSONInputError, parse_json

MAX_LEXICON_BYTES = 50 * 1024 * 1024
# An alias is a name or a phrase (the bundled lexicons' longest: 8 words, 69
# characters). Matching tries each run of up to the longest alias's words at
# each word of a post: an alias of 100,000 words made that quadratic in the post.
MAX_ALIAS_WORDS = 16
MAX_ALIAS_CHARS = 200
_NONWORD = re.compile(r"[^\w]+", re.UNICODE)
_ARTICLE = re.compile(r"\b(al|el|ad|an|ar|as|ash|at|az|ал|аль|аш|ад|ан|ат|эль)\s+(?=\w)")


_LATIN_MARKS = re.compile("[\u0300-\u036f]")
# Cyrillic letters whose mark makes a letter of its own, never left off in
# writing: й (short i; и is another letter: "бой" battle, "бои" battles), ў
# (Belarusian short u), ї (Ukrainian yi; і is another letter). ё is not here:
# Russian writes it е as often as not, so ё and е are one letter for matching.
_KEPT_LETTERS = re.compile("([йЙўЎїЇ])")


def _strip(text: str) -> str:
    return unicodedata.normalize("NFC", _LATIN_MARKS.sub("", unicodedata.normalize("NFD", text)))


def strip_marks(text: str) -> str:
    """Latin/Greek/Cyrillic accents removed (NFD, combining diacritical marks
    U+0300–U+036F dropped, NFC again): "Dâesh", "khilâfah", "Dawlat al-Islāmiyya",
    ASCII-typed Turkish ("Irak Sam", "deas") and French without accents match the
    lexicon's spellings, whichever side has the accents; so do Russian stress
    marks ("Исла́м") and ё written е. The Cyrillic letters й, ў and ї are kept:
    their mark is no accent but the letter (dropped, "бой" was "бои"). Arabic
    marks are already removed by :func:`~rasd.detect.text.normalize.fold`."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFC", text)  # a decomposed й is й too
    if not _KEPT_LETTERS.search(text):
        return _strip(text)
    # (split with its group: the kept letters are the odd parts)
    return "".join(p if i % 2 else _strip(p)
                   for i, p in enumerate(_KEPT_LETTERS.split(text)))


def alias_key(text: str, *, folded: bool = False) -> str:
    """Canonical form for matching: folded, accents stripped (:func:`strip_marks`),
    apostrophes dropped, other punctuation as spaces, Arabic-style articles ("al-",
    "el-", "аль-") glued to the noun."""
    t = strip_marks(text if folded else fold(text))
    t = t.replace("'", "").replace("’", "").replace("ʼ", "").replace("`", "")
    t = " ".join(_NONWORD.sub(" ", t).split())
    return _ARTICLE.sub(lambda m: m.group(1), t)


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str          # entity | media | slogan | emoji
    entity: str | None
    ideology: str | None
    source: str
    alias: str


@dataclass(frozen=True, slots=True)
class Match:
    kind: str
    entity: str | None
    ideology: str | None
    source: str
    alias: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "entity": self.entity, "ideology": self.ideology,
                "alias": self.alias, "matched": self.text, "source": self.source}


class LexiconError(ValueError):
    pass


class Lexicon:
    """Aliases (names, slogans, phrases) matched word by word in a post's
    folded text. An alias is at most ``MAX_ALIAS_WORDS`` words and
    ``MAX_ALIAS_CHARS`` characters (a LexiconError past them)."""

    def __init__(self, entries: list[Entry]):
        self.table: dict[str, list[Entry]] = {}
        self.prefixes: set[str] = set()  # (a run of words no alias starts with: look no further)
        self.max_len = 1
        for e in entries:
            problem = alias_problem(e.alias)
            if problem:
                raise LexiconError(f"alias {e.alias[:60]!r}: {problem}")
            k = alias_key(e.alias)
            if not k:
                continue
            self.table.setdefault(k, []).append(e)
            words = k.split()
            self.max_len = max(self.max_len, len(words))
            self.prefixes.update(" ".join(words[:m]) for m in range(1, len(words)))
        self.size = len(entries)

    @classmethod
    def from_files(cls, paths: list[Path]) -> Lexicon:
        entries: list[Entry] = []
        for p in paths:
            entries.extend(load_lexicon_file(p))
        return cls(entries)

    def match(self, text: str, *, folded: bool = False) -> list[Match]:
        toks = alias_key(text, folded=folded).split()
        found: dict[tuple[str, str | None], Match] = {}
        n = len(toks)
        for i in range(n):
            key = toks[i]
            for j in range(i + 1, min(n, i + self.max_len) + 1):
                if j > i + 1:
                    key = f"{key} {toks[j - 1]}"
                for e in self.table.get(key, ()):
                    k = (e.kind, e.entity or e.alias)
                    if k not in found:
                        found[k] = Match(e.kind, e.entity, e.ideology, e.source, e.alias, key)
                if key not in self.prefixes:
                    break
        return list(found.values())


def alias_problem(alias: str) -> str | None:
    """Why ``alias`` cannot be an alias (too long), or None."""
    if len(alias) > MAX_ALIAS_CHARS:
        return f"{len(alias):,} characters; an alias is at most {MAX_ALIAS_CHARS}"
    words = len(alias_key(alias).split())
    if words > MAX_ALIAS_WORDS:
        return f"{words} words; an alias is at most {MAX_ALIAS_WORDS}"
    return None


def load_lexicon_file(path: Path) -> list[Entry]:
    """The entries of one lexicon file; any fault (unreadable, not UTF-8, not
    JSON, wrong shape) is a LexiconError naming the file."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_LEXICON_BYTES:
            raise LexiconError(f"{p}: lexicon larger than {MAX_LEXICON_BYTES} bytes")
        doc = parse_json(p.read_text(encoding="utf-8"))
    except JSONInputError as e:
        raise LexiconError(f"{p}: {e}") from None
    except UnicodeDecodeError as e:
        raise LexiconError(f"{p}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise LexiconError(f"{p}: cannot read: {e.strerror or e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise LexiconError(f"{p}: expected an object with an 'entries' list")
    out = []
    for i, raw in enumerate(doc["entries"]):
        if not isinstance(raw, dict):
            raise LexiconError(f"{p}: entries[{i}]: must be an object")
        src = raw.get("source")
        if not isinstance(src, str) or not src.strip():
            raise LexiconError(f"{p}: entries[{i}].source: every entry must name its source")
        aliases = raw.get("aliases")
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise LexiconError(f"{p}: entries[{i}].aliases: must be a list of strings")
        for field in ("kind", "entity", "ideology"):  # text or absent (matches are keyed
            if not isinstance(raw.get(field), str | None):  # by them: a list stopped a scan)
                raise LexiconError(f"{p}: entries[{i}].{field}: must be a string")
        kind = str(raw.get("kind", "entity"))
        for k, a in enumerate(aliases):
            problem = alias_problem(a)
            if problem:
                raise LexiconError(f"{p}: entries[{i}].aliases[{k}]: {problem}")
            out.append(Entry(kind, raw.get("entity"), raw.get("ideology"), src, a))
    return out


def lexicon_dir() -> Path:
    return Path(str(files("rasd") / "data" / "lexicons"))


def resolve_lexicon_paths(names: list[str] | tuple[str, ...], base: Path | None = None) -> list[Path]:
    out = []
    for n in names:
        p = Path(n)
        if not p.is_absolute():
            cand = [(base / p) if base else None, lexicon_dir() / p]
            p = next((c for c in cand if c is not None and c.is_file()), cand[-1])
        if not p.is_file():
            raise LexiconError(f"lexicon file not found: {n}")
        out.append(p)
    return out


# the shipped lexicons: what a policy that names none (and a model that names none) uses
DEFAULT_LEXICONS = ("entities.json", "indicators.json")


@lru_cache(maxsize=8)
def load_lexicon(names: tuple[str, ...] = DEFAULT_LEXICONS,
                 base: str | None = None) -> Lexicon:
    return Lexicon.from_files(resolve_lexicon_paths(names, Path(base) if base else None))
