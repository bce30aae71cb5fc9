"""Policy insight (contracts §18): what a bucket's policy grants that deserves a look.

```
rule                severity  a statement (or the policy) that ...
public-read         high      grants everyone oss:GetObject (the public rule of §7)
public-write        high      grants everyone oss:PutObject
owner-lockout       high      denies everyone the policy calls (§11's lockout rule)
external-principal  medium    allows a principal outside the job's known accounts
wildcard-action     medium    allows oss:* or * to anyone but the bucket's owner
ip-any              medium    conditions on acs:SourceIp 0.0.0.0/0 or ::/0
foreign-resource    medium    names another bucket in its Resource
no-https-only       low       (the policy) has no Deny of acs:SecureTransport false
```

One implementation of each OSS rule: "public", the lockout and the foreign bucket come
from `policy_inspect` (the same functions the plan's warnings, the `blocked_public`
prediction and the baseline's lockout check use). Findings judge the policy document
only (no ACL is read); a bucket without a policy has none. What cannot be judged is not
guessed: without every account's owner id, `external-principal` is not judged, and
`wildcard-action` only where the principal is everyone (`Owners`). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .policy import canonical
from .policy_inspect import (
    covers_action,
    everyone,
    foreign_in_statement,
    locks_out,
    statement_is_public,
    statement_name,
)
from .policy_parts import as_list, statements_of

__all__ = (
    "RULES",
    "RULES_BY_ID",
    "SEVERITIES",
    "Finding",
    "Owners",
    "Rule",
    "Severity",
    "account_of",
    "at_or_above",
    "find",
)

Severity = Literal["high", "medium", "low"]
#: most severe first
SEVERITIES: tuple[Severity, ...] = ("high", "medium", "low")

_BLOCK_PUBLIC_ACCESS = "https://www.alibabacloud.com/help/en/oss/user-guide/block-public-access"
_BUCKET_POLICY = "https://www.alibabacloud.com/help/en/oss/user-guide/oss-bucket-policy/"
_SYNTAX = "https://www.alibabacloud.com/help/en/oss/user-guide/authorization-syntax-and-elements"
_CROSS_ACCOUNT = (
    "https://www.alibabacloud.com/help/en/object-storage-service/latest/"
    "tutorial-authorize-a-ram-user-under-another-alibaba-cloud-account-by-adding-a-bucket-policy"
)
_HTTPS_ONLY = (
    "https://www.alibabacloud.com/help/en/oss/"
    "tutorial-example-using-the-bucket-policy-to-access-oss-resources"
)
_CONDITION_OPERATORS = "https://www.alibabacloud.com/help/en/ram/conditional-operator"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: its id, severity, a one-line title, the explanation and its OSS page."""

    id: str
    severity: Severity
    title: str
    explanation: str
    reference: str


