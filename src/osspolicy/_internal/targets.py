"""Which buckets a job works on: an explicit list, a file, or ListBuckets discovery.

Targets are an async iterator, pulled by the engine only as fast as workers take them, so
a 100k-line file or a 100k-bucket account is never held as a list. `check_targets` reads a
buckets file once before any request, so a bad name stops the job at the door.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles

from .backends import Backend, BucketEntry, BucketPage
from .backup import BackupEntry
from .errors import BackendError, ListingError, ManifestError, PreflightFailed, ServerError
from .results import DEFAULT_ACCOUNT, Target
from .retry import Tries
from .target_spec import BUCKET_NAME, Discover, Targets

__all__ = (
    "FALLBACK_NAMES",
    "LIST_PAGE_SIZE",
    "RegionFallbacks",
    "backup_targets",
    "check_targets",
    "iter_targets",
    "matches",
    "named_in",
)

#: ListBuckets page size (the service's maximum)
LIST_PAGE_SIZE = 1000
#: how many of the buckets that fell back to the default region a summary names
FALLBACK_NAMES = 10


@dataclass
class RegionFallbacks:
    """Named buckets that got the connection's region because the account's ListBuckets
    lookup did not give theirs (contracts §14): counted, the first few named, and why
    (the account's listing failed part-way, with its error, or it did not show them).

    One per job, filled while its targets are listed; flat memory (a count, a few names).
    """

    region: str | None = None
    count: int = 0
    first: list[str] = field(default_factory=list)
    #: account -> why its lookup listing failed
    listing_errors: dict[str, str] = field(default_factory=dict)
    #: accounts whose pre-flight failed: their buckets are not sent at all (no fallback)
    unreached: set[str] = field(default_factory=set)

    def listing_failed(self, account: str, error: ListingError) -> None:
        """The account's lookup listing failed: the regions it read before are kept; if
        its pre-flight failed, none of its buckets is sent, so none falls back."""
        if isinstance(error.cause, PreflightFailed):
            self.unreached.add(account)
            return
        self.listing_errors[account] = str(error)

    def fell_back(self, bucket: str, region: str, account: str = DEFAULT_ACCOUNT) -> None:
        """`bucket` is sent to `region`, the connection's, for want of its own."""
        if account in self.unreached:
            return
        self.region = region
        self.count += 1
        if len(self.first) < FALLBACK_NAMES:
            self.first.append(bucket)

    def summary_extra(self) -> dict[str, Any]:
        """`region_fallback` for the job's summary.json, when any bucket fell back or a
        lookup listing failed; else nothing."""
        if not self.count and not self.listing_errors:
            return {}
        return {
            "region_fallback": {
                "region": self.region,
                "buckets": self.count,
                "first": list(self.first),
                "listing_errors": dict(self.listing_errors),
            }
        }


def _file_name(line: str) -> str | None:
    name = line.split("#", 1)[0].strip()
    return name or None


def check_targets(spec: Targets, *, source: str = "manifest") -> None:
    """Check a buckets file before any request: it exists and every name is valid."""
    path = spec.buckets_file
    if path is None:
        return
    place = f"{source}: targets.buckets_file"
    count = 0
    try:
        with Path(path).open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                name = _file_name(line)
                if name is None:
                    continue
                if not BUCKET_NAME.fullmatch(name):
                    raise ManifestError(
                        f"line {number}: {name!r} is not a valid OSS bucket name",
                        place=f"{path}",
                        hint="use 3-63 lowercase letters, digits or hyphens",
                    )
                count += 1
    except OSError as exc:
        raise ManifestError(
            f"cannot read {path} ({exc.strerror})", place=place, hint="check the path"
        ) from None
    except UnicodeDecodeError:
        raise ManifestError(
            f"{path} is not UTF-8 text",
            place=place,
            hint="save it as UTF-8, one bucket name per line",
        ) from None
    if count == 0:
        raise ManifestError(f"{path} names no bucket", place=place, hint="add bucket names")


def matches(name: str, region: str, rules: Discover) -> bool:
    """Whether a listed bucket passes the discover filters."""
    if rules.region is not None and region != rules.region:
        return False
    if rules.regions is not None and region not in rules.regions:
        return False
    if not any(fnmatch.fnmatchcase(name, pattern) for pattern in rules.include):
        return False
    return not any(fnmatch.fnmatchcase(name, pattern) for pattern in rules.exclude)


async def _named(
    names: AsyncIterator[str],
    regions: Callable[[], Awaitable[dict[str, str]]],
    *,
    account: str,
    default: str,
    fallbacks: RegionFallbacks,
) -> AsyncIterator[Target]:
    """Each named bucket once, with its region as ListBuckets reports it (contracts §10),
    else none (the connection's, `default`), noted in `fallbacks`."""
    seen: set[str] = set()
    known: dict[str, str] | None = None
    async for name in names:
        if name not in seen:
            seen.add(name)
            if known is None:  # listed once, when the first name is pulled
                known = await regions()
            region = known.get(name)
            if region is None:
                fallbacks.fell_back(name, default, account)
            yield Target(name, region, account)


async def _listed(names: tuple[str, ...]) -> AsyncIterator[str]:
    for name in names:
        yield name


async def _from_file(path: Path) -> AsyncIterator[str]:
    line_no = 0
    try:
        async with aiofiles.open(path, encoding="utf-8") as handle:
            async for line in handle:
                line_no += 1
                name = _file_name(line)
                if name is not None:
                    yield name
    except (OSError, UnicodeDecodeError) as exc:
        raise ListingError(
            f"reading the buckets file {path} failed after line {line_no}: {exc}"
        ) from exc


async def _page_after(backend: Backend, prefix: str, marker: str, account: str) -> BucketPage:
    """One ListBuckets page after `marker`, believed only if it leads on.

    The service lists in name order after the marker sent, so a NextMarker that is not
    greater than it would ask for the same names again, forever (contracts §14): a
    transient ServerError, checked here, inside the retried call, so a stuck marker is
    retried and then fails the listing, whatever the backend or engine.
    """
    page = await backend.list_buckets_page(prefix, marker, LIST_PAGE_SIZE, account=account)
    if page.next_marker is not None and page.next_marker <= marker:
        raise ServerError(
            f"the ListBuckets answer's NextMarker {page.next_marker!r} does not come after "
            f"the marker sent ({marker!r})",
            request_id=page.request_id,
        )
    return page


async def _pages(
    prefix: str,
    backend: Backend,
    new_tries: Callable[[], Tries],
    account: str,
    *,
    discover: bool = False,
    owners: dict[str, str] | None = None,
) -> AsyncIterator[BucketEntry]:
    """Every bucket of `account` whose name starts with `prefix`, page by page, once.

    Its calls are the account's in the connection's region (its pre-flight gate);
    `discover`: the listing is the job's targets, so a denial stops it (contracts §15).
    The account's owner id, which every page names, is noted in `owners` (a backup
    records it, contracts §18: no call of its own).

    The markers strictly advance (`_page_after`), so the number of ListBuckets calls is
    bounded. A name not greater than the greatest already listed was listed before
    (pages that overlap): it is left out. Keeping the greatest name is enough, since the
    service lists in name order; memory stays flat, with no set of the names seen.
    """
    marker = greatest = ""
    pages = listed = 0
    while True:
        try:
            tries = new_tries().at(account, listing=discover)
            page = await tries(_page_after, backend, prefix, marker, account)
        except BackendError as exc:
            after = f" after marker {marker!r}" if marker else ""
            raise ListingError(
                f"ListBuckets of account {account} failed on page {pages + 1}{after} "
                f"({listed} buckets listed before): {exc}",
                cause=exc,
            ) from exc
        pages += 1
        if owners is not None and page.owner_id:
            owners.setdefault(account, page.owner_id)
        for entry in page.buckets:
            if entry.name <= greatest:
                continue  # listed before, on an earlier page
            greatest = entry.name
            listed += 1
            yield entry
        if page.next_marker is None:
            return
        marker = page.next_marker


async def _discovered(
    rules: Discover,
    backend: Backend,
    new_tries: Callable[[], Tries],
    account: str,
    owners: dict[str, str] | None,
) -> AsyncIterator[Target]:
    pages = _pages(rules.prefix, backend, new_tries, account, discover=True, owners=owners)
    async for entry in pages:
        if matches(entry.name, entry.region, rules):
            yield Target(entry.name, entry.region, account)


def iter_targets(
    spec: Targets,
    *,
    region: str,
    backend: Backend,
    new_tries: Callable[[], Tries],
    account: str = DEFAULT_ACCOUNT,
    fallbacks: RegionFallbacks | None = None,
    owners: dict[str, str] | None = None,
) -> AsyncIterator[Target]:
    """Every target of `account` once, in order, each with its region (and the account's
    owner id, as its listing names it, noted in `owners`).

    Named buckets (a list, a file) get their region from one ListBuckets listing of
    the account (by their common prefix), or `region` where the listing does not show
    them or fails (denied, say) before it got to them: the names are known, so each
    still gets its record, and the regions read before a failure are kept. Each bucket
    that falls back is noted in `fallbacks` (contracts §14: the summary says so).
    """
    noted = fallbacks if fallbacks is not None else RegionFallbacks()

    async def regions(prefix: str) -> dict[str, str]:
        found: dict[str, str] = {}
        try:
            async for entry in _pages(prefix, backend, new_tries, account, owners=owners):
                found[entry.name] = entry.region
        except ListingError as exc:
            noted.listing_failed(account, exc)
        return found

    def with_default(names: AsyncIterator[str], prefix: str) -> AsyncIterator[Target]:
        async def lookup() -> dict[str, str]:
            return await regions(prefix)

        return _named(names, lookup, account=account, default=region, fallbacks=noted)

    if spec.buckets is not None:
        # the names' common prefix, character by character (ListBuckets' own prefix)
        prefix = os.path.commonprefix(list(spec.buckets))  # noqa: RUF071
        return with_default(_listed(spec.buckets), prefix)
    if spec.buckets_file is not None:
        return with_default(_from_file(spec.buckets_file), "")
    if spec.discover is None:  # pragma: no cover - the manifest model guarantees one kind
        raise ValueError("targets has no kind")
    return _discovered(spec.discover, backend, new_tries, account, owners)


def named_in(spec: Targets | None) -> set[str] | None:
    """The bucket names a list or file target names (None for discover or no spec)."""
    if spec is None:
        return None
    if spec.buckets is not None:
        return set(spec.buckets)
    if spec.buckets_file is not None:
        with Path(spec.buckets_file).open(encoding="utf-8") as handle:
            return {name for line in handle if (name := _file_name(line)) is not None}
    return None


async def backup_targets(
    entries: Iterable[BackupEntry], spec: Targets | None, region: str
) -> AsyncIterator[Target]:
    """A restore's targets: the buckets of the backup, narrowed by `targets` if given
    (names, a file, or discover's filters applied to the backup's own list)."""
    names = named_in(spec)
    rules = spec.discover if spec is not None else None
    for entry in entries:
        bucket_region = entry.region or region
        if names is not None and entry.bucket not in names:
            continue
        if rules is not None and not (
            entry.bucket.startswith(rules.prefix) and matches(entry.bucket, bucket_region, rules)
        ):
            continue
        yield Target(entry.bucket, bucket_region, entry.account)
