"""Follower against Learner.

    .venv/bin/python bench/bench_follower.py [--runs N]

Wall time of the whole `llmos run` command for a learned 2-step goal (Write + Bash): in
Learner mode against the scripted model answering instantly (so only llmos, the SDK and the
CLI cost time), and in Follower mode (replay, no model). Medians of N runs, measured in the
same process, and their ratio; the environment is a user's, bytecode cache included (see
timing.py). How the lookup grows with the library: bench_matching.py.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from timing import LLMOS, llmos_env, timed, warm_up

from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    follower_vs_learner(args.runs)


if __name__ == "__main__":
    main()
