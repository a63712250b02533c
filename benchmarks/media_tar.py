#!/usr/bin/env python3
"""Passes of `rasd scan --media` over a Telegram export packed in a .tar.gz.

    python benchmarks/media_tar.py                         # 45,000 photos
    python benchmarks/media_tar.py --photos 2000 --src ../old/src --src src

Builds a Telegram JSON export of --photos small photos (real JPEGs and PNGs
drawn with numpy and Pillow, each different), its members stored in an order
shuffled against the order of the messages (and so of the media ids), packs
it in a .tar.gz and ingests it into a SQLite store under a temporary folder.
Then, for each --src (the `src` folder of a checkout: the code to measure;
default: this checkout's), a fresh process scans a copy of the store with the
media detector alone (`rasd.detect.scan.scan`, as `rasd scan --media -d media`
does) and counts, by wrapping the standard library's own functions (the work
they do is unchanged): tar archives opened (`tarfile.open`: each decompresses
the whole archive to list it), gzip readers gone back to the archive's first
byte (`gzip._GzipReader._rewind`: each a decompression of the archive again up
to where it is read), and the bytes the gzip readers decompressed.

A compressed tar has no directory to jump to a member by, so the scan reads
the photos in the archive's order. A medium-sized export is a pass after the
one that lists it; the scan reads its pending media a page of 20,000 ids at
a time, and put the photos in order a page at a time: an export of more
photos was decompressed once more for each page. Measured by the change that
holds them back across pages (``MediaDetector.plan``), with --src at the
commit before it (423804d) and at its own, on the shared 2-core machine
(45,000 photos, a 71 MB .tar.gz of 143 MB):

    code          tar opens  gzip rewinds  decompressed   wall    CPU
    before                1             3     572.0 MB   391 s  140 s
    after                 1             1     286.0 MB   318 s  136 s

(docs/media.md, "Exports in archives").
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def photo(i: int, rng: random.Random) -> tuple[str, bytes]:
    """A small photo, different for each ``i``: a gradient, a block of noise and
    a bar placed by ``i``; every third a PNG, the others JPEGs."""
    import numpy as np
    from PIL import Image

    w, h = 96, 72
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 2 + i) % 256, (y * 3 + i // 7) % 256, (x + y + i // 49) % 256],
                   axis=-1).astype(np.uint8)
    nr = np.random.default_rng(i)
    bx, by = rng.randrange(0, w - 24), rng.randrange(0, h - 24)
    img[by:by + 24, bx:bx + 24] = nr.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    img[:, (i * 5) % w:(i * 5) % w + 3] = 255
    buf = io.BytesIO()
    ext = "png" if i % 3 == 0 else "jpg"
    Image.fromarray(img).save(buf, "PNG" if ext == "png" else "JPEG", quality=80)
    return f"photos/photo_{i}.{ext}", buf.getvalue()


def build(folder: Path, n: int, seed: int) -> tuple[Path, Path, dict]:
    """(the .tar.gz, the SQLite store it was ingested into, what was built)."""
    rng = random.Random(seed)
    names, messages = [], []
    archive = folder / "export.tar.gz"
    order = list(range(n))
    rng.shuffle(order)  # members against the order of the messages
    made: dict[int, tuple[str, bytes]] = {}
    for i in range(n):
        made[i] = photo(i, rng)
        names.append(made[i][0])
        messages.append({
            "id": i + 1, "type": "message", "date": "2024-03-01T10:00:00",
            "date_unixtime": str(1709287200 + i), "from": "C", "from_id": "channel700009",
            "photo": made[i][0], "text": f"photo {i}", "text_entities": []})
    export = json.dumps({"name": "C", "type": "public_channel", "id": 700009,
                         "messages": messages}).encode()
    raw = 0
    with tarfile.open(archive, "w:gz", compresslevel=6) as t:
        def add(name: str, data: bytes) -> None:
            nonlocal raw
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
            raw += 512 + (len(data) + 511) // 512 * 512
        add("Export/result.json", export)
        for i in order:
            add(f"Export/{made[i][0]}", made[i][1])
    from rasd.ingest import ingest_path
    from rasd.ingest.archive import member_stream
    from rasd.store import Store

    db = folder / "store.db"
    store = Store.open(str(db))
    t0 = time.perf_counter()
    with member_stream(archive, "Export/result.json") as s:
        rep = ingest_path(store, s)
    store.close()
    return archive, db, {"photos": n, "archive_bytes": archive.stat().st_size,
                         "tar_bytes_about": raw, "posts": rep.counts["by_kind"]["posts"]["new"],
                         "ingest_s": round(time.perf_counter() - t0, 1)}


def measure(db: str) -> dict:
    """Scan ``db`` with the media detector, counting the passes over archives."""
    counts = {"tar_opens": 0, "gzip_rewinds": 0, "decompressed_bytes": 0}
    real_open, real_rewind = tarfile.open, gzip._GzipReader._rewind
    real_read = gzip._GzipReader.read

    def opening(*a, **k):  # type: ignore[no-untyped-def]
        counts["tar_opens"] += 1
        return real_open(*a, **k)

    def rewinding(self) -> None:  # type: ignore[no-untyped-def]
        counts["gzip_rewinds"] += 1
        real_rewind(self)

    def reading(self, size=-1):  # type: ignore[no-untyped-def]
        data = real_read(self, size)
        counts["decompressed_bytes"] += len(data)
        return data

    tarfile.open = opening  # type: ignore[assignment]
    gzip._GzipReader._rewind = rewinding  # type: ignore[method-assign]
    gzip._GzipReader.read = reading  # type: ignore[method-assign]
    from rasd.detect.media.detector import MediaDetector
    from rasd.detect.scan import scan
    from rasd.store import Store

    store = Store.open(db)
    det = MediaDetector()
    c0, w0 = time.process_time(), time.perf_counter()
    res = scan(store, [det])[0]
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    store.close()
    return {**counts, "scanned": res.scanned, "hashed": det.stats["hashed"],
            "errors": det.stats["errors"], "missing": det.stats["missing"],
            "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=45_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--src", action="append", help="a checkout's src folder to measure "
                    "(repeatable; default: this one's)")
    ap.add_argument("--keep", help="build in this folder and keep it (default: a temp one)")
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # the child process: a store
    a = ap.parse_args()
    if a.measure:
        print(json.dumps(measure(a.measure)))
        return
    folder = Path(a.keep or tempfile.mkdtemp(prefix="rasd-media-tar-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["RASD_INDEX_DIR"] = str(folder / "idx")
    try:
        _archive, db, built = build(folder, a.photos, a.seed)
        print(json.dumps(built), flush=True)
        for src in a.src or [str(HERE / "src")]:
            copy = folder / "scan.db"
            shutil.copy(db, copy)
            shutil.rmtree(folder / "idx", ignore_errors=True)
            env = {**os.environ, "PYTHONPATH": str(Path(src).resolve()),
                   "PYTHONDONTWRITEBYTECODE": "1"}
            out = subprocess.run([sys.executable, __file__, "--measure", str(copy)], env=env,
                                 check=True, capture_output=True, text=True).stdout
            print(json.dumps({"src": src, **json.loads(out.strip().splitlines()[-1])}),
                  flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
