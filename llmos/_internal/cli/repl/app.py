"""The interactive REPL: a prompt where a line is a goal and `/command` manages the OS.

A goal runs through the dispatcher (`run_goal`) exactly as `llmos run` runs it, streamed by
the same renderer and ending with the same summary. While it runs, Ctrl-C interrupts it
(`keys.py`): the goal's task is cancelled, which makes the SDK runner interrupt the agent's
CLI, wait for it to exit and record the run as interrupted; then the prompt comes back.
Whatever a goal or a command raises is shown, and the REPL goes on.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from prompt_toolkit import PromptSession
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from rich.console import Console

from llmos._internal.cli.repl.approver import InlineApprover
from llmos._internal.cli.repl.commands import SlashCommands
from llmos._internal.cli.repl.completion import SlashCompleter
from llmos._internal.cli.repl.history import WorkspaceHistory
from llmos._internal.cli.repl.keys import InterruptKeys
from llmos._internal.cli.repl.session import ReplSession
from llmos._internal.cli.terminal import terminal
from llmos._internal.errors import LlmosError
from llmos._internal.presentation.run_tracker import RunTracker
from llmos._internal.text import clean, escape

if TYPE_CHECKING:
    from llmos._internal.engine.types import RunSummary
    from llmos._internal.security.approval import Approver

log = logging.getLogger(__name__)
HISTORY_FILE = "repl_history"


class Repl:
    def __init__(self, session: ReplSession, console: Console) -> None:
        self.session = session
        self.console = console
        self.commands = SlashCommands(session, console)
        self.approver = InlineApprover(console, lambda: self._keys, self.interrupt)
        self._goal: asyncio.Task[RunSummary] | None = None
        self._keys: InterruptKeys | None = None
        self._in_command = False  # a slash command runs (it cannot be interrupted)
        self._stopped_by: int | None = None  # SIGTERM or SIGHUP is ending the REPL

    # The loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # Ctrl-C is a key to the prompt and to a running goal (keys.py); a SIGINT from
        # elsewhere (kill -INT) interrupts the goal too, and never kills the REPL.
        loop.add_signal_handler(signal.SIGINT, self.interrupt)
        # SIGTERM and SIGHUP end the REPL: a goal that runs is interrupted and recorded
        # (cancelling this task cancels it, see run_goal), then llmos exits.
        main = asyncio.current_task()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self._stop, sig, main)
        prompt = self._prompt_session()
        self._welcome()
        try:
            while True:
                try:
                    line = await prompt.prompt_async(self._prompt_message, handle_sigint=False)
                except KeyboardInterrupt:
                    continue  # Ctrl-C at the prompt clears the line
                except EOFError:
                    break
                if not await self.handle(line):
                    break
        except asyncio.CancelledError:
            if self._stopped_by is None:
                raise
            raise KeyboardInterrupt from None  # llmos exits 128 + the signal (cli/process.py)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        self.console.print("bye")

    def _stop(self, signum: int, main: asyncio.Task[None] | None) -> None:
        from llmos._internal.cli.process import stopped_by

        self._stopped_by = signum
        stopped_by(signum)
        if main is not None:
            main.cancel()

    async def handle(self, line: str) -> bool:
        """Run one line: a goal or a slash command. False when the REPL should end."""
        text = line.strip()
        if not text:
            return True
        try:
            if text.startswith("/") and not text.startswith("//"):
                self._in_command = True
                try:
                    return await self.commands.dispatch(text)
                finally:
                    self._in_command = False
            await self.run_goal(text[1:] if text.startswith("//") else text)
        except LlmosError as exc:
            self.console.print(f"[bold red]error:[/] {escape(exc.message)}")
            if exc.hint:
                self.console.print(exc.hint, markup=False)
        except Exception:  # a bug: show it, keep the session
            log.exception("unexpected error in the REPL")
            self.console.print("[bold red]unexpected error[/] (a bug in llmos):")
            self.console.print_exception(max_frames=8)
        return True

    # Goals --------------------------------------------------------------------------------
    def _approver(self) -> Approver:
        """This prompt; and while a web console runs (or with `approvals: console`), its
        inbox too: the first answer wins."""
        from llmos._internal.security.approval import FirstAnswer
        from llmos._internal.security.approval_inbox import unattended_inbox

        ws = self.session.ws
        inbox = unattended_inbox(
            ws.state_dir, ws.settings.approvals, ws.settings.approval_expiry_secs, source="repl"
        )
        return self.approver if inbox is None else FirstAnswer(self.approver, inbox)

    async def run_goal(self, goal: str) -> None:
        from llmos._internal.cli.render import LiveRenderer, print_summary
        from llmos._internal.modes.dispatcher import run_goal

        request = self.session.request(goal)
        tracker = RunTracker()
        renderer = LiveRenderer(self.console)
        task = asyncio.create_task(
            run_goal(
                self.session.ws,
                request,
                subscribers=[("terminal", renderer), ("repl", tracker)],
                approver=self._approver(),
            )
        )
        self._goal = task
        try:
            with InterruptKeys(self.interrupt) as keys:
                self._keys = keys
                await asyncio.wait({task})
        finally:
            self._keys, self._goal = None, None
            if not task.done():  # the REPL itself is being cancelled: stop the goal first
                task.cancel()
                await asyncio.wait({task})
        if task.cancelled():
            self.session.interrupted(request, tracker)
            self._report_interrupted(tracker)
            return
        if task.exception() is not None and request.resume_session:
            self.session.failed(request)
            self.console.print("[dim]the conversation ends here; the next goal starts anew[/]")
        summary = task.result()  # an LlmosError is shown by handle()
        if summary.result and not renderer.already_shown(summary.result):
            self.console.print()
            self.console.print(clean(summary.result), markup=False)
        self.console.print()
        print_summary(self.console, summary)
        self.session.finished(request, summary)

    def interrupt(self) -> None:
        """Ctrl-C while a goal runs: cancel it (once; the runner then stops the agent)."""
        goal = self._goal
        if goal is None or goal.done():
            if self._in_command:
                self.console.print("[dim]a command cannot be interrupted; it ends on its own[/]")
            return
        if goal.cancelling():
            self.console.print("[dim]still stopping the agent…[/]")
            return
        self.console.print("[bold yellow]interrupting…[/]")
        goal.cancel()

    def _report_interrupted(self, tracker: RunTracker) -> None:
        finished = tracker.finished
        if tracker.run_id is None:
            self.console.print("[yellow]interrupted[/] before the run started")
            return
        cost = f", charged ${finished.cost_usd:.4f}" if finished else ""
        self.console.print(
            f"[yellow]interrupted[/]: run {tracker.run_id} stopped and recorded as "
            f"{finished.status if finished else 'interrupted'}{cost}"
        )

    # The prompt ---------------------------------------------------------------------------
    def _prompt_session(self) -> PromptSession[str]:
        history = WorkspaceHistory(self.session.ws.state_dir / HISTORY_FILE)
        return PromptSession(
            history=history,
            completer=SlashCompleter(self.commands.table),
            complete_while_typing=False,  # Tab completes: lookups only when asked
            key_bindings=_multiline_keys(),
            prompt_continuation=lambda width, line, soft: "." * (width - 1) + " ",
        )

    def _prompt_message(self) -> FormattedText:
        s = self.session
        extras: list[str] = [s.mode] if s.mode != "auto" else []
        if s.continuing:
            extras.append("continue")
        shown = f" [{', '.join(extras)}]" if extras else ""
        return FormattedText([("bold", f"llmos {s.project}{shown}>"), ("", " ")])

    def _welcome(self) -> None:
        self.console.print(
            f"[bold]llmos interactive[/] [dim]workspace {escape(str(self.session.ws.root))}[/]"
        )
        self.console.print(
            "[dim]Type a goal, or /help. Ctrl-C interrupts a goal, Ctrl-D leaves.[/]"
        )


def _multiline_keys() -> KeyBindings:
    """Enter runs the line; Alt-Enter, or Enter after a trailing backslash, adds a line."""
    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    continued = Condition(lambda: _buffer_text().endswith("\\"))

    @keys.add("enter", filter=continued)
    def _continue_line(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        buffer.delete_before_cursor(1)
        buffer.insert_text("\n")

    return keys


def _buffer_text() -> str:
    from prompt_toolkit.application.current import get_app

    return get_app().current_buffer.document.text_before_cursor


async def start(session: ReplSession) -> None:
    await Repl(session, terminal()).run()
