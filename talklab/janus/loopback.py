"""Janus on loopback, provably: the guard that keeps it there, and the checks that prove it.

**Why a guard is needed.** Janus gathers ICE candidates from the machine's interfaces
(``janus_ice_setup_local`` in its ``src/ice.c``) and skips every interface flagged
``IFF_LOOPBACK`` (Janus issues #586, #2251). Told to use only ``lo`` (``ice_enforce_list``),
it adds no address at all, and its ICE library, libnice, then falls back to gathering on
*every other* interface and sends connectivity checks out of them. Neither is acceptable in a
lab that promises nothing leaves 127.0.0.0/8.

**The guard.** A tiny C library, ``native/loopback_ifaddrs.c``, loaded into Janus with
``LD_PRELOAD``, wraps the C library's ``getifaddrs(3)``: the list Janus and libnice see holds
only the 127.x IPv4 addresses, with their loopback flag cleared. Janus then offers exactly one
candidate, ``127.0.0.1 typ host``, and binds its media sockets there. The dynamic loader
*ignores* a preload it cannot open (it prints a warning and runs the program anyway), so
:class:`talklab.janus.Janus` also checks that the library is mapped into the running process
(:func:`guard_loaded`) before it lets anyone talk to it.

**The proof.** :func:`process_sockets` lists every IPv4/IPv6 socket a process holds, by joining
the socket inodes of ``/proc/<pid>/fd`` with the tables of ``/proc/<pid>/net/{udp,udp6,tcp,
tcp6}``; :func:`outside_loopback` keeps those bound (or connected) anywhere but 127.0.0.0/8. A
socket bound to 127.0.0.1 cannot reach another network: Linux refuses to route a packet with a
loopback source off the machine. :func:`sdp_candidate_addresses` reads the addresses Janus puts
in its offers and answers (RFC 8839, section 5.1: ``a=candidate`` lines), for the other half:
that it *tells* peers only loopback addresses.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

NATIVE = Path(__file__).parent / "native"
SOURCE = NATIVE / "loopback_ifaddrs.c"
LIBRARY_NAME = "libtalklab_loopback.so"


class GuardUnavailable(RuntimeError):
    """The loopback guard library is not built and cannot be built here (no C compiler)."""


# -- the guard library ----------------------------------------------------------------------------
def _fresh(library: Path) -> bool:
    return library.is_file() and library.stat().st_mtime >= SOURCE.stat().st_mtime


def build_library(target: Path) -> Path:
    """Compile ``native/loopback_ifaddrs.c`` into ``target`` (what ``make janus-native`` does)."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise GuardUnavailable(
            "Janus needs talklab's loopback guard, a small C library built from "
            f"{SOURCE.name}, and no C compiler was found: run `make janus-native`, or install "
            "gcc (apt-get install gcc libc6-dev)")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        run = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", scratch,
                              str(SOURCE), "-ldl"], capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise GuardUnavailable(f"building the loopback guard failed: {run.stderr.strip()}")
        os.replace(scratch, target)  # atomic: a concurrent reader sees the old or the new file
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    return target


def library_path() -> Path:
    """The built guard library, building it first if it is missing or older than its source:
    next to the source when that folder is writable (a checkout), else in the user's cache."""
    beside = NATIVE / LIBRARY_NAME
    if _fresh(beside):
        return beside
    if os.access(NATIVE, os.W_OK):
        return build_library(beside)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "talklab"
    cached = cache / LIBRARY_NAME
    return cached if _fresh(cached) else build_library(cached)


def guard_loaded(pid: int, library: Path) -> bool:
    """True when ``library`` is mapped into process ``pid`` (so its ``getifaddrs`` is in use)."""
    wanted = str(library.resolve())
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return any(line.rstrip().endswith(wanted) for line in maps.splitlines())


# -- the sockets a process holds ----------------------------------------------------------------
@dataclass(frozen=True)
class Socket:
    """One IPv4/IPv6 socket of a process, as the kernel's tables show it."""

    protocol: str  # "udp", "udp6", "tcp", "tcp6"
    local: tuple[str, int]
    remote: tuple[str, int]  # ("0.0.0.0", 0) or ("::", 0) when not connected
    state: str  # TCP state name; for UDP "07" (unconnected) or "01" (connected)
    inode: int

    def __str__(self) -> str:
        return f"{self.protocol} {self.local[0]}:{self.local[1]} -> {self.remote[0]}:" \
               f"{self.remote[1]} ({self.state})"


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
              "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
              "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}


def _address(text: str) -> tuple[str, int]:
    """``0100007F:1F90`` (the kernel's hex, each 32-bit word in host byte order) as
    ``("127.0.0.1", 8080)``."""
    hex_ip, hex_port = text.split(":")
    words = [int(hex_ip[i:i + 8], 16) for i in range(0, len(hex_ip), 8)]
    packed = b"".join(struct.pack("=I", w) for w in words)
    family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, packed), int(hex_port, 16)


def socket_inodes(pid: int) -> set[int]:
    """The inodes of every socket in ``/proc/<pid>/fd`` (links reading ``socket:[N]``)."""
    inodes = set()
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:["):-1]))
    return inodes


def process_sockets(pid: int) -> list[Socket]:
    """Every UDP and TCP socket (IPv4 and IPv6) process ``pid`` holds."""
    inodes = socket_inodes(pid)
    found = []
    for protocol in ("udp", "udp6", "tcp", "tcp6"):
        try:
            table = Path(f"/proc/{pid}/net/{protocol}").read_text().splitlines()[1:]
        except OSError:  # no IPv6 in this kernel
            continue
        for row in table:
            fields = row.split()
            inode = int(fields[9])
            if inode not in inodes:
                continue  # the table is the whole network namespace's: keep this process's
            state = fields[3]
            found.append(Socket(protocol, _address(fields[1]), _address(fields[2]),
                                TCP_STATES.get(state, state) if protocol.startswith("tcp")
                                else state, inode))
    return found


def _inside(ip: str, *, unspecified_ok: bool) -> bool:
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return unspecified_ok
    return isinstance(address, ipaddress.IPv4Address) and address.is_loopback


def outside_loopback(sockets: list[Socket]) -> list[Socket]:
    """The sockets bound to, or connected to, anything outside 127.0.0.0/8. A socket bound to
    the wildcard address (``0.0.0.0``, ``::``) counts as outside: it listens on every
    interface. ``::1`` counts as outside too: this lab's Janus uses IPv4 loopback only."""
    return [s for s in sockets
            if not _inside(s.local[0], unspecified_ok=False)
            or not _inside(s.remote[0], unspecified_ok=True)]


# -- what Janus tells its peers --------------------------------------------------------------------
def sdp_candidate_addresses(sdp: str) -> list[str]:
    """The connection address of every ``a=candidate`` line (RFC 8839, 5.1: foundation,
    component, transport, priority, *address*, port, ``typ``, type...)."""
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) >= 8:
                out.append(fields[4])
    return out


def non_loopback_candidates(sdp: str) -> list[str]:
    """The ``a=candidate`` lines of ``sdp`` whose address is not inside 127.0.0.0/8."""
    bad = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            try:
                ok = len(fields) >= 8 and _inside(fields[4], unspecified_ok=False)
            except ValueError:  # a hostname (mDNS .local): never loopback here
                ok = False
            if not ok:
                bad.append(line)
    return bad
