"""The web console in a real headless Chromium (Debian's `chromium`, driven by Playwright for
Python with the system browser as its executable: nothing downloads a browser). One console
and one browser serve the whole module, over one workspace; each test's runs are real
`llmos` processes against the scripted model server.

- a scheduled run (the kernel's --once pass) hits a call the policy asks about; the test
  approves it in the inbox and the run completes;
- a modify and a reject, from an `llmos run --approve-via console`;
- the runs table updates live as a run starts and finishes;
- a wrong token is refused.

Screenshots go to tests/artifacts/ (git-ignored); with LLMOS_UPDATE_SCREENSHOTS=1 the two
pictures the README shows are rewritten in docs/images/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MODEL, Sandbox, run_llmos

from llmos._internal.console.server import ConsoleThread
from llmos._internal.memory.session_log import read_session
from llmos._internal.testing.scripted_model import (
    RecordedRequest,
    ScriptedModelServer,
    Turn,
    say,
    use_tool,
)
from llmos._internal.workspace import Workspace

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (.ci/run installs it)"
)
playwright_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"
README_IMAGES = REPO / "docs" / "images"
# The policy asks about this harmless command (it cannot parse `case`): a human must approve.
ASKED_COMMAND = "case x in x) echo asked;; esac > asked.txt"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's workspace (each test's own sandbox keeps its HOME and CLI config)."""
    root = tmp_path_factory.mktemp("console") / "workspace"
    Workspace.open(root)
    return root


