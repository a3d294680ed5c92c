"""Telemetry end to end: real `llmos` runs (the real SDK and CLI against the scripted model)
send their spans over OTLP to a real MLflow tracking server on 127.0.0.1 (SQLite store,
started once for these tests), and the traces are read back through MLflow's own client.

MLflow ingests OTLP at `/v1/traces` (MLflow 3), into the experiment named by the
`x-mlflow-experiment-id` header; a trace's id there is `tr-` + the OpenTelemetry trace id,
which llmos derives from the run id (llmos/_internal/telemetry/ids.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MODEL, Sandbox, run_llmos
from test_orchestrator_e2e import KIT_GOAL, Log, _kit_routes

from llmos._internal.telemetry import ids
from llmos._internal.telemetry import semconv as sc
from llmos._internal.telemetry.otel import Pipeline
from llmos._internal.telemetry.spans import SpanRecord
from llmos._internal.telemetry_settings import TelemetrySettings, resolve
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool

pytestmark = pytest.mark.xdist_group("mlflow")  # one server: these tests share a worker

SECRET = "sk-ant-api03-Zx8vQ2lP0aB7cD9eF1gH3iJ5kL"
_START_SECS = 240  # creating the SQLite store's tables takes a while on a busy machine


class MlflowServer:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.process, self.log = url, process, log

    def trace(self, run_id: str, *, root: str | None = None, wait: float = 20) -> Any:
        """The MLflow trace of `run_id` (its family's, `root`), once its root span is in."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.url)
        trace_id = f"tr-{ids.trace_id(root or run_id):032x}"
        deadline = time.monotonic() + wait
        while True:
            with contextlib.suppress(Exception):
                trace = client.get_trace(trace_id)
                if trace is not None and any(s.parent_id is None for s in trace.data.spans):
                    return trace
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no trace {trace_id} in MLflow\n{self.log.read_text()[-3000:]}"
                )
            time.sleep(0.5)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    env = {
        **os.environ,
        "HOME": str(root),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no job runner and its workers
        "MLFLOW_DISABLE_TELEMETRY": "true",  # MLflow's own usage reports: no network
        "DO_NOT_TRACK": "true",
    }
    command = [
        # Niced: starting it (creating the store's tables) takes the CPU for a while, and
        # tests on the other worker time things.
        *("nice", "-n", "15"),
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--default-artifact-root",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("wb") as output:
        # Its own session (process group): the server and every worker it starts are
        # stopped together, whatever happens to the tests.
        process = subprocess.Popen(
            command,
            env=env,
            cwd=root,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + _START_SECS
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the MLflow server exited:\n{log.read_text()[-3000:]}")
            if _healthy(url):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the MLflow server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        _warm_up(url)
        yield MlflowServer(url, process, log)
    finally:
        _stop(process)


def _warm_up(url: str) -> None:
    """One span sent and stored first: MLflow's first OTLP request sets up its trace store
    (about 10 s here), more than a run's exit waits for its spans."""
    settings = TelemetrySettings(endpoint=url, headers={"x-mlflow-experiment-id": "0"})
    config = resolve(dataclasses.replace(settings, timeout_secs=_START_SECS), {})
    span = SpanRecord("warm-up", ids.trace_id("warm-up"), ids.span_id("warm-up", "run"), None, 1.0)
    sent, error = Pipeline(config, batch=False).send_now([span])
    assert sent == 1, error


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # workers the server left, if any
        return


def _telemetry_to(sandbox: Sandbox, server: MlflowServer, **extra: Any) -> None:
    run_llmos(sandbox, "status")  # creates the workspace and its config.yaml
    section = {
        "enabled": True,
        "endpoint": server.url,
        "headers": {"x-mlflow-experiment-id": "0"},
        "flush_timeout_secs": 20,
        **extra,
    }
    config = sandbox.workspace / "config.yaml"
    config.write_text(config.read_text() + f"\ntelemetry: {json.dumps(section)}\n")


def _run(sandbox: Sandbox, scripted: ScriptedModelServer, *args: str) -> dict[str, Any]:
    proc = run_llmos(sandbox, "run", "--json", *args, server=scripted)
    assert proc.returncode == 0, proc.stderr
    assert "telemetry" not in proc.stderr, proc.stderr  # nothing to say: every span went
    return json.loads(proc.stdout)


def _spans(trace: Any) -> dict[str, list[Any]]:
    named: dict[str, list[Any]] = {}
    for span in trace.data.spans:
        named.setdefault(span.name, []).append(span)
    return named


def test_live_learner_and_follower_runs_arrive_as_traces(
    sandbox: Sandbox, scripted: ScriptedModelServer, mlflow_server: MlflowServer
) -> None:
    _telemetry_to(sandbox, mlflow_server, capture_content=True)
    goal = f"Write hello.py and run it (deploy key {SECRET})"
    scripted.script(
        use_tool("Write", file_path="hello.py", content="print('hello')\n"),
        use_tool("Bash", command="rm -rf ~"),  # denied by the security policy
        use_tool("Bash", command="python3 hello.py > out.txt"),
        say("hello.py written and run."),
    )
    learned = _run(sandbox, scripted, "--model", MODEL, goal)
    assert learned["mode"] == "learner"

    trace = mlflow_server.trace(learned["run_id"])
    assert trace.info.state.value == "OK"
    named = _spans(trace)
    (run,) = named["invoke_agent llmos"]
    assert run.parent_id is None and run.span_type == "AGENT"
    a = run.attributes
    assert a[sc.OPERATION_NAME] == "invoke_agent" and a[sc.MODE] == "learner"
    assert a[sc.CONVERSATION_ID] == learned["run_id"] and a[sc.REQUEST_MODEL] == MODEL
    assert a[sc.STATUS] == "success" and a[sc.PROJECT] == "default"
    assert a[sc.COST_USD] == pytest.approx(learned["cost_usd"], abs=1e-6)
    assert a[sc.TRACE_ID] == Path(learned["trace_path"]).stem
    assert a[sc.USAGE_INPUT_TOKENS] > 0 and a[sc.USAGE_OUTPUT_TOKENS] > 0
    # Content was opted into, and redacted: the goal is there, the key is not.
    assert "Write hello.py and run it" in json.dumps(a[sc.INPUT_MESSAGES])
    assert SECRET not in json.dumps([s.attributes for s in trace.data.spans])
    # MLflow read the GenAI conventions: the turns are chat model calls with their usage.
    chats = named[f"chat {MODEL}"]
    assert len(chats) == 4 and all(s.span_type == "CHAT_MODEL" for s in chats)
    assert all(s.parent_id == run.span_id for s in chats)
    assert trace.info.token_usage["input_tokens"] == a[sc.USAGE_INPUT_TOKENS]
    write, *bashes = named["execute_tool Write"] + named["execute_tool Bash"]
    assert all(s.span_type == "TOOL" and s.parent_id == run.span_id for s in [write, *bashes])
    denied = next(s for s in bashes if s.attributes[sc.POLICY_ALLOWED] is False)
    assert denied.attributes[sc.POLICY_RULE] == "rm-protected-path"
    assert denied.attributes[sc.POLICY_DECISION] == "deny"
    assert denied.status.status_code.value == "ERROR"
    ran = next(s for s in bashes if s is not denied)
    assert ran.attributes[sc.POLICY_DECISION] == "allow" and ran.status.status_code.value != "ERROR"
    # (MLflow stores a JSON text attribute as the value it encodes.)
    assert ran.attributes[sc.TOOL_CALL_ARGUMENTS] == {"command": "python3 hello.py > out.txt"}

    replayed = _run(sandbox, scripted, goal)
    assert replayed["mode"] == "follower"
    trace = mlflow_server.trace(replayed["run_id"])
    named = _spans(trace)
    (run,) = named["invoke_agent llmos"]
    assert run.attributes[sc.MODE] == "follower" and run.attributes[sc.PROVIDER_NAME] == "llmos"
    assert run.attributes[sc.SAVED_USD] == pytest.approx(learned["cost_usd"], abs=1e-6)
    steps = sorted(named["execute_tool Write"] + named["execute_tool Bash"], key=_start)
    assert [s.attributes[sc.REPLAY_STEP] for s in steps] == [1, 2]
    assert all(s.attributes[sc.REPLAYED] is True for s in steps)


def _start(span: Any) -> int:
    return int(span.start_time_ns)


def test_an_orchestration_arrives_as_one_trace_with_its_subtasks(
    sandbox: Sandbox, scripted: ScriptedModelServer, mlflow_server: MlflowServer
) -> None:
    _telemetry_to(sandbox, mlflow_server)
    router = _kit_routes(Log())
    scripted.respond(router)
    summary = _run(sandbox, scripted, "--model", MODEL, "--budget", "1", KIT_GOAL)
    assert summary["mode"] == "orchestrator" and summary["status"] == "success"
    trace = mlflow_server.trace(summary["run_id"])
    named = _spans(trace)
    (root,) = named["invoke_agent llmos"]
    assert root.parent_id is None and root.attributes[sc.MODE] == "orchestrator"
    assert root.attributes[sc.COST_USD] == pytest.approx(summary["cost_usd"], abs=1e-6)
    subtasks = named["invoke_agent coder"] + named["invoke_agent writer"]
    assert len(subtasks) == 3 and all(s.parent_id == root.span_id for s in subtasks)
    children = {s.attributes[sc.RUN_ID] for s in subtasks}
    assert children == {s["attempts"][0]["run_id"] for s in summary["orchestration"]["subtasks"]}
    assert all(s.attributes[sc.PARENT_RUN_ID] == summary["run_id"] for s in subtasks)
    # Each subtask's own tool calls are under it; the planner and the answer under the root.
    by_id = {s.span_id: s for s in trace.data.spans}
    for tool in named["execute_tool Write"] + named["execute_tool Bash"]:
        assert by_id[tool.parent_id] in subtasks
    root_chats = [s for s in named[f"chat {MODEL}"] if s.parent_id == root.span_id]
    assert len(root_chats) == 2  # the plan and the answer
    events = [e.name for e in root.events]
    assert "llmos.plan" in events and events.count("llmos.subtask") >= 3


def test_past_runs_are_sent_from_their_session_logs(
    sandbox: Sandbox, scripted: ScriptedModelServer, mlflow_server: MlflowServer
) -> None:
    scripted.script(use_tool("Write", file_path="a.txt", content="a\n"), say("a.txt written"))
    summary = _run(sandbox, scripted, "--model", MODEL, "write a.txt")  # telemetry off
    export = [
        "sessions",
        "export",
        summary["run_id"],
        "--otlp",
        "--endpoint",
        mlflow_server.url,
        "-H",
        "x-mlflow-experiment-id=0",
        "--json",
    ]
    proc = run_llmos(sandbox, *export)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["error"] is None and report["sent"] == report["spans"] >= 3
    trace = mlflow_server.trace(summary["run_id"])
    names = sorted(s.name for s in trace.data.spans)
    assert names == ["chat " + MODEL] * 2 + ["execute_tool Write", "invoke_agent llmos"]
    (run,) = (s for s in trace.data.spans if s.parent_id is None)
    assert run.attributes[sc.RUN_ID] == summary["run_id"]
    assert sc.INPUT_MESSAGES not in run.attributes  # content not opted into
    # Sent again: the same ids, so MLflow keeps one copy.
    assert run_llmos(sandbox, *export).returncode == 0
    again = mlflow_server.trace(summary["run_id"])
    assert len(again.data.spans) == len(trace.data.spans)
