"""osspolicy: async batch operations on Alibaba Cloud OSS bucket policies.

The library under the `osspolicy` command: load a manifest, run its job, read the
result. Errors are in `osspolicy.errors`; the emulator is `osspolicy.emulator`.

    manifest = load_manifest(Path("jobs/backup-all.yaml"))
    run = anyio.run(run_job, manifest)
    print(run.exit_code, run.report_folder)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

if TYPE_CHECKING:
    from .backends import Backend as Backend
    from .backends import ConnectionConfig as ConnectionConfig
    from .backends.memory import MemoryBackend as MemoryBackend
    from .engine import Engine as Engine
    from .errors import ConfigError as ConfigError
    from .errors import OssPolicyError as OssPolicyError
    from .job import JobRun as JobRun
    from .job import RunOptions as RunOptions
    from .job import check_job as check_job
    from .job import run_job as run_job
    from .manifest import Manifest as Manifest
    from .manifest import load_manifest as load_manifest
    from .manifest import parse_manifest as parse_manifest
    from .results import Change as Change
    from .results import Outcome as Outcome
    from .results import Result as Result
    from .results import Target as Target

__all__ = (
    "Backend",
    "Change",
    "ConfigError",
    "ConnectionConfig",
    "Engine",
    "JobRun",
    "Manifest",
    "MemoryBackend",
    "OssPolicyError",
    "Outcome",
    "Result",
    "RunOptions",
    "Target",
    "check_job",
    "load_manifest",
    "parse_manifest",
    "run_job",
)

# imported when first used: `osspolicy --version` must not pay for the job machinery
__getattr__, __dir__ = lazy_exports(
    __name__,
    globals(),
    {
        "Backend": ".backends",
        "ConnectionConfig": ".backends",
        "MemoryBackend": ".backends.memory",
        "Engine": ".engine",
        "ConfigError": ".errors",
        "OssPolicyError": ".errors",
        "JobRun": ".job",
        "RunOptions": ".job",
        "check_job": ".job",
        "run_job": ".job",
        "Manifest": ".manifest",
        "load_manifest": ".manifest",
        "parse_manifest": ".manifest",
        "Change": ".results",
        "Outcome": ".results",
        "Result": ".results",
        "Target": ".results",
    },
)
