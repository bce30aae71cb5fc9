"""The aio engine's connector (see `http.py` for how both engines connect): aiohttp's,
bounded in idle connections too. Its own module, so that only the aio engine imports
aiohttp.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ConnectionKey

__all__ = ("BoundedConnector",)


class BoundedConnector(aiohttp.TCPConnector):
    """aiohttp's TCP connector that keeps at most `max_idle` idle connections in all.

    aiohttp bounds the connections in use (`limit`) but keeps every idle one until its
    keep-alive expires, one per host it ever reached. Here, when a released connection
    makes more than `max_idle` idle, the least recently used idle one is closed.
    """

    def __init__(self, *, max_idle: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_idle = max_idle

    def _release(
        self, key: ConnectionKey, protocol: ResponseHandler, *, should_close: bool = False
    ) -> None:
        super()._release(key, protocol, should_close=should_close)
        idle = sum(len(conns) for conns in self._conns.values())
        while idle > self._max_idle:
            # each host's idle connections are oldest first
            oldest = min(self._conns, key=lambda k: self._conns[k][0][1])
            conns = self._conns[oldest]
            proto, _ = conns.popleft()
            if not conns:
                del self._conns[oldest]
            # abort, not close: a TLS close waits for the peer's close_notify with the
            # socket still open; an idle HTTP connection owes nobody a goodbye
            proto.abort()
            idle -= 1
