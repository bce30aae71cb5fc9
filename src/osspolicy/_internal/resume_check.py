"""What a resumed job's folders prove, checked before the resume trusts its journal.

A journal says which targets finished; the files they left may have been lost since (a
folder deleted, a policy file corrupted, an index cut short). So before `--resume` skips
anything (contracts §5):

- **A backup** (`recheck_backup`): every bucket the journal calls done must have its
  index line in `<backup_dir>/<job-id>/` and, when it had a policy,
  `policies/<bucket>.json` with that line's sha256. Any index line whose file is missing
  or wrong is dropped, with its file (the index is rewritten atomically without it), so
  the folder holds only what it proves; every done bucket it does not prove runs again
  and gets its new record. A folder that vanished is made anew.
- **A writing job** (apply, delete, restore, rollback: `lost_snapshots`): a bucket needs
  its snapshot line in `<backup_dir>/<job-id>-pre/` when the journal proves that its
  snapshot was taken: a record of it names its snapshot (`snapshot` not null). Every
  `applied`/`deleted` record does, and so does the `failed` record of a write that
  failed after its snapshot (`decision_steps.write_step`): the write may have landed.
  When that line is lost (no index line, or its policy file missing or not of its
  sha256), the bucket cannot get a new snapshot (the first snapshot wins: it may have
  been changed since), so it is `failed` with `error_code: SnapshotLost` and is not
  written, also when an earlier run applied it (its rollback could not undo it; the
  record says so and the job exits 1). A bucket no record proves was snapshotted (its
  read failed, it was never reached, or the job was killed before its record) runs as
  before. A policy file without its line is no proof: a crash between the file and its
  line (they are written in that order, the line durable before the write) leaves one
  for a bucket that was never written.

Both checks read the folder's index and hash its policy files in one pass, in one worker
thread (never on the event loop); what they keep is a set of bucket names, like the
journal's own set of done buckets.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .atomic import write_atomic
from .backup import INDEX_NAME, POLICIES_DIR, BackupEntry
from .errors import BackupError
from .operations import StepResult
from .results import Outcome
from .rollback import WRITING_ACTIONS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from collections.abc import Set as AbstractSet

    from .journal import Journal

__all__ = ("IndexProof", "lost_snapshots", "recheck", "recheck_backup", "scan_index")

_INDEX_HINT = "the index is damaged; run without --resume to start a new job"


@dataclass(frozen=True, slots=True)
class IndexProof:
    """What a backup (or snapshot) folder proves.

    `proven`: the buckets whose index line stands (with a policy: its file exists and
    has the line's sha256). `broken`: the 1-based numbers of the lines that do not, with
    the bucket and why.
    """

    proven: frozenset[str]
    broken: Mapping[int, tuple[str, str]]


def _index_lines(path: Path) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """(line number, raw line, record) of each line; a torn LAST line (no newline, or not
    a JSON object) has record None; a bad line anywhere else raises `BackupError`."""
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return
    with file:
        pending: bytes | None = None
        line_no = 0
        for raw in file:
            if pending is not None:
                yield line_no, pending, _record(path, line_no, pending, last=False)
            pending = raw
            line_no += 1
        if pending is not None:
            yield line_no, pending, _record(path, line_no, pending, last=True)


def _record(path: Path, line_no: int, raw: bytes, *, last: bool) -> dict[str, Any] | None:
    try:
        record = json.loads(raw) if raw.endswith(b"\n") else None
    except ValueError:
        record = None
    if isinstance(record, dict):
        return record
    if last:
        return None  # torn: what a crash leaves; the writer cuts it off
    raise BackupError("not a JSON object", place=f"{path} line {line_no}", hint=_INDEX_HINT)


def _problem(folder: Path, entry: BackupEntry) -> str | None:
    """Why the entry's policy file does not stand (None: it does, or it has none)."""
    if not entry.had_policy:
        return None
    try:
        with (folder / POLICIES_DIR / f"{entry.bucket}.json").open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
    except FileNotFoundError:
        return "its policy file is missing"
    except OSError as exc:
        return f"its policy file cannot be read ({exc.strerror})"
    if digest != entry.sha256:
        return "its policy file does not match its sha256 in index.jsonl"
    return None


def _scan_sync(folder: Path) -> IndexProof:
    index = folder / INDEX_NAME
    proven: set[str] = set()
    broken: dict[int, tuple[str, str]] = {}
    for line_no, _, record in _index_lines(index):
        if record is None:
            continue
        try:
            entry = BackupEntry.from_record(record)
        except ValueError as exc:
            raise BackupError(str(exc), place=f"{index} line {line_no}", hint=_INDEX_HINT) from exc
        problem = _problem(folder, entry)
        if problem is None:
            proven.add(entry.bucket)
        else:
            proven.discard(entry.bucket)  # the reader takes a bucket's last line
            broken[line_no] = (entry.bucket, problem)
    return IndexProof(frozenset(proven), broken)


async def scan_index(folder: Path) -> IndexProof:
    """Read `folder`'s index and hash its policy files, in one pass off the event loop
    (a folder or index that is not there proves nothing)."""
    return await anyio.to_thread.run_sync(_scan_sync, folder)


def _without_sync(folder: Path, proof: IndexProof) -> bytes:
    """Remove the policy files of the broken lines' buckets (unless a later line of the
    bucket stands); the index's bytes without those lines (and without a torn last line)."""
    broken = proof.broken
    for bucket, _ in broken.values():
        if bucket not in proof.proven:
            (folder / POLICIES_DIR / f"{bucket}.json").unlink(missing_ok=True)
    kept = [
        raw
        for line_no, raw, record in _index_lines(folder / INDEX_NAME)
        if record is not None and line_no not in broken
    ]
    return b"".join(kept)


async def recheck_backup(folder: Path, done: AbstractSet[str]) -> set[str]:
    """The buckets of `done` that the backup folder does not prove (run them again).

    An index line whose policy file is missing or wrong is dropped with its file first,
    so the resumed writer records the bucket afresh (a bucket is recorded once per
    folder). The files go before the index: a crash between leaves a line whose file is
    missing, which the next resume drops.
    """
    proof = await scan_index(folder)
    if proof.broken:
        kept = await anyio.to_thread.run_sync(_without_sync, folder, proof)
        await write_atomic(folder / INDEX_NAME, kept)
    return set(done - proof.proven)


async def lost_snapshots(folder: Path, journal: Journal) -> dict[str, StepResult]:
    """The buckets whose snapshot was taken (a journal record of it names it) but whose
    snapshot line is lost: each one's `failed` `SnapshotLost` record."""
    proof = await scan_index(folder)
    why = dict(proof.broken.values())
    snapshotted: set[str] = set()
    async with aclosing(journal.iter_records()) as records:
        async for result in records:
            if result.snapshot is not None:
                snapshotted.add(result.bucket)
    return {
        bucket: StepResult(
            Outcome.FAILED,
            error_code="SnapshotLost",
            error_message=(
                f"its snapshot line in {folder} is lost "
                f"({why.get(bucket, 'no line in index.jsonl')}); it may have been changed "
                "since, so it gets no new snapshot and is not written, and a rollback of "
                "this job cannot put it back"
            ),
        )
        for bucket in sorted(snapshotted - proof.proven)
    }


async def recheck(
    action: str, backup_dir: Path, job_id: str, journal: Journal
) -> dict[str, StepResult]:
    """Check the resumed job's folder before its journal is trusted: a backup's done
    buckets that its folder does not prove, and a writing job's buckets whose snapshot
    line is lost, are no longer done (`Journal.redo`). Returns the records of the buckets
    that must not run (SnapshotLost), to be settled without a request."""
    if action == "backup":
        journal.redo(await recheck_backup(backup_dir / job_id, journal.done_buckets()))
        return {}
    if action in WRITING_ACTIONS:
        lost = await lost_snapshots(backup_dir / f"{job_id}-pre", journal)
        journal.redo(lost)
        return lost
    return {}
