"""The job manifest (contracts §1): models with unknown keys rejected, and YAML loading.

Every problem becomes one `ManifestError` sentence naming the file, the key path
(`targets.discover.include[1]`) and the fix. Relative paths resolve from the manifest's
own folder. `effective()` applies the CLI overrides; the effective manifest is what a job
records (`manifest.yaml`). Resume compares only what decides the outcome (contracts §5):
`outcome_fields()`, hashed by `manifest_sha256()`, its keys named by `differing_keys()`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ManifestError, PolicyDocumentError
from .policy import parse_policy_file_text

__all__ = (
    "BUCKET_NAME",
    "OUTCOME_KEYS",
    "WRITING_ACTIONS",
    "Connection",
    "Discover",
    "Manifest",
    "PolicySpec",
    "Retry",
    "Targets",
    "check_bucket_name",
    "differing_keys",
    "effective",
    "load_manifest",
    "manifest_sha256",
    "manifest_yaml",
    "outcome_fields",
    "parse_manifest",
    "read_policy_document",
)

#: a valid OSS bucket name: 3-63 chars of lowercase letters, digits and hyphens, not
#: starting or ending with a hyphen
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
Action = Literal["backup", "apply", "delete", "restore"]
#: the actions that write to buckets (the ones a canary, the gate and the lock are for)
WRITING_ACTIONS = frozenset({"apply", "delete", "restore"})
#: the top-level keys that decide a job's outcome, so its resume hash (contracts §5);
#: `policy` holds the loaded document, mode, remove_sids and vars
OUTCOME_KEYS = (
    "action",
    "accounts",
    "targets",
    "policy",
    "allow_public",
    "allow_lockout",
    "source",
)


def check_bucket_name(name: str) -> str:
    """Return `name` if it is a valid OSS bucket name, else raise ValueError saying why."""
    if not BUCKET_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a valid OSS bucket name (3-63 lowercase letters, digits or "
            "hyphens, not starting or ending with a hyphen)"
        )
    return name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Discover(_Model):
    """ListBuckets, account-wide, then filters."""

    prefix: str = ""
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    region: str | None = None


class Targets(_Model):
    """Which buckets: exactly one of buckets / buckets_file / discover."""

    buckets: tuple[str, ...] | None = None
    buckets_file: Path | None = None
    discover: Discover | None = None

    @field_validator("buckets")
    @classmethod
    def _names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            if not value:
                raise ValueError("the list is empty; name at least one bucket")
            for name in value:
                check_bucket_name(name)
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Targets:
        given = [k for k in ("buckets", "buckets_file", "discover") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of buckets, buckets_file or discover"
                + (f" (found {', '.join(given)})" if given else "")
            )
        return self


class Connection(_Model):
    """Where and how to reach OSS; credentials come from the environment, never from here."""

    region: str
    endpoint: str | None = None
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(20.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parsed = urlparse(value)
            if parsed.scheme not in {"http", "https"} or not parsed.netloc:
                raise ValueError(
                    f"{value!r} is not an http(s) URL; write e.g. http://127.0.0.1:9000"
                )
        return value


class Retry(_Model):
    """How hard to try each call."""

    attempts: int = Field(10, ge=1, le=100)
    base_delay_s: float = Field(0.2, ge=0)
    max_delay_s: float = Field(10.0, ge=0)


class PolicySpec(_Model):
    """The baseline an apply job puts on every target."""

    file: Path | None = None
    document: dict[str, Any] | None = None
    mode: Literal["merge", "replace"] = "merge"
    remove_sids: tuple[str, ...] = ()
    vars: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> PolicySpec:
        if (self.file is None) == (self.document is None):
            raise ValueError("give exactly one of file or document")
        return self


class Manifest(_Model):
    """A whole job."""

    version: Literal[1] = 1
    action: Action
    targets: Targets | None = None
    connection: Connection
    concurrency: int = Field(16, ge=1, le=1024)
    engine: Literal["threads", "aio"] = "threads"
    rate_limit: float = Field(0.0, ge=0)
    retry: Retry = Field(default_factory=Retry)
    policy: PolicySpec | None = None
    allow_public: bool = False
    allow_lockout: bool = False
    canary: int = 0
    max_failures: int = 0
    max_failure_rate: float = 0.0
    source: Path | None = None
    backup_dir: Path = Path("backups")
    report_dir: Path = Path("reports")

    @field_validator("canary", "max_failures")
    @classmethod
    def _count(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"is {value}; write 0 (none) or a number of targets")
        return value

    @field_validator("max_failure_rate")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 <= value <= 1:
            shown = value if math.isfinite(value) else str(value)
            raise ValueError(f"is {shown}; write a fraction in (0, 1], e.g. 0.1, or 0 for none")
        return value

    @model_validator(mode="after")
    def _per_action(self) -> Manifest:
        if self.targets is None and self.action != "restore":
            raise ValueError("targets: required; give buckets, buckets_file or discover")
        if self.action == "apply" and self.policy is None:
            raise ValueError("policy: an apply job needs a policy section (file or document)")
        if self.action != "apply" and self.policy is not None:
            raise ValueError(f"policy: only an apply job takes a policy, not {self.action}")
        if self.action == "restore" and self.source is None:
            raise ValueError("source: a restore job needs the backup folder to restore from")
        if self.action != "restore" and self.source is not None:
            raise ValueError(f"source: only a restore job takes a source, not {self.action}")
        if self.canary and self.action not in WRITING_ACTIONS:
            raise ValueError(
                f"canary: only a writing job (apply, delete, restore) takes a canary, "
                f"not {self.action}; remove it"
            )
        if self.allow_lockout and self.action != "apply":
            raise ValueError(
                f"allow_lockout: only an apply job takes allow_lockout, not {self.action}; "
                "remove it"
            )
        return self


def _path_of(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _known_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed where `loc` points, for 'did you mean' suggestions."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or not (
            isinstance(current, type) and issubclass(current, BaseModel)
        ):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _first_error(source: str, exc: ValidationError) -> ManifestError:
    """One sentence for the first problem pydantic found (one line, as the CLI promises).

    An unknown key comes first: it usually is the cause of the 'missing' key it hides.
    """
    found = exc.errors()
    error = next((e for e in found if e["type"] == "extra_forbidden"), found[0])
    loc = tuple(error["loc"])
    place = f"{source}: {_path_of(loc)}" if loc else source
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        near = difflib.get_close_matches(key, _known_keys(Manifest, loc), n=1)
        hint = f"did you mean {near[0]}?" if near else "remove it"
        return ManifestError("unknown key", place=place, hint=hint)
    if kind == "missing":
        return ManifestError("required key is missing", place=place, hint="add it")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return ManifestError(
            f"{error.get('input')!r} is not allowed", place=place, hint=f"use one of {expected}"
        )
    return ManifestError(message, place=place)


def _resolve(data: dict[str, Any], base: Path) -> None:
    """Make the manifest's relative paths relative to its own folder (in place)."""

    def fix(holder: dict[str, Any], key: str) -> None:
        value = holder.get(key)
        if isinstance(value, str) and value:
            path = Path(value).expanduser()
            holder[key] = str(path if path.is_absolute() else base / path)

    for key in ("source", "backup_dir", "report_dir"):
        fix(data, key)
    data.setdefault("backup_dir", str(base / "backups"))
    data.setdefault("report_dir", str(base / "reports"))
    if isinstance(data.get("targets"), dict):
        fix(data["targets"], "buckets_file")
    if isinstance(data.get("policy"), dict):
        fix(data["policy"], "file")


