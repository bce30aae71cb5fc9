"""Restore end to end: the in-process emulator, the real SDK over HTTP, `run_job` itself.

Backup, apply and restore jobs run against the emulator as a user's would; what is
checked is the emulator's state (the exact bytes) and its request log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.errors import BackupError, ConfigError
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import load_manifest
from osspolicy._internal.rollback import rollback_manifest
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    PREFIX,
    apply_manifest,
    assert_one_line_error,
    bucket_names,
    connection,
    current_policies,
    make_emulator,
    merged_bodies,
    no_sleep,
    only_folder,
    parsed,
    policy_writes,
    read_jsonl,
    records_by_bucket,
    run_cli,
    seed_mix,
    write_manifest,
)

SUCCESS = {"fetched", "no_policy", "applied", "deleted", "unchanged"}
#: enough for every bucket kind of `original_policy` a few times over
SMALL = 36


#: every job of this module runs once on each engine
pytestmark = pytest.mark.usefixtures("on_each_engine")


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with make_emulator() as emulator:
        monkeypatch.setenv("OSS_ACCESS_KEY_ID", emulator.access_key_id)
        monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emulator.access_key_secret)
        yield emulator


# -- jobs ---------------------------------------------------------------------------------


async def run_manifest(path: Path, options: RunOptions | None = None) -> JobRun:
    """Run the manifest file at `path` in-process, retries without waiting."""
    options = options if options is not None else RunOptions()
    return await run_job(load_manifest(path), options, source=str(path), sleep=no_sleep)


async def backup(emu: Emulator, folder: Path, *, concurrency: int = 8) -> JobRun:
    path = write_manifest(
        folder / "backup.yaml",
        {
            "action": "backup",
            "targets": {"discover": {"prefix": PREFIX}},
            "connection": connection(emu),
            "concurrency": concurrency,
            "backup_dir": "backups",
            "report_dir": "reports",
        },
    )
    run = await run_manifest(path)
    assert run.exit_code == 0, run.summary.failures
    assert run.backup_folder is not None
    return run


async def apply(emu: Emulator, folder: Path, *, concurrency: int = 8) -> JobRun:
    path = write_manifest(
        folder / "apply.yaml", apply_manifest(emu, folder, concurrency=concurrency)
    )
    run = await run_manifest(path)
    assert run.exit_code == 0, run.summary.failures
    return run


def restore_path(
    emu: Emulator, folder: Path, source: Path, *, concurrency: int = 8, **extra: Any
) -> Path:
    return write_manifest(
        folder / "restore.yaml",
        {
            "action": "restore",
            "source": str(source),
            "connection": connection(emu),
            "concurrency": concurrency,
            "backup_dir": "backups",
            "report_dir": "reports",
            **extra,
        },
    )


async def restore(
    emu: Emulator,
    folder: Path,
    source: Path,
    options: RunOptions | None = None,
    **extra: Any,
) -> JobRun:
    return await run_manifest(restore_path(emu, folder, source, **extra), options)


def records(run: JobRun) -> dict[str, Any]:
    return records_by_bucket(read_jsonl(run.report_folder / "report.jsonl"))


async def backed_up_and_applied(
    emu: Emulator, tmp_path: Path, count: int = SMALL
) -> tuple[dict[str, bytes | None], Path]:
    """Seed `count` buckets, back them up, merge the baseline in: (originals, backup)."""
    originals = seed_mix(emu, bucket_names(count))
    backup_folder = (await backup(emu, tmp_path)).backup_folder
    assert backup_folder is not None
    await apply(emu, tmp_path)
    assert current_policies(emu, originals) != originals
    return originals, backup_folder


# -- 1. the round trip under faults -------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.both_engines  # retries under faults on both transports, in `make test`
async def test_round_trip_under_faults_gives_back_every_policy_byte_for_byte(
    emu: Emulator, tmp_path: Path
) -> None:
    """Backup, merge-apply and restore of 1,000 buckets, all under faults, end with every
    bucket's original policy bytes (or no policy) again."""
    names = bucket_names(1000)
    originals = seed_mix(emu, names)
    assert sum(body is None for body in originals.values()) == 334
    emu.set_faults(rate=0.2, after_rate=0.05, seed=20261123)

    taken = await backup(emu, tmp_path, concurrency=32)
    assert taken.summary.counts["fetched"] == 666
    assert taken.summary.counts["no_policy"] == 334
    assert taken.backup_folder is not None
    await apply(emu, tmp_path, concurrency=32)
    expected = merged_bodies(originals)
    assert {name: parsed(emu.state.get_policy(name)) for name in names} == expected

    restored = await restore(emu, tmp_path, taken.backup_folder, concurrency=32)

    assert restored.exit_code == 0, restored.summary.failures
    assert current_policies(emu, names) == originals
    assert all(emu.state.get_policy(n) is None for n, body in originals.items() if body is None)
    faults = {entry.fault for entry in emu.request_log}
    assert {"error", "reset", "after"} <= faults  # every kind of fault was really served
    retried = [r for r in records(restored).values() if r["attempts"] > 2]
    assert retried, "no restore record needed a retry"


