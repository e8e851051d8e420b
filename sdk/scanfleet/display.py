"""How numbers are shown to a person: 6 significant digits, one function for every
terminal line and page (``scans watch``, ``scans trials``, the HTML report).

Files and wire formats (CSV, JSON, the API) keep full precision: this is only for eyes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SIGNIFICANT_DIGITS = 6


def format_value(value: Any) -> str:
    """A float in 6 significant digits (``0.000123457``, ``1.23457e+06``, ``nan``); any
    other value as ``str`` (``None`` → ``"-"``). Booleans and ints stay as they are."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{SIGNIFICANT_DIGITS}g}"
    return str(value)


def format_params(params: Mapping[str, Any]) -> str:
    """``lr=0.00123457, layers=3, act=relu``: parameters on one line, floats through
    ``format_value``."""
    return ", ".join(f"{name}={format_value(value)}" for name, value in params.items())
