"""Every invalid config is rejected with one ConfigError that lists each problem at its
user-facing field path, saying what would be valid."""

from __future__ import annotations

import pytest
from scanfleet.config import ConfigError, load_config

from tests.unit.config.configs import optuna_config, picsellia_example, rejected, with_parameter


def test_an_unknown_strategy_lists_the_strategies_allowed() -> None:
    err = rejected(optuna_config(strategy="bayes"), "strategy", "'grid'", "'optuna'", "'pbt'")
    assert "(got 'bayes')" in str(err)


def test_a_misspelt_strategy_gets_a_suggestion() -> None:
    rejected(optuna_config(strategy="optnua"), "strategy", "did you mean 'optuna'?")


def test_a_missing_metric_is_required_and_described() -> None:
    config = optuna_config()
    del config["metric"]
    rejected(config, "metric", "required", "name, goal")


def test_a_metric_given_as_text_asks_for_a_mapping() -> None:
    rejected(optuna_config(metric="loss"), "metric", "mapping with keys name, goal")


def test_a_goal_other_than_minimize_or_maximize_is_rejected() -> None:
    rejected(
        optuna_config(metric={"name": "loss", "goal": "lowest"}),
        "metric.goal",
        "'minimize' or 'maximize'",
        "(got 'lowest')",
    )


def test_a_distribution_in_a_grid_scan_is_named_by_its_parameter() -> None:
    config = with_parameter({"distribution": "uniform", "min": 0, "max": 1}, strategy="grid")
    rejected(config, "parameters.p", "grid", "'value' or 'values'", "optuna or random")


def test_every_distribution_of_a_grid_scan_is_listed() -> None:
    config = picsellia_example()
    config["parameters"]["lr"] = {"distribution": "log_uniform", "min": 1e-5, "max": 1}
    config["parameters"]["n"] = {"distribution": "int_uniform", "min": 1, "max": 4}
    err = rejected(config, "parameters.lr", "grid")
    assert [p.path for p in err.problems] == ["parameters.lr", "parameters.n"]


def test_min_not_below_max_is_rejected_at_min() -> None:
    config = with_parameter({"distribution": "uniform", "min": 2, "max": 1})
    rejected(config, "parameters.p.min", "less than max", "min 2, max 1")


def test_equal_bounds_are_rejected_too() -> None:
    rejected(with_parameter({"min": 1, "max": 1}), "parameters.p.min", "less than max")


def test_log_uniform_needs_a_positive_min() -> None:
    config = with_parameter({"distribution": "log_uniform", "min": 0, "max": 1})
    rejected(config, "parameters.p.min", "greater than 0 for log_uniform", "(got 0)")


def test_int_uniform_needs_whole_bounds() -> None:
    config = with_parameter({"distribution": "int_uniform", "min": 1.5, "max": 4.2})
    err = rejected(config, "parameters.p.min", "whole number", "(got 1.5)")
    rejected(config, "parameters.p.max", "whole number", "(got 4.2)")
    assert len(err.problems) == 2


def test_int_uniform_needs_a_positive_step() -> None:
    config = with_parameter({"distribution": "int_uniform", "min": 1, "max": 4, "step": 0})
    rejected(config, "parameters.p.step", "greater than 0", "(got 0)")


def test_int_uniform_needs_a_whole_step() -> None:
    config = with_parameter({"distribution": "int_uniform", "min": 1, "max": 4, "step": 0.5})
    rejected(config, "parameters.p.step", "whole number")


def test_discrete_uniform_needs_q() -> None:
    config = with_parameter({"distribution": "discrete_uniform", "min": 0, "max": 1})
    rejected(config, "parameters.p.q", "required", "step of discretisation")


def test_discrete_uniform_needs_a_positive_q() -> None:
    config = with_parameter({"distribution": "discrete_uniform", "min": 0, "max": 1, "q": -0.1})
    rejected(config, "parameters.p.q", "greater than 0", "(got -0.1)")


def test_value_and_values_together_are_rejected() -> None:
    rejected(with_parameter({"value": 1, "values": [1, 2]}), "parameters.p", "not both")


def test_empty_values_are_rejected() -> None:
    rejected(with_parameter({"values": []}), "parameters.p.values", "must not be empty")


def test_a_value_that_is_no_scalar_is_rejected_once() -> None:
    err = rejected(
        with_parameter({"values": [1, {"a": 2}]}), "parameters.p.values.1", "a number, text"
    )
    assert len(err.problems) == 1  # not one per member of the scalar union


def test_an_unknown_distribution_lists_the_distributions() -> None:
    config = with_parameter({"distribution": "log-uniform", "min": 1, "max": 2})
    rejected(
        config,
        "parameters.p.distribution",
        "constant, categorical, uniform, int_uniform, discrete_uniform, log_uniform",
        "did you mean 'log_uniform'?",
    )


def test_a_parameter_that_is_not_a_mapping_shows_the_forms() -> None:
    rejected(with_parameter(0.01), "parameters.p", "{value: x}", "(got 0.01)")


def test_a_parameter_with_no_known_key_shows_the_forms() -> None:
    rejected(with_parameter({}), "parameters.p", "'value', 'values' or 'distribution'")


def test_non_finite_bounds_are_rejected() -> None:
    config = with_parameter({"distribution": "uniform", "min": 0, "max": float("inf")})
    rejected(config, "parameters.p.max", "finite")


def test_max_run_below_one_is_rejected() -> None:
    rejected(optuna_config(max_run=0), "max_run", "greater than or equal to 1", "(got 0)")


