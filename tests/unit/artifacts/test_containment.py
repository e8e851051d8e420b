"""Names that come from outside stay inside their folder (issue 14 item 1): a manifest
naming ``../x`` on restore, an S3 key ``<prefix>../../x`` of a downloaded input, and the
checkpoint locations a trial may record (``<root>/<scan>/<trial>/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scanfleet.artifacts import (
    MANIFEST,
    CheckpointLocations,
    CheckpointStore,
    LocalCheckpointStore,
    LocationError,
    S3CheckpointStore,
    contained_path,
    download_objects,
)

from tests.conftest import moto_s3

SCAN, TRIAL = "scabc", "scabc-0123456789abcdef"
HOSTILE_NAMES = ["../x", "../../outside/x", "/etc/x", "a/../../x", "a/./b", ""]


@pytest.fixture(params=["local", "s3"])
def store(request: Any, tmp_path: Path) -> Iterator[CheckpointStore]:
    if request.param == "local":
        yield LocalCheckpointStore(tmp_path / "store")
        return
    with moto_s3("ckpts") as s3:
        yield S3CheckpointStore("ckpts", "checkpoints", client=s3)


def uploaded(store: CheckpointStore, tmp_path: Path) -> str:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    return store.upload(folder, trial_id=TRIAL, step=1, attempt=1)


def rewrite_manifest(store: CheckpointStore, uri: str, files: list[str]) -> None:
    body = json.dumps({"step": 1, "files": files})
    if isinstance(store, S3CheckpointStore):
        key = uri[len("s3://ckpts/") :] + "/" + MANIFEST
        store.s3.put_object(Bucket="ckpts", Key=key, Body=body.encode())
    else:
        (Path(uri.removeprefix("file://")) / MANIFEST).write_text(body)


@pytest.mark.parametrize("name", HOSTILE_NAMES[:4])
def test_a_manifest_name_outside_its_folder_is_refused_on_restore(
    store: CheckpointStore, tmp_path: Path, name: str
) -> None:
    uri = uploaded(store, tmp_path)
    rewrite_manifest(store, uri, ["model.bin", name])
    target = tmp_path / "work" / "restored"
    target.mkdir(parents=True)
    (target / "kept.txt").write_text("the attempt's own files")
    with pytest.raises(LocationError):
        store.download(uri, target)
    assert [p.name for p in target.iterdir()] == ["kept.txt"]  # refused before emptying
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["restored"]
    assert not (tmp_path / "outside").exists()


def test_a_manifest_name_outside_its_folder_is_never_copied(tmp_path: Path) -> None:
    with moto_s3("ckpts") as s3:
        store = S3CheckpointStore("ckpts", "checkpoints", client=s3)
        uri = uploaded(store, tmp_path)
        rewrite_manifest(store, uri, ["../../other-owner/secret"])
        with pytest.raises(LocationError):
            store.copy(uri, f"{SCAN}-child", parent_trial_id=TRIAL)


def test_a_symlink_in_a_local_checkpoint_pointing_out_is_not_restored(tmp_path: Path) -> None:
    store = LocalCheckpointStore(tmp_path / "store")
    uri = uploaded(store, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    folder = Path(uri.removeprefix("file://"))
    (folder / "model.bin").unlink()
    (folder / "model.bin").symlink_to(secret)
    with pytest.raises(LocationError, match="leads outside"):
        store.download(uri, tmp_path / "restored")


def test_an_s3_key_that_climbs_out_of_the_prefix_is_not_downloaded(tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "inputs" / "dataset"
    with moto_s3("data") as s3:
        s3.put_object(Bucket="data", Key="sets/mnist/0.bin", Body=b"0")
        s3.put_object(Bucket="data", Key="sets/mnist/../../x", Body=b"planted")
        with pytest.raises(LocationError, match="x"):
            download_objects(s3, "s3://data/sets/mnist", dest)
    assert (
        not (tmp_path / "cache" / "x").exists()
        and not (tmp_path / "cache" / "inputs" / "x").exists()
    )
    assert not dest.exists()


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_contained_path_refuses_every_way_out(tmp_path: Path, name: str) -> None:
    with pytest.raises(LocationError):
        contained_path(tmp_path, name)


def test_contained_path_keeps_names_inside(tmp_path: Path) -> None:
    assert contained_path(tmp_path, "a/b.bin") == tmp_path / "a" / "b.bin"


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        ("s3://stack/checkpoints/scabc/scabc-0123456789abcdef/step-1-a1", True),
        ("s3://stack/checkpoints/scabc/scabc-0123456789abcdef/", False),  # the folder itself
        ("s3://stack/checkpoints/scabc/scabc-ffff/step-1-a1", False),  # another trial
        ("s3://stack/checkpoints/other/scabc-0123456789abcdef/x", False),  # another scan
        ("s3://stack/checkpoints/scabc/scabc-0123456789abcdef/../scabc-ffff/x", False),
        ("s3://other-bucket/checkpoints/scabc/scabc-0123456789abcdef/x", False),
        ("s3://stack/inputs/scabc/scabc-0123456789abcdef/x", False),
        ("/checkpoints/scabc/scabc-0123456789abcdef/x", False),
    ],
)
def test_s3_locations_are_accepted_by_bucket_and_prefix(uri: str, accepted: bool) -> None:
    rule = CheckpointLocations("s3://stack/checkpoints")
    if accepted:
        assert rule.check(uri, SCAN, TRIAL) == uri
    else:
        with pytest.raises(LocationError, match="uri|is not inside"):
            rule.check(uri, SCAN, TRIAL)


def test_local_locations_are_real_paths_inside_the_trials_folder(tmp_path: Path) -> None:
    rule = CheckpointLocations(tmp_path / "ckpts")
    inside = tmp_path / "ckpts" / SCAN / TRIAL / "step-1-a1"
    assert rule.check(str(inside), SCAN, TRIAL) == str(inside)
    assert rule.check(inside.as_uri(), SCAN, TRIAL) == inside.as_uri()
    (tmp_path / "ckpts" / SCAN / TRIAL).mkdir(parents=True)
    (tmp_path / "ckpts" / SCAN / TRIAL / "out").symlink_to("/etc", target_is_directory=True)
    for outside in (
        f"{tmp_path}/ckpts/{SCAN}/{TRIAL}/out/passwd",  # through a link pointing out
        f"{tmp_path}/ckpts/{SCAN}/{TRIAL}/../{TRIAL}x/a",
        f"ckpts/{SCAN}/{TRIAL}/a",  # relative
        "/etc/passwd",
        f"http://host/{SCAN}/{TRIAL}/a",
    ):
        with pytest.raises(LocationError, match="is not inside"):
            rule.check(outside, SCAN, TRIAL)
