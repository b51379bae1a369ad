"""Exceptions and warnings raised by openhlm.

Every error a user can trigger with bad input is an :class:`OpenHLMError` subclass whose message
names the file, variable, unit, key or equation at fault and says what to do.  The CLI prints the
message on one line (no traceback) and exits with status 2.
"""

from __future__ import annotations


class OpenHLMError(Exception):
    """Base class of all openhlm errors."""


class DataError(OpenHLMError):
    """A data file cannot be read, or its contents cannot be used (names the file/variable)."""


class MDMError(DataError):
    """The multilevel data matrix cannot be built or loaded (names the unit/variable/file)."""


class SpecError(OpenHLMError):
    """A model specification (equations, constraints) is invalid; quotes the offending spot."""


class CommandFileError(SpecError):
    """An HLM command file or TOML model file is invalid; names the file, line and key."""


class EstimationError(OpenHLMError):
    """The model cannot be estimated (singular design, no data left, ...)."""


class HypothesisError(OpenHLMError):
    """A requested hypothesis test or model comparison is not valid."""


class ConvergenceWarning(UserWarning):
    """Estimation stopped before convergence, or a parameter is on the boundary."""


class DataWarning(UserWarning):
    """Data were dropped or changed (units without level-1 rows, deleted cases, ...)."""
