"""Schemathesis hooks of tests/functional/test_schemathesis.py (loaded by ``st run`` through
``SCHEMATHESIS_HOOKS``; pytest never imports this module).

A scan config is documented as an object (its schema is docs/config.md, checked by the
API with messages of its own), so a config drawn from that schema is almost never a valid
scan, and a run would never get past ``POST /scans``: every scan, trial, claim and report
after it would be a 404. The hooks give the positive cases of ``POST /scans`` one of a few
real configs, chosen from the generated name (so a fixed seed makes the same choices), and
those of ``POST /scans/{scan_id}/trials`` params inside every one of their spaces (``lr``),
and a worker's ``values`` name the scans' metrics (``loss``, ``acc``) as a real worker's
do; negative cases keep the body schemathesis made, to be refused.
"""

from __future__ import annotations

import zlib
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation

_METRIC = {"name": "loss", "goal": "minimize"}

CONFIGS: list[dict[str, Any]] = [
    # a small grid that finishes: claim, complete, seeds, extend
    {
        "strategy": "grid",
        "max_run": 4,
        "metric": _METRIC,
        "parameters": {"lr": {"values": [0.1, 0.01, 0.001]}},
        "seeds": {"n": 2, "param": "seed"},
        "tags": {"team": "fuzz"},
    },
    # trials added by hand with any params
    {"strategy": "queue", "metric": _METRIC, "parameters": {}},
    # random search with a pruner: reports answer prune decisions
    {
        "strategy": "random",
        "max_run": 6,
        "metric": _METRIC,
        "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1.0}},
        "early_stopping": {"hyperband": {"min_iter": 1, "max_iter": 9}},
    },
    # two metrics: the best trials are a Pareto front
    {
        "strategy": "optuna",
        "max_run": 4,
        "metrics": [_METRIC, {"name": "acc", "goal": "maximize"}],
        "parameters": {"lr": {"distribution": "uniform", "min": 0.01, "max": 0.5}},
    },
    # population-based training: checkpoints carry a trial's lineage
    {
        "strategy": "pbt",
        "max_run": 4,
        "metric": _METRIC,
        "pbt": {"population_size": 2, "generation_steps": 2, "max_generations": 2},
        "parameters": {"lr": {"distribution": "uniform", "min": 0.01, "max": 0.5}},
    },
]


PARAMS = [{"lr": 0.1}, {"lr": 0.01}]  # inside the space of every config above


def _positive_object(case: schemathesis.Case) -> bool:
    meta = case.meta
    negative = meta is not None and meta.is_negative_at(ParameterLocation.BODY)
    return not negative and isinstance(case.body, dict)


def _pick(options: list[dict[str, Any]], seed: object) -> dict[str, Any]:
    return options[zlib.crc32(repr(seed).encode()) % len(options)]


@schemathesis.hook("map_case").apply_to(method="POST", path="/scans")
def a_real_scan_config(context: schemathesis.HookContext, case: schemathesis.Case) -> Any:
    if _positive_object(case):
        body = {**case.body, "config": _pick(CONFIGS, case.body.get("name"))}
        body.pop("script_content", None)  # these configs name no script
        case.body = body
    return case


@schemathesis.hook("map_case").apply_to(method="POST", path="/scans/{scan_id}/trials")
def params_in_the_space(context: schemathesis.HookContext, case: schemathesis.Case) -> Any:
    if _positive_object(case):
        case.body = {**case.body, "params": _pick(PARAMS, case.body.get("tags"))}
    return case


@schemathesis.hook("map_case").apply_to(method="POST", path="/trials/{trial_id}/complete")
def values_of_the_scan_metrics(context: schemathesis.HookContext, case: schemathesis.Case) -> Any:
    if _positive_object(case) and isinstance(case.body.get("values"), dict):
        numbers = [v for v in case.body["values"].values() if isinstance(v, float | int)]
        loss, acc = [*numbers, 0.5, 0.5][:2]
        case.body = {**case.body, "values": {"loss": loss, "acc": acc}}
    return case
