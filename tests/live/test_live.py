"""The live suite: the emulator's promises, checked against a real OSS account (opt-in).

Never part of CI. With `OSSPOLICY_LIVE=1` it creates a few temporary buckets named
`$OSSPOLICY_LIVE_PREFIX<run>-<case>` in `$OSSPOLICY_LIVE_REGION`, runs the same cases
the end-to-end tests run against the emulator, and deletes every bucket it created at
the end, also when a test fails. Settings (environment):

- `OSSPOLICY_LIVE=1`: run at all; without it every test here skips, saying so.
- credentials: `OSS_ACCESS_KEY_ID` / `OSS_ACCESS_KEY_SECRET` (and `OSS_SESSION_TOKEN`),
  else the credentials library's default chain (its variables, `~/.aliyun/config.json`,
  ...); `OSSPOLICY_LIVE_PROFILE=NAME` picks an aliyun CLI profile instead.
- `OSSPOLICY_LIVE_REGION` (required): where the buckets are made, e.g. `cn-hangzhou`.
- `OSSPOLICY_LIVE_ENDPOINT` (optional, may hold `{region}`): default
  `https://oss-{region}.aliyuncs.com`. Point it at an emulator (`http://127.0.0.1:9000`,
  with the emulator's key pair) and the suite runs there: `tests/test_live_suite.py` does
  exactly that, which proves the suite itself.
- `OSSPOLICY_LIVE_PREFIX` (required): a bucket-name prefix this suite may create and
  delete buckets under (lowercase letters, digits, hyphens; at most 40 characters).

Cases: bucket creation, put / get / delete of a policy, Block Public Access; backup ->
merge apply -> restore through osspolicy; NoSuchBucket, NoSuchBucketPolicy, a wrong
secret (SignatureDoesNotMatch), a public policy under Block Public Access
(AccessDenied), a request signed for another region (InvalidArgument).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import anyio
import pytest

from osspolicy._internal.accounts import CredentialsSpec, DefaultCredentials, ProfileCredentials
from osspolicy._internal.backends.credentials import account_provider
from osspolicy._internal.connection import expand_endpoint
from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import parse_manifest

from ..e2e_helpers import BASELINE, expected_merge, read_jsonl, write_baseline

if os.environ.get("OSSPOLICY_LIVE") != "1":
    pytest.skip(
        "the live suite runs against a real OSS account only with OSSPOLICY_LIVE=1 "
        "(README: 'The live suite')",
        allow_module_level=True,
    )

_PREFIX = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def _setting(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"OSSPOLICY_LIVE=1 needs {name} (see the module's docstring)", pytrace=False)
    return value


@dataclass(frozen=True)
class Live:
    """Where the suite runs and with which credentials (never a secret)."""

    region: str
    endpoint: str | None
    prefix: str
    credentials: CredentialsSpec
    run: str = field(default_factory=lambda: secrets.token_hex(3))

    @classmethod
    def from_env(cls) -> Live:
        prefix = _setting("OSSPOLICY_LIVE_PREFIX")
        if not _PREFIX.fullmatch(prefix):
            pytest.fail(
                f"OSSPOLICY_LIVE_PREFIX={prefix!r}: lowercase letters, digits and hyphens, "
                "at most 40 characters, starting with a letter or digit",
                pytrace=False,
            )
        profile = os.environ.get("OSSPOLICY_LIVE_PROFILE", "").strip()
        credentials: CredentialsSpec = (
            ProfileCredentials(type="profile", profile=profile) if profile else DefaultCredentials()
        )
        endpoint = os.environ.get("OSSPOLICY_LIVE_ENDPOINT", "").strip() or None
        return cls(_setting("OSSPOLICY_LIVE_REGION"), endpoint, prefix, credentials)

    def bucket(self, case: str) -> str:
        """This run's bucket for `case` (bucket names are global: the run id keeps two
        runs, or two people, apart)."""
        return f"{self.prefix}{self.run}-{case}"

    def endpoint_of(self, region: str) -> str | None:
        return None if self.endpoint is None else expand_endpoint(self.endpoint, region)

    def connection(self) -> dict[str, Any]:
        """The manifests' `connection:`."""
        conn: dict[str, Any] = {"region": self.region}
        if self.endpoint is not None:
            conn["endpoint"] = self.endpoint
        return conn


def other_region(region: str) -> str:
    return "cn-shanghai" if region != "cn-shanghai" else "cn-hangzhou"


@pytest.fixture(scope="module")
def live() -> Live:
    return Live.from_env()


@pytest.fixture(scope="module")
def provider(live: Live) -> Any:
    """The SDK credentials provider, from osspolicy's own credentials glue."""
    return account_provider("live", live.credentials)


