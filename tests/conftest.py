"""Shared fixtures. Every test runs with HOME, LLMOS_HOME and CLAUDE_CONFIG_DIR in its own
temp folders and with no model credentials, so nothing can touch the real machine or
reach a real model; end-to-end tests talk to one scripted model server on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from llmos._internal.testing.scripted_model import ScriptedModelServer

# The scripted server reports this model; the CLI prices it at $3/$15 per Mtok.
MODEL = "claude-sonnet-4-5"
_CREDENTIAL_VARS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
)


@dataclass
class Sandbox:
    root: Path
    home: Path
    workspace: Path
    claude_config: Path

    @property
    def output(self) -> Path:
        return self.workspace / "projects" / "default" / "output"

    @property
    def traces(self) -> Path:
        return self.workspace / "memories" / "traces"


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    # Not named "llmos": the child `python -m llmos` runs in tmp_path, where a folder of
    # that name would shadow the package (its agents/, plugins/, projects/ as subpackages).
    box = Sandbox(tmp_path, tmp_path / "home", tmp_path / "workspace", tmp_path / "claude")
    box.home.mkdir()
    monkeypatch.setenv("HOME", str(box.home))
    monkeypatch.setenv("LLMOS_HOME", str(box.workspace))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(box.claude_config))
    for name in _CREDENTIAL_VARS:
        monkeypatch.delenv(name, raising=False)
    return box


@pytest.fixture(scope="session")
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def scripted(model_server: ScriptedModelServer) -> Iterator[ScriptedModelServer]:
    """The shared scripted server, emptied for this test."""
    model_server.reset()
    yield model_server
    model_server.reset()


def run_llmos(
    sandbox: Sandbox,
    *args: str,
    server: ScriptedModelServer | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the real `llmos` command line in a child process, inside the sandbox."""
    child_env = dict(os.environ)
    if server is not None:
        child_env.update(server.client_env(sandbox.claude_config))
    child_env.update(env or {})
    if any(child_env.get(name) for name in _CREDENTIAL_VARS) and not child_env.get(
        "ANTHROPIC_BASE_URL"
    ):
        # Safety net: a credential with no scripted server must never reach the real API.
        child_env["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9"
    child_env["COLUMNS"] = "200"  # keep rich from wrapping what the tests read
    return subprocess.run(
        # -P: the current folder (the sandbox) is not put on sys.path, so no folder in it can
        # shadow the llmos package under an editable install.
        [sys.executable, "-P", "-m", "llmos", *args],
        env=child_env,
        cwd=sandbox.root,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_in_terminal(
    sandbox: Sandbox,
    *args: str,
    columns: int = 80,
    env: dict[str, str] | None = None,
    answers: Sequence[tuple[str, str]] = (),
    timeout: float = 60,
) -> tuple[int, str]:
    """Run the real `llmos` in a pseudo-terminal `columns` wide (as a user at a terminal
    would: stdin and stdout are a tty). `answers`: (prompt pattern, line to type) in order.
    Returns the exit status and what the terminal showed (\\r\\n made \\n)."""
    import pexpect

    child_env = dict(os.environ)
    child_env.pop("COLUMNS", None)  # the terminal's own width
    child_env.pop("LINES", None)
    child_env.update(env or {})
    child = pexpect.spawn(
        sys.executable,
        ["-P", "-m", "llmos", *args],
        cwd=str(sandbox.root),
        env=child_env,
        dimensions=(60, columns),
        encoding="utf-8",
        timeout=timeout,
    )
    try:
        for pattern, line in answers:
            child.expect(pattern)
            child.sendline(line)
        child.expect(pexpect.EOF)
        shown = (child.before or "").replace("\r\n", "\n")
    finally:
        child.close()
    status = child.exitstatus if child.exitstatus is not None else 128 + (child.signalstatus or 0)
    return status, shown
