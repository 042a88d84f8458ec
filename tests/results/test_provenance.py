"""Provenance: a plugin's source hash changes with its code; hbench's checkout state."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hbench.results.environment import collect_environment, git_state, source_hash


def fake_distribution(site: Path, *, editable: bool) -> Path:
    """A distribution ``fake-plugin`` providing the package ``fake_plugin`` under ``site``."""
    package = site / "fake_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    info = site / "fake_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[hbench]\nfake = fake_plugin.plugin\n")
    if editable:
        url = {"url": f"file://{site}", "dir_info": {"editable": True}}
        (info / "direct_url.json").write_text(json.dumps(url))
    else:
        (info / "RECORD").write_text("fake_plugin/__init__.py,sha256=abc,10\n")
    return package


@pytest.fixture()
def site(tmp_path, monkeypatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    source_hash.cache_clear()
    yield tmp_path
    source_hash.cache_clear()


def test_an_editable_install_is_hashed_by_its_files(site) -> None:
    package = fake_distribution(site, editable=True)
    first = source_hash("fake-plugin")
    assert first is not None and re.fullmatch(r"files:sha256:[0-9a-f]{64}", first)
    assert source_hash("fake-plugin") == first  # cached
    (package / "__pycache__" / "x.pyc").write_bytes(b"still ignored")
    source_hash.cache_clear()
    assert source_hash("fake-plugin") == first
    (package / "__init__.py").write_text("VALUE = 2\n")  # an edit of the plugin's code
    source_hash.cache_clear()
    assert source_hash("fake-plugin") not in (None, first)


def test_a_wheel_is_hashed_by_its_record(site) -> None:
    fake_distribution(site, editable=False)
    assert re.fullmatch(r"record:sha256:[0-9a-f]{64}", source_hash("fake-plugin") or "")
    assert source_hash("no-such-distribution") is None


def test_the_environment_records_sources_and_the_checkout() -> None:
    plugins = [
        {"name": "tree", "distribution": "hbench", "version": "0.1.0"},
        {"name": "gone", "distribution": "no-such-distribution", "version": "1"},
    ]
    env = collect_environment(plugins, "cpu")
    assert sorted(env.sources) == ["hbench", "no-such-distribution"]
    assert env.sources["hbench"].startswith(("files:sha256:", "record:sha256:"))
    assert env.sources["no-such-distribution"] is None
    commit, dirty = git_state()
    assert (env.git_commit, env.git_dirty) == (commit, dirty)
    assert dirty is None if commit is None else isinstance(dirty, bool)
