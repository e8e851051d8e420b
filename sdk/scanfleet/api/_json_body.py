"""How a request body becomes JSON, on both tiers (the resolver's body deserializer).

A body nested deeper than ``MAX_JSON_DEPTH`` is refused before it is parsed: Python's
parser (and every validator after it) recurses once per level, so a body of a few
thousand ``[`` would otherwise end in a RecursionError and a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

from scanfleet.errors import InvalidRequestError

MAX_JSON_DEPTH = 64  # a scan config nests a handful of levels; this leaves room to spare

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (brackets inside strings ignored)."""
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    depth = deepest = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json_body(text: str) -> Any:
    """The body as JSON: an object, or ``null`` (no body); anything else is a 400.

    Every body of the API is a JSON object. Powertools validates a body parameter that is
    not a sequence with the *first item* of a list it is given, so without this check
    ``[{"worker_id": "w"}, 5]`` would claim a trial; it is refused here, on both tiers.

    Raises:
        InvalidRequestError: the body nests deeper than ``MAX_JSON_DEPTH`` or is not an
            object (``details`` names ``body``).
        json.JSONDecodeError: the body is not JSON (the resolver answers it as a 400).
    """
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise _invalid_body(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
    document = json.loads(text)
    if document is not None and not isinstance(document, dict):
        raise _invalid_body("a JSON object is required")
    return document


def _invalid_body(message: str) -> InvalidRequestError:
    return InvalidRequestError(f"body: {message}", details=[{"path": "body", "message": message}])
