"""What Alibaba Cloud's OpenAPI gateway (POP) answers, shared by STS and the directory.

Both RPC products the emulator plays on its own endpoint — STS AssumeRole (`sts.py`) and
ResourceDirectoryMaster (`rdmaster.py`) — refuse with the same JSON (`RequestId`,
`HostId`, `Code`, `Message`, `Recommend`) that `alibabacloud_credentials` and
`alibabacloud_tea_openapi` read `Code` and `Message` from, and treat a temporary (STS)
key alike: its own security token must come with it, until it expires.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from osspolicy.emulator.auth import KeyPair

__all__ = ("JSON", "PopError", "PopReply", "check_security_token", "error_reply")

JSON = "application/json;charset=utf-8"


class PopError(Exception):
    """A refusal of an RPC product: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class PopReply:
    """The answer to one RPC call: status, JSON body, the error code if any, and the
    access key id that signed it (for the request log; None when there was none)."""

    status: int
    body: bytes
    error_code: str | None = None
    access_key_id: str | None = None


def error_reply(
    exc: PopError,
    request_id: str,
    *,
    host_id: str,
    product: str,
    access_key_id: str | None = None,
) -> PopReply:
    """The gateway's error JSON for `exc` (never a secret: the messages hold none)."""
    error = {
        "RequestId": request_id,
        "HostId": host_id,
        "Code": exc.code,
        "Message": exc.message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={exc.code}&product={product}",
    }
    return PopReply(exc.status, json.dumps(error).encode(), exc.code, access_key_id)


def check_security_token(pair: KeyPair, token: str | None, now: float) -> None:
    """A temporary key needs its own token and works until it expires; a permanent key
    needs none (PopError otherwise, the STS codes)."""
    if pair.security_token is None:
        return
    if not hmac.compare_digest((token or "").encode(), pair.security_token.encode()):
        raise PopError(
            "InvalidSecurityToken.MismatchWithAccessKey",
            "Specified SecurityToken mismatch with the AccessKey.",
        )
    if pair.expires_at is not None and now >= pair.expires_at:
        raise PopError("InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
