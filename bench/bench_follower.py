"""Follower against Learner, and trace lookup as the library grows.

    .venv/bin/python bench/bench_follower.py [--runs N] [--sizes 1000,10000,100000]

1. Wall time of the whole `llmos run` command for a learned 2-step goal (Write + Bash):
   in Learner mode against the scripted model answering instantly (so only llmos, the SDK
   and the CLI cost time), and in Follower mode (replay, no model). Medians of N runs,
   measured in the same process, and their ratio; the environment is a user's, bytecode
   cache included (see timing.py).
2. Exact-match lookup time (`TraceLibrary.matches`, the dispatcher's question) with 1k, 10k
   and 100k traces in the workspace; the median of 200 lookups of random learned goals.
   Also how long building the index from the files took.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from timing import LLMOS, llmos_env, timed, warm_up

from llmos.memory.library import TraceLibrary
from llmos.memory.trace import Trace, TraceStep, render
from llmos.testing.scripted_model import ScriptedModelServer, say, use_tool
from llmos.workspace import Workspace

GOAL = "Write notes.txt and count its lines into count.txt"
WORDS = "build test deploy clean write read count list sort merge copy move parse check".split()
NOUNS = "site docs wheel notes logs cache images tests report data config index".split()


def follower_vs_learner(runs: int) -> None:
    run = [*LLMOS, "run"]
    learn = [*run, "--mode", "learner", "--model", "claude-sonnet-4-5", GOAL]
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer() as server:
        root = Path(tmp)
        env = llmos_env(root, **server.client_env(root / "claude"))
        learner, follower = [], []
        for n in range(runs + 1):  # the first, untimed, warms up
            server.script(
                use_tool("Write", file_path="notes.txt", content="one\ntwo\nthree\n"),
                use_tool("Bash", command="wc -l < notes.txt > count.txt"),
                say("done"),
            )
            if n == 0:
                warm_up(learn, env)
            else:
                learner.append(timed(learn, env))
        server.assert_complete()
        requests = len(server.requests)
        warm_up([*run, GOAL], env)
        for _ in range(runs):
            follower.append(timed([*run, GOAL], env))
        assert len(server.requests) == requests, "a Follower run reached the model"
    lm, fm = statistics.median(learner), statistics.median(follower)
    print("| `llmos run`, Write + Bash | median | min | max |")
    print("| --- | --- | --- | --- |")
    for name, samples in (
        ("Learner (scripted model, no latency)", learner),
        ("Follower (replay, no model)", follower),
    ):
        median, low, high = statistics.median(samples), min(samples), max(samples)
        print(f"| {name} | {median:.3f} s | {low:.3f} s | {high:.3f} s |")
    print(f"\nFollower is {lm / fm:.1f}x faster ({runs} runs each).\n")


def _goal(rng: random.Random, n: int) -> str:
    return f"{rng.choice(WORDS)} the {rng.choice(NOUNS)} {rng.choice(NOUNS)} number {n}"


def lookups(sizes: list[int]) -> None:
    print("| traces | index build | lookup median | lookup p95 |")
    print("| --- | --- | --- | --- |")
    for size in sizes:
        rng = random.Random(size)
        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace.open(Path(tmp) / "ws")
            goals = [_goal(rng, n) for n in range(size)]
            step = (TraceStep("Bash", {"command": "true"}),)
            for goal in goals:
                trace = Trace(goal_text=goal, steps=step)
                (ws.traces_dir / f"{trace.goal_signature}.md").write_text(render(trace))
            started = time.perf_counter()
            library = TraceLibrary(ws)  # indexes every file found
            build = time.perf_counter() - started
            times = []
            for goal in rng.sample(goals, 200):
                started = time.perf_counter()
                best = library.matches(goal)[0]
                times.append(time.perf_counter() - started)
                assert best.confidence == 1.0
            library.close()
        times.sort()
        p95 = times[int(len(times) * 0.95)]
        median_ms = statistics.median(times) * 1000
        print(f"| {size:,} | {build:.1f} s | {median_ms:.2f} ms | {p95 * 1000:.2f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    follower_vs_learner(args.runs)
    lookups([int(s) for s in args.sizes.split(",") if s])


if __name__ == "__main__":
    main()
