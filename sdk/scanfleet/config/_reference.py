"""docs/config.md, generated from the schema so it never drifts (a test compares them).

    python -m scanfleet.config._reference > docs/config.md

The prose (the intro and a section on each of our additions) is written here; every
table is built from the models: their fields, types, defaults and descriptions.
"""

from __future__ import annotations

import types
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from scanfleet.config._errors import ConfigError
from scanfleet.config._load import load_config
from scanfleet.config._parameters import PARAMETER_MODELS, _Param
from scanfleet.config._schema import ScanConfig

INTRO = """\
# Scan config reference

*Generated from the schema by `python -m scanfleet.config._reference > docs/config.md`;
a test fails when this file and the schema disagree.*

A scan config is YAML, JSON or a Python dict. `load_config(source)` takes any of them
(a dict, the path of a `.yaml`/`.json` file, or the text itself); the SDK, the API and
the CLI all validate through it. `scanfleet validate scan.yaml` checks a config and
prints what the scan will do.

Every key of the Picsellia scan document is accepted with its meaning, so a Picsellia
config runs as it is. This is the example of Picsellia's documentation:

```yaml
script: ''
execution:
  type: agents
strategy: grid
metric:
  name: Loss-total_loss
  goal: minimize
parameters:
  batch_size: {values: [2, 4, 8]}
  learning_rate: {values: [1e-3, 1e-4, 1e-5]}
  steps: {value: 1000}
  annotation_type: {value: rectangle}
base_model: picsell/ssd-mobilenet-v2-640-fpnlite
dataset: SampleDataset/first
```

Notes on reading it:

- An empty string means "not given": `script: ''` is no script (likewise `image`,
  `command`, `requirements`, `base_model`, `dataset`).
- `1e-3` is a number. YAML 1.1 readers take it for text; scanfleet reads numbers as
  YAML 1.2 and JSON do.
- A key given twice in one mapping is an error, not a silent overwrite.
- A config file holds at most 262,144 bytes (256 KiB), nests at most 64 levels and
  holds at most 100,000 values, a YAML alias counting once per use; anything bigger is
  refused with one problem at `<root>` (exit 2), before it is expanded.

Keys marked **scanfleet** in the tables are our additions; each has a section below.

## Errors

An invalid config is rejected as a whole, before anything is created, with one
`ConfigError` (`code` `invalid_config`, HTTP 400). It lists every problem found, each with
its field path and what would be valid; `error.problems` holds them as
`ConfigProblem(path, message)`. For instance, this config

```text
{config}
```

gives

```text
{error}
```

## How a trial runs

`command` (or `python <script>`) runs once per trial in the worker's working folder (the
config's folder for `scanfleet local run`), with each parameter appended as a
`--name=value` flag (text as it is, anything else as JSON), and all of them as JSON in
the environment variable `SCANFLEET_PARAMS`. A leading `python` is the worker's own
interpreter. The metric comes from `scanfleet.current_trial().report(...)` /
`.complete(...)` in the script or, with `metric.regex`, from the script's output. Exit
code 0 with a metric completes the trial; a non-zero exit is a script error (re-run up to
`retries.max_errors` times); a Spot notice, SIGTERM or a lost lease is a preemption, with
its own budget, `retries.max_preemptions`.
"""

PARAMETERS = """\
## Parameters

`parameters` maps each parameter's name to one of these forms. Picsellia's short forms
are accepted: `{value: x}` is `constant`, `{values: [...]}` is `categorical`; and `{min,
max}` without a distribution is `uniform`. A grid scan takes only `constant` and
`categorical` parameters (it tries every combination); the other strategies take them
all.

```yaml
parameters:
  optimizer: {values: [adam, sgd]}
  epochs: {value: 20}
  lr: {distribution: log_uniform, min: 1e-5, max: 1e-1}
  dropout: {distribution: uniform, min: 0.0, max: 0.5}
  layers: {distribution: int_uniform, min: 2, max: 16, step: 2}
  momentum: {distribution: discrete_uniform, min: 0.5, max: 0.99, q: 0.01}
strategy: optuna
metric: {name: loss}
```
"""

