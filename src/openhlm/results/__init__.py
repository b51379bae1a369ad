"""The results layer: every type a fit produces, immutable and typed, numbers only.

It sits between estimation and inference (``docs/architecture.md``): inference computes the
numbers and builds these objects in one go; the report, the plots, the CLI and the API only read
them.  Printing and writing go through the one late-bound hook of :mod:`openhlm.results.hooks`.

=============================  ====================================================
module                         types
=============================  ====================================================
:mod:`~.hlm`                   :class:`HLMResults` and its tables
:mod:`~.hypotheses`            GLH (:class:`GLHResult`), :class:`DevianceTest`,
                               :class:`HomogeneityTest`
:mod:`~.exploratory`           :class:`ExploratoryAnalysis`
:mod:`~.residuals`             :class:`EBEstimates` (``HLMResults.eb``)
:mod:`~.heterogeneous`         :class:`HeterogeneousSigma2` and its rows
:mod:`~.imputation`            :class:`ImputationSummary`, :class:`RubinPooled`
:mod:`~.hooks`                 :func:`set_renderer`, :func:`render`
=============================  ====================================================

:data:`EXTRAS` names the optional blocks of ``HLMResults.extras`` and the type each holds
(the report's renderers for them are registered in :mod:`openhlm.report.extras`).
"""

from __future__ import annotations

from openhlm.results.exploratory import ExploratoryAnalysis
from openhlm.results.heterogeneous import (
    AlphaRow,
    HeterogeneityTest,
    HeterogeneousSigma2,
    ImpliedVariance,
)
from openhlm.results.hlm import (
    JSON_SCHEMA_VERSION,
    ConvergenceInfo,
    DataSummary,
    FixedEffect,
    FixedEffectsTable,
    HLMResults,
    OLSTable,
    VarianceComponent,
    VarianceComponentsTable,
)
from openhlm.results.hooks import render, set_renderer
from openhlm.results.hypotheses import (
    DevianceTest,
    GLHResult,
    HomogeneityTest,
    LinearHypothesis,
    WaldStatistic,
)
from openhlm.results.imputation import ImputationSummary, RubinPooled
from openhlm.results.residuals import EBEstimates

__all__ = [
    "EXTRAS",
    "JSON_SCHEMA_VERSION",
    "AlphaRow",
    "ConvergenceInfo",
    "DataSummary",
    "DevianceTest",
    "EBEstimates",
    "ExploratoryAnalysis",
    "FixedEffect",
    "FixedEffectsTable",
    "GLHResult",
    "HLMResults",
    "HeterogeneityTest",
    "HeterogeneousSigma2",
    "HomogeneityTest",
    "ImpliedVariance",
    "ImputationSummary",
    "LinearHypothesis",
    "OLSTable",
    "RubinPooled",
    "VarianceComponent",
    "VarianceComponentsTable",
    "WaldStatistic",
    "render",
    "set_renderer",
]

#: Keys of ``HLMResults.extras`` -> the type of the block stored there.  ``"weighting"`` holds :class:`openhlm.estimation.weighting.WeightingSpec`
#: (a frozen dataclass of the estimation layer: the design's weighting, not a result).
EXTRAS: dict[str, str] = {
    "weighting": "openhlm.estimation.weighting.WeightingSpec",
    "multiple_imputation": "openhlm.results.imputation.ImputationSummary",
    "heterogeneous_sigma2": "openhlm.results.heterogeneous.HeterogeneousSigma2",
    "glh": "openhlm.results.hypotheses.GLHResult",
    "homogeneity": "openhlm.results.hypotheses.HomogeneityTest",
    "deviance_test": "openhlm.results.hypotheses.DevianceTest",
    "exploratory": "openhlm.results.exploratory.ExploratoryAnalysis",
    #: three-level models: the exploratory analysis of level-3 candidates
    "exploratory_level3": "openhlm.results.exploratory.ExploratoryAnalysis",
}
