"""The pure state model: public-policy rules, listing and seeding, without HTTP."""

from __future__ import annotations

import json

import pytest

from osspolicy.emulator import EmulatorState, OssError
from osspolicy.emulator.state import check_policy


def _doc(*statements: dict[str, object]) -> bytes:
    return json.dumps({"Version": "1", "Statement": list(statements)}).encode()


def _statement(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "Effect": "Allow",
        "Action": "oss:GetObject",
        "Principal": ["*"],
        "Resource": "acs:oss:*:1:b/*",
    }
    base.update(fields)
    return base


def test_consecutive_wildcards_are_invalid_policy_syntax():
    """A value with `**` is refused with EC 0030-00000007."""
    with pytest.raises(OssError) as excinfo:
        check_policy(_doc(_statement(Resource="acs:oss:*:1:b/**")))
    assert (excinfo.value.code, excinfo.value.ec) == ("InvalidPolicyDocument", "0030-00000007")


def test_statement_without_principal_is_invalid():
    """A bucket-policy statement must name a Principal (0030-00000005)."""
    statement = _statement()
    del statement["Principal"]
    with pytest.raises(OssError) as excinfo:
        check_policy(_doc(statement))
    assert excinfo.value.ec == "0030-00000005"


def test_list_buckets_page_ends_where_the_prefix_ends():
    """A page stops at the last name with the prefix and is then not truncated."""
    state = EmulatorState()
    state.seed(["a-1", "a-2", "b-1"])
    page = state.list_buckets(prefix="a-", max_keys=2)
    assert ([b.name for b in page.buckets], page.is_truncated, page.next_marker) == (
        ["a-1", "a-2"],
        False,
        "",
    )


def test_seed_keeps_a_public_policy_even_with_block_public_access_on():
    """Seeding may create the state "BPA switched on after a public policy was put"."""
    state = EmulatorState()
    state.seed(["legacy"], policy=_doc(_statement()))
    assert (state.policy_is_public("legacy"), state.get_block_public_access("legacy")) == (
        True,
        True,
    )


def test_seed_takes_a_policy_per_bucket_from_a_function():
    """`policy` may be a function of the bucket name; None leaves that bucket without one."""
    state = EmulatorState()
    policy = _doc(_statement(Principal=["1"]))
    state.seed(["with-policy", "without"], policy=lambda n: policy if n == "with-policy" else None)
    assert (state.get_policy("with-policy"), state.get_policy("without")) == (policy, None)


def test_seed_refuses_an_invalid_policy():
    """Seeding validates policies like PutBucketPolicy: a broken one is InvalidPolicyDocument."""
    with pytest.raises(OssError) as excinfo:
        EmulatorState().seed(["x-bucket"], policy=b"{not json")
    assert excinfo.value.code == "InvalidPolicyDocument"


def test_state_errors_carry_code_status_and_ec():
    """State raises domain errors with the OSS code, HTTP status and EC, not HTTP responses."""
    with pytest.raises(OssError) as excinfo:
        EmulatorState().get_policy("missing")
    assert (excinfo.value.code, excinfo.value.status, excinfo.value.ec) == (
        "NoSuchBucket",
        404,
        "0015-00000101",
    )


def test_seeded_buckets_get_the_emulator_region():
    """Buckets seeded without a region are in the state's region."""
    state = EmulatorState(region="cn-beijing")
    state.seed(["seeded"])
    assert state.bucket_region("seeded") == "cn-beijing"
