"""One contract for checkpoint stores, run on the local folder store and on S3 (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scanfleet.artifacts import (
    MANIFEST,
    CheckpointError,
    CheckpointStore,
    LocalCheckpointStore,
    S3CheckpointStore,
    checkpoint_store,
)

from tests.conftest import moto_s3

TRIAL = "scabc-0123456789abcdef"


@pytest.fixture(params=["local", "s3"])
def store(request: Any, tmp_path: Path) -> Iterator[CheckpointStore]:
    if request.param == "local":
        yield LocalCheckpointStore(tmp_path / "store")
        return
    with moto_s3("ckpts") as s3:
        yield S3CheckpointStore("ckpts", "runs/checkpoints", client=s3)


def a_folder(root: Path, step: int) -> Path:
    folder = root / f"src-{step}"
    (folder / "optim").mkdir(parents=True)
    (folder / "model.bin").write_bytes(bytes(range(256)) * step)
    (folder / "optim" / "state.json").write_text(f'{{"step": {step}}}')
    return folder


def test_a_folder_comes_back_exactly_in_another_place(
    store: CheckpointStore, tmp_path: Path
) -> None:
    uri = store.upload(a_folder(tmp_path, 3), trial_id=TRIAL, step=3, attempt=1)
    assert "scabc/" + TRIAL + "/step-0000000003-a1" in uri
    target = tmp_path / "restored"
    (target / "stale.txt").parent.mkdir(parents=True)
    (target / "stale.txt").write_text("from an older attempt")
    store.download(uri, target)
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["model.bin", "optim/state.json"]  # the stale file is gone
    assert (target / "model.bin").read_bytes() == bytes(range(256)) * 3
    assert (target / "optim" / "state.json").read_text() == '{"step": 3}'


def test_a_checkpoint_without_its_manifest_is_never_restored(
    store: CheckpointStore, tmp_path: Path
) -> None:
    uri = store.upload(a_folder(tmp_path, 1), trial_id=TRIAL, step=1, attempt=1)
    if isinstance(store, S3CheckpointStore):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        store.s3.delete_object(Bucket=bucket, Key=f"{key}/{MANIFEST}")
    else:
        (Path(uri.removeprefix("file://")) / MANIFEST).unlink()
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        store.download(uri, tmp_path / "restored")


def test_older_checkpoints_of_the_trial_are_discarded_and_the_kept_one_restores(
    store: CheckpointStore, tmp_path: Path
) -> None:
    uris = [store.upload(a_folder(tmp_path, s), trial_id=TRIAL, step=s, attempt=1) for s in (1, 2)]
    other = store.upload(
        a_folder(tmp_path, 5), trial_id="scabc-ffffffffffffffff", step=5, attempt=1
    )
    newest = store.upload(a_folder(tmp_path, 3), trial_id=TRIAL, step=3, attempt=2)
    assert store.discard_older(newest) == 2
    for gone in uris:
        with pytest.raises(CheckpointError):
            store.download(gone, tmp_path / "x")
    store.download(newest, tmp_path / "kept")
    store.download(other, tmp_path / "other")  # another trial's checkpoint is untouched
    assert (tmp_path / "kept" / "optim" / "state.json").read_text() == '{"step": 3}'


def test_the_store_is_chosen_by_the_url_and_bad_urls_say_what_is_valid(tmp_path: Path) -> None:
    assert isinstance(checkpoint_store(str(tmp_path)), LocalCheckpointStore)
    assert isinstance(checkpoint_store((tmp_path / "a b").as_uri()), LocalCheckpointStore)
    assert checkpoint_store((tmp_path / "a b").as_uri()).root == (tmp_path / "a b")  # type: ignore[attr-defined]
    s3 = checkpoint_store("s3://bucket/some/prefix", s3_client=object())
    assert isinstance(s3, S3CheckpointStore) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix")
    with pytest.raises(ValueError, match="s3://bucket/prefix or a local folder"):
        checkpoint_store("gs://bucket/x")
    with pytest.raises(ValueError, match="names no bucket"):
        checkpoint_store("s3:///x")


CHILD = "scabc-fedcba9876543210"


def test_a_copy_for_a_child_is_in_the_childs_place_and_outlives_the_parents_checkpoints(
    store: CheckpointStore, tmp_path: Path
) -> None:
    parent_uri = store.upload(a_folder(tmp_path, 4), trial_id=TRIAL, step=4, attempt=1)
    copy_uri = store.copy(parent_uri, CHILD, parent_trial_id=TRIAL)
    assert copy_uri == parent_uri.replace(TRIAL, CHILD)
    assert copy_uri.endswith(f"scabc/{CHILD}/step-0000000004-a1")
    # the parent trains on: a newer checkpoint, its older ones discarded
    newer = store.upload(a_folder(tmp_path, 6), trial_id=TRIAL, step=6, attempt=1)
    assert store.discard_older(newer) == 1
    store.download(copy_uri, tmp_path / "child")
    assert (tmp_path / "child" / "model.bin").read_bytes() == bytes(range(256)) * 4
    assert (tmp_path / "child" / "optim" / "state.json").read_text() == '{"step": 4}'


def test_copying_again_keeps_the_first_copy(store: CheckpointStore, tmp_path: Path) -> None:
    first = store.upload(a_folder(tmp_path, 1), trial_id=TRIAL, step=1, attempt=1)
    copy_uri = store.copy(first, CHILD, parent_trial_id=TRIAL)
    store.download(copy_uri, tmp_path / "a")
    # the parent's checkpoint is replaced in place; a second copy must not mix the two
    again = store.upload(a_folder(tmp_path, 2), trial_id=TRIAL, step=1, attempt=1)
    assert again == first
    assert store.copy(first, CHILD, parent_trial_id=TRIAL) == copy_uri
    store.download(copy_uri, tmp_path / "b")
    assert (tmp_path / "b" / "model.bin").read_bytes() == bytes(range(256)) * 1


def test_copying_a_missing_checkpoint_says_so(store: CheckpointStore, tmp_path: Path) -> None:
    uri = store.upload(a_folder(tmp_path, 1), trial_id=TRIAL, step=1, attempt=1)
    with pytest.raises(CheckpointError, match="step-0000000009-a1"):
        store.copy(uri.replace("step-0000000001", "step-0000000009"), CHILD, parent_trial_id=TRIAL)


def test_a_single_s3_object_is_copied_beside_it_when_no_trial_id_is_in_its_key() -> None:
    with moto_s3("ckpts") as s3:
        s3.put_object(Bucket="ckpts", Key="mine/model.pt", Body=b"weights")
        store = S3CheckpointStore("ckpts", client=s3)
        uri = store.copy("s3://ckpts/mine/model.pt", CHILD, parent_trial_id=TRIAL)
        assert uri == f"s3://ckpts/mine/{CHILD}-model.pt"
        s3.put_object(Bucket="ckpts", Key="mine/model.pt", Body=b"trained on")
        body = s3.get_object(Bucket="ckpts", Key=f"mine/{CHILD}-model.pt")["Body"].read()
        assert body == b"weights"
