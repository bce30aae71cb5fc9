"""The docs cannot drift: every shell example of README.md and docs/*.md runs here.

Extraction: every fenced block of a Markdown file whose language is `sh` is an example
(other shell spellings, `bash`, `shell`, `console`, are refused, so none escapes). HTML
comments on the lines right above a block's fence mark it:

- `<!-- not-run: REASON -->`: not run (set-up, a benchmark, a real account, a prompt on a
  terminal); REASON is one of `NOT_RUN_REASONS`, and such blocks stay few;
- `<!-- exit: N -->`: the block ends with exit code N (e.g. `check` finding drift: 3);
- `<!-- emulator -->`: the block is one `osspolicy emulator ...` command, the server the
  examples below it talk to. The test starts exactly that command (its `--port` replaced by
  0, a free one) and points `$OSS_ENDPOINT` at the endpoint it prints; a second such block
  replaces the first server, as restarting it would for a reader.

Running: one document at a time, its blocks in order, in one working folder (a temporary
folder holding a copy of the shipped `jobs/`, as `osspolicy demo` copies them), each block
in its own `bash -e -o pipefail`, stdin not a terminal. Shell variables a block sets
carry over to the next blocks of the document, as in a reader's terminal. The environment
is what the docs' set-up block tells a reader to export: `OSS_ENDPOINT` (the running
emulator's), `OSS_REGION`, and the emulator's demo key pair as `OSS_ACCESS_KEY_ID` /
`OSS_ACCESS_KEY_SECRET`; `osspolicy` and `python3` come from this venv.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from osspolicy._internal.demo import copy_jobs
from osspolicy.emulator.auth import DEMO_ACCESS_KEY_ID, DEMO_ACCESS_KEY_SECRET

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
#: why a block may be left out, and nothing else
NOT_RUN_REASONS = frozenset({"set-up", "benchmark", "real account", "interactive"})
#: not-run blocks stay the exception: a few set-up and real-account ones
MAX_NOT_RUN = 8
#: the examples' buckets, in every document: `osspolicy emulator --seed-buckets app-:6`
EXAMPLE_PREFIX = "app-"
REGION = "cn-hangzhou"
BLOCK_TIMEOUT_S = 180.0
FENCE = re.compile(r"^(?P<fence>`{3,})(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^<!--\s*(?P<key>not-run|exit|emulator)\s*(?::\s*(?P<value>.*?))?\s*-->$")
REFUSED_LANGS = frozenset({"bash", "shell", "console", "shell-session", "zsh"})


@dataclass(frozen=True)
class Block:
    """One ```sh block of a document, with its markers."""

    document: Path
    line: int
    text: str
    not_run: str | None = None
    exit_code: int = 0
    emulator: bool = False

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def extract(document: Path) -> list[Block]:
    """Every ```sh block of `document` with the markers right above its fence; a marker
    anywhere else, or a shell block under another name, is an error."""
    blocks: list[Block] = []
    lines = document.read_text(encoding="utf-8").splitlines()
    markers: dict[str, str | None] = {}
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        where = f"{document.relative_to(ROOT)}:{index + 1}"
        if found := MARKER.match(line):
            markers[found["key"]] = found["value"]
            index += 1
            continue
        fence = FENCE.match(line)
        if fence is None:
            assert not markers, f"{where}: a marker {sorted(markers)} not right above a ```sh"
            index += 1
            continue
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != fence["fence"]:
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        lang = fence["lang"]
        assert lang not in REFUSED_LANGS, f"{where}: write shell examples as ```sh, not {lang}"
        if lang != "sh":
            assert not markers, f"{where}: markers {sorted(markers)} above a ```{lang} block"
            continue
        blocks.append(_block(document, index - len(body) - 1, "\n".join(body), markers, where))
        markers = {}
    assert not markers, f"{document.name}: markers {sorted(markers)} at the end, above no block"
    return blocks


def _block(
    document: Path, line: int, text: str, markers: dict[str, str | None], where: str
) -> Block:
    exit_code = markers.get("exit")
    assert exit_code is None or exit_code.isdigit(), f"{where}: <!-- exit: N --> takes a number"
    assert "emulator" not in markers or markers["emulator"] is None, f"{where}: <!-- emulator -->"
    return Block(
        document=document,
        line=line,
        text=text,
        not_run=markers.get("not-run"),
        exit_code=int(exit_code or 0),
        emulator="emulator" in markers,
    )


def all_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in extract(document)]


# -- what the extractor finds --------------------------------------------------------------


def test_few_blocks_are_left_out_and_each_says_why() -> None:
    """Not-run blocks are the exception (at most MAX_NOT_RUN) and each names its reason."""
    blocks = all_blocks()
    left_out = [block for block in blocks if block.not_run is not None]
    assert len(blocks) - len(left_out) >= 30, "most examples run"
    assert len(left_out) <= MAX_NOT_RUN, [block.where for block in left_out]
    for block in left_out:
        assert block.not_run in NOT_RUN_REASONS, (block.where, block.not_run)
        assert block.exit_code == 0, f"{block.where}: not run, so no expected exit code"
        assert not block.emulator, f"{block.where}: an emulator block is always run"


def test_the_two_set_up_commands_are_the_readme_s_first_block() -> None:
    """The README opens with `make demo` and `make test`, exactly (CI and the brief use them)."""
    first = extract(ROOT / "README.md")[0]
    commands = [line.split("#")[0].strip() for line in first.text.splitlines()]
    assert commands == ["make demo", "make test"]
    assert first.not_run == "set-up"


def test_every_document_with_examples_starts_its_emulator_first() -> None:
    """A document whose examples run starts an emulator (`<!-- emulator -->`) before them,
    and that block is one `osspolicy emulator` command seeding the example buckets."""
    for document in DOCUMENTS:
        runnable = [block for block in extract(document) if block.not_run is None]
        if not runnable:
            continue
        assert runnable[0].emulator, f"{runnable[0].where}: start the emulator first"
        for block in runnable:
            if block.emulator:
                argv = emulator_argv(block)
                assert f"{EXAMPLE_PREFIX}:6" in " ".join(argv), block.where


def _anchors(document: Path) -> set[str]:
    """The anchors GitHub gives the headings of `document`."""
    headings = re.findall(r"^#+ (.+)$", _without_code(document), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def _without_code(document: Path) -> str:
    """The document's text without its code (fenced blocks and inline spans)."""
    code = re.compile(r"^`{3,}.*?^`{3,}|`[^`\n]*`", re.DOTALL | re.MULTILINE)
    return code.sub("", document.read_text(encoding="utf-8"))


