"""Signature verification: V4 (`OSS4-HMAC-SHA256`, spec §4) and V1 (`OSS AK:sig`, §5).

Transport-neutral: the handler (or a test replaying captured requests) builds a
`SignedRequest`; `Verifier.verify` answers with the caller's `Identity` or raises the
service's 403/400 as an `OssError`. Derived V4 signing keys are cached per
(secret, date, region), so a request costs one SHA-256 and one HMAC.

Every key belongs to an account (`KeyPair.account_id`); a temporary key issued by STS
(`sts.py`) also carries its security token and expiry. A request with such a key must
carry the token, in `x-oss-security-token` (V4, and oss2's V1) or `security-token` (the
V2 SDK's V1 signer sends it so, unsigned); after expiry it gets the service's 403
SecurityTokenExpired.

Secrets and tokens live only in `KeyStore` and `KeyPair`, whose reprs never show them.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Literal
from urllib.parse import quote

from osspolicy.emulator.errors import EC, OssError
from osspolicy.emulator.state import DEFAULT_ACCOUNT_ID

__all__ = (
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCESS_KEY_SECRET",
    "MAX_CLOCK_SKEW_S",
    "V1_SUBRESOURCES",
    "Identity",
    "KeyPair",
    "KeyStore",
    "SignedRequest",
    "Verifier",
)

DEMO_ACCESS_KEY_ID = "LTAI5tOssPolicyEmulatorDemo"
"""The documented demo key pair, used when neither arguments nor the environment give one."""
DEMO_ACCESS_KEY_SECRET = "OssPolicyEmulatorDemoSecretNotForRealUse"  # noqa: S105 - public demo pair

MAX_CLOCK_SKEW_S = 15 * 60
V4_ALGORITHM = "OSS4-HMAC-SHA256"
V4_TERMINATOR = "aliyun_v4_request"

V1_SUBRESOURCES = frozenset(
    [
        "acl",
        "bucketInfo",
        "location",
        "stat",
        "delete",
        "append",
        "tagging",
        "objectMeta",
        "uploads",
        "uploadId",
        "partNumber",
        "security-token",
        "position",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "restore",
        "callback",
        "callback-var",
        "versions",
        "versioning",
        "versionId",
        "sequential",
        "continuation-token",
        "regionList",
        "cloudboxes",
        "symlink",
        "resourceGroup",
        "policy",
        "policyStatus",
        "publicAccessBlock",
        "cors",
        "lifecycle",
        "logging",
        "referer",
        "website",
        "encryption",
        "worm",
        "qos",
        "inventory",
        "replication",
        "requestPayment",
        "transferAcceleration",
    ]
)


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An access key of an account: id and secret; an STS key also its token and expiry.

    The secret and the token stay out of repr. `expires_at` is seconds since the epoch.
    """

    access_key_id: str
    access_key_secret: str = field(repr=False)
    account_id: str = DEFAULT_ACCOUNT_ID
    security_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None


class KeyStore:
    """The keys the emulator accepts, by access key id; STS adds keys while it serves.

    `clock` (seconds since the epoch) decides when a temporary key has expired; tests
    inject one to expire a token without waiting.
    """

    def __init__(self, pairs: Iterable[KeyPair], *, clock: Callable[[], float] = time.time) -> None:
        self._pairs = {pair.access_key_id: pair for pair in pairs}
        self._lock = threading.Lock()
        self.clock = clock

    def __repr__(self) -> str:
        permanent = sorted(k for k, p in self._pairs.items() if p.security_token is None)
        return (
            f"KeyStore(access_key_ids={permanent!r}, temporary={len(self._pairs) - len(permanent)})"
        )

    def secret(self, access_key_id: str) -> str | None:
        pair = self._pairs.get(access_key_id)
        return None if pair is None else pair.access_key_secret

    def get(self, access_key_id: str) -> KeyPair | None:
        return self._pairs.get(access_key_id)

    def add(self, pair: KeyPair) -> None:
        """Accept one more key (an STS temporary key)."""
        with self._lock:
            self._pairs[pair.access_key_id] = pair


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a signature covers: method, resolved bucket and key, query, headers.

    `query` holds the decoded pairs in wire order; `headers` is keyed by lower-case name.
    """

    method: str
    bucket: str | None
    key: str | None
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed a request, how, and (V4) for which region."""

    access_key_id: str
    version: Literal["v1", "v4"]
    region: str | None
    account_id: str = DEFAULT_ACCOUNT_ID


@dataclass(frozen=True, slots=True)
class _Authorization:
    version: Literal["v1", "v4"]
    access_key_id: str
    signature: str
    date: str = ""
    region: str = ""
    additional_headers: tuple[str, ...] = ()


def _bad_authorization(detail: str) -> OssError:
    return OssError("InvalidArgument", f"Authorization header is invalid: {detail}", status=400)


