"""One object per action: `action_for` picks it, each says its name, whether it writes and
whether it resumes, and each runs its own targets and step (memory backend, no HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.actions import action_for
from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.errors import ConfigError
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import Manifest, parse_manifest
from osspolicy._internal.rollback import rollback_manifest

REGION = "cn-hangzhou"
BASELINE: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "deny-insecure",
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:*"],
            "Resource": ["acs:oss:*:*:${bucket}/*"],
            "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
        }
    ],
}
OWN = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Sid": "team",
                "Effect": "Allow",
                "Principal": ["20214760404935"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:elsewhere/*"],
            }
        ],
    },
    indent=2,
).encode()
NAMES = ("act-a", "act-b", "act-c", "act-d")


async def no_sleep(_delay: float) -> None:
    """Retries back off without waiting."""


def manifest(tmp_path: Path, action: str, **extra: Any) -> Manifest:
    data: dict[str, Any] = {
        "action": action,
        "connection": {"region": REGION},
        "concurrency": 4,
        "backup_dir": "backups",
        "report_dir": "reports",
        **extra,
    }
    if action != "restore":
        data.setdefault("targets", {"discover": {"prefix": "act-"}})
    if action == "apply":
        data.setdefault("policy", {"document": BASELINE})
    return parse_manifest(data, source=f"{action}.yaml", base=tmp_path)


def backend() -> MemoryBackend:
    """act-a and act-c with a policy, act-b and act-d without, and one bucket no
    `act-` listing returns."""
    memory = MemoryBackend(region=REGION)
    for name in NAMES:
        memory.add_bucket(name, OWN if name in {"act-a", "act-c"} else None)
    memory.add_bucket("other-bucket", OWN)
    return memory


async def run(m: Manifest, memory: MemoryBackend, **options: Any) -> JobRun:
    return await run_job(m, RunOptions(**options), backend=memory, sleep=no_sleep)


def outcomes(job: JobRun) -> dict[str, str]:
    lines = (job.report_folder / "report.jsonl").read_bytes().splitlines()
    return {r["bucket"]: r["outcome"] for r in map(json.loads, lines)}


def write_ops(memory: MemoryBackend) -> list[tuple[str, str | None]]:
    return [(c.op, c.bucket) for c in memory.calls if c.op in {"put_policy", "delete_policy"}]


# -- action_for -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "options", "expected"),
    [
        ("backup", {}, ("backup", False, True)),
        ("apply", {}, ("apply", True, True)),
        ("delete", {}, ("delete", True, True)),
        ("restore", {}, ("restore", True, True)),
        ("restore", {"rollback": True}, ("rollback", True, True)),
        ("apply", {"dry_run": True}, ("plan", False, False)),
        ("delete", {"dry_run": True}, ("plan", False, False)),
        ("restore", {"dry_run": True}, ("plan", False, False)),
        ("apply", {"check": True}, ("check", False, False)),
        ("restore", {"check": True}, ("check", False, False)),
    ],
)
def test_action_for_picks_the_object_of_each_command(
    tmp_path: Path, action: str, options: dict[str, bool], expected: tuple[str, bool, bool]
) -> None:
    """run, plan, check and rollback of each manifest get the object with the right name,
    `writes` (the safety gates) and `resumable` (plans and checks are run again)."""
    extra = {"source": str(tmp_path / "some-backup")} if action == "restore" else {}
    picked = action_for(manifest(tmp_path, action, **extra), **options)
    assert (picked.name, picked.writes, picked.resumable) == expected


@pytest.mark.parametrize(
    ("action", "options", "says"),
    [
        ("backup", {"dry_run": True}, "plan takes an apply, delete or restore manifest"),
        ("backup", {"check": True}, "check takes an apply or a restore manifest"),
        ("delete", {"check": True}, "check takes an apply or a restore manifest"),
    ],
)
def test_action_for_refuses_a_plan_or_check_that_makes_no_sense(
    tmp_path: Path, action: str, options: dict[str, bool], says: str
) -> None:
    """A plan or check of a backup, and a check of a delete, are a ConfigError (exit 2)
    naming what the command takes and pointing to `osspolicy run`."""
    with pytest.raises(ConfigError, match=says) as excinfo:
        action_for(manifest(tmp_path, action), **options)
    assert "osspolicy run" in str(excinfo.value)


# -- each action's targets and step on the memory backend -----------------------------------


@pytest.mark.asyncio
async def test_backup_lists_its_targets_and_saves_each_policy(tmp_path: Path) -> None:
    """backup: the discovered buckets only, each `fetched` or `no_policy`, into a new
    backup folder (a complete one), and nothing written."""
    memory = backend()
    job = await run(manifest(tmp_path, "backup"), memory)

    assert (job.exit_code, job.action) == (0, "backup")
    assert outcomes(job) == {
        "act-a": "fetched",
        "act-b": "no_policy",
        "act-c": "fetched",
        "act-d": "no_policy",
    }
    assert job.backup_folder == tmp_path / "backups" / job.job_id
    assert json.loads((job.backup_folder / "summary.json").read_text())["complete"] is True
    assert (job.backup_folder / "policies" / "act-a.json").read_bytes() == OWN
    assert write_ops(memory) == []


@pytest.mark.asyncio
async def test_apply_writes_each_listed_target_after_its_snapshot(tmp_path: Path) -> None:
    """apply: every listed bucket gets the baseline (applied), its snapshot in
    `<job-id>-pre`; a second apply is all `unchanged`."""
    memory = backend()
    job = await run(manifest(tmp_path, "apply"), memory)

    assert job.exit_code == 0
    assert set(outcomes(job).values()) == {"applied"}
    assert job.backup_folder == tmp_path / "backups" / f"{job.job_id}-pre"
    assert sorted(b for _, b in write_ops(memory)) == list(NAMES)
    assert memory.buckets["other-bucket"].policy == OWN

    again = await run(manifest(tmp_path, "apply"), memory)
    assert set(outcomes(again).values()) == {"unchanged"}


@pytest.mark.asyncio
async def test_delete_removes_each_policy_and_leaves_buckets_without_one(tmp_path: Path) -> None:
    """delete: buckets with a policy are `deleted`, those without are `unchanged`."""
    memory = backend()
    job = await run(manifest(tmp_path, "delete"), memory)

    assert outcomes(job) == {
        "act-a": "deleted",
        "act-b": "unchanged",
        "act-c": "deleted",
        "act-d": "unchanged",
    }
    assert sorted(write_ops(memory)) == [("delete_policy", "act-a"), ("delete_policy", "act-c")]
    assert all(memory.buckets[n].policy is None for n in NAMES)


@pytest.mark.asyncio
async def test_plan_and_check_read_every_target_and_write_nothing(tmp_path: Path) -> None:
    """plan of an apply: every bucket `planned`, no folder, no write; check of it: every
    bucket `drifted` (exit 3); neither can be resumed."""
    memory = backend()
    apply = manifest(tmp_path, "apply")

    plan = await run(apply, memory, dry_run=True)
    check = await run(apply, memory, check=True)

    assert (plan.action, plan.exit_code, plan.backup_folder) == ("plan", 0, None)
    assert set(outcomes(plan).values()) == {"planned"}
    assert (check.action, check.exit_code, check.backup_folder) == ("check", 3, None)
    assert set(outcomes(check).values()) == {"drifted"}
    assert write_ops(memory) == []
    assert not (tmp_path / "backups").exists()
    with pytest.raises(ConfigError, match="a plan cannot be resumed"):
        await run(apply, memory, dry_run=True, resume="latest")


@pytest.mark.asyncio
async def test_restore_targets_the_backups_buckets_and_rollback_its_snapshot(
    tmp_path: Path,
) -> None:
    """restore: the backup's buckets (no listing) go back to their exact bytes; rollback
    of that restore: only the buckets it changed, back to what they were before it."""
    memory = backend()
    backup = await run(manifest(tmp_path, "backup"), memory)
    assert backup.backup_folder is not None
    await run(manifest(tmp_path, "apply"), memory)
    memory.buckets["act-a"].policy = OWN  # already as backed up: restore leaves it alone
    applied = {n: memory.buckets[n].policy for n in NAMES}
    memory.calls.clear()

    restore = await run(manifest(tmp_path, "restore", source=str(backup.backup_folder)), memory)

    assert restore.exit_code == 0
    assert outcomes(restore) == {
        "act-a": "unchanged",
        "act-b": "deleted",
        "act-c": "applied",
        "act-d": "deleted",
    }
    assert "list_buckets" not in {c.op for c in memory.calls}
    assert memory.buckets["act-a"].policy == OWN
    assert memory.buckets["act-b"].policy is None

    rolled = await run(rollback_manifest(restore.report_folder), memory, rollback=True)

    assert (rolled.action, rolled.exit_code) == ("rollback", 0)
    assert set(outcomes(rolled)) == {"act-b", "act-c", "act-d"}
    assert {n: memory.buckets[n].policy for n in NAMES} == applied
