"""EC2 user-data that turns an instance into a scanfleet worker.

Oscar's workers ran ``while true; do python worker.py; done`` from user-data: nothing
restarted them after a reboot, a finished scan kept them spinning, and a reclaim killed
the script mid-step. Here systemd supervises the agent loop instead:

- the unit is enabled, so the worker comes back after a reboot;
- ``Restart=on-failure``: exit 0 means the scan is finished, and the worker stays down;
  any other exit (an interruption, a crash, an API outage) restarts it after a pause;
- ``KillMode=mixed`` sends the stop signal to the agent alone, which asks the script for
  a checkpoint before stopping it, within ``TimeoutStopSec``;
- on a Spot notice the agent checkpoints, re-queues the trial and exits 75; restarted,
  it sees the notice still pending and claims nothing.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from scanfleet import names

PREFIX = "/opt/scanfleet"
UNIT = "scanfleet-worker.service"


@dataclass
class UserData:
    scan_id: str
    api_url: str
    auth: str = "iam"  # the instance profile signs requests (SigV4); "token" embeds one
    token: str | None = None
    region: str | None = None
    package: str = "scanfleet[server]"  # what pip installs (a version pin, a wheel URL)
    requirements: list[str] = field(default_factory=list)  # pip specs of the scan
    requirements_file: str | None = None  # a requirements file inside the work folder
    setup: list[str] = field(default_factory=list)  # shell lines: fetch the code, data
    checkpoint_url: str | None = None
    shutdown_when_done: bool = False
    stop_timeout_s: int = 100  # inside the 2-minute Spot notice

    def environment(self) -> dict[str, str]:
        env = {names.ENV_API_URL: self.api_url, names.ENV_AUTH: self.auth}
        if self.token:
            env[names.ENV_TOKEN] = self.token
        if self.region:
            env["AWS_REGION"] = self.region
        if self.checkpoint_url:
            env[names.ENV_CHECKPOINT_URL] = self.checkpoint_url
        env[names.ENV_STATE_DIR] = f"{PREFIX}/state"
        return env

    def exec_start(self) -> list[str]:
        return [f"{PREFIX}/venv/bin/scanfleet", "worker", "--scan", self.scan_id,
                "--logs", "/var/log/scanfleet", "--workdir", f"{PREFIX}/work"]  # fmt: skip

    def unit(self) -> str:
        lines = [
            "[Unit]",
            f"Description=scanfleet worker for scan {self.scan_id}",
            "Wants=network-online.target",
            "After=network-online.target",
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "Type=simple",
            "EnvironmentFile=/etc/scanfleet/worker.env",
            f"WorkingDirectory={PREFIX}/work",
            "ExecStart=" + shlex.join(self.exec_start()),
            "Restart=on-failure",
            "RestartSec=10",
            "KillMode=mixed",
            "KillSignal=SIGTERM",
            f"TimeoutStopSec={self.stop_timeout_s}",
        ]
        if self.shutdown_when_done:  # $$ is a literal $ for systemd
            lines.append(
                "ExecStopPost=/bin/sh -c 'if [ \"$$EXIT_STATUS\" = 0 ]; then shutdown -h now; fi'"
            )
        lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
        return "\n".join(lines)

    def script(self) -> str:
        pip = f"{PREFIX}/venv/bin/pip"
        installs = [self.package, *self.requirements]
        env_file = "".join(f"{key}={value}\n" for key, value in self.environment().items())
        parts = [
            "#!/bin/bash",
            f"# scanfleet worker for scan {self.scan_id}: `scanfleet worker user-data`",
            "set -euxo pipefail",
            "exec >>/var/log/scanfleet-user-data.log 2>&1",
            "if ! python3 -m venv --help >/dev/null 2>&1; then",
            "  if command -v dnf >/dev/null; then dnf install -y python3 python3-pip;",
            "  else apt-get update && apt-get install -y python3 python3-venv; fi",
            "fi",
            f"mkdir -p {PREFIX}/work {PREFIX}/state /etc/scanfleet /var/log/scanfleet",
            f"[ -x {PREFIX}/venv/bin/python ] || python3 -m venv {PREFIX}/venv",
            f"{pip} install --upgrade pip",
            f"{pip} install {shlex.join(installs)}",
            f"cd {PREFIX}/work",
            *self.setup,
        ]
        if self.requirements_file:
            parts.append(f"{pip} install -r {shlex.quote(self.requirements_file)}")
        if self.auth == "token":
            parts.append("# the API token below is readable by anyone who can read user-data")
        parts += [
            "umask 077",
            f"cat > /etc/scanfleet/worker.env <<'SCANFLEET_ENV'\n{env_file}SCANFLEET_ENV",
            "umask 022",
            f"cat > /etc/systemd/system/{UNIT} <<'SCANFLEET_UNIT'\n{self.unit()}SCANFLEET_UNIT",
            "systemctl daemon-reload",
            f"systemctl enable --now {UNIT}",
            "",
        ]
        return "\n".join(parts)
