"""The sandbox profile given to the Claude Code CLI, which sandboxes a Learner run's Bash
commands itself (bubblewrap on Linux, Seatbelt on macOS).

Checked against the bundled CLI (2.1.332): `filesystem.allowWrite`, `filesystem.denyRead`,
`network.allowedDomains` and `credentials.envVars` are honoured (a denied folder reads as
empty, a domain not listed gets a 403 from the CLI's proxy, a denied variable is unset);
with `allowUnsandboxedCommands: false` the model cannot ask to run a command outside, and
with `failIfUnavailable` the CLI stops instead of running commands unsandboxed. The CLI's
sandbox sets no resource limits: every bash it starts sources `sandbox_limits.sh`
(`BASH_ENV`), which sets the profile's.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from llmos._internal.security.sandbox import (
    HostFacts,
    SandboxProfile,
    host_facts,
    is_secret_variable,
)

LIMITS_SCRIPT = Path(__file__).with_name("sandbox_limits.sh")


def cli_settings(profile: SandboxProfile, env: Mapping[str, str]) -> dict[str, object]:
    """The CLI's `sandbox` settings for `profile`: Bash runs sandboxed, is approved by
    llmos's own hooks, may not ask to run outside the sandbox, and the CLI stops rather
    than run commands unsandboxed should its sandbox fail to start. The credentials in
    `env` (the CLI's environment: it needs its API key, its commands do not) are unset for
    the commands."""
    secrets = sorted(name for name in env if is_secret_variable(name))
    settings: dict[str, object] = {
        "enabled": True,
        "failIfUnavailable": True,
        "autoAllowBashIfSandboxed": True,
        "allowUnsandboxedCommands": False,
        "filesystem": {
            "allowWrite": [str(p) for p in profile.writable],
            "denyRead": [str(p) for p in profile.hidden],
        },
        "credentials": {"envVars": [{"name": name, "mode": "deny"} for name in secrets]},
    }
    if profile.allowed_domains:
        settings["network"] = {"allowedDomains": list(profile.allowed_domains)}
    return settings


def cli_env(profile: SandboxProfile, host: HostFacts | None = None) -> dict[str, str]:
    """Environment for the CLI so that its sandboxed commands get the profile's limits."""
    host = host or host_facts()
    limits = profile.limits
    env = {
        "BASH_ENV": str(LIMITS_SCRIPT),
        "LLMOS_SANDBOX_PROCESSES": str(limits.processes),
        "LLMOS_SANDBOX_CPU_SECS": str(limits.cpu_secs),
        "LLMOS_SANDBOX_FILE_KB": str(limits.file_mb * 1024),
    }
    if host.process_limit == "pid_max":
        # Written only inside a PID namespace other than this one (the script checks).
        env["LLMOS_SANDBOX_PID_MAX"] = str(limits.pid_max)
        env["LLMOS_HOST_PIDNS"] = str(Path("/proc/self/ns/pid").readlink())
    return env


class CliFolder:
    """The CLI's sandbox leaves an empty `.claude/.cc-writes` folder of its own in the
    working folder; it is removed after the run, with `.claude` if the run made it and
    nothing else is in it. Never while another llmos run is in the same folder (an
    orchestration's subtasks share it): the CLI of that run binds the folder into its
    sandbox. Each run holds a shared lock on the folder meanwhile; the tidying takes it
    exclusively, or leaves things as they are."""

    def __init__(self, workdir: Path) -> None:
        self.folder = workdir / ".claude"
        self.existed = os.path.lexists(self.folder)
        digest = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:16]
        lock = Path(tempfile.gettempdir()) / f"llmos-cli-{os.getuid()}-{digest}.lock"
        try:
            self._lock: int | None = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            fcntl.flock(self._lock, fcntl.LOCK_SH)
        except OSError:  # no lock, no tidying: a stray empty folder is the worst of it
            self._lock = None

    def tidy(self) -> None:
        if self._lock is None:
            return
        try:
            if self.existed:
                return
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # another run works in this folder: its CLI may be using it
            for folder in (self.folder / ".cc-writes", self.folder):
                try:
                    if not folder.is_symlink():
                        folder.rmdir()  # only if empty: anything else in it stays
                except OSError:
                    return
        finally:
            os.close(self._lock)  # releases the lock
