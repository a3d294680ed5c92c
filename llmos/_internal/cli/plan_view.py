"""An orchestration in the terminal: its plan as a tree, each subtask's status kept live.

Driven by the orchestration's events (`PlanReady`, `SubtaskChanged`, its `RunFinished`)
through `LiveRenderer`. On a terminal the tree redraws in place; into a pipe or a file rich
prints it once, as it stands at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.tree import Tree

from llmos._internal.kernel.events import PlanReady, SubtaskChanged
from llmos._internal.text import escape, one_line

_ICONS = {
    "waiting": "[dim]○[/]",
    "running": "[cyan]▶[/]",
    "retrying": "[yellow]↻[/]",
    "success": "[green]✓[/]",
    "failed": "[red]✗[/]",
    "skipped": "[dim]–[/]",
}


@dataclass
class _Row:
    """One subtask's line of the plan tree, kept current from the orchestration's events."""

    id: str
    goal: str
    agent: str
    depends_on: list[str]
    cap_usd: float
    status: str = "waiting"
    mode: str | None = None
    cost_usd: float = 0.0
    detail: str = ""


class PlanView:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: dict[str, _Row] = {}
        self.source = ""
        self._live: Live | None = None

    def plan(self, event: PlanReady) -> None:
        self.source = event.source
        for item in event.subtasks:
            self.rows[item["id"]] = _Row(
                item["id"],
                item["goal"],
                item["agent"],
                list(item.get("depends_on") or []),
                float(item.get("cap_usd") or 0.0),
            )
        if self._live is None:
            self._live = Live(
                self.render(), console=self.console, auto_refresh=False, transient=False
            )
            self._live.start()
        self._refresh()

    def changed(self, event: SubtaskChanged) -> None:
        row = self.rows.get(event.subtask_id)
        if row is None:
            return
        row.status = event.status
        row.mode = event.mode or row.mode
        row.cost_usd = event.cost_usd
        if event.detail or event.status != "running":
            row.detail = event.detail
        self._refresh()

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.stop()
            self._live = None

    def render(self) -> Tree:
        done = sum(1 for r in self.rows.values() if r.status == "success")
        tree = Tree(f"[bold]plan[/] [dim]({escape(self.source)}; {done}/{len(self.rows)} done)[/]")
        for row in self.rows.values():
            after = f" [dim]after {', '.join(row.depends_on)}[/]" if row.depends_on else ""
            mode = f" {row.mode}" if row.mode else ""
            cost = f" ${row.cost_usd:.4f}/{row.cap_usd:.4f}"
            node = tree.add(
                f"{_ICONS.get(row.status, '?')} [bold]{escape(row.id)}[/] "
                f"[magenta]{escape(row.agent)}[/]{after}[dim]{mode}{cost}[/] "
                f"{escape(one_line(row.goal, 80))}"
            )
            if row.detail:
                style = "red" if row.status in ("failed", "retrying") else "dim"
                node.add(f"[{style}]{escape(one_line(row.detail, 120))}[/]")
        return tree

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self.render(), refresh=True)