def make_client(live: Live, credentials: Any, *, region: str | None = None) -> Any:
    """An SDK client of the bucket region's endpoint, signing for `region` (default: the
    live region)."""
    cfg = oss.config.load_default()
    cfg.credentials_provider = credentials
    cfg.region = region or live.region
    endpoint = live.endpoint_of(live.region)
    if endpoint is not None:
        cfg.endpoint = endpoint
    elif region is not None:  # the bucket's region's endpoint, whatever the signing region
        cfg.endpoint = f"https://oss-{live.region}.aliyuncs.com"
    return oss.Client(cfg)


@pytest.fixture(scope="module")
def client(live: Live, provider: Any) -> Any:
    return make_client(live, provider)


class Buckets:
    """Creates this run's buckets and remembers them, for the finalizer."""

    def __init__(self, live: Live, client: Any) -> None:
        self.live = live
        self.client = client
        self.created: list[str] = []

    def create(self, case: str, *, policy: bytes | None = None, block_public: bool = True) -> str:
        name = self.live.bucket(case)
        self.client.put_bucket(oss.PutBucketRequest(bucket=name))
        self.created.append(name)
        put_block_public_access(self.client, name, block_public)
        if policy is not None:
            self.client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=name, body=policy))
        return name

    def delete_all(self) -> list[str]:
        """Delete every bucket created (its policy goes with it); what could not be."""
        left: list[str] = []
        for name in self.created:
            try:
                self.client.delete_bucket(oss.DeleteBucketRequest(bucket=name))
            except oss.exceptions.OperationError as exc:
                if service_error(exc)[1] != "NoSuchBucket":
                    left.append(f"{name} ({service_error(exc)[1]})")
        return left


@pytest.fixture(scope="module")
def buckets(live: Live, client: Any) -> Iterator[Buckets]:
    """The run's buckets; all deleted at the end of the module, also after a failure."""
    made = Buckets(live, client)
    yield made
    left = made.delete_all()
    assert not left, f"could not delete {', '.join(left)}: delete them by hand"


def put_block_public_access(client: Any, bucket: str, on: bool) -> None:
    client.put_bucket_public_access_block(
        oss.PutBucketPublicAccessBlockRequest(
            bucket=bucket,
            public_access_block_configuration=oss.PublicAccessBlockConfiguration(
                block_public_access=on
            ),
        )
    )


def block_public_access(client: Any, bucket: str) -> bool:
    result = client.get_bucket_public_access_block(
        oss.GetBucketPublicAccessBlockRequest(bucket=bucket)
    )
    return bool(result.public_access_block_configuration.block_public_access)


def service_error(exc: BaseException) -> tuple[int, str]:
    inner = exc.unwrap() if isinstance(exc, oss.exceptions.OperationError) else exc
    return int(inner.status_code), str(inner.code)


def refused(call: Callable[[], Any]) -> tuple[int, str]:
    """(status, code) of the service error `call` raises."""
    with pytest.raises(oss.exceptions.OperationError) as info:
        call()
    return service_error(info.value)


def get_policy(client: Any, bucket: str) -> bytes | None:
    try:
        result = client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket))
    except oss.exceptions.OperationError as exc:
        if service_error(exc) == (404, "NoSuchBucketPolicy"):
            return None
        raise
    return str(result.body).encode()


def own_statement(bucket: str, sid: str) -> dict[str, Any]:
    """A statement that is valid anywhere and never public: a Deny pinned to TEST-NET."""
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": ["*"],
        "Action": ["oss:DeleteObject"],
        "Resource": [f"acs:oss:*:*:{bucket}/shared/*"],
        "Condition": {"IpAddress": {"acs:SourceIp": ["192.0.2.0/24"]}},
    }


def public_policy(bucket: str) -> bytes:
    doc = {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": ["*"],
                "Action": ["oss:GetObject"],
                "Resource": [f"acs:oss:*:*:{bucket}/*"],
            }
        ],
    }
    return json.dumps(doc).encode()


# -- seed operations -------------------------------------------------------------------------


def test_a_new_bucket_has_no_policy(client: Any, buckets: Buckets) -> None:
    """A bucket just created answers GetBucketPolicy with 404 NoSuchBucketPolicy."""
    name = buckets.create("fresh")
    assert refused(lambda: client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=name))) == (
        404,
        "NoSuchBucketPolicy",
    )


def test_a_policy_is_read_back_byte_for_byte_then_deleted(client: Any, buckets: Buckets) -> None:
    """PutBucketPolicy then GetBucketPolicy gives the same bytes; after DeleteBucketPolicy
    there is none."""
    name = buckets.create("policy")
    body = json.dumps({"Version": "1", "Statement": [own_statement(name, "a")]}, indent=2).encode()
    client.put_bucket_policy(oss.PutBucketPolicyRequest(bucket=name, body=body))
    read = get_policy(client, name)
    client.delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket=name))
    assert (read, get_policy(client, name)) == (body, None)


