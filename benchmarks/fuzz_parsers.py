"""Coverage-guided fuzzing of every ingest parser, seeded from real files.

Each target writes the fuzzer's bytes to a file named as that format's files are
named, reads it through the parser's public entry (``detect_format``,
``get_parser(name).parse``, for archives ``members`` + ``member_stream`` +
``check_path``) and checks:

- no exception escapes but ``IngestError`` (the file as a whole is not that
  format): bad content is a ``Reject``;
- every ``Reject`` names its file, a line or a JSON path, and a reason;
- memory and time per input stay bounded (libFuzzer's ``-rss_limit_mb`` and
  ``-timeout``);
- no valid record is lost to its neighbours: in a JSON Lines file (first line a
  whole object), each later line read alone (after a known-good first line)
  gives no post the whole file does not; in a CSV file whose lines are whole
  rows, likewise each row under the header; in a Telegram Desktop chat that is
  valid JSON, each message in a chat of its own.

Targets: ``x``, ``telethon``, ``telegram``, ``telegram-html``, ``csv``,
``auto`` (format sniffing: the first byte picks the file name, ``.gz``/``.zst``
included), ``archive`` (ZIP and tar members). Seeds: the real files under
``$RASD_SHARED_DATA/formats`` (cut into small pieces), the heads of the
``isis-twitter`` and ``far-right-telegram`` CSVs, rasd's demo data, the
synthetic files of ``benchmarks/formats.py`` and the richer Telegram and
Telethon samples the tests build (run it from a checkout).

atheris is not a dependency of rasd; install it on the side::

    pip install --target /tmp/fuzz-site atheris
    PYTHONPATH=/tmp/fuzz-site:src python benchmarks/fuzz_parsers.py x \\
        -max_total_time=600 -rss_limit_mb=2048 -timeout=20

Everything after the target goes to libFuzzer. The corpus is kept in
``--work DIR/<target>/corpus`` (default ``/tmp/rasd-fuzz``); crashing inputs are
written as ``DIR/<target>/crash-*`` (libFuzzer's artifacts). Re-check inputs,
with or without atheris::

    PYTHONPATH=src python benchmarks/fuzz_parsers.py x --replay crash-1234 ...

Without atheris, ``--mutate N`` runs N inputs made by mutating the seeds in
Python (byte flips, cuts, splices, deep nesting, huge numbers, invalid UTF-8,
lone surrogates, CR/LF mixes) — far slower at finding deep paths, but it needs
nothing installed.
"""

from __future__ import annotations

import argparse
import atexit
import bz2
import contextlib
import gzip
import io
import json
import os
import random
import shutil
import sys
import tarfile
import tempfile
import traceback
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = Path(os.environ.get("RASD_SHARED_DATA", "/work/shared/data"))
DEMO = ROOT / "src" / "rasd" / "data" / "demo"
MAX_SEED = 48 * 1024  # a seed larger than this is cut into pieces

try:  # instrument rasd for coverage when atheris is there
    import atheris
except ImportError:  # --replay and --mutate still work
    atheris = None

_ctx = atheris.instrument_imports(include=["rasd"]) if atheris else contextlib.nullcontext()
with _ctx:
    import orjson

    import rasd.ingest.archive
    import rasd.ingest.csvfmt
    import rasd.ingest.jsonitems
    import rasd.ingest.telegram
    import rasd.ingest.telegram_html
    import rasd.ingest.telethon
    import rasd.ingest.x
    import rasd.jsonread
    import rasd.terminal  # noqa: F401
    from rasd.ingest.archive import member_stream, members
    from rasd.ingest.base import IngestError, RawSink, detect_format, get_parser
    from rasd.ingest.runner import check_path
    from rasd.model import Event, Post, Reject


class Finding(AssertionError):
    """The oracle failed (an escaped exception is a finding by itself)."""


# --- reading one input --------------------------------------------------------

TMP = Path(tempfile.mkdtemp(prefix="rasd-fuzz-"))
atexit.register(shutil.rmtree, TMP, True)


def _write(name: str, data: bytes) -> Path:
    d = TMP / "in"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    p = d / name
    p.write_bytes(data)
    return p


def _check_reject(r: Reject) -> None:
    if not r.source_file:
        raise Finding(f"reject names no file: {r}")
    if r.line is None and not r.path:
        raise Finding(f"reject names neither a line nor a JSON path: {r}")
    if not (r.reason or "").strip():
        raise Finding(f"reject gives no reason: {r}")


