"""Policy documents by example: parsing, the rules checked before sending, templates, merge,
equality, inspection (`policy`, `policy_template`, `policy_merge`, `policy_inspect`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from osspolicy._internal.errors import ConfigError, PolicyDocumentError
from osspolicy._internal.policy import (
    canonical,
    canonical_json,
    check_size,
    diff,
    parse_policy,
    parse_policy_file_text,
    policies_equal,
    serialize,
    validate_policy,
)
from osspolicy._internal.policy_inspect import foreign_resources, is_public, public_statements
from osspolicy._internal.policy_merge import check_mergeable, desired_policy, merge, replace
from osspolicy._internal.policy_template import (
    BUILTIN_VARIABLES,
    check_placeholders,
    placeholders,
    render,
)

SOURCE = "baseline.json"


def stmt(sid: str | None = "read", **fields: Any) -> dict[str, Any]:
    """A valid statement; keyword arguments override fields, None removes one."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": ["1234567890"],
        "Action": ["oss:GetObject"],
        "Resource": ["acs:oss:*:*:app/*"],
    }
    statement.update(fields)
    return {key: value for key, value in statement.items() if value is not None}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    """A valid policy holding `statements` (one default statement if none are given)."""
    return {"Version": "1", "Statement": list(statements) or [stmt()]}


def sids(doc: dict[str, Any] | None) -> list[str | None]:
    """The Sids of a policy's statements, in order."""
    assert doc is not None
    return [statement.get("Sid") for statement in doc["Statement"]]


# --- parsing --------------------------------------------------------------------------------


def test_parse_policy_reads_utf8_json_bytes():
    """UTF-8 JSON bytes, even with a BOM, parse into the policy object."""
    data = '\ufeff{"Version": "1", "Statement": [{"Sid": "é"}]}'.encode()

    assert parse_policy(data, source=SOURCE) == {"Version": "1", "Statement": [{"Sid": "é"}]}


def test_parse_policy_names_line_and_column_of_bad_json():
    """Invalid JSON is refused with the source, the line and the column in one sentence."""
    with pytest.raises(PolicyDocumentError) as err:
        parse_policy('{\n  "Version": "1"\n  "Statement": []\n}', source=SOURCE)

    assert str(err.value).startswith("baseline.json: not valid JSON at line 3 column 3")
    assert err.value.hint == "fix the syntax there"


def test_parse_policy_refuses_a_json_array():
    """A JSON value that is not an object is not a policy."""
    with pytest.raises(PolicyDocumentError, match=r"^baseline\.json: must be a policy object"):
        parse_policy("[]", source=SOURCE)


def test_parse_policy_refuses_bytes_that_are_not_utf8():
    """Bytes that are not UTF-8 are refused with the offset of the bad byte."""
    with pytest.raises(PolicyDocumentError, match=r"not UTF-8 text \(bad byte at offset 13\)"):
        parse_policy(b'{"Version": "\xff"}', source=SOURCE)


def test_policy_document_error_is_a_config_error():
    """A bad baseline is bad input: the CLI's exit-2 handler catches it as a ConfigError."""
    assert issubclass(PolicyDocumentError, ConfigError)


@pytest.mark.parametrize("source", ["baseline.yaml", "jobs/BASELINE.YML"])
def test_parse_policy_file_text_reads_yaml_by_suffix(source: str):
    """A .yaml or .yml baseline is read as YAML, keeping the key order."""
    text = "Version: '1'\nStatement:\n  - Sid: read\n    Effect: Allow\n"

    doc = parse_policy_file_text(text, source=source)

    assert doc == {"Version": "1", "Statement": [{"Sid": "read", "Effect": "Allow"}]}
    assert list(doc["Statement"][0]) == ["Sid", "Effect"]


