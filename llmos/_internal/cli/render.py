"""How a run looks in the terminal: an event-bus subscriber that prints as things happen,
and the summary table every run ends with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from llmos._internal.cli.table import Cell, Column, print_fields, print_table
from llmos._internal.kernel.events import (
    AssistantText,
    CheckerResults,
    Event,
    MemoryInjected,
    Notice,
    PlanReady,
    RouteTaken,
    RunFinished,
    RunStarted,
    ScoreRecorded,
    SubtaskChanged,
    ToolDecision,
    ToolFinished,
    ToolRequested,
)
from llmos._internal.presentation.calls import describe_call
from llmos._internal.text import clean, escape, safe_text

if TYPE_CHECKING:
    from rich.console import Console

    from llmos._internal.cli.plain_console import Printer
    from llmos._internal.cli.plan_view import PlanView
    from llmos._internal.engine.types import RunSummary
    from llmos._internal.modes.dispatcher import DryRun
    from llmos._internal.security.approval import ApprovalRequest


def print_approval_request(console: Console, request: ApprovalRequest) -> None:
    """The call a human is asked about, with the policy's rule and reason (both approvers:
    llmos/_internal/cli/approve.py in `llmos run`, llmos/_internal/cli/repl/approver.py at the
    prompt)."""
    who = f" (subagent {request.agent})" if request.agent else ""
    console.print(
        f"[bold magenta]? approval needed[/]{who}: [yellow]{request.tool}[/] "
        f"{escape(describe_call(request.tool, request.input))}"
    )
    console.print(f"  [dim]{request.rule}: {escape(request.reason)}[/]")


class LiveRenderer:
    """Prints a run's events as they arrive (an event-bus subscriber)."""

    def __init__(self, console: Printer) -> None:
        self.console = console
        self.plan_view: PlanView | None = None  # an orchestration's live tree
        self.last_text = ""  # what the agent (not a subagent) said last, as shown

    def already_shown(self, result: str) -> bool:
        """Whether `result` (a run's final text) is what the agent's last words showed:
        then it is not printed a second time after the run."""
        return bool(result.strip()) and clean(result).strip() == self.last_text

    def __call__(self, event: Event) -> None:
        c = self.console
        match event:
            case PlanReady():
                # only orchestrations draw a tree (with rich, on a terminal or not)
                from llmos._internal.cli.plan_view import PlanView
                from llmos._internal.cli.terminal import terminal

                console = cast("Console", c) if c.is_terminal else terminal()
                self.plan_view = self.plan_view or PlanView(console)
                self.plan_view.plan(event)
            case SubtaskChanged() if self.plan_view is not None:
                self.plan_view.changed(event)
            case RunFinished() if self.plan_view is not None:
                self.plan_view.stop()
            case RunStarted():
                c.print(f"[bold]llmos[/] {event.mode} mode [dim]({escape(event.reason)})[/]")
                c.print(f"[dim]working folder: {escape(event.workdir)}[/]")
            case MemoryInjected() if event.sources:
                c.print(
                    f"[dim]recalled {len(event.sources)} memory item(s), ~{event.tokens} tokens[/]"
                )
            case Notice():
                c.print(f"[bold yellow]![/] {escape(event.text)}")
            case AssistantText():
                who = "[magenta]subagent[/]" if event.agent else "[cyan]agent[/]"
                c.print(f"{who} {escape(event.text.strip())}")
                if not event.agent:
                    self.last_text = clean(event.text).strip()
            case ToolRequested():
                c.print(
                    f"  [yellow]→ {event.tool}[/] {escape(describe_call(event.tool, event.input))}"
                )
            case ToolDecision(allowed=False):
                rule = f"[red]({escape(event.rule)})[/]"
                c.print(f"  [bold red]✗ denied by {event.guard}[/] {rule} {escape(event.reason)}")
            case ToolFinished(ok=True):
                c.print(f"  [green]✓ {event.tool}[/] [dim]{escape(event.summary)}[/]")
            case ToolFinished(ok=False):
                c.print(f"  [red]✗ {event.tool} failed[/] [dim]{escape(event.summary)}[/]")
            case CheckerResults(allowed=False, phase="finish" | "replay" | "artifact" | "output"):
                failed = "; ".join(
                    f"{r['checker']}: {r['reason']}" for r in event.results if not r["passed"]
                )
                verb = "sent back" if event.phase == "finish" else f"{event.phase} check failed"
                c.print(f"  [bold red]↺ governance {verb}[/] {escape(failed)}")
            case RouteTaken():
                target = f" {event.target}" if event.target else ""
                c.print(
                    f"  [bold magenta]→ route {escape(event.action + target)}[/] "
                    f"[dim]({escape(event.router)})[/] {escape(event.reason)}"
                    f" [dim]— {escape(event.outcome)}[/]"
                )
            case ScoreRecorded(scope="run") if event.score is not None or event.passed is not None:
                value = "-" if event.score is None else f"{event.score:.2f}"
                mark = (
                    "·" if event.passed is None else "[green]✓[/]" if event.passed else "[red]✗[/]"
                )
                detail = escape(event.detail)
                c.print(f"  {mark} [dim]score {escape(event.evaluator)} {value}: {detail}[/]")
            case _:
                pass


