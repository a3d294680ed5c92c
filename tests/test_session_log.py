"""The session log (L2): typed events as hash-chained JSON lines, sealed when the run ends,
so an edited, cut, reordered or extended log is caught; and `llmos sessions` on top."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Sandbox, run_llmos

from llmos._internal.errors import UsageError
from llmos._internal.kernel.bus import EventBus
from llmos._internal.kernel.events import (
    AssistantText,
    CostUpdated,
    Event,
    RunFinished,
    RunStarted,
    ToolDecision,
    ToolFinished,
    ToolRequested,
)
from llmos._internal.memory.session_log import (
    GENESIS,
    SessionLog,
    find_session,
    read_session,
    record_hash,
    verify_session,
)


def _events(run_id: str) -> list[Event]:
    at = 1_767_261_600.0
    return [
        RunStarted(
            run_id=run_id,
            at=at,
            goal="Tidy the output folder",
            mode="learner",
            project="default",
            workdir="/w",
            model="m",
            budget_usd=0.5,
        ),
        AssistantText(run_id=run_id, at=at + 1, text="I will list the files first."),
        ToolRequested(
            run_id=run_id, at=at + 2, tool_use_id="t1", tool="Bash", input={"command": "ls"}
        ),
        ToolDecision(
            run_id=run_id,
            at=at + 2,
            tool_use_id="t1",
            tool="Bash",
            allowed=True,
            guard="security",
            rule="none",
            reason="",
        ),
        ToolFinished(
            run_id=run_id, at=at + 3, tool_use_id="t1", tool="Bash", ok=True, summary="a b"
        ),
        ToolRequested(
            run_id=run_id, at=at + 4, tool_use_id="t2", tool="Bash", input={"command": "rm -rf ~"}
        ),
        ToolDecision(
            run_id=run_id,
            at=at + 4,
            tool_use_id="t2",
            tool="Bash",
            allowed=False,
            guard="security",
            rule="rm-protected-path",
            reason="deletes the home folder",
        ),
        CostUpdated(run_id=run_id, at=at + 5, spent_usd=0.0123, final=True),
        RunFinished(
            run_id=run_id,
            at=at + 5,
            status="success",
            cost_usd=0.0123,
            turns=3,
            tool_calls=2,
            duration_secs=5.0,
        ),
    ]


def write_run(folder: Path, run_id: str, *, parent: str | None = None) -> Path:
    """A run's log written the way the dispatcher writes it: through the bus, sealed at close."""

    async def main() -> Path:
        bus = EventBus()
        log = SessionLog(folder, run_id, parent_run_id=parent)
        log.attach(bus)
        for event in _events(run_id):
            bus.publish(event)
        await bus.close()
        return log.path

    return asyncio.run(main())


def test_every_event_is_a_chained_record(tmp_path: Path) -> None:
    path = write_run(tmp_path, "20260101-090000-aaaaaa")
    records = read_session(path)
    assert [r["seq"] for r in records] == list(range(1, 10))
    assert [r["kind"] for r in records][:3] == ["run_started", "assistant_text", "tool_requested"]
    previous = GENESIS
    for record in records:
        assert record["run_id"] == "20260101-090000-aaaaaa" and record["parent_run_id"] is None
        assert record["prev"] == previous and record["hash"] == record_hash(record)
        previous = record["hash"]
    seal = json.loads(path.with_suffix(".seal").read_text())
    assert seal["events"] == 9 and seal["head"] == previous and seal["dropped"] == 0
    result = verify_session(path)
    assert result.ok and result.status == "ok" and result.events == 9 and result.head == previous


def test_subtasks_carry_their_parent_run(tmp_path: Path) -> None:
    log = SessionLog(tmp_path, "20260101-090000-child1", parent_run_id="20260101-080000-parent")
    record = log.append({"kind": "notice", "text": "hi"})
    assert record["parent_run_id"] == "20260101-080000-parent"
    assert SessionLog(tmp_path, "20260101-090000-other1").parent_run_id is None


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _edit_value(path: Path) -> None:
    lines = _lines(path)
    lines[4] = lines[4].replace('"a b"', '"nothing to see"')  # tool output rewritten
    path.write_text("".join(lines))


def _edit_and_rehash(path: Path) -> None:
    lines = _lines(path)
    record = json.loads(lines[6])
    record["allowed"] = True  # a denial turned into an approval, hash recomputed
    record["hash"] = record_hash(record)
    lines[6] = json.dumps(record) + "\n"
    path.write_text("".join(lines))


def _delete_middle(path: Path) -> None:
    lines = _lines(path)
    del lines[5]
    path.write_text("".join(lines))


def _swap(path: Path) -> None:
    lines = _lines(path)
    lines[2], lines[3] = lines[3], lines[2]
    path.write_text("".join(lines))


def _cut_end(path: Path) -> None:
    path.write_text("".join(_lines(path)[:-2]))


def _cut_end_and_seal(path: Path) -> None:
    _cut_end(path)
    path.with_suffix(".seal").unlink()


