"""How long llmos takes to decide how a goal runs, as the trace library grows.

    .venv/bin/python bench/bench_matching.py [--sizes 1000,10000,100000] [--lookups 200]

A library of N traces, each learned with two slots and one alias (written as files, then
indexed: the build time is reported), is asked three kinds of goal, each a random learned
trace's:

- exact: its own goal, as learned (`TraceLibrary.find`: one B-tree lookup of the goal's shape,
  then the templates of that shape checked token by token);
- template: its goal with other values in the slots;
- alias: its alias's wording, with other values.

For each, the median and 95th percentile of `find` over the lookups, and of the whole mode
decision (`choose_mode`: the lookup, the trace read from its file, the goal's values put in,
the replay plan and the preconditions), which is what a `llmos run` pays before its first
step. Prints a Markdown table for README's Performance section.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from llmos._internal.engine.types import RunRequest
from llmos._internal.memory.library import TraceLibrary
from llmos._internal.memory.template import Alias, Slot
from llmos._internal.memory.trace import Trace, TraceStep, render
from llmos._internal.modes.choice import choose_mode
from llmos._internal.workspace import Workspace

VERBS = "build test deploy clean write read count list sort merge copy move parse check".split()
NOUNS = "site docs wheel notes logs cache images tests report data config index".split()


def _trace(rng: random.Random, n: int) -> Trace:
    verb, noun = rng.choice(VERBS), rng.choice(NOUNS)
    src, dst = f"{noun}{n}.txt", f"{noun}{n}.out"
    return Trace(
        goal_text=f"{verb} the {noun} from {src} into {dst} for batch {n}",
        steps=(TraceStep("Bash", {"command": f"{verb}-tool {src} > {dst}"}),),
        slots=(Slot("file", src), Slot("file", dst)),
        aliases=(Alias(f"please {verb} {src} as {dst} for batch {n}", (src, dst)),),
    )


def _timed(call: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _row(size: int, kind: str, finds: list[float], decisions: list[float]) -> str:
    def ms(samples: list[float], q: float) -> str:
        samples = sorted(samples)
        value = statistics.median(samples) if q == 0.5 else samples[int(len(samples) * q)]
        return f"{value * 1000:.2f} ms"

    return (
        f"| {size:,} | {kind} | {ms(finds, 0.5)} | {ms(finds, 0.95)} | {ms(decisions, 0.5)} "
        f"| {ms(decisions, 0.95)} |"
    )


def measure(size: int, lookups: int) -> tuple[float, list[str]]:
    rng = random.Random(size)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Path(tmp) / "ws")
        traces = [_trace(rng, n) for n in range(size)]
        for trace in traces:
            (ws.traces_dir / f"{trace.goal_signature}.md").write_text(render(trace))
        started = time.perf_counter()
        library = TraceLibrary(ws)  # indexes every file found
        build = time.perf_counter() - started
        rows = []
        for kind in ("exact", "template", "alias"):
            finds, decisions = [], []
            for trace in rng.sample(traces, lookups):
                goal = trace.goal_text
                if kind != "exact":
                    wording = goal if kind == "template" else trace.aliases[0].goal
                    goal = wording.replace(trace.slots[0].value, "fresh.txt").replace(
                        trace.slots[1].value, "fresh.out"
                    )
                took, found = _timed(lambda g=goal: library.find(g))
                assert isinstance(found, list) and found[0].kind == kind, (kind, goal, found)
                finds.append(took)
                request = RunRequest(goal=goal)
                took, choice = _timed(lambda r=request: choose_mode(r, library, ws))
                assert getattr(choice, "mode", None) == "follower", choice
                decisions.append(took)
            rows.append(_row(size, kind, finds, decisions))
        library.close()
    return build, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--lookups", type=int, default=200)
    args = parser.parse_args()
    print("| traces | match | lookup median | lookup p95 | mode decision median | p95 |")
    print("| --- | --- | --- | --- | --- | --- |")
    builds = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        build, rows = measure(size, args.lookups)
        builds.append(f"{size:,}: {build:.1f} s")
        print("\n".join(rows))
    print("\nIndex built from the files in " + "; ".join(builds) + ".")


if __name__ == "__main__":
    main()
