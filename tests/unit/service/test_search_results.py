"""Several metrics (Pareto front), seed gathering, reuse of earlier results, warm starts,
completion criteria and tags — through the service over the real SQLite store."""

from __future__ import annotations

import math
from typing import Any

import pytest
from scanfleet.config import ConfigError
from scanfleet.records import ScanStatus, TrialState
from scanfleet.search import SAMPLER_ATTRS
from scanfleet.service import (
    InvalidValuesError,
    NoBestTrialError,
    ScanService,
)

from tests.conftest import FakeClock
from tests.unit.service.scans import run_to_end

OWNER = "alice"


def two_metrics(sampler: str, **extra: Any) -> dict[str, Any]:
    return {
        "strategy": "optuna",
        "max_run": 24,
        "metrics": [{"name": "error", "goal": "minimize"}, {"name": "speed", "goal": "maximize"}],
        "optuna": {"sampler": sampler, "seed": 5, "n_startup_trials": 6, "population_size": 6},
        "parameters": {"x": {"min": 0, "max": 1}, "y": {"min": 0, "max": 1}},
        **extra,
    }


def tradeoff(p: dict[str, Any]) -> dict[str, float]:
    return {"error": p["x"] ** 2 + 0.1 * p["y"], "speed": p["x"] - 0.5 * p["y"]}


@pytest.mark.parametrize("sampler", ["tpe", "nsga2"])
def test_several_metrics_give_the_pareto_front(service: ScanService, sampler: str) -> None:
    scan, _ = service.create_scan("mo", two_metrics(sampler), owner=OWNER)
    run_to_end(service, scan.scan_id, tradeoff)
    trials = service.list_trials(scan.scan_id, owner=OWNER)
    front = service.best_trials(scan.scan_id, owner=OWNER)
    assert len(trials) == 24 and 1 <= len(front) < 24

    def dominates(a: dict[str, float], b: dict[str, float]) -> bool:
        better_or_equal = a["error"] <= b["error"] and a["speed"] >= b["speed"]
        return better_or_equal and a != b

    front_ids = {t.trial_id for t in front}
    for t in trials:
        beaten = any(dominates(o.values, t.values) for o in trials)
        assert (t.trial_id in front_ids) == (not beaten)
    summary = service.summarize(scan.scan_id, owner=OWNER)
    assert [t.trial_id for t in summary.best_trials] == [t.trial_id for t in front]
    assert summary.best_trial is not None  # by the first metric
    assert summary.best_trial.values["error"] == min(t.values["error"] for t in trials)
    if sampler == "nsga2":  # the sampler's generations survive the stateless rebuilds
        kept = [t.user_attrs.get(SAMPLER_ATTRS, {}) for t in trials]
        key = "NSGAIISampler:generation"
        generations = [a[key] for a in kept if key in a]
        assert generations == sorted(generations) and generations[-1] >= 2


def test_a_metric_left_out_of_complete_is_the_last_one_reported(service: ScanService) -> None:
    scan, _ = service.create_scan("mo", two_metrics("tpe"), owner=OWNER)
    trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert trial is not None
    service.report(trial.trial_id, "speed", 1, 0.5, owner=OWNER)
    service.report(trial.trial_id, "speed", 2, 0.7, owner=OWNER)
    done = service.complete(trial.trial_id, 0.3, owner=OWNER)
    assert done.values == {"error": 0.3, "speed": 0.7}
    other = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert other is not None
    with pytest.raises(InvalidValuesError, match="'speed'"):
        service.complete(other.trial_id, {"error": 0.1}, owner=OWNER)


def grid(**extra: Any) -> dict[str, Any]:
    return {
        "strategy": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [1, 2, 3]}, "b": {"values": [10, 20]}},
        **extra,
    }


def noisy(p: dict[str, Any]) -> dict[str, float]:
    return {"loss": p["a"] * p["b"] + 0.1 * p.get("seed", 0), "acc": 1.0 / p["a"]}


