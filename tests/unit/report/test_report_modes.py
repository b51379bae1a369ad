"""Report header and weighting lines say what was actually done."""

from __future__ import annotations

import pandas as pd

import openhlm
from openhlm.api import as_spec
from openhlm.estimation.design import build_design
from openhlm.estimation.fit import estimates_at
from openhlm.inference.infer import infer


def test_fixed_parameter_report_does_not_claim_convergence():
    mdm = openhlm.datasets.hsb()
    design = build_design(as_spec("mathach = B0 + R; B0 = G00 + U0", mdm), mdm)
    text = infer(estimates_at(design, 39.14831, [[8.61431]])).report()
    assert "evaluated at given variance components" in text
    assert "fully converged" not in text
    assert "maximum number of iterations" not in text
    assert "Evaluated at given parameters (no iterations)" in text


def test_level2_weights_only_describe_level2_normalisation():
    l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
    l2 = pd.read_csv(openhlm.datasets.path("hsb2.csv"))
    res = openhlm.fit("mathach = B0 + R; B0 = G00 + U0", l1, id="id", level2=l2,
                      level2_weight="size")
    text = res.report()
    assert "Normalisation: level-2 weights scaled to sum to J." in text
    assert "level-1 weights scaled" not in text
