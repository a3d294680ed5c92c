"""Can this machine sandbox commands? Each answer comes from a canary, not from a guess.

`replay_sandbox()` runs a command in llmos's bubblewrap profile that tries to write outside
its working folder and inside it: the sandbox counts as working only if the first write
failed and the second succeeded. `cli_sandbox()` says whether the Claude Code CLI can
sandbox a Learner run's commands (on Linux it needs bubblewrap and socat; without them the
CLI runs commands unsandboxed, silently, so llmos must know beforehand). `network_canary()`
and `process_canary()` check the other walls (`llmos doctor`, the containment tests).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llmos._internal.frozen import frozen
from llmos._internal.security.sandbox import (
    HostFacts,
    Limits,
    SandboxProfile,
    build_profile,
    host_facts,
    sandboxed_argv,
)

_CANARY_TIMEOUT_SECS = 20.0


@frozen
class Probe:
    """The answer of one sandbox check, with what to do when it is not ok."""

    ok: bool
    detail: str  # what was found, in one sentence
    hint: str | None = None  # what to do about it, when not ok


def install_hint(packages: str = "bubblewrap socat") -> str:
    """How to install `packages` on this system (by its /etc/os-release)."""
    ids = _os_ids()
    if ids & {"debian", "ubuntu"}:
        command = f"sudo apt-get install {packages}"
    elif ids & {"fedora", "rhel", "centos"}:
        command = f"sudo dnf install {packages}"
    elif "arch" in ids:
        command = f"sudo pacman -S {packages}"
    elif ids & {"opensuse", "suse"}:
        command = f"sudo zypper install {packages}"
    elif "alpine" in ids:
        command = f"sudo apk add {packages}"
    else:
        return f"Install {packages} with your system's package manager."
    return f"Install it: {command}"


def _os_ids() -> set[str]:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return set()
    ids: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            ids.update(value.strip().strip('"').split())
    return ids


@contextmanager
def canary_folders() -> Iterator[tuple[Path, Path]]:
    """A throwaway working folder and a folder outside it, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="llmos-canary-"))
    try:
        work, outside = root / "work", root / "outside"
        work.mkdir()
        outside.mkdir()
        yield work, outside
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_sandboxed(
    command: str, profile: SandboxProfile, *, timeout: float = _CANARY_TIMEOUT_SECS
) -> subprocess.CompletedProcess[str]:
    """`command` in `profile`'s sandbox, its output captured (canaries and tests)."""
    return subprocess.run(
        sandboxed_argv(command, profile.workdir, profile),
        cwd=profile.workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


def _canary_profile(work: Path, limits: Limits | None = None) -> SandboxProfile:
    return build_profile(work, home=work, env={}, limits=limits)


@functools.cache
def replay_sandbox() -> Probe:
    """Whether llmos's bubblewrap sandbox works here: a write outside its working folder
    must fail and one inside must succeed. Asked once per process."""
    host = host_facts()
    if sys.platform != "linux":
        return Probe(False, f"llmos's own sandbox needs Linux (this is {sys.platform})")
    if host.bwrap is None:
        return Probe(False, "bubblewrap (bwrap) is not installed", install_hint("bubblewrap"))
    with canary_folders() as (work, outside):
        try:
            proc = run_sandboxed(
                f"echo x > {outside}/canary; echo x > canary-inside", _canary_profile(work)
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Probe(False, f"bubblewrap did not run ({exc})", _bwrap_hint())
        escaped = (outside / "canary").exists()
        inside = (work / "canary-inside").exists()
    if escaped:  # never expected: the profile binds / read-only
        return Probe(False, "a write outside the working folder succeeded in bubblewrap")
    if not inside:
        why = " ".join(proc.stderr.split())[:300] or f"exit {proc.returncode}"
        return Probe(False, f"bubblewrap does not run here ({why})", _bwrap_hint())
    return Probe(True, f"bubblewrap ({host.bwrap}): a write outside the working folder fails")


def _bwrap_hint() -> str:
    return (
        "bubblewrap needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone"
        "=1, or on Ubuntu 24.04+ an AppArmor profile for bwrap), or to run as root."
    )


def bwrap_version(host: HostFacts) -> str:
    """`bwrap --version` (for `llmos doctor`: a replay does not pay for it)."""
    if host.bwrap is None:
        return "bubblewrap is not installed"
    try:
        out = subprocess.run(
            [host.bwrap, "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return out or "bubblewrap"


_REMEMBER_SECS = 24 * 3600


def replay_sandbox_remembered() -> Probe:
    """`replay_sandbox()`, remembered on this machine for a day once it worked, so that a
    replay does not pay for the canary each time (`llmos doctor` always runs it). What it
    is remembered for: bubblewrap's file, the kernel, the user and the user-namespace
    settings; any change and the canary runs again. Were the sandbox to break all the same,
    bubblewrap fails and so does the command: nothing runs unsandboxed."""
    from llmos._internal.fsutil import atomic_write_text
    from llmos._internal.security.bashlex_cache import cache_dir

    path = cache_dir() / "sandbox-probe.json"
    key = _machine_key()
    try:
        seen = json.loads(path.read_text(encoding="utf-8"))
        if seen["key"] == key and 0 <= time.time() - seen["at"] < _REMEMBER_SECS:
            return Probe(True, str(seen["detail"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    probe = replay_sandbox()
    if probe.ok:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(
                path, json.dumps({"key": key, "at": time.time(), "detail": probe.detail})
            )
    return probe


def _machine_key() -> str:
    host = host_facts()
    parts: list[object] = [host, os.uname().release, os.geteuid() if hasattr(os, "geteuid") else -1]
    for path in (
        host.bwrap,
        "/proc/sys/kernel/unprivileged_userns_clone",
        "/proc/sys/user/max_user_namespaces",
    ):
        if not path:
            continue
        file = Path(path)
        try:
            info = file.stat()
            parts.append((path, info.st_mtime_ns, info.st_size))
            if path.startswith("/proc/"):
                parts.append(file.read_text().strip())
        except OSError:
            parts.append((path, None))
    return hashlib.sha256(repr(parts).encode()).hexdigest()


@functools.cache
def cli_sandbox(*, remembered: bool = False) -> Probe:
    """Whether the Claude Code CLI can sandbox a Learner run's Bash commands here."""
    if sys.platform == "darwin":
        if shutil.which("sandbox-exec"):
            return Probe(True, "macOS Seatbelt (sandbox-exec)")
        return Probe(False, "sandbox-exec is missing on this Mac")
    if sys.platform != "linux":
        return Probe(False, "the Claude Code CLI sandboxes commands on Linux and macOS only")
    bwrap = replay_sandbox_remembered() if remembered else replay_sandbox()
    if not bwrap.ok:
        return bwrap
    if shutil.which("socat") is None:
        return Probe(False, "socat is not installed (the CLI's sandbox needs it)", install_hint())
    return Probe(True, bwrap.detail + "; socat found")


def network_canary() -> Probe:
    """A sandboxed command must not reach a listener on this machine's 127.0.0.1."""
    import socket  # (not on a replay's path: only `llmos doctor` runs this canary)

    if not replay_sandbox().ok:
        return Probe(False, "no sandbox to check")
    with socket.socket() as listener, canary_folders() as (work, _):
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        proc = run_sandboxed(f"echo hello > /dev/tcp/127.0.0.1/{port}", _canary_profile(work))
        try:
            conn, _ = listener.accept()
            conn.close()
            reached = True
        except OSError:
            reached = False
    if reached or proc.returncode == 0:
        return Probe(False, f"a sandboxed command reached 127.0.0.1:{port}")
    return Probe(True, "a sandboxed command cannot reach 127.0.0.1 (no network namespace)")


def process_canary(limit: int = 64) -> Probe:
    """With a low process limit, a sandboxed command must not start 50 processes more than
    it allows. (As root the limit is a PID namespace's pid_max, at least 300.) Each process
    is a `sleep` gone within seconds, even if the limit failed."""
    host = host_facts()
    if host.process_limit == "none":
        return Probe(
            False,
            "as root on a kernel older than 6.14 the number of processes is not limited "
            "(only the command's timeout ends a fork bomb)",
            "Run llmos as an ordinary user.",
        )
    if not replay_sandbox().ok:
        return Probe(False, "no sandbox to check")
    limits = Limits(processes=limit)
    allowed = limits.effective_processes(host)
    wanted = allowed + 50
    # Counted by the forking process itself: a shell that cannot fork gives up altogether.
    forks = (
        "import os, time\n"
        "made = 0\n"
        f"for _ in range({wanted}):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(3)\n"
        "        os._exit(0)\n"
        "    made += 1\n"
        "print(made)\n"
    )
    started = time.monotonic()
    with canary_folders() as (work, _):
        command = f"{shlex.quote(sys.executable)} -I -S -c {shlex.quote(forks)}"
        proc = run_sandboxed(command, _canary_profile(work, limits))
    seen = _last_int(proc.stdout)
    if seen is None or seen > allowed:
        found = "no count" if seen is None else f"{seen} processes"
        return Probe(False, f"the process limit did not hold ({found} for a limit of {allowed})")
    took = time.monotonic() - started
    return Probe(True, f"at most {allowed} processes ({host.process_limit}; {took:.1f} s to check)")


def _last_int(text: str) -> int | None:
    for line in reversed(text.split()):
        if line.isdigit():
            return int(line)
    return None


def sandbox_summary() -> dict[str, object]:
    """What `llmos status` and `llmos doctor --json` say about the sandbox."""
    replay, cli = replay_sandbox(), cli_sandbox()
    host = host_facts()
    return {
        "replay": {"available": replay.ok, "detail": replay.detail, "hint": replay.hint},
        "learner": {"available": cli.ok, "detail": cli.detail, "hint": cli.hint},
        "process_limit": host.process_limit,
        "as_root": host.as_root,
        "platform": sys.platform,
        "user": os.environ.get("USER") or "",
    }
