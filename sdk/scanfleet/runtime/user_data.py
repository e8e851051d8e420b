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

import re
import shlex
from dataclasses import dataclass, field

from scanfleet import names

PREFIX = "/opt/scanfleet"
UNIT = "scanfleet-worker.service"
# what the system Python of any GPU AMI lacks and the download needs: boto3 in the worker's
# own venv (scanfleet[server] needs it anyway), signing with the instance role
DOWNLOADER = "boto3>=1.34"
# run by the venv's Python: fetch the wheel, check its sha256, name it as pip wants
# (<name>-<version>-<tag>.whl, read from the wheel itself), print its path
FETCH_WHEEL = """\
import hashlib, os, sys, zipfile
from urllib.parse import urlparse
import boto3
url, expected, folder = sys.argv[1:4]
where = urlparse(url)
os.makedirs(folder, exist_ok=True)
part = os.path.join(folder, "download.part")
boto3.client("s3").download_file(where.netloc, where.path.lstrip("/"), part)
with open(part, "rb") as file:
    digest = hashlib.sha256(file.read()).hexdigest()
if digest != expected:
    os.remove(part)
    sys.exit(f"scanfleet wheel {url}: sha256 is {digest}, expected {expected}; not installed")
with zipfile.ZipFile(part) as wheel:
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/WHEEL"))
    lines = wheel.read(info).decode().splitlines()
tag = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:"))
path = os.path.join(folder, info.split("/")[0][: -len(".dist-info")] + f"-{tag}.whl")
os.replace(part, path)
print(path)
"""
_WHEEL_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>[^#]+)"
                        r"#sha256=(?P<sha256>[0-9a-f]{64})")  # fmt: skip


@dataclass(frozen=True)
class WheelRef:
    """scanfleet's wheel as a deployment publishes it: an S3 object and its sha256."""

    url: str  # s3://bucket/key
    sha256: str

    @classmethod
    def parse(cls, text: str) -> WheelRef:
        """``s3://bucket/key#sha256=<64 hex digits>``, the stack's ``WorkerWheel`` output.

        Raises:
            ValueError: anything else (the message names ``--wheel``).
        """
        match = _WHEEL_URL.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"--wheel: expected s3://BUCKET/KEY#sha256=<64 hex digits> (the stack's "
                f"WorkerWheel output), got {text!r}"
            )
        return cls(f"s3://{match['bucket']}/{match['key']}", match["sha256"])


@dataclass
class UserData:
    scan_id: str
    api_url: str
    auth: str = "iam"  # the instance profile signs requests (SigV4); "token" embeds one
    token: str | None = None
    region: str | None = None
    wheel: WheelRef | None = None  # the deployment's own wheel (the default way)
    package: str | None = None  # else what pip installs: your own index's name, a wheel URL
    requirements: list[str] = field(default_factory=list)  # pip specs of the scan
    requirements_file: str | None = None  # a requirements file inside the work folder
    setup: list[str] = field(default_factory=list)  # shell lines: fetch the code, data
    checkpoint_url: str | None = None
    shutdown_when_done: bool = False
    stop_timeout_s: int = 100  # inside the 2-minute Spot notice

    def __post_init__(self) -> None:
        if (self.wheel is None) == (self.package is None):
            raise ValueError(
                "user-data installs scanfleet from --wheel (the stack's WorkerWheel output: "
                "the deployment's own wheel) or from --package (a package you publish "
                "yourself); give exactly one"
            )

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

    def install(self) -> list[str]:
        """The shell lines that install scanfleet and the scan's requirements in the venv:
        the wheel fetched with the instance role and its sha256 checked, or ``package``."""
        pip = f"{PREFIX}/venv/bin/pip"
        if self.wheel is None:
            assert self.package is not None
            return [f"{pip} install {shlex.join([self.package, *self.requirements])}"]
        region = [f"export AWS_REGION={shlex.quote(self.region)}"] if self.region else []
        fetch = shlex.join(
            [
                f"{PREFIX}/venv/bin/python",
                "-",
                self.wheel.url,
                self.wheel.sha256,
                f"{PREFIX}/wheels",
            ]
        )
        return [
            *region,
            f"{pip} install {shlex.quote(DOWNLOADER)}",
            f"wheel=\"$({fetch} <<'SCANFLEET_FETCH'\n{FETCH_WHEEL}SCANFLEET_FETCH\n)\"",
            f'{pip} install "${{wheel}}[server]" {shlex.join(self.requirements)}'.rstrip(),
        ]

    def script(self) -> str:
        pip = f"{PREFIX}/venv/bin/pip"
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
            *self.install(),
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
