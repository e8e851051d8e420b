"""docs/config.md, generated from the schema so it never drifts (a test compares them).

python -m scanfleet.config._reference > docs/config.md
"""

from __future__ import annotations

import types
from enum import StrEnum
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from scanfleet.config._parameters import PARAMETER_MODELS
from scanfleet.config._schema import ScanConfig

INTRO = """# Scan config reference

*Generated from the schema (`python -m scanfleet.config._reference > docs/config.md`).*

A scan config is YAML, JSON or a dict. Every key of the
[Picsellia scan document](https://documentation.picsellia.com) is accepted; the keys
marked **scanfleet** are our additions. `scanfleet validate scan.yaml` checks a config
and prints what it will do, or every problem with its field path.

```yaml
script: ''
execution: {type: agents}
strategy: grid
metric: {name: Loss-total_loss, goal: minimize}
parameters:
  batch_size: {values: [2, 4, 8]}
  learning_rate: {values: [0.001, 0.0001, 0.00001]}
  steps: {value: 1000}
  annotation_type: {value: rectangle}
base_model: picsell/ssd-mobilenet-v2-640-fpnlite
dataset: SampleDataset/first
```

## How a trial runs

`command` (or `python <script>`) runs once per trial in the worker's working folder (the
config's folder for `scanfleet local run`), with each parameter appended as a
`--name=value` flag (strings as they are, everything else as JSON) and all of them as JSON
in `SCANFLEET_PARAMS`. A leading `python` is the worker's interpreter. The metric comes
from `scanfleet.current_trial().report(...)`/`.complete(...)` in the script, or, with
`metric.regex`, from the last match in its output. Exit code 0 with a metric completes the
trial; a non-zero exit is a script error (retried up to `retries.max_errors`); a Spot
notice, SIGTERM or a lost lease is a preemption (its own budget, `retries.max_preemptions`).

## Parameters

Each parameter is one of (Picsellia's short forms: `{value: x}` is constant,
`{values: [...]}` is categorical; Oscar's `{min, max}` alone is uniform):

"""

OUR_ADDITIONS = {
    "command", "optuna", "conditions", "tags", "completion", "resources", "retries",
}  # fmt: skip


def render_reference() -> str:
    out = [INTRO]
    out.append("| distribution | keys |\n| --- | --- |")
    for tag, model in PARAMETER_MODELS.items():
        if tag.startswith("both"):
            continue
        keys = ", ".join(f"`{k}`" for k in model.model_fields if k != "distribution")
        out.append(f"| `{tag}` | {keys} |")
    out.append("")
    out.append("A grid scan takes only `value`/`values` parameters.\n")
    out.append(_section("Top-level keys", ScanConfig, top=True))
    for name, field in ScanConfig.model_fields.items():
        section_model = _model_of(field.annotation)
        if section_model is not None:
            out.append(_section(f"`{name}`", section_model))
            for sub_name, sub in section_model.model_fields.items():
                sub_model = _model_of(sub.annotation)
                if sub_model is not None:
                    out.append(_section(f"`{name}.{sub_name}`", sub_model))
    return "\n".join(out).rstrip() + "\n"


def _section(title: str, model: type[BaseModel], *, top: bool = False) -> str:
    lines = [f"## {title}\n"]
    if model.__doc__ and not top:
        lines.append(" ".join(model.__doc__.split()) + "\n")
    lines.append("| key | type | default | meaning |\n| --- | --- | --- | --- |")
    for name, field in model.model_fields.items():
        mark = " **scanfleet**" if top and name in OUR_ADDITIONS else ""
        lines.append(
            f"| `{name}`{mark} | {_type_name(field.annotation)} | {_default(field)} "
            f"| {field.description or ''} |"
        )
    return "\n".join(lines) + "\n"


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        return "see below" if isinstance(value, BaseModel) else f"`{value!r}`"
    if field.default is PydanticUndefined:
        return ""
    default = field.default
    return f"`{getattr(default, 'value', default)!r}`"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        models = [a for a in get_args(annotation) if isinstance(a, type)
                  and issubclass(a, BaseModel)]  # fmt: skip
        return models[0] if len(models) == 1 else None
    return None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    text = getattr(annotation, "__name__", None) or str(annotation)
    text = text.replace("typing.", "").replace("scanfleet.config._schema.", "")
    text = text.replace("scanfleet.config._parameters.", "")
    if "Annotated[Union[Annotated[ConstantParam" in text or "ConstantParam" in text:
        text = "dict[str, parameter]"
    return text.replace("|", "\\|")


if __name__ == "__main__":
    print(render_reference(), end="")
