"""A scripted Anthropic-compatible Messages API server on 127.0.0.1.

The real Claude Agent SDK and its bundled CLI run fully offline against this server: point
``ANTHROPIC_BASE_URL`` at it (``client_env()`` builds the whole isolating env) and script the
model's turns. Used by llmos's tests, its benchmarks and ``llmos demo``.

Stdlib only on purpose: it must not depend on the SDK it stands in for.

    with ScriptedModelServer() as server:
        server.script(use_tool("Write", file_path="a.txt", content="hi"), say("done"))
        ...  # run query() with env=server.client_env(tmp / "claude")
        server.assert_complete()

Run ``python -m llmos._internal.testing.scripted_model --script turns.json`` to serve a JSON script.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from llmos._internal.frozen import frozen

__all__ = [
    "Answer",
    "ApiError",
    "RecordedRequest",
    "ScriptedModelServer",
    "Step",
    "ToolCall",
    "Turn",
    "api_error",
    "load_script",
    "say",
    "tools",
    "turn_from_dict",
    "use_tool",
]

logger = logging.getLogger(__name__)

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
_TEXT_CHUNK = 24  # characters per text_delta / input_json_delta, so clients see real streaming
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


@frozen
class ToolCall:
    """One tool_use block. ``id`` is filled with a fresh ``toolu_...`` at construction if None,
    so a test can match the tool_result that comes back against ``call.id``."""

    name: str
    input: dict[str, Any]
    id: str | None = None

    def __post_init__(self) -> None:
        if self.id is None:
            object.__setattr__(self, "id", _new_id("toolu_"))


@frozen
class Turn:
    """One scripted assistant message: optional text, then tool calls."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    delay: float = 0.0  # seconds before answering; cut short by stop()/reset()
    input_tokens: int = 100
    output_tokens: int = 50
    stop_reason: str | None = None  # None: "tool_use" if tool_calls else "end_turn"
    chunk_delay: float = 0.0  # pause between SSE events, to interrupt a client mid-stream

    @property
    def effective_stop_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if self.tool_calls else "end_turn"

    def content(self) -> list[dict[str, Any]]:
        """The message's content blocks as the API returns them."""
        blocks: list[dict[str, Any]] = []
        if self.text is not None:
            blocks.append({"type": "text", "text": self.text})
        for call in self.tool_calls:
            blocks.append(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}
            )
        return blocks


@frozen
class ApiError:
    """A scripted API failure, answered as Anthropic's error JSON with this HTTP status.

    ``retry=False`` sends ``x-should-retry: false``, which the CLI honours: it gives up at once
    instead of retrying with backoff (a retry consumes the next step). Exception seen with CLI
    2.1.330: on a 400 it always retries once without one beta header, so a 400 uses two steps."""

    status: int = 529
    type: str = "overloaded_error"
    message: str = "Overloaded"
    retry: bool = False
    delay: float = 0.0


Answer: TypeAlias = Turn | ApiError


def say(text: str, **kwargs: Any) -> Turn:
    """A text-only final answer (``end_turn``)."""
    return Turn(text=text, **kwargs)


def use_tool(name: str, /, **input: Any) -> Turn:
    """A turn that calls one tool with ``input`` as its arguments."""
    return Turn(tool_calls=(ToolCall(name, dict(input)),))


def tools(*calls: ToolCall, text: str | None = None) -> Turn:
    """A turn with optional text followed by several tool calls (parallel tool use)."""
    return Turn(text=text, tool_calls=calls)


def api_error(
    status: int = 529, message: str = "Overloaded", *, type: str | None = None
) -> ApiError:
    """A scripted API error; ``type`` defaults from the status like the real API's."""
    default_types = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        529: "overloaded_error",
    }
    return ApiError(
        status=status, type=type or default_types.get(status, "api_error"), message=message
    )


def _describe(step: object) -> str:
    if isinstance(step, Turn | ApiError):
        return repr(step)
    return f"<callable {getattr(step, '__qualname__', repr(step))}>"


