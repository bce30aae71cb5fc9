"""`osspolicy emulator` as a process: endpoint line, seeding, key pair, signals, bad flags."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import alibabacloud_oss_v2 as oss
import pytest
import typer
from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider
from typer.testing import CliRunner

from osspolicy.emulator.command import build_app, emulator
from tests.resolver import resolve_to_loopback

COMMAND = [sys.executable, "-m", "osspolicy.emulator.command"]
CLI_SECRET = "CliOnlySecretValue987"
MAIN = [sys.executable, "-m", "osspolicy"]


class Running:
    def __init__(self, proc: subprocess.Popen[str], endpoint: str) -> None:
        self.proc = proc
        self.endpoint = endpoint

    def stop(self, signum: int) -> tuple[int, str]:
        """Send `signum`; return the exit code and everything the process printed."""
        self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, self.endpoint + "\n" + out + err


def _start(*args: str, env: dict[str, str] | None = None, command: list[str] = COMMAND) -> Running:
    proc = subprocess.Popen(
        [*command, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env if env is not None else os.environ.copy(),
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=60):
            proc.kill()
            pytest.fail("the emulator printed no endpoint within 60 s")
    return Running(proc, proc.stdout.readline().rstrip("\n"))


@pytest.fixture
def start() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def run(*args: str, env: dict[str, str] | None = None) -> Running:
        running = _start(*args, env=env)
        started.append(running)
        return running

    yield run
    for running in started:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.communicate()


def _client(endpoint: str, ak: str, sk: str) -> oss.Client:
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk)
    cfg.region = "cn-hangzhou"
    cfg.endpoint = endpoint
    cfg.retryer = oss.retry.NopRetryer()
    return oss.Client(cfg)


def test_first_stdout_line_is_the_endpoint(start):
    """The first line on stdout is the endpoint URL, with the port it picked for --port 0."""
    running = start("--port", "0")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", running.endpoint)


def test_sigint_stops_it_with_exit_code_0(start):
    """SIGINT stops the emulator with exit code 0."""
    code, _ = start().stop(signal.SIGINT)
    assert code == 0


def test_sigterm_stops_it_with_exit_code_0(start):
    """SIGTERM stops the emulator with exit code 0."""
    code, _ = start().stop(signal.SIGTERM)
    assert code == 0


def test_seed_buckets_flag_creates_numbered_buckets(start):
    """--seed-buckets cli-:3 creates cli-00000, cli-00001 and cli-00002."""
    running = start(
        "--seed-buckets", "cli-:3", "--access-key-id", "AK1", "--access-key-secret", "SK1"
    )
    buckets = _client(running.endpoint, "AK1", "SK1").list_buckets(oss.ListBucketsRequest()).buckets
    assert [b.name for b in buckets] == ["cli-00000", "cli-00001", "cli-00002"]


def test_key_pair_flags_set_the_accepted_pair(start):
    """With --access-key-id/--access-key-secret, requests signed with that pair are served."""
    running = start("--access-key-id", "CliKey", "--access-key-secret", CLI_SECRET)
    result = _client(running.endpoint, "CliKey", CLI_SECRET).list_buckets(oss.ListBucketsRequest())
    assert result.status_code == 200


def test_key_pair_comes_from_the_environment_without_flags(start):
    """Without key flags, OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET are the accepted pair."""
    env = dict(os.environ, OSS_ACCESS_KEY_ID="EnvKey", OSS_ACCESS_KEY_SECRET="EnvSecret1")
    running = start(env=env)
    result = _client(running.endpoint, "EnvKey", "EnvSecret1").list_buckets(
        oss.ListBucketsRequest()
    )
    assert result.status_code == 200


def test_secret_never_appears_in_the_cli_output(start):
    """Nothing the command prints, from start to SIGTERM, contains the secret."""
    running = start("--access-key-id", "CliKey", "--access-key-secret", CLI_SECRET)
    _client(running.endpoint, "CliKey", CLI_SECRET).list_buckets(oss.ListBucketsRequest())
    _, output = running.stop(signal.SIGTERM)
    assert ("CliKey" in output, CLI_SECRET in output) == (True, False)


def test_max_buckets_flag_turns_on_the_quota(start):
    """--max-buckets 1 makes the second PutBucket a 400 TooManyBuckets."""
    running = start("--max-buckets", "1", "--access-key-id", "AK1", "--access-key-secret", "SK1")
    client = _client(running.endpoint, "AK1", "SK1")
    client.put_bucket(oss.PutBucketRequest(bucket="first-bucket"))
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.put_bucket(oss.PutBucketRequest(bucket="second-bucket"))
    assert excinfo.value.unwrap().code == "TooManyBuckets"


def test_unknown_flag_exits_2_without_serving():
    """An unknown flag makes the process exit 2 and print no endpoint."""
    result = subprocess.run(
        [*COMMAND, "--no-such-flag"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout) == (2, "")


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--fault-rate", "1.5"], id="fault-rate-above-1"),
        pytest.param(["--fault-after-rate", "-0.1"], id="after-rate-below-0"),
        pytest.param(["--seed-buckets", "nocount"], id="seed-without-count"),
        pytest.param(["--seed-buckets", "Upper-:3"], id="seed-invalid-names"),
        pytest.param(["--port", "70000"], id="port-out-of-range"),
        pytest.param(["--latency-ms", "-5"], id="negative-latency"),
        pytest.param(["--access-key-id", "only-the-id"], id="id-without-secret"),
        pytest.param(["--account", "1:AK:S", "--account-id", "5"], id="account-and-account-id"),
        pytest.param(
            ["--account", "1:AK:S", "--access-key-id", "K", "--access-key-secret", "S"],
            id="account-and-key-pair",
        ),
        pytest.param(["--account", "1:only-two"], id="account-without-secret"),
        pytest.param(["--seed-buckets", "a-:1::999"], id="seed-of-unknown-account"),
        pytest.param(["--hostname", "localhost"], id="one-label-hostname"),
        pytest.param(["--ca-file", "ca.pem"], id="ca-file-without-tls"),
        pytest.param(["--sts-duration-s", "0"], id="zero-sts-duration"),
        pytest.param(["--list-page-size", "0"], id="zero-list-page-size"),
        pytest.param(["--list-fault", "stale"], id="unknown-list-fault"),
    ],
)
def test_bad_values_are_usage_errors(args):
    """A bad value is a usage error (exit 2) naming the option, before anything is served."""
    result = CliRunner().invoke(build_app(), args)
    assert (result.exit_code, "--" in result.output) == (2, True)


def test_main_osspolicy_cli_serves_and_exits_0_on_sigterm():
    """`python -m osspolicy emulator` (the main CLI) prints the endpoint and exits 0 on SIGTERM."""
    pytest.importorskip("osspolicy._internal.cli")
    running = _start("emulator", command=[sys.executable, "-m", "osspolicy"])
    code, _ = running.stop(signal.SIGTERM)
    assert (running.endpoint.startswith("http://127.0.0.1:"), code) == (True, 0)


def test_command_registers_on_a_typer_app_as_the_main_cli_does():
    """Registered as `app.command("emulator")(emulator)`, a bad value is a usage error (2)."""
    app = typer.Typer()
    app.command("emulator")(emulator)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["emulator", "--fault-rate", "7"])
    assert result.exit_code == 2


def test_accounts_and_seeds_per_account(start):
    """--account twice and --seed-buckets with region and account give each its own buckets."""
    running = start(
        "--account",
        "1111111111111111:AK1:SK1",
        "--account",
        "2222222222222222:AK2:SK2",
        "--seed-buckets",
        "one-:2",
        "--seed-buckets",
        "two-:1:cn-shanghai:2222222222222222",
    )
    listed = {}
    for ak, sk in (("AK1", "SK1"), ("AK2", "SK2")):
        result = _client(running.endpoint, ak, sk).list_buckets(oss.ListBucketsRequest())
        listed[ak] = [(b.name, b.region) for b in result.buckets]
    assert listed == {
        "AK1": [("one-00000", "cn-hangzhou"), ("one-00001", "cn-hangzhou")],
        "AK2": [("two-00000", "cn-shanghai")],
    }


def test_mixing_account_forms_is_one_line_exit_2_in_the_main_cli():
    """`osspolicy emulator --account ... --account-id ...` exits 2 with one line on stderr."""
    pytest.importorskip("osspolicy._internal.cli")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "osspolicy",
            "emulator",
            "--account",
            "1:AK:SecretX",
            "--account-id",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = result.stderr.strip().splitlines()
    assert (result.returncode, len(lines), "SecretX" in result.stderr) == (2, 1, False)


def test_hostname_tls_ca_file_request_log_and_sts_duration(start, tmp_path, monkeypatch):
    """The CLI serves HTTPS at its hostname with the CA it wrote, STS keys for
    --sts-duration-s, and logs both requests to --request-log."""
    ca_file, log_file = tmp_path / "ca.pem", tmp_path / "requests.jsonl"
    running = start(
        "--hostname", "oss-{region}.emu.test", "--tls", "--ca-file", str(ca_file),
        "--request-log", str(log_file), "--sts-duration-s", "5",
        "--access-key-id", "AK1", "--access-key-secret", "SK1", "--seed-buckets", "cli-:1",
    )  # fmt: skip
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))  # the OSS SDK (requests)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the credentials library's own context
    with resolve_to_loopback("emu.test"):
        names = [
            b.name
            for b in _client(running.endpoint, "AK1", "SK1")
            .list_buckets(oss.ListBucketsRequest())
            .buckets
        ]
        before = time.time()
        creds = RamRoleArnCredentialsProvider(
            access_key_id="AK1",
            access_key_secret="SK1",
            role_arn="acs:ram::1234567890123456:role/ci",
            role_session_name="cli",
            sts_endpoint=running.endpoint,
        ).get_credentials()
    lifetime = creds.get_expiration() - before
    actions = [json.loads(line)["action"] for line in log_file.read_text().splitlines()]
    assert (running.endpoint.startswith("https://oss-cn-hangzhou.emu.test:"), names) == (
        True,
        ["cli-00000"],
    )
    assert (3 <= lifetime <= 6, actions) == (True, [None, "AssumeRole"])


RD_FILE = """\
management: "1000000000000001"
folders:
  - {id: r-root00, name: Root}
  - {id: fd-prod000001, name: prod, parent: r-root00}
