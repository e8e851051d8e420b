from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scanfleet.errors import APIStatusError, InvalidRequestError
from scanfleet.wire import ErrorCode


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config: where (a dotted field path such as
    ``parameters.lr.min``; empty for the whole document) and what would be valid."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


class ConfigError(InvalidRequestError):
    """A scan config is invalid. ``problems`` lists every problem found, each with its
    field path; the message lists them one per line."""

    code = ErrorCode.INVALID_CONFIG

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"invalid scan config ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"
            f"\n{lines}",
            details=[{"path": p.path, "message": p.message} for p in problems],
        )

    @classmethod
    def from_answer(cls, status: int, code: Any, message: str, **wire: Any) -> APIStatusError:
        """The error as the API answered it (the SDK), ``problems`` rebuilt from details."""
        error = super().from_answer(status, code, message, **wire)
        details = error.details if isinstance(error.details, list) else []
        error.problems = [  # type: ignore[attr-defined]
            ConfigProblem(str(p.get("path", "")), str(p.get("message", "")))
            for p in details
            if isinstance(p, dict)
        ]
        return error


class FieldProblems(ValueError):
    """Raised inside a validator to report problems at paths *relative to the model being
    validated* (``"min"`` inside a parameter, ``"parameters.lr"`` at the top level).
    ``load_config`` prefixes each path with where the validator ran; a plain pydantic
    ``ValidationError`` shows them in its message."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, path: str, message: str) -> FieldProblems:
        return cls([ConfigProblem(path, message)])
