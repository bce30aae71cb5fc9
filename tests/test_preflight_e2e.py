"""Pre-flight, end to end (contracts §15): the common mistakes of a new user, each run
through the real console script and SDK against the emulator.

Each (account, region) is gated by its first call. When that call fails for a cause
retrying cannot fix, before any target finished, the job stops: one line naming the
account, the host and the fix, exit 2, at most 2 requests, no backup folder, no resume
line, and nothing `--resume` would find. Later, or for one account of several, only
that pair's targets are `skipped` (note `preflight`). A transient first call is no
pre-flight failure.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy._internal.job import run_job
from osspolicy._internal.manifest import parse_manifest
from osspolicy.emulator import Emulator

from .e2e_helpers import (
    credentials_env,
    no_sleep,
    read_jsonl,
    run_cli_with,
    write_manifest,
)
from .resolver import resolve_to_loopback

#: the transport is what this module tests: `make test` runs it on both engines
pytestmark = pytest.mark.both_engines

WRONG_SECRET = "WrongSecretValue-9f8e7d6c5b4a"
NAMED = 2_000


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _backup_job(tmp_path: Path, endpoint: str, region: str, **extra: Any) -> Path:
    data: dict[str, Any] = {
        "action": "backup",
        "connection": {"region": region, "endpoint": endpoint},
        "targets": {"discover": {"prefix": "pf-"}},
        **extra,
    }
    return write_manifest(tmp_path / "job.yaml", data)


def _assert_nothing_to_resume(tmp_path: Path, env: dict[str, str], job: Path) -> None:
    """No backup folder of the job; its report says `error`; `--resume` finds nothing."""
    backups = tmp_path / "backups"
    assert not backups.exists() or not any(backups.iterdir())
    (report,) = (tmp_path / "reports").iterdir()
    summary = json.loads((report / "summary.json").read_text())
    assert summary["exit_code"] == 2
    assert summary["error"]
    again = run_cli_with(env, "run", job, "--resume", cwd=tmp_path)
    assert again.returncode == 2
    assert "no unfinished job" in again.stderr


def test_a_wrong_secret_with_2000_named_buckets_is_one_line_and_one_request(
    tmp_path: Path, oss_emulator: Emulator, engine: str
) -> None:
    """Before: 2,001 requests, all 403, 52 lines, "finish it with --resume". Now: the
    region lookup's ListBuckets is refused once and the job stops there."""
    names = [f"pf-{i:05d}" for i in range(NAMED)]
    (tmp_path / "buckets.txt").write_text("".join(f"{n}\n" for n in names))
    job = _backup_job(
        tmp_path,
        oss_emulator.endpoint,
        oss_emulator.region,
        targets={"buckets_file": "buckets.txt"},
        engine=engine,
    )
    env = {**credentials_env(oss_emulator), "OSS_ACCESS_KEY_SECRET": WRONG_SECRET}
    run = run_cli_with(env, "run", job, cwd=tmp_path)
    assert run.returncode == 2
    host = oss_emulator.endpoint.removeprefix("http://")
    assert run.stderr.splitlines() == [
        (
            f"osspolicy: error: account default at {host}: the access key secret is wrong; "
            "check the account's credentials"
        )
    ]
    assert run.stdout == ""
    assert WRONG_SECRET not in run.stderr
    assert [(e.bucket, e.error_code) for e in oss_emulator.request_log] == [
        (None, "SignatureDoesNotMatch")
    ]
    _assert_nothing_to_resume(tmp_path, env, job)


def test_an_unknown_access_key_id_is_named_as_such(tmp_path: Path, oss_emulator: Emulator) -> None:
    """InvalidAccessKeyId: one request, one line, exit 2; with --json the same line as
    `{"error", "exit_code"}` on stdout."""
    oss_emulator.seed_buckets(["pf-a", "pf-b"])
    job = _backup_job(tmp_path, oss_emulator.endpoint, oss_emulator.region)
    env = {**credentials_env(oss_emulator), "OSS_ACCESS_KEY_ID": "LTAI-nobody-knows-me"}
    run = run_cli_with(env, "run", job, "--json", cwd=tmp_path)
    assert run.returncode == 2
    answer = json.loads(run.stdout)
    assert answer["exit_code"] == 2
    assert "the access key id is unknown; check the account's credentials" in answer["error"]
    assert len(oss_emulator.request_log) == 1