accounts:
  - {id: "1000000000000001", name: management, status: CreateSuccess, folder: r-root00,
     access_key_id: MgmtKeyId, access_key_secret: MgmtCliSecret}
  - {id: "2000000000000001", name: web, status: CreateSuccess, folder: fd-prod000001,
     roles: [ResourceDirectoryAccountAccessRole], buckets: ["web-:2:cn-shanghai"]}
  - {id: "2000000000000002", name: old, status: PromoteExpired, folder: fd-prod000001}
"""


def test_resource_directory_file_serves_its_listings_and_members(start, tmp_path):
    """`osspolicy emulator --resource-directory FILE` answers ListAccounts to the management
    key (the real SDK) and seeds each member's buckets (--seed-buckets may name a member
    too); stderr names the directory, never a secret."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    from alibabacloud_resourcedirectorymaster20220419 import models  # noqa: PLC0415
    from alibabacloud_resourcedirectorymaster20220419.client import Client  # noqa: PLC0415
    from alibabacloud_tea_openapi.models import Config  # noqa: PLC0415

    path = tmp_path / "rd.yaml"
    path.write_text(RD_FILE, encoding="utf-8")
    running = start(
        "--resource-directory", str(path), "--seed-buckets", "extra-:1::2000000000000001"
    )
    config = Config(
        access_key_id="MgmtKeyId",
        access_key_secret="MgmtCliSecret",
        endpoint=urlsplit(running.endpoint).netloc,
        protocol="http",
    )
    body = Client(config).list_accounts(models.ListAccountsRequest(max_results=2)).body
    creds = RamRoleArnCredentialsProvider(
        access_key_id="MgmtKeyId",
        access_key_secret="MgmtCliSecret",
        role_arn="acs:ram::2000000000000001:role/ResourceDirectoryAccountAccessRole",
        role_session_name="osspolicy",
        sts_endpoint=running.endpoint,
    ).get_credentials()
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        creds.get_access_key_id(), creds.get_access_key_secret(), creds.get_security_token()
    )
    cfg.region, cfg.endpoint = "cn-hangzhou", running.endpoint
    cfg.retryer = oss.retry.NopRetryer()
    listed = oss.Client(cfg).list_buckets(oss.ListBucketsRequest()).buckets
    code, output = running.stop(signal.SIGTERM)
    assert [a.account_id for a in body.accounts.account] == ["1000000000000001", "2000000000000001"]
    assert (body.next_token is not None, body.total_count) == (True, 3)
    assert [b.name for b in listed] == ["extra-00000", "web-00000", "web-00001"]
    assert "resource directory rd-" in output
    assert ("MgmtCliSecret" in output, code) == (False, 0)


@pytest.mark.parametrize("command", [COMMAND, [*MAIN, "emulator"]], ids=["stand-alone", "main-cli"])
def test_a_bad_resource_directory_file_is_one_line_exit_2(tmp_path, command):
    """A file with an unknown status exits 2 before serving, with one stderr line naming the
    file, the place and the fix, and no secret."""
    path = tmp_path / "rd.yaml"
    path.write_text(RD_FILE.replace("PromoteExpired", "Gone"), encoding="utf-8")
    result = subprocess.run(
        [*command, "--resource-directory", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = result.stderr.strip().splitlines()
    assert (result.returncode, result.stdout, len(lines)) == (2, "", 1)
    assert lines[0].startswith(f"error: {path}: accounts[2].status: 'Gone' is not a member")
    assert "MgmtCliSecret" not in result.stderr
