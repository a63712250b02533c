"""Signal types: conformance with Meta's reference hashes, hostile files, CLI `rasd hash`."""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rasd.detect.media import signals as sig
from rasd.detect.media.files import Limits, sniff
from rasd.detect.media.hasher import hash_path
from rasd.detect.media.signals.minhash import MinHashSignal, normalize_text
from rasd.detect.media.signals.pdq import hamming
from rasd.detect.media.signals.vpdq import hash_video, match_percent, parse

DEMO = Path(__file__).resolve().parents[1] / "src" / "rasd" / "data" / "demo" / "telegram" / \
    "photos"
POSTER = DEMO / "photo_1@01-03-2024_10-00-00.jpg"
REUPLOAD = DEMO / "photo_2@02-03-2024_09-15-00.jpg"
OTHER = DEMO / "photo_3@03-03-2024_18-30-00.jpg"


def _expected(shared: Path) -> list[tuple[Path, str, str]]:
    out = []
    root = shared / "pdq"
    for name, prefix in (("expected_hashes_python_pdq_test.csv", ""),
                         ("expected_hashes_wasm_PDQMD5TestData.csv", "../../../../data/")):
        with open(root / name, newline="") as fh:
            for row in list(csv.reader(fh))[1:]:
                rel = row[0][len(prefix):] if row[0].startswith(prefix) else None
                if rel is None or not rel.lower().endswith((".jpg", ".png")):
                    continue  # the TMK video MD5 rows point outside the data folder
                out.append((root / "data" / rel, row[1], name))
    return out


@pytest.mark.shared_data
def test_pdq_conformance_with_meta_reference_hashes(shared_data):
    rows = _expected(shared_data)
    checked = 0
    worst = 0
    for path, expected, source in rows:
        if not path.exists():
            continue  # misc-images/b.jpg is referenced upstream but not in the snapshot
        fh = hash_path(path, ["pdq"])
        assert "pdq" in fh.signals, (path, fh.errors)
        d = hamming(fh.signals["pdq"].value, expected)
        worst = max(worst, d)
        assert d <= 16, f"{path.name} ({source}): Hamming {d} > 16 from the reference"
        checked += 1
    assert checked >= 30, f"only {checked} reference images found"
    assert worst <= 16


@pytest.mark.shared_data
def test_pdq_edits_stay_within_match_radius_and_unrelated_do_not(shared_data):
    mods = sorted((shared_data / "pdq" / "data" / "bridge-mods").glob("*.jpg"))
    hashes = {p.name: hash_path(p, ["pdq"]).signals["pdq"].value for p in mods}
    orig = hashes["aaa-orig.jpg"]
    for name, h in hashes.items():
        assert hamming(orig, h) <= 31, name
    other = hash_path(shared_data / "pdq" / "data" / "misc-images" / "c.png",
                      ["pdq"]).signals["pdq"].value
    assert hamming(orig, other) > 31


@pytest.mark.shared_data
def test_vpdq_every_frame_matches_reference_frames(shared_data):
    base = shared_data / "pdq"
    video = base / "tmk-sample-videos" / "pattern-sd-grey-bar.mp4"
    ref = parse((base / "vpdq-sample-hashes" / "pattern-sd-grey-bar.txt").read_text())
    frames = hash_video(video, Limits(), seconds_per_hash=0)
    assert len(frames) == len(ref)
    dists = [hamming(a.pdq, b.pdq) for a, b in zip(frames, ref, strict=True)]
    assert np.mean(dists) <= 4 and np.percentile(dists, 95) <= 16, dists
    assert [f.number for f in frames] == [f.number for f in ref]
    assert all(abs(a.seconds - b.seconds) < 0.002 for a, b in zip(frames, ref, strict=True))
    q, c = match_percent(frames, ref)
    assert q == 100.0 and c >= 95.0


@pytest.mark.shared_data
def test_vpdq_sampled_signal_matches_reference_and_rejects_other_video(shared_data):
    base = shared_data / "pdq"
    fh = hash_path(base / "tmk-sample-videos" / "pattern-sd-grey-bar.mp4")
    assert fh.info.content_type == "video"
    v = fh.signals["vpdq"].value
    st = sig.get("vpdq")
    same = st.normalize((base / "vpdq-sample-hashes" / "pattern-sd-grey-bar.txt").read_text())
    other = st.normalize((base / "vpdq-sample-hashes" / "chair-19-sd-bar.txt").read_text())
    assert st.matches(v, same)
    assert not st.matches(v, other)
    # the same chair video with a logo overlaid is still a match
    logo = st.normalize((base / "vpdq-sample-hashes" /
                         "chair-22-with-small-logo-bar.txt").read_text())
    assert st.matches(other, logo)


def test_demo_reupload_is_near_and_unrelated_is_far():
    a, b, c = (hash_path(p, ["pdq"]).signals["pdq"].value for p in (POSTER, REUPLOAD, OTHER))
    assert hamming(a, b) <= 31
    assert hamming(a, c) > 31


