"""Credentials glue: an account's `credentials:` spec as an SDK credentials provider.

Alibaba Cloud's `alibabacloud-credentials` does all the work (contracts §10): its
providers read the aliyun CLI profile, call STS AssumeRole / AssumeRoleWithOIDC, ask the
ECS metadata service or a credentials URI, and cache temporary credentials until they are
stale (15 minutes before they expire), then fetch fresh ones. Here each manifest type only
picks the library's provider and its keys; the library's `Client` is plugged into the
SDK through `CredentialsProviderFunc`. The SDK asks the provider on every request it
signs (`_sent_http_request_once` in both its clients), so a refreshed token is used
from the next request on; nothing here caches credentials.

`type: default` (and `type: env`) with `OSS_ACCESS_KEY_ID` set is the SDK's own
`EnvironmentVariableCredentialsProvider`, as before accounts existed; without it,
`default` is the library's default chain.

The library reads its environment variables (and HOME) once, when it is imported, and
its async API is synchronous underneath: `resolve_credentials` blocks (callers run it in
a thread). The library's logger writes tracebacks and response bodies to stderr on a
failed refresh; it is silenced here, since the failure reaches the user as one
`CredentialsError` line instead (naming the account and the source, never a secret).

AssumeRole (`ram_role_arn`) goes through `StsCalls`: the CA bundle the OSS calls verify
against (`connection.ca_file`, else `SSL_CERT_FILE`, else `REQUESTS_CA_BUNDLE`; the
library would take only certifi's or OpenSSL's default), and for a Resource Directory's
members a `BlockingLimiter` (`sts_rate_limit`) that every AssumeRole into them waits for,
the library's refreshes included (they happen in whichever thread signs a request).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

import alibabacloud_oss_v2 as oss
import anyio

from ..accounts import (
    CredentialsSpec,
    CredentialsUriCredentials,
    DefaultCredentials,
    EcsRamRoleCredentials,
    EnvCredentials,
    OidcCredentials,
    ProfileCredentials,
    RamRoleArnCredentials,
)
from ..errors import CredentialsError
from ..keys import AccessKey
from ..ratelimit import BlockingLimiter
from .http import ca_bundle
from .wire import credentials_reason

if TYPE_CHECKING:
    from alibabacloud_credentials.client import Client
    from alibabacloud_credentials_api import ICredentialsProvider

__all__ = (
    "OffLoopCredentials",
    "StsCalls",
    "account_provider",
    "credentials_provider",
    "library_provider",
    "resolve_credentials",
    "static_provider",
    "sts_calls",
)

#: how each type is fixed, after the one line saying what failed
_HINTS: dict[str, str] = {
    "default": (
        "set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET, or give the account another "
        "credentials type"
    ),
    "env": "set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET (and OSS_SESSION_TOKEN for STS)",
    "profile": "check the profile's name and keys in ~/.aliyun/config.json (aliyun configure)",
    "ram_role_arn": (
        "check the role ARN, that the source credentials may assume it, and sts_endpoint"
    ),
    "ecs_ram_role": "run on an ECS instance with a RAM role attached, or check role_name",
    "oidc": "check the token file, the role ARN and the OIDC provider ARN",
    "credentials_uri": "check that the URI answers with credentials (Code: Success, …)",
}


def _quiet_library_log() -> None:
    """Drop the library's own stderr handler: it logs whole exceptions (with response
    bodies) and tracebacks on a failed refresh, which breaks our one-line errors."""
    log = logging.getLogger("credentials")
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.addHandler(logging.NullHandler())
    log.propagate = False


@functools.cache
def _library() -> ModuleType:
    """The library's providers, imported on first use: an account on the SDK's own
    variables (the common case, and every `put`/`get`) never needs it, and its import
    (aiohttp, a scheduler, crypto: a fifth of a job's start) is paid only by a job that
    does. Its logger is silenced right after, since importing it adds the handler."""
    from alibabacloud_credentials import provider  # noqa: PLC0415 - on first use, see above

    _quiet_library_log()
    return cast("ModuleType", provider)


def _client(provider: ICredentialsProvider) -> Client:
    from alibabacloud_credentials.client import Client  # noqa: PLC0415 - as `_library`

    _library()
    return Client(provider=provider)


def _error(spec: CredentialsSpec, account: str, reason: str) -> CredentialsError:
    return CredentialsError(
        f"the credentials of {spec.describe()} cannot be resolved: {reason}",
        place=f"account {account}",
        hint=_HINTS[spec.type],
    )


def _oss_environment() -> ICredentialsProvider:
    """The SDK's variables (OSS_ACCESS_KEY_ID…) as a library provider, for a source of
    ram_role_arn; read once, as the SDK's own provider does."""
    key_id = os.environ.get("OSS_ACCESS_KEY_ID", "")
    secret = os.environ.get("OSS_ACCESS_KEY_SECRET", "")
    if not key_id or not secret:
        raise ValueError("OSS_ACCESS_KEY_ID or OSS_ACCESS_KEY_SECRET is not set")
    lib = _library()
    token = os.environ.get("OSS_SESSION_TOKEN")
    if token:
        return lib.StaticSTSCredentialsProvider(
            access_key_id=key_id, access_key_secret=secret, security_token=token
        )
    return lib.StaticAKCredentialsProvider(access_key_id=key_id, access_key_secret=secret)


@dataclass(frozen=True, slots=True)
class StsCalls:
    """How AssumeRole calls go: the CA bundle they verify against (None: the library's
    default) and the limiter each waits for (None: unpaced)."""

    ca_file: str | None = None
    pace: BlockingLimiter | None = None


def sts_calls(ca_file: Path | None, pace: BlockingLimiter | None = None) -> StsCalls:
    """How the job's AssumeRole calls go: verified against the bundle the OSS calls use
    (`http.ca_bundle`; certifi's is the library's own default), at `pace` if given."""
    path, source = ca_bundle(ca_file)
    return StsCalls(None if source == "certifi" else path, pace)


@functools.cache
def _ram_role_provider() -> type[Any]:
    """The library's AssumeRole provider, with our CA bundle and pace (a class made on
    first use, as the library is imported then).

    The library builds its cache around `self._refresh_credentials` (every AssumeRole,
    the first and each refresh) and sends with `self._runtime_options` (TeaCore reads
    its `ca`); both are its own names, so a test pins that they still take effect
    (`tests/test_directory_options_e2e.py`, over TLS and paced)."""

    class RamRole(_library().RamRoleArnCredentialsProvider):  # type: ignore[misc]
        def __init__(self, sts: StsCalls, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._pace = sts.pace
            options = getattr(self, "_runtime_options", None)
            if sts.ca_file is not None and isinstance(options, dict):
                options["ca"] = sts.ca_file

        def _refresh_credentials(self) -> Any:
            if self._pace is not None:
                self._pace.acquire()
            return super()._refresh_credentials()

    return RamRole


def library_provider(  # noqa: PLR0911 - one per type
    spec: CredentialsSpec, sts: StsCalls | None = None
) -> ICredentialsProvider:
    """The `alibabacloud-credentials` provider for one credentials spec (no request yet);
    `sts`: how its AssumeRole calls go (a source's go with the same CA, unpaced).

    Raises what the library raises for a spec it refuses (ValueError, CredentialException).
    """
    lib = _library()
    match spec:
        case DefaultCredentials():
            if os.environ.get("OSS_ACCESS_KEY_ID"):
                return _oss_environment()
            return lib.DefaultCredentialsProvider()
        case EnvCredentials():
            return _oss_environment()
        case ProfileCredentials():
            return lib.CLIProfileCredentialsProvider(profile_name=spec.profile)
        case RamRoleArnCredentials():
            calls = sts or StsCalls()
            return _ram_role_provider()(
                calls,
                credentials_provider=library_provider(spec.source, StsCalls(calls.ca_file)),
                role_arn=spec.role_arn,
                role_session_name=spec.session_name,
                external_id=spec.external_id,
                sts_endpoint=spec.sts_endpoint,
            )
        case EcsRamRoleCredentials():
            return lib.EcsRamRoleCredentialsProvider(role_name=spec.role_name)
        case OidcCredentials():
            return lib.OIDCRoleArnCredentialsProvider(
                role_arn=spec.role_arn,
                oidc_provider_arn=spec.oidc_provider_arn,
                oidc_token_file_path=str(spec.oidc_token_file_path),
                role_session_name=spec.role_session_name,
                sts_endpoint=spec.sts_endpoint,
            )
        case CredentialsUriCredentials():
            return lib.URLCredentialsProvider(uri=spec.uri)
    raise AssertionError(spec)  # pragma: no cover - the union is exhaustive


def _fetch(client: Client) -> Any:
    """One SDK `Credentials` from the library client: its cache, its refresh."""
    model = client.get_credential()
    return oss.credentials.Credentials(
        access_key_id=model.access_key_id,
        access_key_secret=model.access_key_secret,
        security_token=model.security_token or None,
    )


def credentials_provider(
    spec: CredentialsSpec, *, account: str, sts: StsCalls | None = None
) -> Any:
    """The SDK credentials provider of one account; sends nothing.

    A spec that cannot even be set up (`type: env` without the variables, a role the
    library refuses) raises CredentialsError naming the account and the source.
    """
    if isinstance(spec, EnvCredentials | DefaultCredentials) and (
        isinstance(spec, EnvCredentials) or os.environ.get("OSS_ACCESS_KEY_ID")
    ):
        try:
            return oss.credentials.EnvironmentVariableCredentialsProvider()
        except oss.exceptions.CredentialsEmptyError:
            raise _error(spec, account, "OSS_ACCESS_KEY_SECRET is not set") from None
    try:
        client = _client(library_provider(spec, sts))
    except Exception as exc:  # the library raises ValueError or its own exception
        raise _error(spec, account, credentials_reason(exc)) from None
    return oss.credentials.CredentialsProviderFunc(partial(_fetch, client))


def resolve_credentials(provider: Any, *, account: str, source: CredentialsSpec) -> None:
    """Fetch the account's credentials once, before any bucket request (blocking: run it
    in a thread); a failure is a CredentialsError (exit 2) naming the account and the
    source, never a secret. A temporary token fetched here is cached by the library and
    used by the first requests."""
    try:
        credentials = provider.get_credentials()
    except Exception as exc:
        raise _error(source, account, credentials_reason(exc)) from None
    if credentials is None or not credentials.has_keys():
        raise _error(source, account, "no access key came back")


def static_provider(key: AccessKey) -> Any:
    """The SDK provider of an access key given as an object (the API's `credentials=`)."""
    return oss.credentials.StaticCredentialsProvider(
        key.access_key_id, key.access_key_secret, key.security_token
    )


def account_provider(account: str, spec: CredentialsSpec, sts: StsCalls | None = None) -> Any:
    """`credentials_provider` + `resolve_credentials`: the provider of an account whose
    credentials were fetched once (blocking: run it in a thread, before any request)."""
    provider = credentials_provider(spec, account=account, sts=sts)
    resolve_credentials(provider, account=account, source=spec)
    return provider


class OffLoopCredentials(oss.credentials.CredentialsProvider):  # type: ignore[misc]
    """The SDK provider the async client gets: `get_credentials` never blocks.

    The SDK's async client asks its provider on the event loop for every request it
    signs, and the credentials library is synchronous (a token it calls stale is
    fetched right there, an STS round trip on the loop). So the aio backend keeps the
    credentials here and `refresh()` fetches them in a worker thread: at most every
    `every_s` seconds (one thread hop a second at most; the library's own cache decides
    whether that is a new token: it calls one stale 15 minutes before it expires), and
    at once after a request failed on expired credentials (`force`).
    """

    def __init__(
        self,
        inner: Any,
        *,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._every_s = every_s
        self._clock = clock
        self._current: Any = None
        self._fetched_at = -math.inf
        self._lock = anyio.Lock()

    def get_credentials(self) -> Any:
        """The credentials last fetched (fetched here, once, if never yet)."""
        if self._current is None:
            self._current = self._inner.get_credentials()
            self._fetched_at = self._clock()
        return self._current

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the credentials in a worker thread when they are due (or `force`)."""
        if not force and self._clock() - self._fetched_at < self._every_s:
            return
        async with self._lock:
            if not force and self._clock() - self._fetched_at < self._every_s:
                return  # another caller fetched them while this one waited
            self._current = await anyio.to_thread.run_sync(self._inner.get_credentials)
            self._fetched_at = self._clock()
