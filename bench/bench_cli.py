"""Wall time of the `llmos` command line: start-up (`--help`, `status`) and a Learner run
against the scripted model answering instantly (so the figure is llmos + SDK + CLI
overhead, not model latency).

    .venv/bin/python bench/bench_cli.py [--runs N]

Prints medians (and min/max) of N runs of each, measured in the same process on the same
machine, so their ratios are meaningful even on a noisy shared machine. The environment is a
user's, bytecode cache included (see timing.py).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from timing import LLMOS, llmos_env, timed, warm_up

from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool


def _row(name: str, samples: list[float]) -> str:
    return (
        f"| {name} | {statistics.median(samples):.3f} s | {min(samples):.3f} s "
        f"| {max(samples):.3f} s | {len(samples)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    llmos = LLMOS
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer() as server:
        root = Path(tmp)
        env = llmos_env(root, **server.client_env(root / "claude"))
        warm_up([*llmos, "status"], env)
        help_times = [timed([*llmos, "--help"], env) for _ in range(args.runs)]
        status_times = [timed([*llmos, "status"], env) for _ in range(args.runs)]
        learner_times = []
        for n in range(args.runs):
            server.script(
                use_tool("Write", file_path=f"hello{n}.py", content="print('hi')\n"),
                use_tool("Bash", command=f"python3 hello{n}.py"),
                say("done"),
            )
            goal = f"write hello{n}.py and run it"
            learner_times.append(
                timed(
                    [*llmos, "run", "--mode", "learner", "--model", "claude-sonnet-4-5", goal], env
                )
            )
        server.assert_complete()
    print("| command | median | min | max | runs |")
    print("| --- | --- | --- | --- | --- |")
    print(_row("`llmos --help`", help_times))
    print(_row("`llmos status`", status_times))
    print(_row("`llmos run` Learner, Write + Bash, instant scripted model", learner_times))


if __name__ == "__main__":
    main()
