"""The state folder of local mode is private: 0700, its files 0600, also after SQLite,
the token store and an uploaded script wrote into it, and a loose one is tightened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scanfleet.local.auth import TokenStore
from scanfleet.local.server import open_local_service
from scanfleet.local.state_dir import prepare_state_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): mode(p) for p in [root, *root.rglob("*")]}


def test_a_new_state_folder_and_everything_written_into_it_are_private(tmp_path: Path) -> None:
    state = tmp_path / ".scanfleet"
    old_umask = os.umask(0o022)
    try:
        prepare_state_dir(state)
        TokenStore(state).default_token  # noqa: B018 - writes the token file
        service = open_local_service(state)
        config = {"strategy": "grid", "metric": {"name": "m"}, "script": "train.py",
                  "parameters": {"a": {"values": [1]}}}  # fmt: skip
        service.create_scan("s", config, owner="o", script_content="print(1)\n")
    finally:
        os.umask(old_umask)
    modes = modes_under(state)
    assert any(name.endswith("train.py") for name in modes)  # the uploaded script
    assert "scanfleet.db" in modes and "scanfleet.db-wal" in modes
    loose = {name: oct(m) for name, m in modes.items() if m not in (0o700, 0o600)}
    assert loose == {}
    assert all(m == 0o700 for name, m in modes.items() if (state / name).is_dir())


def test_a_loose_state_folder_is_tightened_and_links_are_left_alone(tmp_path: Path) -> None:
    state = tmp_path / ".scanfleet"
    (state / "inputs" / "sc1").mkdir(parents=True)
    (state / "inputs" / "sc1" / "train.py").write_text("x")
    (state / "scanfleet.db").write_bytes(b"")
    elsewhere = tmp_path / "shared.txt"
    elsewhere.write_text("not ours to change")
    (state / "link").symlink_to(elsewhere)
    for path in [state, *state.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    elsewhere.chmod(0o644)
    prepare_state_dir(state)
    assert mode(state) == mode(state / "inputs") == mode(state / "inputs" / "sc1") == 0o700
    assert mode(state / "inputs" / "sc1" / "train.py") == mode(state / "scanfleet.db") == 0o600
    assert mode(elsewhere) == 0o644
