"""Two backups compared bucket by bucket (contracts §18 `osspolicy diff A B`).

```
bucket in A's index and B's ─► same | changed (canonical, contracts §6) | added | removed
bucket in one index only    ─► only_in_a | only_in_b, or unknown when the other backup
                               may lack it (in its missing.txt, or its listing is not
                               known to be whole)
bucket whose policy file is
damaged (diff --allow-incomplete) ─► unknown
```

A `changed` bucket (and an `added` or `removed` one) lists its statements added,
removed or changed (`statement_diff.py`). Equal sha256s in the two indexes are the same
bytes, so only the policies whose bytes differ are read and parsed; a reordered or
re-spaced policy is `same`. A policy that is not JSON, or JSON but not an object (`[]`),
is compared by its bytes, and its note says which.

Exit code (contracts §4): 1 when a bucket is `unknown` (it could not be compared, as a
check's unread bucket), else 3 when any differs, else 0. Opening, verifying and
resolving the backups is `api_diff.py`'s.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from .errors import ConfigError
from .exitcodes import EXIT_DRIFT, EXIT_FAILURES, EXIT_OK
from .policy import parse_policy, policies_equal
from .policy_parts import kind_of
from .statement_diff import StatementDiff, statement_diffs

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .backup import Backup, BackupEntry

__all__ = ("BackupDiff", "BucketDiff", "DiffStatus", "compare_backups")

DiffStatus = Literal["added", "removed", "changed", "same", "only_in_a", "only_in_b", "unknown"]
#: every status, in the order counts are told
STATUSES: tuple[DiffStatus, ...] = get_args(DiffStatus)
#: the statuses that are a difference (exit 3)
_DIFFERENT = frozenset({"added", "removed", "changed", "only_in_a", "only_in_b"})


@dataclass(frozen=True, slots=True)
class BucketDiff:
    """One bucket of two backups: its `status` and, for a policy added, removed or
    changed, its `statements` that differ. `account` is the one its index line names
    (A's, else B's). `note` says why a bucket is `unknown`, or that a policy that is not
    JSON was compared by its bytes."""

    bucket: str
    status: DiffStatus
    account: str | None = None
    statements: tuple[StatementDiff, ...] = ()
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "bucket": self.bucket,
            "status": self.status,
            "account": self.account,
            "statements": [statement.to_json() for statement in self.statements],
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class BackupDiff:
    """What differs between backup `a` and backup `b`: every bucket of either (by
    name, `same` ones included), its counts per status and the exit code."""

    a: Path
    b: Path
    buckets: tuple[BucketDiff, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Buckets per status, every status (zeros too)."""
        found = Counter(bucket.status for bucket in self.buckets)
        return {status: found[status] for status in STATUSES}

    @property
    def differing(self) -> tuple[BucketDiff, ...]:
        """The buckets that are not `same`."""
        return tuple(bucket for bucket in self.buckets if bucket.status != "same")

    @property
    def exit_code(self) -> int:
        """1 when a bucket is `unknown`, else 3 when any differs, else 0."""
        statuses = {bucket.status for bucket in self.buckets}
        if "unknown" in statuses:
            return EXIT_FAILURES
        return EXIT_DRIFT if statuses & _DIFFERENT else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        """The one object `osspolicy diff --json` prints: the two folders, the exit
        code, counts per status, and every bucket that is not `same`."""
        return {
            "a": str(self.a),
            "b": str(self.b),
            "exit_code": self.exit_code,
            "counts": self.counts,
            "buckets": [bucket.to_json() for bucket in self.differing],
        }


