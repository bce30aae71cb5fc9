"""A Resource Directory as one account of a job, end to end (issue 22, contracts §17).

The emulator plays a directory: a management account (with keys, one bucket) in the Root
folder and 12 members in three folders (prod 1-6, dev 7-10, web 11-12 under prod).
Member 5 has not joined yet (PromoteVerifying: `excluded`); member 9 lacks the role
(`assume_failed`); odd members keep two buckets in cn-shanghai, even ones one in
cn-hangzhou; every bucket has a policy of its own bytes. Jobs reach the directory with
Alibaba's SDK package for it, AssumeRole with the credentials library, the buckets with
the OSS SDK: no mock anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.errors import PreflightError
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import parse_manifest
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    original_policy,
    read_jsonl,
    run_cli,
    write_baseline,
    write_manifest,
)

MANAGEMENT_ID = "1000000000000001"
MANAGEMENT_KEY = ("LTAI5tRdManagementKey", "rd-management-Secret-5a1c9e07")
ROLE = "ResourceDirectoryAccountAccessRole"
ROOT, PROD, DEV, WEB = "r-root00", "fd-prod000001", "fd-dev0000001", "fd-web0000001"
#: the member that has not joined yet, and the one without the role
NOT_JOINED, NO_ROLE = 5, 9
MEMBERS = range(1, 13)


def member_id(number: int) -> str:
    return f"2{number:015d}"


def folder_of(number: int) -> str:
    return PROD if number <= 6 else DEV if number <= 10 else WEB


def _status(number: int) -> str:
    if number == NOT_JOINED:
        return "PromoteVerifying"
    return "InviteSuccess" if number % 3 == 0 else "CreateSuccess"


def directory_document(*, without_role: frozenset[int] = frozenset({NO_ROLE})) -> dict[str, Any]:
    """The directory as the emulator's YAML keys."""
    accounts: list[dict[str, Any]] = [
        {
            "id": MANAGEMENT_ID,
            "name": "management",
            "status": "CreateSuccess",
            "folder": ROOT,
            "access_key_id": MANAGEMENT_KEY[0],
            "access_key_secret": MANAGEMENT_KEY[1],
            "buckets": ["mgmt-:1"],
        }
    ]
    accounts += [
        {
            "id": member_id(number),
            "name": f"member-{number:02d}",
            "status": _status(number),
            "folder": folder_of(number),
            "roles": [] if number in without_role else [ROLE],
            "buckets": [f"m{number:02d}-:2:cn-shanghai" if number % 2 else f"m{number:02d}-:1"],
        }
        for number in MEMBERS
    ]
    return {
        "management": MANAGEMENT_ID,
        "folders": [
            {"id": ROOT, "name": "Root"},
            {"id": PROD, "name": "prod", "parent": ROOT},
            {"id": DEV, "name": "dev", "parent": ROOT},
            {"id": WEB, "name": "web", "parent": PROD},
        ],
        "accounts": accounts,
    }


def buckets_of(number: int | None) -> list[str]:
    """The buckets seeded for a member (None: the management account)."""
    if number is None:
        return ["mgmt-00000"]
    return [f"m{number:02d}-{i:05d}" for i in range(2 if number % 2 else 1)]


ALL_BUCKETS = [b for n in (None, *MEMBERS) for b in buckets_of(n)]


def seed_policies(emu: Emulator) -> dict[str, bytes]:
    """A policy of its own bytes on every bucket (each kind of the e2e mix that has one)."""
    originals: dict[str, bytes] = {}
    for index, bucket in enumerate(ALL_BUCKETS):
        body = original_policy(bucket, index) or original_policy(bucket, 1)
        assert body is not None
        emu.state.put_policy(bucket, body)
        originals[bucket] = body
    return originals


