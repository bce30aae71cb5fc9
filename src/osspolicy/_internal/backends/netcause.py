"""Why a call got no response, for the pre-flight gate (contracts §15): the connection
was refused, the host name does not resolve, or the TLS handshake failed (and whether
the endpoint speaks plain HTTP). Read from the exception chain the SDK raised (requests
on the thread engine, aiohttp on the aio one), its types first, its words as a fallback.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from typing import Literal

__all__ = ("NetCause", "network_cause")

#: refused: nothing listens; dns: the name does not resolve; plain_http: an https
#: endpoint answered in plain HTTP; tls: another TLS handshake failure
NetCause = Literal["refused", "dns", "plain_http", "tls"]

_PLAIN_HTTP_WORDS = ("wrong_version_number", "wrong version number", "http_request")
_DNS_WORDS = (
    "name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "no address associated with hostname",
    "failed to resolve",
    "cannot connect to host",  # aiohttp's words only count with a gaierror below them
)
_REFUSED_WORDS = ("connection refused", "errno 111", "connect call failed")
#: a TLS failure as the SDK words it when the ssl error itself is not in the chain (its
#: RequestError keeps only the text): a certificate not verified, a handshake refused
_TLS_WORDS = (
    "certificate_verify_failed",
    "certificate verify failed",
    "sslcertverificationerror",
    "tlsv1_alert",
    "sslv3_alert",
    "ssl: ",
    "sslerror",
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception inside it (cause, context, `reason`, `os_error`, args)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        inner = [item.__cause__, item.__context__]
        inner += [getattr(item, name, None) for name in ("reason", "os_error", "error")]
        inner += list(item.args)
        todo.extend(x for x in inner if isinstance(x, BaseException))


def _typed_cause(chain: list[BaseException]) -> NetCause | None:
    """The cause read from the exceptions' types (ssl, socket, OSError errno)."""
    for item in chain:
        if isinstance(item, ssl.SSLError):
            text = str(item).lower()
            return "plain_http" if any(w in text for w in _PLAIN_HTTP_WORDS) else "tls"
        if isinstance(item, socket.gaierror) and item.errno != socket.EAI_AGAIN:
            return "dns"
        if isinstance(item, ConnectionRefusedError) or (
            isinstance(item, OSError) and item.errno == errno.ECONNREFUSED
        ):
            return "refused"
    return None


def network_cause(exc: BaseException) -> NetCause | None:
    """The cause of a failed connection that retrying cannot fix, else None."""
    chain = list(_chain(exc))
    if (typed := _typed_cause(chain)) is not None:
        return typed
    text = " ".join(str(item) for item in chain).lower()
    if any(w in text for w in _PLAIN_HTTP_WORDS):
        return "plain_http"
    if any(w in text for w in _TLS_WORDS):
        return "tls"
    if any(w in text for w in _REFUSED_WORDS):
        return "refused"
    if any(w in text for w in _DNS_WORDS[:-1]):
        return "dns"
    return None
