"""Two-level generalised linear mixed models (HLM's HGLM): Bernoulli / binomial (logit) and
Poisson (log, exposure) outcomes by PQL, Laplace and adaptive Gauss-Hermite quadrature.

See ``docs/hglm.md``.
"""

from openhlm.estimation.glmm.data import GLMMData, glmm_data
from openhlm.estimation.glmm.estimates import GLMMEstimates
from openhlm.estimation.glmm.families import DISTRIBUTIONS, Family, family
from openhlm.estimation.glmm.ml import fit_ml
from openhlm.estimation.glmm.pql import fit_pql
from openhlm.estimation.glmm.pql_hlm import fit_pql_hlm

__all__ = ["DISTRIBUTIONS", "Family", "GLMMData", "GLMMEstimates", "family", "fit_ml", "fit_pql",
           "fit_pql_hlm", "glmm_data"]
