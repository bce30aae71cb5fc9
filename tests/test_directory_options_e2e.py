"""A directory job's run options, end to end (issue 22, contracts §1, §5, §17):
`sts_rate_limit`, `account_concurrency`, `max_failed_accounts` / `_rate`, the member list
a resume keeps, the CA bundle of the directory and STS calls, the per-account counts.

One emulator plays a directory for most tests: the management account (keys, one
bucket), member 1 (`slow`: two buckets a test may make hang), members 2-6 (three buckets
each), member 7 without the role (`assume_failed`) and member 8 not joined yet
(`excluded`). Jobs reach it with Alibaba's SDK package for the directory, AssumeRole
with the credentials library, the buckets with the OSS SDK: no mock anywhere. What is
asserted is counted (the emulator's request log, the job's own accounting), not timed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.journal import read_header
from osspolicy._internal.manifest import parse_manifest
from osspolicy._internal.ratelimit import RateLimit
from osspolicy.emulator import Emulator

from .e2e_helpers import read_jsonl, run_cli, write_manifest

MANAGEMENT_ID = "1000000000000001"
MANAGEMENT_KEY = ("LTAI5tRdOptionsManagement", "rd-options-Secret-91c3e5a7")
ROLE = "ResourceDirectoryAccountAccessRole"
ROOT = "r-root00"
SLOW, NO_ROLE, NOT_JOINED = 1, 7, 8
MEMBERS = range(1, 9)


def member_id(number: int) -> str:
    return f"3{number:015d}"


def buckets_of(number: int) -> list[str]:
    """The buckets seeded for member `number`."""
    if number == SLOW:
        return ["slow-00000", "slow-00001"]
    if number in {NO_ROLE, NOT_JOINED}:
        return [f"m{number:02d}-00000"]
    return [f"m{number:02d}-{i:05d}" for i in range(3)]


def member(number: int, **changes: Any) -> dict[str, Any]:
    """One member as the emulator's directory file writes it."""
    entry: dict[str, Any] = {
        "id": member_id(number),
        "name": "slow" if number == SLOW else f"member-{number:02d}",
        "status": "PromoteVerifying" if number == NOT_JOINED else "CreateSuccess",
        "folder": ROOT,
        "roles": [] if number == NO_ROLE else [ROLE],
        "buckets": [f"{buckets_of(number)[0][:-5]}:{len(buckets_of(number))}"],
    }
    return {**entry, **changes}


def directory_document(*members: dict[str, Any]) -> dict[str, Any]:
    """A directory of the management account and `members` (default: 1-8)."""
    management = {
        "id": MANAGEMENT_ID,
        "name": "management",
        "status": "CreateSuccess",
        "folder": ROOT,
        "access_key_id": MANAGEMENT_KEY[0],
        "access_key_secret": MANAGEMENT_KEY[1],
        "buckets": ["mgmt-:1"],
    }
    return {
        "management": MANAGEMENT_ID,
        "folders": [{"id": ROOT, "name": "Root"}],
        "accounts": [management, *(members or [member(n) for n in MEMBERS])],
    }


def directory_manifest(emu: Emulator, **top: Any) -> dict[str, Any]:
    """A backup of the directory's buckets; `top`: more top-level keys, and
    `directory=` more keys of the resource_directory."""
    directory = top.pop("directory", {})
    return {
        "version": 1,
        "action": "backup",
        "accounts": [
            {
                "name": "org",
                "credentials": {"type": "env"},
                "resource_directory": {
                    "endpoint": emu.endpoint,
                    "sts_endpoint": emu.endpoint,
                    **directory,
                },
            }
        ],
        "targets": {"discover": {}},
        "connection": {"region": "cn-hangzhou", "endpoint": emu.endpoint},
        "retry": {"attempts": 1, "base_delay_s": 0, "max_delay_s": 0},
        "backup_dir": "backups",
        "report_dir": "reports",
        **top,
    }


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """The module's directory on one emulator (tests clear its log and faults)."""
    with Emulator(resource_directory=directory_document()) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def management_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The directory account's credentials (type env) are the management account's."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", MANAGEMENT_KEY[0])
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", MANAGEMENT_KEY[1])


@pytest.fixture
def fresh(emu: Emulator) -> Iterator[Emulator]:
    """The module's emulator with an empty request log and no fault left behind."""
    emu.clear_log()
    emu.clear_scripted_faults()
    yield emu
    emu.clear_scripted_faults()


async def run(folder: Path, data: dict[str, Any], **options: Any) -> JobRun:
    manifest = parse_manifest(data, source="org.yaml", base=folder)
    return await run_job(manifest, RunOptions(**options))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def statuses(accounts: list[dict[str, Any]]) -> dict[str, str]:
    return {a["name"]: a["status"] for a in accounts}


