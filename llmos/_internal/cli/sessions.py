"""`llmos sessions`: the session logs (L2): list runs, show one's timeline, verify the chain,
export runs as OpenTelemetry spans."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer

from llmos._internal.cli.json_output import print_json, print_listing
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import JsonOption, WorkspaceOption
from llmos._internal.cli.table import Column, moment, print_table
from llmos._internal.cli.terminal import terminal
from llmos._internal.memory.session_log import (
    find_session,
    read_session,
    session_logs,
    verify_session,
)
from llmos._internal.presentation.records import session_record
from llmos._internal.presentation.timeline import event_line
from llmos._internal.text import escape

sessions_app = typer.Typer(
    help="Session logs (L2): every run's events, hash-chained. list, show RUN, verify [RUN], "
    "export RUN... --otlp.",
    no_args_is_help=True,
)
RunArg = Annotated[str, typer.Argument(help="Run id or a unique prefix.", metavar="RUN")]


def _when(timestamp: Any) -> str:
    if not isinstance(timestamp, int | float):
        return "-"
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


@sessions_app.command("list")
def list_sessions(
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many.", min=1)] = 20,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List runs, newest first."""
    paths = session_logs(open_workspace(workspace).sessions_dir)[:limit]
    runs = []
    for path in paths:
        try:
            runs.append(session_record(path, read_session(path)))
        except OSError as exc:  # one unreadable log is reported, not a reason to fail
            runs.append({**session_record(path, []), "status": f"unreadable: {exc.strerror}"})
    if as_json:
        print_listing("sessions", runs)
        return
    rows = []
    for run in runs:
        cost = run["cost_usd"]
        rows.append(
            (
                run["run_id"],
                _when(run["started_at"]),
                run["mode"],
                run["status"],
                f"${cost:.4f}" if isinstance(cost, int | float) else "-",
                run["events"],
                run["goal"],
            )
        )
    print_table(
        [
            Column("run"),
            moment("started"),
            Column("mode"),
            Column("status"),
            Column("cost", justify="right"),
            Column("events", justify="right"),
            Column("goal", prose=True),
        ],
        rows,
        empty="no session logs yet",
    )


StepsOption = Annotated[
    bool,
    typer.Option(
        "--steps",
        help="The run as supersteps: each model turn and its tool calls, with their types, "
        "checker results, routes and scores (governance).",
    ),
]


