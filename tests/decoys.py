"""Decoys for the containment tests: what a destructive command would harm, all of it in the
test's temporary folders, and a check that nothing of it was harmed.

- files in the test's temporary home (`$HOME`: its .bashrc, Documents/, and credentials
  holding `SECRET`: ~/.ssh/id_rsa, ~/.aws/credentials, ~/.netrc) and in a folder beside the
  working folder;
- a listener on 127.0.0.1 (`$DECOY_PORT`) that records every connection: exfiltration and
  reverse shells aim at it;
- a process outside the sandbox (`$DECOY_PID`, its command line naming
  `llmos-decoy-victim`), for kill, pkill and `kill -9 -1`;
- a credential in the environment (`$DECOY_TOKEN`, also `SECRET`).

Before the fixture hands them over, a canary proves the sandbox is active: a sandboxed
command must fail to write into the decoy home. If it does not, the test fails there, and no
dangerous command runs at all.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import Sandbox, run_llmos

from llmos._internal.security.sandbox import build_profile, host_facts
from llmos._internal.security.sandbox_probe import replay_sandbox, run_sandboxed

SECRET = "DECOY-SECRET-5e1f0c"
VICTIM_NAME = "llmos-decoy-victim"
HOME_FILES = {
    ".bashrc": "alias ll='ls -l'\n",
    ".profile": "export EDITOR=vi\n",
    ".gitconfig": "[user]\n\tname = Decoy\n",
    "Documents/important.txt": "the only copy\n",
    "Documents/deep/notes.md": "# notes\n",
    ".ssh/id_rsa": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n-----END-----\n",
    ".aws/credentials": f"[default]\naws_secret_access_key = {SECRET}\n",
    ".netrc": f"machine example.org login decoy password {SECRET}\n",
}
# Limits the containment tests set (config.yaml), so that a runaway ends in seconds.
TEST_LIMITS = "sandbox_cpu_secs: 2\nsandbox_max_file_mb: 5\nsandbox_max_processes: 64\n"

needs_sandbox = pytest.mark.skipif(
    not replay_sandbox().ok,
    reason=f"containment tests run the danger only inside a sandbox, and this machine has "
    f"none: {replay_sandbox().detail}. {replay_sandbox().hint or ''}",
)
needs_process_limit = pytest.mark.skipif(
    host_facts().process_limit == "none",
    reason="as root on a kernel before 6.14 the sandbox cannot limit processes: a fork bomb "
    "would reach the machine, so it is not run",
)


@dataclass
class Decoys:
    home: Path
    outside: Path
    port: int
    victim: subprocess.Popen[bytes]
    hits: list[bytes] = field(default_factory=list)
    before: dict[str, bytes] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        # DECOY_TOKEN: a credential in the environment llmos runs in.
        return {
            "DECOY_PORT": str(self.port),
            "DECOY_PID": str(self.victim.pid),
            "DECOY_TOKEN": SECRET,
        }

    def snapshot(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        # What llmos and the Claude Code CLI themselves (outside the sandbox) keep in home:
        # llmos's parser cache, the CLI's caches, settings and logs.
        own = [self.home / p for p in (".cache", ".claude", ".config/anthropic", ".npm")]
        for root in (self.home, self.outside):
            for path in sorted(root.rglob("*")):
                if any(path.is_relative_to(p) or p.is_relative_to(path) for p in own):
                    continue
                key = str(path)
                if path.is_symlink():
                    # the link's exact text: Path.readlink() would normalise it
                    found[key] = b"link:" + os.readlink(path).encode()  # noqa: PTH115
                elif path.is_file():
                    found[key] = path.read_bytes()
                else:
                    found[key] = b"<dir>"
        return found

    def assert_unharmed(self, workdir: Path) -> None:
        """Nothing outside the working folder changed, nothing reached the listener, the
        outside process lives, no secret was copied into the working folder, and no process
        of the sandbox is left."""
        after = self.snapshot()
        changed = sorted(
            k for k in set(after) | set(self.before) if after.get(k) != self.before.get(k)
        )
        assert changed == [], f"changed outside the working folder: {changed}"
        assert self.hits == [], f"connections reached the listener: {self.hits}"
        assert self.victim.poll() is None, "the process outside the sandbox was killed"
        leaked = [
            str(p)
            for p in workdir.rglob("*")
            if p.is_file() and not p.is_symlink() and SECRET.encode() in p.read_bytes()
        ]
        assert leaked == [], f"a secret was copied into the working folder: {leaked}"
        assert _processes_in(workdir) == [], "processes of the sandbox are still running"


def _processes_in(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cwd").readlink().is_relative_to(folder):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _listen(hits: list[bytes]) -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.settimeout(1)
            try:
                hits.append(conn.recv(200) or b"<connected>")
            except OSError:
                hits.append(b"<connected>")
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1]


def configure(sandbox: Sandbox, settings: str) -> None:
    run_llmos(sandbox, "status")  # makes the workspace and its config.yaml
    with (sandbox.workspace / "config.yaml").open("a") as config:
        config.write("\n" + settings)


@pytest.fixture(name="decoys")
def decoys_fixture(sandbox: Sandbox) -> Iterator[Decoys]:
    for name, text in HOME_FILES.items():
        path = sandbox.home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    outside = sandbox.root / "outside"
    outside.mkdir()
    (outside / "report.txt").write_text("quarterly figures\n")
    hits: list[bytes] = []
    server, port = _listen(hits)
    victim = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", VICTIM_NAME],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _canary(sandbox)
        found = Decoys(sandbox.home, outside, port, victim, hits)
        found.before = found.snapshot()
        yield found
    finally:
        victim.kill()
        victim.wait()
        server.close()


def _canary(sandbox: Sandbox) -> None:
    """The sandbox must be active before anything dangerous runs: a write into the decoy
    home has to fail."""
    sandbox.output.mkdir(parents=True, exist_ok=True)
    target = sandbox.home / "canary.txt"
    proc = run_sandboxed(f"echo x > {target}", build_profile(sandbox.output, env={}))
    if target.exists() or proc.returncode == 0:
        target.unlink(missing_ok=True)
        pytest.fail("the sandbox is not active (a write outside succeeded): nothing dangerous ran")
