"""The policy algebra by its properties: what holds for every valid policy, not one example.

`test_policy.py` shows each function on examples; here Hypothesis generates policies
(every one passes `validate_policy`) and checks the rules in general:

- canonical equality (contracts §6) is an equivalence that ignores how a policy is
  written (statement order, value order, key order, `"x"` vs `["x"]`, a repeat) and sees
  what it says (an Effect, a statement more);
- the body as sent parses back to the same policy, and the canonical form is a fixed point;
- merge by Sid places each baseline statement once, keeps the bucket's other statements,
  and merging again changes nothing; replace is the baseline;
- templates: rendering fills every placeholder, by the grammar `${name}` / `$${`, the
  same way every time.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osspolicy._internal.errors import PolicyDocumentError
from osspolicy._internal.policy import (
    canonical,
    canonical_json,
    diff,
    parse_policy,
    policies_equal,
    serialize,
    validate_policy,
)
from osspolicy._internal.policy_merge import desired_policy, merge, replace
from osspolicy._internal.policy_template import check_placeholders, placeholders, render

#: enough examples to find a counter-example to these small rules, few enough to run in
#: seconds; a generated policy is small, so no example is slow: no deadline and no
#: too-slow check, which a loaded, shared CI machine would trip
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SOURCE = "baseline.json"
SET_KEYS = ("Action", "NotAction", "Resource", "NotResource", "Principal")

# --- generators: valid policies ---------------------------------------------------------------

#: a plain name: no `$` (so no placeholder by accident) and no `*` (so never `**`); é for UTF-8
WORD = st.text(alphabet="abxyz019-_.:/é", min_size=1, max_size=8)
ACTION = st.sampled_from(["oss:GetObject", "oss:PutObject", "oss:*", "*", "oss:Get*"]) | WORD
RESOURCE = (
    st.sampled_from(
        [
            "acs:oss:*:*:app",
            "acs:oss:*:*:app/*",
            "acs:oss:*:*:${bucket}",
            "acs:oss:*:*:${bucket}/*",
            "acs:oss:${region}:${account_id}:${bucket}/logs/*",
        ]
    )
    | WORD
)
PRINCIPAL = st.sampled_from(["*", "1234567890123456", "2345678901234567"]) | WORD
OPERATOR = st.sampled_from(["StringEquals", "StringLike", "IpAddress", "Bool", "NumericLessThan"])
#: condition keys are names, never templates: placeholders live in string values only
CONDITION_KEY = st.sampled_from(["acs:SourceVpc", "acs:SourceIp", "oss:Prefix", "acs:AccessId"])
#: condition values are JSON scalars: strings, numbers, booleans
SCALAR = WORD | st.sampled_from(["10.0.0.0/8", "${region}"]) | st.integers(-3, 3) | st.booleans()
#: Sids drawn from a few, so a bucket's statements and a baseline's meet
SID = st.sampled_from(["read", "write", "deny-http", "ops", "${bucket}-audit"])
MAYBE_SID = st.none() | SID


def one_or_many(values: st.SearchStrategy[Any], *, min_size: int = 1) -> st.SearchStrategy[Any]:
    """A value as a policy writes a set: one alone, or a list (which may repeat one)."""
    return values | st.lists(values, min_size=min_size, max_size=4)


CONDITION = st.dictionaries(
    OPERATOR,
    st.dictionaries(CONDITION_KEY, one_or_many(SCALAR, min_size=0), min_size=1, max_size=2),
    min_size=1,
    max_size=2,
)


@st.composite
def statements(draw: st.DrawFn, sid: st.SearchStrategy[str | None] = MAYBE_SID) -> Any:
    """A valid statement: an Effect, Action or NotAction, Resource or NotResource, a
    Principal (maybe an empty list), maybe a Sid and a Condition."""
    statement: dict[str, Any] = {"Effect": draw(st.sampled_from(["Allow", "Deny"]))}
    if (name := draw(sid)) is not None:
        statement["Sid"] = name
    statement[draw(st.sampled_from(["Action", "NotAction"]))] = draw(one_or_many(ACTION))
    statement[draw(st.sampled_from(["Resource", "NotResource"]))] = draw(one_or_many(RESOURCE))
    statement["Principal"] = draw(one_or_many(PRINCIPAL, min_size=0))
    if draw(st.booleans()):
        statement["Condition"] = draw(CONDITION)
    return statement


def document(statement_list: list[dict[str, Any]]) -> dict[str, Any]:
    """The policy of these statements."""
    return {"Version": "1", "Statement": statement_list}


#: any valid policy: Sids maybe missing, maybe repeated
POLICIES = st.lists(statements(), min_size=1, max_size=5).map(document)
#: a policy as a merge baseline takes it (and most hand-written ones are): every
#: statement has a Sid of its own, so no two statements are the same
BASELINES = st.lists(statements(sid=SID), min_size=1, max_size=4, unique_by=lambda s: s["Sid"]).map(
    document
)
#: what a bucket may hold before a merge (replace does not care): any policy, or none
BUCKET_POLICIES = st.none() | POLICIES


@dataclass(frozen=True, slots=True)
class MergeCase:
    """A merge to check: the bucket's policy, the baseline, and the Sids to remove."""

    current: dict[str, Any] | None
    baseline: dict[str, Any]
    remove: list[str]

    @property
    def current_statements(self) -> list[dict[str, Any]]:
        """The bucket's statements ([] for no policy)."""
        return [] if self.current is None else self.current["Statement"]