@dataclass
class RecordedRequest:
    """One HTTP request the server received, with helpers for the Messages API body."""

    path: str  # without the query string
    headers: dict[str, str]  # keys lower-cased
    body: dict[str, Any]
    method: str = "POST"
    query: str = ""
    answer: Answer | None = None  # what a /v1/messages request was answered with, once known
    disconnected: bool = False  # the client hung up before the answer was fully written

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("name")) for t in self.body.get("tools", [])]

    def _last_turn_message(self) -> dict[str, Any] | None:
        # The CLI interleaves role:"system" messages (env info, hook context) after tool_results.
        for message in reversed(self.messages):
            if message.get("role") != "system":
                last: dict[str, Any] = message
                return last
        return None

    @property
    def last_user_content(self) -> str | list[dict[str, Any]]:
        """Content of the last non-system message (normally the user's), "" if none."""
        message = self._last_turn_message()
        return message.get("content", "") if message else ""

    @property
    def last_user_text(self) -> str:
        """The text blocks of the last non-system message joined by newlines.

        Skips the ``<system-reminder>`` blocks (environment, date, model) that the CLI puts
        before the prompt, so for the first request this is just the prompt."""
        content = self.last_user_content
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content if b.get("type") == "text"]
        return "\n".join(t for t in texts if not t.lstrip().startswith("<system-reminder>"))

    def tool_results(self) -> list[dict[str, Any]]:
        """The tool_result blocks of the last non-system message."""
        content = self.last_user_content
        if isinstance(content, str):
            return []
        return [b for b in content if b.get("type") == "tool_result"]

    @property
    def system_text(self) -> str:
        """The top-level ``system`` prompt as one string (it may be a list of text blocks)."""
        system = self.body.get("system", "")
        if isinstance(system, str):
            return system
        return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))


Step: TypeAlias = Answer | Callable[[RecordedRequest], Answer]


