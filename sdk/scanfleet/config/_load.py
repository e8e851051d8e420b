from __future__ import annotations

import difflib
import json
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from scanfleet.config._errors import ConfigError, ConfigProblem
from scanfleet.config._parameters import PARAMETER_MODELS
from scanfleet.config._schema import ScanConfig

PATH_MARK = "@"  # a validator may start its message with "@field.path: " to name the field


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
    looks_like_path = isinstance(source, Path) or (
        len(str(source)) < 4096 and "\n" not in str(source) and ":" not in str(source)
    )
    if looks_like_path:
        path = Path(source)
        if not path.is_file():
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
        loc = [str(p) for p in err["loc"]]
        message = err["msg"].removeprefix("Value error, ")
        if message.startswith(PATH_MARK):
            named, _, message = message[1:].partition(": ")
            loc = named.split(".")
        elif err["type"] == "extra_forbidden":
            message = _unknown_key_message(loc)
        path = ".".join(_user_path(loc))
        problems.append(ConfigProblem(path, message))
    return problems


def _user_path(loc: list[str]) -> list[str]:
    """Drop the tags pydantic puts in paths through the parameter union."""
    out = []
    for i, part in enumerate(loc):
        if i >= 2 and loc[i - 2] == "parameters" and part in PARAMETER_MODELS:
            continue
        out.append(part)
    return out


def _unknown_key_message(loc: list[str]) -> str:
    key = loc[-1]
    allowed = _allowed_keys(loc[:-1])
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        message += f"; did you mean {close[0]!r}?"
    elif allowed:
        message += f"; allowed here: {', '.join(sorted(allowed))}"
    return message


def _allowed_keys(loc: list[str]) -> list[str]:
    """The keys a config allows at ``loc`` (a path that may include union tags)."""
    node: Any = ScanConfig
    for part in loc:
        node = _unwrap(node, part)
        if node is None:
            return []
    node = _unwrap(node, None)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


def _unwrap(node: Any, part: str | None) -> Any:
    """One step down the schema: a model's field, a dict's value, a list's item, or the
    member of a union that ``part`` names."""
    while True:
        origin = get_origin(node)
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(node) if a is not type(None)]
            if part in PARAMETER_MODELS:
                return PARAMETER_MODELS[part]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            node = models[0] if len(models) == 1 else (members[0] if members else None)
            continue
        if origin is not None and str(origin).endswith("Annotated"):
            node = get_args(node)[0]
            continue
        if hasattr(node, "__metadata__"):
            node = node.__origin__
            continue
        break
    if part is None:
        return node
    if isinstance(node, type) and issubclass(node, BaseModel):
        field = node.model_fields.get(part)
        return field.annotation if field else None
    if get_origin(node) in (dict, list):
        return get_args(node)[-1]
    return None
