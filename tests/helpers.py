"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rasd.store import Store
from rasd.store import schema as S


def count(store: Store, table: Any, *where: Any) -> int:
    with store.connect() as c:
        q = select(func.count()).select_from(table)
        for w in where:
            q = q.where(w)
        return int(c.execute(q).scalar_one())


def post(store: Store, platform: str, pid: str) -> Any:
    with store.connect() as c:
        return c.execute(select(S.posts).where(S.posts.c.platform == platform,
                                               S.posts.c.platform_id == pid)).first()


def account(store: Store, platform: str, pid: str) -> Any:
    with store.connect() as c:
        return c.execute(select(S.accounts).where(S.accounts.c.platform == platform,
                                                  S.accounts.c.platform_id == pid)).first()


def live_processes() -> list[tuple[int, int, bytes]]:
    """(pid, parent pid, command line) of every live process; zombies and
    processes that end while being read are left out."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat, cmdline = (d / "stat").read_text(), (d / "cmdline").read_bytes()
        except OSError:  # ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, ...
        if fields[0] != "Z":
            out.append((int(d.name), int(fields[1]), cmdline))
    return out


def write_video(path: Path, frames: Any, rate: int = 5) -> Path:
    """A small MPEG-4 video (PyAV) of ``frames``: RGB uint8 arrays of one size,
    whose sides are even."""
    import av

    with av.open(str(path), "w") as c:
        s = None
        for arr in frames:
            if s is None:
                s = c.add_stream("mpeg4", rate=rate)
                s.height, s.width = arr.shape[:2]
                s.pix_fmt = "yuv420p"
            for p in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                c.mux(p)
        if s is not None:
            for p in s.encode():
                c.mux(p)
    return path


def textured_frames(seconds: int, rate: int = 2, seed: int = 0, start: int = 0) -> list[Any]:
    """Frames of a video with a new detailed picture (random 8-pixel blocks, PDQ
    quality 100) every second: seconds ``start`` … ``start + seconds - 1`` of the
    video ``seed`` names, so a shorter call with the same seed is a clip of it."""
    import numpy as np

    out = []
    for sec in range(start, start + seconds):
        rng = np.random.default_rng([seed, sec])
        pic = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
        out += [pic] * rate
    return out


def versioned_detector(version: str, accept: Any = bool, name: str = "caps") -> Any:
    """A post detector of model version ``version`` that flags as
    ``incitement`` (0.9) each post whose text ``accept`` takes: for tests of
    what a new, or an earlier, version's scan leaves current."""
    from rasd.detect.base import Detector
    from rasd.model import Detection

    class Versioned(Detector):
        @property
        def version(self) -> str:
            return version

        def detect(self, subjects: Any) -> list[Detection]:
            return [Detection("post", p.id, name, "incitement", 0.9, version, [name])
                    for p in subjects if accept(p.text or "")]

    Versioned.name = name
    return Versioned()


class Killed(BaseException):
    """Stands for a SIGKILL of the ingest at a batch (a BaseException: no
    ``except Exception`` on the way out can take it for an error to report)."""


def kill_then_rerun(monkeypatch: Any, run: Any, k: int, *, before: bool = False) -> None:
    """Run ``run()`` with ``Writer.apply`` dying at its ``k``-th call, just
    after that batch committed (or, ``before``, instead of writing it), then
    run it again whole, as a user re-runs an ingest that was killed."""
    import pytest

    from rasd.ingest.writer import Writer

    apply = Writer.apply
    calls = 0

    def dying(self: Writer, b: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == k and before:
            raise Killed
        apply(self, b)
        if calls == k:
            raise Killed

    monkeypatch.setattr(Writer, "apply", dying)
    with pytest.raises(Killed):
        run()
    monkeypatch.setattr(Writer, "apply", apply)
    run()
