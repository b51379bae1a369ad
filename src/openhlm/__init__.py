"""openhlm: hierarchical linear models the way HLM computes and prints them.

Quick start::

    import openhlm
    mdm = openhlm.datasets.hsb()
    results = openhlm.fit('''
        mathach = B0 + B1*group(ses) + R
        B0 = G00 + G01*sector + G02*meanses + U0
        B1 = G10 + G11*sector + G12*meanses + U1''', mdm)
    print(results)
"""

from openhlm import datasets
from openhlm._version import __version__
from openhlm.api import compare, fit, glh
from openhlm.data import MDM, MDM3, Table, build_mdm, build_mdm3, read_table
from openhlm.errors import (
    CommandFileError,
    ConvergenceWarning,
    DataError,
    DataWarning,
    EstimationError,
    HypothesisError,
    MDMError,
    OpenHLMError,
    SpecError,
)
from openhlm.imputation import fit_imputed
from openhlm.inference.exploratory import ExploratoryAnalysis, exploratory
from openhlm.inference.homogeneity import homogeneity_test
from openhlm.inference.hypotheses import deviance_test
from openhlm.results import HLMResults
from openhlm.results.three_level import HLM3Results
from openhlm.spec.equations import parse_model
from openhlm.spec.model import (
    Centering,
    Coefficient,
    Constraint,
    Level2Equation,
    ModelSpec,
    Predictor,
)
from openhlm.spec.options import FitOptions

__all__ = [
    "MDM",
    "MDM3",
    "Centering",
    "Coefficient",
    "CommandFileError",
    "Constraint",
    "ConvergenceWarning",
    "DataError",
    "DataWarning",
    "EstimationError",
    "ExploratoryAnalysis",
    "FitOptions",
    "HLM3Results",
    "HLMResults",
    "HypothesisError",
    "Level2Equation",
    "MDMError",
    "ModelSpec",
    "OpenHLMError",
    "Predictor",
    "SpecError",
    "Table",
    "__version__",
    "build_mdm",
    "build_mdm3",
    "compare",
    "datasets",
    "deviance_test",
    "exploratory",
    "fit",
    "fit_imputed",
    "glh",
    "homogeneity_test",
    "parse_model",
    "read_table",
]
