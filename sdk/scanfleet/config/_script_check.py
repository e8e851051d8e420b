"""Whether the script a config's ``command`` runs is there, seen from where it will run:
the config file's folder (``scanfleet local run`` runs its workers there, and a script
beside the config is uploaded with the scan for ``scanfleet worker``; docs/inputs.md).

Only a relative script of a ``python <script>`` command is checked: an absolute path
(``python /app/train.py``) names a file on the workers, e.g. in their image."""

from __future__ import annotations

from pathlib import Path

from scanfleet.config._errors import ConfigError, ConfigProblem
from scanfleet.config._local_inputs import command_script
from scanfleet.config._parameters import did_you_mean
from scanfleet.config._schema import ScanConfig

NEAR_FILES_LISTED = 500  # the files of the script's folder a "did you mean" looks among


def check_command_script(config: ScanConfig) -> None:
    """Raise when the script ``command`` runs is no file beside the config.

    Raises:
        ConfigError: at ``command``, naming the path looked for, with ``did you mean
            'train.py'?`` when a file there has a close name.
    """
    script = command_script(config.command)
    if script is None:
        return
    here = config._source_dir or Path.cwd()
    path = here / script
    if path.is_file():
        return
    message = f"script not found: {script} (looked for {path})"
    if path.parent.is_dir():
        near = sorted(p.name for p in path.parent.iterdir() if p.is_file())[:NEAR_FILES_LISTED]
        message += did_you_mean(path.name, near)
    raise ConfigError([ConfigProblem("command", message)])