def test_parse_policy_file_text_names_the_line_of_bad_yaml():
    """A YAML syntax error names the file and its 1-based line."""
    with pytest.raises(PolicyDocumentError, match=r"^baseline\.yaml: not valid YAML at line 2 "):
        parse_policy_file_text("Version: '1'\nStatement: - read\n", source="baseline.yaml")


def test_parse_policy_file_text_reads_other_suffixes_as_json():
    """A file not named .yaml/.yml is JSON, so YAML text in it is refused."""
    with pytest.raises(PolicyDocumentError, match="not valid JSON"):
        parse_policy_file_text("Version: '1'\n", source="baseline.json")


# --- validation -------------------------------------------------------------------------------


def test_validate_accepts_a_valid_policy():
    """A policy following every rule of contracts §6 passes."""
    validate_policy(
        policy(
            stmt(),
            stmt(
                "deny-outside-vpc",
                Effect="Deny",
                Principal="*",
                Action=None,
                NotAction="oss:GetBucketPolicy",
                Resource=None,
                NotResource=["acs:oss:*:*:app/public/*"],
                Condition={"StringNotEquals": {"acs:SourceVpc": ["vpc-1"]}},
            ),
        ),
        source=SOURCE,
    )


@pytest.mark.parametrize(
    ("doc", "place", "hint"),
    [
        pytest.param([], "baseline.json", '{"Version"', id="not-an-object"),
        pytest.param({"Statement": [stmt()]}, "Version", '"Version": "1"', id="no-version"),
        pytest.param({"Version": 1, "Statement": [stmt()]}, "Version", "quoted", id="version-1"),
        pytest.param({"Version": "1"}, "Statement", '"Statement"', id="no-statement"),
        pytest.param({"Version": "1", "Statement": stmt()}, "Statement", "[ ]", id="one-object"),
        pytest.param({"Version": "1", "Statement": []}, "Statement", "delete", id="empty"),
        pytest.param(policy("read"), "Statement[0]", '{"Effect"', id="statement-string"),
        pytest.param(policy(stmt(Sid=7)), "Statement[0].Sid", "quote", id="sid-number"),
        pytest.param(policy(stmt(Effect=None)), "Statement[0].Effect", "Allow", id="no-effect"),
        pytest.param(policy(stmt(Effect="allow")), "Statement[0].Effect", "capital", id="case"),
        pytest.param(policy(stmt(Action=None)), "Statement[0].Action", "NotAction", id="no-act"),
        pytest.param(
            policy(stmt(NotAction="oss:*")), "Statement[0]", "keep one", id="action+notaction"
        ),
        pytest.param(
            policy(stmt(Resource=None)), "Statement[0].Resource", "NotResource", id="no-resource"
        ),
        pytest.param(
            policy(stmt(Principal=None)), "Statement[0].Principal", '["*"]', id="no-principal"
        ),
        pytest.param(
            policy(stmt(Principal={"RAM": ["1234"]})),
            "Statement[0].Principal",
            '["<uid>", ...]',
            id="principal-ram-form",
        ),
        pytest.param(policy(stmt(Action=[])), "Statement[0].Action", "at least", id="no-actions"),
        pytest.param(
            policy(stmt(Resource=["acs:oss:*:*:app", 3])),
            "Statement[0].Resource[1]",
            '"x"',
            id="resource-number",
        ),
        pytest.param(
            policy(stmt(Condition=["acs:SourceVpc"])),
            "Statement[0].Condition",
            "StringEquals",
            id="condition-list",
        ),
        pytest.param(
            policy(stmt(Condition={"StringEquals": "vpc-1"})),
            "Statement[0].Condition.StringEquals",
            "StringEquals",
            id="condition-operator-string",
        ),
        pytest.param(
            policy(stmt(Condition={"StringEquals": {"acs:SourceVpc": {"id": "vpc-1"}}})),
            "Statement[0].Condition.StringEquals.acs:SourceVpc",
            '"x"',
            id="condition-value-object",
        ),
        pytest.param(
            policy(stmt(), stmt("write", Effect="Maybe")),
            "Statement[1].Effect",
            "Deny",
            id="second-statement",
        ),
    ],
)
def test_validate_names_the_path_and_the_fix(doc: Any, place: str, hint: str):
    """Each rule's error names the file and the path inside it, and says how to fix it."""
    with pytest.raises(PolicyDocumentError) as err:
        validate_policy(doc, source=SOURCE)

    expected_place = place if place == SOURCE else f"{SOURCE}: {place}"
    assert err.value.place == expected_place
    assert err.value.hint is not None
    assert hint in err.value.hint
    assert str(err.value).startswith(f"{expected_place}: ")


