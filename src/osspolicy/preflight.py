"""Pre-flight causes (contracts §15): which failures of an (account, region)'s first call
retrying cannot fix, and the one-line fix for each. The gate that acts on them (waiting
workers per pair, exit 2 before any target finished, `skipped` note `preflight` later)
is not built yet; this is its classification, kept apart so the gate stays a wrapper.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .errors import (
    AccessDenied,
    BackendError,
    InvalidAccessKeyId,
    NetworkError,
    SignatureDoesNotMatch,
)

__all__ = ("preflight_reason",)

_NETWORK_FIX = {
    "refused": "nothing listens there; check the endpoint's host and port",
    "dns": "the host name does not resolve; check the endpoint (and the region)",
    "plain_http": "it speaks plain HTTP; give the endpoint as http://{host}",
    "tls": "the TLS handshake failed; check the endpoint, or give connection.ca_file",
}


def preflight_reason(
    error: BackendError, *, account: str, endpoint: str, listing: bool = False
) -> str | None:
    """One line naming the account, the host and the fix, when `error` is a cause
    retrying cannot fix; None for anything worth retrying or bucket-specific."""
    host = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").netloc
    where = f"account {account} at {host}"
    if isinstance(error, NetworkError) and error.cause in _NETWORK_FIX:
        return f"{where}: {_NETWORK_FIX[error.cause].format(host=host)}"
    if isinstance(error, SignatureDoesNotMatch):
        return f"{where}: the access key secret is wrong; check the account's credentials"
    if isinstance(error, InvalidAccessKeyId):
        return f"{where}: the access key id is unknown; check the account's credentials"
    if listing and isinstance(error, AccessDenied):
        return f"{where}: ListBuckets is denied; grant oss:ListBuckets or name the buckets"
    return None
