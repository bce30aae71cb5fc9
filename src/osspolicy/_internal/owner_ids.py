"""Each account's owner id (the UID OSS names as a bucket's owner): one ListBuckets of
one bucket per account, the call `${account_id}` has always used.

```
apply with ${account_id}   ─► look_up_owner_ids(needed_for=…): a failure fails the job
audit (before its targets) ─► look_up_owner_ids(): a failure leaves the id unknown
backup                     ─► owners_seen: as its own listings named them (no call of its
                              own), recorded as `owner_id` in summary.json's accounts
```

A Resource Directory's member is named by its account id, which is its owner id: no call
is made for it. Who a principal is (contracts §18: `external-principal`,
`wildcard-action`) is judged from these ids; an id that could not be read is None, and
the findings say what they could not judge without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .account_book import AccountBook
from .accounts import Account
from .backends import Backend
from .errors import BackendError, JobFailed, PreflightFailed
from .preflight import Listing
from .retry import Tries

__all__ = ("OwnerIds", "look_up_owner_ids", "owners_seen", "with_owner_ids")


@dataclass(frozen=True, slots=True)
class OwnerIds:
    """Each account's owner id (None: not known), and why the unknown ones are."""

    ids: Mapping[str, str | None] = field(default_factory=dict)
    #: accounts whose pre-flight failed: the job's pre-flight decides what that means
    unreachable: Mapping[str, PreflightFailed] = field(default_factory=dict)
    #: why each unknown id is unknown, one line per account
    errors: Mapping[str, str] = field(default_factory=dict)


def _discovers(account: Account) -> bool:
    return account.targets is not None and account.targets.discover is not None


async def look_up_owner_ids(
    accounts: Sequence[Account],
    backend: Backend,
    new_tries: Callable[[], Tries],
    *,
    book: AccountBook | None = None,
    listing: Listing | None = None,
    needed_for: str | None = None,
) -> OwnerIds:
    """Read each account's owner id once, in order.

    `listing` is how a denied ListBuckets counts at the account's pre-flight gate (None:
    as its own targets' listing would, so that a first call made here changes nothing).
    `needed_for` names what cannot go on without the ids (the baseline's
    `${account_id}`): a failure other than the pre-flight's then fails the job.
    """
    members = book.member_ids() if book is not None else {}
    ids: dict[str, str | None] = {}
    unreachable: dict[str, PreflightFailed] = {}
    errors: dict[str, str] = {}
    for account in accounts:
        if account.name in members:
            ids[account.name] = members[account.name]
            continue
        gate = _discovers(account) if listing is None else listing
        try:
            page = await new_tries().at(account.name, listing=gate)(
                backend.list_buckets_page, "", "", 1, account=account.name
            )
        except PreflightFailed as exc:  # the job's pre-flight decides (preflight_stop.py)
            ids[account.name], unreachable[account.name] = None, exc
            errors[account.name] = exc.reason
            continue
        except BackendError as exc:
            if needed_for is not None:  # before any target: the whole job cannot go on
                raise JobFailed(
                    f"the job failed: the owner id of account {account.name}, which "
                    f"{needed_for} needs, could not be read (ListBuckets): {exc}"
                ) from exc
            ids[account.name] = None
            errors[account.name] = f"ListBuckets: {exc}"
            continue
        ids[account.name] = page.owner_id or None
        if page.owner_id is None:
            errors[account.name] = "ListBuckets named no owner"
    return OwnerIds(ids, unreachable, errors)


def owners_seen(
    accounts: Sequence[Account], seen: Mapping[str, str], book: AccountBook | None = None
) -> OwnerIds:
    """Each account's owner id as the job's listings named it (a directory's member: its
    id); an account whose listing named none (it failed, or was never made) is unknown."""
    members = book.member_ids() if book is not None else {}
    ids = {a.name: members.get(a.name) or seen.get(a.name) for a in accounts}
    errors = {name: "its listing named no owner" for name, owner in ids.items() if owner is None}
    return OwnerIds(ids, errors=errors)


def with_owner_ids(folder_extra: dict[str, Any], owners: OwnerIds) -> dict[str, Any]:
    """A backup's `accounts` records, each with its `owner_id` (null: could not be read)."""
    records = folder_extra.get("accounts")
    if not isinstance(records, list):
        return folder_extra
    updated = [
        {**record, "owner_id": owners.ids.get(str(record.get("name")))}
        if isinstance(record, dict) and str(record.get("name")) in owners.ids
        else record
        for record in records
    ]
    return {**folder_extra, "accounts": updated}
