"""The example jobs live once, in the package; the checkout's `jobs/` links to them, and
a manifest reached through such a link keeps its relative paths beside the link."""

from __future__ import annotations

from pathlib import Path

from osspolicy._internal.demo import copy_jobs, find_jobs_folder
from osspolicy._internal.manifest import load_manifest

ROOT = Path(__file__).resolve().parents[1]


def test_the_checkouts_jobs_folder_is_a_link_to_the_packaged_jobs() -> None:
    """`jobs/` of the checkout is a symlink to `src/osspolicy/jobs`, so each example
    file exists once, and it is the folder the demo ships."""
    link = ROOT / "jobs"
    assert link.is_symlink()
    assert link.resolve() == (ROOT / "src" / "osspolicy" / "jobs").resolve()
    assert find_jobs_folder().resolve() == link.resolve()


def test_a_manifest_through_a_linked_folder_resolves_dotdot_by_name(tmp_path: Path) -> None:
    """`../backups` in `project/jobs/x.yaml`, where `jobs` links elsewhere, is
    `project/backups` (as the user reads it), not a folder beside the link's target."""
    real = tmp_path / "elsewhere" / "deep" / "jobs"
    copy_jobs(real)
    project = tmp_path / "project"
    project.mkdir()
    (project / "jobs").symlink_to(real)
    manifest = load_manifest(project / "jobs" / "backup-all.yaml")
    assert Path(manifest.backup_dir) == project / "backups"
    assert Path(manifest.report_dir) == project / "reports"


def test_copy_jobs_copies_every_example(tmp_path: Path) -> None:
    """`copy_jobs` gives a folder holding every shipped example, each loadable there."""
    copied = copy_jobs(tmp_path / "jobs")
    names = sorted(p.name for p in copied.iterdir())
    assert names == sorted(p.name for p in find_jobs_folder().iterdir())
    manifest = load_manifest(copied / "baseline.yaml")
    assert manifest.policy is not None
    assert manifest.policy.file == copied / "baseline-policy.json"
