"""Valid configs: every key of the Picsellia scan document, in each of its forms, and our
additions; what a config says, as a summary for people."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scanfleet.config import (
    CategoricalParam,
    ConfigError,
    ConstantParam,
    DiscreteUniformParam,
    ExecutionType,
    Goal,
    IntUniformParam,
    LogUniformParam,
    ScanConfig,
    Strategy,
    UniformParam,
    load_config,
)

from tests.unit.config.configs import optuna_config, picsellia_example


def test_the_picsellia_example_validates_with_its_defaults() -> None:
    config = load_config(picsellia_example())
    assert config.strategy is Strategy.GRID
    assert config.execution.type is ExecutionType.AGENTS
    assert config.metric.name == "Loss-total_loss" and config.metric.goal is Goal.MINIMIZE
    assert config.script is None  # '' means none
    assert config.max_run == 100
    assert config.base_model == "picsell/ssd-mobilenet-v2-640-fpnlite"
    assert config.dataset == "SampleDataset/first"
    params = config.parameters
    assert isinstance(params["batch_size"], CategoricalParam)
    assert params["batch_size"].values == [2, 4, 8]
    assert isinstance(params["learning_rate"], CategoricalParam)
    assert params["learning_rate"].values == [1e-3, 1e-4, 1e-5]
    assert isinstance(params["steps"], ConstantParam) and params["steps"].value == 1000
    assert params["annotation_type"] == ConstantParam(value="rectangle")


def test_the_picsellia_example_makes_a_3x3_grid_with_the_constants_in_every_cell() -> None:
    from scanfleet.search import GridStrategy

    cells = list(GridStrategy(load_config(picsellia_example())).iter_params())
    assert len(cells) == 9
    assert all(c["steps"] == 1000 and c["annotation_type"] == "rectangle" for c in cells)


def test_every_key_of_the_picsellia_document_is_accepted() -> None:
    config = load_config(
        {
            "execution": {"type": "remote", "max_worker": 4},
            "image": "picsellpn/custom-run:1.0",
            "script": "train.py",
            "requirements": {"package": "tensorflow", "version": "2.3.1"},
            "strategy": "optuna",
            "max_run": 256,
            "early_stopping": {
                "hyperband": {"min_iter": 100, "max_iter": 1000, "reduction_factor": 3}
            },
            "metric": {"name": "loss", "goal": "maximize"},
            "parameters": {
                "a": {"value": 0.0001},
                "b": {"values": ["relu", "elu", "selu"]},
                "c": {"distribution": "constant", "value": 0.3546},
                "d": {"distribution": "categorical", "values": ["relu", "elu"]},
                "e": {"distribution": "uniform", "min": 1e-5, "max": 1e-2},
                "f": {"distribution": "int_uniform", "min": 2, "max": 16, "step": 2},
                "g": {"distribution": "discrete_uniform", "min": 0.1, "max": 1, "q": 0.1},
                "h": {"distribution": "log_uniform", "min": 1e-2, "max": 1e3},
            },
            "base_model": "picsell/faster-rcnn-resnet-640",
            "dataset": "SampleDataset/first",
        }
    )
    assert config.execution.type is ExecutionType.REMOTE and config.execution.max_worker == 4
    assert config.max_run == 256 and config.metric.goal is Goal.MAXIMIZE
    assert config.early_stopping is not None and config.early_stopping.hyperband is not None
    assert config.early_stopping.hyperband.max_iter == 1000
    kinds = {name: type(spec) for name, spec in config.parameters.items()}
    assert kinds == {
        "a": ConstantParam,
        "b": CategoricalParam,
        "c": ConstantParam,
        "d": CategoricalParam,
        "e": UniformParam,
        "f": IntUniformParam,
        "g": DiscreteUniformParam,
        "h": LogUniformParam,
    }
    f = config.parameters["f"]
    assert isinstance(f, IntUniformParam) and (f.low, f.high, f.step) == (2, 16, 2)
    assert config.requirement_specs() == ["tensorflow==2.3.1"]


def test_min_and_max_alone_are_a_uniform_parameter() -> None:
    config = load_config(optuna_config(parameters={"d": {"min": 0, "max": 1}}))
    assert config.parameters["d"] == UniformParam(min=0, max=1)


def test_int_uniform_takes_whole_floats_as_integers() -> None:
    spec = {"distribution": "int_uniform", "min": 2.0, "max": 8.0}
    config = load_config(optuna_config(parameters={"n": spec}))
    assert config.model_dump()["parameters"]["n"] == {
        "distribution": "int_uniform",
        "min": 2,
        "max": 8,
        "step": 1,
    }


@pytest.mark.parametrize(
    "requirements, specs",
    [
        ({"package": "tensorflow", "version": "2.3.1"}, ["tensorflow==2.3.1"]),
        ([{"package": "torch", "version": "2.1"}, {"package": "numpy"}], ["torch==2.1", "numpy"]),
        (["torch==2.1", "np>=1.26,<2", "x[gpu]==1"], ["torch==2.1", "np>=1.26,<2", "x[gpu]==1"]),
        ({"package": "tensorflow", "version": 2.3}, ["tensorflow==2.3"]),
        ("", []),
        (None, []),
    ],
    ids=["one mapping", "list of mappings", "list of strings", "numeric version", "empty", "none"],
)  # fmt: skip
def test_requirements_in_every_form_give_pip_specs(requirements: object, specs: list[str]) -> None:
    config = load_config(optuna_config(requirements=requirements))
    assert config.requirement_specs() == specs


def test_a_requirements_path_is_kept_as_given_and_read_from_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "requirements.txt").write_text(
        "# pinned for the scan\ntorch==2.1  # cuda 12\n\nnumpy>=1.26 \\\n  ,<2\n"
        "--index-url https://example.invalid/simple\n-r extra.txt\n"
    )
    (tmp_path / "env" / "extra.txt").write_text("pandas\n-r requirements.txt\n")
    path = tmp_path / "scan.yaml"
    path.write_text(
        "strategy: grid\nmetric: {name: loss}\nrequirements: env/requirements.txt\n"
        "parameters: {a: {values: [1, 2]}}\n"
    )
    monkeypatch.chdir(tmp_path / "env")  # not the config's folder
    config = load_config(path)
    assert config.requirements == "env/requirements.txt"
    assert config.model_dump()["requirements"] == "env/requirements.txt"
    assert config.requirement_specs() == ["torch==2.1", "numpy>=1.26 ,<2", "pandas"]


def test_a_requirements_path_of_a_dict_config_is_read_from_the_folder_given(
    tmp_path: Path,
) -> None:
    (tmp_path / "requirements.txt").write_text("rich\n")
    config = load_config(optuna_config(requirements="requirements.txt"))
    assert config.requirement_specs(tmp_path) == ["rich"]
    assert config.requirement_specs(str(tmp_path)) == ["rich"]


def test_a_missing_requirements_file_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(optuna_config(requirements="nowhere/requirements.txt"))
    with pytest.raises(ConfigError) as caught:
        config.requirement_specs(tmp_path)
    assert [p.path for p in caught.value.problems] == ["requirements"]
    assert "nowhere/requirements.txt" in caught.value.problems[0].message


def test_a_command_string_is_split_like_a_shell_would() -> None:
    config = load_config(optuna_config(command="python train.py --note 'two words' --n 3"))
    assert config.command == ["python", "train.py", "--note", "two words", "--n", "3"]
    listed = load_config(optuna_config(command=["torchrun", "--nproc", 2, "train.py"]))
    assert listed.command == ["torchrun", "--nproc", "2", "train.py"]
    assert load_config(optuna_config(command="")).command is None


def test_our_additions_are_accepted() -> None:
    config = load_config(
        {
            "strategy": "grid",
            "metric": {"name": "val_loss", "goal": "minimize", "regex": r"val_loss=(\S+)"},
            "command": "python train.py",
            "parameters": {"opt": {"values": ["adam", "sgd"]}, "mom": {"values": [0.0]}},
            "optuna": {"sampler": "cmaes", "seed": 7, "n_startup_trials": 5},
            "conditions": [{"when": {"opt": "sgd"}, "set": {"mom": [0.9, 0.99]}}],
            "tags": {"team": "vision", "dataset_version": 3},
            "completion": {"target": 0.1, "patience": 20, "max_failed": 3},
            "resources": {"gpus": 2},
            "retries": {"max_errors": 1, "max_preemptions": 10},
            "execution": {"type": "agents", "max_worker": 2, "lease_seconds": 30},
        }
    )
    assert config.metric.regex == r"val_loss=(\S+)"
    assert config.optuna.sampler == "cmaes" and config.optuna.seed == 7
    assert config.conditions[0].when == {"opt": ["sgd"]}  # one value is a list of one
    assert config.tags == {"team": "vision", "dataset_version": "3"}
    assert config.completion.patience == 20 and config.resources.gpus == 2
    assert config.retries.max_preemptions == 10 and config.execution.lease_seconds == 30


@pytest.mark.parametrize("pruner", ["hyperband", "successive_halving", "median"])
def test_a_pruner_alone_without_settings_takes_its_defaults(pruner: str) -> None:
    config = load_config(optuna_config(early_stopping={pruner: None}))
    assert config.early_stopping is not None
    assert getattr(config.early_stopping, pruner) is not None


def test_defaults_of_our_additions_leave_a_picsellia_scan_unchanged() -> None:
    config = load_config(picsellia_example())
    assert config.command is None and config.conditions == [] and config.tags == {}
    assert config.completion.target is None and config.completion.patience is None
    assert config.optuna.sampler == "tpe" and config.optuna.constant_liar is True
    assert config.early_stopping is None and config.requirements is None


def test_a_dump_loads_back_to_the_same_config() -> None:
    config = load_config(
        optuna_config(
            command="python train.py",
            requirements=["torch>=2.1", "numpy"],
            early_stopping={"median": {}},
            execution={"type": "remote", "max_worker": 3},
            parameters={
                "lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1},
                "n": {"distribution": "int_uniform", "min": 2, "max": 16, "step": 2},
                "q": {"distribution": "discrete_uniform", "min": 0, "max": 1, "q": 0.25},
                "act": {"values": ["relu", "elu"]},
                "k": {"value": None},
            },
        )
    )
    assert load_config(config.model_dump(mode="json")) == config
    assert ScanConfig.model_validate_json(config.model_dump_json()) == config


def test_a_loaded_scan_config_is_returned_as_it_is() -> None:
    config = load_config(picsellia_example())
    assert load_config(config) is config


def test_the_summary_says_strategy_metric_max_run_parameters_and_execution() -> None:
    config = load_config(
        optuna_config(
            max_run=50,
            optuna={"seed": 3},
            execution={"type": "remote", "max_worker": 4},
            image="me/train:1",
            early_stopping={"hyperband": {"min_iter": 1, "max_iter": 27}},
            parameters={
                "lr": {"distribution": "log_uniform", "min": 1e-5, "max": 0.1},
                "layers": {"distribution": "int_uniform", "min": 2, "max": 16, "step": 2},
                "q": {"distribution": "discrete_uniform", "min": 0.1, "max": 1, "q": 0.1},
                "act": {"values": ["relu", "elu"]},
                "epochs": {"value": 20},
            },
        )
    )
    assert config.summary().splitlines() == [
        "strategy: optuna (tpe sampler, seed 3)",
        "metric: loss (minimize)",
        "max_run: 50",
        "execution: remote, 4 at once; runs image me/train:1",
        "parameters:",
        "  lr:     log_uniform in [1e-05, 0.1]",
        "  layers: int_uniform in [2, 16], step 2",
        "  q:      discrete_uniform in [0.1, 1], q 0.1",
        "  act:    one of ['relu', 'elu']",
        "  epochs: constant 20",
        "early stopping: hyperband (min_iter 1, max_iter 27, reduction_factor 3)",
    ]


def test_the_summary_of_a_random_scan_names_its_seed_only() -> None:
    summary = load_config(optuna_config(strategy="random", optuna={"seed": 5})).summary()
    assert summary.splitlines()[0] == "strategy: random (seed 5)"
    assert load_config(optuna_config(strategy="random")).summary().startswith("strategy: random\n")


def test_the_summary_of_the_picsellia_example() -> None:
    summary = load_config(picsellia_example()).summary()
    assert summary.splitlines()[:5] == [
        "strategy: grid",
        "metric: Loss-total_loss (minimize)",
        "max_run: 100",
        "execution: agents, 1 at once",
        "parameters:",
    ]
    assert "  batch_size:      one of [2, 4, 8]" in summary
    assert "  annotation_type: constant 'rectangle'" in summary


def test_importing_the_config_loads_neither_optuna_nor_boto3() -> None:
    code = (
        "import sys, scanfleet.config as c; c.load_config({'strategy': 'grid', "
        "'metric': {'name': 'l'}, 'parameters': {'a': {'values': [1]}}}).summary(); "
        "print(sorted(m for m in ('optuna', 'boto3', 'botocore', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