def read(name: str, data: bytes, fmt: str | None) -> tuple[set[str], int] | None:
    """Parse ``data`` as a file called ``name`` (format ``fmt``, or sniffed):
    the keys of the posts and events it gives, and its reject count; None when
    the file as a whole is refused (IngestError)."""
    path = _write(name, data)
    try:
        name_ = fmt or detect_format(path)
        parser = get_parser(name_)
        keys: set[str] = set()
        rejects = 0
        for rec in parser.parse(path, RawSink()):
            if isinstance(rec, Reject):
                _check_reject(rec)
                rejects += 1
            elif isinstance(rec, Post) and not rec.reference:
                keys.add(f"post:{rec.platform_id}")
            elif isinstance(rec, Event):
                keys.add(f"event:{rec.platform_id}")
    except IngestError as e:
        if not str(e).strip():
            raise Finding("IngestError without a message") from e
        return None
    return keys, rejects


def _lost(whole: set[str], alone: set[str], what: str) -> None:
    missing = alone - whole
    if missing:
        raise Finding(f"{what} gives {sorted(missing)[:5]} alone, but not within the file")


# a first line every JSON Lines check puts before the line it reads alone
X_FIRST = (b'{"data": {"id": "1", "text": "first", "author_id": "9", '
           b'"created_at": "2024-01-01T00:00:00.000Z"}}\n')
TELETHON_FIRST = (b'{"_": "Message", "id": 1, "peer_id": {"_": "PeerChannel", "channel_id": 1}, '
                  b'"date": "2024-01-01 00:00:00+00:00", "message": "first"}\n')


def _jsonl_target(fmt: str, first: bytes) -> Callable[[bytes], None]:
    def target(data: bytes) -> None:
        got = read("in.jsonl", data, fmt)
        if got is None:
            return
        lines = data.split(b"\n")
        if len(lines) < 2 or len(lines) > 40:
            return
        try:
            if not isinstance(orjson.loads(lines[0]), dict):
                return
        except orjson.JSONDecodeError:
            return
        base = read("in.jsonl", first, fmt)
        assert base is not None
        for i, line in enumerate(lines[1:], 2):
            alone = read("in.jsonl", first + line + b"\n", fmt)
            if alone is not None:
                _lost(got[0], alone[0] - base[0], f"line {i}")
    return target


def target_csv(data: bytes) -> None:
    got = read("in.csv", data, "csv")
    if got is None:
        return
    lines = data.split(b"\n")
    if len(lines) < 3 or len(lines) > 40 or b"\r" in data.replace(b"\r\n", b"\n") \
            or any(line.count(b'"') % 2 for line in lines) or b"\0" in data:
        return
    for i, line in enumerate(lines[1:], 2):
        if not line.strip(b"\r"):
            continue
        alone = read("in.csv", lines[0] + b"\n" + line + b"\n", "csv")
        if alone is not None:
            _lost(got[0], alone[0], f"row {i}")


def target_telegram(data: bytes) -> None:
    got = read("result.json", data, "telegram")
    if got is None:
        return
    try:
        doc = json.loads(data, object_pairs_hook=_unique)
    except (ValueError, RecursionError, _Duplicate):
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list) \
            or len(doc["messages"]) > 40:
        return
    for i, m in enumerate(doc["messages"]):
        one = json.dumps({**doc, "messages": [m]}, ensure_ascii=False).encode("utf-8",
                                                                               "surrogatepass")
        alone = read("result.json", one, "telegram")
        if alone is not None:
            _lost(got[0], alone[0], f"messages[{i}]")


class _Duplicate(ValueError):
    pass


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    d = dict(pairs)
    if len(d) != len(pairs):  # which copy a reader keeps is its own choice
        raise _Duplicate
    return d


def target_html(data: bytes) -> None:
    got = read("messages.html", data, "telegram-html")
    if got is None:
        return
    parts = data.split(b'<div class="message ')
    if len(parts) < 3 or len(parts) > 40:
        return
    for i, part in enumerate(parts[1:], 1):
        alone = read("messages.html", parts[0] + b'<div class="message ' + part, "telegram-html")
        if alone is not None:
            _lost(got[0], alone[0], f"message div {i}")


AUTO_NAMES = ("in.jsonl", "in.json", "in.csv", "in.tsv", "messages.html", "result.json",
              "in.jsonl.gz", "in.json.zst", "in.csv.bz2", "in.txt", "in.ndjson", "in.jsonl.xz",
              "result.json.gz", "in.json.gz", "in.csv.xz")


def target_auto(data: bytes) -> None:
    if not data:
        return
    read(AUTO_NAMES[data[0] % len(AUTO_NAMES)], data[1:], None)


