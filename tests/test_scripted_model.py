"""Tests of the scripted Messages API server: raw HTTP protocol, then the real SDK + bundled CLI."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    Message,
    ResultMessage,
    TextBlock,
    query,
)
from claude_agent_sdk.types import StreamEvent

from llmos._internal.testing import (
    ApiError,
    RecordedRequest,
    ScriptedModelServer,
    ToolCall,
    Turn,
    api_error,
    load_script,
    say,
    tools,
    turn_from_dict,
    use_tool,
)

MODEL = "claude-sonnet-4-5"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def model(shared_server: ScriptedModelServer) -> Iterator[ScriptedModelServer]:
    """The module's server, emptied before and after each test."""
    shared_server.reset()
    yield shared_server
    shared_server.reset()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)  # tests/conftest.py may have made it already
    monkeypatch.setenv("HOME", str(home))


# -- raw HTTP helpers --------------------------------------------------------------------------


def post(
    server: ScriptedModelServer, path: str, body: dict[str, Any], timeout: float = 5
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        server.base_url + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-api-key": "sk-test"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in raw.decode().split("\n\n"):
        if not chunk.strip():
            continue
        fields = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def assemble(events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rebuild content blocks from the stream, as a client would."""
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, str] = {}
    for name, data in events:
        if name == "content_block_start":
            blocks[data["index"]] = dict(data["content_block"])
        elif name == "content_block_delta":
            delta = data["delta"]
            if delta["type"] == "text_delta":
                blocks[data["index"]]["text"] += delta["text"]
            else:
                partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
    for index, text in partial.items():
        blocks[index]["input"] = json.loads(text)
    return [blocks[i] for i in sorted(blocks)]


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Poll for a condition another thread makes true (the server's handler threads)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


# -- protocol ----------------------------------------------------------------------------------


def test_stream_has_the_full_sse_sequence(model: ScriptedModelServer) -> None:
    call = ToolCall("Bash", {"command": "echo " + "x" * 60})
    model.script(tools(call, text="Let me run that. " * 4))
    status, headers, raw = post(
        model, "/v1/messages?beta=true", {"model": "m-1", "stream": True, "messages": []}
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    events = parse_sse(raw)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    assert names.count("content_block_delta") > 4  # really chunked
    start = events[0][1]["message"]
    assert start["model"] == "m-1"
    assert start["content"] == [] and start["stop_reason"] is None
    assert set(start["usage"]) == {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }
    assert start["id"].startswith("msg_")
    assert assemble(events) == [
        {"type": "text", "text": "Let me run that. " * 4},
        {"type": "tool_use", "id": call.id, "name": "Bash", "input": call.input},
    ]
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"] == {"output_tokens": 50}
    (recorded,) = model.message_requests
    assert recorded.query == "beta=true" and recorded.answer is not None
    model.assert_complete()


def test_plain_json_message_when_not_streaming(model: ScriptedModelServer) -> None:
    model.script(say("hello", input_tokens=7, output_tokens=3))
    status, _, raw = post(model, "/v1/messages", {"model": "m-2", "messages": [user("hi")]})
    message = json.loads(raw)
    assert status == 200
    assert message["content"] == [{"type": "text", "text": "hello"}]
    assert message["stop_reason"] == "end_turn" and message["model"] == "m-2"
    assert message["usage"]["input_tokens"] == 7 and message["usage"]["output_tokens"] == 3


def test_tool_call_ids_are_generated_and_kept() -> None:
    first, second = use_tool("Read", file_path="a"), use_tool("Read", file_path="a")
    assert first.tool_calls[0].id != second.tool_calls[0].id
    assert str(first.tool_calls[0].id).startswith("toolu_")
    assert ToolCall("X", {}, id="toolu_fixed").id == "toolu_fixed"
    assert first.effective_stop_reason == "tool_use"
    assert say("x").effective_stop_reason == "end_turn"


def test_request_dependent_step_sees_the_request(model: ScriptedModelServer) -> None:
    def echo(request: RecordedRequest) -> Turn:
        results = request.tool_results()
        return say(f"{request.last_user_text}|{results[0]['content']}|{request.system_text}")

    model.script(echo)
    body = {
        "model": "m",
        "system": [{"type": "text", "text": "sys A"}, {"type": "text", "text": "sys B"}],
        "messages": [
            user("first"),
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1"}]},
            user(
                [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "out"},
                    {"type": "text", "text": "<system-reminder>noise</system-reminder>"},
                    {"type": "text", "text": "go on"},
                ]
            ),
            {"role": "system", "content": "hook context comes after the tool results"},
        ],
    }
    _, _, raw = post(model, "/v1/messages", body)
    assert json.loads(raw)["content"][0]["text"] == "go on|out|sys A\nsys B"
    assert model.pending == 0


def test_empty_queue_is_an_http_500_and_fails_assert_complete(model: ScriptedModelServer) -> None:
    status, headers, raw = post(model, "/v1/messages", {"model": "m", "messages": [user("lost")]})
    assert status == 500
    assert headers["x-should-retry"] == "false"  # the CLI then fails fast instead of retrying
    error = json.loads(raw)
    assert error["type"] == "error" and error["error"]["type"] == "api_error"
    assert "no scripted turn left" in error["error"]["message"]
    with pytest.raises(AssertionError, match=r"(?s)unexpected request.*'lost'"):
        model.assert_complete()


def test_assert_complete_names_unused_steps(model: ScriptedModelServer) -> None:
    def later(request: RecordedRequest) -> Turn:
        return say("never")

    model.script(say("used"), say("left over"), later)
    post(model, "/v1/messages", {"model": "m", "messages": []})
    assert model.pending == 2
    with pytest.raises(AssertionError) as info:
        model.assert_complete()
    assert "2 scripted step(s) never used" in str(info.value)
    assert "left over" in str(info.value) and "later" in str(info.value)


def test_fallback_answers_when_the_queue_is_empty(model: ScriptedModelServer) -> None:
    model.script(say("scripted"))
    model.respond(lambda request: say(f"fallback for {request.model}"))
    texts = []
    for _ in range(3):
        _, _, raw = post(model, "/v1/messages", {"model": "m9", "messages": []})
        texts.append(json.loads(raw)["content"][0]["text"])
    assert texts == ["scripted", "fallback for m9", "fallback for m9"]
    model.respond(None)
    assert post(model, "/v1/messages", {"model": "m", "messages": []})[0] == 500


def test_a_raising_step_is_reported(model: ScriptedModelServer) -> None:
    def broken(request: RecordedRequest) -> Turn:
        raise KeyError("oops")

    model.script(broken)
    assert post(model, "/v1/messages", {"model": "m", "messages": []})[0] == 500
    assert "raised KeyError" in model.errors[0]


def test_scripted_api_error(model: ScriptedModelServer) -> None:
    model.script(api_error(429, "slow down"), ApiError(status=529, retry=True))
    status, headers, raw = post(model, "/v1/messages", {"model": "m", "messages": []})
    assert status == 429 and headers["x-should-retry"] == "false"
    assert json.loads(raw)["error"] == {"type": "rate_limit_error", "message": "slow down"}
    status, headers, _ = post(model, "/v1/messages", {"model": "m", "stream": True})
    assert status == 529 and "x-should-retry" not in headers


def test_count_tokens_unknown_paths_and_health(model: ScriptedModelServer) -> None:
    status, _, raw = post(model, "/v1/messages/count_tokens", {"messages": [user("x" * 400)]})
    assert status == 200 and json.loads(raw)["input_tokens"] > 50
    status, _, raw = post(model, "/v1/other", {})
    assert status == 404 and json.loads(raw)["error"]["type"] == "not_found_error"
    with urllib.request.urlopen(model.base_url + "/", timeout=5) as response:
        assert response.status == 200
    head = urllib.request.Request(model.base_url + "/health", method="HEAD")
    with urllib.request.urlopen(head, timeout=5) as response:
        assert response.status == 200 and response.read() == b""
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(model.base_url + "/nope", timeout=5)
    assert [r.path for r in model.requests] == [
        "/v1/messages/count_tokens",
        "/v1/other",
        "/",
        "/health",
        "/nope",
    ]
    assert model.message_requests == [] and model.errors == []


def test_stop_returns_promptly_during_a_delayed_turn() -> None:
    server = ScriptedModelServer().start()
    server.script(Turn(text="late", delay=30))

    def call() -> None:
        with contextlib.suppress(OSError):  # the dropped connection is the expected outcome
            post(server, "/v1/messages", {"model": "m"}, timeout=10)

    client = threading.Thread(target=call, daemon=True)
    client.start()
    assert server.wait_for_requests(1, timeout=5)
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 1.0
    client.join(timeout=5)
    assert not client.is_alive()


def test_reset_cuts_a_delay_short(model: ScriptedModelServer) -> None:
    model.script(Turn(text="late", delay=30))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(model, "/v1/messages", {"model": "m"}, timeout=10)
        except OSError as exc:  # the dropped connection is the expected outcome
            errors.append(exc)

    client = threading.Thread(target=call, daemon=True)
    client.start()
    assert model.wait_for_requests(1, timeout=5)
    model.reset()
    client.join(timeout=3)
    assert not client.is_alive() and errors


def test_survives_a_client_that_hangs_up_mid_stream(model: ScriptedModelServer) -> None:
    model.script(Turn(text="y" * 2000, chunk_delay=0.01), say("still here"))
    conn = http.client.HTTPConnection("127.0.0.1", model.port, timeout=5)
    conn.request("POST", "/v1/messages", json.dumps({"model": "m", "stream": True}))
    response = conn.getresponse()
    assert b"message_start" in response.read1(200)
    response.close()  # the response holds the socket open too
    conn.close()
    assert wait_until(lambda: model.message_requests[0].disconnected)
    _, _, raw = post(model, "/v1/messages", {"model": "m", "messages": []})
    assert json.loads(raw)["content"][0]["text"] == "still here"
    model.assert_complete()


def test_client_env_isolates_the_cli(model: ScriptedModelServer, tmp_path: Path) -> None:
    env = model.client_env(tmp_path / "claude")
    assert env["ANTHROPIC_BASE_URL"] == model.base_url
    assert env["ANTHROPIC_API_KEY"] == "sk-scripted"
    assert env["CLAUDE_CONFIG_DIR"] == str(tmp_path / "claude")
    assert Path(env["CLAUDE_CODE_TMPDIR"]).is_dir()
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert env["ENABLE_TOOL_SEARCH"] == "false"
    assert env["CLAUDE_CODE_DISABLE_BACKGROUND_TASKS"] == "1"


def test_turn_from_dict() -> None:
    turn = turn_from_dict({"text": "t", "tool_calls": [{"name": "Read", "input": {"a": 1}}]})
    assert isinstance(turn, Turn) and turn.tool_calls[0].input == {"a": 1}
    error = turn_from_dict({"error": {"status": 400, "message": "bad", "retry": True}})
    assert error == ApiError(400, "invalid_request_error", "bad", retry=True)
    with pytest.raises(ValueError, match="unknown turn keys"):
        turn_from_dict({"txt": "typo"})


def test_command_line_serves_a_json_script(tmp_path: Path) -> None:
    script = tmp_path / "turns.json"
    turns = [
        {"text": "one", "tool_calls": [{"name": "Bash", "input": {"command": "ls"}}]},
        {"text": "two", "delay": 0.01},
    ]
    script.write_text(json.dumps(turns))
    assert [t.text for t in load_script(script) if isinstance(t, Turn)] == ["one", "two"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmos._internal.testing.scripted_model",
            "--port",
            "0",
            "--script",
            script,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        answers = []
        for _ in range(2):
            request = urllib.request.Request(
                base_url + "/v1/messages", data=b'{"model": "m"}', method="POST"
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                answers.append(json.loads(response.read()))
        assert answers[0]["content"][1]["input"] == {"command": "ls"}
        assert answers[1]["content"] == [{"type": "text", "text": "two"}]
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


# -- end to end: the real SDK and bundled CLI ---------------------------------------------------


def agent_options(server: ScriptedModelServer, tmp_path: Path, **extra: Any) -> ClaudeAgentOptions:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return ClaudeAgentOptions(
        env=server.client_env(tmp_path / "claude"),
        setting_sources=[],
        cwd=str(work),
        permission_mode="acceptEdits",
        allowed_tools=["Bash", "Write"],
        tools=["Bash", "Write", "Read", "Edit"],
        model=MODEL,
        **extra,
    )


def run_query(prompt: str, options: ClaudeAgentOptions) -> list[Message]:
    async def collect() -> list[Message]:
        return [message async for message in query(prompt=prompt, options=options)]

    return asyncio.run(collect())


def test_e2e_write_then_bash_then_text(model: ScriptedModelServer, tmp_path: Path) -> None:
    work = tmp_path / "work"
    write = use_tool("Write", file_path=str(work / "hello.txt"), content="hello\n")
    bash = use_tool("Bash", command="echo ran > bash_out.txt", description="mark")
    model.script(write, bash, say("All done."))

    messages = run_query("make the files", agent_options(model, tmp_path))

    assert (work / "hello.txt").read_text() == "hello\n"
    assert (work / "bash_out.txt").read_text() == "ran\n"
    result = messages[-1]
    assert isinstance(result, ResultMessage)
    assert result.subtype == "success" and not result.is_error
    assert result.result == "All done." and result.num_turns == 3
    assert result.total_cost_usd is not None and result.total_cost_usd > 0
    first, second, third = model.message_requests
    assert all(r.body["stream"] and r.model == MODEL for r in (first, second, third))
    assert first.last_user_text == "make the files"
    assert set(first.tool_names) == {"Bash", "Write", "Read", "Edit"}
    (write_result,) = second.tool_results()
    assert write_result["tool_use_id"] == write.tool_calls[0].id
    assert not write_result.get("is_error")
    (bash_result,) = third.tool_results()
    assert bash_result["tool_use_id"] == bash.tool_calls[0].id
    assert bash_result["is_error"] is False
    model.assert_complete()


def test_e2e_text_only_answer(model: ScriptedModelServer, tmp_path: Path) -> None:
    model.script(say("Hello from the script."))

    messages = run_query("say hello", agent_options(model, tmp_path))

    texts = [
        block.text
        for message in messages
        if isinstance(message, AssistantMessage)
        for block in message.content
        if isinstance(block, TextBlock)
    ]
    assert texts == ["Hello from the script."]
    result = messages[-1]
    assert isinstance(result, ResultMessage) and result.subtype == "success"
    assert result.total_cost_usd == pytest.approx((100 * 3 + 50 * 15) / 1e6)
    (request,) = model.message_requests
    assert request.query == "beta=true"
    assert request.headers["x-api-key"] == "sk-scripted"
    assert "Claude Agent SDK" in request.system_text
    model.assert_complete()


def test_e2e_interrupt_mid_stream_then_request_dependent_turn(
    model: ScriptedModelServer, tmp_path: Path
) -> None:
    model.script(Turn(text="z" * 1000, chunk_delay=0.05))
    model.script(lambda request: say("you said: " + request.last_user_text))
    options = agent_options(model, tmp_path, include_partial_messages=True)

    async def converse() -> list[ResultMessage]:
        results = []
        async with ClaudeSDKClient(options=options) as client:
            await client.query("write a lot")
            async for message in client.receive_response():
                if (
                    isinstance(message, StreamEvent)
                    and message.event["type"] == "content_block_delta"
                ):
                    await client.interrupt()
                elif isinstance(message, ResultMessage):
                    results.append(message)
            await client.query("again")
            async for message in client.receive_response():
                if isinstance(message, ResultMessage):
                    results.append(message)
        return results

    interrupted, answered = asyncio.run(converse())

    assert interrupted.terminal_reason == "aborted_streaming"
    assert answered.subtype == "success"
    # The CLI puts "[Request interrupted by user]" into the next user message, before the prompt.
    assert answered.result is not None and answered.result.startswith("you said: ")
    assert answered.result.endswith("again") and "interrupted" in answered.result
    assert wait_until(lambda: model.message_requests[0].disconnected)
    model.assert_complete()
