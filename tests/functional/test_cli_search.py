"""`scanfleet scans best|seeds|tag|export --tag` and the SDK behind them, against the real
local server (trials run by hand through the SDK)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from scanfleet.cli import main
from scanfleet.client import Client, ConflictError, Scan

TWO_METRICS = {
    "strategy": "grid",
    "metrics": [{"name": "error", "goal": "minimize"}, {"name": "ms", "goal": "minimize"}],
    "parameters": {"size": {"values": [1, 2, 3, 4]}},
}


def run_all(scan: Scan, values_of: object) -> None:
    for trial in scan.work(poll=0.01):
        trial.complete(values_of(trial.params))  # type: ignore[operator]


def test_best_shows_the_pareto_front_and_seeds_report_mean_and_spread(
    client: Client, api: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = client.create_scan("mo", TWO_METRICS)
    with pytest.raises(ConflictError) as caught:
        scan.gather_seeds(3)
    assert caught.value.code == "no_best_trial"
    # size 1..4: error falls, ms rises, except size 3, which size 2 beats on both
    table = {1: (0.4, 1.0), 2: (0.2, 2.0), 3: (0.3, 3.0), 4: (0.1, 4.0)}
    run_all(scan, lambda p: dict(zip(("error", "ms"), table[p["size"]], strict=True)))
    front = scan.best_trials()
    assert sorted(t.params["size"] for t in front) == [1, 2, 4]

    assert main(["scans", "best", scan.id, *api]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Pareto front: 3 trials"
    assert sorted(json.loads(line)["params"]["size"] for line in lines[1:]) == [1, 2, 4]

    assert main(["scans", "seeds", scan.id, *api]) == 1
    assert "no seed runs yet" in capsys.readouterr().out
    assert main(["scans", "seeds", scan.id, *api, "--n", "3"]) == 0
    assert scan.refresh().status.value == "RUNNING"
    runs = [t for t in scan.trials() if "seed" in t.params]
    assert sorted(t.params["seed"] for t in runs) == [0, 1, 2]
    run_all(scan, lambda p: {"error": 0.1 + 0.01 * p["seed"], "ms": 4.0})
    assert main(["scans", "seeds", scan.id, *api, "--sem"]) == 0
    out = capsys.readouterr().out
    assert "3/3 finished" in out and "error: 0.11 ± 0.00577" in out and "(sem, n=3)" in out
    assert scan.refresh().status.value == "COMPLETED"

    best_id = scan.best_trial().id  # type: ignore[union-attr]
    assert main(["scans", "tag", best_id, *api, "note=chosen", "by:cli"]) == 0
    assert json.loads(capsys.readouterr().out)["tags"] == {"note": "chosen", "by": "cli"}
    assert main(["scans", "tag", best_id, *api, "no-separator"]) == 2
    out_csv = tmp_path / "seeds.csv"
    assert main(["scans", "export", scan.id, *api, "--tag", f"seed_of:{best_id}",
                 "-o", str(out_csv)]) == 0  # fmt: skip
    rows = list(csv.DictReader(out_csv.open()))
    assert sorted(r["param.seed"] for r in rows) == ["0", "1", "2"]
    out_json = tmp_path / "chosen.json"
    assert main(["scans", "export", scan.id, *api, "--format", "json", "--tag", "note:chosen",
                 "-o", str(out_json)]) == 0  # fmt: skip
    assert [t["trial_id"] for t in json.loads(out_json.read_text())] == [best_id]
