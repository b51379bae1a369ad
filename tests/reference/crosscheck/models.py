"""The openhlm equations and data of every lme4 model in the cross-check cases.

One place for the mapping used by all reference tests: ``MODELS[case][model]`` gives the HLM
equations (and constraints) of the model that ``<case>/make_reference.R`` fitted as
``<model>_reml`` / ``<model>_ml``; :func:`case_mdm` builds the data the script used.
"""

from __future__ import annotations

import pandas as pd

import openhlm
from tests.reference.crosscheck._load import load_data

M4 = """mathach = B0 + B1*group(ses) + R
B0 = G00 + G01*sector + G02*meanses + U0
B1 = G10 + G11*sector + G12*meanses + U1"""

MODELS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "hsb": {
        "model1": ("mathach = B0 + R; B0 = G00 + U0", ()),
        "model2": ("mathach = B0 + R; B0 = G00 + G01*meanses + U0", ()),
        "model3": ("mathach = B0 + B1*group(ses) + R; B0 = G00 + U0; B1 = G10 + U1", ()),
        "model4": (M4, ()),
        "model4_fixed_slope": (M4.replace(" + U1", ""), ()),
        "constraint": (M4, ("G02 = G12",)),
        "female_random_only": ("""mathach = B0 + B1*female + B2*group(ses) + R
            B0 = G00 + G01*sector + G02*meanses + U0
            B1 = U1
            B2 = G20 + G21*sector + G22*meanses + U2""", ()),
        "no_intercept": ("mathach = B1*female + B2*male + R; B1 = G10 + U1; B2 = G20 + U2", ()),
        "model4_minority_fixed": (M4.replace("+ R", "+ B2*minority + R") + "\nB2 = G20", ()),
    },
    "sleepstudy": {
        "model": ("Reaction = B0 + B1*Days + R; B0 = G00 + U0; B1 = G10 + U1", ()),
    },
    "exam": {
        "a_random_slope": ("normexam = B0 + B1*standLRT + R; B0 = G00 + U0; B1 = G10 + U1", ()),
        "b_nonrandom_slope": (("normexam = B0 + B1*standLRT + R; B0 = G00 + G01*schavg + U0;"
                              " B1 = G10 + G11*schavg"), ()),
        "c_schgend": (("normexam = B0 + B1*standLRT + R; B0 = G00 + G01*boys + G02*girls + U0;"
                      " B1 = G10 + U1"), ()),
    },
}


def case_mdm(case: str) -> openhlm.MDM:
    """The MDM of a cross-check case, built from the data its R script used."""
    if case == "hsb":
        l1 = pd.read_csv(openhlm.datasets.path("hsb1.csv"))
        l1["male"] = 1.0 - l1["female"]
        return openhlm.build_mdm(l1, pd.read_csv(openhlm.datasets.path("hsb2.csv")), id="id")
    if case == "sleepstudy":
        return openhlm.build_mdm(load_data("sleepstudy"), id="Subject",
                                 level1_variables=["Days", "Reaction"], level2_variables=[])
    if case == "exam":
        return openhlm.build_mdm(load_data("exam")[["school", "normexam", "standLRT"]],
                                 load_data("exam_level2")[["school", "boys", "girls", "schavg"]],
                                 id="school")
    raise KeyError(case)
