"""The backup folder format (contracts §2), and reading it back verified (writing it:
`backup_writer.py`).

```
<backup_dir>/<job-id>/          0700 (a snapshot folder is <job-id>-pre/, same format)
  policies/<bucket>.json        0600, the policy bytes exactly as GetBucketPolicy gave them
  index.jsonl                   one line per bucket: bucket, region, had_policy,
                                sha256 (of the file, or null), request_id, fetched_at
  summary.json                  written last: counts, sha256 of index.jsonl, job_id
```

A folder without `summary.json` is unfinished: its own job may `BackupWriter.resume` it;
`Backup.open` refuses it unless `allow_incomplete`. A bucket with no policy has an index
line and no file. Within one folder a bucket is recorded once: the writer keeps the first
record (on resume the first snapshot wins). Should an index still hold a bucket twice,
the reader takes the LAST line's record, at the position of the first.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from .accounts import Account, account_from_record
from .atomic import (
    read_bytes,
    sha256_file,
)
from .backup_kind import not_a_backup
from .errors import BackupError
from .jsonfiles import iter_jsonl, read_json_object
from .results import DEFAULT_ACCOUNT
from .words import plural

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = (
    "FORMAT",
    "INDEX_NAME",
    "MISSING_NAME",
    "POLICIES_DIR",
    "SAFE_BUCKET",
    "SUMMARY_KEYS",
    "SUMMARY_NAME",
    "Backup",
    "BackupEntry",
    "DamagedEntry",
    "policy_file",
    "read_index",
    "says_complete",
)

INDEX_NAME = "index.jsonl"
SUMMARY_NAME = "summary.json"
#: the known targets of an incomplete backup that have no index line, one per line
MISSING_NAME = "missing.txt"
POLICIES_DIR = "policies"

FORMAT = 1
SUMMARY_KEYS = frozenset(
    {"format", "job_id", "finished_at", "buckets", "with_policy", "without_policy"}
    | {"index_sha256", "complete", "listing_complete", "missing"}
)
#: OSS names are [a-z0-9-]; this is looser but can never leave `policies/`
SAFE_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_VERIFY_WORKERS = 16
_DAMAGED_HINT = "restore from another backup or pass --skip-damaged"
_INDEX_HINT = "the index is damaged; restore from another backup"


def says_complete(summary: Mapping[str, Any]) -> bool:
    """Whether a backup's summary says it is complete (older summaries had no key: a
    summary was only written for a backup that ran through)."""
    return summary.get("complete", True) is True


def _incompleteness(summary: Mapping[str, Any]) -> str:
    """Why a backup is incomplete, from its summary, in a few words."""
    parts = []
    if summary.get("missing"):
        missing = int(summary["missing"])
        verb = "is" if missing == 1 else "are"
        parts.append(f"{plural(missing, 'bucket')} {verb} missing (see {MISSING_NAME})")
    if summary.get("listing_complete") is False:
        parts.append("the listing of its buckets failed, so more may be missing")
    return " and ".join(parts) or "summary.json says complete: false"


def policy_file(folder: Path, bucket: str) -> Path:
    return folder / POLICIES_DIR / f"{bucket}.json"


@dataclass(frozen=True, slots=True)
class BackupEntry:
    """One bucket's line in `index.jsonl`."""

    bucket: str
    region: str | None
    had_policy: bool
    sha256: str | None
    request_id: str | None
    fetched_at: str
    account: str = DEFAULT_ACCOUNT

    def to_record(self) -> dict[str, Any]:
        """The index line's JSON object."""
        return {
            "bucket": self.bucket,
            "account": self.account,
            "region": self.region,
            "had_policy": self.had_policy,
            "sha256": self.sha256,
            "request_id": self.request_id,
            "fetched_at": self.fetched_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> BackupEntry:
        """Read an index line back; `ValueError` names the first field that is wrong."""
        bucket = record.get("bucket")
        if not isinstance(bucket, str) or not SAFE_BUCKET.fullmatch(bucket):
            raise ValueError("bucket is missing or not a bucket name")
        had_policy = record.get("had_policy")
        if not isinstance(had_policy, bool):
            raise ValueError("had_policy is not true or false")  # noqa: TRY004 - bad content
        sha256 = record.get("sha256")
        if had_policy and not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
            raise ValueError("sha256 is not a hex sha256 though had_policy is true")
        if not had_policy and sha256 is not None:
            raise ValueError("sha256 is set though had_policy is false")
        for key in ("region", "request_id"):
            if not isinstance(record.get(key), str | None):
                raise ValueError(f"{key} is not a string or null")  # noqa: TRY004 - bad content
        fetched_at = record.get("fetched_at")
        if not isinstance(fetched_at, str):
            raise ValueError("fetched_at is not a string")  # noqa: TRY004 - bad content
        account = record.get("account", DEFAULT_ACCOUNT)  # older backups have none
        if not isinstance(account, str):
            raise ValueError("account is not a string")  # noqa: TRY004 - bad content
        return cls(
            bucket,
            record.get("region"),
            had_policy,
            sha256,
            record.get("request_id"),
            fetched_at,
            account,
        )


@dataclass(frozen=True, slots=True)
class DamagedEntry:
    """A policy file that is missing or does not match its index line."""

    entry: BackupEntry
    path: Path
    problem: str

    def error(self, hint: str = _DAMAGED_HINT) -> BackupError:
        """The one-line error naming the bucket, the file and the way out (a restore's,
        unless the caller has its own: `diff` has no --skip-damaged)."""
        return BackupError(
            f"the policy of bucket {self.entry.bucket} {self.problem}",
            place=str(self.path),
            hint=hint,
        )


async def read_index(folder: Path) -> dict[str, BackupEntry]:
    """Index lines by bucket (last line wins), a torn last line skipped."""
    path = folder / INDEX_NAME

    def bad_line(line_no: int, reason: str) -> BackupError:
        return BackupError(reason, place=f"{path} line {line_no}", hint=_INDEX_HINT)

    entries: dict[str, BackupEntry] = {}
    line_no = 0
    async for record in iter_jsonl(path, bad_line=bad_line):
        line_no += 1
        try:
            entry = BackupEntry.from_record(record)
        except ValueError as exc:
            raise bad_line(line_no, str(exc)) from exc
        entries[entry.bucket] = entry
    return entries


#: the statuses of a directory's member whose buckets a backup cannot hold
_UNREACHED = frozenset({"excluded", "assume_failed"})


class Backup:
    """A backup folder opened for reading: its summary and index checked on `open`."""

    def __init__(
        self, folder: Path, summary: dict[str, Any] | None, entries: dict[str, BackupEntry]
    ) -> None:
        self.folder = folder
        #: the parsed `summary.json`, None for an unfinished backup
        self.summary = summary
        self._entries = entries

    @property
    def accounts(self) -> tuple[Account, ...]:
        """The accounts its job recorded (name and credential source), for a restore
        that names none; empty for an older backup or one without a summary. A
        directory's member the job left out or could not reach holds none of its
        buckets and is not one of them (contracts §17)."""
        records = (self.summary or {}).get("accounts")
        if not isinstance(records, list):
            return ()
        found = [
            account_from_record(record)
            for record in records
            if not (isinstance(record, dict) and record.get("status") in _UNREACHED)
        ]
        return tuple(account for account in found if account is not None)

    @property
    def complete(self) -> bool:
        """True when the backup has its `summary.json` and it says `complete`."""
        return self.summary is not None and says_complete(self.summary)

    def incompleteness(self) -> str | None:
        """Why the backup is incomplete, in a few words (None: it is complete)."""
        if self.summary is None:
            return "unfinished backup: summary.json is missing"
        return None if says_complete(self.summary) else _incompleteness(self.summary)

    async def missing(self) -> list[str]:
        """The known targets the backup lacks (`missing.txt`; empty when there is none)."""
        path = anyio.Path(self.folder / MISSING_NAME)
        if not await path.is_file():
            return []
        return [line.strip() for line in (await path.read_text()).splitlines() if line.strip()]

    @classmethod
    async def open(
        cls, folder: Path, *, allow_incomplete: bool = False, allow_empty: bool = False
    ) -> Backup:
        """Open `folder`, checking `summary.json` and every `index.jsonl` line.

        Raises `BackupError` for a missing folder, an incomplete backup (no summary, or
        one that says `complete: false`; unless `allow_incomplete`), a backup of zero
        buckets (unless `allow_empty`: a snapshot may hold none), a summary that does not
        parse, a bad index line, or an index whose sha256 differs from the summary's.
        The policy files are checked by `verify`.
        """
        if not await anyio.Path(folder).is_dir():
            raise BackupError(
                "no such backup folder", place=str(folder), hint="check the source path"
            )
        if (plainly := await not_a_backup(folder)) is not None:  # a report folder, or empty
            raise plainly
        summary = await cls._read_summary(folder, allow_incomplete=allow_incomplete)
        index = folder / INDEX_NAME
        if not await anyio.Path(index).is_file():
            raise BackupError("index.jsonl is missing", place=str(folder), hint=_INDEX_HINT)
        entries = await read_index(folder)
        if summary is not None:
            if await sha256_file(index) != summary["index_sha256"]:
                raise BackupError(
                    "does not match the sha256 recorded in summary.json",
                    place=str(index),
                    hint=_INDEX_HINT,
                )
            if summary.get("buckets") != len(entries):
                raise BackupError(
                    f"holds {len(entries)} buckets but summary.json counts "
                    f"{summary.get('buckets')}",
                    place=str(index),
                    hint=_INDEX_HINT,
                )
            if not says_complete(summary) and not allow_incomplete:
                raise BackupError(
                    f"incomplete backup: {_incompleteness(summary)}",
                    place=str(folder),
                    hint="resume its backup job (`osspolicy run MANIFEST --resume "
                    f"{summary.get('job_id', folder.name)}`), or pass --allow-incomplete to "
                    "restore the buckets it holds",
                )
        if not entries and not allow_empty:
            raise BackupError(
                "the backup holds no bucket; restoring it would do nothing",
                place=str(folder),
                hint="check the source path, or restore from another backup",
            )
        return cls(folder, summary, entries)

    @staticmethod
    async def _read_summary(folder: Path, *, allow_incomplete: bool) -> dict[str, Any] | None:
        path = folder / SUMMARY_NAME
        if not await anyio.Path(path).exists():
            if allow_incomplete:
                return None
            raise BackupError(
                "unfinished backup: summary.json is missing",
                place=str(folder),
                hint="pass --allow-incomplete to use the buckets it holds",
            )
        try:
            summary = await read_json_object(path)
        except (ValueError, OSError) as exc:
            raise BackupError(
                "cannot be read as a JSON object", place=str(path), hint=_INDEX_HINT
            ) from exc
        if not isinstance(summary.get("index_sha256"), str):
            raise BackupError("index_sha256 is missing", place=str(path), hint=_INDEX_HINT)
        return summary

    def entries(self) -> list[BackupEntry]:
        """Every bucket's entry, in index order."""
        return list(self._entries.values())

    def get(self, bucket: str) -> BackupEntry | None:
        """`bucket`'s entry, or None if the backup does not hold it."""
        return self._entries.get(bucket)

    def policy_path(self, entry: BackupEntry) -> Path:
        """Where `entry`'s policy file is."""
        return policy_file(self.folder, entry.bucket)

    async def _load(self, entry: BackupEntry) -> bytes | DamagedEntry:
        path = self.policy_path(entry)
        try:
            body = await read_bytes(path)
        except FileNotFoundError:
            return DamagedEntry(entry, path, "is missing")
        except OSError as exc:
            return DamagedEntry(entry, path, f"cannot be read ({exc.strerror})")
        if hashlib.sha256(body).hexdigest() != entry.sha256:
            return DamagedEntry(
                entry, path, "does not match its sha256 in index.jsonl (truncated or changed)"
            )
        return body

    async def verify(self, *, skip_damaged: bool = False) -> list[DamagedEntry]:
        """Check every policy file against its index line.

        Raises the first damaged entry's `BackupError` (in index order), or with
        `skip_damaged` returns the damaged entries, in index order, for the caller to skip.
        """
        todo = iter(enumerate(e for e in self._entries.values() if e.had_policy))
        found: dict[int, DamagedEntry] = {}

        async def worker() -> None:
            for position, entry in todo:  # one iterator shared: each entry checked once
                loaded = await self._load(entry)
                if isinstance(loaded, DamagedEntry):
                    found[position] = loaded

        async with anyio.create_task_group() as group:
            for _ in range(_VERIFY_WORKERS):
                group.start_soon(worker)
        damaged = [found[position] for position in sorted(found)]
        if damaged and not skip_damaged:
            raise damaged[0].error()
        return damaged

    async def read_policy(self, entry: BackupEntry) -> bytes | None:
        """The policy bytes of `entry` (checked again), or None if it had no policy."""
        if not entry.had_policy:
            return None
        loaded = await self._load(entry)
        if isinstance(loaded, DamagedEntry):
            raise loaded.error()
        return loaded
