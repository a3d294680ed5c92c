"""The OS sandbox: the boundary around every shell command llmos runs.

The security policy reads a command and explains what it would do; it can never see what a
script written a step earlier will do when it runs (`sh cleanup.sh`, `make`, `npm run`).
The sandbox does not read anything: the kernel holds the command to a profile.

A profile (`SandboxProfile`, made by `build_profile`):

- the working folder, the policy's `allow: paths` and a private temp folder are writable;
  everything else is read-only;
- credential places (`~/.ssh`, `~/.aws`, `~/.gnupg`, `~/.config/gh`, the Claude config
  folder, `~/.netrc`, `~/.docker/config.json`, other projects' folders, llmos's signing key,
  agent sockets...) are not readable: an empty folder or an empty file is laid over each;
- no network unless the policy allows domains (`network: allow: [...]` in policy.yaml);
- its own PID namespace (nothing outside can be seen or signalled), and limits on
  processes, CPU time and file size, so a fork bomb or a runaway loop ends inside it.

Two sandboxes apply it. A Learner run's Bash commands run in the Claude Code CLI's own
sandbox (bubblewrap on Linux, Seatbelt on macOS), given the profile by
`llmos/_internal/security/sandbox_cli.py`. A replay's commands run in bubblewrap as llmos builds it
here (`sandboxed_argv`). Whether a run has one at all is `llmos/_internal/security/sandbox_run.py`;
whether this machine can is `llmos/_internal/security/sandbox_probe.py`.

Pure functions of the profile and of what the host offers (`HostFacts`), so the argv can be
tested without running anything.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import field
from pathlib import Path

from llmos._internal.frozen import frozen
from llmos._internal.security.lazy_regex import LazyRegex

# The sandbox: a setting in config.yaml and project.yaml (llmos/_internal/workspace.py).
SANDBOX_MODES = ("auto", "required", "off")
# A project may only tighten: a higher number is stricter.
MODE_STRICTNESS = {"off": 0, "auto": 1, "required": 2}


def sandbox_at_least(mode: str, other: str) -> bool:
    """Whether sandbox setting `mode` is as strict as `other`."""
    return MODE_STRICTNESS.get(mode, 0) >= MODE_STRICTNESS.get(other, 0)


# Credential places under the home folder: never readable inside the sandbox.
HOME_CREDENTIALS = (
    ".ssh",
    ".aws",
    ".azure",
    ".gnupg",
    ".kube",
    ".docker/config.json",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".my.cnf",
    ".vault-token",
    ".env",
    ".claude",
    ".claude.json",
    ".config/gh",
    ".config/hub",
    ".config/gcloud",
    ".config/op",
    ".config/anthropic",
    ".config/google-chrome",
    ".config/chromium",
    ".mozilla",
    ".password-store",
    ".local/share/keyrings",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".terraform.d/credentials.tfrc.json",
)
# Sockets that hand out a power outside the sandbox (a container escape, a signing agent).
HOST_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock")
# The machine's own secrets: readable by root alone (and root keeps file ownership inside).
SYSTEM_CREDENTIALS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-")
# Environment variables never passed to a sandboxed command: credentials by their names,
# and the addresses of agents that act with the user's keys.
_SECRET_NAME = LazyRegex(
    r"(?i)(^|_)(API_?KEY|ACCESS_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH|"
    r"COOKIE|PRIVATE|OAUTH)(_|$)"
)
_SECRET_PREFIXES = ("ANTHROPIC_", "AWS_", "AZURE_", "CLAUDE_CODE_OAUTH", "GOOGLE_APPLICATION")
_AGENT_VARIABLES = ("SSH_AUTH_SOCK", "GPG_AGENT_INFO", "DBUS_SESSION_BUS_ADDRESS")
_GLOB_CHARS = LazyRegex(r"[*?\[\]{}]")

# The first kernel with a pid_max of each PID namespace: the process limit for root, whom
# RLIMIT_NPROC does not bind. (On an older kernel, writing pid_max would set the whole
# machine's: it is never written there.)
_PID_MAX_PER_NAMESPACE = (6, 14)
_PID_MAX_FLOOR = 301  # the kernel's lowest pid_max (RESERVED_PIDS + 1)


@frozen
class Limits:
    """Resource limits of every process in the sandbox."""

    processes: int = 512
    cpu_secs: int = 600  # CPU time of each process (a Bash step may last 10 minutes)
    file_mb: int = 1024  # the largest file a process may write

    def ulimit_lines(self) -> list[str]:
        """bash `ulimit` settings (soft and hard: a process cannot raise them again). Each
        on its own, so one the caller's hard limit already keeps lower is left as it is."""
        return [
            f"ulimit -S -H -u {self.processes} 2>/dev/null",
            f"ulimit -S -H -t {self.cpu_secs} 2>/dev/null",
            f"ulimit -S -H -f {self.file_mb * 1024} 2>/dev/null",  # 1024-byte blocks
            "ulimit -S -H -c 0 2>/dev/null",  # no core dumps
        ]

    @property
    def pid_max(self) -> int:
        return max(self.processes + 1, _PID_MAX_FLOOR)

    def effective_processes(self, host: HostFacts) -> int:
        """How many processes the sandbox really allows on `host` (0: not limited)."""
        return {"rlimit": self.processes, "pid_max": self.pid_max - 1}.get(host.process_limit, 0)