@pytest.mark.parametrize(
    ("doc", "place", "suggestion"),
    [
        ({"Version": "1", "Statment": [stmt()]}, "Statment", "did you mean Statement?"),
        (policy(stmt(Conditon={})), "Statement[0].Conditon", "did you mean Condition?"),
    ],
)
def test_validate_refuses_an_unknown_key_suggesting_the_known_one(
    doc: dict[str, Any], place: str, suggestion: str
):
    """A misspelt key is named as unknown, with the closest known key as the fix."""
    with pytest.raises(PolicyDocumentError) as err:
        validate_policy(doc, source=SOURCE)

    assert str(err.value) == f"{SOURCE}: {place}: unknown key; {suggestion}"


def test_validate_accepts_an_empty_principal_list():
    """`Principal: []` is valid syntax (the service reads it as everyone)."""
    validate_policy(policy(stmt(Principal=[])), source=SOURCE)


def test_validate_accepts_condition_scalars_and_lists():
    """Condition values may be a string, a list of strings, a number or a boolean."""
    condition = {
        "StringEquals": {"acs:SourceVpc": "vpc-1", "oss:Prefix": ["logs/", "data/"]},
        "NumericLessThanEquals": {"oss:max-keys": 100},
        "Bool": {"acs:SecureTransport": True},
    }
    validate_policy(policy(stmt(Condition=condition)), source=SOURCE)


@pytest.mark.parametrize(
    "value", ["a" * 4095, "é" * 2047 + "a"], ids=["4095-ascii", "4095-bytes-utf8"]
)
def test_validate_accepts_a_value_of_4095_bytes(value: str):
    """A single value of exactly 4095 UTF-8 bytes is allowed."""
    validate_policy(policy(stmt(Sid=value)), source=SOURCE)


@pytest.mark.parametrize("value", ["a" * 4096, "é" * 2048], ids=["4096-ascii", "2048-two-byte"])
def test_validate_refuses_a_value_over_4095_bytes(value: str):
    """A single value over 4095 UTF-8 bytes is refused, naming it and the limit."""
    doc = policy(stmt(Resource=["acs:oss:*:*:app/*", value]))

    with pytest.raises(PolicyDocumentError) as err:
        validate_policy(doc, source=SOURCE)

    assert err.value.place == f"{SOURCE}: Statement[0].Resource[1]"
    assert "is 4096 bytes, over the 4095-byte limit" in err.value.message


def test_validate_refuses_consecutive_wildcards():
    """`**` in a value is refused as the service does (EC 0030-00000007)."""
    with pytest.raises(PolicyDocumentError, match=r"Resource\[0\]: contains consecutive"):
        validate_policy(policy(stmt(Resource=["acs:oss:*:*:app/**"])), source=SOURCE)


# --- the body as sent -------------------------------------------------------------------------


def test_serialize_is_compact_utf8_in_the_given_key_order():
    """The body is compact JSON, keys in their given order, non-ASCII as UTF-8 bytes."""
    doc = {"Version": "1", "Statement": [{"Sid": "é", "Effect": "Allow"}]}

    assert serialize(doc) == '{"Version":"1","Statement":[{"Sid":"é","Effect":"Allow"}]}'.encode()


