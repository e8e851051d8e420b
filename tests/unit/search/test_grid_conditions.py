"""Grid conditions as hypnettorch's template defines them: applied in order, each tested
once, the listed values searched instead."""

from __future__ import annotations

from typing import Any

from scanfleet.config import load_config
from scanfleet.search import GridStrategy


def grid(parameters: dict[str, Any], conditions: list[dict[str, Any]]) -> GridStrategy:
    return GridStrategy(
        load_config({"strategy": "grid", "metric": {"name": "m"}, "parameters": parameters,
                     "conditions": conditions})
    )  # fmt: skip


def test_the_templates_condition_replaces_the_value_where_the_key_matches() -> None:
    # hypnettorch: conditions = [({'option1': [1]}, {'option2': [-1]})]
    g = grid(
        {"option1": {"values": [1, 2]}, "option2": {"values": [0.1, 0.5]}},
        [{"when": {"option1": 1}, "set": {"option2": -1}}],
    )
    assert sorted(map(lambda p: (p["option1"], p["option2"]), g.iter_params())) == [
        (1, -1), (1, -1), (2, 0.1), (2, 0.5)
    ]  # fmt: skip
    assert g.count_distinct() == 3


def test_an_earlier_condition_is_never_tested_again() -> None:
    # condition 2 makes condition 1's key match, but condition 1 has had its turn
    g = grid(
        {"a": {"values": [0, 1]}, "b": {"values": ["x"]}},
        [
            {"when": {"a": 1}, "set": {"b": ["y"]}},
            {"when": {"a": 0}, "set": {"a": [1]}},
        ],
    )
    cells = {(p["a"], p["b"]) for p in g.iter_params()}
    assert cells == {(1, "y"), (1, "x")}  # (1, "x") came from condition 2, untouched by 1
    assert g.count_distinct() == 2


def test_a_later_condition_sees_what_an_earlier_one_set() -> None:
    g = grid(
        {"opt": {"values": ["sgd", "adam"]}, "beta2": {"values": [0.9, 0.99, 0.999]}},
        [
            {"when": {"opt": "sgd"}, "set": {"beta2": [0.0]}},
            {"when": {"beta2": 0.0}, "set": {"opt": ["sgd-nesterov", "sgd"]}},
        ],
    )
    cells = {(p["opt"], p["beta2"]) for p in g.iter_params()}
    assert cells == {("sgd", 0.0), ("sgd-nesterov", 0.0)} | {
        ("adam", b) for b in (0.9, 0.99, 0.999)
    }
    assert g.count_distinct() == 5


def test_a_condition_may_set_a_value_the_grid_does_not_list(tmp_path: Any) -> None:
    from scanfleet.service import ScanFinishedError, ScanService
    from scanfleet.store import SQLiteTrialStore

    service = ScanService(SQLiteTrialStore(tmp_path / "db"))
    config = {"strategy": "grid", "metric": {"name": "m"},
              "parameters": {"opt": {"values": ["sgd", "adam"]}, "lr": {"values": [0.1]}},
              "conditions": [{"when": {"opt": "adam"}, "set": {"lr": [1e-3, 1e-4]}}]}  # fmt: skip
    scan, _ = service.create_scan("c", config, owner="o")
    ran = []
    while True:
        try:
            trial = service.claim_next_trial(scan.scan_id, "w", owner="o")
        except ScanFinishedError:
            break
        assert trial is not None
        ran.append((trial.params["opt"], trial.params["lr"]))
        service.complete(trial.trial_id, 1.0, owner="o")
    assert sorted(ran) == [("adam", 1e-4), ("adam", 1e-3), ("sgd", 0.1)]
