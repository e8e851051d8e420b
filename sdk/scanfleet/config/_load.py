"""Reading a config (dict, YAML/JSON text, or a file) and turning pydantic's errors into
ConfigProblems with user-facing paths and messages."""

from __future__ import annotations

import json
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Discriminator, Tag, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from scanfleet.config._errors import ConfigError, ConfigProblem, FieldProblems
from scanfleet.config._parameters import did_you_mean
from scanfleet.config._schema import ScanConfig, consistency_problems


def load_config(source: ScanConfig | Mapping[str, Any] | str | Path) -> ScanConfig:
    """A validated ScanConfig from a dict, a YAML/JSON file path, or YAML/JSON text.

    A relative ``requirements`` path of a config loaded from a file is taken from the
    file's folder (see ``ScanConfig.requirement_specs``).

    Raises:
        ConfigError: listing every problem with its field path; also for a missing file
            or a syntax error (never another exception for bad input).
    """
    if isinstance(source, ScanConfig):
        return source
    source_dir: Path | None = None
    if isinstance(source, str | Path):
        data, source_dir = _read(source)
    else:
        data = source
    if not isinstance(data, Mapping):
        kind = "nothing" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            [ConfigProblem("", f"a scan config must be a mapping of keys (got {kind})")]
        )
    data = dict(data)
    try:
        config = ScanConfig.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
        problems += [p for p in consistency_problems(data) if p not in problems]
        raise ConfigError(problems) from None
    config._source_dir = source_dir
    return config


# ---- reading -------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as PyYAML reads it, but with ``1e-3`` read as a number (as YAML 1.2 and
    JSON do) and duplicate keys rejected instead of silently overwritten."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):
                continue  # an unhashable key: construct_mapping reports it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key!r} twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _read(source: str | Path) -> tuple[Any, Path | None]:
    """The parsed document, and the folder of its file (None for text)."""
    if isinstance(source, str) and _looks_like_text(source):
        return _parse(source, "the config"), None
    path = Path(source).expanduser()
    if not path.is_file():
        what = "is a folder, not a config file" if path.is_dir() else "no such config file"
        raise ConfigError([ConfigProblem("", f"{what}: {source}")])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {source}: {exc}")]) from None
    return _parse(text, str(path)), path.parent.resolve()


def _looks_like_text(source: str) -> bool:
    stripped = source.strip()
    return (
        not stripped
        or "\n" in stripped
        or stripped.startswith(("{", "["))
        or ": " in stripped
        or stripped.endswith(":")
        or len(stripped) > 4096
    )


