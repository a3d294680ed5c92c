"""The `llmos` command line.

Expected failures (`LlmosError`) become a one-line message, a hint and a non-zero exit;
only bugs show a traceback. Keep imports here light: `llmos --help` must not load the SDK.
"""

from __future__ import annotations

import gc
import importlib
import sys
from typing import Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from llmos.cli.process import (
    configure_logging,
    describe_stop,
    install_signal_handlers,
    received_signal,
    state_error_of,
)
from llmos.cli.terminal import terminal
from llmos.errors import LlmosError


class CommandEntry(NamedTuple):
    target: str  # "module:attribute": a function, or a typer app for a command group
    summary: str  # how its help starts (a test checks it): what `llmos --help` lists


# Every command. Modules are imported only when their command runs, so `llmos run` pays for
# nothing else (Follower runs must stay a fraction of a second) and `llmos --help` lists the
# commands from their summaries without importing any.
COMMANDS: dict[str, CommandEntry] = {
    "run": CommandEntry(
        "llmos.cli.run:run",
        "Run a goal: replay it if learned (Follower, $0), else learn it (Learner).",
    ),
    "init": CommandEntry(
        "llmos.cli.init:init",
        "Make a folder an llmos workspace, even one that holds other files.",
    ),
    "doctor": CommandEntry(
        "llmos.cli.doctor:doctor",
        "Check the workspace and the machine; --repair fixes what it can (databases from "
        "their journals, indexes from the files, runs a killed llmos left).",
    ),
    "status": CommandEntry(
        "llmos.cli.status:status",
        "Show the workspace, the balance and counts of traces, projects and sessions.",
    ),
    "budget": CommandEntry(
        "llmos.cli.budget:budget_app",
        "Show the balance and the spend log; `budget set USD`, `budget add USD`.",
    ),
    "traces": CommandEntry(
        "llmos.cli.traces:traces_app",
        "Learned traces: list, show, rm, aliases, alias, unalias, export, import, reindex.",
    ),
    "undo": CommandEntry(
        "llmos.cli.undo:undo",
        "Put back the files a run changed in its working folder (the latest run by default).",
    ),
    "demo": CommandEntry(
        "llmos.cli.demo:demo",
        "Run llmos end to end, offline, with a scripted model.",
    ),
    "schedule": CommandEntry(
        "llmos.cli.schedule:schedule_app",
        (
            "Goals that run on a schedule while the kernel runs (`llmos kernel start`): add, list, "
            "rm, pause, resume."
        ),
    ),
    "kernel": CommandEntry(
        "llmos.cli.kernel:kernel_app",
        "The kernel: `kernel start` runs scheduled goals in the foreground; `kernel status`.",
    ),
    "sessions": CommandEntry(
        "llmos.cli.sessions:sessions_app",
        "Session logs (L2): every run's events, hash-chained. list, show RUN, verify [RUN].",
    ),
    "memory": CommandEntry(
        "llmos.cli.memory:memory_app",
        (
            "Facts and insights (L4 memory), recalled before Learner runs: add, search, list, show,"
            " rm, distill, reindex."
        ),
    ),
    "insights": CommandEntry(
        "llmos.cli.insights:insights",
        (
            "Across projects: spend per project and mode, money saved by Follower runs, the most "
            "reused traces, success rates per tool and per agent, agents worth reusing (success >= "
            "0.8 over >= 3 uses), goals that keep failing, and governance: evaluators' scores, "
            "checkers that denied calls or sent runs back, routes taken."
        ),
    ),
    "project": CommandEntry(
        "llmos.cli.project:project_app",
        (
            "Projects: each has its own working folder (output/), memory, agents, settings, "
            "plugins, security policy (policy.yaml) and budget."
        ),
    ),
    "plugins": CommandEntry(
        "llmos.cli.plugins:plugins_app",
        (
            "Plugins: Python modules in the workspace's plugins/ folder, or installed packages with"
            " an `llmos.plugins` entry point, that add tools, event hooks and agents."
        ),
    ),
    "agents": CommandEntry(
        "llmos.cli.agents:agents_app",
        "Agents: named roles (system prompt, tools, model) in Markdown files.",
    ),
    "interactive": CommandEntry(
        "llmos.cli.interactive:interactive",
        "Work with llmos at a prompt: each line is a goal, /commands manage the OS.",
    ),
    "policy": CommandEntry(
        "llmos.cli.policy:policy_app",
        (
            "The security policy: show the one in effect, check commands against it, list the audit"
            " trail of its decisions."
        ),
    ),
}
_SETTINGS: dict[str, Any] = {
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"]},
}


class LazyCommands(TyperGroup):
    """A command group that imports a command's module when the command is looked up, and
    lists the commands (`llmos --help`) from their summaries."""

    _listing = False

    # typer vendors click in some releases and not in others: leave the click types loose.
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self._listing:  # only its name and summary are shown
            return TyperCommand(cmd_name, help=entry.summary)
        module, attribute = entry.target.split(":")
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
    # The command's module is imported by now (LazyCommands.get_command): see main().
    gc.freeze()
    gc.enable()


def report_error(exc: LlmosError) -> None:
    from llmos.text import clean

    err = terminal(stderr=True)
    try:
        err.print("[bold red]error:[/] ", markup=True, end="")
        err.print(clean(exc.message), markup=False)
        if exc.hint:
            err.print(clean(exc.hint), markup=False)
    except OSError:
        pass  # no terminal to tell (it closed, or stderr is a full disk): the exit code says it


def main() -> None:
    # Start-up imports a few hundred modules and makes no garbage worth collecting: the
    # collector would only walk them over and over as they load (then once more at exit).
    # It is off until the command's module is loaded, then what was loaded is frozen out of
    # its reach; a $0 replay is ~60 ms faster for it. (`_root` turns the collector back on.)
    gc.disable()
    install_signal_handlers()  # SIGTERM and SIGHUP end llmos the way Ctrl-C does
    configure_logging()
    try:
        app()
    except SystemExit:
        stopped = received_signal()
        if stopped is None:
            raise
        terminal(stderr=True).print(describe_stop(stopped), markup=False)
        sys.exit(128 + stopped)
    except KeyboardInterrupt:
        stopped = received_signal()
        sys.exit(128 + (stopped or 2))
    except LlmosError as exc:
        report_error(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:
        error = state_error_of(exc)
        if not isinstance(error, LlmosError):
            raise
        report_error(error)
        sys.exit(error.exit_code)
    finally:
        gc.enable()
