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
``vpdq`` sample-hash files), frames joined by ``;``. A signal in HMA's form — what
python-threatexchange stores and HMA serves: a JSON list of ``"pdq_hex,quality,seconds"``
strings, or the older JSON object ``{"frame": {"quality", "hash", "timestamp"}}`` — is
read too and normalised to rasd's form; the list has no frame numbers, so its frames
are numbered by position (0, 1, 2…). A signal's identity in a bank (``key``) is its
frames' hashes and qualities in order, so the same video in HMA's form and in rasd's
is one signal: the form imported first is the one the bank holds and exports.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rasd.detect.media.files import FileInfo, Limits, MediaError
from rasd.detect.media.signals import HEX64, SignalType, SignalValue
from rasd.detect.media.signals.pdq import hash_array
from rasd.envvars import env_number
from rasd.jsonread import expect_end, members, skip_ws, with_end

FRAME_DISTANCE = 31
QUALITY_MIN = 50
QUERY_MATCH_PCT = 80.0
INDEX_MATCH_PCT = 0.0
# one frame of rasd's (and Meta's sample files') form: frame,quality,pdq_hex,seconds
LINE = re.compile(rf"\s*(\d+)\s*,\s*(\d+)\s*,\s*({HEX64.pattern})\s*,\s*([0-9.]+)\s*")
# how a signal in HMA's JSON forms opens: a list of "pdq_hex,quality,seconds", or the
# older object {"frame": {"quality", "hash", "timestamp"}}
HMA_OPENING = re.compile(rf'\s*(\[\s*"\s*{HEX64.pattern}\s*,|\{{\s*"\s*\d+\s*"\s*:\s*\{{)')


@dataclass(slots=True, frozen=True)
class Frame:
    number: int
    quality: int
    pdq: str
    seconds: float


def seconds_per_hash_default() -> float:
    """``RASD_VPDQ_SECONDS_PER_HASH`` (1.0 where unset or empty; 0 hashes
    every frame). EnvError (a ValueError) naming it for a value that is no number of seconds, 0 or more: "abc" was a
    bare float() traceback at the first video of `rasd hash`, and "nan" hashed
    every frame as 0 does."""
    return env_number("RASD_VPDQ_SECONDS_PER_HASH", 1.0, float, lambda v: 0 <= v < math.inf,
                      "not a number of seconds, 0 (every frame) or more")


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


HMA_FORM = "'pdq_hex,quality,seconds'"


_INT = re.compile(r"[0-9]{1,9}")
_NUM = re.compile(r"[0-9]{1,12}(\.[0-9]*)?([eE][+-]?[0-9]{1,3})?")


