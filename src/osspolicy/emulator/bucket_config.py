"""PutBucket's settings: the storage class and redundancy of its body, the canned ACL header.

The body is `<CreateBucketConfiguration>` with optional `<StorageClass>` and
`<DataRedundancyType>`; the ACL is the `x-oss-acl` header. An empty body means the
defaults (Standard, LRS, private). Values are checked as the service checks them: a value
it does not know is 400 InvalidArgument, a body that is not that XML is 400 MalformedXML.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from osspolicy.emulator.errors import OssError

__all__ = (
    "ACLS",
    "DATA_REDUNDANCY_TYPES",
    "STORAGE_CLASSES",
    "BucketSettings",
    "malformed_xml",
    "parse_bucket_settings",
)

# The values the service documents for PutBucket (help.aliyun.com, PutBucket API reference).
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
DATA_REDUNDANCY_TYPES = ("LRS", "ZRS")
ACLS = ("private", "public-read", "public-read-write")


@dataclass(frozen=True, slots=True)
class BucketSettings:
    """What PutBucket may set besides the name: storage class, redundancy and canned ACL."""

    storage_class: str = "Standard"
    data_redundancy: str = "LRS"
    acl: str = "private"


def malformed_xml(expected: str) -> OssError:
    """The service's MalformedXML, naming the document the emulator expected."""
    return OssError(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published "
        f"schema: expected {expected}.",
        status=400,
    )


def _invalid(name: str, value: str, allowed: tuple[str, ...]) -> OssError:
    return OssError(
        "InvalidArgument",
        f"{name} {value[:40]!r} is not valid; use one of {', '.join(allowed)}.",
        status=400,
        extra={"ArgumentName": name, "ArgumentValue": value[:80]},
    )


def parse_bucket_settings(body: bytes, acl: str | None) -> BucketSettings:
    """The settings of a PutBucket request (its body and `x-oss-acl` header)."""
    if acl is not None and acl not in ACLS:
        raise _invalid("x-oss-acl", acl, ACLS)
    storage_class, redundancy = "Standard", "LRS"
    if body.strip():
        expected = "<CreateBucketConfiguration><StorageClass>...</StorageClass></...>"
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            raise malformed_xml(expected)
        try:
            root = ET.fromstring(body)  # noqa: S314 - no DTD or entity reaches the parser
        except ET.ParseError:
            raise malformed_xml(expected) from None
        if root.tag != "CreateBucketConfiguration":
            raise malformed_xml(expected)
        storage_class = (root.findtext("StorageClass") or storage_class).strip()
        redundancy = (root.findtext("DataRedundancyType") or redundancy).strip()
    if storage_class not in STORAGE_CLASSES:
        raise _invalid("StorageClass", storage_class, STORAGE_CLASSES)
    if redundancy not in DATA_REDUNDANCY_TYPES:
        raise _invalid("DataRedundancyType", redundancy, DATA_REDUNDANCY_TYPES)
    return BucketSettings(storage_class, redundancy, acl or "private")
