"""The documentation site (mkdocs.yml, docs/, the docstrings) builds offline with warnings as
errors, lists every public name and every page, and loads nothing from the network.

The build is ``mkdocs build --strict`` into a temporary folder, as a reader would run it
(README).  A broken link or anchor, a page missing from the site, or a name of
``openhlm.__all__`` without a docstring fails it (tools/mkdocs_hooks.py).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import openhlm

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"

if not os.environ.get("CI"):
    # a developer without the test extra skips; CI (CI=true) installs it and must build
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")


def _hooks():
    spec = importlib.util.spec_from_file_location("openhlm_mkdocs_hooks",
                                                  ROOT / "tools" / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                           str(config), "--site-dir", str(site)],
                          capture_output=True, text=True, check=False, env=env, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    proc = build(CONFIG, out)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert "WARNING" not in log, log
    return out


def page_url(md: str) -> str:
    """The site path of a docs page (MkDocs' directory URLs)."""
    stem = md[:-3]
    return "" if stem == "index" else ("" if stem.endswith("/index") else stem + "/")


def test_every_docs_page_is_built_and_in_the_nav(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    for md in sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")):
        url = page_url(md)
        assert (site / url / "index.html").is_file(), f"{md} was not built"
        if url:
            assert f'href="{url}"' in index, f"{md} is not in the site's navigation"


def test_api_reference_lists_every_public_name(site):
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'id="(openhlm\.[^"]+)"', html))
    missing = [name for name in openhlm.__all__ if f"openhlm.{name}" not in ids]
    assert not missing, f"openhlm.__all__ names missing from the API page: {missing}"
    assert "<!-- openhlm-api -->" not in html


def test_comparison_page_is_in_the_site(site):
    html = (site / "comparison" / "index.html").read_text(encoding="utf-8")
    assert 'id="model4"' in html and "HLM 6.08 (printed)" in html and "lme4" in html


def test_site_loads_nothing_from_the_network(site):
    """No script, stylesheet, font or image from another host (the site works offline)."""
    remote = re.compile(r'<(?:script|img|iframe)[^>]*\ssrc="(?:https?:)?//|'
                        r'<link[^>]*\shref="(?:https?:)?//[^"]*"|@import\s+url\((?:https?:)?//|'
                        r'url\((?:"|\')?(?:https?:)?//', re.IGNORECASE)
    offenders = []
    for path in list(site.rglob("*.html")) + list(site.rglob("*.css")):
        for match in remote.finditer(path.read_text(encoding="utf-8", errors="replace")):
            text = match.group(0)
            if "<link" in text and not re.search(r'rel="(?:stylesheet|preload|icon)', text):
                continue        # <link rel="canonical"> etc. load nothing
            offenders.append(f"{path.relative_to(site)}: {text}")
    assert not offenders, offenders


def test_api_page_shows_no_sphinx_roles(site):
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert not re.search(r":(class|func|mod|meth|attr):", html)


def test_repository_links_point_into_the_repository(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="https://github.com/openhlm/openhlm/blob/main/CITATION.cff"' in html


def test_a_broken_link_or_a_missing_docstring_fails_the_build(tmp_path):
    """The strict build is a real check: a copy of the site's sources with a broken link and a
    public name without its docstring does not build, and says why."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", ".*_cache", "site", "build", "dist", ".venv*", "*.egg-info"))
    guide = copy / "docs" / "guide.md"
    guide.write_text(guide.read_text(encoding="utf-8") + "\n[broken](no-such-page.md)\n",
                     encoding="utf-8")
    version = copy / "src" / "openhlm" / "_version.py"
    version.write_text('__version__ = "0.0.0"\n', encoding="utf-8")     # no docstring
    proc = build(copy / "mkdocs.yml", tmp_path / "site")
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log
    assert "no-such-page.md" in log, log
    assert "openhlm.__version__" in log and "no docstring" in log, log
    assert log.count("WARNING") == 2, log          # those two and nothing else


# -- the hooks on their own -----------------------------------------------------------------

def test_pages_missing_from_the_nav_are_found(tmp_path):
    hooks = _hooks()
    for name in ("index.md", "guide.md", "new.md"):
        (tmp_path / name).write_text("# x\n", encoding="utf-8")
    nav = [{"Home": "index.md"}, {"Guide": [{"The guide": "guide.md"}]}]
    assert hooks.unlisted_pages(tmp_path, nav) == ["new.md"]


def test_links_outside_docs_become_repository_links(tmp_path):
    hooks = _hooks()
    root = tmp_path
    docs = root / "docs"
    docs.mkdir()
    (root / "README.md").write_text("x", encoding="utf-8")
    (root / "tests").mkdir()
    text = ("[a](../README.md#quick-start) [b](../tests) [c](guide.md) [d](../missing.md) "
            "[e](https://example.org/x)\n```\n[f](../README.md)\n```")
    out = hooks.rewrite_repo_links(text, docs / "index.md", docs, root, "https://r.example/x")
    assert "[a](https://r.example/x/blob/main/README.md#quick-start)" in out
    assert "[b](https://r.example/x/tree/main/tests)" in out
    assert "[c](guide.md)" in out and "[d](../missing.md)" in out
    assert "[e](https://example.org/x)" in out and "[f](../README.md)" in out


def test_sphinx_roles_in_docstrings_become_inline_code():
    spec = importlib.util.spec_from_file_location("openhlm_griffe_roles",
                                                  ROOT / "tools" / "griffe_sphinx_roles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "An :class:`openhlm.MDM`, :func:`~openhlm.fit` or :py:mod:`openhlm.report`; `x`."
    assert module.strip_roles(text) == "An `openhlm.MDM`, `openhlm.fit` or `openhlm.report`; `x`."
