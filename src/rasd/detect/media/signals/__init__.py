"""Signal types: fingerprints of content, as small plugins.

In the spirit of Meta's python-threatexchange, each signal type is one class that
knows
- which content it applies to (``content_types``: photo, video, document, text,
  other — or ``*`` for every file),
- how to hash (``hash_file`` / ``hash_text``),
- how to parse and normalise a signal received from elsewhere (``normalize``),
  and — only where reading its own normalised text is costly — the form it computes
  with (``parse``; vPDQ: its frames), which callers get through ``parsed``,
- how to compare two signals (``distance``) and what distance counts as a match
  (``default_threshold``),
- which index serves it (``index_kind``: ``exact`` — an SQL lookup on the
  normalised value; ``pdq`` — a faiss binary index with radius search; ``vpdq`` —
  frame PDQs in a faiss index plus per-video match percentages; ``linear`` — a
  scan of the bank, prepared once (``prepare``), for the signals ``near`` a value;
  by default ``distance`` pair by pair, vectorised by MinHash and TLSH).

Built-in types are listed in ``BUILTIN``; any installed package can add one through
the ``rasd.signal_types`` entry-point group, without touching this code.
"""

from __future__ import annotations

import hashlib
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from rasd.detect.media.files import FileInfo, Limits

# 64 hex digits in any case: a PDQ or SHA-256 hash, or one vPDQ frame's PDQ. The one
# definition the bank readers (banks.py) and the vPDQ parser (vpdq.py) share, so that
# a file's type is sniffed by the same rule its signal is then parsed by.
HEX64 = re.compile(r"[0-9a-fA-F]{64}")


# The parsed forms ``SignalType.parsed`` keeps: (type name, normalised text) → parse's
# result, the most recently used last. Import checks a value right after normalising
# it, and a lookup checks a value (``unusable``) right before looking it up, so the
# last few are all that is ever asked for again; a vPDQ signal may be 4 MB of text.
PARSED_KEEP = 4
_parsed: OrderedDict[tuple[str, str], Any] = OrderedDict()
_parsed_lock = threading.Lock()


@dataclass(slots=True)
class SignalValue:
    """One computed signal: its canonical text form, and a quality (0–100) when the
    type has one (PDQ's gradient-based quality; vPDQ's mean frame quality)."""

    value: str
    quality: int | None = None
    extra: dict[str, Any] | None = None


