"""The ali-oss (Node.js) documentation samples run against the emulator.

The samples live in tests/node with a pinned ali-oss (package.json + package-lock.json).
`npm ci` runs only when node_modules does not match the lock file. Without `node` the
tests skip, unless CI=true, where a missing Node is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from osspolicy.emulator import Emulator

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
BUCKET = "examplebucket"


def _installed() -> bool:
    """node_modules holds exactly what package-lock.json pins."""
    hidden = NODE_DIR / "node_modules" / ".package-lock.json"
    if not hidden.exists():
        return False
    wanted = json.loads((NODE_DIR / "package-lock.json").read_text())["packages"]
    wanted.pop("", None)
    return json.loads(hidden.read_text()).get("packages") == wanted


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node and npm are required on CI (CI=true) to run the ali-oss samples")
        pytest.skip("node/npm not on PATH: the ali-oss samples cannot run")
    if not _installed():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300
        )
    return node


def _run(node: str, emu: Emulator, script: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        OSS_ENDPOINT=emu.endpoint,
        OSS_ACCESS_KEY_ID=emu.access_key_id,
        OSS_ACCESS_KEY_SECRET=emu.access_key_secret,
    )
    return subprocess.run(
        [node, script], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


@pytest.fixture
def emu_with_bucket(emu: Emulator) -> Emulator:
    emu.seed_buckets([BUCKET])
    return emu


def test_node_put_sample_stores_the_policy(node, emu_with_bucket):
    """ali-oss putBucketPolicy (V4, virtual-host Host header) gets 200; the JSON is stored."""
    result = _run(node, emu_with_bucket, "put_bucket_policy.js")
    assert (result.returncode, "status: 200" in result.stdout) == (0, True)
    stored = json.loads(emu_with_bucket.state.get_policy(BUCKET) or b"null")
    assert stored["Statement"][0]["Principal"] == ["20214760404935xxxx"]


def test_node_get_sample_prints_the_policy(node, emu_with_bucket):
    """ali-oss getBucketPolicy returns the stored policy as an object."""
    _run(node, emu_with_bucket, "put_bucket_policy.js")
    result = _run(node, emu_with_bucket, "get_bucket_policy.js")
    assert (result.returncode, "Version: '1'" in result.stdout) == (0, True)


def test_node_delete_sample_gets_204(node, emu_with_bucket):
    """ali-oss deleteBucketPolicy, which demands exactly 204, succeeds and removes the policy."""
    _run(node, emu_with_bucket, "put_bucket_policy.js")
    result = _run(node, emu_with_bucket, "delete_bucket_policy.js")
    assert (result.returncode, "status: 204" in result.stdout) == (0, True)
    assert emu_with_bucket.state.get_policy(BUCKET) is None


def test_node_requests_are_v4_signed_for_the_bucket_region(node, emu_with_bucket):
    """The ali-oss requests reached the bucket named in the Host header, V4-signed."""
    _run(node, emu_with_bucket, "put_bucket_policy.js")
    entry = emu_with_bucket.request_log[-1]
    assert (entry.bucket, entry.subresource, entry.region) == (BUCKET, "policy", "cn-hangzhou")