RULES: tuple[Rule, ...] = (
    Rule(
        "public-read",
        "high",
        "Everyone may read objects",
        "An Allow to everyone (Principal * or [*], not pinned by a fixed acs:SourceVpc, "
        "acs:SourceVpcId or acs:AccessId, nor by acs:SourceIp networks of /8 or narrower) "
        "covers oss:GetObject: anonymous requests can read the bucket's objects. A "
        "Condition on acs:SecureTransport or on 0.0.0.0/0 keeps it public.",
        _BLOCK_PUBLIC_ACCESS,
    ),
    Rule(
        "public-write",
        "high",
        "Everyone may write objects",
        "An Allow to everyone, not pinned (as for public-read), covers oss:PutObject: "
        "anonymous requests can write objects, at the owner's cost.",
        _BLOCK_PUBLIC_ACCESS,
    ),
    Rule(
        "owner-lockout",
        "high",
        "Everyone is denied the bucket policy calls",
        "A Deny to everyone without a Condition covers oss:PutBucketPolicy, "
        "oss:DeleteBucketPolicy or oss:GetBucketPolicy: no job can read or undo the policy "
        "any more.",
        _BUCKET_POLICY,
    ),
    Rule(
        "external-principal",
        "medium",
        "A principal outside the job's accounts is allowed",
        "An Allow names a principal whose account is none of the job's accounts (their "
        "owner ids): another Alibaba Cloud account, or a RAM user (which has an id of its "
        "own) or role of one. Check that the grant is meant.",
        _CROSS_ACCOUNT,
    ),
    Rule(
        "wildcard-action",
        "medium",
        "Every action is allowed to someone other than the owner",
        "An Allow of oss:* or * (or a NotAction, which allows all the others) names a "
        "principal other than the bucket's owner: grant only the actions needed.",
        _SYNTAX,
    ),
    Rule(
        "ip-any",
        "medium",
        "An acs:SourceIp condition matches every address",
        "A Condition on acs:SourceIp lists 0.0.0.0/0 or ::/0, which every address is in: "
        "the condition looks like a restriction and restricts nothing.",
        _CONDITION_OPERATORS,
    ),
    Rule(
        "foreign-resource",
        "medium",
        "A Resource names another bucket",
        "A Resource or NotResource names a bucket other than the one the policy is on: a "
        "template rendered for the wrong bucket, or a copy of another bucket's policy.",
        _SYNTAX,
    ),
    Rule(
        "no-https-only",
        "low",
        "Plain HTTP is not denied",
        "No statement denies everyone requests whose acs:SecureTransport is false (a Deny "
        "to * of oss:GetObject and oss:PutObject under that Condition alone), so objects "
        "can travel unencrypted.",
        _HTTPS_ONLY,
    ),
)
RULES_BY_ID: Mapping[str, Rule] = {rule.id: rule for rule in RULES}


_RANK: Mapping[str, int] = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def at_or_above(severity: str, threshold: str) -> bool:
    """Whether `severity` is `threshold` or more severe (high > medium > low)."""
    return _RANK[severity] <= _RANK[threshold]


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: which rule, how severe, where (bucket, account, statement) and why.

    `statement` is the statement's Sid, else `Statement[i]`; None for a finding about
    the whole policy (`no-https-only`). `fingerprint` is the same for the same finding
    in every run, live or from a backup: the rule, the bucket and the statement's Sid
    (or, without one, its canonical text: a reorder changes nothing), with a counter
    when the policy repeats that Sid (`_anchors`): no two findings share one.
    """

    rule: str
    severity: Severity
    bucket: str
    account: str
    statement: str | None
    message: str
    reference: str
    fingerprint: str = ""

    def to_record(self) -> dict[str, Any]:
        """The JSON object of `findings.jsonl`."""
        return {
            "rule": self.rule,
            "severity": self.severity,
            "bucket": self.bucket,
            "account": self.account,
            "statement": self.statement,
            "message": self.message,
            "reference": self.reference,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Finding:
        """Read a `findings.jsonl` line back (`ValueError` for an unknown rule)."""
        rule = RULES_BY_ID.get(str(record.get("rule")))
        if rule is None:
            raise ValueError(f"unknown rule {record.get('rule')!r}")
        statement = record.get("statement")
        return cls(
            rule.id,
            rule.severity,
            str(record.get("bucket")),
            str(record.get("account")),
            None if statement is None else str(statement),
            str(record.get("message")),
            str(record.get("reference") or rule.reference),
            str(record.get("fingerprint") or ""),
        )


@dataclass(frozen=True, slots=True)
class Owners:
    """What the findings know of the job's accounts: each one's owner id (None: not
    known, e.g. an older backup), and other ids inside the job's world (a Resource
    Directory's members the job left out)."""

    ids: Mapping[str, str | None] = field(default_factory=dict)
    members: frozenset[str] = frozenset()

    def owner_of(self, account: str) -> str | None:
        """The owner id of `account`, or None when it is not known."""
        return self.ids.get(account)

    @property
    def known(self) -> frozenset[str] | None:
        """Every known account id, or None when some account's id is not known (then no
        principal can be called external: it might be that account's)."""
        if not self.ids or any(owner is None for owner in self.ids.values()):
            return None
        return frozenset(owner for owner in self.ids.values() if owner) | self.members

    @property
    def unknown(self) -> list[str]:
        """The accounts whose owner id is not known, in order."""
        return [name for name, owner in self.ids.items() if owner is None]