@st.composite
def merge_cases(draw: st.DrawFn) -> MergeCase:
    """A baseline and a bucket policy that meet: the bucket's Sids are the baseline's
    (maybe repeated), its own, empty or none; remove_sids name some of either, or neither."""
    baseline = draw(BASELINES)
    theirs = [statement["Sid"] for statement in baseline["Statement"]]
    bucket_sid = st.sampled_from([*theirs, "bucket-own", ""]) | st.none()
    current = draw(st.none() | st.lists(statements(sid=bucket_sid), min_size=1, max_size=6))
    remove = draw(st.lists(st.sampled_from([*theirs, "bucket-own", "absent"]), max_size=3))
    return MergeCase(None if current is None else document(current), baseline, remove)


# --- generators: the same policy, written another way -------------------------------------


@st.composite
def rewritten(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` written another way with the same meaning under contracts §6: statements
    reordered, every set reordered and written as `"x"`, `["x"]` or with a repeat, the keys
    of every object in another order."""
    written = [rewrite_statement(draw, statement) for statement in doc["Statement"]]
    return reorder_keys(draw, {**doc, "Statement": draw(st.permutations(written))})


def rewrite_statement(draw: st.DrawFn, statement: dict[str, Any]) -> dict[str, Any]:
    """One statement written another way: sets and Condition values rewritten, keys reordered."""
    written = dict(statement)
    for key in SET_KEYS:
        if key in written:
            written[key] = rewrite_set(draw, written[key])
    if "Condition" in written:
        written["Condition"] = reorder_keys(
            draw,
            {
                operator: reorder_keys(draw, {k: rewrite_set(draw, v) for k, v in keys.items()})
                for operator, keys in written["Condition"].items()
            },
        )
    return reorder_keys(draw, written)


def rewrite_set(draw: st.DrawFn, value: Any) -> Any:
    """A set of values written another way: reordered, maybe one repeated, and one value
    alone either as itself or as a list of one."""
    items = list(draw(st.permutations(value if isinstance(value, list) else [value])))
    if items and draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), draw(st.sampled_from(items)))
    distinct = {json.dumps(item): item for item in items}
    if len(distinct) == 1 and draw(st.booleans()):
        return next(iter(distinct.values()))
    return items


def reorder_keys(draw: st.DrawFn, mapping: dict[str, Any]) -> dict[str, Any]:
    """The same object with its keys in another order."""
    return {key: mapping[key] for key in draw(st.permutations(list(mapping)))}


def string_values(node: Any) -> Iterator[str]:
    """Every string value in a JSON value (not the keys of its objects)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from string_values(value)
    elif isinstance(node, list):
        for value in node:
            yield from string_values(value)


def sid(statement: dict[str, Any]) -> str | None:
    """A statement's Sid as merge matches it (an empty one is none)."""
    return statement.get("Sid") or None


# --- the generators are honest --------------------------------------------------------------


@PROPERTY
@given(POLICIES, st.data())
def test_generated_policies_and_their_rewrites_are_valid(doc: dict[str, Any], data: st.DataObject):
    """Every policy these tests generate, and every rewriting of it, passes validate_policy."""
    validate_policy(doc, source=SOURCE)
    validate_policy(data.draw(rewritten(doc)), source=SOURCE)


# --- canonical equality (contracts §6) -------------------------------------------------------


@PROPERTY
@given(POLICIES, st.data())
def test_equality_ignores_how_a_policy_is_written(doc: dict[str, Any], data: st.DataObject):
    """Reordering statements, set values (Action, Resource, Principal, condition values)
    and object keys, repeating a value, or writing one value as `"x"` or `["x"]` never
    changes the policy: equal, one canonical form, an empty diff."""
    other = data.draw(rewritten(doc))

    assert policies_equal(doc, other)
    assert canonical(doc) == canonical(other)
    assert canonical_json(doc) == canonical_json(other)
    assert diff(doc, other, bucket="app") == ""


@PROPERTY
@given(POLICIES | st.none(), POLICIES | st.none())
def test_equality_is_reflexive_and_symmetric(a: dict[str, Any] | None, b: dict[str, Any] | None):
    """Every policy (and no policy) equals itself and its copy, and `a == b` iff `b == a`."""
    assert policies_equal(a, a)
    assert policies_equal(a, copy.deepcopy(a))
    assert policies_equal(a, b) == policies_equal(b, a)


@PROPERTY
@given(POLICIES, st.data())
def test_equality_is_transitive_across_rewritings(doc: dict[str, Any], data: st.DataObject):
    """Two different rewritings of one policy equal each other."""
    assert policies_equal(data.draw(rewritten(doc)), data.draw(rewritten(doc)))


@PROPERTY
@given(POLICIES, st.data())
def test_a_repeated_statement_is_the_same_policy(doc: dict[str, Any], data: st.DataObject):
    """The statements are a set: a statement written twice is the policy with it once."""
    repeated = data.draw(st.sampled_from(doc["Statement"]))
    longer = document([*doc["Statement"], copy.deepcopy(repeated)])

    assert policies_equal(doc, longer)


@PROPERTY
@given(BASELINES, st.data())
def test_another_effect_makes_another_policy(doc: dict[str, Any], data: st.DataObject):
    """Turning one statement's Allow into Deny (or back) makes a different policy."""
    index = data.draw(st.integers(0, len(doc["Statement"]) - 1))
    flipped = copy.deepcopy(doc)
    statement = flipped["Statement"][index]
    statement["Effect"] = {"Allow": "Deny", "Deny": "Allow"}[statement["Effect"]]

    assert not policies_equal(doc, flipped)
    assert not policies_equal(flipped, doc)
    assert diff(doc, flipped, bucket="app") != ""


@PROPERTY
@given(BASELINES, statements(sid=st.just("added")))
def test_another_statement_makes_another_policy(doc: dict[str, Any], added: dict[str, Any]):
    """A policy with a statement more (one it did not have) is a different policy."""
    assert not policies_equal(doc, document([*doc["Statement"], added]))


@PROPERTY
@given(POLICIES)
def test_no_policy_differs_from_every_policy(doc: dict[str, Any]):
    """No policy (None) is never equal to a policy: a bucket without one needs a put."""
    assert not policies_equal(None, doc)


# --- the body as sent, and the canonical form -----------------------------------------------


@PROPERTY
@given(POLICIES)
def test_the_body_as_sent_parses_back_to_the_same_policy(doc: dict[str, Any]):
    """serialize -> parse_policy gives back the very document, so the same policy."""
    parsed = parse_policy(serialize(doc), source=SOURCE)

    assert parsed == doc
    assert policies_equal(parsed, doc)


@PROPERTY
@given(POLICIES)
def test_the_canonical_form_is_a_valid_policy_and_a_fixed_point(doc: dict[str, Any]):
    """The canonical text parses to a valid policy equal to the original, whose own
    canonical text is the same: normalising twice is normalising once."""
    normal = parse_policy(canonical(doc), source=SOURCE)

    validate_policy(normal, source=SOURCE)
    assert policies_equal(normal, doc)
    assert canonical(normal) == canonical(doc)
    assert json.loads(canonical_json(doc)) == normal


# --- merge by Sid, replace ----------------------------------------------------------------


@PROPERTY
@given(merge_cases())
def test_merging_again_changes_nothing(case: MergeCase):
    """Merging a baseline into its own merge result (same remove_sids) gives that result:
    a job run twice puts nothing the second time."""
    once = merge(case.current, case.baseline, case.remove)

    assert merge(once, case.baseline, case.remove) == once


@PROPERTY
@given(merge_cases())
def test_every_baseline_sid_is_in_the_merge_once_as_the_baseline_says(case: MergeCase):
    """Each baseline statement is in the result exactly once, as the baseline writes it,
    whatever the bucket had under its Sid (nothing, one, or several)."""
    merged = merge(case.current, case.baseline)

    assert merged is not None
    for statement in case.baseline["Statement"]:
        found = [s for s in merged["Statement"] if sid(s) == statement["Sid"]]
        assert found == [statement]


@PROPERTY
@given(merge_cases())
def test_merge_keeps_the_buckets_other_statements_in_order(case: MergeCase):
    """The bucket's statements whose Sid the baseline does not name (no Sid, an empty one,
    its own) are all kept, unchanged and in their order, unless remove_sids names them."""
    named = {statement["Sid"] for statement in case.baseline["Statement"]}
    merged = merge(case.current, case.baseline, case.remove)

    kept = [s for s in (merged or {"Statement": []})["Statement"] if sid(s) not in named]
    own = [s for s in case.current_statements if sid(s) not in named]
    assert kept == [s for s in own if sid(s) not in case.remove]


@PROPERTY
@given(merge_cases())
def test_a_merged_policy_is_valid_without_the_sids_removed(case: MergeCase):
    """Merging into a valid policy gives a valid policy holding none of remove_sids; it is
    None (delete) exactly when remove_sids name every statement of both."""
    merged = merge(case.current, case.baseline, case.remove)

    everything = case.current_statements + case.baseline["Statement"]
    assert (merged is None) == all(sid(s) in case.remove for s in everything)
    if merged is not None:
        validate_policy(merged, source=SOURCE)
        assert not {sid(s) for s in merged["Statement"]} & set(case.remove)


@PROPERTY
@given(BASELINES)
def test_merge_into_no_policy_is_replace(baseline: dict[str, Any]):
    """A bucket without a policy ends with the baseline, in merge mode as in replace."""
    assert merge(None, baseline) == replace(baseline) == baseline


@PROPERTY
@given(BUCKET_POLICIES, POLICIES)
def test_replace_gives_exactly_the_baseline(
    current: dict[str, Any] | None, baseline: dict[str, Any]
):
    """In replace mode the bucket ends with the baseline, statement for statement, whatever
    it had (the baseline needs no Sids)."""
    assert desired_policy(current, baseline, "replace") == baseline


@PROPERTY
@given(POLICIES, st.lists(MAYBE_SID.filter(bool), max_size=3))
def test_replace_drops_only_the_sids_removed(baseline: dict[str, Any], remove: list[str]):
    """remove_sids take exactly their statements out of the baseline; none left is None."""
    kept = [s for s in baseline["Statement"] if sid(s) not in remove]

    assert replace(baseline, remove) == (document(kept) if kept else None)


# --- templates --------------------------------------------------------------------------------

#: the values a job fills in; `$` never, so a rendered value cannot look like a placeholder
VALUE = st.text(alphabet="abc019-._é", min_size=1, max_size=12)
VARIABLES = st.fixed_dictionaries({"bucket": VALUE, "region": VALUE, "account_id": VALUE})


@PROPERTY
@given(POLICIES, VARIABLES)
def test_rendering_fills_every_placeholder(doc: dict[str, Any], variables: dict[str, str]):
    """After rendering with a value for each name, no `${` is left in any string value,
    so placeholders() of the result is empty."""
    rendered = render(doc, variables)

    assert not any("${" in text for text in string_values(rendered))
    assert placeholders(rendered) == frozenset()


@PROPERTY
@given(POLICIES, VARIABLES)
def test_rendering_is_deterministic_and_leaves_its_input(
    doc: dict[str, Any], variables: dict[str, str]
):
    """Rendering twice gives the same policy, and the template is not changed by it."""
    before = copy.deepcopy(doc)

    assert render(doc, variables) == render(doc, variables)
    assert doc == before


@PROPERTY
@given(POLICIES, VARIABLES, st.data())
def test_equal_templates_render_to_equal_policies(
    doc: dict[str, Any], variables: dict[str, str], data: st.DataObject
):
    """Rendering respects equality: two writings of one template give one policy."""
    other = data.draw(rewritten(doc))

    assert policies_equal(render(doc, variables), render(other, variables))


#: a template string as pieces: text (no `$`, no `*`), a placeholder, or the escape `$${`
NAMES = ("bucket", "region", "team")
PIECE = (
    st.tuples(st.just("text"), st.text(alphabet="ab{}/:", min_size=1, max_size=4))
    | st.tuples(st.just("name"), st.sampled_from(NAMES))
    | st.tuples(st.just("escape"), st.just(""))
)
TEMPLATE = st.lists(PIECE, max_size=6)
#: any text at all, `${` included: a value is put in as written
ANY_VALUE = st.text(max_size=8)


def written(pieces: list[tuple[str, str]]) -> str:
    """The template text of `pieces`."""
    form: dict[str, Callable[[str], str]] = {
        "text": lambda text: text,
        "name": lambda name: f"${{{name}}}",
        "escape": lambda _: "$${",
    }
    return "".join(form[kind](value) for kind, value in pieces)


def meant(pieces: list[tuple[str, str]], variables: dict[str, str]) -> str:
    """What `pieces` render to: text as is, each name its value, each escape a literal `${`."""
    form: dict[str, Callable[[str], str]] = {
        "text": lambda text: text,
        "name": lambda name: variables[name],
        "escape": lambda _: "${",
    }
    return "".join(form[kind](value) for kind, value in pieces)


@PROPERTY
@given(
    st.lists(TEMPLATE, min_size=1, max_size=3),
    st.fixed_dictionaries(dict.fromkeys(NAMES, ANY_VALUE)),
)
def test_rendering_follows_the_template_grammar(
    templates: list[list[tuple[str, str]]], variables: dict[str, str]
):
    """`${name}` becomes its value (in one pass: a value holding `${...}` stays as it is),
    `$${` becomes a literal `${`, and the rest is kept; placeholders() names exactly the
    names used, and check_placeholders accepts them and refuses a set without one."""
    resources = [written(t) for t in templates]
    doc = document([{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": resources}])
    validate_policy(doc, source=SOURCE)
    used = {value for t in templates for kind, value in t if kind == "name"}

    rendered = render(doc, variables)

    assert rendered["Statement"][0]["Resource"] == [meant(t, variables) for t in templates]
    assert placeholders(doc) == used
    check_placeholders(doc, used, source=SOURCE)
    for name in used:
        with pytest.raises(PolicyDocumentError, match=re.escape(f"${{{name}}}")):
            check_placeholders(doc, used - {name}, source=SOURCE)
