"""The pure-Python JSON parser of the careful passes (rasd.ingest.jsonlex):
ijson's events, in time linear at C speed, and nothing left to the garbage
collector when reading stops early."""

from __future__ import annotations

import gc
import gzip
import json
import sys
from pathlib import Path

import ijson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rasd.ingest import jsonlex
from rasd.ingest.base import RawSink, get_parser

_PY = ijson.get_backend("python")


class _Pieces:
    """A reader that hands ``data`` in the sizes given, one a read (then the
    rest), whatever size is asked; ijson probes with ``read(0)``."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.at = data, list(sizes), 0

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        n = self.sizes.pop(0) if self.sizes else len(self.data)
        out = self.data[self.at:self.at + n]
        self.at += len(out)
        return out


def _events(backend, data: bytes, sizes: list[int], multiple: bool) -> list:
    out: list = []
    try:
        out.extend(backend.parse(_Pieces(data, sizes), buf_size=64, use_float=True,
                                 multiple_values=multiple))
    except Exception as e:  # noqa: BLE001 - the error is part of what is compared
        out.append(("error", type(e).__name__, str(e)))
    return out


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=False,
                                                                          allow_infinity=False)
    | st.text(st.sampled_from('ab"\\/\n\té\u2028\U0001f600\x01'), max_size=30),
    lambda v: st.lists(v, max_size=4) | st.dictionaries(
        st.text(st.sampled_from('k"\\é'), max_size=4), v, max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(_json, min_size=1, max_size=3), indent=st.sampled_from([None, 1]),
       ascii_=st.booleans(), sep=st.sampled_from([" ", "\n", "\u00a0"]),
       edits=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
           ['', '"', '\\', '{', '}', ']', ',', ':', '0', 'e', '-', 't', ' ', '\x01'])),
           max_size=2),
       sizes=st.lists(st.integers(1, 12), max_size=200), multiple=st.booleans())
def test_the_careful_parser_gives_ijsons_events(docs, indent, ascii_, sep, edits, sizes,
                                                multiple):
    """The same events and the same error, at the same event, as ijson's own
    pure-Python parser, for any JSON text read in any pieces: valid, cut, or
    with a byte changed (a quote, a backslash, a control character). A raw
    control character in a string (an error in ijson, which ended the parse)
    is the one difference: that string is ``CONTROL_IN_STRING`` (a key too).
    ijson is shown it as ``#`` (no JSON dump here writes one: inside a string
    it is text, outside one junk, as the control character is), and each
    string holding a ``#`` is then that marker."""
    text = sep.join(json.dumps(d, indent=indent, ensure_ascii=ascii_) for d in docs)
    for at, ch in edits:  # '' cuts the text there
        at %= len(text) + 1
        text = text[:at] if not ch else text[:at] + ch + text[at + 1:]
    assert "#" not in text
    data = text.encode("utf-8", "surrogatepass")
    marker = jsonlex.CONTROL_IN_STRING

    def marked(e):
        if e[0] == "error":
            return (*e[:2], e[2].replace(repr("#"), repr("\x01")))
        prefix, event, value = e
        prefix = ".".join(marker if "#" in k else k for k in prefix.split("."))
        if event in ("string", "map_key") and "#" in value:
            value = marker
        return prefix, event, value
    want = [marked(e) for e in _events(_PY, data.replace(b"\x01", b"#"), sizes, multiple)]
    got = _events(jsonlex, data, sizes, multiple)
    k = len(want) - 1
    if want[k][:2] == ("error", "JSONDecodeError") and len(got) > k and got[k][2] == marker:
        # a string holding a raw control character (a line break of the layout put
        # in one by an edited quote, or one with a bad escape too): ijson stops
        # there; here it is the marker whatever else is wrong in it (its end is
        # found the same way), and the text after it is read on
        assert got[:k] == want[:k]
    elif got[-1:] != want[-1:] and want[-1][:2] == ("error", "UnexpectedSymbol"):
        # such a string where no value may be: the same error at the same place,
        # naming the marker's token where ijson names the string's text
        assert got[:-1] == want[:-1] and got[-1][:2] == want[-1][:2]
        assert "rasd:control-in-string:" in got[-1][2]
        assert got[-1][2].rsplit(" at ", 1)[1] == want[-1][2].rsplit(" at ", 1)[1]
    else:
        assert got == want


