"""Files as people really hand them over: UTF-16 from Windows tools, compressed
files under a plain name, JSON objects run together on one line, numbers that
cannot be ids. Each is read as what it is, or rejected record by record with a
reason that says what is wrong, never a whole file lost."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.helpers import post

from rasd.ingest import ingest_path
from rasd.ingest.base import (
    RawSink,
    Stream,
    compression,
    get_parser,
    open_binary,
    utf16_order,
)
from rasd.ingest.jsonitems import run_on
from rasd.ingest.runner import data_size
from rasd.model import Post


def _tweet(i: int, text: str = "") -> bytes:
    return json.dumps({"data": [{"id": str(100 + i), "text": text or f"post {i} — مرحبا",
                                 "author_id": "7"}],
                       "includes": {"users": [{"id": "7", "username": "seven",
                                               "name": "Семь"}]}},
                      ensure_ascii=False).encode()


def _utf8_lines(n: int = 5) -> bytes:
    return b"".join(_tweet(i) + b"\n" for i in range(n))


ENCODINGS = {
    "utf-16-le with mark (PowerShell 5 `>`)": lambda t: b"\xff\xfe" + t.encode("utf-16-le"),
    "utf-16-be with mark": lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
    "utf-16-le without mark": lambda t: t.encode("utf-16-le"),
    "utf-16-be without mark": lambda t: t.encode("utf-16-be"),
}


@pytest.mark.parametrize("enc", list(ENCODINGS))
def test_utf16_json_lines_store_what_utf8_stores(store, second_store, tmp_path, enc):
    text = _utf8_lines().decode()
    u8, u16 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    u8.write_text(text, encoding="utf-8")
    u16.write_bytes(ENCODINGS[enc](text))
    r1, r2 = ingest_path(store, u8), ingest_path(second_store, u16)
    assert r2.fmt == "x" and r2.rejected == 0
    assert r1.counts == r2.counts and store.stats()["posts"] == 5
    assert store.stats() | {"by_source": None} == second_store.stats() | {"by_source": None}
    assert post(second_store, "x", "103").text == "post 3 — مرحبا"
    # the same file again is unchanged, and line numbers are the file's own
    assert ingest_path(second_store, u16).counts["new"] == 0


def test_real_twarc2_file_in_utf16_as_windows_saves_it(store, second_store, shared_data,
                                                       tmp_path):
    src = shared_data / "formats" / "twitter-v2-twarc2" / "flat.jsonl"
    f = tmp_path / "flat-utf16.jsonl"
    f.write_bytes(src.read_bytes().decode("utf-8").encode("utf-16"))
    a, b = ingest_path(store, src), ingest_path(second_store, f)
    assert b.rejected == a.rejected == 0 and a.counts == b.counts
    assert store.stats() | {"by_source": None} == second_store.stats() | {"by_source": None}


def test_utf16_damage_is_rejected_by_line_and_the_rest_kept(sqlite_store, tmp_path):
    lines = [_tweet(i).decode() for i in range(4)]
    body = b"\xff\xfe" + "\n".join(lines[:2]).encode("utf-16-le") \
        + "\n".encode("utf-16-le") + "\n".join(lines[2:]).encode("utf-16-le")
    # a lone surrogate (a UTF-16 code unit 0xD800 alone) inside line 2's text
    at = body.index("post 1".encode("utf-16-le"))
    body = body[:at] + b"\x00\xd8" + body[at:]
    f = tmp_path / "d.jsonl"
    f.write_bytes(body + b"\x41")  # and an odd last byte: the file was cut
    rep = ingest_path(sqlite_store, f)
    by_line = {r["line"]: r["reason"] for r in rep.rejects}
    assert set(by_line) == {2, 4}, rep.rejects
    assert "invalid UTF-8" in by_line[2]
    assert sqlite_store.stats()["posts"] == 2  # lines 1 and 3


def test_utf16_telegram_export_and_stdin(sqlite_store, tmp_path):
    export = {"name": "Канал", "type": "public_channel", "id": 77, "messages": [
        {"id": 1, "type": "message", "date": "2024-03-01T10:00:00", "text": "نص عربي"},
        {"id": 2, "type": "message", "date": "2024-03-01T10:01:00", "text": "zwei"}]}
    f = tmp_path / "result.json"  # ConvertTo-Json ... > result.json on Windows PowerShell 5
    f.write_bytes(json.dumps(export, ensure_ascii=False, indent=2).encode("utf-16"))
    rep = ingest_path(sqlite_store, f)
    assert rep.fmt == "telegram" and rep.rejected == 0
    assert sqlite_store.stats()["posts"] == 2
    assert post(sqlite_store, "telegram", "channel77/1").text == "نص عربي"
    piped = _utf8_lines(3).decode().encode("utf-16")
    rep = ingest_path(sqlite_store, Stream(io.BytesIO(piped)))
    assert rep.fmt == "x" and rep.rejected == 0
    assert rep.counts["by_kind"]["posts"] == {"new": 3} and post(sqlite_store, "x", "102") is not None


def test_utf16_csv_is_still_read_by_the_csv_reader(sqlite_store, tmp_path):
    rows = "name,username,description,location,followers,numberstatuses,time,tweets\n" \
           "A,a1,,,1,1,2015-01-06 21:07:00,hi ü\n"
    f = tmp_path / "t.csv"
    f.write_bytes(rows.encode("utf-16"))
    rep = ingest_path(sqlite_store, f)
    assert rep.fmt == "csv" and rep.rejected == 0
    with open_binary(f, transcode=False) as raw:  # CSV decodes it itself
        assert raw.read(4) == b"\xff\xfe" + "n".encode("utf-16-le")
    with open_binary(f) as text:
        assert text.read(4) == b"name"


def test_utf16_order_is_told_only_where_it_is_sure():
    assert utf16_order(b"\xff\xfe{\x00") == "utf-16-le"
    assert utf16_order(b"\xfe\xff\x00{") == "utf-16-be"
    assert utf16_order(b'{\x00"\x00') == "utf-16-le"
    assert utf16_order(b'\x00[\x00{') == "utf-16-be"
    assert utf16_order(b"\xff\xfe\x00\x00") is None  # a UTF-32 mark
    assert utf16_order(b'{"da') is None and utf16_order(b"{\x00\x00\x00") is None
    assert utf16_order(b"") is None and utf16_order(b"{") is None
    # a UTF-8 file whose first line was damaged to `{\0"\0` (found by the fuzz
    # test: the intact lines after it were read as UTF-16 and lost)
    assert utf16_order(b'{\x00"\x00\n{"data": [{"id": "1"}]}\n'[:32]) is None
    arabic = '[{"text": "\u0645\u0631\u062d\u0628\u0627 \u0628\u0643\u0645 \u0641\u064a"}]'
    assert utf16_order(arabic.encode("utf-16-le")[:32]) == "utf-16-le"
    assert utf16_order(arabic.encode("utf-16-be")[:32]) == "utf-16-be"


PACK = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
        "zst": lambda b: zstandard.ZstdCompressor().compress(b)}


@pytest.mark.parametrize("kind", list(PACK))
def test_compressed_file_under_a_plain_name_is_read(sqlite_store, tmp_path, kind):
    """A download saved as .jsonl that is gzip inside, `gzip -c a.jsonl > b.jsonl`:
    told by its first bytes, not refused as "not a known format"."""
    data = _utf8_lines(6)
    f = tmp_path / "misnamed.jsonl"
    f.write_bytes(PACK[kind](data))
    rep = ingest_path(sqlite_store, f)
    assert rep.fmt == "x" and rep.rejected == 0 and sqlite_store.stats()["posts"] == 6
    z = tmp_path / "a.zip"  # and as a member of a ZIP archive
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("inner.jsonl", PACK[kind](_utf8_lines(8)))
    r = subprocess.run([sys.executable, "-m", "rasd.cli", "--db", str(tmp_path / "z.db"),
                        "ingest", str(z), "--json"], capture_output=True, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["by_kind"]["posts"] == {"new": 8}


def test_misnamed_gzip_counts_its_unpacked_size_for_the_second_process(tmp_path):
    data = _utf8_lines(400)
    f = tmp_path / "big.jsonl"
    f.write_bytes(gzip.compress(data))
    assert data_size(f, f.stat().st_size) == len(data)
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(data)
    assert data_size(plain, len(data)) == len(data)


def test_compression_magic_is_not_taken_from_text():
    assert compression(gzip.compress(b"x")[:10]) == ".gz"
    assert compression(bz2.compress(b"x")[:10]) == ".bz2"
    assert compression(bz2.compress(b"")[:10]) == ".bz2"  # an empty bzip2 file
    assert compression(lzma.compress(b"x")[:10]) == ".xz"
    assert compression(zstandard.ZstdCompressor().compress(b"x")[:10]) == ".zst"
    for text in (b"BZh this is text,b\n", b"BZh9 words!", b"BZh0\x31\x41\x59\x26\x53\x59",
                 b"", b'{"data":'):
        assert compression(text[:10]) == ""


def test_a_text_file_starting_with_bzh_is_read_as_text(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("BZh9,user_id\nx,2\n")
    with open_binary(f) as r:
        assert r.read() == b"BZh9,user_id\nx,2\n"


def _x_items(f: Path) -> list:
    return list(get_parser("x").parse(f, RawSink()))


def test_objects_run_together_on_one_line_are_each_read(store, tmp_path):
    """`cat a.jsonl b.jsonl` where a.jsonl lacks its last line break joins two
    records on one line; a tool may write objects back to back or part lines
    with a lone CR. Each object is a record; a broken one is rejected alone."""
    f = tmp_path / "joined.jsonl"
    f.write_bytes(_tweet(0) + b"\n" + _tweet(1) + _tweet(2) + b"\n"
                  + _tweet(3) + b"\r" + _tweet(4) + b" \r\n"
                  + _tweet(5) + b'{"data": [{"id": "9"' + b"\n"
                  + _tweet(6) + b"x\n")
    rep = ingest_path(store, f)
    assert store.stats()["posts"] == 6  # 0–5; line 5's tail and line 6 are rejected
    assert rep.rejected == 2
    by_line = {r["line"]: r for r in rep.rejects}
    assert by_line[4]["path"] == "[1]" and "object 2 on a line of several" in by_line[4]["reason"]
    assert "invalid JSON" in by_line[5]["reason"] and by_line[5]["path"] is None
    # each object's raw record is its own bytes, and a second run changes nothing
    recs = [r for r in _x_items(f) if isinstance(r, Post)]
    assert sorted(r.platform_id for r in recs) == [str(100 + i) for i in range(6)]
    with store.connect() as c:
        from sqlalchemy import select

        from rasd.store import schema as S
        raws = {row.sha256 for row in c.execute(select(S.raw_records.c.sha256))}
    from rasd.store.db import sha256_hex
    assert sha256_hex(_tweet(2)) in raws and sha256_hex(_tweet(4)) in raws
    assert ingest_path(store, f).counts["new"] == 0


@pytest.mark.parametrize("compress", [False, True])
def test_lone_cr_lines_are_lines_past_the_line_limit(store, tmp_path, monkeypatch, compress):
    """A JSON Lines file whose lines end with a lone CR (classic Mac OS) is
    read line by line in bounded memory: each CR ends a line, a broken record
    is rejected on its own line. Read as one line, such a file was lost whole
    past MAX_LINE (32 MiB) and every reject said line 1. A CR that ends a
    read (of a compressed file, 64 KiB pieces) is not taken for a second line
    break where an LF follows."""
    import rasd.ingest.jsonitems as ji

    monkeypatch.setattr(ji, "MAX_LINE", 10_000)
    lines = [_tweet(i, "x" * 200) for i in range(60)]  # ~19 KB: past the limit
    lines[3] = b'{"data": [{"id": "bad"'
    data = b"\r".join(lines) + b"\r"
    f = tmp_path / ("mac.jsonl.gz" if compress else "mac.jsonl")
    f.write_bytes(gzip.compress(data) if compress else data)
    rep = ingest_path(store, f)
    assert [(r["line"], r["path"]) for r in rep.rejects] == [(4, None)]
    assert store.stats()["posts"] == 59
    assert post(store, "x", "159").text == "x" * 200
    with ji._LoneCR(io.BytesIO(b"a\r" * 40_000 + b"\r\nb\r")) as r:  # CRs at read ends
        assert r.read() == b"a\n" * 40_000 + b"\r\nb\n"


@pytest.mark.parametrize("compress", [None, "gz", "xz"])
def test_lone_cr_lines_after_a_first_line_longer_than_a_read_buffer(sqlite_store, tmp_path,
                                                                   compress):
    """Lone CRs are looked for in the first 64 KiB, but ``peek`` showed one
    buffer: 4 KiB of a plain file, 8 KiB of a decompressed one. A file of
    lone-CR lines whose first line was longer was read as one line, and a bad
    byte in that first record (a NUL in a string) lost the records after it
    (found by the h10 structure fuzzer: a real 15 KiB twarc2 line, damaged,
    then two intact ones)."""
    first = _tweet(0, "x" * 10_000).replace(b"xxx", b"x\x00x", 1)
    assert b"\x00" in first and len(first) > 8192
    data = b"\r".join([first, _tweet(1), _tweet(2)]) + b"\r"
    f = tmp_path / ("mac.jsonl" + (f".{compress}" if compress else ""))
    f.write_bytes({None: bytes, "gz": gzip.compress, "xz": lzma.compress}[compress](data))
    rep = ingest_path(sqlite_store, f)
    assert sqlite_store.stats()["posts"] == 2
    assert [r["line"] for r in rep.rejects] == [1]


def test_a_lone_cr_inside_a_record_of_lf_lines_is_whitespace(sqlite_store, tmp_path):
    """A lone CR is JSON whitespace: inside the first record of a file of
    LF-ended lines (not one document: a broken line) it is not a line break.
    Taken for classic Mac OS lines, it split that record in two, both lost."""
    f = tmp_path / "cr.jsonl"
    f.write_bytes(_tweet(0).replace(b', "includes"', b',\r"includes"') + b"\n" + _tweet(1)
                  + b"\n" + b'{"data": [{"id": "9"\n' + _tweet(2) + b"\n")
    rep = ingest_path(sqlite_store, f)
    assert sqlite_store.stats()["posts"] == 3
    assert [r["line"] for r in rep.rejects] == [3]


def test_a_lone_cr_inside_a_long_first_record_of_lf_lines_is_whitespace(sqlite_store, tmp_path):
    """The same past the 64 KiB that are peeked to tell line ends: a first
    record longer than that, with a lone CR between its tokens, was taken for
    classic Mac OS lines (a CR and no LF in the peek) and split there, and every
    later line number was one too high (found by the X fuzz test). A CR ends a
    line only where it parts two JSON values (``}`` or ``]`` before it, ``{``
    or ``[`` after it), which no CR inside a valid record does."""
    first = _tweet(0, "x" * 70_000).replace(b', "includes"', b',\r"includes"')
    assert first.index(b"\r") > 1 << 16
    f = tmp_path / "cr.jsonl"
    f.write_bytes(b"\r" + first + b"\n" + _tweet(1) + b"\n" + b'{"data": [{"id": "9"\n'
                  + _tweet(2) + b"\n")
    rep = ingest_path(sqlite_store, f)
    assert sqlite_store.stats()["posts"] == 3
    assert [r["line"] for r in rep.rejects] == [3]
    assert post(sqlite_store, "x", "100").text == "x" * 70_000


@pytest.mark.parametrize("first", ["scalars", "broken"])
def test_lone_cr_lines_whose_first_64_kib_hold_no_object_pair_are_lines(store, tmp_path,
                                                                        first):
    """A lone CR ended lines only where one parted two objects (``}`` CR ``{``)
    in the first 64 KiB: a file of lone-CR lines that opened with scalars or
    broken records there was read as one line (no post, one reject at line
    1). A CR after a first line that is a whole JSON value, or a broken one
    (not even the start of one) followed by a whole line, ends lines too."""
    if first == "scalars":
        head = [b'"' + b"y" * 100 + b'"'] * 700 + [b"42", b"null"]
    else:
        head = [b'{"data": ]'] + [b"1" * 100] * 700
    assert len(b"\r".join(head)) > 1 << 16
    f = tmp_path / "mac.jsonl"
    f.write_bytes(b"\r".join(head + [_tweet(1), _tweet(2)]) + b"\r")
    rep = ingest_path(store, f, fmt="x")  # (no format is told by such a start)
    assert store.stats()["posts"] == 2
    assert rep.rejected == len(head)
    assert [r["line"] for r in rep.rejects] == list(range(1, len(rep.rejects) + 1))


@pytest.mark.parametrize("first", ["bad-byte", "start"])
def test_lone_cr_lines_after_a_first_line_of_no_record_to_come_are_lines(store, tmp_path,
                                                                        first):
    """Lone-CR lines whose first line is broken by a byte that is no UTF-8
    text outside a string (``bad-byte``), or is a JSON start followed by
    scalar lines only (``start``), were read as one line: no post, one reject.
    The first is broken (ijson's own decoder said so with a UnicodeDecodeError,
    which ``_json_start`` told apart; the careful lexer reads such bytes
    without one, and the line counted as a record cut short); in the second,
    two values with only a lone CR between (``1`` CR ``1``) cannot lie inside
    one JSON value, as ``}`` CR ``{`` cannot. Both are lines."""
    if first == "bad-byte":  # one whole line after it, then a line no value starts
        head = [b'{"data": 1, \xff', b"42", b"x" * 70_000]
    else:
        head = [b'{"data": ['] + [b"1" * 100] * 700
    assert len(b"\r".join(head)) > 1 << 16
    f = tmp_path / "mac.jsonl"
    f.write_bytes(b"\r".join(head + [_tweet(1), _tweet(2)]) + b"\r")
    rep = ingest_path(store, f, fmt="x")
    assert store.stats()["posts"] == 2
    assert rep.rejected == len(head)
    assert [r["line"] for r in rep.rejects] == list(range(1, len(rep.rejects) + 1))


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_the_careful_lexer_never_stops_at_undecodable_bytes_with_a_decode_error(data):
    """``jsonlex`` decodes with surrogateescape: no error it raises carries a
    UnicodeDecodeError (what ijson's own decoder raised, and
    ``base._json_start`` once looked for); bytes that are no UTF-8 text outside
    a string raise ``InvalidUTF8Outside``, and make no JSON start."""
    from ijson.common import JSONError

    from rasd.ingest import jsonlex
    from rasd.ingest.base import _json_start

    for text in (data, b'{"a": "' + data, b'[1, ' + data):
        try:
            for _ in jsonlex.basic_parse(io.BytesIO(text), multiple_values=True):
                pass
        except jsonlex.InvalidUTF8Outside:
            assert not _json_start(text)
        except (JSONError, ValueError, RecursionError) as e:
            assert not any(isinstance(a, UnicodeDecodeError) for a in e.args)
    assert _json_start(b'{"a": "\xff') and _json_start(b'{"a": ["\xed\xa0\x80", 1')
    assert not _json_start(b'{"a": 1, \xff') and not _json_start(b"[\xc0")


_ws = st.sampled_from([" ", "\r", "\r\r", " \r\t", "\t"])
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text("ab\"\\é}{][", max_size=8),
    lambda v: st.lists(v, max_size=3) | st.dictionaries(st.text("k}{", max_size=3), v,
                                                        max_size=3),
    max_leaves=12)


def _spaced(draw, v) -> str:
    """``v`` as JSON with whitespace drawn (CRs among it) between all its tokens."""
    if isinstance(v, list):
        parts = [_spaced(draw, x) for x in v]
        return "[" + draw(_ws) + ("," + draw(_ws)).join(parts) + draw(_ws) + "]"
    if isinstance(v, dict):
        parts = [json.dumps(k) + draw(_ws) + ":" + draw(_ws) + _spaced(draw, x)
                 for k, x in v.items()]
        return "{" + draw(_ws) + ("," + draw(_ws)).join(parts) + draw(_ws) + "}"
    return json.dumps(v, ensure_ascii=False)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), values=st.lists(_values, min_size=1, max_size=6))
def test_a_lone_cr_between_the_tokens_of_a_long_first_record_never_ends_a_line(data, values):
    """A first record longer than the 64 KiB peek, lone CRs as whitespace
    between any of its tokens and no LF before the peek's end: its CRs are
    not line ends, whatever lies between them (a part of the record between
    two CRs may be a whole value, ``1`` or ``{"c": 2}``). The same values on
    lone-CR lines of their own, the first whole, are lines."""
    from rasd.ingest.base import cr_lines

    body = ("{" + ", ".join(f'"k{i}":' + data.draw(_ws) + _spaced(data.draw, v)
                            for i, v in enumerate(values)) + ', "long": "' + "x" * 70_000
            + '"}').encode()
    assert json.loads(body)
    def peek(b: bytes) -> bool:
        return cr_lines(io.BufferedReader(io.BytesIO(b), 1 << 16))

    assert not peek(body + b"\n" + _tweet(1) + b"\n")
    assert not peek(b"\r" + body + b"\n")
    lines = [json.dumps(v, ensure_ascii=False).encode() for v in values]
    assert peek(b"\r".join(lines + [body]) + b"\r")


@pytest.mark.parametrize("damage", ["cut", "junk", "first-cut"])
def test_lone_cr_lines_whose_first_record_runs_past_the_peek_lose_only_a_damaged_one(
        store, tmp_path, damage):
    """X API v2 response pages are ~100 KB a line: saved with lone-CR line
    ends, the first record runs past the 64 KiB peeked to tell line ends,
    and such a file was read as one line of run-on objects, so a damaged
    record (cut short, junk between two records) lost every valid record
    after it in one reject at line 1. The line ends are told past the peek:
    each record is a line, a damaged one is rejected alone, on its own line."""
    recs = [_tweet(i, "x" * 70_000) for i in range(6)]
    if damage == "junk":
        recs.insert(3, b"}{junk")  # line 4
    elif damage == "cut":
        recs[3] = recs[3][:40_000]  # cut inside a string
    else:
        recs[0] = recs[0][:50_000]
    f = tmp_path / "mac.jsonl"
    f.write_bytes(b"\r".join(recs) + b"\r")
    rep = ingest_path(store, f)
    assert [(r["line"], r["path"]) for r in rep.rejects] == [(1 if damage == "first-cut" else 4,
                                                              None)]
    assert store.stats()["posts"] == (6 if damage == "junk" else 5)
    assert post(store, "x", "105").text == "x" * 70_000


@pytest.mark.parametrize("junk", [b"\xef\xbb\xbf", b"x", b"\x00", b"\x1a"])
def test_lone_cr_lines_whose_long_first_record_has_junk_after_its_end(store, tmp_path, junk):
    """A first record longer than the 64 KiB peek, whole but with junk after
    its closing brace (a BOM, a NUL, a stray byte, DOS's ^Z), then lone-CR
    lines with no CR that parts two values (``}`` CR ``{``): the file was
    read as one line and every record after the first lost in one reject,
    because the first line was judged a JSON start by its
    first 64 KiB only (found by the damaged-line fuzz, run longer than CI
    runs it). A whole value with more after it is no start of one: each
    line is read alone, the damaged one rejected on its own line."""
    for i, more in enumerate(([], [_tweet(2)])):  # (the second: a CR parts two objects)
        recs = [_tweet(0, "x" * 70_000) + junk, _tweet(1, "y" * 70_000), *more]
        f = tmp_path / f"mac{i}.jsonl"
        f.write_bytes(b"\r".join(recs) + b"\r")
        rep = ingest_path(store, f, fmt="x")
        assert [r["line"] for r in rep.rejects] == [1]
        assert post(store, "x", "101").text == "y" * 70_000
    assert store.stats()["posts"] == 2


@pytest.mark.parametrize("compress", [None, "gz"])
def test_lone_cr_lines_whose_first_record_runs_past_the_peek_are_lines_past_the_limit(
        sqlite_store, tmp_path, monkeypatch, compress):
    """The same file undamaged was read whole only while all of it stayed
    under the 32 MiB line limit: past it, every record was lost in one
    reject. Its lines are read one by one, in bounded memory."""
    import rasd.ingest.jsonitems as ji

    monkeypatch.setattr(ji, "MAX_LINE", 200_000)
    data = b"\r".join(_tweet(i, "x" * 70_000) for i in range(6)) + b"\r"
    f = tmp_path / ("mac.jsonl" + (f".{compress}" if compress else ""))
    f.write_bytes(gzip.compress(data) if compress else data)
    rep = ingest_path(sqlite_store, f)
    assert rep.rejects == [] and sqlite_store.stats()["posts"] == 6


def test_line_ends_told_past_the_peek(tmp_path):
    """Past the peek, a lone CR that parts two values ends lines only where
    the next line end is a lone CR too (or the data ends): where an LF comes
    first, the file is LF-ended and that CR parted two objects run together
    on its first line, as where the peek shows an LF. Lines are numbered by
    every lone CR (``tr '\\r' '\\n'``): a first record kept whole, a lone CR
    inside it as whitespace, counts it."""
    import rasd.ingest.jsonitems as ji

    big, spaced = _tweet(0, "x" * 70_000), _tweet(0, "x" * 70_000).replace(b", ", b",\r")
    cases = {
        big + b"\r" + _tweet(1) + b"\n" + _tweet(2) + b"\n": [1, 1, 2],  # run on, then LF
        big + b"\r" + _tweet(1) + b"\r\n" + _tweet(2): [1, 1, 2],  # CR LF
        big + b"\r" + _tweet(1): [1, 2],
        big + b"\r\r" + _tweet(1) + b"\r": [1, 3],
        b"\r \r" + big + b"\r" + _tweet(1) + b"\r": [3, 4],
        spaced + b"\r" + _tweet(1) + b"\r" + _tweet(2) + b"\r": [1, 7, 8],
        spaced + b"\n" + _tweet(1) + b"\n": [1, 2],
        b"x" + big + b"\r" + _tweet(1) + b"\r": [1, 2],  # a broken first line
    }
    assert spaced.count(b"\r") == 5
    for i, (data, lines) in enumerate(cases.items()):
        f = tmp_path / f"{i}.jsonl"
        f.write_bytes(data)
        got = [r.line for r in ji._lines(f, RawSink(), "x")]
        assert got == lines, i


@settings(max_examples=100, deadline=None)
@given(data=st.data(), values=st.lists(_values, min_size=1, max_size=6),
       end=st.sampled_from([b"\r", b"\n", b"\r\n"]), n=st.integers(1, 4))
def test_every_line_after_a_long_first_record_is_read_alone(data, values, end, n):
    """A first record longer than the 64 KiB peek, lone CRs as whitespace
    between any of its tokens, then lines ended as it is (lone CR, LF or CR
    LF), one of them maybe cut short: the first record is read whole, each
    other line alone, the damaged one rejected on its own line (numbered as
    ``tr '\\r' '\\n'`` numbers lone-CR lines). Read as one line, lone-CR
    lines lost every record after a damaged one."""
    import tempfile

    from rasd.ingest.jsonitems import Item, _lines
    from rasd.model import Reject

    body = ("{" + ", ".join(f'"k{i}":' + data.draw(_ws) + _spaced(data.draw, v)
                            for i, v in enumerate(values)) + ', "long": "' + "x" * 70_000
            + '"}').encode()
    recs = [json.dumps({"n": i, "s": "y" * data.draw(st.integers(0, 90_000))}).encode()
            for i in range(n)]
    bad = data.draw(st.integers(-1, n - 1))  # -1: none
    if bad >= 0:
        recs[bad] = recs[bad][:data.draw(st.integers(1, len(recs[bad]) - 1))]
    first = 1 + (body.count(b"\r") if end == b"\r" else 0)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "f.jsonl"
        f.write_bytes(end.join([body, *recs]) + data.draw(st.sampled_from([b"", end])))
        got = list(_lines(f, RawSink(), "x"))
    assert isinstance(got[0], Item) and got[0].line == 1 and got[0].obj == json.loads(body)
    assert [(type(r), r.line) for r in got[1:]] == [
        (Reject if i == bad else Item, first + 1 + i) for i in range(n)]
    assert [r.obj["n"] for r in got[1:] if isinstance(r, Item)] == [
        i for i in range(n) if i != bad]


def test_a_reject_inside_a_run_on_object_names_its_place(sqlite_store, tmp_path):
    f = tmp_path / "j.jsonl"
    bad = json.dumps({"data": [{"id": "5", "text": 7, "author_id": "1"}]}).encode()
    f.write_bytes(_tweet(0) + bad + b"\n")
    rep = ingest_path(sqlite_store, f)
    assert sqlite_store.stats()["posts"] == 1 and rep.rejected == 1
    assert rep.rejects[0]["path"] == "[1].data[0]" and rep.rejects[0]["line"] == 1


@pytest.mark.parametrize("fmt", ["x", "telethon"])
@pytest.mark.parametrize("damage", [b"\n", b"\r\n"])
def test_an_lf_inside_a_record_of_lone_cr_lines_loses_only_that_record(store, tmp_path,
                                                                       fmt, damage):
    """A file of lone-CR lines (classic Mac) one record of which holds an LF
    (or CR LF) inside a string — damage, no JSON — is read as LF-ended lines,
    and all its records after the damage up to the next LF (so far: the end
    of the file) were one line that began with the broken record's tail, lost
    in one reject (found by a structure-aware fuzz through rasd ingest). A
    lone CR that parts two values (``}`` CR ``{``) is never inside one valid
    JSON text: such a line is read as its lone-CR lines, each record alone."""
    if fmt == "x":
        recs = [_tweet(i) for i in range(5)]
        want = ["100", "101", "103", "104"]
    else:
        recs = [json.dumps({"_": "Message", "id": i, "peer_id": {
            "_": "PeerChannel", "channel_id": 777}, "date": "2024-01-01 00:00:00+00:00",
            "message": f"m{i}"}).encode() for i in range(5)]
        want = [f"channel777/{i}" for i in (0, 1, 3, 4)]
    at = recs[2].index(b'"', 30) + 3  # inside a string of the third record
    recs[2] = recs[2][:at] + damage + recs[2][at:]
    f = tmp_path / f"mac-{fmt}.jsonl"
    f.write_bytes(b"\r".join(recs) + b"\r")
    rep = ingest_path(store, f, fmt=fmt)
    platform = "x" if fmt == "x" else "telegram"
    assert all(post(store, platform, pid) is not None for pid in want)
    assert store.stats()["posts"] == 4
    assert rep.rejected == 2 and {r["line"] for r in rep.rejects} == {1, 2}


@pytest.mark.parametrize("damage", [b"\xff\n", b"\r\n\xff"])
def test_a_first_line_broken_by_an_lf_inside_a_string_stays_json_lines(sqlite_store, tmp_path,
                                                                       damage):
    """JSON Lines whose first record holds an LF inside a string, beside
    bytes that are no UTF-8 text (damage): neither of the first two lines is
    JSON alone, as in a pretty-printed document, and the careful parser read
    that string as invalid UTF-8 without looking further, so the file was
    read as JSON documents, the first a reject, and every line after the
    next damage was lost (found by a structure-aware fuzz of real pages). A pretty-printer never breaks a line inside a string: a first
    line that ends inside one is JSON Lines, each line read alone."""
    recs = [_tweet(i) for i in range(5)]
    at = recs[0].index(b'"text": "') + 12
    recs[0] = recs[0][:at] + damage + recs[0][at:]
    recs[2] = recs[2][:40]  # and a record cut short
    f = tmp_path / "l.jsonl"
    f.write_bytes(b"\n".join(recs) + b"\n")
    rep = ingest_path(sqlite_store, f)
    assert [r["line"] for r in rep.rejects] == [1, 2, 4]
    assert sqlite_store.stats()["posts"] == 3


def test_run_on_splits_only_whole_objects():
    a, b = b'{"a": 1}', b'{"b": "}{"}'
    assert run_on(a + b) == [a, b]
    assert run_on(a + b" \t\r " + b + b"\r\n") == [a, b]
    assert run_on(a + b'{"b":') == [a, b'{"b":']  # a broken one after a whole one
    assert run_on(a) is None  # one object: not several (its error is its own)
    assert run_on(a + b"x") is None and run_on(a + b"]") is None  # junk after one
    assert run_on(b"[" + a + b + b"]") is None and run_on(b"x" + a + b) is None
    assert run_on(b"\xff" + a + b) is None  # not UTF-8: the line's own reason stands
    deep = b"{" + b'"a":[' * 5000 + b"]" * 5000 + b"}"
    assert run_on(deep + a) is None  # too deep to read: a plain bad line


@pytest.mark.parametrize("value", ["123456789012345678901234567890", "-99999999999999999999"])
def test_an_integer_id_past_64_bits_is_rejected_with_why(sqlite_store, tmp_path, value):
    f = tmp_path / "big.jsonl"
    f.write_bytes(b'{"data": [{"id": ' + value.encode() + b', "text": "t", "author_id": "1"}]}\n'
                  + _tweet(1) + b"\n")
    rep = ingest_path(sqlite_store, f)
    assert rep.rejected == 1 and sqlite_store.stats()["posts"] == 1
    reason = rep.rejects[0]["reason"]
    assert "past 64 bits" in reason and "must be a string" in reason
    assert rep.rejects[0]["field"] == "data[0].id"
    # an id at the edge of 64 bits is an id
    ok = tmp_path / "edge.jsonl"
    ok.write_bytes(b'{"data": [{"id": 18446744073709551615, "text": "t", "author_id": "1"}]}\n')
    assert ingest_path(sqlite_store, ok).rejected == 0
    assert post(sqlite_store, "x", "18446744073709551615") is not None


def test_the_keys_of_a_deeply_nested_first_record_are_read_in_bounded_time(tmp_path):
    """Found by review: X's sniffing reads the top-level keys of a first
    record longer than the sample through ijson's prefixes, a string as long
    as the depth built for each event: 300,000 "[" (600 KB) took over 7 GB
    and 90 s, unfinished. Nesting is followed by depth alone, given up past
    MAX_JSON_DEPTH levels; the keys before it are kept."""
    import time

    from rasd.ingest.jsonitems import first_keys

    f = tmp_path / "deep.jsonl"
    f.write_bytes(b'{"a": 1, "b": ' + b"[" * 300_000 + b"]" * 300_000 + b', "c": 2}\n')
    start = time.monotonic()
    assert first_keys(f) == {"a", "b"}
    assert time.monotonic() - start < 20
    f.write_bytes(b'[{"a": {"x": [1, {"y": 2}]}, "author_id": "1"}, {"z": 1}]')
    assert first_keys(f) == {"a", "author_id"}  # an array's first item, its own keys
    f.write_bytes(b'{"a": 1, "b": {"c": [{"d": 1}]}, "e": 1}\n{"z": 1}\n')
    assert first_keys(f) == {"a", "b", "e"}
