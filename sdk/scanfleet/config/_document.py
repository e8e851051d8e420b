"""Reading a config document (YAML/JSON text or a file) into plain data, within bounds.

A config is a few kilobytes; hostile input must not cost more. A file may hold at most
``MAX_CONFIG_BYTES``; the document may nest at most ``MAX_DEPTH`` levels and hold at
most ``MAX_NODES`` values once YAML aliases are expanded (an alias counts as many values
as it stands for, so a 600-byte "billion laughs" file is refused at once instead of
being expanded). Every breach is a ConfigError, never a MemoryError or RecursionError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from scanfleet.config._errors import ConfigError, ConfigProblem

MAX_CONFIG_BYTES = 256 * 1024  # PyYAML reads ~50 KB/s on a slow machine: 5 s at most
MAX_DEPTH = 64
MAX_NODES = 100_000


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark | None) -> None:
        super().__init__()
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """YAML 1.1 as PyYAML reads it, but with ``1e-3`` read as a number (as YAML 1.2 and
    JSON do), duplicate keys rejected instead of silently overwritten, and nesting
    bounded while scanning (PyYAML's scanner slows down with every open flow level and
    indentation) and while composing (PyYAML composes by recursion)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _TooDeep(self.get_mark())
        super().fetch_flow_collection_start(token_class)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_DEPTH:
            raise _TooDeep(self.get_mark())
        return bool(super().add_indent(column))

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

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


def read_document(source: str | Path) -> tuple[Any, Path | None]:
    """The parsed document, and the folder of its file (None for text)."""
    if isinstance(source, str) and _looks_like_text(source):
        return parse_document(source, "the config"), None
    path = Path(source).expanduser()
    if not path.is_file():
        what = "is a folder, not a config file" if path.is_dir() else "no such config file"
        raise ConfigError([ConfigProblem("", f"{what}: {source}")])
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise _too_big(str(source), size)
        with path.open("rb") as file:  # a file that grows meanwhile is cut at the bound
            raw = file.read(MAX_CONFIG_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {source}: {exc}")]) from None
    return parse_document(text, str(path)), path.parent.resolve()


def _too_big(name: str, size: int) -> ConfigError:
    return ConfigError(
        [
            ConfigProblem(
                "", f"{name} is {size:,} bytes; a config may hold {MAX_CONFIG_BYTES:,} bytes"
            )
        ]
    )


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


def parse_document(text: str, name: str) -> Any:
    """YAML or JSON text as plain data, checked with ``check_shape``."""
    if len(text.encode("utf-8", errors="replace")) > MAX_CONFIG_BYTES:
        raise _too_big(name, len(text.encode("utf-8", errors="replace")))
    if text.lstrip().startswith("{") or name.endswith(".json"):
        try:
            return check_shape(json.loads(text), name)
        except RecursionError:
            raise _too_deep(name, "") from None
        except json.JSONDecodeError as exc:
            if name.endswith(".json"):
                where = f"line {exc.lineno}, column {exc.colno}"
                raise ConfigError(
                    [ConfigProblem("", f"{name} is not valid JSON ({where}): {exc.msg}")]
                ) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except _TooDeep as exc:
        raise _too_deep(name, _where(exc.mark)) from None
    except yaml.YAMLError as exc:
        syntax = "YAML or JSON" if text.lstrip().startswith("{") else "YAML"
        raise ConfigError(
            [ConfigProblem("", f"{name} is not valid {syntax} {_yaml_where(exc)}")]
        ) from None
    return check_shape(data, name)


def _too_deep(name: str, where: str) -> ConfigError:
    at = f" {where}" if where else ""
    return ConfigError([ConfigProblem("", f"{name} nests more than {MAX_DEPTH} levels deep{at}")])


def check_shape(data: Any, name: str = "the config") -> Any:
    """``data`` when it nests at most ``MAX_DEPTH`` levels and holds at most ``MAX_NODES``
    values, counting a value shared by YAML aliases once per place it appears, and refers
    to itself nowhere. Sizes are summed bottom-up once per shared value, without
    recursion, so a bomb costs as much as its text."""
    shapes: dict[int, tuple[int, int]] = {}  # id of a list or mapping: (values, depth)
    open_ids: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        value, children_done = stack.pop()
        if not _is_container(value) or id(value) in shapes:
            continue
        children = _children(value)
        if children_done:
            open_ids.discard(id(value))
            shapes[id(value)] = shape = _shape(children, shapes)
            if shape[0] > MAX_NODES:
                raise ConfigError([ConfigProblem("", f"{name} holds more than {MAX_NODES:,} "
                                  "values (YAML aliases count once per use): a scan config "
                                  "is far smaller")])  # fmt: skip
            if shape[1] > MAX_DEPTH:
                raise _too_deep(name, "")
            continue
        if id(value) in open_ids:
            raise ConfigError([ConfigProblem("", f"{name} contains itself (a YAML alias "
                                             "inside its own anchor)")])  # fmt: skip
        open_ids.add(id(value))
        stack.append((value, True))
        stack.extend((child, False) for child in children)
    return data


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _children(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [part for item in value.items() for part in item]
    return list(value)


def _shape(children: list[Any], shapes: dict[int, tuple[int, int]]) -> tuple[int, int]:
    values, depth = 1, 1
    for child in children:
        child_values, child_depth = shapes[id(child)] if _is_container(child) else (1, 0)
        values += child_values
        depth = max(depth, child_depth + 1)
    return values, depth


def _where(mark: yaml.Mark | None) -> str:
    return f"(line {mark.line + 1}, column {mark.column + 1})" if mark else ""


def _yaml_where(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = _where(mark)
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return f"{where}: {reason}".strip()
    return f": {exc}"
