"""Plugins end to end: the real `llmos` command, SDK and CLI against the scripted model. A
plugin tool is offered to the model and called by it in Learner mode, then replayed in
Follower mode by calling the function, with no model request; a tool recorded under
another major version is refused; a broken plugin is reported and breaks nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.memory.trace import parse
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool

REPO_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
GOAL = "Tabulate the fruit counts as a Markdown table"
DATA = "fruit,qty\napple,3\npear,5\n"
TABLE = "mcp__llmos_csv_tools__csv_to_markdown"
SUMMARY = "mcp__llmos_csv_tools__csv_summary"
# A plugin with an event hook: it notes each run's start and end next to itself.
JOURNAL = """
import json
from pathlib import Path

from llmos.plugins import Plugin

plugin = Plugin("journal")


@plugin.on("run_started", "run_finished")
def note(event):
    line = {"kind": event.kind, "mode": getattr(event, "mode", None)}
    line["status"] = getattr(event, "status", None)
    with Path(__file__).with_name("journal.log").open("a") as log:
        log.write(json.dumps(line) + "\\n")
"""


def _install(sandbox: Sandbox, name: str) -> Path:
    folder = sandbox.workspace / "plugins"
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(REPO_PLUGINS / name, folder / name))


def _learn(sandbox: Sandbox, scripted: ScriptedModelServer) -> dict:
    scripted.script(
        use_tool("Write", file_path="fruit.csv", content=DATA),
        use_tool(TABLE, file_path="fruit.csv", output_path="fruit.md"),
        use_tool(SUMMARY, file_path="fruit.csv"),
        say("fruit.md holds the table: 2 fruits, 8 in all."),
    )
    proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, GOAL, server=scripted)
    assert proc.returncode == 0, proc.stderr
    scripted.assert_complete()
    return json.loads(proc.stdout)


def test_plugin_tool_learned_then_replayed_without_the_model(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _install(sandbox, "csv_tools.py")
    (sandbox.workspace / "plugins" / "journal.py").write_text(JOURNAL)
    learned = _learn(sandbox, scripted)
    assert learned["mode"] == "learner" and learned["status"] == "success"

    # Learner: the model was offered the plugin's tools and its agent, and really called them.
    first = scripted.message_requests[0]
    assert {TABLE, SUMMARY} <= set(first.tool_names)
    assert "data-analyst" in json.dumps(first.body)
    (summary_result,) = scripted.message_requests[3].tool_results()
    assert json.loads(summary_result["content"][0]["text"])["rows"] == 2
    table = (sandbox.output / "fruit.md").read_text()
    assert table.startswith("| fruit | qty |\n| --- | --- |\n| apple | 3 |")

    # The trace records each plugin call with its tool's version and its output's digest.
    trace = parse(Path(learned["trace_path"]).read_text())
    assert [s.tool for s in trace.steps] == ["Write", TABLE, SUMMARY]
    assert trace.steps[1].checks["tool_version"] == "1.0.0"
    assert len(trace.steps[1].checks["output_sha256"]) == 64

    # Follower: a fresh folder, the same goal, not one model request.
    for path in sandbox.output.iterdir():
        path.unlink()
    scripted.reset()
    proc = run_llmos(sandbox, "run", "--json", GOAL, server=scripted)
    assert proc.returncode == 0, proc.stderr
    replayed = json.loads(proc.stdout)
    assert scripted.requests == []
    assert replayed["mode"] == "follower" and replayed["status"] == "success"
    assert replayed["cost_usd"] == 0 and replayed["tool_calls"] == 3
    assert (sandbox.output / "fruit.md").read_text() == table

    # The plugin's event hook saw both runs begin and end.
    log = (sandbox.workspace / "plugins" / "journal.log").read_text().splitlines()
    assert [json.loads(line) for line in log] == [
        {"kind": "run_started", "mode": "learner", "status": None},
        {"kind": "run_finished", "mode": None, "status": "success"},
        {"kind": "run_started", "mode": "follower", "status": None},
        {"kind": "run_finished", "mode": None, "status": "success"},
    ]


def test_a_step_recorded_under_another_major_version_is_refused(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    plugin = _install(sandbox, "csv_tools.py")
    _learn(sandbox, scripted)
    scripted.reset()
    # A minor upgrade still replays...
    plugin.write_text(plugin.read_text().replace('version="1.0.0"', 'version="1.1.0"'))
    dry = json.loads(run_llmos(sandbox, "run", "--dry-run", "--json", GOAL).stdout)
    assert dry["mode"] == "follower"
    # ...a major one does not: refused before anything runs, saying why.
    plugin.write_text(plugin.read_text().replace('version="1.1.0"', 'version="2.0.0"'))
    proc = run_llmos(sandbox, "run", "--mode", "follower", GOAL, server=scripted)
    assert proc.returncode == 2
    assert "recorded with csv_tools.csv_to_markdown 1.0.0 and 2.0.0 is installed" in proc.stderr
    assert "another major version" in proc.stderr
    assert "Traceback" not in proc.stderr and scripted.requests == []
    # In auto mode llmos learns the goal again instead, and says why.
    dry = json.loads(run_llmos(sandbox, "run", "--dry-run", "--json", GOAL).stdout)
    assert dry["mode"] == "learner" and "another major version" in dry["reason"]


def test_a_broken_plugin_is_reported_and_breaks_nothing(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _install(sandbox, "dates.py")
    broken = sandbox.workspace / "plugins" / "broken.py"
    broken.write_text("from llmos.plugins import Plugin\nplugin = Plugin('broken')\n1 / 0\n")

    listing = run_llmos(sandbox, "plugins", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)
    (dates,) = data["plugins"]
    assert dates["name"] == "dates"
    assert {
        "name": "weekday",
        "mcp_name": "mcp__llmos_dates__weekday",
        "version": "1.0.0",
        "kind": "execute",
    } in (dates["tools"])
    (failed,) = data["failed"]
    assert failed["source"] == str(broken)
    assert failed["error"] == "ZeroDivisionError: division by zero (broken.py line 3)"
    human = run_llmos(sandbox, "plugins", "list")
    assert "failed" in human.stderr and "ZeroDivisionError" in human.stderr

    # Runs go on with the plugins that did load; the failure is only reported.
    scripted.script(use_tool("mcp__llmos_dates__weekday", date="2026-11-22"), say("Sunday."))
    proc = run_llmos(
        sandbox, "run", "--json", "--model", MODEL, "Which weekday is 2026-11-22", server=scripted
    )
    assert proc.returncode == 0, proc.stderr
    assert "plugin" in proc.stderr and "broken.py failed to load" in proc.stderr
    (result,) = scripted.message_requests[1].tool_results()
    assert result["content"][0]["text"].strip() == "Sunday"
    assert run_llmos(sandbox, "--help").returncode == 0