def print_summary(console: Printer, summary: RunSummary) -> None:
    """The fields every run ends with (`llmos run`, the REPL, the demo)."""
    print_fields(summary_fields(summary, styled=console.is_terminal), console=console)


def summary_fields(summary: RunSummary, *, styled: bool = True) -> list[tuple[str, Cell]]:
    """The summary's fields; `styled`, the status, mode and error are rich `Text` (a
    terminal's colours), else plain (not on a terminal rich is not loaded)."""
    mode: Cell = f"{summary.mode} ({summary.mode_reason})"
    status: Cell = summary.status
    error: Cell = summary.error
    if styled:
        from rich.text import Text

        mode = Text(summary.mode)
        mode.append_text(safe_text(f" ({summary.mode_reason})", style="dim"))
        status = safe_text(summary.status, style="green" if summary.ok else "red")
        error = safe_text(summary.error, style="red")
    fields: list[tuple[str, Cell]] = [("status", status), ("mode", mode)]
    if summary.orchestration is not None:
        fields.append(("subtasks", _subtask_counts(summary.orchestration)))
    denied = f" ({summary.denied_calls} denied)" if summary.denied_calls else ""
    saved = f" (saved ${summary.saved_usd:.4f})" if summary.saved_usd else ""
    fields += [
        ("turns", summary.turns),
        ("tool calls", f"{summary.tool_calls}{denied}"),
        ("cost", f"${summary.cost_usd:.4f}{saved}"),
        ("time", f"{summary.duration_secs:.2f} s"),
        *([("sandbox", summary.sandbox)] if summary.tool_calls else []),
        ("balance", f"${summary.balance_usd:.4f}"),
    ]
    governance = summary.governance or {}
    said = _governance_line(governance)
    if said:
        fields.append(("governance", said))
    if summary.trace_path:
        trace = summary.trace_path
    elif summary.ok and governance.get("handoff"):
        trace = "not saved: it finished a goal another run began (a hand-over)"
    elif summary.ok and governance.get("unfollowable"):
        trace = f"not saved: {governance['unfollowable']}"
    elif summary.ok and summary.continued:
        trace = "not saved: the goal continued a conversation (/continue)"
    elif summary.ok:
        trace = "not saved: every tool call the agent tried was denied"
    else:
        trace = "not saved: the run did not succeed"
    fields += [("trace", trace), ("session log", summary.session_log)]
    if summary.error:
        fields.append(("error", error))
    return fields


def _governance_line(governance: dict[str, Any]) -> str:
    """What governance did in the run, in a few words ("" when nothing worth saying)."""
    parts = []
    if governance.get("sent_back"):
        parts.append(f"sent back {governance['sent_back']} time(s)")
    route = governance.get("route")
    if route:
        target = f" {route['target']}" if route.get("target") else ""
        parts.append(f"route {route['action']}{target} ({route['router']})")
    handoff = governance.get("handoff")
    if handoff:
        parts.append(f"handed over to {handoff['agent']} by {handoff['router']}")
    return "; ".join(parts)