#: `acs:ram::<uid>:role/<name>`, `arn:sts::<uid>:assumed-role/<role>/<session>`
_ACCOUNT_IN_ARN = re.compile(r"(?:acs:ram|arn:sts)::(\d+):", re.IGNORECASE)
_SECURE_TRANSPORT = "acs:securetransport"
_SOURCE_IP = "acs:sourceip"
#: the operators under which `acs:SecureTransport: false` matches plain HTTP only
_EQUALS = frozenset({"bool", "boolifexists", "stringequals", "stringequalsignorecase"})


def account_of(principal: str) -> str | None:
    """The account id a Principal value belongs to: a UID as it is, the account of a role
    or an assumed-role ARN; None when it names none (a RAM user's id is its own)."""
    if principal.isdigit():
        return principal
    match = _ACCOUNT_IN_ARN.match(principal)
    return match.group(1) if match else None


def find(
    doc: Mapping[str, Any] | None,
    *,
    bucket: str | None,
    account: str,
    owners: Owners,
) -> list[Finding]:
    """Every finding of one bucket's policy (none without a policy), statement by
    statement in order, the whole policy's last. `bucket` None judges a template (a
    baseline before rendering): `foreign-resource` is not judged then."""
    if doc is None:
        return []
    where = bucket or "baseline"
    found: list[Finding] = []
    statements = statements_of(doc)
    for index, (statement, anchor) in enumerate(zip(statements, _anchors(statements), strict=True)):
        name = statement_name(statement, index)
        for rule, message in _statement_findings(statement, bucket, account, owners):
            text = f"statement {name}: {message}"
            found.append(_finding(rule, where, account, (name, anchor), text))
    if not any(_denies_plain_http(statement) for statement in statements_of(doc)):
        text = "no statement denies everyone plain-HTTP requests (acs:SecureTransport false)"
        found.append(_finding("no-https-only", where, account, None, text))
    return found


#: a statement's name across runs: its Sid or text, and its number when repeated
Anchor = list[str | int]


def _anchors(statements: list[Mapping[str, Any]]) -> list[Anchor]:
    """What names each statement across runs, unique within the policy: its Sid, else
    its canonical text; a Sid (or a text) the policy repeats numbers its statements 1,
    2, … but the first, ordered by canonical text, so two statements of one Sid are two
    alerts, and a reorder of the statements changes no fingerprint."""
    texts = [canonical({"Statement": [statement]}) for statement in statements]
    anchors = [_anchor(statement, text) for statement, text in zip(statements, texts, strict=True)]
    by_anchor: dict[str, list[int]] = {}
    for index, anchor in enumerate(anchors):
        by_anchor.setdefault(anchor, []).append(index)
    unique: list[Anchor] = [[anchor] for anchor in anchors]
    for anchor, indexes in by_anchor.items():
        for rank, index in enumerate(sorted(indexes, key=texts.__getitem__)[1:], start=1):
            unique[index] = [anchor, rank]  # another shape than any Sid's: no collision
    return unique


def _anchor(statement: Mapping[str, Any], text: str) -> str:
    """What names a statement across runs: its Sid, else its canonical `text`."""
    sid = statement.get("Sid")
    if isinstance(sid, str) and sid:
        return f"sid:{sid}"
    return "text:" + text


def _finding(
    rule: str, bucket: str, account: str, statement: tuple[str, Anchor] | None, text: str
) -> Finding:
    spec = RULES_BY_ID[rule]
    name, anchor = statement if statement is not None else (None, ["policy"])
    key = json.dumps([rule, bucket, *anchor], ensure_ascii=False).encode()
    fingerprint = hashlib.sha256(key).hexdigest()[:32]
    return Finding(rule, spec.severity, bucket, account, name, text, spec.reference, fingerprint)


