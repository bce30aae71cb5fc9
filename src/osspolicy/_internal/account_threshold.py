"""A directory job's failed-account threshold (contracts §17): `max_failed_accounts`,
`max_failed_account_rate`.

```
AccountBook: an account becomes assume_failed | listing_failed | partial
  ─► check(failed, accounts) ─► reached? ─► stop("accounts", why): the job takes no
     new target (the rest are `skipped`, note `accounts`), AssumeRole into the members
     not reached yet is not sent (their status `skipped`)
```

It stops the job the way the failure threshold does (`safety.Threshold`): through the
job's stopper, which drains the targets left as `skipped` records, so every target has
its record and `--resume` carries on. The rate is a share of the job's accounts (the
directory's members it covers, `excluded` ones not counted), known once the directory
is listed; both limits count per run, like the failure threshold.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ("NOTE", "AccountThreshold")

#: the note of the records the stop leaves (as a restore's unreached member's)
NOTE = "accounts"
#: how the stop is told: (note, one sentence saying why)
StopJob = Callable[[str, str], None]


class AccountThreshold:
    """Stops the job once `max_failed` accounts failed, or `max_rate` of them."""

    def __init__(self, max_failed: int, max_rate: float, stop: StopJob) -> None:
        self.max_failed = max_failed
        self.max_rate = max_rate
        self._stop = stop
        #: why the job stopped (None: it did not)
        self.reason: str | None = None

    @classmethod
    def of(cls, max_failed: int, max_rate: float, stop: StopJob | None) -> AccountThreshold | None:
        """The threshold the manifest asks for, or None (no limit, or no way to stop)."""
        if stop is None or not (max_failed > 0 or max_rate > 0):
            return None
        return cls(max_failed, max_rate, stop)

    def check(self, failed: int, accounts: int) -> None:
        """Stop the job, once, when `failed` of the job's `accounts` reach a limit."""
        if self.reason is not None:
            return
        share = f"{failed} of {accounts} accounts failed (assume_failed, listing_failed or partial)"
        if self.max_failed and failed >= self.max_failed:
            self.reason = f"{share}, reaching max_failed_accounts ({self.max_failed})"
        elif self.max_rate and accounts and failed / accounts >= self.max_rate:
            self.reason = f"{share}, reaching max_failed_account_rate ({self.max_rate:g})"
        if self.reason is not None:
            self._stop(NOTE, self.reason)
