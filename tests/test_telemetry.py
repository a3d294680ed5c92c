"""Telemetry: runs as OpenTelemetry GenAI spans. The span builder on hand-built event streams
(Learner, Follower, Orchestrator, subagents, refusals, unknown kinds), spans made into real
SDK spans (the SDK's in-memory exporter), real runs through `run_goal` against the scripted
model, the settings and their errors, redaction, and a dead endpoint."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import MODEL, Sandbox, run_llmos
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from llmos._internal.engine.types import RunRequest
from llmos._internal.errors import UsageError
from llmos._internal.memory.session_log import SessionLog, read_session
from llmos._internal.modes.dispatcher import run_goal
from llmos._internal.security.redact import REDACTED, redact
from llmos._internal.telemetry import ids, live, prepare, require_sdk
from llmos._internal.telemetry import semconv as sc
from llmos._internal.telemetry.backfill import spans_of
from llmos._internal.telemetry.content import ContentPolicy
from llmos._internal.telemetry.otel import Pipeline
from llmos._internal.telemetry.spans import SpanRecord
from llmos._internal.telemetry_settings import TelemetrySettings, resolve
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool
from llmos._internal.workspace import Settings, Workspace

DATA = Path(__file__).parent / "data" / "telemetry"
RUN = "20261205-010000-aaaaaa"
CHILD = "20261205-010001-bbbbbb"
SECRET = "sk-ant-api03-Q1w2E3r4T5y6U7i8O9p0"


# Hand-built streams: what a session log holds --------------------------------------------
class Stream:
    """A run's records, as its session log would hold them."""

    def __init__(self, run_id: str = RUN, parent: str | None = None) -> None:
        self.run_id, self.parent, self.at = run_id, parent, 1_000.0
        self.records: list[dict[str, Any]] = []

    def add(self, kind: str, **fields: Any) -> Stream:
        self.at += 0.5
        record = {"kind": kind, "at": self.at, "run_id": self.run_id, "parent_run_id": self.parent}
        self.records.append({**record, **fields})
        return self

    def started(self, mode: str = "learner", **fields: Any) -> Stream:
        defaults = {"goal": "count the lines", "project": "default", "workdir": "/w"}
        defaults.update(model=MODEL, budget_usd=1.0)
        return self.add("run_started", mode=mode, **{**defaults, **fields})

    def turn(self, message_id: str, parent: str | None = None, **usage: int) -> Stream:
        counts = {"input_tokens": 100, "output_tokens": 20, **usage}
        return self.add(
            "model_turn",
            message_id=message_id,
            model=MODEL,
            started_at=self.at + 0.1,
            usage=counts,
            stop_reason="tool_use",
            agent="subagent" if parent else None,
            parent_tool_use_id=parent,
        )

    def call(self, call_id: str, tool: str, *, allowed: bool = True, **input: Any) -> Stream:
        self.add("tool_requested", tool_use_id=call_id, tool=tool, input=input, agent=None)
        self.add(
            "tool_decision",
            tool_use_id=call_id,
            tool=tool,
            allowed=allowed,
            guard="security",
            rule="none" if allowed else "rm-protected-path",
            reason="No rule forbids it." if allowed else "`rm` would delete your home.",
            decision="allow" if allowed else "deny",
        )
        if allowed:
            self.add("tool_finished", tool_use_id=call_id, tool=tool, ok=True, summary="exit 0")
        return self

    def finished(self, status: str = "success", **fields: Any) -> Stream:
        defaults: dict[str, Any] = {"cost_usd": 0.0042, "turns": 2, "tool_calls": 2}
        defaults.update(duration_secs=3.0, trace_path="/ws/memories/traces/fb44abcf82bb9887.md")
        return self.add("run_finished", status=status, **{**defaults, **fields})


def build(stream: Stream, *, content: bool = False) -> list[SpanRecord]:
    return spans_of(stream.records, ContentPolicy(content))


