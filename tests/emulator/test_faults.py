"""Latency and faults: deterministic per seed under any concurrency, scripted, and lossy."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import alibabacloud_oss_v2 as oss
import pytest

from osspolicy.emulator import Emulator
from tests.emulator.conftest import AK, PRIVATE_POLICY, SK, make_client, service_error

BUCKETS = [f"fault-{i:02d}" for i in range(20)]
REQUESTS = [BUCKETS[i % len(BUCKETS)] for i in range(1000)]


def _faulted(emu: Emulator) -> set[tuple[str, str | None, str, int | None]]:
    return {(e.method, e.bucket, e.subresource, e.ordinal) for e in emu.request_log if e.fault}


def _status(client: oss.Client, bucket: str) -> None:
    with contextlib.suppress(oss.exceptions.OperationError):
        client.get_bucket_policy_status(oss.GetBucketPolicyStatusRequest(bucket=bucket))


def _run_faulty(seed: int, threads: int) -> Emulator:
    """1,000 GetBucketPolicyStatus over 20 buckets at fault rate 0.2, from `threads` threads."""
    emu = Emulator(access_key_id=AK, access_key_secret=SK, fault_rate=0.2, fault_seed=seed)
    with emu:
        emu.seed_buckets(BUCKETS)
        local = threading.local()

        def send(bucket: str) -> None:
            if not hasattr(local, "client"):
                local.client = make_client(emu)
            _status(local.client, bucket)

        if threads == 1:
            for bucket in REQUESTS:
                send(bucket)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(send, REQUESTS))
    return emu


@pytest.fixture(scope="module")
def sequential() -> Emulator:
    return _run_faulty(seed=7, threads=1)


def test_fault_rate_fails_about_that_share_of_requests(sequential):
    """Fault rate 0.2 over 1,000 requests faults between 150 and 250 of them."""
    assert 150 <= len(_faulted(sequential)) <= 250


def test_random_faults_mix_500_503_and_resets(sequential):
    """Random faults are 500 InternalError, 503 ServiceUnavailable and connection resets."""
    kinds = {(e.status, e.error_code, e.fault) for e in sequential.request_log if e.fault}
    assert kinds == {
        (500, "InternalError", "error"),
        (503, "ServiceUnavailable", "error"),
        (None, None, "reset"),
    }


def test_same_seed_faults_the_same_requests_from_16_threads(sequential):
    """The faulted (method, bucket, sub-resource, ordinal) set is the same from 16 threads."""
    assert _faulted(_run_faulty(seed=7, threads=16)) == _faulted(sequential)


def test_another_seed_faults_other_requests(sequential):
    """A different seed gives a different set of faulted requests."""
    assert _faulted(_run_faulty(seed=8, threads=1)) != _faulted(sequential)


@pytest.fixture
def emu_bucket(emu: Emulator) -> tuple[Emulator, str]:
    emu.seed_buckets(["examplebucket"])
    return emu, "examplebucket"


def test_faulted_request_changes_nothing(emu_bucket):
    """A PutBucketPolicy answered by an injected 503 leaves the bucket without a policy."""
    emu, bucket = emu_bucket
    emu.script_fault("PUT", bucket, "policy")
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        make_client(emu).put_bucket_policy(
            oss.PutBucketPolicyRequest(bucket=bucket, body=PRIVATE_POLICY)
        )
    assert (service_error(excinfo).status_code, emu.state.get_policy(bucket)) == (503, None)


def test_injected_503_is_throttling_with_its_ec(emu_bucket):
    """An injected 503 is ServiceUnavailable with EC 0004-00000302."""
    emu, bucket = emu_bucket
    emu.script_fault("GET", bucket)
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        make_client(emu).get_bucket_policy_status(oss.GetBucketPolicyStatusRequest(bucket=bucket))
    error = service_error(excinfo)
    assert (error.code, error.ec) == ("ServiceUnavailable", "0004-00000302")


def test_scripted_faults_fail_the_first_puts_then_the_sdk_retry_succeeds(emu_bucket):
    """Two scripted 503s on PUT are retried away by the SDK: three requests, policy stored."""
    emu, bucket = emu_bucket
    emu.script_fault("PUT", bucket, count=2)
    make_client(emu, retry=True).put_bucket_policy(
        oss.PutBucketPolicyRequest(bucket=bucket, body=PRIVATE_POLICY)
    )
    assert ([e.status for e in emu.request_log], emu.state.get_policy(bucket)) == (
        [503, 503, 200],
        PRIVATE_POLICY.encode(),
    )


def test_scripted_fault_only_hits_its_bucket(emu_bucket):
    """A fault scripted for one bucket leaves requests to other buckets alone."""
    emu, bucket = emu_bucket
    emu.seed_buckets(["other-bucket"])
    emu.script_fault("GET", bucket)
    result = make_client(emu).get_bucket_policy_status(
        oss.GetBucketPolicyStatusRequest(bucket="other-bucket")
    )
    assert result.status_code == 200


def test_reset_fault_drops_the_connection_without_a_response(emu_bucket):
    """A `reset` fault reaches the SDK as a network error, and the log shows no status."""
    emu, bucket = emu_bucket
    emu.script_fault("GET", bucket, kind="reset")
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        make_client(emu).get_bucket_policy_status(oss.GetBucketPolicyStatusRequest(bucket=bucket))
    assert isinstance(excinfo.value.unwrap(), oss.exceptions.RequestError)
    assert [(e.status, e.fault) for e in emu.request_log] == [(None, "reset")]


def test_fault_after_rate_applies_the_put_and_loses_the_response(emu_bucket):
    """With fault_after_rate 1, the PUT is applied but the client gets no response."""
    emu, bucket = emu_bucket
    emu.set_faults(after_rate=1.0)
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        make_client(emu).put_bucket_policy(
            oss.PutBucketPolicyRequest(bucket=bucket, body=PRIVATE_POLICY)
        )
    assert isinstance(excinfo.value.unwrap(), oss.exceptions.RequestError)
    assert emu.state.get_policy(bucket) == PRIVATE_POLICY.encode()


def test_scripted_after_fault_applies_the_delete(emu_bucket):
    """A scripted `after` fault on DELETE removes the policy although the client saw an error."""
    emu, bucket = emu_bucket
    emu.state.put_policy(bucket, PRIVATE_POLICY.encode())
    emu.script_fault("DELETE", bucket, "policy", kind="after")
    with pytest.raises(oss.exceptions.OperationError):
        make_client(emu).delete_bucket_policy(oss.DeleteBucketPolicyRequest(bucket=bucket))
    assert (emu.state.get_policy(bucket), emu.request_log[-1].fault) == (None, "after")


def test_faults_are_off_by_default(emu_bucket):
    """Without fault settings, 200 requests all succeed."""
    emu, bucket = emu_bucket
    client = make_client(emu)
    for _ in range(200):
        client.get_bucket_policy_status(oss.GetBucketPolicyStatusRequest(bucket=bucket))
    assert {e.status for e in emu.request_log} == {200}


def test_latency_delays_each_request(emu_bucket):
    """set_latency(60) makes a request take at least 60 ms."""
    emu, bucket = emu_bucket
    client = make_client(emu)
    emu.set_latency(60)
    started = time.perf_counter()
    client.get_bucket_policy_status(oss.GetBucketPolicyStatusRequest(bucket=bucket))
    assert time.perf_counter() - started >= 0.06


def test_peak_in_flight_reaches_58_with_64_clients_and_50ms_latency():
    """64 concurrent clients against 50 ms latency put at least 58 requests in flight at once."""
    with Emulator(access_key_id=AK, access_key_secret=SK, latency_ms=50) as emu:
        emu.seed_buckets(["examplebucket"])
        clients = [make_client(emu) for _ in range(64)]
        barrier = threading.Barrier(64)

        def send(client: oss.Client) -> None:
            barrier.wait()
            for _ in range(3):
                client.get_bucket_policy_status(
                    oss.GetBucketPolicyStatusRequest(bucket="examplebucket")
                )

        with ThreadPoolExecutor(64) as pool:
            list(pool.map(send, clients))
        assert emu.peak_in_flight >= 58


def test_reset_peak_starts_the_count_again(emu_bucket):
    """reset_peak() brings the peak back to what is in flight now (nothing, when idle)."""
    emu, bucket = emu_bucket
    make_client(emu).get_bucket_policy_status(oss.GetBucketPolicyStatusRequest(bucket=bucket))
    emu.reset_peak()
    assert emu.peak_in_flight == 0


def test_a_skip_lets_the_first_matching_requests_through(emu_bucket):
    """`skip=2, count=2` fails the third and fourth matching requests only, then none."""
    emu, bucket = emu_bucket
    emu.script_fault("GET", bucket, skip=2, count=2)
    client = make_client(emu)
    for _ in range(5):
        _status(client, bucket)
    assert [e.status for e in emu.request_log] == [200, 200, 503, 503, 200]


def test_an_empty_bucket_scripts_list_buckets_only(emu_bucket):
    """A fault scripted for bucket "" and no sub-resource hits ListBuckets, never a
    bucket's request."""
    emu, bucket = emu_bucket
    emu.script_fault("GET", "", "", count=5)
    client = make_client(emu)
    _status(client, bucket)
    with pytest.raises(oss.exceptions.OperationError) as excinfo:
        client.list_buckets(oss.ListBucketsRequest())
    assert service_error(excinfo).status_code == 503
    assert [(e.bucket, e.status) for e in emu.request_log] == [(bucket, 200), (None, 503)]


def test_a_negative_skip_is_refused(emu):
    """A scripted fault with a negative skip is a ValueError, not a silent no-op."""
    with pytest.raises(ValueError, match="skip"):
        emu.script_fault("GET", skip=-1)


def test_cleared_scripts_fail_nothing_more(emu_bucket):
    """After `clear_scripted_faults`, a script with requests left fails none of them."""
    emu, bucket = emu_bucket
    emu.script_fault("GET", bucket, count=100)
    client = make_client(emu)
    _status(client, bucket)
    emu.clear_scripted_faults()
    _status(client, bucket)
    assert [e.status for e in emu.request_log] == [503, 200]