def target_archive(data: bytes) -> None:
    name = ("in.zip" if data[:2] == b"PK" else "in.tar.gz" if data[:2] == b"\x1f\x8b"
            else "in.tar")
    path = _write(name, data)
    try:
        names = members(path, lambda p: True)
    except IngestError:
        return
    for m in names[:20]:
        try:
            stream = member_stream(path, m)
        except IngestError:
            continue
        try:
            report = check_path(stream, keep_rejects=10**6)
        except IngestError:
            continue
        for r in report.rejects:
            if not r.get("file") or not (r.get("line") or r.get("path")) or not r.get("reason"):
                raise Finding(f"archive member {m!r}: reject without its place: {r}")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "x": _jsonl_target("x", X_FIRST),
    "telethon": _jsonl_target("telethon", TELETHON_FIRST),
    "telegram": target_telegram,
    "telegram-html": target_html,
    "csv": target_csv,
    "auto": target_auto,
    "archive": target_archive,
}


# --- seeds --------------------------------------------------------------------

def _pieces(data: bytes, n: int = MAX_SEED) -> Iterator[bytes]:
    """Whole lines of ``data``, up to ``n`` bytes a piece (a longer line alone)."""
    buf = b""
    for line in data.splitlines(keepends=True):
        if buf and len(buf) + len(line) > n:
            yield buf
            buf = b""
        buf += line
    if buf:
        yield buf


def _synthetic(fmt: str) -> bytes:
    sys.path.insert(0, str(HERE))
    from formats import GENERATORS  # benchmarks/formats.py

    with tempfile.TemporaryDirectory() as d:
        p = GENERATORS[fmt](Path(d), 6, random.Random(1))
        return (p / "result.json" if p.is_dir() else p).read_bytes()


def _from_tests(fmt: str) -> list[bytes]:
    """The richer samples the test suite builds (forwards, replies, media,
    service messages, entities), where ``tests/`` is there."""
    sys.path.insert(0, str(ROOT))
    try:
        with tempfile.TemporaryDirectory() as d:
            if fmt == "telethon":
                from tests.test_ingest_telethon import messages, write
                return [write(Path(d), messages()).read_bytes()]
            if fmt == "telegram-html":
                from tests.test_ingest_telegram_html import HEAD, PAGE1, PAGE2, TAIL
                return [(HEAD.format(title="Chat") + "".join(p) + TAIL).encode()
                        for p in (PAGE1, PAGE2)]
            if fmt == "telegram":
                from tests.test_ingest_telegram import MESSAGES, channel_export
                p = channel_export(Path(d), MESSAGES)
                return [(p / "result.json" if p.is_dir() else p).read_bytes()]
    except ImportError:  # an installed rasd without its tests
        return []
    finally:
        sys.path.remove(str(ROOT))
    return []


def _csv_head(path: Path, lines: int = 12) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return b"".join(f.readline() for _ in range(lines))


def seeds(target: str) -> Iterator[bytes]:
    fmts = SHARED / "formats"
    x_files = sorted(fmts.rglob("*.jsonl")) if fmts.is_dir() else []
    x_files.append(DEMO / "x" / "demo_tweets.jsonl")
    csvs = [p for p in (SHARED / "isis-twitter" / "tweets.csv",
                        SHARED / "isis-twitter" / "accounts_derived.csv",
                        SHARED / "far-right-telegram" / "far_right_telegram_sample.csv.gz")
            if p.is_file()] + sorted((DEMO / "csv").glob("*.csv"))
    if target in ("x", "auto"):
        for p in x_files:
            yield from list(_pieces(p.read_bytes()))[:6]
    if target in ("telethon", "auto"):
        yield _synthetic("telethon")
        yield from _from_tests("telethon")
    if target in ("telegram", "auto"):
        yield (DEMO / "telegram" / "result.json").read_bytes()
        yield _synthetic("telegram")
        yield from _from_tests("telegram")
    if target in ("telegram-html", "auto"):
        yield _synthetic("telegram-html")
        yield from _from_tests("telegram-html")
    if target in ("csv", "auto"):
        for p in csvs:
            yield _csv_head(p)
    if target == "auto":  # the byte that names the file goes first
        xs = list(seeds("x"))[:4] + [_synthetic("telethon")]
        for i, name in enumerate(AUTO_NAMES):
            body = (_synthetic("telegram") if name.startswith("result.json") else
                    _synthetic("telegram-html") if name.endswith(".html") else
                    _csv_head(csvs[i % len(csvs)]) if ".csv" in name or ".tsv" in name
                    else xs[i % len(xs)])
            if name.endswith(".gz"):
                body = gzip.compress(body)
            elif name.endswith(".bz2"):
                body = bz2.compress(body)
            elif name.endswith(".zst"):
                import zstandard
                body = zstandard.ZstdCompressor().compress(body)
            elif name.endswith(".xz"):
                import lzma
                body = lzma.compress(body)
            yield bytes([i]) + body
    if target == "archive":
        two = next(iter(_pieces(x_files[-1].read_bytes())))  # the demo tweets
        files = {"tweets.jsonl": two, "kaggle.csv": _csv_head(csvs[-1], 4),
                 "export/messages.html": _synthetic("telegram-html"),
                 "tg/result.json": _synthetic("telegram")}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for k, v in files.items():
                z.writestr(k, v)
        yield buf.getvalue()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            z.writestr("tweets.jsonl", two)
        yield buf.getvalue()
        for mode in ("w", "w:gz"):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode=mode) as t:
                for k, v in list(files.items())[:2]:
                    info = tarfile.TarInfo(k)
                    info.size = len(v)
                    t.addfile(info, io.BytesIO(v))
            yield buf.getvalue()


