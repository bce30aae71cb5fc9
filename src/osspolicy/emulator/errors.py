"""The service's refusals: `OssError` and the EC (x-oss-ec) of each code.

State, auth and the handler raise `OssError`; only the handler renders it as XML (or, for
STS, as the RPC error JSON). `osspolicy.emulator.state` re-exports both names.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ("EC", "OssError")

# Error codes (x-oss-ec). Those from oss_wire_spec.md §3 are the service's; the ones in the
# 9999 range are the emulator's own, used where the service's EC is not documented.
EC: Mapping[str, str] = {
    "NoSuchBucket": "0015-00000101",
    "NoSuchBucketPolicy": "0030-00000006",
    "AccessDenied": "0003-00000001",
    "InvalidArgument": "9999-00000001",
    "InvalidSigningRegion": "0002-00000226",
    "SignatureDoesNotMatch": "0002-00000040",
    "SignatureDoesNotMatchV4": "0002-00000201",
    "InvalidAccessKeyId": "0002-00000902",
    # an STS key without its token: help.aliyun.com .../oss/user-guide/0002-00000003 and the
    # service's answer quoted in github.com/lucky1213/aliyun_oss issue #19
    "MissingSecurityToken": "0002-00000003",
    # help.aliyun.com/en/oss/user-guide/0002-00000007; code and message as the service sent
    # them in github.com/jxxghp/MoviePilot issue #6295
    "SecurityTokenExpired": "0002-00000007",
    # help.aliyun.com/en/oss/user-guide/0002-00000008 (the code string is not documented)
    "InvalidSecurityToken": "0002-00000008",
    # help.aliyun.com/zh/oss/user-guide/0017-00000502 (malformed) and -00000503 (mismatch)
    "InvalidDigest": "0017-00000502",
    "BadDigest": "0017-00000503",
    "RequestTimeTooSkewed": "9999-00000002",
    "TooManyBuckets": "9999-00000003",
    "InvalidBucketName": "9999-00000004",
    "BucketAlreadyExists": "9999-00000005",
    # help.aliyun.com/document_detail/32005 (its MalformedXML example)
    "MalformedXML": "0031-00000001",
    "EntityTooLarge": "9999-00000007",
    "WrongEndpoint": "9999-00000009",
    "InternalError": "9999-00000500",
    "ServiceUnavailable": "0004-00000302",
}


class OssError(Exception):
    """A refusal as the service states it: code, HTTP status, EC and message."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int,
        ec: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.ec = ec if ec is not None else EC.get(code, EC["InvalidArgument"])
        self.extra: dict[str, str] = dict(extra or {})
