"""Handlers the patch tests dispatch to (the stack's own handlers are in lambdas/)."""

from __future__ import annotations

from typing import Any


def double(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"n": event["n"] * 2, "function": context.function_name}


def fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise ValueError("the handler refused")
