"""What the sandbox costs a replayed command.

    .venv/bin/python bench/bench_sandbox.py [--runs N]

Runs each command as Follower's Bash step does (`subprocess.run` of the argv from
`sandboxed_argv`, output captured, in a working folder) N times without the sandbox and N
times inside llmos's bubblewrap profile (the profile of a real workspace: credential
folders hidden, a private temp folder, the limits), alternating, and reports the medians and
the difference. Also the canary (`replay_sandbox`) and what a replay pays for it (its
remembered result, `replay_sandbox_remembered`), and the whole `llmos run` of a learned
two-step goal (Write + Bash) with `sandbox: auto` and `sandbox: off`.

Prints a Markdown table for README's Performance section.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmos._internal.memory.trace import Trace, TraceStep, render
from llmos._internal.security.sandbox import build_profile, sandbox_env, sandboxed_argv
from llmos._internal.security.sandbox_probe import replay_sandbox, replay_sandbox_remembered
from llmos._internal.security.sandbox_run import in_use

COMMANDS = {
    "`true`": "true",
    "a small command (`wc -l` of a file into another)": "wc -l < notes.txt > count.txt",
}


def _time(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, check=True, stdin=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def bench_commands(runs: int, root: Path) -> list[tuple[str, float, float]]:
    work = root / "work"
    work.mkdir()
    (work / "notes.txt").write_text("one\ntwo\nthree\n")
    profile = build_profile(work, workspace=root)
    rows = []
    with in_use(profile) as active:
        assert active is not None
        for name, command in COMMANDS.items():
            plain, boxed = [], []
            for _ in range(3):  # warm the page cache
                _time(sandboxed_argv(command, work, active), work, sandbox_env(os.environ, active))
            for _ in range(runs):
                plain.append(_time(sandboxed_argv(command, work, None), work, dict(os.environ)))
                env = sandbox_env(os.environ, active)
                boxed.append(_time(sandboxed_argv(command, work, active), work, env))
            rows.append((name, statistics.median(plain), statistics.median(boxed)))
    return rows


def bench_canary(runs: int) -> tuple[float, float]:
    """The canary, and the lookup of its remembered result (what a replay pays)."""
    fresh, remembered = [], []
    for _ in range(runs):
        replay_sandbox.cache_clear()
        started = time.perf_counter()
        assert replay_sandbox().ok
        fresh.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert replay_sandbox_remembered().ok
        remembered.append(time.perf_counter() - started)
    return statistics.median(fresh), statistics.median(remembered)


def bench_runs(runs: int, root: Path) -> dict[str, float]:
    """`llmos run` of a learned Write + Bash goal, with and without the sandbox."""
    trace = Trace(
        goal_text="Write notes and count them",
        steps=(
            TraceStep("Write", {"file_path": "notes.txt", "content": "one\ntwo\n"}),
            TraceStep(
                "Bash", {"command": "wc -l < notes.txt > count.txt"}, checks={"exit_code": 0}
            ),
        ),
        result="Counted.",
    )
    found = {}
    for setting in ("auto", "off"):
        ws = root / f"ws-{setting}"
        (ws / "memories" / "traces").mkdir(parents=True)
        # In the library before trust was kept: adopted as learned on first use.
        (ws / "memories" / "traces" / f"{trace.goal_signature}.md").write_text(render(trace))
        env = {**os.environ, "LLMOS_HOME": str(ws), "HOME": str(root / "home")}
        llmos = [sys.executable, "-m", "llmos"]
        subprocess.run([*llmos, "status"], env=env, capture_output=True, check=True)
        with (ws / "config.yaml").open("a") as config:
            config.write(f"\nsandbox: {setting}\n")
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            proc = subprocess.run(
                [*llmos, "run", "--json", trace.goal_text], env=env, capture_output=True, text=True
            )
            times.append(time.perf_counter() - started)
            summary = json.loads(proc.stdout)
            assert summary["mode"] == "follower" and summary["status"] == "success", summary
        found[setting] = statistics.median(times)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=51)
    args = parser.parse_args()
    probe = replay_sandbox()
    if not probe.ok:
        sys.exit(f"no sandbox on this machine: {probe.detail}")
    root = Path(tempfile.mkdtemp(prefix="llmos-bench-sandbox-"))
    (root / "home").mkdir()
    try:
        rows = bench_commands(args.runs, root)
        canary = bench_canary(max(5, args.runs // 5))
        runs = bench_runs(max(5, args.runs // 5), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{probe.detail}; medians of {args.runs} runs\n")
    print("| replayed command | without sandbox | in bubblewrap | added |")
    print("| --- | ---: | ---: | ---: |")
    for name, plain, boxed in rows:
        added = (boxed - plain) * 1000
        print(f"| {name} | {plain * 1000:.1f} ms | {boxed * 1000:.1f} ms | {added:.1f} ms |")
    print(
        f"\nthe canary: {canary[0] * 1000:.1f} ms; a replay looks up its remembered result: "
        f"{canary[1] * 1000:.2f} ms"
    )
    print(
        f"`llmos run` of a learned Write + Bash goal: {runs['auto'] * 1000:.0f} ms with the "
        f"sandbox, {runs['off'] * 1000:.0f} ms with `sandbox: off`"
    )


if __name__ == "__main__":
    main()
