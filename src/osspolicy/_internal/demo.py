"""`osspolicy demo`: the three jobs end to end on the embedded emulator.

It starts the emulator on a free port, seeds a few hundred buckets (no policy, unrelated
statements, an older version of a baseline statement; Block Public Access on and off),
then runs the example manifests shipped in the package (`osspolicy/jobs/`, which the
checkout's `jobs/` links to) against it, pointed at the emulator. They are copied into the
output folder first (`<output>/jobs/`) and run from there, so that nothing is ever
written into the installed package, and the demo works from a wheel anywhere: back up
every policy, plan and apply the baseline (and apply it again, to show it writes nothing
the second time), restore the backup, and check that every bucket is back to its
original bytes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console

from ..emulator import Emulator
from .errors import ConfigError
from .job import JobRun, RunOptions, run_job
from .manifest import Manifest, load_manifest
from .results import Outcome
from .words import count_words, plural

__all__ = ("copy_jobs", "find_jobs_folder", "run_demo", "seed_policy")

DEMO_PREFIX = "demo-"


def find_jobs_folder() -> Path:
    """The example manifests shipped in the package (`osspolicy/jobs/`, package data).

    Copy them before running them (`copy_jobs`): their relative paths (`../backups`)
    would otherwise point into the installed package.
    """
    folder = Path(__file__).parent.parent / "jobs"
    if not (folder / "backup-all.yaml").is_file():
        raise ConfigError(
            "the example manifests (osspolicy/jobs/backup-all.yaml) are not in the package",
            place=str(folder),
            hint="reinstall osspolicy (pip install --force-reinstall osspolicy)",
        )
    return folder


def copy_jobs(destination: Path) -> Path:
    """Copy the example manifests into `destination` (made if needed; files of the same
    name are replaced); returns it."""
    shutil.copytree(find_jobs_folder(), destination, dirs_exist_ok=True)
    return destination


def seed_policy(bucket: str, index: int, account_id: str) -> bytes | None:
    """The demo's mix: a third no policy, a third an unrelated statement, a third that
    plus an older version of the baseline's log-reader statement."""
    if index % 3 == 0:
        return None
    statements: list[dict[str, Any]] = [
        {
            "Sid": "team-read",
            "Effect": "Allow",
            "Principal": [f"2021476040493{index:05d}"],
            "Action": ["oss:GetObject"],
            "Resource": [f"acs:oss:*:{account_id}:{bucket}/shared/*"],
        }
    ]
    if index % 3 == 2:
        statements.append(
            {
                "Sid": "osspolicy-log-reader",
                "Effect": "Allow",
                "Principal": [f"arn:sts::{account_id}:assumed-role/old-reader/*"],
                "Action": ["oss:GetObject"],
                "Resource": [f"acs:oss:*:{account_id}:{bucket}/logs/*"],
            }
        )
    # indented on purpose: a restore must give back these exact bytes, not re-serialise
    return json.dumps({"Version": "1", "Statement": statements}, indent=2).encode()


@contextmanager
def _credentials(emulator: Emulator) -> Iterator[None]:
    """The emulator's key pair in the environment, as a user's would be, for the demo only."""
    saved = {k: os.environ.get(k) for k in ("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET")}
    os.environ["OSS_ACCESS_KEY_ID"] = emulator.access_key_id
    os.environ["OSS_ACCESS_KEY_SECRET"] = emulator.access_key_secret
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _manifest(path: Path, emulator: Emulator, output: Path, **update: object) -> Manifest:
    overrides = {"endpoint": emulator.endpoint, "region": emulator.region}
    manifest = load_manifest(path, overrides)
    folders = {"backup_dir": output / "backups", "report_dir": output / "reports"}
    return manifest.model_copy(update={**update, **folders})


def _counts(run: JobRun) -> str:
    return ", ".join(f"{o.value} {n}" for o, n in run.summary.counts.items() if n)


def run_demo(*, buckets: int, output: Path, console: Console) -> int:
    """Run the demo; returns the exit code (0 when every step did what it should)."""
    output = output.resolve()
    jobs = copy_jobs(output / "jobs")
    with Emulator() as emulator, _credentials(emulator):
        names = [f"{DEMO_PREFIX}{i:05d}" for i in range(buckets)]
        originals = {
            name: seed_policy(name, i, emulator.account_id) for i, name in enumerate(names)
        }
        emulator.seed_buckets(names, policy=originals.get)
        for i, name in enumerate(names):
            if i % 7 == 0:
                emulator.state.set_block_public_access(name, on=False)
        console.print(f"emulator at {emulator.endpoint}: {plural(buckets, 'bucket')} seeded")
        return anyio.run(_jobs, jobs, emulator, output, originals, console)


async def _jobs(
    jobs: Path,
    emulator: Emulator,
    output: Path,
    originals: dict[str, bytes | None],
    console: Console,
) -> int:
    steps: list[tuple[str, JobRun]] = []

    backup = await run_job(_manifest(jobs / "backup-all.yaml", emulator, output))
    steps.append(("backup", backup))
    console.print(f"[bold]1. backup[/]: {_counts(backup)}", markup=True)
    console.print(f"   policies in {backup.backup_folder}, report in {backup.report_folder}")

    baseline = _manifest(jobs / "baseline.yaml", emulator, output)
    plan = await run_job(baseline, RunOptions(dry_run=True))
    steps.append(("plan", plan))
    changes: dict[str, int] = {}
    for record in _records(plan):
        change = record["change"] or "unchanged"  # JSON null: nothing would be written
        changes[change] = changes.get(change, 0) + 1
    console.print(
        f"[bold]2. plan[/]: {_counts(plan)}; changes: {count_words(changes)}; no write sent",
        markup=True,
    )
    apply = await run_job(baseline)
    steps.append(("apply", apply))
    console.print(
        f"[bold]3. apply[/]: {_counts(apply)}; snapshot in {apply.backup_folder}", markup=True
    )
    again = await run_job(baseline)
    steps.append(("apply again", again))
    writes = sum(again.summary.counts.get(o, 0) for o in (Outcome.APPLIED, Outcome.DELETED))
    console.print(f"[bold]4. apply again[/]: {_counts(again)}; {writes} writes", markup=True)

    restore = await run_job(
        _manifest(jobs / "restore.yaml", emulator, output, source=backup.backup_folder)
    )
    steps.append(("restore", restore))
    same = sum(emulator.state.get_policy(name) == body for name, body in originals.items())
    console.print(f"[bold]5. restore[/]: {_counts(restore)}", markup=True)
    console.print(f"   restored {same}/{len(originals)}, byte-identical")

    failed = [name for name, run in steps if run.exit_code != 0]
    ok = not failed and writes == 0 and same == len(originals)
    console.print(f"reports and backups under {output}")
    console.print("demo: all steps as expected" if ok else f"demo: problems in {failed}")
    return 0 if ok else 1


def _records(run: JobRun) -> list[dict[str, Any]]:
    return run.records()
