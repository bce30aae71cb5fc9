"""How a job's errors leave `run_job` (contracts §14): never as an ExceptionGroup, and,
once its folders are open, naming the job so that the caller can say how to resume it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from .errors import BackendError, JobFailed, OssPolicyError
from .job_folders import JobFolders

__all__ = ("OPEN_JOB", "leaves_of", "no_exception_groups")

_P = ParamSpec("_P")
_R = TypeVar("_R")
#: the job whose folders are open in this task (for `JobFailed`: its id, its folder)
OPEN_JOB: ContextVar[JobFolders | None] = ContextVar("OPEN_JOB", default=None)


def leaves_of(group: BaseExceptionGroup[Exception]) -> list[Exception]:
    """Every exception of a (nested) exception group, in order."""
    found: list[Exception] = []
    for exc in group.exceptions:
        found.extend(leaves_of(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


def no_exception_groups(
    run: Callable[_P, Awaitable[_R]],
) -> Callable[_P, Awaitable[_R]]:
    """`run_job` (what this decorates) never raises an ExceptionGroup (contracts §14):
    a group of one error is that error, of several a `JobFailed` naming the first and the
    count. An OS error (the disk, a folder that vanished), and once the job's folders
    are open any error that is not ours (a writer that failed), is a `JobFailed` naming
    the job, so the caller can say how to resume it; ours (a ConfigError, …) are raised
    as they are."""

    @functools.wraps(run)
    async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        token = OPEN_JOB.set(None)
        try:
            return await run(*args, **kwargs)
        except Exception as exc:
            leaves = leaves_of(exc) if isinstance(exc, ExceptionGroup) else [exc]
            job = OPEN_JOB.get()
            first = leaves[0] if leaves else exc
            if isinstance(first, JobFailed) and first.job_id is None and job is not None:
                first.job_id, first.report_folder = job.job_id, str(job.report_folder)
            # a service or network error out of an open job (not one bucket's) is the job's
            ours = isinstance(first, OssPolicyError) and not (
                job is not None and isinstance(first, BackendError)
            )
            if len(leaves) == 1 and (ours or (job is None and not isinstance(first, OSError))):
                if first is exc:
                    raise
                raise first from exc
            raise JobFailed.of(
                first,
                job_id=job.job_id if job is not None else None,
                report_folder=str(job.report_folder) if job is not None else None,
                errors=max(len(leaves), 1),
            ) from first
        finally:
            OPEN_JOB.reset(token)

    return guarded
