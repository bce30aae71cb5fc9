"""Resume runs the job that was started (contracts §5): which manifest and options a
resumed run takes, from the job folder and from what is given now.

```
job folder: manifest.yaml (effective, with the start's overrides) + journal header
            (`started_with`: the start's binding options and which keys flags set)
                 │
given now: manifest + flags ──► resumed(...) ──► the manifest and options of the run
```

- Pace and safety settings (`PACE_KEYS`, the connection's timeouts) come from the
  manifest and flags given now.
- What decides the outcome (`resume_hash.OUTCOME_KEYS`) is the same by the resume hash;
  it is taken from now, so that each account's credentials come from the manifest given
  now, never from the record (which holds no secret).
- Everything else (the connection's region, endpoint, network, CA file) comes from the
  record. A different value given now is refused (ConfigError, exit 2) naming the flag
  or the key; the same value, or none, is fine. A manifest value that differs only
  because a flag set the key at start is not "given now". One exception: an endpoint
  given now while the recorded one no longer answers (a TCP connect within
  `PROBE_TIMEOUT_S` fails; an emulator restarted on a new port) is taken, with a warning.
- `report_dir` is where the job was found; `backup_dir` is the recorded one.
- Start-time options that decide what is written (`BINDING_OPTIONS`: `--plan`,
  `--allow-incomplete`, `--skip-damaged`) come from the journal header the same way: not
  given now, the recorded value; given and different, refused. One exception: a plan
  given to the resume of a job started without one (the terminal prompt's, shown and
  confirmed now) binds that run: it can only narrow what is written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import anyio
import yaml

from .errors import ConfigError
from .journal import JournalHeader, find_resumable, read_header
from .manifest import Manifest, parse_manifest
from .report import MANIFEST_NAME
from .resume_hash import OUTCOME_KEYS, manifest_sha256

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .job import RunOptions

__all__ = (
    "BINDING_OPTIONS",
    "FLAGS",
    "PACE_KEYS",
    "PROBE_TIMEOUT_S",
    "Resumed",
    "resumed",
    "started_with",
)

#: top-level keys a resume takes from now: how fast and how safely, not what or where
PACE_KEYS = frozenset(
    {
        "concurrency",
        "engine",
        "rate_limit",
        "retry",
        "timeouts",
        "canary",
        "max_failures",
        "max_failure_rate",
        "stats",
        "sts_rate_limit",
        "account_concurrency",
        "max_failed_accounts",
        "max_failed_account_rate",
    }
)
#: the connection's keys a resume takes from now (its timeouts)
_PACE_CONNECTION_KEYS = frozenset({"connect_timeout_s", "read_timeout_s"})
#: the job's folders: where it was found, and its recorded backup_dir
_FOLDER_KEYS = frozenset({"report_dir", "backup_dir"})
#: `RunOptions` fields set at start that decide what is written (and their flags)
BINDING_OPTIONS: Mapping[str, str] = {
    "plan": "--plan",
    "allow_incomplete": "--allow-incomplete",
    "skip_damaged": "--skip-damaged",
    "force": "--force",
    "deny_new_access": "--deny-new-access",
}
#: the flags that set a manifest key that is not a pace key, by the key they set
FLAGS: Mapping[str, str] = {
    "connection.endpoint": "--endpoint",
    "connection.region": "--region",
}
#: how long the recorded endpoint has to accept a TCP connection to count as answering
PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class Resumed:
    """The manifest and options a resumed run takes, and what to warn about."""

    manifest: Manifest
    options: RunOptions
    warnings: tuple[str, ...] = ()


def started_with(options: RunOptions) -> dict[str, Any]:
    """What a job's journal header records of how it was started: the binding options'
    values, and which manifest keys flags set (their values are in `manifest.yaml`)."""
    values = {name: getattr(options, name) for name in BINDING_OPTIONS if hasattr(options, name)}
    if options.rollback:  # a rollback reads its snapshot as an incomplete backup
        values["allow_incomplete"] = True
    return {"options": values, "flags": sorted(options.overrides)}


async def resumed(manifest: Manifest, options: RunOptions) -> Resumed:
    """The run that continues the job `options.resume` names (the newest unfinished job
    of this manifest for "latest"): the recorded manifest with this one's pace and
    safety settings, and the recorded binding options. Refused (ConfigError) when a
    value given now differs from the job's. A job that cannot be found, or is not
    resumable, is left for the job runner to refuse with its own message."""
    report_dir = Path(manifest.report_dir)
    if options.resume == "latest":
        folder = await find_resumable(report_dir, manifest_sha256(manifest))
    else:
        folder = report_dir / str(options.resume)
    header = await read_header(folder) if folder is not None else None
    if folder is None or header is None:
        return Resumed(manifest, options)
    recorded = _recorded(folder / MANIFEST_NAME)
    data, warnings = await _merged(manifest, options, header, recorded, folder)
    merged = parse_manifest(data, source=str(folder / MANIFEST_NAME), base=folder)
    bound = _bound_options(options, header)
    if header.action == "rollback":
        bound = dataclasses.replace(bound, rollback=True)
    return Resumed(merged, dataclasses.replace(bound, resume=folder.name), tuple(warnings))


def _recorded(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read the manifest the job started with ({exc})",
            place=str(path),
            hint="run without --resume to start a new job",
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            "not a manifest", place=str(path), hint="run without --resume to start a new job"
        )
    return data


def _start_flags(header: JournalHeader) -> frozenset[str] | None:
    """The keys flags set at start; None for a job recorded before this was kept."""
    start = header.started_with
    flags = start.get("flags") if start is not None else None
    return frozenset(str(key) for key in flags) if isinstance(flags, list) else None


async def _merged(
    manifest: Manifest,
    options: RunOptions,
    header: JournalHeader,
    recorded: Mapping[str, Any],
    folder: Path,
) -> tuple[dict[str, Any], list[str]]:
    """The recorded manifest's data with now's pace, safety and outcome keys, after
    checking every other key given now against it."""
    now = manifest.model_dump(mode="json")
    data = {key: value for key, value in recorded.items() if key != "connection"}
    data.update(
        {
            key: value
            for key, value in now.items()
            if key in PACE_KEYS or key in OUTCOME_KEYS or key == "version"
        }
    )
    data["report_dir"] = str(folder.parent)
    data.setdefault("backup_dir", now["backup_dir"])
    connection = dict(recorded.get("connection") or {})
    for key in _PACE_CONNECTION_KEYS & now["connection"].keys():
        connection[key] = now["connection"][key]
    warnings: list[str] = []
    start_flags = _start_flags(header)
    where = [(f"connection.{key}", key) for key in now["connection"]]
    for dotted, key in where:
        if key in _PACE_CONNECTION_KEYS:
            continue
        kept = await _kept(
            dotted,
            recorded=connection.get(key),
            now=now["connection"][key],
            flagged_now=dotted in options.overrides,
            flagged_at_start=start_flags is None or dotted in start_flags,
            job_id=folder.name,
            warnings=warnings,
        )
        connection[key] = kept
    data["connection"] = connection
    for key in now.keys() - PACE_KEYS - set(OUTCOME_KEYS) - _FOLDER_KEYS - {"version"}:
        if key == "connection":
            continue
        data[key] = await _kept(
            key,
            recorded=recorded.get(key),
            now=now[key],
            flagged_now=key in options.overrides,
            flagged_at_start=start_flags is None or key in start_flags,
            job_id=folder.name,
            warnings=warnings,
        )
    return data, warnings


async def _kept(
    key: str,
    *,
    recorded: object,
    now: object,
    flagged_now: bool,
    flagged_at_start: bool,
    job_id: str,
    warnings: list[str],
) -> object:
    """The value a resumed run takes for `key`: the recorded one, unless a different
    one is given now (refused, or, for an endpoint that no longer answers, taken)."""
    if recorded == now or not (flagged_now or not flagged_at_start):
        return recorded
    given = FLAGS.get(key, key) if flagged_now else key
    if key == "connection.endpoint" and isinstance(recorded, str) and not await _answers(recorded):
        warnings.append(
            f"{given} {now}: job {job_id} started with {recorded}, which no longer answers; "
            f"resuming against {now}"
        )
        return now
    raise ConfigError(
        f"{given} {now} differs from {recorded} that job {job_id} started with",
        hint=f"resume with {given} {recorded} (or without it), or run without --resume "
        "to start a new job",
    )


async def _answers(endpoint: str) -> bool:
    """Whether `endpoint` accepts a TCP connection within `PROBE_TIMEOUT_S` (a template
    with `{region}` is not probed: it counts as answering)."""
    if "{region}" in endpoint:
        return True
    parsed = urlparse(endpoint)
    host = parsed.hostname
    if host is None:
        return True
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        return True
    with anyio.move_on_after(PROBE_TIMEOUT_S):
        try:
            stream = await anyio.connect_tcp(host, port)
        except OSError:
            return False
        await stream.aclose()
        return True
    return False


def _bound_options(options: RunOptions, header: JournalHeader) -> RunOptions:
    """`options` with the start's binding options where none is given now; a different
    one given now is refused, naming its flag."""
    start = header.started_with
    values = start.get("options") if start is not None else None
    if not isinstance(values, dict):
        return options
    changes: dict[str, Any] = {}
    for name, flag in BINDING_OPTIONS.items():
        if name not in values or not hasattr(options, name):
            continue
        was, given = values[name], getattr(options, name)
        if given in {None, False} or given == was:
            changes[name] = was
            continue
        if name == "plan" and was is None:  # the prompt's plan: it only narrows this run
            continue
        raise ConfigError(
            f"{_as_flag(flag, given)} differs from how job {header.job_id} started "
            f"({_as_flag(flag, was)})",
            hint="resume as it started, or run without --resume to start a new job",
        )
    return dataclasses.replace(options, **changes)


def _as_flag(flag: str, value: object) -> str:
    """An option's value as its flag: `--plan P`, `--allow-incomplete`, `without --plan`."""
    if value is True:
        return flag
    return f"without {flag}" if value in {None, False} else f"{flag} {value}"
