"""What a Redis URL says, read in one place, for every connection talklab opens to Redis.

The forms are redis-py's (and redis-cli's ``-u``), so a URL that works there works here::

    redis://[[username]:password@]host[:port][/db][?option=value&...]
    rediss://...                      the same over TLS
    unix://[[username]:password@]/path/to/redis.sock[?db=N&...]

``db`` may also be a query option (it then wins over the path, as in redis-py). Query options:

=========================  =================================================================
``socket_timeout``         seconds a command may wait for its reply (default 5)
``socket_connect_timeout`` seconds to connect, log in and select the database (default 5)
``ssl_cert_reqs``          ``required`` (default), ``optional`` or ``none``: check the
                           server's certificate?
``ssl_ca_certs``           the CA bundle (PEM) to check it against (default: the system's)
``ssl_certfile``           a client certificate (PEM), for servers that ask for one
``ssl_keyfile``            its private key (PEM)
``ssl_check_hostname``     ``true``/``false``: does the certificate name the host? (default:
                           true when certificates are required)
``client_name``            the name ``CLIENT LIST`` shows (default ``talklab``)
=========================  =================================================================

Anything else, a database that is not a number, a timeout that is not a positive number: a
:class:`RedisURLError` that says which, before anything connects.

Tested in tests/test_redis_wire.py (URLs read as redis-py reads them; a bad URL says why before
anything connects; every connection honours the URL).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TIMEOUT = 5.0  # seconds
DEFAULT_PORT = 6379
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
              "required": ssl.CERT_REQUIRED}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
OPTIONS = ("db", "socket_timeout", "socket_connect_timeout", "ssl_cert_reqs", "ssl_ca_certs",
           "ssl_certfile", "ssl_keyfile", "ssl_check_hostname", "client_name")


class RedisURLError(ValueError):
    """A Redis URL talklab cannot use (the message says why)."""


@dataclass(frozen=True)
class RedisOptions:
    """Everything a connection needs, as the URL gave it (defaults filled in)."""

    host: str = "localhost"
    port: int = DEFAULT_PORT
    path: str | None = None  # a Unix socket, instead of host and port
    db: int = 0
    username: str | None = None
    password: str | None = None
    socket_timeout: float = DEFAULT_TIMEOUT
    socket_connect_timeout: float = DEFAULT_TIMEOUT
    tls: bool = False
    ssl_cert_reqs: str = "required"
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool | None = None
    client_name: str = "talklab"

    @property
    def where(self) -> str:
        """Where Redis is, for messages (never the password)."""
        place = self.path if self.path else f"{self.host}:{self.port}"
        return f"{'rediss' if self.tls else 'redis'} {place} db {self.db}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS settings for ``rediss://`` (None for plain TCP and Unix sockets)."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_ca_certs)
        reqs = _CERT_REQS[self.ssl_cert_reqs]
        check = self.ssl_check_hostname
        context.check_hostname = (reqs == ssl.CERT_REQUIRED) if check is None else check
        context.verify_mode = reqs
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise RedisURLError(f"{name} must be a number of seconds, not {value!r}") from None
    if not 0 < seconds < 3600:
        raise RedisURLError(f"{name} must be more than 0 and under an hour, not {value!r}")
    return seconds


def _db(value: str) -> int:
    try:
        db = int(value)
    except ValueError:
        raise RedisURLError(f"the database must be a number (redis://host:port/3), "
                            f"not {value!r}") from None
    if db < 0:
        raise RedisURLError(f"the database must be 0 or more, not {db}")
    return db


def parse_url(url: str) -> RedisOptions:
    """The :class:`RedisOptions` a Redis URL describes (see the module docstring)."""
    if not isinstance(url, str):
        raise RedisURLError(f"a Redis URL must be a string, not {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise RedisURLError(f"a Redis URL starts with redis://, rediss:// or unix://, not {url!r}")
    query: dict[str, str] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True).items():
        if name not in OPTIONS:
            raise RedisURLError(f"unknown option {name!r} in the Redis URL (talklab reads: "
                                f"{', '.join(OPTIONS)})")
        query[name] = unquote(values[-1])
    found: dict = {"username": unquote(parts.username) if parts.username else None,
                   "password": unquote(parts.password) if parts.password else None}
    if parts.scheme == "unix":
        if not parts.path:
            raise RedisURLError("a unix:// Redis URL needs the socket's path")
        found["path"] = unquote(parts.path)
    else:
        found["tls"] = parts.scheme == "rediss"
        try:
            port = parts.port
        except ValueError:
            raise RedisURLError(f"the port in {url!r} is not a number from 1 to 65535") from None
        found["host"] = unquote(parts.hostname) if parts.hostname else "localhost"
        found["port"] = port or DEFAULT_PORT
        path = unquote(parts.path).strip("/")
        if path:
            found["db"] = _db(path)
    if "db" in query:
        found["db"] = _db(query["db"])
    for name in ("socket_timeout", "socket_connect_timeout"):
        if name in query:
            found[name] = _seconds(name, query[name])
    if "ssl_cert_reqs" in query:
        reqs = query["ssl_cert_reqs"].lower()
        if reqs not in _CERT_REQS:
            raise RedisURLError(f"ssl_cert_reqs must be none, optional or required, not {reqs!r}")
        found["ssl_cert_reqs"] = reqs
    if "ssl_check_hostname" in query:
        flag = query["ssl_check_hostname"].lower()
        if flag not in _TRUE + _FALSE:
            raise RedisURLError(f"ssl_check_hostname must be true or false, not {flag!r}")
        found["ssl_check_hostname"] = flag in _TRUE
    for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "client_name"):
        if name in query:
            found[name] = query[name]
    name = found.get("client_name", "talklab")
    if not name or not name.isprintable() or " " in name:
        raise RedisURLError(f"client_name must be printable, without spaces, not {name!r}")
    if any(k.startswith("ssl_") for k in query) and not found.get("tls"):
        raise RedisURLError("ssl_* options need a rediss:// URL")
    options = RedisOptions(**found)
    try:
        options.ssl_context()  # files readable, settings consistent: say so now, not later
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise RedisURLError(f"the TLS options in the Redis URL do not work: {exc}") from None
    return options
