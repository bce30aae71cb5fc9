"""Subprocesses of the tests resolve test names to 127.0.0.1 (see `tests/resolver.py`).

Python imports `sitecustomize` at start-up from `sys.path`; the tests put this folder on
`PYTHONPATH` and set `OSSPOLICY_TEST_RESOLVE` to comma-separated suffixes (`emu.test`).
Names equal to or under one of them then resolve to 127.0.0.1 in that interpreter, by
patching `socket.getaddrinfo` as the in-process helper does. Without the variable, it
does nothing.
"""

from __future__ import annotations

import os
import socket
from typing import Any

_SUFFIXES = tuple(
    s.strip().lower().strip(".")
    for s in os.environ.get("OSSPOLICY_TEST_RESOLVE", "").split(",")
    if s.strip()
)

if _SUFFIXES:
    _real_getaddrinfo = socket.getaddrinfo

    def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str):
            name = name.lower().rstrip(".")
            if any(name == s or name.endswith("." + s) for s in _SUFFIXES):
                host = "127.0.0.1"
        return _real_getaddrinfo(host, port, *args, **kwargs)

    socket.getaddrinfo = _getaddrinfo
