"""`llmos traces`: browse, remove, export, import and reindex learned traces (L3 memory)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmos._internal.cli.json_output import print_json, print_listing
from llmos._internal.cli.opening import open_workspace
from llmos._internal.cli.options import (
    JsonOption,
    WorkspaceOption,
    YesOption,
    confirm,
    require_project,
)
from llmos._internal.cli.table import Column, moment, print_table
from llmos._internal.cli.terminal import on_terminal, terminal
from llmos._internal.errors import LlmosError, UsageError
from llmos._internal.presentation.records import trace_record
from llmos._internal.text import clean, escape

if TYPE_CHECKING:
    from llmos._internal.memory.library import TraceLibrary
    from llmos._internal.memory.trace import Trace
    from llmos._internal.workspace import Workspace

traces_app = typer.Typer(
    help=(
        "Learned traces: list, show, rm, aliases, alias, unalias, export, import, trust, "
        "untrust, keys, reindex. A trace that was not learned here replays only once a human "
        "approved it (`traces trust`)."
    ),
    no_args_is_help=True,
)
TraceId = Annotated[str, typer.Argument(help="Trace id (its signature) or a unique prefix.")]


def _library(
    workspace: Path | None, *, writes: str | None = None
) -> tuple[Workspace, TraceLibrary]:
    # here, not at the top: keeps --help fast
    from llmos._internal.memory.library import TraceLibrary

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
    """List traces, most recently used first, with their trust. Piped, one trace a line: id,
    goal, mode, trust, rating, uses, cost, last used, separated by tabs."""
    ws, library = _library(workspace)
    if project is not None:
        require_project(ws, project)
    with library:
        entries = library.listing(project=project, search=search, limit=limit)
        _report_unreadable(library)
        trust = _trust_labels(ws, library, entries)
        records = [{**trace_record(e, library.path_of(e)), "trust": trust[e.name]} for e in entries]
    if as_json:
        print_listing("traces", records)
        return
    filtered = project is not None or search is not None
    print_table(
        [
            Column("id"),
            Column("goal", prose=True),
            Column("mode"),
            Column("trust"),
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
                trust[e.name],
                f"{e.success_rating:.2f}",
                e.usage_count,
                f"${e.estimated_cost_usd:.4f}",
                e.last_used.replace("T", " ")[:19],
            )
            for e in entries
        ],
        empty="No trace matches." if filtered else 'No traces yet: `llmos run "goal"` learns one.',
    )
    if any(label not in _TRUSTED_LABELS for label in trust.values()):
        terminal(stderr=True).print(
            "Untrusted traces replay once approved: `llmos traces trust ID`.", markup=False
        )


_TRUSTED_LABELS = ("learned", "signed", "approved")


def _trust_labels(ws: Workspace, library: TraceLibrary, entries: list[Any]) -> dict[str, str]:
    """Each entry's trust (llmos/_internal/security/trust.py), by file name."""
    from llmos._internal.security.trust import TrustStore

    labels: dict[str, str] = {}
    with TrustStore.of(ws) as store:
        for entry in entries:
            try:
                labels[entry.name] = store.check(library.load(entry)).label
            except LlmosError:
                labels[entry.name] = "unreadable"
    return labels


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
    from llmos._internal.modes.trust_gate import trust_of
    from llmos._internal.replay.plan import plan_replay

    if raw and as_json:
        raise UsageError("--raw and --json do not go together", hint="Choose one.")
    ws, library = _library(workspace)
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
    trust = trust_of(ws, trace)
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
            "trust": _trust_dict(trust),
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
    if trust.trusted:
        console.print(f"trust: [green]{trust.label}[/] ({escape(trust.explain())})")
    else:
        console.print(
            f"trust: [yellow]{trust.label}[/]: {escape(trust.explain())} "
            f"(`llmos traces trust {entry.signature}`)"
        )
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
    from llmos._internal.memory.trace_index import Unreadable

    ws, library = _library(workspace, writes="delete a trace")
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
    from llmos._internal.security.trust import TrustStore

    with TrustStore.of(ws) as store:
        store.forget(entry.signature)
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
    """Copy traces into a folder, one Markdown file each (a library to share or import),
    signed with this workspace's key (made on the first export, in state/). The signature
    vouches only for traces learned or approved here: others are copied unsigned, so they
    arrive untrusted wherever they are imported."""
    from llmos._internal.security.signing import MANIFEST, PUBLIC_KEY, sign_library, workspace_key
    from llmos._internal.security.trust import TrustStore

    ws, library = _library(workspace)
    if project is not None:
        require_project(ws, project)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    vouched: list[str] = []
    exported: list[dict[str, Any]] = []
    with library, TrustStore.of(ws) as store:
        entries = library.index.listing(project=project, limit=10**9)
        for entry in entries:
            name = f"{entry.signature}.md"
            shutil.copyfile(library.path_of(entry), path / name)
            state = store.check(library.load(entry))
            signed = state.trusted and (state.origin == "learned" or bool(state.approved_by))
            if signed:
                vouched.append(name)
            exported.append({"id": entry.signature, "path": str(path / name), "signed": signed})
    key, signer, created = workspace_key(ws.state_dir)
    sign_library(path, vouched, key)
    if as_json:
        print_listing(
            "traces",
            exported,
            folder=str(path.resolve()),
            key_id=signer.key_id,
            public_key=signer.public_key,
        )
        return
    console = terminal()
    console.print(f"exported {len(entries)} trace(s) to {escape(str(path))}")
    console.print(
        f"signed {len(vouched)} of them with this workspace's key {signer.key_id} "
        f"({escape(str(path / MANIFEST))})"
    )
    unsigned = len(entries) - len(vouched)
    if unsigned:
        console.print(f"{unsigned} not signed: neither learned nor approved here")
    if created:
        console.print(f"made this workspace's signing key: {escape(str(ws.state_dir))}/")
    console.print(
        "To import them as trusted, a teammate runs: llmos traces import DIR --trust-key "
        f"{escape(str(ws.state_dir / PUBLIC_KEY))} (or the key itself: {signer.public_key})"
    )


