"""Release files agree with the package: LICENSE, CITATION.cff, CHANGELOG.md, py.typed, the
project metadata, and the README's pointers to them and to the documentation site.

CITATION.cff is also valid CFF 1.2.0 by ``cffconvert --validate`` (checked when it was
written; cffconvert is not a test dependency).  Here: its fields that must follow the package.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import openhlm

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
REPO = "https://github.com/openhlm/openhlm"


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def test_license_is_the_declared_mit_licence():
    assert PYPROJECT["license"] == {"text": "MIT"}
    text = read("LICENSE")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the openhlm developers" in text
    assert "License :: OSI Approved :: MIT License" in PYPROJECT["classifiers"]


def test_citation_file_follows_the_package():
    yaml = pytest.importorskip("yaml")        # PyYAML comes with mkdocs (test extra)
    cff = yaml.safe_load(read("CITATION.cff"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["type"] == "software"
    assert str(cff["version"]) == openhlm.__version__
    assert cff["license"] == PYPROJECT["license"]["text"]
    assert cff["repository-code"] == PYPROJECT["urls"]["Repository"] == REPO
    refs = {ref["type"]: ref for ref in cff["references"]}
    assert refs["book"]["year"] == 2002 and refs["book"]["edition"] == "2nd"
    assert [a["family-names"] for a in refs["book"]["authors"]] == ["Raudenbush", "Bryk"]
    assert [a["family-names"] for a in refs["manual"]["authors"]] == [
        "Raudenbush", "Bryk", "Cheong", "Congdon", "du Toit"]
    assert refs["manual"]["year"] == 2004
    assert refs["article"]["doi"] == "10.18637/jss.v067.i01"
    assert [a["family-names"] for a in refs["article"]["authors"]] == [
        "Bates", "Mächler", "Bolker", "Walker"]


def test_changelog_has_unreleased_and_this_version():
    text = read("CHANGELOG.md")
    assert "## [Unreleased]" in text
    assert re.search(rf"^## \[{re.escape(openhlm.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$",
                     text, re.MULTILINE), f"CHANGELOG.md has no section for {openhlm.__version__}"
    for version in re.findall(r"^## \[([^\]]+)\]", text, re.MULTILINE):
        assert re.search(rf"^\[{re.escape(version)}\]: {re.escape(REPO)}/", text,
                         re.MULTILINE), version


def test_package_is_marked_typed():
    assert (ROOT / "src" / "openhlm" / "py.typed").is_file()
    assert "Typing :: Typed" in PYPROJECT["classifiers"]


def test_project_urls_use_one_repository():
    for name, url in PYPROJECT["urls"].items():
        assert url.startswith(REPO), (name, url)


def test_readme_points_to_the_site_and_how_to_build_it():
    text = read("README.md")
    assert "](docs/index.md)" in text
    assert 'pip install ".[docs]" && mkdocs build --strict' in text
    for name in ("CITATION.cff", "LICENSE", "CHANGELOG.md"):
        assert f"]({name})" in text, name
    # the two commands at the top stay as they are
    assert text.index("pip install . && openhlm fit --example hsb-model4") < text.index(
        'pip install ".[test]" && python -m pytest -q') < text.index("## In Python")
    assert PYPROJECT["optional-dependencies"]["docs"] == [
        d for d in PYPROJECT["optional-dependencies"]["test"]
        if d.startswith(("mkdocs", "mkdocstrings", "pygments"))]