@frozen
class SandboxProfile:
    """What a sandboxed command may touch. Paths are absolute and real (links resolved)."""

    workdir: Path
    writable: tuple[Path, ...] = ()  # besides the working folder: the policy's allowed paths
    hidden: tuple[Path, ...] = ()  # not readable: credential folders and files
    allowed_domains: tuple[str, ...] = ()  # network: none unless the policy allows domains
    limits: Limits = field(default_factory=Limits)
    tmpdir: Path | None = None  # a private temp folder (TMPDIR), writable

    @property
    def network(self) -> bool:
        return bool(self.allowed_domains)

    def with_tmpdir(self, tmpdir: Path) -> SandboxProfile:
        return dataclasses.replace(self, tmpdir=Path(os.path.realpath(tmpdir)))


@frozen
class HostFacts:
    """What this machine offers the sandbox."""

    bwrap: str | None
    setpriv: str | None
    mount: str | None
    as_root: bool
    pid_max_per_namespace: bool
    sysrq_trigger: bool  # /proc/sysrq-trigger exists (a file root could write)

    @property
    def process_limit(self) -> str:
        """How the number of processes is limited: `rlimit` (RLIMIT_NPROC, counted in the
        sandbox's own user namespace), `pid_max` (the sandbox's PID namespace, as root), or
        `none` (root on a kernel older than 6.14: only the command's timeout ends a fork bomb)."""
        if not self.as_root:
            return "rlimit"
        if self.pid_max_per_namespace and self.setpriv and self.mount:
            return "pid_max"
        return "none"


@functools.lru_cache(maxsize=1)
def host_facts() -> HostFacts:
    return HostFacts(
        bwrap=shutil.which("bwrap"),
        setpriv=shutil.which("setpriv"),
        mount=shutil.which("mount"),
        as_root=hasattr(os, "geteuid") and os.geteuid() == 0,
        pid_max_per_namespace=sys.platform == "linux" and _kernel() >= _PID_MAX_PER_NAMESPACE,
        sysrq_trigger=Path("/proc/sysrq-trigger").exists(),
    )


def _kernel() -> tuple[int, int]:
    numbers = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(numbers[1]), int(numbers[2])) if numbers else (0, 0)


# ----------------------------------------------------------------------------------- profile


def build_profile(
    workdir: Path,
    *,
    home: Path | None = None,
    allowed_paths: Iterable[str] = (),
    allowed_domains: Iterable[str] = (),
    workspace: Path | None = None,
    limits: Limits | None = None,
    env: Mapping[str, str] | None = None,
) -> SandboxProfile:
    """The profile of a run in `workdir`: `allowed_paths` are the policy's `allow: paths`
    globs (only plain paths, or a folder with `/**`, become writable: the sandbox binds
    folders, not patterns), `allowed_domains` its `network: allow` list, `workspace` the
    llmos workspace (its signing key and other projects are hidden)."""
    env = os.environ if env is None else env
    home = Path(home or env.get("HOME") or Path.home())
    work = _real(workdir)
    writable = [p for p in (_plain_path(g, home, work) for g in allowed_paths) if p is not None]
    hidden = [*_home_credentials(home), *_other_places(env, workspace, work)]
    keep = [work, *writable]
    hidden = [p for p in dict.fromkeys(hidden) if not any(_within(k, p) for k in keep)]
    return SandboxProfile(
        workdir=work,
        writable=tuple(dict.fromkeys(p for p in writable if p != work and p.exists())),
        hidden=tuple(p for p in hidden if os.path.lexists(p)),
        allowed_domains=tuple(dict.fromkeys(d.strip().lower() for d in allowed_domains if d)),
        limits=limits or Limits(),
    )


