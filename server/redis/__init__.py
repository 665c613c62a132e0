"""The Redis store: rooms and seats shared by several signaling servers.

* :mod:`.url` — what a Redis URL says (database, login, timeouts, TLS, Unix socket), read once;
* :mod:`.wire` — RESP by hand on two connections per server (commands, and a subscription),
  every one honouring the URL, every call bounded by its timeouts;
* :mod:`.scripts` — the key names (once in Python, once in Lua from the same prefix) and the
  Lua scripts that change rooms atomically;
* :mod:`.session` — what every piece below shares: this server's id, its keys, its command
  connections, the data set's epoch and Redis's clock;
* :mod:`.channels` — Pub/Sub: announcements and forwarded packets, out and in;
* :mod:`.liveness` — heartbeats, and freeing the seats of a server that died;
* :mod:`.rebuild` — writing this server's people back to a Redis that restarted empty;
* :mod:`.store` — :class:`RedisStore`, the :class:`~..store.Store` the handlers ask, which
  makes the session and the three pieces above and gives each callbacks, never itself.
"""

from .store import RedisStore
from .url import RedisOptions, RedisURLError, parse_url
from .wire import RedisUnavailable

__all__ = ["RedisOptions", "RedisStore", "RedisURLError", "RedisUnavailable", "parse_url"]
