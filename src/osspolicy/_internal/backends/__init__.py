"""The one seam between osspolicy and OSS: an async `Backend` protocol.

The engine and operations talk only to this protocol. `oss.py` implements it with the
official SDK's blocking client run in worker threads, `oss_aio.py` with its async
client (both connect as `http.py` says); `memory.py` is an in-memory fake
for fast logic tests (users may import it for theirs, as httpx users import
`MockTransport`). Every method makes exactly one request (no retries: `retry.py` is the
one retry layer) and raises only `osspolicy._internal.errors` exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..results import DEFAULT_ACCOUNT

__all__ = ("Backend", "BucketEntry", "BucketPage", "ConnectionConfig", "PolicyRead", "Reply")


@dataclass(frozen=True, slots=True)
class ConnectionConfig:
    """How to reach OSS: signing region, endpoint, timeouts, pool size, TLS and proxy.

    `endpoint` is a URL that may contain `{region}` (expanded to each client's signing
    region: `connection.Connection.endpoint_template` gives it, default and `network:
    internal` included), or None for the SDK's own endpoint of the region.
    `max_connections` is the worker count: each engine keeps at most twice as many
    connections open (`http.py`). `ca_file` is the CA bundle certificates are verified
    against (else `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, certifi's); `proxy_host` and
    `insecure_skip_verify` are the SDK config's settings of those names.
    """

    region: str
    endpoint: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    #: one attempt as a whole, connect to the last byte (contracts §14 `timeouts.call_s`)
    call_timeout_s: float = 120.0
    max_connections: int = 16
    ca_file: Path | None = None
    proxy_host: str | None = None
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """What a write returns: the service's request id."""

    request_id: str | None


@dataclass(frozen=True, slots=True)
class PolicyRead:
    """GetBucketPolicy's answer: the policy bytes exactly as the service sent them,
    or None when the bucket has no policy."""

    body: bytes | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class BucketEntry:
    """One bucket as ListBuckets reports it."""

    name: str
    region: str


@dataclass(frozen=True, slots=True)
class BucketPage:
    """One ListBuckets page; `next_marker` is None on the last page.

    A backend never returns a page it cannot believe (contracts §14): an empty answer,
    one that is not a `ListAllMyBucketsResult`, or a truncated one without NextMarker is
    a `ServerError` (transient: retried). Whether the marker advances is the lister's
    check (`targets.py`), the same for every backend.
    """

    buckets: tuple[BucketEntry, ...]
    next_marker: str | None
    owner_id: str | None
    request_id: str | None = None


class Backend(Protocol):
    """Bucket-policy operations, async at the engine's side; one request per call.

    Every call is made as `account` (its credentials; contracts §10) and, for a bucket,
    signed for and sent to `region` (None: the connection's region).
    """

    async def get_policy(
        self, bucket: str, region: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> PolicyRead:
        """GetBucketPolicy; `body` is None when the bucket has no policy."""
        ...

    async def put_policy(
        self,
        bucket: str,
        body: bytes,
        region: str | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
    ) -> Reply:
        """PutBucketPolicy with `body` sent byte for byte."""
        ...

    async def delete_policy(
        self, bucket: str, region: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> Reply:
        """DeleteBucketPolicy (succeeds when there is no policy)."""
        ...

    async def get_block_public_access(
        self, bucket: str, region: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> bool:
        """Whether Block Public Access is on for the bucket."""
        ...

    async def list_buckets_page(
        self, prefix: str, marker: str, max_keys: int, *, account: str = DEFAULT_ACCOUNT
    ) -> BucketPage:
        """One page of ListBuckets of `account`: names after `marker` that start with
        `prefix`."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads."""
        ...
