"""`llmos undo`: put back what a run changed in its working folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from llmos._internal.cli.json_output import print_json
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption, YesOption, confirm
from llmos._internal.cli.terminal import terminal
from llmos._internal.errors import UsageError
from llmos._internal.replay.undo import UndoPlan, apply_undo, plan_undo, read_record, records
from llmos._internal.text import escape


def undo(
    run: Annotated[
        str | None,
        typer.Argument(
            help="The run (its id or a unique prefix; `llmos sessions list` shows them). "
            "Default: the latest run that changed files and was not undone.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be put back; change nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Also put back files changed again since the run."),
    ] = False,
    yes: YesOption = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Put back the files a run changed in its working folder (the latest run by default).

    A replay (Follower) kept a copy of everything it changed, shell commands' effects
    included, so it is undone whole. A Learner run kept copies of the files its Write and
    Edit calls changed; what its shell commands did is listed, not undone. A file changed
    again since the run is left as it is (and reported) unless --force.
    """
    ws = open_workspace(workspace, writes=None if dry_run else "undo a run")
    folder = _record_folder(ws.undo_dir, run)
    plan = plan_undo(folder, force=force)
    if dry_run or not plan.doable:
        _report(plan, [], as_json=as_json, dry_run=True)
        return
    if not yes and typer.get_text_stream("stdin").isatty() and not as_json:
        _report(plan, [], as_json=False, dry_run=True)  # what the question is about
    confirm(f"Put back the files run {plan.record['run_id']} changed?", yes=yes)
    done = apply_undo(folder, plan)
    _report(plan, done, as_json=as_json, dry_run=False)


def _record_folder(undo_dir: Path, run: str | None) -> Path:
    folders = records(undo_dir)
    if run is not None:
        matching = [p for p in folders if p.name.startswith(run.strip())]
        if not matching:
            raise UsageError(
                f"no run {run!r} has changes to undo",
                hint="Only runs that changed files in their working folder can be undone "
                "(the latest 50 are kept).",
            )
        if len(matching) > 1:
            ids = ", ".join(p.name for p in matching[:5])
            raise UsageError(f"run id {run} is ambiguous: {ids}", hint="Give more of it.")
        return matching[0]
    for folder in folders:
        if "undone_at" not in read_record(folder):
            return folder
    raise UsageError("no run has changes left to undo", hint="See `llmos sessions list`.")


def _report(plan: UndoPlan, done: list[Any], *, as_json: bool, dry_run: bool) -> None:
    record = plan.record
    if as_json:
        data = {
            "run_id": record["run_id"],
            "goal": record["goal"],
            "mode": record["mode"],
            "dry_run": dry_run,
            "files": [{"path": s.path, "action": s.action, "detail": s.detail} for s in plan.steps],
            "undone": [s.path for s in done],
            "not_undone_commands": plan.commands,
        }
        print_json(data)
        return
    console = terminal()
    console.print(f"run [bold]{record['run_id']}[/] ({record['mode']}): {escape(record['goal'])}")
    verb = {"restore": "put back", "remove": "remove"}
    for step in plan.steps:
        if done or dry_run:
            did = step in done
            action = verb.get(step.action, step.action)
            mark = "[green]✓[/]" if did else ("→" if dry_run and step in plan.doable else "·")
            console.print(f"  {mark} {action} {escape(step.path)} [dim]({step.detail})[/]")
    for command in plan.commands:
        console.print(f"  [yellow]not undone[/] (a shell command's effects): {escape(command)}")
    if not plan.doable:
        console.print("Nothing to put back.")
    elif not dry_run:
        console.print(f"Put back {len(done)} file(s).")