@sessions_app.command("show")
def show(
    run: RunArg,
    steps: StepsOption = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """A run's timeline: what the agent said, its tool calls and their verdicts, the cost."""
    path = find_session(open_workspace(workspace).sessions_dir, run)
    events = read_session(path)
    if steps:
        _show_steps(events, as_json=as_json)
        return
    check = verify_session(path)
    if as_json:
        info = {**session_record(path, events), "integrity": check.to_dict(), "timeline": events}
        print_json(info)
        return
    console = terminal()
    info = session_record(path, events)
    console.print(f"[bold]run[/] {info['run_id']}", markup=True)
    if info["parent_run_id"]:
        console.print(f"[bold]parent[/] {info['parent_run_id']}")
    start = float(events[0]["at"]) if events else 0.0
    rows = []
    for event in events:
        line = event_line(event)
        if line is not None:
            offset = float(event.get("at") or start) - start
            rows.append((f"+{offset:.2f}s", line[0], line[1]))
    print_table(
        [Column("time", justify="right"), Column("event"), Column("detail", prose=True)],
        rows,
        console=console,
    )
    style = "green" if check.ok else "red"
    console.print(f"[bold]integrity[/] [{style}]{check.status}[/]: {escape(check.detail)}")


def _show_steps(events: list[dict[str, Any]], *, as_json: bool) -> None:
    from llmos._internal.governance.supersteps import supersteps

    view = supersteps(events)
    if as_json:
        typer.echo(json.dumps(view, indent=2, ensure_ascii=False, default=str))
        return
    from llmos._internal.cli.steps_view import print_supersteps

    print_supersteps(terminal(), view)


@sessions_app.command("verify")
def verify(
    run: Annotated[
        str | None, typer.Argument(help="Run id or prefix (default: every run).", metavar="[RUN]")
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Check session logs' hash chains and seals: an edited, cut or extended log fails.

    Exit status 1 if any log is not intact and sealed.
    """
    folder = open_workspace(workspace).sessions_dir
    paths = [find_session(folder, run)] if run is not None else session_logs(folder)
    results = [verify_session(path) for path in paths]
    all_ok = all(result.ok for result in results)
    if as_json:
        print_listing("runs", [r.to_dict() for r in results], ok=all_ok)
    else:
        console = terminal()
        if not results:
            console.print("no session logs to verify")
        for result in results:
            style = "green" if result.ok else "red"
            console.print(f"{result.run_id} [{style}]{result.status}[/] {escape(result.detail)}")
    if not all_ok:
        raise typer.Exit(1)


@sessions_app.command("export")
def export(
    runs: Annotated[
        list[str] | None,
        typer.Argument(help="Run ids or unique prefixes.", metavar="RUN...", show_default=False),
    ] = None,
    otlp: Annotated[
        bool,
        typer.Option(
            "--otlp", help="Send the runs as OpenTelemetry spans over OTLP (required for now)."
        ),
    ] = False,
    all_runs: Annotated[bool, typer.Option("--all", help="Every finished run.")] = False,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="OTLP endpoint (default: telemetry.endpoint or OTEL_EXPORTER_OTLP_ENDPOINT).",
            show_default=False,
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", help="A header KEY=VALUE to send (repeatable).", show_default=False
        ),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option("--protocol", help="http/protobuf or grpc.", show_default=False),
    ] = None,
    content: Annotated[
        bool | None,
        typer.Option(
            "--content/--no-content",
            help="Include goals, tool inputs and outputs, answers (redacted). Default: "
            "telemetry.capture_content.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build the spans and count them; send nothing.")
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Send past runs to an OpenTelemetry backend (MLflow, Langfuse, any OTLP collector).
    The spans are built from the session logs, exactly as a live run with telemetry on
    would have sent them (the same trace ids), so nothing depends on telemetry having been
    on. A run goes with its family (an orchestration and its subtasks). Exit status 1 if
    the endpoint did not take them.
    """
    from llmos._internal import telemetry_settings as settings
    from llmos._internal.errors import UsageError
    from llmos._internal.telemetry import require_sdk
    from llmos._internal.telemetry.backfill import run_spans, with_families
    from llmos._internal.telemetry.content import ContentPolicy

    if not otlp:
        raise UsageError(
            "say where the runs go: --otlp",
            hint="llmos sessions export RUN --otlp sends them to telemetry.endpoint "
            "(config.yaml) or OTEL_EXPORTER_OTLP_ENDPOINT; --endpoint URL overrides both.",
        )
    if not runs and not all_runs:
        raise UsageError("no run given", hint="Give run ids (llmos sessions list), or --all.")
    ws = open_workspace(workspace)
    folder = ws.sessions_dir
    chosen = session_logs(folder) if all_runs else [find_session(folder, run) for run in runs or []]
    extra = settings.parse_headers(",".join(header or []), source="--header")
    config = settings.resolve(
        ws.settings.telemetry,
        endpoint=endpoint,
        headers=extra,
        protocol=protocol,
        capture_content=content,
        need_endpoint=not dry_run,
    )
    policy = ContentPolicy(config.capture_content)
    exported = [run_spans(path, policy) for path in with_families(chosen, folder)]
    records = [span for run in exported for span in run.spans]
    sent, error = 0, None
    if not dry_run and records:
        require_sdk(config.protocol)
        from llmos._internal.telemetry.otel import Pipeline

        sent, error = Pipeline(config, batch=False).send_now(records)
    report = {
        "endpoint": config.endpoint,
        "dry_run": dry_run,
        "spans": len(records),
        "sent": sent,
        "error": error,
        "runs": [run.to_dict() for run in exported],
        "count": len(exported),
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_export(report)
    if error is not None:
        raise typer.Exit(1)


def _print_export(report: dict[str, Any]) -> None:
    console = terminal()
    for run in report["runs"]:
        if run["skipped"]:
            console.print(f"{escape(run['run_id'])} skipped: {escape(run['skipped'])}")
        else:
            console.print(
                f"{escape(run['run_id'])} {run['spans']} span(s), trace {run['trace_id']}"
            )
    endpoint = escape(report["endpoint"] or "the endpoint (none is set yet)")
    if report["dry_run"]:
        console.print(f"dry run: {report['spans']} span(s) would go to {endpoint}")
    elif report["error"]:
        console.print(
            f"[red]sent {report['sent']} of {report['spans']} span(s) to {endpoint}: "
            f"{escape(report['error'])}[/]"
        )
    else:
        console.print(f"sent {report['sent']} span(s) to {endpoint}")
