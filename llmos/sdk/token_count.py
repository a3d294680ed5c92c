"""Real token counts from the model API's `POST /v1/messages/count_tokens` endpoint.

A plain HTTP call (urllib) rather than the `anthropic` package: importing that package
takes seconds on a small machine, and recall runs at the start of every Learner run. The
endpoint counts a whole request, so the count of one text is the count of a request holding
only that text, less the request's own framing (measured once with a one-character text,
which is exactly one token). Texts are counted in parallel. Any failure raises
`TokenCountUnavailable`, and recall then falls back to its conservative count.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from llmos.memory.tokens import ConservativeCounter, TokenCounter, TokenCountUnavailable

API_VERSION = "2023-06-01"
# Used when the run's model is an alias ("sonnet") or unset: the endpoint wants a model id.
DEFAULT_COUNT_MODEL = "claude-sonnet-4-5"
DEFAULT_API_URL = "https://api.anthropic.com"
_CLOUD_PROVIDERS = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY")
_PROBE = "x"  # one token in any Claude tokenizer


class ApiTokenCounter:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        auth_token: str | None = None,
        timeout_secs: float = 5.0,
        max_workers: int = 8,
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/messages/count_tokens"
        self.model = model
        self._headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if api_key:
            self._headers["x-api-key"] = api_key
        if auth_token:
            self._headers["authorization"] = f"Bearer {auth_token}"
        self._timeout = timeout_secs
        self._workers = max_workers
        self._framing: int | None = None

    @property
    def name(self) -> str:
        return f"count_tokens ({self.model})"

    def count(self, texts: Sequence[str]) -> list[int]:
        todo = [text for text in texts if text]
        if not todo:
            return [0] * len(texts)
        with ThreadPoolExecutor(max_workers=min(self._workers, len(todo) + 1)) as pool:
            framing = pool.submit(self._framing_tokens)
            counted = dict(zip(todo, pool.map(self._request_tokens, todo), strict=True))
            overhead = framing.result()
        return [max(1, counted[text] - overhead) if text else 0 for text in texts]

    def _framing_tokens(self) -> int:
        if self._framing is None:
            self._framing = max(0, self._request_tokens(_PROBE) - 1)
        return self._framing

    def _request_tokens(self, text: str) -> int:
        body = {"model": self.model, "messages": [{"role": "user", "content": text}]}
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            raise TokenCountUnavailable(f"{self.url} answered HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused, bad JSON
            raise TokenCountUnavailable(f"{self.url}: {exc}") from exc
        tokens = answer.get("input_tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
            raise TokenCountUnavailable(f"{self.url} gave no input_tokens: {answer!r:.200}")
        return tokens


def counter_for(env: Mapping[str, str], model: str | None) -> TokenCounter:
    """The best counter this environment allows; never raises."""
    if any(env.get(name, "").strip() not in ("", "0") for name in _CLOUD_PROVIDERS):
        return ConservativeCounter("count_tokens is not used with a cloud provider")
    api_key = env.get("ANTHROPIC_API_KEY", "").strip()
    auth_token = env.get("ANTHROPIC_AUTH_TOKEN", "").strip()
    base_url = env.get("ANTHROPIC_BASE_URL", "").strip()
    if not (api_key or auth_token or base_url):
        return ConservativeCounter("no API key or base URL for count_tokens")
    return ApiTokenCounter(
        base_url=base_url or DEFAULT_API_URL,
        model=model if model and model.startswith("claude-") else DEFAULT_COUNT_MODEL,
        api_key=api_key or None,
        auth_token=auth_token or None,
    )
