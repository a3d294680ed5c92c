"""`llmos demo` works offline on a fresh machine, as the README promises."""

from __future__ import annotations

from conftest import Sandbox, run_llmos


def test_demo_runs_offline_and_shows_learning_and_a_denial(sandbox: Sandbox) -> None:
    demo_ws = sandbox.root / "demo"
    proc = run_llmos(sandbox, "demo", "--workspace", str(demo_ws))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "scripted" in out
    assert "denied by security" in out
    assert "0 1 1 2 3 5 8 13 21 34" in out  # fib.py really ran: its output came back
    assert (demo_ws / "projects" / "default" / "output" / "fib.py").is_file()
    # Only the learned goal left a trace: the refused one did nothing worth replaying.
    assert len(list((demo_ws / "memories" / "traces").glob("*.md"))) == 1
    assert "## Execution Steps" in out
    assert "follower mode" in out  # the same goal again: replayed
    assert "model requests during the replay: 0" in out
