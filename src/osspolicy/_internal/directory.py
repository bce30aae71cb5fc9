"""A Resource Directory as the job's accounts (contracts §17): its members listed,
filtered, and each made an account of the job, before any OSS request.

```
account with resource_directory ─► its own credentials resolved (else exit 2)
  ─► the member list: recorded at the job's start (a resume, `member_list.py`), else
     GetResourceDirectory (the management account) + ListAccounts (NextToken), or each
     of `folders:` walked (`directory_listing.py`)
  ─► status not CreateSuccess/InviteSuccess/PromoteSuccess, or include/exclude ─► excluded
  ─► the management account: the directory's own credentials
  ─► every other member: AssumeRole of acs:ram::<id>:role/<role> from them, at most
     `sts_rate_limit` a second (refreshes too), 16 at once ─► fails: assume_failed (its
     buckets not listed) | the job stopped for its failed accounts: skipped | an account
```

A failure of the listing itself (a wrong secret, a caller without a directory, the
service unreachable after the retries) is a PreflightError naming the directory account:
exit 2, nothing sent to OSS. Each member becomes an account named by its id, with the
directory account's targets (discover: each member lists its own buckets).
`reach_accounts` returns the manifest with each directory account replaced by its
reachable members (what the job's targets, backend and records use; the job's files
keep the manifest as given), their resolved credentials, the `AccountBook`, the member
lists to record and the AssumeRole pace's own count. The directory and STS calls verify
an https endpoint against the OSS calls' CA bundle (`connection.ca_file`, else
`SSL_CERT_FILE`, else `REQUESTS_CA_BUNDLE`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread

from .account_book import AccountBook
from .account_threshold import AccountThreshold, StopJob
from .accounts import Account, RamRoleArnCredentials, ResourceDirectorySpec, account_record
from .backends import directory as rd
from .backends.credentials import StsCalls, account_provider, sts_calls
from .directory_listing import Lister
from .errors import ConfigError, CredentialsError
from .journal import Journal
from .manifest import Manifest, accounts_of
from .member_list import MemberList, records_of
from .ratelimit import BlockingLimiter, RateLimit
from .retry import Sleep

__all__ = (
    "IN_STATUSES",
    "Reach",
    "member_account",
    "reach_accounts",
    "wanted",
)

#: the statuses of a member that has joined the directory (the others are `excluded`)
IN_STATUSES = frozenset({"CreateSuccess", "InviteSuccess", "PromoteSuccess"})
#: STS's error code in the answer the credentials library quotes
_STS_CODE = re.compile(r'"Code"\s*:\s*"([A-Za-z0-9_.-]+)"')
#: at most this many AssumeRole calls in flight at once (each a thread)
_ASSUMING_AT_ONCE = 16


@dataclass(frozen=True, slots=True)
class Reach:
    """The accounts a job signs with once its directories are listed (for a job without
    one: the manifest as it is, an empty book)."""

    manifest: Manifest
    #: account name -> its SDK credentials provider, already resolved
    providers: Mapping[str, Any] = field(default_factory=dict)
    book: AccountBook = field(default_factory=AccountBook)
    #: directory account name -> the member list the job covers (recorded at start)
    lists: Mapping[str, MemberList] = field(default_factory=dict)
    #: each directory's AssumeRole pace (its count: the calls into its members)
    paces: tuple[BlockingLimiter, ...] = ()

    def started(self) -> dict[str, Any]:
        """What a new job's journal header records of its directories: their member
        lists (`member_list.py`), which its resume covers again."""
        return records_of(self.lists)

    def summary_extra(self) -> dict[str, Any]:
        """summary.json's `accounts`, `missing_accounts` and `assume_role` (the calls
        into members, their pace, and the most that started within a second, of one
        directory); nothing without a directory."""
        if not self.book:
            return {}
        paces = {
            "calls": sum(pace.acquired for pace in self.paces),
            "per_second": self.manifest.sts_rate_limit,
            "busiest_second": max((pace.busiest_second for pace in self.paces), default=0),
        }
        return {**self.book.summary_extra(), "assume_role": paces}

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


async def _resolve(account: Account, sts: StsCalls) -> object:
    """The account's provider, its credentials fetched once (in a thread)."""
    return await anyio.to_thread.run_sync(account_provider, account.name, account.credentials, sts)


async def _member_list(
    account: Account, provider: object, manifest: Manifest, sleep: Sleep, sts: StsCalls
) -> MemberList:
    """The directory's members as listed now, each in or `excluded` (and why)."""
    spec = account.resource_directory
    if spec is None:  # pragma: no cover - only called for a directory
        raise ValueError(f"account {account.name} is not a resource_directory")
    lister = Lister(account, provider, manifest, sleep, ca_file=sts.ca_file)
    management = await lister.call("GetResourceDirectory", rd.get_management)
    members = await lister.members()
    excluded = {m.account_id: reason for m in members if (reason := wanted(spec, m)) is not None}
    return MemberList(management, tuple(members), excluded)


