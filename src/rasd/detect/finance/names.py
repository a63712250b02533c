"""Name normalisation for screening across Arabic, Latin and Cyrillic scripts.

A name becomes a list of *tokens*, each with
- ``latin``: a lower-case ASCII rendering (Arabic through a conservative table
  that keeps long vowels, other scripts through anyascii),
- ``skel``: a consonant skeleton that survives the usual transliteration
  differences (Usama/Osama/أسامة → ``sm``; Zawahiri/Завахири/الظواهري → ``zhr``).

Particles (al-, bin/ibn, de, von …) and honorifics (sheikh, mullah, dr …) are
set aside — reported, not compared — and kunya/theophoric prefixes are joined to
the word they qualify (``Abu Bakr`` → ``abubakr``, ``Abd al-Rahman`` /
``Abdul Rahman`` / ``Abdurrahman`` → ``abdrahman``), so that spacing and article
differences do not split a name differently on each side.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from anyascii import anyascii

MAX_NAME = 400  # characters of a name that are looked at
# characters of a post's text that are screened (Screener.find_in_text,
# normalize_text): all of them, not MAX_NAME's
MAX_TEXT = 5000


@lru_cache(maxsize=1)
def _resources() -> dict:
    return json.loads((files("rasd") / "data" / "finance" / "name_particles.json").read_text(
        encoding="utf-8"))


@lru_cache(maxsize=1)
def _sets() -> tuple[frozenset[str], frozenset[str], frozenset[str], dict[str, str]]:
    r = _resources()
    prefix = {}
    for canon, variants in r["kunya_prefixes"].items():
        for v in variants:
            prefix[v.strip("-")] = canon
    return (frozenset(r["particles"]), frozenset(r["honorifics"]),
            frozenset(r["org_stopwords"]), prefix)


# ---------------------------------------------------------------- Arabic
_AR = {
    "ا": "a", "ء": "",
    "ب": "b", "ت": "t", "ث": "th", "ج": "j", "ح": "h", "خ": "kh", "د": "d", "ذ": "dh",
    "ر": "r", "ز": "z", "س": "s", "ش": "sh", "ص": "s", "ض": "d", "ط": "t", "ظ": "z",
    "ع": "", "غ": "gh", "ف": "f", "ق": "q", "ك": "k", "ل": "l", "م": "m", "ن": "n",
    "ه": "h", "ى": "a", "ؤ": "", "ئ": "", "پ": "p", "چ": "ch", "ژ": "zh", "گ": "g", "ک": "k",
    "ی": "y", "ۀ": "h", "ڤ": "v",
}
_AR_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
# Letters that ordinary Arabic writing uses one for another, folded before a word
# is transliterated, so that a listed name and a post (or a query) meet however
# each was typed: hamza on or under alif, madda and wasla (أ إ آ ٱ → ا) and ta
# marbuta (ة → ه: informal writing drops its dots, القاعده for القاعدة; read "a"
# at the end of a word, as ta marbuta was, see _arabic_word). These are folds of
# Arabic search engines — Lucene's ArabicNormalizer (after Larkey, Ballesteros &
# Connell, "Light Stemming for Arabic Information Retrieval", 2007) — together
# with the tatweel and diacritics of _AR_DIACRITICS. Two more of theirs were
# measured and are not folded (docs/finance.md): alif maqsura as ya (ى → ي) made
# على and إلى ("on", "to") the name Ali, and the hamza carriers (ؤ ئ → و ي) made
# قائدا ("as a leader") al-Qaida; ى and ؤ ئ keep their own readings in _AR. No library in rasd's
# dependencies does this: rigour and normality only transliterate (through ICU,
# which keeps the letters apart), and NFKC folds presentation forms only.
_AR_ORTHO = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه"})


def fold_orthography(word: str) -> str:
    """An Arabic word with its diacritics and tatweel dropped and the letters
    written one for another folded (:data:`_AR_ORTHO`), as it is transliterated."""
    return _AR_DIACRITICS.sub("", word).translate(_AR_ORTHO)


def _arabic_word(w: str) -> str:
    """One Arabic-script word → Latin, its spelling folded first
    (:func:`fold_orthography`). Waw/ya are vowels (u/i) unless word-initial or
    before alif; a final ha after a consonant, in a word of three letters or
    more, is read "a", as ta marbuta always was (ha is its usual spelling in
    informal writing: القاعده, القاعدة → qada) — not in الله and the names
    ending in it, nor in طه (Taha); the article al- is kept as a separate token."""
    w = fold_orthography(w)
    out: list[str] = []
    last = len(w) - 1
    # الله (Allah, and the theophoric names ending in it: عبدالله, خيرالله) ends
    # in a ha, never a ta marbuta, and its romanisations (Abdullah, Abdallah,
    # Khairullah) leave the article's alif unwritten: its ha is read as before
    theophoric = w.endswith("لله")
    for i, ch in enumerate(w):
        nxt = w[i + 1] if i < last else ""
        if ch in "وي":
            consonant = i == 0 or (nxt != "" and nxt in "اى")
            if ch == "و":
                out.append("w" if consonant else "u")
            else:
                out.append("y" if consonant else "i")
        elif ch == "ع":
            out.append("a" if i == 0 else "")
        elif ch == "ه" and i == last and i > 1 and w[i - 1] not in "اوي" and not theophoric:
            out.append("a")
        else:
            out.append(_AR.get(ch, ch))
    return "".join(out)


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\ufb50" <= ch <= "\ufeff"


@lru_cache(maxsize=4096)
def _char_script(ch: str) -> str | None:
    """The first word of a letter's Unicode name (its script, CJK as HAN), or
    None for a letter without a name (remembered: a name has few letters, a list
    of thousands of names the same few hundred)."""
    try:
        script = unicodedata.name(ch).split()[0]
    except ValueError:
        return None
    return "HAN" if script == "CJK" else script


def dominant_script(text: str, limit: int = MAX_NAME) -> str | None:
    """The script most of the first ``limit`` characters' letters are written in."""
    counts: dict[str, int] = {}
    for ch in text[:limit]:
        if ch.isalpha():
            script = _char_script(ch)
            if script is None:
                continue
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return None
    return max(counts, key=counts.__getitem__).title()


