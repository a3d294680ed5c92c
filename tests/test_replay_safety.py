"""The parts that make a replay all-or-nothing and correct: checkpoints and rollback,
preconditions, putting values into commands, and counting uses under a lock."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from llmos._internal.fsutil import file_state
from llmos._internal.memory.library import TraceLibrary
from llmos._internal.memory.trace import Trace, TraceStep
from llmos._internal.replay import checkpoint as checkpoint_module
from llmos._internal.replay.checkpoint import Checkpoint
from llmos._internal.replay.preconditions import changed_files
from llmos._internal.replay.substitute import Unsubstitutable, bind
from llmos._internal.replay.undo import apply_undo, plan_undo
from llmos._internal.workspace import Workspace


def _tree(folder: Path) -> dict[str, tuple[str, int | str]]:
    found: dict[str, tuple[str, int | str]] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            # the link's exact text, as undo puts it back: Path.readlink() would normalise it
            found[rel] = ("link", os.readlink(path))  # noqa: PTH115
        elif path.is_dir():
            found[rel] = ("dir", 0)
        else:
            found[rel] = (path.read_text(), stat.S_IMODE(path.stat().st_mode))
    return found


def _messy_folder(root: Path) -> Path:
    work = root / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "app.py").write_text("print('app')\n")
    (work / "run.sh").write_text("#!/bin/sh\n")
    (work / "run.sh").chmod(0o755)
    (work / "empty").mkdir()
    (work / "link").symlink_to("src/app.py")
    return work


@pytest.mark.parametrize("in_memory", [True, False])
def test_rollback_puts_the_folder_back_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_memory: bool
) -> None:
    if not in_memory:  # pre-images spill to disk past the memory budget
        monkeypatch.setattr(checkpoint_module, "MEMORY_BYTES", 0)
    work = _messy_folder(tmp_path)
    before = _tree(work)
    cp = Checkpoint(tmp_path / "undo" / "run1", work, "run1", "goal", "follower")
    cp.keep_folder()
    # What a command might do: change, remove, create, chmod, re-point, make folders.
    (work / "src" / "app.py").write_text("changed\n")
    (work / "run.sh").chmod(0o644)
    (work / "empty").rmdir()
    (work / "link").unlink()
    (work / "link").symlink_to("run.sh")
    (work / "new" / "deep").mkdir(parents=True)
    (work / "new" / "deep" / "file.txt").write_text("new\n")
    (work / "src" / "extra.py").write_text("x\n")
    restored = cp.rollback()
    assert _tree(work) == before
    assert {"src/app.py", "run.sh", "link", "new/deep/file.txt", "src/extra.py"} <= set(restored)


def test_a_checkpoint_of_a_run_that_changed_nothing_writes_nothing(tmp_path: Path) -> None:
    work = _messy_folder(tmp_path)
    cp = Checkpoint(tmp_path / "undo" / "run1", work, "run1", "goal", "follower")
    cp.keep_folder()
    (work / "src" / "app.py").write_text("print('app')\n")  # rewritten, but the same
    assert cp.seal() is None
    assert not (tmp_path / "undo" / "run1").exists()


def test_undo_restores_then_leaves_a_later_edit_alone(tmp_path: Path) -> None:
    work = _messy_folder(tmp_path)
    folder = tmp_path / "undo" / "run1"
    cp = Checkpoint(folder, work, "run1", "goal", "follower")
    cp.keep(work / "src" / "app.py")
    cp.keep(work / "made.txt")
    (work / "src" / "app.py").write_text("changed\n")
    (work / "made.txt").write_text("made\n")
    assert cp.seal() == folder / "record.json"
    plan = plan_undo(folder)
    assert [(s.path, s.action) for s in plan.steps] == [
        ("src/app.py", "restore"),
        ("made.txt", "remove"),
    ]
    (work / "made.txt").write_text("edited by hand since\n")
    plan = plan_undo(folder)
    assert [s.action for s in plan.steps] == ["restore", "conflict"]
    apply_undo(folder, plan)
    assert (work / "src" / "app.py").read_text() == "print('app')\n"
    assert (work / "made.txt").read_text() == "edited by hand since\n"  # left alone


def _step(tool: str, tool_input: dict, **checks: object) -> TraceStep:
    return TraceStep(tool, tool_input, checks=dict(checks))


def test_preconditions_accept_what_the_trace_found_or_left_and_nothing_else(
    tmp_path: Path,
) -> None:
    content = "one\n"
    written = file_state(_write(tmp_path / "probe", content)).removeprefix("sha256:")
    steps = [
        (
            1,
            _step("Write", {"file_path": "a.txt"}, file_sha256=written, before={"a.txt": "absent"}),
        ),
        (2, _step("Bash", {"command": "cat a.txt"}, before={"a.txt": "sha256:" + written})),
    ]
    work = tmp_path / "work"
    work.mkdir()
    assert changed_files(steps, work) is None  # as found: absent
    _write(work / "a.txt", content)
    assert changed_files(steps, work) is None  # as left
    _write(work / "a.txt", "hand edit\n")
    changed = changed_files(steps, work)
    assert changed is not None and changed.path == "a.txt" and changed.step == 1
    assert "a.txt changed since the trace was learned" in changed.describe()
    # Renamed by a template, the file is another one: only what the step assumes counts.
    assert changed_files(steps, work, frozenset({"a.txt"})) is not None  # a Write must not
    (work / "a.txt").unlink()  # find somebody else's file where it creates one
    assert changed_files(steps, work, frozenset({"a.txt"})) is None


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("command", "value", "expected"),
    [
        ("cp a.txt b.txt", "my file.txt", "cp 'my file.txt' b.txt"),
        ("cp a.txt b.txt", "x;rm -rf ~.txt", "cp 'x;rm -rf ~.txt' b.txt"),
        ("echo 'a.txt' > out", "it's.txt", None),
        ('echo "a.txt" > out', "$(id).txt", None),
        ('echo "a.txt" > out', "x`id`.txt", None),
        ("echo a.txt", "-rf", None),
        ("echo a.txt", "line\nbreak.txt", None),
        ('echo "a.txt" > out', "spaced name.txt", 'echo "spaced name.txt" > out'),
    ],
)
def test_values_never_change_a_commands_structure(
    command: str, value: str, expected: str | None
) -> None:
    trace = Trace("x", (TraceStep("Bash", {"command": command}),))
    if expected is None:
        with pytest.raises(Unsubstitutable):
            bind(trace, {"a.txt": value})
    else:
        assert bind(trace, {"a.txt": value}).trace.steps[0].input["command"] == expected


def test_a_swap_is_made_at_once_and_checks_follow(tmp_path: Path) -> None:
    trace = Trace(
        "copy a.txt to b.txt",
        (
            TraceStep(
                "Write",
                {"file_path": "a.txt", "content": "from a.txt to b.txt"},
                checks={"file_sha256": "0" * 64, "before": {"a.txt": "absent"}},
            ),
        ),
        result="a.txt -> b.txt",
    )
    bound = bind(trace, {"a.txt": "b.txt", "b.txt": "a.txt"})
    step = bound.trace.steps[0]
    assert step.input == {"file_path": "b.txt", "content": "from b.txt to a.txt"}
    assert step.checks["before"] == {"b.txt": "absent"} and bound.paths == {"b.txt"}
    assert step.checks["file_sha256"] != "0" * 64  # the written content's own hash
    assert bound.trace.result == "b.txt -> a.txt"


def _count(root: str, runs: int) -> None:
    ws = Workspace.open(Path(root))
    with TraceLibrary(ws) as library:
        entry = library.find("count me")[0].entry
        for _ in range(runs):
            library.record_outcome(entry, ok=True)


def test_concurrent_outcomes_are_all_counted(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    with TraceLibrary(ws) as library:
        library.add(Trace("count me", (TraceStep("Bash", {"command": "true"}),)))
    workers = [
        multiprocessing.get_context("spawn").Process(target=_count, args=(str(ws.root), 3))
        for _ in range(8)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    with TraceLibrary(ws) as library:
        trace = library.load(library.find("count me")[0].entry)
    assert (trace.usage_count, trace.success_count) == (1 + 24, 1 + 24)