def test_block_public_access_is_set_and_read(client: Any, buckets: Buckets) -> None:
    """PutBucketPublicAccessBlock turns it on and off; Get reads what was put."""
    name = buckets.create("bpa", block_public=False)
    seen = [block_public_access(client, name)]
    put_block_public_access(client, name, True)
    seen.append(block_public_access(client, name))
    assert seen == [False, True]


# -- errors and authentication --------------------------------------------------------------


def test_a_bucket_that_does_not_exist_is_no_such_bucket(live: Live, client: Any) -> None:
    """GetBucketPolicy of a bucket nobody created is 404 NoSuchBucket."""
    name = live.bucket("never-created")
    assert refused(lambda: client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=name))) == (
        404,
        "NoSuchBucket",
    )


def test_a_wrong_secret_is_signature_does_not_match(
    live: Live, provider: Any, buckets: Buckets
) -> None:
    """The right key id with a wrong secret is 403 SignatureDoesNotMatch."""
    name = buckets.create("auth")
    real = provider.get_credentials()
    wrong = oss.credentials.StaticCredentialsProvider(
        real.access_key_id, "not-the-secret-" + secrets.token_hex(8), real.security_token
    )
    client = make_client(live, wrong)
    assert refused(lambda: client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=name))) == (
        403,
        "SignatureDoesNotMatch",
    )


def test_a_public_policy_under_block_public_access_is_access_denied(
    client: Any, buckets: Buckets
) -> None:
    """With Block Public Access on, a policy granting everyone is 403 AccessDenied, and
    the bucket keeps no policy."""
    name = buckets.create("public", block_public=True)
    request = oss.PutBucketPolicyRequest(bucket=name, body=public_policy(name))
    assert refused(lambda: client.put_bucket_policy(request)) == (403, "AccessDenied")
    assert get_policy(client, name) is None


def test_a_request_signed_for_another_region_is_refused(
    live: Live, provider: Any, buckets: Buckets
) -> None:
    """A request sent to the bucket's endpoint but signed for another region is 400
    InvalidArgument."""
    name = buckets.create("region")
    client = make_client(live, provider, region=other_region(live.region))
    assert refused(lambda: client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=name))) == (
        400,
        "InvalidArgument",
    )


# -- backup -> apply -> restore through osspolicy --------------------------------------------


def job(live: Live, folder: Path, action: str, **extra: Any) -> JobRun:
    """Run one osspolicy job (account `live`) in this process to its end."""
    data = {
        "version": 1,
        "action": action,
        "accounts": [{"name": "live", "credentials": live.credentials.model_dump(mode="json")}],
        "connection": live.connection(),
        "concurrency": 4,
        "backup_dir": "backups",
        "report_dir": "reports",
        **extra,
    }
    manifest = parse_manifest(data, source=f"live-{action}.yaml", base=folder)
    return anyio.run(run_job, manifest, RunOptions())


def test_backup_apply_restore_through_osspolicy(
    live: Live, client: Any, buckets: Buckets, tmp_path: Path
) -> None:
    """A backup saves each bucket's bytes (none for a bucket without a policy), a merge
    apply adds the baseline to every bucket, a restore puts every byte back."""
    names = [live.bucket("job-none"), live.bucket("job-own"), live.bucket("job-old")]
    old = dict(BASELINE["Statement"][0], Condition={"Bool": {"acs:SecureTransport": "0"}})
    old["Resource"] = [r.replace("${bucket}", names[2]) for r in old["Resource"]]
    originals: dict[str, bytes | None] = {
        names[0]: None,
        names[1]: json.dumps(
            {"Version": "1", "Statement": [own_statement(names[1], "own")]}, indent=2
        ).encode(),
        names[2]: json.dumps(
            {"Version": "1", "Statement": [own_statement(names[2], "own"), old]}
        ).encode(),
    }
    for name, body in originals.items():
        buckets.create(name.removeprefix(live.bucket("")), policy=body)
    targets = {"buckets": names}

    backup = job(live, tmp_path, "backup", targets=targets)
    assert backup.exit_code == 0
    assert backup.backup_folder is not None
    index = {r["bucket"]: r for r in read_jsonl(backup.backup_folder / "index.jsonl")}
    saved = {
        name: (backup.backup_folder / "policies" / f"{name}.json").read_bytes()
        if index[name]["had_policy"]
        else None
        for name in names
    }
    assert saved == originals
    assert {(r["account"], r["region"]) for r in index.values()} == {("live", live.region)}

    write_baseline(tmp_path)
    applied = job(
        live,
        tmp_path,
        "apply",
        targets=targets,
        policy={"file": "baseline.json", "mode": "merge"},
    )
    assert applied.exit_code == 0
    merged = {name: get_policy(client, name) for name in names}
    assert {n: json.loads(b) if b else None for n, b in merged.items()} == {
        n: expected_merge(body, n) for n, body in originals.items()
    }

    restored = job(live, tmp_path, "restore", source=str(backup.backup_folder))
    assert restored.exit_code == 0
    assert {name: get_policy(client, name) for name in names} == originals