def _real(path: Path) -> Path:
    # os.path.expanduser leaves an unknown `~user` as it is, where Path.expanduser() raises.
    return Path(os.path.realpath(os.path.expanduser(path)))  # noqa: PTH111


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _plain_path(pattern: str, home: Path, workdir: Path) -> Path | None:
    text = pattern.strip()
    for suffix in ("/**", "/*"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    if not text or _GLOB_CHARS.search(text):
        return None
    if text == "~" or text.startswith("~/"):
        text = str(home) + text[1:]
    path = Path(text)
    return _real(path if path.is_absolute() else workdir / path)


def _home_credentials(home: Path) -> list[Path]:
    return [_real(home / name) for name in HOME_CREDENTIALS]


def _other_places(env: Mapping[str, str], workspace: Path | None, work: Path) -> list[Path]:
    places = [_real(Path(p)) for p in (*HOST_SOCKETS, *SYSTEM_CREDENTIALS)]
    places += sorted(Path("/etc/ssh").glob("ssh_host_*_key"))  # the machine's SSH keys
    config = env.get("CLAUDE_CONFIG_DIR")
    if config:
        places.append(_real(Path(config)))
    for name in ("SSH_AUTH_SOCK", "XDG_RUNTIME_DIR"):
        if env.get(name):
            places.append(_real(Path(env[name])))
    if workspace is not None:
        root = _real(workspace)
        places.append(root / "state")  # the signing key, the trust store, the databases
        projects = root / "projects"
        if projects.is_dir():
            # Other projects' folders (their .env files, their output) are not this run's.
            places += [p for p in projects.iterdir() if p.is_dir() and not _within(work, p)]
    return places


# ------------------------------------------------------------------------------ bubblewrap


def sandboxed_argv(
    command: str, workdir: Path, profile: SandboxProfile | None, host: HostFacts | None = None
) -> list[str]:
    """The argv that runs `command` with bash in `workdir`: inside the sandbox of `profile`,
    or as it is when there is none (`sandbox: off`, or no sandbox on this machine)."""
    if profile is None:
        return ["bash", "-c", command]
    if _real(workdir) != profile.workdir:
        raise ValueError(f"the sandbox profile is for {profile.workdir}, not {workdir}")
    return bwrap_argv(profile, command, host or host_facts())


def bwrap_argv(profile: SandboxProfile, command: str, host: HostFacts) -> list[str]:
    """bubblewrap's argv for `command` under `profile`.

    The whole file system is bound read-only, then the writable folders over it. As root,
    bubblewrap would keep every capability (and with CAP_SYS_ADMIN a command could remount
    / read-write): capabilities are dropped, and /proc/sys is made read-only (root may write
    kernel settings there with no capability at all). The first shell sets the limits (as
    root on a recent kernel, the PID namespace's pid_max first), then runs the command in a
    second shell that can no longer raise them."""
    if host.bwrap is None:
        raise FileNotFoundError("bubblewrap (bwrap) is not installed")
    argv = [host.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    if host.sysrq_trigger:
        argv += ["--ro-bind", "/dev/null", "/proc/sysrq-trigger"]
    for path in (profile.workdir, *profile.writable, *_maybe(profile.tmpdir)):
        argv += ["--bind", str(path), str(path)]
    # After the writable folders: a credential folder inside one (an allowed `~`) stays hidden.
    for path in profile.hidden:
        if path.is_dir() and not path.is_symlink():
            argv += ["--tmpfs", str(path)]
        else:  # a file, a socket: an empty file over it
            argv += ["--ro-bind", "/dev/null", str(path)]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not profile.network:
        argv.append("--unshare-net")
    if not host.as_root:
        argv.append("--unshare-user")  # RLIMIT_NPROC then counts this sandbox's processes
    argv += ["--die-with-parent", "--new-session", "--chdir", str(profile.workdir)]
    setup = _setup_script(profile.limits, host)
    if host.as_root and host.process_limit != "pid_max":
        argv += ["--cap-drop", "ALL", "--ro-bind", "/proc/sys", "/proc/sys"]
    return [*argv, "--", "/bin/bash", "-c", setup, "llmos-sandbox", command]


def _maybe(path: Path | None) -> tuple[Path, ...]:
    return (path,) if path is not None else ()


def _setup_script(limits: Limits, host: HostFacts) -> str:
    lines: list[str] = []
    if host.process_limit == "pid_max":
        lines += [
            f"echo {limits.pid_max} > /proc/sys/kernel/pid_max || exit 125",
            f"{host.mount} --bind -o ro /proc/sys /proc/sys || exit 125",
        ]
    lines += limits.ulimit_lines()
    if host.process_limit == "pid_max":
        drop = f"{host.setpriv} --bounding-set=-all --inh-caps=-all --no-new-privs --"
        lines.append(f'exec {drop} /bin/bash -c "$1"')
    else:
        lines.append('exec /bin/bash -c "$1"')
    return "\n".join(lines)


def sandbox_env(env: Mapping[str, str], profile: SandboxProfile | None) -> dict[str, str]:
    """The environment of a sandboxed command: no credentials, no agent addresses, and its
    private temp folder. Without a profile, `env` as it is."""
    if profile is None:
        return dict(env)
    kept = {k: v for k, v in env.items() if not is_secret_variable(k)}
    if profile.tmpdir is not None:
        kept["TMPDIR"] = str(profile.tmpdir)
        # Caches go to the private temp folder: home is read-only (pip, npm, go...).
        kept["XDG_CACHE_HOME"] = str(profile.tmpdir / "cache")
        kept["npm_config_cache"] = str(profile.tmpdir / "npm")
    return kept


def is_secret_variable(name: str) -> bool:
    upper = name.upper()
    return (
        bool(_SECRET_NAME.search(upper))
        or upper.startswith(_SECRET_PREFIXES)
        or upper in _AGENT_VARIABLES
    )
