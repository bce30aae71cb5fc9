"""One rule for "public": the shared table of cases, run against the client's `is_public`,
the emulator's state (no HTTP) and, for a handful, the real SDK against the emulator.

The table is `tests/data/public_cases.json`; the rule and its source are in the README
("What counts as public"). Client and emulator implement it apart (the emulator plays the
service and imports nothing of the client), so this table is what keeps them agreeing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import alibabacloud_oss_v2 as oss
import pytest

from osspolicy._internal.policy_inspect import is_public, public_statements
from osspolicy.emulator import Emulator, EmulatorState, OssError
from tests.emulator.conftest import AK, REGION, SK, make_client, service_error

TABLE = Path(__file__).parent / "data" / "public_cases.json"
MIN_CASES = 20


@dataclass(frozen=True, slots=True)
class PublicCase:
    """One row of the table: a whole policy document and the service's verdict on it."""

    id: str
    document: dict[str, Any]
    public: bool
    reason: str
    e2e: bool

    @property
    def body(self) -> bytes:
        """The document as PutBucketPolicy sends it."""
        return json.dumps(self.document).encode()

    @property
    def bucket(self) -> str:
        """A bucket name of this case's own."""
        return f"pub-{self.id}"[:63]


def load_cases() -> list[PublicCase]:
    """Read the table, laying each `statement` over the base statement (null removes)."""
    table = json.loads(TABLE.read_text(encoding="utf-8"))
    cases = []
    for row in table["cases"]:
        if "document" in row:
            document = row["document"]
        else:
            statement = copy.deepcopy(table["base_statement"]) | row["statement"]
            statement = {key: value for key, value in statement.items() if value is not None}
            document = {"Version": "1", "Statement": [statement]}
        cases.append(
            PublicCase(row["id"], document, row["public"], row["reason"], row.get("e2e", False))
        )
    return cases


CASES = load_cases()
E2E_CASES = [case for case in CASES if case.e2e]


def _params(cases: list[PublicCase]) -> list[Any]:
    return [pytest.param(case, id=case.id) for case in cases]


def test_the_table_covers_both_verdicts_with_unique_ids():
    """The table has at least 20 cases, unique ids, one-sentence reasons and both verdicts."""
    ids = [case.id for case in CASES]
    verdicts = {case.public for case in CASES}
    e2e_verdicts = {case.public for case in E2E_CASES}
    sentences = [case.reason.count(". ") == 0 and case.reason.endswith(".") for case in CASES]
    assert (len(ids) >= MIN_CASES, len(set(ids)) == len(ids), all(sentences)) == (True,) * 3
    assert (verdicts, e2e_verdicts) == ({True, False}, {True, False})


@pytest.mark.parametrize("case", _params(CASES))
def test_the_client_predicts_the_verdict(case: PublicCase):
    """`is_public` gives the table's verdict, and names a statement exactly when public."""
    assert (is_public(case.document), bool(public_statements(case.document))) == (
        case.public,
        case.public,
    )


@pytest.mark.parametrize("case", _params(CASES))
def test_the_emulator_reports_the_verdict(case: PublicCase):
    """With Block Public Access off the emulator keeps the policy; its IsPublic is the verdict."""
    state = EmulatorState()
    state.create_bucket(case.bucket)
    state.set_block_public_access(case.bucket, on=False)
    state.put_policy(case.bucket, case.body)
    assert state.policy_is_public(case.bucket) is case.public


@pytest.mark.parametrize("case", _params(CASES))
def test_the_emulator_refuses_exactly_the_public_ones_under_block_public_access(case: PublicCase):
    """With Block Public Access on the emulator's state refuses a policy exactly when public."""
    state = EmulatorState()
    state.create_bucket(case.bucket)
    try:
        state.put_policy(case.bucket, case.body)
    except OssError as error:
        refused: tuple[object, ...] = (error.code, error.status)
    else:
        refused = ()
    assert refused == (("AccessDenied", 403) if case.public else ())


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(access_key_id=AK, access_key_secret=SK, region=REGION) as emu:
        yield emu


@pytest.mark.parametrize("case", _params(E2E_CASES))
def test_the_sdk_gets_access_denied_exactly_for_the_public_ones(
    emulator: Emulator, case: PublicCase
):
    """Over HTTP, with Block Public Access on (a new bucket's default), the real SDK's
    PutBucketPolicy gets 403 AccessDenied for a public case and 200 (IsPublic false) otherwise."""
    client = make_client(emulator)
    client.put_bucket(oss.PutBucketRequest(bucket=case.bucket))
    request = oss.PutBucketPolicyRequest(bucket=case.bucket, body=case.body.decode())
    if case.public:
        with pytest.raises(oss.exceptions.OperationError) as excinfo:
            client.put_bucket_policy(request)
        error = service_error(excinfo)
        answer = (error.status_code, error.code, emulator.state.get_policy(case.bucket))
        assert answer == (403, "AccessDenied", None)
    else:
        status = client.put_bucket_policy(request).status_code
        result = client.get_bucket_policy_status(
            oss.GetBucketPolicyStatusRequest(bucket=case.bucket)
        )
        assert (status, result.policy_status.is_public) == (200, False)
