"""The `llmos` command line as typer reads it: every command, its options and its help.

Commands are imported only when they run (`LazyCommands`), and this module only when a
command line is not one `quick_run.py` reads: a replay's `llmos run GOAL` loads no typer.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import sys
from typing import Annotated, Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from llmos._internal.cli.terminal import terminal
from llmos._internal.errors import LlmosError


class CommandEntry(NamedTuple):
    target: str  # "module:attribute": a function, or a typer app for a command group
    summary: str  # how its help starts (a test checks it): what `llmos --help` lists


# Every command. Modules are imported only when their command runs, so `llmos run` pays for
# nothing else (Follower runs must stay a fraction of a second) and `llmos --help` lists the
# commands from their summaries without importing any.
COMMANDS: dict[str, CommandEntry] = {
    "run": CommandEntry(
        "llmos._internal.cli.run:run",
        "Run a goal: replay it if learned (Follower, $0), else learn it (Learner).",
    ),
    "init": CommandEntry(
        "llmos._internal.cli.init:init",
        "Make a folder an llmos workspace, even one that holds other files.",
    ),
    "status": CommandEntry(
        "llmos._internal.cli.status:status",
        "Show the workspace, the balance and counts of traces, projects and sessions.",
    ),
    "doctor": CommandEntry(
        "llmos._internal.cli.doctor:doctor",
        (
            "Check the machine and the workspace: the OS sandbox (by canaries), the Claude Code "
            "CLI, model access, settings, policy files, the databases and their journals, the "
            "indexes, runs a killed llmos left unrecorded, half-written files."
        ),
    ),
    "budget": CommandEntry(
        "llmos._internal.cli.budget:budget_app",
        "Show the balance and the spend log; `budget set USD`, `budget add USD`.",
    ),
    "traces": CommandEntry(
        "llmos._internal.cli.traces:traces_app",
        (
            "Learned traces: list, show, rm, aliases, alias, unalias, export, import, trust, "
            "untrust, keys, reindex. A trace that was not learned here replays only once a human "
            "approved it (`traces trust`)."
        ),
    ),
    "undo": CommandEntry(
        "llmos._internal.cli.undo:undo",
        "Put back the files a run changed in its working folder (the latest run by default).",
    ),
    "demo": CommandEntry(
        "llmos._internal.cli.demo:demo",
        "Run llmos end to end, offline, with a scripted model.",
    ),
    "schedule": CommandEntry(
        "llmos._internal.cli.schedule:schedule_app",
        (
            "Goals that run on a schedule while the kernel runs (`llmos kernel start`): add, list, "
            "rm, pause, resume."
        ),
    ),
    "kernel": CommandEntry(
        "llmos._internal.cli.kernel:kernel_app",
        "The kernel: `kernel start` runs scheduled goals in the foreground; `kernel status`.",
    ),
    "sessions": CommandEntry(
        "llmos._internal.cli.sessions:sessions_app",
        "Session logs (L2): every run's events, hash-chained. list, show RUN, verify [RUN], "
        "export RUN... --otlp.",
    ),
    "memory": CommandEntry(
        "llmos._internal.cli.memory:memory_app",
        (
            "Facts and insights (L4 memory), recalled before Learner runs: add, search, list, show,"
            " rm, distill, reindex."
        ),
    ),
    "insights": CommandEntry(
        "llmos._internal.cli.insights:insights",
        (
            "Across projects: spend per project and mode, money saved by Follower runs, the most "
            "reused traces, success rates per tool and per agent, agents worth reusing (success >= "
            "0.8 over >= 3 uses), goals that keep failing, and governance: evaluators' scores, "
            "checkers that denied calls or sent runs back, routes taken."
        ),
    ),
    "project": CommandEntry(
        "llmos._internal.cli.project:project_app",
        (
            "Projects: each has its own working folder (output/), memory, agents, settings, "
            "plugins, security policy (policy.yaml) and budget."
        ),
    ),
    "plugins": CommandEntry(
        "llmos._internal.cli.plugins:plugins_app",
        (
            "Plugins: Python modules in the workspace's plugins/ folder, or installed packages with"
            " an `llmos.plugins` entry point, that add tools, event hooks and agents."
        ),
    ),
    "agents": CommandEntry(
        "llmos._internal.cli.agents:agents_app",
        "Agents: named roles (system prompt, tools, model) in Markdown files.",
    ),
    "interactive": CommandEntry(
        "llmos._internal.cli.interactive:interactive",
        "Work with llmos at a prompt: each line is a goal, /commands manage the OS.",
    ),
    "gateway": CommandEntry(
        "llmos._internal.cli.gateway:gateway_app",
        (
            "Serve the Anthropic Messages API on 127.0.0.1 and govern every agent's tool calls "
            "(Claude Code, the Agent SDK, apps on the anthropic client): sessions, save, keys."
        ),
    ),
    "console": CommandEntry(
        "llmos._internal.cli.console:console",
        (
            "Serve the web console on 127.0.0.1: the approvals inbox for every run, runs live "
            "with their timelines, traces, budget, memory and the schedule."
        ),
    ),
    "policy": CommandEntry(
        "llmos._internal.cli.policy:policy_app",
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

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:
            # typer suggests a close subcommand, not a close command of this lazy table.
            message = getattr(exc, "message", None)
            if args and _is_a(exc, "UsageError") and isinstance(message, str):
                from difflib import get_close_matches

                close = get_close_matches(args[0], list(COMMANDS))
                if close and "Did you mean" not in message:
                    exc.message = f"{message.rstrip('.')}. Did you mean {close[0]!r}?"  # type: ignore[attr-defined]
            raise

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self._listing:  # only its name and summary are shown
            return TyperCommand(cmd_name, help=entry.summary)
        module, attribute = entry.target.split(":")
        # Modules the command loads may keep caches in the workspace's guarded state before
        # the command opens it (bashlex's parser tables): say which workspace that will be.
        from llmos._internal.cli import workspace_option
        from llmos._internal.workspace import expect_workspace

        expect_workspace(workspace_option(sys.argv[1:]))
        obj = getattr(importlib.import_module(module), attribute)
        if not isinstance(obj, typer.Typer):
            single = typer.Typer(**_SETTINGS)
            single.command(cmd_name)(obj)
            obj = single
        command = typer.main.get_command(obj)
        command.name = cmd_name
        _reflow_help(command)
        # Shell completion is not offered (add_completion=False), sub-apps included.
        command.params = [
            p for p in command.params if p.name not in ("install_completion", "show_completion")
        ]
        return command


def _reflow_help(command: Any) -> None:
    """Join the lines of each paragraph of a command's help (and its subcommands'): the help
    wraps to the terminal, where typer would keep a docstring's line breaks after its first
    paragraph. A paragraph of list items or indented lines keeps its lines."""
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(_reflow(p) for p in paragraphs)
    for sub in getattr(command, "commands", {}).values():
        _reflow_help(sub)


def _reflow(paragraph: str) -> str:
    lines = paragraph.splitlines()
    if any(line.startswith((" ", "-", "*", "\b")) for line in lines):
        return paragraph
    return " ".join(line.strip() for line in lines)


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


def _show_version(value: bool) -> None:
    if value:
        # only here: it finds the SDK's files
        from llmos._internal.cli.version import print_versions

        print_versions()
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the versions of llmos, the Claude Agent SDK and its bundled CLI.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    # The command's module is imported by now (LazyCommands.get_command): see main().
    gc.freeze()
    gc.enable()


def run_app(args: list[str]) -> int:
    """Run `llmos ARGS` as typer reads it; its usage errors reported as llmos reports its
    own (JSON under --json), with exit status 2."""
    from llmos._internal.cli import report_error, wants_json

    try:
        code = app(args=args, prog_name="llmos", standalone_mode=False)
    except Exception as exc:
        if not _is_a(exc, "ClickException"):
            raise
        if _is_a(exc, "NoArgsIsHelpError"):
            return 2  # the help was printed already (as `git` does, exit 2: nothing ran)
        report_error(_usage_error(exc, args), as_json=wants_json(args))
        return int(getattr(exc, "exit_code", 2))
    except BaseException as exc:
        if _is_a(exc, "Abort"):  # the answer to a question never came (end of input)
            terminal(stderr=True).print("aborted", markup=False)
            return 1
        raise
    return code if isinstance(code, int) else 0


def _is_a(exc: BaseException, name: str) -> bool:
    # typer vendors click in some releases and not in others: match the class by name.
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def _usage_error(exc: Exception, args: list[str]) -> LlmosError:
    """The parser's error as llmos's own (exit status 2): its message, a clearer one for a
    negative number read as an option, and where to find help."""
    from llmos._internal.errors import UsageError

    message = str(getattr(exc, "format_message", lambda: str(exc))())
    ctx = getattr(exc, "ctx", None)
    if _is_a(exc, "NoSuchOption"):
        # `-0.5` is read as the option `-0`: the whole word is the one that starts so.
        name = str(getattr(exc, "option_name", ""))
        token = next((a for a in args if a.startswith(name) and _is_number(a)), name)
        message = _negative_number(token, ctx) or message
    hint = None
    if ctx is not None:
        hint = f"Usage: {ctx.get_usage().removeprefix('Usage: ')}\nSee `{ctx.command_path} --help`."
    error = UsageError(message, hint=hint)
    error.exit_code = int(getattr(exc, "exit_code", 2))
    return error


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _negative_number(token: str, ctx: Any) -> str | None:
    """What to say when `token` (`-5`), read as an unknown option, is a negative number
    given for the command's numeric argument (`llmos budget set -5`)."""
    if not _is_number(token):
        return None
    for param in getattr(getattr(ctx, "command", None), "params", []):
        kind = getattr(param, "param_type_name", "")
        least = getattr(param.type, "min", None)
        if kind == "argument" and least is not None:
            return f"{param.human_readable_name} must be a number >= {least:g}, not {token}"
    return f"{token} is a negative number, which this command does not take"
