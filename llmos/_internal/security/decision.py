"""The verdict on a tool call (`Decision`: allow, ask or deny) and the rules that give it.

Each built-in rule has a stable id (a key of `RULES`). The catastrophic ones are **hard**
(`HARD_RULES`): they always deny, and no policy file can allow them or turn them into a
question. The others are **soft**: the shipped default policy says what each does (deny or
ask), and the user's workspace policy may change that within `RULE_CHOICES` (what cannot be
parsed can be asked about or denied, never allowed).
"""

# No `from __future__ import annotations` here: NamedTuple compiles string annotations at
# import (see shell_types).

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple

Action = Literal["allow", "ask", "deny"]
ACTIONS: tuple[Action, ...] = ("allow", "ask", "deny")
STRICTNESS: Mapping[str, int] = MappingProxyType({"allow": 0, "ask": 1, "deny": 2})


class Decision(NamedTuple):
    """The verdict on one tool call. `rule` is a stable id (a key of `RULES`); `reason` is a
    sentence for the model (and the user): what was wrong and what to do instead.

    Immutable, equal and hashed by value. A NamedTuple rather than a frozen dataclass, which
    is several times as costly to create at import (every `llmos run` imports it)."""

    action: Action
    reason: str
    rule: str

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    @property
    def asks(self) -> bool:
        return self.action == "ask"

    @property
    def denied(self) -> bool:
        return self.action == "deny"

    def to_dict(self) -> dict[str, str]:
        return {"decision": self.action, "reason": self.reason, "rule": self.rule}


RULES: Mapping[str, str] = MappingProxyType(
    {
        "none": "no rule forbids the call",
        "policy-allow": "an allow entry of a policy file lifts a soft rule",
        "policy-ask": "an ask entry of a policy file matches the call",
        "policy-deny": "a deny entry of a policy file matches the call",
        "rm-protected-path": "deletes /, home, a system folder, the workspace or a folder above it",
        "llmos-state": "changes llmos's own policy, settings, ledger, audit or session logs",
        "delete-outside-workdir": "deletes something outside the workspace and scratch space",
        "write-outside-workdir": "writes or changes a file outside the workspace",
        "write-system-path": "writes or changes a file in a system folder (/etc, /usr, ...)",
        "persistence": "changes shell start-up files, authorized_keys, cron or services",
        "history-tampering": "clears or hides shell history or system logs",
        "chmod-protected-path": "changes permissions or owner of a protected location",
        "setuid": "sets the setuid/setgid bit or gives a program capabilities",
        "disk-wipe": "writes to, formats or wipes a disk device",
        "fork-bomb": "starts processes without bound",
        "kill-all": "signals every process or init",
        "shutdown": "shuts down or reboots the machine",
        "pipe-to-shell": "runs code downloaded or produced by another command, unreviewed",
        "obfuscated-exec": "runs code hidden by an encoding (base64, hex)",
        "dynamic-command": "runs a command whose name or code is only known at run time",
        "credential-access": "reads credentials or cloud instance metadata",
        "credential-listing": "lists the files of a credentials folder",
        "secret-search": "searches through a folder that holds credentials (home, /etc, /)",
        "secret-env": "prints secret environment variables or the whole environment",
        "network-upload": "uploads a file from outside the workspace",
        "reverse-shell": "connects a shell to the network",
        "container-escape": "gives a container access to the host",
        "git-force-main": "force-pushes to or deletes a main branch",
        "git-outside-workdir": "changes a git repository outside the workspace",
        "git-hooks": "changes the workspace repository's git hooks or command settings",
        "network-tunnel": "opens a tunnel between this machine and another network (ssh -R/-D)",
        "remove-system-packages": "removes system packages",
        "system-admin": "changes system accounts, kernel modules or kernel settings",
        "unknown-mcp-tool": "an MCP tool that is not an llmos plugin tool",
        "unknown-tool": "a tool the policy does not know",
        "tool-not-allowed": "a tool the project's policy denies, or a plugin tool not in this run",
        "invalid-input": "the tool input is malformed",
        "unparseable": "the command could not be analysed",
    }
)

# Always deny: nothing in a policy file changes these.
HARD_RULES = frozenset(
    {
        "rm-protected-path",
        "llmos-state",
        "write-system-path",
        "persistence",
        "history-tampering",
        "chmod-protected-path",
        "setuid",
        "disk-wipe",
        "fork-bomb",
        "kill-all",
        "shutdown",
        "pipe-to-shell",
        "obfuscated-exec",
        "reverse-shell",
        "container-escape",
        "remove-system-packages",
        "system-admin",
        "tool-not-allowed",
        "invalid-input",
        "policy-deny",
    }
)

_ANY: tuple[Action, ...] = ("deny", "ask", "allow")
# What a policy file may set each soft rule to.
RULE_CHOICES: Mapping[str, tuple[Action, ...]] = MappingProxyType(
    {
        "delete-outside-workdir": _ANY,
        "write-outside-workdir": _ANY,
        "git-outside-workdir": _ANY,
        "git-force-main": _ANY,
        "git-hooks": _ANY,
        "network-tunnel": _ANY,
        "credential-access": _ANY,
        "credential-listing": _ANY,
        "secret-search": _ANY,
        "secret-env": _ANY,
        "network-upload": _ANY,
        "unknown-mcp-tool": _ANY,
        "unknown-tool": _ANY,
        "dynamic-command": ("deny", "ask"),
        "unparseable": ("deny", "ask"),
    }
)

ALLOW = Decision("allow", "No rule of the security policy forbids this call.", "none")


def deny(rule: str, reason: str) -> Decision:
    return Decision("deny", reason, rule)


def ask(rule: str, reason: str) -> Decision:
    return Decision("ask", reason, rule)


def unparseable(detail: str) -> Decision:
    return ask(
        "unparseable",
        f"The command could not be checked ({detail}). Rewrite it as a simpler command "
        "(plain words, one step at a time, no unusual shell syntax), or have a human approve it.",
    )
