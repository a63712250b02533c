"""TLSH: Trend Micro's locality-sensitive hash for documents (python-threatexchange's
TLSH extension uses it for PDFs). Needs ≥ 50 bytes with some variety."""

from __future__ import annotations

import re

from rasd.detect.media.files import FileInfo, Limits, MediaError
from rasd.detect.media.signals import SignalType, SignalValue

_T = re.compile(r"(t1)?[0-9a-f]{70}")
MAX_TLSH_BYTES = 64 << 20


class TlshSignal(SignalType):
    name = "tlsh"
    content_types = frozenset({"document", "text", "other"})
    index_kind = "linear"
    # TLSH's authors report low false-positive rates below ~30-40; 30 is conservative.
    default_threshold = 30
    description = "TLSH fuzzy hash of documents (distance, match ≤ 30)"

    def hash_file(self, info: FileInfo, limits: Limits) -> SignalValue | None:
        import tlsh

        if info.size < 50:
            return None
        if info.size > MAX_TLSH_BYTES:
            raise MediaError(f"tlsh: file larger than {MAX_TLSH_BYTES} bytes")
        h = tlsh.Tlsh()
        with open(info.path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        h.final()
        try:
            hx = h.hexdigest()
        except ValueError:  # "not enough variation in input"
            return None
        if not hx or hx == "TNULL":
            return None  # too little variety in the bytes for a TLSH
        return SignalValue(self.normalize(hx))

    def normalize(self, signal: str) -> str:
        s = signal.strip().lower()
        if not _T.fullmatch(s):
            raise ValueError(f"tlsh: expected 70 hex digits (optionally 'T1'-prefixed), "
                             f"got {signal!r:.80}")
        return s if s.startswith("t1") else "t1" + s

    def distance(self, a: str, b: str) -> float:
        import tlsh

        return float(tlsh.diff(a.upper(), b.upper()))
