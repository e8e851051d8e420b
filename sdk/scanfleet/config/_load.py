from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scanfleet.config._errors import ConfigError, ConfigProblem
from scanfleet.config._schema import ScanConfig


def load_config(source: ScanConfig | dict[str, Any] | str | Path) -> ScanConfig:
    """A validated ScanConfig from a dict, a YAML/JSON file path, or YAML/JSON text.

    Raises:
        ConfigError: listing every problem with its field path.
    """
    if isinstance(source, ScanConfig):
        return source
    data = _read(source) if isinstance(source, str | Path) else source
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem("", "a scan config must be a mapping of keys")])
    try:
        return ScanConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_problems(exc)) from None


def _read(source: str | Path) -> Any:
    text: str
    path = Path(source)
    if isinstance(source, Path) or (len(str(source)) < 4096 and "\n" not in str(source)):
        if not path.exists():
            raise ConfigError([ConfigProblem("", f"no such config file: {source}")])
        text = path.read_text()
    else:
        text = str(source)
    try:
        return json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"not valid YAML or JSON: {exc}")]) from None


def _problems(exc: ValidationError) -> list[ConfigProblem]:
    problems = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        problems.append(ConfigProblem(path, message))
    return problems
