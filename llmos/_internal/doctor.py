"""`llmos doctor`'s checks: is this machine and this workspace fit to run llmos?

Each check is a small function of a `Checkup` (the workspace, the environment, whether the
network may be used) that returns one or more `Finding`s. `CHECKS` lists them in the order
they are shown; add a check by writing a function and appending it. A finding that is not
ok is `fail` when llmos cannot do what the user configured it to do (exit 1), and `warn`
when llmos works but less safely or less fully.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Literal

from llmos._internal.errors import LlmosError
from llmos._internal.frozen import frozen
from llmos._internal.workspace import Workspace

Status = Literal["ok", "warn", "fail", "skip"]


@frozen
class Finding:
    """The result of one `llmos doctor` check, with a hint when it is not ok."""

    check: str
    status: Status
    detail: str
    hint: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "check": self.check,
            "status": self.status,
            "detail": self.detail,
            "hint": self.hint,
        }


@frozen
class Checkup:
    """What the doctor's checks look at, and what they are allowed to do."""

    ws: Workspace
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    network: bool = False  # may a check call the model API?
    repair: bool = False  # may a check fix what it finds (llmos/_internal/repair.py)?


Check = Callable[[Checkup], Iterable[Finding]]


# --------------------------------------------------------------------------------- sandbox


def check_sandbox(up: Checkup) -> Iterable[Finding]:
    """The OS sandbox: does a write outside the working folder fail, is the network cut, do
    the process limits hold? Each by running a canary inside it."""
    from llmos._internal.security.sandbox import host_facts
    from llmos._internal.security.sandbox_probe import (
        bwrap_version,
        cli_sandbox,
        network_canary,
        process_canary,
        replay_sandbox,
    )

    setting = _setting(up)
    missing: Status = "fail" if setting == "required" else "warn"
    replay = replay_sandbox()
    detail = replay.detail + (
        "" if replay.ok else f"; with sandbox: {setting}, " + _without(setting)
    )
    if replay.ok:
        detail = detail.replace("bubblewrap", bwrap_version(host_facts()), 1)
    yield Finding(
        "sandbox: replays (bubblewrap)", "ok" if replay.ok else missing, detail, replay.hint
    )
    learner = cli_sandbox()
    yield Finding(
        "sandbox: Learner runs (the Claude Code CLI's)",
        "ok" if learner.ok else missing,
        learner.detail,
        learner.hint,
    )
    if not replay.ok:
        return
    network = network_canary()
    yield Finding("sandbox: network", "ok" if network.ok else "fail", network.detail, network.hint)
    processes = process_canary()
    yield Finding(
        "sandbox: process limit",
        "ok" if processes.ok else "warn",
        processes.detail,
        processes.hint,
    )


def _setting(up: Checkup) -> str:
    try:
        return up.ws.settings.sandbox
    except LlmosError:
        return "auto"


def _without(setting: str) -> str:
    if setting == "required":
        return "commands are refused"
    if setting == "off":
        return "commands run without it anyway"
    return "commands run without it"


