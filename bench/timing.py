"""What the command-line benchmarks share: the environment a timed `llmos` runs in, and how
one run is timed.

A timed run sees the environment a user's shell gives it, with one exception made explicit:
Python caches each module's compiled bytecode (`__pycache__`), unless PYTHONDONTWRITEBYTECODE
is set, as it is on some sandboxes and CI images. Without that cache every start compiles
llmos from source again (about 0.1 s more per command on the development machine), which no
installed copy of llmos pays. So the variable is dropped for the timed runs, and `warm_up`
runs the command once, untimed, to write the cache and fill the OS's file cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

LLMOS = [sys.executable, "-m", "llmos"]


def llmos_env(root: Path, **extra: str) -> dict[str, str]:
    """A user's environment, with HOME and the workspace inside `root`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(HOME=str(root), LLMOS_HOME=str(root / "ws"), **extra)
    return env


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one run of `argv`, which must succeed."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def warm_up(argv: list[str], env: dict[str, str]) -> None:
    timed(argv, env)
