"""PDQ: Meta's 256-bit perceptual image hash (match at Hamming distance ≤ 31).

Hashing uses the ``pdqhash`` binding of the reference C++ code. ``numpy.packbits`` of
the binding's bit vector gives the hex form of Meta's test data (checked by the
conformance tests on ../shared/data/pdq: within 0-12 bits, the two reference
implementations themselves differ by a few bits).
"""

from __future__ import annotations

import re

import numpy as np

from rasd.detect.media.files import FileInfo, Limits, MediaError, load_image_rgb
from rasd.detect.media.signals import SignalType, SignalValue
from rasd.envvars import env_int

_HEX = re.compile(r"[0-9a-f]{64}")
# Meta's guidance: PDQ hashes of quality below 50 are unreliable (flat, near-flat or
# tiny images: black frames hash to all zeros); vPDQ drops such frames the same way.
MIN_QUALITY = env_int("RASD_PDQ_MIN_QUALITY", 50, 0, 100)


def bits_to_hex(bits: np.ndarray) -> str:
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def hex_to_bytes(hx: str) -> bytes:
    return bytes.fromhex(hx)


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def hash_array(rgb: np.ndarray) -> tuple[str, int]:
    import pdqhash

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise MediaError(f"expected an RGB uint8 array, got {rgb.dtype} {rgb.shape}")
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return bits_to_hex(bits), int(quality)


class PdqSignal(SignalType):
    name = "pdq"
    content_types = frozenset({"photo"})
    index_kind = "pdq"
    default_threshold = 31
    min_quality = MIN_QUALITY
    description = "PDQ perceptual image hash (256 bits, Hamming distance, match ≤ 31)"

    def hash_file(self, info: FileInfo, limits: Limits) -> SignalValue | None:
        rgb = load_image_rgb(info.path, limits)
        hx, q = hash_array(rgb)
        return SignalValue(hx, q)

    def normalize(self, signal: str) -> str:
        s = signal.strip().lower()
        if not _HEX.fullmatch(s):
            raise ValueError(f"pdq: expected 64 hex digits, got {signal!r:.80}")
        return s

    def distance(self, a: str, b: str) -> float:
        return float(hamming(a, b))
