"""vPDQ: Meta's video similarity signal — a PDQ hash per (sampled) frame, and a match
rule on the share of frames that find a close frame in the other video.

Meta's ``vpdq`` binding needs FFmpeg development libraries from the system package
manager, which a fresh machine with only Python does not have; so rasd decodes with
PyAV (a wheel that bundles FFmpeg) and hashes each frame with the same PDQ binding.
On Meta's sample videos the per-frame hashes are within a few bits of the reference
``vpdq`` output (conformance tests), and the video-level match is the reference's:
frames of quality < 50 are dropped (on both sides; a video with no frame left is
neither imported into a bank nor looked up: ``unusable``), duplicate frame hashes are
merged, and two videos
match when ≥ 80 % of the query's unique frames are within PDQ distance 31 of some frame
of the other (python-threatexchange's defaults).

Serialised form: ``frame,quality,pdq_hex,seconds`` per frame (the format of Meta's
``vpdq`` sample-hash files), frames joined by ``;``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from rasd.detect.media.files import FileInfo, Limits, MediaError
from rasd.detect.media.signals import SignalType, SignalValue
from rasd.detect.media.signals.pdq import hash_array

FRAME_DISTANCE = 31
QUALITY_MIN = 50
QUERY_MATCH_PCT = 80.0
INDEX_MATCH_PCT = 0.0
_LINE = re.compile(r"\s*(\d+)\s*,\s*(\d+)\s*,\s*([0-9a-fA-F]{64})\s*,\s*([0-9.]+)\s*")


@dataclass(slots=True, frozen=True)
class Frame:
    number: int
    quality: int
    pdq: str
    seconds: float


def seconds_per_hash_default() -> float:
    return float(os.environ.get("RASD_VPDQ_SECONDS_PER_HASH", "1.0"))


def hash_video(path: Any, limits: Limits, *, seconds_per_hash: float | None = None,
               downsample: tuple[int, int] | None = None) -> list[Frame]:
    """PDQ of every frame (``seconds_per_hash`` = 0) or of one frame per interval."""
    import av

    sph = seconds_per_hash_default() if seconds_per_hash is None else seconds_per_hash
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as e:
        raise MediaError(f"video does not open: {e}") from None
    frames: list[Frame] = []
    try:
        if not container.streams.video:
            raise MediaError("no video stream in the file")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        cc = stream.codec_context
        if cc is None:  # a damaged header names a codec FFmpeg has no decoder for
            raise MediaError("no decoder for the video stream (damaged or unknown codec)")
        w, h = cc.width or 0, cc.height or 0
        if w > limits.max_video_side or h > limits.max_video_side:
            raise MediaError(f"absurd video dimensions {w}x{h} "
                             f"(limit {limits.max_video_side} per side)")
        if stream.duration and stream.time_base:
            dur = float(stream.duration * stream.time_base)
            if dur > limits.max_video_seconds:
                raise MediaError(f"video of {dur:.0f} s exceeds {limits.max_video_seconds:.0f} s")
        next_t = 0.0
        for n, frame in enumerate(container.decode(stream)):
            t = float(frame.time) if frame.time is not None else n / float(
                stream.average_rate or 30)
            if t > limits.max_video_seconds:
                raise MediaError(f"video runs past {limits.max_video_seconds:.0f} s")
            if sph > 0 and t + 1e-6 < next_t:
                continue
            if frame.width > limits.max_video_side or frame.height > limits.max_video_side:
                raise MediaError(f"absurd frame dimensions {frame.width}x{frame.height}")
            if downsample:
                rgb = frame.reformat(width=downsample[0], height=downsample[1],
                                     format="rgb24").to_ndarray()
            else:
                rgb = frame.to_ndarray(format="rgb24")
            hx, q = hash_array(rgb)
            frames.append(Frame(n, q, hx, round(t, 3)))
            if len(frames) > limits.max_video_frames:
                raise MediaError(f"more than {limits.max_video_frames} frames to hash "
                                 "(raise RASD_MEDIA_MAX_VIDEO_FRAMES or RASD_VPDQ_SECONDS_PER_HASH)")
            if sph > 0:
                next_t = t + sph
    except MediaError:
        raise
    except (av.FFmpegError, OSError, ValueError, MemoryError) as e:
        if not frames:
            raise MediaError(f"video does not decode: {e}") from None
        # a video truncated part-way: keep the frames that decoded, as vpdq does
    finally:
        container.close()
    if not frames:
        raise MediaError("no decodable video frames")
    return frames


def serialize(frames: list[Frame]) -> str:
    return ";".join(f"{f.number},{f.quality},{f.pdq},{f.seconds:.3f}" for f in frames)


def parse(signal: str) -> list[Frame]:
    """Frames from the ``;``- or newline-separated text form (Meta's sample files too)."""
    out = []
    for i, part in enumerate(re.split(r"[;\n]", signal)):
        if not part.strip():
            continue
        m = _LINE.fullmatch(part)
        if not m:
            raise ValueError(f"vpdq: frame {i + 1} is not 'frame,quality,pdq_hex,seconds': "
                             f"{part.strip()!r:.80}")
        out.append(Frame(int(m[1]), int(m[2]), m[3].lower(), float(m[4])))
    if not out:
        raise ValueError("vpdq: no frames")
    return out


def usable_unique(frames: list[Frame], quality_min: int = QUALITY_MIN) -> list[str]:
    """Unique frame hashes of sufficient quality, in first-seen order."""
    seen: dict[str, None] = {}
    for f in frames:
        if f.quality >= quality_min:
            seen.setdefault(f.pdq, None)
    return list(seen)


def hex_matrix(hexes: list[str]) -> np.ndarray:
    if not hexes:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, 32)


