"""`osspolicy.diff(a, b)`: what changed between two backups (contracts §16, §18).

```
a, b: a backup folder, or a backup job's id ─► folder ─► Backup.open + verify ─► compare
```

Each side is a folder as it is given, or the job id of a backup job, whose folder is
found from its report folder (in `report_dir`, else the user's state folder) the way
`osspolicy show` finds it. The checks are a restore's (contracts §2, §15): a folder that
is not a backup, an index that does not match its summary, a policy file whose sha256
does not match its index line: each is one `BackupError` (exit 2) naming it. An
incomplete backup, and a damaged policy file, are refused the same way unless
`allow_incomplete` (its missing buckets, and a damaged file's bucket, are then
`unknown`: what the backup holds of it is not known). Nothing is sent: no request, no
credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from .backup import Backup, DamagedEntry
from .backup_diff import BackupDiff, compare_backups
from .errors import BackupError
from .history import read_job
from .jobid import parse_job_id
from .userstate import find_job

__all__ = ("diff", "find_backup")

#: a backup folder, or a backup job's id
BackupLike = str | os.PathLike[str]
#: the way past a backup that lacks buckets, for the command and the API alike
_ALLOW = "pass --allow-incomplete (the API's allow_incomplete=True) to compare"
_INCOMPLETE_HINT = f"{_ALLOW} the buckets it holds (those it lacks are unknown)"
_DAMAGED_HINT = f"compare another backup, or {_ALLOW} the rest (a damaged bucket is unknown)"


async def diff(
    a: BackupLike,
    b: BackupLike,
    *,
    allow_incomplete: bool = False,
    report_dir: str | os.PathLike[str] = "reports",
) -> BackupDiff:
    """Compare backup `a` with backup `b` (folders, or backup jobs' ids found through
    `report_dir`): per bucket `added`, `removed`, `changed` (canonical: a reorder is not
    a change), `same`, `only_in_a`, `only_in_b` or `unknown`, with the statements that
    differ. `result.exit_code` is 3 when any differs, 1 when a bucket is `unknown`, else
    0. An incomplete backup raises BackupError unless `allow_incomplete`; so does one
    with a damaged policy file (with it, that bucket is `unknown`)."""
    first, damaged_a = await _opened(a, Path(report_dir), allow_incomplete=allow_incomplete)
    second, damaged_b = await _opened(b, Path(report_dir), allow_incomplete=allow_incomplete)
    return await compare_backups(first, second, damaged_a=damaged_a, damaged_b=damaged_b)


async def _opened(
    given: BackupLike, report_dir: Path, *, allow_incomplete: bool
) -> tuple[Backup, dict[str, str]]:
    """The backup `given` names, opened and every policy file verified, with its damaged
    buckets (each with what is wrong with its file; only under `allow_incomplete`)."""
    folder = await anyio.to_thread.run_sync(find_backup, given, report_dir)
    backup = await Backup.open(folder, allow_incomplete=True, allow_empty=True)
    why = backup.incompleteness()
    if why is not None and not allow_incomplete:
        raise BackupError(
            why if why.startswith("unfinished") else f"incomplete backup: {why}",
            place=str(folder),
            hint=_INCOMPLETE_HINT,
        )
    damaged: list[DamagedEntry] = await backup.verify(skip_damaged=True)
    if damaged and not allow_incomplete:
        raise damaged[0].error(_DAMAGED_HINT)
    return backup, {found.entry.bucket: found.problem for found in damaged}


def find_backup(given: BackupLike, report_dir: Path) -> Path:
    """The folder of `given`: itself when it is a folder, else the backup of the backup
    job it names. BackupError (exit 2) when it is neither."""
    path = Path(given)
    if path.is_dir():
        return path
    text = os.fspath(given)
    try:
        parse_job_id(text)
    except ValueError:
        raise BackupError(
            "no such backup folder",
            place=text,
            hint="give a backup folder, or a backup job's id (see `osspolicy jobs`)",
        ) from None
    report = find_job(text, report_dir).folder(text)
    if not report.is_dir():
        raise BackupError(
            f"no such backup folder, nor job {text} in {report_dir}",
            place=text,
            hint="give the backup folder, or pass --report-dir where its job's report is",
        )
    found = read_job(report).backup
    if found is None or not found.exists:
        where = f" ({found.folder} is gone)" if found is not None else ""
        raise BackupError(f"job {text} has no backup folder{where}", place=text)
    if found.kind != "backup":
        raise BackupError(
            f"job {text} is {_a(report.name)} job: its folder {found.folder} is a snapshot "
            "of the buckets it changed, not a backup",
            place=text,
            hint="give that folder itself to compare it anyway",
        )
    return found.folder


def _a(job_id: str) -> str:
    """`an apply`, `a restore`: the action of a job id with its article."""
    action = parse_job_id(job_id).action
    return f"{'an' if action[0] in 'aeiou' else 'a'} {action}"
