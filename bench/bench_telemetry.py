"""What telemetry costs a run, and the process around it.

    .venv/bin/python bench/bench_telemetry.py [--rounds N] [--runs N]

A local OTLP receiver on 127.0.0.1 answers every export at once (so the network is not what
is measured; a slow endpoint is the exporter thread's problem, never the run's).

1. **A run, in process**: a learned 2-step goal (Write + Bash) replayed by `run_goal_blocking`
   as `llmos run` does, N times with telemetry off and N times on, alternately, the exporter
   already loaded (a process's second and later runs; see 3 for the first). The difference
   of the medians is what a run pays: the bus hands each event to one more subscriber,
   whose thread builds the spans, and the exporter's threads send them while the run goes on.
   Then closer: a Learner-sized run's 100 events (20 turns, 20 tool calls with their
   decisions) published back to back on a real bus, which then closes (the dispatcher's
   close), with the session log alone and with telemetry too; the exporter sends each
   run's spans between runs.
2. **The work itself**: those 100 events through the span builder into the batch
   processor, and their 42 spans encoded and sent, each timed in one thread: the CPU time
   telemetry spends per run, on threads other than the run's.
3. **Once per process**: importing the OpenTelemetry SDK and the OTLP exporter (a fresh
   interpreter), which the exporter's thread does on the first span.
4. **`llmos run`, the whole command**: the same replay as a command, telemetry off and on
   (to the local receiver): the import and the flush at exit included.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from timing import LLMOS, llmos_env, timed, warm_up

from llmos._internal.kernel.bus import EventBus
from llmos._internal.kernel.events import (
    Event,
    ModelTurn,
    RunFinished,
    RunStarted,
    ToolDecision,
    ToolFinished,
    ToolRequested,
)
from llmos._internal.memory.session_log import SessionLog
from llmos._internal.telemetry.content import ContentPolicy
from llmos._internal.telemetry.live import RunTelemetry, Shipper
from llmos._internal.telemetry.otel import Pipeline
from llmos._internal.telemetry.spans import SpanBuilder
from llmos._internal.telemetry_settings import TelemetrySettings, resolve
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool

GOAL = "Write notes.txt and count its lines into count.txt"


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def receiver() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_events(run_id: str, calls: int = 20) -> list[Event]:
    events: list[Event] = [
        RunStarted(
            run_id=run_id,
            goal=GOAL,
            mode="learner",
            project="default",
            workdir="/tmp/w",
            model="claude-sonnet-4-5",
            budget_usd=1.0,
        )
    ]
    usage = {"input_tokens": 1000, "output_tokens": 200}
    for n in range(calls):
        call = f"toolu_{n}"
        events += [
            ModelTurn(
                run_id=run_id,
                message_id=f"msg_{n}",
                model="claude-sonnet-4-5",
                started_at=time.time(),
                usage=usage,
                stop_reason="tool_use",
            ),
            ToolRequested(
                run_id=run_id, tool_use_id=call, tool="Bash", input={"command": f"echo {n}"}
            ),
            ToolDecision(
                run_id=run_id,
                tool_use_id=call,
                tool="Bash",
                allowed=True,
                guard="security",
                rule="none",
                reason="No rule forbids it.",
                decision="allow",
            ),
            ToolFinished(run_id=run_id, tool_use_id=call, tool="Bash", ok=True, summary="exit 0"),
        ]
    events += [
        ToolRequested(run_id=run_id, tool_use_id="last", tool="Write", input={}),
        ToolFinished(run_id=run_id, tool_use_id="last", tool="Write", ok=True, summary="ok"),
        RunFinished(
            run_id=run_id, status="success", cost_usd=0.1, turns=20, tool_calls=21, duration_secs=9
        ),
    ]
    return events


def one_run(folder: Path, shipper: Shipper | None, n: int) -> float:
    run_id = f"bench-{n}"
    events = run_events(run_id)
    started = time.perf_counter()
    bus = EventBus()
    SessionLog(folder, run_id).attach(bus)
    if shipper is not None:
        RunTelemetry(shipper, ContentPolicy(False), None).attach(bus)
    for event in events:
        bus.publish(event)
    bus.close_blocking()
    return time.perf_counter() - started


def in_process(root: Path, rounds: int, endpoint: str) -> None:
    from llmos._internal.engine.types import RunRequest
    from llmos._internal.modes.dispatcher import run_goal_blocking
    from llmos._internal.workspace import Workspace

    ws = Workspace.open(root / "ws")
    on = TelemetrySettings(enabled=True, endpoint=endpoint)
    spaces = {
        "off": ws.with_settings(dataclasses.replace(ws.settings, telemetry=TelemetrySettings())),
        "on": ws.with_settings(dataclasses.replace(ws.settings, telemetry=on)),
    }
    times: dict[str, list[float]] = {"off": [], "on": []}
    for n in range(rounds + 1):
        for label, space in spaces.items():
            started = time.perf_counter()
            summary = run_goal_blocking(space, RunRequest(GOAL))
            elapsed = time.perf_counter() - started
            assert summary.ok and summary.mode == "follower", summary
            if n:  # the first round loads what each path loads
                times[label].append(elapsed)
    off, on_ = statistics.median(times["off"]), statistics.median(times["on"])
    print(f"\n1. A replay in process (`run_goal_blocking`, medians of {rounds}):")
    print("| telemetry | median | min | max |")
    print("| --- | ---: | ---: | ---: |")
    for label, values in times.items():
        print(
            f"| {label} | {statistics.median(values) * 1e3:.1f} ms | {min(values) * 1e3:.1f} ms"
            f" | {max(values) * 1e3:.1f} ms |"
        )
    print(f"telemetry adds {(on_ - off) * 1e3:.2f} ms to a replay")


def on_the_runs_path(rounds: int, endpoint: str) -> None:
    config = resolve(TelemetrySettings(endpoint=endpoint), {})
    shipper = Shipper(config)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one_run(folder, shipper, -1)  # loads the exporter (once per process)
        assert shipper.wait_idle(30)
        without, with_ = [], []
        for n in range(rounds):
            without.append(one_run(folder, None, 2 * n))
            with_.append(one_run(folder, shipper, 2 * n + 1))
            # Runs do not come 12,000 spans a second: the exporter sends this run's spans
            # before the next run starts (untimed; its cost is figure 2).
            shipper.wait_idle(30)
            assert shipper.pipeline is not None and shipper.pipeline.flush(30)
        shipper.close(timeout=10)
    assert shipper.pipeline is not None and shipper.pipeline.exporter.failed == 0
    base, tele = statistics.median(without), statistics.median(with_)
    print(f"\n1b. A run's 100 events back to back, then the bus closed (medians of {rounds}):")
    print("| bus with | median | min | max |")
    print("| --- | ---: | ---: | ---: |")
    for label, values in (("session log", without), ("session log + telemetry", with_)):
        print(
            f"| {label} | {statistics.median(values) * 1e3:.2f} ms | {min(values) * 1e3:.2f} ms"
            f" | {max(values) * 1e3:.2f} ms |"
        )
    print(f"telemetry adds {(tele - base) * 1e3:.2f} ms to a run")
    print(f"spans sent: {shipper.pipeline.exporter.sent}")


def the_work(rounds: int, endpoint: str) -> None:
    config = resolve(TelemetrySettings(endpoint=endpoint), {})
    pipeline = Pipeline(config)
    records = [{**e.to_dict(), "parent_run_id": None} for e in run_events("work")]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        builder = SpanBuilder(pipeline.add, ContentPolicy(False))
        for record in records:
            builder.feed(record)
        builder.finish()
        times.append(time.perf_counter() - started)
        pipeline.flush(30)  # untimed: the batch processor's queue is not the bottleneck here
    spans: list[Any] = []
    builder = SpanBuilder(spans.append, ContentPolicy(False))
    for record in records:
        builder.feed(record)
    builder.finish()
    sending = []
    for _ in range(min(rounds, 50)):
        started = time.perf_counter()
        sent, error = pipeline.send_now(spans)
        sending.append(time.perf_counter() - started)
        assert sent == len(spans), error
    built, sent_ms = statistics.median(times) * 1e3, statistics.median(sending) * 1e3
    print(
        f"\n2. A run's {len(spans)} spans: built and queued {built:.2f} ms, encoded and sent "
        f"{sent_ms:.2f} ms (medians, one thread)"
    )


def import_cost(runs: int) -> None:
    code = (
        "import time; t = time.perf_counter(); import llmos._internal.telemetry.otel; "
        "import opentelemetry.exporter.otlp.proto.http.trace_exporter; "
        "print(time.perf_counter() - t)"
    )
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        times.append(float(out.stdout.strip()))
    print(
        f"\n3. Loading the OpenTelemetry SDK and the OTLP exporter, once per process: "
        f"{statistics.median(times) * 1e3:.0f} ms (median of {runs}, in the exporter's thread)"
    )


def whole_command(runs: int, endpoint: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer() as server:
        root = Path(tmp)
        env = llmos_env(root, **server.client_env(root / "claude"))
        server.script(
            use_tool("Write", file_path="notes.txt", content="one\ntwo\nthree\n"),
            use_tool("Bash", command="wc -l < notes.txt > count.txt"),
            say("done"),
        )
        timed([*LLMOS, "run", "--model", "claude-sonnet-4-5", GOAL], env)
        config = root / "ws" / "config.yaml"
        config.write_text(
            config.read_text() + f"\ntelemetry: {{enabled: false, endpoint: '{endpoint}'}}\n"
        )
        in_process(root, runs * 4, endpoint)
        replay = [*LLMOS, "run", GOAL]
        results = {}
        for label, flag in (("off", "0"), ("on", "1")):
            run_env = {**env, "LLMOS_TELEMETRY": flag}
            warm_up(replay, run_env)
            results[label] = [timed(replay, run_env) for _ in range(runs)]
    print(f"\n4. `llmos run` replaying a 2-step goal, the whole command (medians of {runs}):")
    print("| telemetry | median | min | max |")
    print("| --- | ---: | ---: | ---: |")
    for label, values in results.items():
        print(
            f"| {label} | {statistics.median(values):.3f} s | {min(values):.3f} s"
            f" | {max(values):.3f} s |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    server = receiver()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        whole_command(args.runs, endpoint)  # 1 and 4: a learned goal, replayed
        on_the_runs_path(args.rounds, endpoint)
        the_work(args.rounds, endpoint)
        import_cost(args.runs)
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