_POP = np.array([i.bit_count() for i in range(256)], dtype=np.uint8)


def pairwise_hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between rows of two (n, 32) uint8 matrices."""
    out = np.zeros((a.shape[0], b.shape[0]), dtype=np.int32)
    for start in range(0, a.shape[0], 256):
        x = a[start:start + 256, None, :] ^ b[None, :, :]
        out[start:start + 256] = _POP[x].sum(axis=2, dtype=np.int32)
    return out


def match_percent(query: list[Frame], target: list[Frame],
                  distance: int = FRAME_DISTANCE) -> tuple[float, float]:
    """(query match %, target match %): shares of unique good frames with a partner,
    as Python floats (numpy's would be written as strings in JSON output)."""
    q = hex_matrix(usable_unique(query))
    t = hex_matrix(usable_unique(target))
    if not len(q) or not len(t):
        return 0.0, 0.0
    d = pairwise_hamming(q, t) <= distance
    return float(100.0 * d.any(axis=1).mean()), float(100.0 * d.any(axis=0).mean())


class VpdqSignal(SignalType):
    name = "vpdq"
    content_types = frozenset({"video"})
    index_kind = "vpdq"
    # distance = 100 - query match %, so a match is ≥ 80 % of the query's frames
    default_threshold = 100 - QUERY_MATCH_PCT
    description = ("vPDQ video hash: PDQ per sampled frame; match when ≥ 80 % of the "
                   "query's frames are within 31 bits of the other video's")

    def hash_file(self, info: FileInfo, limits: Limits) -> SignalValue | None:
        frames = hash_video(info.path, limits)
        q = round(sum(f.quality for f in frames) / len(frames))
        return SignalValue(serialize(frames), q, {"frames": len(frames)})

    def normalize(self, signal: str) -> str:
        return serialize(parse(signal))

    def unusable(self, normalized: str) -> str | None:
        """Frames below quality 50 (flat or near-flat: a black screen, a fade) never
        take part in a match, as in python-threatexchange's vPDQ; a video with none
        above it can never match, and a bank of such videos would only hold noise."""
        frames = parse(normalized)
        if usable_unique(frames):
            return None
        best = max(f.quality for f in frames)
        return (f"no frame of quality ≥ {QUALITY_MIN} (best {best} of {len(frames)} "
                "frame(s): flat or near-flat video)")

    def distance(self, a: str, b: str) -> float:
        qp, _ = match_percent(parse(a), parse(b))
        return 100.0 - qp
