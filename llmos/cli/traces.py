"""`llmos traces`: browse, remove, export, import and reindex learned traces (L3 memory)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmos.cli.json_output import print_json, print_listing
from llmos.cli.options import (
    JsonOption,
    WorkspaceOption,
    YesOption,
    confirm,
    open_workspace,
    require_project,
)
from llmos.cli.records import trace_record
from llmos.cli.table import Column, moment, print_table
from llmos.cli.terminal import on_terminal, terminal
from llmos.errors import LlmosError, UsageError
from llmos.text import clean, escape

if TYPE_CHECKING:
    from llmos.memory.library import TraceLibrary
    from llmos.memory.trace import Trace
    from llmos.workspace import Workspace

traces_app = typer.Typer(
    help=("Learned traces: list, show, rm, aliases, alias, unalias, export, import, reindex."),
    no_args_is_help=True,
)
TraceId = Annotated[str, typer.Argument(help="Trace id (its signature) or a unique prefix.")]


def _library(
    workspace: Path | None, *, writes: str | None = None
) -> tuple[Workspace, TraceLibrary]:
    from llmos.memory.library import TraceLibrary  # here, not at the top: keeps --help fast

    ws = open_workspace(workspace, writes=writes)
    return ws, TraceLibrary(ws)


@traces_app.command("list")
def list_traces(
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project.")
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Only goals with all these words.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 100,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List traces, most recently used first. Piped, one trace a line: id, goal, mode,
    rating, uses, cost, last used, separated by tabs."""
    ws, library = _library(workspace)
    if project is not None:
        require_project(ws, project)
    with library:
        entries = library.listing(project=project, search=search, limit=limit)
        _report_unreadable(library)
        records = [trace_record(e, library.path_of(e)) for e in entries]
    if as_json:
        print_listing("traces", records)
        return
    filtered = project is not None or search is not None
    print_table(
        [
            Column("id"),
            Column("goal", prose=True),
            Column("mode"),
            Column("rating", justify="right"),
            Column("uses", justify="right"),
            Column("cost", justify="right"),
            moment("last used"),
        ],
        [
            (
                e.signature,
                e.goal_text,
                e.mode,
                f"{e.success_rating:.2f}",
                e.usage_count,
                f"${e.estimated_cost_usd:.4f}",
                e.last_used.replace("T", " ")[:19],
            )
            for e in entries
        ],
        empty="No trace matches." if filtered else 'No traces yet: `llmos run "goal"` learns one.',
    )


def _report_unreadable(library: TraceLibrary) -> None:
    """Trace files that cannot be read, once each, on stderr (so --json stays parseable)."""
    problems = library.problems()
    if not problems:
        return
    err = terminal(stderr=True)
    for problem in problems:
        path = library.store.folder / problem.name
        err.print(
            f"[yellow]warning:[/] trace file {escape(str(path))} cannot be read: "
            f"{escape(problem.error)}. Fix it by hand, or remove it: "
            f"llmos traces rm {escape(problem.signature)}"
        )


