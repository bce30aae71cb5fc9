"""The policies the benchmarks seed, and the baseline the merge-apply puts.

Policy makers are module-level functions so that the spawned emulator process can
unpickle them (by reference).
"""

from __future__ import annotations

import json
from typing import Any

from ._emulator import ACCOUNT_ID

__all__ = ("BASELINE", "mixed_policy", "own_policy")

#: a merge baseline, not public (a Deny): one statement added to or replaced in every bucket
BASELINE: dict[str, Any] = {
    "Version": "1",
    "Statement": [
        {
            "Sid": "osspolicy-deny-insecure-transport",
            "Effect": "Deny",
            "Principal": ["*"],
            "Action": ["oss:*"],
            "Resource": ["acs:oss:*:${account_id}:${bucket}/*"],
            "Condition": {"Bool": {"acs:SecureTransport": ["false"]}},
        }
    ],
}


def own_policy(name: str) -> bytes:
    """A small policy of the bucket's own (about 200 bytes), different for every bucket."""
    document = {
        "Version": "1",
        "Statement": [
            {
                "Sid": f"own-{name}",
                "Effect": "Allow",
                "Principal": ["20214760404935"],
                "Action": ["oss:GetObject"],
                "Resource": [f"acs:oss:*:{ACCOUNT_ID}:{name}/*"],
            }
        ],
    }
    return json.dumps(document).encode()


def mixed_policy(name: str) -> bytes | None:
    """A third of the buckets without a policy, the others with their own (as in the demo)."""
    if int(name[-6:]) % 3 == 0:
        return None
    return own_policy(name)


def sparse_policy(name: str) -> bytes | None:
    """One bucket in ten with a policy of its own (a backup writes a tenth of the files)."""
    if int(name[-6:]) % 10 != 0:
        return None
    return own_policy(name)