def test_sniff_ignores_names():
    assert sniff(b"\xff\xd8\xff\xe0" + b"0" * 20)[0] == "photo"
    assert sniff(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 20)[0] == "video"
    assert sniff(b"\x00\x00\x00\x18ftypavif" + b"\x00" * 20)[0] == "photo"
    assert sniff(b"%PDF-1.7\n")[0] == "document"
    assert sniff("نص عربي قصير\n".encode())[0] == "text"
    assert sniff(bytes(range(256)))[0] == "other"
    assert sniff(b"")[0] == "empty"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` but whose data is a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def test_hostile_files_give_clear_errors_and_batch_goes_on(tmp_path):
    data = POSTER.read_bytes()
    files = {
        "empty.jpg": b"",
        "truncated.jpg": data[: len(data) // 3],
        "corrupt.jpg": b"\xff\xd8\xff\xe0" + bytes(np.random.default_rng(1).integers(
            0, 256, 3000, dtype=np.uint8)),
        "absurd.png": _png_header(40_000, 10),
        "bomb.png": _png_header(20_000, 20_000),
        "notavideo.mp4": b"\x00\x00\x00\x18ftypisom" + b"\x13\x37" * 4000,
        "pdf-called.jpg": b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 40,
        "png-called.mp4": (POSTER.parent / POSTER.name).read_bytes(),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    res = {n: hash_path(tmp_path / n) for n in files}
    assert "empty" in res["empty.jpg"].errors["file"]
    assert "truncated" in res["truncated.jpg"].errors["pdq"]
    assert "pdq" in res["corrupt.jpg"].errors and "md5" in res["corrupt.jpg"].signals
    assert "absurd image dimensions" in res["absurd.png"].errors["pdq"]
    assert "decompression bomb" in res["bomb.png"].errors["pdq"]
    assert "video" in res["notavideo.mp4"].errors["vpdq"]
    assert res["notavideo.mp4"].signals["sha256"].value  # exact hashes still usable
    pdf = res["pdf-called.jpg"]
    assert pdf.info.content_type == "document" and "pdq" not in pdf.signals
    assert "name says photo" in pdf.record()["note"]
    assert not pdf.errors
    assert "pdq" in res["png-called.mp4"].signals  # the bytes decide, not the name


def test_decompression_bomb_refused(tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("1", (2500, 2500)).save(p, optimize=True)
    assert p.stat().st_size < 10_000  # tiny file, 6M pixels
    fh = hash_path(p, ["pdq"], limits=Limits(max_image_pixels=1_000_000))
    assert "decompression bomb" in fh.errors["pdq"]
    # (rasd's limit, not Pillow's threshold of twice it: "limit of 2000000 pixels")
    assert fh.errors["pdq"] == ("decompression bomb refused: 6,250,000 pixels declared, over "
                                "the limit of 1,000,000 (RASD_MEDIA_MAX_IMAGE_PIXELS)")
    ok = hash_path(p, ["pdq"])  # within the default limit it hashes
    assert "pdq" in ok.signals


def test_a_media_limit_that_is_no_number_is_an_error_naming_it(tmp_path, monkeypatch):
    """RASD_MEDIA_MAX_FILE_BYTES=abc was an int() traceback at the first file of
    `rasd hash`, `rasd match` and `rasd scan --media`; 0 or -1 refused every
    file; RASD_MEDIA_MAX_VIDEO_SECONDS=1.5 was refused as no int (its default
    is one). Each command says which variable, before any file is read."""
    from rasd.cli import app, common

    monkeypatch.setenv("RASD_MEDIA_MAX_VIDEO_SECONDS", "1.5")
    assert Limits.from_env().max_video_seconds == 1.5
    for value in ("abc", "0", "-1", "nan", "1.5"):
        monkeypatch.setenv("RASD_MEDIA_MAX_FILE_BYTES", value)
        with pytest.raises(ValueError, match=f"RASD_MEDIA_MAX_FILE_BYTES={value!r}"):
            Limits.from_env()
        for args in (["hash", str(POSTER)], ["--db", str(tmp_path / "m.db"), "match", str(POSTER)],
                     ["--db", str(tmp_path / "m.db"), "scan", "--media", "-d", "media"]):
            common.STATE.store = None
            r = CliRunner().invoke(app, args)
            assert r.exit_code == 2 and r.stdout == "", (args, r.output)
            assert "RASD_MEDIA_MAX_FILE_BYTES" in r.stderr, (args, r.output)
    common.STATE.store = None


def test_a_file_name_not_utf8_is_printed_as_escapes_not_its_bytes(tmp_path):
    """`rasd match` of a file named in bytes that are not UTF-8 printed the
    name's bytes on stdout as they were — 0x9b is CSI, the start of an escape
    sequence, to a terminal that reads 8-bit controls — and as "\\udc9b" on
    stderr. Both are "\\x9b" now (``term_safe`` writes such bytes as
    ``valid_text`` does)."""
    from rasd.cli import app, common
    from rasd.terminal import term_safe

    assert term_safe("a\udc9b31m\x1b") == "a\\x9b31m\\x1b"
    name = str(tmp_path / "a\udc9b31mX.jpg")
    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "m.db"), "match", name])
    common.STATE.store = None
    assert r.exit_code == 1
    for out in (r.stdout, r.stderr):
        assert "a\\x9b31mX.jpg: " in out and "\udc9b" not in out and "\\udc9b" not in out


def test_a_vpdq_interval_that_is_no_number_is_an_error_naming_it(tmp_path, monkeypatch):
    """RASD_VPDQ_SECONDS_PER_HASH=abc was a float() traceback at the first video
    `rasd hash` met; nan hashed every frame. `rasd hash` says which variable
    before any file is read (0, every frame, is a value)."""
    from rasd.cli import app
    from rasd.detect.media.signals.vpdq import seconds_per_hash_default

    monkeypatch.setenv("RASD_VPDQ_SECONDS_PER_HASH", "0")
    assert seconds_per_hash_default() == 0
    for value in ("abc", "nan", "-1", "inf"):
        monkeypatch.setenv("RASD_VPDQ_SECONDS_PER_HASH", value)
        with pytest.raises(ValueError, match=f"RASD_VPDQ_SECONDS_PER_HASH={value!r}"):
            seconds_per_hash_default()
        r = CliRunner().invoke(app, ["hash", str(POSTER)])
        assert r.exit_code == 2 and r.stdout == "" and "RASD_VPDQ_SECONDS_PER_HASH" in r.stderr


def test_tlsh_documents_and_minhash_text(tmp_path):
    rng = np.random.default_rng(7)
    words = [f"w{int(x)}" for x in rng.integers(0, 500, 1500)]
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text(" ".join(words))
    b.write_text(" ".join(words[:-20] + ["changed"] * 20))
    c = tmp_path / "c.txt"
    c.write_text(" ".join(f"z{int(x) * 7}" for x in rng.integers(0, 9000, 1500)))
    t = sig.get("tlsh")
    va, vb, vc = (hash_path(p).signals["tlsh"].value for p in (a, b, c))
    assert t.distance(va, va) == 0
    assert t.distance(va, vb) < t.distance(va, vc) / 2
    assert not t.matches(va, vc)
    m = MinHashSignal()
    x = m.hash_text("Join the caravan now, brothers, the time has come #hijra https://t.me/x")
    y = m.hash_text("JOIN the caravan now brothers!! the time has come #hijra https://t.me/yy")
    z = m.hash_text("Weather tomorrow: light rain in the north, sunny in the south.")
    assert m.matches(x.value, y.value)
    assert not m.matches(x.value, z.value)
    assert normalize_text("مُجاهِد  @user http://x.y") == "مجاهد"
    with pytest.raises(ValueError):
        m.normalize("not base64!!")


def test_signal_types_are_plugins_with_the_documented_shape():
    reg = sig.registry()
    assert {"md5", "sha256", "pdq", "vpdq", "tlsh", "minhash"} <= set(reg)
    for st in reg.values():
        assert st.index_kind in ("exact", "pdq", "vpdq", "linear")
        assert st.content_types
    with pytest.raises(ValueError, match="unknown signal type"):
        sig.get("tmk")
    assert sig.resolve_alias("HASH_PDQ") == "pdq"


def test_cli_hash_jsonl(tmp_path):
    from rasd.cli import app

    (tmp_path / "empty.bin").write_bytes(b"")
    r = CliRunner().invoke(app, ["hash", str(POSTER), str(tmp_path / "empty.bin")])
    assert r.exit_code == 1  # one file failed
    lines = [json.loads(x) for x in io.StringIO(r.stdout) if x.startswith("{")]
    assert lines[0]["path"] == str(POSTER)
    assert {"md5", "sha256", "pdq", "pdq_quality", "content_type"} <= set(lines[0])
    assert lines[0]["pdq_quality"] >= 50
    assert "empty" in lines[1]["error"]
    r = CliRunner().invoke(app, ["hash", "--type", "nope", str(POSTER)])
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["hash", "-r", "-t", "md5", str(DEMO)])
    assert r.exit_code == 0 and r.stdout.count("\n") == 3
    r2 = CliRunner().invoke(app, ["hash", "-r", "-t", "md5", "--workers", "2", str(DEMO)])
    assert r2.exit_code == 0 and r2.stdout == r.stdout  # same output, same order


def test_a_folder_without_recursive_is_an_error_not_an_empty_success(tmp_path):
    """`rasd hash DIR` (and `rasd match DIR`) without -r used to warn, hash nothing and
    exit 0, which reads like a folder without files: it is an error (exit 2) saying
    to pass -r, and nothing is hashed — not even the files named beside it."""
    from rasd.cli import app, common

    r = CliRunner().invoke(app, ["hash", "-t", "md5", str(POSTER), str(DEMO)])
    assert r.exit_code == 2 and r.stdout == ""
    assert f"{DEMO}: is a folder; pass -r/--recursive to hash every file" in r.stderr
    common.STATE.store = None
    r = CliRunner().invoke(app, ["--db", str(tmp_path / "m.db"), "match", str(DEMO)])
    common.STATE.store = None
    assert r.exit_code == 2 and "pass -r/--recursive to match every file" in r.stderr
    r = CliRunner().invoke(app, ["hash", "--help"])
    assert "without -r is an error" in " ".join(r.stdout.split())


@pytest.mark.parametrize("name", ["minhash", "tlsh"])
def test_linear_scan_distances_equal_one_by_one(name, tmp_path):
    """A bank of a linear-scan type is prepared once and scanned in one call
    (MinHash: one array comparison); the distances are exactly those of
    ``distance`` pair by pair, and a stored signal that cannot be read is
    None, not an error."""
    rng = np.random.default_rng(3)
    st = sig.get(name)
    vals = []
    for i in range(40):
        words = " ".join(f"w{int(x)}" for x in rng.integers(0, 300 if i % 2 else 40, 400))
        if name == "minhash":
            vals.append(st.hash_text(words).value)
        else:
            p = tmp_path / f"{i}.txt"
            p.write_text(words)
            vals.append(hash_path(p).signals["tlsh"].value)
    bank = vals[1:] + ["AAAA" if name == "minhash" else "T1NOTAHASH"]
    got = st.distances(vals[0], st.prepare(bank))
    want = []
    for other in bank:
        try:
            want.append(st.distance(vals[0], other))
        except ValueError:
            want.append(None)
    assert got[-1] is None and got[:-1] == pytest.approx(want[:-1])
    assert want[-1] is None


def _damaged(rng, base: bytes) -> bytes:
    """``base`` with a few bytes flipped, cut, inserted or deleted (the header's
    first 8 bytes kept by cuts, so the format is still recognised)."""
    m = bytearray(base)
    for _ in range(rng.randint(1, 6)):
        if not m:
            break
        op, pos = rng.choice(["flip", "cut", "insert", "delete"]), rng.randrange(len(m))
        if op == "flip":
            m[pos] = rng.randrange(256)
        elif op == "cut":
            del m[max(pos, 8):]
        elif op == "insert":
            m[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            del m[pos:pos + rng.randint(1, 20)]
    return bytes(m)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"])
def test_damaged_images_are_errors_not_exceptions(tmp_path, fmt):
    """Images with bytes flipped, cut, inserted or deleted (800 a format locally,
    4,000 in all): hashing reports each as a result, never raises, and Pillow's
    warnings about damaged files (corrupt EXIF, truncated reads) do not reach
    the analyst's terminal."""
    import random
    import warnings

    from rasd.detect.media.hasher import hash_path

    im = Image.new("RGB", (96, 64), (200, 10, 10))
    for x in range(0, 96, 8):
        for y in range(0, 64, 8):
            im.putpixel((x, y), (x * 2, y * 3, 50))
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    base = buf.getvalue()
    rng = random.Random(fmt)
    f = tmp_path / f"x.{fmt.lower()}"
    for _ in range(int(os.environ.get("RASD_FUZZ_EXAMPLES", "60"))):
        f.write_bytes(_damaged(rng, base))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hash_path(f)
        assert not [w for w in caught if issubclass(w.category, UserWarning)]


def test_damaged_videos_are_errors_not_exceptions(tmp_path):
    """A small MPEG-4 video with bytes flipped, cut, inserted or deleted (400
    locally): vPDQ hashing reports each as a result, never raises (a damaged
    header naming a codec FFmpeg cannot decode left no codec context:
    AttributeError)."""
    import random

    pytest.importorskip("av")

    from tests.helpers import write_video

    from rasd.detect.media.hasher import hash_path

    frames = []
    for i in range(15):
        arr = np.zeros((48, 64, 3), np.uint8)
        arr[:, :, 0] = i * 15
        arr[i:i + 8, i:i + 8, 1] = 255
        frames.append(arr)
    src = write_video(tmp_path / "v.mp4", frames, rate=5)
    base = src.read_bytes()
    assert hash_path(src).signals.get("vpdq")  # the intact video hashes
    rng = random.Random(5)
    f = tmp_path / "m.mp4"
    for _ in range(int(os.environ.get("RASD_FUZZ_EXAMPLES", "60"))):
        f.write_bytes(_damaged(rng, base))
        hash_path(f)


def test_the_64_hex_pattern_is_defined_once():
    """64 hex digits (a PDQ or SHA-256 hash, a vPDQ frame's PDQ) is one pattern the
    bank readers and the vPDQ parser share — `signals.HEX64` — so that a file is
    sniffed by the rule its signals are then parsed by; it was written out in
    banks.py and vpdq.py apiece (and in the frame-line patterns of each)."""
    from pathlib import Path

    import rasd.detect.media as media_pkg

    root = Path(media_pkg.__file__).parent
    where = {str(p.relative_to(root)): p.read_text().count("[0-9a-fA-F]{64}")
             for p in root.rglob("*.py")}
    assert {k: n for k, n in where.items() if n} == {"signals/__init__.py": 1}


def _frames_text(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random frame PDQs of quality 100, as hex."""
    return [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(n)]


def test_a_vpdq_signal_is_parsed_once_on_import_and_once_on_lookup(store, tmp_path,
                                                                    monkeypatch):
    """Import normalises a vPDQ signal and then asks whether it could ever match
    (``unusable``); a lookup asks the same and then matches it. Each read the
    frames from the text again — twice per signal, up to 4 MB of text each. The
    frames ``normalize`` read, and those ``unusable`` read, are now kept
    (``SignalType.parsed``), so each signal's text is parsed once on each path."""
    from rasd.detect.media import banks as B
    from rasd.detect.media.matcher import Matcher, quality_gate
    from rasd.detect.media.signals import vpdq

    monkeypatch.setenv("RASD_INDEX_DIR", str(tmp_path / "idx"))
    calls: list[str] = []
    real = vpdq.parse

    def counting(text: str) -> list:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(vpdq, "parse", counting)
    hexes = _frames_text(np.random.default_rng(31), 6)
    hma = json.dumps([f"{h},100,{k}.0" for k, h in enumerate(hexes)])
    B.create_bank(store, "v")
    rep = B.add_signals(store, "v", [B.Entry(1, "vpdq", hma, {})])
    assert (rep.added, rep.invalid) == (1, 0)
    assert calls == [hma]

    sig._parsed.clear()
    calls.clear()
    query = ";".join(f"{30 * k},100,{h},{k}.000" for k, h in enumerate(hexes))
    values, skipped = quality_gate({"vpdq": sig.SignalValue(query, 100)})
    assert skipped == {} and values == {"vpdq": query}
    (hit,) = Matcher(store).lookup_all(values)
    assert hit.bank == "v" and hit.detail["query_match_pct"] == 100.0
    assert calls.count(query) == 1


@pytest.mark.parametrize("signal", [
    json.dumps(["ab" * 32 + ",90,1.23e+03", "CD" * 32 + ",40,0.0004"]),
    '{"7": {"quality": 80, "hash": "' + "ef" * 32 + '", "timestamp": 0.12345}}',
    "3,55," + "12" * 32 + ",0.12345;9,100," + "34" * 32 + ",7",
])
def test_the_frames_normalize_keeps_are_the_frames_parse_reads(signal):
    """What ``normalize`` hands on (``remember``) must be exactly what parsing the
    normalised text gives — seconds as written (3 decimals), hex in lower case —
    else the lookup would compute with other frames than a fresh parse."""
    st = sig.get("vpdq")
    sig._parsed.clear()
    norm = st.normalize(signal)
    kept = st.parsed(norm)
    sig._parsed.clear()
    assert kept == st.parsed(norm) == tuple(parse(norm))
    assert isinstance(kept, tuple)


def _minhash_sharing(q: np.ndarray, k: int, rng: np.random.Generator) -> str:
    """A MinHash signature sharing exactly ``k`` of its 128 values with ``q``."""
    from rasd.detect.media.signals.minhash import NUM_PERM, encode

    row = q ^ rng.integers(1, 2**31, NUM_PERM).astype("<u4")  # differs everywhere
    cols = rng.choice(NUM_PERM, k, replace=False)
    row[cols] = q[cols]
    return encode(row)


def _tlsh_at(q: str, dist: int, rng: np.random.Generator) -> str:
    """A TLSH hash at exactly ``dist`` from ``q`` (its body digits changed one by one)."""
    import tlsh

    h = list(q)
    while tlsh.diff(q, "".join(h)) < dist:
        pos = int(rng.integers(8, 72))
        old = h[pos]
        h[pos] = "0123456789ABCDEF"[int(rng.integers(0, 16))]
        if tlsh.diff(q, "".join(h)) > dist:
            h[pos] = old
    return "".join(h)


def _linear_bank(name: str, rng: np.random.Generator) -> tuple[str, list[str], float]:
    """(query, bank, threshold) for a linear-scan type: random signals, signals exactly
    at the threshold and just past it, copies, and stored signals no one can read."""
    st = sig.get(name)
    if name == "minhash":
        q = rng.integers(0, 2**32, 128, dtype=np.uint64).astype("<u4")
        # 1 - 90/128 = 0.297 ≤ 0.3 < 1 - 89/128; 1 - 96/128 = 0.25 exactly
        bank = [_minhash_sharing(q, k, rng) for k in rng.integers(0, 129, 300)]
        bank += [_minhash_sharing(q, k, rng) for k in (128, 96, 95, 90, 89, 0)]
        bank += ["AAAA", "not base64!", ""]
        from rasd.detect.media.signals.minhash import encode

        return encode(q), bank, st.default_threshold
    import os

    import tlsh

    q = tlsh.hash(os.urandom(4000))
    hexd = "0123456789ABCDEF"
    bank = [q[:8] + "".join(hexd[int(x)] for x in rng.integers(0, 16, 64))
            for _ in range(100)]
    bank += [tlsh.hash(os.urandom(int(rng.integers(60, 30_000)))) for _ in range(200)]
    bank += [_tlsh_at(q, d, rng) for d in (0, 1, 29, 30, 31, 45)]
    bank += [q.lower(), q[2:], "T1NOTAHASH", "", "T1" + "G" * 70, q + "00"]
    return q, bank, st.default_threshold


@pytest.mark.parametrize("name", ["minhash", "tlsh"])
def test_near_is_the_filtered_distances_exactly(name):
    """``near`` (vectorised by MinHash and TLSH) gives exactly what the previous
    lookup computed — every distance, filtered to ≤ the limit in Python (the base
    ``SignalType.near``): same positions, same distances, same order — on a bank
    with signals exactly at the threshold and one step past it, stored signals
    that cannot be read, and an empty bank; for a query that cannot be read too."""
    rng = np.random.default_rng(11)
    st = sig.get(name)
    q, bank, thr = _linear_bank(name, rng)
    prepared = st.prepare(bank)
    for limit in (thr, 0.25 if name == "minhash" else 45, 0, 1.0 if name == "minhash" else 999):
        want = sig.SignalType.near(st, q, prepared, limit)
        got = st.near(q, prepared, limit)
        assert got == want and [type(d) for _, d in got] == [type(d) for _, d in want]
    near = dict(st.near(q, prepared, thr))
    if name == "minhash":
        assert [round(128 * (1 - d)) for d in near.values()].count(90) >= 1
        assert all(round(128 * (1 - d)) >= 90 for d in near.values())
        assert dict(st.near(q, prepared, 0.25))[len(bank) - 8] == 0.25  # 96 shared
    else:
        assert sorted(near.values()).count(30.0) >= 1 and max(near.values()) == 30
    assert st.near(q, st.prepare([]), thr) == []
    bad = "AAAA" if name == "minhash" else "T1NOTAHASH"
    if name == "tlsh":  # tlsh.diff refuses it against every signal: no hit
        assert st.near(bad, prepared, thr) == sig.SignalType.near(st, bad, prepared, thr) == []


def test_minhash_near_computes_no_distance_per_signal(monkeypatch):
    """A MinHash lookup finds the near signatures in numpy: it does not make the
    list of one distance per bank signal (a million Python floats at a million)."""
    rng = np.random.default_rng(12)
    st = sig.get("minhash")
    q, bank, thr = _linear_bank("minhash", rng)
    prepared = st.prepare(bank)
    want = st.near(q, prepared, thr)

    def per_signal(*a, **k):
        raise AssertionError("a distance per bank signal")

    monkeypatch.setattr(type(st), "distances", per_signal)
    assert st.near(q, prepared, thr) == want and want


def _minhash_prepare_one_by_one(signals: list) -> tuple[np.ndarray, np.ndarray]:
    """MinHash ``prepare`` as it was: ``decode`` row by row, a row it refuses
    left zero and out (``ok`` false)."""
    from rasd.detect.media.signals.minhash import prepare_row_by_row

    return prepare_row_by_row(signals)


def _minhash_hostile_bank(rng: np.random.Generator) -> tuple[str, list]:
    """(query, bank): signatures near and far from the query, repeated, and stored
    values that are not signatures — one character off, too short or long, "="
    missing, doubled or inside, other padding, spaces, non-ASCII, bytes, empty —
    and signatures ``decode`` takes though no encoder writes them (nonzero
    bits in the last digit)."""
    from rasd.detect.media.signals.minhash import encode

    q = rng.integers(0, 2**32, 128, dtype=np.uint64).astype("<u4")
    good = [_minhash_sharing(q, int(k), rng) for k in rng.integers(0, 129, 60)]
    good += [_minhash_sharing(q, k, rng) for k in (128, 96, 90, 89)]
    s = good[0]
    odd = [s[:-2] + "B=", s[:-2] + "/="]  # the last digit's spare bits set: decodes
    bad = [s[:-1], s + "=", s[:-1] + "==", s[:-1] + "A", " " + s[:-1], s[:-1] + "\n",
           s[:5] + "-" + s[6:], s[:5] + "_" + s[6:], s[:9] + "=" + s[10:],
           s[:-1] + "\u00e9", s[:-3] + "\u0100==", "\u00e9" * 684, s[:-2] + "==",
           s[:680] + "====", s[:-5] + "AAAA=", "A" * 684, "=" * 684, "AAAA", "",
           "not base64!", s[:-1] + "\x00", encode(q)[:-4] + "\ud800AA="]
    bank = good + odd + bad + [s.encode(), good[1], good[1], good[2]]
    order = rng.permutation(len(bank))
    return encode(q), [bank[i] for i in order]


def test_minhash_prepare_decodes_exactly_as_row_by_row(monkeypatch):
    """``prepare`` decodes the signatures in numpy, ``PREPARE_CHUNK`` at a time;
    what it makes — every value, which rows are left out, the array's layout — is
    what ``decode`` row by row made, on a bank of signatures and hostile stored
    values (repeated, next to one another and at chunk edges), and the lookups on
    it give the same hits, distances and order."""
    from rasd.detect.media.signals import minhash as MH

    rng = np.random.default_rng(14)
    st = sig.get("minhash")
    q, bank = _minhash_hostile_bank(rng)
    want_rows, want_ok = _minhash_prepare_one_by_one(bank)
    assert 60 < want_ok.sum() < len(bank) - 20  # both kinds there
    for chunk in (1, 3, 7, 64, 1024):
        monkeypatch.setattr(MH, "PREPARE_CHUNK", chunk, raising=False)
        rows, ok = st.prepare(bank)
        assert ok.tolist() == want_ok.tolist()
        assert rows.dtype == want_rows.dtype and rows.flags.f_contiguous
        assert np.array_equal(rows, want_rows)
    assert st.prepare([])[0].shape == (0, 128)
    prepared, before = st.prepare(bank), (want_rows, want_ok)
    for query in (q, bank[0], bank[-1] if isinstance(bank[-1], str) else bank[1]):
        for limit in (st.default_threshold, 0.0, 0.5, 1.0):
            got = st.near(query, prepared, limit)
            assert got == st.near(query, before, limit)
            assert got == sig.SignalType.near(st, query, before, limit)
    assert len(st.near(q, prepared, st.default_threshold)) >= 5


def test_minhash_prepare_decodes_no_signature_one_by_one(monkeypatch):
    """A MinHash bank is decoded in numpy: ``decode`` (a base64 decode and an
    array per signal: 4–7 s at a million) runs only for the stored values that
    are not in its one form, which it then refuses, as before."""
    from rasd.detect.media.signals import minhash as MH

    rng = np.random.default_rng(15)
    st = sig.get("minhash")
    _, bank = _minhash_hostile_bank(rng)
    want = _minhash_prepare_one_by_one(bank)
    digits = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

    def one_form(b) -> bool:  # 683 base64 digits and "="
        return isinstance(b, str) and len(b) == 684 and b[-1] == "=" and set(b[:-1]) <= digits

    odd = [b for b in bank if not one_form(b)]
    calls: list = []
    real = MH.decode
    monkeypatch.setattr(MH, "decode", lambda s: calls.append(s) or real(s))
    rows, ok = st.prepare(bank)
    assert np.array_equal(rows, want[0]) and ok.tolist() == want[1].tolist()
    assert sorted(map(repr, calls)) == sorted(map(repr, odd))
    assert len(calls) < len(bank) - 60
    calls.clear()
    good = [b for b, k in zip(bank, want[1], strict=True) if k and isinstance(b, str)]
    st.prepare(good * 50)
    assert calls == []


def test_minhash_lookups_on_a_stored_bank_are_those_of_row_by_row(store, monkeypatch):
    """``Matcher.lookup`` against a stored MinHash bank — hostile stored values,
    one signature in two banks and twice in one, a tombstoned signal, a deleted
    one — gives the same hits, distances and order with the bank decoded in numpy
    as decoded row by row; and again after ``refresh`` once signals were added,
    tombstoned and deleted."""
    import hashlib

    from sqlalchemy import delete, select

    from rasd.detect.media import banks as B
    from rasd.detect.media import schema as M
    from rasd.detect.media.matcher import Matcher
    from rasd.detect.media.signals.minhash import decode
    from rasd.store.db import now

    rng = np.random.default_rng(16)
    st = sig.get("minhash")
    q, bank = _minhash_hostile_bank(rng)
    # what a text column holds on both stores (no NUL, no lone surrogate)
    bank = [b for b in bank if isinstance(b, str) and "\x00" not in b
            and not any("\ud800" <= c <= "\udfff" for c in b)]
    B.create_bank(store, "a")
    B.create_bank(store, "b")
    ts = now()

    def put(bank_name: str, values: list[str], status: str = "active") -> None:
        with store.begin() as c:
            bid = c.execute(select(M.hash_banks.c.id).where(
                M.hash_banks.c.name == bank_name)).scalar_one()
            c.execute(M.bank_signals.insert(), [
                {"bank_id": bid, "signal_type": "minhash", "signal": v, "status": status,
                 "signal_key": hashlib.sha256(f"{k}{v}".encode()).hexdigest(),
                 "added_at": ts, "updated_at": ts} for k, v in enumerate(values)])

    put("a", bank + bank[:5])  # five stored twice
    put("b", bank[:20])
    put("b", [_minhash_sharing(decode(q), 120, rng)], status="tombstoned")
    queries = [q] + [b for b, ok in zip(bank, _minhash_prepare_one_by_one(bank)[1],
                                        strict=True) if ok][:3]

    def looked_up(m: Matcher) -> list:
        return [[(h.signal_id, h.bank, h.distance, h.status) for h in m.lookup("minhash", v)]
                for v in queries]

    new = Matcher(store)
    got = looked_up(new)
    with monkeypatch.context() as mp:
        mp.setattr(type(st), "prepare", lambda self, signals: _minhash_prepare_one_by_one(
            signals))
        want = looked_up(Matcher(store))
    assert got == want and sum(map(len, got)) >= 10
    assert len({h[2] for h in got[0]}) >= 3  # hits at several distances

    put("b", bank[20:40])
    ids = [r[0] for r in got[0][:3]]
    B.set_signal_status(store, ids[:1], "tombstoned")
    with store.begin() as c:
        c.execute(delete(M.bank_signals).where(M.bank_signals.c.id.in_(ids[1:])))
    new.refresh()
    got = looked_up(new)
    with monkeypatch.context() as mp:
        mp.setattr(type(st), "prepare", lambda self, signals: _minhash_prepare_one_by_one(
            signals))
        want = looked_up(Matcher(store))
    assert got == want and not set(ids) & {h[0] for hs in got for h in hs}


def test_tlsh_near_diffs_only_what_the_header_and_body_bound_keep(monkeypatch):
    """py-tlsh compares pairwise only; a TLSH lookup calls ``tlsh.diff`` for the
    signals a lower bound of the distance (header, then body digits, in numpy)
    keeps within the threshold, and for stored signals it cannot read — not for
    every bank signal — and the lower bound over all 64 body digits is the
    distance itself."""
    import tlsh

    from rasd.detect.media.signals import tlsh as T

    rng = np.random.default_rng(13)
    st = sig.get("tlsh")
    q, bank, thr = _linear_bank("tlsh", rng)
    prepared = st.prepare(bank)
    readable = [b.upper() for b in bank if T._DIFFABLE.fullmatch(b.upper())]
    d = T.digits(readable)
    qd = T.digits([q])[0]
    full = T.head_distance(d, qd) + T.body_distance(d, np.arange(len(d)), qd, range(6, 70))
    assert full.tolist() == [tlsh.diff(q, b) for b in readable]
    lv, q1, q2 = T.header(d)
    for b, got in zip(readable, zip(lv.tolist(), q1.tolist(), q2.tolist(), strict=True),
                      strict=True):
        t = tlsh.Tlsh()
        t.fromTlshStr(b)
        assert got == (t.lvalue, t.q1ratio, t.q2ratio)
    calls = []
    real = tlsh.diff
    monkeypatch.setattr(tlsh, "diff", lambda a, b: calls.append(b) or real(a, b))
    hits = st.near(q, prepared, thr)
    unreadable = len(bank) - len(readable)
    assert len(calls) == len(hits) + unreadable
    assert len(hits) >= 5


def test_tlsh_prepare_reads_exactly_as_one_by_one(monkeypatch):
    """``TlshSignal.prepare`` reads the digits of every signal from one uppercased
    string in numpy; it gives exactly what matching ``_DIFFABLE`` signal by signal
    gave (``prepare_one_by_one``) — for stored values of every form: with and
    without ``T1``, any case, too short or long, not hex, characters that are not
    ASCII, lone surrogates — and for an empty bank. A bank holding a character
    that uppercases into several (``ß``, a ligature that uppercases into hex
    digits) is prepared one by one, the same."""
    from rasd.detect.media.signals import tlsh as T

    st = sig.get("tlsh")
    q, bank, _ = _linear_bank("tlsh", np.random.default_rng(14))
    body = q[-70:]
    odd = [body, body.lower(), "t1" + body.lower(), "T2" + body, body + "0", body[:-1],
           "T1" + body[:-1] + "é", "T1" + body[:-1] + "\udc80", "T1" + body[:-1] + "\n",
           " T1" + body[1:], "", "T1", "Ｔ1" + body]
    growing = ["t1" + body[:-2] + "\ufb00", "ß" * 3]  # "FF", "SSSSSS"
    one_by_one = T.prepare_one_by_one
    want = {k: one_by_one(v) for k, v in enumerate(
        (bank + odd, odd, [], bank + growing + odd, growing))}

    def refused(signals):
        raise AssertionError("prepared one by one")

    for k, values in enumerate((bank + odd, odd, [], bank + growing + odd, growing)):
        monkeypatch.setattr(T, "prepare_one_by_one", one_by_one if k >= 3 else refused)
        got = st.prepare(values)
        assert got.signals == want[k].signals
        assert got.readable.tolist() == want[k].readable.tolist()
        assert got.others.tolist() == want[k].others.tolist()
        assert np.array_equal(got.digits, want[k].digits) and got.digits.shape[1] == 70
        assert got.digits.flags.f_contiguous
    assert len(want[1].readable) == 3 and len(want[4].readable) == 1
