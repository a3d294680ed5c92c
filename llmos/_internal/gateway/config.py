"""The gateway's settings: `<workspace>/gateway.yaml` (optional), then the command's options.

```yaml
upstream: https://api.anthropic.com   # or any Anthropic-compatible server (LiteLLM, a local one)
port: 8787
tools:                                # other clients' tool names (toolmap.py)
  execute_command: {kind: Bash, fields: {cmd: command}}
  ToolSearch: allow
unknown_tools: ask                    # tools neither mapped nor known to the policy
system_rules: true                    # tell the model the workspace's rules
```
Unknown keys are errors (a misspelt key must not silently leave a default in place).
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen
from llmos._internal.gateway.toolmap import VERDICTS, ToolMap, tool_map
from llmos._internal.yaml_text import YAMLError, load_yaml

CONFIG_FILE = "gateway.yaml"
DEFAULT_UPSTREAM = "https://api.anthropic.com"
DEFAULT_PORT = 8787
# Headers a client names its conversation with: Claude Code's session id, or our own.
SESSION_HEADERS = ("x-claude-code-session-id", "x-llmos-conversation")


@frozen
class GatewayConfig:
    """The gateway's settings: gateway.yaml's, with the command's options over them."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    upstream: str = DEFAULT_UPSTREAM
    # The variable holding the key the gateway sends upstream for clients that present a
    # gateway key (their own keys are forwarded as they are).
    upstream_key_env: str = "ANTHROPIC_API_KEY"
    require_key: bool = False  # clients must present a gateway key (forced off loopback)
    workdir: Path = field(default_factory=Path.cwd)  # where the clients' tools act
    project: str = "default"  # whose policy, ledger and budget the conversations use
    unknown_tools: str = "ask"
    tools: Mapping[str, Any] = field(default_factory=dict)
    think_again_limit: int = 3  # rejected turns sent back to the model per client request
    approval_timeout_secs: float = 300.0  # no answer in this time rejects the call
    system_rules: bool = False  # add a short paragraph on the workspace's rules to `system`
    record_reasoning: bool = True  # log the model's text before each tool call
    idle_close_secs: float = 900.0  # a conversation idle this long is closed (ledger row)
    max_open_conversations: int = 256  # beyond, the least recently active idle ones close
    conversation_budget_usd: float | None = None  # the most one conversation may spend
    session_headers: tuple[str, ...] = SESSION_HEADERS
    upstream_timeout_secs: float = 600.0
    ping_secs: float = 5.0  # keep-alive pings to a client while its tool call is held

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def keys_required(self) -> bool:
        return self.require_key or not self.loopback

    def tool_map(self) -> ToolMap:
        return tool_map(self.tools, unknown=self.unknown_tools, source=CONFIG_FILE)

    def upstream_key(self) -> str | None:
        return os.environ.get(self.upstream_key_env) or None

    def with_options(self, **options: Any) -> GatewayConfig:
        """These settings with the command's options (those given) over them, checked."""
        given = {k: v for k, v in options.items() if v is not None}
        return check(replace(self, **given))


def load_config(root: Path) -> GatewayConfig:
    """`root/gateway.yaml` over the defaults (the defaults alone if there is no file)."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return check(GatewayConfig())
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except (YAMLError, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the gateway settings ({exc})") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of settings")
    known = {f.name: f for f in fields(GatewayConfig)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise UsageError(
            f"{path}: unknown setting(s) {', '.join(unknown)}",
            hint=f"Known settings: {', '.join(sorted(known))}.",
        )
    values: dict[str, Any] = {}
    for name, value in data.items():
        values[name] = _convert(name, value, known[name].default, path)
    return check(replace(GatewayConfig(), **values))


def _convert(name: str, value: Any, default: Any, path: Path) -> Any:
    where = f"{path}: setting {name}"
    if name == "workdir":
        return Path(str(value)).expanduser()
    if name == "tools":
        if not isinstance(value, dict):
            raise UsageError(f"{where}: expected a mapping of tool names")
        return value
    if name == "session_headers":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where}: expected a list of header names")
        return tuple(v.lower() for v in value)
    if name == "conversation_budget_usd" and value is None:
        return None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UsageError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int | float) or name == "conversation_budget_usd":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{where}: expected a number, got {value!r}")
        return int(value) if isinstance(default, int) else float(value)
    if not isinstance(value, str):
        raise UsageError(f"{where}: expected text, got {value!r}")
    return value


def check(config: GatewayConfig) -> GatewayConfig:
    """Refuse settings that cannot work, saying which and why."""
    if not 0 <= config.port <= 65535:
        raise UsageError(f"port {config.port} is not a TCP port (0-65535; 0 picks a free one)")
    parts = urlsplit(config.upstream)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"upstream {config.upstream!r} is not an http(s) URL",
            hint="Give the base URL of an Anthropic-compatible API, e.g. https://api.anthropic.com",
        )
    if config.unknown_tools not in VERDICTS:
        raise UsageError(f"unknown_tools must be allow, ask or deny, not {config.unknown_tools!r}")
    if config.think_again_limit < 0:
        raise UsageError("think_again_limit must be 0 or more")
    if config.max_open_conversations < 1:
        raise UsageError("max_open_conversations must be 1 or more")
    for name in ("approval_timeout_secs", "idle_close_secs", "upstream_timeout_secs", "ping_secs"):
        value = getattr(config, name)
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"{name} must be a positive number of seconds, not {value}")
    budget = config.conversation_budget_usd
    if budget is not None and not (math.isfinite(budget) and budget > 0):
        raise UsageError(f"conversation_budget_usd must be a positive amount, not {budget}")
    config.tool_map()  # its errors name the tool
    return config
