"""One exit status per kind of failure, the same in every command. The README's table is
the contract: it is read here, and each kind of failure is provoked in every command that
can meet it."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
from cli_walk import SAMPLE, populate, runnable, sample
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal import errors
from llmos._internal.memory.facts import MemoryStore
from llmos._internal.memory.memory_item import MemoryItem
from llmos._internal.testing.scripted_model import ScriptedModelServer, say
from llmos._internal.workspace import Workspace

README = Path(__file__).resolve().parents[1] / "README.md"

# The commands that ask the model, with arguments that get them that far.
ASKS_THE_MODEL = {
    "run": ["run", "--model", MODEL, "Say hi"],
    "memory distill": ["memory", "distill", "--budget", "0.1", "--model", MODEL],
    "agents create --describe": [
        "agents",
        "create",
        "linkcheck",
        "--describe",
        "finds broken links",
        "--model",
        MODEL,
    ],
}


def readme_exit_codes() -> dict[str, str]:
    """The README's exit-status table: code -> meaning."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| code | meaning |") :].split("\n\n", 1)[0]
    rows = [line.split("|")[1:3] for line in table.splitlines()[2:]]
    return {code.strip(): meaning.strip() for code, meaning in rows}


def _with_an_insight(sandbox: Sandbox) -> None:
    with MemoryStore(Workspace.open(sandbox.workspace)) as store:
        store.write(MemoryItem(id="cccc3333", kind="insight", text="make worked", meta={}))


def _failed(proc: object, code: int, *words: str) -> None:
    returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr  # type: ignore[attr-defined]
    assert returncode == code, (proc.args, stdout, stderr)  # type: ignore[attr-defined]
    assert "Traceback" not in stdout + stderr
    for word in words:
        assert word in stderr, (proc.args, stderr)  # type: ignore[attr-defined]


def test_the_readme_table_names_every_exit_status_llmos_uses() -> None:
    table = readme_exit_codes()
    assert set(table) == {"0", "1", "2", "3", "4", "5", "6", "128 + N"}
    used = {
        str(cls.exit_code)
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.LlmosError)
    }
    assert used <= set(table), used - set(table)
    assert "declined" in table["1"] and "--yes" in table["2"]


def test_every_command_exits_0_on_success(sandbox: Sandbox) -> None:
    """...and, piped, every listing is a header and one tab-separated record a line."""
    values = populate(sandbox)
    for words in SAMPLE:
        if not runnable(words):
            continue
        proc = run_llmos(sandbox, *words, *sample(words, values))
        assert proc.returncode == 0, (words, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr, words
        if words[-1] in ("list", "search", "aliases", "audit"):
            lines = proc.stdout.splitlines() or ["\t"]  # none: an empty list (said on stderr)
            assert "\t" in lines[0], (words, proc.stdout)
            assert {line.count("\t") for line in lines} == {lines[0].count("\t")}, words


def test_no_model_access_is_3_in_every_command_that_asks_the_model(sandbox: Sandbox) -> None:
    _with_an_insight(sandbox)
    for args in ASKS_THE_MODEL.values():
        _failed(run_llmos(sandbox, *args), 3, "no way to reach a model", "ANTHROPIC_API_KEY")
        as_json = run_llmos(sandbox, *args, "--json")
        assert json.loads(as_json.stdout)["exit_code"] == 3 and as_json.returncode == 3


def test_low_battery_is_4_in_every_command_that_asks_the_model(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    _with_an_insight(sandbox)
    assert run_llmos(sandbox, "budget", "set", "0").returncode == 0
    for args in ASKS_THE_MODEL.values():
        _failed(run_llmos(sandbox, *args, server=scripted), 4, "low battery")
    assert scripted.message_requests == []  # refused before anything was asked


def test_a_model_run_that_gives_no_answer_is_1_in_every_command(
    sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    """The model answers, but not what was asked (no structured output): the run failed, 1,
    whether it was `memory distill` or `agents create --describe` (the agent's CLI worked)."""
    _with_an_insight(sandbox)
    scripted.respond(say("I would rather not fill in a form."))
    for name in ("memory distill", "agents create --describe"):
        proc = run_llmos(sandbox, *ASKS_THE_MODEL[name], "--budget", "0.5", server=scripted)
        assert proc.returncode == 1, (name, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr
    assert not (sandbox.workspace / "agents" / "linkcheck.md").exists()


def test_a_workspace_that_cannot_be_used_is_6_in_every_command(sandbox: Sandbox) -> None:
    values = populate(sandbox)
    for path in (sandbox.workspace / "state").glob("*.db"):
        path.unlink()  # deleted databases: llmos asks for `doctor --repair`, never starts afresh
    refused = []
    for words in SAMPLE:
        if not runnable(words) or words in {("init",), ("doctor",)}:
            continue
        proc = run_llmos(sandbox, *words, *sample(words, values))
        assert proc.returncode in (0, 2, 6), (words, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr, words
        if proc.returncode == 6:
            assert "llmos doctor --repair" in proc.stderr, (words, proc.stderr)
            refused.append(" ".join(words))
    for must in ("status", "budget", "run", "schedule list", "policy audit", "insights"):
        assert must in refused, (must, refused)


@pytest.mark.parametrize("answer", ["n"])
def test_a_declined_question_is_1(sandbox: Sandbox, answer: str) -> None:
    from conftest import run_in_terminal

    run_llmos(sandbox, "project", "create", "lab")
    status, shown = run_in_terminal(
        sandbox, "project", "rm", "lab", answers=[(r"Delete project lab.*\?", answer)]
    )
    assert status == 1 and "nothing done" in shown
    assert (sandbox.workspace / "projects" / "lab").is_dir()
    assert re.search(r"declined", readme_exit_codes()["1"])