def test_links_between_the_documents_resolve() -> None:
    """Every relative link of README.md and docs/*.md names a file that exists, and its
    `#anchor`, if any, a heading of that file."""
    link = re.compile(r"\]\((?P<target>[^)#\s]*)(?:#(?P<anchor>[^)\s]*))?\)")
    for document in DOCUMENTS:
        for found in link.finditer(_without_code(document)):
            target, anchor = found["target"], found["anchor"]
            if "://" in target or target.startswith("mailto:"):
                continue
            path = document.parent / target if target else document
            assert path.exists(), f"{document.name}: {target} is missing"
            if anchor and path.suffix == ".md":
                assert anchor in _anchors(path), f"{document.name}: no #{anchor} in {path.name}"


# -- running them ---------------------------------------------------------------------------


def emulator_argv(block: Block) -> list[str]:
    """The command of an `<!-- emulator -->` block, its port replaced by 0 (a free one)."""
    argv = shlex.split(block.text.replace("\\\n", " "), comments=True)
    assert argv[:2] == ["osspolicy", "emulator"], f"{block.where}: one `osspolicy emulator`"
    if "--port" in argv:
        argv[argv.index("--port") + 1] = "0"
    return argv


class EmulatorProcess:
    """An `osspolicy emulator` a document starts, run as the reader would run it."""

    def __init__(self, block: Block, env: dict[str, str], log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            emulator_argv(block),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.process.stdout is not None
        self.endpoint = self.process.stdout.readline().strip()  # its first line (documented)
        assert self.endpoint.startswith("http"), f"{block.where}: no endpoint ({log})"

    def stop(self) -> None:
        """SIGTERM, and it exits 0 (contracts §4)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
            self._log.close()
        assert code == 0


#: the shell around a block: previous blocks' variables in, this block's out
_PROLOGUE = """\
__docs_known=" $(compgen -v | tr '\\n' ' ') "
if [ -f "$DOCS_STATE" ]; then source "$DOCS_STATE"; fi
__docs_save() {
  local name
  for name in $(compgen -v); do
    case "$__docs_known" in *" $name "*) continue ;; esac
    case "$name" in __docs_*|BASH*|FUNCNAME|PIPESTATUS|_) continue ;; esac
    declare -p "$name"
  done > "$DOCS_STATE.new" && mv "$DOCS_STATE.new" "$DOCS_STATE"
}
trap __docs_save EXIT
"""


def base_env(home: Path) -> dict[str, str]:
    """The environment the docs' set-up block gives a reader, minus the endpoint."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OSS_", "ALIBABA_CLOUD_", "OSSPOLICY_"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)  # never the machine's ~/.aliyun
    env["OSS_REGION"] = REGION
    env["OSS_ACCESS_KEY_ID"] = DEMO_ACCESS_KEY_ID
    env["OSS_ACCESS_KEY_SECRET"] = DEMO_ACCESS_KEY_SECRET
    env.pop("COLUMNS", None)
    return env


@pytest.fixture
def emulators() -> Iterator[list[EmulatorProcess]]:
    """The emulators a document started; all stopped at the end."""
    started: list[EmulatorProcess] = []
    yield started
    for emu in started:
        if emu.process.poll() is None:
            emu.stop()


def _runnable_documents() -> list[Path]:
    return [d for d in DOCUMENTS if any(b.not_run is None for b in extract(d))]


@pytest.mark.parametrize("document", _runnable_documents(), ids=lambda path: path.name)
def test_every_runnable_example_of_the_document_runs(
    document: Path, tmp_path: Path, emulators: list[EmulatorProcess]
) -> None:
    """Each runnable ```sh block of the document, in order in one folder against the
    emulator it starts, ends with its expected exit code (0 unless marked)."""
    work = tmp_path / "work"
    copy_jobs(work / "jobs")
    (tmp_path / "home").mkdir()
    env = base_env(tmp_path / "home")
    env["DOCS_STATE"] = str(tmp_path / "state.sh")
    ran = 0
    for number, block in enumerate(extract(document)):
        if block.not_run is not None:
            continue
        if block.emulator:
            for emu in emulators:
                emu.stop()
            emulators.clear()
            emulators.append(EmulatorProcess(block, env, tmp_path / "emulator.log"))
            env["OSS_ENDPOINT"] = emulators[0].endpoint
            continue
        script = tmp_path / f"block-{number:02d}.sh"
        script.write_text(_PROLOGUE + block.text + "\n", encoding="utf-8")
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", str(script)],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == block.exit_code, (
            f"{block.where}: exit {done.returncode}, expected {block.exit_code}\n"
            f"--- block\n{block.text}\n--- stdout\n{done.stdout[-3000:]}\n"
            f"--- stderr\n{done.stderr[-3000:]}"
        )
        ran += 1
    assert ran > 0
