"""How a run looks in the terminal: an event-bus subscriber that prints as things happen,
and the summary table every run ends with."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from llmos.kernel.events import (
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
from llmos.memory.trace import one_line
from llmos.text import escape

if TYPE_CHECKING:
    from llmos.cli.plan_view import PlanView
    from llmos.kernel.approval import ApprovalRequest
    from llmos.modes.dispatcher import DryRun
    from llmos.modes.types import RunSummary


def describe_call(tool: str, tool_input: dict) -> str:
    for key in ("command", "file_path", "notebook_path", "pattern", "path", "description"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return one_line(value, 100)
    return one_line(json.dumps(tool_input, ensure_ascii=False), 100)


def print_approval_request(console: Console, request: ApprovalRequest) -> None:
    """The call a human is asked about, with the policy's rule and reason (both approvers:
    llmos/cli/approve.py in `llmos run`, llmos/repl/approver.py at the prompt)."""
    who = f" (subagent {request.agent})" if request.agent else ""
    console.print(
        f"[bold magenta]? approval needed[/]{who}: [yellow]{request.tool}[/] "
        f"{escape(describe_call(request.tool, request.input))}"
    )
    console.print(f"  [dim]{request.rule}: {escape(request.reason)}[/]")


class LiveRenderer:
    """Prints a run's events as they arrive (an event-bus subscriber)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.plan_view: PlanView | None = None  # an orchestration's live tree

    def __call__(self, event: Event) -> None:
        c = self.console
        match event:
            case PlanReady():
                from llmos.cli.plan_view import PlanView  # only orchestrations draw a tree

                self.plan_view = self.plan_view or PlanView(c)
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
            case ToolRequested():
                c.print(
                    f"  [yellow]→ {event.tool}[/] {escape(describe_call(event.tool, event.input))}"
                )
            case ToolDecision(allowed=False):
                rule = f"[red]({event.rule})[/]"
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


def summary_table(summary: RunSummary) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    status_style = "green" if summary.ok else "red"
    table.add_row("status", f"[{status_style}]{summary.status}[/]")
    table.add_row("mode", f"{summary.mode} [dim]({escape(summary.mode_reason)})[/]")
    if summary.orchestration is not None:
        table.add_row("subtasks", _subtask_counts(summary.orchestration))
    table.add_row("turns", str(summary.turns))
    denied = f" ({summary.denied_calls} denied)" if summary.denied_calls else ""
    table.add_row("tool calls", f"{summary.tool_calls}{denied}")
    saved = f" (saved ${summary.saved_usd:.4f})" if summary.saved_usd else ""
    table.add_row("cost", f"${summary.cost_usd:.4f}{saved}")
    table.add_row("time", f"{summary.duration_secs:.2f} s")
    table.add_row("balance", f"${summary.balance_usd:.4f}")
    governance = summary.governance or {}
    said = _governance_line(governance)
    if said:
        table.add_row("governance", escape(said))
    if summary.trace_path:
        table.add_row("trace", escape(summary.trace_path))
    elif summary.ok and governance.get("handoff"):
        table.add_row("trace", "not saved: it finished a goal another run began (a hand-over)")
    elif summary.ok and governance.get("unfollowable"):
        table.add_row("trace", f"not saved: {escape(governance['unfollowable'])}")
    elif summary.ok and summary.continued:
        table.add_row("trace", "not saved: the goal continued a conversation (/continue)")
    elif summary.ok:
        table.add_row("trace", "not saved: every tool call the agent tried was denied")
    else:
        table.add_row("trace", "not saved: the run did not succeed")
    table.add_row("session log", escape(summary.session_log))
    if summary.error:
        table.add_row("error", f"[red]{escape(summary.error)}[/]")
    return table


def _governance_line(governance: dict) -> str:
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


def _subtask_counts(orchestration: dict) -> str:
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
    return text + f" [dim](plan: {plan}, parallel {orchestration.get('parallel')})[/]"


def dry_run_dict(dry: DryRun) -> dict:
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
    return {
        "mode": dry.mode,
        "reason": dry.reason,
        "trace": dry.trace_id,
        "template": dry.template,
        "values": dry.values,
        "plan": plan,
        "similar": [
            {"trace": m.entry.signature, "goal": m.entry.goal_text, "overlap": m.confidence}
            for m in dry.suggestions
        ],
    }


def print_dry_run(console: Console, dry: DryRun) -> None:
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
    table = Table("step", "tool", "action", "what")
    for planned in dry.plan.steps:
        what = describe_call(planned.step.tool, planned.step.input)
        action = planned.action if planned.action == "run" else f"skip ({planned.why})"
        table.add_row(str(planned.number), planned.step.tool, action, escape(what))
    console.print(table)
    files = ", ".join(dry.plan.files_touched()) or "none"
    console.print(f"files touched: {escape(files)}")
    for command in dry.plan.commands():
        console.print(f"command: {escape(command)}")
    console.print("Nothing was executed.")
