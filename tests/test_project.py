"""The project's own files: packaging metadata and the one-way rule for benchmarks (issue 27)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_is_an_spdx_string_with_its_file() -> None:
    """setuptools deprecates the `license = {text = ...}` table; SPDX needs setuptools >= 77."""
    project = _pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert all((ROOT / name).is_file() for name in project["license-files"])
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    requires = _pyproject()["build-system"]["requires"]
    assert "setuptools>=77" in requires


def test_project_urls_are_urls() -> None:
    urls = _pyproject()["project"]["urls"]
    assert urls and all(url.startswith("https://") for url in urls.values())


def test_swagger_assets_are_a_dependency() -> None:
    deps = _pyproject()["project"]["dependencies"]
    assert any(d.startswith("swagger-ui-bundle") for d in deps)


@pytest.mark.parametrize("script", sorted((ROOT / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_do_not_import_the_tests(script: Path) -> None:
    tree = ast.parse(script.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name == "tests" or name.startswith("tests.")}