@traces_app.command("import")
def import_traces(
    path: Annotated[Path, typer.Argument(help="A trace file or a folder of them.")],
    trust_key: Annotated[
        list[str] | None,
        typer.Option(
            "--trust-key",
            help="Trust this public key (a signing_key.pub file or its base64) from now on: "
            "traces signed by it import as trusted. Repeatable.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Import traces. A signed library (`traces export`) is verified first: a file changed
    after it was signed, or a signature that does not verify, is refused. Every step of
    every trace is checked against the security policy (the workspace's and the trace's
    project's); a trace with one denied step is rejected whole, naming that step. Traces
    signed by a key you trust (`--trust-key`, `traces keys`) are imported as trusted; any
    other trace is imported untrusted: it replays only once a human approved its plan
    (`llmos traces trust ID`), and only inside the sandbox. Exit 1 if any was rejected."""
    from llmos._internal.security.signing import (
        Manifest,
        SignatureError,
        read_manifest,
        read_public_key,
    )
    from llmos._internal.security.trust import TrustStore

    ws, library = _library(workspace, writes="import traces")
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    files = sorted(path.glob("*.md")) if path.is_dir() else [path]
    if not files:
        raise UsageError(
            f"{path} holds no trace files (*.md)",
            hint="Name a trace file, or a folder made by `llmos traces export FOLDER`.",
        )
    folder = path if path.is_dir() else path.parent
    report: list[dict[str, Any]] = []
    with library, TrustStore.of(ws) as store:
        for value in trust_key or ():
            signer = read_public_key(value)
            store.add_key(signer.key_id, signer.public_key, _key_name(value, signer.key_id))
            report.append({"trusted_key": signer.key_id})
        try:
            manifest: Manifest | None = read_manifest(folder)
        except SignatureError as exc:
            why = f"the library's signature is bad, so nothing in it is imported: {exc}"
            report += [{"file": str(f), "imported": False, "reason": why} for f in files]
            manifest, files = None, []
        for file in files:
            report.append(_import_one(file, manifest, ws, library, store))
    traces = [r for r in report if "file" in r]
    rejected = [r for r in traces if not r["imported"] and "already" not in r["reason"]]
    if as_json:
        imported = sum(1 for r in traces if r["imported"])
        print_listing("files", traces, imported=imported, rejected=len(rejected))
    else:
        _print_import(report)
    if rejected:
        raise typer.Exit(1)


def _import_one(
    file: Path, manifest: Any, ws: Workspace, library: TraceLibrary, store: Any
) -> dict[str, Any]:
    """Import one trace file; what became of it."""
    status = manifest.status_of(file) if manifest is not None else "unsigned"
    if status == "altered":
        key = manifest.signer.key_id
        why = f"it was changed after it was signed (key {key}): its hash is not the signed one"
        return {"file": str(file), "imported": False, "reason": why}
    vetted = _vet(file, ws)
    if isinstance(vetted, str):
        return {"file": str(file), "imported": False, "reason": vetted}
    trace, asks = vetted
    if library.index.by_signature(trace.goal_signature):
        reason = f"already in the library as {trace.goal_signature}"
        return {"file": str(file), "imported": False, "reason": reason}
    saved = library.add(trace)
    key_id = manifest.signer.key_id if status == "signed" else None
    known = store.trusted_key(key_id) if key_id else None
    if known is not None:
        state = store.record(
            trace, "signed", f"signed by key {key_id} ({known['name']})", key_id=key_id
        )
    elif key_id is not None:
        detail = (
            f"imported from {file}, signed by key {key_id}, which this workspace does not trust"
        )
        state = store.record(trace, "imported", detail, key_id=key_id)
    else:
        state = store.record(trace, "imported", f"imported from {file} (unsigned)")
    entry: dict[str, Any] = {
        "file": str(file),
        "imported": True,
        "trace_id": trace.goal_signature,
        "path": str(saved),
        "trusted": state.trusted,
        "trust": state.explain(),
    }
    return {**entry, "needs_approval": asks} if asks else entry


def _key_name(value: str, key_id: str) -> str:
    path = Path(value).expanduser()
    return path.name if len(value) < 4096 and path.is_file() else f"key {key_id}"


def _print_import(report: list[dict[str, Any]]) -> None:
    console = terminal()
    untrusted = []
    for r in report:
        if "trusted_key" in r:
            console.print(f"trusting key {r['trusted_key']}")
        elif r["imported"]:
            mark = "[green]trusted[/]" if r["trusted"] else "[yellow]untrusted[/]"
            console.print(f"[green]imported[/] {escape(r['file'])} as {r['trace_id']}: {mark}")
            for ask in r.get("needs_approval", []):
                console.print(f"  [yellow]needs approval when replayed:[/] {escape(ask)}")
            if not r["trusted"]:
                untrusted.append(r["trace_id"])
        else:
            console.print(f"[red]not imported[/] {escape(r['file'])}: {escape(r['reason'])}")
    if untrusted:
        console.print(
            f"{len(untrusted)} trace(s) imported untrusted: each replays only once you have "
            "looked at its plan and approved it: llmos traces trust ID"
        )


def _vet(file: Path, ws: Workspace) -> tuple[Trace, list[str]] | str:
    """The trace in `file` and the steps the policy asks about, if it reads back and the
    policy denies no step; else why not. Every decision goes to the audit table."""
    from llmos._internal.memory.trace import parse
    from llmos._internal.security.audit import AuditLog
    from llmos._internal.security.policy import check_tool_call, load_policy
    from llmos._internal.security.run_files import RunFiles

    try:
        trace = parse(file.read_text(encoding="utf-8"), source=str(file))
    except (OSError, UnicodeDecodeError, LlmosError) as exc:
        return str(exc)
    project = trace.project if _valid_project(trace.project) else "default"
    # Judged against where the trace would run; nothing is created for a trace refused here.
    workdir = ws.project_dir(project, create=False) / "output"
    policy = load_policy(ws.root, project)
    audit = AuditLog(ws.audit_db_path)
    try:
        asks: list[str] = []
        written = RunFiles()  # a step that runs a file an earlier step wrote is judged by it
        for number, step in enumerate(trace.steps, start=1):
            decision = check_tool_call(
                step.tool, step.input, workdir=workdir, policy=policy, files=written
            )
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
    finally:
        audit.close()
    return trace, asks


def _valid_project(name: str) -> bool:
    from llmos._internal.workspace import validate_project_name

    try:
        validate_project_name(name)
    except UsageError:
        return False
    return True


@traces_app.command("trust")
def trust(
    trace_id: TraceId,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve without asking (for scripts).")
    ] = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Look at a trace's plan (the steps it runs, the files it writes, its commands) and
    approve it, so that it replays (inside the sandbox). Traces learned here, or signed by a
    trusted key, need no approval. An approval holds for the plan as it is: a trace edited
    afterwards needs one again."""
    from llmos._internal.modes.trust_gate import plan_lines
    from llmos._internal.replay.plan import plan_replay
    from llmos._internal.security.trust import TrustStore

    ws, library = _library(workspace)
    with library:
        entry = library.resolve(trace_id)
        trace = library.load(entry)
    plan = plan_replay(trace)
    with TrustStore.of(ws) as store:
        state = store.check(trace)
        if not state.trusted:
            if not as_json:
                _print_plan(trace, state.explain(), plan_lines(plan))
            if not yes:
                if not (sys.stdin.isatty() and sys.stdout.isatty()) or as_json:
                    raise UsageError(
                        f"trace {entry.signature} needs your approval and there is no terminal "
                        "to ask it in",
                        hint=f"Read its plan (`llmos traces show {entry.signature}`), then run "
                        f"llmos traces trust {entry.signature} --yes",
                    )
                if not typer.confirm("Trust this trace? It will replay inside the sandbox"):
                    terminal().print("not trusted")
                    raise typer.Exit(1)
            state = store.approve(trace, by="--yes" if yes else "the user")
        elif not as_json:
            terminal().print(f"trace {entry.signature} is trusted already: {state.explain()}")
            return
    if as_json:
        print_json({"id": entry.signature, **_trust_dict(state)})
    else:
        terminal().print(f"[green]trusted[/] trace {entry.signature}: {escape(state.explain())}")


def _print_plan(trace: Trace, why: str, lines: list[str]) -> None:
    console = terminal()
    console.print(f"[bold]{trace.goal_signature}[/] {escape(trace.goal_text)}")
    console.print(f"[yellow]not trusted[/]: {escape(why)}")
    console.print("A replay would run, in the working folder, inside the sandbox:")
    for line in lines:
        console.print(f"  {escape(line)}", markup=True)


def _trust_dict(state: Any) -> dict[str, Any]:
    return {
        "trusted": state.trusted,
        "trust": state.label,
        "origin": state.origin,
        "detail": state.explain(),
        "approved_by": state.approved_by,
        "needs_sandbox": state.needs_sandbox,
    }


@traces_app.command("untrust")
def untrust(
    trace_id: TraceId, as_json: JsonOption = False, workspace: WorkspaceOption = None
) -> None:
    """Withdraw a human's approval of a trace (and the trust a signing key gave it): it
    replays again only once approved. A trace learned here stays trusted."""
    from llmos._internal.security.trust import TrustStore

    ws, library = _library(workspace)
    with library:
        entry = library.resolve(trace_id)
        trace = library.load(entry)
    with TrustStore.of(ws) as store:
        state = store.revoke(trace)
    if as_json:
        print_json({"id": entry.signature, **_trust_dict(state)})
        return
    word = "trusted" if state.trusted else "untrusted"
    terminal().print(f"trace {entry.signature} is {word}: {escape(state.explain())}")


keys_app = typer.Typer(
    help="Public keys whose signed trace libraries import as trusted: list (default), add, rm.",
    invoke_without_command=True,
)
traces_app.add_typer(keys_app, name="keys")


@keys_app.callback()
def keys(
    ctx: typer.Context, as_json: JsonOption = False, workspace: WorkspaceOption = None
) -> None:
    """List the keys trusted for imports, and this workspace's own key (once it has one)."""
    if ctx.invoked_subcommand is not None:
        return
    from llmos._internal.security.signing import PUBLIC_KEY
    from llmos._internal.security.trust import TrustStore

    ws = open_workspace(workspace)
    with TrustStore.of(ws) as store:
        rows = [dict(r) for r in store.trusted_keys()]
    own = ws.state_dir / PUBLIC_KEY
    own_key = own.read_text(encoding="utf-8").strip() if own.is_file() else None
    if as_json:
        print_listing("keys", rows, own_key=own_key)
        return
    console = terminal()
    if own_key:
        console.print(f"this workspace's key: {own_key} ({escape(str(own))})")
    else:
        console.print("this workspace has no key yet (`llmos traces export` makes it)")
    if not rows:
        console.print("no trusted keys: `llmos traces keys add KEY` or `traces import --trust-key`")
    for row in rows:
        console.print(f"  {row['key_id']}  {escape(row['name'])}  {row['public_key']}")


@keys_app.command("add")
def keys_add(
    key: Annotated[str, typer.Argument(help="A signing_key.pub file, or the key in base64.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Whose key it is (shown in listings).")
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Trust a teammate's public key: libraries it signed import as trusted."""
    from llmos._internal.security.signing import read_public_key
    from llmos._internal.security.trust import TrustStore

    ws = open_workspace(workspace)
    signer = read_public_key(key)
    shown = name or _key_name(key, signer.key_id)
    with TrustStore.of(ws) as store:
        store.add_key(signer.key_id, signer.public_key, shown)
    if as_json:
        print_json({"key_id": signer.key_id, "name": shown, "public_key": signer.public_key})
        return
    terminal().print(f"trusting key {signer.key_id}")


@keys_app.command("rm")
def keys_rm(
    key_id: Annotated[str, typer.Argument(help="The key's id (`llmos traces keys`).")],
    yes: YesOption = False,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Stop trusting a key (asks first, unless --yes). Traces imported as signed by it
    become untrusted (unless a human approved them)."""
    from llmos._internal.security.trust import TrustStore

    ws = open_workspace(workspace)
    with TrustStore.of(ws) as store:
        if store.trusted_key(key_id) is None:
            raise UsageError(f"no trusted key has the id {key_id}", hint="See `llmos traces keys`.")
        confirm(f"Stop trusting key {key_id}?", yes=yes)
        count = store.remove_key(key_id)
    if as_json:
        print_json({"key_id": key_id, "deleted": True, "untrusted_traces": count})
        return
    terminal().print(f"no longer trusting key {key_id} ({count} trace(s) now untrusted)")


@traces_app.command("reindex")
def reindex(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Rebuild the trace index from the files (the files are the source of truth). Works
    on a damaged index too: the index is deleted and made again."""
    from llmos._internal.database import remove_database

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
