"""YAML texts kept parsed (llmos/_internal/yaml_cache.py): a replay reads its settings and
its trace without a YAML library, and what it reads is always what YAML reads from the file
as it is now: an edit is a miss, data JSON cannot hold is never kept, a broken entry is a
miss, and a trace's counts are rewritten only in forms YAML reads back exactly."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmos._internal import workspace, yaml_cache
from llmos._internal.memory.trace import Trace, TraceStep, parse
from llmos._internal.memory.trace_store import TraceStore
from llmos._internal.yaml_text import YAMLError, front_matter_span, load_yaml


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A workspace's state folder, as if the process had opened that workspace."""
    folder = tmp_path / "ws" / "state"
    folder.mkdir(parents=True)
    monkeypatch.setattr(workspace, "_state_in_use", folder)
    yield folder


def _entries(state: Path) -> list[Path]:
    folder = state / "cache" / "yaml"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> Any:
        raise AssertionError("parsed with YAML: the entry was not used")

    monkeypatch.setattr(yaml_cache, "load_yaml", refuse)


def test_a_text_read_twice_is_parsed_once(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "config.yaml"
    text = "model: claude-sonnet-4-5\nmax_turns: 30\nsandbox: {mode: auto}\n"
    assert yaml_cache.load_yaml_file(text, source) == load_yaml(text)
    assert len(_entries(state)) == 1
    _no_yaml(monkeypatch)
    data = yaml_cache.load_yaml_file(text, source)
    assert data == {"model": "claude-sonnet-4-5", "max_turns": 30, "sandbox": {"mode": "auto"}}


def test_an_edited_text_is_read_again(state: Path, tmp_path: Path) -> None:
    source = tmp_path / "config.yaml"
    assert yaml_cache.load_yaml_file("sandbox: on\n", source) == {"sandbox": True}
    # The same length, the same file, another meaning: the entry is not used.
    assert yaml_cache.load_yaml_file("sandbox: no\n", source) == {"sandbox": False}
    assert len(_entries(state)) == 1  # one entry per file, the latest text's


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("when: 2026-12-05\n", {"when": datetime.date(2026, 12, 5)}),
        ("1: one\n", {1: "one"}),
        ("true: yes\n", {True: True}),
        ("b: !!binary aGk=\n", {"b": b"hi"}),
        ("s: !!set {a: null}\n", {"s": {"a"}}),
        ("x: .inf\n", {"x": float("inf")}),
    ],
)
def test_data_json_cannot_hold_exactly_is_never_kept(
    state: Path, tmp_path: Path, text: str, data: Any
) -> None:
    for _ in range(2):
        got = yaml_cache.load_yaml_file(text, tmp_path / "f.yaml")
        assert got == data
        assert [type(k) for k in got] == [type(k) for k in data]
        assert _entries(state) == []


def test_a_broken_or_forged_entry_is_a_miss(state: Path, tmp_path: Path) -> None:
    source = tmp_path / "config.yaml"
    yaml_cache.load_yaml_file("a: 1\n", source)
    (entry,) = _entries(state)
    entry.write_text("{not json", encoding="utf-8")
    assert yaml_cache.load_yaml_file("a: 1\n", source) == {"a": 1}
    # An entry for another text (or made by hand) does not say what this text means.
    entry.write_text('{"text": "0000", "data": {"a": 2}}', encoding="utf-8")
    assert yaml_cache.load_yaml_file("a: 1\n", source) == {"a": 1}
    entry.write_bytes(b"\xff\xfe")
    assert yaml_cache.load_yaml_file("a: 1\n", source) == {"a": 1}


def test_bad_yaml_is_still_an_error(state: Path, tmp_path: Path) -> None:
    with pytest.raises(YAMLError):
        yaml_cache.load_yaml_file("a: [\n", tmp_path / "config.yaml")
    assert _entries(state) == []


def test_nothing_is_kept_without_a_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(workspace, "_state_in_use", None)
    monkeypatch.setattr(workspace, "_state_expected", None)
    assert yaml_cache.load_yaml_file("a: 1\n", tmp_path / "config.yaml") == {"a": 1}
    assert [p for p in tmp_path.rglob("*") if p.suffix == ".json"] == []


# A trace's front matter as llmos writes it, and as hands may have left it.
_HEADS = {
    "as written": None,
    "a comment on a count": "usage_count: 3  # three so far\n",
    "a count in octal": "usage_count: 010\n",
    "a count quoted": "usage_count: '3'\n",
    "a count twice": "usage_count: 3\nusage_count: 3\n",
    "a quoted key": '"usage_count": 3\n',
    "a time unquoted": "last_used: 2026-12-05T08:00:00+00:00\n",
    "a rating with an exponent": "success_rating: 1.0e-1\n",
    "an anchor": "failure_count: &f 0\nnote: *f\n",
    "no counts": "",
}


_COUNTS = ("usage_count", "success_count", "failure_count", "success_rating", "last_used")


def _trace_file(tmp_path: Path, edit: str | None) -> tuple[TraceStore, Path]:
    store = TraceStore(tmp_path / "traces")
    trace = Trace(goal_text="count the lines", steps=(TraceStep("Bash", {"command": "wc -l"}),))
    path = store.write(trace)
    if edit is not None:
        text = path.read_text(encoding="utf-8")
        start, end, _ = front_matter_span(text)  # type: ignore[misc]
        head = text[start:end]
        keys = {line.split(":")[0].strip("\"'") for line in edit.splitlines() if ":" in line}
        kept = [
            line
            for line in head.splitlines(keepends=True)
            if line.split(":")[0] not in keys and not (edit == "" and line.split(":")[0] in _COUNTS)
        ]
        path.write_text(text[:start] + "".join(kept) + edit + text[end:], encoding="utf-8")
    return store, path


@pytest.mark.parametrize("edit", list(_HEADS.values()), ids=list(_HEADS))
def test_counting_a_use_keeps_what_yaml_reads(
    state: Path, tmp_path: Path, edit: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, path = _trace_file(tmp_path, edit)
    for ok in (True, False, True):
        meta = store.count_use(path, ok=ok)
        text = path.read_text(encoding="utf-8")
        start, end, _ = front_matter_span(text)  # type: ignore[misc]
        assert load_yaml(text[start:end]) == meta  # what the kept entry says is the file's
    assert meta["success_count"] >= 2
    with monkeypatch.context() as patched:
        _no_yaml(patched)  # the next replay reads the trace without YAML
        replayed = parse(path.read_text(encoding="utf-8"), source=str(path))
    assert replayed.usage_count == meta["usage_count"]
    assert replayed.failure_count == meta["failure_count"] >= 1
