"""Real token counts from the model API's `count_tokens` endpoint, through the `anthropic`
client.

The client is imported on first use, never at import time: `llmos --help` and Follower runs
never load it, and a Learner run in a workspace with learned traces starts importing it in
the background (`prefetch`) while the agent's CLI starts, so that recall (at the run's first
prompt) rarely waits for it; with nothing to recall nothing is counted, and it is not loaded. The
endpoint counts a whole request, so the count of one text is the count of a request holding
only that text, less the request's own framing (measured once with a one-character text,
which is exactly one token). Texts are counted in parallel. Any failure raises
`TokenCountUnavailable`, and recall then falls back to its conservative count.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from llmos._internal.memory.tokens import ConservativeCounter, TokenCounter, TokenCountUnavailable

if TYPE_CHECKING:
    from anthropic import Anthropic

_PROBE = "x"  # one token in any Claude tokenizer
# Used when the run's model is an alias ("sonnet") or unset: the endpoint wants a model id.
DEFAULT_COUNT_MODEL = "claude-sonnet-4-5"
DEFAULT_API_URL = "https://api.anthropic.com"
_CLOUD_PROVIDERS = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY")


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
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/v1/messages/count_tokens"
        self.model = model
        self._api_key, self._auth_token = api_key, auth_token
        self._timeout = timeout_secs
        self._workers = max_workers
        self._framing: int | None = None
        self._client: Anthropic | None = None
        self._lock = threading.Lock()

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

    def _api(self) -> Anthropic:
        with self._lock:
            if self._client is None:
                import anthropic

                # With neither a key nor a token (a base URL that needs none), no auth header.
                unauthenticated = self._api_key is None and self._auth_token is None
                omitted: dict[str, Any] = {"X-Api-Key": anthropic.Omit()}
                omitted["Authorization"] = anthropic.Omit()
                self._client = anthropic.Anthropic(
                    api_key=self._api_key,
                    auth_token=self._auth_token,
                    base_url=self.base_url,
                    timeout=self._timeout,
                    max_retries=0,  # recall falls back to the conservative count at once
                    default_headers=omitted if unauthenticated else None,
                )
            return self._client

    def _request_tokens(self, text: str) -> int:
        import anthropic

        try:
            answer: Any = self._api().messages.count_tokens(
                model=self.model, messages=[{"role": "user", "content": text}]
            )
        except anthropic.APIStatusError as exc:
            raise TokenCountUnavailable(f"{self.url} answered HTTP {exc.status_code}") from exc
        except (anthropic.APIError, OSError, ValueError) as exc:  # refused, timed out, bad JSON
            raise TokenCountUnavailable(f"{self.url}: {exc}") from exc
        tokens = getattr(answer, "input_tokens", None)
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


def prefetch(env: Mapping[str, str]) -> None:
    """Start importing the `anthropic` client in the background when this environment will
    count with it (a Learner run calls this before its agent starts)."""
    if isinstance(counter_for(env, None), ApiTokenCounter):
        threading.Thread(target=_import_client, name="llmos-import-anthropic", daemon=True).start()


def _import_client() -> None:
    try:
        import anthropic  # noqa: F401
    except Exception:  # counting falls back to the conservative count, and says why
        return