def _access_denied(message: str) -> OssError:
    return OssError("AccessDenied", message, status=403)


def _parse_authorization(value: str) -> _Authorization:
    if value.startswith("OSS "):
        access_key_id, sep, signature = value[4:].strip().rpartition(":")
        if not sep or not access_key_id or not signature:
            raise _bad_authorization("expected 'OSS AccessKeyId:Signature'.")
        return _Authorization("v1", access_key_id, signature)
    if not value.startswith(V4_ALGORITHM + " "):
        raise _bad_authorization(f"unknown scheme {value.split(' ', 1)[0][:40]!r}.")
    fields: dict[str, str] = {}
    for part in value[len(V4_ALGORITHM) + 1 :].split(","):
        name, sep, item = part.strip().partition("=")
        if sep:
            fields[name] = item
    credential = fields.get("Credential", "").split("/")
    signature = fields.get("Signature", "")
    if len(credential) != 5 or not signature or not credential[0]:
        raise _bad_authorization("expected Credential=AK/date/region/oss/aliyun_v4_request.")
    access_key_id, date, region, product, terminator = credential
    if product != "oss" or terminator != V4_TERMINATOR:
        raise _bad_authorization(f"unexpected credential scope {'/'.join(credential[1:])!r}.")
    additional = fields.get("AdditionalHeaders", "")
    names = tuple(sorted(h.strip().lower() for h in additional.split(";") if h.strip()))
    return _Authorization("v4", access_key_id, signature, date, region, names)


def _v4_time(value: str) -> float:
    """Seconds since the epoch of `YYYYMMDDTHHMMSSZ`."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        raise ValueError(value)
    fields = (value[0:4], value[4:6], value[6:8], value[9:11], value[11:13], value[13:15])
    year, month, day, hour, minute, second = (int(f) for f in fields)
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


@lru_cache(maxsize=256)
def _http_time(value: str) -> float:
    return parsedate_to_datetime(value).timestamp()


def _sign_v1(secret: str, string_to_sign: str) -> str:
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class Verifier:
    """Checks V1 and V4 signatures against a `KeyStore`."""

    def __init__(self, keys: KeyStore, *, max_skew_s: float = MAX_CLOCK_SKEW_S) -> None:
        self._keys = keys
        self._max_skew_s = max_skew_s
        self._v4_keys: dict[tuple[str, str, str], bytes] = {}

    def __repr__(self) -> str:
        return f"Verifier({self._keys!r})"

    def verify(self, request: SignedRequest, *, now: float | None = None) -> Identity:
        """The identity that signed `request`; raise the service's error otherwise.

        `now` (seconds since the epoch) defaults to the clock; requests more than 15
        minutes off get RequestTimeTooSkewed.
        """
        auth, pair = self._credentials(request)
        _check_token(request, pair, self._keys.clock())
        self._check_time(request, auth, time.time() if now is None else now)
        expected, string_to_sign = self._expected(request, auth, pair.access_key_secret)
        if not hmac.compare_digest(expected, auth.signature):
            raise _signature_mismatch(auth, string_to_sign)
        return Identity(auth.access_key_id, auth.version, auth.region or None, pair.account_id)

    def find_bucket(self, request: SignedRequest, candidates: Iterable[str]) -> str | None:
        """The first candidate bucket under which `request`'s signature verifies (cname)."""
        try:
            auth, pair = self._credentials(request)
        except OssError:
            return None
        secret = pair.access_key_secret
        for bucket in candidates:
            candidate = SignedRequest(
                request.method, bucket, request.key, request.query, request.headers
            )
            expected, _ = self._expected(candidate, auth, secret)
            if hmac.compare_digest(expected, auth.signature):
                return bucket
        return None

    def _credentials(self, request: SignedRequest) -> tuple[_Authorization, KeyPair]:
        header = request.headers.get("authorization")
        if not header:
            raise _access_denied(
                "Anonymous access is denied: sign the request with the emulator's key pair."
            )
        auth = _parse_authorization(header)
        pair = self._keys.get(auth.access_key_id)
        if pair is None:
            raise OssError(
                "InvalidAccessKeyId",
                "The OSS Access Key Id you provided does not exist in our records.",
                status=403,
                extra={"OSSAccessKeyId": auth.access_key_id},
            )
        return auth, pair

    def _check_time(self, request: SignedRequest, auth: _Authorization, now: float) -> None:
        headers = request.headers
        try:
            if auth.version == "v4":
                stamp = headers.get("x-oss-date", "")
                signed_at = _v4_time(stamp)
                if stamp[:8] != auth.date:
                    raise _bad_authorization("x-oss-date is not the credential scope's date.")
            else:
                signed_at = _http_time(headers.get("x-oss-date") or headers.get("date", ""))
        except (ValueError, TypeError, IndexError):
            raise _access_denied("OSS authentication requires a valid Date.") from None
        if abs(now - signed_at) > self._max_skew_s:
            raise OssError(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                status=403,
            )

    def _expected(
        self, request: SignedRequest, auth: _Authorization, secret: str
    ) -> tuple[str, str]:
        if auth.version == "v1":
            string_to_sign = _v1_string_to_sign(request)
            return _sign_v1(secret, string_to_sign), string_to_sign
        for name in auth.additional_headers:
            if name not in request.headers:
                raise _bad_authorization(f"additional header {name!r} is missing.")
        string_to_sign = _v4_string_to_sign(request, auth)
        key = self._signing_key(auth, secret)
        return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest(), string_to_sign

    def _signing_key(self, auth: _Authorization, secret: str) -> bytes:
        """The derived V4 key, cached per (access key id -> its secret, date, region)."""
        cache_key = (auth.access_key_id, auth.date, auth.region)
        key = self._v4_keys.get(cache_key)
        if key is None:
            date_key = hmac.new(("aliyun_v4" + secret).encode(), auth.date.encode(), "sha256")
            key = date_key.digest()
            for part in (auth.region, "oss", V4_TERMINATOR):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            if len(self._v4_keys) >= 1024:
                self._v4_keys.clear()
            self._v4_keys[cache_key] = key
        return key