def test_seeds_rerun_the_best_parameters_and_report_mean_and_spread(
    service: ScanService,
) -> None:
    scan, _ = service.create_scan("s", grid(seeds={"n": 4, "sem": True}), owner=OWNER)
    run_to_end(service, scan.scan_id, noisy)
    trials = service.list_trials(scan.scan_id, owner=OWNER)
    assert len(trials) == 6 + 4
    seeds = [t for t in trials if "seed" in t.params]
    assert sorted(t.params["seed"] for t in seeds) == [0, 1, 2, 3]
    assert all({k: v for k, v in t.params.items() if k != "seed"} == {"a": 1, "b": 10}
               for t in seeds)  # fmt: skip
    summary = service.summarize(scan.scan_id, owner=OWNER)
    assert summary.scan.status is ScanStatus.COMPLETED
    assert summary.planned_trials == 10
    assert summary.best_trial is not None and "seed" not in summary.best_trial.params
    s = summary.seeds
    assert s is not None and s.runs == s.finished == 4 and s.spread == "sem"
    losses = [10.0, 10.1, 10.2, 10.3]
    assert s.metrics["loss"].n == 4
    assert s.metrics["loss"].mean == pytest.approx(sum(losses) / 4)
    std = math.sqrt(sum((v - 10.15) ** 2 for v in losses) / 3)
    assert s.metrics["loss"].std == pytest.approx(std)
    assert s.metrics["loss"].sem == pytest.approx(std / 2)
    assert s.metrics["acc"].std == 0.0
    assert s.lines()[0].startswith("loss: 10.15 ± ")


def test_gather_seeds_reopens_a_completed_scan_and_adds_only_missing_seeds(
    service: ScanService,
) -> None:
    scan, _ = service.create_scan("s", grid(), owner=OWNER)
    with pytest.raises(NoBestTrialError):
        service.gather_seeds(scan.scan_id, 3, owner=OWNER)
    run_to_end(service, scan.scan_id, noisy)
    summary = service.gather_seeds(scan.scan_id, 3, owner=OWNER)
    assert summary.runs == 3 and summary.finished == 0
    assert service.get_scan(scan.scan_id, owner=OWNER).status is ScanStatus.RUNNING
    assert len(run_to_end(service, scan.scan_id, noisy)) == 3
    again = service.gather_seeds(scan.scan_id, 5, owner=OWNER)
    assert again.runs == 5 and again.finished == 3
    run_to_end(service, scan.scan_id, noisy)
    final = service.seed_summary(scan.scan_id, owner=OWNER)
    assert final is not None and final.metrics["loss"].n == 5
    assert service.get_scan(scan.scan_id, owner=OWNER).status is ScanStatus.COMPLETED


def test_reuse_from_takes_results_of_identical_trials(service: ScanService) -> None:
    first, _ = service.create_scan("a", grid(), owner=OWNER)
    run_to_end(service, first.scan_id, noisy)
    wider = grid(reuse_from=first.scan_id)
    wider["parameters"]["a"]["values"] = [2, 3, 4]
    second, _ = service.create_scan("b", wider, owner=OWNER)
    ran = run_to_end(service, second.scan_id, noisy)
    trials = service.list_trials(second.scan_id, owner=OWNER)
    assert len(trials) == 6 and len(ran) == 2  # only a=4 ran
    reused = [t for t in trials if "reused_from" in t.tags]
    assert sorted(t.params["a"] for t in reused) == [2, 2, 3, 3]
    earlier = {t.trial_id: t for t in service.list_trials(first.scan_id, owner=OWNER)}
    for t in reused:
        assert t.state is TrialState.COMPLETED and t.attempt == 0 and t.duration_s == 0
        assert t.values == earlier[t.tags["reused_from"]].values
        assert t.params == earlier[t.tags["reused_from"]].params
    assert service.get_scan(second.scan_id, owner=OWNER).status is ScanStatus.COMPLETED


def test_earlier_scans_must_exist_be_yours_and_share_the_space(service: ScanService) -> None:
    first, _ = service.create_scan("a", grid(), owner=OWNER)
    other = {**grid(), "parameters": {"c": {"values": [1, 2]}}}
    with pytest.raises(ConfigError) as caught:
        service.create_scan("b", {**other, "reuse_from": [first.scan_id, "sc0000000000"]},
                            owner=OWNER)  # fmt: skip
    paths = [p.path for p in caught.value.problems]
    assert paths == ["reuse_from.0", "reuse_from.1"]
    with pytest.raises(ConfigError, match="warm_start_from.0"):
        service.create_scan("c", {**optuna_1d(), "warm_start_from": first.scan_id}, owner="mallory")


def optuna_1d(**extra: Any) -> dict[str, Any]:
    return {
        "strategy": "optuna",
        "metric": {"name": "loss", "goal": "minimize"},
        "max_run": 5,
        "optuna": {"seed": 11, "n_startup_trials": 3},
        "parameters": {"a": {"distribution": "int_uniform", "min": 0, "max": 40}},
        **extra,
    }