class SignalType(ABC):
    name: ClassVar[str]
    content_types: ClassVar[frozenset[str]]
    index_kind: ClassVar[str] = "linear"
    default_threshold: ClassVar[float] = 0
    description: ClassVar[str] = ""
    # the lowest quality (SignalValue.quality) worth matching; a hash below it is not
    # looked up nor imported (PDQ of a flat image: an all-zero hash every flat image
    # shares). None: the type has no quality, or every value is usable.
    min_quality: ClassVar[int | None] = None

    def unusable(self, normalized: str) -> str | None:
        """Why a (normalised) value can never make a match, from what it holds
        itself — None when it can. A type whose value carries its own quality says
        here when none of it is good enough (vPDQ: no frame of quality ≥ 50); such
        a value is neither imported into a bank nor looked up. A type with a
        ``parse`` reads the value through ``self.parsed(normalized)``: import calls
        this right after ``normalize``, and a lookup right before it looks the value
        up, and neither then parses it again."""
        return None

    def parse(self, normalized: str) -> Any:
        """A normalised value in the form this type computes with — vPDQ: its frames
        — or, by default, the text itself. Only a type whose text is costly to read
        overrides it; return something immutable (a tuple), as ``parsed`` hands
        the same object to every caller. Call ``parsed``, not this."""
        return normalized

    def parsed(self, normalized: str) -> Any:
        """``parse(normalized)``, kept for the last ``PARSED_KEEP`` values of any
        type, so that one value checked and then matched (or normalised and then
        checked) is parsed once."""
        key = (self.name, normalized)
        with _parsed_lock:
            if key in _parsed:
                _parsed.move_to_end(key)
                return _parsed[key]
        value = self.parse(normalized)
        self.remember(normalized, value)
        return value

    def remember(self, normalized: str, value: Any) -> None:
        """Keep ``value`` as what ``parse(normalized)`` gives: for a ``normalize``
        that had to parse the signal to normalise it — what it returns is then not
        parsed again by ``unusable`` or the lookup. ``value`` must equal what
        ``parse`` would give."""
        with _parsed_lock:
            _parsed[(self.name, normalized)] = value
            _parsed.move_to_end((self.name, normalized))
            while len(_parsed) > PARSED_KEEP:
                _parsed.popitem(last=False)

    def applies_to(self, content_type: str) -> bool:
        return "*" in self.content_types or content_type in self.content_types

    def hash_file(self, info: FileInfo, limits: Limits) -> SignalValue | None:
        """Fingerprint of a file (``info`` has its path, sniffed content type, size and
        digests), or None when the type does not apply. Raises ``MediaError`` for a
        file that cannot be read as its content type."""
        return None

    def hash_text(self, text: str) -> SignalValue | None:
        return None

    @abstractmethod
    def normalize(self, signal: str) -> str:
        """Canonical form of a signal from a bank file; ``ValueError`` if invalid."""

    @abstractmethod
    def distance(self, a: str, b: str) -> float:
        """Distance between two normalised signals (0 = identical)."""

    def prepare(self, signals: list[str]) -> Any:
        """Bank signals in whatever form ``near`` and ``distances`` scan fastest
        (a linear-scan type may decode them once, into one array); by default
        the list itself."""
        return signals

    def distances(self, value: str, prepared: Any) -> list[float | None]:
        """Distance from ``value`` to every prepared bank signal, in order;
        None where a stored signal cannot be compared. Override with a
        vectorised version; by default ``distance`` one by one."""
        out: list[float | None] = []
        for other in prepared:
            try:
                out.append(self.distance(value, other))
            except ValueError:
                out.append(None)
        return out

    def near(self, value: str, prepared: Any, limit: float) -> list[tuple[int, float]]:
        """(position, distance) of each prepared bank signal within ``limit`` of
        ``value`` (distance ≤ limit), in bank order; a stored signal that cannot be
        compared is left out. A lookup needs only these few, not one distance per
        bank signal — a million Python floats a lookup at a million signals — so a
        type that can find them in bulk overrides this (MinHash: numpy counts and
        ``np.nonzero``; TLSH: ``tlsh.diff`` only where a lower bound read in numpy
        is within the limit) and must return exactly what this default returns.
        By default ``distances``, filtered: a type (a plugin) with only
        ``distance`` or ``distances`` keeps working."""
        return [(i, d) for i, d in enumerate(self.distances(value, prepared))
                if d is not None and d <= limit]

    def matches(self, a: str, b: str, threshold: float | None = None) -> bool:
        t = self.default_threshold if threshold is None else threshold
        return self.distance(a, b) <= t

    def key(self, normalized: str) -> str:
        """A short, indexable key of a normalised signal (unique per value)."""
        return hashlib.sha256(f"{self.name}:{normalized}".encode()).hexdigest()


@cache
def registry() -> dict[str, SignalType]:
    """Every signal type: the built-ins, then entry-point plugins."""
    from rasd.detect.media.signals.exact import MD5Signal, SHA256Signal
    from rasd.detect.media.signals.minhash import MinHashSignal
    from rasd.detect.media.signals.pdq import PdqSignal
    from rasd.detect.media.signals.tlsh import TlshSignal
    from rasd.detect.media.signals.vpdq import VpdqSignal
    from rasd.plugins import load_group

    out: dict[str, SignalType] = {}
    for cls in (MD5Signal, SHA256Signal, PdqSignal, VpdqSignal, TlshSignal, MinHashSignal):
        out[cls.name] = cls()
    for name, cls in load_group("rasd.signal_types"):
        inst = cls() if isinstance(cls, type) else cls
        if not isinstance(inst, SignalType):
            import sys

            print(f"rasd: signal type plugin {name} is not a SignalType; skipped",
                  file=sys.stderr)
            continue
        out.setdefault(inst.name, inst)
    return out


def get(name: str) -> SignalType:
    reg = registry()
    try:
        return reg[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown signal type {name!r}; known: {sorted(reg)}") from None


# Aliases used by ThreatExchange / HMA / GIFCT exports for the same signal types.
ALIASES = {
    "pdq": "pdq", "hash_pdq": "pdq", "photo_pdq": "pdq", "pdq_hash": "pdq",
    "md5": "md5", "hash_md5": "md5", "video_md5": "md5", "photo_md5": "md5",
    "sha256": "sha256", "sha-256": "sha256", "hash_sha256": "sha256",
    "vpdq": "vpdq", "video_vpdq": "vpdq", "hash_video_vpdq": "vpdq", "tlsh": "tlsh", "hash_tlsh": "tlsh",
    "minhash": "minhash",
}


def resolve_alias(name: str) -> str:
    n = name.strip().lower()
    return ALIASES.get(n, n)
