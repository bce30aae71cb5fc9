"""Run one job in this process and count its open sockets and file descriptors as it goes.

`python -m tests.socket_probe MANIFEST.yaml` runs the job with `run_job` and prints one
JSON object: the job's `--json` summary plus `peak_sockets`, the most connection sockets
the job had open at once (the sockets the process already held when the job started,
such as the event loop's own self-pipe socketpair, left out), `peak_fds`, the most file
descriptors of the process, and `connects`, the connections it opened. Counting is by
event, not by clock: every `socket.connect` (both urllib3 and asyncio connect through
it) is followed by a count of `/proc/self/fd`, so the peak is seen the moment a
connection makes it.

Run it with `tests/resolver.subprocess_env(...)` (test names resolve to 127.0.0.1) and,
to prove a bound on descriptors, under `resource.setrlimit(RLIMIT_NOFILE, ...)`.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import anyio

from osspolicy._internal.job import JobRun, RunOptions, run_job
from osspolicy._internal.manifest import load_manifest

_FD_DIR = Path("/proc/self/fd")


class _Counter:
    """The peaks of open sockets and descriptors, sampled after every connect."""

    def __init__(self) -> None:
        self.peak_sockets = self.peak_fds = self.connects = 0
        #: sockets open before the job's first connect (the event loop's self-pipe)
        self.base_sockets = 0
        self._lock = threading.Lock()

    @staticmethod
    def count() -> tuple[int, int]:
        """The process's open sockets and descriptors, now."""
        sockets = fds = 0
        for entry in _FD_DIR.iterdir():
            try:
                target = str(entry.readlink())
            except OSError:  # closed meanwhile (or the listing's own descriptor)
                continue
            fds += 1
            sockets += target.startswith("socket:")
        return sockets, fds

    def sample(self) -> None:
        sockets, fds = self.count()
        sockets -= self.base_sockets
        with self._lock:
            self.connects += 1
            self.peak_sockets = max(self.peak_sockets, sockets)
            self.peak_fds = max(self.peak_fds, fds)


def _count_connects(counter: _Counter) -> None:
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        try:
            real_connect(self, address)
        finally:  # a non-blocking connect raises BlockingIOError: counted all the same
            counter.sample()

    socket.socket.connect = connect  # type: ignore[method-assign]


def main() -> None:
    """Run the manifest given as the only argument; print the summary and the counts."""
    manifest = load_manifest(Path(sys.argv[1]))
    counter = _Counter()
    _count_connects(counter)

    async def job() -> JobRun:
        counter.base_sockets, _ = counter.count()  # the running loop's own sockets
        return await run_job(manifest, RunOptions())

    run = anyio.run(job)
    out = {
        **run.to_json(),
        "peak_sockets": counter.peak_sockets,
        "peak_fds": counter.peak_fds,
        "connects": counter.connects,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
