"""The member list a directory job records at its start, so that its resume covers the
same members (contracts §5: "a directory job resumes with the member list recorded at
start").

```
new job ─► the directory listed ─► MemberList per directory account ─► the journal
           header's `started_with.directories` (written before the first target)
--resume ─► recorded_lists(job folder) ─► directory.py reaches those members, no listing
```

Each directory account's entry holds the management account's id and every member as
listed: id, display name, status, and why it is `excluded` (null: it is in). A resume
takes it as it is: a member added since is not added (a new job covers it), and a member
that left since is tried as recorded and fails on its own (its AssumeRole is refused:
`assume_failed`, saying it was a member when the job started). A job recorded before
this existed has no entry: its resume lists the directory again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends.directory import Member
from .journal import read_header

__all__ = ("HEADER_KEY", "MemberList", "recorded_lists", "records_of")

#: where in the journal header's `started_with` the lists are
HEADER_KEY = "directories"


@dataclass(frozen=True, slots=True)
class MemberList:
    """One directory's members as the job found them at its start."""

    management: str
    members: tuple[Member, ...]
    #: member id -> why it is left out (its status, include, exclude)
    excluded: Mapping[str, str]

    def to_record(self) -> dict[str, Any]:
        """The JSON a journal header keeps."""
        return {
            "management": self.management,
            "members": [
                {
                    "account_id": m.account_id,
                    "display_name": m.display_name,
                    "status": m.status,
                    "folder_id": m.folder_id,
                    "excluded": self.excluded.get(m.account_id),
                }
                for m in self.members
            ],
        }

    @classmethod
    def from_record(cls, record: object) -> MemberList | None:
        """Read `to_record`'s JSON back; None if it is not that."""
        if not isinstance(record, Mapping) or not isinstance(record.get("management"), str):
            return None
        items = record.get("members")
        if not isinstance(items, list):
            return None
        members: list[Member] = []
        excluded: dict[str, str] = {}
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("account_id"), str):
                return None
            member = Member(
                item["account_id"],
                str(item.get("display_name") or ""),
                str(item.get("status") or ""),
                item.get("folder_id") if isinstance(item.get("folder_id"), str) else None,
            )
            members.append(member)
            if isinstance(reason := item.get("excluded"), str):
                excluded[member.account_id] = reason
        return cls(record["management"], tuple(members), excluded)


def records_of(lists: Mapping[str, MemberList]) -> dict[str, Any]:
    """What a new job's journal header records: `{directories: {account: list}}` (empty
    for a job without a directory account)."""
    if not lists:
        return {}
    return {HEADER_KEY: {name: found.to_record() for name, found in lists.items()}}


async def recorded_lists(report_dir: Path, job_id: str | None) -> dict[str, MemberList]:
    """The member lists job `job_id` recorded at its start, by directory account (empty:
    no such job, or one recorded none)."""
    if job_id is None or job_id == "latest":
        return {}
    header = await read_header(report_dir / job_id)
    started = header.started_with if header is not None else None
    recorded = started.get(HEADER_KEY) if started is not None else None
    if not isinstance(recorded, Mapping):
        return {}
    lists = {str(name): MemberList.from_record(data) for name, data in recorded.items()}
    return {name: found for name, found in lists.items() if found is not None}
