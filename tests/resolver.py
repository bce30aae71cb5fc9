"""Test names resolve to loopback: `*.test` (and any suffix given) -> 127.0.0.1, in process.

The emulator serves hostnames (`--hostname emu.test`, `oss-{region}.emu.test`) and the
SDKs address buckets as `<bucket>.<hostname>`; no DNS knows them. This context manager
patches `socket.getaddrinfo`, which both requests/urllib3 (the sync SDK) and aiohttp's
default threaded resolver (the async SDK) call for every connection::

    with resolve_to_loopback("emu.test"):
        client.list_buckets(...)

For a subprocess (a CLI run), put `tests/sitecustomize` on `PYTHONPATH` and set
`OSSPOLICY_TEST_RESOLVE=emu.test` (comma-separated suffixes): its `sitecustomize.py` does
the same patch when that interpreter starts. `subprocess_env()` builds that environment.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

__all__ = ("LOOPBACK", "SITECUSTOMIZE_DIR", "resolve_to_loopback", "subprocess_env")

LOOPBACK = "127.0.0.1"
SITECUSTOMIZE_DIR = Path(__file__).parent / "sitecustomize"
ENV_VAR = "OSSPOLICY_TEST_RESOLVE"


def _matches(host: object, suffixes: tuple[str, ...]) -> bool:
    name = host.decode() if isinstance(host, bytes) else host
    if not isinstance(name, str):
        return False
    name = name.lower().rstrip(".")
    return any(name == s or name.endswith("." + s) for s in suffixes)


@contextmanager
def resolve_to_loopback(*suffixes: str) -> Iterator[None]:
    """Within the block, names equal to or under `suffixes` (default: `test`) are 127.0.0.1."""
    wanted = tuple(s.lower().strip(".") for s in suffixes) or ("test",)
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return real(LOOPBACK if _matches(host, wanted) else host, port, *args, **kwargs)

    with patch("socket.getaddrinfo", getaddrinfo):
        yield


def subprocess_env(*suffixes: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which a Python subprocess resolves `suffixes` to 127.0.0.1."""
    env = dict(os.environ if base is None else base)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(SITECUSTOMIZE_DIR), *([path] if path else [])])
    env[ENV_VAR] = ",".join(suffixes) or "test"
    return env
