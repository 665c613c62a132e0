"""The configuration talklab writes for its Janus: pure functions from settings to files.

Janus reads a folder of ``.jcfg`` files (libconfig syntax): ``janus.jcfg`` for the core, one
``janus.transport.<name>.jcfg`` per transport and one ``janus.plugin.<name>.jcfg`` per plugin.
It loads *every* ``.so`` in the plugin and transport folders it is given, so talklab gives it
folders holding only links to what the lab needs (by default the VideoRoom and AudioBridge
plugins and the HTTP transport), each with its ``.jcfg`` (Janus refuses a plugin without one).

What the lab's Janus is told, and why (see the comments in Debian's ``/etc/janus/*.jcfg``):

* ``interface = "127.0.0.1"``: the address written in its SDP; ``ice_enforce_list`` names it
  too, and ``ipv6 = false``. (The real guarantee is the ``getifaddrs`` guard of
  :mod:`talklab.janus.loopback`: these settings alone are not enough.)
* ``api_secret``: a random string every Janus API request must carry (``apisecret``), known
  only to the lab. The admin API is off, and its ``admin_secret`` is random anyway.
* the HTTP transport listens on ``127.0.0.1`` only, plain HTTP, no admin endpoint, and
  ``enforce_cors``: a request whose ``Origin`` does not start with ``allow_origin`` gets
  ``403 Forbidden``, and so does one with no ``Origin`` at all (measured on Janus 1.1.2). Janus
  compares a *prefix*, so the allowed origin holds a random token: a page would have to know it
  to be allowed, and a browser never lets a page choose its own ``Origin``.
* no event handlers, no loggers, no STUN/TURN server, no ``nat_1_1_mapping``: nothing that
  would make Janus talk to anything but its own clients.

Tested in tests/test_janus_server.py (the lab's Janus, started from what write_config writes,
listens on 127.0.0.1 only with no admin API, and refuses strangers and foreign origins).
"""

from __future__ import annotations

import glob
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

PLUGINS = {"videoroom": "janus.plugin.videoroom", "audiobridge": "janus.plugin.audiobridge",
           "echotest": "janus.plugin.echotest"}
DEFAULT_PLUGINS = ("videoroom", "audiobridge")
TRANSPORT = "http"
LIBRARY_FOLDERS = ("/usr/lib/*/janus", "/usr/lib/janus", "/usr/local/lib/janus",
                   "/opt/janus/lib/janus")


def janus_library_folder() -> Path | None:
    """Where the installed Janus keeps its plugins and transports (Debian: a multiarch path)."""
    for pattern in LIBRARY_FOLDERS:
        for folder in sorted(glob.glob(pattern)):
            if os.path.isfile(os.path.join(folder, "transports", f"libjanus_{TRANSPORT}.so")):
                return Path(folder)
    return None


@dataclass(frozen=True)
class JanusSettings:
    """Everything the generated configuration depends on."""

    port: int  # the HTTP API's TCP port on ``host``
    host: str = "127.0.0.1"
    plugins: tuple[str, ...] = DEFAULT_PLUGINS
    api_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    origin_token: str = field(default_factory=lambda: secrets.token_hex(8))
    admin_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    debug_level: int = 4  # Janus's 0-7; 4 = warnings and the main events
    session_timeout: int = 60  # s without a request (keepalive) before Janus drops a session
    rtp_port_range: str | None = None  # e.g. "20000-20999"; None: the kernel picks ports

    def __post_init__(self) -> None:
        unknown = set(self.plugins) - set(PLUGINS)
        if unknown:
            raise ValueError(f"unknown Janus plugins {sorted(unknown)}: "
                             f"talklab knows {sorted(PLUGINS)}")
        if not self.host.startswith("127."):
            raise ValueError(f"the lab's Janus listens on loopback only, not on {self.host}")

    @property
    def allow_origin(self) -> str:
        """The one Origin Janus accepts. ``.invalid`` never resolves (RFC 2606), so no web
        page can be served from it."""
        return f"http://janus-{self.origin_token}.talklab.invalid"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/janus"


