"""One run's sandbox: whether its commands run in one, which profile, and what to say when
they cannot.

`sandbox: auto | required | off` (config.yaml, a project's settings) decides with what the
machine offers (`llmos/_internal/security/sandbox_probe.py`):

- **auto**: the sandbox where this machine has one; where it has none, the run says so once
  (a `Notice`), and its commands run without;
- **required**: a run whose commands cannot be sandboxed is refused (`SandboxError`, exit 6)
  before anything runs;
- **off**: commands run without it.

An imported trace (`llmos/_internal/security/trust.py`) replays only inside the sandbox, whatever
the setting: where there is none it is refused.

A replay holds its profile `in_use` while its steps run: the profile, given a private temp
folder (removed when the replay ends), is handed to the step executor, which runs each
command through `sandboxed_argv` (`llmos/_internal/security/sandbox.py`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from llmos._internal.errors import SandboxError
from llmos._internal.frozen import frozen
from llmos._internal.security.sandbox import Limits, SandboxProfile, build_profile

if TYPE_CHECKING:
    from llmos._internal.security.policy_file import Policy
    from llmos._internal.security.sandbox_probe import Probe
    from llmos._internal.workspace import Workspace

Kind = Literal["replay", "learner"]
# What a run's summary says of its sandbox.
BUBBLEWRAP = "bubblewrap (llmos)"
CLAUDE_CODE = "the Claude Code CLI's sandbox"


@frozen
class RunSandbox:
    """A run's sandbox: its profile (None: commands run without one), and the one line the
    run says about it when it has none though the setting wanted one."""

    profile: SandboxProfile | None
    kind: Kind
    notice: str | None = None

    @property
    def description(self) -> str:
        if self.profile is None:
            return "none"
        return BUBBLEWRAP if self.kind == "replay" else CLAUDE_CODE


def run_sandbox(
    ws: Workspace,
    kind: Kind,
    *,
    workdir: Path,
    policy: Policy,
    home: Path | None = None,
    imported: str | None = None,
) -> RunSandbox:
    """The sandbox of a run of `kind` in `workdir`. `imported` names a trace from elsewhere
    being replayed (approved, not learned here): it needs the sandbox whatever the setting.
    Raises `SandboxError` when the run needs a sandbox this machine cannot give."""
    mode = ws.settings.sandbox
    if mode == "off" and imported is None:
        return RunSandbox(None, kind)
    probe = _probe(kind)
    if not probe.ok:
        where = "Learner runs' commands" if kind == "learner" else "replayed commands"
        if imported is not None:
            raise SandboxError(
                f"{imported} was not learned here, so it replays only inside the sandbox, and "
                f"this machine has none: {probe.detail}",
                hint=_hint(probe),
            )
        if mode == "required":
            raise SandboxError(
                f"sandbox: required, and this machine cannot sandbox {where}: {probe.detail}",
                hint=_hint(probe),
            )
        notice = f"no sandbox: {probe.detail}; {where} run without it. {_hint(probe)}"
        return RunSandbox(None, kind, notice)
    return RunSandbox(profile_for(ws, workdir, policy, home=home), kind)


def profile_for(
    ws: Workspace, workdir: Path, policy: Policy, *, home: Path | None = None
) -> SandboxProfile:
    """The sandbox profile of a run of `ws` in `workdir` under `policy`."""
    settings = ws.settings
    return build_profile(
        workdir,
        home=home,
        allowed_paths=policy.allowed_paths,
        allowed_domains=policy.allowed_domains,
        workspace=ws.root,
        limits=Limits(
            processes=settings.sandbox_max_processes,
            cpu_secs=settings.sandbox_cpu_secs,
            file_mb=settings.sandbox_max_file_mb,
        ),
    )


def _probe(kind: Kind) -> Probe:
    # runs a canary: only for a run with commands
    from llmos._internal.security import sandbox_probe

    if kind == "learner":
        return sandbox_probe.cli_sandbox(remembered=True)
    return sandbox_probe.replay_sandbox_remembered()


def _hint(probe: Probe) -> str:
    return f"{probe.hint + ' ' if probe.hint else ''}`llmos doctor` checks the sandbox."


@contextmanager
def in_use(profile: SandboxProfile | None) -> Iterator[SandboxProfile | None]:
    """`profile` as a replay's commands use it inside the block: with a private temp folder
    (their TMPDIR), removed when the block ends. None: the commands run without a sandbox."""
    if profile is None:
        yield None
        return
    tmp = Path(tempfile.mkdtemp(prefix="llmos-sandbox-tmp-"))
    try:
        yield profile.with_tmpdir(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