def test_max_worker_below_one_is_rejected() -> None:
    config = optuna_config(execution={"type": "agents", "max_worker": 0})
    rejected(config, "execution.max_worker", "greater than or equal to 1", "(got 0)")


def test_remote_execution_needs_an_image_a_script_or_a_command() -> None:
    config = optuna_config(execution={"type": "remote", "max_worker": 4}, script="")
    rejected(config, "execution.type", "'image', 'script' or 'command'")


def test_hyperband_min_iter_above_max_iter_is_rejected() -> None:
    config = optuna_config(
        early_stopping={"hyperband": {"min_iter": 10, "max_iter": 5, "reduction_factor": 3}}
    )
    rejected(config, "early_stopping.hyperband.min_iter", "must not exceed max_iter")


def test_hyperband_reduction_factor_below_two_is_rejected() -> None:
    config = optuna_config(early_stopping={"hyperband": {"reduction_factor": 1}})
    rejected(config, "early_stopping.hyperband.reduction_factor", "greater than or equal to 2")


def test_two_pruners_are_rejected() -> None:
    config = optuna_config(early_stopping={"hyperband": {}, "median": {}})
    rejected(config, "early_stopping", "exactly one", "hyperband and median")


def test_an_unknown_top_level_key_suggests_the_closest() -> None:
    rejected(
        {**optuna_config(), "metrc": {}}, "metrc", "unknown key 'metrc'", "did you mean 'metric'?"
    )


def test_an_unknown_nested_key_suggests_the_closest() -> None:
    config = optuna_config(execution={"type": "agents", "max_workers": 2})
    rejected(config, "execution.max_workers", "did you mean 'max_worker'?")


def test_an_unknown_key_inside_a_parameter_suggests_the_closest() -> None:
    config = with_parameter({"distribution": "int_uniform", "min": 1, "max": 9, "stepp": 2})
    rejected(config, "parameters.p.stepp", "did you mean 'step'?")


def test_an_unknown_key_instead_of_values_suggests_values() -> None:
    rejected(with_parameter({"valuse": [1, 2]}), "parameters.p.valuse", "did you mean 'values'?")


def test_an_unknown_key_inside_early_stopping_suggests_the_closest() -> None:
    config = optuna_config(early_stopping={"hyperbnd": {"min_iter": 1}})
    rejected(config, "early_stopping.hyperbnd", "did you mean 'hyperband'?")
    config = optuna_config(early_stopping={"hyperband": {"min_itr": 1}})
    rejected(config, "early_stopping.hyperband.min_itr", "did you mean 'min_iter'?")


def test_an_unknown_key_far_from_any_lists_the_keys_allowed() -> None:
    config = optuna_config(resources={"memory": "16G"})
    rejected(config, "resources.memory", "allowed here: gpus")


def test_a_bad_requirement_is_named_by_its_position() -> None:
    config = optuna_config(requirements=[{"package": "numpy"}, {"pkg": "torch"}])
    err = rejected(config, "requirements.1.pkg", "did you mean 'package'?")
    assert "requirements.1.package" in {p.path for p in err.problems}
    assert not any("list" in p.path.split(".") for p in err.problems)  # no union tags


def test_requirements_of_another_form_list_the_forms() -> None:
    rejected(optuna_config(requirements=5), "requirements", "path of a requirements file")


def test_an_unbalanced_command_is_rejected() -> None:
    rejected(optuna_config(command="python 'train.py"), "command", "shell-like", "quotation")


def test_a_metric_regex_that_does_not_compile_is_rejected() -> None:
    config = optuna_config(metric={"name": "loss", "regex": "loss=("})
    rejected(config, "metric.regex", "regular expression")


def test_a_condition_on_an_unknown_parameter_is_rejected() -> None:
    config = picsellia_example()
    config["conditions"] = [{"when": {"batch_sise": 2}, "set": {"steps": [10, 20]}}]
    rejected(config, "conditions.0.when.batch_sise", "not a parameter", "'batch_size'")


def test_conditions_outside_a_grid_scan_are_rejected() -> None:
    config = optuna_config(conditions=[{"when": {"lr": 0.1}, "set": {"lr": 0.2}}])
    rejected(config, "conditions", "grid scans only")


def test_a_parameter_name_that_is_not_text_is_rejected() -> None:
    rejected(optuna_config(parameters={1: {"value": 1}}), "parameters.1", "text")


def test_every_problem_is_listed_at_once() -> None:
    config = {
        "strategy": "grid",
        "max_run": 0,
        "metrc": {"name": "loss"},
        "execution": {"type": "remote"},
        "parameters": {
            "a": {"values": []},
            "b": {"distribution": "uniform", "min": 0, "max": 1},
            "c": {"distribution": "int_uniform", "min": 1, "max": 8, "stepp": 2},
        },
    }
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    paths = [p.path for p in caught.value.problems]
    assert set(paths) == {
        "max_run",
        "metric",
        "metrc",
        "execution.type",
        "parameters.a.values",
        "parameters.b",
        "parameters.c",  # a distribution in a grid scan
        "parameters.c.stepp",
    }
    assert len(paths) == len(set(paths))  # each once
    assert "(8 problems)" in str(caught.value)


def test_a_field_problem_and_a_cross_field_problem_are_listed_together() -> None:
    config = with_parameter({"distribution": "uniform", "min": 0, "max": 1}, strategy="grid")
    config["metric"]["goal"] = "up"
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert [p.path for p in caught.value.problems] == ["metric.goal", "parameters.p"]
