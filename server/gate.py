"""Who may talk to a learner's lab: the Host and Origin checks, CORS, and the trace's token.

A lab listens on loopback, but a web page in any tab of the learner's browser can still send it
requests: ``fetch("http://127.0.0.1:5000/config")`` or ``new WebSocket(...)``. Two browser
facts make that safe to refuse:

* **Origin** (RFC 6454, section 7): a browser names the page that made a request in the
  ``Origin`` header of every cross-origin request, and of every WebSocket handshake (RFC 6455,
  section 4.1, item 8; section 10.2: "servers that are not intended to process input from any
  web page but only for certain sites SHOULD verify the |Origin| field"). The server's own page
  sends its own origin; any other page sends its. Programs (the Node seed client, Python's
  clients, the storm bench) send none, and are let through.
* **Host** (RFC 9110, section 7.2): DNS rebinding makes ``evil.example`` resolve to 127.0.0.1, so
  that the attacker's page becomes "same-origin" with the lab; but the browser still sends
  ``Host: evil.example``. So the server answers only Host names it is known by: loopback names
  (``localhost``, ``*.localhost``: RFC 6761, section 6.3), loopback and its own addresses, and
  the hosts of the origins it was told to allow. An IP literal cannot be rebound.

A request that fails either check gets **403** with the reason, on every route and on
``/socket.io/`` (so a WebSocket from a foreign page is refused before it opens). An allowed
cross-origin page (``allowed_origins``, ``talklab-server --allow-origin``: a teacher's page, or
a Jupyter server that proxies the lab) gets ``Access-Control-Allow-Origin`` with its own origin
(Fetch standard, "CORS protocol"), and never ``Access-Control-Allow-Credentials``: nothing here
uses cookies, so no page is ever allowed to send them.

``GET /trace`` lists every room, name and candidate: it also needs the server's **token**
(``?token=`` or ``Authorization: Bearer``; random per server, printed at start).

Tested in tests/test_security.py (a foreign Host or Origin gets 403 everywhere, WebSockets included;
an allowed origin gets CORS without credentials; how the gate reads origins).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def normal_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, the default port left out (RFC 6454, section
    6.2: the ASCII serialisation); ValueError if ``origin`` is not an http(s) origin."""
    parts = urlsplit(origin.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], http or https)")
    port = parts.port
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")


def split_host(value: str) -> tuple[str, int | None]:
    """``Host`` as (name, port): lower case, IPv6 brackets removed; ValueError if malformed."""
    parts = urlsplit("//" + value.strip())
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"malformed Host {value!r}") from None
    if not parts.hostname or parts.username is not None or parts.path:
        raise ValueError(f"malformed Host {value!r}")
    return parts.hostname.lower(), port


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class Gate:
    """The Host and Origin rules of one server (pure: no sockets, no aiohttp).

    ``host`` is the address the server was told to listen on; ``allowed_origins`` the origins
    that may reach it besides its own page.
    """

    def __init__(self, host: str, allowed_origins: Iterable[str] = ()) -> None:
        origins = list(allowed_origins)
        if isinstance(allowed_origins, str):
            raise TypeError("allowed_origins must be a list of origins, not one string")
        if any(o.strip() in ("*", "null") for o in origins):
            raise ValueError("allowed_origins names origins one by one; '*' and 'null' would let "
                             "any page reach the lab")
        self.allowed_origins = frozenset(normal_origin(o) for o in origins)
        self.host = host.strip("[]").lower()
        listen = _ip(self.host)
        self._any_ip = listen is not None and listen.is_unspecified  # 0.0.0.0 or ::
        self.names = {"localhost", self.host} | {urlsplit(o).hostname or ""
                                                 for o in self.allowed_origins}

    def host_refusal(self, value: str | None) -> str | None:
        """Why a request with ``Host: value`` is refused, or None. No Host at all (HTTP/1.0, or
        a program) is allowed: a browser always sends one."""
        if value is None:
            return None
        try:
            name, _ = split_host(value)
        except ValueError as exc:
            return str(exc)
        ip = _ip(name)
        if ip is not None:
            if ip.is_loopback or self._any_ip or name == self.host:
                return None
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None \
                    and ip.ipv4_mapped.is_loopback:
                return None
        elif name in self.names or name.endswith(".localhost"):
            return None
        return (f"Host {value!r} is not this lab's (it answers to localhost, loopback "
                f"addresses and {self.host}; a page that made its browser send this may be "
                "trying DNS rebinding)")

    def origin_refusal(self, origin: str | None, host: str | None) -> str | None:
        """Why a request from the page ``origin`` is refused, or None. No Origin: a program,
        allowed. The server's own page is same-origin (its Host, already checked)."""
        if origin is None:
            return None
        try:
            normal = normal_origin(origin)
        except ValueError:
            return f"Origin {origin!r} may not reach this lab"
        if normal in self.allowed_origins or self.same_origin(normal, host):
            return None
        return (f"Origin {origin!r} may not reach this lab (only its own page may; "
                "SignalingServer(allowed_origins=[...]) or talklab-server --allow-origin "
                "ORIGIN allows another)")

    @staticmethod
    def same_origin(normal: str, host: str | None) -> bool:
        """True if ``normal`` is the origin of a page this server served at ``host``."""
        if host is None:
            return False
        scheme = normal.partition("://")[0]
        try:
            return normal == normal_origin(f"{scheme}://{host}")
        except ValueError:
            return False

    def cross_origin(self, origin: str | None, host: str | None) -> str | None:
        """The normalised origin to name in ``Access-Control-Allow-Origin`` (an allowed page of
        another origin), or None (no Origin, or the server's own page: no CORS needed)."""
        if origin is None:
            return None
        try:
            normal = normal_origin(origin)
        except ValueError:
            return None
        if normal in self.allowed_origins and not self.same_origin(normal, host):
            return origin.strip()
        return None


def token_matches(token: str, query: str | None, authorization: str | None) -> bool:
    """True if the request carries ``token``: as ``?token=`` or ``Authorization: Bearer``.
    Compared in constant time (hmac.compare_digest), so timing tells nothing."""
    given = query
    if given is None and authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            given = value.strip()
    return given is not None and hmac.compare_digest(given.encode(), token.encode())