def _statement_findings(
    statement: Mapping[str, Any], bucket: str | None, account: str, owners: Owners
) -> Iterable[tuple[str, str]]:
    """(rule, message) of each rule one statement breaks, in the rules' order."""
    if statement_is_public(statement):
        for rule, action in (("public-read", "oss:GetObject"), ("public-write", "oss:PutObject")):
            if covers_action(statement, action):
                yield rule, f"allows everyone {action}, not pinned by a condition"
    if locks_out(statement):
        yield "owner-lockout", "denies everyone, without a Condition, the bucket policy calls"
    allowed = statement.get("Effect") == "Allow"
    if allowed and (outside := _external(statement, owners)):
        yield "external-principal", f"allows {', '.join(outside)}, outside the job's accounts"
    if allowed and (why := _wildcard(statement, owners.owner_of(account))):
        yield "wildcard-action", why
    if wide := _any_ip(statement.get("Condition")):
        yield "ip-any", f"acs:SourceIp {', '.join(wide)} matches every address"
    if bucket is not None and (foreign := foreign_in_statement(statement, bucket)):
        yield "foreign-resource", f"names other buckets: {', '.join(foreign)}"


def _principals(statement: Mapping[str, Any]) -> list[str]:
    return [str(value) for value in as_list(statement.get("Principal"))]


def _external(statement: Mapping[str, Any], owners: Owners) -> list[str]:
    """The principals of an Allow outside the known accounts (everyone is the public
    rules' business); none when not every account's owner id is known."""
    known = owners.known
    if known is None:
        return []
    return [
        principal
        for principal in _principals(statement)
        if principal != "*" and account_of(principal) not in known
    ]


#: the Actions that allow every action (any case)
_ALL = frozenset({"*", "oss:*"})


def _wildcard(statement: Mapping[str, Any], owner: str | None) -> str | None:
    """Why an Allow is a wildcard grant to someone other than the owner (None if not):
    its Action is `oss:*` or `*` (any case), or it allows by NotAction."""
    wildcards = [str(a) for a in as_list(statement.get("Action")) if str(a).lower() in _ALL]
    if "NotAction" in statement:
        what = "every action but its NotAction"
    elif wildcards:
        what = f"every action ({', '.join(dict.fromkeys(wildcards))})"  # as the policy wrote it
    else:
        return None
    if everyone(statement.get("Principal")):
        return f"allows {what} to everyone"
    if owner is None:  # who the owner is, is not known: not judged
        return None
    others = [p for p in _principals(statement) if account_of(p) != owner]
    return f"allows {what} to {', '.join(others)}" if others else None


def _clauses(condition: object) -> list[tuple[str, str, list[Any]]]:
    """(operator, key lower-cased, values) of every key of a Condition."""
    if not isinstance(condition, Mapping):
        return []
    return [
        (str(operator), str(key).lower(), as_list(values))
        for operator, keys in condition.items()
        if isinstance(keys, Mapping)
        for key, values in keys.items()
    ]


def _any_ip(condition: object) -> list[str]:
    """The acs:SourceIp values of a Condition that every address is in (/0), each once."""
    wide: dict[str, None] = {}
    for _operator, key, values in _clauses(condition):
        if key == _SOURCE_IP:
            wide.update((str(value), None) for value in values if _whole_internet(value))
    return list(wide)


def _whole_internet(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_network(value.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def _denies_plain_http(statement: Mapping[str, Any]) -> bool:
    """A Deny to everyone of reads and writes whose Condition is only acs:SecureTransport
    false (every value read: `"false"`, `false`, `["true", "false"]`): it denies plain
    HTTP and nothing narrows it to some requests."""
    if statement.get("Effect") != "Deny" or not everyone(statement.get("Principal")):
        return False
    if not all(covers_action(statement, a) for a in ("oss:GetObject", "oss:PutObject")):
        return False
    clauses = _clauses(statement.get("Condition"))
    return bool(clauses) and all(
        key == _SECURE_TRANSPORT
        and operator.lower() in _EQUALS
        and any(value is False or str(value).strip().lower() == "false" for value in values)
        for operator, key, values in clauses
    )