@pytest.fixture(scope="module")
def console(shared: Path) -> Iterator[ConsoleThread]:
    thread = ConsoleThread(Workspace.open(shared)).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        # A launched (not persistent) browser has a fresh profile of its own, deleted after.
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser: Any, console: ConsoleThread) -> Iterator[Any]:
    """A logged-in page: the one-time token was traded for the session cookie."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    tab.goto(console.address.login_url)
    assert tab.url == console.address.url  # the token left the address bar
    yield tab
    context.close()


def _env(shared: Path, server: ScriptedModelServer | None, sandbox: Sandbox) -> dict[str, str]:
    env = {**os.environ, "LLMOS_HOME": str(shared), "COLUMNS": "200"}
    if server is not None:
        env.update(server.client_env(sandbox.claude_config))
    return env


def _llmos(shared: Path, sandbox: Sandbox, *args: str, server: Any = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "llmos", *args],
        env=_env(shared, server, sandbox),
        cwd=sandbox.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _shoot(page: Any, name: str, *, readme: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if readme and os.environ.get("LLMOS_UPDATE_SCREENSHOTS") == "1":
        README_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(README_IMAGES / f"{name}.png"), full_page=False)


def test_a_wrong_token_is_refused(browser: Any, console: ConsoleThread) -> None:
    context = browser.new_context()
    try:
        stranger = context.new_page()
        response = stranger.goto(console.address.url + "?token=not-the-token")
        assert response.status == 401
        assert "Not allowed" in stranger.inner_text("h1")
        assert stranger.goto(console.address.url + "runs").status == 401
    finally:
        context.close()


def test_a_scheduled_run_waits_for_the_inbox_and_completes_once_approved(
    page: Any, console: ConsoleThread, shared: Path, sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    added = run_llmos(
        sandbox,
        "schedule",
        "add",
        "--at",
        "now",
        "--model",
        MODEL,
        "--json",
        "Write asked.txt the careful way",
        env={"LLMOS_HOME": str(shared)},
    )
    assert added.returncode == 0, added.stderr
    scripted.script(use_tool("Bash", command=ASKED_COMMAND), say("Wrote asked.txt."))
    kernel = _llmos(shared, sandbox, "kernel", "start", "--once", "--json", server=scripted)
    try:
        page.goto(console.address.url)
        # The question appears without a reload (console.js refreshes the inbox).
        card = page.locator("article.question").first
        card.wait_for(timeout=WAIT_MS)
        assert "case x in x" in card.inner_text()
        assert "Write asked.txt the careful way" in card.inner_text()
        assert page.inner_text("#pending-count") == "1"
        _shoot(page, "console-inbox", readme=True)
        card.get_by_role("button", name="Approve", exact=True).click()
        page.wait_for_url("**/?note=*")
        assert "approved" in page.inner_text(".note")
        out, err = _finish(kernel)
    finally:
        if kernel.poll() is None:
            kernel.kill()
    assert kernel.returncode == 0, err
    scripted.assert_complete()
    finished = next(json.loads(x) for x in out.splitlines() if '"job_finished"' in x)
    assert finished["status"] == "success"
    output = shared / "projects" / "default" / "output"
    assert (output / "asked.txt").read_text() == "asked\n"  # the approved call really ran

    # The run's page: its timeline with the policy's decision and who approved it.
    page.goto(console.address.url + "runs/" + finished["run_id"])
    timeline = page.inner_text("ol.timeline")
    assert "approved by the web console" in timeline and "unparseable" in timeline
    assert "approved" in page.inner_text("section[data-live=run] ul")
    _shoot(page, "console-run", readme=True)


def test_modify_and_reject_from_the_inbox(
    page: Any, console: ConsoleThread, shared: Path, sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    seen: list[list[dict]] = []

    def record(turn: Turn):  # type: ignore[no-untyped-def]
        def step(request: RecordedRequest) -> Turn:
            seen.append(request.tool_results())
            return turn

        return step

    scripted.script(
        use_tool("Bash", command=ASKED_COMMAND),
        record(use_tool("Bash", command="case y in y) echo no;; esac > rejected.txt")),
        record(say("Done as told.")),
    )
    run = _llmos(
        shared,
        sandbox,
        "run",
        "--json",
        "--approve-via",
        "console",
        "--model",
        MODEL,
        "Write two files",
        server=scripted,
    )
    try:
        page.goto(console.address.url)
        card = page.locator("article.question").first
        card.wait_for(timeout=WAIT_MS)
        card.locator("summary", has_text="Modify").click()
        card.locator("textarea[name=value]").fill("echo changed > modified.txt")
        card.get_by_role("button", name="Approve changed call").click()
        page.wait_for_url("**/?note=*")
        assert "modified" in page.inner_text(".note")

        card = page.locator("article.question").first
        card.wait_for(timeout=WAIT_MS)
        assert "rejected.txt" in card.inner_text()
        card.locator("summary", has_text="Reject").click()
        card.locator("input[name=reason]").fill("write nothing else, please")
        card.get_by_role("button", name="Reject").click()
        page.wait_for_url("**/?note=*")
        out, err = _finish(run)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err
    scripted.assert_complete()
    output = shared / "projects" / "default" / "output"
    assert (output / "modified.txt").read_text() == "changed\n"  # the changed call ran
    assert not (output / "rejected.txt").exists()  # the rejected one never ran
    rejected = seen[1][0]
    assert rejected["is_error"] and "write nothing else, please" in str(rejected["content"])
    summary = json.loads(out)
    decisions = [
        e for e in read_session(Path(summary["session_log"])) if e["kind"] == "tool_decision"
    ]
    assert [(d["allowed"], d.get("approved_by")) for d in decisions] == [
        (True, "the web console"),
        (False, None),
    ]
    assert decisions[0]["updated_input"] == {"command": "echo changed > modified.txt"}


def test_the_runs_table_updates_live(
    page: Any, console: ConsoleThread, shared: Path, sandbox: Sandbox, scripted: ScriptedModelServer
) -> None:
    page.goto(console.address.url + "runs")
    scripted.script(Turn(text="Thinking it over.", delay=3), say("Slow and done."))
    run = _llmos(
        shared, sandbox, "run", "--json", "--model", MODEL, "Ponder slowly", server=scripted
    )
    try:
        row = page.locator("#runs-body tr", has_text="Ponder slowly")
        row.wait_for(timeout=WAIT_MS)  # it appeared while the page stayed open
        row.locator(".status-running").wait_for(timeout=WAIT_MS)
        _shoot(page, "console-runs")
        _, err = _finish(run)
        assert run.returncode == 0, err
        row.locator(".status-success").wait_for(timeout=WAIT_MS)  # and finished, live too
    finally:
        if run.poll() is None:
            run.kill()
    assert page.url.endswith("/runs")  # never reloaded by the test


@pytest.mark.parametrize("width", [390, 768])
def test_pages_fit_narrow_screens(page: Any, console: ConsoleThread, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    try:
        for path in ("", "runs", "traces", "budget", "memory", "schedule"):
            page.goto(console.address.url + path)
            # Wide tables scroll inside their own box; the page itself never scrolls sideways.
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (path, width, overflow)
        _shoot(page, f"console-schedule-{width}")
    finally:
        page.set_viewport_size({"width": 1280, "height": 860})