def test_check_size_accepts_16383_bytes():
    """A body of 16,383 bytes is under the limit."""
    check_size(b"x" * 16_383, source=SOURCE)


def test_check_size_refuses_16384_bytes():
    """A body of 16,384 bytes is refused, the message giving its size and the limit."""
    with pytest.raises(PolicyDocumentError) as err:
        check_size(b"x" * 16_384, source=SOURCE)

    assert str(err.value) == (
        "baseline.json: the policy body is 16,384 bytes; it must be under 16,384; "
        "remove statements or shorten values"
    )


def test_size_is_measured_on_the_serialized_utf8_body():
    """The size that counts is the UTF-8 body, where a two-byte letter counts twice."""
    sids_ = ["é" * 2000 + str(index) for index in range(4)]
    body = serialize(policy(*(stmt(sid) for sid in sids_)))

    assert len(body) > 16_384 > len(body.decode())
    with pytest.raises(PolicyDocumentError, match="under 16,384"):
        check_size(body, source=SOURCE)


# --- templates --------------------------------------------------------------------------------


def test_placeholders_finds_names_in_every_string_value():
    """Placeholders are found in any string value, nested in lists and Conditions."""
    doc = policy(
        stmt(
            Resource=["acs:oss:${region}:${account_id}:${bucket}/*"],
            Condition={"StringEquals": {"acs:SourceVpc": ["${team}-vpc"]}},
        )
    )

    assert placeholders(doc) == {"region", "account_id", "bucket", "team"}


def test_an_escaped_placeholder_is_literal():
    """`$${name}` is not a placeholder and renders as the literal `${name}`."""
    doc = policy(stmt(Resource=["acs:oss:*:*:$${bucket}/${bucket}/*"]))

    assert placeholders(doc) == {"bucket"}
    rendered = render(doc, {"bucket": "app"})
    assert rendered["Statement"][0]["Resource"] == ["acs:oss:*:*:${bucket}/app/*"]


def test_check_placeholders_accepts_builtins_and_vars():
    """The built-in names and the manifest's vars are all allowed."""
    doc = policy(stmt(Resource=["acs:oss:${region}:${account_id}:${bucket}/${team}/*"]))

    check_placeholders(doc, {*BUILTIN_VARIABLES, "team"}, source=SOURCE)


def test_check_placeholders_names_the_unknown_and_the_allowed():
    """An unknown placeholder is refused where it is used, listing the allowed names."""
    doc = policy(stmt(), stmt("write", Resource=["acs:oss:*:*:${bucket}/${teem}/*"]))

    with pytest.raises(PolicyDocumentError) as err:
        check_placeholders(doc, {*BUILTIN_VARIABLES, "team"}, source=SOURCE)

    assert err.value.place == f"{SOURCE}: Statement[1].Resource[0]"
    assert err.value.message == "unknown placeholder ${teem}"
    assert err.value.hint is not None
    assert "${account_id}, ${bucket}, ${region}, ${team}" in err.value.hint


def test_a_malformed_placeholder_name_is_reported_as_unknown():
    """`${team-name}` is not silently sent as text: it is an unknown placeholder."""
    with pytest.raises(PolicyDocumentError, match=r"unknown placeholder \$\{team-name\}"):
        check_placeholders(policy(stmt(Sid="${team-name}")), BUILTIN_VARIABLES, source=SOURCE)


@pytest.mark.parametrize("bucket", ["app-logs", "app-data"])
def test_render_puts_the_bucket_into_the_resource(bucket: str):
    """`${bucket}` in a Resource renders to each target bucket's name."""
    doc = policy(stmt(Resource=["acs:oss:*:*:${bucket}", "acs:oss:*:*:${bucket}/*"]))

    rendered = render(doc, {"bucket": bucket, "region": "cn-hangzhou", "account_id": "1"})

    assert rendered["Statement"][0]["Resource"] == [
        f"acs:oss:*:*:{bucket}",
        f"acs:oss:*:*:{bucket}/*",
    ]