@pytest.mark.parametrize("command", ["run", "get"])
def test_a_wrong_port_stops_run_and_get_at_once(tmp_path: Path, command: str) -> None:
    """Before: "Connection refused" retried for 28 s (`run`) and 43 s (`get`). Now: two
    refused connects, one line naming the host, exit 2."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "OSS_ACCESS_KEY_ID": "LTAI-any", "OSS_ACCESS_KEY_SECRET": "any"}
    if command == "run":
        job = _backup_job(tmp_path, endpoint, "cn-hangzhou")
        run = run_cli_with(env, "run", job, cwd=tmp_path)
    else:
        run = run_cli_with(
            env, "get", "pf-a", "--endpoint", endpoint, "--region", "cn-hangzhou", cwd=tmp_path
        )
    assert run.returncode == 2
    lines = run.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(
        f"account default at {endpoint.removeprefix('http://')}: nothing listens there; "
        "check the endpoint's host and port"
    )
    assert "resume" not in run.stderr
    if command == "run":
        _assert_nothing_to_resume(tmp_path, env, job)
    else:
        assert sorted(p.name for p in tmp_path.iterdir()) == []  # `get` writes nothing


def test_a_plain_http_endpoint_given_without_a_scheme_is_named(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """`127.0.0.1:PORT` means https; the emulator speaks plain HTTP: before, an SSL
    WRONG_VERSION_NUMBER retried for 27 s; now one line with the endpoint to give."""
    host = oss_emulator.endpoint.removeprefix("http://")
    job = _backup_job(tmp_path, host, oss_emulator.region)
    run = run_cli_with(credentials_env(oss_emulator), "run", job, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        (
            f"osspolicy: error: account default at {host}: it speaks plain HTTP, not HTTPS; "
            f"give the endpoint as http://{host}"
        )
    ]


def test_a_clock_an_hour_off_is_named_after_one_re_signed_try(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """RequestTimeTooSkewed: signed again once (a fresh date), then the line says by how
    much this machine's clock is off, read from the service's Date."""
    oss_emulator.set_clock_offset(3600)
    job = _backup_job(tmp_path, oss_emulator.endpoint, oss_emulator.region)
    run = run_cli_with(credentials_env(oss_emulator), "run", job, cwd=tmp_path)
    assert run.returncode == 2
    assert re.search(
        r"the clock of this machine is off by 3(599|600|601) s \(behind OSS's\); "
        r"set it right \(NTP\) and run again$",
        run.stderr.strip(),
    ), run.stderr
    assert [e.error_code for e in oss_emulator.request_log] == ["RequestTimeTooSkewed"] * 2


def test_a_denied_listing_stops_a_discover_job(tmp_path: Path, oss_emulator: Emulator) -> None:
    """AccessDenied on a discover job's ListBuckets: nothing to back up can be found."""
    oss_emulator.script_fault("GET", "", "", count=None, status=403, code="AccessDenied")
    job = _backup_job(tmp_path, oss_emulator.endpoint, oss_emulator.region)
    run = run_cli_with(credentials_env(oss_emulator), "run", job, cwd=tmp_path)
    assert run.returncode == 2
    assert "ListBuckets is denied; grant oss:ListBuckets or name the buckets" in run.stderr
    assert len(oss_emulator.request_log) == 1


