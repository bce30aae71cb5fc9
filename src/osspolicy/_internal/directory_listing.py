"""One Resource Directory's listings (contracts §17): its management account and its
members, every call in a worker thread, retried, through `backends/directory.py`.

```
GetResourceDirectory ─► the management account's id
ListAccounts (NextToken) ─► every member          [no `folders:`]
ListAccountsForParent + ListFoldersForParent ─► each folder, walked down (page numbers)
```

A call that fails after its retries is the directory's `PreflightError` (exit 2, nothing
sent to OSS), whose hint says what to check: the credentials for an answer that refuses
them, the endpoint and its CA (`connection.ca_file`) for no answer at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from .accounts import Account
from .backends import directory as rd
from .errors import BackendError, NetworkError, PreflightError
from .manifest import Manifest
from .retry import RetryConfig, Sleep, Tries

__all__ = ("Lister",)

T = TypeVar("T")


def _hint(error: BackendError) -> str:
    """What to check when a directory call failed: where it goes (no answer, a TLS
    handshake refused), else the credentials."""
    if isinstance(error, NetworkError):
        tls = " and its CA (connection.ca_file, SSL_CERT_FILE)" if error.cause == "tls" else ""
        return f"check resource_directory.endpoint{tls}"
    return (
        "give the directory account the management account's credentials (or a "
        "delegated administrator's) with resourcedirectory read access, and check "
        "resource_directory.endpoint"
    )


class Lister:
    """One directory's listings, each call in a worker thread and retried."""

    def __init__(
        self,
        account: Account,
        provider: object,
        manifest: Manifest,
        sleep: Sleep,
        *,
        ca_file: str | None = None,
    ) -> None:
        spec = account.resource_directory
        if spec is None:  # pragma: no cover - only made for a directory
            raise ValueError(f"account {account.name} is not a resource_directory")
        self.account = account
        self.spec = spec
        self.provider = provider
        r = manifest.retry
        self.retry = RetryConfig(r.attempts, r.base_delay_s, r.max_delay_s)
        connection = manifest.connection
        self.settings = rd.CallSettings(
            (connection.connect_timeout_s, connection.read_timeout_s), ca_file
        )
        self.sleep = sleep

    async def call(self, action: str, fn: Callable[..., T], *args: object) -> T:
        """`fn(provider, endpoint, *args, settings)` in a thread, retried; a failure is
        the directory's pre-flight error."""

        async def once() -> T:
            call = functools.partial(fn, self.provider, self.spec.endpoint, *args, self.settings)
            return await anyio.to_thread.run_sync(call)

        try:
            return await Tries(self.retry, sleep=self.sleep)(once)
        except BackendError as exc:
            endpoint = self.spec.endpoint or rd.DEFAULT_ENDPOINT
            raise PreflightError(
                f"the resource directory cannot be listed ({action} at {endpoint}): {exc}",
                place=f"account {self.account.name}",
                hint=_hint(exc),
            ) from None

    async def members(self) -> list[rd.Member]:
        """Every member of the directory, or of its `folders:` (each walked down)."""
        if not self.spec.folders:
            found: list[rd.Member] = []
            token: str | None = None
            while True:
                page, token = await self.call("ListAccounts", rd.accounts_page, token)
                found += page
                if not token:
                    return found
        seen: dict[str, rd.Member] = {}
        queue, walked = list(self.spec.folders), set()
        while queue:
            folder = queue.pop(0)
            if folder in walked:
                continue
            walked.add(folder)
            for member in await self._paged(
                "ListAccountsForParent", rd.accounts_in_folder_page, folder
            ):
                seen.setdefault(member.account_id, member)
            queue += await self._paged("ListFoldersForParent", rd.folders_page, folder)
        return list(seen.values())

    async def _paged(
        self, action: str, fn: Callable[..., tuple[list[T], int]], folder: str
    ) -> list[T]:
        """Every item of a page-numbered listing of one folder."""
        items: list[T] = []
        number = 1
        while True:
            page, total = await self.call(action, fn, folder, number)
            items += page
            if not page or len(items) >= total:
                return items
            number += 1
