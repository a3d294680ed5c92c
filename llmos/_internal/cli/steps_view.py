"""`llmos sessions show RUN --steps`: a run as supersteps
(llmos/_internal/governance/supersteps.py), each model turn with its tool calls, their types, the
checkers' results (✓/✗ and why), the routes taken (→ where and why) and the evaluators' scores."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from llmos._internal.presentation.calls import describe_call
from llmos._internal.text import escape, one_line


def print_supersteps(console: Console, view: dict[str, Any]) -> None:
    status = view.get("status") or "unfinished"
    console.print(
        f"[bold]run[/] {escape(str(view.get('run_id')))} "
        f"({escape(str(view.get('mode')))}, {escape(str(status))}): "
        f"{escape(one_line(str(view.get('goal') or ''), 100))}"
    )
    if not view["supersteps"]:
        console.print("[dim]no steps[/]")
    for step in view["supersteps"]:
        who = f" [magenta]{escape(str(step['agent']))}[/]" if step.get("agent") else ""
        console.print(f"\n[bold]superstep {step['number']}[/] [cyan]{step['type']}[/]{who}")
        if step["text"]:
            console.print(f"  [dim]“{escape(one_line(step['text'], 140))}”[/]")
        for call in step["calls"]:
            _print_call(console, call)
        _print_checks(console, step["checks"], "  ")
        _print_routes(console, step["routes"], "  ")
    run = view["run"]
    if run["checks"] or run["routes"] or run["scores"]:
        console.print("\n[bold]run[/]")
        _print_checks(console, run["checks"], "  ")
        _print_routes(console, run["routes"], "  ")
        _print_scores(console, run["scores"], "  ")


def _print_call(console: Console, call: dict[str, Any]) -> None:
    ok = call["ok"]
    mark = "[green]✓[/]" if ok else ("[red]✗[/]" if ok is False else "[dim]…[/]")
    what = escape(describe_call(str(call["tool"]), call.get("input") or {}))
    console.print(f"  {mark} [yellow]{call['type']:<8}[/] {escape(str(call['tool']))} {what}")
    if call["summary"]:
        console.print(f"      [dim]{escape(one_line(str(call['summary']), 120))}[/]")
    for decision in call["decisions"]:
        if not decision["allowed"]:
            rule = escape(f"{decision['guard']} ({decision['rule']})")
            console.print(f"      [red]✗ denied by {rule}[/] {escape(str(decision['reason']))}")
    _print_checks(console, call["checks"], "      ")
    _print_routes(console, call["routes"], "      ")
    _print_scores(console, call["scores"], "      ")


def _print_checks(console: Console, checks: list[dict[str, Any]], indent: str) -> None:
    passed = [c["checker"] for c in checks if c.get("passed")]
    if passed:
        shown = ", ".join(f"✓ {escape(str(name))}" for name in passed)
        console.print(f"{indent}[green]{shown}[/]")
    for check in checks:
        if not check.get("passed"):
            where = f" [dim]({check['phase']})[/]" if check.get("phase") else ""
            reason = escape(str(check.get("reason") or ""))
            console.print(f"{indent}[red]✗ {escape(str(check['checker']))}[/]{where}: {reason}")


def _print_routes(console: Console, routes: list[dict[str, Any]], indent: str) -> None:
    for route in routes:
        target = f" {route['target']}" if route.get("target") else ""
        console.print(
            f"{indent}[magenta]→ {escape(str(route['action']) + target)}[/] "
            f"[dim]({escape(str(route['router']))})[/]: {escape(str(route['reason']))}"
            + (f" [dim]— {escape(str(route['outcome']))}[/]" if route.get("outcome") else "")
        )


def _print_scores(console: Console, scores: list[dict[str, Any]], indent: str) -> None:
    for score in scores:
        value = score.get("score")
        shown = "-" if value is None else f"{value:.2f}"
        passed = score.get("passed")
        mark = "[green]✓[/]" if passed else ("[red]✗[/]" if passed is False else " ")
        gate = " [dim](gate)[/]" if score.get("gate") else ""
        console.print(
            f"{indent}{mark} score {escape(str(score['evaluator']))} {shown}{gate}: "
            f"{escape(str(score.get('detail') or ''))}"
        )
