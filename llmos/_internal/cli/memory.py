"""`llmos memory`: facts and insights (L4 memory): add, search, list, show, rm, distill."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmos._internal.cli.json_output import print_json, print_listing
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import (
    JsonOption,
    ModelOption,
    WorkspaceOption,
    YesOption,
    confirm,
    finite,
    require_project,
)
from llmos._internal.cli.table import Column, moment, print_table
from llmos._internal.cli.terminal import on_terminal, terminal
from llmos._internal.presentation.records import memory_record
from llmos._internal.text import escape

if TYPE_CHECKING:
    from llmos._internal.memory.facts import MemoryStore
    from llmos._internal.memory.memory_index import IndexedItem

memory_app = typer.Typer(
    help=(
        "Facts and insights (L4 memory), recalled before Learner runs: add, search, list, "
        "show, rm, distill, reindex. Workspace items reach every project; --project keeps "
        "an item to one project."
    ),
    no_args_is_help=True,
    add_completion=False,
)
ItemId = Annotated[str, typer.Argument(help="Memory id, or a unique prefix of it.", metavar="ID")]
ProjectScope = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        help="A project's memory (and, when reading, the workspace's, as its runs see it).",
        show_default=False,
    ),
]
KindOption = Annotated[
    str | None,
    typer.Option("--kind", "-k", help="Only facts or only insights.", show_default=False),
]


def _store(workspace: Path | None, *, writes: str | None = None) -> MemoryStore:
    from llmos._internal.memory.facts import MemoryStore  # here, not at the top: keeps --help fast

    return MemoryStore(open_workspace(workspace, writes=writes))


def _require_project(ws: Any, project: str | None) -> None:
    if project is not None:
        require_project(ws, project)


def _kinds(kind: str | None) -> tuple[Any, ...]:
    from llmos._internal.errors import UsageError
    from llmos._internal.memory.memory_item import KINDS

    if kind is None:
        return KINDS
    if kind not in KINDS:
        raise UsageError(f"--kind must be fact or insight, not {kind!r}")
    return (kind,)


def _scopes(project: str | None) -> list[str | None] | None:
    from llmos._internal.memory.facts import scopes_for

    return scopes_for(project)


def _short(text: str, limit: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _print_items(
    entries: list[IndexedItem], *, empty: str, scores: list[float] | None = None
) -> None:
    columns = [
        Column("id"),
        Column("kind"),
        Column("scope"),
        Column("tags"),
        Column("text", prose=True),
        moment("created"),
    ]
    if scores is not None:
        columns.append(Column("relevance", justify="right"))
    rows = []
    for n, entry in enumerate(entries):
        row: list[object] = [
            entry.id,
            entry.kind + (" (distilled)" if entry.distilled else ""),
            entry.scope,
            ", ".join(entry.tags),
            " ".join(entry.text.split()),
            entry.created_at.replace("T", " ")[:16],
        ]
        if scores is not None:
            row.append(f"{scores[n]:.2f}")
        rows.append(row)
    print_table(columns, rows, empty=empty)


@memory_app.command("add")
def add(
    text: Annotated[str, typer.Argument(help="The fact, in plain language.", metavar="TEXT")],
    project: Annotated[
        str | None,
        typer.Option(
            "--project", "-p", help="Keep it to this project (default: the whole workspace)."
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", help="A tag (repeat for several).", show_default=False),
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Remember a fact: Learner runs whose goal it bears on are given it before they start."""
    with _store(workspace, writes="add a memory") as store:
        _require_project(store.ws, project)
        item, path = store.add_fact(text, project=project, tags=tags or [])
        record = memory_record(store.resolve(item.id, project=project))
    if as_json:
        print_json(record)
        return
    terminal().print(
        f"remembered fact {item.id} ({item.scope}): {escape(str(path))}", soft_wrap=True
    )


@memory_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Words to look for.", metavar="QUERY")],
    project: ProjectScope = None,
    kind: KindOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Facts and insights relevant to QUERY, most relevant first (relevance 0 to 1)."""
    with _store(workspace) as store:
        _require_project(store.ws, project)
        found = store.search(query, projects=_scopes(project), kinds=_kinds(kind), limit=limit)
    if as_json:
        print_listing("items", [memory_record(s.item, score=s.score) for s in found])
        return
    _print_items(
        [s.item for s in found],
        scores=[s.score for s in found],
        empty="Nothing in memory matches that.",
    )


@memory_app.command("list")
def list_items(
    project: ProjectScope = None,
    kind: KindOption = None,
    tag: Annotated[
        str | None, typer.Option("--tag", "-t", help="Only items with this tag.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 100,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List facts and insights, newest first (every scope unless --project)."""
    with _store(workspace) as store:
        _require_project(store.ws, project)
        entries = store.listing(
            projects=_scopes(project),
            kinds=_kinds(kind),
            tag=tag.lower() if tag else None,
            limit=limit,
        )
    if as_json:
        print_listing("items", [memory_record(e) for e in entries])
        return
    filtered = project is not None or kind is not None or tag is not None
    _print_items(
        entries,
        empty="Nothing in memory matches that."
        if filtered
        else 'No memory yet: `llmos memory add "fact"`, or learn a goal with `llmos run`.',
    )