def _sse_events(answer: Turn, model: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The streaming event sequence of the real API for one message."""
    usage = {
        "input_tokens": answer.input_tokens,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    start: dict[str, Any] = {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    yield "message_start", {"type": "message_start", "message": start}
    yield "ping", {"type": "ping"}
    for index, block in enumerate(answer.content()):
        if block["type"] == "text":
            text = block["text"]
            yield _block_start(index, {"type": "text", "text": ""})
            for piece in _chunks(text):
                yield _block_delta(index, {"type": "text_delta", "text": piece})
        else:
            yield _block_start(index, {**block, "input": {}})
            yield _block_delta(index, {"type": "input_json_delta", "partial_json": ""})
            for piece in _chunks(json.dumps(block["input"])):
                yield _block_delta(index, {"type": "input_json_delta", "partial_json": piece})
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    delta = {"stop_reason": answer.effective_stop_reason, "stop_sequence": None}
    yield (
        "message_delta",
        {"type": "message_delta", "delta": delta, "usage": {"output_tokens": answer.output_tokens}},
    )
    yield "message_stop", {"type": "message_stop"}


def _block_start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_start", {
        "type": "content_block_start",
        "index": index,
        "content_block": block,
    }


def _block_delta(index: int, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}


def _chunks(text: str) -> list[str]:
    return [text[i : i + _TEXT_CHUNK] for i in range(0, len(text), _TEXT_CHUNK)] or [""]


def _message_json(answer: Turn, model: str) -> dict[str, Any]:
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": answer.content(),
        "stop_reason": answer.effective_stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _error_json(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


class ScriptedModelServer:
    """A FIFO of scripted turns served as the Anthropic Messages API (see module docstring).

    Thread-safe: the server answers each request on its own thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._lock = threading.Condition()
        self._steps: deque[Step] = deque()
        self._fallback: Step | None = None
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._cancel = threading.Event()  # replaced on reset(); set to cut delays short
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ScriptedModelServer:
        if self._httpd is not None:
            raise RuntimeError("ScriptedModelServer is already running")
        self._cancel = threading.Event()
        httpd = _Server((self._host, self._port), _Handler)
        httpd.scripted = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"scripted-model-{httpd.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns promptly even while a delayed turn sleeps."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._cancel.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("ScriptedModelServer is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *steps: Step) -> ScriptedModelServer:
        """Append steps to the queue; a callable step builds its answer from the request."""
        with self._lock:
            self._steps.extend(steps)
        return self

    def respond(self, fallback: Step | None) -> ScriptedModelServer:
        """Answer with ``fallback`` whenever the queue is empty (None: unexpected -> HTTP 500)."""
        with self._lock:
            self._fallback = fallback
        return self

    def reset(self) -> None:
        """Forget steps, fallback, requests and errors, and abort delayed answers in flight."""
        with self._lock:
            self._steps.clear()
            self._fallback = None
            self._requests.clear()
            self._errors.clear()
            old, self._cancel = self._cancel, threading.Event()
        old.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._steps)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """Only the ``POST /v1/messages`` requests, i.e. the model calls."""
        return [r for r in self.requests if r.method == "POST" and r.path == MESSAGES_PATH]

    @property
    def errors(self) -> list[str]:
        """Unexpected requests and failing steps, as readable lines."""
        with self._lock:
            return list(self._errors)

    def wait_for_requests(self, count: int, *, timeout: float = 10.0) -> bool:
        """Block until ``count`` model calls were received; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._count_messages() >= count, timeout=timeout)

    def assert_complete(self) -> None:
        """Raise AssertionError if scripted steps are unused or anything unexpected happened."""
        with self._lock:
            unused = [_describe(s) for s in self._steps]
            errors = list(self._errors)
        problems: list[str] = []
        if unused:
            problems.append(f"{len(unused)} scripted step(s) never used:")
            problems += [f"  - {u}" for u in unused]
        if errors:
            problems.append(f"{len(errors)} unexpected request(s)/error(s):")
            problems += [f"  - {e}" for e in errors]
        if problems:
            raise AssertionError("ScriptedModelServer:\n" + "\n".join(problems))

    def client_env(self, config_dir: Path) -> dict[str, str]:
        """Env vars that point the bundled CLI at this server and isolate its files.

        Creates ``config_dir`` (and ``config_dir/tmp`` for the CLI's temp files). Blanks
        settings that could route the CLI elsewhere (Bedrock/Vertex, OAuth, proxies)."""
        config_dir = Path(config_dir)
        tmp_dir = config_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return {
            "ANTHROPIC_BASE_URL": self.base_url,
            "ANTHROPIC_API_KEY": "sk-scripted",
            "ANTHROPIC_AUTH_TOKEN": "",
            "CLAUDE_CODE_OAUTH_TOKEN": "",
            "CLAUDE_CODE_USE_BEDROCK": "",
            "CLAUDE_CODE_USE_VERTEX": "",
            "CLAUDE_CONFIG_DIR": str(config_dir),
            "CLAUDE_CODE_TMPDIR": str(tmp_dir),
            # Without it the CLI first asks the model for a session title (desyncs the script)
            # and calls api.anthropic.com.
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "ENABLE_TOOL_SEARCH": "false",  # MCP tools in tools[] rather than deferred
            "CLAUDE_CODE_DISABLE_BACKGROUND_TASKS": "1",  # synchronous subagents
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    # -- called by the handler threads -------------------------------------------------------

    def _count_messages(self) -> int:
        return sum(1 for r in self._requests if r.method == "POST" and r.path == MESSAGES_PATH)

    def _record(self, request: RecordedRequest) -> threading.Event:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
            return self._cancel

    def _record_error(self, message: str) -> None:
        logger.warning("scripted model: %s", message)
        with self._lock:
            self._errors.append(message)

    def _next_answer(self, request: RecordedRequest) -> Answer | None:
        """Pop the next step (or the fallback) and build its answer; None if there is none."""
        with self._lock:
            number = self._count_messages()
            step = self._steps.popleft() if self._steps else self._fallback
        if step is None:
            last = request.last_user_text[:200]
            self._record_error(
                f"request #{number} had no scripted turn left (last user text: {last!r})"
            )
            return None
        if isinstance(step, Turn | ApiError):
            return step
        try:
            answer = step(request)
        except Exception as exc:  # a failing step must fail the test, not kill the thread
            self._record_error(f"request #{number}: step {_describe(step)} raised {exc!r}")
            return None
        if not isinstance(answer, Turn | ApiError):
            self._record_error(f"request #{number}: step {_describe(step)} returned {answer!r}")
            return None
        return answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client must never block interpreter exit
    # Twenty sessions through the gateway connect at once; on a busy machine the default
    # backlog (5) overflowed and the gateway saw a connection reset.
    request_queue_size = 64
    scripted: ScriptedModelServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Log instead of printing a traceback on stderr; the test's assertions tell the story.
        logger.exception("scripted model: error while serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the owning ScriptedModelServer."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # a half-open client must not pin a thread forever
    # Headers and body are separate writes: without TCP_NODELAY the body of a keep-alive
    # answer waits for the client's delayed ACK (~40 ms), as no real API server makes it.
    disable_nagle_algorithm = True
    server: _Server

    @property
    def owner(self) -> ScriptedModelServer:
        return self.server.scripted

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("scripted model: " + format, *args)

    # -- HTTP verbs --------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._health(send_body=True)

    def do_HEAD(self) -> None:
        self._health(send_body=False)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        raw = self._read_body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        request = RecordedRequest(
            path=url.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body if isinstance(body, dict) else {},
            method="POST",
            query=url.query,
        )
        cancel = self.owner._record(request)
        if not isinstance(body, dict):
            self.owner._record_error(f"POST {self.path}: body is not a JSON object")
            self._send_json(400, _error_json("invalid_request_error", "body must be a JSON object"))
        elif url.path == MESSAGES_PATH:
            self._messages(request, cancel)
        elif url.path == COUNT_TOKENS_PATH:
            # Rough estimate: ~4 characters per token, like the usual rule of thumb.
            self._send_json(200, {"input_tokens": max(1, len(raw) // 4)})
        else:
            self._send_json(404, _error_json("not_found_error", f"Not found: POST {url.path}"))

    # -- routes ------------------------------------------------------------------------------

    def _health(self, *, send_body: bool) -> None:
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.owner._record(RecordedRequest(url.path, headers, {}, self.command, url.query))
        if url.path in ("/", "/health"):
            self._send_json(200, {"status": "ok"}, send_body=send_body)
        else:
            payload = _error_json("not_found_error", f"Not found: {self.command} {url.path}")
            self._send_json(404, payload, send_body=send_body)

    def _messages(self, request: RecordedRequest, cancel: threading.Event) -> None:
        answer = self.owner._next_answer(request)
        if answer is None:
            message = (
                "ScriptedModelServer: unexpected request, no scripted turn left "
                "(script more turns or set a fallback with respond())"
            )
            self._send_json(500, _error_json("api_error", message), retry=False)
            return
        request.answer = answer
        if answer.delay > 0 and cancel.wait(answer.delay):
            self.close_connection = True  # stopped or reset while waiting: drop the request
            return
        if isinstance(answer, ApiError):
            payload = _error_json(answer.type, answer.message)
            self._send_json(answer.status, payload, retry=answer.retry)
        elif request.body.get("stream"):
            self._stream(request, answer, cancel)
        else:
            self._send_json(200, _message_json(answer, request.model))

    def _stream(self, request: RecordedRequest, answer: Turn, cancel: threading.Event) -> None:
        # No Content-Length: the body ends when the connection closes, like a plain SSE stream.
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.send_header("request-id", _new_id("req_"))
            self.end_headers()
            for event, data in _sse_events(answer, request.model):
                if answer.chunk_delay > 0 and cancel.wait(answer.chunk_delay):
                    return
                self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
        except _DISCONNECTS:
            request.disconnected = True
            logger.debug("scripted model: client disconnected mid-stream")

    # -- plumbing ----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(
        self, status: int, payload: dict[str, Any], *, send_body: bool = True, retry: bool = True
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("request-id", _new_id("req_"))
            if not retry:
                self.send_header("x-should-retry", "false")
            self.end_headers()
            if send_body:
                self.wfile.write(data)
        except _DISCONNECTS:
            self.close_connection = True
            logger.debug("scripted model: client disconnected before the answer")


# -- JSON scripts and the command line ---------------------------------------------------------


def turn_from_dict(data: dict[str, Any]) -> Answer:
    """Build a Turn (or, with an "error" key, an ApiError) from its JSON form.

    ``{"text": "...", "tool_calls": [{"name": "Bash", "input": {...}}], "delay": 0.5}``
    ``{"error": {"status": 529, "message": "Overloaded", "retry": false}}``"""
    if "error" in data:
        err = dict(data["error"])
        base = api_error(int(err.pop("status", 529)), err.pop("message", "Overloaded"))
        return replace(base, **err)
    calls = tuple(
        ToolCall(str(c["name"]), dict(c.get("input", {})), c.get("id"))
        for c in data.get("tool_calls", [])
    )
    known = {"delay", "input_tokens", "output_tokens", "stop_reason", "chunk_delay"}
    extra = {k: v for k, v in data.items() if k in known}
    unknown = set(data) - known - {"text", "tool_calls"}
    if unknown:
        raise ValueError(f"unknown turn keys {sorted(unknown)} in {data!r}")
    return Turn(text=data.get("text"), tool_calls=calls, **extra)


def load_script(path: Path) -> list[Answer]:
    """Read a JSON list of turns (see turn_from_dict)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: a script must be a JSON list of turns")
    return [turn_from_dict(item) for item in data]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmos._internal.testing.scripted_model",
        description="Serve scripted Anthropic Messages API turns on 127.0.0.1 until killed.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", type=Path, help="JSON list of turns")
    parser.add_argument("--fallback", metavar="TEXT", help="answer TEXT once the script is used up")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)

    server = ScriptedModelServer(host=args.host, port=args.port)
    if args.script:
        server.script(*load_script(args.script))
    if args.fallback is not None:
        server.respond(say(args.fallback))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with server:
        print(server.base_url, flush=True)
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
