"""Insights: written after a successful Learner run without a model call, recalled by later
runs, distilled into facts by the model, and reported across projects by `llmos insights`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.engine.insight_report import build_report
from llmos._internal.kernel.bus import EventBus
from llmos._internal.kernel.economy import RunRecord, TokenEconomy
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.memory.facts import MemoryStore
from llmos._internal.memory.insights import write_run_insight
from llmos._internal.memory.library import TraceLibrary
from llmos._internal.memory.memory_item import MemoryItem, parse
from llmos._internal.memory.session_log import read_session
from llmos._internal.memory.trace import Trace, TraceStep, goal_signature
from llmos._internal.sdk.types import AgentOutcome
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool
from llmos._internal.workspace import Workspace

HELLO = 'print("hello from llmos")\n'


def _ledger(sandbox: Sandbox) -> list[dict]:
    with sqlite3.connect(sandbox.workspace / "state" / "llmos.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM runs ORDER BY started_at")]


def test_a_run_leaves_an_insight_that_later_runs_recall(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    goal = "Create hello.py that greets, and run it"
    scripted.script(
        use_tool("Write", file_path="hello.py", content=HELLO),
        use_tool("Bash", command="python3 hello.py", description="Run hello.py"),
        say("Created hello.py and ran it."),
    )
    first = run_llmos(sandbox, "run", "--json", "--model", MODEL, goal, server=scripted)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)

    path = sandbox.workspace / "projects" / "default" / "memory" / "insights"
    path = path / f"{goal_signature(goal)}.md"
    insight = parse(path.read_text(), path=path, kind="insight", project="default")
    assert insight.source == f"run:{summary['run_id']}" and insight.trace == goal_signature(goal)
    assert insight.tags == ("write", "bash") and insight.meta["learned_runs"] == 1
    run = insight.meta["run"]
    assert run["cost_usd"] == round(summary["cost_usd"], 6) and run["turns"] == summary["turns"]
    assert run["tool_calls"] == 2 and run["denied_calls"] == 0 and run["model"] == MODEL
    assert f"Goal: {goal}" in insight.text
    assert "What worked: 1. Write hello.py; 2. Run hello.py." in insight.text
    assert "Tools: Write, Bash." in insight.text and f"${summary['cost_usd']:.4f}" in insight.text
    assert "Outcome: Created hello.py and ran it." in insight.text

    fact = run_llmos(sandbox, "memory", "add", "Greeting scripts here greet in French.")
    assert fact.returncode == 0, fact.stderr
    scripted.reset()
    scripted.script(say("Bonjour."))
    # Shares no word with the first goal (so no worked example), but the insight's words.
    second = run_llmos(
        sandbox, "run", "--json", "--model", MODEL, "Write a greeting script", server=scripted
    )
    assert second.returncode == 0, second.stderr
    events = read_session(Path(json.loads(second.stdout)["session_log"]))
    (injected,) = [e for e in events if e["kind"] == "memory_injected"]
    assert {item["kind"] for item in injected["items"]} == {"insight", "fact"}
    assert str(path) in injected["sources"]
    assert injected["counter"] == f"count_tokens ({MODEL})"  # real counts from the API
    assert 0 < injected["tokens"] <= injected["budget_tokens"] == 800
    assert injected["chars"] == len(injected["text"])
    assert sum(item["tokens"] for item in injected["items"]) < injected["tokens"]
    # Exactly what the session log says is what the model was given.
    body = json.dumps(scripted.message_requests[0].body)
    assert json.dumps(injected["text"])[1:-1] in body


def _context(tmp_path: Path, project: str) -> RunContext:
    return RunContext(
        goal="Build the docs",
        project=project,
        workdir=tmp_path,
        mode="learner",
        budget_usd=1.0,
        bus=EventBus(),
        model=MODEL,
    )


def test_an_insight_says_what_did_not_work_and_counts_learned_runs(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    trace = Trace(
        goal_text="Build the docs",
        steps=(
            TraceStep("Bash", {"command": "make docs"}, outcome="error", summary="make docs"),
            TraceStep("Bash", {"command": "mkdocs build"}, summary="mkdocs build"),
        ),
    )
    outcome = AgentOutcome("success", "Built.", 0.0123, 4, 900, 80, MODEL, "s", 3.21)
    ctx = _context(tmp_path, "docs")
    ctx.tool_calls, ctx.denied_calls = 3, 1
    with MemoryStore(ws) as memory:
        path = write_run_insight(memory, trace, outcome, ctx)
        assert (
            path
            == ws.root / "projects" / "docs" / "memory" / "insights" / f"{trace.goal_signature}.md"
        )
        text = path.read_text()
        assert "What worked: 1. mkdocs build." in text
        assert "What did not work: 1. make docs." in text
        assert "Refused by llmos's guards: 1 call(s)" in text
        assert "3 tool call(s) over 4 turn(s), $0.0123, 3.2 s" in text
        again = write_run_insight(memory, trace, outcome, ctx)
        (entry,) = memory.listing(kinds=("insight",))
        assert again == path and memory.load(entry).meta["learned_runs"] == 2


def _record(
    economy: TokenEconomy,
    n: int,
    goal: str,
    project: str,
    mode: str,
    status: str,
    cost: float = 0.0,
    saved: float = 0.0,
    trace: Path | None = None,
) -> str:
    run_id = f"run-{n:02d}"
    economy.record_run(
        RunRecord(
            run_id=run_id,
            started_at=1000.0 + n,
            finished_at=1000.5 + n,
            goal=goal,
            project=project,
            mode=mode,
            model=MODEL,
            status=status,
            cost_usd=cost,
            saved_usd=saved,
            trace_path=str(trace) if trace else None,
            error=None if status == "success" else f"{status} #{n}",
        )
    )
    return run_id


def _workspace_with_history(root: Path) -> Workspace:
    """A ledger and traces whose figures the test knows."""
    ws = Workspace.open(root)
    with TraceLibrary(ws) as library:
        site = Trace(
            goal_text="build the site",
            project="web",
            estimated_cost_usd=0.1,
            steps=(
                TraceStep("Bash", {"command": "make"}),
                TraceStep("Write", {"file_path": "index.html", "content": "hi"}),
                TraceStep("Agent", {"prompt": "p", "subagent_type": "coder"}),
            ),
        )
        site_path = library.add(site)
        for _ in range(2):  # two replays
            library.record_outcome(library.resolve(site.goal_signature), ok=True)
        library.add(
            Trace(
                goal_text="write the api",
                project="api",
                steps=(
                    TraceStep("Bash", {"command": "pytest"}, outcome="error"),
                    TraceStep("Bash", {"command": "pytest -x"}),
                    TraceStep(
                        "Agent", {"prompt": "p", "subagent_type": "reviewer"}, outcome="error"
                    ),
                ),
            )
        )
    economy = TokenEconomy(ws.db_path, initial_balance_usd=5.0)
    rows = [
        ("build the site", "web", "learner", "success", 0.10, 0.0, None),
        ("build the site", "web", "follower", "success", 0.0, 0.10, site_path),
        ("Build the site!", "web", "follower", "success", 0.0, 0.10, site_path),
        ("deploy to prod", "web", "learner", "error", 0.05, 0.0, None),
        ("deploy to prod", "web", "learner", "timed_out", 0.02, 0.0, None),
        ("write the api", "api", "learner", "success", 0.30, 0.0, None),
        ("migrate the db", "api", "learner", "max_turns", 0.04, 0.0, None),
        ("migrate the db", "api", "learner", "error", 0.01, 0.0, None),
        ("migrate the db", "api", "learner", "success", 0.20, 0.0, None),
        ("tidy up", "api", "learner", "interrupted", 0.01, 0.0, None),
        ("tidy up", "api", "learner", "interrupted", 0.01, 0.0, None),
        ("distill 2 insight(s)", "default", "distill", "success", 0.03, 0.0, None),
    ]
    ids = [_record(economy, n, *row) for n, row in enumerate(rows)]
    economy.close()
    # The agent each run worked as (the orchestrator fills this column).
    with sqlite3.connect(ws.db_path) as db:
        db.executemany(
            "UPDATE runs SET agent=? WHERE run_id=?",
            [
                ("coder", ids[0]),
                ("coder", ids[5]),
                ("coder", ids[8]),
                ("writer", ids[3]),
                ("writer", ids[4]),
            ],
        )
    return ws


def test_the_report_matches_a_known_ledger(tmp_path: Path) -> None:
    report = build_report(_workspace_with_history(tmp_path / "ws"))
    assert report["runs"] == 12
    assert report["spent_usd"] == 0.77 and report["saved_usd"] == 0.2
    assert report["saved_by_follower_usd"] == 0.2 and report["follower_runs"] == 2
    projects = {row["project"]: row for row in report["by_project"]}
    assert [row["project"] for row in report["by_project"]] == ["api", "web", "default"]
    assert projects["web"] == {
        "project": "web",
        "runs": 5,
        "successes": 3,
        "success_rate": 0.6,
        "spent_usd": 0.17,
        "saved_usd": 0.2,
    }
    assert (projects["api"]["runs"], projects["api"]["spent_usd"]) == (6, 0.57)
    modes = {row["mode"]: row for row in report["by_mode"]}
    assert (modes["learner"]["runs"], modes["learner"]["successes"]) == (9, 3)
    assert modes["learner"]["spent_usd"] == 0.74 and modes["distill"]["spent_usd"] == 0.03
    assert modes["follower"]["success_rate"] == 1.0 and modes["follower"]["saved_usd"] == 0.2

    (reused,) = report["most_reused_traces"]
    assert (reused["goal_text"], reused["usage_count"], reused["replays"], reused["saved_usd"]) == (
        "build the site",
        3,
        2,
        0.2,
    )
    tools = {row["tool"]: row for row in report["tools"]}
    assert (tools["Bash"]["calls"], tools["Bash"]["ok"], tools["Bash"]["traces"]) == (3, 2, 2)
    assert tools["Agent"]["success_rate"] == 0.5 and tools["Write"]["success_rate"] == 1.0

    agents = {row["agent"]: row for row in report["agents"]}
    assert agents["coder"]["uses"] == 4 and agents["coder"]["success_rate"] == 1.0
    assert agents["coder"]["from"] == ["ledger", "traces"] and agents["coder"]["spent_usd"] == 0.6
    assert (agents["writer"]["uses"], agents["writer"]["success_rate"]) == (2, 0.0)
    assert (agents["reviewer"]["uses"], agents["reviewer"]["success_rate"]) == (1, 0.0)
    assert [a["agent"] for a in report["agents_worth_reusing"]] == ["coder"]

    (failing,) = report["failing_goals"]  # "migrate the db" recovered; "tidy up" was stopped
    assert failing["goal"] == "deploy to prod" and failing["failures"] == 2
    assert (failing["last_status"], failing["last_error"]) == ("timed_out", "timed_out #4")


def test_insights_command(sandbox: Sandbox) -> None:
    ws = _workspace_with_history(sandbox.workspace)
    proc = run_llmos(sandbox, "insights", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == build_report(ws)
    table = run_llmos(sandbox, "insights")
    assert table.returncode == 0, table.stderr
    for text in ("12 run(s)", "saved $0.2000", "Spend per project", "deploy to prod", "coder"):
        assert text in table.stdout
    empty = run_llmos(sandbox, "insights", "--workspace", str(sandbox.root / "fresh"))
    assert empty.returncode == 0 and "Nothing to report yet" in empty.stdout


def _insight(store: MemoryStore, item_id: str, project: str, text: str) -> Path:
    return store.write(
        MemoryItem(id=item_id, kind="insight", text=text, project=project, meta={"trace": item_id})
    )


def test_distill_merges_insights_into_facts_and_is_charged(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    ws = Workspace.open(sandbox.workspace)
    with MemoryStore(ws) as store:
        web = _insight(store, "aaaa1111", "web", "Building the site worked with make in 2 turns.")
        api = _insight(store, "bbbb2222", "api", "Tests of the api ran with pytest -x.")
        store.add_fact("Use python3, never python.")
    scripted.script(
        use_tool(
            "StructuredOutput",
            facts=[
                {
                    "text": "Run builds with make.",
                    "tags": ["build"],
                    "project": None,
                    "from": ["aaaa1111", "nope"],
                },
                {"text": "Web builds take two turns.", "project": "web", "from": ["aaaa1111"]},
                {"text": "Not a real project.", "project": "elsewhere", "tags": ["two words"]},
            ],
        )
    )
    proc = run_llmos(
        sandbox,
        "memory",
        "distill",
        "--budget",
        "0.5",
        "--model",
        MODEL,
        "--json",
        server=scripted,
    )
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    result = json.loads(proc.stdout)
    assert result["status"] == "success" and result["insights"] == 2 and result["cost_usd"] > 0

    prompt = json.dumps(scripted.message_requests[0].body)
    for text in ("aaaa1111", "Building the site worked with make", "Use python3, never python"):
        assert text in prompt
    with MemoryStore(ws) as store:
        facts = {f.text: f for f in store.listing(kinds=("fact",)) if f.source != "user"}
        assert set(facts) == {
            "Run builds with make.",
            "Web builds take two turns.",
            "Not a real project.",
        }
        assert facts["Run builds with make."].project is None
        assert facts["Web builds take two turns."].project == "web"
        assert facts["Not a real project."].project is None  # not the model's to invent
        made = store.load(facts["Run builds with make."])
        assert made.source == f"distill:{result['run_id']}" and made.tags == ("build",)
        assert made.meta["derived_from"] == ["aaaa1111"]
        assert store.listing(kinds=("insight",), include_distilled=False) == []
        for path in (web, api):
            marked = parse(path.read_text(), path=path, kind="insight", project="x")
            assert marked.distilled and marked.meta["distilled_by"] == result["run_id"]

    (row,) = _ledger(sandbox)
    assert row["mode"] == "distill" and row["status"] == "success"
    assert row["cost_usd"] == result["cost_usd"] and row["run_id"] == result["run_id"]
    assert result["balance_usd"] == round(5.0 - result["cost_usd"], 10)
    assert Path(result["session_log"]).is_file()

    again = run_llmos(sandbox, "memory", "distill", "--budget", "0.5", server=scripted)
    assert again.returncode == 0 and "No insights to distill" in again.stdout
    assert len(_ledger(sandbox)) == 1  # nothing to do: no model call, nothing charged


def test_distill_needs_model_access_before_spending(sandbox: Sandbox) -> None:
    with MemoryStore(Workspace.open(sandbox.workspace)) as store:
        _insight(store, "cccc3333", "default", "Something worked.")
    proc = run_llmos(sandbox, "memory", "distill", "--budget", "0.5")
    assert proc.returncode == 3 and "no way to reach a model" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["memory", "distill", "--project", "web", "--budget", "0.5"],
        ["agents", "create", "helper", "--describe", "reviews diffs", "--project", "web"],
    ],
)
def test_a_model_run_checks_the_budget_of_the_project_it_is_charged_to(
    sandbox: Sandbox, scripted: ScriptedModelServer, command: list[str]
) -> None:
    """Every model run opens through one lifecycle (llmos/_internal/engine/lifecycle.py): the
    project it is charged to must have budget left, or nothing is spent, asked or written."""
    assert run_llmos(sandbox, "project", "create", "web").returncode == 0
    with MemoryStore(Workspace.open(sandbox.workspace)) as store:
        insight = _insight(store, "dddd4444", "web", "Deploys worked with make deploy.")
    spent = run_llmos(sandbox, "budget", "set", "--project", "web", "0")
    assert spent.returncode == 0, spent.stderr
    proc = run_llmos(sandbox, *command, server=scripted)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "project web has $0.0000 of its budget left" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert scripted.requests == []  # the model was never asked
    assert _ledger(sandbox) == []  # nothing charged
    assert not parse(insight.read_text(), path=insight, kind="insight", project="web").distilled
    assert not list((sandbox.workspace / "sessions").glob("*.jsonl"))  # no run was opened
