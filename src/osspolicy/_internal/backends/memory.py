"""An in-memory `Backend`: what `MockTransport` is to httpx, for fast logic tests.

It keeps buckets, policies and Block Public Access in dicts, records every call, and can
be told to fail: `fail_next(bucket, error, times)` makes the next calls on that bucket
raise `error` (a TransientError to exercise retries, a PermanentError for a record), and
`fail_listing(error, after_pages, times)` makes ListBuckets fail after some pages. Like the
service it refuses a call signed for another region than the bucket's, and a call made
as another account than the bucket's owner; ListBuckets lists the caller's own. It plays
no other service rules (validation, public grants): the emulator does that, over HTTP.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field

from ..errors import AccessDenied, BackendError, InvalidArgument, NoSuchBucket
from ..results import DEFAULT_ACCOUNT
from . import BucketEntry, BucketPage, PolicyRead, Reply

__all__ = ("Call", "MemoryBackend")


@dataclass(frozen=True, slots=True)
class Call:
    """One call the backend received."""

    op: str
    bucket: str | None
    account: str = DEFAULT_ACCOUNT


@dataclass(slots=True)
class _Bucket:
    region: str
    policy: bytes | None = None
    block_public_access: bool = True
    account: str = DEFAULT_ACCOUNT


@dataclass
class MemoryBackend:
    """Buckets in a dict; every call recorded in `calls`."""

    region: str = "cn-hangzhou"
    owner_id: str = "1234567890123456"
    buckets: dict[str, _Bucket] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    record_calls: bool = True
    _failures: dict[str, list[BackendError]] = field(default_factory=dict)
    #: (error, pages still served, failures left or None for all) of `fail_listing`
    _listing_failure: tuple[BackendError, int, int | None] | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def add_bucket(
        self,
        name: str,
        policy: bytes | None = None,
        *,
        region: str | None = None,
        block_public_access: bool = True,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        """Create a bucket (with a policy or none) owned by `account`."""
        self.buckets[name] = _Bucket(region or self.region, policy, block_public_access, account)

    def fail_next(self, bucket: str, error: BackendError, times: int = 1) -> None:
        """Make the next `times` calls on `bucket` raise `error`."""
        self._failures.setdefault(bucket, []).extend([error] * times)

    def fail_listing(
        self, error: BackendError, *, after_pages: int = 1, times: int | None = None
    ) -> None:
        """Serve `after_pages` more ListBuckets pages, then raise `error` on the next
        `times` calls (None: on every call from then on)."""
        if after_pages < 0 or (times is not None and times < 1):
            raise ValueError("after_pages must be >= 0 and times >= 1 (or None)")
        self._listing_failure = (error, after_pages, times)

    def _listing_fails(self) -> None:
        if self._listing_failure is None:
            return
        error, pages, times = self._listing_failure
        if pages > 0:
            self._listing_failure = (error, pages - 1, times)
            return
        if times is not None:
            self._listing_failure = (error, 0, times - 1) if times > 1 else None
        raise error

    def _enter(self, op: str, bucket: str | None, account: str = DEFAULT_ACCOUNT) -> str:
        if self.record_calls:
            self.calls.append(Call(op, bucket, account))
        if bucket is not None:
            pending = self._failures.get(bucket)
            if pending:
                raise pending.pop(0)
        return f"mem-{next(self._ids):08d}"

    def _bucket(self, name: str, region: str | None, account: str) -> _Bucket:
        """The bucket, as the service finds it: missing, signed for another region, or
        owned by another account."""
        found = self.buckets.get(name)
        if found is None:
            raise NoSuchBucket("The specified bucket does not exist.")
        if region is not None and region != found.region:
            raise InvalidArgument("Invalid signing region in Authorization header.")
        if account != found.account:
            raise AccessDenied("The bucket belongs to another account.")
        return found

    async def get_policy(
        self, bucket: str, region: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> PolicyRead:
        """The stored policy bytes or None."""
        request_id = self._enter("get_policy", bucket, account)
        return PolicyRead(self._bucket(bucket, region, account).policy, request_id)

    async def put_policy(
        self,
        bucket: str,
        body: bytes,
        region: str | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
    ) -> Reply:
        """Store `body` as it is."""
        request_id = self._enter("put_policy", bucket, account)
        self._bucket(bucket, region, account).policy = bytes(body)
        return Reply(request_id)

    async def delete_policy(
        self, bucket: str, region: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> Reply:
        """Forget the policy."""
        request_id = self._enter("delete_policy", bucket, account)
        self._bucket(bucket, region, account).policy = None
        return Reply(request_id)

    async def get_block_public_access(
        self, bucket: str, region: str | None = None, *, account: str = DEFAULT_ACCOUNT
    ) -> bool:
        """The bucket's Block Public Access switch."""
        self._enter("get_block_public_access", bucket, account)
        return self._bucket(bucket, region, account).block_public_access

    async def list_buckets_page(
        self, prefix: str, marker: str, max_keys: int, *, account: str = DEFAULT_ACCOUNT
    ) -> BucketPage:
        """Sorted names of `account`'s buckets after `marker` starting with `prefix`."""
        self._enter("list_buckets", None, account)
        self._listing_fails()
        names = sorted(n for n, b in self.buckets.items() if b.account == account)
        start = bisect.bisect_right(names, marker) if marker else bisect.bisect_left(names, prefix)
        page: list[BucketEntry] = []
        index = start
        while index < len(names) and len(page) < max_keys:
            name = names[index]
            if name.startswith(prefix):
                page.append(BucketEntry(name, self.buckets[name].region))
            elif name > prefix:
                break
            index += 1
        more = index < len(names) and names[index].startswith(prefix)
        return BucketPage(tuple(page), page[-1].name if more and page else None, self.owner_id)

    async def aclose(self) -> None:
        """Nothing to release."""