def _quote(value: str) -> str:
    if '"' in value or "\\" in value or "\n" in value:
        raise ValueError(f"not a safe configuration string: {value!r}")
    return f'"{value}"'


def janus_jcfg(settings: JanusSettings, folder: Path) -> str:
    """The core's ``janus.jcfg``."""
    media = "\tipv6 = false\n"
    if settings.rtp_port_range:
        media += f"\trtp_port_range = {_quote(settings.rtp_port_range)}\n"
    return (
        "general: {\n"
        f"\tconfigs_folder = {_quote(str(folder))}\n"
        f"\tplugins_folder = {_quote(str(folder / 'plugins'))}\n"
        f"\ttransports_folder = {_quote(str(folder / 'transports'))}\n"
        f"\tevents_folder = {_quote(str(folder / 'none'))}\n"
        f"\tloggers_folder = {_quote(str(folder / 'none'))}\n"
        f"\tdebug_level = {int(settings.debug_level)}\n"
        f"\tapi_secret = {_quote(settings.api_secret)}\n"
        f"\tadmin_secret = {_quote(settings.admin_secret)}\n"
        "\tinterface = \"127.0.0.1\"\n"
        "\tserver_name = \"talklab\"\n"
        f"\tsession_timeout = {int(settings.session_timeout)}\n"
        "\texit_on_dl_error = true\n"  # a plugin that fails to load stops Janus: a clear error
        "}\n"
        "certificates: {\n}\n"  # none given: Janus generates a self-signed one at start
        f"media: {{\n{media}}}\n"
        "nat: {\n"
        "\tice_enforce_list = \"127.0.0.1\"\n"
        "\tignore_mdns = true\n"
        "}\n"
        "plugins: {\n}\n"
        "transports: {\n}\n"
        "events: {\n\tbroadcast = false\n}\n"
    )


def http_jcfg(settings: JanusSettings) -> str:
    """The HTTP transport's ``janus.transport.http.jcfg``."""
    return (
        "general: {\n"
        "\tjson = \"compact\"\n"
        "\tbase_path = \"/janus\"\n"
        "\thttp = true\n"
        f"\tport = {int(settings.port)}\n"
        f"\tip = {_quote(settings.host)}\n"
        "\thttps = false\n"
        "}\n"
        "admin: {\n\tadmin_http = false\n\tadmin_https = false\n}\n"
        "cors: {\n"
        f"\tallow_origin = {_quote(settings.allow_origin)}\n"
        "\tenforce_cors = true\n"
        "}\n"
    )


def plugin_jcfg(plugin: str) -> str:
    """A plugin's configuration: no rooms made at start (the lab creates its own), numeric
    room ids for the two room plugins."""
    if plugin in ("videoroom", "audiobridge"):
        return "general: {\n\tstring_ids = false\n}\n"
    return "general: {\n}\n"


def write_config(settings: JanusSettings, folder: Path, library: Path) -> Path:
    """Write the whole configuration into ``folder`` (which must exist and be private) and
    return the path of ``janus.jcfg``. ``library`` is the Janus library folder
    (:func:`janus_library_folder`): its chosen plugins and transport are linked in."""
    for sub in ("plugins", "transports", "none"):
        (folder / sub).mkdir(mode=0o700)
    (folder / "transports" / f"libjanus_{TRANSPORT}.so").symlink_to(
        library / "transports" / f"libjanus_{TRANSPORT}.so")
    for plugin in settings.plugins:
        real = library / "plugins" / f"libjanus_{plugin}.so"
        if not real.exists():
            raise FileNotFoundError(f"the Janus plugin {plugin} is not installed ({real})")
        (folder / "plugins" / real.name).symlink_to(real)
    files = {"janus.jcfg": janus_jcfg(settings, folder),
             f"janus.transport.{TRANSPORT}.jcfg": http_jcfg(settings)}
    files.update({f"{PLUGINS[p]}.jcfg": plugin_jcfg(p) for p in settings.plugins})
    for name, text in files.items():
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # holds the secrets
        with os.fdopen(fd, "w") as out:
            out.write(text)
    return folder / "janus.jcfg"
