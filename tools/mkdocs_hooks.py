"""MkDocs hooks for openhlm's documentation site (``hooks:`` in mkdocs.yml).

* Every ``docs/*.md`` is in the site: a page the ``nav`` of mkdocs.yml does not list is
  appended under "More" (and reported at INFO level), so a new page never goes missing.
* ``docs/api.md`` holds the marker ``<!-- openhlm-api -->``; it is replaced by one
  ``::: openhlm.<name>`` block (rendered by mkdocstrings) for every name in ``openhlm.__all__``,
  read statically from ``src/`` with griffe.  The reference therefore follows the package: a
  name re-exported from a new module needs no change here.  A name without a docstring, a name
  that does not resolve, or a missing ``__all__`` is a warning, which ``mkdocs build --strict``
  turns into a failed build.
* A relative link from a page to a file of the repository outside ``docs/`` (``../README.md``,
  ``../tests/reference/...``) becomes a link to that file in the repository (``repo_url``); a
  link to a file that does not exist is left alone, so MkDocs reports it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.openhlm")

API_PAGE = "api.md"
API_MARKER = "<!-- openhlm-api -->"
MORE = "More"

# kinds of public names, in the order the API page lists them
_SECTIONS = [
    ("functions", "Functions"),
    ("classes", "Classes"),
    ("exceptions", "Exceptions and warnings"),
    ("modules", "Modules"),
    ("attributes", "Attributes"),
]


# -- nav: every docs/*.md ------------------------------------------------------------------

def _nav_files(nav: Any) -> set[str]:
    """Every page path named in a MkDocs nav (nested lists/dicts of titles and paths)."""
    found: set[str] = set()
    if isinstance(nav, str):
        found.add(nav)
    elif isinstance(nav, list):
        for item in nav:
            found |= _nav_files(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            found |= _nav_files(value)
    return found


def unlisted_pages(docs_dir: Path, nav: Any) -> list[str]:
    """``docs/*.md`` files (relative paths) that the nav does not name."""
    listed = _nav_files(nav or [])
    pages = sorted(p.relative_to(docs_dir).as_posix() for p in docs_dir.rglob("*.md"))
    return [p for p in pages if p not in listed]


def on_config(config: Any) -> Any:
    nav = config["nav"]
    if nav:
        missing = unlisted_pages(Path(config["docs_dir"]), nav)
        if missing:
            log.info("pages not in mkdocs.yml's nav, listed under %r: %s", MORE,
                     ", ".join(missing))
            nav.append({MORE: missing})
    return config


# -- the API reference from openhlm.__all__ ------------------------------------------------

def _src_dir(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent / "src"


def public_names(src: Path) -> tuple[list[tuple[str, str, str, bool]], list[str]]:
    """Every name of ``openhlm.__all__`` as (name, section, target path, has docstring), in
    ``__all__`` order, and the problems found (unresolvable names, no ``__all__``)."""
    import griffe

    package = griffe.load("openhlm", search_paths=[str(src)], try_relative_path=False,
                          resolve_aliases=False)
    problems: list[str] = []
    exports = package.exports
    if not exports:
        return [], ["openhlm has no static __all__ (griffe could not read it)"]
    rows: list[tuple[str, str, str, bool]] = []
    for name in exports:
        name = str(name)
        try:
            obj = package[name]
            target = obj.final_target if obj.is_alias else obj
        except Exception as exc:  # noqa: BLE001 - griffe raises several alias/key errors
            problems.append(f"openhlm.{name} (in __all__) does not resolve: {exc}")
            continue
        if target.is_function:
            section = "functions"
        elif target.is_class:
            bases = " ".join(str(b) for b in target.bases)
            is_exc = re.search(r"(Error|Exception|Warning)\b", bases) or name.endswith(
                ("Error", "Warning"))
            section = "exceptions" if is_exc else "classes"
        elif target.is_module:
            section = "modules"
        else:
            section = "attributes"
        rows.append((name, section, target.path, bool(target.docstring)))
    return rows, problems


def api_markdown(rows: list[tuple[str, str, str, bool]]) -> str:
    """The mkdocstrings blocks of the API page, grouped by kind."""
    out: list[str] = []
    for section, title in _SECTIONS:
        names = [name for name, sec, _, _ in rows if sec == section]
        if not names:
            continue
        out.append(f"## {title}\n")
        for name in names:
            out.append(f"::: openhlm.{name}\n")
    return "\n".join(out)


def _api_page(markdown: str, config: Any) -> str:
    if API_MARKER not in markdown:
        log.warning("%s: the marker %s is missing; the API reference would not list "
                    "openhlm.__all__", API_PAGE, API_MARKER)
        return markdown
    rows, problems = public_names(_src_dir(config))
    for problem in problems:
        log.warning("API reference: %s", problem)
    for name, _, path, documented in rows:
        if not documented:
            log.warning("API reference: openhlm.%s (%s) has no docstring", name, path)
    return markdown.replace(API_MARKER, api_markdown(rows))


# -- links to repository files outside docs/ -----------------------------------------------

_INLINE_LINK = re.compile(r"(\]\()(<?)([^)\s>]+)(>?(?:\s+\"[^\"]*\")?\))")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _repo_link(target: str, page_dir: Path, docs_dir: Path, root: Path,
               repo_url: str) -> str | None:
    if not target or target.startswith(("#", "/")) or re.match(r"^[a-zA-Z][\w+.-]*:", target):
        return None
    path, _, fragment = target.partition("#")
    resolved = (page_dir / path).resolve()
    try:
        resolved.relative_to(docs_dir)
        return None          # a page or asset of the site: MkDocs checks it
    except ValueError:
        pass
    try:
        rel = resolved.relative_to(root).as_posix()
    except ValueError:
        return None
    if not resolved.exists():
        return None          # left alone: MkDocs reports the broken link
    kind = "tree" if resolved.is_dir() else "blob"
    url = f"{repo_url.rstrip('/')}/{kind}/main/{rel}"
    return f"{url}#{fragment}" if fragment else url


def rewrite_repo_links(markdown: str, page_src: Path, docs_dir: Path, root: Path,
                       repo_url: str) -> str:
    """Relative links from a page to repository files outside ``docs/`` -> repository URLs
    (code fences left as they are)."""
    page_dir = page_src.parent
    out: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            out.append(line)
            continue
        if fence is None:
            def sub(match: re.Match[str]) -> str:
                url = _repo_link(match.group(3), page_dir, docs_dir, root, repo_url)
                if url is None:
                    return match.group(0)
                return f"{match.group(1)}{match.group(2)}{url}{match.group(4)}"
            line = _INLINE_LINK.sub(sub, line)
        out.append(line)
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri == API_PAGE:
        markdown = _api_page(markdown, config)
    docs_dir = Path(config["docs_dir"]).resolve()
    root = Path(config["config_file_path"]).resolve().parent
    return rewrite_repo_links(markdown, docs_dir / page.file.src_uri, docs_dir, root,
                              config["repo_url"] or "")
