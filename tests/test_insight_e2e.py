"""Policy insight end to end (contracts §18): `plan`'s new access and `--deny-new-access`,
and `osspolicy diff` of two real backups, through the console script and the API, the
real SDK against the emulator, whose state and request log witness what was written.

The rules themselves are in test_new_access.py (new access), test_new_access_jobs.py
(its records, the flag, resume) and test_backup_diff.py (diff on hand-made folders).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import pytest

import osspolicy
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    assert_one_line_error,
    connection,
    make_emulator,
    policy_writes,
    read_jsonl,
    records_by_bucket,
    run_cli,
    sdk_client,
    write_manifest,
)

READER = "1111111111111111"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with make_emulator() as emulator:
        yield emulator


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "1", "Statement": list(statements)}


def encoded(document: dict[str, Any], bucket: str) -> bytes:
    return json.dumps(document, indent=2).replace("${bucket}", bucket).encode()


# --- new access in a plan, and --deny-new-access ------------------------------------------------

READ_LOGS: dict[str, Any] = {
    "Sid": "reader",
    "Effect": "Allow",
    "Principal": [READER],
    "Action": ["oss:GetObject"],
    "Resource": ["acs:oss:*:*:${bucket}/logs/*"],
}
DENY_HTTP: dict[str, Any] = {
    "Sid": "deny-http",
    "Effect": "Deny",
    "Principal": ["*"],
    "Action": ["oss:*"],
    "Resource": ["acs:oss:*:*:${bucket}/*"],
    "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
}
LEGACY_DENY: dict[str, Any] = {
    "Sid": "legacy-deny",
    "Effect": "Deny",
    "Principal": ["*"],
    "Action": ["oss:DeleteObject"],
    "Resource": ["acs:oss:*:*:${bucket}/*"],
}
#: what each bucket holds before the baseline (READ_LOGS + DENY_HTTP, merged by Sid, with
#: legacy-deny removed) is planned, and whether that gives anyone more
WIDENING: dict[str, tuple[dict[str, Any] | None, bool]] = {
    # the baseline already, its statements in another order: unchanged
    "na-same": (doc(DENY_HTTP, READ_LOGS), False),
    # the reader could read everything; now only logs/: narrowed
    "na-narrow": (
        doc({**READ_LOGS, "Action": ["oss:*"], "Resource": ["acs:oss:*:*:${bucket}/*"]}),
        False,
    ),
    # only the reader: the baseline adds a Deny
    "na-denied": (doc(READ_LOGS), False),
    # no policy: the reader is new
    "na-empty": (None, True),
    # the reader was pinned to one network: the baseline's has no Condition
    "na-pinned": (
        doc({**READ_LOGS, "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}),
        True,
    ),
    # a Deny that remove_sids takes away
    "na-legacy": (doc(READ_LOGS, DENY_HTTP, LEGACY_DENY), True),
}


def baseline_job(emu: Emulator, folder: Path) -> Path:
    (folder / "baseline.json").write_text(json.dumps(doc(READ_LOGS, DENY_HTTP)), encoding="utf-8")
    return write_manifest(
        folder / "baseline.yaml",
        {
            "version": 1,
            "action": "apply",
            "targets": {"discover": {"prefix": "na-"}},
            "connection": connection(emu),
            "policy": {"file": "baseline.json", "mode": "merge", "remove_sids": ["legacy-deny"]},
            "backup_dir": "backups",
            "report_dir": "reports",
        },
    )


def test_a_plan_names_the_buckets_it_widens_and_deny_new_access_writes_none_of_them(
    emu: Emulator, tmp_path: Path
) -> None:
    """A plan records `new_access` for exactly the buckets whose policy would allow more
    (a new grant, a Condition dropped, a Deny removed), not for those narrowed, given a
    Deny or already as wanted; its console names them. The run with `--deny-new-access`
    then fails those (`NewAccess`, exit 1) with no PutBucketPolicy to any of them and
    their policies as they were, writes the others, and records the flag in its journal
    header (a resume keeps it)."""
    emu.seed_buckets(
        WIDENING,
        policy=lambda name: None if WIDENING[name][0] is None else encoded(WIDENING[name][0], name),
        block_public_access=False,
    )
    widened = {name for name, (_, new) in WIDENING.items() if new}
    before = {name: emu.state.get_policy(name) for name in WIDENING}
    job = baseline_job(emu, tmp_path)

    plan = run_cli(emu, "plan", job, "--json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    summary = json.loads(plan.stdout)
    records = records_by_bucket(read_jsonl(Path(summary["report"]) / "report.jsonl"))
    assert summary["new_access"] == len(widened)
    assert {name for name, r in records.items() if r["new_access"]} == widened
    assert records["na-same"]["outcome"] == "unchanged"
    assert records["na-pinned"]["new_access"] == [
        (
            f"reader: with a looser Condition, allows {READER} oss:GetObject on "
            "acs:oss:*:*:na-pinned/logs/*"
        )
    ]
    assert "new access on 3 buckets:" in plan.stderr
    named = {
        line.split(":")[0].strip() for line in plan.stderr.splitlines() if line.startswith("  na-")
    }
    assert named == widened

    emu.clear_log()
    run = run_cli(emu, "run", job, "--deny-new-access", "--yes", "--json", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    report = Path(json.loads(run.stdout)["report"])
    outcomes = {
        name: r["error_code"] or r["outcome"]
        for name, r in records_by_bucket(read_jsonl(report / "report.jsonl")).items()
    }
    assert outcomes == {
        "na-same": "unchanged",
        "na-narrow": "applied",
        "na-denied": "applied",
        **dict.fromkeys(widened, "NewAccess"),
    }
    assert {entry.bucket for entry in policy_writes(emu)} == {"na-narrow", "na-denied"}
    assert {name: emu.state.get_policy(name) for name in widened} == {
        name: before[name] for name in widened
    }
    header = read_jsonl(report / "journal.jsonl")[0]
    assert header["started_with"]["options"]["deny_new_access"] is True


# --- diff of two backups -------------------------------------------------------------------------

TEAM: dict[str, Any] = {
    "Sid": "team",
    "Effect": "Allow",
    "Principal": [READER],
    "Action": ["oss:GetObject"],
    "Resource": ["acs:oss:*:*:${bucket}/*"],
}
OTHER: dict[str, Any] = {**TEAM, "Sid": "other", "Principal": ["2222222222222222"]}
#: the buckets of backup A and their policies
BEFORE: dict[str, dict[str, Any] | None] = {
    "df-reorder": doc(TEAM, OTHER),
    "df-changed": doc(TEAM),
    "df-added": None,
    "df-deleted": doc(TEAM),
    "df-gone": doc(TEAM),
    "df-still": doc(OTHER),
}


def backup_keys(emu: Emulator, folder: Path) -> dict[str, Any]:
    return {
        "targets": {"discover": {"prefix": "df-"}},
        "connection": connection(emu),
        "backup_dir": str(folder / "backups"),
        "report_dir": str(folder / "reports"),
    }


def change_between(client: oss.Client) -> None:
    """What happens between the two backups, by hand through the SDK."""

    def put(bucket: str, document: dict[str, Any]) -> None:
        body = json.dumps(document).replace("${bucket}", bucket)
        client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=bucket, body=body))

    put("df-reorder", doc(OTHER, TEAM))  # the same statements, in another order
    put("df-changed", doc({**TEAM, "Action": ["oss:GetObject", "oss:PutObject"]}))
    put("df-added", doc(TEAM))
    client.delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket="df-deleted"))
    client.put_bucket(oss.PutBucketRequest(bucket="df-created"))
    client.delete_bucket(oss.DeleteBucketRequest(bucket="df-gone"))


@pytest.mark.asyncio
async def test_a_diff_of_two_backups_reports_only_real_changes(
    emu: Emulator, tmp_path: Path
) -> None:
    """Two backups with changes between: `diff A B` names the policy changed (its
    statement by Sid, and what changed), added and removed, the bucket created (only in
    B) and deleted (only in A), and nothing of the policy put back in another order;
    exit 3. `--json` of the two job ids says the same; the API's typed result too."""
    emu.seed_buckets(
        BEFORE, policy=lambda name: None if BEFORE[name] is None else encoded(BEFORE[name], name)
    )
    first = await osspolicy.backup(backup_keys(emu, tmp_path), credentials=emu.credentials)
    change_between(sdk_client(emu))
    second = await osspolicy.backup(backup_keys(emu, tmp_path), credentials=emu.credentials)
    a, b = first.backup_folder, second.backup_folder
    assert a is not None
    assert b is not None

    shown = run_cli(emu, "diff", a, b, cwd=tmp_path)
    assert shown.returncode == 3, shown.stderr
    assert shown.stdout.splitlines() == [
        f"diff {a} → {b}",
        "added      df-added",
        "  + team",
        "changed    df-changed",
        "  ~ team: Action +oss:PutObject",
        "only in b  df-created",
        "removed    df-deleted",
        "  - team",
        "only in a  df-gone",
        "5 buckets differ: 1 added, 1 removed, 1 changed, 1 only in a, 1 only in b; 2 same",
    ]

    by_id = run_cli(
        emu, "diff", first.job_id, second.job_id, "--report-dir", "reports", "--json", cwd=tmp_path
    )
    assert by_id.returncode == 3, by_id.stderr
    answer = json.loads(by_id.stdout)
    assert {item["bucket"]: item["status"] for item in answer["buckets"]} == {
        "df-added": "added",
        "df-changed": "changed",
        "df-deleted": "removed",
        "df-gone": "only_in_a",
        "df-created": "only_in_b",
    }
    assert answer["counts"]["same"] == 2

    typed = await osspolicy.diff(a, b)
    assert typed.to_json() == {**answer, "a": str(a), "b": str(b)}
    assert [s.to_json()["after"] for s in typed.differing[1].statements] == [
        {
            **TEAM,
            "Action": ["oss:GetObject", "oss:PutObject"],
            "Resource": ["acs:oss:*:*:df-changed/*"],
        }
    ]


