"""What the gateway adds between a client and the model API.

    .venv/bin/python bench/bench_gateway.py [--requests N] [--clients 20] [--seconds S]

Three processes: the scripted model server (the upstream, answering at once), `llmos
gateway` in front of it (the shipped policy, no system addition), and this one, the client
(plain `http.client`, a new connection per request, as the scripted server closes streams).
Each figure is measured against the upstream directly and through the gateway:

1. time to the first byte of a streamed text answer (the client's wait before text flows);
2. total time of a non-streaming answer holding one tool call (`Bash ls`), which the gateway
   decides (policy, audit row, session log) before the client sees it;
3. requests per second with 20 clients at once, each its own conversation (the session
   header), for both kinds of answer.

Medians of N sequential requests after a warm-up; the added time is the difference of the
medians.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

UPSTREAM = """
import sys, threading
from llmos._internal.testing import scripted_model
from llmos._internal.testing.scripted_model import ScriptedModelServer, say, use_tool
scripted_model._Server.request_queue_size = 256  # 20 clients connecting at once
def answer(request):
    if "tool" in request.last_user_text:
        return use_tool("Bash", command="ls", description="list")
    return say("A short answer, streamed in a few text deltas to the client.")
with ScriptedModelServer() as server:
    server.respond(answer)
    print(server.base_url, flush=True)
    threading.Event().wait()
"""
HEADERS = {
    "content-type": "application/json",
    "x-api-key": "sk-bench",
    "anthropic-version": "2023-06-01",
}


def body(kind: str, *, stream: bool) -> bytes:
    message = {"role": "user", "content": f"please answer with {kind}"}
    return json.dumps(
        {"model": "claude-sonnet-4-5", "max_tokens": 64, "stream": stream, "messages": [message]}
    ).encode()


def request(url: str, data: bytes, conversation: str) -> tuple[float, float]:
    """(time to the first body byte, total time) of one POST /v1/messages."""
    parts = urlsplit(url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(
            "POST", "/v1/messages", data, {**HEADERS, "x-llmos-conversation": conversation}
        )
        response = conn.getresponse()
        first = response.read(1)
        ttfb = time.perf_counter() - started
        rest = response.read()
        total = time.perf_counter() - started
        if response.status != 200 or not (first + rest):
            raise SystemExit(f"{url}: HTTP {response.status}: {(first + rest)[:300]!r}")
        return ttfb, total
    finally:
        conn.close()


def sequential(
    url: str, data: bytes, n: int, pick: Callable[[tuple[float, float]], float]
) -> list[float]:
    for _ in range(20):  # warm-up: connections, caches, the policy's first use
        request(url, data, "warm-up")
    return [pick(request(url, data, "sequential")) * 1000 for _ in range(n)]


def throughput(url: str, data: bytes, clients: int, seconds: float) -> float:
    done = [0] * clients
    stop = time.perf_counter() + seconds

    def client(number: int) -> None:
        while time.perf_counter() < stop:
            request(url, data, f"client-{number}")
            done[number] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def start(
    argv: list[str], env: dict[str, str], ready: Callable[[str], str | None]
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        found = ready(line.strip())
        if found:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep it drained
            return proc, found
    raise SystemExit(f"{argv[:4]} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(HOME=str(root), LLMOS_HOME=str(root / "ws"))
        env.pop("ANTHROPIC_API_KEY", None)
        upstream, direct = start([sys.executable, "-c", UPSTREAM], env, lambda line: line)
        gateway_argv = [sys.executable, "-m", "llmos", "gateway", "--port", "0", "--json"]
        gateway_argv += ["--upstream", direct, "--workdir", str(root), "--approver", "none"]
        gateway, via = start(
            gateway_argv,
            env,
            lambda line: json.loads(line)["url"] if '"listening"' in line else None,
        )
        try:
            rows = []
            for label, data, pick in (
                ("time to first byte, streamed text", body("text", stream=True), lambda t: t[0]),
                ("total, non-streaming tool call", body("tool", stream=False), lambda t: t[1]),
            ):
                plain = sequential(direct, data, args.requests, pick)
                governed = sequential(via, data, args.requests, pick)
                rows.append((label, plain, governed))
            rates = []
            for label, data in (
                ("streamed text", body("text", stream=True)),
                ("non-streaming tool call", body("tool", stream=False)),
            ):
                rates.append(
                    (
                        label,
                        throughput(direct, data, args.clients, args.seconds),
                        throughput(via, data, args.clients, args.seconds),
                    )
                )
        finally:
            gateway.terminate()
            gateway.wait(30)
            upstream.terminate()
            upstream.wait(10)
    print(f"{args.requests} sequential requests each (medians; p90 in brackets), ms:\n")
    print("| measure | upstream directly | through the gateway | added (median) |")
    print("| --- | ---: | ---: | ---: |")
    for label, plain, governed in rows:
        added = statistics.median(governed) - statistics.median(plain)
        print(f"| {label} | {_ms(plain)} | {_ms(governed)} | {added:.2f} |")
    print(f"\n{args.clients} clients at once, {args.seconds:g} s each, requests per second:\n")
    print("| answer | upstream directly | through the gateway |")
    print("| --- | ---: | ---: |")
    for label, plain_rate, governed_rate in rates:
        print(f"| {label} | {plain_rate:.0f} | {governed_rate:.0f} |")


def _ms(values: list[float]) -> str:
    p90 = statistics.quantiles(values, n=10)[-1]
    return f"{statistics.median(values):.2f} ({p90:.2f})"


if __name__ == "__main__":
    main()
