"""The XML bodies OSS sends (and the one it reads), as small string templates.

Rendering is plain string building with escaping: fast, and shaped exactly like the
service's documents (oss_wire_spec.md §2-3). Parsing is limited to the one tiny body
the emulator reads, PutBucketPublicAccessBlock's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from osspolicy.emulator.state import BucketPage, BucketSummary

__all__ = (
    "bucket_info_xml",
    "error_xml",
    "escape",
    "list_buckets_xml",
    "parse_public_access_block",
    "policy_status_xml",
    "public_access_block_xml",
)

_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"})
_BPA = re.compile(
    rb"^\s*(?:<\?xml[^>]*\?>\s*)?<PublicAccessBlockConfiguration>\s*"
    rb"<BlockPublicAccess>\s*((?i:true|false))\s*</BlockPublicAccess>\s*"
    rb"</PublicAccessBlockConfiguration>\s*$"
)


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def error_xml(
    code: str,
    message: str,
    *,
    request_id: str,
    host_id: str,
    ec: str,
    bucket: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> bytes:
    parts = [
        f"{_DECLARATION}<Error>\n  <Code>{escape(code)}</Code>\n",
        f"  <Message>{escape(message)}</Message>\n",
        f"  <RequestId>{request_id}</RequestId>\n  <HostId>{escape(host_id)}</HostId>\n",
    ]
    if bucket:
        parts.append(f"  <BucketName>{escape(bucket)}</BucketName>\n")
    parts.extend(f"  <{name}>{escape(value)}</{name}>\n" for name, value in (extra or {}).items())
    parts.append(f"  <EC>{ec}</EC>\n")
    parts.append(f"  <RecommendDoc>https://api.aliyun.com/troubleshoot?q={ec}</RecommendDoc>\n")
    parts.append("</Error>\n")
    return "".join(parts).encode()


def _bucket_entry(bucket: BucketSummary) -> str:
    region = escape(bucket.region)
    return (
        "    <Bucket>\n"
        f"      <CreationDate>{bucket.creation_date}</CreationDate>\n"
        f"      <ExtranetEndpoint>oss-{region}.aliyuncs.com</ExtranetEndpoint>\n"
        f"      <IntranetEndpoint>oss-{region}-internal.aliyuncs.com</IntranetEndpoint>\n"
        f"      <Location>oss-{region}</Location>\n"
        f"      <Name>{bucket.name}</Name>\n"
        f"      <Region>{region}</Region>\n"
        f"      <StorageClass>{bucket.storage_class}</StorageClass>\n"
        "    </Bucket>\n"
    )


def list_buckets_xml(
    page: BucketPage, *, prefix: str, marker: str, max_keys: int, owner_id: str
) -> bytes:
    head = (
        f"{_DECLARATION}<ListAllMyBucketsResult>\n"
        f"  <Prefix>{escape(prefix)}</Prefix>\n"
        f"  <Marker>{escape(marker)}</Marker>\n"
        f"  <MaxKeys>{max_keys}</MaxKeys>\n"
        f"  <IsTruncated>{_bool(page.is_truncated)}</IsTruncated>\n"
        f"  <NextMarker>{page.next_marker}</NextMarker>\n"
        f"  <Owner>\n    <ID>{owner_id}</ID>\n    <DisplayName>{owner_id}</DisplayName>\n"
        "  </Owner>\n  <Buckets>\n"
    )
    body = "".join(_bucket_entry(bucket) for bucket in page.buckets)
    return (head + body + "  </Buckets>\n</ListAllMyBucketsResult>\n").encode()


def bucket_info_xml(bucket: BucketSummary, *, owner_id: str) -> bytes:
    region = escape(bucket.region)
    return (
        f"{_DECLARATION}<BucketInfo>\n  <Bucket>\n"
        "    <AccessMonitor>Disabled</AccessMonitor>\n"
        f"    <CreationDate>{bucket.creation_date}</CreationDate>\n"
        f"    <ExtranetEndpoint>oss-{region}.aliyuncs.com</ExtranetEndpoint>\n"
        f"    <IntranetEndpoint>oss-{region}-internal.aliyuncs.com</IntranetEndpoint>\n"
        f"    <Location>oss-{region}</Location>\n"
        f"    <StorageClass>{bucket.storage_class}</StorageClass>\n"
        "    <TransferAcceleration>Disabled</TransferAcceleration>\n"
        "    <CrossRegionReplication>Disabled</CrossRegionReplication>\n"
        f"    <DataRedundancyType>{bucket.data_redundancy}</DataRedundancyType>\n"
        f"    <Name>{bucket.name}</Name>\n"
        f"    <Owner>\n      <DisplayName>{owner_id}</DisplayName>\n      <ID>{owner_id}</ID>\n"
        "    </Owner>\n"
        f"    <AccessControlList>\n      <Grant>{bucket.acl}</Grant>\n    </AccessControlList>\n"
        "    <Comment></Comment>\n"
        f"    <BlockPublicAccess>{_bool(bucket.block_public_access)}</BlockPublicAccess>\n"
        "  </Bucket>\n</BucketInfo>\n"
    ).encode()


def policy_status_xml(is_public: bool) -> bytes:
    return (
        f"{_DECLARATION}<PolicyStatus>\n  <IsPublic>{_bool(is_public)}</IsPublic>\n"
        "</PolicyStatus>\n"
    ).encode()


def public_access_block_xml(block_public_access: bool) -> bytes:
    return (
        f"{_DECLARATION}<PublicAccessBlockConfiguration>\n"
        f"  <BlockPublicAccess>{_bool(block_public_access)}</BlockPublicAccess>\n"
        "</PublicAccessBlockConfiguration>\n"
    ).encode()


def parse_public_access_block(body: bytes) -> bool:
    """BlockPublicAccess from a PutBucketPublicAccessBlock body; ValueError if malformed.

    The value is read case-insensitively, as the service does: oss2 sends Python's
    `str(True)`, `True`/`False`.
    """
    match = _BPA.match(body)
    if match is None:
        raise ValueError("expected <PublicAccessBlockConfiguration><BlockPublicAccess>")
    return match.group(1).lower() == b"true"
