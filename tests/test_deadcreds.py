"""Credentials that die mid-job (contracts §15), the counting rule on its own: 5 failures
in a row of one account with one credentials error stop that account, and only it."""

from __future__ import annotations

import anyio

from osspolicy._internal.deadcreds import LIMIT, DeadCredentials
from osspolicy._internal.results import Outcome, Result, Target


def _result(account: str, code: str | None, outcome: Outcome = Outcome.FAILED) -> Result:
    return Result(
        bucket="b", region="cn-hangzhou", action="backup", outcome=outcome,
        account=account, error_code=code,
    )  # fmt: skip


def test_five_in_a_row_stop_the_account() -> None:
    """The 5th consecutive InvalidAccessKeyId of an account marks it dead, with one line."""
    dead = DeadCredentials("backup")
    for _ in range(LIMIT):
        dead.observe(_result("a", "InvalidAccessKeyId"))
    assert list(dead.dead) == ["a"]
    assert dead.summary_extra()["credentials"][0].startswith("account a: 5 buckets in a row")


def test_another_result_resets_the_count() -> None:
    """A success (or another error) between failures starts the count again."""
    dead = DeadCredentials("backup")
    for _ in range(LIMIT - 1):
        dead.observe(_result("a", "SignatureDoesNotMatch"))
    dead.observe(_result("a", None, Outcome.FETCHED))
    for _ in range(LIMIT - 1):
        dead.observe(_result("a", "SignatureDoesNotMatch"))
    assert dead.dead == {}
    assert dead.summary_extra() == {}


def test_different_credentials_errors_do_not_add_up() -> None:
    """The run counts one error code: a change of code starts a new run."""
    dead = DeadCredentials("backup")
    for code in ["InvalidAccessKeyId"] * 3 + ["SignatureDoesNotMatch"] * 3:
        dead.observe(_result("a", code))
    assert dead.dead == {}


def test_one_accounts_failures_leave_the_other_going() -> None:
    """Once account a is dead its targets are skipped unsent; account b's still run."""
    dead = DeadCredentials("backup")
    for _ in range(LIMIT):
        dead.observe(_result("a", "CredentialsFetchError"))
    sent: list[str] = []

    async def work(target: Target) -> Result:
        sent.append(target.account)
        return _result(target.account, None, Outcome.FETCHED)

    guarded = dead.wrap(work)

    async def go() -> list[Result]:
        return [
            await guarded(Target(bucket="x", region="cn-hangzhou", account=account))
            for account in ("a", "b")
        ]

    first, second = anyio.run(go)
    assert (first.outcome, first.note) == (Outcome.SKIPPED, "credentials")
    assert second.outcome is Outcome.FETCHED
    assert sent == ["b"]
