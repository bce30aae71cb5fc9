"""Credentials that die mid-job (contracts §15): a wrapper around the job's work.

After `LIMIT` consecutive targets of one account (in finishing order) fail with the same
credentials error — InvalidAccessKeyId, SignatureDoesNotMatch, an invalid or expired
token a refresh did not cure, a CredentialsFetchError after its retries — that account's
remaining targets are `skipped` (note `credentials`) instead of sent; other accounts go
on. The summary carries one line per such account (`summary_extra`). Any other result of
the account resets its count.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .operations import skipped
from .results import Outcome, Result, Target

__all__ = ("CREDENTIALS_CODES", "LIMIT", "DeadCredentials")

#: consecutive failures of one account with one credentials error that stop the account
LIMIT = 5
#: the error codes that mean the account's credentials no longer work
CREDENTIALS_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidSecurityToken",
        "SecurityTokenExpired",
        "CredentialsFetchError",
    }
)
#: the note of a target skipped because its account's credentials died
NOTE = "credentials"

Work = Callable[[Target], Awaitable[Result]]


class DeadCredentials:
    """Counts each account's run of credentials failures; stops the account at `LIMIT`."""

    def __init__(self, action: str) -> None:
        self._action = action
        self._run: dict[str, tuple[str, int]] = {}
        #: account -> the line saying why its remaining targets were skipped
        self.dead: dict[str, str] = {}

    def observe(self, result: Result) -> None:
        """Count `result` into its account's run (finishing order)."""
        code = result.error_code if result.outcome is Outcome.FAILED else None
        account = result.account
        if code not in CREDENTIALS_CODES or account in self.dead:
            self._run.pop(account, None)
            return
        last, count = self._run.get(account, (code, 0))
        count = count + 1 if last == code else 1
        self._run[account] = (code, count)
        if count >= LIMIT:
            self.dead[account] = (
                f"account {account}: {LIMIT} buckets in a row failed with {code}; its "
                "credentials no longer work, its remaining buckets were skipped"
            )

    def wrap(self, work: Work) -> Work:
        """`work`, but a dead account's targets are skipped, and every result counted."""

        async def guarded(target: Target) -> Result:
            if target.account in self.dead:
                return skipped(self._action, target, self.dead[target.account], note=NOTE)
            result = await work(target)
            self.observe(result)
            return result

        return guarded

    def summary_extra(self) -> dict[str, Any]:
        """`{"credentials": [one line per dead account]}`, or nothing."""
        return {"credentials": list(self.dead.values())} if self.dead else {}
