"""The trace index stays in step with the files without parsing them all on each lookup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llmos._internal.errors import UsageError
from llmos._internal.memory.library import TraceLibrary
from llmos._internal.memory.trace import Trace, TraceStep, goal_signature, render
from llmos._internal.workspace import Workspace


def _trace(goal: str) -> Trace:
    return Trace(goal_text=goal, steps=(TraceStep("Bash", {"command": "true"}),))


@pytest.fixture
def library(tmp_path: Path) -> TraceLibrary:
    lib = TraceLibrary(Workspace.open(tmp_path / "ws"))
    yield lib
    lib.close()


def test_saved_traces_are_found_by_goal_and_id(library: TraceLibrary) -> None:
    library.add(_trace("deploy the site"))
    library.add(_trace("deploy the docs"))
    (best,) = library.find("Deploy the site!")
    assert best.kind == "exact" and best.entry.goal_text == "deploy the site"
    sig = goal_signature("deploy the docs")
    assert library.resolve(sig[:5]).signature == sig
    with pytest.raises(UsageError, match="no trace has the id"):
        library.resolve("0000")


def test_files_added_edited_and_removed_by_hand_are_noticed(library: TraceLibrary) -> None:
    path = library.add(_trace("build the wheel"))
    folder = path.parent
    (folder / "hand.md").write_text(render(_trace("publish the wheel")))
    assert library.find("publish the wheel")[0].kind == "exact"  # copied in: picked up
    # Edited in place (same folder mtime): the exact-match file is re-checked on lookup.
    text = path.read_text().replace("build the wheel", "build the sdist")
    stat = folder.stat()
    path.write_text(text)
    os.utime(folder, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert library.find("build the sdist")[0].kind == "exact"
    (folder / "hand.md").unlink()
    assert all(m.entry.name != "hand.md" for m in library.find("publish the wheel"))


def test_lookup_does_not_parse_every_file(
    library: TraceLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(50):
        library.add(_trace(f"task number {n}"))
    import llmos._internal.memory.trace_index as trace_index

    calls = []
    real = trace_index.parse
    monkeypatch.setattr(trace_index, "parse", lambda *a, **k: calls.append(1) or real(*a, **k))
    library.find("task number 7")
    assert len(calls) <= 1


def test_ambiguous_prefix(library: TraceLibrary) -> None:
    for n in range(40):
        library.add(_trace(f"goal {n}"))
    prefixes = [goal_signature(f"goal {n}")[0] for n in range(40)]
    common = max(set(prefixes), key=prefixes.count)
    with pytest.raises(UsageError, match="ambiguous"):
        library.resolve(common)
