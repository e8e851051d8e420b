"""The search examples through the real CLI, `scanfleet local run`, in a temp dir:
population-based training, several metrics, seed gathering, reuse of an earlier scan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from scanfleet.local.auth import TokenStore, owner_id
from scanfleet.records import TrialRecord
from scanfleet.store import SQLiteTrialStore

from tests.e2e.test_local_run import EXAMPLES, rows, scanfleet


def stored_trials(state: Path) -> list[TrialRecord]:
    store = SQLiteTrialStore(state / "scanfleet.db")
    (scan,) = store.list_scans(owner_id(TokenStore(state).default_token))
    return store.list_trials(scan.scan_id)


def test_pbt_members_exploit_with_copied_checkpoints_and_keep_their_lineage(
    tmp_path: Path,
) -> None:
    example = tmp_path / "pbt"
    shutil.copytree(EXAMPLES / "pbt", example)
    done = scanfleet("local", "run", str(example / "scan.yaml"), "--workers", "4", "--plain",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    trials = stored_trials(tmp_path / ".scanfleet")
    assert len(trials) == 24 and all(t.state.value == "COMPLETED" for t in trials)
    by_id = {t.trial_id: t for t in trials}
    exploited = [t for t in trials if t.lineage and t.lineage.exploited]
    assert len(exploited) == 2 * 3  # the bottom 2 of 6 in each of generations 1..3
    for child in exploited:
        assert child.lineage is not None and child.lineage.parent_trial_id is not None
        parent = by_id[child.lineage.parent_trial_id]
        assert parent.lineage is not None
        assert parent.lineage.generation == child.lineage.generation - 1
        assert parent.params["lr"] != child.params["lr"]  # explored: x0.8 or x1.2
        assert child.lineage.explored["lr"] in ("x0.8", "x1.2")
        assert child.lineage.parent_checkpoint_uri == parent.checkpoint.uri  # type: ignore[union-attr]
    # what an exploiting member trained on was a copy of its parent's state: a state saved
    # at the parent's stop step, found in the child's own checkpoint folder
    copies = list((tmp_path / ".scanfleet" / "checkpoints").glob("*/*/step-*"))
    assert len(copies) >= 24
    final = {t.lineage.member: t for t in trials if t.lineage and t.lineage.generation == 3}
    for member in final.values():
        state = json.loads(next(Path(member.checkpoint.uri.removeprefix("file://"))  # type: ignore[union-attr]
                                .glob("state.json")).read_text())  # fmt: skip
        assert state["step"] == 20


def test_several_metrics_give_a_pareto_front_in_best_json(tmp_path: Path) -> None:
    done = scanfleet("local", "run", str(EXAMPLES / "multi_objective" / "scan.yaml"), "--plain",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    out = tmp_path / "scanfleet-results" / "multi_objective"
    table = rows(out / "trials.csv")
    assert len(table) == 20 and all(r["value.error"] and r["value.latency_ms"] for r in table)
    best = json.loads((out / "best.json").read_text())
    front = [(t["values"]["error"], t["values"]["latency_ms"]) for t in best["best_trials"]]
    assert len(front) >= 2
    points = [(float(r["value.error"]), float(r["value.latency_ms"])) for r in table]
    for e, ms in front:  # nothing beats a front trial on both metrics
        assert not any(e2 <= e and m2 <= ms and (e2, m2) != (e, ms) for e2, m2 in points)
    assert "Pareto front of" in done.stdout


def test_seed_runs_then_a_scan_that_reuses_their_results(tmp_path: Path) -> None:
    example = tmp_path / "seeds"
    shutil.copytree(EXAMPLES / "seeds", example)
    done = scanfleet("local", "run", str(example / "scan.yaml"), "--plain", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    out = tmp_path / "scanfleet-results" / "seeds"
    best = json.loads((out / "best.json").read_text())
    seeds = best["seeds"]
    assert seeds["runs"] == seeds["finished"] == 4
    assert seeds["params"] == best["best_trial"]["params"] == {"lr": 0.1, "width": 32}
    assert 0 < seeds["metrics"]["loss"]["std"] < 0.2
    assert "seeds: loss: " in done.stdout
    seed_column = sorted(r["param.seed"] for r in rows(out / "trials.csv"))
    assert seed_column == [""] * 6 + ["0", "1", "2", "3"]

    # a wider grid that reuses the first scan's results runs only its new cells
    first_id = best["scan_id"]
    config = (example / "scan.yaml").read_text()
    config = config.replace("values: [16, 32]", "values: [16, 32, 64]")
    config = config.replace("seeds:\n  n: 4\n  param: seed\n", f"reuse_from: {first_id}\n")
    (example / "wider.yaml").write_text(config)
    done = scanfleet("local", "run", str(example / "wider.yaml"), "--name", "wider", "--plain",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    wider = rows(tmp_path / "scanfleet-results" / "wider" / "trials.csv")
    assert len(wider) == 9 and all(r["state"] == "COMPLETED" for r in wider)
    ran = list((tmp_path / "scanfleet-results" / "wider" / "logs").glob("*.log"))
    assert len(ran) == 3  # width 64 only; the 6 others took the first scan's results


def test_validate_counts_the_trials_grid_conditions_leave(tmp_path: Path) -> None:
    config = tmp_path / "scan.yaml"
    config.write_text(
        "strategy: grid\nmetric: {name: loss}\nparameters:\n"
        "  optimizer: {values: [sgd, adam]}\n  beta2: {values: [0.9, 0.99, 0.999]}\n"
        "conditions:\n  - when: {optimizer: sgd}\n    set: {beta2: [0.0]}\nseeds: 3\n"
    )
    done = scanfleet("validate", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "grid: 6 cells, 4 distinct; 4 trials will run, then 3 seed runs" in done.stdout
