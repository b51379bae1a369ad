"""Deprecated location of :mod:`openhlm.spec.names` (kept for importers outside ``spec``)."""

from __future__ import annotations

from openhlm.spec.names import NameProblem, VariableNames, close_matches, did_you_mean

__all__ = ["NameProblem", "VariableNames", "close_matches", "did_you_mean"]
