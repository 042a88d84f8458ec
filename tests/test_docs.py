"""The documentation site builds with warnings as errors, offline, from the live sources."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The docs extra's packages (mkdocs, mkdocs-material, mkdocstrings and its python handler).
_MISSING = [
    name
    for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers")
    if importlib.util.find_spec(name) is None
]

needs_mkdocs = pytest.mark.skipif(
    bool(_MISSING) and os.environ.get("HBENCH_CI") != "1",
    reason=f"{', '.join(_MISSING)} not installed: pip install -e '.[docs]'",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built as CI builds it (``mkdocs build --strict``), outside the tree."""
    folder = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


@needs_mkdocs
def test_every_page_is_built_and_nothing_is_written_into_the_tree(site) -> None:
    for page in ("tutorial", "concepts", "cli", "api", "plugins"):
        assert (site / page / "index.html").is_file(), page
    assert not (ROOT / "site").exists()


@needs_mkdocs
def test_readme_sections_are_included_not_copied(site) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tutorial = (site / "tutorial" / "index.html").read_text(encoding="utf-8")
    assert "--8&lt;--" not in tutorial and "--8<--" not in tutorial
    assert "hbench oracle-table" in readme and "hbench oracle-table" in tutorial
    plugins = (site / "plugins" / "index.html").read_text(encoding="utf-8")
    assert "hbench_register_grammars" in plugins  # CONTRIBUTING's plugin example


@needs_mkdocs
def test_the_api_reference_documents_the_public_calls(site) -> None:
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for anchor in (
        "hbench.api.evaluate",
        "hbench.api.task_data",
        "hbench.results.table.load_results",
        "hbench.contracts.Model",
        "hbench.stats",
        "hbench.errors.UsageError",
    ):
        assert f'id="{anchor}"' in api, anchor


@needs_mkdocs
def test_the_site_fetches_nothing_from_the_web(site) -> None:
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, page


def test_the_cli_reference_holds_every_command() -> None:
    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        from cli_reference import MARKER, on_page_markdown
    finally:
        sys.path.remove(str(ROOT / "docs" / "hooks"))
    from hbench.cli import build_parser
    from hbench.cli.app import subparsers

    page = on_page_markdown(f"# Command line\n\n{MARKER}\n", page=None)
    assert MARKER not in page
    for path, parser in subparsers(build_parser()):
        assert f"`hbench {path}`" in page, path
        assert (parser.description or "").split("\n")[0] in page
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8").count(MARKER) == 1
