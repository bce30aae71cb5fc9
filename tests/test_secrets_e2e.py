"""Secrets never reach disk (contracts §14), end to end: `osspolicy` subprocesses over
real HTTP against the emulator, with a sentinel planted in every secret a credential
type can hold, then every file under the jobs' report and backup folders and every
output grepped for each sentinel.

The emulator can serve `env` keys, a `credentials_uri` (a server here, its URI with a
userinfo password and a query token, answering a security token), and `ram_role_arn`
through its STS (a credentials URI as the source). OIDC (its token in a file) and an
aliyun CLI profile (its secret in `config.json`) need the real cloud: their jobs fail
fast, and what they print is grepped too. Resume, rollback and restore take the real
URI from the manifest given now or from `ALIBABA_CLOUD_CREDENTIALS_URI`, and refuse one
whose sha256 differs, naming the account.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from osspolicy._internal.redact import URI_ENV
from osspolicy.emulator import Emulator
from osspolicy.emulator.accounts import Account as EmulatorAccount

from .credentials_uri import CredentialsUri
from .e2e_helpers import (
    SUBPROCESS_TIMEOUT_S,
    CliRun,
    connection,
    osspolicy_command,
    read_jsonl,
    write_baseline,
    write_manifest,
)

MAIN = EmulatorAccount("1000000000000001", "LTAI5tSecretsMain", "Main-Secret-SENTINEL-51c7")
ROLE = EmulatorAccount("2000000000000002", "LTAI5tSecretsRole", "Role-Secret-SENTINEL-a90e")
ROLE_ARN = f"acs:ram::{ROLE.account_id}:role/osspolicy"
URI_PASSWORD = "Userinfo-SENTINEL-77b2"
URI_TOKEN = "Query-SENTINEL-0d4e"
SECURITY_TOKEN = "Security-Token-SENTINEL-c3f8"
OIDC_TOKEN = "Oidc-Token-SENTINEL-e61a"
PROFILE_SECRET = "Profile-Secret-SENTINEL-2b9d"
#: every secret planted; none may appear in any file a job writes or in any output
SENTINELS = (
    MAIN.access_key_secret,
    ROLE.access_key_secret,
    URI_PASSWORD,
    URI_TOKEN,
    SECURITY_TOKEN,
    OIDC_TOKEN,
    PROFILE_SECRET,
)
ENV_BUCKETS = [f"sec-env-{i}" for i in range(4)]
URI_BUCKETS = [f"sec-uri-{i}" for i in range(4)]
ROLE_BUCKETS = [f"sec-role-{i}" for i in range(4)]
#: named but never created: its NoSuchBucket leaves the backup resumable
MISSING = "sec-uri-missing"
POLICY = json.dumps(
    {
        "Version": "1",
        "Statement": [
            {
                "Sid": "own",
                "Effect": "Allow",
                "Principal": ["20214760404935"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:sec-*/*"],
            }
        ],
    }
).encode()


@dataclass(frozen=True)
class World:
    """The emulator, the credentials URI (never in a repr: it holds sentinels), the
    test's folder."""

    emu: Emulator
    uri: str = field(repr=False)
    folder: Path = field(default=Path())

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.folder / "home"),
            "OSS_ACCESS_KEY_ID": MAIN.access_key_id,
            "OSS_ACCESS_KEY_SECRET": MAIN.access_key_secret,
        }
        return {**env, **extra}

    def run(self, *args: str | Path, **env: str) -> CliRun:
        done = subprocess.run(
            osspolicy_command(*args),
            cwd=self.folder,
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
        run = CliRun(done.returncode, done.stdout, done.stderr)
        for sentinel in SENTINELS:
            assert sentinel not in run.stdout + run.stderr, (sentinel, args)
        return run

    def accounts(self, uri: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "name": "envkeys",
                "credentials": {"type": "env"},
                "targets": {"buckets": ENV_BUCKETS},
            },
            {
                "name": "viauri",
                "credentials": {"type": "credentials_uri", "uri": uri or self.uri},
                "targets": {"buckets": [*URI_BUCKETS, MISSING]},
            },
            {
                "name": "role",
                "credentials": {
                    "type": "ram_role_arn",
                    "role_arn": ROLE_ARN,
                    "external_id": "osspolicy-e2e",
                    "sts_endpoint": self.emu.endpoint,
                    "source": {"type": "credentials_uri", "uri": uri or self.uri},
                },
                "targets": {"buckets": ROLE_BUCKETS},
            },
        ]

    def manifest(self, name: str, action: str, uri: str | None = None, **extra: Any) -> Path:
        return write_manifest(
            self.folder / name,
            {
                "version": 1,
                "action": action,
                "accounts": self.accounts(uri),
                "connection": connection(self.emu),
                "concurrency": 4,
                "retry": {"attempts": 2, "base_delay_s": 0},
                "backup_dir": "backups",
                "report_dir": "reports",
                **extra,
            },
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The emulator with two accounts and their buckets, the credentials URI, a HOME."""
    (tmp_path / "home").mkdir()
    with (
        Emulator(accounts=[MAIN, ROLE], sts_duration_s=3600) as emu,
        CredentialsUri(
            MAIN.access_key_id,
            MAIN.access_key_secret,
            token=SECURITY_TOKEN,
            path="/creds",
            userinfo=f"osspolicy:{URI_PASSWORD}",
            query=f"token={URI_TOKEN}",
        ) as server,
    ):
        emu.seed_buckets([*ENV_BUCKETS, *URI_BUCKETS], policy=lambda _name: POLICY)
        emu.seed_buckets(ROLE_BUCKETS, policy=lambda _name: POLICY, account_id=ROLE.account_id)
        yield World(emu, server.uri, tmp_path)


def job_folder(world: World, action: str) -> Path:
    """The first job of `action` (job ids sort by start time)."""
    found = sorted((world.folder / "reports").glob(f"*-{action}-*"))
    assert found, action
    return found[0]


def assert_no_sentinel_on_disk(root: Path) -> None:
    """No file under `root` holds any sentinel, in any form a writer could give it."""
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for sentinel in SENTINELS:
                assert sentinel.encode() not in data, (sentinel, path)


def test_no_secret_of_any_credential_type_reaches_a_file_or_the_output(world: World) -> None:
    """Backup, its resume, apply, rollback and restore with env keys, a credentials URI
    (userinfo password, query token, security token) and a ram_role_arn over it, and
    fail-fast jobs of oidc and profile accounts: no sentinel in any file of reports/ or
    backups/, nor in any output; each recorded URI is its redacted form and sha256."""
    uri_sha = hashlib.sha256(world.uri.encode()).hexdigest()
    backup = world.manifest("backup.yaml", "backup")
    assert world.run("run", backup).returncode == 1  # MISSING fails: resumable
    assert world.run("run", backup, "--resume").returncode == 1
    write_baseline(world.folder)
    apply = world.manifest("apply.yaml", "apply", policy={"file": "baseline.json", "mode": "merge"})
    assert world.run("run", apply, "--yes").returncode == 1
    applied = job_folder(world, "apply")
    done = world.run("rollback", applied.name, "--yes", **{URI_ENV: world.uri})
    assert done.returncode == 0, done.stderr
    backup_folder = next(p for p in (world.folder / "backups").iterdir() if "-backup-" in p.name)
    restore = world.run(
        "restore", backup_folder, "--region", world.emu.region, "--endpoint",
        world.emu.endpoint, "--allow-incomplete", "--yes", **{URI_ENV: world.uri},
    )  # fmt: skip
    assert restore.returncode in {0, 1}, restore.stderr
    assert len([p for p in (world.folder / "reports").iterdir() if p.is_dir()]) == 4

    token_file = world.folder / "oidc-token"
    token_file.write_text(OIDC_TOKEN, encoding="utf-8")
    profile = world.folder / "home" / ".aliyun" / "config.json"
    profile.parent.mkdir()
    profile.write_text(
        json.dumps(
            {
                "current": "sec",
                "profiles": [
                    {
                        "name": "sec",
                        "mode": "AK",
                        "access_key_id": "LTAI5tProfileKey",
                        "access_key_secret": PROFILE_SECRET,
                        "region_id": world.emu.region,
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    for kind, spec in {
        "oidc": {
            "type": "oidc",
            "role_arn": ROLE_ARN,
            "oidc_provider_arn": "acs:ram::2000000000000002:oidc-provider/e2e",
            "oidc_token_file_path": str(token_file),
            "sts_endpoint": world.emu.endpoint,
        },
        "profile": {"type": "profile", "profile": "sec"},
    }.items():
        path = write_manifest(
            world.folder / f"{kind}.yaml",
            {
                "action": "backup",
                "accounts": [{"name": kind, "credentials": spec}],
                "targets": {"buckets": ENV_BUCKETS},
                "connection": connection(world.emu),
                "backup_dir": "backups",
                "report_dir": "reports",
            },
        )
        assert world.run("validate", path).returncode == 0
        assert world.run("run", path).returncode in {1, 2}

    assert_no_sentinel_on_disk(world.folder / "reports")
    assert_no_sentinel_on_disk(world.folder / "backups")
    recorded = yaml.safe_load((job_folder(world, "backup") / "manifest.yaml").read_text())
    assert recorded["accounts"][1]["credentials"]["uri_sha256"] == uri_sha
    assert recorded["accounts"][1]["credentials"]["uri"].startswith("http://…@127.0.0.1:")
    header = read_jsonl(job_folder(world, "backup") / "journal.jsonl")[0]
    assert header["outcome"]["accounts"][2]["credentials"]["source"]["uri_sha256"] == uri_sha
    summary = json.loads((backup_folder / "summary.json").read_bytes())
    by_name: Mapping[str, Any] = {a["name"]: a for a in summary["accounts"]}
    assert by_name["viauri"]["credentials"]["uri"].endswith("/creds?…")


@pytest.fixture
def backed_up(world: World) -> World:
    """A backup of the three accounts, resumable (MISSING failed)."""
    assert world.run("run", world.manifest("backup.yaml", "backup")).returncode == 1
    return world


@pytest.mark.parametrize("which", ["job-id", "latest"])
def test_a_resume_given_another_credentials_uri_is_refused_naming_the_account(
    backed_up: World, which: str
) -> None:
    """`--resume JOB` (or `--resume` alone) with a credentials URI whose sha256 is not the
    recorded one: exit 2, one line naming the account, nothing run."""
    job = job_folder(backed_up, "backup")
    other = backed_up.manifest("backup.yaml", "backup", uri=backed_up.uri.replace("token=", "t="))
    before = (job / "journal.jsonl").read_bytes()
    resume = ["--resume", job.name] if which == "job-id" else ["--resume"]
    run = backed_up.run("run", other, *resume)
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("osspolicy: error: account viauri: the credentials given now ")
    assert len(run.stderr.splitlines()) == 1
    assert (job / "journal.jsonl").read_bytes() == before


def test_a_restore_given_another_credentials_uri_is_refused_naming_the_account(
    backed_up: World,
) -> None:
    """Restoring the backup with ALIBABA_CLOUD_CREDENTIALS_URI holding another URI than
    the recorded one: exit 2, one line naming the account, nothing written."""
    backup_folder = next((backed_up.folder / "backups").iterdir())
    run = backed_up.run(
        "restore", backup_folder, "--region", backed_up.emu.region, "--endpoint",
        backed_up.emu.endpoint, "--allow-incomplete", "--yes",
        **{URI_ENV: backed_up.uri + "&x=1"},
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("osspolicy: error: account viauri: the backup ")
    assert URI_ENV in run.stderr
    assert not [e for e in backed_up.emu.request_log if e.method in {"PUT", "DELETE"}]