@memory_app.command("show")
def show(
    item_id: ItemId,
    project: ProjectScope = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show one fact or insight, as its file holds it (piped: the file, byte for byte)."""
    with _store(workspace) as store:
        _require_project(store.ws, project)
        entry = store.resolve(item_id, project=project)
        item = store.load(entry)
    if as_json:
        print_json({**memory_record(entry), "meta": item.meta})
        return
    if not on_terminal():
        sys.stdout.flush()
        sys.stdout.buffer.write(entry.path.read_bytes())
        sys.stdout.flush()
        return
    console = terminal()
    console.print(
        f"[bold]{entry.id}[/] {entry.kind}, {entry.scope}: {escape(str(entry.path))}",
        soft_wrap=True,
    )
    console.print(escape(entry.path.read_text(encoding="utf-8", errors="replace")))


@memory_app.command("rm")
def remove(
    item_id: ItemId,
    project: ProjectScope = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Forget a fact or insight: deletes its file (asks first, unless --yes)."""
    with _store(workspace, writes="remove a memory") as store:
        _require_project(store.ws, project)
        entry = store.resolve(item_id, project=project)
        confirm(f"Delete {entry.kind} {entry.id} ({_short(entry.text, 50)!r})?", yes=yes)
        store.remove(entry)
    if as_json:
        print_json({**memory_record(entry), "deleted": True})
        return
    terminal().print(f"deleted {entry.kind} {entry.id}")


@memory_app.command("reindex")
def reindex(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Rebuild the memory index from the files (the files are the source of truth). Works
    on a damaged index too: the index is deleted and made again."""
    from llmos._internal.database import remove_database

    ws = open_workspace(workspace, writes="rebuild the memory index")
    remove_database(ws.state_dir / "memory_index.db")
    with _store(workspace) as store:
        count, problems = store.index.rebuild(store.folders())
    if as_json:
        print_json({"indexed": count, "skipped": list(problems)})
        return
    console = terminal()
    console.print(f"indexed {count} memory item(s)")
    for problem in problems:
        console.print(f"[yellow]skipped[/] {escape(problem)}")


@memory_app.command("distill")
def distill(
    budget: Annotated[
        float,
        typer.Option(
            "--budget",
            "-b",
            help="Most this may spend, in USD (charged to the battery like any run).",
            min=0.0001,
            callback=finite,
            show_default=False,
        ),
    ],
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            "-p",
            help="Only this project's insights, into its facts (default: every scope's).",
        ),
    ] = None,
    model: ModelOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Ask the model to merge the insights not yet distilled into a few durable facts.

    Without --project, facts that hold across projects go to the workspace and the others
    to their project. The insights used are marked distilled (recall then skips them).
    Exit status 1 if the model run failed."""
    import asyncio  # only here: listing memory never loads it

    from llmos._internal.engine.distill import distill as run_distill

    ws = open_workspace(workspace, writes="distill memory")
    _require_project(ws, project)
    result = asyncio.run(run_distill(ws, budget_usd=budget, project=project, model=model))
    if as_json:
        print_json(result.to_dict())
    else:
        _print_distill(result)
    if not result.ok:
        raise typer.Exit(1)


def _print_distill(result: Any) -> None:
    console = terminal()
    if result.status == "nothing":
        console.print("No insights to distill (none yet, or all distilled already).")
        return
    if result.ok:
        console.print(
            f"[green]distilled[/] {result.insights} insight(s) into {len(result.facts)} fact(s)"
            f" for ${result.cost_usd:.4f} (balance ${result.balance_usd:.4f})"
        )
        for fact in result.facts:
            scope = f"project {fact['project']}" if fact["project"] else "workspace"
            console.print(f"  {fact['id']} ({scope}): {escape(fact['text'])}")
    else:
        console.print(
            f"[red]distill {result.status}[/]: {escape(str(result.error))} "
            f"(spent ${result.cost_usd:.4f}; the insights stay as they were)"
        )
    console.print(f"[dim]session log: {escape(str(result.session_log))}[/]", soft_wrap=True)
