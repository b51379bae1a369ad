"""The HGLM model as HLM prints it: the level-1 lines (``Prob(Y=1|B) = P``,
``log[P/(1-P)] = B0 + B1*(X)``; ``E(Y|B) = M*L``, ``log[L] = ...``), the level-2 lines and the
estimation labels; shared by the text and the HTML report."""

from __future__ import annotations

from openhlm.results.glmm import GLMMResults

__all__ = ["METHOD_LABEL", "level1_model_lines", "level2_model_lines"]

METHOD_LABEL = {"pql": "PQL Estimation", "laplace": "Laplace (ML) Estimation",
                "agq": "Adaptive Gauss-Hermite Quadrature (ML) Estimation"}


def level1_model_lines(results: GLMMResults) -> list[str]:
    """HLM's level-1 model lines of an HGLM."""
    spec = results.spec
    rhs = " + ".join("B0" if c.predictor is None else f"B{c.index}*({c.predictor.name.upper()})"
                     for c in spec.coefficients)
    if results.distribution == "bernoulli":
        return ["\tProb(Y=1|B) = P", f"\tlog[P/(1-P)] = {rhs}"]
    if results.distribution == "binomial":
        m = (results.trials or "M").upper()
        return [f"\tE(Y|B) = {m}*P", f"\tV(Y|B) = {m}*P(1-P)", f"\tlog[P/(1-P)] = {rhs}"]
    if results.exposure:
        m = results.exposure.upper()
        return [f"\tE(Y|B) = {m}*L", f"\tV(Y|B) = {m}*L", f"\tlog[L] = {rhs}"]
    return ["\tE(Y|B) = L", "\tV(Y|B) = L", f"\tlog[L] = {rhs}"]


def level2_model_lines(results: GLMMResults) -> list[str]:
    """HLM's level-2 model lines (``B0 = G00 + G01*(W) + U0``)."""
    lines = []
    for coef in results.spec.coefficients:
        terms = coef.equation.terms(coef.index, lambda p: f"({p.name})")
        lines.append(f"\tB{coef.index} = " + " + ".join(terms))
    return lines
