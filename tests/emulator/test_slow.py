"""Slow answers: a `hang` never answers, a `trickle` sends its body a few bytes at a time.

What a client's deadline (contracts §14) is tested against; none of these waits for the
slowness itself: a hang is ended by the client's own short read timeout, a trickle is
fast enough to finish at once.
"""

from __future__ import annotations

import alibabacloud_oss_v2 as oss
import pytest
from typer.testing import CliRunner

from osspolicy.emulator import Emulator
from osspolicy.emulator.command import build_app, parse_request_spec
from tests.emulator.conftest import PRIVATE_POLICY, make_client


def _get_policy(client: oss.Client, bucket: str) -> bytes:
    result = client.get_bucket_policy(oss.GetBucketPolicyRequest(bucket=bucket))
    return str(result.body).encode()


def test_a_hang_is_logged_without_a_status_and_never_answered(emu: Emulator) -> None:
    """A hung GetBucketPolicy is in the request log (status null, fault `hang`) and the
    client gets no answer: its own read timeout ends the call, and nothing changed."""
    emu.seed_buckets(["held"], policy=PRIVATE_POLICY.encode())
    emu.script_fault("GET", None, "policy", kind="hang", count=None)
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        emu.access_key_id, emu.access_key_secret
    )
    cfg.region, cfg.endpoint = emu.region, emu.endpoint
    cfg.retryer = oss.retry.NopRetryer()
    cfg.readwrite_timeout = 0.3
    client = oss.Client(cfg)

    with pytest.raises(oss.exceptions.OperationError):
        _get_policy(client, "held")

    held = [e for e in emu.request_log if e.subresource == "policy"]
    assert [(e.method, e.status, e.fault) for e in held] == [("GET", None, "hang")]
    assert emu.state.get_policy("held") == PRIVATE_POLICY.encode()


def test_a_hang_holds_only_the_requests_it_matches(emu: Emulator) -> None:
    """With GetBucketPolicy hung, ListBuckets is still answered."""
    emu.seed_buckets(["held"], policy=PRIVATE_POLICY.encode())
    emu.script_fault("GET", None, "policy", kind="hang", count=None)
    listed = make_client(emu).list_buckets(oss.ListBucketsRequest())
    assert [b.name for b in listed.buckets or []] == ["held"]


def test_a_trickled_body_arrives_whole_and_byte_exact(emu: Emulator) -> None:
    """A trickled GetBucketPolicy answer is the policy, byte for byte, logged as `trickle`."""
    emu.seed_buckets(["slow"], policy=PRIVATE_POLICY.encode())
    emu.script_fault(
        "GET", None, "policy", kind="trickle", count=None, bytes_per_s=len(PRIVATE_POLICY) * 20
    )

    body = _get_policy(make_client(emu), "slow")

    assert body == PRIVATE_POLICY.encode()
    logged = [(e.status, e.fault) for e in emu.request_log if e.subresource == "policy"]
    assert logged == [(200, "trickle")]


def test_a_trickle_needs_a_positive_rate(emu: Emulator) -> None:
    """A trickle of zero bytes a second is refused when scripted."""
    with pytest.raises(ValueError, match="bytes_per_s"):
        emu.script_fault("GET", None, "policy", kind="trickle", bytes_per_s=0)


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("GET:policy", ("GET", "policy")),
        ("get", ("GET", None)),
        ("GET:", ("GET", "")),
        ("*", ("*", None)),
    ],
)
def test_a_request_spec_is_a_method_and_an_optional_sub_resource(
    spec: str, parsed: tuple[str, str | None]
) -> None:
    """`METHOD[:SUBRESOURCE]`: no colon is any sub-resource, an empty one is none."""
    assert parse_request_spec(spec) == parsed


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--hang", "GET/policy"], id="hang-not-a-spec"),
        pytest.param(["--trickle", "GET:policy", "--trickle-bytes-per-s", "0"], id="zero-rate"),
    ],
)
def test_bad_slow_flags_are_usage_errors(args: list[str]) -> None:
    """A malformed --hang spec or a trickle rate of zero is exit 2, before serving."""
    result = CliRunner().invoke(build_app(), args)
    assert (result.exit_code, "--" in result.output) == (2, True)
