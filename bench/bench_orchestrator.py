"""Orchestrator mode: do independent subtasks really run at the same time, and does a second
run of the same orchestration reuse what the first learned?

    .venv/bin/python bench/bench_orchestrator.py [--delays 1,3] [--runs N]

The scripted model waits a fixed delay before every answer (`Turn(delay=...)`), like a real
model's latency; each subtask takes two turns (Write a file, then report). For each delay,
measured with `llmos run --mode orchestrator --json` in a child process (medians of N runs):

1. a plan of 1 subtask: the time of one subtask (the run's execution phase) and the whole
   run (planning + subtask + synthesis);
2. a plan of 4 independent subtasks with `--parallel 4`, and for contrast `--parallel 1`;
   the claim checked, with the largest delay: 4 in parallel take <= 1.5x the time of one.
   Each subtask is a Claude Code CLI process (~0.7 s of CPU): on a 2-core machine four
   starting at once cost about a second more than one, a fixed cost that weighs more when
   the model answers fast (the smaller delay's rows show it);
3. a second run of the 4-subtask orchestration: its wall time and how many model requests
   it made (the claim checked: none; plan, subtasks and answer are all reused).

Prints a Markdown table for README's Performance section; exits 1 if a claim fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from timing import LLMOS, llmos_env

from llmos._internal.testing.conversations import Conversations
from llmos._internal.testing.scripted_model import ScriptedModelServer, Turn, say, use_tool

MODEL = "claude-sonnet-4-5"
PLANNER = "You are the planner of llmos"
SYNTHESIS = "You write the final answer of an llmos orchestration"


def _router(goal_tag: str, count: int, delay: float) -> Conversations:
    subtasks = [
        {
            "id": f"part{i}",
            "goal": f"Write {goal_tag}-part{i}.txt with its number",
            "agent": "coder",
            "depends_on": [],
            "budget_share": round(0.9 / count, 4),
        }
        for i in range(count)
    ]
    router = Conversations()
    router.on(
        None,
        Turn(tool_calls=use_tool("StructuredOutput", subtasks=subtasks).tool_calls, delay=delay),
        system=PLANNER,
    )
    router.on(None, say("All parts written.", delay=delay), system=SYNTHESIS)
    for i, item in enumerate(subtasks):
        write = use_tool("Write", file_path=f"{goal_tag}-part{i}.txt", content=f"{i}\n")
        router.on(
            item["goal"],
            Turn(tool_calls=write.tool_calls, delay=delay),
            say(f"part {i} written", delay=delay),
        )
    return router


def _run(env: dict[str, str], goal: str, parallel: int) -> tuple[float, dict[str, Any]]:
    argv = [*LLMOS, "run", "--json", "--model", MODEL]
    argv += ["--mode", "orchestrator", "--parallel", str(parallel), goal]
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{goal!r} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="1,3", help="model latencies per turn (s)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    delays = [float(d) for d in args.delays.split(",") if d]
    print(f"Medians of {args.runs} runs.\n")
    print("| model latency | orchestration | subtasks phase | whole run |")
    print("| --- | --- | --- | --- |")
    ratios, requests = [], 0
    for delay in delays:
        ratio, made = _measure(delay, args.runs)
        ratios.append(ratio)
        requests = max(requests, made)
    print()
    for delay, ratio in zip(delays, ratios, strict=True):
        print(f"- {delay:g} s a turn: 4 subtasks in parallel take {ratio:.2f}x the time of one.")
    print(f"- the second runs made {requests} model requests.")
    failed = ratios[-1] > 1.5 or requests != 0
    if failed:
        print("CLAIM FAILED (<= 1.5x at the largest delay, 0 requests)", file=sys.stderr)
    sys.exit(1 if failed else 0)


def _measure(delay: float, runs: int) -> tuple[float, int]:
    """Print this delay's rows; return the 4-vs-1 ratio and the replays' model requests."""
    rows: dict[str, list[tuple[float, float]]] = {}
    replays: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer() as server:
        root = Path(tmp)
        env = llmos_env(root, **server.client_env(root / "claude"))
        for run in range(runs):
            for name, count, parallel in (
                ("1 subtask", 1, 1),
                ("4 subtasks, --parallel 4", 4, 4),
                ("4 subtasks, --parallel 1", 4, 1),
            ):
                tag = f"r{run}-{count}x{parallel}"
                server.reset()
                server.respond(_router(tag, count, delay))
                wall, summary = _run(env, f"Write the {tag} parts", parallel)
                execution = summary["orchestration"]["execution_secs"]
                rows.setdefault(name, []).append((execution, wall))
                if count == 4 and parallel == 4:
                    server.reset()  # nothing answers now: a request would fail the run
                    again, replayed = _run(env, f"Write the {tag} parts", parallel)
                    modes = {s["mode"] for s in replayed["orchestration"]["subtasks"]}
                    assert modes == {"follower"}, modes
                    replays.append((again, len(server.message_requests)))

    def median(name: str, index: int) -> float:
        return statistics.median(sample[index] for sample in rows[name])

    for name in rows:
        print(f"| {delay:g} s | {name} | {median(name, 0):.2f} s | {median(name, 1):.2f} s |")
    wall = statistics.median(r[0] for r in replays)
    made = max(r[1] for r in replays)
    print(f"| {delay:g} s | second run of the 4 (replayed) | - | {wall:.2f} s, {made} requests |")
    return median("4 subtasks, --parallel 4", 0) / median("1 subtask", 0), made


if __name__ == "__main__":
    main()