@dataclass
class World:
    emu: Emulator
    folder: Path
    originals: dict[str, bytes]

    def manifest(self, **directory: Any) -> dict[str, Any]:
        """A backup of every bucket of the directory (`directory`: its extra keys)."""
        endpoint = self.emu.endpoint
        return {
            "version": 1,
            "action": "backup",
            "accounts": [
                {
                    "name": "org",
                    "credentials": {"type": "env"},
                    "resource_directory": {
                        "endpoint": endpoint,
                        "sts_endpoint": endpoint,
                        **directory,
                    },
                }
            ],
            "targets": {"discover": {}},
            "connection": {"region": "cn-hangzhou", "endpoint": endpoint},
            "retry": {"attempts": 2, "base_delay_s": 0, "max_delay_s": 0},
            "backup_dir": "backups",
            "report_dir": "reports",
        }

    async def run(self, data: dict[str, Any], **options: Any) -> JobRun:
        manifest = parse_manifest(data, source="org.yaml", base=self.folder)
        return await run_job(manifest, RunOptions(**options))


def start(document: dict[str, Any], port: int = 0) -> Emulator:
    return Emulator(resource_directory=document, port=port).start()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The directory on an emulator, the management account's keys in the environment."""
    emu = start(directory_document())
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", MANAGEMENT_KEY[0])
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", MANAGEMENT_KEY[1])
    try:
        yield World(emu, tmp_path, seed_policies(emu))
    finally:
        emu.stop()


