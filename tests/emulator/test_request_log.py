"""--request-log FILE: one JSON line per request, what a client sent, never a secret."""

from __future__ import annotations

import json

import alibabacloud_oss_v2 as oss
import pytest
from alibabacloud_credentials.provider import RamRoleArnCredentialsProvider

from osspolicy.emulator import Emulator
from osspolicy.emulator.requestlog import RequestLogEntry, entry_json
from tests.emulator.conftest import AK, SK, make_client

KEYS = [
    "time",
    "method",
    "host",
    "bucket",
    "subresource",
    "action",
    "status",
    "request_id",
    "scope_region",
    "access_key_id",
]


@pytest.fixture
def logged(tmp_path):
    path = tmp_path / "requests.jsonl"
    with Emulator(access_key_id=AK, access_key_secret=SK, request_log_path=path) as emulator:
        emulator.seed_buckets(["log-bucket"])
        yield emulator, path


def _lines(path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_request_is_one_json_line_with_the_documented_keys(logged):
    """A GetBucketPolicy becomes one line with exactly the documented keys, in order."""
    emu, path = logged
    with pytest.raises(oss.exceptions.OperationError):
        make_client(emu).get_bucket_policy(oss.GetBucketPolicyRequest(bucket="log-bucket"))
    (line,) = _lines(path)
    assert list(line) == KEYS
    assert {k: line[k] for k in KEYS if k not in ("time", "request_id")} == {
        "method": "GET",
        "host": f"127.0.0.1:{emu.port}",
        "bucket": "log-bucket",
        "subresource": "policy",
        "action": None,
        "status": 404,
        "scope_region": "cn-hangzhou",
        "access_key_id": AK,
    }


def test_v1_requests_have_a_null_scope_region(logged):
    """A V1-signed request is logged with scope_region null."""
    emu, path = logged
    make_client(emu, signature_version="v1").list_buckets(oss.ListBucketsRequest())
    (line,) = _lines(path)
    assert (line["scope_region"], line["bucket"], line["status"]) == (None, None, 200)


def test_assume_role_is_logged_with_its_action(logged):
    """An STS AssumeRole call is a line with action AssumeRole and the caller's key id."""
    emu, path = logged
    RamRoleArnCredentialsProvider(
        access_key_id=AK,
        access_key_secret=SK,
        role_arn=f"acs:ram::{emu.account_id}:role/ops",
        role_session_name="logged",
        sts_endpoint=emu.endpoint,
    ).get_credentials()
    (line,) = _lines(path)
    assert (line["action"], line["access_key_id"], line["status"]) == ("AssumeRole", AK, 200)


def test_the_file_never_holds_a_secret_or_token(logged):
    """Neither the secret nor an STS secret or token appears in the log file."""
    emu, path = logged
    creds = RamRoleArnCredentialsProvider(
        access_key_id=AK,
        access_key_secret=SK,
        role_arn=f"acs:ram::{emu.account_id}:role/ops",
        role_session_name="logged",
        sts_endpoint=emu.endpoint,
    ).get_credentials()
    text = path.read_text()
    assert [s in text for s in (SK, creds.get_access_key_secret(), creds.get_security_token())] == [
        False,
        False,
        False,
    ]


def test_the_file_is_appended_across_runs(tmp_path):
    """A second emulator with the same file appends to it."""
    path = tmp_path / "requests.jsonl"
    for _ in range(2):
        with Emulator(access_key_id=AK, access_key_secret=SK, request_log_path=path) as emu:
            make_client(emu).list_buckets(oss.ListBucketsRequest())
    assert len(_lines(path)) == 2


def test_entry_json_writes_time_as_iso_8601_utc():
    """time is ISO 8601 in UTC with milliseconds and a Z."""
    entry = RequestLogEntry(0.25, "GET", None, "", 200, "ID", None, None, None)
    assert json.loads(entry_json(entry))["time"] == "1970-01-01T00:00:00.250Z"
