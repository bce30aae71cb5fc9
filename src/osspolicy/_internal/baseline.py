"""The baseline of an apply job: loaded and checked once, before any request.

Everything the service would refuse, and every placeholder we could not fill, stops the
job here with one sentence naming the file (or `policy.document`) and the fix, and so
does a baseline that would lock every job out of the policy it puts (contracts §11),
unless the manifest says `allow_lockout: true`. What can only be known per bucket (the
rendered size) is checked again in the bucket's step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import PolicyDocumentError
from .manifest import PolicySpec, read_policy_document
from .policy import check_size, serialize, validate_policy
from .policy_inspect import lockout_statements
from .policy_merge import check_mergeable, desired_policy
from .policy_template import BUILTIN_VARIABLES, check_placeholders, placeholders, render

__all__ = ("Baseline", "check_no_lockout", "load_baseline")


@dataclass(frozen=True, slots=True)
class Baseline:
    """A checked baseline, ready to render per bucket."""

    document: dict[str, Any]
    source: str
    mode: Literal["merge", "replace"] = "merge"
    remove_sids: tuple[str, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # once, so that `desired` need not check every bucket's rendering again
        check_placeholders(
            self.document, BUILTIN_VARIABLES | set(self.variables), source=self.source
        )

    @property
    def needs_account_id(self) -> bool:
        """Whether `${account_id}` is used (then the owner id is looked up once)."""
        return "account_id" in placeholders(self.document)

    def desired(
        self, current: dict[str, Any] | None, *, bucket: str, region: str, account_id: str
    ) -> dict[str, Any] | None:
        """The policy this bucket should end with (None: no policy at all)."""
        values = {**self.variables, "bucket": bucket, "region": region, "account_id": account_id}
        rendered = render(self.document, values, source=self.source, checked=True)
        return desired_policy(current, rendered, self.mode, self.remove_sids)

    def body(self, desired: dict[str, Any], *, bucket: str = "") -> bytes:
        """The bytes to send for `desired`, refused if 16 KB or more once rendered (the
        error names the bucket and, in merge mode, says the size is after merging)."""
        data = serialize(desired)
        merged = " merged with its policy" if self.mode == "merge" else ""
        where = f"bucket {bucket}: {self.source}{merged}" if bucket else self.source
        check_size(data, source=where)
        return data


def load_baseline(spec: PolicySpec, *, allow_lockout: bool = False) -> Baseline:
    """Read, validate and check the manifest's baseline (file or inline document).

    A statement that denies everyone the bucket's policy calls is refused unless
    `allow_lockout` (the manifest's `allow_lockout: true`).
    """
    source = "policy.document" if spec.file is None else str(spec.file)
    document = read_policy_document(spec)
    validate_policy(document, source=source)
    if spec.mode == "merge":
        check_mergeable(document, source=source)
    check_placeholders(document, BUILTIN_VARIABLES | set(spec.vars), source=source)
    for name in BUILTIN_VARIABLES & set(spec.vars):
        raise PolicyDocumentError(
            f"vars.{name} would hide the built-in ${{{name}}}",
            place="policy.vars",
            hint="rename the variable",
        )
    check_size(serialize(document), source=source)
    if not allow_lockout:
        check_no_lockout(document, source=source)
    return Baseline(document, source, spec.mode, tuple(spec.remove_sids), dict(spec.vars))


def check_no_lockout(document: dict[str, Any], *, source: str) -> None:
    """Refuse a baseline with a statement that would lock every job out of the policy."""
    found = lockout_statements(document)
    if found:
        names = ", ".join(repr(name) for name in found)
        raise PolicyDocumentError(
            f"statement {names} denies everyone, without a Condition, the calls that change "
            "or read the bucket policy: once on a bucket, no job could undo it",
            place=source,
            hint="narrow its Action or Principal, add a Condition, or set allow_lockout: true "
            "in the manifest if that is meant",
        )
