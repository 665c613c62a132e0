"""``python -m talklab.classroom`` (``talklab-classroom``): a teacher's classroom, in a terminal.

Tested in tests/test_classroom.py (the talklab-classroom command prints what it exposes, and refuses
a class beyond loopback whose networks are not named).
"""

from __future__ import annotations

import argparse

from talklab._service import serve_forever
from talklab.classroom.teacher import CREDENTIAL_TTL, Classroom


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="talklab-classroom",
        description="A class's signaling, STUN and TURN servers on one address.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to listen on (127.0.0.1: a class on this machine "
                             "only; any other address is reachable by whoever routes to it)")
    parser.add_argument("--port", type=int, default=5000, help="signaling port (5000)")
    parser.add_argument("--stun-port", type=int, default=3478, help="STUN port (3478)")
    parser.add_argument("--turn-port", type=int, default=3479, help="TURN port (3479)")
    parser.add_argument("--network", metavar="CIDR", action="append", dest="networks",
                        help="a network the class's people are on: the only peers TURN "
                             "relays to (repeatable; required beyond loopback)")
    parser.add_argument("--no-turn", dest="turn", action="store_false", help="no TURN server")
    parser.add_argument("--ttl", type=int, default=CREDENTIAL_TTL,
                        help=f"seconds TURN credentials live ({CREDENTIAL_TTL})")
    args = parser.parse_args(argv)
    try:
        classroom = Classroom(args.host, args.port, networks=args.networks, turn=args.turn,
                              stun_port=args.stun_port, turn_port=args.turn_port,
                              credential_ttl=args.ttl)
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    serve_forever(classroom, lambda c: c.exposes(), "talklab-classroom")


if __name__ == "__main__":
    main()
