"""What a job's calls go through: the accounts it signs with, the backend the manifest
asks for, and the tries (retry, rate limit, stop, pre-flight gate) around each call.

```
manifest (+ a restore's backup) ─► a directory's members (directory.py) ─► job_accounts
─► make_backend (credentials resolved once, before any request) ─► tries_factory: a
fresh `Tries` per call, one rate limiter
```

The backend classes come from `backends/`, the only package that imports the SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from .account_threshold import StopJob
from .accounts import Account, account_record, check_recorded_accounts
from .backends import Backend, ConnectionConfig
from .backends.credentials import account_provider, static_provider, sts_calls
from .backends.oss import OssBackend
from .backup import Backup
from .directory import Reach, reach_accounts
from .errors import ConfigError
from .keys import AccessKey
from .manifest import Manifest, accounts_of
from .member_list import recorded_lists
from .preflight import Preflight
from .ratelimit import RateLimit
from .retry import RetryConfig, Sleep, Tries
from .stopping import Stop

__all__ = (
    "accounts_and_backend",
    "connection_config",
    "job_accounts",
    "make_backend",
    "tries_factory",
)


async def accounts_and_backend(
    manifest: Manifest,
    backup: Backup | None,
    backend: Backend | None,
    keys: Mapping[str, AccessKey] | None,
    *,
    sleep: Sleep = anyio.sleep,
    stop: StopJob | None = None,
    resume: str | None = None,
) -> tuple[Reach, tuple[Account, ...], Backend]:
    """The accounts the job signs with (a directory's reachable members among them,
    contracts §17: those of the member lists the job `resume` names recorded at its
    start; `stop` for its failed accounts' threshold) and its backend (the one given,
    else the SDK's, every account's credentials resolved): all before any OSS request."""
    recorded = await recorded_lists(Path(manifest.report_dir), resume)
    reach = await reach_accounts(manifest, sleep=sleep, stop=stop, recorded=recorded)
    accounts = job_accounts(reach.manifest, backup, unreached=reach.book.unreached())
    if backend is None:
        backend = await make_backend(reach.manifest, accounts, keys, reach.providers)
    return reach, accounts, backend


def connection_config(manifest: Manifest) -> ConnectionConfig:
    """The backend's connection settings from the manifest."""
    conn = manifest.connection
    # no endpoint: the SDK derives the region's public one (the same URL as ours)
    endpoint = conn.endpoint or (conn.endpoint_template if conn.network == "internal" else None)
    return ConnectionConfig(
        region=conn.region,
        endpoint=endpoint,
        connect_timeout_s=conn.connect_timeout_s,
        read_timeout_s=conn.read_timeout_s,
        call_timeout_s=manifest.timeouts.call_s,
        max_connections=manifest.concurrency,
        ca_file=conn.ca_file,
    )


def job_accounts(
    manifest: Manifest, backup: Backup | None = None, *, unreached: Collection[str] = ()
) -> tuple[Account, ...]:
    """The accounts a job signs with: the manifest's; for a restore without `accounts:`,
    those its backup recorded (contracts §2, §10); else the one `default` account.

    A restore whose backup holds buckets of an account it has no credentials for is
    refused before any request (ConfigError naming the account), unless the account is
    `unreached`: a directory's member that AssumeRole failed for (its buckets are then
    skipped, note `accounts`; contracts §17).
    """
    accounts = accounts_of(manifest)
    if manifest.accounts is None and backup is not None and backup.accounts:
        accounts = backup.accounts
    if backup is not None:
        _check_backup_accounts(accounts, backup)
        names = {account.name for account in accounts} | set(unreached)
        if unknown := sorted({entry.account for entry in backup.entries()} - names):
            raise ConfigError(
                f"the backup holds buckets of account {', '.join(unknown)}, which this job "
                "has no credentials for",
                place=str(backup.folder),
                hint="name it under accounts: in the manifest",
            )
    return accounts


def _check_backup_accounts(accounts: Sequence[Account], backup: Backup) -> None:
    """Refuse (exit 2, naming the account) an account whose credentials are not the
    ones the backup recorded for it (a URL compares by its sha256, contracts §14)."""
    recorded = (backup.summary or {}).get("accounts")
    check_recorded_accounts(
        [account_record(a) for a in accounts],
        # a directory's member the backup left out recorded no credentials (contracts §17)
        [r for r in recorded if not isinstance(r, dict) or r.get("status") != "excluded"]
        if isinstance(recorded, list)
        else recorded,
        recorded_in=f"the backup {backup.folder}",
    )


async def make_backend(
    manifest: Manifest,
    accounts: Sequence[Account] = (),
    keys: Mapping[str, AccessKey] | None = None,
    resolved: Mapping[str, Any] | None = None,
) -> Backend:
    """The SDK backend the manifest asks for, with each account's credentials resolved
    once, off the event loop; one that cannot be resolved raises here, before any
    request (CredentialsError naming the account and the source, exit 2). An account
    in `keys` signs with that access key instead (the API's `credentials=`), one in
    `resolved` with the provider given (a directory's member, already reached)."""
    providers = dict(resolved or {})
    sts = sts_calls(manifest.connection.ca_file)  # a ram_role_arn's AssumeRole
    for account in accounts or accounts_of(manifest):
        key = (keys or {}).get(account.name)
        if key is None and account.name in providers:
            continue
        providers[account.name] = (
            static_provider(key)
            if key is not None
            else await anyio.to_thread.run_sync(
                account_provider, account.name, account.credentials, sts
            )
        )
    if manifest.engine == "aio":
        # imported here: only the aio engine loads aiohttp and the SDK's async client
        from .backends.oss_aio import AioOssBackend  # noqa: PLC0415

        return AioOssBackend(connection_config(manifest), credentials=providers)
    return OssBackend(connection_config(manifest), credentials=providers)


def _retry_config(manifest: Manifest) -> RetryConfig:
    r = manifest.retry
    return RetryConfig(attempts=r.attempts, base_delay_s=r.base_delay_s, max_delay_s=r.max_delay_s)


def tries_factory(
    manifest: Manifest,
    sleep: Sleep,
    stop: Stop | None = None,
    preflight: Preflight | None = None,
) -> Callable[[], Tries]:
    """Fresh `Tries` per call, all pacing on one rate limiter per job (every attempt,
    retries too, waits for it), all obeying the job's `stop`, and each behind its
    (account, region)'s pre-flight gate once told whose calls it makes (`Tries.at`)."""
    retry_cfg = _retry_config(manifest)
    rate = manifest.rate_limit
    limiter = RateLimit.per_second(rate).new_state() if rate > 0 else None

    def new_tries() -> Tries:
        if limiter is None:
            return Tries(retry_cfg, sleep=sleep, stop=stop, preflight=preflight)
        return Tries(retry_cfg, sleep=sleep, pace=limiter.acquire, stop=stop, preflight=preflight)

    return new_tries
