"""Population-based training through the service, over the real SQLite store: lineage,
exploit and explore, checkpoints copied, generations, racing workers."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from scanfleet.records import ScanStatus, TrialRecord
from scanfleet.service import ScanFinishedError, ScanService

OWNER = "alice"


def pbt_config(**pbt: Any) -> dict[str, Any]:
    return {
        "strategy": "pbt",
        "metric": {"name": "loss", "goal": "minimize"},
        "max_run": 100,
        "parameters": {
            "lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1.0},
            "width": {"distribution": "int_uniform", "min": 8, "max": 64, "step": 8},
            "act": {"values": ["relu", "tanh"]},
            "epochs": {"value": 3},
        },
        "pbt": {"population_size": 4, "generation_steps": 5, "max_generations": 3, "seed": 1,
                **pbt},
    }  # fmt: skip


def train(trial: TrialRecord, ckpt_root: Path) -> tuple[float, Path]:
    """What a script does: start from its checkpoint, train to stop_step, save, report."""
    assert trial.lineage is not None
    state = {"steps": 0, "history": []}
    if trial.checkpoint is not None:
        state = json.loads(Path(trial.checkpoint.uri).read_text())
        assert state["steps"] == trial.checkpoint.step
    state["steps"] = trial.lineage.stop_step
    state["history"] = [*state["history"], trial.trial_id]
    path = ckpt_root / trial.scan_id / trial.trial_id / f"step-{state['steps']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state))
    return abs(trial.params["lr"] - 0.01), path


def run_pbt(service: ScanService, scan_id: str, ckpt_root: Path) -> list[TrialRecord]:
    """Runs every trial; returns them as they were claimed (with the checkpoint they
    started from)."""
    claimed = []
    while True:
        try:
            trial = service.claim_next_trial(scan_id, "w", owner=OWNER)
        except ScanFinishedError:
            return claimed
        assert trial is not None
        claimed.append(trial)
        loss, path = train(trial, ckpt_root)
        assert trial.lineage is not None
        service.checkpoint(trial.trial_id, trial.lineage.stop_step, str(path), owner=OWNER)
        service.complete(trial.trial_id, loss, owner=OWNER)


def test_generations_exploit_the_top_and_copy_its_checkpoint(
    service: ScanService, tmp_path: Path
) -> None:
    scan, _ = service.create_scan("pbt", pbt_config(), owner=OWNER)
    trials = run_pbt(service, scan.scan_id, tmp_path / "checkpoints")
    finished = {t.trial_id: t for t in service.list_trials(scan.scan_id, owner=OWNER)}
    summary = service.summarize(scan.scan_id, owner=OWNER)
    assert summary.scan.status is ScanStatus.COMPLETED
    assert summary.scan.status_reason == "3 generations done"
    assert summary.planned_trials == 12
    assert len(trials) == 12
    slots = {(t.lineage.generation, t.lineage.member): t for t in trials if t.lineage}
    assert set(slots) == {(g, m) for g in range(3) for m in range(4)}
    by_id = {t.trial_id: t for t in trials}
    for (generation, member), trial in slots.items():
        lineage = trial.lineage
        assert lineage is not None and lineage.stop_step == 5 * (generation + 1)
        if generation == 0:
            assert lineage.parent_trial_id is None and trial.checkpoint is None
            continue
        previous = [slots[(generation - 1, m)] for m in range(4)]
        ranked = sorted(previous, key=lambda t: finished[t.trial_id].values["loss"])
        parent = by_id[lineage.parent_trial_id or ""]
        parent_saved = finished[parent.trial_id].checkpoint
        assert trial.checkpoint is not None and parent_saved is not None
        # a real copy, at the parent's step, in the child's own place
        assert trial.checkpoint.step == parent_saved.step == 5 * generation
        assert trial.checkpoint.uri != parent_saved.uri
        assert trial.trial_id in trial.checkpoint.uri
        assert lineage.parent_checkpoint_uri == parent_saved.uri
        if slots[(generation - 1, member)] is ranked[-1]:  # the bottom 25% of 4: one member
            assert lineage.exploited and parent is ranked[0]
            assert set(lineage.explored) == {"lr", "width", "act"}
            assert trial.params["epochs"] == 3
        else:
            assert not lineage.exploited and parent is slots[(generation - 1, member)]
            assert trial.params == parent.params
    # what each last-generation trial trained on is its ancestry, through the copies
    for member in range(4):
        trial = finished[slots[(2, member)].trial_id]
        ancestry = [trial.trial_id]
        while (parent_id := by_id[ancestry[0]].lineage.parent_trial_id) is not None:  # type: ignore[union-attr]
            ancestry.insert(0, parent_id)
        assert trial.checkpoint is not None
        assert json.loads(Path(trial.checkpoint.uri).read_text())["history"] == ancestry


def test_explored_values_stay_in_their_ranges(service: ScanService, tmp_path: Path) -> None:
    config = pbt_config(population_size=4, max_generations=6, perturb_factors=[0.1, 10.0])
    scan, _ = service.create_scan("pbt", config, owner=OWNER)
    trials = run_pbt(service, scan.scan_id, tmp_path / "checkpoints")
    assert len(trials) == 24
    for t in trials:
        assert 1e-4 <= t.params["lr"] <= 1.0
        assert t.params["width"] in range(8, 65, 8)
        assert t.params["act"] in ("relu", "tanh")
    assert any(t.lineage and t.lineage.explored.get("lr") == "x10" for t in trials)


def test_the_next_generation_waits_for_the_whole_current_one(service: ScanService) -> None:
    scan, _ = service.create_scan("pbt", pbt_config(), owner=OWNER)
    first = [service.claim_next_trial(scan.scan_id, f"w{i}", owner=OWNER) for i in range(4)]
    assert all(t is not None for t in first)
    for trial in first[:3]:
        assert trial is not None
        service.complete(trial.trial_id, 1.0, owner=OWNER)
    assert service.claim_next_trial(scan.scan_id, "w9", owner=OWNER) is None
    assert first[3] is not None
    service.complete(first[3].trial_id, 2.0, owner=OWNER)
    nxt = service.claim_next_trial(scan.scan_id, "w9", owner=OWNER)
    assert nxt is not None and nxt.lineage is not None and nxt.lineage.generation == 1


def test_racing_workers_create_each_member_of_a_generation_once(
    service: ScanService, tmp_path: Path
) -> None:
    scan, _ = service.create_scan("pbt", pbt_config(population_size=6), owner=OWNER)
    claimed: list[TrialRecord] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def worker(i: int) -> None:
        barrier.wait()
        trial = service.claim_next_trial(scan.scan_id, f"w{i}", owner=OWNER)
        if trial is not None:
            with lock:
                claimed.append(trial)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    members = sorted(t.lineage.member for t in claimed if t.lineage)
    assert members == list(range(6))
    assert len(service.list_trials(scan.scan_id, owner=OWNER)) == 6