def _tear_last_line(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-40])


def _append_forged(path: Path) -> None:
    last = json.loads(_lines(path)[-1])
    forged = {
        **last,
        "seq": last["seq"] + 1,
        "kind": "notice",
        "text": "all fine",
        "prev": last["hash"],
    }
    forged["hash"] = record_hash(forged)
    with path.open("a") as handle:
        handle.write(json.dumps(forged) + "\n")


def _edit_seal(path: Path) -> None:
    seal_path = path.with_suffix(".seal")
    seal = json.loads(seal_path.read_text())
    seal["head"] = "f" * 64
    seal_path.write_text(json.dumps(seal))


@pytest.mark.parametrize(
    ("damage", "status", "detail"),
    [
        (_edit_value, "tampered", "event 5 (tool_finished) was edited"),
        (_edit_and_rehash, "tampered", "the chain breaks before event 8"),
        (_delete_middle, "tampered", "line 6 is event 7, expected 6"),
        (_swap, "tampered", "line 3 is event 4, expected 3"),
        (_cut_end, "truncated", "the seal records 9 events but 7 remain"),
        (_cut_end_and_seal, "unsealed", "no seal"),
        (_tear_last_line, "truncated", "the seal records 9 events but 8 remain"),
        (_append_forged, "tampered", "1 event(s) were added after the seal"),
        (_edit_seal, "tampered", "does not match the sealed head"),
    ],
)
def test_a_damaged_log_is_caught(
    tmp_path: Path, damage: Callable[[Path], None], status: str, detail: str
) -> None:
    path = write_run(tmp_path, "20260101-090000-aaaaaa")
    damage(path)
    result = verify_session(path)
    assert (result.status, result.ok) == (status, False)
    assert detail in result.detail


def test_a_log_from_before_chaining_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "20250101-090000-legacy.jsonl"
    path.write_text('{"seq": 1, "kind": "run_started", "run_id": "20250101-090000-legacy"}\n')
    assert verify_session(path).status == "unchained"


def test_run_ids_resolve_from_a_unique_prefix(tmp_path: Path) -> None:
    for run_id in ("20260101-090000-aaaaaa", "20260101-090000-bbbbbb", "20260102-100000-cccccc"):
        (tmp_path / f"{run_id}.jsonl").write_text("")
    assert find_session(tmp_path, "20260102").stem == "20260102-100000-cccccc"
    assert find_session(tmp_path, "20260101-090000-aaaaaa").stem == "20260101-090000-aaaaaa"
    with pytest.raises(UsageError, match="matches 2 runs"):
        find_session(tmp_path, "20260101")
    with pytest.raises(UsageError, match="no run '2027'"):
        find_session(tmp_path, "2027")


# The command line --------------------------------------------------------------------------
def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr


def test_sessions_list_show_and_verify(sandbox: Sandbox) -> None:
    sessions = sandbox.workspace / "memories" / "sessions"
    first = write_run(sessions, "20260101-090000-aaaaaa")
    write_run(sessions, "20260101-100000-bbbbbb", parent="20260101-090000-aaaaaa")

    listed = json.loads(run_llmos(sandbox, "sessions", "list", "--json").stdout)["sessions"]
    assert [s["run_id"] for s in listed] == ["20260101-100000-bbbbbb", "20260101-090000-aaaaaa"]
    assert listed[0]["parent_run_id"] == "20260101-090000-aaaaaa"
    assert listed[1]["status"] == "success" and listed[1]["cost_usd"] == 0.0123
    assert listed[1]["goal"] == "Tidy the output folder" and listed[1]["events"] == 9

    shown = run_llmos(sandbox, "sessions", "show", "20260101-09")
    assert shown.returncode == 0, shown.stderr
    for text in (
        "→ Bash",
        "rm -rf ~",
        "✗ denied",
        "security (rm-protected-path): deletes the home folder",
        "I will list the files first.",
        "$0.0123",
        "finished",
        "integrity ok",
    ):
        assert text in shown.stdout, text
    as_json = json.loads(run_llmos(sandbox, "sessions", "show", "--json", "20260101-09").stdout)
    assert as_json["integrity"]["ok"] and len(as_json["timeline"]) == 9

    assert run_llmos(sandbox, "sessions", "verify").returncode == 0
    _edit_value(first)
    proc = run_llmos(sandbox, "sessions", "verify")
    assert proc.returncode == 1
    assert "20260101-090000-aaaaaa tampered event 5 (tool_finished) was edited" in proc.stdout
    report = json.loads(run_llmos(sandbox, "sessions", "verify", "--json", "20260101-10").stdout)
    assert report["ok"] is True and report["runs"][0]["head"]

    for args, message in (
        (["sessions", "show", "20260101"], "matches 2 runs"),
        (["sessions", "verify", "nope"], "no run 'nope'"),
    ):
        proc = run_llmos(sandbox, *args)
        assert proc.returncode == 2 and message in proc.stderr
        _no_traceback(proc)
