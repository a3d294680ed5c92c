"""The command line without a model: usage errors, missing credentials, the battery,
status, and the fast paths that must never load the SDK."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.testing.scripted_model import ScriptedModelServer


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr


def test_missing_credentials_stop_before_anything_is_spent(sandbox: Sandbox) -> None:
    proc = run_llmos(sandbox, "run", "Say hi")
    assert proc.returncode == 3
    assert "no way to reach a model" in proc.stderr
    assert "ANTHROPIC_API_KEY" in proc.stderr and "ANTHROPIC_BASE_URL" in proc.stderr
    _no_traceback(proc)
    assert json.loads(run_llmos(sandbox, "status", "--json").stdout)["runs"] == 0


def test_low_battery_refuses_the_run(sandbox: Sandbox, scripted: ScriptedModelServer) -> None:
    assert run_llmos(sandbox, "budget", "set", "0").returncode == 0
    proc = run_llmos(sandbox, "run", "--model", MODEL, "Say hi", server=scripted)
    assert proc.returncode == 4
    assert "low battery" in proc.stderr and "llmos budget add" in proc.stderr
    _no_traceback(proc)
    assert scripted.message_requests == []  # nothing reached the model


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--mode", "turbo", "x"], "turbo"),
        (["run", "--mode", "follower", "x"], "no learned trace matches"),
        (["run", "--trace", "zz", "x"], "invalid trace id"),
        (["run", "--trace", "abc", "x"], "no trace has the id abc"),
        (["traces", "show", "abc"], "no trace has the id abc"),
        (["run", "--project", "../etc", "x"], "invalid project name"),
        (["run", "--budget", "-1", "x"], "--budget"),
        (["run", "   "], "goal is empty"),
        (["budget", "set", "-5"], "-5"),
        (["budget", "add", "lots"], "lots"),
    ],
)
def test_bad_input_gets_a_clear_error(sandbox: Sandbox, args: list[str], message: str) -> None:
    # Credentials that look real but lead nowhere: should a case get past validation, it
    # fails against a closed local port instead of reaching the network.
    dead_end = {"ANTHROPIC_API_KEY": "sk-unused", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    proc = run_llmos(sandbox, *args, env=dead_end)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    _no_traceback(proc)
    assert not (sandbox.workspace / "projects" / ".." / ".." / "etc").exists()


def test_budget_set_add_and_log(sandbox: Sandbox) -> None:
    assert json.loads(run_llmos(sandbox, "budget", "set", "2", "--json").stdout) == {
        "balance_usd": 2.0
    }
    assert json.loads(run_llmos(sandbox, "budget", "add", "0.5", "--json").stdout) == {
        "balance_usd": 2.5
    }
    shown = json.loads(run_llmos(sandbox, "budget", "--json").stdout)
    assert shown["balance_usd"] == 2.5
    assert [e["reason"] for e in shown["log"]] == ["top-up", "balance set", "initial balance"]
    human = run_llmos(sandbox, "budget")
    assert "balance $2.5000" in human.stdout and "top-up" in human.stdout


def test_status_creates_and_describes_the_workspace(sandbox: Sandbox) -> None:
    proc = run_llmos(sandbox, "status", "--json")
    assert proc.returncode == 0
    info = json.loads(proc.stdout)
    assert info["workspace"] == str(sandbox.workspace)
    assert info["balance_usd"] == 5.0 and info["traces"] == 0
    for folder in (
        "memories/traces",
        "memories/sessions",
        "memories/facts",
        "memories/insights",
        "projects",
        "state",
    ):
        assert (sandbox.workspace / folder).is_dir()
    assert (sandbox.workspace / "config.yaml").is_file()
    other = sandbox.root / "elsewhere"
    proc = run_llmos(sandbox, "status", "--json", "--workspace", str(other))
    assert json.loads(proc.stdout)["workspace"] == str(other)


def test_bad_config_is_reported(sandbox: Sandbox) -> None:
    run_llmos(sandbox, "status")
    (sandbox.workspace / "config.yaml").write_text("initial_balance_usd: 5\nturbo: yes\n")
    proc = run_llmos(sandbox, "status")
    assert proc.returncode == 2 and "unknown setting(s) turbo" in proc.stderr
    _no_traceback(proc)


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["run", "--help"],
        ["--version"],
        ["status"],
        ["budget"],
        ["traces", "list"],
        ["memory", "list"],
        ["statuss"],
    ],
)
def test_fast_paths_do_not_import_the_sdk(sandbox: Sandbox, argv: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['llmos', *{argv!r}]\n"
        "from llmos._internal.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "heavy = {'claude_agent_sdk', 'anthropic', 'asyncio', 'opentelemetry', 'google'}\n"
        "heavy = sorted(roots & heavy)\n"
        "assert not heavy, heavy\n"
        "from llmos._internal.cli.app import COMMANDS\n"
        "modules = {e.target.split(':')[0]: n for n, e in COMMANDS.items()}\n"
        "print('commands loaded:', sorted(n for m, n in modules.items() if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    if argv == ["--help"]:  # the list comes from the summaries: no command module is loaded
        assert "The security policy" in proc.stdout and "commands loaded: []" in proc.stdout


def test_each_listed_summary_is_how_the_commands_help_starts() -> None:
    """`llmos --help` lists the summaries of llmos/_internal/cli/__init__.py: they must not
    drift."""
    import click
    import typer

    from llmos._internal.cli.app import COMMANDS, app

    group = typer.main.get_command(app)
    ctx = click.Context(group)
    for name, entry in COMMANDS.items():
        command = group.get_command(ctx, name)
        assert command is not None, name
        real = " ".join((command.help or "").split())
        assert real.startswith(entry.summary), (name, real, entry.summary)


def test_help_explains_the_commands(sandbox: Sandbox) -> None:
    top = run_llmos(sandbox, "--help").stdout
    for command in ("run", "status", "budget", "demo"):
        assert command in top
    run_help = run_llmos(sandbox, "run", "--help").stdout
    for option in (
        "--mode",
        "--project",
        "--budget",
        "--model",
        "--max-turns",
        "--timeout",
        "--json",
        "--workspace",
    ):
        assert option in run_help
