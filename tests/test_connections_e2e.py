"""Production-shaped connections: a host per bucket over TLS, under `ulimit -n 1024`.

The emulator serves `oss-{region}.emu.test` over HTTPS from a test CA, so the SDK
addresses every bucket as its own host (`<bucket>.oss-cn-hangzhou.emu.test`), as the
real service's endpoints make it. A 3,000-bucket backup runs in a subprocess whose
descriptor limit is 1,024 (what aiohttp's idle keep-alive connections, one per bucket
host, used to exhaust), the test CA given as `connection.ca_file`, as a user passes a
private CA. `tests.socket_probe` counts the job's open sockets after every connect.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from osspolicy.emulator import Emulator
from tests.resolver import subprocess_env

#: the transport is what this module tests: `make test` runs it on both engines
pytestmark = pytest.mark.both_engines

BUCKETS = 3_000
CONCURRENCY = 64
#: the open files a job may have, as `ulimit -n 1024` sets it
FD_LIMIT = 1024
#: the documented bound (backends/http.py): `concurrency` in use + `concurrency` idle
SOCKET_BOUND = 2 * CONCURRENCY
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """An HTTPS emulator with per-region hostnames and 3,000 buckets, a third with a policy."""
    with Emulator(hostname="oss-{region}.emu.test", tls=True) as emulator:
        names = [f"fd-{i:05d}" for i in range(BUCKETS)]
        emulator.seed_buckets(names[::3], policy=_policy)
        emulator.seed_buckets([n for i, n in enumerate(names) if i % 3])
        yield emulator


def _policy(bucket: str) -> bytes:
    statement = {
        "Effect": "Deny",
        "Principal": ["*"],
        "Action": ["oss:GetObject"],
        "Resource": [f"acs:oss:*:*:{bucket}/*"],
    }
    return json.dumps({"Version": "1", "Statement": [statement]}).encode()


def _limit_descriptors() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, hard))


def _run_backup(emu: Emulator, folder: Path, engine: str) -> dict[str, Any]:
    folder.mkdir()
    manifest = {
        "action": "backup",
        "targets": {"discover": {"prefix": "fd-"}},
        "connection": {
            "region": emu.region,
            "endpoint": emu.endpoint,
            "ca_file": str(emu.write_ca(folder / "test-ca.pem")),
        },
        "concurrency": CONCURRENCY,
        "engine": engine,
    }
    path = folder / "backup.yaml"
    path.write_text(yaml.safe_dump(manifest))
    env = subprocess_env("emu.test")
    env |= {"OSS_ACCESS_KEY_ID": emu.access_key_id, "OSS_ACCESS_KEY_SECRET": emu.access_key_secret}
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "HTTPS_PROXY", "https_proxy"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.socket_probe", str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_limit_descriptors,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.splitlines()[-1]))


@pytest.fixture(scope="module", params=["threads", "aio"])
def backup(
    request: pytest.FixtureRequest, emu: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One 3,000-bucket backup per engine, under `ulimit -n 1024`, with its counts."""
    engine = str(request.param)
    return _run_backup(emu, tmp_path_factory.mktemp("fd") / engine, engine)


def test_a_3000_bucket_backup_over_tls_succeeds_under_ulimit_1024(backup: dict[str, Any]) -> None:
    """Every one of the 3,000 bucket hosts is backed up: exit 0, nothing failed, and the
    process never held more than the 1,024 descriptors it was allowed."""
    assert (backup["exit_code"], backup["counts"], backup["complete"]) == (
        0,
        {"fetched": 1_000, "no_policy": 2_000},
        True,
    )
    assert backup["peak_fds"] < FD_LIMIT


def test_open_connections_stay_within_twice_the_concurrency(backup: dict[str, Any]) -> None:
    """Counted after each of the job's connects, open sockets never pass 2 x concurrency
    (as many in use as workers, as many idle), however many bucket hosts there are."""
    assert backup["connects"] >= BUCKETS  # a connection per bucket host, at least
    assert backup["peak_sockets"] <= SOCKET_BOUND
