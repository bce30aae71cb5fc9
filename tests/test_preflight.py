"""The pre-flight classification (contracts §15): causes retrying cannot fix get one line
naming the account, the host and the fix; anything else gets none."""

from __future__ import annotations

import pytest

from osspolicy import errors
from osspolicy.preflight import preflight_reason

ENDPOINT = "https://127.0.0.1:9000"


def _network(cause: str | None) -> errors.NetworkError:
    error = errors.NetworkError("no response")
    error.cause = cause
    return error


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (_network("refused"), "nothing listens there"),
        (_network("dns"), "does not resolve"),
        (_network("plain_http"), "speaks plain HTTP; give the endpoint as http://127.0.0.1:9000"),
        (_network("tls"), "TLS handshake failed"),
        (errors.SignatureDoesNotMatch("x"), "the access key secret is wrong"),
        (errors.InvalidAccessKeyId("x"), "the access key id is unknown"),
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