def test_render_leaves_its_input_unchanged():
    """Rendering returns a new structure; the template can be rendered again per bucket."""
    doc = policy(stmt(Resource="acs:oss:*:*:${bucket}/*"))
    before = copy.deepcopy(doc)

    render(doc, {"bucket": "app"})

    assert doc == before


def test_render_refuses_an_unknown_placeholder():
    """A placeholder without a value is an error at render time too, not left in the text."""
    with pytest.raises(PolicyDocumentError, match=r"unknown placeholder \$\{team\}"):
        render(policy(stmt(Sid="${team}")), {"bucket": "app"}, source="policy.document")


# --- merge by Sid and replace ---------------------------------------------------------------


def test_merge_replaces_a_statement_with_the_same_sid_in_place():
    """A baseline statement takes the place of the bucket's statement with its Sid."""
    current = policy(stmt("a"), stmt("b", Action=["oss:GetObject"]), stmt("c"))
    baseline = policy(stmt("b", Action=["oss:PutObject"]))

    merged = merge(current, baseline)

    assert sids(merged) == ["a", "b", "c"]
    assert merged is not None
    assert merged["Statement"][1]["Action"] == ["oss:PutObject"]


def test_merge_appends_a_statement_with_a_new_sid():
    """A baseline statement whose Sid the bucket lacks is appended."""
    assert sids(merge(policy(stmt("a")), policy(stmt("new")))) == ["a", "new"]


def test_merge_keeps_the_buckets_other_statements_as_they_were():
    """Statements the baseline does not name are kept unchanged, in their order."""
    others = [stmt("z", Effect="Deny"), stmt(None, Action="oss:ListObjects"), stmt("a")]
    current = policy(others[0], stmt("mine"), *others[1:])

    merged = merge(current, policy(stmt("mine", Action="oss:*")))

    assert merged is not None
    assert [s for s in merged["Statement"] if s.get("Sid") != "mine"] == others


def test_merge_removes_the_sids_asked_for():
    """Statements whose Sid is in remove_sids are dropped from the result."""
    current = policy(stmt("old"), stmt("keep"))

    assert sids(merge(current, policy(stmt("new")), remove_sids=["old"])) == ["keep", "new"]


def test_merge_keeps_one_statement_for_a_sid_the_bucket_repeats():
    """When the bucket repeats a baseline Sid, the first is replaced and the others go."""
    current = policy(stmt("dup"), stmt("a"), stmt("dup"))

    assert sids(merge(current, policy(stmt("dup")))) == ["dup", "a"]


def test_merge_into_no_policy_gives_the_baseline():
    """A bucket without a policy merges into an empty statement list."""
    baseline = policy(stmt("a"), stmt("b"))

    assert merge(None, baseline) == {"Version": "1", "Statement": baseline["Statement"]}


def test_merge_result_has_version_1():
    """The merged policy always says Version "1"."""
    merged = merge(policy(stmt("a")), policy(stmt("b")))

    assert merged is not None
    assert merged["Version"] == "1"


def test_merge_with_nothing_left_means_delete():
    """When every statement is removed, the result is None: delete rather than put empty."""
    current = policy(stmt("old"))

    assert merge(current, policy(stmt("gone")), remove_sids=["old", "gone"]) is None


def test_merge_is_idempotent():
    """Merging the same baseline again changes nothing."""
    baseline = policy(stmt("a"), stmt("b"))
    once = merge(policy(stmt("x"), stmt("a", Effect="Deny")), baseline)

    assert merge(once, baseline) == once


def test_check_mergeable_refuses_a_statement_without_sid():
    """In merge mode a baseline statement must have a Sid; the error names it and the way out."""
    with pytest.raises(PolicyDocumentError) as err:
        check_mergeable(policy(stmt("a"), stmt(None)), source=SOURCE)

    assert err.value.place == f"{SOURCE}: Statement[1].Sid"
    assert err.value.hint == "give it a unique Sid, or use mode: replace"