def _quality(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        q = value
    elif isinstance(value, str) and _INT.fullmatch(value.strip()):
        q = int(value)
    else:
        raise ValueError(f"{where}: quality {str(value)!r:.40} is not a whole number")
    if not 0 <= q <= 100:
        raise ValueError(f"{where}: quality {q} is outside 0..100")
    return q


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        t = float(value)
    elif isinstance(value, str) and _NUM.fullmatch(value.strip()):
        t = float(value)  # HMA writes 3 significant digits: 1234.5 s is '1.23e+03'
    else:
        raise ValueError(f"{where}: seconds {str(value)!r:.40} is not a number")
    if not math.isfinite(t) or not 0 <= t <= 1e9:
        raise ValueError(f"{where}: seconds {str(value)!r:.40} is not a time in 0..1e9")
    return round(t, 3)


def hma_frame(position: int, item: Any) -> Frame:
    """One frame of HMA's JSON list: ``"pdq_hex,quality,seconds"`` at ``position``
    (0-based; its frame number, as the form has none). ValueError naming the frame."""
    where = f"vpdq: frame {position + 1} of the JSON list"
    parts = [p.strip() for p in item.split(",")] if isinstance(item, str) else []
    if len(parts) != 3 or not HEX64.fullmatch(parts[0]):
        raise ValueError(f"{where} is not {HMA_FORM} (HMA's form): {item!r:.80}")
    return Frame(position, _quality(parts[1], where), parts[0].lower(),
                 _seconds(parts[2], where))


def hma_object_frame(key: str, value: Any) -> Frame:
    """One frame of HMA's older JSON object: ``"frame": {"quality", "hash",
    "timestamp"}``. ValueError naming the frame."""
    where = f"vpdq: frame {key!r:.20} of the JSON object"
    if not _INT.fullmatch(key.strip()) or not isinstance(value, dict):
        raise ValueError(f"{where} is not 'NUMBER': {{\"quality\", \"hash\", "
                         f"\"timestamp\"}}: {value!r:.80}")
    h = value.get("hash")
    if not isinstance(h, str) or not HEX64.fullmatch(h.strip()):
        raise ValueError(f"{where}: hash {h!r:.80} is not 64 hex digits")
    return Frame(int(key), _quality(value.get("quality"), where), h.strip().lower(),
                 _seconds(value.get("timestamp"), where))


def json_items(text: str) -> Iterator[tuple[int, Any, Any]]:
    """(offset, key, value) of each member of the JSON list (key: its position) or
    object ``text`` holds, in order — where in the text each frame of HMA's forms
    starts, so that a bank file's error can name its line. ``json.JSONDecodeError``
    (a ValueError, with the offset in ``.pos``) for text that is not one JSON list
    or object, nested too deeply or holding a number too long to read."""
    i = skip_ws(text, 0)
    if i >= len(text) or text[i] not in "[{":
        raise json.JSONDecodeError("not a JSON list or object", text, i)
    end = i
    for at, key, path, value in with_end(members(text, i)):
        if path:
            yield at, key, value
        else:
            end = at
    expect_end(text, end)


def hma_item(key: int | str, value: Any) -> Frame:
    """The frame of one member of HMA's JSON forms (``json_items``): a list item at
    position ``key`` or the older object's member named ``key``. ValueError naming
    the frame."""
    return hma_frame(key, value) if isinstance(key, int) else hma_object_frame(key, value)


def hma_frames(text: str) -> Iterator[tuple[int, Frame]]:
    """(offset, frame) of each frame of a signal in HMA's JSON forms; ValueError
    for the first bad one (or bad JSON)."""
    for at, key, value in json_items(text):
        yield at, hma_item(key, value)


def _parse_json(text: str) -> list[Frame]:
    """Frames of a signal in HMA's JSON forms (see the module's docstring)."""
    try:
        return [f for _, f in hma_frames(text)]
    except json.JSONDecodeError as e:
        raise ValueError(f"vpdq: starts like HMA's JSON form but is not JSON: {e}") from None


def parse(signal: str) -> list[Frame]:
    """Frames from the ``;``- or newline-separated text form (Meta's sample files too),
    or from HMA's JSON forms."""
    head = signal.lstrip()[:1]
    if head in ("[", "{"):
        out = _parse_json(signal)
        if not out:
            raise ValueError("vpdq: no frames")
        return out
    out = []
    for i, part in enumerate(re.split(r"[;\n]", signal)):
        if not part.strip():
            continue
        m = LINE.fullmatch(part)
        if not m:
            raise ValueError(f"vpdq: frame {i + 1} is not 'frame,quality,pdq_hex,seconds': "
                             f"{part.strip()!r:.80}")
        out.append(Frame(int(m[1]), int(m[2]), m[3].lower(), float(m[4])))
    if not out:
        raise ValueError("vpdq: no frames")
    return out


def usable_unique(frames: Sequence[Frame], quality_min: int = QUALITY_MIN) -> list[str]:
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


def match_percent(query: Sequence[Frame], target: Sequence[Frame],
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
        frames = parse(signal)
        for i, f in enumerate(frames):  # HMA's forms are checked as they are read
            if f.quality > 100:
                raise ValueError(f"vpdq: frame {i + 1}: quality {f.quality} is outside 0..100")
        norm = serialize(frames)
        # the frames of ``norm`` as ``parse`` would read them back (seconds as
        # written: 3 decimals), so that ``unusable`` does not parse them again
        self.remember(norm, tuple(Frame(f.number, f.quality, f.pdq, float(f"{f.seconds:.3f}"))
                                  for f in frames))
        return norm

    def parse(self, normalized: str) -> tuple[Frame, ...]:
        return tuple(parse(normalized))

    def unusable(self, normalized: str) -> str | None:
        """Frames below quality 50 (flat or near-flat: a black screen, a fade) never
        take part in a match, as in python-threatexchange's vPDQ; a video with none
        above it can never match, and a bank of such videos would only hold noise."""
        frames = self.parsed(normalized)
        if usable_unique(frames):
            return None
        best = max(f.quality for f in frames)
        return (f"no frame of quality ≥ {QUALITY_MIN} (best {best} of {len(frames)} "
                "frame(s): flat or near-flat video)")

    def key(self, normalized: str) -> str:
        """The signal's identity: its frames' PDQ hashes and qualities, in order —
        not their frame numbers nor seconds. HMA's JSON list has no frame numbers
        (its frames are numbered by position here) and writes seconds to 3
        significant digits, so one video in HMA's form and in rasd's differed in
        both and was held twice; the match reads only hashes and qualities, so
        two signals equal in those match each other wholly and are one signal."""
        body = ";".join(f"{f.pdq},{f.quality}" for f in self.parsed(normalized))
        return hashlib.sha256(f"{self.name}:{body}".encode()).hexdigest()

    def distance(self, a: str, b: str) -> float:
        qp, _ = match_percent(parse(a), parse(b))
        return 100.0 - qp
