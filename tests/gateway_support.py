"""Helpers for the gateway's end-to-end tests: the real Claude Code CLI (bundled in the SDK's
wheel) pointed at a gateway, and an approver whose answers a test scripts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmos._internal.security.approval import ApprovalRequest, Verdict
from llmos._internal.testing.scripted_model import ScriptedModelServer


def claude_cli() -> Path:
    import claude_agent_sdk  # tests may import the SDK; llmos itself only in llmos/_internal/sdk/

    return Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"


def claude_env(
    server: ScriptedModelServer, url: str, config_dir: Path, home: Path, **extra: str
) -> dict[str, str]:
    """The CLI's environment: isolated by the scripted server's rules, aimed at `url`."""
    env = dict(os.environ)
    env.update(server.client_env(config_dir))
    env.update({"ANTHROPIC_BASE_URL": url, "HOME": str(home), "IS_SANDBOX": "1"})
    env.update(extra)
    return env


def run_claude(
    prompt: str,
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float = 90,
) -> subprocess.CompletedProcess[str]:
    """`claude -p PROMPT` as a user runs it, tools pre-approved (the gateway decides)."""
    return subprocess.run(
        [str(claude_cli()), "-p", prompt, "--dangerously-skip-permissions"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def transcript_text(config_dir: Path) -> str:
    """Everything the CLI recorded of its conversations (what the client saw)."""
    return "\n".join(p.read_text() for p in (config_dir / "projects").rglob("*.jsonl"))


@dataclass
class ScriptedApprover:
    """Answers the gateway's questions from a list (or a function of the request); waits
    forever when told to (`None`), to test the time limit."""

    answers: list[Verdict | Callable[[ApprovalRequest], Verdict] | None] = field(
        default_factory=list
    )
    asked: list[ApprovalRequest] = field(default_factory=list)

    async def approve(self, request: ApprovalRequest) -> Verdict:
        self.asked.append(request)
        answer = self.answers.pop(0) if self.answers else None
        if answer is None:
            await asyncio.Event().wait()  # nobody answers
        if callable(answer):
            return answer(request)
        assert answer is not None
        return answer


def tool_results(request: Any) -> list[dict[str, Any]]:
    return list(request.tool_results())


def results_text(request: Any) -> str:
    return json.dumps(tool_results(request))
