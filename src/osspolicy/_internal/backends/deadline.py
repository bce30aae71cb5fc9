"""One attempt's deadline on the thread engine (contracts §14 "Every call ends").

requests (urllib3) bounds the connect and each socket read, and a read's timer restarts
with every byte: a body trickled one byte a second held a call for minutes with a read
timeout of 5 s. Here the sockets of the thread engine's pools are ours
(`DeadlineSocket`, and `DeadlineSSLSocket` through the SSL context's `sslsocket_class`):
every send and receive of a call gets min(its own timeout, the time left of the call's
`CallDeadline`), so the attempt as a whole ends by `timeouts.call_s`. A call abandoned at
a stop has its socket shut down, so its blocked thread ends at once, and urllib3 closes
that connection rather than pooling it.

The deadline reaches the sockets through a context variable set by `CallDeadline.run`
in the worker thread (anyio runs a thread's function in a copy of the caller's context).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ..stopping import note_abandoned_thread

__all__ = (
    "POOL_CLASSES",
    "CallDeadline",
    "DeadlineSSLSocket",
    "DeadlineSocket",
    "current_deadline",
)

T = TypeVar("T")

_CURRENT: ContextVar[CallDeadline | None] = ContextVar("osspolicy_deadline", default=None)


def current_deadline() -> CallDeadline | None:
    """The deadline of the call this thread is making (None outside one)."""
    return _CURRENT.get()


class CallDeadline:
    """The end of one attempt, and the socket it is using (to shut it down if abandoned).

    Made on the event loop when the attempt starts; its socket is set from the worker
    thread, `abandon()` may come from the event loop: a lock keeps the two apart.
    """

    __slots__ = ("_done", "_lock", "_sock", "_thread", "abandoned", "ends_at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds
        self.abandoned = False
        self._sock: socket.socket | None = None
        self._done = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def left(self) -> float:
        """Seconds left before the deadline (negative once past)."""
        return self.ends_at - time.monotonic()

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.left() <= 0

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in this thread, its sockets bounded by this deadline."""
        self.ends_at = time.monotonic() + self.seconds  # from the thread's start, not the queue's
        token = _CURRENT.set(self)
        with self._lock:
            self._thread = threading.current_thread()
        try:
            return fn(*args)
        finally:
            _CURRENT.reset(token)
            with self._lock:
                self._done, self._sock = True, None

    def using(self, sock: socket.socket) -> None:
        """The call is about to use `sock` (an abandoned call may use none)."""
        with self._lock:
            if self.abandoned:
                raise ConnectionAbortedError("the call was abandoned: the job is stopping")
            self._sock = sock

    def abandon(self) -> None:
        """Give the call up: its socket, if it has one in use, is shut down now."""
        with self._lock:
            self.abandoned = True
            sock = None if self._done else self._sock
            thread = None if self._done else self._thread
        if sock is not None:
            _shut_down(sock)
        if thread is not None:
            note_abandoned_thread(thread)


def _shut_down(sock: socket.socket) -> None:
    # the plain socket's shutdown, also for an SSL socket (whose own would drop its SSL
    # object under the thread reading it): the blocked read returns at once
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Bounded(socket.socket):
    """Every send and receive waits at most min(the socket's timeout, the call's time
    left); past the deadline it fails at once with TimeoutError."""

    _wanted: float | None = None

    def settimeout(self, value: float | None) -> None:
        self._wanted = value
        super().settimeout(value)

    def _bound(self) -> None:
        deadline = _CURRENT.get()
        if deadline is None:
            if self.gettimeout() != self._wanted:  # a call's bound left behind
                super().settimeout(self._wanted)
            return
        deadline.using(self)
        left = deadline.left()
        if left <= 0:
            raise TimeoutError(f"timed out: the call took longer than {deadline.seconds:g} s")
        wanted = self._wanted
        timeout = left if wanted is None or wanted > left else wanted
        if self.gettimeout() != timeout:
            super().settimeout(timeout)

    def recv(self, *args: Any) -> bytes:
        self._bound()
        return super().recv(*args)

    def recv_into(self, *args: Any) -> int:
        self._bound()
        return super().recv_into(*args)

    def send(self, *args: Any) -> int:
        self._bound()
        return super().send(*args)

    def sendall(self, *args: Any) -> None:
        self._bound()
        super().sendall(*args)


class DeadlineSocket(_Bounded):
    """A plain TCP socket of the thread engine, bounded by its call's deadline."""


class DeadlineSSLSocket(_Bounded, ssl.SSLSocket):
    """An SSL socket of the thread engine (`SSLContext.sslsocket_class`), bounded by
    its call's deadline."""


def _ours(sock: socket.socket) -> socket.socket:
    """The same connected socket as a `DeadlineSocket` (same descriptor and timeout)."""
    timeout = sock.gettimeout()
    bounded = DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    bounded.settimeout(timeout)
    return bounded


class _HTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _ours(super()._new_conn())


class _HTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _ours(super()._new_conn())


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


#: urllib3's pool classes by scheme, with sockets bounded by their call's deadline
POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {
    "http": _HTTPConnectionPool,
    "https": _HTTPSConnectionPool,
}
