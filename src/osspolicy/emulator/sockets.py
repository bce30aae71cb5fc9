"""The emulator's listening socket: bound before the server starts (so its port is known
at once), and the host a client dials for it."""

from __future__ import annotations

import ipaddress
import socket

__all__ = ("BACKLOG", "bind_listening", "connect_host")

BACKLOG = 1024


def bind_listening(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def connect_host(bound: str) -> str:
    """The URL host a client should dial for a socket bound to IP `bound`.

    An IP, never a name: the Python SDK then uses path-style addressing, which needs no
    DNS for `<bucket>.<host>`. The wildcard addresses map to loopback.
    """
    address = ipaddress.ip_address(bound.split("%", 1)[0])
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return str(address) if address.version == 4 else f"[{address}]"
