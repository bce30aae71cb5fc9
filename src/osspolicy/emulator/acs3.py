"""ACS3-HMAC-SHA256: the V3 signature of Alibaba Cloud's OpenAPI, as `alibabacloud_tea_openapi`
signs (its `Utils.get_authorization`).

The client sends `Authorization: ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=h1;h2;...,
Signature=HEX` where, over the request as sent::

    canonical = METHOD \\n PATH \\n sorted(k=quote(v, safe="~")) joined by & \\n
                "name:value\\n" for each signed header (lower-case names, sorted; the values
                stripped, several values of one name sorted and joined by ",") \\n
                the signed names joined by ";" \\n
                x-acs-content-sha256 (hex SHA-256 of the body)
    Signature = hex(HMAC-SHA256(secret, "ACS3-HMAC-SHA256\\n" + hex(SHA-256(canonical))))

The SDK signs every header it sends but Content-Length and Accept-Encoding (which the HTTP
layer adds after): `host`, `accept`, `user-agent` and each `x-acs-*`. Here `host` and
every `x-acs-*` header sent must be signed, and the body must be what
`x-acs-content-sha256` says. A temporary key's token comes in `x-acs-security-token`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from osspolicy.emulator.auth import KeyPair, KeyStore
from osspolicy.emulator.pop import PopError, check_security_token

__all__ = (
    "ACS3",
    "Acs3Authorization",
    "acs3_signature",
    "canonical_request",
    "parse_authorization",
    "verify_acs3",
)

ACS3 = "ACS3-HMAC-SHA256"


@dataclass(frozen=True, slots=True)
class Acs3Authorization:
    """The parts of an ACS3 `Authorization` header."""

    access_key_id: str
    signed_headers: tuple[str, ...]
    signature: str


def _first(headers: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _incomplete(detail: str) -> PopError:
    return PopError(
        "IncompleteSignature",
        f"The request signature does not conform to Aliyun standards: {detail}",
    )


def parse_authorization(value: str | None) -> Acs3Authorization:
    """The header's parts; PopError IncompleteSignature if it is missing or malformed."""
    if not value:
        raise _incomplete("no Authorization header; sign the request with ACS3-HMAC-SHA256.")
    scheme, _, rest = value.partition(" ")
    if scheme != ACS3:
        raise _incomplete(f"the algorithm must be {ACS3}.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, item = part.strip().partition("=")
        if sep:
            fields[name] = item
    credential = fields.get("Credential", "")
    names = tuple(h for h in fields.get("SignedHeaders", "").split(";") if h)
    signature = fields.get("Signature", "")
    if not credential or not names or not signature:
        raise _incomplete("expected Credential=AK,SignedHeaders=...,Signature=....")
    return Acs3Authorization(credential, names, signature)


def canonical_request(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, Sequence[str]],
    *,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The canonical request of the V3 signature (`headers` keyed by lower-case name)."""
    pairs = sorted((quote(k, safe="~"), quote(v, safe="~")) for k, v in query)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    names = sorted(signed_headers)
    canonical_headers = "".join(
        f"{name}:{','.join(sorted(v.strip() for v in headers.get(name, ())))}\n" for name in names
    )
    return "\n".join(
        (method, path or "/", canonical_query, canonical_headers, ";".join(names), payload_hash)
    )


def acs3_signature(secret: str, canonical: str) -> str:
    """The hex signature of a canonical request for `secret`."""
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), f"{ACS3}\n{digest}".encode(), hashlib.sha256).hexdigest()


def verify_acs3(
    keys: KeyStore,
    method: str,
    path: str,
    *,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, Sequence[str]],
    body: bytes,
) -> KeyPair:
    """The key that signed the request; PopError (the gateway's codes) otherwise."""
    auth = parse_authorization(_first(headers, "authorization"))
    pair = keys.get(auth.access_key_id)
    if pair is None:
        raise PopError("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    signed = {name.lower() for name in auth.signed_headers}
    for name in sorted(headers):
        if (name == "host" or name.startswith("x-acs-")) and name not in signed:
            raise _incomplete(f"the header {name} is sent but not signed.")
    for name in signed:
        if name not in headers:
            raise _incomplete(f"the signed header {name} is not sent.")
    payload_hash = _first(headers, "x-acs-content-sha256") or ""
    if not hmac.compare_digest(payload_hash, hashlib.sha256(body).hexdigest()):
        raise PopError(
            "SignatureDoesNotMatch",
            "x-acs-content-sha256 is not the hex SHA-256 of the body sent.",
        )
    canonical = canonical_request(
        method, path, query, headers, signed_headers=sorted(signed), payload_hash=payload_hash
    )
    if not hmac.compare_digest(acs3_signature(pair.access_key_secret, canonical), auth.signature):
        raise PopError(
            "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
        )
    check_security_token(pair, _first(headers, "x-acs-security-token"), keys.clock())
    return pair