@pytest.mark.asyncio
async def test_a_diff_refuses_an_incomplete_or_damaged_backup(
    emu: Emulator, tmp_path: Path
) -> None:
    """A backup that lacks buckets is refused (exit 2, one line naming it and
    `--allow-incomplete`) unless allowed, and its missing buckets are then `unknown`
    (exit 1, not "no difference"); a policy file that no longer matches its sha256 is
    refused as a restore refuses it."""
    emu.seed_buckets(["dx-one", "dx-two"], policy=encoded(doc(TEAM), "dx"))
    keys = {**backup_keys(emu, tmp_path), "targets": {"discover": {"prefix": "dx-"}}}
    whole = await osspolicy.backup(keys, credentials=emu.credentials)
    assert whole.backup_folder is not None
    partial = tmp_path / "partial"
    partial.mkdir()
    index = (whole.backup_folder / "index.jsonl").read_text(encoding="utf-8").splitlines()
    (partial / "index.jsonl").write_text(
        "\n".join(line for line in index if "dx-one" in line) + "\n", encoding="utf-8"
    )
    (partial / "policies").mkdir()
    for path in (whole.backup_folder / "policies").glob("dx-one.json"):
        (partial / "policies" / path.name).write_bytes(path.read_bytes())

    refused = run_cli(emu, "diff", whole.backup_folder, partial, cwd=tmp_path)
    assert_one_line_error(refused)
    assert str(partial) in refused.stderr
    assert "--allow-incomplete" in refused.stderr

    allowed = await osspolicy.diff(whole.backup_folder, partial, allow_incomplete=True)
    assert {item.bucket: item.status for item in allowed.buckets} == {
        "dx-one": "same",
        "dx-two": "unknown",
    }
    assert allowed.exit_code == 1

    (whole.backup_folder / "policies" / "dx-two.json").write_text("{}", encoding="utf-8")
    with pytest.raises(osspolicy.BackupError, match="does not match its sha256"):
        await osspolicy.diff(whole.backup_folder, whole.backup_folder)
