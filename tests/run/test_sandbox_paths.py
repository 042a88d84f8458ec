"""What the sandbox binds for a run's paths, without starting it: the import path inside the
working folder, the files a model's options name, and the audit's allowed files."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from hbench.io import owned_temporary_name
from hbench.run.harness import _absolute_paths, _path_options
from hbench.run.worker.audit import _Audit
from hbench.run.worker.sandbox import STAGING_PREFIX, Plan, _python_paths, _stage, bwrap_command


def test_a_site_folder_inside_the_working_folder_keeps_libs_and_pth_folders(
    tmp_path, monkeypatch
) -> None:
    """Bound package by package, a site folder inside the working folder keeps the folders of
    shared libraries beside its packages (``numpy.libs``) and the folders its ``.pth`` files
    name, and the distributions' metadata; the working folder's own files stay out."""
    site = tmp_path / "venv" / "site-packages"
    (site / "fake_numpy").mkdir(parents=True)
    (site / "fake_numpy" / "__init__.py").write_text("")
    (site / "fake_numpy.libs").mkdir()
    (site / "fake_numpy.libs" / "libopenblas.so").write_text("")
    (site / "fake_numpy-1.0.dist-info").mkdir()
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("")
    (site / "paths.pth").write_text(f"# a comment\nimport os\n../../src\n{tmp_path / 'gone'}\n")
    (tmp_path / "results.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])  # site is applied: src not on it
    found = set(_python_paths([]))
    assert {str(site / "fake_numpy"), str(site / "fake_numpy.libs")} <= found
    assert str(site / "paths.pth") in found
    assert str(tmp_path / "src" / "pkg") in found  # named by the .pth, bound by its packages
    assert not {str(tmp_path), str(site), str(tmp_path / "results.json")} & found
    assert str(site / "fake_numpy-1.0.dist-info") in found  # importlib.metadata reads it


class Options(BaseModel):
    init: str | None = None
    save: str | None = None
    marks: str | None = Field(None, json_schema_extra={"path": "write"})
    module: str | None = None
    name: str = "plain"


def test_path_options_are_absolute_and_have_their_roles(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = Options(init="enc.pt", save="out/mlm.pt", marks="marks", module="m/x.py:Model")
    roles = {key: (path, role) for key, _, path, role in _path_options(config)}
    assert roles == {
        "init": (str(tmp_path / "enc.pt"), "read"),
        "save": (str(tmp_path / "out" / "mlm.pt"), "write"),
        "marks": (str(tmp_path / "marks"), "write"),
        "module": (str(tmp_path / "m" / "x.py"), None),
    }
    sent = _absolute_paths(config)
    assert sent.save == str(tmp_path / "out" / "mlm.pt") and sent.name == "plain"
    assert sent.module == f"{tmp_path / 'm' / 'x.py'}:Model"
    assert config.save == "out/mlm.pt"  # the run's own options are left as given


def test_a_written_file_goes_through_a_staging_folder_published_at_the_end(tmp_path) -> None:
    (tmp_path / "mlm.pt").write_bytes(b"old")
    (tmp_path / "other.txt").write_text("not the model's")
    (staged,) = _stage([tmp_path / "mlm.pt", tmp_path / "b.pt"])
    staging = Path(staged.staging)
    assert staging.parent == tmp_path and staging.name.startswith(STAGING_PREFIX)
    assert staged.folder == str(tmp_path) and staged.names == ("mlm.pt", "b.pt")
    plan = Plan(True, staged=(staged,), read=(str(tmp_path / "other.txt"),))
    argv = bwrap_command(plan, {})
    # the staging folder over the folder, and what is read inside it on top of it
    bind = argv.index(str(staging))
    assert argv[bind - 1 : bind + 2] == ["--bind", str(staging), str(tmp_path)]
    assert argv.index(str(tmp_path / "other.txt")) > bind
    (staging / "mlm.pt").write_bytes(b"new")  # what the model wrote; it did not write b.pt
    (staging / ".mlm.pt.abc.tmp").write_bytes(b"")
    plan.publish()
    plan.discard()
    assert (tmp_path / "mlm.pt").read_bytes() == b"new" and not (tmp_path / "b.pt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlm.pt", "other.txt"]


def test_a_staging_folder_of_a_killed_run_is_removed_by_the_next(tmp_path) -> None:
    name = owned_temporary_name(tmp_path, STAGING_PREFIX).name
    stale = tmp_path / name.replace(f"-{os.getpid()}-", "-999999999-")  # a process that is gone
    stale.mkdir()
    (staged,) = _stage([tmp_path / "mlm.pt"])
    assert not stale.exists()
    Plan(True, staged=(staged,)).discard()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", ["r", "rb", "r+b"])
def test_the_audit_allows_an_allowed_file_itself(mode) -> None:
    """An allowed path may be a file (``init=enc.pt``): reading it is the model's own; a file
    beside it, or one whose name merely starts with it, is not."""
    folder = "/srv/hbench-audit-test"  # outside the temporary folder, which is allowed
    audit = _Audit([f"{folder}/enc.pt", f"{folder}/data"])
    audit.start()
    for name in ("enc.pt", "enc.pt2", "data/x.npy", "data", "other.txt"):
        audit("open", (f"{folder}/{name}", mode, 0))
    audit("open", (f"{folder}/written.pt", "wb", 0))
    # an atomic write's new temporary file, opened for reading and writing: nothing to read
    audit("open", (f"{folder}/.written.pt.0123.tmp", None, os.O_RDWR | os.O_CREAT | os.O_EXCL))
    audit("open", (f"{folder}/.written.pt.4567.tmp", "x+b", 0))
    audit.stop()
    assert audit.events == [f"read {folder}/enc.pt2", f"read {folder}/other.txt"]