def _check_token(request: SignedRequest, pair: KeyPair, now: float) -> None:
    """An STS key needs its own token, and works until it expires (EC 0002-0000000{3,7,8})."""
    if pair.security_token is None:
        return
    headers = request.headers
    token = headers.get("x-oss-security-token") or headers.get("security-token")
    if token is None:
        token = next((v for k, v in request.query if k == "security-token"), None)
    extra = {"OSSAccessKeyId": pair.access_key_id}
    if not token:
        raise OssError(
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records. The Security "
            "Token may be lost to specify that it is a STS Access Id.",
            status=403,
            ec=EC["MissingSecurityToken"],
            extra=extra,
        )
    if not hmac.compare_digest(token.encode(), pair.security_token.encode()):
        raise OssError(
            "InvalidSecurityToken",
            "The security token you provided is invalid.",
            status=403,
            ec=EC["InvalidSecurityToken"],
            extra=extra,
        )
    if pair.expires_at is not None and now >= pair.expires_at:
        raise OssError(
            "SecurityTokenExpired",
            "The security token you provided has expired.",
            status=403,
            ec=EC["SecurityTokenExpired"],
            extra=extra,
        )


def _signature_mismatch(auth: _Authorization, string_to_sign: str) -> OssError:
    return OssError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        status=403,
        ec=EC["SignatureDoesNotMatchV4" if auth.version == "v4" else "SignatureDoesNotMatch"],
        extra={
            "OSSAccessKeyId": auth.access_key_id,
            "SignatureProvided": auth.signature,
            "StringToSign": string_to_sign,
            "StringToSignBytes": " ".join(f"{b:02x}" for b in string_to_sign.encode()),
        },
    )


def _v4_string_to_sign(request: SignedRequest, auth: _Authorization) -> str:
    uri = "/"
    if request.bucket is not None:
        uri += request.bucket + "/"
    if request.key:
        uri += request.key
    pairs = sorted((quote(k, safe=""), quote(v, safe="")) for k, v in request.query)
    query = "&".join(f"{k}={v}" if v else k for k, v in pairs)
    additional = auth.additional_headers
    headers = sorted(
        (name, value.strip())
        for name, value in request.headers.items()
        if name.startswith("x-oss-")
        or name in ("content-type", "content-md5")
        or name in additional
    )
    canonical = "\n".join(
        (
            request.method,
            quote(uri, safe="/"),
            query,
            "".join(f"{name}:{value}\n" for name, value in headers),
            ";".join(additional),
            request.headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        )
    )
    scope = f"{auth.date}/{auth.region}/oss/{V4_TERMINATOR}"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{V4_ALGORITHM}\n{request.headers.get('x-oss-date', '')}\n{scope}\n{digest}"


def _v1_string_to_sign(request: SignedRequest) -> str:
    headers = request.headers
    resource = "/"
    if request.bucket is not None:
        resource += request.bucket + "/"
    if request.key:
        resource += request.key
    subresources = sorted((k, v) for k, v in request.query if k in V1_SUBRESOURCES)
    if subresources:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subresources)
    oss_headers = sorted((n, v.strip()) for n, v in headers.items() if n.startswith("x-oss-"))
    date = headers.get("x-oss-date") or headers.get("date", "")
    return "\n".join(
        (
            request.method,
            headers.get("content-md5", ""),
            headers.get("content-type", ""),
            date,
            "".join(f"{n}:{v}\n" for n, v in oss_headers) + resource,
        )
    )
