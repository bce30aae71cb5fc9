"""Writing a backup folder (contracts §2; the format and the reader: `backup.py`).

A new folder is made 0700 with `policies/`; each bucket's policy file is written, then its
index line, in one group commit per batch of buckets (`atomic_folder.py`); `summary.json`
last. `resume` reopens an unfinished folder of the same job. Within one folder a bucket
is recorded once: the first record wins (on resume the first snapshot wins).
"""

from __future__ import annotations

import hashlib
import shutil
from typing import TYPE_CHECKING, Any

import anyio

from .appendlog import AppendLog, AsyncClosing
from .atomic import (
    make_new_dir,
    make_private_dir,
    remove_file,
    remove_temp_files,
    sha256_file,
    write_atomic,
)
from .atomic_folder import AtomicFolder
from .backup import (
    FORMAT,
    INDEX_NAME,
    MISSING_NAME,
    POLICIES_DIR,
    SAFE_BUCKET,
    SUMMARY_KEYS,
    SUMMARY_NAME,
    BackupEntry,
    policy_file,
    read_index,
    says_complete,
)
from .errors import BackupError
from .jobid import utc_timestamp
from .jsonfiles import json_line, read_json_object, write_json_atomic
from .results import DEFAULT_ACCOUNT

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime
    from pathlib import Path

__all__ = ("BackupWriter",)