def policy_reads(emu: Emulator) -> list[Any]:
    """The GetBucketPolicy requests of the log, in the order they arrived."""
    found = [e for e in emu.request_log if e.subresource == "policy" and e.method == "GET"]
    return sorted(found, key=lambda e: e.time)


# -- sts_rate_limit ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sts_rate_limit_paces_every_assume_role_into_the_members(
    fresh: Emulator, tmp_path: Path
) -> None:
    """At `sts_rate_limit: 4` every one of the seven AssumeRole calls the service sees
    (one per member, the refused one included; none for the management account nor the
    member not joined) went through the job's pace: its own accounting counts the same
    calls, at 4 a second, never more than 4 + its burst started within one second (the
    schedule itself is pinned on a fake clock in test_ratelimit.py; the service's
    arrivals may bunch by the calls' transit). This test takes about 1.5 s by nature."""
    job = await run(tmp_path, directory_manifest(fresh, sts_rate_limit=4))

    assume_roles = [e for e in fresh.request_log if e.action == "AssumeRole"]
    assert len(assume_roles) == len(MEMBERS) - 1
    pace = job.summary.extra["assume_role"]
    assert (pace["calls"], pace["per_second"]) == (len(assume_roles), 4.0)
    assert 1 <= pace["busiest_second"] <= 4 + RateLimit.per_second(4).at_once
    assert statuses(job.summary.extra["accounts"])[member_id(NO_ROLE)] == "assume_failed"


def test_a_bad_sts_rate_limit_stops_the_job_at_the_door(fresh: Emulator, tmp_path: Path) -> None:
    """`sts_rate_limit: 0` is one line naming the key and the fix, exit 2, and nothing is
    sent (neither the directory nor STS nor OSS hears of it)."""
    job_file = write_manifest(tmp_path / "org.yaml", directory_manifest(fresh, sts_rate_limit=0))
    done = run_cli(fresh, "run", job_file, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        (
            f"osspolicy: error: {job_file}: sts_rate_limit: is 0.0; write a positive number "
            "of calls a second, e.g. 20"
        )
    ]
    assert fresh.request_log == []


# -- account_concurrency -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_slow_account_keeps_its_cap_of_workers_and_the_others_go_on(
    fresh: Emulator, tmp_path: Path
) -> None:
    """With 2 workers and `account_concurrency: 1`, the slow member (each of its calls
    hangs until the 1 s call deadline) holds one worker at a time: every bucket of the
    three other members is read while its first bucket hangs, before its second one is
    sent; it ends `partial` (its two buckets failed Timeout), the others `ok`. The job's
    own accounting says one account never held more than 1 worker, the job 2."""
    for bucket in buckets_of(SLOW):
        fresh.script_fault("*", bucket, None, kind="hang", count=None)
    members = [SLOW, 2, 3, 4]
    data = directory_manifest(
        fresh,
        directory={"include": [member_id(n) for n in members]},
        concurrency=2,
        account_concurrency=1,
        timeouts={"call_s": 1.0},
    )
    job = await run(tmp_path, data)

    extra = job.summary.extra
    assert (extra["max_account_in_flight"], extra["max_in_flight"]) == (1, 2)
    reads = policy_reads(fresh)
    slow = [i for i, e in enumerate(reads) if e.bucket in buckets_of(SLOW)]
    others = [i for i, e in enumerate(reads) if e.bucket not in buckets_of(SLOW)]
    assert len(slow) == 2
    assert len(others) == 9
    assert max(others) < slow[1]  # all of them while the slow one held its one worker
    accounts = {a["name"]: a for a in extra["accounts"]}
    slow_account = accounts[member_id(SLOW)]
    assert (slow_account["status"], slow_account["counts"]) == ("partial", {"failed": 2})
    assert slow_account["error"] == "2 of its 2 buckets failed (see report.jsonl)"
    for number in (2, 3, 4):
        assert (accounts[member_id(number)]["status"], accounts[member_id(number)]["counts"]) == (
            "ok",
            {"no_policy": 3},
        )
    assert job.exit_code == 1


# -- max_failed_accounts / max_failed_account_rate ---------------------------------------------


