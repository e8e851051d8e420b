"""Sources of a config: a dict, YAML or JSON text, a file. Unreadable input is a
ConfigError, never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from scanfleet.config import CategoricalParam, ConfigError, Strategy, load_config

from tests.unit.config.configs import PICSELLIA_EXAMPLE

PICSELLIA_YAML = """\
script: ''
execution:
  type: agents
strategy: grid
metric: {name: Loss-total_loss, goal: minimize}
parameters:
  batch_size: {values: [2, 4, 8]}
  learning_rate: {values: [1e-3, 1e-4, 1e-5]}
  steps: {value: 1000}
  annotation_type: {value: rectangle}
base_model: picsell/ssd-mobilenet-v2-640-fpnlite
dataset: SampleDataset/first
"""


def test_yaml_text_json_text_and_a_dict_give_the_same_config() -> None:
    from_yaml = load_config(PICSELLIA_YAML)
    assert from_yaml == load_config(json.dumps(PICSELLIA_EXAMPLE))
    assert from_yaml == load_config(PICSELLIA_EXAMPLE)


def test_yaml_exponents_without_a_dot_are_numbers() -> None:
    learning_rate = load_config(PICSELLIA_YAML).parameters["learning_rate"]
    assert isinstance(learning_rate, CategoricalParam)
    assert learning_rate.values == [1e-3, 1e-4, 1e-5]  # not the strings '1e-3', ...


def test_yaml_and_json_files_load_from_a_path_or_its_text(tmp_path: Path) -> None:
    yaml_path = tmp_path / "scan.yaml"
    yaml_path.write_text(PICSELLIA_YAML)
    json_path = tmp_path / "scan.json"
    json_path.write_text(json.dumps(PICSELLIA_EXAMPLE, indent=2))
    assert load_config(yaml_path).strategy is Strategy.GRID
    assert load_config(str(yaml_path)) == load_config(json_path) == load_config(str(json_path))


def test_a_missing_file_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no such config file: /no/such/scan.yaml"):
        load_config("/no/such/scan.yaml")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(Path("scan-that-is-not-here.yaml"))


def test_a_folder_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_a_yaml_syntax_error_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "scan.yaml"
    path.write_text("strategy: grid\nparameters: {a: [1, 2}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    (problem,) = caught.value.problems
    assert problem.path == ""
    assert "not valid YAML (line 2" in problem.message and str(path) in problem.message


def test_yaml_syntax_errors_in_text_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config("strategy: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML or JSON"):
        load_config('{"strategy": "grid",')


def test_a_json_syntax_error_in_a_json_file_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "scan.json"
    path.write_text('{\n  "strategy": "grid",\n}\n')
    with pytest.raises(ConfigError, match=r"not valid JSON \(line 3, column 1\)"):
        load_config(path)


def test_a_key_given_twice_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "scan.yaml"
    path.write_text("strategy: grid\nmetric: {name: loss}\nstrategy: optuna\n")
    with pytest.raises(ConfigError, match="found the key 'strategy' twice"):
        load_config(path)


@pytest.mark.parametrize(
    "source, message",
    [
        ("- just\n- a list\n", "must be a mapping of keys (got a list)"),
        ("", "must be a mapping of keys (got nothing)"),
        ("just text: [1]\n---\nsecond: doc", "not valid YAML"),
        ("strategy: !!python/object:os.system {}\n", "not valid YAML"),
    ],
    ids=["a list", "empty text", "two documents", "an unsafe tag"],
)
def test_a_document_that_is_no_mapping_is_a_config_error(source: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(source)


def test_a_config_error_from_a_file_never_shows_a_traceback_in_its_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scan.yaml"
    path.write_bytes(b"strategy: \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read") as caught:
        load_config(path)
    assert "Traceback" not in str(caught.value)
