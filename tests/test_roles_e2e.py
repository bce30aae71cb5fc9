"""`osspolicy roles` prints what a directory job really needs, no more (issue 22, §17).

The policies are taken from the real console script's output; then the jobs run against
the emulator playing a directory whose members have only that role, and every request
the emulator logged is checked against them: an OSS call (named by its method and
sub-resource, the wire spec's way) must be allowed by `read` in a read-only job and by
`write` in a writing one, a directory call or an AssumeRole by `caller`, and those only
ever come from the directory account's own key. The other way round, every action the
policies print is one that some job sent: nothing is granted for nothing.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import parse_manifest
from osspolicy.emulator import Emulator
from osspolicy.emulator.handler import RequestLogEntry
from osspolicy.emulator.routes import ROUTES

from .e2e_helpers import CliRun, original_policy, run_cli_with

MANAGEMENT_ID = "1000000000000001"
MANAGEMENT_KEY = ("LTAI5tRolesManagement", "roles-management-Secret-3c9e1a7f")
ROLE = "osspolicy-member"
ROOT, PROD, WEB = "r-root00", "fd-prod000001", "fd-web0000001"

#: what each OSS request the emulator serves is, by (method, on a bucket?, sub-resource):
#: the API name, whose RAM action is `oss:<API>` (the OSS RAM policy reference)
OSS_API = {
    ("GET", False, ""): "ListBuckets",
    ("PUT", True, ""): "PutBucket",
    ("DELETE", True, ""): "DeleteBucket",
    ("GET", True, "bucketInfo"): "GetBucketInfo",
    ("GET", True, "policy"): "GetBucketPolicy",
    ("PUT", True, "policy"): "PutBucketPolicy",
    ("DELETE", True, "policy"): "DeleteBucketPolicy",
    ("GET", True, "policyStatus"): "GetBucketPolicyStatus",
    ("GET", True, "publicAccessBlock"): "GetBucketPublicAccessBlock",
    ("PUT", True, "publicAccessBlock"): "PutBucketPublicAccessBlock",
    ("DELETE", True, "publicAccessBlock"): "DeleteBucketPublicAccessBlock",
}
#: a public grant: planning it reads each bucket's Block Public Access
PUBLIC_BASELINE = {
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
#: a baseline naming the bucket's owner: its id comes from ListBuckets
OWNER_BASELINE = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "owner-reads-logs",
            "Effect": "Allow",
            "Principal": ["${account_id}"],
            "Action": ["oss:GetObject"],
            "Resource": ["acs:oss:*:${account_id}:${bucket}/logs/*"],
        }
    ],
}


def member_id(number: int) -> str:
    return f"2{number:015d}"


def directory_document() -> dict[str, Any]:
    """A management account with keys and buckets, and three members with only the
    least-privilege role: one in prod, one in Shanghai, one in a folder below prod."""
    members = [(1, PROD, "m1-:3"), (2, PROD, "m2-:2:cn-shanghai"), (3, WEB, "m3-:3")]
    return {
        "management": MANAGEMENT_ID,
        "folders": [
            {"id": ROOT, "name": "Root"},
            {"id": PROD, "name": "prod", "parent": ROOT},
            {"id": WEB, "name": "web", "parent": PROD},
        ],
        "accounts": [
            {
                "id": MANAGEMENT_ID,
                "name": "management",
                "status": "CreateSuccess",
                "folder": ROOT,
                "access_key_id": MANAGEMENT_KEY[0],
                "access_key_secret": MANAGEMENT_KEY[1],
                "buckets": ["mgmt-:2"],
            },
            *(
                {
                    "id": member_id(number),
                    "name": f"member-{number}",
                    "status": "CreateSuccess",
                    "folder": folder,
                    "roles": [ROLE],
                    "buckets": [buckets],
                }
                for number, folder, buckets in members
            ),
        ],
    }


# -- a RAM policy, evaluated as RAM does for an Allow ---------------------------------------


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether an Allow statement of `policy` names the action and the resource (RAM's
    wildcards are fnmatch's `*`; nothing here denies)."""
    return any(
        statement["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action, a) for a in _as_list(statement["Action"]))
        and any(fnmatch.fnmatchcase(resource, r) for r in _as_list(statement["Resource"]))
        for statement in policy["Statement"]
    )


def printed_actions(policy: dict[str, Any]) -> set[str]:
    return {a for statement in policy["Statement"] for a in _as_list(statement["Action"])}


# -- what the emulator saw -------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One logged request as RAM sees it: the action, the resource, who signed it."""

    action: str
    resource: str
    key: str | None
    status: int | None


def as_call(emu: Emulator, entry: RequestLogEntry) -> Call:
    """The RAM action and resource of a logged request; a request this table does not
    know fails the test (a new call needs a new line here, and in `roles.py`)."""
    if entry.action == "AssumeRole":
        # the log holds no RoleArn; every member has only ROLE, so it was this one
        return Call("sts:AssumeRole", f"acs:ram::*:role/{ROLE}", entry.access_key_id, entry.status)
    if entry.action is not None:  # a ResourceDirectoryMaster call
        return Call(f"resourcemanager:{entry.action}", "*", entry.access_key_id, entry.status)
    api = OSS_API.get((entry.method, entry.bucket is not None, entry.subresource))
    assert api is not None, f"an OSS request no policy names: {entry}"
    if entry.bucket is None:  # service-level: the caller's own buckets
        resource = "acs:oss:*:*:*"
    else:
        owner = emu.state.find_owner(entry.bucket)
        resource = f"acs:oss:{entry.region}:{owner}:{entry.bucket}"
    return Call(f"oss:{api}", resource, entry.access_key_id, entry.status)


@dataclass
class Directory:
    emu: Emulator
    folder: Path
    roles: dict[str, Any]
    #: every action the jobs sent so far, by kind of job
    sent: dict[str, set[str]] = field(default_factory=lambda: {"read": set(), "write": set()})

    def manifest(self, action: str = "backup", **directory: Any) -> dict[str, Any]:
        endpoint = self.emu.endpoint
        return {
            "version": 1,
            "action": action,
            "accounts": [
                {
                    "name": "org",
                    "credentials": {"type": "env"},
                    "resource_directory": {
                        "role": self.roles["role"],
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

    async def run(self, kind: str, data: dict[str, Any], **options: Any) -> JobRun:
        """Run a job with a clean request log, then check each call it sent against the
        printed policies: OSS calls against `kind` (read or write), the others against
        `caller`, signed by the directory account's key."""
        self.emu.clear_log()
        manifest = parse_manifest(data, source="org.yaml", base=self.folder)
        run = await run_job(manifest, RunOptions(**options))
        calls = [as_call(self.emu, e) for e in self.emu.request_log]
        assert calls, "the job sent nothing"
        for call in calls:
            assert call.status is not None, call
            assert call.status < 500, call
            assert call.status != 403, f"the emulator refused {call}"
            if call.action.startswith("oss:"):
                assert allows(self.roles[kind], call.action, call.resource), (kind, call)
            else:
                assert allows(self.roles["caller"], call.action, call.resource), call
                assert call.key == MANAGEMENT_KEY[0], call
        self.sent[kind].update(call.action for call in calls)
        return run


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    """The directory on an emulator (every other bucket with a policy), the policies as
    `osspolicy roles --json` prints them for its management account, and the management
    account's keys in the environment."""
    folder = tmp_path_factory.mktemp("roles")
    printed = run_cli_with(
        no_credentials(),
        "roles",
        "--role",
        ROLE,
        "--management-account",
        MANAGEMENT_ID,
        "--json",
        cwd=folder,
    )
    assert printed.returncode == 0, printed.stderr
    emu = Emulator(resource_directory=directory_document()).start()
    mp = pytest.MonkeyPatch()
    mp.setenv("OSS_ACCESS_KEY_ID", MANAGEMENT_KEY[0])
    mp.setenv("OSS_ACCESS_KEY_SECRET", MANAGEMENT_KEY[1])
    try:
        names = sorted(b.name for b in emu.state.list_buckets("", "", 1000).buckets)
        for index, name in enumerate(names):
            if (body := original_policy(name, index)) is not None:
                emu.state.put_policy(name, body)
        yield Directory(emu, folder, json.loads(printed.stdout))
    finally:
        mp.undo()
        emu.stop()


def no_credentials() -> dict[str, str]:
    """This environment without any credential: `roles` sends nothing and needs none."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OSS_", "ALIBABA_CLOUD_"))}


def write_file(folder: Path, name: str, document: dict[str, Any]) -> str:
    (folder / name).write_text(json.dumps(document), encoding="utf-8")
    return name


# -- the printed documents ---------------------------------------------------------------------


def test_the_printed_policies_have_the_shape_ram_takes(directory: Directory) -> None:
    """`read`, `write` and `caller` are permission policies (Version "1", a list of
    Allow statements with Action and Resource); `trust` lets the management account's
    RAM identities assume the role; `write` is `read` plus the two writes, nothing else."""
    roles = directory.roles
    assert (roles["role"], roles["management_account"]) == (ROLE, MANAGEMENT_ID)
    for name in ("read", "write", "caller"):
        policy = roles[name]
        assert set(policy) == {"Version", "Statement"}
        assert policy["Version"] == "1"
        assert isinstance(policy["Statement"], list)
        assert policy["Statement"]
        for statement in policy["Statement"]:
            assert set(statement) == {"Effect", "Action", "Resource"}, name
            assert statement["Effect"] == "Allow"
    assert roles["trust"] == {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"RAM": [f"acs:ram::{MANAGEMENT_ID}:root"]},
            }
        ],
    }
    added = printed_actions(roles["write"]) - printed_actions(roles["read"])
    assert added == {"oss:PutBucketPolicy", "oss:DeleteBucketPolicy"}
    assert printed_actions(roles["read"]) < printed_actions(roles["write"])
    every = printed_actions(roles["write"]) | printed_actions(roles["caller"])
    assert set(roles["actions"]) == every  # each action says which commands need it


def test_the_table_of_oss_requests_covers_every_route_the_emulator_serves() -> None:
    """No OSS request can slip past the checks below unnamed."""
    assert {(m, scope == "bucket", sub) for scope, m, sub in ROUTES} == set(OSS_API)


# -- the jobs, against them --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_read_only_jobs_send_only_what_read_and_caller_allow(directory: Directory) -> None:
    """A backup of the whole directory and one of a folder (walked down), a check and a
    plan of a `${account_id}` baseline, and a plan of a public grant (which reads Block
    Public Access): every call is allowed by `read` (OSS) or `caller` (the directory, the
    AssumeRole into each member), and together they use every action of both."""
    backup = await directory.run("read", directory.manifest())
    assert backup.exit_code == 0
    assert len(backup.records()) == 10
    by_folder = await directory.run("read", directory.manifest(folders=[PROD]))
    assert (by_folder.exit_code, len(by_folder.records())) == (0, 8)
    owner = write_file(directory.folder, "owner.json", OWNER_BASELINE)
    apply = {**directory.manifest("apply"), "policy": {"file": owner, "mode": "merge"}}
    check = await directory.run("read", apply, check=True)
    assert check.exit_code == 3
    plan = await directory.run("read", apply, dry_run=True)
    assert plan.exit_code == 0
    public = write_file(directory.folder, "public.json", PUBLIC_BASELINE)
    public_plan = {**directory.manifest("apply"), "policy": {"file": public, "mode": "merge"}}
    planned = await directory.run("read", public_plan, dry_run=True)
    assert {r["outcome"] for r in planned.records()} == {"planned"}
    assert directory.sent["read"] == (
        printed_actions(directory.roles["read"]) | printed_actions(directory.roles["caller"])
    )


@pytest.mark.asyncio
async def test_writing_jobs_send_only_what_write_and_caller_allow(directory: Directory) -> None:
    """A backup, a merge apply of a `${account_id}` baseline (a snapshot, then a PUT per
    bucket) and a restore of the backup (a PUT where there was a policy, a DELETE where
    there was none): every call is allowed by `write` or `caller`, and the apply and the
    restore use both writes `write` adds."""
    backup = await directory.run("read", directory.manifest())
    assert backup.exit_code == 0
    owner = write_file(directory.folder, "owner.json", OWNER_BASELINE)
    apply = {**directory.manifest("apply"), "policy": {"file": owner, "mode": "merge"}}
    applied = await directory.run("write", apply)
    assert (applied.exit_code, {r["outcome"] for r in applied.records()}) == (0, {"applied"})
    restore = {**directory.manifest("restore"), "source": str(backup.backup_folder)}
    del restore["targets"]
    restored = await directory.run("write", restore)
    assert restored.exit_code == 0
    assert {r["outcome"] for r in restored.records()} == {"applied", "deleted"}
    writes = printed_actions(directory.roles["write"]) - printed_actions(directory.roles["read"])
    assert writes <= directory.sent["write"]
    assert directory.sent["write"] <= _all_printed(directory.roles)


def _all_printed(roles: dict[str, Any]) -> set[str]:
    return printed_actions(roles["write"]) | printed_actions(roles["caller"])


# -- the command itself ---------------------------------------------------------------------------


def _roles(tmp_path: Path, *args: str) -> CliRun:
    return run_cli_with(no_credentials(), "roles", *args, cwd=tmp_path)


def test_without_the_management_account_the_trust_policy_trusts_no_one(tmp_path: Path) -> None:
    """`--only trust` alone prints the bare trust document; without
    `--management-account` its principal is a placeholder no account matches (never `*`
    nor an empty list, which would look like a policy and trust too much), and stderr
    says what to pass."""
    done = _roles(tmp_path, "--only", "trust")
    assert done.returncode == 0, done.stderr
    trust = json.loads(done.stdout)
    assert trust["Statement"][0]["Principal"] == {"RAM": ["acs:ram::<management-account-id>:root"]}
    assert "--management-account" in done.stderr


@pytest.mark.parametrize(
    ("args", "place"),
    [
        (["--management-account", "1000-0000"], "--management-account '1000-0000'"),
        (["--role", "osspolicy reader"], "--role 'osspolicy reader'"),
        (["--only", "admin"], "--only 'admin'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], place: str) -> None:
    """An account id with a dash, a role name RAM refuses, an unknown document: one line
    naming the option and the fix, exit 2, nothing on stdout."""
    done = _roles(tmp_path, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"osspolicy: error: {place} ")
