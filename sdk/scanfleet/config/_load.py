"""Reading a config (dict, YAML/JSON text, or a file) and turning pydantic's errors into
ConfigProblems with user-facing paths and messages."""

from __future__ import annotations

import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, Discriminator, Tag, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from scanfleet.config._document import check_shape, read_document
from scanfleet.config._errors import ConfigError, ConfigProblem, FieldProblems
from scanfleet.config._parameters import did_you_mean
from scanfleet.config._schema import ScanConfig, consistency_problems


def load_config(source: ScanConfig | Mapping[str, Any] | str | Path) -> ScanConfig:
    """A validated ScanConfig from a dict, a YAML/JSON file path, or YAML/JSON text.

    Any source is bounded first (size, nesting, values with aliases expanded: see
    ``scanfleet.config._document``).

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
        data, source_dir = read_document(source)
    else:
        data = check_shape(source)
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
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return f"got a {len(str(abs(value)))}-digit number"
    text = repr(value)
    return f"got {text[:60]}... ({len(text)} characters)" if len(text) > 80 else f"got {text}"


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
