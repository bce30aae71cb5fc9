"""A pytest plugin (`-p tests.manifest_recorder`) that records every manifest the
manifest models see, as JSON lines in the file `OSSPOLICY_RECORDED_MANIFESTS` names:
`{"data": ..., "overrides": ..., "error": "<the one-line ManifestError>" or null}`.

`tests/test_schema.py` runs the manifest test modules with it, then checks that the
JSON Schema rejects each of their bad manifests too (the ones whose problem is
structural; the semantic checks stay in `validate`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from osspolicy._internal import manifest as manifest_module
from osspolicy._internal.errors import ManifestError

__all__ = ("pytest_configure",)


def pytest_configure(config: pytest.Config) -> None:
    """Wrap `parse_manifest` where every manifest (file, dict, CLI override) passes."""
    path = os.environ["OSSPOLICY_RECORDED_MANIFESTS"]
    original = manifest_module.parse_manifest

    def record(data: object, overrides: object, error: str | None) -> None:
        with open(path, "a", encoding="utf-8") as out:  # noqa: PTH123 - one line appended
            line = {"data": data, "overrides": overrides, "error": error}
            out.write(json.dumps(line, default=str) + "\n")

    def recording(data: object, **kwargs: Any) -> manifest_module.Manifest:
        try:
            manifest = original(data, **kwargs)
        except ManifestError as exc:
            record(data, kwargs.get("overrides"), str(exc))
            raise
        record(data, kwargs.get("overrides"), None)
        return manifest

    manifest_module.parse_manifest = recording
    config.add_cleanup(lambda: setattr(manifest_module, "parse_manifest", original))