# ---------------------------------------------------------------- tokens
@dataclass(frozen=True, slots=True)
class Token:
    latin: str
    skel: str
    phon: str = ""  # vowel-normalised spelling (Youssef/Yusuf → yusif/yusuf)


@dataclass(frozen=True, slots=True)
class NormName:
    tokens: tuple[Token, ...]  # compared tokens
    set_aside: tuple[str, ...]  # particles / honorifics / stopwords that were dropped
    script: str | None

    @property
    def key(self) -> str:
        return " ".join(t.latin for t in self.tokens)


_SPLIT = re.compile(r"[^0-9a-z]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_DIGRAPHS = (("kh", "h"), ("gh", "g"), ("sh", "s"), ("ch", "s"), ("th", "t"), ("dh", "d"),
             ("ph", "f"), ("zh", "j"), ("dj", "j"), ("ts", "s"), ("ck", "k"), ("ou", "u"))
_SKEL_MAP = str.maketrans({"q": "k", "c": "k", "g": "j", "v": "w", "p": "b", "x": "h"})


@lru_cache(maxsize=200_000)
def skeleton(latin: str) -> str:
    s = latin
    for a, b in _DIGRAPHS:
        s = s.replace(a, b)
    s = s.translate(_SKEL_MAP)
    s = re.sub(r"[aeiouyw']", "", s)
    s = re.sub(r"(.)\1+", r"\1", s)
    return s[:-1] if len(s) > 2 and s.endswith("h") else s  # -ah/-a (ة), -ullah/-ulla


_PHON_SEQ = (("ou", "u"), ("oo", "u"), ("ee", "i"), ("ei", "i"), ("ie", "i"), ("aa", "a"),
             ("ph", "f"), ("ck", "k"), ("dh", "d"), ("th", "t"), ("kh", "h"), ("gh", "g"))
_PHON_MAP = str.maketrans({"y": "i", "e": "i", "o": "u", "w": "u", "q": "k", "c": "k",
                           "v": "u"})


@lru_cache(maxsize=200_000)
def phonetic(latin: str) -> str:
    """A spelling key that forgets how vowels and a few consonants were written."""
    s = latin
    for a, b in _PHON_SEQ:
        s = s.replace(a, b)
    s = s.translate(_PHON_MAP)
    s = re.sub(r"(.)\1+", r"\1", s)
    return s[:-1] if len(s) > 3 and s.endswith("h") and s[-2] in "aiu" else s


