"""``docs/statistics.md`` is the statistics reference that code and tests cite by section number.

* Every section cited anywhere in ``src/``, ``tests/`` or ``docs/`` exists as a numbered heading
  of ``docs/statistics.md``. Citations are recognised under the file's current name
  (``docs/statistics.md section 12.3``, ``statistics.md 2.2-2.3``, ``statistics.md §19 q. 4``) and
  under the name of the background file it replaced (the same forms with ``hlm-`` in front of
  the file name), so the check means the same before and after the citations are renamed.
  Open questions cited as "19, question 10" or "open question 9" are subsections 19.10 and 19.9;
  a source key such as ``SO-REL`` must be listed under the page's references.
* The sections that are cited most keep their subject (a renumbering would silently re-point
  every citation).
* No file refers to the background file or to the session's shared folder (the repository must
  stand on its own).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "statistics.md"
SCANNED = ("src", "tests", "docs")
TEXT_SUFFIXES = {".py", ".md", ".R", ".r", ".toml", ".txt", ".hlm", ".cfg", ".rst", ".yml",
                 ".yaml", ".ipynb"}
# Spelled in pieces so that this file does not cite or name them itself.
OLD_NAME = "hlm-" + "statistics"
SHARED = ".." + "/shared"

_FILE = re.compile(r"(?<![\w/-])(?:docs/)?(?:hlm-)?statistics\.md")
_SEC = r"\d+(?:\.\d+)?"
_ITEM = rf"(?:§\s*)?{_SEC}(?:\s*-\s*{_SEC})?"
_LIST = re.compile(rf"[`'\"]?\s*(?:sections?|sec\.|§)?\s*({_ITEM}(?:\s*(?:,|and|&)\s*{_ITEM})*)")
_QUESTIONS = re.compile(r"\s*,?\s*(?:open\s+)?(?:questions?|items?|q\.)\s*(\d+(?:\s*(?:,|and)\s*\d+)*)")
_KEY = re.compile(r"[`'\"]?\s*([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\b")
_LINK = re.compile(r"[`]?\]\([^)]*\)")


def _text_files():
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and path != Path(__file__).resolve():
                yield path


def _joined(text: str) -> str:
    """Join continuation lines (and drop comment markers) so a citation split over lines reads
    as one: ``(statistics.md\\n#   2.2)`` -> ``(statistics.md 2.2)``."""
    return re.sub(r"[ \t]*\n[ \t]*(?:#+|//|>)?[ \t]*", " ", text)


def _expand(item: str) -> list[str]:
    item = item.replace("§", "").replace(" ", "")
    if "-" not in item:
        return [item]
    lo, hi = item.split("-")
    if "." not in lo and "." not in hi:
        return [str(k) for k in range(int(lo), int(hi) + 1)]
    a, _, b = lo.partition(".")
    c, _, d = hi.partition(".")
    if a == c and b and d:
        return [f"{a}.{k}" for k in range(int(b), int(d) + 1)]
    return [lo, hi]


def cited_sections(text: str) -> tuple[set[str], set[str], int]:
    """(sections, source keys, number of citations) cited in ``text``."""
    sections: set[str] = set()
    keys: set[str] = set()
    count = 0
    text = _joined(text)
    for m in _FILE.finditer(text):
        count += 1
        tail = text[m.end():m.end() + 160]
        link = _LINK.match(tail)
        if link:
            tail = tail[link.end():]
        if tail.startswith("'s"):
            continue
        pos = 0
        listed = _LIST.match(tail)
        if listed and listed.group(1):
            for item in re.split(r"\s*(?:,|and|&)\s*", listed.group(1)):
                sections.update(_expand(item))
            pos = listed.end()
        questions = _QUESTIONS.match(tail, pos)
        if questions:
            sections.update(f"19.{q}" for q in re.findall(r"\d+", questions.group(1)))
        elif not listed:
            key = _KEY.match(tail)
            if key:
                keys.add(key.group(1))
    return sections, keys, count


def all_citations() -> tuple[dict[str, set[str]], dict[str, set[str]], int]:
    """Section -> files citing it, source key -> files, total number of citations."""
    by_section: dict[str, set[str]] = {}
    by_key: dict[str, set[str]] = {}
    total = 0
    for path in _text_files():
        if path == DOC:
            continue
        sections, keys, count = cited_sections(path.read_text(encoding="utf-8", errors="replace"))
        total += count
        rel = str(path.relative_to(ROOT))
        for s in sections:
            by_section.setdefault(s, set()).add(rel)
        for k in keys:
            by_key.setdefault(k, set()).add(rel)
    return by_section, by_key, total


def doc_sections() -> dict[str, str]:
    """Section number -> its heading and text up to the next numbered heading."""
    text = DOC.read_text(encoding="utf-8")
    heads = list(re.finditer(r"^#{2,4}[ \t]+(\d+(?:\.\d+)?)\.?[ \t]+.*$", text, re.MULTILINE))
    out = {}
    for k, h in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(text)
        out[h.group(1)] = text[h.start():end]
    return out


def test_parser_reads_the_citation_forms():
    sections, keys, count = cited_sections(
        f"(docs/statistics.md section 12.3) ({OLD_NAME}.md 2.2-2.3; see {OLD_NAME}.md\n"
        f"#   §19 q. 4) `statistics.md` sections 13 and 14, statistics.md §4-5, statistics.md 3,"
        f" open question 2; {OLD_NAME}.md 19, items 7, 11; statistics.md open question 9;"
        " docs/statistics.md 0 and 18: 12.62075; docs/statistics.md SO-REL; statistics.md's D")
    assert sections == {"12.3", "2.2", "2.3", "19", "19.4", "13", "14", "4", "5", "3", "19.2", "19.7",
                        "19.11", "19.9", "0", "18"}
    assert keys == {"SO-REL"}
    assert count == 11


def test_every_cited_section_is_a_heading_of_docs_statistics():
    by_section, by_key, total = all_citations()
    assert total >= 30, f"only {total} citations found: is the citation parser still right?"
    headings = doc_sections()
    missing = {s: sorted(files) for s, files in by_section.items() if s not in headings}
    assert not missing, f"cited sections missing from docs/statistics.md: {missing}"
    text = DOC.read_text(encoding="utf-8")
    references = text[text.index("\n## References"):]
    unknown = {k: sorted(f) for k, f in by_key.items() if f"{k}:" not in references}
    assert not unknown, f"source keys cited but not listed under References: {unknown}"


# The subject of the sections that code and tests cite (a word of the heading or its text).
SUBJECTS = {
    "0": "verification", "1.2": "mixed", "1.3": "centring", "2.1": "deviance", "2.2": "EM",
    "2.3": "starting values", "3": "robust", "4": "chi-square", "5": "reliability",
    "6": "standard errors of sigma^2", "7": "level-1 OLS", "8.1": "general linear hypotheses",
    "8.2": "deviance", "9": "homogeneity", "10": "heterogeneous", "11": "constraints",
    "12": "residual files", "12.1": "level-2 residual file", "12.2": "level-1 residual file",
    "12.3": "exploratory", "13": "weights", "14": "imputed", "15": "intraclass", "16": "layout",
    "18": "reference values", "19": "open questions", "19.1": "d.f.", "19.2": "warning",
    "19.3": "OLS", "19.4": "sufficient data", "19.5": "homogeneity", "19.6": "standard errors",
    "19.7": "heterogeneous", "19.8": "constraints", "19.9": "normalisation",
    "19.10": "residual-file", "19.11": "accelerator", "20": "seminar", "21": "command files",
}


@pytest.mark.parametrize("section", sorted(SUBJECTS, key=lambda s: [int(x) for x in s.split(".")]))
def test_cited_sections_keep_their_subject(section):
    headings = doc_sections()
    assert section in headings, f"section {section} is gone from docs/statistics.md"
    assert SUBJECTS[section].lower() in headings[section].lower(), (
        f"section {section} of docs/statistics.md no longer mentions {SUBJECTS[section]!r}: "
        "sections were renumbered? Citations in src/ and tests/ point to these numbers")


def test_docs_statistics_has_no_duplicate_section_numbers():
    text = DOC.read_text(encoding="utf-8")
    numbers = re.findall(r"^#{2,4}[ \t]+(\d+(?:\.\d+)?)\.?[ \t]", text, re.MULTILINE)
    assert len(numbers) == len(set(numbers)), sorted(n for n in numbers if numbers.count(n) > 1)


def test_nothing_refers_to_the_background_file_or_the_shared_folder():
    offenders = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or path == Path(__file__).resolve() or "__pycache__" in path.parts:
                continue
            data = path.read_bytes()
            for needle in (OLD_NAME, SHARED):
                if needle.encode() in data:
                    offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert not offenders, "\n".join(offenders)
