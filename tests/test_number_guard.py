"""NumberGuard: numbers Python cannot read become a marker; nothing else in
the JSON changes, whatever the reads' sizes."""

from __future__ import annotations

import io
import json
import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rasd.ingest import jsonitems
from rasd.ingest.jsonitems import UNREADABLE, NumberGuard

BIG = ["9" * 4301, "-" + "9" * 5000, "1e400", "-1.5E+309", "9" * 400 + ".0",
       "1" + "0" * 320 + ".0", "1" + "0" * 250 + "e60", "9" * 299 + "e99", "1E+0400"]


class Big:
    """A number token Python will not read, placed as a value."""

    def __init__(self, tok: str) -> None:
        self.tok = tok


def dump(v) -> str:
    if isinstance(v, Big):
        return v.tok
    if isinstance(v, list):
        return "[" + ", ".join(dump(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + dump(x) for k, x in v.items()) + "}"
    return json.dumps(v)


def expected(v):
    if isinstance(v, Big):
        return UNREADABLE
    if isinstance(v, list):
        return [expected(x) for x in v]
    if isinstance(v, dict):
        return {k: expected(x) for k, x in v.items()}
    return v


tricky_text = st.text(alphabet=st.sampled_from('ab"\\/9e.-+ \n\u00e9\u0645'), max_size=30)
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**40), 10**40),
    st.floats(allow_nan=False, allow_infinity=False), tricky_text,
    st.sampled_from(BIG),  # as text: left alone
    st.sampled_from(BIG).map(Big))
values = st.recursive(leaves, lambda c: st.lists(c, max_size=4)
                      | st.dictionaries(tricky_text, c, max_size=4), max_leaves=25)


@settings(max_examples=int(os.environ.get("RASD_GUARD_EXAMPLES", "400")), deadline=None)
@given(values, st.integers(1, 300), st.integers(1, 50))
def test_only_unreadable_numbers_change(v, block, size):
    data = dump(v).encode()
    g = NumberGuard(io.BytesIO(data), block=block)
    out = bytearray()
    while piece := g.read(size):
        out += piece
    assert json.loads(out) == expected(v)
    if not any(isinstance(x, Big) for x in _leaves(v)):
        assert bytes(out) == data


