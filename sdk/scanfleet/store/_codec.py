"""Records to JSON text and back, exactly, for every store.

pydantic's ``model_dump_json`` writes NaN and infinities as ``null``, which then fails
validation on the way back (a diverged run that reported ``loss = nan`` would make its
trial unreadable). The stores keep records with the standard library's encoder instead:
floats are written with ``repr`` (so they round-trip bit for bit) and NaN/Infinity as the
JSON extensions Python reads back.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel

_M = TypeVar("_M", bound=BaseModel)


def dump(record: BaseModel) -> str:
    return json.dumps(
        record.model_dump(mode="python"),
        allow_nan=True,
        separators=(",", ":"),
        default=str,
    )


def load(model: type[_M], text: str) -> _M:
    return model.model_validate(json.loads(text))


def float_text(value: float) -> str:
    """A float as text that ``float()`` turns back into the very same float."""
    return repr(float(value))
