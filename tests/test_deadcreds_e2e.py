"""Credentials that die mid-job, end to end (contracts §15): the real console script and
SDK against the emulator, which starts answering 403 InvalidAccessKeyId for one
account's buckets part-way (as a key deleted mid-job does). After 5 such failures in a
row that account's remaining buckets are `skipped` (note `credentials`) and never sent;
the other account's buckets all run; exit 1; one line names the account."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osspolicy.emulator import Emulator

from .e2e_helpers import read_jsonl, run_cli, write_manifest

#: the transport is what this module tests: `make test` runs it on both engines
pytestmark = pytest.mark.both_engines

DYING = [f"dying-{i:03d}" for i in range(40)]
HEALTHY = [f"healthy-{i:03d}" for i in range(40)]
#: the dying account's buckets that still answer before its key "disappears"
STILL_FINE = 10


@pytest.mark.parametrize("engine", ["threads", "aio"])
def test_an_account_whose_key_dies_is_skipped_and_the_other_goes_on(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """5 InvalidAccessKeyId in a row skip that account's rest unsent; the other completes."""
    oss_emulator.seed_buckets([*DYING, *HEALTHY])
    for name in DYING[STILL_FINE:]:
        oss_emulator.script_fault(
            "GET", name, None, count=None, status=403, code="InvalidAccessKeyId"
        )
    env_account = {"type": "env"}
    job = write_manifest(
        tmp_path / "job.yaml",
        {
            "action": "backup",
            "engine": engine,
            "concurrency": 1,  # finishing order = listing order: the counts are exact
            "connection": {"region": oss_emulator.region, "endpoint": oss_emulator.endpoint},
            "accounts": [
                {"name": "dying", "credentials": env_account, "targets": {"buckets": DYING}},
                {"name": "healthy", "credentials": env_account, "targets": {"buckets": HEALTHY}},
            ],
        },
    )
    oss_emulator.clear_log()
    done = run_cli(oss_emulator, "run", "--yes", job, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    report = next((tmp_path / "reports").iterdir())
    records = read_jsonl(report / "report.jsonl")
    dying = [r for r in records if r["account"] == "dying"]
    healthy = [r for r in records if r["account"] == "healthy"]
    assert {r["outcome"] for r in healthy} <= {"fetched", "no_policy"}
    assert len(healthy) == len(HEALTHY)
    failed = [r for r in dying if r["outcome"] == "failed"]
    skipped = [r for r in dying if r["outcome"] == "skipped"]
    assert {r["error_code"] for r in failed} == {"InvalidAccessKeyId"}
    assert len(failed) == 5
    assert len(skipped) == len(DYING) - STILL_FINE - 5
    assert {r["note"] for r in skipped} == {"credentials"}
    sent = {e.bucket for e in oss_emulator.request_log if e.bucket}
    assert sent.isdisjoint(r["bucket"] for r in skipped)
    line = "account dying: 5 buckets in a row failed with InvalidAccessKeyId"
    lines = [x for x in done.stderr.splitlines() if "account dying" in x]
    assert len(lines) == 1
    assert line in lines[0]
    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert len(summary["credentials"]) == 1
    assert line in summary["credentials"][0]
