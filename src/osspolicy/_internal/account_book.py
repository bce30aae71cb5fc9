"""Every account of a directory job accounted for (contracts §17): how each one went.

```
directory.py ─► member(…, excluded | assume_failed | ok) ─┐
listing ─► listing_failed(account, error) ────────────────┼─► summary.json `accounts`,
records ─► observe(result): buckets per account ──────────┘   `missing_accounts`
```

An account is `ok`, `excluded` (its status, or the manifest's include/exclude, leaves it
out: listed, not counted), `assume_failed` (AssumeRole into it failed: its buckets are
not listed) or `listing_failed` (its ListBuckets failed: the buckets it had not listed
have no record). Any status but `ok`/`excluded` leaves the job's targets incomplete
(`listing_error`: exit 1, a backup `complete: false`, the journal unfinished so that
`--resume` runs those accounts again) — in a restore or rollback, whose targets are a
backup's buckets, an unreached account only when some of them were its own (`skipped`,
note `accounts`).

A job without a directory account has an empty book: nothing is added to its files.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .accounts import Account, account_record
from .errors import ListingError
from .operations import skipped
from .results import Result, Target

__all__ = ("NOTE", "AccountBook", "AccountStatus", "account_counts")

AccountStatus = Literal["ok", "assume_failed", "listing_failed", "excluded"]
#: the note of a target whose account could not be reached (a restore's, say)
NOTE = "accounts"
Work = Callable[[Target], Awaitable[Result]]
#: the statuses that leave no gap
_FINE = frozenset({"ok", "excluded"})


@dataclass(slots=True)
class _Entry:
    name: str
    account_id: str | None
    display_name: str | None
    status: AccountStatus
    error: str | None
    #: how the job records the account (name, credentials redacted), None: not reached
    record: Mapping[str, Any] | None
    #: whether it is a directory's member (its failures are its own, not the job's)
    member: bool
    buckets: int = 0
    #: its targets the job skipped for want of credentials (a restore's)
    skipped: int = 0


class AccountBook:
    """The accounts of a directory job and how each went; empty for any other job."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        #: the job's targets are each account's own listing (not a backup's buckets)
        self._listed = False

    def __bool__(self) -> bool:
        return bool(self._entries)

    def member(
        self,
        account_id: str,
        display_name: str,
        status: AccountStatus,
        *,
        account: Account | None = None,
        error: str | None = None,
    ) -> None:
        """Note a member of a directory (named by its id)."""
        record = account_record(account) if account is not None else None
        self._entries[account_id] = _Entry(
            account_id, account_id, display_name, status, error, record, member=True
        )

    def other(self, account: Account) -> None:
        """Note an account of the job that is not a directory's member."""
        self._entries.setdefault(
            account.name,
            _Entry(account.name, None, None, "ok", None, account_record(account), member=False),
        )

    def unreached(self) -> frozenset[str]:
        """The accounts the job has no credentials for (AssumeRole failed)."""
        return frozenset(e.name for e in self._entries.values() if e.status == "assume_failed")

    def listing(self) -> None:
        """The job lists each account's buckets: an account it could not reach is a gap
        (a restore's targets come from its backup: there, only if it had some)."""
        self._listed = True

    def listing_failed(self, account: str, error: ListingError) -> bool:
        """Note that `account`'s listing failed; True when that is the account's own
        problem (a directory's member: the others go on), False when it is the job's."""
        entry = self._entries.get(account)
        if entry is None:
            return False
        if entry.status == "ok":
            entry.status, entry.error = "listing_failed", str(error)
        return entry.member

    def observe(self, result: Result) -> None:
        """Count one record of an account (each bucket once: a resume's carried ones and
        this run's)."""
        entry = self._entries.get(result.account)
        if entry is not None:
            entry.buckets += 1

    def skipped(self, action: str, target: Target) -> Result | None:
        """The record of a target whose account could not be reached, or None."""
        entry = self._entries.get(target.account)
        if entry is None or entry.status != "assume_failed":
            return None
        entry.skipped += 1
        reason = f"account {entry.name} could not be reached: {entry.error}"
        return skipped(action, target, reason, note=NOTE)

    def guard(self, action: str) -> Callable[[Work], Work]:
        """A wrapper of the job's work: a target of an account the job could not reach
        (a restore's bucket of a member AssumeRole failed for) is `skipped`, note
        `accounts`, instead of sent."""

        def wrap(work: Work) -> Work:
            async def guarded(target: Target) -> Result:
                found = self.skipped(action, target)
                return found if found is not None else await work(target)

            return guarded

        return wrap

    def member_ids(self) -> dict[str, str]:
        """Each directory member's account id (its owner id) by account name, those the
        job left out included: all of them are inside the directory (contracts §18)."""
        return {e.name: e.account_id for e in self._entries.values() if e.member and e.account_id}

    def missing(self) -> list[str]:
        """The accounts whose buckets could not all be read, in the book's order: an
        unreached one only when the job lists accounts or it had targets."""
        return [
            e.name
            for e in self._entries.values()
            if e.status not in _FINE and (self._listed or e.status != "assume_failed" or e.skipped)
        ]

    def listing_error(self) -> ListingError | None:
        """The job's targets are incomplete when any account has a gap: one error
        naming them (None: no gap)."""
        missing = self.missing()
        if not missing:
            return None
        return ListingError(
            f"{len(missing)} of {len(self._entries)} accounts could not be read: "
            + ", ".join(f"{name} ({self._entries[name].status})" for name in missing)
        )

    def records(self) -> list[dict[str, Any]]:
        """`summary.json`'s `accounts`: each account as recorded, and how it went."""
        return [
            {
                **(dict(e.record) if e.record is not None else {"name": e.name}),
                "account_id": e.account_id,
                "display_name": e.display_name,
                "status": e.status,
                "buckets": e.buckets,
                "error": e.error,
            }
            for e in self._entries.values()
        ]

    def summary_extra(self) -> dict[str, Any]:
        """`accounts` and `missing_accounts` for summary.json; nothing without a directory."""
        if not self._entries:
            return {}
        return {"accounts": self.records(), "missing_accounts": self.missing()}


def account_counts(extra: Mapping[str, Any]) -> dict[str, Any]:
    """A directory job's per-account counts for `--json`, from its summary's `extra`
    (contracts §17); nothing for another job."""
    if "accounts" not in extra:
        return {}
    keys = ("name", "account_id", "status", "buckets", "error")
    return {
        "accounts": [{key: entry.get(key) for key in keys} for entry in extra["accounts"]],
        "missing_accounts": list(extra.get("missing_accounts", ())),
    }
