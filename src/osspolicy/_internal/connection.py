"""The `connection:` section of a job manifest (contracts §1, §10): where and how to reach OSS.

The endpoint is a URL or a bare host, `{region}` expanded to each bucket's region
(`endpoint_for`); without one it is the region's public (or `-internal`) endpoint.
Regions (`regions.py`): `connection.region` must be an OSS region this release knows
("did you mean …?" otherwise); with an explicit `connection.endpoint` any id of the right
shape is accepted, `Connection.region_warning` saying so, so a new region still works.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .manifest_base import RegionId, StrictModel
from .regions import KNOWN_REGIONS, is_known, region_hint

__all__ = (
    "DEFAULT_ENDPOINT",
    "INTERNAL_ENDPOINT",
    "Connection",
    "endpoint_for",
    "expand_endpoint",
)


#: the endpoint when none is given (contracts §10); `{region}` is the bucket's region
DEFAULT_ENDPOINT = "https://oss-{region}.aliyuncs.com"
#: the same with `network: internal` (from inside the region's VPC / classic network)
INTERNAL_ENDPOINT = "https://oss-{region}-internal.aliyuncs.com"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def expand_endpoint(template: str, region: str) -> str:
    """An endpoint template with `{region}` replaced by `region`."""
    return template.replace("{region}", region)


def _endpoint_url(value: str) -> str:
    """A URL (http or https) or a bare host (https assumed), `{region}` allowed in it;
    returned as a URL without a trailing slash."""
    url = value.strip() if _SCHEME.match(value.strip()) else f"https://{value.strip()}"
    probe = urlparse(expand_endpoint(url, "cn-hangzhou"))
    example = "write a URL (http://127.0.0.1:9000) or a host (oss-cn-hangzhou.aliyuncs.com)"
    try:
        port_ok = probe.port is None or probe.port > 0
    except ValueError:
        port_ok = False
    if probe.scheme not in {"http", "https"} or not probe.hostname or not port_ok:
        raise ValueError(f"{value!r} is not an http(s) URL or host; {example}")
    if probe.username is not None or probe.password is not None:
        raise ValueError("an endpoint carries no credentials; remove the user:password@ part")
    if probe.path not in {"", "/"} or probe.query or probe.fragment:
        raise ValueError(f"{value!r} has a path or query; an endpoint is scheme://host[:port]")
    if "{" in probe.netloc or "}" in probe.netloc:
        raise ValueError(f"{value!r}: the only placeholder an endpoint takes is {{region}}")
    return url.rstrip("/")


#: an http(s) endpoint as a URL or a bare host, `{region}` the only placeholder, no
#: credentials, path or query: checked by `_endpoint_url` (its messages), carried into the
#: JSON Schema as a pattern
_ENDPOINT_PATTERN = (
    r"^(?:[Hh][Tt][Tt][Pp][Ss]?://)?"
    r"(?:\[[0-9A-Fa-f:.]+\]|(?:[^\s/?#@{}:\[\]]|\{region\})+)"
    r"(?::[0-9]{1,5})?/?$"
)
Endpoint = Annotated[
    str,
    AfterValidator(_endpoint_url),
    WithJsonSchema({"type": "string", "pattern": _ENDPOINT_PATTERN}),
]


class Connection(StrictModel):
    """Where and how to reach OSS; credentials come from `accounts:`, never from here.

    `endpoint` is a URL or a bare host (`https` assumed), normalised to a URL; it may
    contain `{region}`, expanded to each bucket's region (`endpoint_for`). Without it the
    endpoint is the region's public one (`network: internal`: the `-internal` one); an
    explicit endpoint wins over `network`. `ca_file` is an extra CA bundle, resolved
    from the manifest's folder.
    """

    # without an explicit endpoint the region must be a known one (`_known_region`)
    model_config = ConfigDict(
        **StrictModel.model_config,
        json_schema_extra={
            "if": {"not": {"required": ["endpoint"]}},
            "then": {"properties": {"region": {"enum": list(KNOWN_REGIONS)}}},
        },
    )

    region: RegionId
    """Signing region, and the region of named buckets ListBuckets does not place."""
    endpoint: Endpoint | None = None
    """URL or bare host (https assumed), may contain {region}
    [https://oss-{region}.aliyuncs.com]."""
    network: Literal["public", "internal"] = "public"
    """public, or internal: the -internal endpoints (inside the region's network)."""
    ca_file: Path | None = None
    """An extra CA bundle (PEM), relative to the manifest [none]."""
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(20.0, gt=0)

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}; give the path of a PEM CA bundle")
        return value

    @model_validator(mode="after")
    def _known_region(self) -> Connection:
        if self.endpoint is None and not is_known(self.region):
            raise ValueError(
                f"region {self.region!r} is not an OSS region; {region_hint(self.region)}"
                " (with an explicit endpoint any region id is accepted)"
            )
        return self

    @property
    def region_warning(self) -> str | None:
        """A warning when the region is not one this release knows (explicit endpoint)."""
        if is_known(self.region):
            return None
        hint = region_hint(self.region)
        near = f" ({hint})" if hint.startswith("did you mean") else ""
        return (
            f"region {self.region!r} is not an OSS region this release knows; "
            f"accepted for the endpoint {self.endpoint}{near}"
        )

    @property
    def endpoint_template(self) -> str:
        """The endpoint as a URL, `{region}` not yet expanded (the default if none)."""
        if self.endpoint is not None:
            return self.endpoint
        return INTERNAL_ENDPOINT if self.network == "internal" else DEFAULT_ENDPOINT


def endpoint_for(connection: Connection, region: str) -> str:
    """The URL (with its scheme) that a bucket of `region` is reached at."""
    return expand_endpoint(connection.endpoint_template, region)
