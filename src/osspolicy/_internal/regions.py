"""The OSS region ids this release knows, in one place, and the "did you mean" hint.

The list is Alibaba Cloud's public "Regions and endpoints" page of OSS
(help.aliyun.com/zh/oss/user-guide/regions-and-endpoints), as of this release, plus
`rg-china-mainland` (the region-less acceleration endpoint's signing region) and the
finance/gov regions. `ap-south-1` (Mumbai) is left out: that region has been retired.
A region id outside the list is refused by validation (`connection.Connection`), except
with an explicit `connection.endpoint`, where any id of the right shape (`REGION_ID`) is
accepted with a warning, so a region opened after this release still works.
"""

from __future__ import annotations

import difflib
import re

__all__ = ("KNOWN_REGIONS", "REGION_ID", "is_known", "region_hint")

#: an OSS region id: a two-letter area, a place, optional suffixes (cn-hangzhou,
#: us-west-1, cn-shanghai-finance-1)
REGION_ID = re.compile(r"^[a-z]{2}-[a-z]+(?:-[a-z0-9]+)*$")
#: the OSS regions known to this release
KNOWN_REGIONS = (
    "cn-hangzhou",
    "cn-shanghai",
    "cn-nanjing",
    "cn-fuzhou",
    "cn-wuhan-lr",
    "cn-qingdao",
    "cn-beijing",
    "cn-zhangjiakou",
    "cn-huhehaote",
    "cn-wulanchabu",
    "cn-shenzhen",
    "cn-heyuan",
    "cn-guangzhou",
    "cn-chengdu",
    "cn-hongkong",
    "cn-hangzhou-finance",
    "cn-shanghai-finance-1",
    "cn-shenzhen-finance-1",
    "cn-beijing-finance-1",
    "cn-north-2-gov-1",
    "us-west-1",
    "us-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-3",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "eu-central-1",
    "eu-west-1",
    "me-east-1",
    "me-central-1",
    "na-south-1",
    "rg-china-mainland",
)
_OSS_HOST = re.compile(r"^(?:https?://)?(?:oss-)?(.*?)(?:-internal)?(?:\.aliyuncs\.com)?/?$")


def is_known(region: str) -> bool:
    """Whether `region` is an OSS region this release knows."""
    return region in KNOWN_REGIONS


def region_hint(value: str) -> str:
    """`did you mean cn-hangzhou?` for `hangzhou`, `cn-hanzhou`, `oss-cn-hangzhou`, an
    endpoint host…; else how a region id is written."""
    stripped = _OSS_HOST.fullmatch(value.strip().lower())
    guess = stripped.group(1) if stripped else value.lower()
    if guess in KNOWN_REGIONS:
        return f"did you mean {guess}?"
    by_place = [r for r in KNOWN_REGIONS if r.split("-", 1)[1] == guess]
    near = by_place or difflib.get_close_matches(guess, KNOWN_REGIONS, n=1)
    return f"did you mean {near[0]}?" if near else "write a region id such as cn-hangzhou"
