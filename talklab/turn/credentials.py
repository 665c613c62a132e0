"""Who may use the relay: long-term and time-limited TURN credentials, and nonces (no I/O).

* **Long-term credentials** (RFC 8489, 9.2): a username and a password the server knows; the
  client signs each request with MD5(username:realm:password).
* **Time-limited credentials** (the "TURN REST API" coturn implements with
  ``use-auth-secret``): the server and whoever hands out credentials share a secret; a
  username is ``"<expiry, Unix time>:<name>"`` and its password is
  ``base64(HMAC-SHA1(secret, username))``, so credentials can be minted for each visitor of a
  page, and stop working at their expiry without the server keeping a list.
* **Nonces** (RFC 8489, 9.2.2): the server's challenge, carrying its own expiry and an HMAC so
  the server keeps no state; an expired one gets 438 Stale Nonce and the client retries.

Everything runs on the injected ``clock`` (Unix time: REST usernames carry Unix time).

Tested in tests/test_turn.py (time-limited credentials from a shared secret; a stale nonce gets 438
and a fresh one) and tests/test_lab_turn.py (a lab's /config credentials expire).
"""

from __future__ import annotations

import base64
import hmac
import os
import time
from collections.abc import Callable

NONCE_LIFETIME = 600


class Credentials:
    """The users a TURN server knows, its shared secret if any, and its nonces."""

    def __init__(self, users: dict[str, str] | None = None, secret: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.users = dict(users or {})
        self.secret = secret
        self.clock = clock
        self._nonce_key = os.urandom(16)

    def nonce(self) -> str:
        expiry = int(self.clock()) + NONCE_LIFETIME
        tag = hmac.new(self._nonce_key, str(expiry).encode(), "sha1").hexdigest()[:16]
        return f"{expiry:x}{tag}"

    def nonce_state(self, nonce: str) -> str:
        """'ok', 'stale' or 'bad'."""
        expiry_hex, tag = nonce[:-16], nonce[-16:]
        try:
            expiry = int(expiry_hex, 16)
        except ValueError:
            return "bad"
        good = hmac.new(self._nonce_key, str(expiry).encode(), "sha1").hexdigest()[:16]
        if not hmac.compare_digest(tag, good):
            return "bad"
        return "ok" if expiry > self.clock() else "stale"

    def password(self, username: str) -> str | None:
        """The password for ``username``, or None: unknown, or time-limited and expired."""
        if username in self.users:
            return self.users[username]
        if self.secret and ":" in username:
            expiry = username.split(":", 1)[0]
            if expiry.isdigit() and int(expiry) > self.clock():
                return rest_password(self.secret, username)
        return None


def rest_password(secret: str, username: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), "sha1")
                            .digest()).decode()


def rest_credentials(secret: str, name: str, ttl: int = 3600,
                     now: Callable[[], float] = time.time) -> tuple[str, str]:
    """Time-limited (username, password) for a shared ``secret``, valid ``ttl`` seconds."""
    username = f"{int(now()) + ttl}:{name}"
    return username, rest_password(secret, username)