# -- 2. idempotence ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_restoring_the_same_backup_again_writes_nothing(
    emu: Emulator, tmp_path: Path
) -> None:
    """A second restore of the same backup sends no write and records every bucket
    `unchanged`."""
    originals, source = await backed_up_and_applied(emu, tmp_path)
    first = await restore(emu, tmp_path, source)
    assert first.exit_code == 0
    emu.clear_log()

    again = await restore(emu, tmp_path, source)

    assert again.exit_code == 0
    assert policy_writes(emu) == []
    outcomes = {name: record["outcome"] for name, record in records(again).items()}
    assert outcomes == dict.fromkeys(originals, "unchanged")
    assert current_policies(emu, originals) == originals


# -- 3. what a restore touches ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_restore_leaves_a_bucket_created_after_the_backup_alone(
    emu: Emulator, tmp_path: Path
) -> None:
    """A bucket that is not in the backup is neither read nor written by a restore."""
    originals, source = await backed_up_and_applied(emu, tmp_path)
    late = f"{PREFIX}late"
    late_policy = (
        b'{"Version":"1","Statement":[{"Effect":"Allow","Principal":["1"],'
        b'"Action":["oss:GetObject"],"Resource":["acs:oss:*:*:e2e-late/*"]}]}'
    )
    emu.seed_buckets([late], policy=late_policy)
    emu.clear_log()

    run = await restore(emu, tmp_path, source)

    assert run.exit_code == 0
    assert emu.state.get_policy(late) == late_policy
    assert [entry for entry in emu.request_log if entry.bucket == late] == []
    assert set(records(run)) == set(originals)
    assert current_policies(emu, originals) == originals


@pytest.mark.asyncio
async def test_restore_targets_narrow_the_buckets_of_the_backup(
    emu: Emulator, tmp_path: Path
) -> None:
    """`targets.buckets` restores only the named buckets of the backup; the others keep
    their current policy."""
    originals, source = await backed_up_and_applied(emu, tmp_path)
    after_apply = current_policies(emu, originals)
    chosen = [f"{PREFIX}00001", f"{PREFIX}00002", f"{PREFIX}00003"]  # put, put, delete
    emu.clear_log()

    run = await restore(emu, tmp_path, source, targets={"buckets": chosen})

    assert run.exit_code == 0
    assert set(records(run)) == set(chosen)
    assert {entry.bucket for entry in emu.request_log} == set(chosen)
    for name in originals:
        wanted = originals[name] if name in chosen else after_apply[name]
        assert emu.state.get_policy(name) == wanted, name


# -- 4. a bucket gone since the backup -----------------------------------------------------


@pytest.mark.asyncio
async def test_a_bucket_deleted_since_the_backup_fails_once_and_the_rest_is_restored(
    emu: Emulator, tmp_path: Path
) -> None:
    """A backed-up bucket that no longer exists is `failed` with NoSuchBucket after one
    request (not retried), the other buckets are restored, and the exit code is 1."""
    originals, source = await backed_up_and_applied(emu, tmp_path)
    gone = f"{PREFIX}00004"
    emu.state.delete_bucket(gone)
    emu.clear_log()

    run = await restore(emu, tmp_path, source)

    assert run.exit_code == 1
    by_bucket = records(run)
    assert by_bucket[gone]["outcome"] == "failed"
    assert by_bucket[gone]["error_code"] == "NoSuchBucket"
    assert by_bucket[gone]["attempts"] == 1
    assert len([entry for entry in emu.request_log if entry.bucket == gone]) == 1
    rest = {name: body for name, body in originals.items() if name != gone}
    assert {by_bucket[name]["outcome"] for name in rest} <= SUCCESS
    assert current_policies(emu, rest) == rest


# -- 5. a damaged backup -------------------------------------------------------------------


def _policy_file(backup: Path, index: int) -> Path:
    """The policy file of the index-th bucket that has one (kind 1, 2, 4, 5 … of the mix)."""
    with_policy = sorted((backup / "policies").iterdir())
    return with_policy[index]


