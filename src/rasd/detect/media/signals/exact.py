"""Cryptographic file hashes: exact matches only (GIFCT HSDB, TCAP video-MD5)."""

from __future__ import annotations

import re
from typing import ClassVar

from rasd.detect.media.files import FileInfo, Limits
from rasd.detect.media.signals import SignalType, SignalValue


class _HexDigest(SignalType):
    hexlen: ClassVar[int]
    content_types = frozenset({"*"})
    index_kind = "exact"
    default_threshold = 0

    def normalize(self, signal: str) -> str:
        s = signal.strip().lower()
        if not re.fullmatch(f"[0-9a-f]{{{self.hexlen}}}", s):
            raise ValueError(f"{self.name}: expected {self.hexlen} hex digits, got {signal!r:.80}")
        return s

    def distance(self, a: str, b: str) -> float:
        return 0.0 if a == b else 1.0


class MD5Signal(_HexDigest):
    name = "md5"
    hexlen = 32
    description = "MD5 of the file bytes (exact match)"

    def hash_file(self, info: FileInfo, limits: Limits) -> SignalValue | None:
        return SignalValue(info.md5) if info.size else None


class SHA256Signal(_HexDigest):
    name = "sha256"
    hexlen = 64
    description = "SHA-256 of the file bytes (exact match)"

    def hash_file(self, info: FileInfo, limits: Limits) -> SignalValue | None:
        return SignalValue(info.sha256) if info.size else None
