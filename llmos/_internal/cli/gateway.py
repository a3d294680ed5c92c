"""`llmos gateway`: serve the Anthropic Messages API and govern every agent's tool calls;
`gateway sessions`, `gateway save`, `gateway keys`.

The gateway's libraries (Starlette, uvicorn, httpx2) are imported only when it serves:
`llmos gateway sessions` and `keys` stay light.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmos._internal.cli.json_output import print_json, print_listing
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption, YesOption, confirm, finite
from llmos._internal.cli.table import Column, moment, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.errors import UsageError
from llmos._internal.text import clean, escape

if TYPE_CHECKING:
    from llmos._internal.gateway.config import GatewayConfig
    from llmos._internal.gateway.store import ConversationRow
    from llmos._internal.security.approval import Approver
    from llmos._internal.workspace import Workspace

# Its help is the callback's docstring (`gateway` below).
gateway_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)
keys_app = typer.Typer(
    help="Gateway keys: clients present one instead of an API key (budgets per key).",
    no_args_is_help=True,
)
gateway_app.add_typer(keys_app, name="keys")

APPROVERS = ("terminal", "console", "http", "yes", "none")


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class GatewayReporter:
    """What the gateway shows while it serves: a line per conversation opened or closed, per
    decision, per turn sent back; or one JSON object per line (--json)."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        if self.as_json:
            _emit(json.dumps({"event": kind, "at": time.time(), **fields}, default=str))
            return
        from llmos._internal.presentation.calls import describe_call

        who = f"[{fields.get('conversation', '')}]"
        match kind:
            case "opened":
                again = " (continued)" if fields.get("again") else ""
                key = f" key {fields['key']}" if fields.get("key") else ""
                text = f"▶ {who}{again}{key} run {fields['run_id']}: {fields['title']}"
            case "decision":
                call = describe_call(str(fields["tool"]), fields.get("input") or {})
                if fields["allowed"]:
                    by = (
                        f" (approved by {fields['approved_by']})"
                        if fields.get("approved_by")
                        else ""
                    )
                    text = f"  ✓ {who} {fields['tool']} {call}{by}"
                else:
                    text = (
                        f"  ✗ {who} {fields['tool']} {call}: {fields['rule']}: {fields['reason']}"
                    )
            case "think_again":
                tools = ", ".join(str(r["tool"]) for r in fields["rejected"])
                attempt = fields["attempt"]
                text = f"  ↻ {who} sent back to the model ({tools} rejected), attempt {attempt}"
            case "refused":
                text = f"  ✗ {who} request refused: {fields['why']}"
            case "closed":
                text = (
                    f"■ {who} closed: {fields['status']}, ${fields['cost_usd']:.4f}, "
                    f"{fields['tool_calls']} tool call(s), run {fields['run_id']}"
                )
            case _:
                text = f"{kind} {json.dumps(fields, default=str)}"
        _emit(f"{time.strftime('%H:%M:%S')} {clean(text, keep_newlines=False)}")


