"""The Python SDK V2 documentation samples run unchanged against the emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import alibabacloud_oss_v2 as oss
import pytest

from osspolicy.emulator import Emulator
from tests.emulator.conftest import make_client

SAMPLES = Path(__file__).parent / "samples"
BUCKET = "examplebucket"


def _run(emu: Emulator, sample: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        OSS_ACCESS_KEY_ID=emu.access_key_id,
        OSS_ACCESS_KEY_SECRET=emu.access_key_secret,
    )
    args = ["--endpoint", emu.endpoint, "--region", "cn-hangzhou", "--bucket", BUCKET]
    return subprocess.run(
        [sys.executable, str(SAMPLES / sample), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def emu_with_bucket(emu: Emulator) -> Emulator:
    emu.seed_buckets([BUCKET])
    return emu


def test_put_sample_grants_the_ram_user(emu_with_bucket):
    """The "grant read access to a RAM user" sample prints status 200 and stores its policy."""
    result = _run(emu_with_bucket, "put_bucket_policy.py")
    assert (result.returncode, "status code: 200" in result.stdout) == (0, True)
    assert b"20214760404935xxxx" in (emu_with_bucket.state.get_policy(BUCKET) or b"")


def test_get_sample_prints_the_policy(emu_with_bucket):
    """The "query a bucket policy" sample prints the stored policy."""
    _run(emu_with_bucket, "put_bucket_policy.py")
    result = _run(emu_with_bucket, "get_bucket_policy.py")
    assert (result.returncode, "policy: {" in result.stdout) == (0, True)


def test_delete_sample_removes_the_policy(emu_with_bucket):
    """The "remove all policy statements" sample answers 204 and the policy is gone."""
    _run(emu_with_bucket, "put_bucket_policy.py")
    result = _run(emu_with_bucket, "delete_bucket_policy.py")
    assert (result.returncode, "status code: 204" in result.stdout) == (0, True)
    assert emu_with_bucket.state.get_policy(BUCKET) is None


def test_public_prefix_sample_is_denied_while_block_public_access_is_on(emu_with_bucket):
    """The public-prefix sample fails with 403 AccessDenied on a new bucket (BPA on)."""
    result = _run(emu_with_bucket, "put_public_prefix_policy.py")
    assert (result.returncode != 0, "AccessDenied" in result.stderr) == (True, True)


def test_public_prefix_sample_succeeds_once_block_public_access_is_off(emu_with_bucket):
    """After PutBucketPublicAccessBlock(false) via the SDK, the public-prefix sample succeeds."""
    make_client(emu_with_bucket).put_bucket_public_access_block(
        oss.PutBucketPublicAccessBlockRequest(
            bucket=BUCKET,
            public_access_block_configuration=oss.PublicAccessBlockConfiguration(
                block_public_access=False
            ),
        )
    )
    result = _run(emu_with_bucket, "put_public_prefix_policy.py")
    assert (result.returncode, "status code: 200" in result.stdout) == (0, True)
