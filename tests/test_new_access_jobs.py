"""New access in jobs (contracts §18), on the memory backend: a plan's records and summary
say which buckets would be given more, and `--deny-new-access` fails those buckets before
anything is written, in a plan, a run, a run of a saved plan and a resume alike.

The rule itself is in test_new_access.py; the end-to-end proof over HTTP, through the
console script, in test_insight_e2e.py.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

import osspolicy
from osspolicy._internal.backends.memory import MemoryBackend
from osspolicy._internal.errors import ConfigError
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import Manifest, parse_manifest

pytestmark = pytest.mark.asyncio

READER = "1234567890123456"


def allow(sid: str, action: str, principal: str = READER) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": [principal],
        "Action": [action],
        "Resource": ["acs:oss:*:*:${bucket}/*"],
    }


#: the baseline (mode replace): one account may read objects
BASELINE: dict[str, Any] = {"Version": "1", "Statement": [allow("read", "oss:GetObject")]}
DENY_HTTP: dict[str, Any] = {
    "Sid": "deny-http",
    "Effect": "Deny",
    "Principal": ["*"],
    "Action": ["oss:*"],
    "Resource": ["acs:oss:*:*:${bucket}/*"],
    "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
}


def body(bucket: str, *statements: dict[str, Any]) -> bytes:
    doc = {"Version": "1", "Statement": list(statements)}
    return json.dumps(doc).replace("${bucket}", bucket).encode()


#: what each bucket holds, and so what replacing it with BASELINE does
BUCKETS: dict[str, tuple[dict[str, Any], ...] | None] = {
    "same": (allow("read", "oss:GetObject"),),  # unchanged
    "narrower": (allow("read", "oss:*"),),  # oss:* → oss:GetObject: nothing new
    "empty": None,  # no policy → a grant: new
    "denied": (allow("read", "oss:GetObject"), DENY_HTTP),  # the Deny goes: new
}
NEW = {"empty", "denied"}


def backend() -> MemoryBackend:
    memory = MemoryBackend()
    for name, statements in BUCKETS.items():
        memory.add_bucket(name, None if statements is None else body(name, *statements))
    return memory


def manifest(tmp_path: Path, action: str = "apply") -> Manifest:
    data: dict[str, Any] = {
        "action": action,
        "targets": {"buckets": list(BUCKETS)},
        "connection": {"region": "cn-hangzhou", "endpoint": "http://127.0.0.1:9"},
        "retry": {"attempts": 1},
    }
    if action == "apply":
        data["policy"] = {"document": BASELINE, "mode": "replace"}
    return parse_manifest(data, source="apply.yaml", base=tmp_path)


async def run(job: Manifest, memory: MemoryBackend, options: RunOptions) -> JobRun:
    with anyio.fail_after(5):
        return await run_job(job, options, backend=memory)


def by_bucket(run: JobRun) -> dict[str, dict[str, Any]]:
    return {record["bucket"]: record for record in run.records()}


def written(memory: MemoryBackend) -> set[str]:
    return {
        call.bucket or "" for call in memory.calls if call.op in {"put_policy", "delete_policy"}
    }


async def test_a_plan_records_the_new_access_of_each_bucket_and_counts_it(tmp_path: Path) -> None:
    """Every bucket a plan judged has `new_access`: empty where nothing is new (unchanged,
    narrowed), one line per statement where it is; the summary counts and names them,
    and `--json` has the count."""
    plan = await osspolicy.plan(manifest(tmp_path), backend=backend(), report_dir=None)
    records = by_bucket(plan)

    assert {name: r["outcome"] for name, r in records.items()} == {
        "same": "unchanged",
        "narrower": "planned",
        "empty": "planned",
        "denied": "planned",
    }
    assert records["same"]["new_access"] == records["narrower"]["new_access"] == []
    assert records["empty"]["new_access"] == [
        f"read: allows {READER} oss:GetObject on acs:oss:*:*:empty/*"
    ]
    assert records["denied"]["new_access"] == [
        "deny-http: no longer denies everyone oss:* on acs:oss:*:*:denied/*"
    ]
    assert plan.exit_code == 0
    assert plan.summary.new_access_count == 2
    assert {bucket for bucket, _ in plan.summary.new_access} == NEW
    assert plan.to_json()["new_access"] == 2


async def test_a_plan_s_report_has_the_new_access_column(tmp_path: Path) -> None:
    """report.jsonl holds the lines as a list, report.csv joins them with "; ", and
    summary.json counts the buckets and names each with its lines."""
    plan = await osspolicy.plan(manifest(tmp_path), backend=backend())
    folder = plan.report_folder
    assert folder is not None

    with (folder / "report.csv").open(newline="", encoding="utf-8") as file:
        rows = {row["bucket"]: row for row in csv.DictReader(file)}
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))

    assert rows["empty"]["new_access"] == by_bucket(plan)["empty"]["new_access"][0]
    assert rows["narrower"]["new_access"] == ""
    assert summary["new_access"]["count"] == 2
    assert set(summary["new_access"]["buckets"]) == NEW


async def test_a_job_that_judges_nothing_says_nothing_of_new_access(tmp_path: Path) -> None:
    """A run without `--deny-new-access` (and a backup) leaves the key out of its
    records, summary and `--json`: it did not judge it."""
    applied = await run(manifest(tmp_path), backend(), RunOptions())

    assert all("new_access" not in record for record in applied.records())
    assert applied.summary.new_access_count is None
    assert "new_access" not in applied.to_json()


async def test_deny_new_access_fails_those_buckets_and_writes_the_others(tmp_path: Path) -> None:
    """A run with `--deny-new-access`: each bucket that would be given new access is
    `failed` (`NewAccess`, the lines in its record), neither snapshotted nor written; the
    others are written; exit 1."""
    memory = backend()
    applied = await run(manifest(tmp_path), memory, RunOptions(deny_new_access=True))
    records = by_bucket(applied)

    assert written(memory) == {"narrower"}
    assert {name: r["outcome"] for name, r in records.items() if name in NEW} == {
        "empty": "failed",
        "denied": "failed",
    }
    assert {records[name]["error_code"] for name in NEW} == {"NewAccess"}
    assert records["denied"]["error_message"] == (
        "would grant new access: deny-http: no longer denies everyone oss:* on "
        "acs:oss:*:*:denied/*; not written (--deny-new-access)"
    )
    assert all(records[name]["snapshot"] is None for name in NEW)
    assert records["narrower"]["outcome"] == "applied"
    assert applied.exit_code == 1


async def test_a_plan_with_deny_new_access_fails_them_as_its_run_would(tmp_path: Path) -> None:
    """`plan --deny-new-access` shows the run: those buckets `failed` (`NewAccess`),
    with their diff; and the run of that plan writes none of them, saying the plan
    refused them."""
    memory = backend()
    job = manifest(tmp_path)
    plan = await run(job, memory, RunOptions(dry_run=True, deny_new_access=True))
    records = by_bucket(plan)

    assert {name for name, r in records.items() if r["error_code"] == "NewAccess"} == NEW
    assert records["empty"]["diff"].startswith("--- a/empty")
    assert plan.exit_code == 1

    applied = await run(job, memory, RunOptions(plan=plan.job_id))
    refused = by_bucket(applied)
    assert written(memory) == {"narrower"}
    assert {refused[name]["error_code"] for name in NEW} == {"NewAccess"}
    assert refused["empty"]["note"] == "plan"
    assert "refused it for new access" in refused["empty"]["error_message"]


async def test_a_delete_with_deny_new_access_keeps_the_policies_with_a_deny(tmp_path: Path) -> None:
    """Deleting a policy takes its Denies away: with `--deny-new-access` a delete job
    writes only the buckets whose policy denies nothing."""
    memory = backend()
    deleted = await run(manifest(tmp_path, "delete"), memory, RunOptions(deny_new_access=True))

    assert written(memory) == {"same", "narrower"}
    assert by_bucket(deleted)["denied"]["error_code"] == "NewAccess"


async def test_a_resume_keeps_deny_new_access_from_the_start(tmp_path: Path) -> None:
    """`--deny-new-access` is a start-time flag (contracts §5): a resume given nothing
    keeps it (the new-access buckets fail again, unwritten); a job started without it
    is not resumed with it (ConfigError, nothing sent)."""
    memory = backend()
    job = manifest(tmp_path)
    first = await run(job, memory, RunOptions(deny_new_access=True))
    memory.calls.clear()

    again = await run(job, memory, RunOptions(resume=first.job_id))
    assert written(memory) == set()
    assert {r["error_code"] for r in again.records() if r["outcome"] == "failed"} == {"NewAccess"}

    plain = await run(job, backend(), RunOptions())
    assert plain.exit_code == 0
    with pytest.raises(
        ConfigError, match=r"--deny-new-access differs .*\(without --deny-new-access\)"
    ):
        await run(job, memory, RunOptions(resume=plain.job_id, deny_new_access=True))


async def test_deny_new_access_on_a_job_that_writes_no_policy_is_refused(tmp_path: Path) -> None:
    """A backup writes no policy: the flag given to it is a mistake, refused before any
    request."""
    memory = backend()

    with pytest.raises(ConfigError, match="a backup job writes no policy"):
        await run(manifest(tmp_path, "backup"), memory, RunOptions(deny_new_access=True))
    assert memory.calls == []
