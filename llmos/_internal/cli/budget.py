"""`llmos budget`: the battery. Show the balance and spend log, set it, top it up."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

from llmos._internal.cli.json_output import print_json
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption, finite, require_project
from llmos._internal.cli.table import Column, moment, print_table
from llmos._internal.cli.terminal import terminal

if TYPE_CHECKING:
    from llmos._internal.kernel.economy import TokenEconomy
    from llmos._internal.workspace import Workspace

budget_app = typer.Typer(
    help=(
        "Show the balance and the spend log; `budget set USD`, `budget add USD`. With "
        "--project NAME: a project's own budget (`budget set --project NAME USD`, `add`, `clear`)."
    ),
    invoke_without_command=True,
    no_args_is_help=False,
)

Amount = Annotated[
    float,
    typer.Argument(
        help="Amount in USD.", min=0.0, callback=finite, metavar="USD", show_default=False
    ),
]


def _economy(ws: Workspace) -> TokenEconomy:
    from llmos._internal.kernel.economy import TokenEconomy

    return TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)


ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project",
        "-p",
        help="A project's budget instead: what its runs may spend in all, within the balance.",
        show_default=False,
    ),
]


def validate_project_name(name: str) -> str:
    from llmos._internal.workspace import validate_project_name as validate  # not at import: --help

    return validate(name)


def _show_project(ws: Workspace, name: str, as_json: bool) -> None:
    economy = _economy(ws)
    try:
        left, used = economy.project_budget(name), economy.project_usage().get(name)
    finally:
        economy.close()
    info = {
        "project": name,
        "budget_left_usd": None if left is None else round(left, 6),
        "spent_usd": round(used.spent_usd, 6) if used else 0.0,
        "runs": used.runs if used else 0,
    }
    if as_json:
        print_json(info)
        return
    shown = "none (only the balance limits it)" if left is None else f"${left:.4f} left"
    terminal().print(
        f"[bold]project {name}[/] budget {shown}; spent ${info['spent_usd']:.4f} "
        f"over {info['runs']} run(s)"
    )


@budget_app.callback()
def show(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Spend-log rows to show.", min=1)
    ] = 10,
    project: ProjectOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The balance and the most recent entries of the spend log (with --project: that
    project's budget and spend)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = workspace
        return
    if project is not None:
        validate_project_name(project)
        ws = open_workspace(workspace)
        _show_project(ws, require_project(ws, project), as_json)
        return
    economy = _economy(open_workspace(workspace))
    try:
        balance, entries = economy.balance, economy.balance_log(limit=limit)
    finally:
        economy.close()
    if as_json:
        rows = [entry.__dict__ for entry in entries]
        print_json({"balance_usd": round(balance, 6), "log": rows, "count": len(rows)})
        return
    console = terminal()
    console.print(f"[bold]balance[/] ${balance:.4f}")
    print_table(
        [
            moment("when"),
            Column("change", justify="right"),
            Column("balance", justify="right"),
            Column("reason", prose=True),
            Column("run"),
        ],
        [
            (
                dt.datetime.fromtimestamp(entry.at).strftime("%Y-%m-%d %H:%M:%S"),
                f"{entry.delta_usd:+.4f}",
                f"{entry.balance_usd:.4f}",
                entry.reason,
                entry.run_id or "",
            )
            for entry in entries
        ],
        console=console,
    )


def _change(
    ctx: typer.Context,
    workspace: object,
    apply: str,
    amount: float,
    as_json: bool,
    project: str | None = None,
) -> None:
    if project is not None:
        validate_project_name(project)
    ws = open_workspace(
        workspace if workspace is not None else ctx.obj,  # type: ignore[arg-type]
        writes="change the budget",
    )
    if project is not None:
        _change_project(ws, require_project(ws, project), apply, amount, as_json)
        return
    economy = _economy(ws)
    try:
        balance = economy.set_balance(amount) if apply == "set" else economy.add(amount)
    finally:
        economy.close()
    if as_json:
        print_json({"balance_usd": round(balance, 6)})
    else:
        terminal().print(f"balance is now ${balance:.4f}")


def _change_project(ws: Workspace, project: str, apply: str, amount: float, as_json: bool) -> None:
    economy = _economy(ws)
    try:
        if apply == "set":
            left = economy.set_project_budget(project, amount)
        else:
            left = economy.add_project_budget(project, amount)
    finally:
        economy.close()
    if as_json:
        print_json({"project": project, "budget_left_usd": round(left, 6)})
    else:
        terminal().print(f"project {project} may now spend ${left:.4f}")


@budget_app.command("set")
def set_balance(
    ctx: typer.Context,
    amount: Amount,
    project: ProjectOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Set the balance to AMOUNT USD (with --project: that project's budget, what its runs
    may spend from now on)."""
    _change(ctx, workspace, "set", amount, as_json, project)


@budget_app.command("add")
def add_balance(
    ctx: typer.Context,
    amount: Amount,
    project: ProjectOption = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Add AMOUNT USD to the balance (with --project: to that project's budget)."""
    _change(ctx, workspace, "add", amount, as_json, project)


@budget_app.command("clear")
def clear_project_budget(
    ctx: typer.Context,
    project: Annotated[
        str, typer.Option("--project", "-p", help="The project whose budget to remove.")
    ],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a project's budget: its runs are then limited by the balance only."""
    validate_project_name(project)
    ws = open_workspace(workspace if workspace is not None else ctx.obj, writes="change the budget")
    economy = _economy(ws)
    try:
        had = economy.clear_project_budget(require_project(ws, project))
    finally:
        economy.close()
    if as_json:
        print_json({"project": project, "cleared": had})
    else:
        said = "no longer has a budget" if had else "had no budget"
        terminal().print(f"project {project} {said}")
