"""What a folder given as a backup is, when it is not one: a job's report folder, the
folder that holds the backups or the reports, or nothing at all (contracts §15: one
line saying what it is, exit 2).

```
folder/ empty                          ─► "is empty: no backup here"
folder/ journal.jsonl or report.jsonl  ─► "is a report folder of job J, not a backup;
                                           its backup is <summary.json backup_folder>"
folder/ index.jsonl, summary.json or
        policies/                      ─► None: `Backup.open` checks it as a backup
folder/<job>/index.jsonl …             ─► "holds N backups (newest: J), not a backup
                                           itself; give one of them, e.g. folder/J"
folder/<job>/report.jsonl …            ─► "is a report folder root (N jobs' reports,
                                           newest: J), not a backup"
anything else                          ─► "is not a backup: no index.jsonl, …"
```

`Backup.open` asks first, so restore, audit and diff all say the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio

from .errors import BackupError
from .words import plural

__all__ = ("not_a_backup",)

#: files only a job's report folder holds (a backup holds index.jsonl and policies/)
_REPORT_FILES = ("journal.jsonl", "report.jsonl")
#: what a backup folder holds (any one: a damaged backup is still `Backup.open`'s to name)
_BACKUP_PARTS = ("index.jsonl", "summary.json", "policies")
#: a job id's start, by which job folders sort oldest first (jobid.py)
_STAMPED = re.compile(r"\d{8}T\d{6}Z-")
#: the suffix of a writing job's snapshot folder
_SNAPSHOT = "-pre"


async def not_a_backup(folder: Path) -> BackupError | None:
    """The error for a folder that is plainly not a backup (None: check it as one)."""
    return await anyio.to_thread.run_sync(_not_a_backup, folder)


def _not_a_backup(folder: Path) -> BackupError | None:
    if not any(folder.iterdir()):
        return BackupError(
            "is empty: no backup here", place=str(folder), hint="give a backup folder"
        )
    if not any((folder / name).is_file() for name in _REPORT_FILES):
        if any((folder / name).exists() for name in _BACKUP_PARTS):
            return None
        return _a_parent(folder)
    backup = _its_backup(folder)
    its = (
        f"its backup is {backup}"
        if backup is not None
        else "its job kept no backup; give a backup folder"
    )
    return BackupError(
        f"is a report folder of job {folder.name}, not a backup; {its}", place=str(folder)
    )


def _its_backup(folder: Path) -> str | None:
    """The backup (or -pre snapshot) folder the job's summary.json names, if any."""
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    backup = summary.get("backup_folder") if isinstance(summary, dict) else None
    return backup if isinstance(backup, str) else None


def _a_parent(folder: Path) -> BackupError:
    """The folder of the backups, of the reports, or of neither: what it holds, and the
    way on (one of its backups, by name)."""
    children = [child for child in folder.iterdir() if child.is_dir()]
    reports = [c for c in children if any((c / name).is_file() for name in _REPORT_FILES)]
    backups = [  # a report folder has a summary.json too
        c for c in children if c not in reports and any((c / n).exists() for n in _BACKUP_PARTS)
    ]
    if backups:
        full = [c for c in backups if not c.name.endswith(_SNAPSHOT)]
        newest = _newest(full or backups)
        snapshots = len(backups) - len(full)
        also = f" and {plural(snapshots, 'snapshot')}" if full and snapshots else ""
        what = plural(len(full), "backup") if full else plural(snapshots, "snapshot")
        return BackupError(
            f"holds {what}{also} (newest: {newest.name}), not a backup itself",
            place=str(folder),
            hint=f"give one of them, e.g. {newest}",
        )
    if reports:
        return BackupError(
            f"is a report folder root ({plural(len(reports), 'job')}' reports, newest: "
            f"{_newest(reports).name}), not a backup",
            place=str(folder),
            hint=f"give a backup folder (`osspolicy jobs --report-dir {folder}` lists "
            "its jobs and their backups)",
        )
    return BackupError(
        "is not a backup: it has no index.jsonl, summary.json or policies/, nor a backup "
        "in a folder of its own",
        place=str(folder),
        hint="give a backup folder",
    )


def _newest(folders: list[Path]) -> Path:
    """The newest of job folders: by name when each starts with a job id's time (they
    sort by start), else by the time each was last changed."""
    if all(_STAMPED.match(folder.name) for folder in folders):
        return max(folders, key=lambda folder: folder.name)
    return max(folders, key=lambda folder: folder.stat().st_mtime)
