"""The stores of the files uploaded with a scan."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.artifacts import LocalInputStore, S3InputStore
from scanfleet.errors import InvalidRequestError

from tests.conftest import moto_s3


def test_the_local_input_store_keeps_files_per_scan(tmp_path: Path) -> None:
    store = LocalInputStore(tmp_path / "inputs")
    uri = store.put("sc1", "train.py", b"print(1)\n")
    assert uri.startswith("file://") and (tmp_path / "inputs" / "sc1" / "train.py").is_file()
    store.delete("sc1")
    assert not (tmp_path / "inputs" / "sc1").exists()
    with pytest.raises(InvalidRequestError, match="not a file name") as refused:
        store.put("sc1", "../escape.py", b"")
    assert refused.value.status == 400 and not (tmp_path / "escape.py").exists()


def test_the_s3_input_store_keeps_files_per_scan_under_its_prefix() -> None:
    with moto_s3("inputs") as s3:
        store = S3InputStore("inputs", client=s3)
        uri = store.put("sc1", "train.py", b"print(1)\n")
        store.put("sc2", "train.py", b"print(2)\n")
        assert uri == "s3://inputs/inputs/sc1/train.py"
        store.delete("sc1")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="inputs")["Contents"]]
        assert keys == ["inputs/sc2/train.py"]
        with pytest.raises(InvalidRequestError, match="not a file name"):
            store.put("sc1", "a/b.py", b"")
