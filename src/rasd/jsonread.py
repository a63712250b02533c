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
