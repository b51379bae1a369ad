"""The stress cross-check's cases as openhlm sees them: data, equations, lme4 names.

``make_reference.R`` (beside this file) fitted every case with lme4; ``reference.json`` keeps
the equations it fitted (``equations``) and lme4's fixed-effect names.  ``LME4_ORDER[case]``
lists, for openhlm's gammas in HLM order (G00, G01, ..., G10, ...), the lme4 column each one is.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

import openhlm
from tests.reference.crosscheck.lme4_stress.make_data import CASES as SIMULATED
from tests.reference.crosscheck.lme4_stress.make_data import DATA, simulate

HERE = Path(__file__).resolve().parent

#: lme4 fixed-effect name of each gamma, in openhlm's (HLM) order
LME4_ORDER: dict[str, tuple[str, ...]] = {
    "dyestuff": ("(Intercept)",),
    "dyestuff2": ("(Intercept)",),
    "orthodont": ("(Intercept)", "female", "age", "age:female"),
    "oxboys": ("(Intercept)", "age", "age2"),
    "machines": ("(Intercept)", "mB", "mC"),
    "cake": ("(Intercept)", "temp"),
    "petrol": ("(Intercept)", "SG", "VP", "V10", "EP"),
    "insteval": ("(Intercept)", "service"),
    "singular_tau": ("(Intercept)", "x"),
    "corr_plus1": ("(Intercept)", "x"),
    "corr_minus1": ("(Intercept)", "x"),
    "tau4x4": ("(Intercept)", "w", "x1", "x2", "x3"),
    "sizes_1_500": ("(Intercept)", "x"),
    "calendar_year": ("(Intercept)", "year"),
    "offset_1e7": ("(Intercept)",),
    "offset_1e6_slope": ("(Intercept)", "x"),
    "scales_mixed": ("(Intercept)", "big", "small"),
    "big_200k": ("(Intercept)", "w", "x", "x:w"),
}


@cache
def reference() -> dict[str, Any]:
    with (HERE / "reference.json").open(encoding="utf-8") as fh:
        return json.load(fh)


@cache
def data(case: str) -> pd.DataFrame:
    """The data lme4 fitted: the committed CSV, or the large case rebuilt from its seed."""
    if case == "big_200k":
        return simulate(case)
    return pd.read_csv(DATA / f"{case}.csv")


@cache
def mdm(case: str) -> openhlm.MDM:
    frame = data(case)
    within = frame.groupby("g").nunique().max()
    level2 = [c for c in frame.columns if c not in ("g", "y") and within[c] == 1]
    level1 = [c for c in frame.columns if c != "g" and c not in level2]
    return openhlm.build_mdm(frame, id="g", level1_variables=level1, level2_variables=level2)


def is_simulated(case: str) -> bool:
    return case in SIMULATED
