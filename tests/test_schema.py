"""The manifest's JSON Schema: generated from the validating models, shipped beside the
example jobs, rendered as the docs' reference, and in step with the validation itself.

The step test runs the manifest test modules (in a subprocess, with the plugin
`tests/manifest_recorder.py`) and checks the schema against every manifest they feed the
models: each one the models accept, the schema accepts; each one they reject, the schema
rejects, except the few whose problem no JSON Schema can see (listed, with why).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from osspolicy._internal.cli import main
from osspolicy._internal.demo import find_jobs_folder
from osspolicy._internal.schema import (
    SCHEMA_FILE,
    YAML_SCHEMA_LINE,
    manifest_schema,
    schema_json,
    schema_markdown,
)

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_TESTS = ("tests/test_manifest.py", "tests/test_manifest_accounts.py")
#: rejections that are semantic (stay in validate), by a part of their message
SEMANTIC = {
    "is used twice": "account names unique: JSON Schema's uniqueItems compares whole items",
    "no such file": "a file's existence (ca_file) is not the schema's to know",
    "is nan": "JSON has no NaN (YAML's .nan); every comparison with it is false",
}


def validator() -> jsonschema.Draft202012Validator:
    schema = manifest_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_file_is_the_generated_one() -> None:
    """`jobs/osspolicy.schema.json` equals what the models generate (regenerate with
    `python -m osspolicy._internal.schema --write`)."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_json()


def test_the_docs_reference_is_the_generated_one() -> None:
    """`docs/manifest.md` equals the reference rendered from the schema."""
    assert (ROOT / "docs" / "manifest.md").read_text(encoding="utf-8") == schema_markdown()


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`osspolicy schema` prints the generated schema, and `--markdown` the reference."""
    for args, expected in ((["schema"], schema_json()), (["schema", "--markdown"], None)):
        with pytest.raises(SystemExit) as exited:
            main(args)
        assert exited.value.code == 0
        printed = capsys.readouterr().out
        assert printed == (expected if expected is not None else schema_markdown())
    assert json.loads(schema_json())["title"] == "osspolicy job manifest"


@pytest.mark.parametrize("job", sorted(find_jobs_folder().glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_job_points_at_the_schema_and_validates(job: Path) -> None:
    """Each example job's first line is the YAML language server's pointer to the
    shipped schema, and the job is valid against `osspolicy schema`'s output."""
    text = job.read_text(encoding="utf-8")
    assert text.splitlines()[0] == YAML_SCHEMA_LINE
    assert (job.parent / YAML_SCHEMA_LINE.rsplit("=", 1)[1]).is_file()
    schema = json.loads(schema_json())
    jsonschema.validate(yaml.safe_load(text), schema, cls=jsonschema.Draft202012Validator)


def _with_overrides(data: Any, overrides: dict[str, Any] | None) -> Any:
    """The data the models validated: CLI overrides applied as `parse_manifest` does."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in {"endpoint", "region"}:
            connection = data.setdefault("connection", {})
            if isinstance(connection, dict):
                data["connection"] = {**connection, key: value}
        else:
            data[key] = value
    return data


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Every manifest the manifest test modules fed the models, and its error."""
    out = tmp_path_factory.mktemp("recorded") / "manifests.jsonl"
    env = {**os.environ, "OSSPOLICY_RECORDED_MANIFESTS": str(out), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.manifest_recorder", *MANIFEST_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_the_schema_accepts_every_manifest_the_models_accept(
    recorded: list[dict[str, Any]],
) -> None:
    """No manifest the suite shows valid is flagged by the schema (no false alarms)."""
    check = validator()
    accepted = [r for r in recorded if r["error"] is None]
    assert len(accepted) > 20
    for record in accepted:
        data = _with_overrides(record["data"], record["overrides"])
        errors = [e.message for e in check.iter_errors(data)]
        assert not errors, (data, errors)


def test_the_schema_rejects_each_bad_manifest_of_the_suite(
    recorded: list[dict[str, Any]],
) -> None:
    """Every manifest the suite shows refused is refused by the schema too, but for the
    semantic checks that stay in validate."""
    check = validator()
    rejected = [r for r in recorded if r["error"] is not None]
    assert len(rejected) > 30
    semantic = [r for r in rejected if any(part in r["error"] for part in SEMANTIC)]
    assert len(semantic) <= len(SEMANTIC) + 1
    for record in rejected:
        if record in semantic:
            continue
        data = _with_overrides(record["data"], record["overrides"])
        assert not check.is_valid(data), record["error"]
