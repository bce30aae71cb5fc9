"""Pre-flight (contracts §15), in memory: causes retrying cannot fix get one line naming
the account, the host and the fix (anything else none), and each (account, region) is
gated by its first call, which the pair's other calls wait for.

The end-to-end behaviour (the emulator, the CLI's one line, exit 2, the folders) is in
`test_preflight_e2e.py`."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from osspolicy._internal import errors
from osspolicy._internal.preflight import Preflight, preflight_reason
from osspolicy._internal.retry import RetryConfig, Tries

ENDPOINT = "https://127.0.0.1:9000"


def _network(cause: str | None) -> errors.NetworkError:
    error = errors.NetworkError("no response")
    error.cause = cause
    return error


def _skewed(offset_s: float | None) -> errors.ClockSkewed:
    error = errors.ClockSkewed("too skewed")
    error.offset_s = offset_s
    return error


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (_network("refused"), "nothing listens there"),
        (_network("dns"), "does not resolve"),
        (
            _network("plain_http"),
            "plain HTTP, not HTTPS; give the endpoint as http://127.0.0.1:9000",
        ),
        (_network("tls"), "TLS handshake failed"),
        (errors.SignatureDoesNotMatch("x"), "the access key secret is wrong"),
        (errors.InvalidAccessKeyId("x"), "the access key id is unknown"),
        (_skewed(3600.0), "the clock of this machine is off by 3600 s (behind OSS's)"),
        (_skewed(-120.0), "the clock of this machine is off by 120 s (ahead of OSS's)"),
        (_skewed(None), "the clock of this machine is off by more than 15 minutes"),
    ],
)
def test_a_cause_retrying_cannot_fix_gets_one_line(error: errors.BackendError, says: str) -> None:
    """Each unfixable cause names the account, the host and its fix, on one line."""
    line = preflight_reason(error, account="prod", endpoint=ENDPOINT)
    assert line is not None
    assert line.startswith("account prod at 127.0.0.1:9000: ")
    assert says in line
    assert "\n" not in line


def test_transient_errors_are_no_preflight_failure() -> None:
    """A reset connection or a 503 is worth retrying: no pre-flight line."""
    for error in (_network(None), errors.Throttled("slow down"), errors.ServerError("x")):
        assert preflight_reason(error, account="prod", endpoint=ENDPOINT) is None


def test_access_denied_counts_only_for_a_listing() -> None:
    """AccessDenied stops a discover job's listing, but is a bucket's own on a bucket call."""
    denied = errors.AccessDenied("denied")
    assert preflight_reason(denied, account="prod", endpoint=ENDPOINT) is None
    line = preflight_reason(denied, account="prod", endpoint=ENDPOINT, listing=True)
    assert line is not None
    assert "ListBuckets is denied" in line


# -- the gate ------------------------------------------------------------------------------


class _Calls:
    """A backend call that answers from a script: an exception to raise or a value."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.made = 0

    async def __call__(self) -> str:
        self.made += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        await anyio.lowlevel.checkpoint()
        if isinstance(answer, BaseException):
            raise answer
        return str(answer)


async def _no_sleep(_: float) -> None:
    return None


def _gates(shut: list[errors.PreflightFailed] | None = None) -> Preflight:
    return Preflight(
        region="cn-hangzhou",
        endpoint_for=lambda region: f"https://oss-{region}.example.test",
        on_shut=None if shut is None else shut.append,
    )


def _tries(gates: Preflight, attempts: int = 10) -> Tries:
    return Tries(RetryConfig(attempts=attempts), sleep=_no_sleep, preflight=gates)


@pytest.mark.asyncio
async def test_a_refused_first_call_is_tried_twice_then_shuts_its_pair() -> None:
    """A refused connection gets 2 attempts, not `retry.attempts`; the pair's gate shuts
    and the job is told once, with the line naming the account and the region's host."""
    shut: list[errors.PreflightFailed] = []
    gates = _gates(shut)
    call = _Calls(_network("refused"))
    tries = _tries(gates).at("prod", "cn-beijing")
    with pytest.raises(errors.PreflightFailed) as caught:
        await tries(call)
    assert (call.made, tries.count) == (2, 2)
    assert caught.value.sent
    assert caught.value.reason == (
        "account prod at oss-cn-beijing.example.test: nothing listens there; "
        "check the endpoint's host and port"
    )
    assert [f.reason for f in shut] == [caught.value.reason]


@pytest.mark.asyncio
async def test_a_wrong_secret_is_not_tried_twice() -> None:
    """An answer that cannot change (SignatureDoesNotMatch) shuts the gate at once."""
    call = _Calls(errors.SignatureDoesNotMatch("no"))
    with pytest.raises(errors.PreflightFailed, match="secret is wrong"):
        await _tries(_gates()).at("prod")(call)
    assert call.made == 1