def test_max_failed_accounts_stops_the_job_and_a_resume_finishes_it(
    fresh: Emulator, tmp_path: Path
) -> None:
    """`max_failed_accounts: 2`: the member without the role fails (AssumeRole), then
    member 3's first bucket is denied (member 3 `partial`): the job stops, every target
    left is `skipped` (note `accounts`), the accounts it did not finish are `skipped`,
    exit 1, and the console and summary say why. Once the denial is gone, `--resume`
    runs what was left (members 3-6 `ok`; the one without the role still missing). The
    console counts the accounts by status, and with -v lists each with its outcomes."""
    fresh.script_fault("GET", "m03-00000", "policy", status=403, code="AccessDenied")
    data = directory_manifest(
        fresh,
        directory={"include": [member_id(n) for n in (2, 3, 4, 5, 6, NO_ROLE)]},
        concurrency=1,
        max_failed_accounts=2,
    )
    job_file = write_manifest(tmp_path / "org.yaml", data)

    stopped = run_cli(fresh, "-v", "run", job_file, cwd=tmp_path)
    assert stopped.returncode == 1, stopped.stderr
    why = (
        "2 of 6 accounts failed (assume_failed, listing_failed or partial), reaching "
        "max_failed_accounts (2)"
    )
    assert f"stopped: accounts: {why}" in stopped.stdout.splitlines()
    assert re.search(  # 3 excluded: the management account, members 1 and 8
        r"^accounts: .*1 partial, 1 assume_failed, \d+ skipped, 3 excluded \(9 in all\)$",
        stopped.stdout,
        re.MULTILINE,
    )
    each = {line.split(":")[0].strip(): line for line in stopped.stdout.splitlines()}
    assert each[member_id(NO_ROLE)] == f"  {member_id(NO_ROLE)}: assume_failed"  # -v: each
    assert each[member_id(3)].startswith(f"  {member_id(3)}: partial, 1 failed")
    (report,) = (tmp_path / "reports").iterdir()
    summary = read_json(report / "summary.json")
    assert summary["stopped"] == f"accounts: {why}"
    records = read_jsonl(report / "report.jsonl")
    every_bucket = sorted(b for n in (2, 3, 4, 5, 6) for b in buckets_of(n))
    assert sorted(r["bucket"] for r in records) == every_bucket  # each one its record
    left = [r for r in records if r["outcome"] == "skipped"]
    assert left, "the stop left no target"
    assert {(r["note"], r["error_message"]) for r in left} == {
        ("accounts", f"not attempted: {why}")
    }
    accounts = statuses(summary["accounts"])
    assert accounts[member_id(NO_ROLE)] == "assume_failed"
    assert accounts[member_id(3)] == "partial"
    skipped_accounts = {name for name, status in accounts.items() if status == "skipped"}
    assert skipped_accounts == {r["account"] for r in left} - {member_id(3)}
    assert set(summary["missing_accounts"]) == {
        member_id(NO_ROLE),
        member_id(3),
        *skipped_accounts,
    }

    fresh.clear_scripted_faults()
    resumed = anyio.run(functools.partial(run, tmp_path, data, resume="latest"))
    assert resumed.exit_code == 1
    answer = resumed.to_json()  # what --json prints
    assert answer["missing_accounts"] == [member_id(NO_ROLE)]
    by_name = {a["name"]: a for a in answer["accounts"]}
    for number in (2, 3, 4, 5, 6):
        assert (by_name[member_id(number)]["status"], by_name[member_id(number)]["counts"]) == (
            "ok",
            {"no_policy": 3},
        )
    records = read_jsonl(report / "report.jsonl")
    assert sorted(r["bucket"] for r in records) == every_bucket
    assert {r["outcome"] for r in records} == {"no_policy"}


@pytest.mark.asyncio
async def test_max_failed_account_rate_reached_before_any_bucket_skips_them_all(
    fresh: Emulator, tmp_path: Path
) -> None:
    """`max_failed_account_rate: 0.1` with one of the eight accounts unreachable: the job
    stops before its first bucket; every bucket is listed and `skipped` (note
    `accounts`), every other account `skipped`, no bucket's policy read."""
    job = await run(tmp_path, directory_manifest(fresh, max_failed_account_rate=0.1))

    assert job.exit_code == 1
    assert job.summary.extra["stopped"] == (
        "accounts: 1 of 8 accounts failed (assume_failed, listing_failed or partial), "
        "reaching max_failed_account_rate (0.1)"
    )
    records = job.records()
    assert {(r["outcome"], r["note"]) for r in records} == {("skipped", "accounts")}
    assert len(records) == 1 + sum(len(buckets_of(n)) for n in range(1, 7))
    accounts = statuses(job.summary.extra["accounts"])
    assert accounts.pop(member_id(NO_ROLE)) == "assume_failed"
    assert accounts.pop(member_id(NOT_JOINED)) == "excluded"
    assert set(accounts.values()) == {"skipped"}
    assert policy_reads(fresh) == []


# -- resume keeps the member list of the start --------------------------------------------------


