"""Every call ends (contracts §14): `timeouts.call_s` bounds one attempt as a whole.

The real SDK over HTTP(S) against the emulator, on both engines: a policy body trickled
one byte a second never trips a read timeout (each byte restarts it), so only the
whole-call deadline ends the attempt. Attempts are counted (records, request log), never
clocked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from osspolicy._internal.job import run_job
from osspolicy._internal.manifest import parse_manifest
from osspolicy.emulator import Emulator

from .e2e_helpers import make_emulator, no_sleep, read_jsonl

#: the transport is what this module tests: `make test` runs it on both engines
pytestmark = pytest.mark.both_engines

#: a policy of a few hundred bytes: trickled at 1 byte/s it would last minutes
POLICY = (
    b'{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:GetObject"],'
    b'"Principal":["20214760404935"],"Resource":["acs:oss:*:*:slow-bucket/*"]}]}'
)
BUCKET = "slow-bucket"


@pytest.fixture(params=[False, True], ids=["http", "https"])
def emu(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """An emulator whose GetBucketPolicy answers trickle one byte a second."""
    with make_emulator(tls=request.param) as emulator:
        emulator.seed_buckets([BUCKET], policy=POLICY)
        emulator.script_fault("GET", None, "policy", kind="trickle", count=None, bytes_per_s=1)
        yield emulator


def backup(emu: Emulator, tmp_path: Path, engine: str, **extra: Any) -> dict[str, Any]:
    """A backup of BUCKET: read timeout 5 s, each attempt bounded by `call_s: 1`."""
    connection: dict[str, Any] = {
        "region": emu.region,
        "endpoint": emu.endpoint,
        "read_timeout_s": 5,
    }
    if emu.tls:
        connection["ca_file"] = str(emu.write_ca(tmp_path / "ca.pem"))
    return {
        "action": "backup",
        "targets": {"buckets": [BUCKET]},
        "connection": connection,
        "engine": engine,
        "timeouts": {"call_s": 1},
        "retry": {"attempts": 2},
        **extra,
    }


def test_a_trickled_answer_ends_each_attempt_at_call_s_as_a_retried_timeout(
    emu: Emulator, tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A policy trickled slower than `call_s` allows fails each attempt as a transient
    Timeout: the bucket is `failed` after exactly its 2 attempts, both in the request log."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", emu.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emu.access_key_secret)
    manifest = parse_manifest(backup(emu, tmp_path, engine), source="job.yaml", base=tmp_path)

    run = anyio.run(lambda: run_job(manifest, sleep=no_sleep))

    [record] = read_jsonl(run.report_folder / "report.jsonl")
    assert (record["outcome"], record["error_code"], record["attempts"]) == (
        "failed",
        "Timeout",
        2,
    )
    assert "timeouts.call_s" in record["error_message"]
    trickled = [e for e in emu.request_log if e.bucket == BUCKET and e.subresource == "policy"]
    assert [(e.method, e.fault) for e in trickled] == [("GET", "trickle")] * 2