@pytest.mark.asyncio
async def test_a_skewed_clock_is_signed_again_once() -> None:
    """RequestTimeTooSkewed gets one re-signed try; a second skew shuts the gate."""
    call = _Calls(_skewed(900.0))
    with pytest.raises(errors.PreflightFailed, match="off by 900 s"):
        await _tries(_gates()).at("prod")(call)
    assert call.made == 2


@pytest.mark.asyncio
async def test_every_other_call_of_a_shut_pair_is_refused_unsent() -> None:
    """The pair's other calls waited for its first; once it shut they raise a failure
    that says they sent nothing. Another pair (region, account) is not concerned."""
    gates = _gates()
    first = _Calls(errors.InvalidAccessKeyId("who?"))
    others = [_Calls("never") for _ in range(5)]
    elsewhere = _Calls("ok")
    failures: list[errors.PreflightFailed] = []

    async def one(calls: _Calls, account: str, region: str | None) -> None:
        try:
            await _tries(gates).at(account, region)(calls)
        except errors.PreflightFailed as exc:
            failures.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(one, first, "prod", None)
        for calls in others:
            group.start_soon(one, calls, "prod", "cn-hangzhou")  # the same pair
        group.start_soon(one, elsewhere, "dev", None)
    assert first.made == 1
    assert [c.made for c in others] == [0] * 5
    assert elsewhere.made == 1
    assert sorted(f.sent for f in failures) == [False] * 5 + [True]


@pytest.mark.asyncio
async def test_a_transient_first_call_is_no_preflight_failure() -> None:
    """Two 503s on the first call open the gate: the call goes on under retry.attempts
    (its count goes on from 2) and succeeds; nobody is told of a shut gate."""
    shut: list[errors.PreflightFailed] = []
    call = _Calls(errors.Throttled("slow"), errors.Throttled("slow"), errors.Throttled("x"), "ok")
    tries = _tries(_gates(shut)).at("prod")
    assert await tries(call) == "ok"
    assert (call.made, tries.count, shut) == (4, 4, [])


@pytest.mark.asyncio
async def test_a_refused_first_call_then_an_answer_opens_the_gate() -> None:
    """A refusal that a second try does not meet (a blip) is no pre-flight failure."""
    gates = _gates()
    call = _Calls(_network("refused"), "ok")
    assert await _tries(gates).at("prod")(call) == "ok"
    later = _Calls(_network("refused"), "ok")  # the gate is open: retried as any call
    assert await _tries(gates).at("prod")(later) == "ok"
    assert gates.failures == []


@pytest.mark.asyncio
async def test_a_buckets_own_error_opens_the_gate() -> None:
    """NoSuchBucket proves the endpoint and the credentials work: raised as it is, the
    gate open, the next call made directly."""
    gates = _gates()
    with pytest.raises(errors.NoSuchBucket):
        await _tries(gates).at("prod")(_Calls(errors.NoSuchBucket("gone")))
    after = _Calls("ok")
    assert await _tries(gates).at("prod")(after) == "ok"
    assert after.made == 1


@pytest.mark.asyncio
async def test_one_attempt_allowed_is_one_attempt_made() -> None:
    """`retry.attempts: 1` caps the first call too: a refusal shuts the gate at once."""
    call = _Calls(_network("refused"))
    with pytest.raises(errors.PreflightFailed):
        await _tries(_gates(), attempts=1).at("prod")(call)
    assert call.made == 1


@pytest.mark.asyncio
async def test_a_first_call_that_stops_leaves_the_gate_to_the_next() -> None:
    """A first call cut short (a stop, a cancellation) decides nothing: the next call of
    the pair becomes the first."""
    gates = _gates()

    async def stopped() -> str:
        raise errors.Stopped("stopping")

    with pytest.raises(errors.Stopped):
        await _tries(gates).at("prod")(stopped)
    call = _Calls(errors.SignatureDoesNotMatch("no"))
    with pytest.raises(errors.PreflightFailed) as caught:
        await _tries(gates).at("prod")(call)
    assert caught.value.sent


@pytest.mark.asyncio
async def test_tries_without_a_job_have_no_gate() -> None:
    """`Tries` made without a Preflight (a library caller's) calls directly."""
    call = _Calls(_network("refused"), _network("refused"), "ok")
    tries = Tries(RetryConfig(attempts=5), sleep=_no_sleep).at("prod")
    assert await tries(call) == "ok"
    assert call.made == 3