def truncate(backup: Path) -> None:
    path = _policy_file(backup, 0)
    body = path.read_bytes()
    path.write_bytes(body[: len(body) // 2])


def flip_byte(backup: Path) -> None:
    path = _policy_file(backup, 1)
    body = bytearray(path.read_bytes())
    body[len(body) // 2] ^= 0x01
    path.write_bytes(bytes(body))


def remove_policy_file(backup: Path) -> None:
    _policy_file(backup, 2).unlink()


def break_index_line(backup: Path) -> None:
    index = backup / "index.jsonl"
    lines = index.read_bytes().splitlines(keepends=True)
    lines[1] = b'{"bucket": "e2e-00001", "had_policy": tru\n'
    index.write_bytes(b"".join(lines))


def remove_summary(backup: Path) -> None:
    (backup / "summary.json").unlink()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated policy file": truncate,
    "flipped byte": flip_byte,
    "missing policy file": remove_policy_file,
    "bad index line": break_index_line,
    "missing summary.json": remove_summary,
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.asyncio
async def test_a_damaged_backup_is_refused_before_any_request(
    emu: Emulator, tmp_path: Path, damage: str
) -> None:
    """`run_job` of a restore from a damaged backup raises BackupError (a ConfigError)
    before sending any request or writing any report."""
    _, source = await backed_up_and_applied(emu, tmp_path)
    DAMAGES[damage](source)
    path = restore_path(emu, tmp_path / "restore", source)
    emu.clear_log()

    with pytest.raises(BackupError) as raised:
        await run_manifest(path)

    assert isinstance(raised.value, ConfigError)
    assert emu.request_log == []
    assert not (tmp_path / "restore" / "reports").exists()


def cli_restore(emu: Emulator, source: Path, folder: Path, *flags: str) -> Any:
    return run_cli(
        emu,
        "restore",
        source,
        "--region",
        emu.region,
        "--endpoint",
        emu.endpoint,
        "--report-dir",
        folder / "reports",
        "--backup-dir",
        folder / "backups",
        "--yes",
        *flags,
        cwd=folder,
    )


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.asyncio
async def test_cli_restore_of_a_damaged_backup_is_one_line_and_exit_2(
    emu: Emulator, tmp_path: Path, damage: str
) -> None:
    """`osspolicy restore` of a damaged backup prints one error line (no traceback),
    exits 2 and sends nothing."""
    _, source = await backed_up_and_applied(emu, tmp_path)
    DAMAGES[damage](source)
    folder = tmp_path / "cli"
    folder.mkdir()
    emu.clear_log()

    run = cli_restore(emu, source, folder)

    assert_one_line_error(run)
    assert emu.request_log == []


@pytest.mark.asyncio
async def test_skip_damaged_skips_and_lists_the_damaged_buckets_and_restores_the_rest(
    emu: Emulator, tmp_path: Path
) -> None:
    """With --skip-damaged the buckets whose files are damaged are `skipped` (listed in
    the summary, left untouched) and every other bucket is restored; exit 0."""
    originals, source = await backed_up_and_applied(emu, tmp_path)
    damaged = {_policy_file(source, i).stem for i in range(3)}
    truncate(source)
    flip_byte(source)
    remove_policy_file(source)
    after_apply = current_policies(emu, originals)
    folder = tmp_path / "cli"
    folder.mkdir()
    emu.clear_log()

    run = cli_restore(emu, source, folder, "--skip-damaged")

    assert run.returncode == 0, run.stderr
    report = only_folder(folder / "reports")
    by_bucket = records_by_bucket(read_jsonl(report / "report.jsonl"))
    assert {n for n, r in by_bucket.items() if r["outcome"] == "skipped"} == damaged
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert {skip["bucket"] for skip in summary["skips"]} == damaged
    assert summary["exit_code"] == 0
    assert {entry.bucket for entry in emu.request_log}.isdisjoint(damaged)
    for name in originals:
        wanted = after_apply[name] if name in damaged else originals[name]
        assert emu.state.get_policy(name) == wanted, name


@pytest.mark.asyncio
async def test_allow_incomplete_restores_a_backup_without_summary(
    emu: Emulator, tmp_path: Path
) -> None:
    """With --allow-incomplete a backup without summary.json is restored."""
    originals, source = await backed_up_and_applied(emu, tmp_path)
    remove_summary(source)
    folder = tmp_path / "cli"
    folder.mkdir()

    run = cli_restore(emu, source, folder, "--allow-incomplete")

    assert run.returncode == 0, run.stderr
    assert current_policies(emu, originals) == originals


# -- 6. a restore can be rolled back ---------------------------------------------------------


@pytest.mark.asyncio
async def test_rollback_of_a_restore_puts_the_state_before_the_restore_back(
    emu: Emulator, tmp_path: Path
) -> None:
    """A restore takes its own `-pre` snapshot, so rolling the restore back returns every
    bucket to its policy bytes from before the restore."""
    originals, source = await backed_up_and_applied(emu, tmp_path)
    after_apply = current_policies(emu, originals)
    restored = await restore(emu, tmp_path, source)
    assert restored.exit_code == 0
    assert current_policies(emu, originals) == originals
    assert restored.backup_folder is not None
    assert restored.backup_folder.name == f"{restored.job_id}-pre"
    assert (restored.backup_folder / "summary.json").is_file()

    manifest = rollback_manifest(restored.report_folder)
    rolled_back = await run_job(
        manifest, RunOptions(allow_incomplete=True), source="rollback", sleep=no_sleep
    )

    assert rolled_back.exit_code == 0, rolled_back.summary.failures
    assert current_policies(emu, originals) == after_apply
