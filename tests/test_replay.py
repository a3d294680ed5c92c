"""Replay of single steps: what each executor does, and every way a step can diverge."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from llmos._internal.memory.trace import Trace, TraceStep
from llmos._internal.replay.checkpoint import Checkpoint
from llmos._internal.replay.plan import plan_replay
from llmos._internal.replay.steps import Divergence, StepDone
from llmos._internal.replay.steps import execute as execute_step


def execute(step: TraceStep, workdir: Path, **limits: float) -> StepDone:
    checkpoint = Checkpoint(workdir.parent / "undo", workdir, "run", "goal", "follower")
    return execute_step(step, workdir, checkpoint, **limits)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_write_creates_folders_and_checks_the_hash(tmp_path: Path) -> None:
    step = TraceStep(
        "Write",
        {"file_path": "src/a.py", "content": "x = 1\n"},
        checks={"file_sha256": _sha("x = 1\n")},
    )
    execute(step, tmp_path)
    assert (tmp_path / "src" / "a.py").read_text() == "x = 1\n"
    bad = TraceStep(
        "Write", {"file_path": "b.py", "content": "y"}, checks={"file_sha256": _sha("z")}
    )
    with pytest.raises(Divergence, match="recorded content"):
        execute(bad, tmp_path)


def test_edit_needs_its_old_text_once_unless_replace_all(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("alpha beta alpha\n")
    with pytest.raises(Divergence, match="occurs 2 times"):
        execute(
            TraceStep("Edit", {"file_path": "a.txt", "old_string": "alpha", "new_string": "A"}),
            tmp_path,
        )
    execute(
        TraceStep(
            "Edit",
            {"file_path": "a.txt", "old_string": "alpha", "new_string": "A", "replace_all": True},
        ),
        tmp_path,
    )
    assert target.read_text() == "A beta A\n"
    with pytest.raises(Divergence, match="no longer contains"):
        execute(
            TraceStep("Edit", {"file_path": "a.txt", "old_string": "gamma", "new_string": "G"}),
            tmp_path,
        )
    with pytest.raises(Divergence, match="does not exist"):
        execute(
            TraceStep("Edit", {"file_path": "nope.txt", "old_string": "a", "new_string": "b"}),
            tmp_path,
        )


def test_multi_edit_applies_in_order(tmp_path: Path) -> None:
    (tmp_path / "m.txt").write_text("one two\n")
    edits = [{"old_string": "one", "new_string": "1"}, {"old_string": "1 two", "new_string": "1 2"}]
    execute(TraceStep("MultiEdit", {"file_path": "m.txt", "edits": edits}), tmp_path)
    assert (tmp_path / "m.txt").read_text() == "1 2\n"


def test_notebook_edit_replaces_inserts_and_deletes_cells(tmp_path: Path) -> None:
    nb = {
        "cells": [{"id": "c1", "cell_type": "code", "source": "1", "metadata": {}, "outputs": []}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    execute(
        TraceStep("NotebookEdit", {"notebook_path": "n.ipynb", "cell_id": "c1", "new_source": "2"}),
        tmp_path,
    )
    execute(
        TraceStep(
            "NotebookEdit",
            {
                "notebook_path": "n.ipynb",
                "cell_id": "c1",
                "new_source": "# hi",
                "cell_type": "markdown",
                "edit_mode": "insert",
            },
        ),
        tmp_path,
    )
    cells = json.loads((tmp_path / "n.ipynb").read_text())["cells"]
    assert [c["source"] for c in cells] == ["2", "# hi"]
    execute(
        TraceStep(
            "NotebookEdit",
            {"notebook_path": "n.ipynb", "cell_id": "c1", "new_source": "", "edit_mode": "delete"},
        ),
        tmp_path,
    )
    assert [c["source"] for c in json.loads((tmp_path / "n.ipynb").read_text())["cells"]] == [
        "# hi"
    ]


def test_bash_runs_in_the_workdir_and_checks_the_exit_status(tmp_path: Path) -> None:
    execute(
        TraceStep(
            "Bash", {"command": "echo hi > out.txt && pwd > where.txt"}, checks={"exit_code": 0}
        ),
        tmp_path,
    )
    assert (tmp_path / "out.txt").read_text() == "hi\n"
    assert Path((tmp_path / "where.txt").read_text().strip()) == tmp_path
    execute(
        TraceStep("Bash", {"command": "exit 3"}, checks={"exit_code": 3}), tmp_path
    )  # as recorded
    with pytest.raises(Divergence, match="exited with 1, not 0"):
        execute(TraceStep("Bash", {"command": "false"}), tmp_path)
    with pytest.raises(Divergence, match="timeout"):
        execute(TraceStep("Bash", {"command": "sleep 5", "timeout": 200}), tmp_path)


def test_plan_skips_reads_failures_and_delegations() -> None:
    trace = Trace(
        goal_text="g",
        steps=(
            TraceStep("Read", {"file_path": "a"}),
            TraceStep("Bash", {"command": "false"}, outcome="error"),
            TraceStep("Write", {"file_path": "a", "content": ""}, agent="helper"),
            TraceStep("Agent", {"prompt": "do it", "subagent_type": "helper"}),
            TraceStep("TodoWrite", {"todos": []}),
        ),
    )
    plan = plan_replay(trace)
    assert plan.eligible
    assert [(p.number, p.action) for p in plan.steps] == [
        (1, "skip"),
        (2, "skip"),
        (3, "run"),
        (4, "skip"),
        (5, "skip"),
    ]
    assert plan.files_touched() == ["a"]


@pytest.mark.parametrize(
    ("step", "why"),
    [
        (TraceStep("WebFetch", {"url": "https://example.com"}), "web page"),
        (TraceStep("mcp__x__y", {}), "cannot replay this tool"),
        (TraceStep("Bash", {"command": "sleep 1", "run_in_background": True}), "background"),
        (TraceStep("Write", {"content": "x"}), "no file_path"),
    ],
)
def test_unreplayable_traces_say_why(step: TraceStep, why: str) -> None:
    plan = plan_replay(Trace(goal_text="g", steps=(TraceStep("Read", {"file_path": "a"}), step)))
    assert not plan.eligible
    assert plan.reason.startswith("step 2") and why in plan.reason