def check_root(up: Checkup) -> Iterable[Finding]:
    """Running as root weakens the Claude Code CLI's sandbox."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        yield Finding(
            "user",
            "warn",
            "llmos runs as root: in a Learner run, a command in the Claude Code CLI's sandbox "
            "can change kernel settings (/proc/sys) and undo its process limit (llmos's own "
            "sandbox, for replays, guards both)",
            "Run llmos as an ordinary user.",
        )
    else:
        yield Finding("user", "ok", f"an ordinary user (uid {os.geteuid()})")


# ------------------------------------------------------------------------------ the agent


def check_claude_cli(up: Checkup) -> Iterable[Finding]:
    """The Claude Code CLI bundled with the SDK, found without importing the SDK."""
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is None or not spec.submodule_search_locations:
        yield Finding(
            "Claude Code CLI",
            "fail",
            "the claude-agent-sdk package is not installed",
            "pip install claude-agent-sdk",
        )
        return
    binary = Path(next(iter(spec.submodule_search_locations))) / "_bundled" / "claude"
    if not binary.is_file():
        yield Finding("Claude Code CLI", "fail", f"no bundled CLI at {binary}")
        return
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        yield Finding("Claude Code CLI", "fail", f"{binary} does not run ({exc})")
        return
    version = out.stdout.strip() or out.stderr.strip()[:200]
    status: Status = "ok" if out.returncode == 0 else "fail"
    yield Finding("Claude Code CLI", status, f"{version} ({binary})")


def check_model_access(up: Checkup) -> Iterable[Finding]:
    """Credentials for the model; with `--network`, one count_tokens request proves them."""
    from llmos._internal.credentials import HOW_TO_CONNECT, model_access
    from llmos._internal.errors import NoModelAccessError

    try:
        how = model_access(up.env)
    except NoModelAccessError as exc:
        yield Finding(
            "model access",
            "warn",
            f"{exc.message}: Learner runs cannot start (replays need no model)",
            HOW_TO_CONNECT,
        )
        return
    if not up.network:
        yield Finding("model access", "ok", f"configured: {how} (not tried; --network tries it)")
        return
    from llmos._internal.memory.tokens import ConservativeCounter, TokenCountUnavailable
    from llmos._internal.sdk.token_count import counter_for

    counter = counter_for(up.env, None)
    if isinstance(counter, ConservativeCounter):
        yield Finding("model access", "skip", f"configured: {how}; {counter.name}")
        return
    try:
        counter.count(["hello"])
    except TokenCountUnavailable as exc:
        yield Finding("model access", "fail", f"{how}: the model API refused ({exc})")
        return
    yield Finding("model access", "ok", f"{how}: the model API answered")


# ------------------------------------------------------------------------------ workspace


def check_workspace(up: Checkup) -> Iterable[Finding]:
    """Its folders exist and can be written."""
    ws = up.ws
    folders = (ws.traces_dir, ws.sessions_dir, ws.facts_dir, ws.projects_dir, ws.state_dir)
    missing = [str(f) for f in folders if not f.is_dir()]
    unwritable = [str(f) for f in folders if f.is_dir() and not os.access(f, os.W_OK)]
    if missing or unwritable:
        what = (
            "missing: " + ", ".join(missing)
            if missing
            else "not writable: " + ", ".join(unwritable)
        )
        yield Finding("workspace folders", "fail", what)
    else:
        yield Finding("workspace folders", "ok", str(ws.root))


def check_settings(up: Checkup) -> Iterable[Finding]:
    """config.yaml and every project.yaml read back."""
    from llmos._internal.projects.store import list_projects

    try:
        settings = up.ws.settings
    except LlmosError as exc:
        yield Finding("config.yaml", "fail", exc.message, exc.hint)
        return
    yield Finding("config.yaml", "ok", f"sandbox: {settings.sandbox}, model: {settings.model}")
    broken = [p for p in list_projects(up.ws) if p.problem]
    for project in broken:
        yield Finding(f"project {project.name}", "fail", str(project.problem))


def check_policies(up: Checkup) -> Iterable[Finding]:
    """The security policy files (the workspace's and each project's) parse."""
    from llmos._internal.security.policy_file import load_policy

    names = [None, *up.ws.project_names()]
    bad = 0
    for name in names:
        try:
            load_policy(up.ws.root, name)
        except LlmosError as exc:
            bad += 1
            yield Finding(f"policy ({name or 'workspace'})", "fail", exc.message, exc.hint)
    if not bad:
        yield Finding("policy files", "ok", f"{len(names)} checked (workspace and projects)")


# The databases in state/ that `check_state` (llmos/_internal/repair.py: the ledger, the audit
# trail, the schedule and the indexes, with their journals) does not cover.
DATABASES = {
    "trust.db": "the trust of traces and the trusted keys",
    "gateway.db": "the gateway's keys and conversations",
}
_FROM_REPAIR: dict[str, Status] = {
    "ok": "ok",
    "repaired": "ok",
    "warning": "warn",
    "problem": "fail",
}


def check_state(up: Checkup) -> Iterable[Finding]:
    """The databases and their journals, the indexes, runs a killed llmos left unrecorded,
    half-written files (llmos/_internal/repair.py); with `repair`, fixed as far as they can be."""
    from llmos._internal.repair import run_checks as state_checks

    for found in state_checks(up.ws, repair=up.repair):
        detail = f"repaired: {found.detail}" if found.status == "repaired" else found.detail
        yield Finding(found.check, _FROM_REPAIR[found.status], detail, found.fix)


def check_databases(up: Checkup) -> Iterable[Finding]:
    """Each database in state/ opens and passes SQLite's quick check (read-only)."""
    for name, holds in DATABASES.items():
        path = up.ws.state_dir / name
        if not path.exists():
            yield Finding(f"database {name}", "skip", f"not made yet ({holds})")
            continue
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error as exc:
            yield Finding(f"database {name}", "fail", f"cannot be read: {exc}")
            continue
        status: Status = "ok" if verdict == "ok" else "fail"
        yield Finding(f"database {name}", status, holds if verdict == "ok" else verdict)


def check_python(up: Checkup) -> Iterable[Finding]:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= (3, 11)
    yield Finding("Python", "ok" if ok else "fail", f"{version} ({sys.executable})")


CHECKS: list[Check] = [
    check_python,
    check_root,
    check_sandbox,
    check_claude_cli,
    check_model_access,
    check_workspace,
    check_settings,
    check_policies,
    check_state,
    check_databases,
]


def run_checks(up: Checkup, checks: Iterable[Check] = CHECKS) -> list[Finding]:
    """Every check's findings; a check that raises is a failed finding, not a crash."""
    findings: list[Finding] = []
    for check in checks:
        try:
            findings.extend(check(up))
        except Exception as exc:
            findings.append(Finding(check.__name__.removeprefix("check_"), "fail", repr(exc)))
    return findings
