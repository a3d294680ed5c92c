"""`llmos budget`: the battery. Show the balance and spend log, set it, top it up."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from llmos.cli.options import JsonOption, WorkspaceOption, open_workspace

if TYPE_CHECKING:
    from llmos.kernel.economy import TokenEconomy
    from llmos.workspace import Workspace

budget_app = typer.Typer(
    help="Show the balance and the spend log; `budget set USD`, `budget add USD`.",
    invoke_without_command=True,
    no_args_is_help=False,
)

Amount = Annotated[
    float, typer.Argument(help="Amount in USD.", min=0.0, metavar="USD", show_default=False)
]


def _economy(ws: Workspace) -> TokenEconomy:
    from llmos.kernel.economy import TokenEconomy

    return TokenEconomy(ws.db_path, initial_balance_usd=ws.settings.initial_balance_usd)


@budget_app.callback()
def show(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Spend-log rows to show.", min=1)
    ] = 10,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The balance and the most recent entries of the spend log."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = workspace
        return
    economy = _economy(open_workspace(workspace))
    try:
        balance, entries = economy.balance, economy.balance_log(limit=limit)
    finally:
        economy.close()
    if as_json:
        rows = [entry.__dict__ for entry in entries]
        typer.echo(json.dumps({"balance_usd": round(balance, 6), "log": rows}, indent=2))
        return
    console = Console(highlight=False)
    console.print(f"[bold]balance[/] ${balance:.4f}")
    table = Table("when", "change", "balance", "reason", "run")
    for entry in entries:
        when = dt.datetime.fromtimestamp(entry.at).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            when,
            f"{entry.delta_usd:+.4f}",
            f"{entry.balance_usd:.4f}",
            entry.reason,
            entry.run_id or "",
        )
    console.print(table)


def _change(
    ctx: typer.Context, workspace: object, apply: str, amount: float, as_json: bool
) -> None:
    ws = open_workspace(workspace if workspace is not None else ctx.obj)  # type: ignore[arg-type]
    economy = _economy(ws)
    try:
        balance = economy.set_balance(amount) if apply == "set" else economy.add(amount)
    finally:
        economy.close()
    if as_json:
        typer.echo(json.dumps({"balance_usd": round(balance, 6)}))
    else:
        Console(highlight=False).print(f"balance is now ${balance:.4f}")


@budget_app.command("set")
def set_balance(
    ctx: typer.Context,
    amount: Amount,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Set the balance to AMOUNT USD."""
    _change(ctx, workspace, "set", amount, as_json)


@budget_app.command("add")
def add_balance(
    ctx: typer.Context,
    amount: Amount,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Add AMOUNT USD to the balance."""
    _change(ctx, workspace, "add", amount, as_json)
