"""PBT's explore step: perturbing stays in range and on the parameter's steps; sampling
draws from the distribution; the default plan."""

from __future__ import annotations

import random

import pytest
from scanfleet.config import Explore, load_config
from scanfleet.search._pbt import explore_plan, perturb, sample

CONFIG = load_config({
    "strategy": "pbt",
    "metric": {"name": "loss"},
    "parameters": {
        "lr": {"distribution": "log_uniform", "min": 1e-4, "max": 0.1},
        "width": {"distribution": "int_uniform", "min": 16, "max": 64, "step": 16},
        "p": {"distribution": "discrete_uniform", "min": 0.0, "max": 0.5, "q": 0.1},
        "act": {"values": ["relu", "gelu"]},
        "epochs": {"value": 5},
    },
})  # fmt: skip
P = CONFIG.parameters


@pytest.mark.parametrize(
    ("name", "value", "factor", "expected"),
    [
        ("lr", 0.01, 1.2, 0.012),
        ("lr", 0.09, 1.2, 0.1),  # clipped to max
        ("lr", 1.1e-4, 0.8, 1e-4),  # clipped to min
        ("width", 32, 1.2, 32),  # 38.4 snaps back to the step
        ("width", 48, 1.2, 64),  # 57.6 → 64
        ("width", 64, 1.2, 64),
        ("p", 0.3, 1.2, 0.4),  # 0.36 → nearest of 0.0, 0.1, ..., 0.5
    ],
)
def test_perturb_stays_in_range_and_on_steps(
    name: str, value: float, factor: float, expected: float
) -> None:
    assert perturb(P[name], value, factor) == pytest.approx(expected)


def test_perturbing_a_category_is_refused() -> None:
    with pytest.raises(TypeError):
        perturb(P["act"], "relu", 1.2)


def test_sample_draws_inside_every_distribution() -> None:
    rng = random.Random(0)
    for _ in range(200):
        assert 1e-4 <= sample(P["lr"], rng) <= 0.1
        assert sample(P["width"], rng) in (16, 32, 48, 64)
        assert round(sample(P["p"], rng), 9) in {0.0, 0.1, 0.2, 0.3, 0.4, 0.5}
        assert sample(P["act"], rng) in ("relu", "gelu")
        assert sample(P["epochs"], rng) == 5


def test_by_default_numbers_perturb_categories_resample_constants_stay() -> None:
    assert explore_plan(CONFIG) == {
        "lr": Explore.PERTURB,
        "width": Explore.PERTURB,
        "p": Explore.PERTURB,
        "act": Explore.RESAMPLE,
    }
