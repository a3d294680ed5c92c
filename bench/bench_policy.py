"""How fast the security policy decides, and how well, on the shell-command corpus.

    .venv/bin/python bench/bench_policy.py [--rounds N] [--corpus PATH] [--holdout PATH]

1. Decision time per command (`check_command`, the shipped policy, a warm process): every
   command of the corpus (the repository's `tests/data/security/commands.jsonl` by default,
   labelled dangerous or benign; data only, never executed), decided N times; the median,
   the 90th and 99th percentiles and the slowest command. Also the same with a workspace
   policy file of a few dozen globs (allow paths, deny/ask commands), to show what matching
   lists costs.
2. Decision time per tool call for the file and reading tools (Write, Read, Grep, Glob).
3. The scores of the corpus and of the held-out set (`tests/data/security/holdout.jsonl`):
   dangerous commands not allowed (deny or ask) and benign ones not allowed, with the misses,
   and how many decisions are asks.
4. The cost of `import llmos._internal.security` in a fresh interpreter (Follower runs pay it).

Prints a Markdown table for README's Performance section.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from llmos._internal.security import check_command, check_tool_call, load_policy
from llmos._internal.security.policy import Policy

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "security"
CORPUS = DATA / "commands.jsonl"
HOLDOUT = DATA / "holdout.jsonl"
_WORKSPACE_POLICY = """
allow:
  paths: ['~/notes', '~/scratch/**', '/srv/data/*.csv']
  commands: ['git push --force origin my-*', 'eval "$(pyenv init -)"']
ask:
  commands: [{ask}]
deny:
  commands: [{deny}]
  paths: ['~/Documents/**', '.git/hooks/**']
"""


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _time_commands(
    commands: list[str], workdir: Path, home: Path, policy: Policy | None, rounds: int
) -> tuple[list[float], str]:
    for command in commands[:20]:  # warm caches (zones, compiled globs, the default policy)
        check_command(command, workdir=workdir, home=home, policy=policy)
    times: list[float] = []
    slowest, worst = "", 0.0
    for _ in range(rounds):
        for command in commands:
            started = time.perf_counter()
            check_command(command, workdir=workdir, home=home, policy=policy)
            elapsed = time.perf_counter() - started
            times.append(elapsed)
            if elapsed > worst:
                worst, slowest = elapsed, command
    return times, slowest


def _row(name: str, times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    median, p90, p99 = statistics.median(ms), _percentile(ms, 0.9), _percentile(ms, 0.99)
    return f"| {name} | {len(ms)} | {median:.3f} | {p90:.3f} | {p99:.3f} | {max(ms):.2f} |"


def _import_cost(runs: int = 7) -> float:
    """Median time of `import llmos._internal.security` in a fresh interpreter, with Python's
    bytecode cache as a user has it (see timing.py); the first, untimed run writes the cache."""
    code = "import time; t = time.perf_counter(); import llmos._internal.security; "
    code += "print(time.perf_counter() - t)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    samples = []
    for _ in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        samples.append(float(out.stdout))
    return statistics.median(samples[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="passes over the corpus")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--holdout", type=Path, default=HOLDOUT)
    args = parser.parse_args()
    for path in (args.corpus, args.holdout):
        if not path.exists():
            raise SystemExit(f"error: no labelled commands at {path}")
    rows = _rows(args.corpus)
    commands = [str(r["cmd"]) for r in rows]

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home" / "dev"
        ws = home / ".llmos"
        workdir = ws / "projects" / "default" / "output"
        workdir.mkdir(parents=True)
        asks = ", ".join(f"'tool{k} deploy*'" for k in range(15))
        denies = ", ".join(f"'legacy{k} *'" for k in range(15))
        (ws / "policy.yaml").write_text(_WORKSPACE_POLICY.format(ask=asks, deny=denies))
        tuned = load_policy(ws, "default")

        shipped, slowest = _time_commands(commands, workdir, home, None, args.rounds)
        with_files, _ = _time_commands(commands, workdir, home, tuned, args.rounds)
        calls = [
            ("Write", {"file_path": "src/app.py", "content": "x"}),
            ("Write", {"file_path": str(home / ".bashrc"), "content": "x"}),
            ("Read", {"file_path": str(home / ".ssh" / "id_rsa")}),
            ("Read", {"file_path": "README.md"}),
            ("Grep", {"pattern": "TODO", "path": "src"}),
            ("Glob", {"pattern": "**/*.py"}),
        ]
        tool_times = []
        for _ in range(args.rounds * 50):
            for tool, tool_input in calls:
                started = time.perf_counter()
                check_tool_call(tool, tool_input, workdir=workdir, home=home, policy=tuned)
                tool_times.append(time.perf_counter() - started)

        scores = [
            _scores(path.name, _rows(path), workdir, home) for path in (args.corpus, args.holdout)
        ]

    print("| decisions | n | median ms | p90 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(_row("shell command, shipped policy", shipped))
    print(_row("shell command, + a workspace policy.yaml (~40 globs)", with_files))
    print(_row("Write / Read / Grep / Glob call", tool_times))
    print()
    print(f"slowest command: {slowest[:100]!r}")
    print(
        f"`import llmos._internal.security` in a fresh interpreter: {_import_cost() * 1000:.0f} ms"
    )
    for lines in scores:
        print("\n".join(lines))


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _scores(name: str, rows: list[dict[str, object]], workdir: Path, home: Path) -> list[str]:
    """The score lines of one labelled set: blocked shares, decisions, what went wrong."""
    decisions = {
        str(r["cmd"]): check_command(str(r["cmd"]), workdir=workdir, home=home) for r in rows
    }
    dangerous = [r for r in rows if r["dangerous"]]
    benign = [r for r in rows if not r["dangerous"]]
    missed = [r for r in dangerous if decisions[str(r["cmd"])].allowed]
    blocked = [r for r in benign if not decisions[str(r["cmd"])].allowed]
    actions = Counter(d.action for d in decisions.values())
    lines = [
        f"{name}: {len(dangerous)} dangerous, {len(benign)} benign; dangerous not allowed "
        f"{1 - len(missed) / len(dangerous):.1%}, benign not allowed "
        f"{len(blocked) / len(benign):.1%}; decisions: {dict(actions)}"
    ]
    lines += [f"  missed [{r['category']}] {r['cmd']!r}" for r in missed]
    lines += [
        f"  blocked [{r['category']}] {r['cmd']!r} -> {decisions[str(r['cmd'])].rule}"
        for r in blocked
    ]
    return lines


if __name__ == "__main__":
    main()
