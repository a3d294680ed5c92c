"""Plugins without a model: defining tools (schemas, versions), loading plugin files and
entry points (broken ones reported, never fatal), the replay plan and executor for plugin
steps, the by-name security rule, and the example plugins in the repository's plugins/."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from llmos._internal.kernel.bus import EventBus
from llmos._internal.kernel.events import Event, RunFinished, RunStarted
from llmos._internal.memory.trace import Trace, TraceStep
from llmos._internal.plugins.loader import load_plugins
from llmos._internal.plugins.registry import PluginRegistry, version_refusal
from llmos._internal.plugins.run_tools import RunTools
from llmos._internal.plugins.schema import SchemaError, input_schema
from llmos._internal.replay.checkpoint import Checkpoint
from llmos._internal.replay.plan import plan_replay
from llmos._internal.replay.steps import Divergence
from llmos._internal.replay.steps import execute as execute_step
from llmos._internal.security.policy import check_tool_call, check_tool_name
from llmos.plugins import Plugin, PluginError, inside

REPO_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
TABLE = "mcp__llmos_csv_tools__csv_to_markdown"


def execute(step: TraceStep, workdir: Path, tools: RunTools | None = None) -> str:
    checkpoint = Checkpoint(workdir.parent / "undo", workdir, "run", "goal", "follower")
    return execute_step(step, workdir, checkpoint, tools=tools).summary


def _registry(*names: str) -> PluginRegistry:
    registry = load_plugins(REPO_PLUGINS)
    assert registry.failures == ()
    return registry.restricted(plugins=names or None, denied=lambda tool: False)


# Defining tools -----------------------------------------------------------------------------
def test_a_typed_function_becomes_a_tool_schema() -> None:
    def tool(
        text: Annotated[str, "what to count"],
        times: int,
        ratio: float = 0.5,
        loud: bool = False,
        unit: Literal["words", "lines"] = "words",
        tags: list[str] | None = None,
        options: dict[str, Any] | None = None,
        workdir: Path = Path(),
    ) -> str:
        return ""

    schema, wants_workdir = input_schema(tool)
    assert wants_workdir  # passed by llmos, never shown to the model
    assert schema["required"] == ["text", "times"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert set(props) == {"text", "times", "ratio", "loud", "unit", "tags", "options"}
    assert props["text"] == {"type": "string", "description": "what to count"}
    assert props["times"] == {"type": "integer"}
    assert props["ratio"] == {"type": "number", "default": 0.5}
    assert props["loud"] == {"type": "boolean", "default": False}
    assert props["unit"] == {"enum": ["words", "lines"], "type": "string", "default": "words"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["options"] == {"type": "object"}


def test_tools_that_cannot_be_described_are_refused() -> None:
    plugin = Plugin("demo")

    def untyped(x):  # type: ignore[no-untyped-def]
        """Untyped."""

    def union(x: int | str) -> None:
        """Union."""

    def star(*args: int) -> None:
        """Star."""

    for function, why in ((untyped, "type annotation"), (union, "unions"), (star, "named")):
        with pytest.raises(SchemaError, match=why):
            plugin.tool(version="1.0.0")(function)
    with pytest.raises(PluginError, match="semantic version"):
        plugin.tool(version="1.0")
    with pytest.raises(PluginError, match="invalid tool name"):
        plugin.tool(version="1.0.0", name="Bad__Name")(lambda: None)

    async def slow() -> None:
        """Async."""

    with pytest.raises(PluginError, match="plain function"):
        plugin.tool(version="1.0.0")(slow)

    def quiet() -> None:
        pass

    with pytest.raises(PluginError, match="description"):
        plugin.tool(version="1.0.0")(quiet)
    with pytest.raises(PluginError, match="unknown event kind"):
        plugin.on("run_exploded")
    with pytest.raises(PluginError, match="invalid plugin name"):
        Plugin("../evil")
    with pytest.raises(PluginError, match="agent"):
        plugin.agent("Bad Name", description="x", prompt="y")


# Loading ------------------------------------------------------------------------------------
GOOD = '''
from llmos.plugins import Plugin

plugin = Plugin("good", description="A plugin that works.")

@plugin.tool(version="1.2.0")
def shout(text: str) -> str:
    """TEXT in capitals."""
    return text.upper()
'''


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_broken_plugins_are_reported_and_the_others_load(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    _write(folder, "good.py", GOOD)
    _write(folder, "pkg/__init__.py", GOOD.replace('"good"', '"packaged"'))
    _write(folder, "syntax.py", "def broken(:\n")
    _write(folder, "raises.py", "x = 1\nraise RuntimeError('no config found')\n")
    _write(folder, "exits.py", "import sys\nsys.exit(3)\n")
    _write(folder, "empty.py", "VALUE = 1\n")
    _write(folder, "twin.py", GOOD)  # the name "good" is taken
    _write(folder, "badtool.py", GOOD.replace('"1.2.0"', '"one"'))
    _write(folder, "_private.py", "raise SystemExit('never imported')\n")

    registry = load_plugins(folder)

    assert registry.names() == ["good", "packaged"]
    assert [t.full_name for t in registry.tools()] == [
        "mcp__llmos_good__shout",
        "mcp__llmos_packaged__shout",
    ]
    errors = {Path(f.source).name: f.error for f in registry.failures}
    assert set(errors) == {
        "syntax.py",
        "raises.py",
        "exits.py",
        "empty.py",
        "twin.py",
        "badtool.py",
    }
    assert errors["syntax.py"].startswith("SyntaxError") and "line 1" in errors["syntax.py"]
    assert errors["raises.py"] == "RuntimeError: no config found (raises.py line 2)"
    assert errors["exits.py"].startswith("SystemExit: 3")
    assert "defines no plugin" in errors["empty.py"]
    assert "already loaded from" in errors["twin.py"]
    assert "not a semantic version" in errors["badtool.py"]


def test_entry_point_plugins_are_found_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    _write(site, "shouting_plugin.py", GOOD.replace('"good"', '"shouting"'))
    _write(
        site,
        "shouting-1.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: shouting\nVersion: 1.0\n",
    )
    _write(
        site,
        "shouting-1.0.dist-info/entry_points.txt",
        "[llmos.plugins]\nshout = shouting_plugin\n",
    )
    _write(site, "broken_plugin.py", "raise ImportError('needs numpy')\n")
    _write(
        site,
        "broken-2.0.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: broken\nVersion: 2.0\n",
    )
    _write(site, "broken-2.0.dist-info/entry_points.txt", "[llmos.plugins]\nb = broken_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    cache = tmp_path / "state" / "entry-points.json"

    registry = load_plugins(None, cache=cache)
    assert registry.names() == ["shouting"]
    assert registry.plugins[0].source == "entry point shout = shouting_plugin (shouting 1.0)"
    (failure,) = registry.failures
    assert "broken 2.0" in failure.source and failure.error == "ImportError: needs numpy"

    # Nothing changed on sys.path: the second run reads the cache instead of scanning.
    def no_scan() -> list[Any]:
        raise AssertionError("scanned again")

    cached = {entry["value"] for entry in json.loads(cache.read_text())["entries"]}
    assert cached == {"shouting_plugin", "broken_plugin"}
    monkeypatch.setattr("llmos._internal.plugins.loader.scan_entry_points", no_scan)
    assert load_plugins(None, cache=cache).names() == ["shouting"]

    # Files made in the folder llmos was started from (the current one, for `python -m
    # llmos`) change nothing either; a distribution installed on sys.path does.
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))
    scans = []
    monkeypatch.setattr(
        "llmos._internal.plugins.loader.scan_entry_points", lambda: scans.append(1) or []
    )
    load_plugins(None, cache=cache)  # this start's stamp (another current folder)
    scans.clear()
    (work / "notes.txt").write_text("a file of the user's\n")
    load_plugins(None, cache=cache)
    assert scans == []
    _write(site, "other-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: other\n")
    load_plugins(None, cache=cache)
    assert scans == [1]


# Versions and replay ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("recorded", "installed", "refused"),
    [
        ("1.0.0", "1.0.0", False),
        ("1.0.0", "1.9.3", False),
        ("1.4.0", "1.0.0", False),
        ("1.0.0", "2.0.0", True),
        ("2.1.0", "1.0.0", True),
        ("0.3.1", "0.3.9", False),
        ("0.3.1", "0.4.0", True),  # below 1.0 the minor version is the breaking one
        (None, "1.0.0", True),
        ("one", "1.0.0", True),
    ],
)
def test_which_recorded_versions_replay_may_trust(
    recorded: str | None, installed: str, refused: bool
) -> None:
    plugin = Plugin("demo")

    @plugin.tool(version=installed)
    def ping() -> str:
        """Pong."""
        return "pong"

    (tool,) = PluginRegistry([_loaded(plugin)]).tools()
    assert (version_refusal(recorded, tool) is not None) == refused


def _loaded(plugin: Plugin) -> Any:
    from llmos._internal.plugins.registry import LoadedPlugin

    return LoadedPlugin(plugin, "test")


def _table_step(version: str = "1.0.0", output: str | None = None) -> TraceStep:
    checks: dict[str, Any] = {"tool_version": version}
    if output is not None:
        checks["output_sha256"] = output
    return TraceStep(TABLE, {"file_path": "d.csv", "output_path": "t.md"}, checks=checks)


def test_plugin_steps_are_planned_with_the_runs_tools() -> None:
    trace = Trace(goal_text="tabulate", steps=(_table_step(),))
    tools = RunTools(_registry("csv_tools"))
    plan = plan_replay(trace, tools)
    assert plan.eligible and [p.action for p in plan.steps] == ["run"]
    assert plan.files_touched() == ["d.csv"]

    newer = plan_replay(Trace(goal_text="t", steps=(_table_step("2.0.0"),)), tools)
    assert not newer.eligible
    assert "recorded with csv_tools.csv_to_markdown 2.0.0 and 1.0.0 is installed" in newer.reason
    assert "another major version" in newer.reason

    missing = plan_replay(trace, RunTools(_registry("dates")))
    assert not missing.eligible and "the csv_tools plugin is not loaded" in missing.reason

    denied = RunTools(_registry(), denied=lambda tool: tool.startswith("mcp__llmos_csv"))
    assert "the security policy denies this tool" in plan_replay(trace, denied).reason

    # Outside a run (`traces show`) nothing is known about plugins: judged when replayed.
    assert plan_replay(trace).eligible


def test_a_policy_denying_bash_refuses_bash_steps() -> None:
    trace = Trace(goal_text="g", steps=(TraceStep("Bash", {"command": "ls"}),))
    assert plan_replay(trace, RunTools()).eligible
    plan = plan_replay(trace, RunTools(denied=lambda tool: tool == "Bash"))
    assert not plan.eligible and "the security policy denies this tool" in plan.reason


def test_learner_calls_are_recorded_and_replayed_by_calling_the_function(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("fruit,qty\napple,3\npear,5\n")
    learner = RunTools(_registry(), workdir=tmp_path)
    wrote = learner.call(TABLE, {"file_path": "d.csv", "output_path": "t.md"})
    failed = learner.call("mcp__llmos_csv_tools__csv_summary", {"file_path": "missing.csv"})
    assert wrote.ok and wrote.text == "wrote t.md: 2 of 2 rows, 2 columns"
    assert not failed.ok and failed.text.startswith("FileNotFoundError")
    table = (tmp_path / "t.md").read_text()
    recorded = learner.with_checks(
        [
            TraceStep("Write", {"file_path": "d.csv", "content": "..."}),
            TraceStep(TABLE, {"file_path": "d.csv", "output_path": "t.md"}),
            TraceStep("mcp__llmos_csv_tools__csv_summary", {"file_path": "missing.csv"}),
        ]
    )
    write, tabulate, summary = recorded
    assert write.checks == {}
    assert (
        tabulate.checks["tool_version"] == "1.0.0" and len(tabulate.checks["output_sha256"]) == 64
    )
    assert summary.outcome == "error"  # the tool answered with an error: replay skips it

    # Follower: a fresh folder, the function called directly, its output checked.
    elsewhere = tmp_path / "replay"
    elsewhere.mkdir()
    (elsewhere / "d.csv").write_text("fruit,qty\napple,3\npear,5\n")
    tools = RunTools(_registry("csv_tools"))
    assert execute(tabulate, elsewhere, tools) == "wrote t.md: 2 of 2 rows, 2 columns"
    assert (elsewhere / "t.md").read_text() == table
    (elsewhere / "d.csv").write_text("fruit,qty\nplum,1\n")
    with pytest.raises(Divergence, match="returned something else"):
        execute(tabulate, elsewhere, tools)
    with pytest.raises(Divergence, match="another major version"):
        execute(_table_step("3.0.0"), elsewhere, tools)
    with pytest.raises(Divergence, match="no plugin tools"):
        execute(tabulate, elsewhere)


def test_plugin_event_hooks_receive_their_events() -> None:
    plugin = Plugin("watcher")
    seen: list[str] = []

    @plugin.on("run_finished")
    def finished(event: Event) -> None:
        seen.append(event.kind)

    @plugin.on()
    def everything(event: Event) -> None:
        seen.append("any:" + event.kind)

    async def run() -> None:
        bus = EventBus()
        for name, handler in PluginRegistry([_loaded(plugin)]).bus_subscribers():
            bus.subscribe(handler, name=name)
        started = RunStarted(
            run_id="r",
            goal="g",
            mode="learner",
            project="p",
            workdir="/w",
            model=None,
            budget_usd=1.0,
        )
        bus.publish(started)
        bus.publish(
            RunFinished(
                run_id="r", status="success", cost_usd=0, turns=1, tool_calls=0, duration_secs=1.0
            )
        )
        await bus.close()

    asyncio.run(run())
    assert sorted(seen) == ["any:run_finished", "any:run_started", "run_finished"]


# Security: the by-name rule -----------------------------------------------------------------
def test_mcp_tools_go_through_a_by_name_rule(tmp_path: Path) -> None:
    def call(name: str) -> str:
        return check_tool_call(name, {}, workdir=tmp_path).rule

    assert call("mcp__llmos_csv_tools__csv_summary") == "none"  # the default policy's list
    assert call("mcp__github__delete_repo") == "unknown-mcp-tool"
    # A run's own rule: only the plugin tools it has, named as llmos names them.
    plugin_tools = ["mcp__llmos_dates__weekday"]
    assert check_tool_name("mcp__llmos_dates__weekday", plugin_tools=plugin_tools).allowed
    not_loaded = check_tool_name("mcp__llmos_dates__add_days", plugin_tools=plugin_tools)
    assert not_loaded.rule == "tool-not-allowed"
    assert check_tool_name("mcp__llmos_x__y__z").rule == "unknown-mcp-tool"
    assert check_tool_name("mcp__github__x").rule == "unknown-mcp-tool"
    assert check_tool_name("Read").allowed


# The example plugins ------------------------------------------------------------------------
def _tool(registry: PluginRegistry, plugin: str, name: str) -> Any:
    tool = registry.tool(f"mcp__llmos_{plugin}__{name}")
    assert tool is not None
    return tool.function


def test_dates_plugin() -> None:
    registry = _registry("dates")
    days_between = _tool(registry, "dates", "days_between")
    assert days_between("2024-02-01", "2024-03-01") == 29  # a leap year
    assert days_between("2025-01-10", "2025-01-01") == -9
    assert _tool(registry, "dates", "add_days")("2024-12-30", 5) == "2025-01-04"
    assert _tool(registry, "dates", "weekday")("2026-11-22") == "Sunday"
    business = _tool(registry, "dates", "business_days_between")
    assert business("2026-11-20", "2026-11-27") == 5  # Fri -> next Fri: Mon..Fri
    assert business("2026-11-20", "2026-11-27", count="inclusive") == 6
    assert business("2026-11-20", "2026-11-27", holidays=["2026-11-26"]) == 4
    assert business("2026-11-27", "2026-11-20") == -5
    result = RunTools(registry).call("mcp__llmos_dates__weekday", {"date": "tomorrow"})
    assert not result.ok and "not an ISO date" in result.text


def test_csv_tools_plugin(tmp_path: Path) -> None:
    registry = _registry("csv_tools")
    (tmp_path / "sales.csv").write_text("region,units,note\nnorth,10,\nsouth,2.5,late\nwest,,\n")
    summary = _tool(registry, "csv_tools", "csv_summary")("sales.csv", workdir=tmp_path)
    assert summary["rows"] == 3
    region, units, note = summary["columns"]
    assert region == {
        "name": "region",
        "filled": 3,
        "empty": 0,
        "type": "text",
        "distinct": 3,
        "examples": ["north", "south", "west"],
    }
    assert units["type"] == "number" and (units["min"], units["max"]) == (2.5, 10.0)
    assert units["mean"] == 6.25 and units["empty"] == 1
    assert note["type"] == "text" and note["filled"] == 1
    to_markdown = _tool(registry, "csv_tools", "csv_to_markdown")
    said = to_markdown("sales.csv", "out/sales.md", workdir=tmp_path, max_rows=2)
    assert said == "wrote out/sales.md: 2 of 3 rows, 3 columns"
    assert (tmp_path / "out" / "sales.md").read_text().splitlines() == [
        "| region | units | note |",
        "| --- | --- | --- |",
        "| north | 10 |  |",
        "| south | 2.5 | late |",
        "",
        "(1 more rows not shown)",
    ]
    with pytest.raises(ValueError, match="outside the working folder"):
        to_markdown("sales.csv", "../escape.md", workdir=tmp_path)
    assert not (tmp_path.parent / "escape.md").exists()
    (analyst,) = registry.agents()
    assert analyst.name == "data-analyst" and analyst.source == "plugin csv_tools"
    assert "mcp__llmos_csv_tools__csv_summary" in (analyst.tools or ())


def test_inside_keeps_paths_in_the_working_folder(tmp_path: Path) -> None:
    assert inside(tmp_path, "a/b.txt") == tmp_path.resolve() / "a" / "b.txt"
    (tmp_path / "link").symlink_to("/etc")
    for escape in ("../x", "/etc/passwd", "link/passwd"):
        with pytest.raises(ValueError):
            inside(tmp_path, escape)


def test_notify_plugin_calls_notify_send_for_long_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "notified.txt"
    fake = bin_dir / "notify-send"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {log}\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("LLMOS_NOTIFY_AFTER_SECS", "60")
    (hook,) = _registry("notify").hooks()
    assert hook.kinds == {"run_finished"}

    def finished(secs: float) -> RunFinished:
        return RunFinished(
            run_id="r", status="success", cost_usd=0.25, turns=3, tool_calls=2, duration_secs=secs
        )

    hook.handler(finished(5))  # a short run: no notification
    assert not log.exists()
    hook.handler(finished(95))
    assert log.read_text().splitlines() == [
        "--app-name=llmos",
        "llmos run success",
        "95 s, $0.2500",
    ]