ADDITIONS = """\
## Our additions

Each of these is optional; a Picsellia config needs none of them.

### `command`

The program a trial runs, as an argv list or as one shell-like string (split as a POSIX
shell would, without running a shell). It replaces `python <script>`, so a trial can be
any program: `torchrun`, a shell script, a binary. The parameters are appended to it as
`--name=value` flags.

```yaml
command: python train.py --data /data/cifar10
```

### `metric.regex`

For scripts that print their metric rather than report it through the SDK: each line of
the script's output is searched, and the number in the last match (its first group, or
the whole match when it has no group) is the trial's result.

```yaml
metric: {name: val_loss, goal: minimize, regex: 'val_loss=([0-9.eE+-]+)'}
```

### `optuna`

Sampler settings for the `optuna` and `random` strategies: the sampler (`tpe`, `random`,
`cmaes`, `gp`, `qmc`), its `seed` for repeatable scans, the trials sampled at random
before the model takes over, and the constant liar, which counts running trials as bad
ones so that parallel workers do not all try the same region.

```yaml
strategy: optuna
optuna: {sampler: tpe, seed: 7, n_startup_trials: 10, constant_liar: true}
```

### `conditions`

Exceptions to a grid (as in hypnettorch's hpsearch), applied in order to each cell:
when every parameter under `when` holds one of its listed values, the parameters under
`set` take the listed values instead. Several values under `set` turn the cell into
several trials; cells made equal by a condition run once. Every name must be a
parameter of the scan, and conditions apply to grid scans only.

```yaml
strategy: grid
parameters:
  optimizer: {values: [adam, sgd]}
  momentum: {values: [0.0]}
conditions:
  - when: {optimizer: sgd}
    set: {momentum: [0.9, 0.99]}
```

### `tags`

Labels to find scans by later (`client.list_scans(tag="team:vision")`). Keys and values
are text; numbers are turned into text.

```yaml
tags: {team: vision, dataset_version: 3}
```

### `completion`

When a scan ends before `max_run` trials: once the best value reaches `target`, after
`patience` finished trials without improvement, or (as FAILED) once `max_failed` trials
have failed.

```yaml
completion: {target: 0.05, patience: 30, max_failed: 5}
```

### `resources`

What one trial needs from the machine that runs it: `gpus`, the number of GPUs (0 for a
CPU-only trial).

```yaml
resources: {gpus: 1}
```

### `retries`

Two budgets per trial. `max_errors` is how often a failing script is re-run before the
trial is FAILED; `max_preemptions` is how often a trial may be interrupted (a Spot
reclaim, SIGTERM, a lost lease) and resume from its last checkpoint. They are separate so
that Spot reclaims never use up the retries meant for a crashing script.

```yaml
retries: {max_errors: 2, max_preemptions: 50}
```

### Also ours

`execution.lease_seconds` (how long a silent worker keeps its trial), the
`successive_halving` and `median` pruners beside Picsellia's `hyperband`, the `random`
and `pbt` strategies, and `requirements` as a list of `'pkg==ver'` strings.
"""

ERROR_EXAMPLE = """\
strategy: grd
metrc: {name: loss}
parameters:
  lr: {distribution: log_uniform, min: 0, max: 0.1}
  layers: {distribution: int_uniform, min: 2, max: 16, stepp: 2}"""

# Top-level keys that are ours (a nested addition says so in its own description).
OUR_ADDITIONS = ("command", "optuna", "conditions", "tags", "completion", "resources", "retries")


def render_reference() -> str:
    """The whole of docs/config.md."""
    parts = [INTRO.replace("{config}", ERROR_EXAMPLE).replace("{error}", _error_example())]
    parts.append(PARAMETERS)
    parts.append(_parameter_table())
    parts.append(ADDITIONS)
    parts.append("## Reference\n")
    parts.append(_table("Top-level keys", ScanConfig, top=True))
    for title, model in _sections(ScanConfig, ""):
        parts.append(_table(f"`{title}`", model))
    return "\n".join(parts).rstrip() + "\n"


def _error_example() -> str:
    try:
        load_config(ERROR_EXAMPLE)
    except ConfigError as exc:
        return exc.message
    raise AssertionError("the error example of docs/config.md is valid")  # pragma: no cover


def _parameter_table() -> str:
    lines = ["| distribution | keys | what it takes |", "| --- | --- | --- |"]
    for tag, model in PARAMETER_MODELS.items():
        keys = ", ".join(
            f"`{name}`" + ("" if field.is_required() else f" (default {_value(field.default)})")
            for name, field in model.model_fields.items()
            if name != "distribution"
        )
        lines.append(f"| `{tag}` | {keys} | {_doc(model)} |")
    lines.append("")
    for tag, model in PARAMETER_MODELS.items():
        for name, field in model.model_fields.items():
            if name != "distribution" and field.description:
                lines.append(f"- `{tag}.{name}`: {field.description}")
    return "\n".join(lines) + "\n"


def _sections(model: type[BaseModel], prefix: str) -> list[tuple[str, type[BaseModel]]]:
    """The sub-models of ``model`` in field order, depth first, titled by their path."""
    found = []
    for name, field in model.model_fields.items():
        for sub in _models_in(field.annotation):
            if issubclass(sub, _Param):
                continue  # parameters: documented in their own section
            title = f"{prefix}{name}"
            if _is_list_of(field.annotation):
                title += "[]"
            found.append((title, sub))
            found.extend(_sections(sub, f"{title}."))
    return found


def _table(title: str, model: type[BaseModel], *, top: bool = False) -> str:
    lines = [f"### {title}\n"]
    if not top:
        lines.append(_doc(model) + "\n")
    lines.append("| key | type | default | meaning |\n| --- | --- | --- | --- |")
    for name, field in model.model_fields.items():
        mark = " **scanfleet**" if top and name in OUR_ADDITIONS else ""
        lines.append(
            f"| `{name}`{mark} | {_doc_type(field) or _type(field.annotation)} "
            f"| {_default(field)} | {_cell(field.description or '')} |"
        )
    return "\n".join(lines) + "\n"


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _doc_type(field: FieldInfo) -> str | None:
    extra = field.json_schema_extra
    return str(extra["doc_type"]) if isinstance(extra, dict) and "doc_type" in extra else None


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "see below" if isinstance(value, BaseModel) else f"`{value!r}`"
    return _value(field.default)


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        value = value.value
    return f"`{value}`"


def _type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        return " \\| ".join(_type(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"mapping of {_type(args[0])} to {_type(args[1])}"
    if hasattr(annotation, "__metadata__"):
        return _type(args[0])
    return _WORDS.get(annotation, getattr(annotation, "__name__", str(annotation)))


_WORDS: dict[Any, str] = {
    int: "integer",
    float: "number",
    str: "text",
    bool: "`true` \\| `false`",
}


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        for model in _models_in(arg):
            if model not in found:
                found.append(model)
    return found


def _is_list_of(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(_is_list_of(arg) for arg in get_args(annotation))


if __name__ == "__main__":
    print(render_reference(), end="")