_ARABIC_CHAR = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufeff]")  # _is_arabic
# What separates words, besides spaces and hyphens: punctuation. Arabic
# punctuation is written without a space after it as often as with one
# ("الماضي،الدعم"), and quotes, marks and emoji stand glued to a word
# («القاعدة», #الدولة_الإسلامية): an Arabic word must begin where they end, for its
# article and joined conjunction to be read (al-, wa-l-, _word_to_latin).
# Apostrophes (' ’ `) do not separate: O'Brien, Ma'mun are one word.
# Latin words are read as before (the same characters split them later, _SPLIT),
# but where glued to an emoji that reads as letters: Saudi🇸🇦 was "saudisa".
WORD_PUNCT = ("\u0609-\u060f\u061b\u061d-\u061f\u066a-\u066d\u06d4\u06de\u06e9"
              "\ufd3e\ufd3f"  # Arabic punctuation (، ؛ ؟ ٪ ٫ ٬ ۔ …) and ornate parentheses
              "!\"#$%&()*+,./:;<=>?@\\[\\]^_{|}~"  # ASCII punctuation but ' and `
              "\u00ab\u00bb\u00b7\u2010-\u2015\u201c-\u201f\u2022\u2026\u2039\u203a"
              # arrows, shapes, dingbats (not their digits ❶…) and emoji: 🔴القاعدة
              "\u2190-\u21ff\u2500-\u2775\u2794-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff")
_WORD_SPLIT = re.compile(f"(\\s+|-|[{WORD_PUNCT}]+)")
_ARABIC_RUN = re.compile(r"([\u0600-\u06ff\u0750-\u077f]+)")


def to_latin(text: str) -> str:
    """Transliterate a whole string to lower-case ASCII, word by word (words
    split at spaces, hyphens and punctuation, :data:`WORD_PUNCT`)."""
    return anyascii("".join(_word_to_latin(w) for w in _WORD_SPLIT.split(text))).lower()


def _word_to_latin(w: str) -> str:
    """One word of :func:`to_latin` (as split at spaces, hyphens and
    punctuation), its Arabic
    transliterated, before anyascii (which reads each character alone)."""
    if w.startswith(("وال", "فال", "بال")) and len(w) > 5:
        w = w[1:]  # conjunction/preposition glued to the article: wa-l-, fa-l-, bi-l-
    if _ARABIC_CHAR.search(w):
        w = "".join(_arabic_word(p) if _ARABIC_CHAR.search(p) else p
                    for p in _ARABIC_RUN.split(w))
        if w.startswith("al") and len(w) > 4 and not w.startswith("all"):
            w = "al " + w[2:]
    return w


# Terminal escape sequences (CSI "ESC [ … m" colours, OSC "ESC ] … BEL" titles,
# two-character ESC forms): pasted from a terminal or planted in a display name,
# their letters ("[31m") would otherwise join the name's first part.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
                      r"|\x1b[@-Z\\-_]|\x9b[0-?]*[ -/]*[@-~]")
# Characters that show as a blank but are no Unicode space: the Hangul fillers
# (a favourite space substitute in display names) and the braille blank.
HANGUL_FILLERS = "\u115f\u1160\u3164\uffa0"
_BLANKS = frozenset(HANGUL_FILLERS + "\u2800")


def format_char(ch: str) -> bool:
    """Whether ``ch`` renders as nothing: a format character (zero-width
    space, joiners, bidi controls, soft hyphen) or the combining grapheme
    joiner."""
    return unicodedata.category(ch) == "Cf" or ch == "\u034f"


def _plain(name: str) -> str:
    """``name`` as the words a reader sees: escape sequences dropped, blank-looking
    characters made spaces, and invisible ones (zero-width, joiners, bidi
    controls, soft hyphen, variation selectors — format characters that render
    as nothing and split a name where they stand) removed; other control
    characters become spaces."""
    if "\x1b" in name or "\x9b" in name:
        name = _ESCAPES.sub("", name)
    if name.isascii() and name.isprintable():
        return name
    out = []
    for ch in name:
        if ch in _BLANKS:
            out.append(" ")
            continue
        if format_char(ch) or "\ufe00" <= ch <= "\ufe0f":
            continue
        out.append(" " if unicodedata.category(ch) == "Cc" else ch)
    return "".join(out)


def normalize(name: str, *, split_camel: bool = False) -> NormName:
    """Tokens of a person or organisation name, ready for comparison."""
    return _normalize(name, split_camel)[0]


