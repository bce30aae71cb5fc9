"""Secrets never reach disk (contracts §14): the one redaction every writer uses.

A credentials spec (contracts §10) holds no key secret, security token or OIDC token (the
manifest refuses them; an OIDC token stays in its file, only the file's path is
recorded), but a `credentials_uri` may carry a token in its query or its userinfo, and
so may another URL a spec names (`sts_endpoint`). What a job writes (`manifest.yaml`,
the journal header, `summary.json` of backups and snapshots) records a credentials URI,
and another URL that has a userinfo, query or fragment, as `scheme://host/path` with
those parts replaced by `…`, plus `<key>_sha256`: the sha256 of the whole URL, so that a
resume, a rollback or a restore can tell whether the URL given now is the one the job
used, without keeping it.

```
{"type": "credentials_uri", "uri": "http://…@10.0.0.1:8080/creds?…",
 "uri_sha256": "9f86d081…"}
```

The real value comes back only from what is given now: the manifest, or for a
credentials URI the credentials library's own variable `ALIBABA_CLOUD_CREDENTIALS_URI`
(`credentials_from_record`); one whose sha256 differs is refused, naming the account.
Messages (errors, records) go through `redact_text`: every URL in them loses its userinfo
and query.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .errors import CredentialsError

__all__ = (
    "REDACTED",
    "URI_ENV",
    "URL_KEYS",
    "check_credentials",
    "credentials_from_record",
    "redact_text",
    "redact_uri",
    "redacted_credentials",
    "uri_sha256",
)

#: what stands where a secret part was
REDACTED = "…"
#: the keys of a credentials spec that hold a URL (at any depth: `source` too)
URL_KEYS = frozenset({"uri", "sts_endpoint"})
#: the credentials library's variable for a credentials URI (`type: credentials_uri`)
URI_ENV = "ALIBABA_CLOUD_CREDENTIALS_URI"
_SHA = "_sha256"
#: a URL inside a message: scheme, then everything up to a blank or a quote
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
#: what ends a sentence after a URL rather than the URL itself
_TRAILING = ",.;:)]"


def uri_sha256(uri: str) -> str:
    """The sha256 (hex) of the whole URI, as recorded beside its redacted form."""
    return hashlib.sha256(uri.encode()).hexdigest()


def redact_uri(uri: str) -> str:
    """`scheme://host[:port]/path`, with any userinfo, query and fragment as `…`."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:  # not even a URL: nothing of it can be kept
        return REDACTED
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    if "@" in parts.netloc:
        netloc = f"{REDACTED}@{netloc}"
    text = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else f"{netloc}{parts.path}"
    if parts.query or uri.rstrip("#").endswith("?"):
        text += f"?{REDACTED}"
    if parts.fragment:
        text += f"#{REDACTED}"
    return text


def _has_secret_part(url: str) -> bool:
    """Whether `url` has a part that may hold a secret: userinfo, a query, a fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True
    return "@" in parts.netloc or bool(parts.query or parts.fragment) or "?" in url


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (`redact_uri`); punctuation that ends a
    sentence after a URL stays outside it."""

    def redacted(found: re.Match[str]) -> str:
        url = found.group(0)
        kept = url.rstrip(_TRAILING)
        return redact_uri(kept) + url[len(kept) :]

    return _URL_IN_TEXT.sub(redacted, text)


def redacted_credentials(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A credentials spec (as plain data) as a job records it: a credentials URI always
    redacted with its `uri_sha256`, another URL (`sts_endpoint`) likewise when it has a
    userinfo, query or fragment; `source` (ram_role_arn) the same way. An already
    redacted record is returned as it is."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if (
            key in URL_KEYS
            and isinstance(value, str)
            and f"{key}{_SHA}" not in spec
            and (key == "uri" or _has_secret_part(value))
        ):
            out[key] = redact_uri(value)
            out[f"{key}{_SHA}"] = uri_sha256(value)
        elif key == "source" and isinstance(value, Mapping):
            out[key] = redacted_credentials(value)
        else:
            out[key] = value
    return out


