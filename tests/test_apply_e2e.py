"""Mass-apply a baseline: the real SDK against the emulator, the expected result computed
independently of osspolicy's policy module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import Manifest, parse_manifest
from osspolicy.emulator import Emulator

PREFIX = "ap-"
ACCOUNT = "1234567890123456"


async def no_sleep(_: float) -> None:
    """Retries back off without waiting in tests."""


def baseline_statement(bucket: str) -> dict[str, Any]:
    """The baseline's one statement as it renders for `bucket` (written out by hand)."""
    return {
        "Sid": "deny-insecure",
        "Effect": "Deny",
        "Principal": ["*"],
        "Action": ["oss:*"],
        "Resource": [f"acs:oss:*:{ACCOUNT}:{bucket}/*"],
        "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
    }


BASELINE = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "deny-insecure",
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:*"],
            "Resource": ["acs:oss:*:${account_id}:${bucket}/*"],
            "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
        }
    ],
}
UNRELATED = {
    "Sid": "team-read",
    "Effect": "Allow",
    "Principal": ["20214760404935"],
    "Action": ["oss:GetObject"],
    "Resource": ["acs:oss:*:*:shared/*"],
}
OLD_BASELINE = {
    "Sid": "deny-insecure",
    "Effect": "Deny",
    "Principal": ["*"],
    "Action": ["oss:PutObject"],
    "Resource": ["acs:oss:*:*:old/*"],
}


def original(bucket: str) -> dict[str, Any] | None:
    """Four kinds of bucket: no policy, unrelated statements, an older version of the
    baseline Sid (with an unrelated one), and the baseline already present."""
    kind = int(bucket[-5:]) % 4
    if kind == 0:
        return None
    if kind == 1:
        return {"Version": "1", "Statement": [UNRELATED]}
    if kind == 2:
        return {"Version": "1", "Statement": [OLD_BASELINE, UNRELATED]}
    return {"Version": "1", "Statement": [UNRELATED, baseline_statement(bucket)]}


def expected(bucket: str) -> dict[str, Any]:
    """The merge, by hand: the baseline Sid replaced in place or appended; others kept."""
    kind = int(bucket[-5:]) % 4
    if kind == 0:
        return {"Version": "1", "Statement": [baseline_statement(bucket)]}
    if kind == 1:
        return {"Version": "1", "Statement": [UNRELATED, baseline_statement(bucket)]}
    if kind == 2:
        return {"Version": "1", "Statement": [baseline_statement(bucket), UNRELATED]}
    return {"Version": "1", "Statement": [UNRELATED, baseline_statement(bucket)]}


def encoded(doc: dict[str, Any] | None) -> bytes | None:
    return None if doc is None else json.dumps(doc).encode()


def seed(emulator: Emulator, count: int) -> list[str]:
    names = [f"{PREFIX}{i:05d}" for i in range(count)]
    emulator.seed_buckets(names, policy=lambda name: encoded(original(name)))
    return names


def apply_manifest(tmp_path: Path, emulator: Emulator, *, engine: str, **extra: Any) -> Manifest:
    data: dict[str, Any] = {
        "action": "apply",
        "targets": {"discover": {"prefix": PREFIX}},
        "connection": {"region": emulator.region, "endpoint": emulator.endpoint},
        "engine": engine,
        "policy": {"document": BASELINE},
        **extra,
    }
    return parse_manifest(data, source="apply.yaml", base=tmp_path)


def run(manifest: Manifest, options: RunOptions | None = None) -> JobRun:
    async def go() -> JobRun:
        return await run_job(manifest, options or RunOptions(), sleep=no_sleep)

    return anyio.run(go)


def writes(emulator: Emulator) -> list[tuple[str, str | None]]:
    """The policy writes the emulator received (faulted ones included)."""
    return [
        (e.method, e.bucket)
        for e in emulator.request_log
        if e.subresource == "policy" and e.method in {"PUT", "DELETE"}
    ]


