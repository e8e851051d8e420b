"""Copying a parent's checkpoint for a PBT child: a real copy, in the child's place, in a
local folder or in S3 (moto), also through the service when it creates the child."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scanfleet.runtime.checkpoints import CheckpointError, S3CheckpointStore
from scanfleet.service import ScanService
from scanfleet.service._checkpoint_copy import CheckpointCopier
from scanfleet.store import SQLiteTrialStore

from tests.conftest import FakeClock, moto_s3

PARENT, CHILD = "sc1-aaaa", "sc1-bbbb"


def copy_checkpoint(uri: str, parent: str, child: str) -> str:
    return CheckpointCopier().copy(uri, parent, child)


def a_checkpoint_folder(root: Path) -> Path:
    folder = root / "sc1" / PARENT / "step-0000000010-a1"
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"\x00weights")
    (folder / "MANIFEST.json").write_text('{"files": ["model.bin"]}')
    return folder


def test_a_folder_is_copied_to_the_childs_place_in_the_same_layout(tmp_path: Path) -> None:
    source = a_checkpoint_folder(tmp_path)
    uri = copy_checkpoint(str(source), PARENT, CHILD)
    copy = tmp_path / "sc1" / CHILD / "step-0000000010-a1"
    assert uri == str(copy)
    assert (copy / "model.bin").read_bytes() == b"\x00weights"
    assert (copy / "MANIFEST.json").exists()
    (source / "model.bin").write_bytes(b"changed")  # the parent goes on training
    assert (copy / "model.bin").read_bytes() == b"\x00weights"


def test_a_file_uri_gives_a_file_uri(tmp_path: Path) -> None:
    source = a_checkpoint_folder(tmp_path)
    uri = copy_checkpoint(source.as_uri(), PARENT, CHILD)
    assert uri == (tmp_path / "sc1" / CHILD / "step-0000000010-a1").as_uri()


def test_a_path_without_the_parents_id_gets_a_sibling(tmp_path: Path) -> None:
    source = tmp_path / "ckpt.pt"
    source.write_text("w")
    assert copy_checkpoint(str(source), PARENT, CHILD) == str(tmp_path / f"{CHILD}-ckpt.pt")


def test_racing_copies_for_one_child_make_one_copy(tmp_path: Path) -> None:
    source = a_checkpoint_folder(tmp_path)
    for i in range(50):
        (source / f"part-{i}").write_bytes(b"x" * 10_000)
    uris: list[str] = []
    barrier = threading.Barrier(8)

    def copy() -> None:
        barrier.wait()
        uris.append(copy_checkpoint(str(source), PARENT, CHILD))

    threads = [threading.Thread(target=copy) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(uris)) == 1
    children = list((tmp_path / "sc1" / CHILD).iterdir())
    assert [c.name for c in children] == ["step-0000000010-a1"]  # no staging left behind
    assert len(list(children[0].iterdir())) == 52


def test_a_missing_checkpoint_raises(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        copy_checkpoint(str(tmp_path / PARENT / "gone"), PARENT, CHILD)


def test_a_uri_no_store_handles_is_read_in_place(caplog: pytest.LogCaptureFixture) -> None:
    elsewhere = f"gs://bucket/checkpoints/sc1/{PARENT}/step-10"  # a script may record any URI
    with caplog.at_level(logging.WARNING, logger="scanfleet.service"):
        assert copy_checkpoint(elsewhere, PARENT, CHILD) == elsewhere
    assert "the child reads it in place" in caplog.text


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
        SQLiteTrialStore(tmp_path / "db.sqlite"), now=clock, checkpoint_s3_client=s3
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
     ("s3:///checkpoints/{trial}", "names no bucket")],
    ids=["gone", "no-bucket"],
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
        SQLiteTrialStore(tmp_path / "db.sqlite"), now=clock, checkpoint_s3_client=s3
    )
    scan, _ = service.create_scan("pbt", PBT, owner="me")
    for _ in range(2):
        trial = service.claim_next_trial(scan.scan_id, "w", owner="me")
        assert trial is not None
        uri = recorded.format(scan=scan.scan_id, trial=trial.trial_id)
        service.checkpoint(trial.trial_id, 5, uri, owner="me")
        service.complete(trial.trial_id, trial.params["lr"], owner="me")
    with caplog.at_level(logging.WARNING, logger="scanfleet.service"):
        child = service.claim_next_trial(scan.scan_id, "w", owner="me")
    assert child is not None and child.lineage is not None
    assert child.lineage.generation == 1 and child.checkpoint is None
    assert f"{child.trial_id} starts from scratch: " in caplog.text and said in caplog.text
