"""The values that flow through a job: a target in, one result record out."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import Any, Final

__all__ = (
    "DEFAULT_ACCOUNT",
    "DRIFT_OUTCOMES",
    "FAILURE_OUTCOMES",
    "FOREIGN",
    "OVERWRITE",
    "SUCCESS_OUTCOMES",
    "UNKNOWN",
    "After",
    "Change",
    "Outcome",
    "Result",
    "Target",
    "Unknown",
    "policy_sha256",
)

#: the account of a job without `accounts:` (contracts §10)
DEFAULT_ACCOUNT = "default"
#: how a record's note starts when its write overwrites a later change (rollback --force)
OVERWRITE = "overwrite"
#: how a record's note starts when its policy names buckets other than its own
FOREIGN = "resources naming other buckets"


@dataclass(frozen=True, slots=True)
class Target:
    """One bucket to work on; `region` is None when the job does not know it yet."""

    bucket: str
    region: str | None = None
    account: str = DEFAULT_ACCOUNT


class Outcome(enum.StrEnum):
    """What happened to one bucket (contracts §3): one vocabulary for every action."""

    FETCHED = "fetched"
    NO_POLICY = "no_policy"
    APPLIED = "applied"
    DELETED = "deleted"
    UNCHANGED = "unchanged"
    PLANNED = "planned"
    COMPLIANT = "compliant"
    DRIFTED = "drifted"
    BLOCKED_PUBLIC = "blocked_public"
    CONFLICT = "conflict"
    FAILED = "failed"
    SKIPPED = "skipped"


class Change(enum.StrEnum):
    """The write an apply/restore sends (or, when planned, would send)."""

    PUT = "put"
    DELETE = "delete"
    NONE = "none"


class Unknown(enum.Enum):
    """A value no record said anything about: the key is absent, not JSON null."""

    UNKNOWN = "unknown"


#: `Result.sha256_after` of a record that does not know it (written by no write step)
UNKNOWN: Final = Unknown.UNKNOWN
#: what a bucket is at after a writing job: the sha256 of its policy bytes, None for no
#: policy, or UNKNOWN (contracts §15 "Rollback keeps later changes")
After = str | None | Unknown


def policy_sha256(body: bytes | None) -> str | None:
    """The sha256 (hex) of policy bytes; None for no policy."""
    return None if body is None else hashlib.sha256(body).hexdigest()


SUCCESS_OUTCOMES = frozenset(
    {
        Outcome.FETCHED,
        Outcome.NO_POLICY,
        Outcome.APPLIED,
        Outcome.DELETED,
        Outcome.UNCHANGED,
        Outcome.PLANNED,
        Outcome.COMPLIANT,
    }
)
FAILURE_OUTCOMES = frozenset({Outcome.BLOCKED_PUBLIC, Outcome.CONFLICT, Outcome.FAILED})
#: `check` found the bucket other than the job would make it (exit 3)
DRIFT_OUTCOMES = frozenset({Outcome.DRIFTED})


@dataclass(frozen=True, slots=True)
class Result:
    """The one record every target ends with (contracts §3)."""

    bucket: str
    region: str | None
    action: str
    outcome: Outcome
    account: str = DEFAULT_ACCOUNT
    attempts: int = 0
    request_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    duration_ms: int = 0
    change: Change | None = None
    #: whether the bucket had a policy before the job (None: not read)
    had_policy: bool | None = None
    #: sha256 of the policy bytes the job read (None: no policy, or not read)
    read_sha256: str | None = None
    #: one of a canary's first targets (contracts §11)
    canary: bool = False
    snapshot: str | None = None
    diff: str | None = None
    note: str | None = None
    #: what a writing job left the bucket at: the sha256 of the policy bytes sent (or
    #: meant to be sent) or already there, None when it left no policy; UNKNOWN (the key
    #: absent from the record) when nothing was attempted, or in an older record
    sha256_after: After = UNKNOWN
    #: a plan's (and a `--deny-new-access` refusal's): what the wanted policy allows that
    #: the bucket's does not, one line per statement (contracts §18); None: not judged
    new_access: tuple[str, ...] | None = None

    @property
    def succeeded(self) -> bool:
        """True for the outcomes contracts §3 counts as success."""
        return self.outcome in SUCCESS_OUTCOMES

    @property
    def failed(self) -> bool:
        """True for the outcomes contracts §3 counts as failure."""
        return self.outcome in FAILURE_OUTCOMES

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready record, enums as their strings."""
        record = {name: getattr(self, name) for name in _FIELD_NAMES}  # all flat values
        record["outcome"] = self.outcome.value
        # nothing written (Change.NONE) is JSON null (contracts §3)
        written = self.change is not None and self.change is not Change.NONE
        record["change"] = self.change.value if written and self.change else None
        if self.sha256_after is UNKNOWN:
            del record["sha256_after"]
        if self.new_access is None:
            del record["new_access"]
        else:
            record["new_access"] = list(self.new_access)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Result:
        """Read a record written by `to_record` (journal, report) back."""
        fields: dict[str, Any] = {k: record.get(k) for k in cls.__dataclass_fields__}
        fields["outcome"] = Outcome(record["outcome"])
        fields["change"] = _change(record.get("change"), fields["outcome"])
        fields["attempts"] = int(record.get("attempts") or 0)
        fields["duration_ms"] = int(record.get("duration_ms") or 0)
        fields["account"] = record.get("account") or DEFAULT_ACCOUNT
        fields["canary"] = record.get("canary") is True
        after = record.get("sha256_after", UNKNOWN)
        fields["sha256_after"] = after if after is None or isinstance(after, str) else UNKNOWN
        found = record.get("new_access")
        fields["new_access"] = tuple(map(str, found)) if isinstance(found, list) else None
        return cls(**fields)


#: the outcomes of a record whose `change` null means "nothing to write" (Change.NONE)
_NOTHING_WRITTEN = frozenset({Outcome.UNCHANGED, Outcome.COMPLIANT})


def _change(value: object, outcome: Outcome) -> Change | None:
    """A record's `change` back: null is Change.NONE for a bucket left as it was, and
    an older record's string "none" still reads (a journal of an older version)."""
    if value:
        return Change(str(value))
    return Change.NONE if outcome in _NOTHING_WRITTEN else None


#: Result's fields in order: `to_record` reads them without `asdict`'s deep copies
_FIELD_NAMES = tuple(field.name for field in dataclass_fields(Result))
