"""The `llmos` command line.

Expected failures (`LlmosError`) become a one-line message, a hint and a non-zero exit;
only bugs show a traceback. Keep imports here light: `llmos --help` must not load the SDK.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from llmos.errors import LlmosError

# Every command, as "module:attribute" (a function, or a typer app for a command group).
# Modules are imported only when their command runs (or when --help lists them all), so
# `llmos run` pays for nothing else: Follower runs must stay a fraction of a second.
COMMANDS: dict[str, str] = {
    "run": "llmos.cli.run:run",
    "status": "llmos.cli.status:status",
    "budget": "llmos.cli.budget:budget_app",
    "traces": "llmos.cli.traces:traces_app",
    "demo": "llmos.cli.demo:demo",
    "schedule": "llmos.cli.schedule:schedule_app",
    "kernel": "llmos.cli.kernel:kernel_app",
    "sessions": "llmos.cli.sessions:sessions_app",
    "memory": "llmos.cli.memory:memory_app",
    "insights": "llmos.cli.insights:insights",
    "project": "llmos.cli.project:project_app",
    "plugins": "llmos.cli.plugins:plugins_app",
    "agents": "llmos.cli.agents:agents_app",
    "interactive": "llmos.cli.interactive:interactive",
    "policy": "llmos.cli.policy:policy_app",
}
_SETTINGS: dict[str, Any] = {
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}


class LazyCommands(TyperGroup):
    """A command group that imports a command's module when the command is looked up."""

    # typer vendors click in some releases and not in others: leave the click types loose.
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        obj = getattr(importlib.import_module(module), attribute)
        if not isinstance(obj, typer.Typer):
            single = typer.Typer(**_SETTINGS)
            single.command(cmd_name)(obj)
            obj = single
        command = typer.main.get_command(obj)
        command.name = cmd_name
        # Shell completion is not offered (add_completion=False), sub-apps included.
        command.params = [
            p for p in command.params if p.name not in ("install_completion", "show_completion")
        ]
        return command


app = typer.Typer(
    name="llmos",
    cls=LazyCommands,
    help=(
        "An LLM operating system: give it a goal in plain language. A goal learned before is "
        "replayed from its trace (Follower: no model, $0); a new one is worked out by the "
        "model through the Claude Agent SDK (Learner), every tool call guarded, and its "
        "trace saved."
    ),
    no_args_is_help=True,
    **_SETTINGS,
)


@app.callback()
def _root() -> None:
    pass


def report_error(exc: LlmosError) -> None:
    err = Console(stderr=True, highlight=False)
    err.print(f"[bold red]error:[/] {exc.message}", markup=True)
    if exc.hint:
        err.print(exc.hint, markup=False)


def main() -> None:
    try:
        app()
    except LlmosError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
