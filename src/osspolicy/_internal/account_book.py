"""Every account of a directory job accounted for (contracts §17): how each one went.

```
directory.py ─► member(…, excluded | assume_failed | skipped | ok) ─┐
listing ─► listing_failed(account, error) ──────────────────────────┼─► summary.json
records ─► observe(result): buckets and outcomes per account,       │   `accounts`,
           a failure makes it `partial`, a stop's skip `skipped` ───┘   `missing_accounts`
```

An account is `ok`, `excluded` (its status, or the manifest's include/exclude, leaves it
out: listed, not counted), `assume_failed` (AssumeRole into it failed: its buckets are
not listed), `listing_failed` (its ListBuckets failed: the buckets it had not listed
have no record), `partial` (reached and listed, but some of its targets failed) or
`skipped` (the job stopped before it was done: `max_failed_accounts`, whose records
say note `accounts`, or another threshold, a canary, a signal; a member not reached yet
when the job stopped for its accounts is not reached at all). Any
status but `ok`/`excluded` is a gap (`missing_accounts`, exit 1, a backup `complete:
false`, `--resume` runs it again); an account whose targets are not all known (not
reached, or its listing failed) also leaves the job's targets incomplete
(`listing_error`: the journal unfinished) — in a restore or rollback, whose targets are a
backup's buckets, an unreached account only when some of them were its own (`skipped`,
note `accounts`). Each account that fails is told to the `AccountThreshold`, if any.

A job without a directory account has an empty book: nothing is added to its files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .account_threshold import NOTE, AccountThreshold
from .accounts import Account, account_record
from .errors import ListingError
from .operations import skipped
from .results import FAILURE_OUTCOMES, Result, Target

__all__ = ("NOTE", "AccountBook", "AccountStatus", "account_counts")

AccountStatus = Literal["ok", "assume_failed", "listing_failed", "partial", "skipped", "excluded"]
Work = Callable[[Target], Awaitable[Result]]
#: the statuses that leave no gap
_FINE = frozenset({"ok", "excluded"})
#: the outcomes a `partial` account's error counts
_FAILED_OUTCOMES = frozenset(o.value for o in FAILURE_OUTCOMES)
#: the notes of a target the job left because it stopped (this threshold, another, a
#: canary, a signal): its account is `skipped`
_STOPS = frozenset({NOTE, "threshold", "canary", "interrupted"})
#: the statuses of an account that failed (what `max_failed_accounts` counts)
_FAILED = frozenset({"assume_failed", "listing_failed", "partial"})


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
    #: its records by outcome (a resume's carried ones and this run's)
    counts: Counter[str] = field(default_factory=Counter)
    #: whether the job has credentials for it (AssumeRole neither failed nor unsent)
    reached: bool = True
    #: how many targets its listing gave, once the listing ended (None: it did not)
    listed: int | None = None


class AccountBook:
    """The accounts of a directory job and how each went; empty for any other job."""

    def __init__(self, threshold: AccountThreshold | None = None, *, listed: bool = False) -> None:
        self._entries: dict[str, _Entry] = {}
        #: the job's targets are each account's own listing (not a backup's buckets)
        self._listed = listed
        self._threshold = threshold

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
            account_id,
            account_id,
            display_name,
            status,
            error,
            record,
            member=True,
            reached=status not in {"assume_failed", "skipped"},
        )
        if status in _FAILED:
            self._failed()

    @property
    def stopped(self) -> str | None:
        """Why the job stopped for its failed accounts (None: it did not)."""
        return self._threshold.reason if self._threshold is not None else None

    def _failed(self) -> None:
        """Tell the threshold how many accounts failed, of how many the job covers (an
        account unreached in a restore counts once it had targets, as in `missing`)."""
        if self._threshold is None:
            return
        entries = [e for e in self._entries.values() if e.status != "excluded"]
        failed = sum(1 for e in entries if e.status in _FAILED and self._gap(e))
        self._threshold.check(failed, len(entries))

    def other(self, account: Account) -> None:
        """Note an account of the job that is not a directory's member."""
        self._entries.setdefault(
            account.name,
            _Entry(account.name, None, None, "ok", None, account_record(account), member=False),
        )

    def unreached(self) -> frozenset[str]:
        """The accounts the job has no credentials for (AssumeRole failed, or was not
        sent: the job stopped first)."""
        return frozenset(e.name for e in self._entries.values() if not e.reached)

    def listing(self) -> None:
        """The job lists each account's buckets: an account it could not reach is a gap
        (a restore's targets come from its backup: there, only if it had some)."""
        self._listed = True

    def listed(self, account: str, targets: int) -> None:
        """Note that `account`'s listing ended, having given `targets` targets."""
        entry = self._entries.get(account)
        if entry is not None:
            entry.listed = targets

    def _status(self, entry: _Entry) -> tuple[AccountStatus, str | None]:
        """The account's status as the job ended: an `ok` account of a listing job whose
        listing did not end, or whose listed buckets do not all have a record, was left
        by a stop (a signal, a deadline) and is `skipped`, never `ok`."""
        if entry.status != "ok" or not self._listed or not entry.reached:
            return entry.status, entry.error
        if entry.listed is None:
            return "skipped", "the job stopped before its buckets were all listed"
        if entry.buckets < entry.listed:
            done = f"{entry.buckets} of its {entry.listed} buckets"
            return "skipped", f"the job stopped with {done} done"
        return entry.status, entry.error

    def listing_failed(self, account: str, error: ListingError) -> bool:
        """Note that `account`'s listing failed; True when that is the account's own
        problem (a directory's member: the others go on), False when it is the job's."""
        entry = self._entries.get(account)
        if entry is None:
            return False
        if entry.status in {"ok", "partial", "skipped"}:
            entry.status, entry.error = "listing_failed", str(error)
            self._failed()
        return entry.member

    def observe(self, result: Result) -> None:
        """Count one record of an account (each bucket once: a resume's carried ones and
        this run's)."""
        entry = self._entries.get(result.account)
        if entry is None:
            return
        entry.buckets += 1
        entry.counts[result.outcome.value] += 1
        if result.failed and entry.status in {"ok", "skipped"}:
            entry.status, entry.error = "partial", None
            self._failed()
        elif result.note in _STOPS and entry.status == "ok":  # the job stopped before it
            entry.status, entry.error = "skipped", result.error_message

    def skipped(self, action: str, target: Target) -> Result | None:
        """The record of a target whose account the job has no credentials for, or None."""
        entry = self._entries.get(target.account)
        if entry is None or entry.reached:
            return None
        entry.skipped += 1
        if entry.skipped == 1:
            self._failed()  # now a gap of this job
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
            if self._status(e)[0] not in _FINE and self._gap(e)
        ]

    def _gap(self, entry: _Entry) -> bool:
        """Whether a not-fine account leaves a gap: an unreached one only when the job
        lists accounts or it had targets (a restore's)."""
        return self._listed or entry.reached or bool(entry.skipped)

    def listing_error(self) -> ListingError | None:
        """The job's targets are incomplete when an account's are not all known (not
        reached, or its listing failed): one error naming those accounts (None: the
        targets are whole; a `partial` or `skipped` account's targets have records)."""
        unlisted = [
            name
            for name in self.missing()
            if self._entries[name].status == "listing_failed" or not self._entries[name].reached
        ]
        if not unlisted:
            return None
        return ListingError(
            f"{len(unlisted)} of {len(self._entries)} accounts could not be read: "
            + ", ".join(f"{name} ({self._entries[name].status})" for name in unlisted)
        )

    def records(self) -> list[dict[str, Any]]:
        """`summary.json`'s `accounts`: each account as recorded, and how it went."""
        return [
            {
                **(dict(e.record) if e.record is not None else {"name": e.name}),
                "account_id": e.account_id,
                "display_name": e.display_name,
                "status": self._status(e)[0],
                "buckets": e.buckets,
                "counts": dict(sorted(e.counts.items())),
                "error": self._error(e),
            }
            for e in self._entries.values()
        ]

    def _error(self, entry: _Entry) -> str | None:
        """Why the account is not `ok` (a `partial` one: how many of its buckets failed)."""
        if entry.status != "partial":
            return self._status(entry)[1]
        failed = sum(entry.counts[outcome] for outcome in _FAILED_OUTCOMES)
        return f"{failed} of its {entry.buckets} buckets failed (see report.jsonl)"

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
    keys = ("name", "account_id", "status", "buckets", "counts", "error")
    return {
        "accounts": [{key: entry.get(key) for key in keys} for entry in extra["accounts"]],
        "missing_accounts": list(extra.get("missing_accounts", ())),
    }
