"""One way to fail for JSON read from input (rasd.jsonread)."""

from __future__ import annotations

import pytest

from rasd.jsonread import JSONInputError, parse_json


@pytest.mark.parametrize(("text", "reason"), [
    ('{"a": ', "invalid JSON: Expecting value (column 7)"),
    ('{\n"a": }', "invalid JSON: Expecting value (line 2, column 6)"),
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
    ('{"n": ' + "9" * 5000 + "}", "a number too long to read"),
])
def test_every_failure_is_one_error(text, reason):
    with pytest.raises(JSONInputError) as e:
        parse_json(text)
    assert str(e.value).startswith(reason)
    assert isinstance(e.value, ValueError)


def test_what_is_json_reads_as_json():
    assert parse_json(b'{"n": ' + b"9" * 4000 + b', "s": "\\ud800"}')["n"] == int("9" * 4000)


def test_with_end_gives_the_members_then_where_the_list_ends():
    import json

    from rasd.jsonread import expect_end, members, with_end

    text = '[1, {"a": 2}]  \n'
    got = list(with_end(members(text, 0)))
    assert got[:-1] == [(1, 0, "$[0]", 1), (4, 1, "$[1]", {"a": 2})]
    assert got[-1] == (13, None, "", None)
    expect_end(text, 13)  # only whitespace after it
    with pytest.raises(json.JSONDecodeError) as e:
        expect_end(text + " x", 13)
    assert e.value.msg == "extra data after the JSON" and e.value.pos == len(text) + 1
