"""`llmos agents`: the agents runs can delegate to and orchestrations plan over."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from llmos._internal.cli.json_output import print_json, print_listing
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption, finite, require_project
from llmos._internal.cli.table import Column, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.errors import UsageError
from llmos._internal.text import clean, escape

if TYPE_CHECKING:
    from llmos._internal.agents.catalog import AgentCatalog
    from llmos._internal.agents.spec import AgentSpec
    from llmos._internal.workspace import Workspace

agents_app = typer.Typer(
    help=(
        "Agents: named roles (system prompt, tools, model) in Markdown files. Learner runs "
        "offer them to the model as subagents; Orchestrator mode plans over them. They live "
        "in the workspace's agents/ and a project's components/ (which overrides)."
    ),
    no_args_is_help=True,
)
ProjectOption = Annotated[
    str,
    typer.Option("--project", "-p", help="Include this project's agents (components/)."),
]


def _catalog(ws: Workspace, project: str) -> AgentCatalog:
    from llmos._internal.agents.catalog import load_catalog
    from llmos._internal.projects.scope import enter_project

    require_project(ws, project)
    scope = enter_project(ws, project, create=False)  # the plugins this project allows
    return load_catalog(scope.ws, project, plugin_agents=scope.tools.registry.agents())


@agents_app.command("list")
def list_agents(
    project: ProjectOption = "default",
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List the agents, and every agent file that was skipped and why."""
    catalog = _catalog(open_workspace(workspace), project)
    problems = [{"path": str(p.path), "problem": p.problem} for p in catalog.problems]
    if as_json:
        agents = [spec.summary() for spec in catalog.specs()]
        print_listing("agents", agents, problems=problems)
        return
    print_table(
        [
            Column("name"),
            Column("description", prose=True),
            Column("tools", prose=True),
            Column("model"),
            Column("from"),
        ],
        [
            (
                spec.name,
                spec.description,
                ", ".join(spec.tool_list),
                spec.model or "inherit",
                spec.source,
            )
            for spec in catalog.specs()
        ],
        empty="No agents yet: `llmos agents create NAME ...` writes one.",
    )
    console = terminal(stderr=True)  # what was skipped is a warning, not part of the list
    for problem in catalog.problems:
        console.print(f"[yellow]skipped[/] {escape(str(problem.path))}: {escape(problem.problem)}")


@agents_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The agent's name.")],
    project: ProjectOption = "default",
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show one agent: where it comes from, its tools and model, and its system prompt."""
    spec = _catalog(open_workspace(workspace), project).require(name)
    if as_json:
        print_json({**spec.summary(), "prompt": spec.prompt})
        return
    _print_spec(terminal(), spec)


@agents_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The new agent's name (lowercase, - and _).")],
    description: Annotated[
        str | None,
        typer.Option("--description", "-d", help="One line: what it does (for choosing it)."),
    ] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Its system prompt.", show_default=False)
    ] = None,
    prompt_file: Annotated[
        Path | None,
        typer.Option(
            "--prompt-file", help="Read the system prompt from this file.", dir_okay=False
        ),
    ] = None,
    tools: Annotated[
        str | None,
        typer.Option("--tools", help="Comma-separated tools (default: Learner's whole set)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="sonnet, opus, haiku, a model id or inherit.")
    ] = None,
    max_turns: Annotated[int | None, typer.Option("--max-turns", min=1, help="Turn limit.")] = None,
    describe: Annotated[
        str | None,
        typer.Option(
            "--describe",
            help="Let the model draft the agent from this text (one model call, charged).",
        ),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            min=0.0001,
            callback=finite,
            help="Most the draft may cost, USD (default 0.10).",
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", help="Write it to this project's components/."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Write a new agent file, from the flags or drafted by the model (--describe).

    Flags given with --describe override the draft (e.g. --tools Read,Grep).
    """
    from llmos._internal.agents.spec import AgentFormatError, check_name, make_spec, render_agent
    from llmos._internal.fsutil import atomic_write_text

    ws = open_workspace(workspace, writes="create an agent")
    try:
        check_name(name)
    except AgentFormatError as exc:
        raise UsageError(str(exc)) from exc
    folder = ws.root / "agents"
    if project is not None:
        from llmos._internal.projects.store import open_project  # `default` is made on first use

        require_project(ws, project)
        folder = open_project(ws, project).root / "components"
    path = folder / f"{name}.md"
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", hint="Pass --force to replace it.")
    if prompt_file is not None:
        try:
            prompt = prompt_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {prompt_file}: {exc}") from exc
    cost = 0.0
    fields: dict[str, Any] = {"description": description, "prompt": prompt, "tools": tools}
    if describe is not None:
        from llmos._internal.engine.draft import draft_agent

        drafted, cost = asyncio.run(
            draft_agent(
                ws, name, describe, project=project or "default", budget_usd=budget, model=model
            )
        )
        drafted_fields: dict[str, Any] = {
            "description": drafted.description,
            "prompt": drafted.prompt,
            "tools": list(drafted.tools) if drafted.tools is not None else None,
        }
        fields = {k: v if v is not None else drafted_fields[k] for k, v in fields.items()}
    elif description is None or prompt is None:
        raise UsageError(
            "an agent needs a description and a system prompt",
            hint="Pass --description and --prompt (or --prompt-file), or --describe TEXT to "
            "let the model draft it.",
        )
    try:
        spec = make_spec(name=name, model=model, max_turns=max_turns, path=path, **fields)
    except AgentFormatError as exc:
        raise UsageError(f"invalid agent: {exc}") from exc
    atomic_write_text(path, render_agent(spec))
    if as_json:
        print_json({**spec.summary(), "prompt": spec.prompt, "draft_cost_usd": cost})
        return
    console = terminal()
    console.print(
        f"[green]wrote[/] {escape(str(path))}" + (f" (draft cost ${cost:.4f})" if cost else "")
    )
    _print_spec(console, spec)


def _print_spec(console: Console, spec: AgentSpec) -> None:
    console.print(f"[bold]{spec.name}[/] [dim]({escape(spec.source or 'new')})[/]")
    console.print(escape(spec.description))
    console.print(f"tools: {', '.join(spec.tool_list)}")
    console.print(f"model: {spec.model or 'inherit'}")
    if spec.max_turns:
        console.print(f"max turns: {spec.max_turns}")
    if spec.path:
        console.print(f"file: {escape(str(spec.path))}")
    console.print()
    console.print(clean(spec.prompt), markup=False)
