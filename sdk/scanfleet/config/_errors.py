from __future__ import annotations

from dataclasses import dataclass

from scanfleet.errors import ScanfleetError


@dataclass(frozen=True)
class ConfigProblem:
    path: str  # dotted field path, e.g. "parameters.lr.min"
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


class ConfigError(ScanfleetError):
    """A scan config is invalid. ``problems`` lists each one with its field path."""

    code = "invalid_config"
    status = 400

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"invalid scan config ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"
            f"\n{lines}",
            details=[{"path": p.path, "message": p.message} for p in problems],
        )
