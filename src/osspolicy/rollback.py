"""Rollback: undo an apply/delete/restore job by restoring its `-pre` snapshot.

A job snapshots a bucket only right before that bucket's first write, so its `-pre`
folder holds exactly the buckets it changed; restoring it touches nothing else. The
snapshot of an interrupted job has no `summary.json` but every line of its index was
fsynced before the write it guards, so rollback reads it as an incomplete backup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .manifest import Manifest, parse_manifest
from .redact import credentials_from_record

__all__ = ("WRITING_ACTIONS", "rollback_manifest")

#: the actions whose jobs take a -pre snapshot
WRITING_ACTIONS = frozenset({"apply", "delete", "restore", "rollback"})


def rollback_manifest(report_folder: Path, *, endpoint: str | None = None) -> Manifest:
    """A restore manifest that puts back the snapshot of the job in `report_folder`."""
    job_id = report_folder.name
    recorded = report_folder / "manifest.yaml"
    try:
        data: Any = yaml.safe_load(recorded.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no job {job_id} in {report_folder.parent}",
            hint="give the job id of an apply, delete or restore job (see its report folder)",
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the job's manifest ({exc})", place=str(recorded)) from None
    if not isinstance(data, dict) or data.get("action") not in WRITING_ACTIONS:
        raise ConfigError(
            f"job {job_id} is not an apply, delete or restore job; it changed nothing",
            place=str(recorded),
        )
    snapshot = Path(data["backup_dir"]) / f"{job_id}-pre"
    if not snapshot.is_dir():
        raise ConfigError(
            f"job {job_id} has no snapshot ({snapshot}); it wrote nothing to roll back",
            place=str(recorded),
        )
    connection = dict(data["connection"])
    if endpoint is not None:
        connection["endpoint"] = endpoint
    restore = {
        "action": "restore",
        "source": str(snapshot),
        "connection": connection,
        "concurrency": data["concurrency"],
        "engine": data.get("engine", "threads"),
        "rate_limit": data.get("rate_limit", 0),
        "retry": data["retry"],
        "backup_dir": data["backup_dir"],
        "report_dir": data["report_dir"],
    }
    if data.get("accounts"):  # the job's own accounts; the snapshot says whose bucket is whose
        restore["accounts"] = [
            {
                "name": a["name"],
                # recorded redacted: a secret part comes back only from what is given now
                "credentials": credentials_from_record(
                    str(a["name"]),
                    a.get("credentials") or {"type": "default"},
                    recorded_in=f"job {job_id}",
                ),
            }
            for a in data["accounts"]
        ]
    return parse_manifest(restore, source=f"rollback {job_id}", base=report_folder)
