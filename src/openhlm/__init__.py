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
from openhlm.imputation import fit_imputed
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
from openhlm.inference.exploratory import ExploratoryAnalysis, exploratory
from openhlm.inference.homogeneity import homogeneity_test
from openhlm.inference.hypotheses import deviance_test
from openhlm.results import HLMResults
from openhlm.results.three_level import HLM3Results
from openhlm.spec.equations import parse_model
from openhlm.spec.options import FitOptions
from openhlm.spec.model import (
    Centering,
    Coefficient,
    Constraint,
    Level2Equation,
    ModelSpec,
    Predictor,
)

__all__ = [
    "__version__", "fit", "datasets", "MDM", "Table", "build_mdm", "read_table", "HLMResults",
    "parse_model", "ModelSpec", "Coefficient", "Level2Equation", "Predictor", "Centering",
    "Constraint", "OpenHLMError", "DataError", "MDMError", "SpecError", "CommandFileError",
    "EstimationError", "HypothesisError", "ConvergenceWarning", "DataWarning",
    "glh", "compare", "deviance_test", "homogeneity_test", "fit_imputed",
    "exploratory", "ExploratoryAnalysis", "FitOptions", "MDM3", "build_mdm3", "HLM3Results",
]
