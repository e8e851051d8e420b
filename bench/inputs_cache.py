"""Run inputs made ready on a worker: the first worker installs the requirements and
fetches the dataset; the next ones find the cache.

Prints, for ``prepare`` of a scan with one requirement (a local wheel, pip offline) and
an S3 dataset of 20 files (moto, in-process), the seconds of the first worker (the
reference) and of the next ones, and their ratio to the first.

    .venv/bin/python bench/inputs_cache.py [--workers 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import boto3
from moto import mock_aws
from scanfleet.config import load_config
from scanfleet.runtime.inputs import prepare

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.unit.runtime.tiny_wheel import build_wheel  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        here = Path(tmp)
        build_wheel(here / "wheels")
        os.environ.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(here / "wheels"))
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ[key] = "testing"
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="data")
        for i in range(20):
            s3.put_object(Bucket="data", Key=f"first/part-{i:02d}.csv", Body=b"x" * 100_000)
        config = load_config(
            {
                "strategy": "grid",
                "metric": {"name": "loss"},
                "parameters": {"x": {"values": [1]}},
                "requirements": ["tinypkg==1.0"],
                "dataset": "s3://data/first/",
            }
        )
        rows = []
        for worker in range(args.workers):
            start = time.perf_counter()
            prepare(config, here / "cache", s3_client=s3)
            rows.append((f"worker {worker + 1}", time.perf_counter() - start))
        first = rows[0][1]
        print(f"{'prepare (requirements + 2 MB dataset)':40} {'seconds':>8} {'ratio':>7}")
        for label, seconds in rows:
            print(f"{label + (' (installs, downloads)' if seconds == first else ' (cache)'):40}"
                  f" {seconds:8.3f} {seconds / first:7.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
