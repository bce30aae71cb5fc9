"""Pre-flight (contracts §15): each (account, region) a job uses is gated by its first call.

```
worker ─► Tries ─► Gate(account, region) ─► open?  ─► the call, retried as always
                                          ─► held?  ─► wait for the first call
                                          ─► new?   ─► make it the first call:
                                                       ok / a bucket's own error ─► open
                                                       a cause below, twice      ─► shut
                                                       transient, twice          ─► open,
                                                         and retried under retry.attempts
                                          ─► shut?  ─► PreflightFailed, nothing sent
```

The first call is whatever the pair needs first: its listing, or its first bucket's call.
A cause retrying cannot fix gets at most 2 attempts (one for an answer that cannot
change: a wrong key or secret, a denied listing). Causes: connection refused, a name that
does not resolve, a TLS handshake failure (an `https` endpoint that speaks plain HTTP is
named as such), InvalidAccessKeyId, SignatureDoesNotMatch, RequestTimeTooSkewed after one
re-signed try, AccessDenied on a discover job's ListBuckets. Any other answer — a bucket
that is not there, a denied bucket, a policy refused — proves the endpoint and the
credentials work, and opens the gate.

What a shut gate means for the job (stop it, exit 2, or skip the pair's targets) is the
job's decision (`on_shut`, `preflight_stop.py`); this module only classifies and gates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import anyio

from .errors import (
    AccessDenied,
    BackendError,
    ClockSkewed,
    InvalidAccessKeyId,
    NetworkError,
    PreflightFailed,
    SignatureDoesNotMatch,
    TransientError,
)

__all__ = ("ATTEMPTS", "NOTE", "First", "Gate", "Listing", "Preflight", "preflight_reason")

#: the note of every record a shut gate decided
NOTE = "preflight"
#: the most attempts a first call gets for a cause retrying cannot fix
ATTEMPTS = 2

T = TypeVar("T")

_NETWORK_FIX = {
    "refused": "nothing listens there; check the endpoint's host and port",
    "dns": "the host name does not resolve; check the endpoint (and the region)",
    "plain_http": "it speaks plain HTTP, not HTTPS; give the endpoint as http://{host}",
    "tls": "the TLS handshake failed; check the endpoint, or give connection.ca_file",
}


def _host(endpoint: str) -> str:
    return urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").netloc


def _skew(error: ClockSkewed) -> str:
    offset = error.offset_s
    if offset is None:
        return "the clock of this machine is off by more than 15 minutes"
    side = "behind" if offset > 0 else "ahead of"
    return f"the clock of this machine is off by {abs(offset):.0f} s ({side} OSS's)"


#: what a denied ListBuckets stops, by what the listing was for
_DENIED_LISTING = {
    "discover": "ListBuckets is denied; grant oss:ListBuckets or name the buckets",
    "account_id": "ListBuckets is denied, and the baseline's ${account_id} needs it (the "
    "owner id); grant oss:ListBuckets or write the account id into the baseline",
}
#: a listing whose denial is a pre-flight failure: a discover job's, or the owner id's
Listing = bool | str


def _denied(listing: Listing) -> str | None:
    if listing is True:
        return _DENIED_LISTING["discover"]
    return _DENIED_LISTING.get(listing) if isinstance(listing, str) else None


def preflight_reason(
    error: BackendError, *, account: str, endpoint: str, listing: Listing = False
) -> str | None:
    """One line naming the account, the host and the fix, when `error` is a cause
    retrying cannot fix; None for anything worth retrying or bucket-specific.

    `listing`: the call was a ListBuckets whose denial stops the job: a discover job's
    (True or "discover"), or the owner id's a `${account_id}` baseline needs
    ("account_id")."""
    host = _host(endpoint)
    where = f"account {account} at {host}"
    if isinstance(error, NetworkError) and error.cause in _NETWORK_FIX:
        return f"{where}: {_NETWORK_FIX[error.cause].format(host=host)}"
    if isinstance(error, SignatureDoesNotMatch):
        return f"{where}: the access key secret is wrong; check the account's credentials"
    if isinstance(error, InvalidAccessKeyId):
        return f"{where}: the access key id is unknown; check the account's credentials"
    if isinstance(error, ClockSkewed):
        return f"{where}: {_skew(error)}; set it right (NTP) and run again"
    if (denied := _denied(listing)) is not None and isinstance(error, AccessDenied):
        return f"{where}: {denied}"
    return None


class _State(Enum):
    NEW = "new"  # no call yet: the next one is the first
    HELD = "held"  # the first call is being made; the others wait
    OPEN = "open"  # the first call got through: every call goes on
    SHUT = "shut"  # the first call failed for a cause retrying cannot fix


@dataclass(frozen=True, slots=True)
class First(Generic[T]):
    """What a call learnt at the gate: `attempts` made as the pair's first call (0: the
    gate was open, go on as always), and their result, or the transient `error` the
    last one failed with (retried from there under `retry.attempts`)."""

    attempts: int = 0
    value: T | None = None
    error: TransientError | None = None


class Gate:
    """One (account, region)'s gate: its first call decides for every other."""

    def __init__(self, preflight: Preflight, account: str, region: str, *, endpoint: str) -> None:
        self._preflight = preflight
        self.account = account
        self.region = region
        self.endpoint = endpoint
        self._state = _State.NEW
        self._changed = anyio.Event()
        self.failure: PreflightFailed | None = None

    @property
    def is_open(self) -> bool:
        return self._state is _State.OPEN

    def _reason(self, error: BackendError, listing: Listing) -> str | None:
        return preflight_reason(
            error, account=self.account, endpoint=self.endpoint, listing=listing
        )

    async def first(
        self,
        call: Callable[[], Awaitable[T]],
        pause: Callable[[int, BackendError], Awaitable[None]],
        *,
        attempts: int,
        listing: Listing = False,
    ) -> First[T]:
        """Make `call` the pair's first call, wait for the one being made, or go on.

        `pause(n, error)` is the backoff after attempt n; `attempts` caps how many this
        first call may make (the job's `retry.attempts`, at most `ATTEMPTS`). Raises the
        pair's PreflightFailed when its gate is shut (`sent`: by this very call).
        """
        while self._state is not _State.NEW:
            if self._state is _State.OPEN:
                return First()
            if self._state is _State.SHUT and self.failure is not None:
                raise self.failure.waited()
            await self._changed.wait()
        self._state = _State.HELD
        try:
            return await self._first(call, pause, min(attempts, ATTEMPTS), listing)
        finally:
            if self._state is _State.HELD:  # stopped or cancelled: the next call tries
                self._state = _State.NEW
            self._changed.set()
            self._changed = anyio.Event()

    async def _first(
        self,
        call: Callable[[], Awaitable[T]],
        pause: Callable[[int, BackendError], Awaitable[None]],
        attempts: int,
        listing: Listing,
    ) -> First[T]:
        error: TransientError | None = None
        for number in range(1, attempts + 1):
            if error is not None:
                await pause(number - 1, error)
            try:
                value = await call()
            except BackendError as exc:
                reason = self._reason(exc, listing)
                if reason is not None and (number == attempts or not _may_pass(exc)):
                    failure = PreflightFailed(reason, cause=exc, sent=True)
                    self._shut(failure)
                    raise failure from exc
                if not isinstance(exc, TransientError):  # a bucket's own answer
                    self._state = _State.OPEN
                    raise
                error = exc
                continue
            self._state = _State.OPEN
            return First(attempts=number, value=value)
        self._state = _State.OPEN  # transient, not a cause: retried as any call
        return First(attempts=attempts, error=error)

    def _shut(self, failure: PreflightFailed) -> None:
        self._state = _State.SHUT
        self.failure = failure
        self._preflight.shut(failure)