@gateway_app.callback()
def gateway(
    ctx: typer.Context,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Port to listen on (default 8787; 0 picks a free one).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on (default 127.0.0.1). Anything but loopback requires "
            "gateway keys.",
            show_default=False,
        ),
    ] = None,
    upstream: Annotated[
        str | None,
        typer.Option(
            "--upstream",
            help="The Anthropic-compatible API to forward to (default https://api.anthropic.com).",
            show_default=False,
        ),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            help="The folder the clients work in: the policy's working folder (default: here).",
            file_okay=False,
            show_default=False,
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            "-p",
            help="Project whose policy, ledger and budget apply.",
            show_default=False,
        ),
    ] = None,
    approver: Annotated[
        str | None,
        typer.Option(
            "--approver",
            help="Who answers the policy's questions: terminal (default in a terminal), console "
            "(the inbox of `llmos console`), http (GET/POST /llmos/approvals), yes (approve them "
            "all), none (the default without a terminal: the console's inbox while a console "
            "runs, or with `approvals: console` in config.yaml; else rejected).",
            show_default=False,
        ),
    ] = None,
    unknown_tools: Annotated[
        str | None,
        typer.Option(
            "--unknown-tools",
            help="Tools neither mapped nor known to the policy: allow, ask or deny (default ask).",
            show_default=False,
        ),
    ] = None,
    system_rules: Annotated[
        bool | None,
        typer.Option(
            "--system-rules/--no-system-rules",
            help="Tell the model the workspace's rules in its system prompt.",
            show_default=False,
        ),
    ] = None,
    require_key: Annotated[
        bool | None,
        typer.Option(
            "--require-key", help="Clients must present a gateway key.", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per line, per event.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the Anthropic Messages API on 127.0.0.1 and govern every agent's tool calls
    (Claude Code, the Agent SDK, apps on the anthropic client): sessions, save, keys.

    Point a client at it: ANTHROPIC_BASE_URL=http://127.0.0.1:8787. Every tool call the model
    returns is decided by the security policy before the client sees it: allowed calls go
    through, rejected ones go back to the model to think again, and the ones the policy asks
    about wait for a human. Settings: <workspace>/gateway.yaml. Ctrl-C stops it.
    """
    if ctx.invoked_subcommand is not None:
        return
    if approver is not None and approver not in APPROVERS:
        raise UsageError(f"--approver must be one of {', '.join(APPROVERS)}, not {approver!r}")
    ws = open_workspace(workspace, writes="run the gateway")
    from llmos._internal.gateway.config import load_config

    config = load_config(ws.root).with_options(
        port=port,
        host=host,
        upstream=upstream,
        workdir=workdir.expanduser().resolve() if workdir else None,
        project=project,
        unknown_tools=unknown_tools,
        system_rules=system_rules,
        require_key=require_key,
    )
    _check_setup(ws, config)
    chosen = approver or ("terminal" if sys.stdin.isatty() else "none")
    _serve(ws, config, chosen, as_json)


def _check_setup(ws: Workspace, config: GatewayConfig) -> None:
    from llmos._internal.gateway.store import GatewayStore, gateway_db
    from llmos._internal.workspace import DEFAULT_PROJECT, validate_project_name

    if not config.workdir.is_dir():
        raise UsageError(f"the working folder {config.workdir} does not exist")
    validate_project_name(config.project)
    if config.project != DEFAULT_PROJECT and not (ws.projects_dir / config.project).is_dir():
        raise UsageError(
            f"no project named {config.project!r}",
            hint="See `llmos project list`, or create it with `llmos project create NAME`.",
        )
    if config.keys_required:
        with GatewayStore(gateway_db(ws.state_dir)) as store:
            if not store.has_keys():
                where = (
                    ""
                    if config.loopback
                    else f" (it listens on {config.host}, beyond this machine)"
                )
                raise UsageError(
                    f"clients of this gateway must present a gateway key{where}, and there is none",
                    hint="Make one: llmos gateway keys add NAME [--budget USD]",
                )


def _approver(ws: Workspace, name: str, as_json: bool) -> Approver:
    from llmos._internal.gateway.approvers import NobodyApprover, QueueApprover
    from llmos._internal.security.approval import YesApprover
    from llmos._internal.security.approval_inbox import InboxApprover, InboxWhenWatched

    expiry = ws.settings.approval_expiry_secs
    if name == "console":  # the web console's inbox (llmos console), always
        return InboxApprover(ws.state_dir, source="gateway", expiry_secs=expiry)

    if name == "terminal":
        from llmos._internal.cli.approve import TerminalApprover

        return TerminalApprover(terminal(stderr=as_json))  # --json keeps stdout JSON
    if name == "http":
        return QueueApprover()
    if name == "yes":
        return YesApprover()
    # Nobody here: the inbox while a console runs (or `approvals: console`), else refused.
    return InboxWhenWatched(
        ws.state_dir, ws.settings.approvals, expiry, NobodyApprover(), source="gateway"
    )


def _serve(ws: Workspace, config: GatewayConfig, approver: str, as_json: bool) -> None:
    from llmos._internal.gateway.app import Gateway
    from llmos._internal.gateway.server import BACKLOG, serve
    from llmos._internal.listening import listening_socket

    sock = listening_socket(config.host, config.port, backlog=BACKLOG)
    reporter = GatewayReporter(as_json)
    gateway = Gateway(ws, config, approver=_approver(ws, approver, as_json), report=reporter)

    def ready(url: str) -> None:
        info = {
            "url": url,
            "upstream": config.upstream,
            "workspace": str(ws.root),
            "workdir": str(config.workdir),
            "project": config.project,
            "approver": approver,
            "keys_required": config.keys_required,
            "pid": os.getpid(),
        }
        if as_json:
            _emit(json.dumps({"event": "listening", "at": time.time(), **info}))
            return
        _emit(f"llmos gateway on {url} → {clean(config.upstream)}")
        _emit(
            f"  policy: project {config.project}, working folder {clean(str(config.workdir))}; "
            f"approver: {approver}; unknown tools: {config.unknown_tools}"
        )
        if config.keys_required and not config.upstream_key():
            _emit(
                f"  note: {config.upstream_key_env} is not set: clients with gateway keys reach "
                "the upstream without a key"
            )
        _emit(f"  clients: ANTHROPIC_BASE_URL={url}   (Ctrl-C stops the gateway)")

    serve(gateway, sock, ready=ready)
    if as_json:
        _emit(json.dumps({"event": "stopped", "at": time.time()}))
    else:
        _emit("gateway stopped")


# Conversations ---------------------------------------------------------------------------------
def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


@gateway_app.command("sessions")
def sessions(
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.", min=1)] = 20,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Conversations the gateway served, latest first: requests, tool calls, refusals, cost."""
    from llmos._internal.gateway.store import gateway_db, read_conversations

    ws = open_workspace(workspace)
    rows = [_settled(ws, row) for row in read_conversations(gateway_db(ws.state_dir), limit=limit)]
    if as_json:
        print_listing("conversations", [r.to_dict() for r in rows])
        return
    print_table(
        [
            Column("conversation"),
            moment("last active"),
            Column("status"),
            Column("key"),
            Column("requests", justify="right"),
            Column("tools", justify="right"),
            Column("denied", justify="right"),
            Column("cost", justify="right"),
            Column("runs", justify="right"),
            Column("first message", prose=True),
        ],
        [
            (
                row.id,
                _when(row.last_at),
                row.status,
                row.key_name or "-",
                row.requests,
                row.tool_calls,
                row.denied,
                f"${row.cost_usd:.4f}",
                len(row.runs),
                clean(row.title, keep_newlines=False),
            )
            for row in rows
        ],
        empty="no gateway conversations yet (start one: llmos gateway)",
    )
    if not rows:
        return
    console = terminal(stderr=True)
    console.print(
        "[dim]a run's timeline: llmos sessions show RUN; as a trace: llmos gateway save ID[/]"
    )


@gateway_app.command("save")
def save(
    conversation: Annotated[
        str, typer.Argument(help="Conversation id or a unique prefix.", metavar="CONVERSATION")
    ],
    goal: Annotated[
        str | None,
        typer.Option(
            "--goal",
            help="The goal to save it under (default: its first user message).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Save a conversation's tool calls as an llmos trace, so `llmos run` replays them."""
    from llmos._internal.gateway.save import save_conversation
    from llmos._internal.gateway.store import GatewayStore, gateway_db

    ws = open_workspace(workspace, writes="save a trace")
    db = gateway_db(ws.state_dir)
    if not db.exists():
        raise UsageError(
            "the gateway has served no conversation yet", hint="Start it: llmos gateway"
        )
    with GatewayStore(db) as store:
        row = store.resolve(conversation)
    learned = save_conversation(ws, row, goal=goal)
    trace = learned.trace
    if as_json:
        info = {
            "conversation_id": row.id,
            "trace_id": trace.goal_signature,
            "path": str(learned.path),
            "kind": learned.kind,
            "goal": trace.goal_text,
            "steps": len(trace.steps),
        }
        print_json(info)
        return
    console = terminal()
    console.print(
        f"trace [bold]{trace.goal_signature}[/] ({learned.describe()}): "
        f"{len(trace.steps)} step(s) from conversation {row.id}"
    )
    console.print(f"  goal: {escape(clean(trace.goal_text, keep_newlines=False))}")
    console.print(f"  replay it: llmos run {escape(_quoted(trace.goal_text))}")


def _settled(ws: Workspace, row: ConversationRow) -> ConversationRow:
    """A conversation "open" in the database whose run's log is sealed was left by a gateway
    that died (the next command settled its run): it is closed."""
    sealed = bool(row.runs) and (ws.sessions_dir / f"{row.runs[-1]}.seal").exists()
    return dataclasses.replace(row, status="closed") if row.status == "open" and sealed else row


def _quoted(text: str) -> str:
    import shlex

    return shlex.quote(clean(text, keep_newlines=False))


# Keys ------------------------------------------------------------------------------------------
KeyName = Annotated[str, typer.Argument(help="The key's name.", metavar="NAME")]


@keys_app.command("add")
def keys_add(
    name: KeyName,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            help="The most its conversations may spend, in USD.",
            min=0.0,
            callback=finite,
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Make a gateway key. It is shown once: only its hash is kept."""
    from llmos._internal.gateway.store import GatewayStore, gateway_db

    ws = open_workspace(workspace, writes="add a gateway key")
    with GatewayStore(gateway_db(ws.state_dir)) as store:
        key, secret = store.add_key(name, budget_usd=budget)
    if as_json:
        print_json({"name": key.name, "key": secret, "budget_usd": key.budget_usd})
        return
    console = terminal()
    console.print(
        f"gateway key [bold]{escape(key.name)}[/]"
        + (f", budget ${budget:.2f}" if budget is not None else "")
    )
    console.print(secret, markup=False)
    console.print("[dim]shown once: give it to the client as its API key (ANTHROPIC_API_KEY)[/]")


@keys_app.command("list")
def keys_list(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """The gateway keys, with their budgets and what their conversations spent."""
    from llmos._internal.gateway.store import GatewayStore, gateway_db

    ws = open_workspace(workspace)
    db = gateway_db(ws.state_dir)
    keys = []
    if db.exists():
        with GatewayStore(db) as store:
            keys = store.keys()
    if as_json:
        rows = [{**k.__dict__, "left_usd": k.left_usd} for k in keys]
        print_listing("keys", rows)
        return
    print_table(
        [
            Column("name"),
            Column("budget", justify="right"),
            Column("spent", justify="right"),
            Column("left", justify="right"),
            moment("created"),
        ],
        [
            (
                k.name,
                "-" if k.budget_usd is None else f"${k.budget_usd:.4f}",
                f"${k.spent_usd:.4f}",
                "-" if k.left_usd is None else f"${k.left_usd:.4f}",
                _when(k.created_at),
            )
            for k in keys
        ],
        empty="no gateway keys (make one: llmos gateway keys add NAME)",
    )


@keys_app.command("rm")
def keys_rm(
    name: KeyName,
    yes: YesOption = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a gateway key (asks first, unless --yes): clients presenting it are refused
    from now on."""
    from llmos._internal.gateway.store import GatewayStore, gateway_db

    ws = open_workspace(workspace, writes="remove a gateway key")
    with GatewayStore(gateway_db(ws.state_dir)) as store:
        known = [key.name for key in store.keys()]  # noqa: SIM118 (a method, not a dict)
        if name not in known:
            store.remove_key(name)  # says there is no such key
        confirm(f"Remove gateway key {name!r}?", yes=yes)
        store.remove_key(name)
    if as_json:
        print_json({"name": name, "deleted": True})
        return
    terminal().print(f"removed gateway key {escape(name)}")


@keys_app.command("budget")
def keys_budget(
    name: KeyName,
    amount: Annotated[str, typer.Argument(help="USD, or `none` for no limit.", metavar="USD|none")],
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Set what a key's conversations may spend in all (`none`: no limit)."""
    import math

    from llmos._internal.gateway.store import GatewayStore, gateway_db

    value: float | None = None
    if amount.strip().lower() != "none":
        try:
            value = float(amount)
        except ValueError:
            raise UsageError(f"{amount!r} is not an amount in USD (or none)") from None
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"the budget must be a finite amount >= 0, not {amount}")
    ws = open_workspace(workspace, writes="change a gateway key")
    with GatewayStore(gateway_db(ws.state_dir)) as store:
        store.set_key_budget(name, value)
    if as_json:
        print_json({"name": name, "budget_usd": value})
        return
    shown = "no limit" if value is None else f"${value:.4f}"
    terminal().print(f"gateway key {escape(name)}: budget {shown}")
