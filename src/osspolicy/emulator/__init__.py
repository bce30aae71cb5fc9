"""An OSS-compatible emulator for bucket-policy work: a real HTTP server for the real SDKs.

It speaks the OSS wire protocol (path-style and virtual-host addressing), verifies V4
and V1 signatures, keeps buckets, policies and Block Public Access like the service,
and injects latency and deterministic faults on request. It plays several accounts, or
a Resource Directory of them (`resource_directory=`), answers STS AssumeRole and the
directory's listings on the same endpoint, serves hostnames (per region, too) and HTTPS
from a test CA. Start it from Python::

    with Emulator() as emu:
        emu.seed_buckets(["app-logs"])
        cfg.endpoint = emu.endpoint

    with Emulator(accounts=[Account("1111111111111111", "AK1", "SK1")],
                  hostname="oss-{region}.emu.test", tls=True) as emu:
        emu.write_ca("ca.pem")

from the command line (``osspolicy emulator``), or in any project's tests through the
``oss_emulator`` pytest fixture. It never imports the client side of osspolicy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from osspolicy._lazy import lazy_exports

if TYPE_CHECKING:
    from osspolicy.emulator.accounts import Account as Account
    from osspolicy.emulator.auth import DEMO_ACCESS_KEY_ID as DEMO_ACCESS_KEY_ID
    from osspolicy.emulator.auth import DEMO_ACCESS_KEY_SECRET as DEMO_ACCESS_KEY_SECRET
    from osspolicy.emulator.handler import RequestLogEntry as RequestLogEntry
    from osspolicy.emulator.server import Emulator as Emulator
    from osspolicy.emulator.state import BucketPage as BucketPage
    from osspolicy.emulator.state import BucketSummary as BucketSummary
    from osspolicy.emulator.state import EmulatorState as EmulatorState
    from osspolicy.emulator.state import OssError as OssError

__all__ = (
    "DEMO_ACCESS_KEY_ID",
    "DEMO_ACCESS_KEY_SECRET",
    "Account",
    "BucketPage",
    "BucketSummary",
    "Emulator",
    "EmulatorState",
    "OssError",
    "RequestLogEntry",
)

# imported when first used: the emulator's server (aiohttp) only when one is started
__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        "Account": "osspolicy.emulator.accounts",
        "DEMO_ACCESS_KEY_ID": "osspolicy.emulator.auth",
        "DEMO_ACCESS_KEY_SECRET": "osspolicy.emulator.auth",
        "RequestLogEntry": "osspolicy.emulator.handler",
        "Emulator": "osspolicy.emulator.server",
        "BucketPage": "osspolicy.emulator.state",
        "BucketSummary": "osspolicy.emulator.state",
        "EmulatorState": "osspolicy.emulator.state",
        "OssError": "osspolicy.emulator.state",
    },
)