def test_warm_start_seeds_the_sampler_with_earlier_trials(service: ScanService) -> None:
    earlier = {**grid(), "parameters": {"a": {"values": list(range(0, 41, 2))}}}
    first, _ = service.create_scan("a", earlier, owner=OWNER)
    run_to_end(service, first.scan_id, lambda p: (p["a"] - 30) ** 2)

    def first_suggestions(config: dict[str, Any]) -> list[int]:
        scan, _ = service.create_scan("b", config, owner=OWNER)
        run_to_end(service, scan.scan_id, lambda p: (p["a"] - 30) ** 2)
        return [t.params["a"] for t in service.list_trials(scan.scan_id, owner=OWNER)]

    cold = first_suggestions(optuna_1d())
    warm = first_suggestions(optuna_1d(warm_start_from=[first.scan_id]))
    assert sum(abs(a - 30) for a in warm) < sum(abs(a - 30) for a in cold)
    assert abs(warm[0] - 30) <= 4  # the very first suggestion already knows the region


def test_max_wall_hours_stops_new_trials(service: ScanService, clock: FakeClock) -> None:
    config = {**optuna_1d(max_run=50), "completion": {"max_wall_hours": 1},
              "execution": {"lease_seconds": 86400}}  # fmt: skip
    scan, _ = service.create_scan("w", config, owner=OWNER)
    for _ in range(3):
        trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
        assert trial is not None
        clock.advance(1000)
        service.complete(trial.trial_id, 1.0, owner=OWNER)
    running = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert running is not None
    clock.advance(1000)  # past the hour: no new trial, the running one finishes
    assert service.claim_next_trial(scan.scan_id, "w2", owner=OWNER) is None
    service.complete(running.trial_id, 1.0, owner=OWNER)
    scan = service.get_scan(scan.scan_id, owner=OWNER)
    assert scan.status is ScanStatus.COMPLETED
    assert scan.status_reason is not None and scan.status_reason.startswith("max_wall_hours 1")


def test_max_gpu_hours_counts_every_attempt_times_gpus(
    service: ScanService, clock: FakeClock
) -> None:
    config = {**optuna_1d(max_run=50), "completion": {"max_gpu_hours": 1},
              "resources": {"gpus": 2}, "execution": {"lease_seconds": 86400}}  # fmt: skip
    scan, _ = service.create_scan("g", config, owner=OWNER)
    first = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert first is not None
    clock.advance(600)
    service.fail(first.trial_id, "spot", owner=OWNER, preempted=True)  # 600 s × 2 GPUs
    again = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert again is not None and again.trial_id == first.trial_id
    second = service.claim_next_trial(scan.scan_id, "w2", owner=OWNER)
    assert second is not None
    clock.advance(600)  # two running trials: 1,200 + 2 × 600 × 2 = 3,600 GPU-seconds
    assert service.claim_next_trial(scan.scan_id, "w3", owner=OWNER) is None
    service.complete(first.trial_id, 1.0, owner=OWNER)
    service.complete(second.trial_id, 2.0, owner=OWNER)
    scan = service.get_scan(scan.scan_id, owner=OWNER)
    assert scan.status is ScanStatus.COMPLETED
    assert scan.status_reason == "max_gpu_hours 1 used (1 GPU-hours)"


def test_a_finite_optuna_space_completes_when_exhausted(service: ScanService) -> None:
    config = {**optuna_1d(max_run=50), "parameters": {"a": {"values": [1, 2, 3]}}}
    scan, _ = service.create_scan("f", config, owner=OWNER)
    assert len(run_to_end(service, scan.scan_id, lambda p: float(p["a"]))) == 3
    scan = service.get_scan(scan.scan_id, owner=OWNER)
    assert scan.status is ScanStatus.COMPLETED
    assert scan.status_reason == "search space exhausted (3 distinct points)"


def test_trials_take_tags_and_scans_are_found_by_theirs(service: ScanService) -> None:
    scan, _ = service.create_scan("t", grid(tags={"team": "vision", "gpu": "a10"}), owner=OWNER)
    service.create_scan("u", grid(tags={"team": "nlp"}), owner=OWNER)
    found = service.list_scans(owner=OWNER, tag=("team", "vision"))
    assert [s.scan_id for s in found] == [scan.scan_id]
    trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert trial is not None
    service.complete(trial.trial_id, 1.0, owner=OWNER)
    tagged = service.tag_trial(trial.trial_id, {"note": "baseline"}, owner=OWNER)
    assert tagged.tags == {"note": "baseline"}
    assert service.tag_trial(trial.trial_id, {"k": "v"}, owner=OWNER).tags == {
        "note": "baseline",
        "k": "v",
    }