@dataclass
class _Directory:
    """One directory account being reached: its members noted in the job's book."""

    book: AccountBook
    #: the member list was recorded at the job's start (a resume)
    recorded: bool
    reached: dict[str, object] = field(default_factory=dict)

    async def assume(self, member: rd.Member, member_acct: Account, sts: StsCalls) -> None:
        """AssumeRole into one member (paced in its thread), unless the job stopped for
        its failed accounts first: then it is `skipped`, not reached."""
        if (stopped := self.book.stopped) is not None:
            self.book.member(
                member.account_id,
                member.display_name,
                "skipped",
                account=member_acct,
                error=f"not reached: the job stopped: {stopped}",
            )
            return
        try:
            self.reached[member.account_id] = await _resolve(member_acct, sts)
        except CredentialsError as exc:
            why = _assume_failed(member_acct, exc)
            if self.recorded:
                why += " (a member as listed when the job started, which its resume keeps)"
            self.book.member(
                member.account_id,
                member.display_name,
                "assume_failed",
                account=member_acct,
                error=why,
            )


async def _directory(
    account: Account,
    manifest: Manifest,
    book: AccountBook,
    sleep: Sleep,
    recorded: MemberList | None,
) -> tuple[list[Account], dict[str, object], MemberList, BlockingLimiter]:
    """One directory account's reachable members and their providers (noted in `book`),
    the member list they came from, and the pace of its AssumeRole calls."""
    base = sts_calls(manifest.connection.ca_file)
    provider = await _resolve(account, base)  # its own: a CredentialsError names it, exit 2
    found = recorded or await _member_list(account, provider, manifest, sleep, base)
    directory = _Directory(book, recorded=recorded is not None)
    assuming: list[tuple[rd.Member, Account]] = []
    for member in found.members:
        reason = found.excluded.get(member.account_id)
        if reason is not None:
            book.member(member.account_id, member.display_name, "excluded", error=reason)
            continue
        is_management = member.account_id == found.management
        member_acct = member_account(account, member.account_id, management=is_management)
        book.member(member.account_id, member.display_name, "ok", account=member_acct)
        if is_management:
            directory.reached[member.account_id] = provider
        else:
            assuming.append((member, member_acct))
    pace = RateLimit.per_second(manifest.sts_rate_limit).new_blocking()
    paced = StsCalls(base.ca_file, pace)
    threads = anyio.CapacityLimiter(_ASSUMING_AT_ONCE)

    async def assume(member: rd.Member, member_acct: Account) -> None:
        async with threads:
            await directory.assume(member, member_acct, paced)

    reached_all = anyio.Event()
    async with anyio.create_task_group() as watch:
        watch.start_soon(_close_unless_set, pace, reached_all)
        async with anyio.create_task_group() as group:
            for member, member_acct in assuming:
                group.start_soon(assume, member, member_acct)
        reached_all.set()  # the pace stays open for the refreshes
    reached = directory.reached
    accounts = [  # in the directory's order
        member_account(account, m.account_id, management=m.account_id == found.management)
        for m in found.members
        if m.account_id in reached
    ]
    return accounts, reached, found, pace


async def _close_unless_set(pace: BlockingLimiter, reached_all: anyio.Event) -> None:
    """Close `pace` if the job is cancelled (Ctrl-C) before every member was reached:
    the threads waiting for their turn give up at once instead of holding the job until
    each has waited it (AssumeRole calls are threads, which a cancel cannot stop)."""
    try:
        await reached_all.wait()
    finally:
        if not reached_all.is_set():
            pace.close()


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


async def reach_accounts(
    manifest: Manifest,
    *,
    sleep: Sleep = anyio.sleep,
    stop: StopJob | None = None,
    recorded: Mapping[str, MemberList] | None = None,
) -> Reach:
    """List each directory account's members (or take the lists `recorded` at the
    job's start) and reach them (contracts §17); a job without one gets its manifest
    back as it is. `stop` stops the job once its failed accounts reach
    `max_failed_accounts` / `max_failed_account_rate`."""
    given = accounts_of(manifest)
    if all(a.resource_directory is None for a in given):
        return Reach(manifest)
    threshold = AccountThreshold.of(
        manifest.max_failed_accounts, manifest.max_failed_account_rate, stop
    )
    book = AccountBook(threshold, listed=manifest.action != "restore")
    accounts: list[Account] = []
    providers: dict[str, object] = {}
    lists: dict[str, MemberList] = {}
    paces: list[BlockingLimiter] = []
    for account in given:
        if account.resource_directory is None:
            accounts.append(account)
            book.other(account)
            continue
        members, reached, found, pace = await _directory(
            account, manifest, book, sleep, (recorded or {}).get(account.name)
        )
        accounts += members
        providers.update(reached)
        lists[account.name] = found
        paces.append(pace)
    _unique(accounts)
    reachable = manifest.model_copy(update={"accounts": tuple(accounts)})
    return Reach(reachable, providers, book, lists, tuple(paces))
