"""Downloading stored objects (run inputs): one object as a file, a prefix as a folder,
whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.artifacts import ObjectsNotFoundError, download_objects

from tests.conftest import moto_s3


def test_one_object_comes_down_as_a_file_and_a_prefix_as_a_folder(tmp_path: Path) -> None:
    with moto_s3("data") as s3:
        s3.put_object(Bucket="data", Key="models/base.pt", Body=b"weights")
        s3.put_object(Bucket="data", Key="sets/mnist/train/0.bin", Body=b"0")
        s3.put_object(Bucket="data", Key="sets/mnist/labels.csv", Body=b"a,b")
        download_objects(s3, "s3://data/models/base.pt", tmp_path / "base.pt")
        download_objects(s3, "s3://data/sets/mnist", tmp_path / "mnist")
    assert (tmp_path / "base.pt").read_bytes() == b"weights"
    assert (tmp_path / "mnist" / "train" / "0.bin").read_bytes() == b"0"
    assert (tmp_path / "mnist" / "labels.csv").read_bytes() == b"a,b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.pt", "mnist"]  # no .partial


def test_nothing_at_the_uri_says_so_and_leaves_nothing_behind(tmp_path: Path) -> None:
    with moto_s3("data") as s3:
        s3.put_object(Bucket="data", Key="sets/mnistx/0.bin", Body=b"0")  # not under sets/mnist/
        with pytest.raises(ObjectsNotFoundError, match="^nothing at s3://data/sets/mnist$"):
            download_objects(s3, "s3://data/sets/mnist", tmp_path / "mnist")
    assert list(tmp_path.iterdir()) == []