async def compare_backups(
    a: Backup,
    b: Backup,
    *,
    damaged_a: Mapping[str, str] | None = None,
    damaged_b: Mapping[str, str] | None = None,
) -> BackupDiff:
    """Compare two opened (and verified) backups, bucket by bucket. `damaged_a` and
    `damaged_b` are the buckets whose policy file failed its check (bucket: what is
    wrong), which are `unknown` where both backups hold them."""
    missing_a, missing_b = set(await a.missing()), set(await b.missing())
    names = sorted({e.bucket for e in a.entries()} | {e.bucket for e in b.entries()})
    names += sorted((missing_a | missing_b) - set(names))
    buckets: list[BucketDiff] = []
    for name in names:
        ours, theirs = a.get(name), b.get(name)
        damaged = _damaged(name, damaged_a or {}, damaged_b or {})
        if ours is not None and theirs is not None and damaged is not None:
            buckets.append(BucketDiff(name, "unknown", ours.account, note=damaged))
        elif ours is not None and theirs is not None:
            buckets.append(await _both(a, b, ours, theirs))
        elif ours is None and theirs is None:
            buckets.append(BucketDiff(name, "unknown", note="missing from both backups"))
        else:
            entry = ours or theirs
            lacking, side = (b, "b") if theirs is None else (a, "a")
            lacked = missing_b if theirs is None else missing_a
            buckets.append(_one_side(name, entry, lacking, side, name in lacked))
    return BackupDiff(a.folder, b.folder, tuple(buckets))


def _damaged(name: str, in_a: Mapping[str, str], in_b: Mapping[str, str]) -> str | None:
    """Why a bucket cannot be compared because a policy file of it is damaged (None: it
    can be), e.g. `damaged in B: its policy file is missing`."""
    found = [
        f"in {side} its policy file {in_side[name]}"
        for side, in_side in (("A", in_a), ("B", in_b))
        if name in in_side
    ]
    return f"damaged: {'; '.join(found)}" if found else None


def _one_side(
    name: str, entry: BackupEntry | None, lacking: Backup, side: str, missing: bool
) -> BucketDiff:
    """A bucket that one backup's index has and the other's (`side`) lacks: only in the
    first, or unknown when the other may lack it (missing, or a listing not whole)."""
    account = entry.account if entry is not None else None
    if missing:
        return BucketDiff(name, "unknown", account, note=f"missing from {side.upper()}")
    summary = lacking.summary
    if summary is None or summary.get("listing_complete") is False:
        note = f"{side.upper()}'s listing of its buckets is not known to be whole"
        return BucketDiff(name, "unknown", account, note=note)
    return BucketDiff(name, "only_in_b" if side == "a" else "only_in_a", account)


async def _both(a: Backup, b: Backup, ours: BackupEntry, theirs: BackupEntry) -> BucketDiff:
    """A bucket both backups hold: same, added, removed or changed, with its statements."""
    name, account = ours.bucket, ours.account
    if ours.sha256 == theirs.sha256:  # the same bytes (or both none): verified files
        return BucketDiff(name, "same", account)
    before, after = await a.read_policy(ours), await b.read_policy(theirs)
    try:
        old = _parsed(before, a.folder, name)
        new = _parsed(after, b.folder, name)
    except ConfigError:  # not a policy: the bytes differ, so it changed; no statements
        note = f"{_not_a_policy(before, after)}: compared as bytes"
        return BucketDiff(name, _status(before, after), account, note=note)
    if before is not None and after is not None and policies_equal(old, new):
        return BucketDiff(name, "same", account)
    return BucketDiff(name, _status(before, after), account, statement_diffs(old, new))


def _not_a_policy(before: bytes | None, after: bytes | None) -> str:
    """Why a side is no policy, in words: `not JSON` when both are alike, else each
    side's (`B's is JSON but not a policy object (a list)`)."""
    why = {side: _why_not(body) for side, body in (("A", before), ("B", after))}
    found = {side: reason for side, reason in why.items() if reason is not None}
    if len(set(found.values())) == 1 and len(found) == len(why):
        return next(iter(found.values()))
    return ", ".join(f"{side}'s is {reason}" for side, reason in found.items())


def _why_not(body: bytes | None) -> str | None:
    """What keeps `body` from being a policy object (None: it is one, or there is none)."""
    if body is None:
        return None
    try:
        value = json.loads(body.decode("utf-8-sig"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        return "not JSON"
    return None if isinstance(value, dict) else f"JSON but not a policy object ({kind_of(value)})"


def _status(before: bytes | None, after: bytes | None) -> DiffStatus:
    if before is None:
        return "added"
    return "removed" if after is None else "changed"


def _parsed(body: bytes | None, folder: Path, bucket: str) -> Mapping[str, Any] | None:
    """A backed-up policy parsed (None: the bucket had none)."""
    if body is None:
        return None
    return parse_policy(body, source=str(folder / "policies" / f"{bucket}.json"))