def test_nan_and_infinity_are_read_as_a_marker_however_the_reads_cut_them():
    """``NaN``, ``Infinity`` and ``-Infinity`` (no JSON, but what Python's
    ``json.dump`` writes) are each handed to the parser as the string
    ``NOT_A_NUMBER``, wherever a read cuts them (the careful passes read 64
    bytes at a time); any other word stays an error, as in ijson."""
    data = b'[NaN, -Infinity, {"a": Infinity}, 1]'
    marker = jsonlex.NOT_A_NUMBER
    want = [("", "start_array", None), ("item", "string", marker),
            ("item", "string", marker), ("item", "start_map", None),
            ("item", "map_key", "a"), ("item.a", "string", marker), ("item", "end_map", None),
            ("item", "number", 1), ("", "end_array", None)]
    for cut in range(1, len(data) + 1):
        for step in (1, 2, 3):
            assert _events(jsonlex, data, [cut] + [step] * len(data), False) == want, (cut, step)
    for junk in (b"[nan]", b"[Inf]", b"[NaNa]", b"[-NaN]", b"[infinity]"):
        assert _events(jsonlex, junk, [], False)[-1][0] == "error", junk


def test_a_raw_control_character_in_a_string_is_a_marker_however_the_reads_cut_it():
    """A string holding a control character unescaped (a raw TAB, NUL or line
    break: a writer that escaped quotes and backslashes only) is handed to the
    parser as ``CONTROL_IN_STRING``, wherever a read cuts it, and the values
    after it are read: ijson's parser stopped there ("Invalid control
    character"), and every item after it was lost. Its end is its closing
    quote all the same: a quote escaped after it, or text in it that looks
    like the next item (``}, {``), is still inside it."""
    data = (b'[{"a": "x\ty"}, {"b\x00": 1}, "\x1f", "\n\\\"}, {\\\"c\\\": 9}, {\x01", '
            b'{"d": "ok"}]')
    marker = jsonlex.CONTROL_IN_STRING
    want = [("", "start_array", None), ("item", "start_map", None),
            ("item", "map_key", "a"), ("item.a", "string", marker), ("item", "end_map", None),
            ("item", "start_map", None), ("item", "map_key", marker),
            (f"item.{marker}", "number", 1), ("item", "end_map", None),
            ("item", "string", marker), ("item", "string", marker),
            ("item", "start_map", None), ("item", "map_key", "d"),
            ("item.d", "string", "ok"), ("item", "end_map", None), ("", "end_array", None)]
    for cut in range(1, len(data) + 1):
        for step in (1, 2, 5):
            assert _events(jsonlex, data, [cut] + [step] * len(data), False) == want, (cut, step)
    assert _events(_PY, data, [], False)[-1][:2] == ("error", "JSONDecodeError")


_NOT_UTF8 = [b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
             b"\xc0\xaf"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=_json, bad=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(_NOT_UTF8)),
                               min_size=1, max_size=3),
       cut=st.integers(0, 10**6) | st.none(), sizes=st.lists(st.integers(1, 12), max_size=200))
def test_the_careful_parser_never_raises_unicode_decode_error(doc, bad, cut, sizes):
    """Bytes that are no UTF-8 text, anywhere (in a string, a key, between
    tokens) and however the reads cut them, never make the careful parser
    raise UnicodeDecodeError: it decodes with surrogateescape, and its
    errors are ijson's (a string holding such bytes is ``INVALID_UTF8``;
    outside a string, ``invalid UTF-8 outside a string``). Telegram's careful
    pass had a reason of its own for a UnicodeDecodeError, never given."""
    data = json.dumps(doc, indent=1).encode()
    for at, junk in bad:
        at %= len(data) + 1
        data = data[:at] + junk + data[at:]
    if cut is not None:
        data = data[:cut % (len(data) + 1)]
    try:
        for _ in jsonlex.parse(_Pieces(data, sizes), buf_size=64, use_float=True):
            pass
    except Exception as e:  # noqa: BLE001 - which error it is, is what is tested
        assert not isinstance(e, UnicodeError), repr(e)
        assert isinstance(e, (ijson.common.JSONError, ValueError)), repr(e)


def _unraisable(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook",
                        lambda u: seen.append(f"{u.exc_type.__name__}: {u.exc_value}"))
    return seen


