"""Secrets taken out of text that leaves llmos (telemetry: llmos/_internal/telemetry/content.py).

What counts as a secret, in order of confidence:

1. the value of a secret variable of this process's environment (a name such as
   `ANTHROPIC_API_KEY`, `GITHUB_TOKEN`, `DB_PASSWORD`: `SECRET_VAR_NAME`), wherever it shows
   up: a tool's output that printed it is caught too;
2. a value given to a secret-looking name: `API_KEY=...`, `"password": "..."`,
   `--token=...`, `Authorization: Bearer ...`, a URL's `user:password@`;
3. the shapes of well-known credentials (Anthropic, OpenAI, GitHub, GitLab, Slack, AWS,
   Google, Stripe, npm, PyPI, Langfuse keys, JSON web tokens, PEM private keys).

Each is replaced by `[REDACTED]`. Content hashes (sha256 hex), ids and ordinary words are
left alone: nothing is redacted for merely looking random.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from llmos._internal.security.lazy_regex import LazyRegex

REDACTED = "[REDACTED]"
_MIN_ENV_SECRET = 8  # shorter values ("1", "true", "dev") would redact ordinary words

# A variable or key that holds a credential (the shell policy's secret-env rule uses it too).
SECRET_VAR_NAME = LazyRegex(
    r"(^|_)(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|API_?KEY|ACCESS_KEY"
    r"|PRIVATE_KEY)(_|$)",
    re.IGNORECASE,
)
# NAME=value, NAME: value, "name": "value", --name=value, where NAME looks secret. The name
# part is matched loosely (any identifier containing a secret word), then checked.
_ASSIGNMENT = LazyRegex(
    r"""(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?P<quote>["']?)(?P<sep>\s*[:=]\s*)"""
    r"""(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s,;&|'"}\]]+)"""
)
_SECRET_WORD = LazyRegex(
    r"(secret|token|passw(or)?d|passphrase|credentials?|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|auth)",
    re.IGNORECASE,
)
# Values that hold no secret: empty, a number, a boolean, a reference to a variable, or
# already redacted (`TOKEN_LIMIT=800`, `API_KEY=$API_KEY`).
_NOT_A_SECRET = LazyRegex(
    r"|\d{1,9}|true|false|null|none|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\[REDACTED\]?.*", re.IGNORECASE
)
_AUTH_SCHEME = LazyRegex(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
_URL_PASSWORD = LazyRegex(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^\s:/@]+):[^\s/@]+@", re.I)
_PEM = LazyRegex(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
_KNOWN_SHAPES = LazyRegex(
    "|".join(
        (
            r"\bsk-ant-[A-Za-z0-9_-]{8,}",  # Anthropic
            r"\bsk-(proj-)?(?=[A-Za-z_-]*\d)[A-Za-z0-9_-]{20,}",  # OpenAI
            r"\b(sk|pk)-lf-[A-Za-z0-9-]{8,}",  # Langfuse
            r"\bgh[pousr]_[A-Za-z0-9]{30,}",  # GitHub
            r"\bgithub_pat_[A-Za-z0-9_]{30,}",
            r"\bglpat-[A-Za-z0-9_-]{20,}",  # GitLab
            r"\bxox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
            r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
            r"\bAIza[0-9A-Za-z_-]{35}",  # Google API key
            r"\b[rs]k_(live|test)_[A-Za-z0-9]{16,}",  # Stripe
            r"\bnpm_[A-Za-z0-9]{36}",  # npm
            r"\bpypi-[A-Za-z0-9_-]{50,}",  # PyPI
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWT
        )
    )
)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """`text` with every secret it holds replaced by `[REDACTED]` (see the module)."""
    if not text:
        return text
    for value in _environment_secrets(os.environ if environ is None else environ):
        if value in text:
            text = text.replace(value, REDACTED)
    text = _PEM.compiled.sub(REDACTED, text)
    text = _URL_PASSWORD.compiled.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    text = _AUTH_SCHEME.compiled.sub(lambda m: f"{m[1]} {REDACTED}", text)
    text = _ASSIGNMENT.compiled.sub(_assignment, text)
    return _KNOWN_SHAPES.compiled.sub(REDACTED, text)


def is_secret_name(name: str) -> bool:
    """Whether a variable or key called `name` holds a credential (`GITHUB_TOKEN`, `password`)."""
    return bool(SECRET_VAR_NAME.search(name.replace("-", "_")))


def _assignment(match: re.Match[str]) -> str:
    name, value = match["name"], match["value"]
    bare = value.strip("\"'")
    if not _SECRET_WORD.search(name) or _NOT_A_SECRET.fullmatch(bare):
        return match[0]
    if not is_secret_name(name.rsplit(".", 1)[-1].lstrip("-")):
        return match[0]
    quote = value[0] if value[0] in "\"'" else ""
    return f"{name}{match['quote']}{match['sep']}{quote}{REDACTED}{quote}"


_env_cache: tuple[int, tuple[str, ...]] | None = None


def _environment_secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the secret variables of `environ`, longest first (so that a secret that
    contains another is replaced whole). Cached for the process's own environment."""
    global _env_cache
    own = environ is os.environ
    key = hash(frozenset(environ.items())) if own else 0
    if own and _env_cache is not None and _env_cache[0] == key:
        return _env_cache[1]
    values = sorted(
        {
            value
            for name, value in environ.items()
            if len(value) >= _MIN_ENV_SECRET and is_secret_name(name)
        },
        key=len,
        reverse=True,
    )
    found = tuple(values)
    if own:
        _env_cache = (key, found)
    return found
