"""A Resource Directory as the job's accounts (contracts §17): its members listed,
filtered, and each made an account of the job, before any OSS request.

```
account with resource_directory ─► its own credentials resolved (else exit 2)
  ─► GetResourceDirectory: the management account ─► ListAccounts (NextToken), or each
     of `folders:` walked (ListFoldersForParent + ListAccountsForParent, page numbers)
  ─► status not CreateSuccess/InviteSuccess/PromoteSuccess, or include/exclude ─► excluded
  ─► the management account: the directory's own credentials
  ─► every other member: AssumeRole of acs:ram::<id>:role/<role> from them, at most
     `STS_RATE_LIMIT` a second ─► fails: assume_failed (its buckets not listed) | an account
```

A failure of the listing itself (a wrong secret, a caller without a directory, the
service unreachable after the retries) is a PreflightError naming the directory account:
exit 2, nothing sent to OSS. Each member becomes an account named by its id, with the
directory account's targets (discover: each member lists its own buckets).
`reach_accounts` returns the manifest with each directory account replaced by its
reachable members (what the job's targets, backend and records use; the job's files
keep the manifest as given), their resolved credentials, and the `AccountBook`.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from .account_book import AccountBook
from .accounts import Account, RamRoleArnCredentials, ResourceDirectorySpec, account_record
from .backends import directory as rd
from .backends.credentials import account_provider
from .errors import BackendError, ConfigError, CredentialsError, PreflightError
from .journal import Journal
from .manifest import Manifest, accounts_of
from .ratelimit import RateLimit
from .retry import RetryConfig, Sleep, Tries

__all__ = (
    "IN_STATUSES",
    "STS_RATE_LIMIT",
    "Reach",
    "member_account",
    "reach_accounts",
    "wanted",
)

#: the statuses of a member that has joined the directory (the others are `excluded`)
IN_STATUSES = frozenset({"CreateSuccess", "InviteSuccess", "PromoteSuccess"})
#: AssumeRole calls a second into one directory's members (contracts §1's default of
#: `sts_rate_limit`, which is not a manifest key yet: STS allows 100 per account)
STS_RATE_LIMIT = 20.0
#: STS's error code in the answer the credentials library quotes
_STS_CODE = re.compile(r'"Code"\s*:\s*"([A-Za-z0-9_.-]+)"')
#: at most this many AssumeRole calls in flight at once (each a thread)
_ASSUMING_AT_ONCE = 16

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reach:
    """The accounts a job signs with once its directories are listed (for a job without
    one: the manifest as it is, an empty book)."""

    manifest: Manifest
    #: account name -> its SDK credentials provider, already resolved
    providers: Mapping[str, Any] = field(default_factory=dict)
    book: AccountBook = field(default_factory=AccountBook)

    def accounts_at_least(self, count: int) -> int:
        """The account count the pre-flight stop is told: a directory job never stops
        at one member's shut gate (its accounts fail on their own)."""
        return max(count, 2) if self.book else count

    async def carried(self, journal: Journal | None) -> None:
        """Count the records a resumed job carries (its done buckets) into the book."""
        if self.book and journal is not None:
            for result in await journal.done_results():
                self.book.observe(result)

    def folder_extra(self, accounts: Sequence[Account]) -> dict[str, Any]:
        """The accounts a backup's (or snapshot's) summary.json records."""
        if not self.book:
            return {"accounts": [account_record(a) for a in accounts]}
        return {"accounts": self.book.records(), "missing_accounts": self.book.missing()}


def wanted(spec: ResourceDirectorySpec, member: rd.Member) -> str | None:
    """Why the member is `excluded`, or None when it is in."""
    if member.status not in IN_STATUSES:
        return f"its status is {member.status}, not a member that has joined"

    def named(patterns: Sequence[str]) -> bool:
        keys = (member.account_id, member.display_name)
        return any(fnmatch.fnmatchcase(key, p) for p in patterns for key in keys)

    if spec.include and not named(spec.include):
        return "left out by include"
    if spec.exclude and named(spec.exclude):
        return "left out by exclude"
    return None


def member_account(directory: Account, member_id: str, *, management: bool) -> Account:
    """The account of one member: AssumeRole of the directory's role into it from the
    directory's credentials, or (the management account) those credentials themselves."""
    spec = directory.resource_directory
    if spec is None:  # pragma: no cover - only called for a directory
        raise ValueError(f"account {directory.name} is not a resource_directory")
    credentials = (
        directory.credentials
        if management
        else RamRoleArnCredentials(
            type="ram_role_arn",
            role_arn=f"acs:ram::{member_id}:role/{spec.role}",
            source=directory.credentials,
            sts_endpoint=spec.sts_endpoint,
        )
    )
    return Account(name=member_id, credentials=credentials, targets=directory.targets)


