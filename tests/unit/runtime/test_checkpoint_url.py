"""Where a worker keeps its checkpoints."""

from __future__ import annotations

from pathlib import Path

from scanfleet import names
from scanfleet.runtime.checkpoints import checkpoint_url_from


def test_the_checkpoint_url_comes_from_the_env_then_the_bucket_then_the_state_dir(
    tmp_path: Path,
) -> None:
    assert (
        checkpoint_url_from({names.ENV_CHECKPOINT_URL: "s3://a/b", names.ENV_BUCKET_NAME: "c"})
        == "s3://a/b"
    )
    assert checkpoint_url_from({names.ENV_BUCKET_NAME: "c"}) == "s3://c/checkpoints"
    state = tmp_path / "state"
    assert checkpoint_url_from({names.ENV_STATE_DIR: str(state)}) == str(state / "checkpoints")
