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


@settings(max_examples=int(os.environ.get("RASD_GUARD_EXAMPLES", "400")), deadline=None)
@given(st.lists(st.dictionaries(texts, texts, max_size=3), min_size=1, max_size=4),
       st.integers(1, 80), st.integers(1, 300), st.integers(20, 1500), st.booleans(),
       st.sampled_from(["yajl2_c", "python"]))
def test_an_item_string_past_its_room_is_passed_over_never_cut(items, step, block, limit,
                                                                ascii_, backend):
    """Inside an item, StringReads passes over a string longer than the item's
    room (ReadGuard.end) instead of handing it to the parser: the item is too
    big (TOO_BIG), and the parser sees the string ended early (and valid: cut
    inside a UTF-8 character or a \\u escape, it is made whole). An item read
    is always read whole — never with such a cut string — and one holding a
    string over the limit is always TOO_BIG; the items after it are read."""
    import ijson

    from rasd.ingest import jsonlex

    data = json.dumps(items, ensure_ascii=ascii_).encode()
    f = jsonitems.ReadGuard(jsonitems.StringReads(Pieces(data, block), step),
                            jsonitems.TOKEN_MAX)
    got = [v for _, ev, v in jsonitems.capped_parse(
        f, ("item",), limit, backend=ijson if backend == "yajl2_c" else jsonlex,
        buf_size=jsonitems.READ_MAX) if ev == "item"]
    assert len(got) == len(items)
    for want, v in zip(items, got, strict=True):
        if v is not jsonitems.TOO_BIG:
            assert v == want
        # (an item's size is told by the bytes read since the read it began in)
        if any(len(json.dumps(s, ensure_ascii=ascii_).encode()) > limit + 2 * max(step, block)
               for kv in want.items() for s in kv):
            assert v is jsonitems.TOO_BIG


@pytest.mark.parametrize("kind", ["array", "array, damaged", "telegram, damaged"])
def test_a_record_over_the_limit_is_rejected_without_holding_its_string(tmp_path, kind):
    """A string of 40 MiB in an item (a message) over the 32 MiB limit: read,
    held and decoded whole by the parser before its item was dropped, 138 MiB
    more than the reader's own at its peak for an array (250 MiB damaged,
    186 MiB in a damaged Telegram export's careful pass). Now it is passed
    over once the item has no more room: the peak is the 32 MiB of it read
    ahead while it might still fit (34 MiB measured)."""
    import tracemalloc

    from rasd.ingest.base import MAX_LINE, RawSink, get_parser

    token = b'"' + b"a" * (MAX_LINE + (8 << 20)) + b'"'
    if kind.startswith("array"):
        f = tmp_path / "a.json"
        body = json.dumps([{"id": str(i), "text": "LONG" if i == 2 else "x"} for i in (1, 2, 3)],
                          indent=1).encode()
        if kind.endswith("damaged"):
            body = body.replace(b'"3"', b'"\x01"')
        f.write_bytes(body.replace(b'"LONG"', token))

        def read() -> list:
            return list(jsonitems.json_items(f, RawSink(), "x"))
    else:
        d = tmp_path / "export"
        d.mkdir()
        msgs = [{"id": i, "type": "message", "date": "2024-03-01T10:00:00", "from": "C",
                 "from_id": "channel5", "text": "LONG" if i == 2 else f"m{i}"} for i in (1, 2, 3)]
        body = json.dumps({"name": "C", "type": "public_channel", "id": 5, "messages": msgs},
                          indent=1).encode().replace(b'"m3"', b'"m\x013"')
        (d / "result.json").write_bytes(body.replace(b'"LONG"', token))

        def read() -> list:
            return list(get_parser("telegram").parse(d, RawSink()))
    del token, body
    tracemalloc.start()
    try:
        out = read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert any("over 33554432 bytes" in getattr(r, "reason", "") for r in out), out
    # the others: items 1 and 3 (damaged: 1), message 1 and the chat
    assert sum(getattr(r, "reason", None) is None for r in out) == (1 if kind == "array, damaged"
                                                                      else 2)
    assert peak < MAX_LINE + (8 << 20), peak >> 20


@pytest.mark.parametrize("block", [16, 1 << 16])
def test_shrunk_before_counts_only_the_numbers_before_a_place(block):
    """``shrunk`` counts every number replaced so far, also those read ahead
    of what was handed (a block is scanned whole): an offset told from it
    lay that much too far on (``resync``). ``shrunk_before(pos)`` counts
    those that end at or before byte ``pos`` of what was handed."""
    big = "9" * 5000
    text = f'[1, {big}, "s", {big}1, 2]'.encode()
    g = NumberGuard(io.BytesIO(text), block=block)
    g.track = True  # (as resync.read_on sets it)
    first = g.read(3)  # '[1,': the numbers after it are scanned ahead, or not yet
    assert first == b"[1,"
    assert g.shrunk_before(3) == 0
    if block > len(text):
        assert g.shrunk > 0  # (the first number was replaced ahead of what was handed)
    out = first + g.read()
    one = out.index(b'"s"')  # after the first marker
    assert g.shrunk_before(one) == 5000 - len(jsonitems._UNREADABLE_JSON)
    assert g.shrunk_before(len(out)) == g.shrunk == 2 * 5000 + 1 - 2 * len(
        jsonitems._UNREADABLE_JSON)


def test_the_places_of_numbers_replaced_are_kept_only_for_resync_and_bounded(monkeypatch):
    """A pass that never asks ``shrunk_before`` (the C parser's careful pass of
    a JSON array, a document) kept the place of every long number replaced:
    22 MB for a 13 MB array of them. Now none there, and at most
    ``MAX_MARKS`` for resync, past which its offsets are not exact (and
    ``read_on`` reads on past no damage: a resume point could lie past the
    next chat's keys)."""
    num = b"1." + b"0" * 60 + b"e999"
    data = b"[" + b",".join([num] * 2000) + b"]"
    g = NumberGuard(io.BytesIO(data))
    out = g.read()
    assert out.count(jsonitems._UNREADABLE_JSON) == 2000 and not g._marks
    monkeypatch.setattr(jsonitems, "MAX_MARKS", 100)
    g = NumberGuard(io.BytesIO(data), block=256)
    g.track = True
    g.read(1000)
    assert g.exact and 0 < len(g._marks) <= 100
    g.read()
    assert not g.exact and not g._marks
    assert g.shrunk_before(10) == g.shrunk  # (too far on: read_on does not read on)
