"""STS AssumeRole on the emulator's own endpoint: the RPC the credentials library sends.

A request whose query (or form body) carries `Action=AssumeRole` is this RPC, whatever
its path or Host, so `sts_endpoint: http://127.0.0.1:PORT` points Alibaba Cloud's
`alibabacloud-credentials` (`ram_role_arn`) at the emulator unchanged. As that library
does (`alibabacloud_credentials/provider/ram_role_arn.py`,
`utils/parameter_helper.py`), the request is RPC style: every parameter in the query,
`Signature` = base64(HMAC-SHA1(secret + "&", "GET&%2F&" + quote_plus(canonical query)))
where the canonical query is the sorted `quote_plus(k)=quote_plus(v)` pairs joined by `&`.
The POP form of the same (RFC 3986, space as %20) is accepted too.

Role ARNs are `acs:ram::<ACCOUNT_ID>:role/<name>` of the emulator's accounts; any key it
knows may assume any role name of them (no trust policies are modelled), except in the
accounts of a resource directory (`directory.py`): there a role exists only if the
member lists it (`roles:`, else 404 EntityNotExist.Role), and trusts only the
directory's management account (its keys, or temporary keys of a role in it; anyone else
gets 403 NoPermission). The answer is the service's JSON, with `STS.`-prefixed temporary
keys that act as the role's account, a SecurityToken, and an Expiration of now +
`duration_s` whatever DurationSeconds asked. Errors are the RPC error JSON (`pop.py`),
codes and messages as the STS documentation lists them
(alibabacloud.com/help/doc-detail/42775).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
import time
from collections.abc import Callable, Collection, Mapping
from urllib.parse import quote, quote_plus

from osspolicy.emulator.auth import KeyPair, KeyStore
from osspolicy.emulator.directory import ResourceDirectory
from osspolicy.emulator.pop import PopError, PopReply, check_security_token, error_reply

__all__ = (
    "DEFAULT_STS_DURATION_S",
    "StsService",
    "is_sts_request",
    "rpc_signature",
)

DEFAULT_STS_DURATION_S = 3600
STS_HOST = "sts.aliyuncs.com"
_ROLE_ARN = re.compile(r"acs:ram::(?P<account>[A-Za-z0-9-]+):role/(?P<role>[A-Za-z0-9.@_-]{1,64})")
_SESSION_NAME = re.compile(r"[A-Za-z0-9.@_-]{2,64}")
_ALNUM = string.ascii_letters + string.digits


def is_sts_request(params: Mapping[str, str]) -> bool:
    """Whether the parameters are the STS AssumeRole RPC."""
    return params.get("Action") == "AssumeRole"


def rpc_signature(method: str, params: Mapping[str, str], secret: str, *, plus: bool = True) -> str:
    """The RPC (HMAC-SHA1) signature of `params` (without `Signature`) for `secret`.

    `plus` encodes as the credentials library does (`quote_plus`); else as POP (RFC 3986).
    """

    def encode(text: str) -> str:
        return quote_plus(text, safe="~") if plus else quote(text, safe="~")

    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs)
    string_to_sign = f"{method.upper()}&{encode('/')}&{encode(canonical)}"
    digest = hmac.new((secret + "&").encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise PopError(
            "MissingParameter",
            f'The input parameter "{name}" that is mandatory for processing this request '
            "is not supplied.",
        )
    return value


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class StsService:
    """Verifies AssumeRole calls and issues temporary keys into the shared `KeyStore`."""

    def __init__(
        self,
        keys: KeyStore,
        account_ids: Callable[[], Collection[str]],
        *,
        duration_s: float = DEFAULT_STS_DURATION_S,
        directory: ResourceDirectory | None = None,
    ) -> None:
        if duration_s <= 0:
            raise ValueError(f"the STS duration must be positive, got {duration_s}")
        self.keys = keys
        self.account_ids = account_ids
        self.duration_s = duration_s
        self.directory = directory

    def __repr__(self) -> str:
        return f"StsService(duration_s={self.duration_s})"

    def handle(self, method: str, params: Mapping[str, str], request_id: str) -> PopReply:
        """The JSON answer to one AssumeRole call."""
        access_key_id = params.get("AccessKeyId")
        try:
            body = self.assume_role(method, params)
        except PopError as exc:
            return error_reply(
                exc, request_id, host_id=STS_HOST, product="Sts", access_key_id=access_key_id
            )
        body["RequestId"] = request_id
        return PopReply(200, json.dumps(body).encode(), access_key_id=access_key_id)

    def assume_role(self, method: str, params: Mapping[str, str]) -> dict[str, object]:
        """Verify the call and issue a temporary key; PopError otherwise."""
        caller = self._verify(method, params)
        role_arn = _required(params, "RoleArn")
        match = _ROLE_ARN.fullmatch(role_arn)
        if match is None:
            raise PopError("InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed.")
        session = _required(params, "RoleSessionName")
        if not _SESSION_NAME.fullmatch(session):
            raise PopError(
                "InvalidParameter.RoleSessionName",
                "The parameter RoleSessionName is wrongly formed.",
            )
        account_id = match["account"]
        if account_id not in self.account_ids():
            raise PopError(
                "EntityNotExist.Role", f"The specified Role not exists: {role_arn}.", 404
            )
        self._check_trust(caller, account_id, match["role"], role_arn)
        expires_at = float(int(self.keys.clock() + self.duration_s))
        temporary = KeyPair(
            "STS." + _random(_ALNUM, 25),
            _random(_ALNUM, 44),
            account_id,
            "CAIS" + base64.b64encode(secrets.token_bytes(240)).decode(),
            expires_at,
        )
        self.keys.add(temporary)
        return {
            "AssumedRoleUser": {
                "AssumedRoleId": f"3{_random(string.digits, 17)}:{session}",
                "Arn": f"{role_arn}/{session}",
            },
            "Credentials": {
                "SecurityToken": temporary.security_token,
                "AccessKeyId": temporary.access_key_id,
                "AccessKeySecret": temporary.access_key_secret,
                "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at)),
            },
        }

    def _verify(self, method: str, params: Mapping[str, str]) -> KeyPair:
        access_key_id = _required(params, "AccessKeyId")
        signature = _required(params, "Signature")
        if params.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
            raise PopError(
                "InvalidParameter.SignatureMethod", "Only HMAC-SHA1 signatures are supported."
            )
        pair = self.keys.get(access_key_id)
        if pair is None:
            raise PopError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        expected = [
            rpc_signature(method, params, pair.access_key_secret, plus=plus)
            for plus in (True, False)
        ]
        if not any(hmac.compare_digest(e, signature) for e in expected):
            raise PopError(
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        check_security_token(pair, params.get("SecurityToken"), self.keys.clock())
        return pair

    def _check_trust(self, caller: KeyPair, account_id: str, role: str, role_arn: str) -> None:
        """In a directory member, only its own roles exist, and they trust only the
        management account; an account outside the directory trusts any key."""
        directory = self.directory
        member = None if directory is None else directory.member(account_id)
        if directory is None or member is None:
            return
        if role not in member.roles:
            raise PopError(
                "EntityNotExist.Role", f"The specified Role not exists: {role_arn}.", 404
            )
        if caller.account_id != directory.management:
            raise PopError(
                "NoPermission",
                "You are not authorized to do this action. You should be authorized by RAM.",
                403,
            )
