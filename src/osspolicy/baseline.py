"""The baseline of an apply job: loaded and checked once, before any request.

Everything the service would refuse, and every placeholder we could not fill, stops the
job here with one sentence naming the file (or `policy.document`) and the fix. What can
only be known per bucket (the rendered size) is checked again in the bucket's step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import PolicyDocumentError
from .manifest import PolicySpec
from .policy import (
    BUILTIN_VARIABLES,
    check_mergeable,
    check_placeholders,
    check_size,
    desired_policy,
    parse_policy_file_text,
    placeholders,
    render,
    serialize,
    validate_policy,
)

__all__ = ("Baseline", "load_baseline")


@dataclass(frozen=True, slots=True)
class Baseline:
    """A checked baseline, ready to render per bucket."""

    document: dict[str, Any]
    source: str
    mode: Literal["merge", "replace"] = "merge"
    remove_sids: tuple[str, ...] = ()
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def needs_account_id(self) -> bool:
        """Whether `${account_id}` is used (then the owner id is looked up once)."""
        return "account_id" in placeholders(self.document)

    def desired(
        self, current: dict[str, Any] | None, *, bucket: str, region: str, account_id: str
    ) -> dict[str, Any] | None:
        """The policy this bucket should end with (None: no policy at all)."""
        values = {**self.variables, "bucket": bucket, "region": region, "account_id": account_id}
        rendered = render(self.document, values, source=self.source)
        return desired_policy(current, rendered, self.mode, self.remove_sids)

    def body(self, desired: dict[str, Any]) -> bytes:
        """The bytes to send for `desired`, refused if 16 KB or more once rendered."""
        data = serialize(desired)
        check_size(data, source=self.source)
        return data


def load_baseline(spec: PolicySpec) -> Baseline:
    """Read, validate and check the manifest's baseline (file or inline document)."""
    if spec.file is not None:
        source = str(spec.file)
        try:
            text = Path(spec.file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PolicyDocumentError(
                "no such file", place=source, hint="check policy.file in the manifest"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyDocumentError(f"cannot be read ({exc})", place=source) from None
        document = parse_policy_file_text(text, source=source)
    else:
        source = "policy.document"
        document = dict(spec.document or {})
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
    return Baseline(document, source, spec.mode, tuple(spec.remove_sids), dict(spec.vars))
