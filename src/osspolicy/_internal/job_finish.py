"""The end of a job: its files closed in order, and the summary it leaves.

```
backup folder's summary.json ─► journal flushed (+ its finished line) ─► report's
summary.json last (exit code, counts, the backup's completeness)
```
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .actions import Prepared
from .errors import ListingError, PreflightFailed
from .exitcodes import EXIT_USAGE, exit_code_for
from .job_folders import JobFolders
from .journal import Journal
from .owner_ids import with_owner_ids
from .report import Summary

__all__ = ("finish_job",)

#: what a backup's summary.json says of its completeness, repeated in the job's summary
_COMPLETENESS = ("complete", "listing_complete", "missing")


def _now() -> datetime:
    return datetime.now(UTC)


async def finish_job(
    job: JobFolders,
    prepared: Prepared,
    *,
    interrupted: int | None,
    listing_error: ListingError | None,
    extra: dict[str, Any],
    folder_extra: dict[str, Any],
    started_at: datetime,
    preflight: PreflightFailed | None = None,
) -> Summary:
    """Close the job's files in order: backup summary, journal, report summary last.

    An interrupted job's backup gets no summary.json and its journal no finished line,
    so both stay resumable; a job whose listing failed gets both summaries (saying so:
    `complete: false`) but no finished line, so `--resume` lists again. A job its
    pre-flight stopped (contracts §15) leaves nothing to resume: its backup folder is
    removed (kept, unfinished, if anything reached it), its journal ends
    `resumable: false`, its summary says `error`, exit 2.
    """
    if preflight is not None:
        return await _finish_stopped(job, prepared, preflight, extra, started_at)
    listed = listing_error is None
    exit_code = interrupted
    if exit_code is None:  # a pair whose pre-flight failed leaves its targets undone
        reached = "preflight" not in extra
        exit_code = exit_code_for(job.report.counts, targets_complete=listed and reached)
    if listing_error is not None:
        extra["targets_error"] = f"the targets could not all be listed: {listing_error}"
    if prepared.insight is not None:  # an audit's files and exit code, a plan's counts
        exit_code, found = await prepared.insight.finish(exit_code, job.report, extra)
        extra.update(found)
    if job.journal is not None and interrupted is None:  # a job in memory has no folder
        await _finish_folder(prepared, job.journal, extra, folder_extra, listed=listed)
    elif prepared.folder is not None and job.journal is not None:
        extra["backup_folder"] = str(prepared.folder.folder)
    journal = job.journal
    if journal is not None:
        await journal.flush()
        if interrupted is None and listed:
            await journal.mark_finished(exit_code)
    return await job.report.finish(
        started_at=started_at, finished_at=_now(), exit_code=exit_code, extra=extra
    )


async def _finish_folder(
    prepared: Prepared,
    journal: Journal,
    extra: dict[str, Any],
    folder_extra: dict[str, Any],
    *,
    listed: bool,
) -> None:
    """The action's backup or snapshot folder gets its summary.json (a backup's with its
    accounts' owner ids and its completeness, repeated in the job's summary)."""
    folder = prepared.folder
    if folder is None:
        return
    extra["backup_folder"] = str(folder.folder)
    if prepared.owner_ids is not None:  # a backup records its owners (§18)
        folder_extra = with_owner_ids(folder_extra, await prepared.owner_ids())
    written = await folder.finish(
        listing_complete=listed,
        # every target the journal knows must have its line (contracts §2, §5)
        missing=(*journal.pending, *journal.done_buckets()) if prepared.backup else (),
        extra=folder_extra,
    )
    if prepared.backup:
        extra.update({key: written[key] for key in _COMPLETENESS})


async def _finish_stopped(
    job: JobFolders,
    prepared: Prepared,
    failure: PreflightFailed,
    extra: dict[str, Any],
    started_at: datetime,
) -> Summary:
    """`finish_job` for a job its pre-flight stopped: nothing left for `--resume`."""
    exit_code = EXIT_USAGE
    extra["error"] = failure.reason
    folder, journal = prepared.folder, job.journal
    if folder is not None and journal is not None and not await folder.discard_if_empty():
        extra["backup_folder"] = str(folder.folder)  # something reached it: kept, unfinished
    if journal is not None:
        await journal.flush()
        await journal.mark_finished(exit_code, resumable=False)
    return await job.report.finish(
        started_at=started_at, finished_at=_now(), exit_code=exit_code, extra=extra
    )