@traces_app.command("show")
def show(
    trace_id: TraceId,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="Print the trace file byte for byte, as `cat` would (what a pipe or a "
            "redirection gets without it too).",
        ),
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show a trace: its statistics, its template and aliases (the goals it replays for),
    whether it can be replayed, and its steps. Piped (or --raw): the trace file itself,
    byte for byte (`llmos traces show ID > copy.md` copies it)."""
    from llmos.replay.plan import plan_replay

    if raw and as_json:
        raise UsageError("--raw and --json do not go together", hint="Choose one.")
    _, library = _library(workspace)
    if raw or (not as_json and not on_terminal()):
        with library:
            # --raw shows an unreadable file too (to see what is wrong with it).
            found = library.resolve_any(trace_id) if raw else library.resolve(trace_id)
            path = library.store.folder / found.name
        sys.stdout.flush()
        sys.stdout.buffer.write(path.read_bytes())
        sys.stdout.flush()
        return
    with library:
        entry = library.resolve(trace_id)
        path = library.path_of(entry)
        trace = library.load(entry)
        versions = library.versions(entry)
    plan = plan_replay(trace)
    template = trace.template.render()
    aliases = [t.render() for t in trace.alias_templates()]
    if as_json:
        front = {k: v for k, v in trace.front_matter.items() if k != "goal_signature"}
        data: dict[str, Any] = {
            "id": entry.signature,  # the front matter's goal_signature: a trace's id is `id`
            "path": str(path),
            **front,
            "template": template,
            "slots": [{"kind": s.kind, "value": s.value} for s in trace.slots],
            "aliases": [
                {"goal": a.goal, "template": t, "values": list(a.values)}
                for a, t in zip(trace.aliases, aliases, strict=True)
            ],
            "versions": [str(v) for v in versions],
            "replayable": plan.eligible,
            "not_replayable_because": plan.reason or None,
            "steps": [step.__dict__ for step in trace.steps],
            "result": trace.result,
        }
        print_json(data)
        return
    from rich.syntax import Syntax

    console = terminal()
    console.print(f"[bold]{entry.signature}[/] {escape(str(path))}", soft_wrap=True)
    verdict = "[green]yes[/]" if plan.eligible else f"[red]no[/]: {escape(plan.reason)}"
    console.print(f"replayable in Follower mode: {verdict}")
    console.print(f"template: {escape(template)}")
    for number, slot in enumerate(trace.slots, start=1):
        console.print(f"  {{{number}}} {slot.kind}, learned as {escape(slot.value)}")
    for alias in aliases:
        console.print(f"alias: {escape(alias)}")
    if versions:
        console.print(f"earlier versions: {len(versions)} in {escape(str(versions[0].parent))}")
    text = clean(path.read_text(encoding="utf-8", errors="replace"))
    console.print(Syntax(text, "markdown", word_wrap=True))


@traces_app.command("aliases")
def aliases(
    trace_id: Annotated[
        str | None, typer.Argument(help="Only this trace's aliases (id or prefix).")
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List aliases: other wordings of a goal that replay its trace. llmos adds one when a
    Learner run of a new wording does the same steps as a learned trace."""
    _, library = _library(workspace)
    rows: list[dict[str, Any]] = []
    with library:
        entries = [library.resolve(trace_id)] if trace_id else library.index.listing(limit=10**9)
        for entry in entries:
            trace = library.load(entry)
            for alias, template in zip(trace.aliases, trace.alias_templates(), strict=True):
                rows.append(
                    {
                        "trace_id": entry.signature,
                        "goal": alias.goal,
                        "template": template.render(),
                    }
                )
    if as_json:
        print_listing("aliases", rows)
        return
    print_table(
        [Column("trace"), Column("alias", prose=True), Column("template", prose=True)],
        [(row["trace_id"], row["goal"], row["template"]) for row in rows],
        empty="No aliases.",
    )


