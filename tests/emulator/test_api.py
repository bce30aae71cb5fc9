"""The emulator's public Python API: names, defaults, and no secret in any repr or log."""

from __future__ import annotations

import importlib

import alibabacloud_oss_v2 as oss
import pytest

import osspolicy.emulator
from osspolicy.emulator import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET, Emulator
from tests.emulator.conftest import AK, SK, make_client

MODULES = [
    "osspolicy.emulator",
    "osspolicy.emulator.accounts",
    "osspolicy.emulator.auth",
    "osspolicy.emulator.bucket_config",
    "osspolicy.emulator.command",
    "osspolicy.emulator.errors",
    "osspolicy.emulator.faults",
    "osspolicy.emulator.handler",
    "osspolicy.emulator.hosts",
    "osspolicy.emulator.pytest_plugin",
    "osspolicy.emulator.requestlog",
    "osspolicy.emulator.routes",
    "osspolicy.emulator.server",
    "osspolicy.emulator.state",
    "osspolicy.emulator.sts",
    "osspolicy.emulator.tls",
    "osspolicy.emulator.xml",
]


def test_package_exports_exactly_the_public_api():
    """osspolicy.emulator exports Emulator, Account, the state and log types and the demo pair."""
    assert osspolicy.emulator.__all__ == (
        "DEMO_ACCESS_KEY_ID",
        "DEMO_ACCESS_KEY_SECRET",
        "Account",
        "BucketPage",
        "BucketSummary",
        "Emulator",
        "EmulatorState",
        "OssError",
        "RequestLogEntry",
    )


@pytest.mark.parametrize("name", MODULES)
def test_every_module_has_a_tuple_all_of_existing_names(name):
    """Each module declares a tuple __all__ and every name in it exists."""
    module = importlib.import_module(name)
    assert isinstance(module.__all__, tuple)
    assert [n for n in module.__all__ if not hasattr(module, n)] == []


def test_demo_key_pair_is_used_without_arguments_or_environment(monkeypatch):
    """With no key arguments and no OSS_ACCESS_KEY_* variables, the demo pair is accepted."""
    monkeypatch.delenv("OSS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("OSS_ACCESS_KEY_SECRET", raising=False)
    emu = Emulator()
    assert (emu.access_key_id, emu.access_key_secret) == (
        DEMO_ACCESS_KEY_ID,
        DEMO_ACCESS_KEY_SECRET,
    )


def test_environment_key_pair_is_used_without_arguments(monkeypatch):
    """Without key arguments, OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET are the emulator's pair."""
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "EnvKeyId")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "EnvSecret")
    emu = Emulator()
    assert (emu.access_key_id, emu.access_key_secret) == ("EnvKeyId", "EnvSecret")


def test_half_a_key_pair_is_refused():
    """Giving only the access key id (or only the secret) raises ValueError."""
    with pytest.raises(ValueError, match="both"):
        Emulator(access_key_id="only-id")


def test_fault_rate_outside_0_1_is_refused():
    """A fault rate outside [0, 1] raises ValueError."""
    with pytest.raises(ValueError, match="rate"):
        Emulator(fault_rate=1.5)


def test_secret_appears_in_no_repr_and_no_log_entry(emu):
    """After traffic (good and bad), the secret is in no repr and no request-log entry."""
    emu.seed_buckets(["examplebucket"])
    make_client(emu).get_bucket_policy_status(
        oss.GetBucketPolicyStatusRequest(bucket="examplebucket")
    )
    with pytest.raises(oss.exceptions.OperationError):
        make_client(emu, secret=SK + "-wrong").get_bucket_policy_status(
            oss.GetBucketPolicyStatusRequest(bucket="examplebucket")
        )
    texts = [repr(emu), repr(emu.state), *(repr(e) for e in emu.request_log)]
    texts += [repr(vars(emu)), repr(vars(emu._handler)), repr(vars(emu._handler.verifier))]
    assert [t for t in texts if SK in t] == []


def test_request_log_records_who_what_and_how_it_ended(emu):
    """A log entry holds method, bucket, sub-resource, status, request id, region and key id."""
    emu.seed_buckets(["examplebucket"])
    result = make_client(emu).get_bucket_policy_status(
        oss.GetBucketPolicyStatusRequest(bucket="examplebucket")
    )
    entry = emu.request_log[-1]
    assert (
        entry.method,
        entry.bucket,
        entry.subresource,
        entry.status,
        entry.request_id,
        entry.region,
        entry.access_key_id,
        entry.fault,
    ) == ("GET", "examplebucket", "policyStatus", 200, result.request_id, "cn-hangzhou", AK, None)


def test_clear_log_empties_the_request_log(emu):
    """clear_log() forgets every entry so far."""
    make_client(emu).list_buckets(oss.ListBucketsRequest())
    emu.clear_log()
    assert emu.request_log == []


def test_emulator_stops_and_restarts_cleanly():
    """stop() frees the server; the same object can start again on a new port."""
    emu = Emulator(access_key_id=AK, access_key_secret=SK)
    with emu:
        first = emu.endpoint
    with emu:
        result = make_client(emu).list_buckets(oss.ListBucketsRequest())
    assert (result.status_code, first.startswith("http://127.0.0.1:")) == (200, True)