def test_a_transient_first_call_is_no_preflight_failure(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """Two 503s on the first ListBuckets: the job goes on under retry.attempts, exit 0."""
    oss_emulator.seed_buckets(["pf-a", "pf-b", "pf-c"])
    oss_emulator.script_fault("GET", "", "", count=2)
    job = _backup_job(tmp_path, oss_emulator.endpoint, oss_emulator.region)
    run = run_cli_with(credentials_env(oss_emulator), "run", job, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    (report,) = (tmp_path / "reports").iterdir()
    assert {r["outcome"] for r in read_jsonl(report / "report.jsonl")} == {"no_policy"}


def _aliyun_home(folder: Path, key_id: str, secret: str) -> Path:
    """A HOME whose `~/.aliyun/config.json` has one AK profile, `wrong`."""
    profile = {"name": "wrong", "mode": "AK", "access_key_id": key_id}
    profile |= {"access_key_secret": secret, "region_id": "cn-hangzhou"}
    home = folder / "home"
    (home / ".aliyun").mkdir(parents=True)
    (home / ".aliyun" / "config.json").write_text(json.dumps({"profiles": [profile]}))
    return home


def test_one_account_of_two_with_a_wrong_secret_is_skipped_and_the_other_goes_on(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """The `bad` account's first call is refused: its buckets are `skipped` (note
    `preflight`) unsent; `good`'s are all backed up; exit 1."""
    good, bad = [f"pf-good-{i}" for i in range(6)], [f"pf-bad-{i}" for i in range(6)]
    oss_emulator.seed_buckets([*good, *bad])
    home = _aliyun_home(tmp_path, oss_emulator.access_key_id, WRONG_SECRET)
    job = write_manifest(
        tmp_path / "job.yaml",
        {
            "action": "backup",
            "connection": {"region": oss_emulator.region, "endpoint": oss_emulator.endpoint},
            "accounts": [
                {
                    "name": "bad",
                    "credentials": {"type": "profile", "profile": "wrong"},
                    "targets": {"buckets": bad},
                },
                {"name": "good", "credentials": {"type": "env"}, "targets": {"buckets": good}},
            ],
        },
    )
    env = {**credentials_env(oss_emulator), "HOME": str(home)}
    run = run_cli_with(env, "run", job, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "account bad at" in run.stderr
    assert "the access key secret is wrong" in run.stderr
    (report,) = (tmp_path / "reports").iterdir()
    records = {r["bucket"]: r for r in read_jsonl(report / "report.jsonl")}
    assert {(records[b]["outcome"], records[b]["note"]) for b in bad} == {("skipped", "preflight")}
    assert {records[b]["outcome"] for b in good} == {"no_policy"}
    refused = [e for e in oss_emulator.request_log if e.error_code == "SignatureDoesNotMatch"]
    assert [e.bucket for e in refused] == [None]  # bad's region lookup, refused once
    assert not [e for e in oss_emulator.request_log if e.bucket in bad]  # none sent


def test_a_pair_that_fails_after_targets_finished_skips_only_its_targets(
    tmp_path: Path,
) -> None:
    """Buckets in two regions, a host per region; cn-beijing's does not resolve. The
    cn-hangzhou buckets finish first (one worker), so the job goes on: cn-beijing's
    buckets are `skipped` (note `preflight`; the first `failed`, its request refused),
    exit 1, and the job stays resumable."""
    hangzhou, beijing = [f"pf-hz-{i}" for i in range(5)], [f"pf-zz-{i}" for i in range(4)]
    with (
        Emulator(hostname="oss-{region}.emu.test") as emu,
        resolve_to_loopback("oss-cn-hangzhou.emu.test"),
    ):
        emu.seed_buckets(hangzhou, region="cn-hangzhou")
        emu.seed_buckets(beijing, region="cn-beijing")
        manifest = parse_manifest(
            {
                "action": "backup",
                "concurrency": 1,
                "connection": {
                    "region": "cn-hangzhou",
                    "endpoint": f"http://oss-{{region}}.emu.test:{emu.port}",
                },
                "targets": {"discover": {"prefix": "pf-"}},
            },
            source="job.yaml",
            base=tmp_path,
        )
        env = {
            "OSS_ACCESS_KEY_ID": emu.access_key_id,
            "OSS_ACCESS_KEY_SECRET": emu.access_key_secret,
        }
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            job = anyio.run(lambda: run_job(manifest, sleep=no_sleep))
    assert job.exit_code == 1
    records = {r["bucket"]: r for r in job.records()}
    assert {records[b]["outcome"] for b in hangzhou} == {"no_policy"}
    beijing_records = sorted((records[b]["outcome"], records[b]["note"]) for b in beijing)
    assert beijing_records == [("failed", "preflight")] + [("skipped", "preflight")] * 3
    assert all("does not resolve" in records[b]["error_message"] for b in beijing)
    assert job.backup_folder is not None
    assert job.backup_folder.is_dir()


def test_a_certificate_not_trusted_is_a_tls_preflight_failure(tmp_path: Path) -> None:
    """HTTPS with a CA this machine does not trust: one line naming the TLS handshake and
    connection.ca_file, exit 2, nothing to resume (before: 22 s of retries, exit 1)."""
    with Emulator(tls=True) as emu:
        job = _backup_job(tmp_path, emu.endpoint, emu.region)
        env = {**credentials_env(emu)}
        env.pop("SSL_CERT_FILE", None)
        run = run_cli_with(env, "run", job, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().endswith(
        "the TLS handshake failed; check the endpoint, or give connection.ca_file"
    )
    _assert_nothing_to_resume(tmp_path, env, job)


def test_a_denied_owner_id_lookup_stops_an_apply_at_its_first_call(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """A `${account_id}` baseline needs the owner id (ListBuckets): denied, the job stops
    with the line saying so and what else fixes it, exit 2; a plan of it too."""
    oss_emulator.seed_buckets(["pf-a"])
    oss_emulator.script_fault("GET", "", "", count=None, status=403, code="AccessDenied")
    baseline = {
        "Version": "1",
        "Statement": [
            {
                "Sid": "owner",
                "Effect": "Allow",
                "Principal": ["${account_id}"],
                "Action": ["oss:GetObject"],
                "Resource": ["acs:oss:*:*:${bucket}/*"],
            }
        ],
    }
    (tmp_path / "baseline.json").write_text(json.dumps(baseline))
    job = _backup_job(
        tmp_path,
        oss_emulator.endpoint,
        oss_emulator.region,
        action="apply",
        targets={"buckets": ["pf-a"]},
        policy={"file": "baseline.json"},
    )
    for command in (["run", job, "--yes"], ["plan", job]):
        run = run_cli_with(credentials_env(oss_emulator), *command, cwd=tmp_path)
        assert run.returncode == 2, run.stderr
        assert "ListBuckets is denied, and the baseline's ${account_id} needs it" in run.stderr
        assert "resume" not in run.stderr


def test_quiet_keeps_the_line_saying_why_the_listing_failed(
    tmp_path: Path, oss_emulator: Emulator
) -> None:
    """A transient listing failure is no pre-flight one: after its retries the job fails,
    and `-q` still prints why (the errors and the result line, §15)."""
    oss_emulator.script_fault("GET", "", "", count=None, status=500, code="InternalError")
    job = _backup_job(tmp_path, oss_emulator.endpoint, oss_emulator.region)
    run = run_cli_with(
        credentials_env(oss_emulator), "-q", "run", job, "--attempts", "2", cwd=tmp_path
    )
    assert run.returncode == 1
    assert "targets error: the targets could not all be listed" in run.stdout + run.stderr