def test_a_first_record_check_leaves_no_parser_to_the_garbage_collector(tmp_path, monkeypatch):
    """``check_format`` reads a file's first record and closes its reader. In a
    Telegram export cut short (.gz), that stopped ijson's pure-Python parser in
    the middle of a string; its coroutines, left to the garbage collector,
    raised "Incomplete string lexeme" from their close(): an exception Python
    can only print ("Exception ignored in ... utf8_encoder"), and pytest's
    PytestUnraisableExceptionWarning in three tests. The parser's coroutines
    are now closed when reading stops."""
    from rasd.ingest.runner import check_format

    seen = _unraisable(monkeypatch)
    msgs = [{"id": i, "type": "message", "date": "2024-03-01T10:00:00", "from": "C",
             "from_id": "channel5", "text": f"message number {i} " + "words " * (i % 7)}
            for i in range(1, 3001)]
    data = json.dumps({"name": "C", "type": "public_channel", "id": 5, "messages": msgs},
                      indent=1).encode()
    comp = gzip.compress(data)
    d = tmp_path / "ChatExport_2024-05-10"
    d.mkdir()
    (d / "result.json.gz").write_bytes(comp[:len(comp) * 2 // 3])
    assert check_format(d / "result.json.gz") == "telegram"
    gc.collect()
    assert seen == []


@pytest.mark.parametrize("stop", ["closed", "read fails"])
def test_the_careful_parser_stopped_mid_string_closes_quietly(monkeypatch, stop):
    """Reading stopped inside a string, by its reader (a limit, an I/O error) or
    by whoever iterates: ijson's coroutines are closed then, quietly."""
    seen = _unraisable(monkeypatch)
    data = b'[{"a": "' + b"x" * 5000

    class Failing(_Pieces):
        def read(self, size: int = -1) -> bytes:
            if self.at > 1000:
                raise OSError("gone")
            return super().read(size)

    events = jsonlex.parse(Failing(data, [100] * 100), buf_size=100)
    if stop == "closed":
        assert next(events) == ("", "start_array", None)
        events.close()
    else:
        with pytest.raises(OSError):
            list(events)
    del events
    gc.collect()
    assert seen == []


def _c_calls(fn) -> int:
    """C functions called while ``fn`` runs (work done per piece of input, not
    per byte: a count, not a time, so that a loaded machine changes nothing)."""
    n = 0

    def prof(frame, event, arg) -> None:
        nonlocal n
        n += event == "c_call"

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return n


def test_escaped_quotes_cost_the_careful_pass_nothing_per_quote(tmp_path: Path):
    """ijson's pure-Python lexer looked for a string's end quote by quote, in
    Python (a ``str.index`` and a loop over the backslashes before each): a
    damaged Telegram export with a message of millions of ``\\"`` took ~10 s
    for 16 MiB in its careful pass (22 s measured on a loaded machine; 5 s
    now, most of it the fast C pass before it). Here 1 MiB of them costs no
    more calls than 1 MiB of ``\\u00e9`` escapes (526,000 before, ~2,000)."""
    def export(unit: bytes) -> Path:
        d = tmp_path / unit.hex()
        d.mkdir()
        token = b'"' + unit * ((1 << 20) // len(unit)) + b'"'
        msgs = [{"id": i, "type": "message", "date": "2024-03-01T10:00:00", "from": "C",
                 "from_id": "channel5", "text": "LONG" if i == 2 else f"m{i}"}
                for i in (1, 2, 3)]
        body = json.dumps({"name": "C", "type": "public_channel", "id": 5, "messages": msgs},
                          indent=1).encode().replace(b'"LONG"', token)
        (d / "result.json").write_bytes(body.replace(b'"m3"', b'"m3",'))  # damaged: a trailing comma
        return d

    def parse(d: Path) -> list:
        return list(get_parser("telegram").parse(d, RawSink()))

    quotes, escapes = export(b'\\"'), export(b"\\u00e9")
    out = parse(quotes)
    assert [type(r).__name__ for r in out] == ["Post", "Reject", "Reject", "Account"]
    assert "malformed" in out[2].reason  # the careful pass ran, to the damage
    assert _c_calls(lambda: parse(quotes)) < 3 * _c_calls(lambda: parse(escapes))
