"""Copying a parent's checkpoint for a PBT child: a real copy, in the child's place."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from scanfleet.artifacts import CheckpointCopier, CheckpointError

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
    with caplog.at_level(logging.WARNING, logger="scanfleet.artifacts"):
        assert copy_checkpoint(elsewhere, PARENT, CHILD) == elsewhere
    assert "the child reads it in place" in caplog.text