# --- mutation without atheris -------------------------------------------------

def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(10)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(i, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            del b[i:]
        elif op == 2:
            other = rng.choice(pool)
            j = rng.randrange(len(other) + 1)
            b[i:] = other[j:]
        elif op == 3:
            depth = rng.choice((50, 500, 5000, 50_000))  # (50,000: ijson took 6 GB)
            b[i:i] = rng.choice((b"[" * depth, b'{"a":' * depth, b"<div>" * depth))
        elif op == 4:
            b[i:i] = rng.choice((b"1" * rng.choice((20, 400, 5000)), b"1e999", b"-0",
                                 b"18446744073709551616", b"1.5e308"))
        elif op == 5:
            b[i:i] = rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"))
        elif op == 6:
            b[i:i] = rng.choice((b'"\\ud800"', b"\\udfff", b'"\\ud83d\\u0041"'))
        elif op == 7:
            b = bytearray(bytes(b).replace(b"\n", rng.choice((b"\r", b"\r\n", b"\n\r"))))
        elif op == 8:
            b[i:i] = rng.choice((b"\0", b"\x1a", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\x85"))
        elif b:
            j = rng.randrange(len(b))
            b[i:i] = b[j:j + rng.randint(1, 200)]
    return bytes(b)


def run_one(target: Callable[[bytes], None], data: bytes) -> str | None:
    try:
        target(data)
    except Exception:  # noqa: BLE001 - every escape is the finding
        return traceback.format_exc()
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("target", choices=sorted(TARGETS))
    ap.add_argument("--work", default="/tmp/rasd-fuzz", help="corpus and crashes go here")
    ap.add_argument("--replay", nargs="+", metavar="FILE", help="check these inputs and stop")
    ap.add_argument("--mutate", type=int, metavar="N",
                    help="N inputs mutated in Python (no atheris needed)")
    ap.add_argument("--seed", type=int, default=0)
    args, rest = ap.parse_known_args()
    target = TARGETS[args.target]
    work = Path(args.work) / args.target
    if args.replay:
        bad = 0
        for f in args.replay:
            err = run_one(target, Path(f).read_bytes())
            print(f"{f}: {'ok' if err is None else 'FAILS'}")
            if err:
                bad += 1
                print(err)
        sys.exit(1 if bad else 0)
    pool = list(seeds(args.target))
    if args.mutate is not None:
        rng = random.Random(args.seed)
        work.mkdir(parents=True, exist_ok=True)
        for n in range(args.mutate):
            data = mutate(rng, rng.choice(pool), pool)
            err = run_one(target, data)
            if err:
                out = work / f"mutant-{n}"
                out.write_bytes(data)
                print(f"{out}:\n{err}")
                sys.exit(1)
        print(f"{args.mutate} inputs, no finding")
        return
    if atheris is None:
        sys.exit("atheris is not installed (see this script's docstring), or use --mutate N")
    seed_dir = work / "seeds"
    corpus = work / "corpus"
    seed_dir.mkdir(parents=True, exist_ok=True)
    corpus.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(pool):
        (seed_dir / f"seed-{i:03d}").write_bytes(s)
    defaults = [f"-artifact_prefix={work}/", "-rss_limit_mb=2048", "-timeout=20",
                f"-max_len={2 * MAX_SEED}"]
    given = {a.split("=")[0] for a in rest}
    argv = [sys.argv[0]] + [a for a in defaults if a.split("=")[0] not in given] + rest + [
        str(corpus), str(seed_dir)]
    atheris.Setup(argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
