"""A config's run inputs as the machine that sends the scan sees them (docs/inputs.md):
a ``script`` that names a file here is read, to be uploaded with the scan (so is the
script of a ``command`` that runs ``python <file>``); a ``requirements`` file becomes its
list of packages; a relative ``base_model`` or ``dataset`` that exists here becomes an
absolute path. Used by the client's
``create_scan`` and by ``scanfleet local run`` (workers fetch inputs in
``scanfleet.runtime.inputs``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scanfleet.config._errors import ConfigError, ConfigProblem
from scanfleet.config._schema import Requirement, ScanConfig

PATH_INPUTS = ("base_model", "dataset")  # inputs that may name a local file or folder
PYTHONS = ("python", "python3")  # a command starting with one of these runs a script


def command_script(command: list[str] | None) -> str | None:
    """The script a ``command`` runs: its first argument after a leading ``python`` (or
    ``python3``) when that is a relative path, not an option or a URI; else None."""
    if not command or len(command) < 2 or command[0] not in PYTHONS:
        return None
    script = command[1]
    if script.startswith(("-", "/", "~")) or "://" in script:
        return None
    return script


def local_inputs(config: ScanConfig) -> tuple[ScanConfig, str | None]:
    """The config to send and the text of its script when ``script`` is a file here.

    A relative ``script`` is taken from the config file's folder (else the current one);
    one that is no file here is left as it is (a path on the workers, e.g. in the image).
    Without ``script``, the script a ``command`` runs (``python train.py ...``) that is a
    file there becomes the ``script`` uploaded: workers whose folder lacks the file run
    the stored copy (``scanfleet.runtime.inputs.prepare``).
    A relative ``base_model`` or ``dataset`` that exists there becomes an absolute path.

    Raises:
        ConfigError: the requirements file cannot be read, or the script is not UTF-8
            text (the problem's path is ``requirements`` or ``script``).
    """
    update: dict[str, Any] = {}
    here = config._source_dir or Path.cwd()
    for name in PATH_INPUTS:
        value = getattr(config, name)
        if value and "://" not in value and (here / Path(value).expanduser()).exists():
            update[name] = str((here / Path(value).expanduser()).resolve())
    if isinstance(config.requirements, str):
        specs = config.requirement_specs()
        update["requirements"] = [Requirement.model_validate(spec) for spec in specs]
    script = config.script or command_script(config.command)
    if script and not config.script and (here / script).is_file():
        update["script"] = script
    content = None
    if script and "://" not in script:
        path = here / Path(script).expanduser()
        if path.is_file():
            try:
                content = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ConfigError([ConfigProblem("script", f"{path} is not UTF-8 text")]) from None
    if not update:
        return config, content
    changed = config.model_copy(update=update)
    changed._source_dir = config._source_dir
    return changed, content
