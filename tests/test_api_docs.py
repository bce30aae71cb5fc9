"""docs/api.md cannot drift: each of its Python examples runs here, as a reader would run
it (a file of its own, a fresh interpreter, a folder of its own). An example marked
`<!-- pytest -->` is a test file of the reader's own: pytest runs it, with the plugin
osspolicy installs (the `oss_emulator` fixture)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"(?P<marker><!-- pytest -->\n)?```python\n(?P<code>.*?)```", re.DOTALL)
TIMEOUT_S = 120


def examples() -> list[tuple[str, bool]]:
    """Each ```python block of docs/api.md, and whether it is a pytest file."""
    return [(m["code"], m["marker"] is not None) for m in BLOCK.finditer(API_DOC.read_text())]


def test_the_guide_has_its_four_examples() -> None:
    """Back up, apply with confirm, stream, and a test of the reader's own."""
    found = examples()
    assert len(found) == 4
    assert [is_test for _, is_test in found] == [False, False, False, True]


@pytest.mark.parametrize(
    ("code", "is_test"), examples(), ids=["backup", "apply", "stream", "pytest"]
)
def test_each_example_runs_as_written(code: str, is_test: bool, tmp_path: Path) -> None:
    """The example exits 0 (its own asserts hold) and prints no traceback."""
    name = "test_example.py" if is_test else "example.py"
    (tmp_path / name).write_text(code)
    command = (
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name]
        if is_test
        else [sys.executable, name]
    )
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