def normalize_text(text: str) -> tuple[NormName, tuple[str, ...]]:
    """The tokens of a post's text, and for each the word of the text (as
    :func:`to_latin` splits it: at spaces, hyphens and punctuation) it was read
    from — where a screen of free text must know what stood at a position (an
    Arabic stopword, a word with the article), not only what is spelled the
    same somewhere in the text.

    Read as :func:`normalize` reads a name, but the text is a text: all of its
    first :data:`MAX_TEXT` characters are read (a name's first
    :data:`MAX_NAME`), its dominant script is that of all of them, its
    brackets are what it says (not notes to set aside), and a comma is a comma:
    "He met Ayman al-Zawahiri, the leader" is not reordered as a listed
    "LAST, First" name is."""
    return _normalize(text, False, text=True)


def _normalize(name: str, split_camel: bool,
               text: bool = False) -> tuple[NormName, tuple[str, ...]]:
    limit = MAX_TEXT if text else MAX_NAME
    name = unicodedata.normalize("NFKC", _plain(name[:limit]))
    if not text:
        name = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", name)  # bracketed notes
    if split_camel:
        name = _CAMEL.sub(" ", name)
    script = dominant_script(name, limit)
    # "LAST, First Middle" (OFAC, many registries) → "First Middle LAST", so that
    # "AL-BASIT, Abd" joins like "Abd al-Basit" — a listed name's (or a query's)
    # convention, never a post's: "Zawahiri was there, and so was Ayman" would
    # put Ayman before Zawahiri
    head, sep, tail = (name, "", "") if text else name.partition(",")
    if sep and tail.strip() and "," not in tail and head.strip():
        name = tail.strip() + " " + head.strip()
    # to_latin word by word (anyascii reads each character alone, so this is
    # to_latin(name)), remembering which word each part comes from
    raw: list[str] = []
    origin: list[str] = []
    for w in _WORD_SPLIT.split(name):
        latin = anyascii(_word_to_latin(w)).lower().replace("'", "").replace("`", "")
        for t in _SPLIT.split(latin):
            if t:
                raw.append(t)
                origin.append(w)
    particles, honorifics, stop, prefixes = _sets()
    toks: list[str] = []
    src: list[str] = []  # the word of ``name`` each of toks is read from
    aside: list[str] = []
    pending: str | None = None
    initials_only = toks_only_initials(raw)
    for t, w in zip(raw, origin, strict=True):
        if t.isdigit() or (len(t) == 1 and not initials_only):
            aside.append(t)  # numbers, and initials ("A.R.") next to full words
            continue
        canon = prefixes.get(t)
        if canon is not None:
            pending = canon
            aside.append(t)
            continue
        if t in particles or t in honorifics or t in stop:
            aside.append(t)
            continue
        # glued prefixes: abdulrahman, abubakr
        for variant, c in _glued_prefixes():
            if t.startswith(variant) and len(t) - len(variant) >= 3:
                t = c + t[len(variant):]
                break
        if pending is not None:
            t = pending + t
            pending = None
        toks.append(t)
        src.append(w)
    if pending is not None:  # "Abu" alone at the end: keep it as a token
        toks.append(pending)
        src.append(origin[-1])
    tokens = tuple(Token(t, skeleton(t), phonetic(t)) for t in toks)
    return NormName(tokens, tuple(aside), script), tuple(src)


@lru_cache(maxsize=1)
def _glued_prefixes() -> tuple[tuple[str, str], ...]:
    """(variant, canonical form) of the kunya/"Abd" prefixes of three letters or
    more, longest first: the ones ``normalize`` looks for glued to a word (sorted
    once, not for every part of every name)."""
    return tuple((v, c) for v, c in sorted(_sets()[3].items(), key=lambda kv: -len(kv[0]))
                 if len(v) >= 3)


def toks_only_initials(raw: list[str]) -> bool:
    return all(len(t) == 1 for t in raw)


_MIXED = re.compile(r"[^\W\d_]\d+[^\W\d_]")  # a digit between letters: g0r1lla, du3aa


