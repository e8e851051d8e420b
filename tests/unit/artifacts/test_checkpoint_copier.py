"""Copying a parent's checkpoint for a PBT child: a real copy, in the child's place, made
only from inside the parent's folder of the checkpoint root."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from scanfleet.artifacts import CheckpointCopier, CheckpointError, LocationError

PARENT, CHILD = "sc1-aaaa", "sc1-bbbb"


def copy_checkpoint(uri: str, parent: str, child: str, root: Path) -> str:
    return CheckpointCopier(root=root).copy(uri, parent, child)


def a_checkpoint_folder(root: Path) -> Path:
    folder = root / "sc1" / PARENT / "step-0000000010-a1"
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"\x00weights")
    (folder / "MANIFEST.json").write_text('{"files": ["model.bin"]}')
    return folder


def test_a_folder_is_copied_to_the_childs_place_in_the_same_layout(tmp_path: Path) -> None:
    source = a_checkpoint_folder(tmp_path)
    uri = copy_checkpoint(str(source), PARENT, CHILD, tmp_path)
    copy = tmp_path / "sc1" / CHILD / "step-0000000010-a1"
    assert uri == str(copy)
    assert (copy / "model.bin").read_bytes() == b"\x00weights"
    assert (copy / "MANIFEST.json").exists()
    (source / "model.bin").write_bytes(b"changed")  # the parent goes on training
    assert (copy / "model.bin").read_bytes() == b"\x00weights"


def test_a_file_uri_gives_a_file_uri(tmp_path: Path) -> None:
    source = a_checkpoint_folder(tmp_path)
    uri = copy_checkpoint(source.as_uri(), PARENT, CHILD, tmp_path)
    assert uri == (tmp_path / "sc1" / CHILD / "step-0000000010-a1").as_uri()


def test_a_file_checkpoint_is_copied_to_the_childs_folder(tmp_path: Path) -> None:
    source = tmp_path / "sc1" / PARENT / "ckpt.pt"
    source.parent.mkdir(parents=True)
    source.write_text("w")
    copy = copy_checkpoint(str(source), PARENT, CHILD, tmp_path)
    assert copy == str(tmp_path / "sc1" / CHILD / "ckpt.pt")


def test_racing_copies_for_one_child_make_one_copy(tmp_path: Path) -> None:
    source = a_checkpoint_folder(tmp_path)
    for i in range(50):
        (source / f"part-{i}").write_bytes(b"x" * 10_000)
    uris: list[str] = []
    barrier = threading.Barrier(8)

    def copy() -> None:
        barrier.wait()
        uris.append(copy_checkpoint(str(source), PARENT, CHILD, tmp_path))

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
        copy_checkpoint(str(tmp_path / "sc1" / PARENT / "gone"), PARENT, CHILD, tmp_path)


@pytest.mark.parametrize(
    "where",
    [
        "gs://bucket/checkpoints/sc1/{parent}/step-10",  # no store of this root
        "{root}/elsewhere/ckpt.pt",  # outside the scan's folder
        "{root}/sc1/sc1-other/step-10",  # another trial's folder
        "{root}/sc1/{parent}/../../etc",  # leaves with ..
        "/etc/passwd",
        "s3://bucket/checkpoints/sc1/{parent}/step-10",  # S3 for a local root
    ],
)
def test_a_location_outside_the_parents_folder_is_never_copied(tmp_path: Path, where: str) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "ckpt.pt").write_text("secret")
    uri = where.format(root=tmp_path, parent=PARENT)
    with pytest.raises(LocationError, match="is not inside"):
        copy_checkpoint(uri, PARENT, CHILD, tmp_path)
    assert not (tmp_path / "sc1" / CHILD).exists()
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["ckpt.pt"]


def test_a_symlink_inside_the_parents_folder_pointing_out_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    source = a_checkpoint_folder(tmp_path)
    (source / "weights.bin").symlink_to(secret)
    with pytest.raises(LocationError, match="links outside"):
        copy_checkpoint(str(source), PARENT, CHILD, tmp_path)
    linked = tmp_path / "sc1" / PARENT / "link"
    linked.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(LocationError, match="is not inside"):  # the recorded path itself
        copy_checkpoint(str(linked), PARENT, CHILD, tmp_path)
    assert not (tmp_path / "sc1" / CHILD).exists()


def test_without_a_root_nothing_is_copied(tmp_path: Path) -> None:
    source = a_checkpoint_folder(tmp_path)
    with pytest.raises(LocationError, match="no checkpoint root"):
        CheckpointCopier().copy(str(source), PARENT, CHILD)
