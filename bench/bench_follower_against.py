"""This Follower against another install's (another release, another branch).

    .venv/bin/python bench/bench_follower_against.py OTHER_LLMOS [--runs N]

OTHER_LLMOS is the `llmos` command of another install, for example the first release in a
venv of its own::

    git worktree add /tmp/first <commit> && python3 -m venv /tmp/first/.venv
    /tmp/first/.venv/bin/pip install -e /tmp/first
    .venv/bin/python bench/bench_follower_against.py /tmp/first/.venv/bin/llmos

Each install learns the same 2-step goal (Write + Bash) from the scripted model in a
workspace of its own; then their Follower runs of it alternate (this one, the other, this
one...), so a busy moment of the machine weighs on both alike. Reported: the medians of wall
and CPU time (user + system, the command and its children: the sandbox, the shell) and the
median of the pairs' ratios. The environment is a user's, bytecode cache included
(timing.py). `--setting "sandbox: off"` adds a line to this install's workspace settings (to
compare with an install that has no sandbox, like for like).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from timing import llmos_env

from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool

GOAL = "Write notes.txt and count its lines into count.txt"
THIS = shutil.which("llmos", path=str(Path(__file__).resolve().parents[1] / ".venv" / "bin"))


def timed_run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `argv` (the CPU of the processes it waited for,
    the sandbox and the shell, included), which must replay."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if proc.returncode != 0 or "follower" not in text.lower():
        raise SystemExit(f"{' '.join(argv)} did not replay:\n{text}")
    return wall, usage.ru_utime + usage.ru_stime


def learn(llmos: str, env: dict[str, str], server: ScriptedModelServer) -> None:
    server.script(
        use_tool("Write", file_path="notes.txt", content="one\ntwo\nthree\n"),
        use_tool("Bash", command="wc -l < notes.txt > count.txt"),
        say("done"),
    )
    argv = [llmos, "run", "--mode", "learner", "--model", "claude-sonnet-4-5", GOAL]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{llmos} could not learn the goal:\n{proc.stdout}\n{proc.stderr}")
    server.assert_complete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="the `llmos` command of the other install")
    parser.add_argument("--runs", type=int, default=21, help="pairs of runs (default 21)")
    parser.add_argument(
        "--setting", action="append", default=[], help="a config.yaml line for this install"
    )
    args = parser.parse_args()
    if THIS is None:
        raise SystemExit("run from a clone with its .venv (this install's llmos is not found)")
    installs = {"this": THIS, "other": str(Path(args.other).resolve())}
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer() as server:
        envs = {}
        for name, llmos in installs.items():
            root = Path(tmp) / name
            root.mkdir()
            envs[name] = llmos_env(root, **server.client_env(root / "claude"))
            if name == "this" and args.setting:
                subprocess.run([llmos, "init"], env=envs[name], capture_output=True, check=True)
                with (root / "ws" / "config.yaml").open("a", encoding="utf-8") as config:
                    config.write("\n" + "\n".join(args.setting) + "\n")
            learn(llmos, envs[name], server)
        requests = len(server.requests)
        for name, llmos in installs.items():  # untimed: bytecode and file caches
            timed_run([llmos, "run", GOAL], envs[name])
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in installs}
        for _ in range(args.runs):
            for name, llmos in installs.items():
                samples[name].append(timed_run([llmos, "run", GOAL], envs[name]))
        if len(server.requests) != requests:
            raise SystemExit("a Follower run reached the model")
    print("| Follower `llmos run`, Write + Bash | wall median | CPU median |")
    print("| --- | --- | --- |")
    for name, llmos in installs.items():
        wall = statistics.median(w for w, _ in samples[name])
        cpu = statistics.median(c for _, c in samples[name])
        print(f"| {name} ({llmos}) | {wall:.3f} s | {cpu:.3f} s |")
    pairs = list(zip(samples["this"], samples["other"], strict=True))
    wall_ratio = statistics.median(a[0] / b[0] for a, b in pairs)
    cpu_ratio = statistics.median(a[1] / b[1] for a, b in pairs)
    print(f"\nthis / other, median of {args.runs} pairs:", end=" ")
    print(f"wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f}")
    print(f"(load average at the end: {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
