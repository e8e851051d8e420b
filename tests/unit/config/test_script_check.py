"""``validate`` and ``local run`` refuse a command whose script is not beside the config
(where it will run), naming ``command``, the path looked for and a close file name."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.config import ConfigError, check_command_script, load_config


def config_in(folder: Path, command: str) -> Path:
    path = folder / "scan.yaml"
    path.write_text(
        f"strategy: grid\nmetric: {{name: loss}}\nparameters: {{a: {{values: [1]}}}}\n"
        f"command: {command}\n"
    )
    return path


def test_a_missing_script_names_command_the_path_and_a_close_file(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("")
    with pytest.raises(ConfigError) as error:
        check_command_script(load_config(config_in(tmp_path, "python trian.py --epochs 3")))
    (problem,) = error.value.problems
    assert problem.path == "command"
    assert problem.message == (
        f"script not found: trian.py (looked for {tmp_path / 'trian.py'}); did you mean 'train.py'?"
    )


def test_a_script_in_a_missing_folder_has_no_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"script not found: src/train.py \(looked for .*\)$"):
        check_command_script(load_config(config_in(tmp_path, "python3 src/train.py")))


@pytest.mark.parametrize(
    "command",
    [
        "python train.py",  # there
        "python /opt/app/train.py",  # a path on the workers (their image)
        "python -m trainer",  # a module, not a file
        "bash run.sh",  # not a python script
    ],
)
def test_what_is_there_or_elsewhere_is_not_refused(tmp_path: Path, command: str) -> None:
    (tmp_path / "train.py").write_text("")
    check_command_script(load_config(config_in(tmp_path, command)))
