"""The manifest's JSON Schema, generated from the very models that validate it.

`manifest_schema()` is `Manifest.model_json_schema()` with the JSON Schema dialect named:
no second copy of the rules. The structural rules live in the models' types (enums as
`Literal`s, the credential types as a tagged union, patterns of bucket names, account
names, region ids, endpoints and role ARNs, bounds) and in the rules between keys the
models declare (`json_schema_extra`: one kind of targets, what each action takes), so an
editor flags them as the manifest is typed. Semantic checks (files exist, account names
unique, templating) stay in `osspolicy validate`.

Shipped as `osspolicy/jobs/osspolicy.schema.json` (the example jobs' first line points
the YAML language server at it), and rendered as the manifest reference of the docs
(`docs/manifest.md`) by `schema_markdown`; tests keep both equal to what is generated
here. Regenerate both with `python -m osspolicy._internal.schema --write`.

    osspolicy schema                # the schema, JSON, on stdout
    osspolicy schema --markdown     # the reference, Markdown
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .manifest import Manifest

__all__ = (
    "DIALECT",
    "SCHEMA_FILE",
    "YAML_SCHEMA_LINE",
    "main",
    "manifest_schema",
    "schema_json",
    "schema_markdown",
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: the schema as shipped beside the example jobs
SCHEMA_FILE = Path(__file__).parent.parent / "jobs" / "osspolicy.schema.json"
#: the first line of every shipped job: the YAML language server's pointer to the schema
YAML_SCHEMA_LINE = f"# yaml-language-server: $schema={SCHEMA_FILE.name}"


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of a job manifest (a fresh dict)."""
    return {"$schema": DIALECT, **Manifest.model_json_schema(mode="validation")}


def schema_json() -> str:
    """The schema as the text of `osspolicy.schema.json` (indented, newline at the end)."""
    return json.dumps(manifest_schema(), indent=2, ensure_ascii=False) + "\n"


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type_of(prop: dict[str, Any]) -> str:  # noqa: PLR0911 - one line per kind of schema
    """A property's type in a few words, for the reference's tables."""
    if "$ref" in prop:
        name = _ref_name(prop["$ref"])
        return f"[{name}](#{name.lower()})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return " \\| ".join(f"`{json.dumps(value)}`" for value in prop["enum"])
    for key in ("anyOf", "oneOf"):
        if key in prop:
            kinds = [_type_of(option) for option in prop[key] if option.get("type") != "null"]
            return " \\| ".join(kinds)
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    values = prop.get("additionalProperties")
    if kind == "object" and isinstance(values, dict):
        return f"mapping to {_type_of(values)}"
    return str(kind)


def _constraints(prop: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for option in [prop, *prop.get("anyOf", ()), prop.get("items", {})]:
        for key, word in (
            ("pattern", "pattern"),
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("minItems", "at least"),
            ("minLength", "length >="),
            ("maxLength", "length <="),
        ):
            if key in option:
                found.append(f"{word} `{option[key]}`")
    return found


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(schema: dict[str, Any]) -> list[str]:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    required = set(schema.get("required", ()))
    for key, prop in schema.get("properties", {}).items():
        default = "required" if key in required else f"`{json.dumps(prop.get('default'))}`"
        if "default" not in prop and key not in required:
            default = ""
        notes = [prop.get("description", "").rstrip("."), *_constraints(prop)]
        description = "; ".join(note for note in notes if note)
        lines.append(f"| `{key}` | {_type_of(prop)} | {default} | {_cell(description)} |")
    return lines


def _rules(schema: dict[str, Any]) -> list[str]:
    """The rules between keys (oneOf / allOf) as JSON, for the record."""
    lines: list[str] = []
    for key in ("oneOf", "allOf"):
        if key in schema:
            lines += ["", f"Rules between keys (`{key}`):", "", "```json"]
            lines += [json.dumps(rule, sort_keys=False) for rule in schema[key]]
            lines.append("```")
    return lines


def _section(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"## {name}", ""]
    if "description" in schema:
        lines += [" ".join(schema["description"].split()), ""]
    if "oneOf" in schema and "properties" not in schema:  # a tagged union of models
        lines.append("One of (by `type`): " + ", ".join(_type_of(o) for o in schema["oneOf"]))
        return [*lines, ""]
    return [*lines, *_table(schema), *_rules(schema), ""]


def schema_markdown(schema: dict[str, Any] | None = None) -> str:
    """The manifest reference, in Markdown, rendered from the schema alone."""
    schema = manifest_schema() if schema is None else schema
    lines = [
        "# Job manifest reference",
        "",
        (
            "<!-- generated by `python -m osspolicy._internal.schema --write` from the manifest "
            "models; do not edit (a test keeps it equal) -->"
        ),
        "",
        "Every key of a job manifest (YAML). Unknown keys are rejected at every level;",
        "relative paths resolve from the manifest's own folder. The same rules as a JSON",
        "Schema: `osspolicy schema` (shipped as `jobs/osspolicy.schema.json`; a first line",
        f"`{YAML_SCHEMA_LINE}` lets an editor check a manifest as it is typed).",
        "",
    ]
    lines += _section("Manifest", schema)
    for name, definition in schema.get("$defs", {}).items():
        lines += _section(name, definition)
    return "\n".join(lines).rstrip("\n") + "\n"


#: the docs' manifest reference, in a checkout
_DOCS_FILE = Path(__file__).resolve().parents[3] / "docs" / "manifest.md"


def main(argv: list[str] | None = None) -> int:
    """`python -m osspolicy._internal.schema [--markdown | --write]`: print the schema (or the
    reference), or write both files of a checkout."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--write"]:
        SCHEMA_FILE.write_text(schema_json(), encoding="utf-8")
        _DOCS_FILE.parent.mkdir(exist_ok=True)
        _DOCS_FILE.write_text(schema_markdown(), encoding="utf-8")
        return 0
    if args not in ([], ["--markdown"]):
        sys.stderr.write("usage: python -m osspolicy._internal.schema [--markdown | --write]\n")
        return 2
    sys.stdout.write(schema_markdown() if args else schema_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
