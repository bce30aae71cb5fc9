"""Read-only jobs kept in memory (`RunOptions(in_memory=True)`, contracts §16
`report_dir=None`): nothing written, results returned; a job that writes or keeps a
folder is refused before any request (memory backend, no HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.errors import ConfigError
from osspolicy._internal.job import RunOptions, run_job, validate_job
from osspolicy._internal.manifest import Manifest, parse_manifest
from osspolicy._internal.results import Outcome

REGION = "cn-hangzhou"
OWN = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Sid": "team",
                "Effect": "Allow",
                "Principal": ["20214760404935"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:ro-a/*"],
            }
        ],
    },
    indent=3,
).encode()


async def no_sleep(_delay: float) -> None:
    """Retries back off without waiting."""


def _manifest(tmp_path: Path, action: str, **extra: Any) -> Manifest:
    return parse_manifest(
        {
            "action": action,
            "targets": {"buckets": ["ro-a", "ro-b"]},
            "connection": {"region": REGION},
            "backup_dir": "backups",
            "report_dir": "reports",
            **extra,
        },
        source=f"{action}.yaml",
        base=tmp_path,
    )


def _contents(folder: Path) -> list[Path]:
    """What `folder` holds (a job in memory leaves it as it was: empty)."""
    return list(folder.iterdir())


def _backend() -> MemoryBackend:
    memory = MemoryBackend(region=REGION)
    memory.add_bucket("ro-a", OWN)
    memory.add_bucket("ro-b", None)
    return memory


@pytest.mark.asyncio
async def test_a_status_job_in_memory_writes_nothing_and_returns_its_records(
    tmp_path: Path,
) -> None:
    """A status job in memory leaves its folder empty and returns every record and the
    summary in the JobRun."""
    run = await run_job(
        _manifest(tmp_path, "backup"),
        RunOptions(status=True, in_memory=True),
        backend=_backend(),
        sleep=no_sleep,
    )
    assert _contents(tmp_path) == []
    assert (run.report_folder, run.backup_folder) == (None, None)
    outcomes = {result.bucket: result.outcome for result in run.results}
    assert outcomes == {"ro-a": Outcome.FETCHED, "ro-b": Outcome.NO_POLICY}
    assert (run.summary.total, run.exit_code) == (2, 0)
    assert sorted(record["outcome"] for record in run.records()) == ["fetched", "no_policy"]


@pytest.mark.asyncio
async def test_a_get_job_in_memory_returns_the_policy_bytes(tmp_path: Path) -> None:
    """A get job in memory returns each bucket's policy bytes exactly (None: no policy)
    and writes nothing."""
    run = await run_job(
        _manifest(tmp_path, "backup"),
        RunOptions(get=True, in_memory=True),
        backend=_backend(),
        sleep=no_sleep,
    )
    assert dict(run.policies) == {"ro-a": OWN, "ro-b": None}
    assert _contents(tmp_path) == []


@pytest.mark.parametrize(
    ("action", "extra"),
    [
        ("apply", {"policy": {"document": {"Version": "1", "Statement": []}}}),
        ("delete", {}),
        ("backup", {}),
    ],
)
@pytest.mark.asyncio
async def test_a_job_that_writes_or_keeps_a_folder_cannot_run_in_memory(
    tmp_path: Path, action: str, extra: dict[str, Any]
) -> None:
    """An apply, a delete or a backup in memory is a ConfigError: nothing sent, nothing
    written."""
    memory = _backend()
    with pytest.raises(ConfigError, match=f"a {action} job cannot run without a report folder"):
        await run_job(
            _manifest(tmp_path, action, **extra),
            RunOptions(in_memory=True),
            backend=memory,
            sleep=no_sleep,
        )
    assert memory.calls == []
    assert _contents(tmp_path) == []


@pytest.mark.asyncio
async def test_a_job_in_memory_cannot_be_resumed(tmp_path: Path) -> None:
    """A job kept in memory has no journal: asking to resume it is a ConfigError."""
    with pytest.raises(ConfigError, match="without a report folder cannot be resumed"):
        await validate_job(
            _manifest(tmp_path, "backup"),
            RunOptions(status=True, in_memory=True, resume="latest"),
        )