class BackupWriter(AsyncClosing):
    """Writes one backup (or snapshot) folder; `add` may be called from many tasks."""

    def __init__(
        self, folder: Path, job_id: str, index: AppendLog, entries: dict[str, BackupEntry]
    ) -> None:
        self.folder = folder
        self.job_id = job_id
        self._index = index
        #: each policy file and then its index line, one thread hop per group of buckets
        self._policies = AtomicFolder(folder / POLICIES_DIR, index)
        #: bucket -> had_policy, claimed before the first await of `add`; a bool per
        #: bucket, not its whole entry, so that 100,000 buckets stay a few MB
        self._claimed = {bucket: entry.had_policy for bucket, entry in entries.items()}
        #: claimed buckets whose `add` has not finished yet (not in the index yet)
        self._adding: set[str] = set()

    @classmethod
    async def create(cls, folder: Path, *, job_id: str) -> BackupWriter:
        """Start a new backup in `folder`, which must not exist (0700, with `policies/`)."""
        try:
            await make_new_dir(folder)
        except FileExistsError as exc:
            raise BackupError(
                "the backup folder exists already",
                place=str(folder),
                hint="a new job never writes into another job's folder; start it again",
            ) from exc
        await make_private_dir(folder / POLICIES_DIR)
        index = await AppendLog.open(folder / INDEX_NAME, exclusive=True)
        return cls(folder, job_id, index, {})

    @classmethod
    async def resume(
        cls, folder: Path, *, job_id: str | None = None, reopen: bool = False
    ) -> BackupWriter:
        """Reopen an incomplete backup to add the buckets it lacks (or, with `reopen`, a
        snapshot, whose summary says nothing of completeness).

        A torn last index line is cut off; temporary files of interrupted writes are
        removed; a summary is removed (written again at the end). `job_id` (for
        `summary.json`) defaults to the folder's name.
        """
        if not await anyio.Path(folder).is_dir():
            raise BackupError("no such backup folder", place=str(folder))
        summary_path = folder / SUMMARY_NAME
        if await anyio.Path(summary_path).exists():
            if not reopen and says_complete(await read_json_object(summary_path)):
                raise BackupError(
                    "the backup is complete and cannot be resumed",
                    place=str(folder),
                    hint="start a new job, which writes a new folder",
                )
            await remove_file(summary_path)  # rewritten when the resumed job finishes
        policies = folder / POLICIES_DIR
        await make_private_dir(policies)
        await remove_temp_files(policies)
        has_index = await anyio.Path(folder / INDEX_NAME).exists()
        entries = await read_index(folder) if has_index else {}
        index = await AppendLog.open(folder / INDEX_NAME)
        return cls(folder, job_id or folder.name, index, entries)

    @property
    def done(self) -> set[str]:
        """The buckets already in the index."""
        return self._claimed.keys() - self._adding

    def recorded(self, bucket: str) -> str | None:
        """Where the folder records `bucket`: its policy file, or the index for a bucket
        without policy; None while its index line is not written."""
        had_policy = self._claimed.get(bucket)
        if had_policy is None or bucket in self._adding:
            return None
        return str(self.policy_path(bucket)) if had_policy else str(self.folder / INDEX_NAME)

    def policy_path(self, bucket: str) -> Path:
        """Where `bucket`'s policy file is (or would be)."""
        return policy_file(self.folder, bucket)

    async def add(
        self,
        bucket: str,
        region: str | None,
        body: bytes | None,
        request_id: str | None,
        *,
        account: str = DEFAULT_ACCOUNT,
        fetched_at: datetime | None = None,
    ) -> str | None:
        """Record `bucket`: its policy file (exactly `body`) and its index line, fsynced.

        Returns the policy file's path, or None for a bucket without policy. A bucket
        already recorded keeps its first record: nothing is written and the first
        record's path is returned (on resume the first snapshot wins).
        """
        if not SAFE_BUCKET.fullmatch(bucket):
            raise ValueError(f"{bucket!r} is not a bucket name")
        if bucket in self._claimed:
            return str(self.policy_path(bucket)) if self._claimed[bucket] else None
        self._claimed[bucket] = body is not None
        self._adding.add(bucket)
        try:
            entry = BackupEntry(
                bucket=bucket,
                region=region,
                had_policy=body is not None,
                sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
                request_id=request_id,
                fetched_at=utc_timestamp(fetched_at),
                account=account,
            )
            name = None if body is None else f"{bucket}.json"  # policy_file's name
            path = await self._policies.add(name, body or b"", line=json_line(entry.to_record()))
        except BaseException:
            del self._claimed[bucket]
            raise
        finally:
            self._adding.discard(bucket)
        return path

    async def finish(
        self,
        *,
        listing_complete: bool = True,
        missing: Iterable[str] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Close the index and write `summary.json` (last); returns what it holds.

        `complete` is true only when the listing finished and no known target lacks an
        index line (contracts §2); `missing` names those targets (also in `missing.txt`).
        `extra` keys are added to the summary; they may not replace the format's own.
        """
        extra = dict(extra or {})
        if clash := SUMMARY_KEYS & extra.keys():
            raise ValueError(f"extra summary keys clash with the format's: {sorted(clash)}")
        await self._index.aclose()
        indexed = len(self._claimed) - len(self._adding)
        with_policy = sum(
            had_policy for bucket, had_policy in self._claimed.items() if bucket not in self._adding
        )
        lacking = sorted(set(missing) - self.done)
        if lacking:
            await write_atomic(
                self.folder / MISSING_NAME, "".join(f"{b}\n" for b in lacking).encode()
            )
        else:
            await remove_file(self.folder / MISSING_NAME)
        summary: dict[str, Any] = {
            "format": FORMAT,
            "job_id": self.job_id,
            "finished_at": utc_timestamp(),
            "complete": listing_complete and not lacking,
            "listing_complete": listing_complete,
            "missing": len(lacking),
            "buckets": indexed,
            "with_policy": with_policy,
            "without_policy": indexed - with_policy,
            "index_sha256": await sha256_file(self.folder / INDEX_NAME),
            **extra,
        }
        await write_json_atomic(self.folder / SUMMARY_NAME, summary)
        return summary

    async def aclose(self) -> None:
        """Close the index without finishing: the folder stays an unfinished backup."""
        await self._index.aclose()

    async def discard_if_empty(self) -> bool:
        """Close the index and remove the folder, if it records no bucket at all (a job
        stopped by its pre-flight before anything was read, contracts §15). Returns
        whether it was removed; a folder holding any record is kept, unfinished."""
        await self._index.aclose()
        if self._claimed:
            return False
        await anyio.to_thread.run_sync(shutil.rmtree, self.folder)
        return True