def test_check_mergeable_refuses_a_repeated_sid():
    """Two baseline statements with one Sid are refused: which one would win is unclear."""
    with pytest.raises(PolicyDocumentError, match=r'Statement\[2\]\.Sid: repeats "a"'):
        check_mergeable(policy(stmt("a"), stmt("b"), stmt("a")), source=SOURCE)


def test_merge_itself_refuses_a_baseline_without_sids():
    """merge() checks its baseline too, so it cannot append copies on every run."""
    with pytest.raises(PolicyDocumentError, match="merge matches statements by Sid"):
        merge(None, policy(stmt(None)), source="policy.document")


def test_replace_makes_the_baseline_the_whole_policy():
    """In replace mode the rendered baseline is the policy, whatever the bucket had."""
    baseline = policy(stmt(None), stmt("b"))

    assert desired_policy(policy(stmt("old")), baseline, "replace") == baseline


def test_replace_applies_remove_sids_and_may_leave_nothing():
    """remove_sids apply in replace mode too; nothing left means delete (None)."""
    baseline = policy(stmt("a"), stmt("b"))

    assert sids(replace(baseline, remove_sids=["a"])) == ["b"]
    assert replace(baseline, remove_sids=["a", "b"]) is None


def test_desired_policy_merges_in_merge_mode():
    """Mode merge keeps the bucket's statements the baseline does not name."""
    assert sids(desired_policy(policy(stmt("x")), policy(stmt("a")), "merge")) == ["x", "a"]


def test_desired_policy_refuses_an_unknown_mode():
    """A mode other than merge or replace is a programming error."""
    with pytest.raises(ValueError, match="unknown policy mode 'append'"):
        desired_policy(None, policy(), "append")


# --- canonical equality -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(policy(stmt("a"), stmt("b")), policy(stmt("b"), stmt("a")), id="order"),
        pytest.param(policy(stmt(Action="oss:GetObject")), policy(stmt()), id="string-vs-list"),
        pytest.param(
            policy(stmt(Action=["oss:GetObject", "oss:ListObjects"])),
            policy(stmt(Action=["oss:ListObjects", "oss:GetObject", "oss:GetObject"])),
            id="action-set",
        ),
        pytest.param(
            policy(stmt(Condition={"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "192.0.2.1"]}})),
            policy(stmt(Condition={"IpAddress": {"acs:SourceIp": ["192.0.2.1", "10.0.0.0/8"]}})),
            id="condition-values",
        ),
        pytest.param(
            policy(stmt(Condition={"StringEquals": {"acs:SourceVpc": "vpc-1"}})),
            policy(stmt(Condition={"StringEquals": {"acs:SourceVpc": ["vpc-1"]}})),
            id="condition-string-vs-list",
        ),
        pytest.param(
            policy({"Effect": "Allow", "Action": "oss:*", "Principal": "*", "Resource": "*"}),
            policy({"Resource": "*", "Principal": "*", "Action": "oss:*", "Effect": "Allow"}),
            id="key-order",
        ),
        pytest.param(None, None, id="no-policy"),
    ],
)
def test_policies_equal_ignores_order_and_list_form(a: Any, b: Any):
    """Statement order, value order and `"x"` vs `["x"]` do not make policies differ."""
    assert policies_equal(a, b)
    assert canonical(a) == canonical(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(policy(stmt()), policy(stmt(Effect="Deny")), id="effect"),
        pytest.param(policy(), {**policy(), "Version": "2"}, id="version"),
        pytest.param(policy(stmt("a")), policy(stmt("b")), id="sid"),
        pytest.param(policy(stmt(Principal=[])), policy(stmt(Principal="*")), id="empty-vs-star"),
        pytest.param(
            policy(stmt(Action=["oss:GetObject"])),
            policy(stmt(Action=None, NotAction=["oss:GetObject"])),
            id="action-vs-notaction",
        ),
        pytest.param(policy(), None, id="policy-vs-none"),
    ],
)
def test_policies_differ_on_what_they_say(a: Any, b: Any):
    """A different Effect, Version, Sid, Principal as written, or key makes policies differ."""
    assert not policies_equal(a, b)


