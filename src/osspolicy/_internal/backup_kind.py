"""What a folder given as a backup is, when it is not one: a job's report folder, or
nothing at all (contracts §15: one line saying what it is, exit 2).

```
folder/ empty                          ─► "is empty: no backup here"
folder/ journal.jsonl or report.jsonl  ─► "is a report folder of job J, not a backup;
                                           its backup is <summary.json backup_folder>"
anything else                          ─► None: `Backup.open` checks it as a backup
```
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from .errors import BackupError

__all__ = ("not_a_backup",)

#: files only a job's report folder holds (a backup holds index.jsonl and policies/)
_REPORT_FILES = ("journal.jsonl", "report.jsonl")


async def not_a_backup(folder: Path) -> BackupError | None:
    """The error for a folder that is plainly not a backup (None: check it as one)."""
    return await anyio.to_thread.run_sync(_not_a_backup, folder)


def _not_a_backup(folder: Path) -> BackupError | None:
    if not any(folder.iterdir()):
        return BackupError(
            "is empty: no backup here", place=str(folder), hint="give a backup folder"
        )
    if not any((folder / name).is_file() for name in _REPORT_FILES):
        return None
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
