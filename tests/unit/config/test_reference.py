"""docs/config.md is the reference generated from the schema, and what it shows works."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from scanfleet.config import ConfigError, ScanConfig, load_config
from scanfleet.config._document import _Loader
from scanfleet.config._parameters import PARAMETER_MODELS
from scanfleet.config._reference import render_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"
YAML_BLOCKS = re.findall(r"```yaml\n(.*?)```", render_reference(), flags=re.S)
# An example may be a fragment of a config: it is read on top of this one.
BASE: dict[str, Any] = {
    "strategy": "optuna",
    "metric": {"name": "loss"},
    "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1}},
}


def test_the_config_reference_is_generated_from_the_schema() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/config.md drifted: run `python -m scanfleet.config._reference > docs/config.md`"
    )


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=[b.splitlines()[0] for b in YAML_BLOCKS])
def test_every_yaml_example_of_the_reference_is_a_valid_config(block: str) -> None:
    load_config({**BASE, **yaml.load(block, Loader=_Loader)})


def test_the_reference_shows_the_picsellia_example_and_a_section_per_addition() -> None:
    doc = render_reference()
    assert "base_model: picsell/ssd-mobilenet-v2-640-fpnlite" in doc
    for addition in ("command", "metric.regex", "optuna", "conditions", "tags", "completion",
                     "resources", "retries"):  # fmt: skip
        assert f"\n### `{addition}`\n" in doc


def test_the_error_example_of_the_reference_is_what_load_config_says() -> None:
    doc = render_reference()
    example = doc.split("For instance, this config\n\n```text\n")[1].split("```")[0]
    with pytest.raises(ConfigError) as caught:
        load_config(example)
    assert caught.value.message in doc


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        for arg in _annotation_models(field.annotation):
            found += [m for m in _models(arg) if m not in found]
    return found


def _annotation_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _annotation_models(arg)]


def test_every_field_of_the_schema_is_described() -> None:
    models = _models(ScanConfig) + list(PARAMETER_MODELS.values())
    undocumented = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert undocumented == []
    assert all(model.__doc__ for model in models)
