"""JSON from input, read with one set of failures.

``json.loads`` fails on hostile input in three ways, not one: a syntax error
(``JSONDecodeError``), nesting deep enough to exhaust the stack
(``RecursionError``), and an integer of more than 4,300 digits (a plain
``ValueError``: Python refuses to convert such a number). A reader that caught
the first two let the third escape as a traceback (``rasd classify`` and
``rasd eval`` on a line with a 5,000-digit id). ``parse_json`` turns all three
into ``JSONInputError`` with a message a user can act on; callers put the file
and line in front.
"""

from __future__ import annotations

import json
from typing import Any


def map_leaves(value: Any, fn: Any) -> Any:
    """``value`` — a JSON-like value of dicts, lists and tuples — rebuilt with
    ``fn`` applied to every other value in it, dict keys included: the one walk
    behind making input's strings and numbers safe to hash, store and print
    (``strip_surrogates``, ``bounded_ints``, ``storable``, ``valid_json_value``).
    Containers keep their type. Nesting deeper than Python's recursion allows
    raises RecursionError (callers reject such input)."""
    if isinstance(value, dict):
        return {map_leaves(k, fn): map_leaves(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [map_leaves(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple([map_leaves(v, fn) for v in value])
    return fn(value)


class JSONInputError(ValueError):
    """Input that is not JSON rasd can read; the message says why (and where
    inside the text, for a syntax error)."""


def parse_json(text: str | bytes) -> Any:
    """``json.loads(text)``, raising ``JSONInputError`` for invalid JSON,
    nesting too deep or a number too long to read."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        where = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno}, column {e.colno}"
        raise JSONInputError(f"invalid JSON: {e.msg} ({where})") from None
    except RecursionError:
        raise JSONInputError("JSON nested too deeply") from None
    except ValueError as e:  # an integer of more than 4,300 digits
        raise JSONInputError(f"a number too long to read ({str(e)[:60]})") from None