def accounts_of(summary: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Each account of a summary's `accounts`: (status, buckets)."""
    return {a["name"]: (a["status"], a["buckets"]) for a in summary["accounts"]}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def reachable(*left_out: int) -> list[str]:
    """The buckets of the management account and every member but those left out."""
    gone = {NOT_JOINED, *left_out}
    return sorted(b for n in (None, *MEMBERS) if n not in gone for b in buckets_of(n))


# -- the whole directory, one member unreachable, then resumed ------------------------------


def test_a_directory_backup_names_the_unreachable_member_and_resumes_once_it_has_the_role(
    world: World,
) -> None:
    """One backup job over the directory backs up every reachable bucket byte for byte in
    both regions, leaves the member that has not joined `excluded`, names the member
    without the role in summary.json (`missing_accounts`) and on the console, and exits 1
    with an incomplete backup; once the member has the role (the emulator restarted on its
    port with a fixed directory), `--resume` backs up its buckets alone and completes."""
    emu = world.emu
    job_file = write_manifest(world.folder / "org.yaml", world.manifest())
    run = run_cli(emu, "run", job_file, cwd=world.folder)
    assert run.returncode == 1, run.stderr
    member = member_id(NO_ROLE)
    assert (
        f"osspolicy: error: account {member} (member-{NO_ROLE:02d}): assume_failed: AssumeRole "
        f"of acs:ram::{member}:role/{ROLE} failed: EntityNotExist.Role"
    ) in run.stderr
    (report,) = (world.folder / "reports").iterdir()
    (backup,) = (world.folder / "backups").iterdir()
    summary, folder_summary = read_json(report / "summary.json"), read_json(backup / "summary.json")
    assert summary["missing_accounts"] == folder_summary["missing_accounts"] == [member]
    statuses = accounts_of(summary)
    assert statuses[MANAGEMENT_ID] == ("ok", 1)
    assert statuses[member_id(NOT_JOINED)] == ("excluded", 0)
    assert statuses[member] == ("assume_failed", 0)
    assert statuses[member_id(1)] == ("ok", 2)
    assert statuses[member_id(2)] == ("ok", 1)
    assert accounts_of(folder_summary) == statuses
    assert (folder_summary["complete"], summary["exit_code"]) == (False, 1)
    index = read_jsonl(backup / "index.jsonl")
    assert sorted(e["bucket"] for e in index) == reachable(NO_ROLE)
    for entry in index:
        assert (backup / "policies" / f"{entry['bucket']}.json").read_bytes() == (
            world.originals[entry["bucket"]]
        )
        owner = entry["bucket"][1:3]
        expected_region = "cn-shanghai" if owner.isdigit() and int(owner) % 2 else "cn-hangzhou"
        assert (entry["account"], entry["region"]) == (
            member_id(int(owner)) if owner.isdigit() else MANAGEMENT_ID,
            expected_region,
        )
    # the management account signs with its own keys; no member is assumed twice
    assume_roles = [e for e in emu.request_log if e.action == "AssumeRole"]
    assert len(assume_roles) == len(MEMBERS) - 1  # all joined members, none for NOT_JOINED
    mgmt_requests = [e for e in emu.request_log if e.bucket == "mgmt-00000"]
    assert {e.access_key_id for e in mgmt_requests} == {MANAGEMENT_KEY[0]}

    port = emu.port
    emu.stop()
    fixed = start(directory_document(without_role=frozenset()), port=port)
    try:
        originals = seed_policies(fixed)
        resumed = run_cli(fixed, "run", job_file, "--resume", cwd=world.folder)
        assert resumed.returncode == 0, resumed.stderr
        fetched = {e.bucket for e in fixed.request_log if e.bucket and e.method == "GET"}
        assert fetched == set(buckets_of(NO_ROLE))  # only the member that was missing
    finally:
        fixed.stop()
    summary, folder_summary = read_json(report / "summary.json"), read_json(backup / "summary.json")
    assert summary["missing_accounts"] == folder_summary["missing_accounts"] == []
    assert accounts_of(summary)[member] == ("ok", len(buckets_of(NO_ROLE)))
    assert (folder_summary["complete"], summary["exit_code"]) == (True, 0)
    index = read_jsonl(backup / "index.jsonl")
    assert sorted(e["bucket"] for e in index) == reachable()
    for bucket in buckets_of(NO_ROLE):
        assert (backup / "policies" / f"{bucket}.json").read_bytes() == originals[bucket]


# -- which members ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_include_and_exclude_take_ids_and_display_names(world: World) -> None:
    """include keeps members named by display name (a glob) or id, exclude drops one by
    id; every other member, the management account too, is `excluded` and not counted."""
    run = await world.run(
        world.manifest(include=["member-0[1-3]", member_id(11)], exclude=[member_id(2)])
    )
    assert run.exit_code == 0
    summary = read_json(run.report_folder / "summary.json")  # type: ignore[operator]
    ok = sorted(name for name, (status, _) in accounts_of(summary).items() if status == "ok")
    assert ok == [member_id(1), member_id(3), member_id(11)]
    reasons = {a["name"]: a["error"] for a in summary["accounts"]}
    assert reasons[member_id(2)] == "left out by exclude"
    assert reasons[MANAGEMENT_ID] == reasons[member_id(4)] == "left out by include"
    assert sorted(r["bucket"] for r in run.records()) == sorted(
        b for n in (1, 3, 11) for b in buckets_of(n)
    )


@pytest.mark.asyncio
async def test_folders_are_walked_down_their_subfolders(world: World) -> None:
    """`folders: [prod]` covers prod's members and those of web below it, not dev's nor
    the Root's management account; the folder calls page by number (pages of 100)."""
    run = await world.run(world.manifest(folders=[PROD]))
    summary = read_json(run.report_folder / "summary.json")  # type: ignore[operator]
    listed = {a["name"] for a in summary["accounts"]}
    assert listed == {member_id(n) for n in (1, 2, 3, 4, 5, 6, 11, 12)}
    assert run.exit_code == 0
    actions = {e.action for e in world.emu.request_log if e.action}
    assert {"ListFoldersForParent", "ListAccountsForParent"} <= actions
    assert "ListAccounts" not in actions


@pytest.mark.asyncio
async def test_a_member_whose_listing_fails_is_listing_failed_and_the_others_go_on(
    world: World,
) -> None:
    """A member whose ListBuckets is denied is `listing_failed` (named in
    `missing_accounts`, exit 1); every other member's buckets are backed up."""
    # the accounts list in the directory's order: management, member 1, member 2, …
    world.emu.script_fault("GET", "", "", status=403, code="AccessDenied", skip=2)
    run = await world.run(world.manifest())
    assert run.exit_code == 1
    summary = read_json(run.report_folder / "summary.json")  # type: ignore[operator]
    assert summary["missing_accounts"] == [member_id(2), member_id(NO_ROLE)]
    assert accounts_of(summary)[member_id(2)] == ("listing_failed", 0)
    backed_up = sorted(r["bucket"] for r in run.records())
    assert backed_up == reachable(2, NO_ROLE)
    assert run.to_json()["missing_accounts"] == [member_id(2), member_id(NO_ROLE)]


@pytest.mark.asyncio
async def test_a_directory_that_cannot_be_listed_stops_the_job_before_any_oss_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong secret of the directory account is one line naming it (exit 2: a
    PreflightError), and nothing is sent to OSS nor written."""
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "not-the-secret")
    with pytest.raises(PreflightError) as excinfo:
        await world.run(world.manifest())
    message = str(excinfo.value)
    assert message.startswith(
        "account org: the resource directory cannot be listed (GetResourceDirectory at "
    )
    assert "SignatureDoesNotMatch" in message
    assert "\n" not in message
    assert "not-the-secret" not in message
    assert [e.action for e in world.emu.request_log] == ["GetResourceDirectory"]
    assert not (world.folder / "reports").exists()


# -- writing jobs take the same account ---------------------------------------------------------


def test_apply_check_and_restore_take_the_directory_account(world: World) -> None:
    """`run --yes` of an apply over the directory merges the baseline into every reachable
    member's buckets (exit 1: one member unreachable); `check` then finds them compliant
    (exit 1 still, for that member); a restore of the apply's snapshot (incomplete: that
    member's buckets are not in it) with the same directory account gives every bucket
    its bytes back (exit 0: it had nothing of that member to restore)."""
    emu, folder = world.emu, world.folder
    write_baseline(folder)
    apply = {**world.manifest(), "action": "apply"}
    apply["policy"] = {"file": "baseline.json", "mode": "merge"}
    job_file = write_manifest(folder / "apply.yaml", apply)
    run = run_cli(emu, "run", job_file, "--yes", "--json", cwd=folder)
    assert run.returncode == 1, run.stderr
    answer = json.loads(run.stdout)
    assert answer["missing_accounts"] == [member_id(NO_ROLE)]
    ok = [a for a in answer["accounts"] if a["status"] == "ok"]
    assert sum(a["buckets"] for a in ok) == len(reachable(NO_ROLE))
    changed = {b for b in reachable(NO_ROLE) if emu.state.get_policy(b) != world.originals[b]}
    assert changed, "the apply changed nothing"
    check = run_cli(emu, "check", job_file, "--json", cwd=folder)
    assert check.returncode == 1, check.stderr
    assert json.loads(check.stdout)["counts"] == {"compliant": len(reachable(NO_ROLE))}

    snapshot = next(p for p in (folder / "backups").iterdir() if p.name.endswith("-pre"))
    restore = {**world.manifest(), "action": "restore", "source": str(snapshot)}
    del restore["targets"]
    restore_file = write_manifest(folder / "restore.yaml", restore)
    # the snapshot lacks the unreachable member's buckets: incomplete, restored as it is
    restored = run_cli(emu, "run", restore_file, "--yes", "--allow-incomplete", cwd=folder)
    # the member without the role holds none of the snapshot's buckets: nothing missing
    assert restored.returncode == 0, restored.stderr
    assert {b: emu.state.get_policy(b) for b in reachable(NO_ROLE)} == {
        b: world.originals[b] for b in reachable(NO_ROLE)
    }


def test_the_cli_runs_the_directory_job_without_a_secret_in_its_output(world: World) -> None:
    """The CLI's `--json` answer carries the per-account counts; no output holds the
    management account's secret (`run_cli` checks), and nor does any file the job wrote."""
    job_file = write_manifest(world.folder / "org.yaml", world.manifest())
    run = run_cli(world.emu, "run", job_file, "--json", cwd=world.folder)
    answer = json.loads(run.stdout)
    assert {a["name"]: a["status"] for a in answer["accounts"]}[member_id(NOT_JOINED)] == (
        "excluded"
    )
    for path in world.folder.rglob("*"):
        if path.is_file():
            assert MANAGEMENT_KEY[1] not in path.read_text(encoding="utf-8", errors="replace")


@pytest.mark.asyncio
async def test_a_restore_skips_the_buckets_of_a_member_it_cannot_reach(world: World) -> None:
    """A restore of a complete backup, with the directory account, when a member has lost
    the role since: that member's buckets are `skipped` (note `accounts`), named in
    `missing_accounts`, exit 1; every other bucket of the backup is restored."""
    port = world.emu.port
    world.emu.stop()
    emu = world.emu = start(directory_document(without_role=frozenset()), port=port)
    try:
        seed_policies(emu)
        backup = await world.run(world.manifest())
        assert (backup.exit_code, backup.summary.extra["complete"]) == (0, True)
    finally:
        emu.stop()
    emu = world.emu = start(directory_document(), port=port)
    try:
        for bucket in ALL_BUCKETS:
            emu.state.delete_policy(bucket)
        restore = {**world.manifest(), "action": "restore", "source": str(backup.backup_folder)}
        del restore["targets"]
        run = await world.run(restore)
        restored = {b: emu.state.get_policy(b) for b in ALL_BUCKETS}
    finally:
        emu.stop()
    assert run.exit_code == 1
    skipped = {r["bucket"]: r for r in run.records() if r["outcome"] == "skipped"}
    assert sorted(skipped) == buckets_of(NO_ROLE)
    assert {r["note"] for r in skipped.values()} == {"accounts"}
    assert run.summary.extra["missing_accounts"] == [member_id(NO_ROLE)]
    left = {*skipped, *buckets_of(NOT_JOINED)}  # not restored, or never backed up
    assert restored == {b: None if b in left else world.originals[b] for b in restored}


@pytest.mark.asyncio
async def test_a_restore_may_reach_members_its_backup_left_out(world: World) -> None:
    """A member the backup excluded (by `exclude`) recorded no credentials: a restore
    whose directory account includes it now is not refused for them."""
    backup = await world.run(world.manifest(exclude=[member_id(1), member_id(NO_ROLE)]))
    assert (backup.exit_code, backup.summary.extra["complete"]) == (0, True)
    restore = {**world.manifest(), "action": "restore", "source": str(backup.backup_folder)}
    del restore["targets"]
    run = await world.run(restore, allow_incomplete=False)
    assert (run.exit_code, run.summary.extra["missing_accounts"]) == (0, [])
    assert sorted(r["bucket"] for r in run.records()) == reachable(1, NO_ROLE)


def test_a_rollback_reaches_the_directory_members_again(world: World) -> None:
    """`rollback` of an apply over the directory (one member unreachable) finds the
    members again through the recorded directory account and puts every changed bucket
    back byte for byte; the unreachable member held none of the snapshot's buckets, so
    nothing is missing (exit 0)."""
    emu, folder = world.emu, world.folder
    write_baseline(folder)
    apply = {**world.manifest(), "action": "apply"}
    apply["policy"] = {"file": "baseline.json", "mode": "merge"}
    job_file = write_manifest(folder / "apply.yaml", apply)
    run = run_cli(emu, "run", job_file, "--yes", "--json", cwd=folder)
    job_id = json.loads(run.stdout)["job_id"]
    rolled = run_cli(
        emu, "rollback", job_id, "--yes", "--json", "--report-dir", "reports", cwd=folder
    )
    assert rolled.returncode == 0, rolled.stderr
    answer = json.loads(rolled.stdout)
    assert answer["missing_accounts"] == []
    statuses = {a["name"]: a["status"] for a in answer["accounts"]}
    assert statuses[member_id(NO_ROLE)] == "assume_failed"
    assert {b: emu.state.get_policy(b) for b in reachable(NO_ROLE)} == {
        b: world.originals[b] for b in reachable(NO_ROLE)
    }


@pytest.mark.asyncio
async def test_a_directory_endpoint_nothing_listens_on_is_one_line_after_the_retries(
    world: World, unused_tcp_port: int
) -> None:
    """No answer from the directory's endpoint is a NetworkError, retried under
    `retry.attempts`, then one line naming the account and the endpoint (exit 2)."""
    nowhere = f"http://127.0.0.1:{unused_tcp_port}"
    with pytest.raises(PreflightError) as excinfo:
        await world.run(world.manifest(endpoint=nowhere))
    message = str(excinfo.value)
    assert message.startswith(
        f"account org: the resource directory cannot be listed (GetResourceDirectory at "
        f"{nowhere}): NetworkError: "
    )
    assert "\n" not in message
    assert world.emu.request_log == []