class _Lister:
    """One directory's listings, each call in a worker thread and retried."""

    def __init__(
        self, account: Account, provider: object, manifest: Manifest, sleep: Sleep
    ) -> None:
        spec = account.resource_directory
        if spec is None:  # pragma: no cover - only made for a directory
            raise ValueError(f"account {account.name} is not a resource_directory")
        self.account = account
        self.spec = spec
        self.provider = provider
        r = manifest.retry
        self.retry = RetryConfig(r.attempts, r.base_delay_s, r.max_delay_s)
        connection = manifest.connection
        self.timeout_s = (connection.connect_timeout_s, connection.read_timeout_s)
        self.sleep = sleep

    async def call(self, action: str, fn: Callable[..., T], *args: object) -> T:
        """`fn(provider, endpoint, *args, timeouts)` in a thread, retried; a failure is
        the directory's pre-flight error."""

        async def once() -> T:
            call = functools.partial(fn, self.provider, self.spec.endpoint, *args, self.timeout_s)
            return await anyio.to_thread.run_sync(call)

        try:
            return await Tries(self.retry, sleep=self.sleep)(once)
        except BackendError as exc:
            endpoint = self.spec.endpoint or rd.DEFAULT_ENDPOINT
            raise PreflightError(
                f"the resource directory cannot be listed ({action} at {endpoint}): {exc}",
                place=f"account {self.account.name}",
                hint="give the directory account the management account's credentials (or "
                "a delegated administrator's) with resourcedirectory read access, and check "
                "resource_directory.endpoint",
            ) from None

    async def members(self) -> list[rd.Member]:
        """Every member of the directory, or of its `folders:` (each walked down)."""
        if not self.spec.folders:
            found: list[rd.Member] = []
            token: str | None = None
            while True:
                page, token = await self.call("ListAccounts", rd.accounts_page, token)
                found += page
                if not token:
                    return found
        seen: dict[str, rd.Member] = {}
        queue, walked = list(self.spec.folders), set()
        while queue:
            folder = queue.pop(0)
            if folder in walked:
                continue
            walked.add(folder)
            for member in await self._paged(
                "ListAccountsForParent", rd.accounts_in_folder_page, folder
            ):
                seen.setdefault(member.account_id, member)
            queue += await self._paged("ListFoldersForParent", rd.folders_page, folder)
        return list(seen.values())

    async def _paged(
        self, action: str, fn: Callable[..., tuple[list[T], int]], folder: str
    ) -> list[T]:
        """Every item of a page-numbered listing of one folder."""
        items: list[T] = []
        number = 1
        while True:
            page, total = await self.call(action, fn, folder, number)
            items += page
            if not page or len(items) >= total:
                return items
            number += 1


async def _resolve(account: Account) -> object:
    """The account's provider, its credentials fetched once (in a thread)."""
    return await anyio.to_thread.run_sync(account_provider, account.name, account.credentials)


async def _directory(
    account: Account, manifest: Manifest, book: AccountBook, sleep: Sleep
) -> tuple[list[Account], dict[str, object]]:
    """One directory account's reachable members and their providers (noted in `book`)."""
    spec = account.resource_directory
    if spec is None:  # pragma: no cover - only called for a directory
        raise ValueError(f"account {account.name} is not a resource_directory")
    provider = await _resolve(account)  # its own: a CredentialsError names it, exit 2
    lister = _Lister(account, provider, manifest, sleep)
    management = await lister.call("GetResourceDirectory", rd.get_management)
    members = await lister.members()
    reached: dict[str, object] = {}
    assuming: list[tuple[rd.Member, Account]] = []
    for member in members:
        reason = wanted(spec, member)
        if reason is not None:
            book.member(member.account_id, member.display_name, "excluded", error=reason)
            continue
        is_management = member.account_id == management
        member_acct = member_account(account, member.account_id, management=is_management)
        book.member(member.account_id, member.display_name, "ok", account=member_acct)
        if is_management:
            reached[member.account_id] = provider
        else:
            assuming.append((member, member_acct))
    pace = RateLimit.per_second(STS_RATE_LIMIT).new_state()
    threads = anyio.CapacityLimiter(_ASSUMING_AT_ONCE)

    async def assume(member: rd.Member, member_acct: Account) -> None:
        await pace.acquire()
        try:
            async with threads:
                reached[member.account_id] = await _resolve(member_acct)
        except CredentialsError as exc:
            book.member(
                member.account_id,
                member.display_name,
                "assume_failed",
                account=member_acct,
                error=_assume_failed(member_acct, exc),
            )

    async with anyio.create_task_group() as group:
        for member, member_acct in assuming:
            group.start_soon(assume, member, member_acct)
    accounts = [a for _, a in assuming if a.name in reached]
    if management in reached:
        accounts.insert(0, member_account(account, management, management=True))
    order = {m.account_id: i for i, m in enumerate(members)}
    accounts.sort(key=lambda a: order[a.name])
    return accounts, reached


def _assume_failed(account: Account, error: CredentialsError) -> str:
    """Why AssumeRole into a member failed, in one line: the role, STS's code (read
    from the library's exception, which quotes STS's answer), the library's reason."""
    arn = getattr(account.credentials, "role_arn", account.name)
    found = _STS_CODE.search(str(error.__context__ or ""))
    reason = error.message.rpartition("cannot be resolved: ")[2]
    return f"AssumeRole of {arn} failed: " + (f"{found[1]}: " if found else "") + reason


def _unique(accounts: Sequence[Account]) -> None:
    seen: set[str] = set()
    for account in accounts:
        if account.name in seen:
            raise ConfigError(
                f"account {account.name} is both a directory's member and another account "
                "of the job (or a member of two directories)",
                place="accounts",
                hint="give it once: rename the other account, or exclude the member",
            )
        seen.add(account.name)


async def reach_accounts(manifest: Manifest, *, sleep: Sleep = anyio.sleep) -> Reach:
    """List each directory account's members and reach them (contracts §17); a job
    without one gets its manifest back as it is."""
    given = accounts_of(manifest)
    if all(a.resource_directory is None for a in given):
        return Reach(manifest)
    book = AccountBook()
    accounts: list[Account] = []
    providers: dict[str, object] = {}
    for account in given:
        if account.resource_directory is None:
            accounts.append(account)
            book.other(account)
            continue
        members, reached = await _directory(account, manifest, book, sleep)
        accounts += members
        providers.update(reached)
    _unique(accounts)
    return Reach(manifest.model_copy(update={"accounts": tuple(accounts)}), providers, book)