def _subtask_counts(orchestration: dict[str, Any]) -> str:
    subtasks = orchestration.get("subtasks") or []
    counts = {s: sum(1 for t in subtasks if t["status"] == s) for s in ("success", "failed")}
    replayed = sum(1 for s in subtasks if s["status"] == "success" and s["mode"] == "follower")
    skipped = len(subtasks) - counts["success"] - counts["failed"]
    text = f"{counts['success']} succeeded"
    if replayed:
        text += f" ({replayed} replayed at $0)"
    if counts["failed"]:
        text += f", {counts['failed']} failed"
    if skipped:
        text += f", {skipped} not run"
    plan = orchestration.get("plan_source")
    return text + f" (plan: {plan}, parallel {orchestration.get('parallel')})"


def dry_run_dict(dry: DryRun) -> dict[str, Any]:
    plan = None
    if dry.plan is not None:
        plan = {
            "eligible": dry.plan.eligible,
            "steps": [
                {
                    "number": p.number,
                    "tool": p.step.tool,
                    "action": p.action,
                    "why": p.why,
                    "summary": p.step.summary,
                    "input": p.step.input,
                }
                for p in dry.plan.steps
            ],
            "files": dry.plan.files_touched(),
            "commands": dry.plan.commands(),
        }
    trust = None
    if dry.trust is not None:
        trust = {"trusted": dry.trust.trusted, "trust": dry.trust.label}
        trust["detail"] = dry.trust.explain()
    return {
        "mode": dry.mode,
        "reason": dry.reason,
        "trace_id": dry.trace_id,
        "template": dry.template,
        "values": dry.values,
        "plan": plan,
        "similar": [
            {"trace_id": m.entry.signature, "goal_text": m.entry.goal_text, "overlap": m.confidence}
            for m in dry.suggestions
        ],
        "trust": trust,
    }


def print_dry_run(console: Printer, dry: DryRun) -> None:
    console.print(f"[bold]dry run[/]: {dry.mode} mode [dim]({escape(dry.reason)})[/]")
    if dry.mode == "orchestrator":
        console.print(
            "The goal would be planned over the agents (`llmos agents list`) and its "
            "subtasks run. Nothing was executed."
        )
        return
    if dry.plan is None:
        for match in dry.suggestions[:3]:
            console.print(
                f"similar learned goal (not replayed): {escape(match.entry.goal_text)} "
                f"[dim](trace {match.entry.signature}; `--trace {match.entry.signature}` "
                "replays it as learned)[/]"
            )
        console.print("The model would be asked to work the goal out. Nothing was executed.")
        return
    if dry.template:
        console.print(f"trace template: {escape(dry.template)}")
    if dry.values:
        swaps = ", ".join(f"{old} -> {new}" for old, new in dry.values.items())
        console.print(f"with this goal's values: {escape(swaps)}")
    print_table(
        [
            Column("step", justify="right"),
            Column("tool"),
            Column("action"),
            Column("what", prose=True),
        ],
        [
            (
                planned.number,
                planned.step.tool,
                planned.action if planned.action == "run" else f"skip ({planned.why})",
                describe_call(planned.step.tool, planned.step.input, limit=None),
            )
            for planned in dry.plan.steps
        ],
        console=console,
    )
    files = ", ".join(dry.plan.files_touched()) or "none"
    console.print(f"files touched: {escape(files)}")
    for command in dry.plan.commands():
        console.print(f"command: {escape(command)}")
    if dry.trust is not None and not dry.trust.trusted:
        console.print(
            f"[yellow]not trusted[/]: {escape(dry.trust.explain())}; it would replay only once "
            f"approved (`llmos traces trust {dry.trace_id}`)"
        )
    console.print("Nothing was executed.")
