"""Designation screening: names across scripts, and identifiers exactly.

The method follows the spirit of OpenSanctions' logic-v2 matcher (yente): a
name score from aligned name parts, adjusted by features, with a default
threshold of 0.70 and an explanation of what matched.

1. Every listed name and the query are normalised (:mod:`.names`): transliterated
   to Latin, particles and honorifics set aside, kunya/"Abd" prefixes joined, and
   each part given a consonant skeleton.
2. Candidates come from an inverted index on skeletons and 3-letter prefixes.
3. Parts are aligned greedily by similarity — Jaro-Winkler on the Latin forms,
   or equal skeletons (a cross-script match) — and each part is weighted by how
   rare it is among listed names (inverse document frequency), so "Muhammad" or
   "Ali" count for little and "Zawahiri" for a lot.
4. ``score = coverage(query)^0.55 × coverage(listed name)^0.45``, damped when the
   matched parts carry little information (common names), capped at 1.
5. An entity's score is its best name's; identifiers (crypto wallets, passports)
   match exactly with score 1.0, as yente's ``crypto_wallet_address`` feature.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from itertools import pairwise
from typing import Any

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein
from sqlalchemy import func, select

from rasd.detect.finance import schema as F
from rasd.detect.finance.names import (
    _SKEL_MAP,
    HANGUL_FILLERS,
    MAX_TEXT,
    SPLIT_WORDS,
    NormName,
    Token,
    _sets,
    arabic_words,
    fold_arabic,
    format_char,
    normalize,
    normalize_text,
    to_latin,
)

DEFAULT_THRESHOLD = 0.70
MAX_MATCHES = 10
PAIR_MIN = 0.84  # two parts below this similarity are not aligned
MAX_CANDIDATES = 4000
PREFILTER = True  # find_in_text: skip listed names whose parts' skeletons are not all in the text
Q_EXP, N_EXP = 0.55, 0.45  # weight of query / listed-name coverage in the score
DAMP_EXP = 0.6
COMMON_DF = 20  # a name part of at most this many listed entities counts fully
# Rarity is estimated as if the lists held this many more entities, none with the
# part (add-k smoothing): a list of a handful of entities says little about which
# parts are common — in a one-entity list every part is in "every" entity, and
# unsmoothed inverse frequency weighed each at nothing, so not even the exact
# name matched. Against lists of thousands of entities it changes nothing.
PRIOR_ENTITIES = COMMON_DF
INFO_FULL = 1.4  # matched information (sum of part weights) needed for an undamped score
# Strict screening (display names, handles, free text — ``strict=True``): a name
# typed by an analyst may match on one fuzzy part, but a profile name or a post
# is not a name query, and one part ("Joel"~"Joe", "Asia", "Abu") matched
# hundreds of ordinary accounts. There a match needs at least two *firm* parts
# (identical, or at least STRICT_PART_MIN similar; parts shorter than
# STRICT_SHORT letters only identical or with the same consonant skeleton —
# against Arabic script a shared skeleton is enough at any length; under
# STRICT_MIN_LEN letters only identical), together STRICT_MIN_LETTERS letters
# and STRICT_INFO of rarity weight; an organisation's name all its parts; a
# one-part name only an organisation's own primary name (HAMAS, TALIBAN)
# written as the whole field.
STRICT_PART_MIN = 0.90
STRICT_SHORT = 5
STRICT_MIN_LEN = 3  # shorter parts ("un", "tv") count only identical …
STRICT_MIN_LETTERS = 6  # … and the firm parts together have this many letters ("r s" not)
STRICT_INFO = 1.2  # one distinctive part (weight 1) and more: not "Muhammad Ali"
STRICT_ONE_PART_LEN = 5
# Names in free text (posts, bios) must also be distinctive in ordinary writing:
# a listed name made only of everyday words ("OPERA", "MINISTRY OF INTERIOR",
# "NORTH STAR", "PRESS TV") is what posts say about other things. A word is
# *common* when at least TEXT_COMMON of the documents of some ordinary-text
# corpus contain it (rasd/data/finance/common_words.json, built by
# scripts/build_common_words.py from real tweets and news, documents about
# terrorism left out; a table for each of Latin, Arabic and Cyrillic script, a
# name's parts looked up in the table of its script). A name found in text needs
# a part that is not common — or TEXT_COMMON_PARTS parts or more, a run of
# common words that long being rarely there by chance (BLACK BANNER FRONT,
# ISLAMIC REVOLUTIONARY GUARD CORPS) — and
# a person's name a common word only where listed persons use it as a name part
# (John, Peter; not "THE CHESS PLAYER"): see :meth:`Screener.enough`.
TEXT_COMMON = 1 / 1000
TEXT_COMMON_PARTS = 3
PERSON_NAME_DF = 2  # listed persons whose names hold the part: a personal name
# A person listed with SHORT_FORM_PARTS parts or more (given name, father's and
# grandfather's names, family name or nisba: AIMAN MUHAMMED RABI AL-ZAWAHIRI) is
# written in posts and news by the first and the last ("Ayman al-Zawahiri",
# "أيمن الظواهري"), which find_in_text's rule — every part of the listed name —
# never found where the lists hold no such alias. The short form counts in free
# text where those two parts stand together, in that order, each firm and of
# SHORT_MIN_LEN letters or more, rare among listed names in every spelling and
# script (Screener.skeleton_weight: the given name at least SHORT_FIRST_WEIGHT —
# in about 230 listed entities or fewer with UN 2018 + OFAC 2024 loaded, not
# Muhammad, Ahmad, Hamad, Hasan, Amr; the family name at least
# SHORT_LAST_WEIGHT, in about 34 or fewer — not Khalidi or Shammari, the nisbas
# of common names), neither an everyday word of ordinary
# writing (Screener._short_parts_common), and the pair passes the rules every
# name in text passes (Screener._text_evidence).
SHORT_FORM_PARTS = 3
SHORT_FIRST_WEIGHT = 0.4
SHORT_LAST_WEIGHT = 0.85
SHORT_MIN_LEN = 4
# A short form is less evidence than the whole name: the parts between the first
# and the last are not looked for, and two parts may be shared by relatives
# (father and son listed with one given and family name) or by namesakes. It
# scores its two parts' score times SHORT_FORM_FACTOR, so that it ranks below the
# whole name written as closely — an exact short form 0.90, the listed name
# written exactly 1.0 — and stays above find_in_text's threshold of 0.85, which
# the scaled score must reach (the two parts' score at least 0.85 / 0.9 = 0.944;
# part_min already asks 0.94 of each part). A fixed factor, not the share of the
# listed name's parts or weight found: Ayman al-Zawahiri is two of the four
# parts of AIMAN MUHAMMED RABI AL-ZAWAHIRI and 0.55 of their rarity weight (0.59
# of أيمن محمد ربيع الظواهري's: the share differs by script), which would put
# the usual way of writing his name below any threshold that keeps ordinary
# text quiet. The same factor in every script.
SHORT_FORM_FACTOR = 0.9
# scripts whose listed persons' names are many enough to tell a name part from a
# word (see Screener.enough); None: a name of no letters
PERSON_WORD_SCRIPTS = frozenset({None, "Latin"})
# Arabic writes the article ال joined to its word, and an everyday word is often
# used with it in one sense and without it in another (قاعده "sitting" in
# dialect, القاعده "the base"): the Arabic table counts each word also as written
# with the article ("al " + the word), and a part written with the article is
# looked up in that form (common_in_text). Arabic *stopwords* of a post (function,
# time and number words: الماضي "past", اليوم "today"; Stopwords ISO,
# rasd/data/finance/stopwords_ar.json) are no evidence of a name part at all
# (الشهر الماضي, "last month", is no MADHI, Shahriyar), and a person's name is
# not found where every one of its words in the text carries the article and one
# is an everyday word so written (النصر الكبير, "the great victory", is no Kabir
# Nasr): Arabic given names are written without it (Screener._text_evidence).
# Each part is judged by the word it is read from (arabic_evidence), not by its
# Latin spelling anywhere in the post: المادي ("material") reads "madi" as
# الماضي does.
ARTICLE_KEY = "al "
# Latin spellings of the article before a listed name's part (al-, el-, and the
# forms assimilated to a sun letter: ad-, ash-, az- …)
_ARTICLES = frozenset({"al", "el", "ad", "adh", "an", "ar", "as", "ash", "at", "ath", "az"})


# Payment-URI schemes (BIP-21 ``bitcoin:ADDR?amount=…``, CashAddr's
# ``bitcoincash:`` prefix, EIP-681 ``ethereum:[pay-]ADDR[@chain][/fn]?…``, and the
# same form of other wallets): the address is what is listed.
_URI = re.compile(r"(?i)^(?:bitcoin|bitcoincash|bchtest|litecoin|dogecoin|dash|zcash|monero|"
                  r"tron|ethereum):(?://)?(?:pay-)?")


def identifier_norm(value: str) -> str:
    """Normalise an identifier for exact lookup: wallets keep base58 case; hex and
    bech32 are case-insensitive; document numbers drop spaces and dashes.

    Invisible characters (zero-width spaces, joiners, bidi controls: format
    characters that show nothing) are dropped, and a payment URI is read as its
    address — both ways a listed wallet was written so that it no longer
    matched, while a wallet app still reads it."""
    v = "".join(c for c in value if not _invisible(c)).strip()
    m = _URI.match(v)
    if m:
        v = re.split(r"[?@/#]", v[m.end():], maxsplit=1)[0]
    low = v.lower()
    if low.startswith(("0x", "bc1", "tb1", "ltc1")):
        return low
    if any(c.islower() for c in v) and any(c.isupper() for c in v):
        return v  # base58 and other case-sensitive encodings
    return "".join(c for c in v.upper() if c.isalnum())


def _invisible(c: str) -> bool:
    return format_char(c) or c in HANGUL_FILLERS


_KUNYA = ("abu", "umm", "abd")


def _capitalised(tok: str, caps: set[str]) -> bool:
    """Was the text word behind ``tok`` written capitalised (or uncased)?"""
    if tok in caps:
        return True
    # joined kunya / article forms: "abubakr" from "Abu Bakr", "nusrah" from "al-Nusrah"
    return any(len(c) >= 3 and (tok.endswith(c) or tok.startswith(c)) for c in caps)


@lru_cache(maxsize=1)
def _common_tables() -> dict[str | None, dict[str, float]]:
    doc = json.loads((files("rasd") / "data" / "finance" / "common_words.json").read_text(
        encoding="utf-8"))
    out: dict[str | None, dict[str, float]] = {
        sc: {w: ppm / 1e6 for w, ppm in t["words"].items()}
        for sc, t in doc.get("scripts", {}).items()}
    out[None] = {w: ppm / 1e6 for w, ppm in doc["words"].items()}
    return out


def common_words(script: str | None = None) -> dict[str, float]:
    """Word (as ``to_latin`` writes it) → share of the documents of ordinary
    text that contain it (highest over the corpora; words under the table's
    floor are absent: rare), for words written in ``script``: Latin by default;
    Arabic and Cyrillic have tables of their own, measured on Arabic tweets and
    Russian news posts (scripts/build_common_words.py). Other scripts have no
    corpus and read the Latin table, as every script did before."""
    tables = _common_tables()
    return tables.get(script) or tables[None]


def common_in_text(t: Token, script: str | None = None, *, article: bool = False) -> bool:
    """Is this name part, of a name written in ``script``, an everyday word of
    ordinary writing in that script (:data:`TEXT_COMMON`)? Looked up in the
    table of the name's script: transliterated, an Arabic word (على "ala") may
    spell a Latin name part, and an English word an Arabic one. ``article``:
    the part is written with the Arabic article ال, and is looked up as written
    so in the Arabic table (:data:`ARTICLE_KEY`)."""
    key = ARTICLE_KEY + t.latin if article and script == "Arabic" else t.latin
    return common_words(script).get(key, 0.0) >= TEXT_COMMON


@lru_cache(maxsize=1)
def arabic_stopwords() -> frozenset[str]:
    """Arabic stopwords, folded (:func:`.names.fold_arabic`):
    rasd/data/finance/stopwords_ar.json, the Arabic list of Stopwords ISO (MIT;
    source and licence in the file)."""
    doc = json.loads((files("rasd") / "data" / "finance" / "stopwords_ar.json").read_text(
        encoding="utf-8"))
    return frozenset(fold_arabic(w) for w in doc["words"])


@dataclass(frozen=True, slots=True)
class ArabicEvidence:
    """What the Arabic-script words of a text say of its name parts, position
    by position (indices into the text's tokens, :func:`.names.normalize_text`):
    ``parts``, the parts written in Arabic script; ``stop``, those written as
    a stopword; ``article``, those written with the article ال. By position,
    not by Latin spelling over the whole text: "المادي" (material) elsewhere in
    a post is no reason to take "الماضي" (past) for a name part, nor is an
    Arabic stopword a reason to refuse a Latin word spelled as it is read."""
    parts: frozenset[int]
    stop: frozenset[int]
    article: frozenset[int]

    def common(self, pos: int, latin: str) -> bool:
        """Is the part at ``pos`` (spelled ``latin``) written in the text as an
        everyday Arabic word (:func:`common_in_text`, with the article where
        it carries it)?"""
        return pos in self.parts and common_in_text(Token(latin, ""), "Arabic",
                                                    article=pos in self.article)


def arabic_evidence(toks: Iterable[Token], words: Iterable[str]) -> ArabicEvidence:
    """:class:`ArabicEvidence` of a text's tokens ``toks``, each read from the
    word of ``words`` beside it (:func:`.names.normalize_text`). A part is
    judged by the Arabic word at its position that spells it; a word that
    holds two (Arabic letters on either side of a digit or a Latin letter:
    "الماضي2الدعم"; punctuation, "الماضي،الدعم", separates words) by each that
    does — a stopword, or with the article, only if every one is."""
    stops = arabic_stopwords()
    parts: set[int] = set()
    stop: set[int] = set()
    art: set[int] = set()
    for pos, (tok, word) in enumerate(zip(toks, words, strict=True)):
        if word.isascii():
            continue
        spell = [w for w in arabic_words(word) if tok.latin in w.parts]
        if not spell:
            continue
        parts.add(pos)
        if all(not stops.isdisjoint(w.forms) for w in spell):
            stop.add(pos)
        if all(w.article for w in spell):
            art.add(pos)
    return ArabicEvidence(frozenset(parts), frozenset(stop), frozenset(art))


@lru_cache(maxsize=65_536)
def _article_parts(name: str) -> frozenset[str]:
    """The Latin parts of a listed name that it writes with the article: in
    Arabic script joined (العراق), in Latin after al-, el-, ad- … (the same
    listed names are looked at for every post)."""
    out = {p for w in arabic_words(name) if w.article for p in w.parts}
    words = _words(name)
    out.update(b for a, b in pairwise(words) if a in _ARTICLES)
    return frozenset(out)


def _particles() -> frozenset[str]:
    return _sets()[0]


# Scripts that write their vowels: transliterated to Latin a name keeps them, so
# between these a shared consonant skeleton is no stronger evidence than within
# Latin (Мохаммед is not Mahmoud, Иванов not Ivan). Against an abjad (Arabic:
# short vowels unwritten) or a script romanised many ways, it is.
VOWELLED = frozenset({None, "Latin", "Cyrillic", "Greek"})


def tok_sim(a: Token, b: Token, cross: bool = True, arabic: tuple[bool, bool] = (False, False)
            ) -> tuple[float, str]:
    """Similarity of two name parts and the feature that produced it.

    ``cross``: the names are in different scripts (or one was transliterated), so
    equal consonant skeletons are strong evidence; within one script they only
    add a little to the spelling similarity. ``arabic``: whether each part was
    written in Arabic script (its long vowels are then known).
    """
    if a.latin == b.latin:
        return 1.0, "exact"
    la, lb = a.latin, b.latin
    for p in _KUNYA:  # compare "abu bakr" / "abu ubaydah" on what follows the prefix
        if la.startswith(p) and lb.startswith(p) and len(la) > 4 and len(lb) > 4:
            la, lb = la[3:], lb[3:]
            break
    jw = JaroWinkler.similarity(la, lb)
    if a.phon and b.phon:
        pa, pb = a.phon, b.phon
        if la is not a.latin:  # the kunya prefix was cut above
            pa, pb = pa[3:] if len(pa) > 3 else pa, pb[3:] if len(pb) > 3 else pb
        jw = max(jw, 0.98 * JaroWinkler.similarity(pa, pb))
    jw = min(jw, 0.99)  # only identical parts score 1
    if _patronymic(a.latin) != _patronymic(b.latin):
        return min(jw, NOT_ALIGNED), "spelling"  # Petrov is not Petrovich, Ivan not Ivanovich
    sim, how = jw, "spelling"
    if a.skel and a.skel == b.skel and len(a.skel) >= 2:
        n = len(a.skel)
        if cross:
            sk = (0.6 if n >= 3 else 0.5) + 0.4 * jw
        else:  # same script: a long shared skeleton (Hezbollah/Hizballah) still counts
            sk = 0.5 + 0.5 * jw if n >= 4 else jw + 0.04 if n == 3 else jw
        sk = min(sk, 0.99)
        if sk > jw:
            sim, how = sk, "transliteration"
            if arabic[0] != arabic[1] and not _long_vowels_agree(
                    *((a, b) if arabic[0] else (b, a))):
                # one Arabic root, different names: محمود is not Muhammad, أحمد not Hamid
                return min(sim, NOT_ALIGNED), "different names"
    if how == "spelling" and not cross and sim >= PAIR_MIN and not _few_edits(a, b):
        # within alphabets that write vowels, Jaro-Winkler rates names that share
        # letters and a prefix close (Smirnov/Mironov, Popov/Pospelov, Evans/Wanus);
        # a spelling variant is a few edits apart, on the letters or on the
        # vowel-normalised form (Mohammed/Muhammad, Vasilev/Vasilyev), or shares
        # its consonant skeleton (the romanisations of one Arabic name:
        # Jaziri/Djazairi, Husayn/Hasan — the "transliteration" path above)
        return min(sim, NOT_ALIGNED), how
    return sim, how


NOT_ALIGNED = PAIR_MIN - 0.01
# Screener._parts_that_may_align keeps parts whose Jaro-Winkler similarity is at
# least PAIR_MIN less this: it must never drop a pair that tok_sim aligns
_MAY_ALIGN_MARGIN = 1e-3
# the least Jaro-Winkler similarity at which parts of one consonant skeleton reach
# PAIR_MIN in tok_sim: across scripts 0.6 + 0.4 × jw, within one alphabet
# 0.5 + 0.5 × jw (four consonants or more; fewer need more)
_SKEL_JW_CROSS = (PAIR_MIN - 0.6) / 0.4
_SKEL_JW_SAME = (PAIR_MIN - 0.5) / 0.5


def _spellings(t: Token) -> tuple[str, ...]:
    """Every spelling of ``t`` that :func:`tok_sim` may compare by Jaro-Winkler:
    as written and vowel-normalised, and each without its kunya prefix."""
    out = [t.latin]
    if t.phon:
        out.append(t.phon)
    if len(t.latin) > 4 and t.latin.startswith(_KUNYA):
        out.append(t.latin[3:])
        if t.phon and len(t.phon) > 3:
            out.append(t.phon[3:])
    return tuple(dict.fromkeys(out))
# East Slavic patronymics (Ivanovich, Petrovna, Ivanivna, Sergiyovych)
_PATRONYMIC = ("ovich", "evich", "ovna", "evna", "ichna", "ovych", "evych", "ivna")


# consonant digraphs only: "ou", "oo" stay, they mark a long vowel
_CONS_DIGRAPHS = (("kh", "h"), ("gh", "g"), ("sh", "s"), ("ch", "s"), ("th", "t"), ("dh", "d"),
                  ("ph", "f"), ("zh", "j"), ("dj", "j"), ("ts", "s"), ("ck", "k"))
_VOWELISH = frozenset("aeiouyw'")
_LONG_MARKS = frozenset({"ee", "aa", "ii", "uu"})
_YA_MARKS = frozenset({"ei", "ey", "ay"})  # Hussein, Zubaydi: a ya (ي) the Arabic lacks


def _gaps(latin: str) -> tuple[str, list[str], list[str]]:
    """(leading vowels, vowels between consecutive consonants, consonants) of a
    part, consonants written as in its skeleton."""
    s = latin
    for x, y in _CONS_DIGRAPHS:
        s = s.replace(x, y)
    s = s.translate(_SKEL_MAP)
    cons: list[str] = []
    gaps: list[str] = []
    lead: str | None = None
    cur = ""
    for ch in s:
        if ch in _VOWELISH:
            cur += ch
            continue
        if cons and ch == cons[-1] and not cur:
            continue  # a doubled consonant
        if lead is None:
            lead = cur
        else:
            gaps.append(cur)
        cons.append(ch)
        cur = ""
    return lead or "", gaps, cons


def _long_vowels_agree(ar: Token, lat: Token) -> bool:
    """Can the romanised part ``lat`` spell the Arabic-script part ``ar``?
    Arabic writes its long vowels (ا و ي) and not its short ones, so where ``ar``
    has a long a, u or i between two consonants the romanisation must have a
    vowel of that colour there (a long a is also written e or o: Kemal for كمال), and where it has none, no doubled-vowel or ya
    mark (Hussein's "ei"; not "ou", which French style writes for any u:
    Housni for حسني); a leading vowel (أ, إ, ع) must be there in both or in
    neither. True when the parts cannot be aligned consonant by consonant."""
    a_lead, a_gaps, a_cons = _gaps(ar.latin)
    l_lead, l_gaps, l_cons = _gaps(lat.latin)
    # a part joined to its kunya/"Abd" prefix (عبد الله → abdallh, Abdallah →
    # abdlah) carries the article's alif, which no romanisation need write
    alif = not ar.latin.startswith(_KUNYA)
    if a_cons != l_cons:
        return True
    if bool(a_lead.strip("'")) != bool(l_lead.strip("'")):
        return False
    for ga, gl in zip(a_gaps, l_gaps, strict=True):
        if "u" in ga and not set(gl) & {"u", "o", "w"}:
            return False
        if "i" in ga and not set(gl) & {"i", "e", "y"}:
            return False
        if alif and "a" in ga and not set(gl) & {"a", "e", "o"}:
            return False  # an alif (long a): حماس is Hamas, not Hamms or Khamis
        if not ga and (gl in _LONG_MARKS or gl in _YA_MARKS):
            return False
    return True


def _marks(n: NormName) -> list[str]:
    """The initials and numbers a name had beside its words (set aside, not
    compared): "A. Salim" is not exactly "B. Salim", nor "Front 2" "Front"."""
    return sorted(a for a in n.set_aside if len(a) == 1 or a.isdigit())


def _patronymic(latin: str) -> bool:
    return len(latin) >= 7 and latin.endswith(_PATRONYMIC)


def _few_edits(a: Token, b: Token) -> bool:
    """At most one edit per four letters (at least one) between the two
    spellings, or between their vowel-normalised forms."""
    la, lb = a.latin, b.latin
    allowed = max(1, min(len(la), len(lb)) // 4)
    if Levenshtein.distance(la, lb, score_cutoff=allowed) <= allowed:
        return True
    pa, pb = a.phon or la, b.phon or lb
    return Levenshtein.distance(pa, pb, score_cutoff=allowed) <= allowed


@dataclass(slots=True)
class Entry:
    name_id: int
    entity_id: int
    name: str
    kind: str
    norm: NormName


@dataclass(slots=True)
class EntityInfo:
    entity_id: int
    list_name: str
    list_ref: str
    caption: str
    schema: str
    programmes: list[str]


@dataclass(slots=True)
class Match:
    entity_id: int
    list_ref: str
    name: str  # the entity's caption
    score: float
    list: str
    programme: str
    explanation: list[str]
    matched_name: str | None = None
    schema: str = ""
    features: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"entity_id": self.entity_id, "list_ref": self.list_ref, "name": self.name,
                "score": round(self.score, 4), "list": self.list, "programme": self.programme,
                "explanation": self.explanation, "matched_name": self.matched_name,
                "schema": self.schema, "features": self.features}


class Screener:
    """An in-memory index of every listed name; build with :meth:`load`."""

    def __init__(self, entries: list[Entry], entities: dict[int, EntityInfo],
                 identifiers: dict[str, list[tuple[int, str, str]]]):
        self.entries = entries
        self.entities = entities
        self.identifiers = identifiers  # norm → [(entity_id, type, value)]
        self.index: dict[str, list[int]] = defaultdict(list)
        self.df: dict[str, int] = defaultdict(int)  # by skeleton and by exact spelling
        df_seen: dict[str, set[int]] = defaultdict(set)
        for i, e in enumerate(entries):
            seen: set[str] = set()
            for t in e.norm.tokens:
                for k in self._keys(t):
                    if k not in seen:
                        self.index[k].append(i)
                        seen.add(k)
                # document frequency counts entities, not names: an entity's own
                # aliases in three scripts must not make its name look common
                for k in {self._dfkey(t), "l:" + t.latin}:
                    df_seen[k].add(e.entity_id)
        self.df = defaultdict(int, {k: len(v) for k, v in df_seen.items()})
        # how many listed persons carry each part (by spelling): a common word
        # that is a personal name (John, Peter) against a nickname ("PLAYER")
        person_seen: dict[str, set[int]] = defaultdict(set)
        for e in entries:
            info = entities.get(e.entity_id)
            if info is not None and info.schema == "person":
                for t in e.norm.tokens:
                    person_seen[t.latin].add(e.entity_id)
        self.person_df = {k: len(v) for k, v in person_seen.items()}
        self._wcache: dict[Token, float] = {}
        self._ew: list[list[float] | None] = [None] * len(entries)  # _entry_weights
        self.n = len({e.entity_id for e in entries}) + PRIOR_ENTITIES
        # parts found in at most COMMON_DF listed entities weigh 1; commoner ones less
        # (in a small list, a part of more than 3 entities or 2% of them is common)
        common = min(COMMON_DF, max(3.0, 0.02 * self.n))
        self._log_common = math.log(max(2.0, self.n / common))
        # names in free text are looked up by their rarest part only, so that a
        # "Muhammad" in a post does not pull in every listed Muhammad
        self.anchor_index: dict[str, list[int]] = defaultdict(list)
        for i, e in enumerate(entries):
            if e.norm.tokens:
                rare = min(e.norm.tokens, key=lambda t: self.df.get(self._dfkey(t), 0))
                self.anchor_index[self._dfkey(rare)].append(i)
        # listed persons' names that may be written by their first and last part
        # (SHORT_FORM_PARTS: both long and rare enough, which depends on the lists
        # alone, so judged here once and not at every post), by the key of the last
        self.short_index: dict[str, list[int]] = defaultdict(list)
        for i, e in enumerate(entries):
            info = entities.get(e.entity_id)
            if (info is not None and info.schema == "person" and e.kind != "weak"
                    and len(e.norm.tokens) >= SHORT_FORM_PARTS):
                first, last = e.norm.tokens[0], e.norm.tokens[-1]
                if (min(len(first.latin), len(last.latin)) >= SHORT_MIN_LEN
                        and self.skeleton_weight(first) >= SHORT_FIRST_WEIGHT
                        and self.skeleton_weight(last) >= SHORT_LAST_WEIGHT):
                    self.short_index[self._dfkey(last)].append(i)

    # -------------------------------------------------------------- building
    @classmethod
    def load(cls, store: Any, lists: Iterable[str] | None = None) -> Screener:
        """Read every imported list (or only ``lists``) from the store."""
        want = set(lists) if lists else None
        entities: dict[int, EntityInfo] = {}
        with store.connect() as c:
            q = select(F.fin_entities.c.id, F.fin_lists.c.name, F.fin_entities.c.list_ref,
                       F.fin_entities.c.caption, F.fin_entities.c.schema,
                       F.fin_entities.c.programmes).select_from(
                F.fin_entities.join(F.fin_lists, F.fin_entities.c.list_id == F.fin_lists.c.id))
            for eid, lname, ref, cap, sch, progs in c.execute(q):
                if want is None or lname in want:
                    entities[eid] = EntityInfo(eid, lname, ref, cap, sch, list(progs or []))
            entries = []
            q = select(F.fin_names.c.id, F.fin_names.c.entity_id, F.fin_names.c.name,
                       F.fin_names.c.kind).order_by(F.fin_names.c.id)
            for nid, eid, name, kind in c.execute(q):
                if eid in entities:
                    entries.append(Entry(nid, eid, name, kind, normalize(name)))
            idents: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
            q = select(F.fin_identifiers.c.entity_id, F.fin_identifiers.c.type,
                       F.fin_identifiers.c.value, F.fin_identifiers.c.norm)
            for eid, typ, val, _norm in c.execute(q):
                if eid in entities:  # keyed as identifier_norm reads them now, not at import
                    idents[identifier_norm(val)].append((eid, typ, val))
        return cls(entries, entities, dict(idents))

    @staticmethod
    def _dfkey(t: Token) -> str:
        return t.skel if len(t.skel) >= 2 else "l:" + t.latin

    @staticmethod
    def _keys(t: Token) -> list[str]:
        keys = ["p:" + t.latin[:3]]
        keys.append(t.skel if len(t.skel) >= 2 else "l:" + t.latin)
        return keys

    def weight(self, t: Token) -> float:
        """Inverse frequency of a name part among listed names, in [0.0025, 1]: the
        geometric mean of its spelling's and its skeleton's frequency, so that
        "Muhammad" (common in every spelling) is weak and "Hamas" (rare, though
        its skeleton is shared with "Khamis") is strong. ``self.n`` counts
        ``PRIOR_ENTITIES`` more than are listed, so a small list does not make
        its own names common."""
        w = self._wcache.get(t)
        if w is None:
            df_skel = self.df.get(self._dfkey(t), 0)
            df_lat = self.df.get("l:" + t.latin, 0)
            df = max(1.0, math.sqrt((df_skel + 1) * (df_lat + 1)) - 1)
            rel = math.log(self.n / df) / self._log_common
            w = min(1.0, max(0.05, rel)) ** 2
            if len(self._wcache) < 500_000:
                self._wcache[t] = w
        return w

    def skeleton_weight(self, t: Token) -> float:
        """Rarity of a name part among listed names by its consonant skeleton
        alone, in [0.0025, 1]: how rare the name is in every spelling and
        script (أيمن, Ayman, Aiman, and Amin, Iman, which share ``mn``), where
        :meth:`weight` also counts how rare this one spelling is — and an
        Arabic-script spelling is rare because few listed names are written
        in Arabic script."""
        df = max(1, self.df.get(self._dfkey(t), 0))
        return min(1.0, max(0.05, math.log(self.n / df) / self._log_common)) ** 2

    def _entry_weights(self, idx: int) -> list[float]:
        """The part weights of ``self.entries[idx]``, computed once (they depend
        on the lists alone)."""
        w = self._ew[idx]
        if w is None:
            w = self._ew[idx] = [self.weight(t) for t in self.entries[idx].norm.tokens]
        return w

    def _build_parts(self) -> None:
        """Number the distinct parts of the listed names (``_part_seq[idx]``: the
        part numbers of entry ``idx``'s parts in order, ``_part_ids[idx]`` as a
        set) and keep, for each part, the spellings
        :func:`tok_sim` may compare it by (:meth:`_parts_that_may_align`)."""
        ids: dict[Token, int] = {}
        self._parts: list[Token] = []
        self._part_spellings: list[tuple[str, ...]] = []
        self._part_ids: list[frozenset[int]] = []
        self._part_seq: list[tuple[int, ...]] = []
        for e in self.entries:
            mine = []
            for t in e.norm.tokens:
                k = ids.get(t)
                if k is None:
                    k = ids[t] = len(self._parts)
                    self._parts.append(t)
                    self._part_spellings.append(_spellings(t))
                mine.append(k)
            self._part_ids.append(frozenset(mine))
            self._part_seq.append(tuple(mine))

    def _parts_that_may_align(self, q: NormName, cands: list[int]
                              ) -> tuple[set[int], set[int]]:
        """The numbers of the parts of the candidate names ``cands`` that may align
        with a part of ``q`` (:func:`tok_sim` at least PAIR_MIN), against a
        listed name written in another script (first set) and in the same
        alphabet (second set: ``cross`` false in ``compare``).

        What tok_sim needs for PAIR_MIN, besides an identical spelling: a
        Jaro-Winkler similarity ``jw`` of the parts of at least PAIR_MIN —
        within one alphabet also no more than a few edits apart
        (:func:`_few_edits`) — or the same consonant skeleton (two letters or
        more) with ``jw`` at least 0.6 across scripts and 0.68 within one
        alphabet (the least for which its skeleton scores reach PAIR_MIN). A
        listed name none of whose parts is in the set has no aligned pair
        with ``q``: ``compare`` would score it 0.0. Most candidates (found by a
        shared skeleton or first three letters) have none, so ``screen``
        compares only the others. Each set is a superset: ``jw`` here is the
        highest over every pair of the spellings tok_sim may compare (as
        written, vowel-normalised, either without its kunya prefix), computed
        in one vectorised call with a margin, and the edits are counted
        against every part of ``q``."""
        if not hasattr(self, "_part_ids"):
            self._build_parts()
        tids: set[int] = set()
        for idx in cands:
            tids.update(self._part_ids[idx])
        live: set[int] = set()
        same: set[int] = set()
        if not tids or not q.tokens:
            return live, same
        latins = {a.latin for a in q.tokens}
        skels = {a.skel for a in q.tokens if len(a.skel) >= 2}
        rest: list[int] = []
        for k in tids:
            if self._parts[k].latin in latins:
                live.add(k)
                same.add(k)
            else:
                rest.append(k)
        if not rest:
            return live, same
        mine = sorted({v for a in q.tokens for v in _spellings(a)})
        choices: list[str] = []
        starts: list[int] = []
        for k in rest:
            starts.append(len(choices))
            choices.extend(self._part_spellings[k])
        sim = process.cdist(mine, choices, scorer=JaroWinkler.similarity,
                            score_cutoff=_SKEL_JW_CROSS - _MAY_ALIGN_MARGIN,
                            dtype=np.float64, workers=1).max(axis=0)
        best = np.maximum.reduceat(sim, np.asarray(starts, dtype=np.int64)).tolist()
        for k, jw in zip(rest, best, strict=True):
            if jw <= 0:
                continue
            t = self._parts[k]
            skel = t.skel in skels
            if skel or jw >= PAIR_MIN - _MAY_ALIGN_MARGIN:
                live.add(k)
            if ((skel and jw >= _SKEL_JW_SAME - _MAY_ALIGN_MARGIN)
                    or (jw >= PAIR_MIN - _MAY_ALIGN_MARGIN
                        and any(_few_edits(a, t) for a in q.tokens))):
                same.add(k)
        return live, same

    # -------------------------------------------------------------- scoring
    def compare(self, q: NormName, n: NormName, *, q_weights: list[float] | None = None,
                n_weights: list[float] | None = None,
                sims: dict[tuple, tuple[float, str]] | None = None,
                n_parts: tuple[int, ...] | None = None, live: set[int] | None = None
                ) -> tuple[float, dict[str, Any]]:
        """Score one query name against one listed name, with the evidence.

        For ``screen``, which compares one query with up to MAX_CANDIDATES
        listed names, most of which share parts (recomputing :func:`tok_sim`
        for each pair was most of its time): ``n_weights``, ``n``'s part
        weights; ``sims``, a memo of tok_sim for this one query ``q``, shared
        over the names compared with it; ``n_parts``, the numbers of ``n``'s
        parts (``Screener._part_seq``), and ``live``, those that may align
        with a part of ``q`` at all (``_parts_that_may_align``): the others
        are not compared. tok_sim is a function of the two parts and the two
        scripts alone, so a remembered value is the value."""
        if not q.tokens or not n.tokens:
            return 0.0, {}
        wq = q_weights or [self.weight(t) for t in q.tokens]
        wn = n_weights or [self.weight(t) for t in n.tokens]
        pairs = []
        cross = not {q.script, n.script} <= VOWELLED
        arabic = (q.script == "Arabic", n.script == "Arabic")
        for i, a in enumerate(q.tokens):
            for j, b in enumerate(n.tokens):
                if sims is None:
                    s, how = tok_sim(a, b, cross, arabic)
                else:
                    if n_parts is not None:
                        if live is not None and n_parts[j] not in live:
                            continue  # scores below PAIR_MIN with every part of q
                        key: tuple = (i, n_parts[j], n.script)
                    else:
                        key = (i, b.latin, b.skel, b.phon, n.script)
                    hit = sims.get(key)
                    if hit is None:
                        hit = sims[key] = tok_sim(a, b, cross, arabic)
                    s, how = hit
                if s >= PAIR_MIN:
                    pairs.append((s, i, j, how))
        pairs.sort(key=lambda p: -p[0])
        used_q: set[int] = set()
        used_n: set[int] = set()
        aligned = []
        for s, i, j, how in pairs:
            if i in used_q or j in used_n:
                continue
            used_q.add(i)
            used_n.add(j)
            aligned.append((s, i, j, how))
        if not aligned:
            return 0.0, {}
        mq = sum(s * wq[i] for s, i, _, _ in aligned)
        mn = sum(s * wn[j] for s, _, j, _ in aligned)
        cov_q = mq / sum(wq)
        cov_n = mn / sum(wn)
        score = cov_q ** Q_EXP * cov_n ** N_EXP
        info = sum(wq[i] for _, i, _, _ in aligned)
        damp = min(1.0, info / INFO_FULL) ** DAMP_EXP
        if len(aligned) == 1 and aligned[0][0] < 1.0:
            damp *= aligned[0][0]  # a single inexact part (Hamas/Hamad) is weak evidence
        score = min(1.0, score * damp)
        # identical parts are the same name only where the romanisation kept every
        # letter: within a script, or between alphabets that write their vowels
        # (ناصر and Nasr both become "nasr": Nasir and Nasr)
        exact = (len(aligned) == len(q.tokens) == len(n.tokens)
                 and all(how == "exact" for *_, how in aligned) and _marks(q) == _marks(n)
                 and (q.script == n.script or {q.script, n.script} <= VOWELLED))
        ev = {"exact": exact,
              "pairs": [(i, j, s, how) for s, i, j, how in aligned],
              "aligned": [(q.tokens[i].latin, n.tokens[j].latin, round(s, 3), how)
                          for s, i, j, how in aligned],
              "unmatched_query": [q.tokens[i].latin for i in range(len(q.tokens))
                                  if i not in used_q],
              "unmatched_listed": [n.tokens[j].latin for j in range(len(n.tokens))
                                   if j not in used_n],
              "common": [q.tokens[i].latin for _, i, _, _ in aligned if wq[i] < 0.35],
              "coverage_query": round(cov_q, 3), "coverage_listed": round(cov_n, 3),
              "damping": round(damp, 3)}
        return score, ev

    @staticmethod
    def _score(s: float, e: Entry, ev: dict[str, Any]) -> float:
        """An entity name's score: the listed name itself — every part identical
        after normalisation, nothing left over on either side — scores 1.0, as
        yente's literal name match does, however common or few its parts (damping
        capped a one-part name, HAMAS or TALIBAN, at 0.82, below a strict
        threshold). Not for weak aliases, which the lists themselves call
        unreliable."""
        return 1.0 if ev.get("exact") and e.kind != "weak" else s

    @staticmethod
    def _firm(a: Token, b: Token, s: float, how: str, cross: bool = False) -> bool:
        """Is this aligned pair of parts firm enough for strict screening?

        ``cross``: one side is written in a script without short vowels (Arabic):
        there romanisations of one name stay further apart (محمد/Mohammad 0.90,
        جواد/Jawad 0.86), and a shared consonant skeleton is what makes them one
        name."""
        if how == "exact":
            return True
        if min(len(a.latin), len(b.latin)) < STRICT_MIN_LEN:
            return False  # "is"~"es", "un"~"won"
        if cross:
            return a.skel == b.skel or (s >= STRICT_PART_MIN
                                        and min(len(a.latin), len(b.latin)) >= STRICT_SHORT)
        if s < STRICT_PART_MIN:
            return False
        # short parts: Joel/Joe, Tim/Tem, Jack/Jak differ by a letter and are
        # different names; only a shared consonant skeleton of three letters or
        # more (Jond/Jund, "transliteration") is kept
        return min(len(a.latin), len(b.latin)) >= STRICT_SHORT or how == "transliteration"

    def firm_parts(self, q: NormName, n: NormName, ev: dict[str, Any]) -> list[tuple]:
        """The aligned (query index, listed index, similarity, how) pairs of ``ev``
        that count under the strict rule."""
        cross = not {q.script, n.script} <= VOWELLED
        return [(i, j, s, how) for i, j, s, how in ev.get("pairs", ())
                if self._firm(q.tokens[i], n.tokens[j], s, how, cross)]

    def strict_ok(self, q: NormName, e: Entry, ev: dict[str, Any]) -> bool:
        """The strict rule for names that are not typed as a name query (display
        names, handles, names in free text): two firm parts or more, with
        STRICT_MIN_LETTERS letters and STRICT_INFO of rarity weight together,
        every part of an organisation's name; or an
        organisation's own one-part primary name, not an everyday word, as the
        whole field."""
        firm = self.firm_parts(q, e.norm, ev)
        n = e.norm.tokens
        info = self.entities.get(e.entity_id)
        if len(n) == 1:
            # (an everyday word as a whole profile name — an account called
            # "Opera" — is no more a listed organisation than in a post)
            return (len(q.tokens) == 1 and len(firm) == 1 and firm[0][3] == "exact"
                    and self.one_part_org_name(e, text=True))
        if info is not None and info.schema != "person" and len(firm) < len(n):
            return False  # "Front … Liberation" is not "Front for the Liberation of al-Sham"
        return self.enough(n, [j for _, j, _, _ in firm])

    def enough(self, n: tuple[Token, ...], firm: list[int], *, text: bool = False,
               person: bool = False, script: str | None = None,
               text_common: frozenset[int] = frozenset(),
               article: frozenset[str] = frozenset()) -> bool:
        """Do the firm parts ``firm`` (indices into ``n``) make a match under the
        strict rule: two or more, STRICT_MIN_LETTERS letters and STRICT_INFO of
        rarity weight together?

        ``text``: the name was found in free text, where it must also be
        distinctive in ordinary writing — not made only of common words
        (:func:`common_in_text`) unless it has TEXT_COMMON_PARTS parts or more;
        and for a ``person``, no common word of STRICT_SHORT letters or more that
        listed persons do not use as a name part (PERSON_NAME_DF): "THE CHESS
        PLAYER" is a nickname of ordinary words, "CHESS PLAYER" in a bio a
        description. (Shorter parts — Kim, Jong, Un, Ali — are syllables of names
        more than words, and a small list says too little about them.) Words
        are common or not in the writing of the name's ``script``; the rule for
        persons holds for names in Latin script only: in Arabic script given
        names are everyday words (أشرف, بشار, غريب) and the lists hold too few
        names in it (427 of 22,905 in UN 2018 + OFAC 2024; Cyrillic 12) to tell a
        name part from a word, so it refused listed persons' own names.
        ``text_common``: indices of parts whose word in the text is an everyday
        word of the text's own script (an Arabic word of a post matched to a
        Latin-script name); ``article``: the parts (Latin spelling) that the
        listed name writes with the Arabic article, looked up so written."""
        if not (len(firm) >= 2 and sum(len(n[j].latin) for j in firm) >= STRICT_MIN_LETTERS
                and sum(self.weight(n[j]) for j in firm) >= STRICT_INFO):
            return False
        if text:
            common = [j for j in firm
                      if common_in_text(n[j], script, article=n[j].latin in article)]
            if (len(firm) < TEXT_COMMON_PARTS
                    and all(j in text_common or j in common for j in firm)):
                return False
            # (not for a word common only in the text's script: an Arabic given
            # name is an everyday word, كبير "big" for Kabir)
            if person and script in PERSON_WORD_SCRIPTS and any(
                    len(n[j].latin) >= STRICT_SHORT
                    and self.person_df.get(n[j].latin, 0) < PERSON_NAME_DF for j in common):
                return False
        return True

    def _text_evidence(self, e: Entry, window: NormName, firm: list[tuple],
                       ar: ArabicEvidence, plain: bool, start: int) -> bool:
        """Do the firm parts ``firm`` of listed name ``e``, found as the run
        ``window`` of a text's parts (at position ``start``), name it
        (:meth:`enough`, ``text`` when ``plain``)? What the text's Arabic words
        there say is weighed too (``ar``, :func:`arabic_evidence`): a part
        written there as a stopword
        (الماضي, "past") is no evidence; a part written as an everyday Arabic
        word is common, whatever the script of the listed name; and a person's
        name is not a run of words that all carry the article ال, one of them
        an everyday word so written (النصر الكبير, "the great victory", is no
        Kabir Nasr) — given names are written without it — unless the listed
        name writes each of those parts with it too. (A name with the article
        and no everyday word is still a name: الساعدي القذافي, al-Saadi
        al-Qadhafi.)"""
        person = self.entities[e.entity_id].schema == "person"
        # (listed part, its spelling in the text, its position in the text)
        said = [(i, window.tokens[j].latin, start + j) for i, j, *_ in firm]
        evidence = [i for i, _, _ in said]
        common: frozenset[int] = frozenset()
        if ar.parts:
            common = frozenset(i for i, w, pos in said if ar.common(pos, w))
            if (person and common and all(pos in ar.article for *_, pos in said)
                    and not all(e.norm.tokens[i].latin in _article_parts(e.name)
                                for i, _, _ in said)):
                return False
            evidence = [i for i, _, pos in said if pos not in ar.stop]
        return self.enough(e.norm.tokens, evidence, text=plain, person=person,
                           script=e.norm.script, text_common=common,
                           article=_article_parts(e.name) if e.norm.script == "Arabic"
                           else frozenset())

    def one_part_org_name(self, e: Entry, *, text: bool = False) -> bool:
        """A one-part listed name that may stand alone: an organisation's primary
        name (HAMAS, TALIBAN), not a weak alias, no company words beside it, at
        least STRICT_ONE_PART_LEN letters and distinctive — in free text
        (``text``) also not an everyday word (OPERA, :func:`common_in_text`)."""
        if len(e.norm.tokens) != 1:
            return False
        tok = e.norm.tokens[0]
        info = self.entities[e.entity_id]
        return (info.schema == "organization" and e.kind == "primary"
                and all(a in _particles() for a in e.norm.set_aside)
                and len(tok.latin) >= STRICT_ONE_PART_LEN and self.weight(tok) >= 0.5
                and not (text and common_in_text(tok, e.norm.script,
                                                 article=tok.latin in _article_parts(e.name))))

    def candidates(self, q: NormName) -> list[int]:
        keys = []
        for t in q.tokens:
            keys.extend(self._keys(t))
        lists = sorted((self.index.get(k, []) for k in set(keys)), key=len)
        out: set[int] = set()
        for lst in lists:
            if len(out) + len(lst) > MAX_CANDIDATES and out:
                break  # the commonest keys add little but cost much
            out.update(lst)
        return sorted(out)

    def screen(self, query: str, *, threshold: float = DEFAULT_THRESHOLD,
               limit: int = MAX_MATCHES, exclude_names: set[int] | None = None,
               split_camel: bool = False, strict: bool = False) -> list[Match]:
        """Ranked entities whose names match ``query`` with score ≥ ``threshold``.

        ``strict``: the query is not a name typed as one but a display name or a
        handle; a listed name must also pass :meth:`strict_ok` (two firm,
        distinctive parts or more)."""
        q = normalize(query, split_camel=split_camel)
        best: dict[int, tuple[float, Entry, dict[str, Any]]] = {}
        if q.tokens:
            wq = [self.weight(t) for t in q.tokens]
            sims: dict[tuple, tuple[float, str]] = {}  # q's part similarities (compare)
            cands = self.candidates(q)
            live_cross, live_same = self._parts_that_may_align(q, cands)
            for idx in cands:
                e = self.entries[idx]
                if exclude_names and e.name_id in exclude_names:
                    continue
                live = live_same if {q.script, e.norm.script} <= VOWELLED else live_cross
                if live.isdisjoint(self._part_ids[idx]):
                    continue  # no part of it can align with q's: compare would say 0.0
                s, ev = self.compare(q, e.norm, q_weights=wq,
                                     n_weights=self._entry_weights(idx), sims=sims,
                                     n_parts=self._part_seq[idx], live=live)
                if s <= 0 or (strict and not self.strict_ok(q, e, ev)):
                    continue
                s = self._score(s, e, ev)
                cur = best.get(e.entity_id)
                if cur is None or s > cur[0]:
                    best[e.entity_id] = (s, e, ev)
        out = []
        for eid, (s, e, ev) in best.items():
            if s < threshold:
                continue
            info = self.entities[eid]
            expl = self._explain(query, q, e, ev)
            if strict:
                firm = self.firm_parts(q, e.norm, ev)
                expl.insert(1, f"strict rule: {len(firm)} of {len(e.norm.tokens)} listed "
                               "part(s) matched firmly: "
                               + ", ".join(e.norm.tokens[j].latin for _, j, _, _ in firm))
            out.append(Match(eid, info.list_ref, info.caption, s, info.list_name,
                             ", ".join(info.programmes), expl,
                             matched_name=e.name, schema=info.schema,
                             features={"name_match": round(s, 4)}))
        ident = self.screen_identifier(query)
        for m in ident:
            out = [o for o in out if o.entity_id != m.entity_id]
            out.append(m)
        out.sort(key=lambda m: (-m.score, m.list, m.list_ref))
        return out[:limit]

    def screen_identifier(self, value: str) -> list[Match]:
        """Exact identifier hits (wallet addresses, document numbers)."""
        hits = self.identifiers.get(identifier_norm(value), [])
        out = []
        for eid, typ, val in hits:
            info = self.entities[eid]
            feat = "crypto_wallet_address" if typ == "crypto_wallet" else "identifier_match"
            out.append(Match(eid, info.list_ref, info.caption, 1.0, info.list_name,
                             ", ".join(info.programmes),
                             [f"{feat}: {val!r} is listed for this entity ({typ})"],
                             matched_name=None, schema=info.schema, features={feat: 1.0}))
        return out

    @staticmethod
    def _explain(query: str, q: NormName, e: Entry, ev: dict[str, Any]) -> list[str]:
        lines = [f"name_match: {query!r} ~ {e.name!r} ({e.kind} name"
                 + (f", {e.norm.script} script" if e.norm.script else "") + ")"]
        if ev.get("exact") and e.kind != "weak":
            lines.append("exact: the listed name itself, part for part after normalisation")
        parts = []
        for a, b, s, how in ev.get("aligned", []):
            parts.append(f"{a}={b}" if how == "exact" else f"{a}~{b} ({how} {s:.2f})")
        lines.append("parts matched: " + ", ".join(parts))
        if q.script and e.norm.script and q.script != e.norm.script:
            lines.append(f"cross-script: {q.script} query vs {e.norm.script} listed name")
        if ev.get("unmatched_query"):
            lines.append("query parts not in the listed name: " + ", ".join(ev["unmatched_query"]))
        if ev.get("unmatched_listed"):
            lines.append("listed parts not in the query: " + ", ".join(ev["unmatched_listed"]))
        aside = sorted(set(q.set_aside) | set(e.norm.set_aside))
        if aside:
            lines.append("particles/honorifics set aside: " + ", ".join(aside))
        if ev.get("common"):
            lines.append("common name parts weighted down: " + ", ".join(ev["common"]))
        if ev.get("damping", 1.0) < 1.0:
            if ev.get("exact") and e.kind != "weak":  # the score is 1.0 all the same
                lines.append(f"not damped for being the listed name itself (common parts "
                             f"would damp ×{ev['damping']})")
            else:
                lines.append(f"score damped ×{ev['damping']} (few distinctive name parts "
                             "matched)")
        return lines

    # ---------------------------------------------------------- names in text
    @staticmethod
    def _short_parts_common(short: Entry, window: NormName, ar: ArabicEvidence,
                            start: int) -> bool:
        """Is either part of a short form (``short``, found as ``window`` at
        position ``start`` of the text's parts) an everyday word — of ordinary
        writing in the listed name's script, or, written in Arabic at that
        position of the text, of Arabic writing? A full name in text
        needs one part that is not (:meth:`enough`); two parts that stand for
        a longer name need both."""
        article = _article_parts(short.name) if short.norm.script == "Arabic" else frozenset()
        for pos, (listed, said) in enumerate(zip(short.norm.tokens, window.tokens,
                                                 strict=True), start):
            if common_in_text(listed, short.norm.script, article=listed.latin in article):
                return True
            if pos in ar.stop or ar.common(pos, said.latin):
                return True
        return False

    def _short_forms(self, toks: tuple[Token, ...], script: str | None,
                     found: dict[int, Any], wordset: set[str], caps: set[str] | None,
                     threshold: float, part_min: float) -> list[tuple[float, Entry, dict]]:
        """Listed persons of SHORT_FORM_PARTS parts or more named in the text
        ``toks`` (of ``script``) by their first and last part, adjacent and in
        that order (see SHORT_FORM_PARTS), entities in ``found`` left out:
        (score, entry, evidence) with the evidence of ``compare`` and, under
        "short", "window" and "firm", the two listed parts, the text's two and
        the firm pairs, for :meth:`_text_evidence` to judge. ``wordset``, ``caps``:
        as in :meth:`find_in_text`."""
        out: list[tuple[float, Entry, dict]] = []
        for pos in range(1, len(toks)):
            for idx in self.short_index.get(self._dfkey(toks[pos]), ()):
                e = self.entries[idx]
                first, last = e.norm.tokens[0], e.norm.tokens[-1]
                # parts this close (>= part_min) share their skeleton
                if e.entity_id in found or self._dfkey(first) != self._dfkey(toks[pos - 1]):
                    continue
                short = NormName((first, last), e.norm.set_aside, e.norm.script)
                window = NormName(toks[pos - 1:pos + 1], (), script)
                _, ev = self.compare(short, window)
                pairs = ev.get("pairs", [])
                if (len(pairs) < 2 or any(i != j for i, j, *_ in pairs)
                        or min(p[2] for p in pairs) < part_min):
                    continue  # both parts, in the listed order
                firm = self.firm_parts(short, window, ev)
                if len(firm) < 2:
                    continue
                raw = ev["coverage_query"] * ev.get("damping", 1.0)
                sc = raw * SHORT_FORM_FACTOR  # less than the whole name (SHORT_FORM_FACTOR)
                if sc < threshold or any(w not in wordset for w in _identity_words(e.norm)):
                    continue
                if caps is not None and not all(_capitalised(b, caps)
                                                for _, b, *_ in ev["aligned"]):
                    continue
                out.append((sc, e, {**ev, "short": short, "window": window, "start": pos - 1,
                                    "firm": firm, "parts_score": raw}))
        return out

    def find_in_text(self, text: str, *, threshold: float = 0.85,
                     part_min: float = 0.94) -> list[Match]:
        """Listed names that occur in free text (organisations named in a post or bio).

        A listed name of two or more parts is found where all its parts occur as a
        contiguous run (any order), each part at least ``part_min`` similar. A
        one-part name is looked for only if it is an organisation's primary name
        (HAMAS, TALIBAN), at least 5 letters and distinctive; one-part aliases
        ("PEOPLE", "EGYPT", "VICTORY") and weak aliases are too often ordinary
        words, and persons need two parts. The parts must be firm and together
        distinctive (:meth:`enough`: "Hasan … Ali" is not enough) — also in
        ordinary writing, not made only of everyday words ("Ministry of Interior",
        "Press TV"; a one-part name not one itself, "Opera"), judged also by the
        post's own Arabic words (:meth:`_text_evidence`: a stopword such as
        الماضي is no name part) — and
        unless every word of the listed name stands in the text, its identifying
        words (company form, number, initial) must be there too: "Nord Stream"
        is not NORD STREAM 2 AG. The explanation says the listed name "occurs in
        the text" only when every word of it does, else which parts do.

        A person listed with SHORT_FORM_PARTS parts or more is also found by
        the first and the last, adjacent and in that order, both rare among
        listed names and in ordinary writing (:meth:`_short_forms`); the
        explanation says so and names the parts between them, not looked for.
        Such a match scores its two parts' score × SHORT_FORM_FACTOR (0.9:
        feature ``short_form``, the parts' score as ``name_in_text``), below
        the whole name written as closely, which scores ``name_in_text``.

        The text's first MAX_TEXT (5,000) characters are read, all of them, and
        nothing after them (:func:`.names.normalize_text`): as written — a
        comma is not a listed name's "LAST, First", punctuation separates words
        (an Arabic word after "،" with no space is read with its article apart).
        A window of the text is compared with a listed name only where it holds
        a token of each of the name's skeletons (PREFILTER), not only the text.
        """
        # (a post's brackets hold what it says, unlike a name's notes: normalize_text
        # and _words(text=True) read them as the punctuation that parts words)
        text = text[:MAX_TEXT]
        t, src = normalize_text(text)
        toks = t.tokens
        if not toks:
            return []
        words = _words(_plain_text(text), text=True)
        wordset = set(words)
        ar: ArabicEvidence | None = None  # what its Arabic words say, read when first needed
        # In cased writing, a name is written with capitals: "Large Range Limited"
        # is a listed company, "a large range of …" is not. (All-lowercase texts are
        # not held to this.)
        caps: set[str] | None = None
        if any(c.isupper() for c in text):
            caps = set()
            for w in re.findall(r"\w+", text):
                c = w[:1]
                if c.isupper() or c.lower() == c.upper():  # capitalised, or uncased script
                    caps.update(_latin_parts(w))
        anchors: dict[int, list[int]] = defaultdict(list)  # entry idx → positions
        for pos, tok in enumerate(toks):
            for idx in self.anchor_index.get(self._dfkey(tok), ()):
                anchors[idx].append(pos)
        best: dict[int, tuple[float, Entry, dict[str, Any]]] = {}
        tok_keys = [self._dfkey(tok) for tok in toks]
        text_keys = set(tok_keys)
        for idx, positions in anchors.items():
            e = self.entries[idx]
            n = len(e.norm.tokens)
            if e.kind == "weak":
                continue
            # parts this close (>= part_min) share their skeleton: a cheap pre-filter
            if PREFILTER and n > 1 and not all(self._dfkey(x) in text_keys
                                               for x in e.norm.tokens):
                continue
            # what tells this entity from another of its name (company form,
            # number, initial), and whether the name stands whole in the text
            ids = _identity_words(e.norm)
            whole = bool(ids) and _whole_name_in(e.name, words, wordset)
            if n == 1:
                tok = e.norm.tokens[0]
                if not self.one_part_org_name(e, text=True):
                    continue
                at = [p for p in positions if toks[p].latin == tok.latin]
                if not at:
                    continue
                if ar is None:
                    ar = arabic_evidence(toks, src)
                if all(p in ar.stop or ar.common(p, tok.latin) for p in at):
                    continue  # written in the text as an everyday Arabic word
                s, ev = 1.0, {"aligned": [(tok.latin, tok.latin, 1.0, "exact")]}
            else:
                # the listed name must occur as a contiguous run of parts (any order);
                # written whole with what identifies it (NORD STREAM 2 AG), a name
                # of common words is distinctive all the same
                plain = not whole
                s, ev = 0.0, {}
                # and the same of each window: in a long text the parts of
                # many listed names stand somewhere, seldom side by side
                need = {self._dfkey(x) for x in e.norm.tokens} if PREFILTER else set()
                for p in positions[:20]:
                    for start in range(max(0, p - n + 1), min(p, len(toks) - n) + 1):
                        if not need.issubset(tok_keys[start:start + n]):
                            continue
                        window = NormName(toks[start:start + n], (), t.script)
                        _, evw = self.compare(e.norm, window)
                        al = evw.get("aligned", [])
                        if len(al) < n or min(a[2] for a in al) < part_min:
                            continue
                        # every part firm (short parts identical: "Gaz" is not
                        # "Gaza"), and together distinctive: "Hasan … Ali" is
                        # the name of thousands
                        firm = self.firm_parts(e.norm, window, evw)
                        if len(firm) < n:
                            continue
                        if ar is None:
                            ar = arabic_evidence(toks, src)
                        if not self._text_evidence(e, window, firm, ar, plain, start):
                            continue
                        sc = evw["coverage_query"] * evw.get("damping", 1.0)
                        if sc > s:
                            s, ev = sc, evw
            if s >= threshold and not whole and any(w not in wordset for w in ids):
                # the parts are there, but not what tells this entity from another
                # of that name: "Nord Stream" is not NORD STREAM 2 AG, "New City"
                # not LIMITED LIABILITY COMPANY NEW CITY, "Ali … Hussain" not
                # HOSSENI, M. Ali
                continue
            if s >= threshold and caps is not None and not all(
                    _capitalised(b, caps) for _, b, *_ in ev.get("aligned", [])):
                continue
            if s >= threshold:
                cur = best.get(e.entity_id)
                if cur is None or s > cur[0]:
                    best[e.entity_id] = (s, e, ev)
        for s, e, ev in self._short_forms(toks, t.script, best, wordset, caps,
                                          threshold, part_min):
            if ar is None:
                ar = arabic_evidence(toks, src)
            short = Entry(e.name_id, e.entity_id, e.name, e.kind, ev["short"])
            if (not self._short_parts_common(short, ev["window"], ar, ev["start"])
                    and self._text_evidence(short, ev["window"], ev["firm"], ar, True,
                                            ev["start"])):
                cur = best.get(e.entity_id)
                if cur is None or s > cur[0]:
                    best[e.entity_id] = (s, e, ev)
        out = []
        for eid, (s, e, ev) in best.items():
            info = self.entities[eid]
            parts = ", ".join(f"{a}={b}" if a == b else f"{a}~{b}"
                              for a, b, *_ in ev.get("aligned", []))
            features = {"name_in_text": round(s, 4)}
            if "short" in ev:
                middle = [x.latin for x in e.norm.tokens[1:-1]]
                head = f"first and last parts of listed name {e.name!r} occur in the text"
                expl = [f"{head}: {parts}",
                        "parts of the listed name between them, not looked for: "
                        + ", ".join(middle),
                        (f"score {ev['parts_score']:.2f} of the two parts × "
                         f"{SHORT_FORM_FACTOR} for a short form: below the whole name "
                         "written as closely")]
                features = {"name_in_text": round(ev["parts_score"], 4),
                            "short_form": SHORT_FORM_FACTOR}
            elif _whole_name_in(e.name, words, wordset):
                expl = [f"listed name {e.name!r} occurs in the text", "parts: " + parts]
            else:  # say what matched, not that the name is there
                expl = [f"parts of listed name {e.name!r} occur in the text: {parts}"]
                missing = [w for w in e.norm.set_aside if w not in wordset]
                if missing:
                    expl.append("words of the listed name not in the text: "
                                + ", ".join(dict.fromkeys(missing)))
            out.append(Match(eid, info.list_ref, info.caption, min(1.0, s), info.list_name,
                             ", ".join(info.programmes), expl, matched_name=e.name,
                             schema=info.schema, features=features))
        out.sort(key=lambda m: -m.score)
        return out[:MAX_MATCHES]


@lru_cache(maxsize=65_536)
def _latin_parts(word: str) -> tuple[str, ...]:
    """The Latin parts of one word of a text, as ``find_in_text`` reads
    capitals (remembered: posts repeat their words)."""
    return tuple(p for p in SPLIT_WORDS.split(to_latin(word)) if p)


def _plain_text(text: str) -> str:
    return "".join(" " if _invisible(c) else c for c in text)


def _words(name: str, text: bool = False) -> list[str]:
    """The Latin words of a name or (``text``) a post, as
    :func:`.names.normalize` (:func:`.names.normalize_text`) reads them. A
    listed name's "LAST, First" is read
    "First Last" and its bracketed notes are set aside; a post's brackets hold
    what it says ("(Nord Stream 2 AG)" lost the words that told the company)."""
    if not text:
        head, sep, tail = name.partition(",")  # "LAST, First" is written "First Last"
        if sep and tail.strip() and "," not in tail and head.strip():
            name = tail + " " + head
        name = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", name)
    return [w for w in SPLIT_WORDS.split(to_latin(name).replace("'", "").replace("`", ""))
            if w]


# words set aside in organisation names that only join the name ("the", "of",
# Arabic "wa", "fi") — every other set-aside word (a company form such as LLC,
# AG, LIMITED, a number, an initial) tells one listed entity from another
_FUNCTION_WORDS = frozenset({
    "the", "of", "and", "for", "in", "on", "to", "a", "an", "et", "des", "du", "und", "der",
    "die", "das", "ve", "wa", "wal", "fi", "fy", "li", "min", "ila", "w", "la", "bi", "ile",
    "i", "v", "na"})


def _identity_words(n: NormName) -> list[str]:
    """Set-aside words of a listed name that a mention of it must carry too."""
    particles, honorifics, _, prefixes = _sets()
    return [w for w in n.set_aside
            if w not in _FUNCTION_WORDS and w not in particles and w not in honorifics
            and w not in prefixes]


@lru_cache(maxsize=65_536)
def _name_words(name: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The words of a listed name, sorted, and as a set (the same few thousand
    listed names are looked for in every post)."""
    want = tuple(sorted(_words(name)))
    return want, frozenset(want)


def _whole_name_in(name: str, words: list[str], wordset: set[str] | None = None) -> bool:
    """Do all the words of ``name`` — company words, numbers and particles too —
    stand together in ``words`` (in any order), each spelled the same?
    ``wordset``: ``set(words)``, when the caller has it (a name with a word
    that is nowhere in the text is not looked for window by window)."""
    want_t, want_set = _name_words(name)
    k = len(want_t)
    if not k:
        return False
    if not want_set <= (wordset if wordset is not None else set(words)):
        return False
    want = list(want_t)
    return any(sorted(words[i:i + k]) == want for i in range(len(words) - k + 1))


_CACHE: dict[str, tuple[Any, Screener]] = {}


def get_screener(store: Any) -> Screener:
    """A screener for ``store``, rebuilt when the imported lists change."""
    with store.connect() as c:
        stamp = c.execute(select(func.count(F.fin_lists.c.id), func.max(F.fin_lists.c.imported_at),
                                 func.sum(F.fin_lists.c.names))).one()
    key = str(store.engine.url)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == tuple(stamp):
        return cached[1]
    scr = Screener.load(store)
    _CACHE[key] = (tuple(stamp), scr)
    return scr