def _is_redacted(record: Mapping[str, Any]) -> bool:
    source = record.get("source")
    return any(key.endswith(_SHA) for key in record) or (
        isinstance(source, Mapping) and _is_redacted(source)
    )


def _short(sha: object) -> str:
    return f"sha256 {str(sha)[:12]}…" if isinstance(sha, str) else "no sha256"


def _difference(now: Mapping[str, Any], recorded: Mapping[str, Any]) -> str:
    """What differs between two redacted specs, in words (never a secret)."""
    if now.get("type") != recorded.get("type"):
        return f"type {now.get('type')} given now, {recorded.get('type')} recorded"
    for key in sorted(URL_KEYS):
        sha = f"{key}{_SHA}"
        if now.get(sha) != recorded.get(sha):
            return (
                f"{key} {now.get(key)} ({_short(now.get(sha))}) given now, "
                f"{recorded.get(key)} ({_short(recorded.get(sha))}) recorded"
            )
    source_now, source_then = now.get("source"), recorded.get("source")
    if (
        isinstance(source_now, Mapping)
        and isinstance(source_then, Mapping)
        and source_now != source_then
    ):
        return f"source: {_difference(source_now, source_then)}"
    keys = sorted(k for k in {*now, *recorded} if now.get(k) != recorded.get(k))
    return f"{', '.join(keys)} differ"


def check_credentials(
    account: str, now: Mapping[str, Any], recorded: Mapping[str, Any], *, recorded_in: str
) -> None:
    """Refuse (CredentialsError, exit 2, naming the account) credentials given now that
    are not the ones `recorded_in` used: compared in their recorded form, so a URL by
    its sha256. A record written before redaction (the URL in full) compares as is."""
    if dict(recorded) in (dict(now), redacted_credentials(now)):
        return
    mine = redacted_credentials(now)
    then = recorded if _is_redacted(recorded) else redacted_credentials(recorded)
    if mine == then:
        return
    raise CredentialsError(
        f"the credentials given now are not the ones {recorded_in} used "
        f"({_difference(mine, then)})",
        place=f"account {account}",
        hint="give the account the credentials it had (a URL is recorded only as its "
        "sha256), or start a new job",
    )


def credentials_from_record(
    account: str, recorded: Mapping[str, Any], *, recorded_in: str
) -> dict[str, Any]:
    """A recorded spec with its real values back, to sign with when nothing names the
    account now (a rollback, a restore without `accounts:`): a redacted credentials URI
    (a ram_role_arn's source too) is taken from `ALIBABA_CLOUD_CREDENTIALS_URI` when its
    sha256 is the recorded one. Anything else redacted cannot come back:
    CredentialsError naming the account."""
    if not _is_redacted(recorded):
        return dict(recorded)
    real = {k: v for k, v in recorded.items() if k not in {"uri", f"uri{_SHA}"}}
    source = real.get("source")
    if isinstance(source, Mapping):
        real["source"] = credentials_from_record(account, source, recorded_in=recorded_in)
    if any(key.endswith(_SHA) for key in real):  # another URL with a secret part
        raise CredentialsError(
            f"{recorded_in} used credentials whose URLs are recorded without their secret parts",
            place=f"account {account}",
            hint="name the account under accounts: with its credentials in a manifest",
        )
    if f"uri{_SHA}" not in recorded:
        return real
    given = os.environ.get(URI_ENV)
    sha = recorded.get(f"uri{_SHA}")
    if given is not None and uri_sha256(given) == sha:
        return {**real, "uri": given}
    why = "is not set" if given is None else f"holds another URI ({_short(uri_sha256(given))})"
    raise CredentialsError(
        f"{recorded_in} used credentials_uri {recorded.get('uri')} ({_short(sha)}), which is "
        f"recorded without its secret parts, and {URI_ENV} {why}",
        place=f"account {account}",
        hint=f"set {URI_ENV} to that URI, or name the account under accounts: in a manifest",
    )
