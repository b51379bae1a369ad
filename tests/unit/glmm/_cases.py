"""The glmer / glmmPQL reference cases (tests/reference/crosscheck/glmm) as openhlm fits."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binom, poisson

import openhlm

CASE_DIR = Path(__file__).resolve().parents[2] / "reference" / "crosscheck" / "glmm"


@cache
def reference() -> dict:
    return json.loads((CASE_DIR / "reference.json").read_text())["models"]


@cache
def data(name: str) -> pd.DataFrame:
    return pd.read_csv(CASE_DIR / name)


def r_names(model: dict) -> dict[str, str]:
    """R's fixed-effect names -> openhlm's gammas (the record's ``names``, or read from the
    openhlm equations)."""
    if model.get("names"):
        return dict(model["names"])
    out = {}
    for eq in model["openhlm"].split(";")[1:]:
        lhs, rhs = (s.strip() for s in eq.split("="))
        q = int(lhs[1:])
        pred = None if q == 0 else next(t for t in model["openhlm"].split(";")[0].split("+")
                                    if f"B{q}*" in t).split("*")[1].strip()
        for term in rhs.split("+"):
            term = term.strip()
            if not term.startswith("G"):
                continue
            g, _, w = term.partition("*")
            if q == 0:
                r = "(Intercept)" if not w else w
            else:
                r = pred if not w else (f"{pred}:{w}")
            out[r] = g
    return out


def fit(name: str, method: str, **kwargs):
    m = reference()[name]
    extra = {k: m[k] for k in ("trials", "exposure") if k in m}
    return openhlm.fit(m["openhlm"], data(m["data"]), id=m["id"],
                       distribution=m["distribution"], method=method, **extra, **kwargs)


def saturated_deviance(name: str) -> float:
    """-2 log L of the saturated model: what glmer leaves out of its nAGQ > 1 deviance."""
    m = reference()[name]
    df = data(m["data"])
    y = df[openhlm_outcome(m)].to_numpy(float)
    if m["distribution"] == "poisson":
        return float(-2 * poisson.logpmf(y, y).sum())
    n = df[m["trials"]].to_numpy(float) if "trials" in m else np.ones_like(y)
    return float(-2 * binom.logpmf(y, n, y / n).sum())


def openhlm_outcome(m: dict) -> str:
    return m["openhlm"].split("=")[0].strip()
