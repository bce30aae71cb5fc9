"""Hostnames: which Host is the service, which is a bucket (virtual-host style), which region.

`--hostname NAME` (at least two labels; default: the bind address) is the name the
endpoint is printed with. A Host equal to NAME, with or without the port, is the service;
`<bucket>.NAME` is that bucket. NAME may contain `{region}` (`oss-{region}.emu.test`):
then every region's host is served and a Host names its region, which the handler checks
against the bucket's (the service's 403 "must be addressed using the specified endpoint").

Other Hosts keep the emulator's historical reading, so path-style and IP endpoints work
unchanged: an IP or a single label is no bucket; `<bucket>.oss-<region>.<domain>` is that
bucket (ali-oss sends it so to an IP endpoint); a first label `oss-<region>` is the service
(`oss-cn-hangzhou.aliyuncs.com`: ListBuckets, not a bucket of that name); any other dotted
name's first label is the bucket.

Clients reach these names through a resolver that maps them to 127.0.0.1: the tests'
`tests/resolver.py` in process and `tests/sitecustomize/` for subprocesses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ("KNOWN_REGIONS", "Addressed", "HostMap", "validate_hostname")

KNOWN_REGIONS = (
    "cn-hangzhou", "cn-shanghai", "cn-nanjing", "cn-fuzhou", "cn-wuhan-lr", "cn-qingdao",
    "cn-beijing", "cn-zhangjiakou", "cn-huhehaote", "cn-wulanchabu", "cn-shenzhen",
    "cn-heyuan", "cn-guangzhou", "cn-chengdu", "cn-hongkong", "ap-northeast-1",
    "ap-northeast-2", "ap-southeast-1", "ap-southeast-3", "ap-southeast-5",
    "ap-southeast-6", "ap-southeast-7", "eu-central-1", "eu-west-1", "us-west-1",
    "us-east-1", "me-east-1", "me-central-1", "rg-china-mainland",
)  # fmt: skip
"""OSS region ids (help.aliyun.com, Regions and endpoints): the hosts a TLS certificate
covers when NAME holds `{region}`, beside the emulator's own regions."""

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_REGION = r"[a-z]+(?:-[a-z0-9]+)+"
_NAME = re.compile(rf"(?:{_LABEL}|[a-z0-9-]*\{{region\}}[a-z0-9-]*)(?:\.{_LABEL})+")
_OSS_SERVICE_LABEL = re.compile(rf"oss-{_REGION}")


def validate_hostname(name: str) -> str:
    """NAME lower-cased; ValueError unless it has two labels or more (or is an IP)."""
    lowered = name.lower()
    if _is_ip(lowered):
        return lowered
    if lowered.count("{region}") > 1 or not _NAME.fullmatch(lowered):
        raise ValueError(
            f"{name!r} is not a hostname of two labels or more (e.g. emu.test or "
            "oss-{region}.emu.test, with {region} at most once, in its first label)"
        )
    return lowered


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Addressed:
    """What a Host header addresses: a bucket (virtual-host) or none, and a region or none."""

    bucket: str | None
    region: str | None = None


class HostMap:
    """Reads Host headers against NAME (None: no name, the historical reading only)."""

    def __init__(self, hostname: str | None = None) -> None:
        self.hostname = None if hostname is None else validate_hostname(hostname)
        self._service: re.Pattern[str] | None = None
        self._bucket: re.Pattern[str] | None = None
        if self.hostname is not None and not _is_ip(self.hostname):
            head, sep, tail = self.hostname.partition("{region}")
            name = re.escape(head) + (f"(?P<region>{_REGION})" + re.escape(tail) if sep else "")
            self._service = re.compile(name)
            self._bucket = re.compile(rf"(?P<bucket>{_LABEL})\.{name}")

    def __repr__(self) -> str:
        return f"HostMap(hostname={self.hostname!r})"

    @property
    def per_region(self) -> bool:
        return self.hostname is not None and "{region}" in self.hostname

    def host_for(self, region: str) -> str:
        """NAME with `{region}` expanded (the service's host for that region)."""
        if self.hostname is None:
            raise ValueError("no hostname configured")
        return self.hostname.replace("{region}", region)

    def certificate_names(self, regions: Iterable[str]) -> list[str]:
        """NAME and `*.NAME`, for each region when NAME holds `{region}`."""
        if self.hostname is None or _is_ip(self.hostname):
            return []
        hosts = sorted({self.host_for(r) for r in regions}) if self.per_region else [self.hostname]
        return [name for host in hosts for name in (host, f"*.{host}")]

    def resolve(self, host_header: str) -> Addressed:
        host = _strip_port(host_header.strip().lower())
        if self._service is not None and self._bucket is not None:
            match = self._service.fullmatch(host)
            if match is not None:
                return Addressed(None, match.groupdict().get("region"))
            match = self._bucket.fullmatch(host)
            if match is not None:
                return Addressed(match["bucket"], match.groupdict().get("region"))
        if not host or _is_ip(host) or "." not in host:
            return Addressed(None)
        labels = host.split(".")
        if len(labels) > 2 and _OSS_SERVICE_LABEL.fullmatch(labels[1]):
            return Addressed(labels[0] or None)  # <bucket>.oss-<region>.<domain>
        if _OSS_SERVICE_LABEL.fullmatch(labels[0]):
            return Addressed(None)  # oss-<region>.<domain>: the service itself
        return Addressed(labels[0] or None)
