"""The `targets:` section of a job manifest (contracts §1): which buckets, as exactly one
of a list of names, a file of names, or ListBuckets discovery with filters.

It stands at the top of a manifest and in each account (`accounts.py`); `targets.py`
turns it into the stream of targets a job runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .manifest_base import RegionId, StrictModel, one_of_keys

__all__ = ("BUCKET_NAME", "BucketName", "Discover", "Targets", "check_bucket_name")


#: a valid OSS bucket name: 3-63 chars of lowercase letters, digits and hyphens, not
#: starting or ending with a hyphen
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def check_bucket_name(name: str) -> str:
    """Return `name` if it is a valid OSS bucket name, else raise ValueError saying why."""
    if not BUCKET_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid OSS bucket name (3-63 lowercase letters, digits or "
            "hyphens, not starting or ending with a hyphen)"
        )
    return name


#: a bucket name: checked with `check_bucket_name` (its one-line message), and carried
#: into the JSON Schema as the same pattern
BucketName = Annotated[
    str,
    AfterValidator(check_bucket_name),
    WithJsonSchema({"type": "string", "pattern": BUCKET_NAME.pattern}),
]


class Discover(StrictModel):
    """ListBuckets, account-wide, then filters."""

    prefix: str = ""
    """Sent to ListBuckets: "prod-" lists only prod-* buckets."""
    include: tuple[str, ...] = ("*",)
    """fnmatch globs; a bucket must match one."""
    exclude: tuple[str, ...] = ()
    """fnmatch globs; a bucket must match none."""
    region: RegionId | None = None
    """Keep only the buckets of this region [all]."""
    regions: tuple[RegionId, ...] | None = None
    """Keep only the buckets of these regions [all]."""


class Targets(StrictModel):
    """Which buckets: exactly one of buckets / buckets_file / discover."""

    model_config = ConfigDict(json_schema_extra=one_of_keys("buckets", "buckets_file", "discover"))

    buckets: tuple[BucketName, ...] | None = Field(None, json_schema_extra={"minItems": 1})
    """Bucket names."""
    buckets_file: Path | None = None
    """A file of bucket names, one a line, '#' comments (relative to the manifest)."""
    discover: Discover | None = None
    """ListBuckets (account-wide), then these filters."""

    @field_validator("buckets")
    @classmethod
    def _names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("the list is empty; name at least one bucket")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Targets:
        given = [k for k in ("buckets", "buckets_file", "discover") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of buckets, buckets_file or discover"
                + (f" (found {', '.join(given)})" if given else "")
            )
        return self
