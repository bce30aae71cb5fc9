"""Rollback: undo an apply/delete/restore job by restoring its `-pre` snapshot.

A job snapshots a bucket only right before that bucket's first write, so its `-pre`
folder holds exactly the buckets it changed; restoring it touches nothing else. The
snapshot of an interrupted job has no `summary.json` but every line of its index was
fsynced before the write it guards, so rollback reads it as an incomplete backup.

Rollback keeps later changes (contracts §15): each bucket is read first, and only one
still at what job J left it (J's record's `sha256_after`), or already at its snapshot
bytes, is put back. Any other bucket changed since J (or J's record does not say what
J left) and is a `conflict`, kept as it is, unless `--force`: then it is overwritten,
and its plan and record say so (note `overwrite: changed since J`).

```
read ─► at the snapshot bytes? ─► unchanged
     ─► at J's sha256_after?   ─► restore it
     ─► else                   ─► conflict (kept) | --force: restore it, "overwrite"
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .deciders import Decider, Decision
from .errors import ConfigError
from .journal import JOURNAL_NAME
from .jsonfiles import iter_jsonl
from .manifest import Manifest, parse_manifest
from .redact import credentials_from_record
from .results import OVERWRITE, After, Change, Target
from .retry import Tries

__all__ = ("WRITING_ACTIONS", "LaterChanges", "later_changes", "rollback_manifest")

#: the folder suffix of a job's pre-change snapshot
_PRE = "-pre"

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
    snapshot = Path(data["backup_dir"]) / f"{job_id}{_PRE}"
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
                # a directory's members are found again (contracts §17)
                **({"resource_directory": d} if (d := a.get("resource_directory")) else {}),
            }
            for a in data["accounts"]
        ]
    return parse_manifest(restore, source=f"rollback {job_id}", base=report_folder)


@dataclass(frozen=True, slots=True)
class LaterChanges:
    """What job J left each of its buckets at, to keep what changed since (contracts §15).

    `after` maps a bucket to J's latest record's `sha256_after` (None: no policy); a
    bucket J's records say nothing of is not in it. `force` overwrites later changes.
    """

    job_id: str
    after: Mapping[str, After]
    force: bool = False

    def admits(self, bucket: str, read_sha256: str | None) -> bool:
        """Whether the bucket is still what J left it at."""
        return bucket in self.after and self.after[bucket] == read_sha256

    def decider(self, restore: Decider) -> Decider:
        """`restore`'s decider, with a bucket changed since J a conflict (or, forced, an
        overwrite): a bucket already at its snapshot bytes needs nothing either way."""

        async def decide(target: Target, tries: Tries) -> Decision:
            decision = await restore(target, tries)
            if decision.change is Change.NONE or self.admits(target.bucket, decision.read_sha256):
                return decision
            since = f"changed since {self.job_id}"
            if self.force:
                return dataclasses.replace(decision, note=f"{OVERWRITE}: {since}")
            known = target.bucket in self.after
            why = (
                f"the policy changed since job {self.job_id} wrote it"
                if known
                else f"job {self.job_id}'s record does not say what it left here"
            )
            return dataclasses.replace(
                decision,
                note=since,
                conflict=f"{why}; kept (roll back with --force to overwrite it)",
            )

        return decide


async def later_changes(manifest: Manifest, *, force: bool = False) -> LaterChanges:
    """The `LaterChanges` of the job whose snapshot a rollback manifest restores, read
    from that job's journal (all its runs: the latest record that says wins). Without
    a journal no bucket is known, so every changed one is a conflict unless forced."""
    source = Path(manifest.source or "")
    job_id = source.name.removesuffix(_PRE)
    journal = Path(manifest.report_dir) / job_id / JOURNAL_NAME

    def damaged(line_no: int, reason: str) -> ConfigError:
        return ConfigError(
            f"the journal of job {job_id} is damaged ({reason})",
            place=f"{journal} line {line_no}",
            hint="roll back with --force to overwrite whatever the buckets hold now",
        )

    after: dict[str, After] = {}
    try:
        async with aclosing(iter_jsonl(journal, bad_line=damaged)) as records:
            async for record in records:
                bucket, value = record.get("bucket"), record.get("sha256_after", ())
                if isinstance(bucket, str) and (value is None or isinstance(value, str)):
                    after[bucket] = value
    except FileNotFoundError:
        after = {}
    except OSError as exc:
        raise ConfigError(
            f"cannot read the journal of job {job_id} ({exc})", place=str(journal)
        ) from None
    return LaterChanges(job_id, after, force=force)
