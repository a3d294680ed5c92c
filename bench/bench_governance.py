"""What governance costs per tool call, and how well it types steps.

    .venv/bin/python bench/bench_governance.py [--runs N] [--steps N]

1. Per tool call, in a warm process, a live run's governance hooks as the CLI calls them:
   `before_call` (the PreToolUse hook: every checker over the history so far) and
   `after_call` (the step joins the history, its step scores, the routers), under a policy
   with one checker of every shipped kind, two routes and the shipped evaluators. Each run
   is N tool calls drawn from the labelled corpus (shell commands) and file tools; the
   commands are classified afresh in every run (the type cache is cleared), as a real run
   meets new commands. Median, 90th and 99th percentile, and the slowest call; also the
   same late in long runs, to show the cost does not grow with the history.
2. Step typing alone (`classify_command`, cold cache) per command.
3. The labelled corpus and the held-out set: how many commands get their labelled type.
4. Import cost in a fresh interpreter with the bytecode cache: what a replay imports of
   governance, and what a Learner run imports.

Prints Markdown tables for README's Performance section.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmos._internal.engine.governed.session import GovernanceSession
from llmos._internal.governance.kinds import classify_command
from llmos._internal.governance.policy import parse_section
from llmos._internal.kernel.bus import EventBus
from llmos._internal.kernel.run_context import RunContext

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "governance"
POLICY = {
    "checkers": [
        {"require": "verify after write"},
        {"require": "read before edit"},
        {"forbid": "network after credential-read"},
        {"forbid": "git push before verify passed"},
        {"max": {"write": 500, "network": 500}},
        "stop after 3 failures of the same command",
    ],
    "routes": [
        {"when": "the same command failed 50 times", "then": "stop"},
        {"when": "99% of the budget spent before verify passed", "then": "stop"},
    ],
}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _calls(commands: list[str], count: int, rng: random.Random) -> list[tuple[str, dict]]:
    calls: list[tuple[str, dict]] = []
    for i in range(count):
        pick = rng.random()
        if pick < 0.6:
            calls.append(("Bash", {"command": rng.choice(commands)}))
        elif pick < 0.8:
            calls.append(("Read", {"file_path": f"src/mod{i % 40}.py"}))
        elif pick < 0.9:
            calls.append(("Write", {"file_path": f"src/new{i}.py", "content": "x = 1\n" * 20}))
        else:
            calls.append(("Edit", {"file_path": f"src/mod{i % 40}.py", "old_string": "a",
                                   "new_string": "b\nc"}))  # fmt: skip
    return calls


async def _one_run(
    workdir: Path, calls: list[tuple[str, dict]], rng: random.Random
) -> tuple[list[float], list[float]]:
    bus = EventBus()
    ctx = RunContext(
        goal="bench", project="default", workdir=workdir, mode="learner", budget_usd=5.0, bus=bus
    )
    session = GovernanceSession(ctx, parse_section(POLICY))
    before: list[float] = []
    after: list[float] = []
    for number, (tool, tool_input) in enumerate(calls):
        hook_input = {"tool_name": tool, "tool_input": tool_input, "tool_use_id": f"t{number}"}
        started = time.perf_counter()
        verdict = await session.before_call(hook_input)
        before.append(time.perf_counter() - started)
        if verdict:
            continue  # denied: never ran
        started = time.perf_counter()
        await session.after_call(hook_input, ok=rng.random() > 0.1)
        after.append(time.perf_counter() - started)
    await bus.close()
    return before, after


def bench_hooks(runs: int, steps: int) -> None:
    commands = [json.loads(line)["command"] for line in (DATA / "step_types.jsonl").open()]
    rng = random.Random(7)
    before: list[float] = []
    after: list[float] = []
    late: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "src").mkdir()
        for i in range(40):
            (workdir / "src" / f"mod{i}.py").write_text("a = 1\n")
        for _ in range(runs):
            classify_command.cache_clear()
            b, a = asyncio.run(_one_run(workdir, _calls(commands, steps, rng), rng))
            before += b
            after += a
            late += b[-max(1, len(b) // 10) :]
    print(f"\nGovernance hooks per tool call ({runs} runs of {steps} calls, warm process):\n")
    print("| hook | n | median ms | p90 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, values in (
        ("before a call (checkers)", before),
        ("before a call, last 10% of each run", late),
        ("after a call (history, scores, routers)", after),
    ):
        ms = [v * 1000 for v in values]
        print(
            f"| {name} | {len(ms)} | {statistics.median(ms):.3f} | {_percentile(ms, 0.9):.3f} "
            f"| {_percentile(ms, 0.99):.3f} | {max(ms):.2f} |"
        )


def bench_typing() -> None:
    commands = [json.loads(line)["command"] for line in (DATA / "step_types.jsonl").open()]
    times: list[float] = []
    for _ in range(20):
        classify_command.cache_clear()
        for command in commands:
            started = time.perf_counter()
            classify_command(command)
            times.append(time.perf_counter() - started)
    ms = [t * 1000 for t in times]
    print(
        f"\nStep typing (`classify_command`, cold cache): {len(ms)} commands, median "
        f"{statistics.median(ms):.3f} ms, p99 {_percentile(ms, 0.99):.3f} ms"
    )


def bench_accuracy() -> None:
    print("\n| set | commands | typed as labelled |")
    print("| --- | ---: | ---: |")
    for name in ("step_types.jsonl", "holdout.jsonl"):
        cases = [json.loads(line) for line in (DATA / name).open()]
        right = [c for c in cases if classify_command(c["command"]).type == c["type"]]
        missed = [c["command"] for c in cases if c not in right]
        share = 100 * len(right) / len(cases)
        print(f"| {name} | {len(cases)} | {len(right)} ({share:.1f}%) |")
        for command in missed:
            print(f"|  missed: `{command}` | | |")


def bench_imports() -> None:
    """The import time of governance's own modules (`-X importtime` self times, summed), in a
    fresh interpreter with the bytecode cache: on a replay's path, and for a Learner run."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print("\n| governance modules imported (fresh interpreter, bytecode cache) | median ms |")
    print("| --- | ---: |")
    for label, mod in (
        (
            "by a replay (`llmos._internal.modes.dispatcher`: current, kinds, replay)",
            "llmos._internal.modes.dispatcher",
        ),
        (
            "by a Learner run (session, policy, checkers, routers...)",
            "llmos._internal.engine.governed.session",
        ),
    ):
        samples = []
        for _ in range(7):
            subprocess.run([sys.executable, "-c", f"import {mod}"], env=env, check=True)
            out = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", f"import {mod}"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            own = [
                int(line.split("|")[0].split(":")[1])
                for line in out.stderr.splitlines()
                if "llmos._internal.governance" in line or "llmos._internal.engine.governed" in line
            ]
            samples.append(sum(own) / 1000)
        print(f"| {label} | {statistics.median(samples):.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    bench_hooks(args.runs, args.steps)
    bench_typing()
    bench_accuracy()
    bench_imports()


if __name__ == "__main__":
    main()