def by_name(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    return {span.name: span for span in spans}


def learner_stream() -> Stream:
    return (
        Stream()
        .started(goal=f"deploy with ANTHROPIC_API_KEY={SECRET}")
        .turn("msg_1")
        .call("toolu_1", "Bash", command=f"echo {SECRET} | wc -c")
        .call("toolu_2", "Bash", allowed=False, command="rm -rf ~")
        .turn("msg_2", cache_read_input_tokens=50)
        .add("assistant_text", text="Done: 3 lines.", agent=None)
        .add("cost_updated", spent_usd=0.0042, final=True)
        .finished(input_tokens=200, output_tokens=40)
    )


def test_a_learner_run_is_an_invoke_agent_span_over_its_turns_and_tool_calls() -> None:
    spans = build(learner_stream())
    run = spans[-1]  # the run's span ends last
    assert run.name == "invoke_agent llmos" and run.parent_id is None
    assert run.trace_id == ids.trace_id(RUN) and run.span_id == ids.span_id(RUN, "run")
    a = run.attributes
    assert a[sc.OPERATION_NAME] == "invoke_agent" and a[sc.PROVIDER_NAME] == "anthropic"
    assert a[sc.AGENT_NAME] == "llmos" and a[sc.CONVERSATION_ID] == RUN
    assert a[sc.REQUEST_MODEL] == MODEL and a[sc.MODE] == "learner"
    assert a[sc.PROJECT] == "default" and a[sc.STATUS] == "success"
    assert a[sc.COST_USD] == 0.0042 and a[sc.TRACE_ID] == "fb44abcf82bb9887"
    # Usage: the turns' own counts, cached tokens included in the input (GenAI's rule).
    assert a[sc.USAGE_INPUT_TOKENS] == 250 and a[sc.USAGE_OUTPUT_TOKENS] == 40
    assert a[sc.USAGE_CACHE_READ_INPUT_TOKENS] == 50
    assert run.error is None

    chats = [s for s in spans if s.name == f"chat {MODEL}"]
    assert len(chats) == 2 and all(s.parent_id == run.span_id for s in chats)
    assert chats[0].attributes[sc.RESPONSE_ID] == "msg_1" and chats[0].kind == "client"
    assert chats[1].attributes[sc.USAGE_INPUT_TOKENS] == 150
    assert chats[0].attributes[sc.RESPONSE_FINISH_REASONS] == ["tool_use"]

    ran, denied = (s for s in spans if s.name == "execute_tool Bash")
    assert ran.parent_id == run.span_id and ran.attributes[sc.TOOL_CALL_ID] == "toolu_1"
    assert ran.attributes[sc.POLICY_DECISION] == "allow" and ran.error is None
    assert ran.end - ran.start == pytest.approx(1.0)  # requested, decided, finished
    assert denied.error == "denied" and denied.attributes[sc.POLICY_RULE] == "rm-protected-path"
    assert denied.attributes[sc.POLICY_ALLOWED] is False
    assert denied.attributes[sc.POLICY_GUARD] == "security"
    (event,) = denied.events
    assert event.name == "llmos.policy.decision" and event.attributes[sc.POLICY_DECISION] == "deny"


def test_content_is_exported_only_on_opt_in_and_never_a_secret() -> None:
    quiet = build(learner_stream())
    text = json.dumps([(s.attributes, [e.attributes for e in s.events]) for s in quiet])
    for word in ("count the lines", "deploy", "echo", "rm -rf", "Done: 3 lines", "exit 0"):
        assert word not in text
    assert "would delete" not in text  # the policy's reason quotes the call: content

    spans = build(learner_stream(), content=True)
    names = by_name(spans)
    run = spans[-1]
    messages = json.loads(str(run.attributes[sc.INPUT_MESSAGES]))
    assert messages[0]["role"] == "user"
    assert messages[0]["parts"][0]["content"] == f"deploy with ANTHROPIC_API_KEY={REDACTED}"
    answer = json.loads(str(run.attributes[sc.OUTPUT_MESSAGES]))
    assert answer[0]["parts"][0]["content"] == "Done: 3 lines."
    call = json.loads(str(names["execute_tool Bash"].attributes[sc.TOOL_CALL_ARGUMENTS]))
    assert call["command"] in (f"echo {REDACTED} | wc -c", "rm -rf ~")
    everything = json.dumps([(s.attributes, [e.attributes for e in s.events]) for s in spans])
    assert SECRET not in everything and "exit 0" in everything


def test_a_replay_is_marked_replayed_and_a_refused_step_still_has_its_span() -> None:
    stream = (
        Stream()
        .started(mode="follower", model=None)
        .call("replay-1", "Write", file_path="notes.txt")
        .finished(saved_usd=0.0042, turns=0, tool_calls=1)
    )
    spans = build(stream)
    run, step = spans[-1], spans[0]
    assert run.attributes[sc.PROVIDER_NAME] == "llmos" and run.attributes[sc.MODE] == "follower"
    assert run.attributes[sc.SAVED_USD] == 0.0042
    assert run.attributes[sc.USAGE_INPUT_TOKENS] == 0  # a replay asks no model
    assert sc.REQUEST_MODEL not in run.attributes
    assert step.name == "execute_tool Write" and step.attributes[sc.REPLAYED] is True
    assert step.attributes[sc.REPLAY_STEP] == 1

    # Preflight refuses step 2 before anything runs: a decision with no request.
    refused = Stream().started(mode="follower", model=None)
    refused.add(
        "tool_decision",
        tool_use_id="replay-2",
        tool="Bash",
        allowed=False,
        guard="security",
        rule="rm-protected-path",
        reason="no",
        decision="deny",
    )
    refused.finished(status="refused", error="the security policy refuses step 2")
    spans = build(refused)
    step, run = spans
    assert step.name == "execute_tool Bash" and step.error == "denied"
    assert step.attributes[sc.REPLAY_STEP] == 2 and step.parent_id == run.span_id
    assert run.error == "refused" and run.attributes[sc.ERROR_TYPE] == "refused"
    assert "refuses step 2" in run.error_message


def test_a_subagent_nests_under_its_delegating_call() -> None:
    stream = (
        Stream()
        .started()
        .add(
            "tool_requested",
            tool_use_id="toolu_a",
            tool="Agent",
            input={"subagent_type": "reviewer", "prompt": "review"},
            agent=None,
        )
        .turn("msg_s", parent="toolu_a")
        .add(
            "tool_requested",
            tool_use_id="toolu_b",
            tool="Read",
            input={},
            agent="subagent",
            parent_tool_use_id="toolu_a",
        )
        .add("tool_finished", tool_use_id="toolu_b", tool="Read", ok=True, summary="")
        .add("tool_finished", tool_use_id="toolu_a", tool="Agent", ok=True, summary="")
        .finished()
    )
    names = by_name(build(stream))
    run, call = names["invoke_agent llmos"], names["execute_tool Agent"]
    agent = names["invoke_agent reviewer"]
    assert call.parent_id == run.span_id and agent.parent_id == call.span_id
    assert agent.attributes[sc.SUBAGENT] is True
    assert names["execute_tool Read"].parent_id == agent.span_id
    assert names[f"chat {MODEL}"].parent_id == agent.span_id


def test_an_orchestration_s_subtasks_are_child_runs_in_its_trace() -> None:
    parent = (
        Stream()
        .started(mode="orchestrator", goal="1) a 2) b")
        .turn("msg_plan")
        .add("plan_ready", source="planner", subtasks=[{"id": "a", "agent": "coder"}])
        .add("subtask_changed", subtask_id="a", status="running", agent="coder", detail="Write x")
        .add("subtask_changed", subtask_id="a", status="success", agent="coder", child_run_id=CHILD)
        .finished(input_tokens=900, output_tokens=90)
    )
    child = Stream(CHILD, parent=RUN).started(agent="coder").call("toolu_c", "Write").finished()
    parent_spans, child_spans = build(parent), build(child)
    root, sub = parent_spans[-1], child_spans[-1]
    assert root.attributes[sc.MODE] == "orchestrator"
    assert root.attributes[sc.USAGE_INPUT_TOKENS] == 900  # its subtasks' too, as recorded
    assert sub.name == "invoke_agent coder" and sub.attributes[sc.AGENT_NAME] == "coder"
    assert sub.trace_id == root.trace_id == ids.trace_id(RUN)
    assert sub.parent_id == root.span_id and sub.attributes[sc.PARENT_RUN_ID] == RUN
    assert all(s.trace_id == root.trace_id for s in child_spans)
    events = [e.name for e in root.events]
    assert events == ["llmos.plan", "llmos.subtask"]  # the running detail is not an event
    assert root.events[1].attributes["llmos.subtask.run_id"] == CHILD


def test_unknown_kinds_become_safe_events_and_scores_evaluations() -> None:
    stream = (
        Stream()
        .started()
        .add("tool_requested", tool_use_id="toolu_1", tool="Bash", input={}, agent=None)
        .add(
            "policy_check",  # a kind this package does not know (yet)
            tool_use_id="toolu_1",
            checker="require_verification",
            passed=False,
            reason=f"it printed {SECRET}",
            details={"x": 1},
        )
        .add("tool_finished", tool_use_id="toolu_1", tool="Bash", ok=True, summary="")
        .add("node_evaluated", name="quality", score=0.75, passed=True, feedback="fine")
        .add("route_chosen", destination="retry", note=f"key {SECRET}")
        .finished()
    )
    names = by_name(build(stream))
    (check,) = names["execute_tool Bash"].events
    assert check.name == "llmos.policy_check"
    assert check.attributes == {
        "llmos.policy_check.tool_use_id": "toolu_1",
        "llmos.policy_check.checker": "require_verification",
        "llmos.policy_check.passed": False,
    }  # the reason and the mapping are content: left out
    evaluation, route = names["invoke_agent llmos"].events
    assert evaluation.name == "gen_ai.evaluation.result"
    assert evaluation.attributes[sc.EVALUATION_NAME] == "quality"
    assert evaluation.attributes[sc.EVALUATION_SCORE_VALUE] == 0.75
    assert evaluation.attributes[sc.EVALUATION_SCORE_LABEL] == "pass"
    assert route.attributes["llmos.route_chosen.destination"] == "retry"
    assert route.attributes["llmos.route_chosen.note"] == f"key {REDACTED}"


def test_a_run_whose_events_stop_short_is_marked_unfinished() -> None:
    stream = Stream().started().add("tool_requested", tool_use_id="t", tool="Bash", input={})
    tool, run = build(stream)
    assert tool.error == "unfinished" and run.error == "unfinished"
    assert run.attributes[sc.UNFINISHED] is True


def test_spans_become_sdk_spans_with_their_ids_parents_and_status() -> None:
    memory = InMemorySpanExporter()
    config = resolve(TelemetrySettings(endpoint="http://127.0.0.1:9"), {})
    pipeline = Pipeline(config, memory, batch=False)
    for span in build(learner_stream()):
        pipeline.add(span)
    spans: dict[str, ReadableSpan] = {s.name: s for s in memory.get_finished_spans()}
    run = spans["invoke_agent llmos"]
    assert run.context is not None and run.context.trace_id == ids.trace_id(RUN)
    assert run.parent is None and run.kind is SpanKind.INTERNAL
    assert run.resource.attributes["service.name"] == "llmos"
    assert run.instrumentation_scope is not None
    assert run.instrumentation_scope.schema_url == sc.SCHEMA_URL
    chat = spans[f"chat {MODEL}"]
    assert chat.kind is SpanKind.CLIENT and chat.parent is not None
    assert chat.parent.span_id == run.context.span_id
    denied = [s for s in memory.get_finished_spans() if s.status.status_code is StatusCode.ERROR]
    assert [s.name for s in denied] == ["execute_tool Bash"]
    assert denied[0].attributes is not None and denied[0].attributes[sc.ERROR_TYPE] == "denied"
    assert run.start_time == 1_000_500_000_000  # seconds to nanoseconds, exactly


def test_pinned_attribute_names_match_the_installed_conventions() -> None:
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as ga

    for name in dir(sc):
        value = getattr(sc, name)
        if isinstance(value, str) and value.startswith("gen_ai."):
            assert value in vars(ga).values(), value
    from opentelemetry.semconv.schemas import Schemas

    assert sc.SCHEMA_URL in {s.value for s in Schemas}


# Real runs through run_goal ---------------------------------------------------------------
def _telemetry_on(sandbox: Sandbox, **extra: Any) -> Workspace:
    ws = Workspace.open(sandbox.workspace)
    section = {"enabled": True, "endpoint": "http://127.0.0.1:9", **extra}
    text = ws.config_path.read_text() + "\ntelemetry: " + json.dumps(section) + "\n"
    ws.config_path.write_text(text)
    return Workspace.open(sandbox.workspace)


class Captured:
    """Every run's spans, in the SDK's in-memory exporter, whatever the settings say."""

    def __init__(self, shipper: live.Shipper, memory: InMemorySpanExporter) -> None:
        self.shipper, self.memory = shipper, memory

    def spans(self) -> tuple[ReadableSpan, ...]:
        assert self.shipper.wait_idle(10)
        return self.memory.get_finished_spans()


@pytest.fixture
def captured() -> Iterator[Captured]:
    memory = InMemorySpanExporter()
    config = resolve(TelemetrySettings(endpoint="http://127.0.0.1:9"), {})
    with live.capture(config, lambda: Pipeline(config, memory, batch=False)) as shipper:
        yield Captured(shipper, memory)


def test_real_learner_and_follower_runs_send_their_spans(
    sandbox: Sandbox,
    scripted: ScriptedModelServer,
    captured: Captured,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = _telemetry_on(sandbox)
    env = scripted.client_env(sandbox.claude_config)
    goal = "Write notes.txt and count its lines"
    scripted.script(
        use_tool("Write", file_path="notes.txt", content="a\nb\n"),
        use_tool("Bash", command="wc -l < notes.txt > count.txt"),
        say("2 lines."),
    )
    from llmos._internal.sdk import runner

    seen: list[dict[str, str]] = []
    build_options = runner.build_options

    def watched(request: Any, tail: Any) -> Any:
        seen.append(dict(request.env))
        return build_options(request, tail)

    monkeypatch.setattr(runner, "build_options", watched)
    learned = asyncio.run(run_goal(ws, RunRequest(goal, model=MODEL), env=env))
    assert learned.ok and learned.mode == "learner"
    replayed = asyncio.run(run_goal(ws, RunRequest(goal), env=env))
    assert replayed.ok and replayed.mode == "follower"
    spans = captured.spans()  # run_goal returned: its bus (and telemetry) had finished
    runs = [s for s in spans if s.name == "invoke_agent llmos"]
    assert len(runs) == 2
    learner = next(s for s in runs if s.attributes and s.attributes[sc.MODE] == "learner")
    follower = next(s for s in runs if s.attributes and s.attributes[sc.MODE] == "follower")
    assert learner.context is not None and follower.context is not None
    assert learner.context.trace_id == ids.trace_id(learned.run_id)
    # The CLI got the run's trace context, so its own telemetry would nest under the run.
    assert seen and seen[0]["TRACEPARENT"] == ids.traceparent(learned.run_id, learned.run_id)
    in_learner = [s for s in spans if s.context and s.context.trace_id == learner.context.trace_id]
    names = sorted(s.name for s in in_learner)
    assert names == sorted(
        ["invoke_agent llmos", *[f"chat {MODEL}"] * 3, "execute_tool Write", "execute_tool Bash"]
    )
    assert learner.attributes is not None
    assert learner.attributes[sc.USAGE_INPUT_TOKENS] > 0
    assert learner.attributes[sc.COST_USD] == pytest.approx(learned.cost_usd, abs=1e-6)
    in_follower = [
        s for s in spans if s.context and s.context.trace_id == follower.context.trace_id
    ]
    steps = [s for s in in_follower if s.name.startswith("execute_tool")]
    assert [s.name for s in steps] == ["execute_tool Write", "execute_tool Bash"]
    assert all(s.attributes and s.attributes[sc.REPLAYED] is True for s in steps)
    assert follower.attributes is not None
    assert follower.attributes[sc.SAVED_USD] == pytest.approx(learned.cost_usd, abs=1e-6)

    # The same spans again from the session logs: the backfill agrees with the live run.
    log = read_session(Path(learned.session_log))
    backfilled = spans_of(log, ContentPolicy(False))
    assert {(s.span_id, s.parent_id, s.name) for s in backfilled} == {
        (s.context.span_id, s.parent.span_id if s.parent else None, s.name)
        for s in in_learner
        if s.context
    }


# Settings ---------------------------------------------------------------------------------
def _settings(**section: Any) -> TelemetrySettings:
    return Settings.from_mapping({"telemetry": section}, source=Path("config.yaml")).telemetry


def test_the_telemetry_section_is_checked_with_clear_errors() -> None:
    assert _settings() == TelemetrySettings()
    good = _settings(enabled=True, endpoint="http://127.0.0.1:5000", headers={"a": 1})
    assert good.enabled and good.headers == {"a": "1"}
    bad = [
        ({"turbo": True}, "unknown setting(s) turbo"),
        ({"enabled": "yes"}, "enabled: expected true or false"),
        ({"protocol": "http/json"}, "'http/json' is not supported"),
        ({"endpoint": "localhost:4318"}, "is not an http(s) URL"),
        ({"headers": ["a"]}, "expected a mapping of header names"),
        ({"timeout_secs": 0}, "above 0"),
    ]
    for section, message in bad:
        with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
            _settings(**section)
    with pytest.raises(UsageError, match="expected a mapping"):
        Settings.from_mapping({"telemetry": "on"}, source=Path("config.yaml"))


def test_the_environment_overrides_the_file() -> None:
    settings = TelemetrySettings(
        enabled=True,
        endpoint="http://file:5000",
        headers={"x-mlflow-experiment-id": "0", "authorization": "Basic ${AUTH}"},
    )
    config = resolve(settings, {"AUTH": "cGs6c2s="})
    assert config.endpoint == "http://file:5000/v1/traces"
    assert config.headers == {"x-mlflow-experiment-id": "0", "authorization": "Basic cGs6c2s="}
    env = {
        "AUTH": "x",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://cloud.langfuse.com/api/public/otel",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Basic%20abc,x-extra=1",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_SERVICE_NAME": "ci",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
    }
    config = resolve(settings, env)
    assert config.endpoint == "https://cloud.langfuse.com/api/public/otel/v1/traces"
    assert config.headers["authorization"] == "Basic abc" and config.headers["x-extra"] == "1"
    assert config.timeout_secs == 2.5 and config.service_name == "ci" and config.capture_content
    exact = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom", "AUTH": "x"}
    assert resolve(settings, exact).endpoint == "http://c:4318/custom"
    assert resolve(TelemetrySettings(endpoint="http://h:5000/v1/traces"), {}).endpoint == (
        "http://h:5000/v1/traces"
    )
    with pytest.raises(UsageError, match=r"uses \$\{AUTH\}, which is not set"):
        resolve(settings, {})
    with pytest.raises(UsageError, match="has no endpoint"):
        resolve(TelemetrySettings(enabled=True), {})
    with pytest.raises(UsageError, match="is not key=value"):
        resolve(settings, {"AUTH": "x", "OTEL_EXPORTER_OTLP_HEADERS": "oops"})


def test_telemetry_is_off_unless_turned_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMOS_TELEMETRY", raising=False)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    assert prepare(TelemetrySettings()) is None
    on = TelemetrySettings(enabled=True, endpoint="http://127.0.0.1:9")
    assert prepare(on) is not None
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert prepare(on) is None
    monkeypatch.setenv("LLMOS_TELEMETRY", "1")
    assert prepare(on) is not None
    monkeypatch.setenv("LLMOS_TELEMETRY", "maybe")
    with pytest.raises(UsageError, match="neither on nor off"):
        prepare(on)


def test_without_the_extra_telemetry_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError) as caught:
        require_sdk()
    assert "not installed" in caught.value.message and "llmos[telemetry]" in str(caught.value.hint)


def test_a_project_cannot_set_telemetry(sandbox: Sandbox) -> None:
    run_llmos(sandbox, "project", "create", "site")
    (sandbox.workspace / "projects" / "site" / "project.yaml").write_text(
        "settings:\n  telemetry: {enabled: true}\n"
    )
    proc = run_llmos(sandbox, "run", "-p", "site", "--dry-run", "anything")
    assert proc.returncode == 2 and "telemetry can only be set in config.yaml" in proc.stderr


# Redaction --------------------------------------------------------------------------------
def test_redaction_on_the_labelled_cases() -> None:
    cases = [json.loads(line) for line in (DATA / "secrets.jsonl").read_text().splitlines()]
    cases = [case for case in cases if "text" in case]
    assert len(cases) >= 30
    for case in cases:
        out = redact(case["text"], {})
        if case["secret"] is None:
            assert out == case["text"], case
        else:
            assert case["secret"] not in out and REDACTED in out, (case, out)


def test_redaction_takes_out_the_environment_s_own_secrets() -> None:
    env = {"DB_PASSWORD": "hunter2hunter2", "HOME": "/home/someone", "SHORT_TOKEN": "abc"}
    out = redact("connected with hunter2hunter2 from /home/someone, abc", env)
    assert out == f"connected with {REDACTED} from /home/someone, abc"


# The CLI ----------------------------------------------------------------------------------
def _learn(
    sandbox: Sandbox, scripted: ScriptedModelServer, **env: str
) -> subprocess.CompletedProcess[str]:
    scripted.script(use_tool("Write", file_path="a.txt", content="a\n"), say("done"))
    return run_llmos(
        sandbox, "run", "--json", "--model", MODEL, "write a.txt", server=scripted, env=env
    )


def test_a_dead_endpoint_is_said_once_and_the_run_goes_on(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    with socket.socket() as probe:  # a port on 127.0.0.1 nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run_llmos(sandbox, "status")
    config = sandbox.workspace / "config.yaml"
    config.write_text(
        config.read_text() + f"\ntelemetry: {{enabled: true, endpoint: 'http://127.0.0.1:{port}', "
        "flush_timeout_secs: 3}\n"
    )
    started = time.monotonic()
    proc = _learn(sandbox, scripted)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "success"
    assert proc.stderr.count("telemetry: could not send spans") == 1, proc.stderr
    assert "(connection refused)" in proc.stderr  # the cause, in a few words
    assert "Traceback" not in proc.stderr and "Transient error" not in proc.stderr
    assert time.monotonic() - started < 60
    # Nothing is lost for good: the session log still holds the run.
    listed = json.loads(run_llmos(sandbox, "sessions", "list", "--json").stdout)["sessions"]
    proc = run_llmos(sandbox, "sessions", "export", listed[0]["run_id"], "--otlp", "--json")
    assert proc.returncode == 1  # still nobody there: said, not crashed
    report = json.loads(proc.stdout)
    assert report["sent"] == 0 and report["error"] == "connection refused"
    assert report["spans"] >= 3


def test_sessions_export_builds_spans_and_says_what_is_missing(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    assert _learn(sandbox, scripted).returncode == 0
    run_id = json.loads(run_llmos(sandbox, "sessions", "list", "--json").stdout)["sessions"][0][
        "run_id"
    ]
    proc = run_llmos(sandbox, "sessions", "export", run_id)
    assert proc.returncode == 2 and "--otlp" in proc.stderr
    proc = run_llmos(sandbox, "sessions", "export", run_id, "--otlp")
    assert proc.returncode == 2 and "has no endpoint" in proc.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in proc.stderr
    proc = run_llmos(
        sandbox,
        "sessions",
        "export",
        run_id[:15],
        "--otlp",
        "--dry-run",
        "--json",
        "--endpoint",
        "http://127.0.0.1:9",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    (run,) = report["runs"]
    assert run["run_id"] == run_id and run["trace_id"] == f"{ids.trace_id(run_id):032x}"
    assert report["spans"] == run["spans"] >= 3 and report["sent"] == 0
    assert report["endpoint"] == "http://127.0.0.1:9/v1/traces"


def test_telemetry_s_modules_load_no_opentelemetry_until_a_span_is_sent(
    sandbox: Sandbox,
) -> None:
    """With telemetry off (the default) no OpenTelemetry module is loaded: not by --help,
    not by a run. (tests/test_follower_e2e.py checks a real replay the same way.)"""
    code = (
        "import sys\n"
        "sys.argv = ['llmos', '--help']\n"
        "from llmos._internal.cli.app import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "import llmos._internal.modes.dispatcher, llmos._internal.telemetry\n"
        "import llmos._internal.workspace\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "assert 'opentelemetry' not in roots and 'google' not in roots, sorted(roots)\n"
        "print('light')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "light" in proc.stdout, proc.stderr


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver on 127.0.0.1: keeps (service, name, trace id, parent id)."""

    spans: ClassVar[list[tuple[str, str, str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    found = (service, span.name, span.trace_id.hex(), span.parent_span_id.hex())
                    self.spans.append(found)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_claude_code_cli_s_own_spans_nest_under_the_run(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    """TRACEPARENT reaches the CLI: with its own (beta) tracing turned on, sending to the
    same collector, its `claude_code.interaction` span is a child of the run's span."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.spans = []
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    env = {
        "LLMOS_TELEMETRY": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA": "1",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    try:
        proc = _learn(sandbox, scripted, **env)
        assert proc.returncode == 0, proc.stderr
        run_id = json.loads(proc.stdout)["run_id"]
        trace, run_span = f"{ids.trace_id(run_id):032x}", f"{ids.span_id(run_id, 'run'):016x}"
        deadline = time.monotonic() + 20
        while not any(s[1] == "claude_code.interaction" for s in _Receiver.spans):
            assert time.monotonic() < deadline, _Receiver.spans
            time.sleep(0.2)
    finally:
        server.shutdown()
        server.server_close()
    ours = [s for s in _Receiver.spans if s[0] == "llmos"]
    assert ("llmos", "invoke_agent llmos", trace, "") in ours
    interaction = next(s for s in _Receiver.spans if s[1] == "claude_code.interaction")
    assert interaction[0] == "claude-code" and interaction[2:] == (trace, run_span)


def test_a_silent_endpoint_costs_at_most_the_flush_timeout_at_exit(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    """An endpoint that takes the connection and never answers: the process waits
    flush_timeout_secs for its spans, not the exporter's 10 s per attempt, and says so."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts connections; nobody ever reads them
        port = silent.getsockname()[1]
        run_llmos(sandbox, "status")
        config = sandbox.workspace / "config.yaml"
        section = f"{{enabled: true, endpoint: 'http://127.0.0.1:{port}', flush_timeout_secs: 1}}"
        config.write_text(config.read_text() + f"\ntelemetry: {section}\n")
        scripted.script(say("nothing to do"))
        started = time.monotonic()
        proc = run_llmos(sandbox, "run", "--json", "--model", MODEL, "say hi", server=scripted)
        elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("warning: telemetry:") == 1, proc.stderr
    assert "within flush_timeout_secs (1 s)" in proc.stderr
    # Besides the run itself: start-up and a second or so at exit, not an export's 10 s.
    assert elapsed - json.loads(proc.stdout)["duration_secs"] < 8


def test_past_runs_go_over_grpc_too(sandbox: Sandbox) -> None:
    """A session log (written as a run writes it) exported with --protocol grpc to an OTLP
    gRPC receiver on 127.0.0.1."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received: list[tuple[str, str]] = []

    class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802  # the gRPC method
            metadata = dict(context.invocation_metadata())
            for resource_spans in request.resource_spans:
                for scope in resource_spans.scope_spans:
                    received.extend((s.name, metadata.get("x-team", "")) for s in scope.spans)
            return trace_service_pb2.ExportTraceServiceResponse()

    ws = Workspace.open(sandbox.workspace)
    log = SessionLog(ws.sessions_dir, RUN)
    for record in learner_stream().records:
        log.append(record)
    log.seal()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Receiver(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        proc = run_llmos(
            sandbox,
            "sessions",
            "export",
            RUN,
            "--otlp",
            "--protocol",
            "grpc",
            "--endpoint",
            f"http://127.0.0.1:{port}",
            "-H",
            "x-team=infra",
            "--json",
        )
    finally:
        server.stop(grace=None)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sent"] == len(received) == 5  # 2 turns, 2 calls, the run
    assert ("invoke_agent llmos", "infra") in received
