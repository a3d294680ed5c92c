"""Who may use the console, and proof that a request that changes something came from it.

- **A one-time token.** `llmos console` prints its address with a token
  (`http://127.0.0.1:PORT/?token=...`). The first visit with it gets a session cookie
  (HttpOnly, SameSite=Strict) and the token is burned: a copy of the address found later
  (shell history, a screenshot) opens nothing. No cookie, no token: 401.
- **A password** instead, for a console bound beyond this machine (`--allow-remote`): only
  its scrypt hash is kept, in memory; the login form trades it for the same cookie. (The
  token still works once too.)
- **Cross-site forgery.** Every request that changes something is a POST carrying the
  session's CSRF token (a form field or the `x-csrf-token` header), and its `Origin` (or
  `Referer`), when the browser sends one, must be the console's own; the `Host` header must
  name the console (a DNS-rebinding page cannot pass itself off as it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

COOKIE = "llmos_console"
SESSION_SECS = 12 * 3600


@dataclass
class Session:
    """A browser logged in to the console, known by its session cookie."""

    csrf: str
    expires_at: float


def hash_password(password: str, salt: bytes | None = None) -> tuple[bytes, bytes]:
    salt = salt or secrets.token_bytes(16)
    return salt, hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)


@dataclass
class Gatekeeper:
    """The console's sessions: made from the one-time token or the password."""

    token: str | None = field(default_factory=lambda: secrets.token_urlsafe(24))
    password: tuple[bytes, bytes] | None = None  # (salt, scrypt hash)
    sessions: dict[str, Session] = field(default_factory=dict)

    def redeem_token(self, offered: str) -> str | None:
        """A new session id for the right token, which is then burned; else None."""
        if self.token is None or not hmac.compare_digest(offered.encode(), self.token.encode()):
            return None
        self.token = None
        return self._new_session()

    def log_in(self, password: str) -> str | None:
        if self.password is None:
            return None
        salt, expected = self.password
        if not hmac.compare_digest(hash_password(password, salt)[1], expected):
            return None
        return self._new_session()

    def _new_session(self) -> str:
        sid = secrets.token_urlsafe(32)
        self.sessions[sid] = Session(secrets.token_urlsafe(24), time.time() + SESSION_SECS)
        return sid

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        found = self.sessions.get(sid)
        if found is None or found.expires_at < time.time():
            self.sessions.pop(sid, None)
            return None
        return found

    def log_out(self, sid: str | None) -> None:
        if sid:
            self.sessions.pop(sid, None)


def same_origin(headers: dict[str, str], allowed_hosts: set[str]) -> bool:
    """Whether a state-changing request comes from the console's own pages: its Origin (or,
    without one, its Referer) names one of the console's hosts; a request with neither
    (a script with the session's cookie and CSRF token) passes on those alone."""
    for name in ("origin", "referer"):
        value = headers.get(name)
        if value:
            if value == "null":
                return False
            return urlsplit(value).netloc.lower() in allowed_hosts
    return True


def csrf_ok(session: Session, offered: str | None) -> bool:
    return bool(offered) and hmac.compare_digest(str(offered).encode(), session.csrf.encode())