@traces_app.command("alias")
def add_alias(
    trace_id: TraceId,
    goal: Annotated[str, typer.Argument(help="Another wording of the trace's goal.")],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Make GOAL replay the trace too. Values GOAL shares with the trace's goal stay its
    slots: `llmos traces alias ID "duplicate notes.txt as backup.txt"`."""
    _, library = _library(workspace, writes="add an alias")
    with library:
        entry = library.resolve(trace_id)
        trace = library.add_alias(entry, goal)
    template = trace.alias_templates()[-1].render()
    if as_json:
        print_json({"trace_id": entry.signature, "goal": goal, "template": template})
        return
    terminal().print(f"trace {entry.signature} now also replays for: {escape(template)}")


@traces_app.command("unalias")
def remove_alias(
    trace_id: TraceId,
    goal: Annotated[str, typer.Argument(help="The alias to remove, as `traces aliases` shows.")],
    yes: YesOption = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Stop GOAL from replaying the trace (asks first, unless --yes)."""
    _, library = _library(workspace, writes="remove an alias")
    with library:
        entry = library.resolve(trace_id)
        confirm(f"Remove alias {goal!r} of trace {entry.signature}?", yes=yes)
        library.remove_alias(entry, goal)
    if as_json:
        print_json({"trace_id": entry.signature, "goal": goal, "deleted": True})
        return
    terminal().print(f"removed alias {escape(goal)!r} of trace {entry.signature}")


@traces_app.command("rm")
def remove(
    trace_id: TraceId,
    yes: YesOption = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Delete a trace (asks first, unless --yes)."""
    from llmos.memory.trace_index import Unreadable

    _, library = _library(workspace, writes="delete a trace")
    with library:
        entry = library.resolve_any(trace_id)
        path = library.store.folder / entry.name
        if isinstance(entry, Unreadable):
            what = f"the unreadable trace file {entry.name}"
            record: dict[str, Any] = {"id": entry.signature, "path": str(path)}
        else:
            what = f"trace {entry.signature} ({entry.goal_text!r})"
            record = trace_record(entry, path)
        confirm(f"Delete {what}?", yes=yes)
        library.remove(entry)
    if as_json:
        print_json({**record, "deleted": True})
        return
    terminal().print(f"deleted trace {entry.signature}")


@traces_app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="Folder to copy the traces into (created).")],
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project.")
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Copy traces into a folder, one Markdown file each (a library to share or import)."""
    ws, library = _library(workspace)
    if project is not None:
        require_project(ws, project)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    exported: list[dict[str, Any]] = []
    with library:
        entries = library.index.listing(project=project, limit=10**9)
        for entry in entries:
            copy = path / f"{entry.signature}.md"
            shutil.copyfile(library.path_of(entry), copy)
            exported.append({"id": entry.signature, "path": str(copy)})
    if as_json:
        print_listing("traces", exported, folder=str(path.resolve()))
        return
    terminal().print(f"exported {len(entries)} trace(s) to {path}", markup=False, soft_wrap=True)


@traces_app.command("import")
def import_traces(
    path: Annotated[Path, typer.Argument(help="A trace file or a folder of them.")],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Import traces. Every step of every trace is checked against the security policy (the
    workspace's and the trace's project's); a trace with one denied step is rejected whole,
    naming that step. Steps the policy asks about are imported and will need a human's
    approval when replayed. Exit 1 if any trace was rejected."""
    ws, library = _library(workspace, writes="import traces")
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    files = sorted(path.glob("*.md")) if path.is_dir() else [path]
    report: list[dict[str, Any]] = []
    with library:
        for file in files:
            vetted = _vet(file, ws)
            if isinstance(vetted, str):
                report.append({"file": str(file), "imported": False, "reason": vetted})
                continue
            verdict, asks = vetted
            if library.index.by_signature(verdict.goal_signature):
                reason = f"already in the library as {verdict.goal_signature}"
                report.append({"file": str(file), "imported": False, "reason": reason})
                continue
            saved = library.add(verdict)
            entry = {
                "file": str(file),
                "imported": True,
                "trace_id": verdict.goal_signature,
                "path": str(saved),
            }
            report.append({**entry, "needs_approval": asks} if asks else entry)
    rejected = [r for r in report if not r["imported"] and "already" not in r["reason"]]
    if as_json:
        imported = sum(1 for r in report if r["imported"])
        print_listing("files", report, imported=imported, rejected=len(rejected))
    else:
        console = terminal()
        for r in report:
            if r["imported"]:
                console.print(f"[green]imported[/] {escape(r['file'])}")
                for ask in r.get("needs_approval", []):
                    console.print(f"  [yellow]needs approval when replayed:[/] {escape(ask)}")
            else:
                console.print(f"[red]not imported[/] {escape(r['file'])}: {escape(r['reason'])}")
    if rejected:
        raise typer.Exit(1)


def _vet(file: Path, ws: Workspace) -> tuple[Trace, list[str]] | str:
    """The trace in `file` and the steps the policy asks about, if it reads back and the
    policy denies no step; else why not. Every decision goes to the audit table."""
    from llmos.memory.trace import parse
    from llmos.security.audit import AuditLog
    from llmos.security.policy import check_tool_call, load_policy

    try:
        trace = parse(file.read_text(encoding="utf-8"), source=str(file))
    except (OSError, UnicodeDecodeError, LlmosError) as exc:
        return str(exc)
    project = trace.project if _valid_project(trace.project) else "default"
    # Judged against where the trace would run; nothing is created for a trace refused here.
    workdir = ws.project_dir(project, create=False) / "output"
    policy = load_policy(ws.root, project)
    audit = AuditLog(ws.db_path)
    asks: list[str] = []
    for number, step in enumerate(trace.steps, start=1):
        decision = check_tool_call(step.tool, step.input, workdir=workdir, policy=policy)
        audit.record(
            run_id=f"import:{file.name}",
            source="import",
            tool=step.tool,
            tool_input=step.input,
            decision=decision.action,
            policy_decision=decision.action,
            rule=decision.rule,
            reason=decision.reason,
        )
        why = f"{decision.reason} [{decision.rule}]"
        if decision.denied:
            return f"step {number} ({step.tool}) refused by the security policy: {why}"
        if decision.asks:
            asks.append(f"step {number} ({step.tool}): {why}")
    return trace, asks


def _valid_project(name: str) -> bool:
    from llmos.workspace import validate_project_name

    try:
        validate_project_name(name)
    except UsageError:
        return False
    return True


@traces_app.command("reindex")
def reindex(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Rebuild the trace index from the files (the files are the source of truth). Works
    on a damaged index too: the index is deleted and made again."""
    from llmos.database import remove_database

    ws = open_workspace(workspace, writes="rebuild the trace index")
    remove_database(ws.state_dir / "index.db")
    _, library = _library(workspace)
    with library:
        count, problems = library.index.rebuild()
    if as_json:
        print_json({"indexed": count, "skipped": list(problems)})
        return
    console = terminal()
    console.print(f"indexed {count} trace(s)")
    for problem in problems:
        console.print(f"[yellow]skipped[/] {escape(problem)}")
