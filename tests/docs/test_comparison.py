"""docs/comparison.md (openhlm next to HLM 6.08 and lme4) says what the references say.

* The HLM column is the seminar's printout exactly as committed in
  tests/reference/published/seed_hlm608/expected.toml, every printed number of the runs listed.
* The lme4 column is tests/reference/crosscheck/hsb/reference.json, rounded to HLM's decimals.
* The openhlm columns are what openhlm computes today (tools/make_comparison.py run afresh), to
  one unit in the last printed digit (so a platform's last-bit differences do not matter).
* The page's claim that the exact mode agrees with lme4 holds for every number.

After a change that moves a printed digit, run ``python tools/make_comparison.py``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "comparison.md"
HLM_FILE = ROOT / "tests" / "reference" / "published" / "seed_hlm608" / "expected.toml"
LME4_FILE = ROOT / "tests" / "reference" / "crosscheck" / "hsb" / "reference.json"
DASH = "—"
REGENERATE = "run `python tools/make_comparison.py` and commit docs/comparison.md"

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def _generator():
    spec = importlib.util.spec_from_file_location("openhlm_make_comparison",
                                                  ROOT / "tools" / "make_comparison.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


def parse(text: str) -> dict[str, dict[str, list[str]]]:
    """{section anchor: {row label: [HLM, openhlm hlm, openhlm exact, lme4]}}."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in text.splitlines():
        heading = re.match(r"^## .*\{#([\w-]+)\}\s*$", line)
        if heading:
            current = sections.setdefault(heading.group(1), {})
            continue
        if current is None or not line.startswith("| ") or line.startswith("| |"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 5, line
        assert cells[0] not in current, f"row {cells[0]!r} twice"
        current[cells[0]] = cells[1:]
    return sections


def decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def within_last_digit(cell: str, value: float, units: float = 1.0) -> bool:
    return abs(float(cell) - value) <= units * 10.0 ** -decimals(cell) + 1e-12


@pytest.fixture(scope="module")
def page() -> dict[str, dict[str, list[str]]]:
    return parse(PAGE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def hlm() -> dict:
    return tomllib.loads(HLM_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def lme4() -> dict:
    return json.loads(LME4_FILE.read_text(encoding="utf-8"))["models"]


def expected_rows(case: dict, ref: dict) -> dict[str, tuple[str, float | None]]:
    """Row label -> (HLM as printed, lme4 value), read from the two reference files."""
    rows: dict[str, tuple[str, float | None]] = {}
    fixed = ref["fixed"]
    where = {g: i for i, g in enumerate(fixed["hlm_labels"])}
    for gamma, est, se, _t, _df, rse, _rt in case["gammas"]:
        i = where[gamma]
        rows[gamma] = (est, fixed["estimate"][i])
        rows[f"SE({gamma})"] = (se, fixed["se"][i])
        rows[f"robust SE({gamma})"] = (rse, fixed["robust_se_cr0"][i])
    rows["σ²"] = (case["sigma2"], ref["sigma2"])
    labels = ref["tau"]["labels"]
    for a, la in enumerate(labels):
        for b in range(a, len(labels)):
            name = f"τ {la}" if a == b else f"τ {la}, {labels[b]}"
            rows[name] = (case["tau"][a][b], ref["tau"]["matrix"][a][b])
    for label, printed in zip(labels, case["reliability"]):
        rows[f"reliability {label}"] = (printed, ref["reliability"][label])
    for label, (chi2, df) in zip(labels, case["chi2"]):
        rows[f"χ² {label} ({df} d.f.)"] = (chi2, ref["chi2"][label]["stat"])
    rows["deviance, HLM's convention"] = (case["deviance"], None)
    suffix = " (REML)" if case["method"] == "reml" else ""
    rows["deviance, -2 log L" + suffix] = (DASH, ref["deviance"])
    return rows


def lme4_key(name: str, lme4: dict) -> str:
    return name if name in lme4 else f"{name}_reml"


def test_page_covers_the_seminar_runs(page, hlm):
    assert next(iter(page)) == "model4"            # the seminar's Model 4 comes first
    assert set(page) == set(hlm), "every HLM 6.08 run of the seminar has its section"


def test_hlm_and_lme4_columns_are_the_reference_files(page, hlm, lme4):
    for name, rows in page.items():
        expected = expected_rows(hlm[name], lme4[lme4_key(name, lme4)])
        assert list(rows) == list(expected), (name, REGENERATE)
        for label, (printed, ref_value) in expected.items():
            hlm_cell, lme4_cell = rows[label][0], rows[label][3]
            assert hlm_cell == printed, (name, label, hlm_cell, printed)
            if ref_value is None:
                assert lme4_cell == DASH, (name, label)
            else:
                ndec = decimals(printed) if printed != DASH else 6
                assert decimals(lme4_cell) == ndec, (name, label, lme4_cell)
                assert within_last_digit(lme4_cell, ref_value, 0.5), (name, label, lme4_cell,
                                                                       ref_value)


def test_exact_mode_agrees_with_lme4_as_the_page_says(page):
    for name, rows in page.items():
        for label, (_hlm, _ours_hlm, exact, ref) in rows.items():
            if ref != DASH:     # two units in the last digit, or 1e-7 relative (chi-squares)
                close = within_last_digit(exact, float(ref), 2) or (
                    abs(float(exact) - float(ref)) <= 1e-7 * abs(float(ref)))
                assert close, (name, label, exact, ref)


def test_openhlm_columns_are_what_openhlm_computes(page):
    fresh = parse(_generator().render())
    assert list(fresh) == list(page), REGENERATE
    for name, rows in fresh.items():
        assert list(rows) == list(page[name]), (name, REGENERATE)
        for label, cells in rows.items():
            for column in (1, 2):
                now, shown = cells[column], page[name][label][column]
                if shown == DASH or now == DASH:
                    assert now == shown, (name, label, now, shown, REGENERATE)
                else:
                    assert within_last_digit(shown, float(now), 1), (
                        name, label, "page", shown, "openhlm now", now, REGENERATE)