def parse_manifest(
    data: object, *, source: str, base: Path, overrides: dict[str, Any] | None = None
) -> Manifest:
    """Validate already-parsed YAML data; `overrides` are the CLI's flags."""
    if not isinstance(data, dict):
        raise ManifestError(
            "the manifest must be a mapping of keys (version, action, targets, …)", place=source
        )
    data = dict(json.loads(json.dumps(data, default=str)))  # a private copy we may edit
    _resolve(data, base)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in {"endpoint", "region"}:
            data.setdefault("connection", {})
            if isinstance(data["connection"], dict):
                data["connection"][key] = value
        else:
            data[key] = value
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise _first_error(source, exc) from None


def load_manifest(path: Path, overrides: dict[str, Any] | None = None) -> Manifest:
    """Read and validate a manifest file; any problem is one ManifestError sentence."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError("no such file", place=source, hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot be read ({exc})", place=source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ManifestError(
            f"not valid YAML{where}: {problem}", place=source, hint="fix the syntax"
        ) from None
    return parse_manifest(data, source=source, base=path.resolve().parent, overrides=overrides)


def effective(manifest: Manifest) -> dict[str, Any]:
    """The effective manifest as plain data (paths as strings), as recorded and hashed."""
    return manifest.model_dump(mode="json")


def manifest_yaml(manifest: Manifest) -> str:
    """The effective manifest as the YAML a job folder keeps."""
    return yaml.safe_dump(effective(manifest), sort_keys=False, allow_unicode=True)


def read_policy_document(spec: PolicySpec) -> dict[str, Any]:
    """The baseline as written: `policy.file` read and parsed (JSON or YAML), or a copy of
    `policy.document`; a file that cannot be read or parsed is a `PolicyDocumentError`."""
    if spec.file is None:
        return dict(spec.document or {})
    source = str(spec.file)
    try:
        text = Path(spec.file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyDocumentError(
            "no such file", place=source, hint="check policy.file in the manifest"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyDocumentError(f"cannot be read ({exc})", place=source) from None
    return parse_policy_file_text(text, source=source)


def outcome_fields(manifest: Manifest, document: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What decides the job's outcome (contracts §5), as the plain data its hash covers.

    The `OUTCOME_KEYS` with every default left out (given explicitly or not), so that a
    newer version adding keys with defaults still resumes; pace and safety settings
    (concurrency, engine, rate_limit, retry, timeouts, canary, thresholds) are not in it.
    `policy.document` is the baseline's content, never its file's path: `document` when
    given (the one `load_baseline` checked), else the file is read here.
    """
    fields: dict[str, Any] = manifest.model_dump(
        mode="json", include=set(OUTCOME_KEYS), exclude_defaults=True
    )
    if manifest.policy is not None:
        policy = {key: value for key, value in fields["policy"].items() if key != "file"}
        loaded = read_policy_document(manifest.policy) if document is None else document
        policy["document"] = json.loads(json.dumps(loaded))
        fields["policy"] = policy
    return fields


_ABSENT = object()


def differing_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The dotted key paths whose values differ between two `outcome_fields` (a key only
    one side has counts), sorted; nested mappings are followed, lists compared whole."""
    return _differing(old, new, "")


def _differing(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str) -> list[str]:
    found: list[str] = []
    for key in sorted({*old, *new}, key=str):
        path = f"{prefix}.{key}" if prefix else str(key)
        before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if before == after:
            continue
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            found += _differing(before, after, path)
        else:
            found.append(path)
    return found


def manifest_sha256(manifest: Manifest, document: Mapping[str, Any] | None = None) -> str:
    """The resume hash: sha256 of the canonical JSON of `outcome_fields(manifest, document)`
    (resume refuses a job whose hash differs)."""
    fields = outcome_fields(manifest, document)
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