def _parse(text: str, name: str) -> Any:
    if text.lstrip().startswith("{") or name.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            if name.endswith(".json"):
                where = f"line {exc.lineno}, column {exc.colno}"
                raise ConfigError(
                    [ConfigProblem("", f"{name} is not valid JSON ({where}): {exc.msg}")]
                ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        syntax = "YAML or JSON" if text.lstrip().startswith("{") else "YAML"
        raise ConfigError(
            [ConfigProblem("", f"{name} is not valid {syntax} {_yaml_where(exc)}")]
        ) from None


def _yaml_where(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"(line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return f"{where}: {reason}".strip()
    return f": {exc}"


# ---- pydantic errors to problems -----------------------------------------------------


def _problems(exc: ValidationError) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for err in exc.errors():
        for problem in _problems_of(err):
            if problem not in problems:
                problems.append(problem)
    return problems


def _problems_of(err: ErrorDetails) -> list[ConfigProblem]:
    loc = list(err["loc"])
    key_error = bool(loc) and loc[-1] == "[key]"
    if key_error:
        loc = loc[:-1]
    where = _Where.of(loc)
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, FieldProblems):
        return [ConfigProblem(_join(where.path, p.path), p.message) for p in cause.problems]
    if key_error:
        return [ConfigProblem(where.path, f"keys here must be text (got {err['input']!r})")]
    return [ConfigProblem(where.path, _message(err, where))]


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _message(err: ErrorDetails, where: _Where) -> str:
    kind, msg, value = err["type"], err["msg"], err["input"]
    if kind == "extra_forbidden":
        key = str(where.parts[-1]) if where.parts else ""
        allowed = where.allowed_keys_of_parent()
        hint = did_you_mean(key, allowed) or (
            f"; allowed here: {', '.join(allowed)}" if allowed else ""
        )
        return f"unknown key {key!r}{hint}"
    if kind == "missing":
        about = where.field.description if where.field and where.field.description else ""
        return "required" + (f": {_plain(about)}" if about else "")
    if kind in ("model_type", "model_attributes_type", "dict_type") and where.model:
        keys = ", ".join(where.model.model_fields)
        return f"must be a mapping with keys {keys} ({_got(value)})"
    if kind == "int_from_float":
        return f"must be a whole number (got {value!r})"
    if kind == "finite_number":
        return f"must be a finite number (got {value!r})"
    if kind in ("too_short", "too_long"):
        ctx = err.get("ctx") or {}
        if kind == "too_short" and ctx.get("min_length") == 1:
            return "must not be empty"
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        return f"must have {'at least' if kind == 'too_short' else 'at most'} {bound} items"
    if not msg.startswith("Input should be "):
        return msg.removeprefix("Value error, ")
    expected = msg.removeprefix("Input should be ")
    if kind.endswith("_parsing") or kind.endswith("_type"):
        expected = expected.split(", ")[0]
    for pydantic_word, ours in _WORDS.items():
        expected = expected.replace(pydantic_word, ours)
    message = f"must be {expected} ({_got(value)})"
    if kind in ("enum", "literal_error"):
        choices = str((err.get("ctx") or {}).get("expected", "")).replace(" or ", ", ")
        message += did_you_mean(value, [c.strip(" '") for c in choices.split(",")])
    return message


_WORDS = {
    "a valid string": "text",
    "a valid integer": "an integer",
    "a valid number": "a number",
    "a valid boolean": "true or false",
    "a valid dictionary": "a mapping",
    "a valid list": "a list",
}


def _got(value: Any) -> str:
    if isinstance(value, dict | list):
        return f"got a {'mapping' if isinstance(value, dict) else 'list'}"
    return f"got {value!r}"


def _plain(description: str) -> str:
    return description.replace("**scanfleet**: ", "").replace("`", "'")


class _Where:
    """A pydantic error location walked along the schema: the user-facing path (union
    tags dropped), the field it ends at and the model it stands for."""

    def __init__(
        self,
        parts: list[str | int],
        field: FieldInfo | None,
        node: Any,
        parent: Any,
    ) -> None:
        self.parts = parts
        self.field = field
        self.node = node
        self.parent = parent

    @property
    def path(self) -> str:
        return ".".join(str(p) for p in self.parts)

    @property
    def model(self) -> type[BaseModel] | None:
        return _as_model(self.node)

    def allowed_keys_of_parent(self) -> list[str]:
        model = _as_model(self.parent)
        return list(model.model_fields) if model else []

    @classmethod
    def of(cls, loc: list[str | int]) -> _Where:
        node: Any = ScanConfig
        parent: Any = None
        field: FieldInfo | None = None
        parts: list[str | int] = []
        for part in loc:
            node, tags = _unwrap(node)
            if isinstance(part, str) and part in tags:
                node = tags[part]
                continue
            parent, field = node, None
            model = _as_model(node)
            if model is not None:
                field = model.model_fields.get(str(part))
                node = field.annotation if field else None
            elif get_origin(node) in (dict, list):
                node = get_args(node)[-1]
            else:
                node = None
            parts.append(part)
        return cls(parts, field, _unwrap(node)[0], _unwrap(parent)[0])


def _unwrap(node: Any) -> tuple[Any, dict[str, Any]]:
    """``node`` without Optional and Annotated, and the members of a tagged union."""
    while True:
        if get_origin(node) is not None and hasattr(node, "__metadata__"):
            inner = get_args(node)[0]
            if any(isinstance(m, Discriminator) for m in node.__metadata__):
                return inner, _tags(inner)
            node = inner
            continue
        if get_origin(node) in (Union, types.UnionType):
            members = [a for a in get_args(node) if a is not type(None)]
            if len(members) == 1:
                node = members[0]
                continue
        return node, {}


def _tags(union: Any) -> dict[str, Any]:
    tags = {}
    for member in get_args(union):
        for meta in getattr(member, "__metadata__", ()):
            if isinstance(meta, Tag):
                tags[meta.tag] = get_args(member)[0]
    return tags


def _as_model(node: Any) -> type[BaseModel] | None:
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None