def handle_to_name(handle: str) -> str:
    """``abu_bakr_99`` / ``AbuBakrBaghdadi`` → ``abu bakr`` / ``Abu Bakr Baghdadi``.

    Split carefully: at ``_ . -``, at digits only where they stand at the edge of a
    chunk (``Hamza2906014`` → ``Hamza``), and between a lower-case and a capital
    letter. A chunk with a digit between letters (``g0r1llaGriP``, Arabizi
    ``du3aa``) is not read as name parts: cut at its digits it gave fragments
    ("lla", "Gri") that matched listed names by chance."""
    h = handle.lstrip("@")
    words = []
    for chunk in re.split(r"[_.\-\s]+", h):
        chunk = chunk.strip("0123456789")
        if not chunk or _MIXED.search(chunk):
            continue
        words.append(_CAMEL.sub(" ", chunk))
    return re.sub(r"\s+", " ", " ".join(words)).strip()


# ---------------------------------------------------------------- Arabic words of a text
# letters written more than one way in ordinary Arabic text (hamza on or under
# alif, ta marbuta / ha): folded for look-ups in word lists. Alif madda and alif
# maqsura stay: آمين ("amen", a stopword) is not أمين (Amin), nor على ("on") علي (Ali).
_AR_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "ٱ": "ا", "ة": "ه"})
_AR_CLITICS = "وفبكل"  # conjunctions and prepositions written joined to the next word
_AR_ENDINGS = ("ه", "ين", "ون", "ات")  # feminine (ة, folded), plural and dual endings
# Arabic letters, tatweel and diacritics, not Arabic punctuation (، ؛ ؟) or digits:
# "الماضي،" is the word الماضي
_AR_WORD = re.compile("[\u0621-\u063a\u0640-\u065f\u066e\u066f\u0670-\u06d3\u06d5"
                      "\u06e5\u06e6\u06ee\u06ef\u06fa-\u06ff\u0750-\u077f]+")
# what splits a transliterated word or name (to_latin) into its words
SPLIT_WORDS = re.compile(r"[^0-9a-z]+")


def fold_arabic(word: str) -> str:
    """An Arabic word as word lists are looked up by: diacritics and tatweel
    dropped, hamza on or under alif and ta marbuta folded."""
    return _AR_DIACRITICS.sub("", word).translate(_AR_FOLD)


def arabic_stems(word: str) -> tuple[frozenset[str], frozenset[str], bool]:
    """The folded forms of ``word``: as written and without a joined
    conjunction or preposition (و ف ب ك ل; لل, li + al, read ال); the same
    without the article ال; and whether it is written with the article."""
    f = fold_arabic(word)
    forms = {f}
    if len(f) > 3 and f[0] in _AR_CLITICS:
        forms.add(f[1:])
    if len(f) > 3 and f.startswith("لل"):
        forms.add("ال" + f[2:])
    stems = {x[2:] for x in forms if x.startswith("ال") and len(x) > 3}
    return frozenset(forms), frozenset(stems or forms), bool(stems)


@dataclass(frozen=True, slots=True)
class ArabicWord:
    parts: tuple[str, ...]  # its Latin parts as to_latin writes them, the article left out
    article: bool  # written with the article ال
    # folded: as written, without a joined clitic, the article, a plural ending
    forms: frozenset[str]


def arabic_words(text: str) -> list[ArabicWord]:
    """The words of ``text`` written in Arabic script (its first ``MAX_TEXT``
    characters), each with its Latin parts, whether it carries the article,
    and its folded forms (:func:`arabic_stems`)."""
    out = []
    for m in _AR_WORD.finditer(text[:MAX_TEXT]):
        w = _arabic_word_info(m.group())
        if w is not None:
            out.append(w)
    return out


@lru_cache(maxsize=65_536)
def _arabic_word_info(w: str) -> ArabicWord | None:
    """One word of :func:`arabic_words` (remembered: posts repeat their words)."""
    forms, stems, article = arabic_stems(w)
    # the word without its article too (العام: عام, "year"), but not where
    # that leaves two letters (الله is not له, "to him")
    forms |= {x for x in stems if len(x) >= 3}
    # and without a feminine or plural ending (الماضية, الماضيين: الماضي),
    # where three letters or more are left (حسين is not حس)
    forms |= {x[:-len(e)] for x in forms for e in _AR_ENDINGS
              if x.endswith(e) and len(x) - len(e) >= 3 + (len(e) == 1)}
    parts = tuple(p for p in SPLIT_WORDS.split(to_latin(w).replace("'", "")) if p)
    if article and parts[:1] == ("al",):
        parts = parts[1:]
    return ArabicWord(parts, article, forms) if parts else None