def _leaves(v):
    if isinstance(v, list):
        for x in v:
            yield from _leaves(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from _leaves(x)
    else:
        yield v


def test_readable_numbers_near_the_limits_are_kept():
    data = ("[" + ", ".join(["9" * 4300, "-" + "9" * 4300, "1e308", "1.7976931348623157e308",
                             "0." + "0" * 500 + "1", "1e-400"]) + "]").encode()
    assert NumberGuard(io.BytesIO(data), block=7).read() == data
    assert all(math.isfinite(x) for x in json.loads(data)[2:])


@pytest.mark.parametrize("run", [b"9", b"+-", b"e", b"1-", b"1e"])
def test_an_endless_run_is_not_held(monkeypatch, run):
    """A run of number characters that never ends (a hostile file) is swallowed
    as it is read, whichever characters: nothing grows past NUMBER_CARRY_MAX
    and a block (review: "+-+-…" slipped past the first look and was kept
    whole, each read copying it again)."""
    monkeypatch.setattr(jsonitems, "NUMBER_CARRY_MAX", 1000)
    g = NumberGuard(io.BytesIO(b"[" + run * 200_000), block=4096)
    peak = 0
    while g.read(10):
        peak = max(peak, len(g.pending) + len(g.ready))
    assert peak <= 4096 + 1000


def test_the_marker_is_not_a_string_a_post_can_hold():
    """A post cannot have itself rejected by holding the marker's text."""
    from rasd.ingest.jsonitems import dump_item

    assert dump_item({"text": "\x00rasd:unreadable-number"})[0]
    with pytest.raises(ValueError, match="number too large"):
        dump_item({"text": UNREADABLE})


def test_an_endless_number_is_not_held(monkeypatch):
    """A number that never ends (a hostile file of digits) is swallowed as it
    is read: what is kept stays within NUMBER_CARRY_MAX."""
    monkeypatch.setattr(jsonitems, "NUMBER_CARRY_MAX", 1000)

    class Digits(io.RawIOBase):
        left = 5_000_000

        def read(self, n=-1):
            n = min(n, self.left)
            self.left -= n
            return b"9" * n

    g = NumberGuard(Digits(), block=4096)
    out, peak = bytearray(), 0
    while piece := g.read(10):
        out += piece
        peak = max(peak, len(g.pending) + len(g.ready))
    assert json.loads(b"[" + out + b"]") == [UNREADABLE] and peak <= 4096 + 1000


@pytest.mark.parametrize("tok", BIG)
def test_each_unreadable_number_is_replaced_at_any_cut(tok):
    data = ('{"a": [1, ' + tok + ', "' + tok + '"]}').encode()
    for block in (1, 2, 3, 5, 64, 4096, 100_000):
        out = NumberGuard(io.BytesIO(data), block=block).read()
        assert json.loads(out) == {"a": [1, UNREADABLE, tok]}, block


def test_a_number_over_the_carry_limit_is_unreadable_at_any_block(monkeypatch):
    """Read whole or in pieces, a number past NUMBER_CARRY_MAX is the marker
    (review: a readable float over it was kept when one read held it)."""
    monkeypatch.setattr(jsonitems, "NUMBER_CARRY_MAX", 1000)
    data = b"[0." + b"0" * 1500 + b"1, 5]"
    for block in (64, 1000, 100_000):
        assert json.loads(NumberGuard(io.BytesIO(data), block=block).read()) == [
            UNREADABLE, 5], block


@pytest.mark.parametrize("block", [1, 7, 4096, 70_000])
def test_number_runs_stop_before_the_c_parser_gets_a_long_number(monkeypatch, block):
    """NumberRuns (the fast pass's reader) raises LongNumber once more than
    NUMBER_CARRY_MAX number characters come in a row, across reads of any
    size, and passes everything else through unchanged."""
    monkeypatch.setattr(jsonitems, "NUMBER_CARRY_MAX", 1000)

    def read_all(data: bytes) -> bytes:
        r, out = jsonitems.NumberRuns(io.BytesIO(data)), bytearray()
        while piece := r.read(block):
            out += piece
        return bytes(out)

    fine = b'[{"a": ' + b"1" * 1000 + b', "b": "' + b"9" * 999 + b'"}, ' + b"-1e5" * 250 + b"]"
    assert read_all(fine) == fine
    for long in (b"1" * 1001, b"0." + b"5" * 999, b"1e" * 501):
        with pytest.raises(jsonitems.LongNumber):
            read_all(b'[{"a": ' + long + b"}]")


class Pieces:
    """A file whose reads return at most ``block`` bytes (as a pipe may)."""

    def __init__(self, data: bytes, block: int) -> None:
        self.f, self.block = io.BytesIO(data), block

    def read(self, size: int = -1) -> bytes:
        return self.f.read(self.block if size < 0 else min(size, self.block))


long_text = st.builds(lambda unit, n: unit * n,
                      st.sampled_from(["a", "\u00e9", '"', "\\", "\\u00e9", '\\"', "\u0645 "]),
                      st.integers(0, 400))
texts = st.one_of(tricky_text, long_text)
string_values = st.recursive(
    st.one_of(st.none(), st.integers(-(10**20), 10**20), texts),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(texts, c, max_size=3), max_leaves=12)


@settings(max_examples=int(os.environ.get("RASD_GUARD_EXAMPLES", "400")), deadline=None)
@given(string_values, st.integers(1, 80), st.integers(1, 300), st.booleans())
def test_string_reads_hand_over_the_bytes_unchanged(v, step, block, ascii_):
    """StringReads changes only the sizes of reads: whatever the JSON (strings
    of quotes, backslashes and escapes cut anywhere), the pieces are the file,
    and both of ijson's parsers read the same value from them."""
    import ijson

    data = json.dumps(v, ensure_ascii=ascii_).encode()
    r, out = jsonitems.StringReads(Pieces(data, block), step), bytearray()
    while piece := r.read(jsonitems.READ_MAX):
        out += piece
    assert bytes(out) == data
    for backend in ("yajl2_c", "python"):
        r = jsonitems.StringReads(Pieces(data, block), step)
        got = next(ijson.get_backend(backend).items(r, "", buf_size=jsonitems.READ_MAX))
        assert json.loads(json.dumps(got)) == v


def _relex_cost(data: bytes, start: int, end: int, step: int) -> tuple[int, list[int]]:
    """What ijson's parsers spend on the string ``data[start:end]`` when read
    through StringReads: each read that ends inside it has them go over it
    again from its start (yajl lexes it again, the Python lexer searches it
    again), so the bytes of it read so far, summed over those reads; and the
    ends of the reads from the one that holds its closing quote (at ``end``)."""
    r, at, cost, after = jsonitems.StringReads(io.BytesIO(data), step), 0, 0, []
    while piece := r.read(jsonitems.READ_MAX):
        at += len(piece)
        if start < at <= end:
            cost += at - start
        elif at > end:
            after.append(at)
    return cost, after


@pytest.mark.parametrize("unit", [b"a", "\u00e9".encode(), b"\\u00e9", b'\\"', b"\\\\",
                                  b"x\\\\\\\"", b"\\/"])
@pytest.mark.parametrize("step", [64, 4096])
@pytest.mark.parametrize("lead", [0, 1, 5])
def test_a_long_string_costs_the_parsers_linear_time(unit, step, lead):
    """Read in fixed pieces of ``step`` bytes, a string of length L cost the
    parsers L²/2·step (yajl: 238 s for 30 MiB of \\u00e9, the Python parser
    9 s for 8 MiB read 64 bytes at a time); StringReads keeps it within a few
    times L, and the reads after the string are ``step`` bytes again (Telegram's
    careful pass loses what the read that meets a broken byte holds)."""
    s = b"q" * lead + unit * (64 * step // len(unit))
    head = b'[{"id": 1, "t": "a\\"b"}, {"id": 2, "text": "'
    data = head + s + b'", "n": 3}, {"id": 4}]' + b" " * 3 * step
    end = len(head) + len(s)
    cost, after = _relex_cost(data, len(head), end, step)
    assert cost <= 4 * len(s)
    # the read that meets the closing quote ends there; the next ones are small
    assert after[0] == end + 1 and after[1] - after[0] <= step