def records(job: JobRun) -> list[dict[str, Any]]:
    text = (job.report_folder / "report.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_apply_merges_the_baseline_and_keeps_every_other_statement(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """Over 300 mixed buckets every policy ends as the expected merge; buckets that were
    already compliant got no PUT."""
    names = seed(oss_emulator, 300)
    job = run(apply_manifest(tmp_path, oss_emulator, engine=engine))
    assert job.exit_code == 0
    for name in names:
        assert json.loads(oss_emulator.state.get_policy(name) or b"null") == expected(name)
    compliant = {name for name in names if int(name[-5:]) % 4 == 3}
    written = {bucket for _, bucket in writes(oss_emulator)}
    assert written == set(names) - compliant
    outcomes = Counter(r["outcome"] for r in records(job))
    assert outcomes == {"applied": 225, "unchanged": 75}


def test_a_second_run_sends_no_write(tmp_path: Path, oss_emulator: Emulator, engine: str) -> None:
    """Applying the same job twice: the second run is all `unchanged` and writes nothing."""
    seed(oss_emulator, 120)
    manifest = apply_manifest(tmp_path, oss_emulator, engine=engine)
    run(manifest)
    oss_emulator.clear_log()
    again = run(manifest)
    assert writes(oss_emulator) == []
    assert {r["outcome"] for r in records(again)} == {"unchanged"}


def test_plan_writes_nothing_and_counts_what_apply_then_does(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """A plan reads every policy, sends no write, and its put/null counts equal apply's;
    each planned change comes with a diff, and a bucket with nothing to change is
    `unchanged` (contracts §3)."""
    seed(oss_emulator, 200)
    manifest = apply_manifest(tmp_path, oss_emulator, engine=engine)
    plan = run(manifest, RunOptions(dry_run=True))
    assert writes(oss_emulator) == []
    planned = records(plan)
    assert {r["outcome"] for r in planned if r["change"] is None} == {"unchanged"}
    assert {r["outcome"] for r in planned if r["change"] is not None} == {"planned"}
    assert all(r["diff"] for r in planned if r["change"] == "put")
    apply = run(manifest)
    applied = Counter(r["change"] for r in records(apply))
    assert Counter(r["change"] for r in planned) == applied


def test_under_faults_every_bucket_ends_right_and_snapshots_hold_the_originals(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """At fault rate 0.2, some faults after the change is applied: every bucket still
    ends as expected, and every snapshot file equals the bucket's pre-job policy."""
    names = seed(oss_emulator, 300)
    oss_emulator.set_faults(rate=0.2, after_rate=0.05, seed=11)
    job = run(apply_manifest(tmp_path, oss_emulator, engine=engine))
    assert job.exit_code == 0
    assert any(e.fault == "after" for e in oss_emulator.request_log)
    for name in names:
        assert json.loads(oss_emulator.state.get_policy(name) or b"null") == expected(name)
    snapshot = job.backup_folder
    assert snapshot is not None
    assert snapshot.name.endswith("-pre")
    index = {
        json.loads(line)["bucket"]: json.loads(line)
        for line in (snapshot / "index.jsonl").read_text().splitlines()
    }
    assert set(index) == {n for n in names if int(n[-5:]) % 4 != 3}  # the written ones
    for name, entry in index.items():
        file = snapshot / "policies" / f"{name}.json"
        assert entry["had_policy"] is (original(name) is not None)
        if entry["had_policy"]:
            assert file.read_bytes() == encoded(original(name))


def test_bucket_placeholder_renders_per_bucket(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """${bucket} in a Resource becomes each target's own name."""
    names = seed(oss_emulator, 8)
    run(apply_manifest(tmp_path, oss_emulator, engine=engine))
    for name in names:
        doc = json.loads(oss_emulator.state.get_policy(name) or b"{}")
        resources = [
            r for s in doc["Statement"] if s["Sid"] == "deny-insecure" for r in s["Resource"]
        ]
        assert resources == [f"acs:oss:*:{ACCOUNT}:{name}/*"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osspolicy", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def write_job(tmp_path: Path, emulator: Emulator, policy_file: str) -> Path:
    job = tmp_path / "apply.yaml"
    job.write_text(
        f"action: apply\ntargets:\n  discover: {{prefix: {PREFIX}}}\n"
        f"connection:\n  region: {emulator.region}\n  endpoint: {emulator.endpoint}\n"
        f"policy:\n  file: {policy_file}\n"
    )
    return job


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"Version": "1", "Statement": [', "not valid JSON"),
        ('{"Version": "2", "Statement": []}', "Version"),
        (
            (
                '{"Version": "1", "Statement": [{"Sid": "a", "Principal": ["*"], '
                '"Action": ["oss:*"], "Resource": ["*"]}]}'
            ),
            "Effect",
        ),
        (
            json.dumps(
                {
                    "Version": "1",
                    "Statement": [
                        {
                            "Sid": f"s{i}",
                            "Effect": "Deny",
                            "Principal": ["*"],
                            "Action": ["oss:GetObject"],
                            "Resource": [f"acs:oss:*:*:bucket/{'x' * 150}/{i}"],
                        }
                        for i in range(100)
                    ],
                }
            ),
            "16,384",
        ),
        (
            json.dumps(
                {**BASELINE, "Statement": [{**BASELINE["Statement"][0], "Resource": ["${x}"]}]}
            ),
            "${x}",
        ),
    ],
    ids=["bad-json", "version-2", "missing-effect", "20kb", "unknown-placeholder"],
)
def test_an_invalid_baseline_stops_at_the_door(
    tmp_path: Path, oss_emulator: Emulator, content: str, problem: str
) -> None:
    """Bad JSON, Version "2", a missing Effect, a 20 KB policy or an unknown placeholder:
    one line naming the file and the problem, exit 2, and no request at all."""
    seed(oss_emulator, 5)
    (tmp_path / "baseline.json").write_text(content)
    done = cli("run", str(write_job(tmp_path, oss_emulator, "baseline.json")), "--yes")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "baseline.json" in lines[0]
    assert problem in lines[0]
    assert "Traceback" not in done.stderr
    assert oss_emulator.request_log == []


def test_a_public_grant_is_refused_where_block_public_access_is_on(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """An Allow to * is `blocked_public` and not sent where BPA is on; the bucket with BPA
    off gets it; exit 1."""
    names = [f"{PREFIX}{i:05d}" for i in range(4)]
    oss_emulator.seed_buckets(names)
    oss_emulator.state.set_block_public_access(names[0], on=False)
    public = {
        "Version": "1",
        "Statement": [
            {
                "Sid": "public-read",
                "Effect": "Allow",
                "Principal": ["*"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:${bucket}/public/*"],
            }
        ],
    }
    manifest = apply_manifest(tmp_path, oss_emulator, engine=engine, policy={"document": public})
    job = run(manifest)
    by_bucket = {r["bucket"]: r for r in records(job)}
    assert job.exit_code == 1
    assert by_bucket[names[0]]["outcome"] == "applied"
    for name in names[1:]:
        assert by_bucket[name]["outcome"] == "blocked_public"
        assert "Block Public Access" in by_bucket[name]["error_message"]
    assert writes(oss_emulator) == [("PUT", names[0])]


def test_with_allow_public_the_services_403_is_reported_and_not_retried(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """allow_public sends the grant; the service's 403 AccessDenied is the record, after
    exactly one PUT per bucket."""
    names = [f"{PREFIX}{i:05d}" for i in range(3)]
    oss_emulator.seed_buckets(names)
    public = {
        "Version": "1",
        "Statement": [
            {
                "Sid": "public-read",
                "Effect": "Allow",
                "Principal": ["*"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:${bucket}/*"],
            }
        ],
    }
    manifest = apply_manifest(
        tmp_path, oss_emulator, engine=engine, policy={"document": public}, allow_public=True
    )
    job = run(manifest)
    assert job.exit_code == 1
    assert {(r["outcome"], r["error_code"]) for r in records(job)} == {("failed", "AccessDenied")}
    assert sorted(writes(oss_emulator)) == [("PUT", n) for n in names]


def test_a_deny_to_everyone_is_not_public(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """A Deny whose Principal is * is applied where Block Public Access is on."""
    seed(oss_emulator, 4)
    job = run(apply_manifest(tmp_path, oss_emulator, engine=engine))
    assert job.exit_code == 0
    assert {r["outcome"] for r in records(job)} <= {"applied", "unchanged"}


def test_delete_removes_every_policy_after_its_snapshot(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """action: delete removes each policy (no policy: unchanged), snapshot first."""
    names = seed(oss_emulator, 12)
    manifest = parse_manifest(
        {
            "action": "delete",
            "targets": {"discover": {"prefix": PREFIX}},
            "connection": {"region": oss_emulator.region, "endpoint": oss_emulator.endpoint},
            "engine": engine,
        },
        source="delete.yaml",
        base=tmp_path,
    )
    job = run(manifest)
    assert job.exit_code == 0
    assert all(oss_emulator.state.get_policy(n) is None for n in names)
    outcomes = Counter(r["outcome"] for r in records(job))
    assert outcomes == {"deleted": 9, "unchanged": 3}
    assert job.backup_folder is not None
    snapshot_index = (job.backup_folder / "index.jsonl").read_text().splitlines()
    assert len(snapshot_index) == 9
