"""The REPL's slash commands.

Those that change the session (/mode, /project, /budget, /continue, /new) are here; those
that are `llmos` commands (/traces, /show, /memory, /agents, /schedule, /sessions, /status,
parts of /project and /budget) run the command line's own code in-process
(`delegate.py`), so they print and check exactly as the command line does.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Sequence

from rich.console import Console

from llmos._internal.cli.repl import completion
from llmos._internal.cli.repl.completion import ArgumentCompleter, Candidates
from llmos._internal.cli.repl.delegate import is_available, run_cli, subcommands
from llmos._internal.cli.repl.session import CONVERSATION_MODES, ReplSession
from llmos._internal.cli.table import Column, print_fields, print_table
from llmos._internal.engine.types import MODES
from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.text import escape

Handler = Callable[[list[str]], Awaitable[bool]]  # False: leave the REPL


@frozen
class SlashCommand:
    """A slash command of the REPL, as `/help` lists it and the prompt completes it."""

    name: str
    usage: str
    summary: str
    handler: Handler
    complete: ArgumentCompleter | None = None


# `/NAME` with no arguments runs `llmos NAME` + these (else its `list`, else its --help).
_DEFAULT_ARGS: dict[str, list[str]] = {
    "traces": ["list", "--limit", "20"],
    "kernel": ["status"],
}
# `llmos` commands that make no sense at the prompt, and what to do instead.
_NOT_AT_THE_PROMPT = {
    "run": "type the goal itself",
    "interactive": "you are in it",
    "demo": "run `llmos demo` in a shell",
}


class SlashCommands:
    def __init__(self, session: ReplSession, console: Console) -> None:
        self.session = session
        self.console = console
        s = session
        entries = [
            SlashCommand(
                "help",
                "/help [COMMAND]",
                "what each command does",
                self._help,
                lambda before, word: completion.words(self.table),
            ),
            SlashCommand(
                "mode",
                "/mode [auto|learner|follower|orchestrator]",
                "show or set how goals run",
                self._mode,
                lambda before, word: completion.words(MODES),
            ),
            SlashCommand(
                "project",
                "/project [NAME | create NAME | list | show NAME | ...]",
                "show, switch or manage projects",
                self._project,
                lambda before, word: self._project_words(before),
            ),
            SlashCommand(
                "budget",
                "/budget [USD | off | add USD | set USD | log]",
                "the balance, and the most each goal may spend",
                self._budget,
                lambda before, word: completion.words(["off", "add", "set", "log"]),
            ),
            SlashCommand(
                "continue",
                "/continue [on|off]",
                "carry one agent conversation across goals",
                self._continue,
                lambda before, word: completion.words(["on", "off"]),
            ),
            SlashCommand("new", "/new", "start a new conversation (with /continue on)", self._new),
            self._cli(
                "traces",
                "/traces [WORDS | list | show ID | rm ID | ...]",
                "learned traces (WORDS: those whose goal has them)",
                self._traces,
            ),
            SlashCommand(
                "show",
                "/show ID",
                "a trace, or a run's timeline, by id or prefix",
                self._show,
                lambda before, word: completion.trace_ids(s.ws, word),
            ),
            self._cli(
                "memory", "/memory [list | add TEXT | search WORDS | ...]", "facts, insights"
            ),
            self._cli("agents", "/agents [list | show NAME | create ...]", "agents to delegate to"),
            self._cli(
                "schedule",
                "/schedule [list | add ... | rm ID | pause ID | ...]",
                "scheduled goals (run by `llmos kernel start`)",
            ),
            self._cli("sessions", "/sessions [list | show RUN | verify]", "runs' session logs"),
            SlashCommand(
                "status", "/status", "the workspace, and this session's settings", self._status
            ),
            SlashCommand("exit", "/exit", "leave (Ctrl-D too)", self._exit),
        ]
        self.table: dict[str, SlashCommand] = {entry.name: entry for entry in entries}
        self._add_other_cli_commands()
        self.aliases = {"quit": "exit", "q": "exit", "h": "help", "?": "help"}

    def _add_other_cli_commands(self) -> None:
        """Every other `llmos` command is a slash command too (/policy, /insights, ...)."""
        from llmos._internal.cli.app import COMMANDS

        for name in COMMANDS:
            if name not in self.table and name not in _NOT_AT_THE_PROMPT:
                self.table[name] = self._cli(name, f"/{name} ...", f"`llmos {name}` (--help)")

    def _cli(
        self, name: str, usage: str, summary: str, handler: Handler | None = None
    ) -> SlashCommand:
        """A slash command that runs `llmos NAME` (`handler`: one that rewrites its args)."""
        return SlashCommand(
            name,
            usage,
            summary,
            handler or self._delegated(name),
            lambda before, word: self._delegated_words(name, before, word),
        )

    async def dispatch(self, line: str) -> bool:
        """Run one slash command line; False when the REPL should end."""
        try:
            words = shlex.split(line[1:])
        except ValueError as exc:
            raise UsageError(f"cannot read the command: {exc}") from exc
        if not words:
            raise UsageError("no command after /", hint="/help lists the commands.")
        name = self.aliases.get(words[0], words[0])
        command = self.table.get(name)
        if name in _NOT_AT_THE_PROMPT:
            raise UsageError(f"/{name} is not a command here: {_NOT_AT_THE_PROMPT[name]}")
        if name == "kernel" and words[1:2] == ["start"]:
            raise UsageError(
                "the kernel runs in a terminal of its own", hint="Run `llmos kernel start` there."
            )
        if command is None:
            raise UsageError(
                f"unknown command /{words[0]}",
                hint='/help lists the commands; for a goal that starts with "/", type "//".',
            )
        return await command.handler(words[1:])

    # Session settings ---------------------------------------------------------------------
    async def _help(self, args: list[str]) -> bool:
        if args:
            name = self.aliases.get(args[0].lstrip("/"), args[0].lstrip("/"))
            if name not in self.table:
                raise UsageError(f"unknown command /{name}", hint="/help lists the commands.")
            entry = self.table[name]
            self.console.print(f"[bold]{escape(entry.usage)}[/]  {escape(entry.summary)}")
            return True
        print_table(
            [Column("command"), Column("what it does", prose=True)],
            [(entry.usage, entry.summary) for entry in self.table.values()],
            console=self.console,
        )
        self.console.print(
            "Type a goal to run it. Alt-Enter (or a line ending in \\) starts a new line; "
            "Tab completes commands, trace ids and project names; Ctrl-C interrupts a goal; "
            "Ctrl-D leaves.",
            markup=False,
        )
        return True

    async def _mode(self, args: list[str]) -> bool:
        if args:
            if args[0] not in MODES:
                raise UsageError(
                    f"unknown mode {args[0]!r}", hint=f"Use one of: {', '.join(MODES)}."
                )
            self.session.mode = next(m for m in MODES if m == args[0])
        self.console.print(f"mode: [bold]{self.session.mode}[/]")
        if self.session.continuing and self.session.mode not in CONVERSATION_MODES:
            self.console.print("[dim]goals in this mode do not continue the conversation[/]")
        return True

    async def _project(self, args: list[str]) -> bool:
        if not args:
            if is_available("project"):
                await run_cli(self.session.ws, "project", ["list"])
            else:
                for name in self.session.ws.project_names():
                    self.console.print(name, markup=False)
            self.console.print(f"current project: [bold]{escape(self.session.project)}[/]")
            return True
        if args[0] in subcommands("project"):
            code = await run_cli(self.session.ws, "project", args)
            if args[0] == "create" and code == 0 and len(args) > 1:
                self._switch(args[1])  # a project just made is where the next goals go
            return True
        if len(args) > 1:
            raise UsageError("/project takes one project name", hint="/help project")
        self._switch(args[0])
        return True

    def _switch(self, name: str) -> None:
        if is_available("project"):
            from llmos._internal.projects.store import load_project

            load_project(self.session.ws, name)  # it must exist: `/project create NAME`
        elif name not in self.session.ws.project_names():
            self.session.ws.project_dir(name)
        ended = self.session.switch_project(name)
        self.console.print(f"project: [bold]{escape(name)}[/]")
        if ended:
            self.console.print(
                "[dim]the conversation belonged to the previous project; "
                "the next goal starts a new one[/]"
            )

    async def _budget(self, args: list[str]) -> bool:
        if args and args[0] in ("add", "set"):
            await run_cli(self.session.ws, "budget", args)
            return True
        if args and args[0] == "log":
            await run_cli(self.session.ws, "budget", args[1:])
            return True
        if args:
            if len(args) > 1:
                raise UsageError("/budget takes one amount", hint="/help budget")
            self.session.budget_usd = _cap(args[0])
        from llmos._internal.kernel.economy import TokenEconomy

        ws = self.session.ws
        economy = TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)
        try:
            balance = economy.balance
        finally:
            economy.close()
        cap = self.session.budget_usd
        each = f"${cap:.4f}" if cap is not None else "up to the balance"
        self.console.print(f"balance [bold]${balance:.4f}[/]; each goal may spend {each}")
        return True

    async def _continue(self, args: list[str]) -> bool:
        choice = args[0] if args else "on"
        if choice not in ("on", "off"):
            raise UsageError("/continue takes on or off", hint="/help continue")
        self.session.continuing = choice == "on"
        if choice == "off":
            self.session.new_conversation()
            self.console.print("each goal now runs on its own")
        else:
            self.console.print(
                "goals now continue one conversation (Learner mode, not saved as traces); "
                "/new starts another, /continue off ends it"
            )
        return True

    async def _new(self, args: list[str]) -> bool:
        self.session.new_conversation()
        self.console.print("the next goal starts a new conversation")
        return True

    async def _exit(self, args: list[str]) -> bool:
        return False

    # Commands of the command line -----------------------------------------------------------
    def _delegated(self, name: str) -> Handler:
        async def handler(args: list[str]) -> bool:
            await run_cli(self.session.ws, name, args or self._default_args(name))
            return True

        return handler

    def _default_args(self, name: str) -> list[str]:
        if name == "agents":
            return ["list", "--project", self.session.project]
        if name in _DEFAULT_ARGS:
            return _DEFAULT_ARGS[name]
        found = subcommands(name)
        if not found:
            return []  # a plain command (status, insights)
        return ["list"] if "list" in found else ["--help"]

    async def _traces(self, args: list[str]) -> bool:
        if args and args[0] not in subcommands("traces") and not args[0].startswith("-"):
            args = ["list", "--search", " ".join(args)]
        return await self._delegated("traces")(args)

    async def _show(self, args: list[str]) -> bool:
        if len(args) != 1:
            raise UsageError("/show takes one id: a trace's, or a run's", hint="/help show")
        from llmos._internal.memory.library import TraceLibrary

        with TraceLibrary(self.session.ws) as library:
            is_trace = bool(library.index.by_prefix(args[0])) if args[0] else False
        name = "traces" if is_trace else "sessions"
        await run_cli(self.session.ws, name, ["show", args[0]])
        return True

    async def _status(self, args: list[str]) -> bool:
        await run_cli(self.session.ws, "status", args)
        s = self.session
        conversation = "off (each goal on its own)"
        if s.continuing:
            c = s.resumable()
            conversation = f"on: {c.goals} goal(s), ${c.cost_usd:.4f}" if c else "on: none yet"
        print_fields(
            [
                ("mode", s.mode),
                ("project", s.project),
                ("budget per goal", f"${s.budget_usd:.4f}" if s.budget_usd else "the balance"),
                ("model", s.model or "config.yaml's"),
                ("conversation", conversation),
            ],
            title="this session",
            console=self.console,
        )
        return True

    # Completion helpers -------------------------------------------------------------------
    def _delegated_words(self, name: str, before: Sequence[str], word: str) -> Candidates:
        if not before:
            return completion.words(subcommands(name))
        if name == "traces" and before[-1] in ("show", "rm"):
            return completion.trace_ids(self.session.ws, word)
        if before[-1] in ("--project", "-p"):
            return completion.project_names(self.session.ws, self.session.project)
        return []

    def _project_words(self, before: Sequence[str]) -> Candidates:
        names = completion.project_names(self.session.ws, self.session.project)
        if not before:
            return [*names, *completion.words(subcommands("project"), "subcommand")]
        return names if before[-1] in ("show", "rm") else []


def _cap(text: str) -> float | None:
    if text in ("off", "none"):
        return None
    try:
        value = float(text.lstrip("$"))
    except ValueError:
        raise UsageError(
            f"not an amount: {text!r}", hint="e.g. /budget 0.50, or /budget off"
        ) from None
    if not value > 0:
        raise UsageError("the budget must be more than $0", hint="/budget off removes the cap")
    return value