def test_canonical_is_hashable_for_grouping():
    """Equal policies share one canonical key, so buckets can be grouped by policy."""
    keys = {canonical(policy(stmt("a"), stmt("b"))), canonical(policy(stmt("b"), stmt("a")))}

    assert len(keys) == 1


def test_canonical_json_sorts_keys_and_sets():
    """The canonical text has sorted keys, sorted set values and a trailing newline."""
    text = canonical_json(policy(stmt(None, Action=["oss:Put*", "oss:Get*"], Principal="*")))

    assert text.endswith("\n")
    assert text.index('"Action"') < text.index('"Effect"') < text.index('"Principal"')
    assert text.index("oss:Get*") < text.index("oss:Put*")


# --- diff -------------------------------------------------------------------------------------


def test_diff_is_empty_when_policies_are_equal():
    """No diff is shown for canonically equal policies."""
    assert diff(policy(stmt("a"), stmt("b")), policy(stmt("b"), stmt("a")), bucket="app") == ""


def test_diff_shows_the_changed_line_under_bucket_headers():
    """A changed value appears as a -/+ pair under a/<bucket> and b/<bucket> headers."""
    text = diff(policy(stmt()), policy(stmt(Effect="Deny")), bucket="app")

    assert text.startswith("--- a/app\n+++ b/app\n")
    assert '-      "Effect": "Allow",\n' in text
    assert '+      "Effect": "Deny",\n' in text


def test_diff_from_no_policy_adds_every_line():
    """With no current policy, every line of the desired one is an addition."""
    lines = diff(None, policy(), bucket="app").splitlines()[3:]

    assert lines
    assert all(line.startswith("+") for line in lines)


# --- public grants ----------------------------------------------------------------------------
# (each kind of statement's verdict: the shared table of test_public_rule.py)


def test_no_policy_is_not_public():
    """A bucket without a policy grants nothing."""
    assert not is_public(None)


def test_public_statements_name_each_by_sid_or_index():
    """Each public statement is named by its Sid, or by its index when it has none."""
    doc = policy(stmt("private"), stmt("open", Principal="*"), stmt(None, Principal=[]))

    assert public_statements(doc) == ["open", "Statement[2]"]


# --- foreign resources ------------------------------------------------------------------------


def test_foreign_resources_lists_other_buckets_in_order_once():
    """Resources and NotResources naming another bucket are listed, in order, once each."""
    doc = policy(
        stmt(Resource=["acs:oss:*:*:app", "acs:oss:*:*:other/*", "acs:oss:*:*:other/*"]),
        stmt("b", Resource=None, NotResource="acs:oss:cn-hangzhou:123:third/logs/*"),
    )

    assert foreign_resources(doc, "app") == [
        "acs:oss:*:*:other/*",
        "acs:oss:cn-hangzhou:123:third/logs/*",
    ]


@pytest.mark.parametrize(
    "resource",
    [
        "acs:oss:*:*:app-logs",
        "acs:oss:cn-hangzhou:1234567890:app-logs/*",
        "acs:oss:*:*:*",
        "acs:oss:*:*:app-*/private/*",
        "*",
        "acs:ecs:*:*:instance/i-1",
    ],
)
def test_foreign_resources_accepts_the_target_wildcards_and_other_forms(resource: str):
    """The target bucket, a `*` or matching pattern, and non-OSS resources are not flagged."""
    assert foreign_resources(policy(stmt(Resource=resource)), "app-logs") == []