def _may_pass(error: BackendError) -> bool:
    """Whether a second try could answer otherwise: a connection (a blip) and a clock
    skew (the SDK signs again with a fresh date) may; a wrong key or a denial cannot."""
    return isinstance(error, TransientError)


class Preflight:
    """The job's gates, one per (account, region), made when the pair is first needed.

    `endpoint_for(region)` is the endpoint a region's calls go to (named in the line);
    `on_shut(failure)` is told of each gate that shuts.
    """

    def __init__(
        self,
        *,
        region: str,
        endpoint_for: Callable[[str], str],
        on_shut: Callable[[PreflightFailed], None] | None = None,
    ) -> None:
        self.region = region
        self._endpoint_for = endpoint_for
        self._on_shut = on_shut
        self._gates: dict[tuple[str, str], Gate] = {}

    def gate(self, account: str, region: str | None) -> Gate:
        """The gate of `account` in `region` (None: the connection's region)."""
        key = (account, region or self.region)
        found = self._gates.get(key)
        if found is None:
            endpoint = self._endpoint_for(key[1])
            found = self._gates[key] = Gate(self, key[0], key[1], endpoint=endpoint)
        return found

    def shut(self, failure: PreflightFailed) -> None:
        if self._on_shut is not None:
            self._on_shut(failure)

    @property
    def failures(self) -> list[PreflightFailed]:
        """Each shut gate's failure, in the order the gates were made."""
        return [g.failure for g in self._gates.values() if g.failure is not None]

    def summary_extra(self) -> dict[str, Any]:
        """`{"preflight": [one line per shut gate]}` for summary.json, or nothing."""
        lines = [failure.reason for failure in self.failures]
        return {"preflight": lines} if lines else {}