def test_a_resume_covers_the_members_recorded_at_the_start(tmp_path: Path) -> None:
    """The job records its member list (ids, names, statuses, who is excluded and why) in
    its journal header. Between the job and its resume, member 7 gets the role, member
    6 leaves the directory and a member 9 joins: the resume lists nothing, backs up
    member 7's buckets, tries member 6 as recorded (it fails on its own, saying it was a
    member when the job started), never reaches member 9, and takes `sts_rate_limit`
    as given now; its `--json` carries each account's counts."""
    before = directory_document(*(member(n) for n in (2, 6, NO_ROLE, NOT_JOINED)))
    data: dict[str, Any]
    with Emulator(resource_directory=before) as emu:
        port = emu.port
        data = directory_manifest(emu)
        started = anyio.run(run, tmp_path, data)
    assert started.exit_code == 1
    report = started.report_folder
    assert report is not None
    header = anyio.run(read_header, report)
    assert header is not None
    assert header.started_with is not None
    recorded = header.started_with["directories"]["org"]
    assert recorded["management"] == MANAGEMENT_ID
    assert [(m["account_id"], m["display_name"], m["status"]) for m in recorded["members"]] == [
        (MANAGEMENT_ID, "management", "CreateSuccess"),
        (member_id(2), "member-02", "CreateSuccess"),
        (member_id(6), "member-06", "CreateSuccess"),
        (member_id(NO_ROLE), "member-07", "CreateSuccess"),
        (member_id(NOT_JOINED), "member-08", "PromoteVerifying"),
    ]
    assert [m["excluded"] for m in recorded["members"]] == [
        None,
        None,
        None,
        None,
        "its status is PromoteVerifying, not a member that has joined",
    ]

    after = directory_document(
        member(2),
        member(NO_ROLE, roles=[ROLE]),
        member(NOT_JOINED),
        member(9, name="member-09", buckets=["m09-:2"]),
    )
    job_file = write_manifest(tmp_path / "org.yaml", {**data, "sts_rate_limit": 7})
    with Emulator(resource_directory=after, port=port) as emu:
        resumed = run_cli(emu, "run", job_file, "--resume", "--json", cwd=tmp_path)
        log = emu.request_log
    assert resumed.returncode == 1, resumed.stderr
    assert not {"GetResourceDirectory", "ListAccounts"} & {e.action for e in log}
    # members 2, 6 and 7 as recorded, not member 9; none of its buckets is read
    assert len([e for e in log if e.action == "AssumeRole"]) == 3
    assert not [e for e in log if e.bucket and e.bucket.startswith("m09-")]
    answer = json.loads(resumed.stdout)
    by_name = {a["name"]: a for a in answer["accounts"]}
    assert member_id(9) not in by_name
    assert (by_name[member_id(NO_ROLE)]["status"], by_name[member_id(NO_ROLE)]["counts"]) == (
        "ok",
        {"no_policy": 1},
    )
    gone = by_name[member_id(6)]
    assert gone["status"] == "assume_failed"
    assert gone["error"].startswith(f"AssumeRole of acs:ram::{member_id(6)}:role/{ROLE} failed:")
    assert gone["error"].endswith(
        "(a member as listed when the job started, which its resume keeps)"
    )
    assert answer["missing_accounts"] == [member_id(6)]
    assert read_json(report / "summary.json")["assume_role"]["per_second"] == 7.0


# -- the directory and STS calls over TLS -------------------------------------------------------


@dataclass
class Tls:
    emu: Emulator
    ca: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    """A directory of two members on an emulator that speaks HTTPS only, from a test CA."""
    folder = tmp_path_factory.mktemp("tls")
    with Emulator(resource_directory=directory_document(member(2), member(3)), tls=True) as emu:
        yield Tls(emu, emu.write_ca(folder / "test-ca.pem"))


@pytest.mark.asyncio
@pytest.mark.parametrize("given_as", ["connection.ca_file", "REQUESTS_CA_BUNDLE"])
async def test_the_directory_and_sts_calls_trust_the_ca_the_oss_calls_trust(
    tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given_as: str
) -> None:
    """Over HTTPS, the test CA given only as `connection.ca_file` (or only as
    REQUESTS_CA_BUNDLE) is trusted by the directory's listing and AssumeRole too, not
    only by the OSS calls: every member is reached and backed up."""
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    data = directory_manifest(tls.emu)
    if given_as == "REQUESTS_CA_BUNDLE":
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca))
    else:
        data["connection"]["ca_file"] = str(tls.ca)
    job = await run(tmp_path, data)

    assert job.exit_code == 0, job.summary.extra
    assert statuses(job.summary.extra["accounts"]) == {
        MANAGEMENT_ID: "ok",
        member_id(2): "ok",
        member_id(3): "ok",
    }
    assert len(job.records()) == 1 + 3 + 3
