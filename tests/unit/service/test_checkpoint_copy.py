"""A PBT child starts from a copy of its parent's checkpoint, made through the service's
artifact-copy port (here the object store's own copier, over moto's S3)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from scanfleet.artifacts import CheckpointCopier, S3CheckpointStore
from scanfleet.errors import InvalidRequestError
from scanfleet.records import Checkpoint
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

from tests.conftest import FakeClock, moto_s3

PBT = {
    "strategy": "pbt",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1.0}},
    "pbt": {"population_size": 2, "generation_steps": 5, "max_generations": 2, "seed": 3},
}


@pytest.fixture
def s3() -> Iterator[Any]:
    with moto_s3("ckpts") as client:
        yield client


def test_a_pbt_child_starts_from_a_copy_of_its_parents_s3_checkpoint(
    tmp_path: Path, clock: FakeClock, s3: Any
) -> None:
    service = ScanService(
        SQLiteTrialStore(tmp_path / "db.sqlite"),
        now=clock,
        artifacts=CheckpointCopier(root="s3://ckpts/checkpoints", s3_client=s3),
    )
    store = S3CheckpointStore("ckpts", "checkpoints", client=s3)
    scan, _ = service.create_scan("pbt", PBT, owner="me")
    saved: dict[str, str] = {}
    for _ in range(2):  # generation 0: each member saves its weights at step 5
        trial = service.claim_next_trial(scan.scan_id, "w", owner="me")
        assert trial is not None
        folder = tmp_path / trial.trial_id
        folder.mkdir()
        (folder / "weights.bin").write_bytes(trial.trial_id.encode())
        saved[trial.trial_id] = store.upload(folder, trial_id=trial.trial_id, step=5, attempt=1)
        service.checkpoint(trial.trial_id, 5, saved[trial.trial_id], owner="me")
        service.complete(trial.trial_id, trial.params["lr"], owner="me")

    child = service.claim_next_trial(scan.scan_id, "w", owner="me")
    assert child is not None and child.lineage is not None and child.checkpoint is not None
    parent = child.lineage.parent_trial_id
    assert parent in saved and child.lineage.parent_checkpoint_uri == saved[parent]
    assert child.checkpoint.uri == saved[parent].replace(parent, child.trial_id)
    assert child.checkpoint.step == 5
    # the parent's checkpoint goes away (it trains on and discards older ones): the copy stays
    s3.delete_object(Bucket="ckpts", Key=saved[parent].removeprefix("s3://ckpts/") + "/weights.bin")
    store.download(child.checkpoint.uri, tmp_path / "restored")
    assert (tmp_path / "restored" / "weights.bin").read_bytes() == parent.encode()


@pytest.mark.parametrize(
    "recorded, said",
    [("s3://ckpts/checkpoints/{scan}/{trial}/step-0000000005-a1", "no checkpoint at s3://ckpts/"),
     ("s3:///checkpoints/{trial}", "is not inside"),
     ("s3://ckpts/checkpoints/victim/victim-0123/step-0000000005-a1", "is not inside"),
     ("s3://ckpts/checkpoints/{scan}/{scan}-other/step-0000000005-a1", "is not inside")],
    ids=["gone", "no-bucket", "another-owners", "another-trials"],
)  # fmt: skip
def test_a_pbt_child_whose_parents_checkpoint_cannot_be_copied_starts_from_scratch(
    tmp_path: Path,
    clock: FakeClock,
    s3: Any,
    caplog: pytest.LogCaptureFixture,
    recorded: str,
    said: str,
) -> None:
    service = ScanService(
        SQLiteTrialStore(tmp_path / "db.sqlite"),
        now=clock,
        artifacts=CheckpointCopier(root="s3://ckpts/checkpoints", s3_client=s3),
    )
    scan, _ = service.create_scan("pbt", PBT, owner="me")
    for _ in range(2):
        trial = service.claim_next_trial(scan.scan_id, "w", owner="me")
        assert trial is not None
        uri = recorded.format(scan=scan.scan_id, trial=trial.trial_id)
        # recorded as a store written before the location rule may hold it: not trusted
        service.store.record_checkpoint(trial.trial_id, Checkpoint(step=5, uri=uri))
        service.complete(trial.trial_id, trial.params["lr"], owner="me")
    with caplog.at_level(logging.WARNING, logger="scanfleet.service"):
        child = service.claim_next_trial(scan.scan_id, "w", owner="me")
    assert child is not None and child.lineage is not None
    assert child.lineage.generation == 1 and child.checkpoint is None
    assert f"{child.trial_id} starts from scratch: " in caplog.text and said in caplog.text


def test_a_checkpoint_outside_the_trials_folder_is_refused_naming_uri(
    tmp_path: Path, clock: FakeClock, s3: Any
) -> None:
    service = ScanService(
        SQLiteTrialStore(tmp_path / "db.sqlite"),
        now=clock,
        artifacts=CheckpointCopier(root="s3://ckpts/checkpoints", s3_client=s3),
    )
    scan, _ = service.create_scan("pbt", PBT, owner="me")
    trial = service.claim_next_trial(scan.scan_id, "w", owner="me")
    assert trial is not None
    for uri in (
        "s3://ckpts/checkpoints/victim/victim-0123/step-0000000005-a1",
        f"s3://ckpts/checkpoints/{scan.scan_id}/{trial.trial_id}/../victim/x",
        f"s3://other/checkpoints/{scan.scan_id}/{trial.trial_id}/x",
        "/etc",
    ):
        with pytest.raises(InvalidRequestError, match="^uri: ") as raised:
            service.checkpoint(trial.trial_id, 5, uri, owner="me")
        assert raised.value.details == [{"path": "uri", "message": ANY}]
    assert service.store.get_trial(trial.trial_id).checkpoint is None
